"""Build monitor/classify/data/states.json, the gazetteer's data, from kept sources.

Run once when a source changes (``pip install -e '.[gazetteer-data]'`` first):

    python tools/build_states.py

Sources, each for what it keeps well:

- country_converter's country table: which states are UN members (its ``UNmember`` column),
  their short and official English names;
- CLDR, through babel: the English name and the names in the languages the detector reads
  (Russian, Chinese, Persian and Dari, Pashto, Urdu, Arabic), and the capitals in those
  languages where CLDR names them: a time zone's exemplar city that is the state's capital
  ("Europe/Moscow" -> "Москва", "莫斯科", "مسکو", "موسكو"; not Beijing or Islamabad, whose
  zones are named after other cities: the supplement has those);
- countryinfo: demonyms and capitals;
- ``states_supplement.json`` beside the output, reviewed by hand: the states and organisations
  outside those tables (observers, Kosovo, Somaliland, the UN, the EU, ...), the canonical
  names the detector has always used ("Turkey", "Brunei"), the metonyms no table has (the
  Kremlin, the White House, long-serving leaders), and the names to drop because they are
  common words or people ("Male", "Victoria").

A name that two entries claim ("Dominican", "Congolese") is ambiguous and goes to neither,
unless the supplement gives it to one.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import unicodedata
from importlib.metadata import distribution, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.classify.languages.normalise import fold_all  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "monitor" / "classify" / "data"
LANGUAGES = ("ru", "zh", "fa", "fa_AF", "ps", "ur", "ar")


def _country_table() -> list[dict[str, str]]:
    path = distribution("country_converter").locate_file("country_converter/country_data.tsv")
    with open(str(path), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _countryinfo() -> dict[str, dict[str, Any]]:
    folder = Path(str(distribution("countryinfo").locate_file("countryinfo/data")))
    by_code: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        code = (record.get("ISO") or {}).get("alpha2")
        if code and code not in by_code:
            by_code[code] = record
    return by_code


def _split_cldr(name: str) -> list[str]:
    """CLDR writes some names with a qualifier: "Myanmar (Burma)", "Congo - Kinshasa"."""
    names = [name]
    bare = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()
    names.append(bare)
    names.extend(re.findall(r"\((.*?)\)", name))
    return [n.strip() for n in names if n.strip()]


def _english_forms(name: str) -> list[str]:
    """A table's name and its plain forms: "Micronesia, Fed. Sts." -> "Micronesia"."""
    forms = [name]
    if "," in name:
        head, tail = (part.strip() for part in name.split(",", 1))
        forms.append(head)
        if not tail.endswith("."):
            forms.append(f"{tail} {head}")
    if "&" in name:
        forms.append(name.replace("&", "and"))
    if name.startswith("St. "):
        forms.append("Saint " + name[4:])
    if "’" in name:
        forms.append(name.replace("’", "'"))
    return forms


def _ascii(name: str) -> str:
    """The name without accents, as many feeds write it: "Bogotá" -> "Bogota"."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _long_enough(name: str) -> bool:
    """A capital's name long enough not to be part of many words: two Han characters, four
    letters in another script ("رم", Rome in Persian, is in "رمضان" and "رمز")."""
    letters = [c for c in name if c.isalpha()]
    if any("\u3400" <= c <= "\u9fff" for c in letters):
        return len(letters) >= 2
    return len(letters) >= 4


def _zone_capitals(code: str, capitals: list[str],
                   zones: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The capital's name in each language, from the CLDR time zone named after it."""
    from babel.core import get_global

    wanted = {c.lower() for c in capitals}
    found: dict[str, list[str]] = {}
    for zone in get_global("territory_zones").get(code, ()):
        if zone.split("/")[-1].replace("_", " ").lower() not in wanted:
            continue
        for lang, table in zones.items():
            city = (table.get(zone) or {}).get("city")
            if city and _long_enough(city):
                found.setdefault(lang, []).append(city)
    return found


def _plurals(demonym: str) -> list[str]:
    return [demonym, demonym + "s"] if demonym.endswith(("an", "i")) else [demonym]


