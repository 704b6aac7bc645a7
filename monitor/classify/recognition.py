"""The ``recognition`` event detector: is this text about diplomatic recognition of the Taliban
government, which kind of step is it, and who acts?

PURE: text in, ``Detection`` out; no I/O. The rules encode the labelling guideline
(``../shared/corpus/GUIDELINE.md``):

1. Split title and summary into sentences (a news dateline is dropped first).
2. In each sentence look for the event vocabulary (recognise/recognition, credentials and
   accreditation, ambassador upgrades, embassy handovers, removal from a banned list, diplomatic
   ties, legitimacy, the UN seat) and tie it to the Taliban government (built-in aliases plus
   the topic's own entities) in the same sentence.
3. Throw out other senses near the word ("facial recognition", "in recognition of", awards,
   "internationally recognised", recognition of Palestine/Kosovo/Taiwan, "recognise terrorism
   as a threat", "recognise the former government's debts"): the object of "recognise" must
   be the government ("recognise the Taliban threat" or "Taliban control of the border" is
   not; nor is "Niger's junta wins recognition" in a headline that names the Taliban), and
   the agent of a passive must be a state ("recognised as partners by aid agencies" is
   another sense). The recognitions of the first emirate ("in 1997", "in the 1990s") are
   history, not news. "Afghanistan" alone is the country, except as the one that seeks or
   wins recognition.
4. Tell the kinds apart: a state recognising, with no negation or modality in its clause, is
   ``recognition_granted`` ("Russia recognises", "the second country to recognise", "follows
   Moscow in recognising", "recognised by Moscow"; "recognised by none / few" is a debate);
   a state's recognition named as a fact ("Russia's recognition of the Taliban sparks
   debate") is a grant and the reactions to it, unless the words right
   around it deny it or make it hypothetical. A concrete status step is ``recognition_step``
   (considered or asked for, it is a debate); everything else about recognition (refusals,
   conditions, requests, "considering", yes/no questions, the UN seat) is
   ``recognition_refused_or_debated``.

The title decides when it carries the event; otherwise the first summary sentences do.

A text that does not match says why (``Detection.reason``): no entity, the country without
its government, another group called Taliban, the entity without any event, another sense
of "recognition", recognition of something other than the government, or of the 1990s
emirate. (Negation and
modality never reject a text: they make it ``recognition_refused_or_debated``, and the
rules say which cue did.)

One piece (over 400 lines) because the rules above are one decision read top to bottom:
the entity, sense and negation patterns are each used by the clause that follows them.
The kinds' step vocabulary is already apart, in steps.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.classify import multilingual
from monitor.classify.gazetteer import (
    find_states,
    organisation_names,
    strip_dateline,
    title_case,
)
from monitor.classify.steps import (
    CATEGORY_ORDER,
    DEBATED,
    GRANTED,
    STEP,
    STEP_RULES,
    UN_WORDS,
    StepRule,
)
from monitor.classify.steps import lower_re as _re

_SCORES = {GRANTED: 0.95, STEP: 0.9, DEBATED: 0.85}
_SUMMARY_SENTENCES = 3          # how deep into the lead the event may sit
_ENTITY_SPAN = 1000              # characters of the lead where names_entity looks


# --- the entity: the Taliban government --------------------------------------------------------

_GOV_NOUN = (r"(?:government|gov(?:'|’)?t|administration|regime|rulers?|authorities|leadership|"
             r"emirate)")

# Strong aliases name the government itself (and "Kabul" as its metonym).
BUILTIN_ALIASES = (
    r"Taliban\w*",
    r"Islamic\s+Emirates?(?:\s+of\s+Afghanistan)?",
    r"IEA",
    rf"Afghan(?:istan(?:'s|’s)?)?\s+(?:(?:new|interim|de[\s-]facto|caretaker|current|acting|"
    rf"Taliban[\s-]led|Taliban)\s+)*{_GOV_NOUN}",
    rf"(?:interim|de[\s-]facto|caretaker)\s+(?:Afghan\s+)?{_GOV_NOUN}",
    r"new\s+rulers\s+of\s+Afghanistan",
    r"Kabul(?!\s+[Rr]iver)",
    # its leaders and spokesmen stand for it, as state leaders do for states
    r"Muttaqi|Akhundzada|Baradar|Zabihullah\s+Mujahid|Suhail\s+Shaheen",
)
# Weak aliases name the country; enough for concrete diplomatic steps, not for "recognition".
_WEAK_ALIASES = r"Afghan\w*"

# The Pakistani Taliban are another group: blank them out before looking for the entity.
_NOT_THE_ENTITY = _re(
    r"Tehr[ei]{1,2}k[\s-]*(?:[ei][\s-]*)?Taliban(?:[\s-]*Pakistan)?|Pakistani\s+Taliban|"
    r"\bTTP\b|Kabul\s+[Rr]iver|"
    # a period, an opposition or a birthplace, not the government: "Taliban-era decrees",
    # "anti-Taliban forces", "Kabul-born author"
    r"\b(?:anti|post|pre|non)-Taliban\w*|Taliban-era|Kabul-(?:born|based|bred|raised|native)")
_NOT_THE_ENTITY_ANY_CASE = re.compile(_NOT_THE_ENTITY.pattern, re.IGNORECASE)
# "interim / de facto / caretaker government" names the Taliban's, unless another state owns
# it: "Bangladesh's interim government" (the owner stays, as an actor).
_OWNED_INTERIM = _re(
    r"(?<=\w's\s)(?<!afghanistan's\s)(?<!kabul's\s)(?<!taliban's\s)(?<!country's\s)"
    rf"(?:interim|de[\s-]facto|caretaker)\s+{_GOV_NOUN}")


def _alias_re(aliases: Iterable[str]) -> re.Pattern[str]:
    return _re(r"(?<!\w)(?:" + "|".join(aliases) + r")(?![\w])")


def _first_word_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``pattern`` that starts a word. Checking the word start here, not
    with a lookbehind in the pattern, keeps re's fast scan for the leading literals."""
    for match in pattern.finditer(text):
        start = match.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            return match
    return None


def _user_alias(entity: str) -> str:
    words = entity.strip().split()
    return r"\s+".join(re.escape(w) for w in words)


