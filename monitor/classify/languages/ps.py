"""Pashto: the words for the Taliban government and for recognising it. Patterns run on
folded text (normalise.fold: ې ۍ ئ ي as ی, ګ as گ, ك as ک), so the spelling of a writer
without a Pashto keyboard reads alike. "په رسمیت پېژندل" is to recognise; the object comes
before the verb ("د طالبانو حکومت په رسمیت وپېژانده").
"""

from __future__ import annotations

import re

from monitor.classify.languages.base import DEBATED, STEP, Language, compile_pattern, step
from monitor.classify.languages.normalise import ARABIC

S = ARABIC


def _p(source: str) -> re.Pattern[str]:
    return compile_pattern(source, S)


_W = r"(?:\S+\s+)"
ENTITY = (
    r"(?<!\w)(?:طالبان\w*|اسلامي\s+امارت\w*|امارت\s+اسلامي|"
    r"(?:سرپرست|لنډمهاله|موقت|اوسنی|اوسني|نوی|نوي)\s+(?:افغان\s+)?حکومت\w*|"
    r"د\s+افغانستان\s+(?:سرپرست\s+|اوسنی\s+|اوسني\s+)?حکومت\w*|متقي|امیر\s?خان\s+متقي|"
    r"ذبیح\s?الله\s+مجاهد|سهیل\s+شاهین)(?!\w)"
)
COUNTRY = r"(?<!\w)(?:افغانستان\w*|کابل\w*|افغان\w*)(?!\w)"
NOT_ENTITY = (
    r"تحریک\s*(?:[-‐]\s*)?(?:ی\s+)?طالبان(?:\s+پاکستان)?|پاکستاني\s+طالبان\w*|"
    r"د\s+پاکستان\s+طالبان\w*|ټي\s?ټي\s?پي|\bttp\b"
)
_RECOGNISE = (r"(?:په\s+)?رسمیت\s+(?:\S+\s+)?(?:و|نه\s+|به\s+)?"
              r"(?:پېژن|پیژن|پېژند|پيژند|پېژان|پيژان)\w*")
RECOGNITION = (
    rf"(?:{ENTITY})\s+{_W}{{0,5}}?{_RECOGNISE}|"
    # "their own government": the Taliban named elsewhere in the sentence
    rf"(?:دوی|خپل|هغوی|دغه)\s+(?:حکومت|امارت|نظام)\w*\s+{_W}{{0,2}}?{_RECOGNISE}|"
    rf"{_RECOGNISE}\s+{_W}{{0,3}}?(?:{ENTITY})|"
    rf"(?:د\s+)?(?:{ENTITY})\s+{_W}{{0,3}}?(?:رسمیت|پېژندن\w*|پیژندن\w*)"
)
OTHER_SENSE = (
    r"اعتراف\w*|(?:حق|حقونه|حقوق)\s+(?:(?!د\s)\S+\s+)?(?:په\s+)?رسمیت|"
    r"نړیوال\s+(?:\S+\s+)?(?:پېژندل\s+شوی|پیژندل\s+شوي)"
)
NEGATION = (
    r"(?<!\w)(?:نه|نشي|نشی|هیڅ|هېڅ|انکار(?!ا(?!\w))\w*|مخالف\w*|مخالفت|بې|بی|تر\s+اوسه|لا\s+هم|نشته)(?!\w)"
)
MODALITY = (
    r"(?<!\w)(?:به|غواړي|غواړی|غوښتنه\w*|غوښتي|غوښتی|شرط\w*|شرطونه|که|ایا|آیا|باید|کولی|کولای|"
    r"ممکن|امکان|تیار\w*|خبرې|خبری|بحث|هڅ\w*|هیله|هیله\w*|زور|فشار|لاره|څنګه|څه\s+وخت|"
    r"ولې|ولی|وپېژني|وپیژني|وپیژنی)(?!\w)|\?"
)
QUESTION = r"\?|(?<!\w)(?:ایا|آیا)(?!\w)"
GRANT = (
    r"(?<!\w)(?:وپېژانده|وپیژانده|وپېژاند|وپیژاند|وپېژندل|وپیژندل|وپېژنده|وپیژنده|پېژندلی|پیژندلی|"
    r"پېژندلی\s+دی|رسماً|رسما|په\s+رسمي\s+ډول|لومړنی\s+هېواد|لومړنی\s+هیواد|لومړی\s+هېواد|"
    r"لومړی\s+هیواد|لومړنی\s+دولت|"
    # by a state, thanks for it, a welcome of it: a grant that happened
    r"لخوا|له\s+خوا|له\s+لوری|له\s+لوري|مننه|هرکلی|هرکلي)(?!\w)"
)
CLAUSE_BREAK = r"[,;:()\"]|\.(?!\d)|\s-\s|(?<!\w)(?:خو|مګر|مگر|ولې|ولی|په\s+داسې\s+حال\s+کې)(?!\w)"

