"""PURE. What the scripts need before a rule can read them: which script and language a text
is in, and one spelling for the letters that vary.

- Arabic script (Persian/Dari, Pashto, Urdu, Arabic): one letter for each set of variants
  (ي ى ئ ې ۍ ے -> ی; ك -> ک; ګ -> گ; ة ۀ ہ ھ ۃ -> ه; أ إ آ ٱ -> ا; ؤ -> و), no harakat or
  Quranic marks, no tatweel, presentation forms unfolded (NFKC), the zero-width non-joiner
  written as a space ("می‌شناسد" and "می شناسد" read alike; rules allow "میشناسد" too), the
  zero-width joiner and direction marks dropped, and Eastern digits as ASCII digits.
- Cyrillic: lower case, ё -> е; guillemets and curly quotes as '"' (in every script).
- Han: traditional characters as simplified ones (OpenCC's t2s table), so that rules are
  written once, in simplified characters.

``fold`` keeps no offsets: rules run on the folded text and the evidence is quoted from the
original sentence, which is split before folding.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

ARABIC, CYRILLIC, HAN = "arabic", "cyrillic", "han"

# A cheap look: the first character of each script the detector reads.
_SCRIPTS = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]|"
                      r"[\u0400-\u04ff]|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_ARABIC_LETTERS = str.maketrans({
    "ي": "ی", "ى": "ی", "ئ": "ی", "ې": "ی", "ۍ": "ی", "ے": "ی", "ۓ": "ی", "ێ": "ی",
    "ك": "ک", "ګ": "گ",
    "ة": "ه", "ۀ": "ه", "ہ": "ه", "ھ": "ه", "ۃ": "ه", "ە": "ه",
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ؤ": "و",
    "\u200c": " ", "\u200d": None, "\u200e": None, "\u200f": None, "\ufeff": None,
    "\u0640": None,  # tatweel
    **{chr(c): None for c in range(0x064B, 0x0660)},   # harakat, shadda, sukun, hamza marks
    **{chr(c): None for c in range(0x0610, 0x061B)},   # honorific and Quranic signs
    **{chr(c): None for c in range(0x06D6, 0x06EE)},   # Quranic annotation marks
    "\u0670": None,  # superscript alef
    **{chr(0x0660 + d): str(d) for d in range(10)},    # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},    # Persian/Urdu digits
    "،": ",", "؛": ";", "؟": "?", "۔": ".", "«": '"', "»": '"',
})
_SPACES = re.compile(r"[ \t\u00a0]+")
_QUOTES = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "「": '"', "」": '"'})

# The letters counted to tell the script of a text (`language`), in the order that breaks a
# tie: Arabic (and its presentation forms), Cyrillic, Han.
_LETTERS = ((ARABIC, re.compile("[\u0600-\u06ff\ufb50-\ufeff]")),
            (CYRILLIC, re.compile("[\u0400-\u04ff]")),
            (HAN, re.compile("[\u3400-\u9fff\uf900-\ufaff]")))
_LETTER_OF = dict(_LETTERS)


def _count(letter: re.Pattern[str], text: str) -> int:
    """How many characters of ``text`` the one-character pattern matches (in C: a
    character at a time in Python took most of the time of a gate on every non-ASCII
    item)."""
    return len(text) - len(letter.sub("", text))


# Letters that only one language of the Arabic script writes (looked at before folding).
_PASHTO = re.compile(r"[ټډړږښځڅڼۍېګ]")
_URDU = re.compile(r"[ٹڈڑںےہھۃ]")
_PERSIAN = re.compile(r"[پچژگکی]")
_ARTICLE = re.compile(r"(?<!\w)(?:[وبلف]?ال|لل)\w{2,}")   # Arabic's article: "المتهم", "بالإمارة"
_ARABIC_ONLY = re.compile(r"[ةيكى]")
# Short function words, as folded text spells them, for texts whose letters do not decide.
_FUNCTION_WORDS = {
    "ps": re.compile(r"(?<!\w)(?:د|په|ته|کی|چی|سره|دی|شوی|وو|لپاره|څخه|یی)(?!\w)"),
    "ur": re.compile(r"(?<!\w)(?:کی|کا|نی|سی|میں|هی|هیں|کو|پر|نهیں|گا|گی)(?!\w)"),
    "fa": re.compile(r"(?<!\w)(?:را|از|به|که|این|است|می|با|برای|شد|کرد|نمی)(?!\w)"),
    "ar": re.compile(r"(?<!\w)(?:فی|من|علی|الی|التی|الذی|عن|ان|هذا|هذه|مع|لم|لن)(?!\w)"),
}


def scripts(text: str) -> bool:
    """Whether ``text`` has a letter of a script the detector reads (cheap)."""
    return _SCRIPTS.search(text) is not None


def language(text: str) -> str | None:
    """The language of ``text``: "ru", "zh", "fa", "ps", "ur", "ar", or None (no letter
    of those scripts). Cyrillic is read as Russian; Han as Chinese; an Arabic-script text
    by its letters, and by its function words when its letters do not decide. A text with
    letters of several scripts is in the one it has most letters of (the first of Arabic,
    Cyrillic, Han on a tie)."""
    present = [script for script, letter in _LETTERS if letter.search(text)]
    if not present:
        return None
    script = present[0] if len(present) == 1 else max(
        present, key=lambda s: _count(_LETTER_OF[s], text))
    if script == CYRILLIC:
        return "ru"
    if script == HAN:
        return "zh"
    return _arabic_script_language(text)


def _arabic_script_language(text: str) -> str:
    pashto, urdu = len(_PASHTO.findall(text)), len(_URDU.findall(text))
    if pashto and pashto >= urdu:
        return "ps"
    if urdu:
        return "ur"
    folded = fold(text, ARABIC)
    scores = {lang: len(words.findall(folded)) for lang, words in _FUNCTION_WORDS.items()}
    scores["ps"] *= 2   # "د", "په", "ته" are Pashto's alone; the others share some words
    scores["ar"] += len(_ARTICLE.findall(folded))
    if _PERSIAN.search(text) is None and _ARABIC_ONLY.search(text) is not None:
        scores["ar"] += 2
    elif _PERSIAN.search(text) is not None:
        scores["fa"] += 1
    return max(("fa", "ar", "ur", "ps"), key=lambda lang: scores[lang])


def script_of(lang: str) -> str:
    return {"ru": CYRILLIC, "zh": HAN}.get(lang, ARABIC)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold_all(text: str) -> str:
    """``text`` folded for every script it has letters of (a text may mix them)."""
    if _SCRIPTS.search(text) is None:
        return text.lower()
    if re.search(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]", text):
        text = fold(text, ARABIC)
    if re.search(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", text):
        text = fold(text, HAN)
    return fold(text, CYRILLIC)


@lru_cache(maxsize=32)
def fold(text: str, script: str) -> str:
    """``text`` in the one spelling the rules of ``script`` are written in, lower-cased.
    The last few are kept: a text is often folded twice in a row (an Arabic-script one to
    tell its language by its words, then to look for the entity)."""
    if script == ARABIC:
        text = unicodedata.normalize("NFKC", text).translate(_ARABIC_LETTERS)
        return _SPACES.sub(" ", text).lower()
    if script == CYRILLIC:
        return text.lower().replace("ё", "е").translate(_QUOTES)
    return str(_t2s().convert(text)).lower().translate(_QUOTES)