# --- the event vocabulary ----------------------------------------------------------------------

# One cheap look over the lower-cased text before the detailed rules: substring tests are far
# faster than any regex, and most news never passes them.
_VOCABULARY = ("recog", "credential", "accredit", "ambassador", "envoy", "embass", "consul",
               "charg", "cda", "diplomat", "terror", "banned", "proscribed", "ban ", "delist",
               "legitim", "normali", "speak", "isolat", "accept", "mission", "restor", "resum",
               "delegation office", "normal ties", "normal relations", "normal diplomatic",
               "agrement", "agrément", *UN_WORDS)
_ENTITY_WORDS = ("taliban", "emirate", "iea", "afghan", "kabul", "muttaqi", "akhundzada",
                 "baradar", "zabihullah", "suhail shaheen")


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    for word in words:
        if word in text:
            return True
    return False


def _passes_keys(rule: StepRule, text: str) -> bool:
    """Whether the lower-cased ``text`` holds one of the rule's keys (the cheap gate
    before its pattern)."""
    if rule.key_words is None:
        return not rule.keys or _has_any(text, rule.keys)
    return _has_any(text, rule.keys) or rule.key_words.search(text) is not None


def _blank_owned_interim(text: str) -> str:
    """``text`` with another state's interim government blanked (offsets kept)."""
    if not _has_any(text, ("interim", "caretaker", "de facto", "de-facto")):
        return text
    return _OWNED_INTERIM.sub(lambda m: " " * len(m.group(0)), text)


_RECOG = _re(r"(?<![\w-])(?:un-?)?(?:recogni(?:[sz]\w*|tions?)|recog)(?!\w)")
_AS_THREAT = _re(
    r"^\s+as\s+(?:an?\s+|the\s+)?(?:\w+\s+){0,2}?(?:threat|terror\w*|danger|menace|problem|"
    r"challenge|enemy|risk)")
_PREDICATE_BEFORE = _re(
    r"\b(?:remains?|remained|is|are|was|were|still|stays?|stayed|left|being)\s+(?:\w+ly\s+)?$")

_OTHER_SENSE_BEFORE = _re(
    r"(?:facial|face|speech|voice|image|pattern|character|handwriting|object|emotion|plate|"
    r"brand|name|gesture|text|optical|song|music|sound|award|as\s+a|earned\s+(?:him|her)|"
    r"biometric|gait|iris|fingerprint|retina|palm|vein|"
    r"(?<!\bbe\s)(?<!\bbeen\s)(?<!\bget\s)(?<!\bis\s)(?<!\bare\s)internationally)\W*$")
_OTHER_SENSE_AFTER = _re(
    r"^\w*\W+(?:of|for)\s+(?:his|her|their|its|the\s+(?:contribution|service|efforts|work|role|"
    r"achievement|sacrific)|outstanding|services?|contributions?|efforts|work|excellence|"
    r"achievements?|talent|bravery|courage)")
# "in recognition of" is an award; "in recognising" (as in "joins Moscow in recognising") is not.
_IN_BEFORE = _re(r"\bin\W*$")
# The noun as a modifier: "recognition award", "recognition technology", "recognition gates".
_MODIFIER_AFTER = _re(
    r"^[\s-]+(?:awards?|prizes?|ceremon\w*|certificates?|schemes?|programm?es?|systems?|"
    r"technolog\w*|tech|software|cameras?|tools?|apps?|gates?|devices?|models?|algorithms?|"
    r"scanners?|winners?|nights?|dinners?|plaques?|medals?|trophy|trophies|gala)\b")
_OTHER_STATES = _re(
    r"Palestin\w*|Kosovo|Taiwan\w*|Somaliland|Western\s+Sahara|Crimea|Donetsk|Luhansk|"
    r"Donbas+|Abkhazia|South\s+Ossetia|Northern\s+Cyprus|Guaid[oó]|Gonz[aá]lez|Maduro|"
    r"Armenian\s+genocide|genocide|Jerusalem|Sahrawi|Transnistria|Biafra|Kurdistan|"
    r"Tibet|Hong\s+Kong|Catalonia|Israel")
_NON_ENTITY_OBJECT = _re(
    r"^\W*(?:the\s+)?(?:terrorism|threat|need|importance|role|rights?|efforts?|sacrifices|"
    r"contributions?|value|potential|problem|danger|challenges?|concerns?|that|how|what)\b")
_PASSIVE_BEFORE = _re(
    r"(?:\b(?:be|been|being|is|are|was|were|get|gets|got|getting|become|becomes|remain|"
    r"remains)\s+(?:(?:\w+ly|not|yet)\s+){0,2})$")

# Negation and modality near the trigger make it a refusal or a debate, not a grant.
_CUES = _re(
    r"\b(?:not|no|never|nor|without|n't|won't|cannot|refus\w*|reject\w*|declin\w*|rules?\s+out|"
    r"ruled\s+out|against|oppos\w*|premature|unlikely|hasn't|haven't|isn't|wasn't|"
    r"will|would|could|may|might|should|must|shall|consider\w*|mull\w*|weigh\w*|debat\w*|"
    r"discuss\w*|poised|ready|prepared|plan\w*|intend\w*|urg\w*|call\w*|demand\w*|ask\w*|"
    r"seek\w*|sought|want\w*|push\w*|press(?:es|ed|ing)?|lobby\w*|bid\w*|quest|efforts?|"
    r"hopes?|hoping|condition\w*|earn\w*|until|unless|if|whether|prospects?|path|road|rush\w*|"
    r"hurry|question|issue|chances?|eventual\w*|nearing|towards?|pending|request\w*|appeal\w*|"
    r"insist\w*|wants?|need\w*|possible|possibility|talks?|decid(?:e|es|ing)|mooted|pave\w*|"
    r"aims?|aiming|seek|wider|broader|further|more|others?)\b|n['’]t\b")
_GRANT_VERB = _re(
    r"(?<![\w-])(?:recogni[sz](?:es|ed)|(?:has|have|had)\s+(?:\w+ly\s+)?recogni[sz]ed)\b")

_CLAUSE_BREAK = _re(r"[;:,—–()\[\]|•]|\s-\s|\bbut\b|\bwhile\b|\bas\b|\bafter\b")
_WORD = re.compile(r"[\w'’]+")


