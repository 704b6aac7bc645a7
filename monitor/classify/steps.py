"""The recognition detector's vocabulary of concrete steps: each StepRule is one pattern
(credentials accepted, embassy handed over, reopened or restored, envoys accepted or sent,
delisting, upgraded ties, the UN seat ...) with the category it signals, and the debates
that need no "recognition" (legitimacy, isolation, acceptance, normalisation). Patterns run
on lower-cased text; each rule has a cheap substring gate (``keys``, ``also``) so that most
sentences never reach its regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GRANTED, STEP, DEBATED = CATEGORY_ORDER = (
    "recognition_granted", "recognition_step", "recognition_refused_or_debated")

def _lower_pattern(source: str) -> str:
    """Lower-case the literal letters of a regex (escapes such as \\S or \\W stay as they
    are), so it can run case-sensitively, and fast, on lower-cased text."""
    out: list[str] = []
    escaped = False
    for char in source:
        out.append(char if escaped else char.lower())
        escaped = char == "\\" and not escaped
    return "".join(out)


def lower_re(source: str) -> re.Pattern[str]:
    """Compile a pattern that runs on lower-cased text (every rule below does)."""
    return re.compile(_lower_pattern(source))


UN_WORDS = (" un ", " un'", " un-", " un?", " un.", " un,", " un:", " un;", "u.n",
             "united nations", "general assembly", "unga")


@dataclass(frozen=True)
class StepRule:
    """A concrete diplomatic step (or UN-seat dispute) recognised by one pattern."""

    name: str
    category: str
    pattern: re.Pattern[str]
    weak_entity_ok: bool        # "Afghan"/"Afghanistan"/"Kabul" is enough of an anchor
    # the entity must sit in the same clause, a few words away (for a rule that a weak
    # anchor satisfies, "Afghan"/"Afghanistan"/"Kabul" will do there too)
    near_entity: bool = False
    keys: tuple[str, ...] = ()  # cheap gate: the rule runs only if one of these is in the text
    # ... or this matches: keys that must stand as words, where a substring lets too much
    # through (" ban" is in "bank" and "Bangladesh", and the rule's pattern is slow)
    key_words: re.Pattern[str] | None = None
    also: tuple[str, ...] = ()  # ... and, when given, one of these too
    verbs: tuple[str, ...] = ()  # ... and, when given, one of these as well


_UN = r"(?:U\.?N\.?|United\s+Nations|UNGA|General\s+Assembly)"
# The Taliban government's side, where a step names its envoy ("Kabul's ambassador").
_AFGHAN_SIDE = (r"(?:Kabul's|Afghan|Afghanistan's|Taliban's|Taliban|IEA's|IEA|"
                r"Islamic\s+Emirate's)")
# The government itself, as the sender of an envoy; not the republic's or one in exile.
_GOVERNMENT = (r"(?:Taliban|IEA|Islamic\s+Emirate|Kabul|Afghan(?:istan's)?\s+(?:(?!(?:republic|"
               r"former|exiled?|previous|ousted|toppled|fallen|deposed|old|elected|ghani|"
               r"karzai)\b)[\w-]+\s+){0,2}?(?:government|administration|authorities)"
               r"(?![\w-]|\s+in\s+exile))")
# The Taliban government as the other party of a step ("ties with Kabul", "with the
# Taliban-led government", "Afghanistan and Uzbekistan restore ...").
_AFGHAN_PARTY = r"(?:Taliban|IEA|Islamic\s+Emirate|Kabul|Afghan\w*)"
_ENVOY = (r"(?:ambassador|envoy|diplomat|charg[eé]|consul|representative|official|staff)"
          r"\w*(?:\s+d'affaires)?")
_NAMED_BY = r"(?:appointed|named|nominated|sent|chosen|picked)\s+by\s+(?:the\s+)?" \
            r"(?:Taliban|IEA|Islamic\s+Emirate|Kabul)"
_UPGRADE = r"(?:elevat|upgrad|rais|level\w*\s+up|enhanc|promot)\w*"
_REPRESENTATION = (
    r"(?:diplomatic\s+(?:representation|relations|ties|missions?|status|presence)|"
    r"representation|missions?|charg[eé]s?\s+d'affaires|CdA|"
    r"ambassador(?:ial)?[\s-]+(?:level|status|rank)|to\s+(?:an?\s+)?ambassador\b|"
    r"to\s+(?:an?\s+)?(?:full(?:[\s-]fledged)?\s+)?embassy\b)")

# Words that end a direct object: a preposition puts the embassy in an adverbial ("restores
# power to the embassy").
_NOT_OBJECT = r"(?:to|of|for|at|in|on|into|from|near|outside|around|with|by)"
# What may follow "restores (the) embassy": the place, a time, how it is run; not a part
# of the building.
_EMBASSY_FOLLOWS = (r"in|to|at|after|with|for|on|as|and|from|following|by|under|a|the|"
                    r"presence|status|operations|staff\w*|functions|work|activit\w+|"
                    r"services|level|relations|ties|this|next|last|today|tomorrow|"
                    r"within|before|since|amid|despite|over")

STEP_RULES: tuple[StepRule, ...] = (
    StepRule("step:upgrade-representation", STEP, lower_re(
        rf"\b{_UPGRADE}\W+(?:\S+\s+){{0,6}}?{_REPRESENTATION}|"
        r"(?:charg[eé]s?\s+d'affaires|CdA|diplomatic\s+(?:relations|ties|representation)|"
        r"missions?)\W+(?:\S+\s+){0,6}?(?:elevat|upgrad)\w*|"
        r"\bfrom\s+(?:CdA|charg[eé]\s+d'affaires)\s+to\s+ambassador|"
        r"\b(?:rank|status|level)\s+of\s+ambassador|"
        r"exchang\w*\s+(?:of\s+)?ambassadors|\bties\s+upgrade|"
        r"\bambassador(?:ial)?[\s-]+level\s+(?:diplomatic\s+)?(?:ties|relations)"), True,
             keys=("elevat", "upgrad", "level", "rais", "enhanc", "promot", "exchang", "rank",
                   "status"),
             also=("ambassador", "diplomat", "charg", "cda", "mission", "representation",
                   "ties upgrade", "embass")),
    StepRule("step:ties-upgrade", STEP, lower_re(
        rf"\b{_UPGRADE}\s+(?:(?:its|their|the|diplomatic|bilateral|political|formal)\s+){{0,2}}"
        r"(?:ties|relations)\b|"
        r"\b(?:ties|relations)\s+(?:\S+\s+){0,3}?(?:upgraded|elevated)\b"), False, True,
             keys=("upgrad", "elevat")),
    StepRule("step:credentials", STEP, lower_re(
        r"\b(?:accept|receiv|present|submit|hand|host)\w*\W+(?:\S+\s+){0,4}?credentials|"
        r"\bcredentials\s+(?:ceremony|presentation)|"
        r"\baccredit\w*\W+(?:\S+\s+){0,4}?(?:ambassador|envoy|diplomat|charg[eé]|representative)|"
        r"(?:ambassador|envoy|diplomat|charg[eé])\w*\W+(?:\S+\s+){0,6}?accredit\w*|"
        r"credentials\s+(?:of|from)\s+(?:the\s+)?(?:Taliban|IEA)|"
        r"\b(?:accept|receiv|present|submit|hand)\w*\W+(?:\S+\s+){0,4}?letters?\s+of\s+credence"),
             True, keys=("credential", "accredit", "credence")),
    # the host's consent to a named ambassador: the Taliban's, in the same clause (not
    # "grants agrément to Germany's envoy; the Taliban envoy waits")
    StepRule("step:agrement", STEP, lower_re(
        r"\b(?:grant|give|gave|issu|approv)\w*\s+(?:\S+\s+){0,4}?agr[eé]ment|"
        r"\bagr[eé]ment\s+(?:to|for)\b"), True, True, keys=("agrement", "agrément")),
    StepRule("step:envoy-accepted", STEP, lower_re(
        r"\b(?:accept|allow|admit|approv|recogni[sz])\w*\W+(?:\S+\s+){0,3}?"
        r"(?:Taliban|IEA|Islamic\s+Emirate)[\w\s'-]{0,20}?(?:ambassador|envoy|diplomat|charg[eé])|"
        # receiving a Taliban envoy is a meeting; receiving their ambassador is a step
        r"\b(?:receiv|welcom)\w*\W+(?:\S+\s+){0,3}?(?:Taliban|IEA|Islamic\s+Emirate)[\w\s'-]{0,20}?"
        r"(?:ambassador|charg[eé])|"
        r"\b(?:accept|receiv|welcom|allow|admit|approv|host|recogni[sz])\w*\W+(?:\S+\s+){0,3}?"
        r"(?:Taliban|IEA|Kabul)[\s-]+(?:appointed|named|nominated|picked|chosen)\s+"
        r"(?:ambassador|envoy|diplomat|charg[eé]|consul)|"
        r"(?:ambassador|envoy|diplomat)s?\s+(?:of|from)\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+"
        r"Emirate)[\w\s'-]{0,30}?\b(?:accepted|accredited)|"
        r"(?:Taliban|IEA)[\s-]+(?:appointed|nominated|named)\s+(?:ambassador|envoy|diplomat)\w*"
        r"\W+(?:\S+\s+){0,6}?(?:accept|accredit|assum|took\s+(?:over|charge)|take\w*\s+"
        r"(?:over|charge)|arriv|start|begin|began)|"
        # "agrees to take a diplomat from the Taliban", "to accept the Afghan government's envoy"
        rf"\b(?:accept|take|took|admit)\w*\s+(?:(?:a|an|the|two|its|first|new)\s+)?(?:\w+\s+)?"
        rf"(?:diplomat|ambassador|envoy|charg[eé])s?\s+(?:from|of)\s+(?:the\s+)?{_GOVERNMENT}|"
        rf"\b(?:host|receiv|welcom)\w*\s+(?:(?:a|an|the|its|first|new)\s+)?(?:\w+\s+)?"
        rf"(?:ambassador|charg[eé])s?\s+(?:from|of)\s+(?:the\s+)?{_GOVERNMENT}"), False,
             keys=("taliban", "iea", "emirate", "kabul", "afghan"),
             also=("ambassador", "envoy", "diplomat", "charg"),
             # every branch has one (most news naming an envoy and Kabul has none)
             verbs=("accept", "allow", "admit", "approv", "recogni", "receiv", "welcom", "host",
                    "take", "took", "accredit", "appointed", "nominated", "named")),
    # "accepts Kabul's ambassador", "accredits the Afghan envoy"
    StepRule("step:envoy-of-kabul-accepted", STEP, lower_re(
        rf"\b(?:accept|accredit)\w*\s+(?:the\s+)?{_AFGHAN_SIDE}\s+(?:(?:new|first|"
        r"nominated|appointed|designated)\s+)?(?:ambassador|envoy|charg[eé]|consul)"), True,
             keys=("accept", "accredit"), also=("ambassador", "envoy", "charg", "consul")),
    StepRule("step:envoy-named-by", STEP, lower_re(
        # "receives an ambassador named by the Taliban"
        rf"\b(?:accept|accredit|receiv|welcom|allow|admit|approv|let)\w*\s+(?:\S+\s+){{0,4}}?"
        rf"{_ENVOY}\s+(?:\S+\s+){{0,2}}?{_NAMED_BY}|"
        # "a diplomat appointed by the Taliban takes charge of the mission"
        rf"{_ENVOY}\s+(?:\S+\s+){{0,2}}?{_NAMED_BY}\s+(?:\S+\s+){{0,3}}?(?:to\s+)?"
        r"(?:take\w*\s+(?:over|charge)|took\s+(?:over|charge)|assum\w*\s+(?:control|charge|"
        r"(?:\w+\s+)?post)|run|head|lead)\b"), False,
             keys=("appointed by", "named by", "nominated by", "sent by", "chosen by",
                   "picked by")),
    # "welcomes the Taliban's new man as Afghan ambassador"
    StepRule("step:envoy-accepted-as", STEP, lower_re(
        r"\b(?:accept|accredit|receiv|welcom|approv|recogni[sz])\w*\s+(?:\S+\s+){0,5}?as\s+"
        r"(?:(?:the|its|their|an?|new|Afghan|Afghanistan's)\s+){0,3}(?:ambassador|envoy|"
        r"charg[eé]|consul)"), True,
             keys=("accept", "accredit", "receiv", "welcom", "approv", "recogni"),
             also=("ambassador", "envoy", "charg", "consul")),
    # "the Taliban send their first ambassador to Tokyo"
    StepRule("step:ambassador-sent", STEP, lower_re(
        r"(?:Taliban|IEA|Kabul|Islamic\s+Emirate)\s+(?:\S+\s+){0,2}?(?:send|sent|dispatch|post)"
        r"\w*\s+(?:(?:its|their|an?|the|first|new)\s+){0,2}(?:ambassador|charg[eé]\s+d'affaires)"
        r"\s+(?:to|in)\b"), False,
             keys=("send", "sent", "dispatch", "post"), also=("ambassador", "charg")),
    # "accepts two Taliban officials at Afghan missions"
    StepRule("step:officials-accepted", STEP, lower_re(
        r"\b(?:accept|accredit)\w*\s+(?:\S+\s+){0,2}?(?:Taliban|IEA)[\s-]+(?:\S+\s+)?"
        r"(?:officials|staff|representatives|consular\s+officers)\b(?!')"), False,
             keys=("accept", "accredit"),
             also=("official", "staff", "representative", "consular")),
    StepRule("step:ambassador-named", STEP, lower_re(
        r"\b(?:name|appoint|nominat|send|sent|dispatch|post|return)\w*\s+(?:\S+\s+){0,5}?"
        r"ambassador\s+to\s+"
        r"(?:(?:the\s+)?(?:Taliban|IEA)[\s-]+(?:ruled|run|led|controlled)\s+)?"
        r"(?:Kabul|Afghanistan|the\s+(?:Taliban|Islamic\s+Emirate))"), True,
             keys=("ambassador to",)),
    StepRule("step:embassy", STEP, lower_re(
        r"\b(?:hand\w*|turn\w*)\s+(?:\S+\s+){0,4}?over\W+(?:(?!to\b)\S+\s+){0,4}?"
        r"(?:embass\w*|consulate|mission)|"
        r"\b(?:hand\w*|turn\w*)\s+(?:\S+\s+){0,3}?(?:embass\w*|consulate)\s+(?:\S+\s+){0,3}?over\b|"
        # "embassy handed over to ...", not "the embassy handed over tents"
        r"\b(?:embass\w*|consulate)\W+(?:\S+\s+){0,5}?(?:handed|turned)\s+over"
        r"(?=\s+to\b|\s*$|\s*[,.;:!?—–(]|\s+-\s)|"
        r"\bhandover\s+of\s+(?:the\s+)?(?:\w+\s+)?(?:embass\w*|consulate)|"
        r"\b(?:embass\w*|consulate)\W+(?:\S+\s+){0,5}?hand-?over\b(?!\s+of)|"
        r"\b(?:hand|transfer|pass|give|gave)\w*\s+(?:\S+\s+){0,3}?(?:embass\w*|consulate|"
        r"mission)\s+"
        r"(?:\S+\s+){0,3}?to\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+Emirate)|"
        r"\b(?:embass\w*|consulate)\W+(?:\S+\s+){0,5}?(?:transferred|handed|given|passed)\s+"
        r"(?:over\s+)?to\s+(?:the\s+)?(?:Taliban|IEA|Islamic)|"
        r"\b(?:re-?open\w*|re-?establish\w*|took\s+over|take\w*\s+over|"
        r"mov\w*\s+into|assum\w*\s+control\s+of|(?:take\w*|took)\s+charge\s+of)\W+"
        # the embassy is the object: not "reopen the road to the embassy"
        rf"(?:(?!{_NOT_OBJECT}\b)\S+\s+){{0,4}}?(?:embass\w*|consulate|diplomatic\s+(?:mission|"
        r"presence)|delegation\s+office)(?![\w-])|"
        # restored, the embassy is the object itself: not "restores power to the embassy",
        # "its embassy's wall" or "the old embassy building"
        rf"\brestor\w*\s+(?:(?!{_NOT_OBJECT}\b)[\w'-]+\s+){{0,3}}?(?:embass(?:y|ies)|"
        r"consulates?|diplomatic\s+(?:mission|presence)|delegation\s+office)"
        rf"(?=\s*$|\s*[,.;:!?—–(]|\s+-\s|\s+(?:{_EMBASSY_FOLLOWS})\b)|"
        r"\b(?:embass\w*|consulate)\W+(?:\S+\s+){0,4}?re-?open|"
        # "the embassy hands its keys to Islamic Emirate representatives"
        r"\bhand\w*\s+(?:over\s+)?(?:the\s+|its\s+)?keys\s+(?:\S+\s+){0,4}?to\s+(?:the\s+)?"
        r"(?:Taliban|IEA|Islamic\s+Emirate)"), True,
             keys=("embass", "consulate", "mission", "diplomatic presence", "delegation office")),
    # "resumes embassy operations", "resumes work at its embassy"
    StepRule("step:embassy-resumed", STEP, lower_re(
        r"\bresum\w*\s+(?:\w+\s+){0,2}?(?:embass\w*|consulate|diplomatic)\s+(?:operations|"
        r"work|activit\w+|functions|presence)|\bresum\w*\s+(?:\w+\s+)?(?:operations|work|"
        r"activit\w+|services)\s+(?:at|of)\s+(?:its|the|their)\s+(?:\w+\s+)?(?:embass\w*|"
        r"consulate)"), True, keys=("resum",), also=("embass", "consulate", "diplomatic")),
    StepRule("step:embassy-control", STEP, lower_re(
        # the mission changes hands: "now run by the Taliban", "comes under IEA control"
        r"\b(?:embass\w*|consulate|missions?)\W+(?:\S+\s+){0,4}?(?:now\s+(?:run|staffed|"
        r"headed|led|manned|controlled|managed)\s+by|(?:now|comes?|came|placed|brought|passe[sd])\s+"
        r"(?:under|to)(?:\s+the\s+control\s+of)?)\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+"
        r"Emirate)|"
        # "Taliban-appointed staff run the Afghan embassy", "Taliban diplomats to staff ..."
        r"(?:Taliban|IEA|Islamic\s+Emirate)(?:[\s-]+(?:appointed|nominated|named|picked))?\s+"
        r"(?:\S+\s+)?(?:diplomats?|officials?|staff|envoys?|representatives?|appointees?|"
        r"ambassadors?|charg\S*|consuls?)\s+(?:to\s+)?"
        r"(?:run|runs|ran|head|heads|headed|lead|leads|staff|manag\w*|mov\w*\s+into|"
        r"tak\w*\s+(?:over|charge\s+of)|took\s+(?:over|charge\s+of)|assum\w*\s+(?:control|"
        r"charge)\s+of)\s+(?:\S+\s+){0,3}?(?:embass\w*|consulate|missions?)|"
        # the Emirate's flag goes up over the mission
        r"\b(?:embass\w*|consulate|missions?)\W+(?:\S+\s+){0,6}?(?:rais|hoist|fl[yi]|flew|"
        r"flown|unfurl)\w*\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+Emirate)(?:'s)?\s+"
        r"(?:white\s+)?(?:flag|banner)|"
        r"(?:Taliban|IEA|Islamic\s+Emirate)(?:'s)?\s+(?:white\s+)?(?:flag|banner)\s+"
        r"(?:\S+\s+){0,2}?(?:raised|hoisted|flies|flown|goes\s+up|unfurled)\s+(?:\S+\s+){0,3}?"
        r"(?:at|over|above|on)\s+(?:\S+\s+){0,3}?(?:embass\w*|consulate|missions?)"), False,
             keys=("embass", "consulate", "mission"),
             also=("run", "staff", "head", "led ", "lead", "manag", "mov", "tak", "took", "assum",
                   "flag", "banner", "under", "passe", "to the")),

    StepRule("step:delisting", STEP, lower_re(
        r"\b(?:remov|delist|strik|struck|exclud|drop|tak|took|lift|suspend|scrap)\w*\W+"
        r"(?:\S+\s+){0,6}?(?:from\s+(?:\S+\s+){0,3}?)?(?:list|registry|register)\s+of\s+"
        r"(?:\w+\s+)?(?:terror\w*|banned|prohibited|extremist|proscribed|outlawed)|"
        r"\b(?:remov|delist|strik|struck|exclud|drop|tak|took)\w*\W+(?:\S+\s+){0,6}?"
        r"(?:from|off)\s+(?:\S+\s+){0,3}?(?:terror\w*|banned|prohibited|extremist|proscribed)\s+"
        r"(?:(?:watch|black)?-?list|registry|register|organi[sz]ations?|groups?|entities)|"
        r"\bdelist\w*|\b(?:lift|suspend|scrap)\w*\s+(?:\S+\s+){0,3}?ban\s+on\s+(?:the\s+)?"
        r"(?:Taliban|IEA)|"
        r"\b(?:lift|remov|revok|suspend|drop|end|scrap|withdr[ae]w)\w*\s+(?:\S+\s+){0,4}?"
        r"\W*(?:terror\w*|banned|extremist)\W*\s+(?:designation|status|label|ban|listing|tag)|"
        r"\b(?:lift|suspend|scrap|end|revok|remov)\w*\s+(?:the\s+)?(?:Taliban|IEA)(?:'s)?\s+"
        r"ban\b(?!\s+on\b)|"
        r"(?:Taliban|IEA|movement)\W+(?:\S+\s+){0,2}?no\s+longer\s+(?:\S+\s+){0,3}?"
        r"(?:terror\w*|banned|extremist|proscribed|outlawed)"),
             # every branch names a list, a ban or a designation ("ban" alone is in "taliban";
             # where "ban" is the only one, the pattern has it after whitespace, ending a word)
             False, keys=("terror", "banned", "extremist", "prohibited", "proscribed", "outlaw",
                          "delist"), key_words=re.compile(r"\sban\b")),
    # ties established or restored with the Taliban government, which is the other party
    # ("... with Kabul") or among the subjects ("Afghanistan and Uzbekistan restore ..."):
    # not two other states restoring ties in a headline that also names the Taliban
    StepRule("step:diplomatic-ties", STEP, lower_re(
        rf"{_AFGHAN_PARTY}(?:'s|,)?\s+(?:(?!(?:as|while|after|when|but|amid|since|with)\b)"
        r"[\w'-]+\s+){0,4}?(?:establish|forg|open|deepen|restor|resum|re-?establish)\w*\s+"
        r"(?:[\w-]+\s+){0,2}?diplomatic\s+(?:ties|relations)|"
        r"\b(?:establish|forg|open|deepen|restor|resum|re-?establish)\w*\s+(?:[\w-]+\s+){0,2}?"
        r"diplomatic\s+(?:ties|relations)\s+with\s+(?:(?:the|its|their|new|interim)\s+)*"
        rf"{_AFGHAN_PARTY}|"
        r"\b(?:formal|official|full|full[\s-]fledged|fully[\s-]fledged)\s+diplomatic\s+"
        r"(?:ties|relations)"), True, True,
             keys=("diplomatic ties", "diplomatic relations")),
    StepRule("un-seat", DEBATED, lower_re(
        rf"\b{_UN}\W+(?:\S+\s+){{0,8}}?(?:seat|credentials)\b|\bcredentials\s+committee|"
        rf"\b(?:seat|speak|speech|address)\w*\s+(?:at|to|in|before)\s+(?:the\s+)?{_UN}|"
        r"\baddress\w*\s+(?:the\s+)?(?:U\.?N\.?\s+)?(?:General\s+Assembly|UNGA)|"
        rf"\b{_UN}\W+(?:\S+\s+){{0,6}}?representation\b|"
        rf"\brepresent(?:s|ed|ing|ation)?\s+(?:\S+\s+){{0,2}}?(?:at|in)\s+(?:\S+\s+){{0,5}}?{_UN}|"
        r"\b(?:General\s+Assembly|UNGA)\W+(?:\S+\s+){0,6}?(?:debate|speech|speakers)|"
        r"\bU\.?N\.?\s+speech|list\s+of\s+speakers|who\s+(?:\S+\s+){0,3}?speak\w*\s+(?:for|at)|"
        r"\bwho\s+(?:\S+\s+){0,2}?represent\w*\s+Afghan|"
        rf"(?:Taliban|IEA)(?:'s)?[\s-]+(?:(?:new|newly|appointed|nominated|named|chosen|"
        rf"designated|proposed|own|would-be|pick)\s+){{0,2}}{_UN}\s+(?:envoy|ambassador|"
        r"representative)|"
        rf"\bas\s+(?:its\s+|their\s+)?(?:new\s+)?{_UN}\s+(?:envoy|ambassador|representative)|"
        r"\bas\s+(?:its|their|the)\s+(?:new\s+)?(?:man|woman|envoy|ambassador|representative|"
        rf"voice|nominee)\s+(?:at|to|in|for)\s+(?:the\s+)?{_UN}|"
        rf"\b{_UN}\W+(?:\S+\s+){{0,6}}?(?:accept|seat|recogni)\w*\s+(?:\S+\s+){{0,3}}?"
        r"(?:nominee|envoy|ambassador|representative|delegate)|"
        r"(?:nominat|appoint)\w*\s+(?:\S+\s+){0,5}?(?:envoy|ambassador|representative|"
        rf"delegate|delegation)\s+to\s+(?:the\s+)?{_UN}"), True,
             keys=(*UN_WORDS, "speak", "credential")),
    StepRule("legitimacy", DEBATED, lower_re(
        r"\b(?:il)?legitim(?:acy|i[sz]\w*|ate\s+(?:government|authority|rulers?|"
        r"representatives?))(?!\s+(?:of|to|for)\s+(?!the\s+(?:Taliban|IEA|Islamic)|Taliban|"
        r"IEA|Islamic|their|its\s+(?:rule|government)))"), False, True,
             keys=("legitim",)),
    StepRule("isolation", DEBATED, lower_re(
        r"\b(?:diplomatic|international|political|global)\s+isolation|"
        r"\b(?:end|ends|ending|ended|break|breaks|breaking|broke|ease|eases|easing|eased|lift|"
        r"lifts|lifting|lifted|out\s+of)\s+(?:\S+\s+){0,3}?isolation(?!\s+of\s+(?!(?:the\s+)?"
        r"(?:Taliban|IEA|Islamic|Kabul|Afghanistan)))|"
        # "isolates the Taliban (-led government)", not "isolates Taliban-backed militants"
        r"\bisolat(?:e|es|ed|ing)\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+Emirate|Kabul)"
        r"(?:-(?:led|run|ruled)\s+(?:government|administration|regime|authorities))?(?![\w-])"),
             False, True, keys=("isolat",)),
    StepRule("acceptance", DEBATED, lower_re(
        r"\b(?:international|diplomatic|global|world|formal|official|wider)\s+acceptance|"
        r"\baccept\w*\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+Emirate)(?:[\s-]+(?:led|run))?"
        r"(?:\s+(?:government|administration|regime|authorities))?(?:\s*$|\s*[,.;:!?]|\s+as\s+"
        r"(?:(?:the|a|an|afghanistan's)\s+)?(?:legitimate|lawful|rightful|government))"),
             False, keys=("accept",)),
    StepRule("normalisation", DEBATED, lower_re(
        r"\bnormali[sz]\w*\s+(?:of\s+)?(?:\w+\s+){0,2}?(?:ties|relations)|"
        r"\bnormali[sz]\w*\s+(?:the\s+)?(?:Taliban|IEA|Islamic\s+Emirate)|"
        r"\bnormal\s+(?:diplomatic\s+)?(?:ties|relations)\s+with\s+(?:the\s+)?(?:Taliban|IEA|"
        r"Islamic\s+Emirate)"), False, True,
             keys=("normali", "normal ties", "normal relations", "normal diplomatic")),
)
