"""Chinese: the words for the Taliban government and for recognising it. Chinese has no word
breaks, so every pattern is a run of characters; texts in traditional characters are read
in simplified ones (normalise.fold), so patterns are written once, in simplified characters.
"""

from __future__ import annotations

import re

from monitor.classify.languages.base import DEBATED, STEP, Language, compile_pattern, step
from monitor.classify.languages.normalise import HAN

S = HAN


def _p(source: str) -> re.Pattern[str]:
    return compile_pattern(source, S)


_P = r"[^，。,；;：:！!？?、“”\"（）()]"   # a character inside one clause
_GOV = r"(?:政权|政府|当局|酋长国|临时政府|过渡政府)"
ENTITY = (
    r"塔利班|阿富汗(?:伊斯兰)?酋长国|伊斯兰酋长国|阿富汗(?:临时|过渡|看守|现|新|实际)?(?:政府|政权|当局)|"
    r"阿临时政府|阿(?:富汗)?临时政府|阿塔(?=政权|政府|当局|临时|外长|外交|代表|大使|驻|发言|官员|领导)|"
    r"阿塔(?![图卡纳斯里利玛米兰尔拉克蒂贝法什])|穆塔基|阿洪扎达|巴拉达尔|穆贾希德|喀布尔当局|喀布尔政权"
)
COUNTRY = r"阿富汗|喀布尔|驻阿(?:富汗)?|阿方"
NOT_ENTITY = (
    r"巴基斯坦塔利班(?:运动)?|巴塔(?![吉斯利哥尼])|巴基斯坦(?:的)?塔利班|(?:“)?巴基斯坦塔利班运动(?:”)?|"
    r"ttp|tehreek|塔利班运动\s*\(ttp\)|反塔利班|塔利班时代|塔利班时期"
)
RECOGNITION = (
    rf"承认{_P}{{0,8}}?(?:{ENTITY}|{_GOV}|其政权|其政府)|"
    rf"(?:{ENTITY}|{_GOV}){_P}{{0,8}}?的(?:外交|正式|官方|国际)?承认|"
    rf"(?:{ENTITY}|{_GOV}){_P}{{0,6}}?被{_P}{{0,6}}?承认|"
    rf"(?:获得|得到|寻求|谋求|争取|赢得|获取|给予|寻找){_P}{{0,8}}?承认|外交承认|承认问题|"
    rf"(?:国际|正式|官方|法律)承认"
)
OTHER_SENSE = (
    r"承认(?:了)?(?:犯|有罪|罪|错误|失误|失败|过失|责任|杀|袭击|参与|策划|曾|自己|这|此|该|上述|"
    r"对|发动|实施|制造|造成|存在|内部|问题|困难|挑战|事实|现实|损失|伤亡|死亡)|"
    r"供认|认罪|坦白|国际(?:社会)?(?:普遍)?承认的(?!塔利班|阿)|"
    rf"承认{_P}{{0,10}}?(?:为|是)(?:恐怖|非法)"
)
# the entity, then at most a few adverbs, then 承认: it is the subject (not "seeks recognition")
SUBJECT_ADMITS = (
    r"(?:塔利班|阿塔|临时政府|发言人|官员|当局)[^，。,；;：:！!？?寻获得争谋赢被的要求呼望]{0,4}?承认"
    r"(?![^，。]{0,4}?(?:塔利班|政权))"
)
NEGATION = (
    r"(?<!要)不(?!断|久|少|同|过|仅|但|论|管|满|安|稳|利|再|得不|可避免|丹)|未(?!来)|没有|没|拒绝|无意|"
    r"否认|反对|无法|不会|暂不|尚未|并未|无一|没人|别急|不急|为时过早|过早"
)
MODALITY = (
    r"(?<![大员社协事商机峰年晚国议都])会(?![议见谈晤面上员长期场所同后展])|即将|将(?=承认|正式|考虑|允许|接受|于|会|要|在|与|对|向|很快|尽快|不)|可能|考虑|准备|"
    r"打算|计划|呼吁|要求|敦促|希望|寻求|谋求|争取|推动|讨论|是否|吗|条件|如果|若|只要|一旦|前提|"
    r"应当|应该|(?<![反效回响适供相])应(?![对急用])|必须|需要|何时|能否|或将|有望|时机|呼声|探讨|研究|愿意|"
    r"期待|期望|等待|争论|辩论|议题|取决|游说|施压|问题|态度|立场|看法"
)
QUESTION = r"\?|？|吗|是否|能否|会不会|何时"
GRANT = (
    r"正式承认|宣布承认|承认了|已承认|已经承认|首个承认|第一个承认|率先承认|首次承认|"
    r"首个(?:正式)?承认|第一个(?:正式)?承认|(?:获得|得到|赢得)了|感谢|欢迎|赞赏"
)
CLAUSE_BREAK = r"[，。,；;：:！!？?（）()]|但是|但|然而|而(?!且)"