_ENVOY = r"(?:سفیر|سفير|استازی|استازي|ډیپلومات|ډيپلومات|دیپلومات|شارژدافیر)\w*"
_UN = r"(?:ملګرو\s+ملتونو|ملگرو\s+ملتونو|ملګري\s+ملتونه)"
STEPS = (
    step("step:credentials", STEP, rf"باور\s?لیک\w*|اعتبار\s?لیک\w*(?!.{{0,40}}{_UN})", S,
         weak_ok=True),
    step("step:envoy-accepted", STEP,
         rf"{_ENVOY}\s+(?:\S+\s+){{0,5}}?(?:ومنل|ومانه|ومانه|ومنه|ومنلو|ومنل\s+شو|منل\s+شو|"
         r"قبول\s+(?:کړ|شو)|ومنلو|دنده\s+پیل|کار\s+پیل)|(?:ومنل|قبول\s+کړ)\w*\s+(?:\S+\s+){0,3}?"
         rf"{_ENVOY}", S),
    step("step:ambassador-named", STEP,
         r"(?:کابل|افغانستان)\s+(?:ته|کې|کی)\s+(?:\S+\s+){0,3}?سفیر\s+(?:\S+\s+){0,2}?"
         r"(?:وټاکه|وټاکل|ټاکل|مقرر|ولیږه|واستاوه)", S, weak_ok=True),
    step("step:embassy", STEP,
         # handed over, not "the embassy gave visas"; reopened, not "is open"
         r"سفارت\w*\s+(?:\S+\s+){0,8}?(?:وسپارل|وسپاره|سپارل|تسلیم\s+(?:شو|کړ))|"
         r"(?:سپارل|تسلیمول)\w*\s+(?:\S+\s+){0,1}?سفارت\w*|"
         r"سفارت\w*\s+(?:\S+\s+){0,5}?بیا\s+(?:پرانیستل|پرانیستی|پرانېستل|فعال)|"
         r"بیرغ\s+(?:\S+\s+){0,5}?سفارت\w*|سفارت\w*\s+(?:\S+\s+){0,5}?بیرغ", S, weak_ok=True),
    step("step:delisting", STEP,
         r"(?:تور|بندیز|ترهگر\w*|ترهګر\w*|تروریست\w*|منع\s+شوو)\s+(?:\S+\s+){0,3}?(?:لست|لیست|فهرست)\w*"
         r"\s+(?:\S+\s+){0,5}?(?:وایستل|وایست|وویستل|ایستل|لرې|لری|حذف|وباسي|وباسی|وویست)\w*|"
         r"(?:لست|لیست|فهرست)\w*\s+(?:\S+\s+){0,3}?(?:څخه|نه)\s+(?:\S+\s+){0,3}?"
         r"(?:وایستل|وایست|وویستل|ایستل|لرې|لری|حذف|وویست)\w*|"
         r"بندیز\s+(?:\S+\s+){0,3}?(?:لرې|لری|لغوه|وځنډاوه|وځنډول|پای\s+ته)", S),
    step("step:upgrade-representation", STEP,
         r"(?:اړیکی|اړیکې|استازولی|استازیتوب|نمایندګی|نمایندگی)\s+(?:\S+\s+){0,4}?(?:لوړ|ارتقا)\w*|"
         r"د\s+سفیر\s+(?:په\s+)?(?:کچه|سطح)|سفیرانو\s+تبادله", S, weak_ok=True),
    step("step:diplomatic-ties", STEP,
         r"(?:ډیپلوماتیکی|ډیپلوماتیکې|دیپلوماتیکی|سیاسي|سیاسی)\s+اړیکی\s+(?:\S+\s+){0,3}?"
         r"(?:جوړ|ټینګ|ټینگ|بیا|رغول|پیل)", S),
    step("un-seat", DEBATED,
         rf"{_UN}\s+(?:\S+\s+){{0,5}}?(?:څوکی|څوکۍ|کرسی|کرسۍ|چوکی|چوکۍ|استازیتوب|استازولی)|"
         r"عمومي\s+غونډ\w*\s+(?:\S+\s+){0,5}?(?:څوکی|خبرې|وینا|استازیتوب)", S),
    step("un-seat", DEBATED,
         r"باورلیکونو\s+کمیټ\w*|د\s+افغانستان\s+(?:د\s+)?(?:څوکی|څوکۍ|کرسی|کرسۍ|چوکی|چوکۍ)", S,
         weak_ok=True),
    step("legitimacy", DEBATED, r"مشروعیت|مشروعيت|مشروع\s+(?:ګڼل|گڼل)", S),
    step("normalisation", DEBATED, r"اړیکی\s+(?:\S+\s+){0,2}?(?:عادی|عادي|نورمال)", S),
)

LANGUAGE = Language(
    code="ps", script=S, entity=_p(ENTITY), country=_p(COUNTRY), not_entity=_p(NOT_ENTITY),
    recognition=_p(RECOGNITION), other_sense=_p(OTHER_SENSE), subject_admits=None,
    steps=STEPS, negation=_p(NEGATION), modality=_p(MODALITY), question=_p(QUESTION),
    grant=_p(GRANT), clause_break=_p(CLAUSE_BREAK))