_OF_OBJECT = _re(r"^\s+(?:of|for)\s+(.{0,60})")
_ARTICLE = _re(r"^(?:the|a|an|its|their)\s+")
_GOV_NOUN_RE = _re(_GOV_NOUN)
# "the first/second/latest country to recognise": an ordinal before the verb.
_FIRST = _re(r"\b(?:first|second|third|fourth|fifth|sixth|latest|\d+(?:st|nd|rd|th))\b")
# "Belarus follows Moscow in recognising", "joins Russia in recognising"
_FOLLOW_END = _re(r"\b(?:follow\w*|join\w*)\s+(?:\S+\s+){0,3}?in\s+$")
# "thanks Russia for recognising", "Kyiv condemns Moscow for recognising"
_FOR_END = _re(r"\bfor\s+$")
# "Moscow grants them official recognition", "extends formal recognition"
_GRANT_NOUN_END = _re(
    r"\b(?:grant|extend|accord|give|gave|given|offer|confer|bestow)\w*\s+(?:\S+\s+){0,3}?$")
# The headline's speaker ("Iran: ...") or an earlier clause is not the actor of what follows.
_SPEAKER_BREAK = _re(r"[:;|—–]|\s-\s")
# A yes/no question ("Is Turkey next to recognise ...?") decides nothing.
_YES_NO_QUESTION = _re(
    r"^\W*(?:\w+:\s*)?(?:is|are|was|were|will|would|could|should|can|does|do|did|has|have|"
    r"may|might|shall)\b[^?]*\?\W*$")
# After "<state>'s recognition of the Taliban", only these make the act hypothetical or
# denied; other words there ("sparks debate", "finds no followers") are reactions to it.
_POSSESSED_CUES = _re(
    r"\b(?:not|no|never|won't|will|would|unlikely|premature|possible|possibility|depends?|"
    r"depending|conditional|if|until|unless|hinges?)\b|n't\b")
_HYPOTHETICAL_BEFORE = _re(
    r"\b(?:possible|potential|eventual|any|future|prospective|prospects?|early|hasty|no|"
    r"premature|de\s+jure)\W+(?:\S+\W+)?$")
# "the Taliban government wins its first formal recognition": a grant, the state unnamed.
_RECEIVED_END = _re(
    r"\b(?:wins?|won|gains?|gained|receives?|received|secures?|secured|obtains?|obtained|"
    r"gets|got)\s+(?:(?:its|their|a|the|an)\s+)?(?:[\w-]+\s+){0,2}?$")
_NOT_RECEIVED = _re(r"\b(?:fail\w*|struggl\w*|yet|bid\w*|tr(?:y|ies|ied|ying)|how)\b")
# "Taliban seek Uzbek recognition": the possessor's recognition is asked for, not given.
_SOUGHT_BEFORE = _re(
    r"\b(?:seek\w*|sought|ask\w*|press(?:es|ed|ing)?|push\w*|lobby\w*|lobbied|urg\w*|"
    r"court\w*|woo\w*|want\w*|hop(?:e|es|ed|ing)|appeal\w*|call\w*|request\w*|demand\w*|"
    r"await\w*|win|wins|winning|eye\w*)\s+(?:for\s+)?$")
# A state named as the place or host of talks is not an actor of what the Taliban seek
# there: "talks hosted by Qatar", "a Qatar-hosted conference", "a summit in Tashkent",
# "Uzbekistan hosts a conference where ...". The name is the group of each.
_PLACE = r"((?:the\s+)?[^\s,.;:!?()]+(?:\s+[^\s,.;:!?()]+)?)"
_GATHERING = (r"(?:talks|conferences?|meetings?|summits?|forums?|dialogues?|negotiations|"
              r"consultations|gatherings?|rounds?|sessions?)")
_VENUES = (
    _re(rf"\b(?:hosted|organi[sz]ed|convened)\s+by\s+{_PLACE}"),
    _re(r"([^\s,.;:!?()]+)-(?:hosted|organi[sz]ed|brokered|sponsored)\b"),
    _re(rf"\b{_GATHERING}\s+(?:in|at)\s+{_PLACE}"),
    _re(rf"\b(?:in|at)\s+{_PLACE}\s+{_GATHERING}\b"),
    _re(rf"{_PLACE}\s+(?:hosts|hosted|is\s+hosting|to\s+host|will\s+host)\s+"
        rf"(?:\S+\s+){{0,3}}?{_GATHERING}\b"),
)
_OF_LEAD = _re(r"^\s+(?:of|for)\s+(?:the\s+)?")
_GOV_TAIL = _re(rf"^(?:[\s-]+(?:led|run|ruled))?(?:\s+(?:{_GOV_NOUN}|rule|movement|group))?")
# The object of "recognise" is its first noun phrase: the words before a preposition.
_OBJECT_END = frozenset({"by", "from", "in", "at", "with", "that", "which", "who", "issued",
                         "of", "for", "on", "over", "to", "as", "after", "under"})
_OBJECT_HEAD = _re(rf"\b(?:{_GOV_NOUN})\b")
# A government that is not the Taliban's, or one that only owns the object.
_OTHER_GOVERNMENT = _re(rf"\b(?:former|previous|ousted|toppled|fallen|old|republic's|ghani's|"
                        rf"karzai's)\s+(?:\w+\s+)?{_GOV_NOUN}|\b{_GOV_NOUN}'s\b")
# "recognise Taliban diplomats / Taliban-issued passports": the entity only qualifies another
# object, which is not the government.
# So is "recognise the Taliban threat / Taliban control of the border / the Taliban's grip".
_QUALIFIED_OBJECT = _re(
    r"(?:'s)?(?:[\s-]+issued)?\W*(?:diplomats?|envoys?|ambassadors?|officials?|"
    r"representatives?|consuls?|passports?|degrees?|documents?|visas?|certificates?|"
    r"licen[cs]es?|identity|ids?|cards?|currency|banknotes?|fighters?|militants?|commanders?|"
    r"members?|flags?|victims?|efforts?|role|concerns?|achievements?|decrees?|courts?|"
    r"judgments?|marriages?|threats?|dangers?|menace|control|dominance|grip|hold|gains?|"
    r"advances?|influence|security|interests?|claims?|stance|positions?|presence|successes)\b")