def build() -> dict[str, Any]:
    from babel import Locale

    supplement = json.loads((DATA / "states_supplement.json").read_text(encoding="utf-8"))
    canonical_names: dict[str, str] = supplement["canonical"]
    drop = {n.lower() for n in supplement["drop"]}
    info = _countryinfo()
    locales = {lang: Locale.parse(lang).territories for lang in LANGUAGES}
    zones = {lang: Locale.parse(lang).time_zones for lang in LANGUAGES}
    drop_localized = set(supplement["drop_localized"])
    english = Locale.parse("en").territories

    entries: list[dict[str, Any]] = []
    for row in _country_table():
        codes = re.findall(r"[A-Z]{2}", row["ISO2"])  # a few are patterns: "^GR$|^EL$"
        code = codes[0] if codes else ""
        member = row["UNmember"] not in ("", "nan")
        if not member and code not in supplement["territories"]:
            continue
        kind = "un_member" if member else supplement["territories"][code]
        name = canonical_names.get(code, row["name_short"])
        names: list[str] = [name]
        for source in (row["name_short"], row["name_official"], english.get(code, "")):
            for form in _split_cldr(source) if source else []:
                names.extend(_english_forms(form))
        record = info.get(code, {})
        demonyms: list[str] = []
        for demonym in re.split(r"\s*[,/]\s*", record.get("demonym") or ""):
            if demonym:
                demonyms.extend(_plurals(demonym))
        capital = record.get("capital") or []
        capitals = [capital] if isinstance(capital, str) else list(capital)
        localized = {lang: sorted({n for form in [table.get(code, "")] if form
                                   for n in _split_cldr(form)})
                     for lang, table in locales.items()}
        for lang, cities in _zone_capitals(code, [c for c in capitals if c.lower() not in drop],
                                           zones).items():
            localized[lang] = [*localized[lang], *(c for c in cities if c not in localized[lang])]
        entries.append({"name": name, "code": code, "kind": kind,
                        "names": names + demonyms + capitals, "localized": localized})
    for extra in supplement["entries"]:
        entries.append({"name": extra["name"], "code": extra.get("code", ""),
                        "kind": extra["kind"], "names": [extra["name"], *extra.get("names", [])],
                        "localized": extra.get("localized", {})})

    by_name = {e["name"]: e for e in entries}
    for name, more in supplement["extra_names"].items():
        by_name[name]["names"].extend(more)
    for name, more in supplement.get("extra_localized", {}).items():
        for lang, words in more.items():
            by_name[name]["localized"].setdefault(lang, []).extend(words)

    for entry in entries:
        entry["names"] = [*entry["names"], *(_ascii(n) for n in entry["names"])]

    # A name that two entries claim is ambiguous, unless the supplement settles it. Names in
    # other scripts are compared as the detector reads them: "عُمان" (Oman) and "عمّان" (Amman)
    # are one word once the harakat are gone.
    owners: dict[str, set[str]] = {}
    for entry in entries:
        for n in entry["names"]:
            owners.setdefault(n.lower(), set()).add(entry["name"])
        for words in entry["localized"].values():
            for n in words:
                owners.setdefault(fold_all(n), set()).add(entry["name"])
    settled = {fold_all(n): owner for n, owner in supplement["settle"].items()}

    def keep(entry_name: str, n: str) -> bool:
        key = fold_all(n)
        if key in drop or len(key) < 2:
            return False
        if key in settled:
            return settled[key] == entry_name
        return len(owners[key]) == 1

    cased = set(supplement["cased"])
    out_entries = []
    for entry in entries:
        names = [n for n in dict.fromkeys(entry["names"]) if keep(entry["name"], n)]
        # the territory's own names first, then the capitals (dict order, not sorted)
        localized = {lang: list(dict.fromkeys(n for n in words if keep(entry["name"], n)
                                              and n not in drop_localized))
                     for lang, words in sorted(entry["localized"].items())}
        out_entries.append({
            "name": entry["name"], "code": entry["code"], "kind": entry["kind"],
            "names": sorted(n for n in names if n not in cased),
            "cased": sorted(n for n in names if n in cased),
            "localized": {lang: words for lang, words in localized.items() if words},
        })
    out_entries.sort(key=lambda e: e["name"])
    return {
        "built_by": "tools/build_states.py",
        "sources": {"country_converter": version("country_converter"),
                    "babel (CLDR)": version("babel"), "countryinfo": version("countryinfo"),
                    "supplement": "monitor/classify/data/states_supplement.json"},
        "entries": out_entries,
        "not_actors": supplement["not_actors"],
        "given_names": supplement["given_names"],
    }


def main() -> None:
    data = build()
    target = DATA / "states.json"
    target.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    members = sum(1 for e in data["entries"] if e["kind"] == "un_member")
    print(f"{target}: {len(data['entries'])} entries, {members} UN members")


if __name__ == "__main__":
    main()
