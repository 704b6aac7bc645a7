"""A small recognition detector for Russian, Chinese, Urdu and Pashto/Dari headlines. PURE.

Far thinner than the English rules: the Taliban entity and a recognition or credentials word in
the same text, negation for refusals, a past-tense or "formally" marker for grants, and the
removal of the Taliban from a terrorist list as a step. Chinese has no spaces, so everything
here works on substrings of the lower-cased text.
"""

from __future__ import annotations

import re

from monitor.classify.gazetteer import find_localized_states

GRANTED, STEP, DEBATED = (
    "recognition_granted", "recognition_step", "recognition_refused_or_debated")

# The Taliban government; the Pakistani Taliban (TTP) are blanked out first.
# (Words ending in \w here see Cyrillic and Arabic letters as word characters, as re does.)
ENTITY_WORDS = ("талиб", "исламский эмират", "исламского эмирата", "塔利班", "阿富汗临时政府",
                "伊斯兰酋长国", "طالبان", "امارت اسلامی", "اسلامي امارت", "امارت اسلامي")
_NOT_THE_ENTITY = re.compile(
    r"тех?рик[\w\s-]{0,8}талибан[\w\s-]{0,3}пакистан\w*|пакистанск\w*\s+талиб\w*|"
    r"巴基斯坦塔利班|تحریک\s*[-‌]?\s*(?:ی\s*)?طالبان\s*پاکستان|پاکستانی\s+طالبان")

# "признать", "承认" and "تسلیم" also mean "admit": the government must be the object.
_GOV = r"(?:правительств|власт|режим|талиб|«?талибан|эмират|движени)"
_RECOGNITION = re.compile(
    rf"призна\w*\s+(?:\S+\s+){{0,2}}?{_GOV}|(?:талиб|эмират|правительств|власт)\w*"
    rf"[^.]{{0,40}}?\bпризна(?:ни|н)\w*|"
    r"承认[^。，,]{0,10}(?:塔利班|政权|政府|酋长国)|(?:塔利班|政权|政府|酋长国)[^。，,]{0,4}的承认|"
    r"(?:获得|得到|寻求|谋求|争取)[^。，,]{0,6}承认|"
    r"(?:حکومت|امارت)[^.۔]{0,20}تسلیم|تسلیم[^.۔]{0,20}(?:حکومت|امارت)|"
    r"رسمیت|رسميت")
_CREDENTIALS = re.compile(r"верительн\w*\s+грамот\w*|国书|اسناد\s+تقرر|اعتمادنامه|باورلیک")
_DELISTING = re.compile(
    r"(?:исключ|убра|удал|снял|сня)\w*[^.。]{0,60}(?:террорист|запрещ)\w*|"
    r"(?:移出|除名|撤销)[^。]{0,20}恐怖|恐怖[^。]{0,20}(?:名单|清单)[^。]{0,10}(?:移出|除名|删除)|"
    r"(?:دہشت\s*گرد|تروریست)[^.۔]{0,40}(?:فہرست|لست|لیست)[^.۔]{0,30}(?:نکال|حذف|لرې|ویست)")
_NEGATION = re.compile(
    r"\bне\s+(?:\w+\s+){0,2}?призна|\bне\s+(?:будет|собира|спеш|план)\w*|нет\s+планов|"
    r"不(?:会|能|急于|打算)?承认|尚未承认|未承认|拒绝承认|"
    r"نہیں|نہ\s+کر|نمی|نکړ|نه\s+پیژن|نه\s+منو")
_GRANT_MARK = re.compile(
    r"признала|признал\b|официально\s+призна|正式承认|宣布承认|已承认|"
    r"تسلیم\s+کر\s*لیا|تسلیم\s+کرلیا|په\s+رسمیت\s+و?پی?[ژې]ا?ن?د|به\s+رسمیت\s+شناخت")

def has_entity_word(text: str) -> bool:
    return any(word in text for word in ENTITY_WORDS)


def detect(text: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(category, rule name, acting states) for a lower-cased text, or None."""
    cleaned = _NOT_THE_ENTITY.sub(" ", text)
    if not has_entity_word(cleaned):
        return None
    actors = tuple(s for s in find_localized_states(cleaned) if s != "Afghanistan")
    if _DELISTING.search(cleaned):
        return STEP, "multilingual:delisting", actors
    if _CREDENTIALS.search(cleaned):
        if _NEGATION.search(cleaned):
            return DEBATED, "multilingual:credentials-refused", actors
        return STEP, "multilingual:credentials", actors
    if _RECOGNITION.search(cleaned):
        if _NEGATION.search(cleaned):
            return DEBATED, "multilingual:recognition-refused", actors
        if _GRANT_MARK.search(cleaned):
            # the wording decides; an actor the gazetteer cannot name is still a state
            rule = "multilingual:recognition-granted" if actors else \
                "multilingual:recognition-granted-unnamed"
            return GRANTED, rule, actors
        return DEBATED, "multilingual:recognition", actors
    return None
