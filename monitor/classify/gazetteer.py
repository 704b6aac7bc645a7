"""The gazetteer: every state (UN members and observers, Taiwan, Kosovo, Somaliland, ...) and
the organisations that act (the UN, the EU, the SCO, the OIC, ...), with their names.

PURE. ``find_states(text)`` names the states an English sentence mentions, canonically spelled,
in the order they first appear ("Moscow" -> Russia, "Kazakh" -> Kazakhstan, "the White House"
-> United States); ``find_localized_states(text)`` does the same for Russian, Chinese,
Persian/Dari, Pashto, Urdu and Arabic text, folded first as languages/normalise.py folds it
(lower case, one spelling for the Arabic-script letters that vary, simplified characters), as
the names are: "روسيا" and "روسیا", "俄羅斯" and "俄罗斯" are one name. News datelines
("ISLAMABAD, May 30 (APP):") are places, not actors: strip them with ``strip_dateline``
first.

The names live in ``data/states.json``, built by ``tools/build_states.py`` from kept sources
(country_converter's table for UN membership, CLDR for names in each language, countryinfo for
demonyms and capitals) and a reviewed supplement (``data/states_supplement.json``) for
metonyms, other states, organisations and names to leave out. A name two states share
("Dominican", "Congolese") belongs to neither unless the supplement says which.

Where one name is inside another the longer wins ("Papua New Guinea", not "Guinea"; "South
Sudan", not "Sudan"). Phrases that look like a state but are not one ("South China Sea",
"New Mexico", "Georgia governor", "Thanksgiving turkey") are blanked out first. Some state
names are also given names ("Chad", "Jordan"): in a sentence-case text, such a name next to
another capitalised word ("Michael Jordan", "Chad Daybell") is a person, not an actor.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import TypedDict

from monitor.classify.languages.normalise import ARABIC, CYRILLIC, HAN, fold, fold_all

# A news dateline opening a text, in one of two shapes:
# - an all-caps place, maybe ", Month day", then an agency in brackets or slashes, a colon,
#   or a dash after a space: "ISLAMABAD, May 30 (APP):", "MOSCOW, July 3. /TASS/.",
#   "KABUL:", "DOHA - " (a hyphen joined to the word is no dateline: "COVID-19", "PML-N");
# - a place in any case (all caps, or capitalised words ending in a comma), maybe a region
#   and a date, then an agency and a dash or colon: "BRASÍLIA (Reuters) -",
#   "Quito, 24 Sep 2018 (AFP) -", "COLUMBUS, Ohio (WCMH) —". A headline with a bracket
#   ("Ten films (and more) - Outlet") is not one.
_CAPITAL = "A-Z\u00c0-\u00d6\u00d8-\u00de"
_DATELINE = re.compile(
    r"^\s*(?:"
    r"[A-Z][A-Z.'\- ]{2,30}(?:,\s*[A-Z][a-z]{2,9}\.?\s+\d{1,2}\.?)?\s*"
    r"(?:\([A-Za-z0-9 ]{2,12}\)\s*[:\-–—]*|/[A-Z]{2,8}/\.?|:+|(?<=\s)[\-–—]+)"
    rf"|(?:[{_CAPITAL}][{_CAPITAL}.'’-]++|[{_CAPITAL}][\w.'’-]*+(?:\s[{_CAPITAL}][\w.'’-]*+)?,)"
    rf"(?:,?\s++(?:[{_CAPITAL}][\w.'’-]*+|\d{{1,4}}+)){{0,4}}+,?"
    r"\s*+\([A-Z][\w&.-]*+(?:\s[A-Z0-9][\w&.-]*+){0,2}+\)\s*+[-–—:]+"
    r")\s*"
)

UN_MEMBER, UN_OBSERVER, OTHER_STATE, ORGANISATION = (
    "un_member", "un_observer", "other", "organisation")

# Capitalised words beside a state's name that do not make it a person's name.
_NOT_NAMES = frozenset(
    "A An The And Or But In On At Of For To From By With As Why How What When Where Who Will "
    "Would Can Could Should May Says Said New Now After Before Over Under Amid Against Via "
    "King Queen President Prime Premier Foreign Minister Ministry Government Embassy Envoy "
    "Ambassador Parliament Cabinet Army Officials Official Leader Leaders State Deputy Vice "
    "Special Senior Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February "
    "March April June July August September October November December".split())
_WORD_BEFORE = re.compile(r"([A-Z][\w'’-]*)\s$")
_WORD_AFTER = re.compile(r"^\s([A-Z][\w'’-]*)")
_ADJECTIVE_ENDINGS = frozenset({"ая", "яя", "ий", "ый", "ой", "ое", "ые"})
_SEPARATOR = r"[\s\-–—]+"
_LONG_WORD = re.compile(r"\b[A-Za-z]{4,}")


@dataclass(frozen=True)
class Entry:
    """One state or organisation and the names it goes by."""

    name: str
    code: str          # ISO 3166-1 alpha-2 where there is one
    kind: str          # UN_MEMBER, UN_OBSERVER, OTHER_STATE or ORGANISATION
    names: tuple[str, ...]       # English, matched in any case
    cased: tuple[str, ...]       # matched only as written ("US", not "us")
    localized: dict[str, tuple[str, ...]]   # language -> names, as in CLDR ("ru", "fa_AF")
    stems: tuple[str, ...]       # lower-case prefixes matched anywhere ("росси", "中国")


@dataclass(frozen=True)
class _Compiled:
    entries: tuple[Entry, ...]
    folded: re.Pattern[str]
    cased: re.Pattern[str]
    not_actors: re.Pattern[str]
    localized: re.Pattern[str]
    localized_owners: tuple[tuple[re.Pattern[str], str], ...]
    lookup: dict[str, str]
    given_names: frozenset[str]


def strip_dateline(text: str) -> str:
    """Drop a leading news dateline such as "ISLAMABAD, May 30 (APP):", "KABUL:" or
    "Quito, 24 Sep 2018 (AFP) -": the place is not an actor, nor part of the story's lead.
    The classifier and story grouping (monitor/stories.py) both use this one."""
    return _DATELINE.sub("", text, count=1)


class _EntryData(TypedDict):
    """One entry of ``data/states.json``, as ``tools/build_states.py`` writes it."""

    name: str
    code: str
    kind: str
    names: list[str]
    cased: list[str]
    localized: dict[str, list[str]]   # language -> names; "stems" -> stems


class _StatesData(TypedDict):
    """The parts of ``data/states.json`` read here."""

    entries: list[_EntryData]
    not_actors: list[str]
    given_names: list[str]


def _load() -> _StatesData:
    raw = files("monitor.classify").joinpath("data/states.json").read_text(encoding="utf-8")
    data: _StatesData = json.loads(raw)
    return data


def _alternation(patterns: list[str]) -> str:
    return "|".join(sorted(set(patterns), key=lambda p: (-len(p), p)))


def _english(name: str) -> str:
    return re.escape(name).replace(r"\ ", r"\s+")


def _localized(name: str) -> str:
    """A pattern for a name in another language: Chinese as written; Cyrillic words by their
    stem, so that case endings match ("Кения", "Кении", "Кенией"); Arabic-script words with an
    optional one-letter prefix (و, ب, ل) and a short suffix ("ایرانی")."""
    script = _script(name)
    name = fold(name, script)
    if script == HAN:
        return re.escape(name)
    words = [w for w in re.split(r"[\s\-–—]+", name) if any(c.isalpha() for c in w)]
    if script == CYRILLIC:
        stems = []
        for word in words:
            if len(word) >= 5 and word[-2:] in _ADJECTIVE_ENDINGS:
                stem = word[:-2]  # "Саудовская" -> "саудовск", to match "Саудовской"
            else:
                stem = word[:-1] if word[-1] in "аеёиоуыэюяйь" else word
            shortest = 3 if len(words) > 1 else 4  # the other word keeps "южн" in check
            stems.append(re.escape(stem) + r"\w{0,3}" if len(stem) >= shortest
                         else re.escape(word))
        return r"(?<!\w)" + _SEPARATOR.join(stems) + r"(?!\w)"
    body = _SEPARATOR.join(re.escape(w) for w in words)
    if body.endswith("ه") and len(words[-1]) > 3:
        body = body[:-1] + "[هی]"   # the Pashto oblique case: "روسیه" -> "روسیې"
    if body.startswith("ال"):
        body = f"(?:{body}|لل{body[2:]})"   # "للصین": ل + الصین, the alef dropped
    return r"(?<!\w)[وبل]?" + body + r"\w{0,3}(?!\w)"


def _script(name: str) -> str:
    if re.search(r"[\u3400-\u9fff]", name):
        return HAN
    if re.search(r"[\u0400-\u04ff]", name):
        return CYRILLIC
    return ARABIC


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    data = _load()
    entries = tuple(
        Entry(name=e["name"], code=e["code"], kind=e["kind"], names=tuple(e["names"]),
              cased=tuple(e["cased"]),
              localized={lang: tuple(words) for lang, words in e["localized"].items()
                         if lang != "stems"},
              stems=tuple(e["localized"].get("stems", ())))
        for e in data["entries"])
    lookup: dict[str, str] = {}
    folded: list[str] = []
    cased: list[str] = []
    localized: list[tuple[str, str]] = []
    for entry in entries:
        for name in entry.names:
            lookup[" ".join(name.lower().split())] = entry.name
            folded.append(_english(name.lower()))
        for name in entry.cased:
            lookup[name] = entry.name
            cased.append(_english(name))
        for name in sorted({n for words in entry.localized.values() for n in words}):
            localized.append((_localized(name), entry.name))
        for stem in entry.stems:
            localized.append((re.escape(fold(stem, _script(stem))), entry.name))
    return _Compiled(
        entries=entries,
        # Run on lower-cased text, which is faster than IGNORECASE. Possessive endings are
        # allowed: "Russia's".
        folded=re.compile(rf"(?<!\w)(?:{_alternation(folded)})(?=(?:['’]s)?(?!\w))"),
        cased=re.compile(rf"(?<![\w.])(?:{_alternation(cased)})(?![\w])"),
        not_actors=re.compile("|".join(data["not_actors"]), re.IGNORECASE),
        localized=re.compile(_alternation([pattern for pattern, _ in localized])),
        # the same order as the alternation, so the owner is the pattern that matched
        localized_owners=tuple((re.compile(p), name) for p, name in
                               sorted(localized, key=lambda pn: (-len(pn[0]), pn[0]))),
        lookup=lookup,
        given_names=frozenset(data["given_names"]),
    )


def entries() -> tuple[Entry, ...]:
    """Every state and organisation the gazetteer knows."""
    return _compiled().entries


@lru_cache(maxsize=1)
def organisation_names() -> frozenset[str]:
    """Canonical names of the organisations (UN, EU, ...), as find_states gives them."""
    return frozenset(entry.name for entry in entries() if entry.kind == ORGANISATION)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def title_case(text: str, name: str = "") -> bool:
    """Whether most longer words are capitalised, leaving out the first word and ``name``."""
    words = [w for w in _LONG_WORD.findall(text)[1:] if w != name]
    capitalised = sum(1 for w in words if w[0].isupper())
    return bool(words) and capitalised > 0.6 * len(words)


def _is_person(text: str, start: int, end: int) -> bool:
    """A given name beside another capitalised word in sentence case: "Michael Jordan"."""
    for pattern, piece in ((_WORD_BEFORE, text[:start]), (_WORD_AFTER, text[end:])):
        found = pattern.search(piece)
        if found is None:
            continue
        word = found.group(1)
        if word.removesuffix("'s").removesuffix("’s") in _NOT_NAMES:
            continue
        if not find_states(word, _persons=False):
            return True
    return False


@lru_cache(maxsize=4096)
def find_states(text: str, *, _persons: bool = True) -> tuple[str, ...]:
    """Canonical names of the states (and organisations) that ``text`` mentions, in order of
    first mention."""
    compiled = _compiled()
    if compiled.not_actors.search(text):
        text = compiled.not_actors.sub(_blank, text)
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters grow when lower-cased ("İ"): drop them
        text = "".join(c if len(c.lower()) == 1 else " " for c in text)
        lowered = text.lower()
    found: list[tuple[int, int, str]] = []
    for match in compiled.folded.finditer(lowered):
        key = " ".join(match.group(0).split())
        if key in compiled.lookup:
            found.append((match.start(), match.end(), compiled.lookup[key]))
    for match in compiled.cased.finditer(text):
        found.append((match.start(), match.end(), compiled.lookup[match.group(0)]))
    if _persons:
        found = _without_persons(text, found, compiled.given_names)
    return _in_order(found)


def _without_persons(text: str, found: list[tuple[int, int, str]],
                     given_names: frozenset[str]) -> list[tuple[int, int, str]]:
    """Drop the names that stand for a person here ("Michael Jordan"); not in Title Case,
    where every word is capitalised."""
    kept = []
    in_title_case: bool | None = None
    for start, end, name in found:
        word = text[start:end]
        if word in given_names:
            if in_title_case is None:
                in_title_case = title_case(text, word)
            if not in_title_case and _is_person(text, start, end):
                continue
        kept.append((start, end, name))
    return kept


def _in_order(spans: list[tuple[int, int, str]]) -> tuple[str, ...]:
    """Names by first mention; a match inside a longer one does not count."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    kept: list[str] = []
    reach = -1
    for _start, end, name in spans:
        if end <= reach:
            continue  # "UN" inside "UN Security Council"
        reach = max(reach, end)
        kept.append(name)
    return tuple(dict.fromkeys(kept))


def find_localized_states(text: str) -> tuple[str, ...]:
    """The states a Russian, Chinese, Persian, Pashto, Urdu or Arabic text names, in order of
    first mention."""
    compiled = _compiled()
    text = fold_all(text)
    if compiled.not_actors.search(text):
        text = compiled.not_actors.sub(_blank, text)
    spans = []
    for match in compiled.localized.finditer(text):
        name = _localized_owner(match.group(0))
        if name is not None:
            spans.append((match.start(), match.end(), name))
    return _in_order(spans)


@lru_cache(maxsize=4096)
def _localized_owner(found: str) -> str | None:
    """The state whose localized name or stem matched ``found``."""
    for pattern, name in _compiled().localized_owners:
        if pattern.fullmatch(found):
            return name
    return None