_PRONOUN_OBJECT = _re(r"^\W*(?:them|us)\b|^\W*it\s*(?:$|[,.;:!?]|as\b)")
# A headline's passive without "is": "Islamic Emirate recognised", "... recognised as
# Afghanistan's government" (as a government, not "as partners"). With an agent ("by ...")
# it is read as any passive is.
_PARTICIPLE_AFTER = _re(r"^\s*(?:$|[,.;:!?—–(]|-\s|(?:officially|formally)\b|as\s+(?:[\w'-]+\s+)"
                        rf"{{0,4}}?(?:{_GOV_NOUN}|representatives?)\b)")
# The agent of a passive: "recognised by Moscow", "recognised as its government by Russia".
_AGENT = _re(r"(?:\s+as(?:\s+[\w'-]+){1,5}?)?\s+by\s+([^,;:.!?()—–|]{1,50})")
# Nobody recognises: "by none of its neighbours", "by few", "by no one", "by not a single".
_NO_AGENT = _re(r"\s*(?:none|nobody|no[\s-]?one|no|few|hardly\s+any\w*|scarcely\s+any\w*|"
                r"neither|not\s+(?:a\s+single|one|any|many|even))\b")
# Who can recognise a government: a state (the gazetteer names it) or a word for states,
# not "aid agencies" or "the Asian Cricket Council".
_STATE_AGENT = _re(
    r"\b(?:states?|countr(?:y|ies)|nations?|governments?|capitals?|kingdoms?|republics?|"
    r"monarch\w*|sultanates?|neighbou?rs?|members?|u\.?n\.?|eu|united\s+nations|general\s+"
    r"assembly|security\s+council|international\s+community|west|western|anyone|anybody|"
    r"everyone)\b|\bthe\s+(?:whole\s+|wider\s+|outside\s+)?world\s*$")
# The Taliban's first emirate (1996-2001): its recognitions are history, not news.
_HISTORICAL = _re(
    r"(?<!since\s)(?<!after\s)\b(?:19\d\d|200[01])\b|\b(?:19)?90s\b|\bnineties\b|"
    r"\b(?:first|previous|earlier|last)\s+(?:Taliban\s+)?(?:regime|rule|emirate|stint|"
    r"time\s+in\s+power)\b|\bformer\s+Taliban\s+(?:regime|rule|emirate)\b")
_HISTORICAL_FRONT = _re(
    r"^\W*(?:back\s+)?(?:in|by|during|until)\s+(?:the\s+)?(?:(?:late|early|mid)[\s-]+)?"
    r"(?:19\d\d|200[01]|(?:19)?90s|nineties)\b")
# "Afghanistan seeks recognition": the country asking for (or winning) it is its government.
_COUNTRY_SEEKS = _re(
    r"\b(afghanistan|kabul)(?:'s)?\s+(?:(?:\w+ly|again|still|now)\s+)?(?:seek|want|demand|ask|"
    r"push|press|lobby|win|won|gain|receiv|get|got|earn|await|deserve)\w*\s+(?:for\s+)?"
    r"(?:(?:international|diplomatic|formal|official|global|world|wider|full|more)\s+)*"
    r"recognition\b(?!\s+(?:of|for)\b)")
_POSSESSIVE_END = _re(r"'s\s+(?:\w+\s+){0,3}$")
_BY_STATE = _re(r"\s+(?:\S+\s+){0,4}?(?:from|by)\s+((?:\S+\s*){1,3})")
_DECISION_END = _re(r"'s\s+(?:\S+\s+){0,2}?(?:decision|move|step)\s+to\s+(?:\w+ly\s+)?$|"
                    r"\b(?:came|decided|moved|voted|chose)\s+to\s+(?:\w+ly\s+)?$|"
                    r"\b(?:decree|law|order|resolution|document)\s+(?:on\s+)?$")
_PERFECT_END = _re(r"\b(?:has|have)\s+(?:\w+ly\s+)?$")
_AFGHAN_DELEGATE = _re(r"represent\w*\s+afghanistan|speak\w*\s+for\s+afghan\w*|"
                       r"Afghan\w*(?:'s)?\s+(?:\w+\s+){0,2}?(?:envoy|ambassador|representative|delegat\w*|seat)")
# Considering or asking for a step is a debate about it, not the step.
_STEP_MODALITY = _re(
    r"\b(?:consider\w*|mull\w*|weigh\w*|mooted|might|may(?!\s+\d)|could|should|urg\w*|"
    r"ask\w*|seek\w*|sought|want\w*|demand\w*|hopes?|hoping|call(?:s|ed|ing)?\s+(?:for|on)|"
    r"press(?:es|ed|ing)?|push\w*|lobby\w*|whether|if)\b")
_STEP_NEGATION = _re(r"\b(?:not|no(?!\s+longer)|never|refus\w*|reject\w*|den(?:y|ies|ied))\b|n't\b")
_WEAK_ALIAS_FAST = _re(_WEAK_ALIASES)
_SPECIAL_ENVOY = _re(r"special\s+(?:envoy|representative)")
# The subject of a grant when the gazetteer cannot name the state: "a small island state",
# "a Gulf monarchy", "the European country", "Ruritania becomes the latest country to ...".
_UNNAMED_STATE = _re(
    r"\b(?:state|country|countries|nation|kingdom|republic|monarchy|sultanate|emirate|"
    r"principality|federation|government)s?\b")
_SUBJECT_END = _re(r"(?<![\w'-])([\w'-]+)\s+(?:(?:has|have|had)\s+)?(?:\w+ly\s+)?$")
_NOT_SUBJECTS = frozenset({"it", "they", "who", "this", "that", "he", "she", "we", "i", "you",
                           "report", "reports", "analysts", "experts", "officials", "world"})
_FIRST_STATE_TO = _re(
    r"\b(?:first|second|third|fourth|fifth|sixth|latest|\d+(?:st|nd|rd|th))\s+"
    r"(?:\w+\s+){0,2}?(?:state|country|nation|government|member)s?\s+to\s+(?:\w+ly\s+)?$")


# Why a text does not match: the first word is the kind, the rest the detail.
NO_ENTITY = "no entity: the text names neither the Taliban government nor Afghanistan"
COUNTRY_ONLY = ("no entity: Afghanistan is named, not its government (a concrete step "
                "would do, \"recognition\" needs the government)")