_ACCEPT = r"(?:接受|接纳|认可|同意|批准|接收)"
_ENVOY = r"(?:大使|使节|代办)"   # not 特使: a special envoy is no accreditation
STEPS = (
    step("step:credentials", STEP, r"国书", S, weak_ok=True),
    step("step:envoy-accepted", STEP,
         rf"{_ACCEPT}{_P}{{0,14}}?{_ENVOY}|"
         rf"(?:任命|派驻|派遣|委派)的?{_P}{{0,6}}?{_ENVOY}{_P}{{0,10}}?(?:到任|赴任|履新|上任|履职|就任)|"
         rf"{_ENVOY}{_P}{{0,8}}?(?:到任|赴任|履新|上任|履职|就任)", S),
    step("step:ambassador-named", STEP,
         rf"(?:任命|派驻|派遣|委派|新任|首任|首位)(?:的)?{_P}{{0,6}}?驻(?:阿富汗|阿|喀布尔)大使", S,
         weak_ok=True),
    step("step:embassy", STEP,
         rf"(?:移交|交给|交予|接管|交由|交还|转交){_P}{{0,10}}?(?:大使馆|使馆|领事馆)|"
         rf"(?:大使馆|使馆|领事馆){_P}{{0,10}}?(?:移交|交给|交予|被接管|接管|交由|交还|转交)|"
         rf"(?:重开|重新开放|恢复运作|复馆|重启|开设|开馆){_P}{{0,6}}?(?:大使馆|使馆)|"
         rf"(?:大使馆|使馆){_P}{{0,6}}?(?:重开|重新开放|恢复运作|复馆|重启|开馆)|"
         rf"(?:大使馆|使馆){_P}{{0,6}}?(?:升起|挂起|悬挂|换上)(?:了)?{_P}{{0,4}}?(?:塔利班|白|酋长国)"
         rf"{_P}{{0,2}}?旗|(?:塔利班|白)旗{_P}{{0,8}}?(?:大使馆|使馆)",
         S, weak_ok=True),
    step("step:delisting", STEP,
         rf"(?:移出|除名|删除|移除|剔除){_P}{{0,20}}?(?:恐怖|禁止|被禁|取缔|极端){_P}{{0,8}}?"
         r"(?:名单|清单|名录|组织)|"
         rf"(?:恐怖|禁止|被禁|取缔|极端){_P}{{0,16}}?(?:名单|清单|组织|名录){_P}{{0,10}}?"
         r"(?:移出|除名|删除|移除|剔除|撤销|中删除)|"
         rf"(?:解除|暂停|中止|取消|撤销){_P}{{0,8}}?(?:禁令|禁止|恐怖组织(?:认定|身份|地位|定性))|"
         rf"禁令{_P}{{0,6}}?(?:解除|暂停|中止|取消)|"
         rf"不再{_P}{{0,8}}?(?:恐怖|被禁|禁止|取缔)组织", S),
    step("step:upgrade-representation", STEP,
         rf"(?:升级|提升|提高|升格){_P}{{0,8}}?(?:外交关系|外交代表|使馆|代表级别|大使级|大使馆)|"
         rf"升格为大使馆|大使级(?:外交)?关系|互派大使|(?:代办|临时代办){_P}{{0,6}}?(?:升|提){_P}{{0,4}}?大使",
         S, weak_ok=True),
    step("step:diplomatic-ties", STEP,
         rf"(?:建立|恢复|正式建立){_P}{{0,4}}?外交关系|(?<![未不])建交", S),
    step("un-seat", DEBATED,
         rf"联合国{_P}{{0,8}}?(?:席位|代表权)|全权证书委员会|全权证书|(?:联大|联合国大会)"
         rf"{_P}{{0,10}}?(?:发言|代表权|席位|讲话)|常驻联合国代表", S),
    step("un-seat", DEBATED, r"全权证书委员会|阿富汗(?:的)?(?:联合国)?(?:席位|代表权)", S,
         weak_ok=True),
    step("legitimacy", DEBATED, r"合法性|合法政府|合法地位|合法化", S),
    step("normalisation", DEBATED, r"关系正常化|正常化关系", S),
)

LANGUAGE = Language(
    code="zh", script=S, entity=_p(ENTITY), country=_p(COUNTRY), not_entity=_p(NOT_ENTITY),
    recognition=_p(RECOGNITION), other_sense=_p(OTHER_SENSE),
    subject_admits=_p(SUBJECT_ADMITS), steps=STEPS, negation=_p(NEGATION),
    modality=_p(MODALITY), question=_p(QUESTION), grant=_p(GRANT),
    clause_break=_p(CLAUSE_BREAK))
