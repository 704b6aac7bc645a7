"""The recognition detector for Persian (Dari), Pashto, Urdu, Arabic, Russian and Chinese.
PURE.

The English rules (recognition.py) hand a text over here when it is written in one of those
scripts. The decision is the English one, read with each language's words
(monitor/classify/languages/):

1. Guess the language (normalise.language) and fold the text's spelling (normalise.fold).
   The title is one sentence; the summary's first sentences follow it.
2. In each sentence blank out other groups called Taliban (the Pakistani Taliban) and the
   other senses of the recognition words (admit, confess, find guilty, designate as
   terrorist, "internationally recognised"), then look for the Taliban government (the strong
   anchor) or for Afghanistan/Kabul (the weak one, enough for a concrete step).
3. Recognition of the government (strong anchor only; not when the Taliban are the subject of
   the verb, which is them admitting something): a negation or modality cue in its clause,
   or a question, makes it ``recognition_refused_or_debated``; the wording of a grant
   (a perfective past, "officially", "the first country to") makes it ``recognition_granted``;
   recognition talked about with neither is a debate.
4. Concrete steps (credentials, ambassadors, embassies, delisting, ties) are
   ``recognition_step``, or a debate when negated or modal in their clause; the UN seat,
   legitimacy and normalisation are a debate (credentials next to the UN seat are the
   seat's).
5. The title's best finding wins (granted, then step, then debated); else the summary's.
   The actors are the states the sentence names (gazetteer.find_localized_states, the same
   canonical names the English rules give), but Afghanistan; the evidence is the sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.classify.gazetteer import find_localized_states
from monitor.classify.languages import LANGUAGES
from monitor.classify.languages.base import DEBATED, GRANTED, STEP, Language
from monitor.classify.languages.normalise import fold, language, scripts

_ORDER = (GRANTED, STEP, DEBATED)
_SUMMARY_SENTENCES = 3
_SUMMARY_CHARS = 600
# Sentence ends: . ! ? (and the Arabic and Urdu ones) before a space; Chinese ones anywhere.
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔])\s+|(?<=[。！？])|\n+")
_SUBJECT_SPAN = 14   # characters before the verb in which a state is its subject

NO_ENTITY = "no entity: the text names neither the Taliban government nor Afghanistan"
OTHER_GROUP = "no entity: another group called Taliban (the Pakistani Taliban, TTP)"
OTHER_SENSE = 'other sense of "recognition": admitting, confessing, a verdict or a designation'
NO_EVENT = ("entity without event: no recognition, credentials, embassy, delisting or UN-seat "
            "step about the government")


@dataclass(frozen=True)
class Finding:
    """The verdict on one non-English text."""

    match: bool
    category: str | None = None
    actors: tuple[str, ...] = ()
    evidence: str = ""
    rules: tuple[str, ...] = ()
    in_title: bool = True
    strong: bool = True        # the Taliban government named, not only Afghanistan
    reason: str = ""


def has_entity_word(text: str) -> bool:
    """Whether ``text`` is written in a script read here and names the Taliban government or
    Afghanistan (cheap when it is not: one scan for the scripts' letters)."""
    if not scripts(text):
        return False
    code = language(text)
    if code is None:
        return False
    spec = LANGUAGES[code]
    folded = fold(text, spec.script)
    return bool(spec.entity.search(folded) or spec.country.search(folded))


def detect(title: str, summary: str = "") -> Finding:
    """The verdict on a headline and its lead in one of the languages read here."""
    code = language(f"{title} {summary[:_SUMMARY_CHARS]}")
    if code is None:
        return Finding(match=False, reason=NO_ENTITY)
    spec = LANGUAGES[code]
    reasons: list[str] = []
    parts = [(title.strip(), True)] + [
        (s, False) for s in sentences(summary[:_SUMMARY_CHARS])[:_SUMMARY_SENTENCES]]
    for sentence, in_title in parts:
        found = _best(_sentence(spec, sentence, in_title, reasons))
        if found is not None:
            return found
    return Finding(match=False, reason=reasons[0] if reasons else NO_EVENT)


def sentences(text: str) -> list[str]:
    """The sentences of a lead, roughly."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _best(findings: list[Finding]) -> Finding | None:
    if not findings:
        return None
    return min(findings, key=lambda f: _ORDER.index(f.category or DEBATED))


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def _sentence(spec: Language, sentence: str, in_title: bool,
              reasons: list[str]) -> list[Finding]:
    """The findings in one sentence; why none, appended to ``reasons``."""
    if not sentence:
        return []
    text = " " + fold(sentence, spec.script) + " "
    cleaned = spec.not_entity.sub(_blank, text)
    strong = spec.entity.search(cleaned)
    weak = strong or spec.country.search(cleaned)
    if weak is None:
        reasons.append(OTHER_GROUP if cleaned != text else NO_ENTITY)
        return []
    sensed = spec.other_sense.sub(_blank, cleaned)
    hits: list[tuple[str, list[str]]] = []
    if strong is not None:
        found = _recognition(spec, sensed)
        if found is not None:
            hits.append(found)
        elif sensed != cleaned:
            reasons.append(OTHER_SENSE)
    for rule in spec.steps:
        if strong is None and not rule.weak_ok:
            continue
        match = rule.pattern.search(sensed)
        if match is None:
            continue
        category, rules = rule.category, [rule.name]
        if category == STEP:
            cue = _cue(spec, _clause(spec, sensed, match.start(), match.end()),
                       negation=not rule.keeps_negation)
            if cue is not None:
                category = DEBATED
                rules.append("modality:" + cue)
        hits.append((category, rules))
    if not hits:
        return []
    if any("un-seat" in rules for _, rules in hits):
        # credentials beside the UN seat are the seat's (the credentials committee)
        hits = [(c, rules) for c, rules in hits if "step:credentials" not in rules]
    actors = tuple(s for s in find_localized_states(sensed) if s != "Afghanistan")
    anchor = "entity:" + weak.group(0).strip()
    return [Finding(match=True, category=category, actors=actors, evidence=sentence,
                    rules=(f"lang:{spec.code}", anchor, *rules), in_title=in_title,
                    strong=strong is not None)
            for category, rules in hits]


def _recognition(spec: Language, text: str) -> tuple[str, list[str]] | None:
    """Recognition of the government in ``text``: its category and the deciding rules."""
    for match in spec.recognition.finditer(text):
        clause = _clause(spec, text, match.start(), match.end())
        if spec.subject_admits is not None and spec.subject_admits.search(clause):
            continue  # the Taliban admit something; nobody recognises them
        rules = ["recognition:" + spec.code]
        cue = _cue(spec, clause)
        if cue is not None:
            return DEBATED, [*rules, "modality:" + cue]
        if spec.question.search(text):
            return DEBATED, [*rules, "modality:question"]
        if spec.grant.search(clause):
            return GRANTED, [*rules, "granted:wording"]
        if spec.code in ("zh", "ar") and _state_subject(spec, text, match):
            return GRANTED, [*rules, "granted:state-acts"]
        return DEBATED, [*rules, "debated:no-grant-wording"]
    return None


def _state_subject(spec: Language, text: str, match: re.Match[str]) -> bool:
    """A state names the subject right before the verb: "俄罗斯承认塔利班政权"; in Arabic
    the subject follows the verb: "تعترف روسيا بطالبان"."""
    start = _clause_start(spec, text, match.start())
    before = text[max(start, match.start() - _SUBJECT_SPAN):match.start()]
    near = before + text[match.start():match.end()]
    return any(s != "Afghanistan" for s in find_localized_states(near))


def _clause_start(spec: Language, text: str, position: int) -> int:
    start = 0
    for found in spec.clause_break.finditer(text, 0, position):
        start = found.end()
    return start


def _clause(spec: Language, text: str, start: int, end: int) -> str:
    """The clause around text[start:end]: from the break before it to the break after it."""
    left = _clause_start(spec, text, start)
    stop = spec.clause_break.search(text, end)
    return text[left:stop.start() if stop else len(text)]


def _cue(spec: Language, clause: str, *, negation: bool = True) -> str | None:
    """The negation or modality cue in a clause, as a rule names it: "not (не)" for a
    negation (so that the explanation says "negated"), else the cue as written."""
    negated = spec.negation.search(clause) if negation else None
    if negated is not None:
        return f"not ({negated.group(0).strip()})"
    modality = spec.modality.search(clause)
    if modality is not None:
        return modality.group(0).strip()
    return None