OTHER_GROUP = "no entity: another group called Taliban (the Pakistani Taliban, TTP)"
NO_EVENT = ("entity without event: no recognition, credentials, embassy, delisting or UN-seat "
            "step about the government")
OTHER_SENSE = 'other sense of "recognition"'
OTHER_OBJECT = "other object: what is recognised is not the government"
HISTORICAL = "historical: the Taliban's first emirate (1996-2001), not today's government"


@dataclass(frozen=True)
class Detection:
    """The detector's verdict on one text."""

    match: bool
    category: str | None = None
    score: float = 0.0
    actors: tuple[str, ...] = ()
    evidence: str = ""
    rules: tuple[str, ...] = ()
    reason: str = ""               # for a non-match: why (NO_ENTITY, NO_EVENT, OTHER_SENSE ...)


# The verdicts on most texts (they name neither the entity nor an event): built once.
_EARLY_MISSES = {reason: Detection(match=False, reason=reason) for reason in (NO_ENTITY, NO_EVENT)}


def _no_match(reasons: list[str]) -> Detection:
    """A non-match, explained by the first reason a rule gave (else: no event)."""
    return Detection(match=False, reason=reasons[0] if reasons else NO_EVENT)


def _quote(text: str, start: int, end: int, after: int = 0) -> str:
    """The trigger with the two words before it (and ``after`` words after), quoted:
    '"facial recognition"', '"the recognition of palestine"'."""
    words = [*_WORD.findall(text[max(0, start - 40):start])[-2:], text[start:end],
             *_WORD.findall(text[end:end + 80])[:after]]
    return '"' + " ".join(words) + '"'

# A sentence ends at . ! or ? before a capital, at a bullet, or at a line break. The pattern
# starts with a character class, not a lookbehind, so that re can scan for it quickly.
_SENTENCE_END = re.compile(r"[.!?][\"'”’]?\s+(?=[\"“‘'(]?[A-Z0-9])|\s*•\s*|\n+")


def split_sentences(text: str, limit: int | None = None) -> list[str]:
    """Sentences of a lead, roughly (ends of sentences, bullets, line breaks); at most
    ``limit`` of them."""
    sentences: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(text):
        piece = text[start:end.start() + (1 if end.group(0)[0] in ".!?" else 0)].strip()
        start = end.end()
        if piece:
            sentences.append(piece)
            if limit is not None and len(sentences) >= limit:
                return sentences
    piece = text[start:].strip()
    if piece:
        sentences.append(piece)
    return sentences


def _clause_window(sentence: str, start: int, end: int, before: int = 7,
                   after: int = 5) -> str:
    """The words around a trigger, cut at clause boundaries."""
    left = sentence[:start]
    breaks = list(_CLAUSE_BREAK.finditer(left))
    if breaks:
        left = left[breaks[-1].end():]
    right = sentence[end:]
    stop = _CLAUSE_BREAK.search(right)
    if stop:
        right = right[:stop.start()]
    left_words = _WORD.findall(left)[-before:]
    right_words = _WORD.findall(right)[:after]
    return " ".join(left_words) + " " + " ".join(right_words)


def _historical(text: str, match: re.Match[str]) -> bool:
    """Whether the words around ``match`` (or the sentence's opening "In 1997,") put it in the
    Taliban's first emirate."""
    return (_HISTORICAL.search(_clause_window(text, match.start(), match.end(), 10, 8))
            is not None or _HISTORICAL_FRONT.match(text) is not None)


def _blank_place(match: re.Match[str]) -> str:
    """The venue ``match`` with its place's name blanked, unless the place is an organisation:
    "a vote at the UN General Assembly" names the UN as the one that decides."""
    place = match.group(1)
    if any(name in organisation_names() for name in find_states(place)):
        return match.group(0)
    return match.group(0).replace(place, " " * len(place))


