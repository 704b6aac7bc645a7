"""A small bundled gazetteer: states, their demonyms, and their capitals and leaders used as
metonyms.

PURE. ``find_states(text)`` names the states a sentence mentions, canonically spelled, in the
order they first appear ("Moscow" -> Russia, "Kazakh" -> Kazakhstan, "the White House" ->
United States). News datelines ("ISLAMABAD, May 30 (APP):") are places, not actors: strip them
with ``strip_dateline`` first.
"""

from __future__ import annotations

import re
from functools import lru_cache

# canonical name -> other names (demonyms, short forms, capitals, seats of government and
# long-serving leaders and foreign ministers used as metonyms). Matching is case-insensitive on
# whole words, except the all-caps short forms listed in _CASED.
STATES: dict[str, tuple[str, ...]] = {
    "Afghanistan": ("Afghan", "Afghans", "Kabul"),
    "Algeria": ("Algerian", "Algiers"),
    "Argentina": ("Argentine", "Argentinian", "Buenos Aires"),
    "Armenia": ("Armenian", "Yerevan"),
    "Australia": ("Australian", "Canberra"),
    "Austria": ("Austrian", "Vienna"),
    "Azerbaijan": ("Azerbaijani", "Azeri", "Baku"),
    "Bahrain": ("Bahraini", "Manama"),
    "Bangladesh": ("Bangladeshi", "Dhaka"),
    "Belarus": ("Belarusian", "Minsk", "Lukashenko"),
    "Belgium": ("Belgian", "Brussels"),
    "Brazil": ("Brazilian", "Brasilia", "Brasília"),
    "Canada": ("Canadian", "Ottawa"),
    "China": ("Chinese", "Beijing", "PRC", "Xi", "Xi Jinping", "Wang Yi"),
    "Denmark": ("Danish", "Copenhagen"),
    "Egypt": ("Egyptian", "Cairo"),
    "Finland": ("Finnish", "Helsinki"),
    "France": ("French", "Paris", "Elysee", "Élysée"),
    "Germany": ("German", "Berlin"),
    "India": ("Indian", "New Delhi", "Delhi", "Modi", "Jaishankar"),
    "Indonesia": ("Indonesian", "Jakarta"),
    "Iran": ("Iranian", "Tehran", "Teheran", "Araghchi", "Pezeshkian", "Raisi"),
    "Iraq": ("Iraqi", "Baghdad"),
    "Israel": ("Israeli",),
    "Italy": ("Italian", "Rome"),
    "Japan": ("Japanese", "Tokyo"),
    "Jordan": ("Jordanian", "Amman"),
    "Kazakhstan": ("Kazakh", "Kazakhstani", "Astana", "Nur-Sultan", "Almaty", "Tokayev"),
    "Kuwait": ("Kuwaiti",),
    "Kyrgyzstan": ("Kyrgyz", "Bishkek", "Japarov"),
    "Malaysia": ("Malaysian", "Kuala Lumpur"),
    "Netherlands": ("Dutch", "The Hague", "Amsterdam"),
    "Norway": ("Norwegian", "Oslo"),
    "Oman": ("Omani", "Muscat"),
    "Pakistan": ("Pakistani", "Islamabad", "Shehbaz Sharif", "Ishaq Dar"),
    "Qatar": ("Qatari", "Doha"),
    "Russia": ("Russian", "Russian Federation", "Moscow", "Kremlin", "Putin", "Lavrov",
               "Zakharova", "Kabulov"),
    "Saudi Arabia": ("Saudi", "Saudis", "Riyadh"),
    "South Korea": ("South Korean", "Seoul"),
    "North Korea": ("North Korean", "Pyongyang"),
    "Spain": ("Spanish", "Madrid"),
    "Sweden": ("Swedish", "Stockholm"),
    "Switzerland": ("Swiss", "Bern", "Berne"),
    "Syria": ("Syrian", "Damascus"),
    "Tajikistan": ("Tajik", "Dushanbe", "Rahmon"),
    "Turkey": ("Turkish", "Türkiye", "Turkiye", "Ankara", "Erdogan", "Erdoğan"),
    "Turkmenistan": ("Turkmen", "Ashgabat"),
    "Ukraine": ("Ukrainian", "Kyiv", "Kiev"),
    "United Arab Emirates": ("UAE", "Emirati", "Abu Dhabi"),
    "United Kingdom": ("UK", "U.K.", "Britain", "Great Britain", "British", "London",
                       "Downing Street", "Whitehall"),
    "United States": ("US", "U.S.", "USA", "U.S.A.", "America", "American", "Americans",
                      "Washington", "White House", "State Department", "Pentagon"),
    "Uzbekistan": ("Uzbek", "Tashkent", "Mirziyoyev"),
    "Venezuela": ("Venezuelan", "Caracas"),
}

# Short forms that are only names when written in capitals ("US" but not "us").
_CASED = frozenset({"US", "U.S.", "USA", "U.S.A.", "UK", "U.K.", "UAE", "PRC"})

_DATELINE = re.compile(
    r"^\s*[A-Z][A-Z.'\- ]{2,30}(?:,\s*[A-Z][a-z]{2,9}\.?\s+\d{1,2}\.?)?\s*"
    r"(?:\([A-Za-z0-9 ]{2,12}\)\s*[:\-–—]*|/[A-Z]{2,8}/\.?|[:\-–—]+)\s*"
)


def strip_dateline(text: str) -> str:
    """Drop a leading news dateline such as "ISLAMABAD, May 30 (APP):" or "KABUL:"."""
    return _DATELINE.sub("", text, count=1)


@lru_cache(maxsize=1)
def _compiled() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str]]:
    lookup: dict[str, str] = {}
    folded: list[str] = []
    cased: list[str] = []
    for canonical, others in STATES.items():
        for name in (canonical, *others):
            if name in _CASED:
                lookup[name] = canonical
                cased.append(name)
            else:
                lookup[name.lower()] = canonical
                folded.append(name)

    def alternation(names: list[str]) -> str:
        parts = sorted({re.escape(n).replace(r"\ ", r"\s+") for n in names}, key=len,
                       reverse=True)
        return "|".join(parts)

    # Possessive and plural endings are allowed: "Russia's", "Russians".
    folded_re = re.compile(rf"(?<!\w)(?:{alternation(folded)})(?=(?:['’]s)?(?!\w))",
                           re.IGNORECASE)
    cased_re = re.compile(rf"(?<![\w.])(?:{alternation(cased)})(?![\w])")
    return folded_re, cased_re, lookup


def find_states(text: str) -> tuple[str, ...]:
    """Canonical names of the states that ``text`` mentions, in order of first mention."""
    folded_re, cased_re, lookup = _compiled()
    hits: list[tuple[int, str]] = []
    for match in folded_re.finditer(text):
        key = re.sub(r"\s+", " ", match.group(0)).lower()
        if key in lookup:
            hits.append((match.start(), lookup[key]))
    for match in cased_re.finditer(text):
        hits.append((match.start(), lookup[match.group(0)]))
    hits.sort()
    return tuple(dict.fromkeys(name for _, name in hits))
