"""Urdu: the words for the Taliban government and for recognising it. Patterns run on folded
text (normalise.fold: ہ ھ ۃ as ه, ے and ي as ی, ك as ک), so "تسلیم نہیں کرے گا" reads
"تسلیم نهیں کری گا". In Urdu "تسلیم کرنا" is to recognise, and also to admit ("غلطی تسلیم کی"):
the government must be its object, marked by کو; "طالبان نے ... تسلیم کیا" is the Taliban
admitting something.
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
    r"(?<!\w)(?:طالبان|امارت\s+اسلامی\w*|اسلامی\s+امارت|"
    r"(?:افغان|افغانستان\s+کی)\s+(?:عبوری\s+|طالبان\s+|موجودہ\s+|نئی\s+)?(?:حکومت|انتظامیہ|حکام|رجیم)|"
    r"(?:عبوری|طالبان)\s+(?:افغان\s+)?(?:حکومت|انتظامیہ)|کابل\s+(?:حکومت|انتظامیہ)|"
    r"متقی|ملا\s+اخوندزادہ|ذبیح\s?اللہ\s+مجاہد|سہیل\s+شاہین)(?!\w)"
)
COUNTRY = r"(?<!\w)(?:افغانستان|کابل|افغان\w*)(?!\w)"
NOT_ENTITY = (
    r"تحریک\s*(?:[-‐]\s*)?(?:ی\s+)?طالبان(?:\s+پاکستان)?|کالعدم\s+(?:تحریک|ٹی\s?ٹی\s?پی)\w*|"
    r"ٹی\s?ٹی\s?پی|\bttp\b|پاکستانی\s+طالبان|طالبان\s+پاکستان|فتنہ\s+(?:ال)?خوارج|خوارج"
)
_OBJECT = (rf"(?:{ENTITY})(?:\s+(?:کی\s+)?(?:حکومت|انتظامیہ|رجیم))?\s+(?:{_W}{{0,2}}?)کو")
RECOGNITION = (
    rf"{_OBJECT}\s+{_W}{{0,4}}?تسلیم|"
    # "their own government": the Taliban named elsewhere in the sentence
    rf"(?:اپنی|ان\s+کی)\s+(?:حکومت|امارت)\s+(?:کو\s+)?{_W}{{0,2}}?تسلیم|"
    rf"(?:{ENTITY})\s+{_W}{{0,3}}?(?:کو\s+)?(?:باضابطہ\s+|سفارتی\s+|رسمی\s+)?"
    r"(?:تسلیم\s+کرنے|تسلیم\s+کیے\s+جانے|تسلیم\s+کئے\s+جانے|تسلیم\s+کیا\s+جائے)|"
    rf"(?:تسلیم\s+کرنے|تسلیم\s+کیے\s+جانے)\s+{_W}{{0,3}}?(?:{ENTITY})|"
    rf"(?:{ENTITY})\s+(?:{_W}{{0,3}}?)(?:کی\s+)?(?:باضابطہ\s+|سفارتی\s+|عالمی\s+|بین\s?الاقوامی\s+)?"
    r"(?:تسلیم\s+شدگی|پذیرائی)"
)
OTHER_SENSE = (
    r"(?:غلطی|غلطیاں|جرم|جرائم|شکست|حقیقت|ذمہ\s?داری|الزام\w*|قصور|کوتاہی|ناکامی)\s+"
    r"(?:\S+\s+){0,2}?تسلیم|اعتراف\w*|"
    r"(?:طالبان|حکومت|ترجمان|حکام)\s+نے\s+(?:\S+\s+){0,6}?تسلیم\s+(?:کیا|کی|کر\s+لیا|کرلیا)|"
    r"بین\s?الاقوامی\s+(?:سطح\s+پر\s+)?تسلیم\s+شدہ"
)
SUBJECT_ADMITS = r"(?:طالبان|امارت\s+اسلامی)\s+نے\s+(?:\S+\s+){0,6}?تسلیم"
NEGATION = (
    r"(?<!\w)(?:نہیں|نہ|انکار|مسترد|مخالف\w*|مخالفت|بغیر|عدم|قبل\s+از\s+وقت|ابھی\s+تک|کبھی)(?!\w)"
)
MODALITY = (
    r"(?<!\w)(?:گا|گی|گے|سکتا|سکتی|سکتے|چاہیے|چاہئے|مطالبہ|زور|اپیل|درخواست|شرط|شرائط|"
    r"مشروط|اگر|غور|امکان|ممکن|فیصلہ\s+کرے|بات\s?چیت|مذاکرات|کوشش\w*|خواہش\w*|چاہتا|چاہتی|"
    r"چاہتے|جائے|جائیں|کرے|کریں|پر\s+زور|مشورہ|تجویز|دباؤ|راہ|راستہ|منتظر|انتظار|"
    r"حصول|حاصل\s+کرنے)(?!\w)|\?"
)
QUESTION = r"\?|^\s*کیا(?!\w)|(?<!\w)کیوں(?!\w)"
GRANT = (
    r"تسلیم\s+(?:کر\s+لیا|کرلیا|کر\s+لی|کرلی|کیا\s+ہے|کر\s+چکا|کر\s+چکی|کیا(?!\s+جا))|"
    r"(?<!\w)(?:باضابطہ\s+طور\s+پر|باقاعدہ\s+طور\s+پر|پہلا\s+ملک|پہلی\s+ریاست|رسمی\s+طور\s+پر|"
    # by a state, thanks for it, a welcome of it, a decision to: a grant that happened
    r"کی\s+جانب\s+سے|کی\s+طرف\s+سے|شکریہ|تشکر|خیرمقدم|خیر\s+مقدم|تسلیم\s+کرنے\s+کا\s+فیصلہ)(?!\w)"
)
CLAUSE_BREAK = r"[,;:()\"]|\.(?!\d)|\s-\s|(?<!\w)(?:لیکن|مگر|جبکہ|تاہم|جب\s?کہ)(?!\w)"

_ENVOY = r"(?:سفیر|سفارتکار|سفارت\s+کار|ناظم\s+الامور|نمائندے|نمائندہ)"
_UN = r"(?:اقوام\s+متحدہ|یو\s?این)"
STEPS = (
    step("step:credentials", STEP,
         rf"(?:سفارتی\s+اسناد|اسناد\s+سفارت|اسناد\s+تقرر\w*|تقرری\s+(?:کے\s+)?(?:اسناد|کاغذات)|"
         rf"اسناد\s+(?:\S+\s+){{0,2}}?(?:پیش|وصول|قبول))(?!.{{0,40}}{_UN})", S, weak_ok=True),
    step("step:envoy-accepted", STEP,
         rf"{_ENVOY}\s+(?:\S+\s+){{0,4}}?(?:قبول|منظور|تسلیم|تعینات|تعیناتی\s+کی\s+منظوری)|"
         rf"(?:قبول|منظور)\s+(?:\S+\s+){{0,3}}?{_ENVOY}|{_ENVOY}\s+(?:\S+\s+){{0,6}}?"
         r"(?:ذمہ\s?داریاں\s+سنبھال|عہدہ\s+سنبھال|کام\s+شروع)", S),
    step("step:ambassador-named", STEP,
         r"(?:کابل|افغانستان)\s+(?:میں|کے\s+لیے|کیلئے)\s+(?:\S+\s+){0,3}?سفیر\s+(?:\S+\s+){0,2}?"
         r"(?:مقرر|تعینات|نامزد)|سفیر\s+(?:\S+\s+){0,3}?(?:کابل|افغانستان)\s+(?:میں\s+)?(?:تعینات|مقرر)",
         S, weak_ok=True),
    step("step:embassy", STEP,
         # handed to them, not "the embassy handed visas to"; reopened, not "is open"
         r"سفارت\s?خان\w*\s+(?:\S+\s+){0,6}?(?:طالبان|امارت\w*|افغان\s+حکومت|عبوری\s+حکومت|"
         r"سفارتکاروں|نمائندوں)\s+(?:\S+\s+){0,2}?(?:کے\s+)?(?:حوالے|سپرد|منتقل)|"
         r"سفارت\s?خان\w*\s+(?:\S+\s+){0,5}?(?:دوبارہ\s+(?:کھول|فعال)|بحال)|"
         r"(?:دوبارہ\s+کھولنے|بحالی)\s+(?:\S+\s+){0,3}?سفارت\s?خان\w*", S, weak_ok=True),
    step("step:delisting", STEP,
         r"(?:کالعدم|دہشت\s?گرد|ممنوعہ)\s+(?:\S+\s+){0,3}?(?:فہرست|لسٹ)\s+(?:\S+\s+){0,4}?"
         r"(?:نکال|خارج|ہٹا|حذف)\w*|(?:نکال|خارج|ہٹا)\w*\s+(?:\S+\s+){0,6}?(?:کالعدم|دہشت\s?گرد)\s+"
         r"(?:\S+\s+){0,3}?(?:فہرست|لسٹ)|پابندی\s+(?:\S+\s+){0,3}?(?:اٹھا|ختم|معطل)\w*", S),
    step("step:delisting", STEP,
         r"اب\s+(?:\S+\s+){0,3}?(?:دہشت\s?گرد|کالعدم)\s+(?:\S+\s+){0,3}?نہیں", S,
         keeps_negation=True),
    step("step:upgrade-representation", STEP,
         r"سفیر\s+(?:کی|کے|کا)\s+(?:سطح|درجے|درجہ)|(?:سفارتی\s+)?(?:تعلقات|نمائندگی|مشن)\s+"
         r"(?:\S+\s+){0,4}?(?:اپ\s?گریڈ|بڑھا|اضافہ|بلند)|اپ\s?گریڈ|سفیروں\s+کا\s+تبادلہ|"
         r"(?:سفارت\s?خان\w*|مشن|نمائندگی)\s+(?:\S+\s+){0,2}?درج\w*\s+(?:\S+\s+){0,2}?"
         r"(?:بڑھا|بلند)", S,
         weak_ok=True),
    step("step:diplomatic-ties", STEP,
         r"(?:سفارتی\s+تعلقات)\s+(?:\S+\s+){0,3}?(?:قائم|بحال|استوار)", S),
    step("un-seat", DEBATED,
         rf"{_UN}\s+(?:\S+\s+){{0,5}}?(?:نشست|سیٹ|رکنیت|نمائندگی)|"
         r"(?:جنرل\s+اسمبلی)\s+(?:\S+\s+){0,5}?(?:خطاب|نشست|سیٹ|نمائندگی)|اسناد\s+کمیٹی", S),
    step("un-seat", DEBATED,
         r"اسناد\s+(?:کی\s+)?کمیٹی|(?:افغان|افغانستان\s+کی)\s+نشست", S, weak_ok=True),
    step("legitimacy", DEBATED, r"(?<!\w)(?:قانونی\s+حیثیت|جواز|قانونی\s+جواز|ناجائز)(?!\w)", S),
    step("normalisation", DEBATED, r"تعلقات\s+(?:\S+\s+){0,2}?(?:معمول\s+پر|بحالی)", S),
)

LANGUAGE = Language(
    code="ur", script=S, entity=_p(ENTITY), country=_p(COUNTRY), not_entity=_p(NOT_ENTITY),
    recognition=_p(RECOGNITION), other_sense=_p(OTHER_SENSE),
    subject_admits=_p(SUBJECT_ADMITS), steps=STEPS, negation=_p(NEGATION),
    modality=_p(MODALITY), question=_p(QUESTION), grant=_p(GRANT),
    clause_break=_p(CLAUSE_BREAK))
