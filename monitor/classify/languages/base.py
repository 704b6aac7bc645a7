"""PURE. The record each language module fills in, and the compiler of its patterns.

A language gives, as regular expressions over its folded text (languages/normalise.py):

- ``entity``: names of the Taliban government (the strong anchor); ``country``:
  Afghanistan, Kabul, Afghan (the weak anchor, enough for a concrete step, not for
  "recognition"); ``not_entity``: other groups called Taliban (the Pakistani Taliban, TTP)
  and other senses of those words, blanked out first;
- ``recognition``: recognising or recognition whose object is the government;
  ``other_sense``: the words that read like it but mean admitting, confessing, finding
  guilty, declaring something a terrorist group, an "internationally recognised"
  government: blanked out before ``recognition`` looks, so that they never count;
  ``subject_admits``: the entity as the subject of the verb ("талибы признали" is the
  Taliban admitting something, not anyone recognising them);
- ``steps``: the concrete steps (credentials, an ambassador accepted or named, an embassy
  handed over or reopened, a delisting, upgraded or established ties) and the subjects of
  debate (the UN seat, legitimacy, normalisation), each with its category and whether the
  weak anchor is enough, named as the English rules name them (steps.py);
- ``negation`` and ``modality``: the cues in a clause that make a grant or a step a refusal
  or a debate; ``question``: a question; ``grant``: the wording of a grant that happened
  (a perfective past, "officially", "the first country to ...").

Patterns are written in the language's usual spelling; ``compile_pattern`` folds their
letters as the text is folded, so "الإمارة الإسلامية" in a pattern matches "الاماره الاسلامیه"
in a text. (A letter that folds to a sign, "؟" to "?", is matched as that sign, not as regex
syntax.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from monitor.classify.languages.normalise import ARABIC, fold

GRANTED, STEP, DEBATED = (
    "recognition_granted", "recognition_step", "recognition_refused_or_debated")


def compile_pattern(source: str, script: str) -> re.Pattern[str]:
    """Compile ``source`` to run on text folded for ``script``: the letters outside escapes
    are folded as ``fold`` folds text; escapes (\\S, \\w, \\?) stay as written."""
    out: list[str] = []
    escaped = False
    for char in source:
        if escaped or char == "\\" or char.isascii():
            out.append(char if escaped or char == "\\" else char.lower())
        elif script == ARABIC:   # escaped: "؟" folds to "?", "…" to "..."
            out.append(re.escape(fold(unicodedata.normalize("NFKC", char), ARABIC)))
        else:
            out.append(re.escape(fold(char, script)))
        escaped = char == "\\" and not escaped
    return re.compile("".join(out))


@dataclass(frozen=True)
class Step:
    """A concrete step, or a subject of debate, recognised by one pattern."""

    name: str                 # as the English rules name it: "step:credentials", "un-seat"
    category: str
    pattern: re.Pattern[str]
    weak_ok: bool             # Afghanistan/Kabul is anchor enough
    keeps_negation: bool = False   # the pattern says "no longer": a negation in it is the step


@dataclass(frozen=True)
class Language:
    """One language's vocabulary for the recognition detector."""

    code: str                  # "ru", "zh", "fa", "ps", "ur", "ar"
    script: str
    entity: re.Pattern[str]
    country: re.Pattern[str]
    not_entity: re.Pattern[str]
    recognition: re.Pattern[str]
    other_sense: re.Pattern[str]
    subject_admits: re.Pattern[str] | None
    steps: tuple[Step, ...]
    negation: re.Pattern[str]
    modality: re.Pattern[str]
    question: re.Pattern[str]
    grant: re.Pattern[str]
    clause_break: re.Pattern[str]


def step(name: str, category: str, source: str, script: str, *,
         weak_ok: bool = False, keeps_negation: bool = False) -> Step:
    return Step(name, category, compile_pattern(source, script), weak_ok, keeps_negation)