class RecognitionDetector:
    """Detects recognition events about one entity (the Taliban government by default)."""

    def __init__(self, extra_entities: Iterable[str] = ()) -> None:
        extra = [_user_alias(e) for e in extra_entities if e.strip()]
        self._entity = _alias_re([*BUILTIN_ALIASES, *extra])
        self._entity_before = _re(r"(?<!\w)(?:" + "|".join([*BUILTIN_ALIASES, *extra])
                                  + r")(?:[\s-]+(?:led|run|ruled))?(?:\s+" + _GOV_NOUN + r")?\s*$")
        self._entity_fast = _re(r"(?:" + "|".join([*BUILTIN_ALIASES, *extra]) + r")(?!\w)")
        self._entity_words = (*_ENTITY_WORDS,
                              *(e.strip().lower() for e in extra_entities if e.strip()))

    # -- public -------------------------------------------------------------------------------

    def detect(self, title: str, summary: str = "") -> Detection:
        text = f" {title} \n {summary}".lower()
        has_entity = _has_any(text, self._entity_words)
        if not has_entity or not _has_any(text, _VOCABULARY):
            if not text.isascii() and multilingual.has_entity_word(text):
                return self._multilingual(title, summary)
            return _EARLY_MISSES[NO_EVENT if has_entity else NO_ENTITY]
        reasons: list[str] = []
        title_hit = self._best(self._sentence_hits(title.strip(), in_title=True,
                                                   reasons=reasons))
        if title_hit is not None:
            return title_hit
        sentences = split_sentences(strip_dateline(summary), _SUMMARY_SENTENCES)
        hits = [h for s in sentences
                for h in self._sentence_hits(s, in_title=False, reasons=reasons)]
        found = self._best(hits)
        return found if found is not None else _no_match(reasons)

    def names_entity(self, title: str, summary: str = "") -> bool:
        """Whether the title or the summary's opening names the tracked government (a strong
        alias; other groups called Taliban left out), whatever ``detect`` says. With a
        non-match, the text is about the entity but does not settle an event."""
        text = f" {title} \n {summary[:_ENTITY_SPAN]}".lower().replace("’", "'")
        if not _has_any(text, self._entity_words):
            return not text.isascii() and multilingual.has_entity_word(text)
        return _first_word_match(self._entity_fast, _NOT_THE_ENTITY.sub(" ", text)) is not None

    def _multilingual(self, title: str, summary: str) -> Detection:
        found = multilingual.detect(title, summary)
        if not found.match or found.category is None:
            return _no_match([found.reason])
        return self._detection(found.category, found.evidence, found.actors, list(found.rules),
                               found.in_title, strong=found.strong)

    # -- per sentence -------------------------------------------------------------------------

    def _best(self, hits: list[Detection]) -> Detection | None:
        if not hits:
            return None
        return min(hits, key=lambda h: CATEGORY_ORDER.index(h.category or DEBATED))

    def _sentence_hits(self, sentence: str, *, in_title: bool,
                       reasons: list[str]) -> list[Detection]:
        """The detections in one sentence; why none, appended to ``reasons``."""
        cleaned = " " + sentence.lower().replace("’", "'")
        if not sentence or not _has_any(cleaned, _VOCABULARY):
            return []
        blanked = False
        if _has_any(cleaned, ("tehr", "pakistani taliban", " ttp", "(ttp", "ttp)", "river",
                              "-taliban", "taliban-era", "kabul-")):
            before = cleaned
            cleaned = _NOT_THE_ENTITY.sub(" ", cleaned)
            blanked = cleaned != before
        cleaned = _blank_owned_interim(cleaned)
        strong = _first_word_match(self._entity_fast, cleaned)
        weak = strong or _first_word_match(_WEAK_ALIAS_FAST, cleaned)
        if weak is None:
            if blanked:
                reasons.append(OTHER_GROUP)
            return []
        hits: list[Detection] = []
        if "recog" in cleaned:
            # "Afghanistan seeks recognition": the country that asks is its government
            seeker = _COUNTRY_SEEKS.search(cleaned) if strong is None else None
            anchor = strong.group(0) if strong is not None else seeker and seeker.group(1)
            if not anchor:
                reasons.append(COUNTRY_ONLY)
            else:
                hit = self._recognition_hit(cleaned, sentence, anchor, in_title, reasons)
                if hit is not None:
                    hits.append(hit)
                    if hit.category == GRANTED:
                        return hits  # no step can outrank a grant
        hits.extend(self._step_hits(cleaned, sentence, strong is not None, weak.group(0),
                                    in_title))
        return hits

    def _recognition_hit(self, text: str, original: str, entity: str,
                         in_title: bool, reasons: list[str]) -> Detection | None:
        for match in _RECOG.finditer(text):
            word = match.group(0).lower()
            before, after = text[:match.start()], text[match.end():]
            form = self._form(word, before, after)
            if form is None:
                reasons.append(f"{OTHER_SENSE}: {_quote(text, match.start(), match.end())}")
                continue  # "unrecognisable", "facial recognition", "in recognition of"
            if _historical(text, match):
                reasons.append(f"{HISTORICAL}: {_quote(text, match.start(), match.end(), 4)}")
                continue  # "one of three states to recognise the Taliban in 1997"
            rules = ["entity:" + entity.strip()]
            if form == "unrecognised":
                rules.append("recognition:unrecognised")
            elif form == "noun":
                of_object = _OF_OBJECT.match(after)
                if of_object is not None:
                    target = of_object.group(1)
                    if not self._entity.match(_ARTICLE.sub("", target)):
                        if _OTHER_STATES.match(target) or not self._entity.search(target[:40]):
                            reasons.append(f"{OTHER_OBJECT}: "
                                           f"{_quote(text, match.start(), match.end(), after=3)}")
                            continue
                if self._received_by_other(text, match):
                    reasons.append(f"{OTHER_OBJECT}: "
                                   f"{_quote(text, match.start(), match.end(), after=3)}")
                    continue  # "Niger's junta wins recognition from Russia as Taliban watch"
                rules.append("recognition:noun")
            else:
                verb_rule = self._verb_object(word, before, after)
                if verb_rule is None:
                    reasons.append(f"{OTHER_OBJECT}: "
                                   f"{_quote(text, match.start(), match.end(), after=3)}")
                    continue
                rules.append(verb_rule)
            actors = self._actors(original)
            category = self._category(text, match, form, actors, rules, original)
            return self._detection(category, original, actors, rules, in_title, strong=True)
        return None

    def _form(self, word: str, before: str, after: str) -> str | None:
        """How "recognise" is used here: "noun", "verb" or "unrecognised"; None for another
        sense of the word."""
        if word.endswith(("able", "ably")):
            return None  # "unrecognisable", "recognisably"
        if _OTHER_SENSE_BEFORE.search(before) or _OTHER_SENSE_AFTER.match(word + after):
            return None
        if word.startswith("un"):
            # "remains unrecognised" and "the unrecognised Taliban government" are about
            # status; "unrecognised X" is an adjective of something else
            if _PREDICATE_BEFORE.search(before) and self._entity.search(before):
                return "unrecognised"
            return "unrecognised" if self._entity.match(after.lstrip(" -")) else None
        if word.startswith("recognition") or word == "recog":
            if _IN_BEFORE.search(before) or _MODIFIER_AFTER.match(after):
                return None  # "in recognition of", "recognition award", "... technology"
            return "noun"
        agent = _AGENT.match(after) if word.endswith("ed") else None
        if agent is not None and not (_NO_AGENT.match(agent.group(1))
                                      or _STATE_AGENT.search(agent.group(1))
                                      or find_states(agent.group(1))):
            return None  # "recognised as partners by aid agencies": not a state's act
        return "verb"

    def _verb_object(self, word: str, before: str, after: str) -> str | None:
        """Whether "recognise" here has the government as its object (or, in the passive,
        as its subject); the rule name that says so, or None."""
        if _AS_THREAT.match(after):
            return None
        agent = _AGENT.match(after) if word.endswith("ed") else None
        if (agent is None and word.endswith("ed") and _PARTICIPLE_AFTER.match(after)
                and self._entity_before.search(before)):
            return "recognition:participle"  # headline passive: "Islamic Emirate recognised"
        if _PASSIVE_BEFORE.search(before) or agent is not None:
            # the thing recognised must be the government, in this part of the headline
            breaks = list(_SPEAKER_BREAK.finditer(before))
            subject = before[breaks[-1].end():] if breaks else before
            return "recognition:passive" if self._entity.search(subject) else None
        if _NON_ENTITY_OBJECT.match(after):
            return None
        if _PRONOUN_OBJECT.match(after):
            # "Taliban ask the world to recognise them": the pronoun stands for the subject
            return "recognition:verb-object" if self._entity.search(before) else None
        head: list[str] = []
        stop = _CLAUSE_BREAK.search(after, 0, 80)
        for word in _WORD.findall(after[:stop.start() if stop else 80])[:7]:
            if head and word in _OBJECT_END:
                break  # "recognise passports issued by the former government" stops here
            head.append(word)
        phrase = " ".join(head)
        entity = self._entity.search(phrase)
        if entity is not None and _QUALIFIED_OBJECT.match(phrase, entity.end()):
            return None
        if entity is None and (_OBJECT_HEAD.search(phrase) is None
                               or _OTHER_GOVERNMENT.search(phrase) is not None):
            return None  # "recognise the former government's debts" is not about the Taliban
        if head and _OTHER_STATES.match(" ".join(head[:2])):
            return None
        return "recognition:verb-object"

    def _category(self, text: str, match: re.Match[str], form: str, actors: tuple[str, ...],
                  rules: list[str], original: str = "") -> str:
        """Granted when a state acts with no negation or modality in the clause; else debated.
        Appends the deciding rule to ``rules``."""
        if form == "unrecognised":
            rules.append("modality:unrecognised")
            return DEBATED
        possessor = (self._possessor(text, match, actors)
                     if form == "noun" and actors else None)
        if possessor is not None:
            # "Russia's recognition of the Taliban ...": an act that happened, unless the
            # words right around it make it hypothetical or deny it
            left = text[:match.start() - len(possessor)]
            right = " ".join(_WORD.findall(self._after_object(text, match.end()))[:2])
            cue = (_HYPOTHETICAL_BEFORE.search(left[-40:]) or _SOUGHT_BEFORE.search(left[-40:])
                   or _POSSESSED_CUES.search(right))
            if cue is not None:
                rules.append("modality:" + cue.group(0).strip().lower())
                return DEBATED
            rules.append("granted:state-possessor")
            return GRANTED
        agent = _AGENT.match(text, match.end()) if form == "verb" else None
        nobody = _NO_AGENT.match(agent.group(1)) if agent is not None else None
        if nobody is not None:
            rules.append("modality:by " + nobody.group(0).strip())  # "recognised by none"
            return DEBATED
        window = _clause_window(text, match.start(), match.end())
        cue = _CUES.search(window)
        if cue is not None:
            rules.append("modality:" + cue.group(0).lower())
            return DEBATED
        if _YES_NO_QUESTION.search(text):
            rules.append("modality:question")
            return DEBATED
        if "recognition:participle" in rules:
            if "?" in text[match.end():]:
                rules.append("modality:question")
                return DEBATED
            rules.append("granted:participle")  # "Kremlin makes it official: IEA recognised"
            return GRANTED
        if actors and self._state_grants(text, match, actors):
            rules.append("granted:state-acts")
            return GRANTED
        if self._unnamed_state_grants(text, match, actors, original):
            # the wording is a grant; which state grants, the gazetteer cannot tell
            rules.append("granted:unnamed-state")
            return GRANTED
        if form == "noun" and self._received(text, match):
            rules.append("granted:received")  # "Taliban government wins formal recognition"
            return GRANTED
        return DEBATED

    def _received(self, text: str, match: re.Match[str]) -> bool:
        """The government, as the subject, has won the recognition: "the Taliban government
        wins its first formal recognition" (not "fails to win", not "seeks")."""
        before = text[max(0, match.start() - 80):match.start()]
        stops = list(_CLAUSE_BREAK.finditer(before))
        clause = before[stops[-1].end():] if stops else before
        received = _RECEIVED_END.search(clause)
        return (received is not None and self._entity.search(clause, 0, received.start())
                is not None and _NOT_RECEIVED.search(clause) is None)

    def _received_by_other(self, text: str, match: re.Match[str]) -> bool:
        """Someone else, the subject of its clause, wins the recognition: "Niger's junta
        gains recognition from Moscow" (the Taliban named only in another clause)."""
        before = text[max(0, match.start() - 80):match.start()]
        stops = list(_CLAUSE_BREAK.finditer(before))
        clause = before[stops[-1].end():] if stops else before
        received = _RECEIVED_END.search(clause)
        if received is None:
            return False
        subject = clause[:received.start()]
        return (_WORD.search(subject) is not None and self._entity.search(subject) is None
                and _WEAK_ALIAS_FAST.search(subject) is None)

    def _possessor(self, text: str, match: re.Match[str],
                   actors: tuple[str, ...]) -> str | None:
        """The state word that owns the noun ("Russia's", "Moscow's", "Russian"), with what
        stands between it and the noun ("Russia's Taliban recognition"); or None."""
        before = text[max(0, match.start() - 50):match.start()]
        words = before.split()
        for size in (1, 2, 3):
            if len(words) < size:
                break
            piece = " ".join(words[-size:])
            first = words[-size]
            states = find_states(first)
            if states and states[0] in actors and (
                    first.endswith(("'s", "ian", "ese", "ish", "i")) or size == 1):
                if size > 1 and not self._entity.search(" ".join(words[-size + 1:])):
                    return None  # only the entity may stand between: "Russia's Taliban ..."
                return piece + " "
        return None

    def _after_object(self, text: str, end: int) -> str:
        """The text after "recognition of the Taliban (government)", cut at a clause break."""
        rest = text[end:]
        lead = _OF_LEAD.match(rest)
        if lead is not None:
            entity = self._entity.match(rest, lead.end())
            if entity is not None:
                rest = rest[entity.end():]
                rest = rest[_GOV_TAIL.match(rest).end():]  # type: ignore[union-attr]
        stop = _CLAUSE_BREAK.search(rest)
        return rest[:stop.start()] if stop else rest

    def _state_grants(self, text: str, match: re.Match[str], actors: tuple[str, ...]) -> bool:
        """A state is the one recognising: "Russia recognises ...", "Moscow's recognition",
        "Russia becomes the first country to recognise ..."."""
        before = text[max(0, match.start() - 60):match.start()]
        breaks = list(_SPEAKER_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end():]  # "Iran: Taliban recognition ..." -> not Iran
        by_state = _BY_STATE.match(text, match.end())
        if by_state is not None and any(a in find_states(by_state.group(1)) for a in actors):
            return True  # "recognition by Russia", "recognised by Moscow"
        first = _FIRST.search(before) is not None
        extended = first or _FOLLOW_END.search(before) or _GRANT_NOUN_END.search(before)
        near = find_states(" ".join(_WORD.findall(before)[-(10 if extended else 6):]))
        if not any(a in near for a in actors):
            return False
        if extended or _FOR_END.search(before):
            return True
        if _DECISION_END.search(before):
            return True  # "Russia's decision to recognise", "Moscow decided to recognise"
        if match.group(0).lower().startswith("recognition") or match.group(0).lower() == "recog":
            last = " ".join(_WORD.findall(before)[-3:])
            return (_POSSESSIVE_END.search(before) is not None
                    or any(a in find_states(last) for a in actors))
        return (_GRANT_VERB.match(text, match.start()) is not None
                or _PERFECT_END.search(before) is not None)

    def _unnamed_state_grants(self, text: str, match: re.Match[str],
                              actors: tuple[str, ...], original: str = "") -> bool:
        """A grant whose subject is a state the gazetteer cannot name: "a small island state
        formally recognises ...", "X becomes the latest country to recognise ...",
        "recognition by a Gulf monarchy". Only when no named state stands in that place."""
        before = text[max(0, match.start() - 60):match.start()]
        breaks = list(_SPEAKER_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end():]
        if actors and find_states(" ".join(_WORD.findall(before)[-10:])):
            return False  # a named state is near: _state_grants has had its say
        by_state = _BY_STATE.match(text, match.end())
        if by_state is not None:
            return _UNNAMED_STATE.search(by_state.group(1)) is not None
        clause = before
        stops = list(_CLAUSE_BREAK.finditer(clause))
        if stops:
            clause = clause[stops[-1].end():]
        if self._entity.search(clause) or _WEAK_ALIAS_FAST.search(clause):
            return False  # the Taliban themselves, or Afghanistan, as the subject
        if _FIRST_STATE_TO.search(before):
            return True  # "... becomes the latest state to recognise"
        if _UNNAMED_STATE.search(clause) is None and not self._proper_subject(
                text, match, original):
            return False
        if _GRANT_NOUN_END.search(clause) or _DECISION_END.search(clause):
            return True
        return (_GRANT_VERB.match(text, match.start()) is not None
                or _PERFECT_END.search(before) is not None)

    @staticmethod
    def _proper_subject(text: str, match: re.Match[str], original: str) -> bool:
        """The word before the verb is a name, in a sentence-case text: "Ruritania formally
        recognises ..." (in Title Case every word looks like a name)."""
        if len(text) != len(original) + 1 or title_case(original):
            return False  # offsets differ once other Taliban groups were blanked out
        subject = _SUBJECT_END.search(text, 0, match.start())
        if subject is None:
            return False
        start = subject.start(1) - 1
        return original[start].isupper() and subject.group(1) not in _NOT_SUBJECTS

    def _step_hits(self, text: str, original: str, strong: bool, entity: str,
                   in_title: bool) -> list[Detection]:
        hits: list[Detection] = []
        actors: tuple[str, ...] | None = None
        for rule in STEP_RULES:
            if not strong and not rule.weak_entity_ok:
                continue
            if not _passes_keys(rule, text):
                continue
            if rule.also and not _has_any(text, rule.also):
                continue
            if rule.verbs and not _has_any(text, rule.verbs):
                continue
            match = rule.pattern.search(text)
            if match is None:
                continue
            if rule.name == "un-seat" and not strong and not _AFGHAN_DELEGATE.search(text):
                continue
            if rule.category == STEP and _SPECIAL_ENVOY.search(match.group(0)):
                continue
            if rule.near_entity and not self._near_entity(text, match, rule.weak_entity_ok):
                continue
            if _historical(text, match):
                continue  # "Taliban envoy to Pakistan in the 1990s"
            rules = ["entity:" + entity.strip(), rule.name]
            category = rule.category
            if category == STEP:
                window = _clause_window(text, match.start(), match.end(), before=6, after=3)
                negation = _STEP_NEGATION.search(window) or _STEP_MODALITY.search(window)
                if negation is not None:
                    category = DEBATED
                    rules.append("modality:" + negation.group(0).lower())
            if actors is None:
                actors = self._actors(original)  # once per sentence, however many rules hit
            hits.append(self._detection(category, original, actors, rules, in_title,
                                        strong=strong))
            if category == STEP:
                break  # the first step wins: later rules could only tie or rank lower
        return hits

    def _near_entity(self, text: str, match: re.Match[str], weak_ok: bool) -> bool:
        """The entity (or, where a weak anchor will do, Afghanistan) is in the clause of
        ``match``, a few words away, or in the match itself."""
        near = (_clause_window(text, match.start(), match.end(), before=8, after=6)
                + " " + match.group(0))
        return (self._entity.search(near) is not None
                or (weak_ok and _WEAK_ALIAS_FAST.search(near) is not None))

    @staticmethod
    def _actors(sentence: str) -> tuple[str, ...]:
        """The states that act in the sentence: every one it names but Afghanistan, and
        but those named only as the place or host of talks (see _VENUES)."""
        text = _NOT_THE_ENTITY_ANY_CASE.sub(" ", sentence)
        for venue in _VENUES:
            text = venue.sub(_blank_place, text)
        states = find_states(text)
        return tuple(s for s in states if s != "Afghanistan")

    @staticmethod
    def _detection(category: str, evidence: str, actors: tuple[str, ...], rules: list[str],
                   in_title: bool, *, strong: bool) -> Detection:
        score = _SCORES[category] * (1.0 if in_title else 0.9) * (1.0 if strong else 0.9)
        where = "where:title" if in_title else "where:summary"
        # a grant or a step by nobody the gazetteer can name: the alert says so
        unknown = ("actor:unknown",) if not actors and category in (GRANTED, STEP) else ()
        return Detection(match=True, category=category, score=round(score, 3), actors=actors,
                         evidence=evidence, rules=(*rules, *unknown, where))
