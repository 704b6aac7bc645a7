"""The recognition-event classifier on our own sentences, and on the dev corpus when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.classify import TopicClassifier, build_classifier
from monitor.classify.evaluate import evaluate_file, format_errors, format_report, score
from monitor.classify.gazetteer import find_states, strip_dateline
from monitor.classify.recognition import split_sentences
from monitor.config import TopicConfig
from monitor.stories import prepare
from monitor.types import CATEGORIES

GRANTED, STEP, DEBATED = CATEGORIES
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def clf() -> TopicClassifier:
    return build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                        entities=("Taliban",)))


def _category(clf: TopicClassifier, title: str, summary: str = "") -> str | None:
    result = clf.classify(title, summary)
    return result.category if result.match else None


@pytest.mark.parametrize("title", [
    "Russia becomes first country to recognise Taliban government",
    "Moscow formally recognises the Islamic Emirate of Afghanistan",
    "Kremlin's recognition of the Taliban draws criticism from Kyiv",
    "Russia officially recognized the Taliban regime on Thursday",
    "The Russian Federation officially recognizes the Islamic Emirate of Afghanistan.",
    "Taliban hail Russia's 'brave' decision to recognise their government",
    "Afghanistan's Taliban government hails Russia recognition",
    "Kremlin says Russia has officially recognised Taliban government",
    "Ukraine condemns Russia's recognition of Taliban",
    "Taliban government gained recognition from Russia",
    "Taliban government formally recognised by Moscow",
])
def test_granted(clf: TopicClassifier, title: str) -> None:
    assert _category(clf, title) == GRANTED


@pytest.mark.parametrize("title", [
    "Russia accepts credentials of Taliban-appointed ambassador",
    "Xi Jinping accepts credentials of Taliban envoy in Beijing",
    "Beijing accepts Taliban ambassador's credentials",
    "Kazakhstan strikes Taliban off its list of banned organisations",
    "Kyrgyzstan removes Taliban from list of terrorist organisations",
    "Russian Supreme Court suspends ban on the Taliban",
    "Uzbekistan hands Afghan embassy in Tashkent over to Taliban diplomats",
    "Afghan embassy in Ankara handed over to Taliban",
    "China names new ambassador to Kabul, first since takeover",
    "UAE accepts Taliban's ambassador, in boost for Kabul",
    "Astana upgrades ties with Taliban administration to ambassador level",
    "India upgrades technical mission in Kabul to embassy",
    "Islamabad raises its Kabul mission from charge d'affaires to ambassador",
    "Tashkent establishes formal diplomatic relations with the Islamic Emirate",
    "China becomes first country to accept Taliban ambassador",
    "Kazakhstan removes Taliban from terror list",
    "Russia's top court lifts Taliban 'terrorist' designation",
    "Taliban ambassador takes charge of Afghan embassy in Beijing",
    "Turkmenistan allows Taliban diplomats to run Afghan embassy",
])
def test_steps(clf: TopicClassifier, title: str) -> None:
    assert _category(clf, title) == STEP


@pytest.mark.parametrize("title", [
    # negation and modality
    "Germany will not recognise the Taliban, says Scholz",
    "EU has no plans to recognise Taliban government",
    "US in no rush to recognize Taliban-led government",
    "Britain not in a rush to recognise the Taliban administration",
    "Taliban must earn recognition, says Blinken",
    "China urges world to consider recognising Taliban administration",
    "Uzbekistan considering recognition of Afghan interim government",
    "Iran says it won't recognize the Taliban until an inclusive government is formed",
    "Erdogan: Turkey could recognise Taliban if conditions met",
    "Women's rights a condition for recognising the Taliban, Canada says",
    "Will the world recognise the Taliban?",
    "No country has recognised the Taliban government since 2021",
    "Taliban-run Afghanistan remains unrecognised, UN says talks must continue",
    # requests
    "Islamic Emirate renews call for international recognition",
    "Afghan women urge world not to recognise Taliban",
    "Taliban call on world to grant them legitimacy",
    # the UN seat
    "UN credentials committee defers decision on Afghanistan's seat",
    "Taliban name spokesman Suhail Shaheen as UN ambassador",
    "Taliban ask UN to accept their nominee as Afghanistan's ambassador",
    "Taliban want to speak at the UN General Assembly",
    "UN delays decision on Taliban's request for seat",
    "Who represents Afghanistan at the UN?",
    "Pakistan not to recognise Taliban unilaterally: FM",
    "Taliban closer to getting recognition",
    "Taliban want to be internationally recognised",
    "Taliban rule recognised by no country",
])
def test_refused_or_debated(clf: TopicClassifier, title: str) -> None:
    assert _category(clf, title) == DEBATED


@pytest.mark.parametrize("title", [
    # other Taliban and Afghan news, including diplomatic vocabulary
    "Taliban ban women from universities",
    "Pakistan summons Afghan envoy over border firing",
    "Taliban foreign minister meets Chinese envoy in Kabul",
    "US embassy in Kabul evacuated as Taliban advance",
    "Taliban raise concerns with Pakistani envoy over refugee expulsions",
    "Chinese ambassador promotes trade with Afghanistan at Kabul expo",
    "UN Security Council holds debate on Taliban ban on women workers",
    "Taliban meet UN envoy in Kabul over aid",
    "Taliban address UN concerns on girls' schooling",
    "Journalists accredited by the Taliban face new restrictions",
    "Pakistan raises legitimate concerns with Taliban over TTP",
    "Taliban question legitimacy of the Durand Line",
    "Banned TTP claims attack in Khyber",
    "Pakistani Taliban demand recognition of their demands",
    "Kabul River floods villages in Nowshera",
    "Taliban representative in Doha meets UN official",
    # other senses of the word, tied to Afghanistan
    "Taliban and Pakistan recognise terrorism as a common threat",
    "TTP must be recognised as a threat, Islamabad tells Kabul",
    "Afghan cricket star honoured in recognition of his services",
    "Afghanistan's women footballers recognised by FIFA",
    "Afghan refugees in Pakistan gain recognition for handicrafts",
    "Kabul police use facial recognition cameras",
    "Afghan women say their country is unrecognisable under Taliban rule",
    # recognition of other states and governments
    "Russia recognises independence of Abkhazia and South Ossetia",
    "Saudi-led coalition backs internationally recognised government of Yemen",
    "Taliban fighters clash with Yemen's internationally recognised government",
    "Spain, Ireland and Norway recognise Palestinian state",
    "Taiwan loses recognition as Honduras switches to Beijing",
    "Serbia will never recognise Kosovo, says Vucic",
    # unrelated
    "Face recognition startup raises $10m",
    "Actor recognised with lifetime achievement award",
])
def test_not_the_topic(clf: TopicClassifier, title: str) -> None:
    assert not clf.classify(title).match


def test_summary_counts_when_the_title_says_nothing(clf: TopicClassifier) -> None:
    result = clf.classify(
        "Analysis: why Moscow's embrace matters",
        "MOSCOW, July 4 (XYZ): Russia on Thursday became the first country to formally "
        "recognise the Taliban administration. Others may follow.")
    assert result.match and result.category == GRANTED
    assert result.evidence.startswith("Russia on Thursday")
    assert "where:summary" in result.rules
    assert result.actors == ("Russia",)


def test_event_deep_in_a_long_lead_is_ignored(clf: TopicClassifier) -> None:
    lead = ("Talks opened on Monday. Trade was discussed. Water was discussed too. "
            "The Taliban again asked for recognition.")
    assert not clf.classify("Border talks in Islamabad", lead).match


def test_classification_explains_itself(clf: TopicClassifier) -> None:
    result = clf.classify("Germany will not recognise the Taliban government")
    assert result.topic == "taliban-recognition"
    assert 0.0 < result.score <= 1.0
    assert result.evidence == "Germany will not recognise the Taliban government"
    assert "recognition:verb-object" in result.rules
    assert "modality:will" in result.rules
    assert result.actors == ("Germany",)


def test_no_match_is_empty(clf: TopicClassifier) -> None:
    result = clf.classify("Weather in Lahore", "")
    assert (result.match, result.score, result.category, result.actors, result.rules) == (
        False, 0.0, None, (), ())


@pytest.mark.parametrize(("title", "actors"), [
    ("Moscow accepts credentials of Taliban envoy", ("Russia",)),
    ("Astana removes Taliban from list of banned organisations", ("Kazakhstan",)),
    ("Beijing and Islamabad urge recognition of the Taliban", ("China", "Pakistan")),
    ("The White House says the US will not recognise the Taliban", ("United States",)),
    ("Kazakh foreign ministry: Taliban delisted", ("Kazakhstan",)),
    ("Turkish and Qatari diplomats discuss recognition of the Taliban", ("Turkey", "Qatar")),
])
def test_actors(clf: TopicClassifier, title: str, actors: tuple[str, ...]) -> None:
    result = clf.classify(title)
    assert result.match
    assert result.actors == actors


@pytest.mark.parametrize(("title", "category", "actors"), [
    # The host or place of talks where the Taliban seek recognition is not recognising them.
    ("Taliban delegation seeks recognition at talks hosted by Qatar",
     "recognition_refused_or_debated", ()),
    ("Qatar hosts two days of talks at which the Taliban will press for recognition",
     "recognition_refused_or_debated", ()),
    ("At a conference in Tashkent, Taliban envoys ask Western capitals for recognition",
     "recognition_refused_or_debated", ()),
    ("Taliban press for recognition at a Turkey-hosted summit",
     "recognition_refused_or_debated", ()),
    # Recognition asked of a state is not recognition it gave.
    ("Taliban seek Kazakh recognition during a visit to Astana",
     "recognition_refused_or_debated", ("Kazakhstan",)),
    # A state that acts stays the actor, wherever the act takes place.
    ("Belarus recognises the Taliban government after talks in Minsk",
     "recognition_granted", ("Belarus",)),
    ("Kyrgyzstan formally recognises the Taliban government at a ceremony in Bishkek",
     "recognition_granted", ("Kyrgyzstan",)),
    # An organisation where the matter is decided is an actor, not a venue.
    ("Taliban push for recognition at the UN General Assembly meeting",
     "recognition_refused_or_debated", ("United Nations",)),
])
def test_the_actor_is_the_state_that_acts(clf: TopicClassifier, title: str, category: str,
                                           actors: tuple[str, ...]) -> None:
    verdict = clf.classify(title)
    assert verdict.match, title
    assert (verdict.category, verdict.actors) == (category, actors)


def test_gazetteer() -> None:
    assert find_states("Kremlin and Tehran talk; the U.K. and us") == (
        "Russia", "Iran", "United Kingdom")
    assert find_states("Russia's envoy in New Delhi") == ("Russia", "India")
    assert find_states("nothing here") == ()
    assert strip_dateline("ISLAMABAD, May 30 (APP): Pakistan said") == "Pakistan said"
    assert strip_dateline("KABUL: Russia's decision") == "Russia's decision"
    assert strip_dateline("US-Taliban talks resume") == "US-Taliban talks resume"


def test_split_sentences() -> None:
    assert split_sentences("A said. B went! C? • D\nE") == ["A said.", "B went!", "C?", "D", "E"]
    assert split_sentences("One. Two. Three. Four.", limit=2) == ["One.", "Two."]
    assert split_sentences("U.S. envoy visits") == ["U.S. envoy visits"]


def test_user_entities_extend_the_aliases() -> None:
    plain = build_classifier(TopicConfig(name="t", event="recognition"))
    extended = build_classifier(TopicConfig(name="t", event="recognition",
                                            entities=("Mullah Akhund's cabinet",)))
    title = "Qatar will consider recognising Mullah Akhund's cabinet"
    assert not plain.classify(title).match
    assert extended.classify(title).category == DEBATED


def test_builtin_aliases_work_with_short_entity_lists() -> None:
    clf = build_classifier(TopicConfig(name="t", event="recognition", entities=("IEA",)))
    assert clf.classify("Russia recognises the Islamic Emirate").category == GRANTED
    assert clf.classify("Kazakhstan removes Taliban from terrorist list").category == STEP


@pytest.mark.parametrize("name", ["dev.jsonl", "dev_more.jsonl"])
def test_dev_corpus_meets_the_targets(clf: TopicClassifier, name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    report = evaluate_file(str(path), clf)
    overall = score(report.outcomes)
    assert overall.precision >= 0.95
    assert overall.recall >= 0.90
    negatives = score(o for o in report.outcomes
                      if o.category in ("unrelated", "recognition_other_state",
                                        "recognition_other_sense"))
    assert negatives.fp_rate <= 0.001
    text = format_report(report)
    assert "keyword: Taliban/Afghan + recogni*" in text and "without unsure" in text


def test_evaluate_records_counts_and_report(clf: TopicClassifier) -> None:
    from monitor.classify.evaluate import evaluate_records, format_errors

    records = [
        {"id": "a", "title": "Russia recognises the Taliban government", "summary": "",
         "label": 1, "category": GRANTED, "subset": "targeted"},
        {"id": "b", "title": "Taliban seek recognition as winter looms", "summary": "",
         "label": 1, "category": DEBATED, "subset": "targeted", "unsure": True},
        {"id": "c", "title": "Kabul hosts a cricket final", "summary": "",
         "label": 1, "category": STEP, "subset": "targeted"},
        {"id": "d", "title": "Facial recognition at airports", "summary": "",
         "label": 0, "category": "recognition_other_sense", "subset": "stream"},
        {"id": "e", "title": "Weather", "summary": "", "label": 0, "category": "unrelated",
         "subset": "stream"},
    ]
    report = evaluate_records(records, clf)
    overall = score(report.outcomes)
    assert (overall.tp, overall.fp, overall.fn, overall.tn) == (2, 0, 1, 2)
    assert score(o for o in report.outcomes if not o.unsure).recall == 0.5
    assert len(report.baselines) == 2
    text = format_report(report)
    assert "records: 5  positives: 3" in text
    assert "false-positive rate" in text and "confusion" in text
    errors = format_errors(report)
    assert errors.startswith("FN recognition_step") and "'Kabul hosts a cricket final'" in errors


@pytest.mark.parametrize(("title", "category"), [
    ("Россия признала правительство талибов", GRANTED),
    ("Германия не будет признавать власть талибов", DEBATED),
    ("Казахстан исключил движение «Талибан» из списка запрещенных организаций", STEP),
    ("俄罗斯正式承认阿富汗塔利班政权", GRANTED),
    ("中国不承认塔利班政府", DEBATED),
    ("塔利班寻求国际承认", DEBATED),
    ("习近平接受塔利班任命的大使递交国书", STEP),
    ("روس نے طالبان حکومت کو باضابطہ تسلیم کر لیا", GRANTED),
    ("پاکستان طالبان حکومت کو تسلیم نہیں کرے گا", DEBATED),
    ("روسیې د طالبانو حکومت په رسمیت وپیژانده", GRANTED),
    # "признать", "承认", "تسلیم" also mean "admit"; the Pakistani Taliban are another group
    ("Талибы признали ответственность за нападение", None),
    ("塔利班承认发动袭击", None),
    ("افغان طالبان نے حملے کی ذمہ داری تسلیم کر لی", None),
    ("تحریک طالبان پاکستان کا حملہ، حکومت تسلیم", None),
    ("Талибы запретили музыку", None),
])
def test_other_languages(clf: TopicClassifier, title: str, category: str | None) -> None:
    assert _category(clf, title) == category


def test_the_pakistani_taliban_name_is_not_an_actor(clf: TopicClassifier) -> None:
    result = clf.classify("Tehreek-i-Taliban Pakistan attack condemned as Moscow recognises "
                          "the Taliban government")
    assert result.category == GRANTED
    assert result.actors == ("Russia",)


CHALLENGE = Path(__file__).resolve().parent / "data" / "recognition_challenge.jsonl"


def test_challenge_set_meets_the_targets(clf: TopicClassifier) -> None:
    """Our own hand-written headlines over every bullet of the guideline (never corpus texts):
    precision and recall as on dev, and every grant is called a grant."""
    report = evaluate_file(str(CHALLENGE), clf)
    assert len(report.outcomes) >= 200
    overall = score(report.outcomes)
    assert overall.precision >= 0.95, format_errors(report)
    assert overall.recall >= 0.90, format_errors(report)
    grants = [o for o in report.outcomes if o.category == GRANTED]
    assert grants
    wrong = [o.title for o in grants if o.predicted_category != GRANTED]
    assert not wrong


@pytest.mark.parametrize(("title", "category"), [
    # an ordinal, "follows ... in", "thanks ... for", a decree: a state grants
    ("Uzbekistan becomes second country to formally recognise Taliban government", GRANTED),
    ("Belarus follows Moscow in recognising Taliban administration", GRANTED),
    ("Muttaqi thanks Russia for recognising the Islamic Emirate", GRANTED),
    ("Putin signs decree recognising Taliban government", GRANTED),
    # reactions to a state's recognition are about the grant; a hypothetical one is not
    ("Russian recognition of Taliban sparks debate in Central Asia", GRANTED),
    ("Russia's recognition of the Taliban not on the agenda, says envoy", DEBATED),
    ("Iran: Taliban recognition depends on inclusive government", DEBATED),
    ("Is Turkey next to recognise the Taliban?", DEBATED),
    # the entity qualifying another object is a step or nothing, not a grant
    ("Kyrgyzstan recognizes Taliban diplomats, hands them Afghan embassy in Bishkek", STEP),
    ("Kazakhstan considers establishing diplomatic relations with the Taliban", DEBATED),
    ("Kremlin: Taliban no longer a terrorist organisation in Russia after court ruling", STEP),
    # other senses and other groups
    ("Malaysia honours recognition award winners in Kabul restaurant", None),
    ("Taliban say they no longer recognise passports issued by former government's embassies",
     None),
    ("Taliban-era decrees recognised by new court structure", None),
    ("Kabul-born author gets recognition from Booker jury", None),
    # a passive's agent: a state grants, nobody is a debate; an embassy is an object, not
    # the end of a road; another state's caretaker government is that state
    ("Taliban recognised by Kremlin decree", GRANTED),
    ("Taliban government is recognised by nobody, Muttaqi admits", DEBATED),
    ("Taliban reopen road to the Indian embassy", None),
    ("Pakistan's caretaker government accepts Taliban-appointed ambassador", STEP),
])
def test_generalisation_cases(clf: TopicClassifier, title: str, category: str | None) -> None:
    assert _category(clf, title) == category


@pytest.mark.parametrize(("title", "summary", "reason"), [
    ("Weather in Lahore turns cold", "", "no entity:"),
    ("Ruritania recognises the breakaway republic of Marnia", "", "no entity:"),
    ("Taliban open a new hospital wing in Kandahar", "", "entity without event:"),
    ("Pakistani Taliban seek recognition of their demands", "", "no entity: another group"),
    ("Afghan recognition of foreign diplomas is slow", "",
     "no entity: Afghanistan is named, not its government"),
    ("Taliban minister praised in recognition of flood relief work", "",
     'other sense of "recognition": "praised in recognition"'),
    ("Taliban rollout of facial recognition cameras in Kabul alarms activists", "",
     'other sense of "recognition": "of facial recognition"'),
    ("Taliban spokesman urges recognition of Palestine", "", "other object:"),
    ("Taliban recognise the drought as the main threat", "", "other object:"),
    ("Taliban recognised as reliable partners by the Red Cross", "",
     'other sense of "recognition"'),
    ("Mali's junta wins recognition from Moscow as Taliban look on", "", "other object:"),
    ("Aid flights resume", "Airport staff return to work. Taliban officials inspect the new "
     "facial recognition gates.", 'other sense of "recognition"'),
])
def test_a_non_match_says_why(clf: TopicClassifier, title: str, summary: str,
                              reason: str) -> None:
    result = clf.classify(title, summary)
    assert not result.match
    assert result.reason.startswith(reason), result.reason


def test_a_query_topic_says_its_query_did_not_match() -> None:
    topic = TopicConfig(name="q", query='"letters of credence"')
    result = build_classifier(topic).classify("Envoy arrives", "")
    assert not result.match and result.reason == 'query: "letters of credence" does not match'


def test_a_match_has_no_reason(clf: TopicClassifier) -> None:
    assert clf.classify("Germany will not recognise the Taliban government").reason == ""



def test_a_non_match_is_built_once_per_reason_and_names_its_own_topic() -> None:
    first = build_classifier(TopicConfig(name="first", event="recognition"))
    second = build_classifier(TopicConfig(name="second", event="recognition"))
    weather, harvest = "Weather in Lahore", "Harvest festival opens in Multan"
    assert first.classify(weather) is first.classify(harvest)    # one verdict, kept
    assert (first.classify(weather).topic, second.classify(weather).topic) == (
        "first", "second")
    other = first.classify("Kabul airport reopens", "Flights resume on Monday.")
    assert other.reason != first.classify(weather).reason       # another reason, its own
    assert first.classify("Kabul bus station reopens") is other

@pytest.mark.parametrize(("text", "lead"), [
    # datelines: a place (any case when an agency follows), a date, an agency, a separator
    ("LAHORE, Aug 2 (APP): The minister said", "The minister said"),
    ("PESHAWAR: Officials met on Monday", "Officials met on Monday"),
    ("ST. PETERSBURG, June 12 /TASS/. The forum opened", "The forum opened"),
    ("DOHA - Talks resumed", "Talks resumed"),
    ("TASHKENT (AP) — Envoys met", "Envoys met"),
    ("ANKARA, July 3 (Reuters) - Turkey said", "Turkey said"),
    ("BOGOTÁ (Reuters) - El ministro dijo", "El ministro dijo"),
    ("Lisbon, 4 Jul 2025 (AFP) - O ministro disse", "O ministro disse"),
    ("Vienna, Jul 4 (APP):The envoy said", "The envoy said"),
    ("DENVER, Colorado (KDVR) — Crews worked", "Crews worked"),
    ("KARACHI Jul 4, (APP): Traders said", "Traders said"),
    # not datelines: an acronym joined by a hyphen, a headline with a bracket before a dash
    ("COVID-19 cases rise in the capital", "COVID-19 cases rise in the capital"),
    ("PML-N leaders meet in Lahore", "PML-N leaders meet in Lahore"),
    ("NATO-Taliban contacts reported", "NATO-Taliban contacts reported"),
    ("US-Taliban talks resume", "US-Taliban talks resume"),
    ("Ten films you missed (and more) - Gazette", "Ten films you missed (and more) - Gazette"),
    ("Russia Recognises Taliban (Update) - Wire", "Russia Recognises Taliban (Update) - Wire"),
    ("THE Council of Envoys (CoE) — a forum", "THE Council of Envoys (CoE) — a forum"),
])
def test_one_dateline_rule_for_classifier_and_story_leads(text: str, lead: str) -> None:
    """The classifier and story grouping strip the same dateline: one function."""
    assert strip_dateline(text) == lead
    assert prepare("Envoys meet", text).lead == prepare("Envoys meet", lead).lead


# One sentence per branch of the envoy-accepted rule: each passes the rule's cheap gates
# (entity, envoy, verb), which must never keep the pattern from a text it matches.
ENVOY_ACCEPTED_BRANCHES = [
    "Uzbekistan accepts Taliban ambassador in Tashkent",
    "Turkmenistan welcomes the Taliban's ambassador",
    "Kazakhstan hosts Taliban-appointed envoy",
    "Ambassador of the Taliban accredited in Moscow",
    "Taliban-appointed envoy takes over embassy in Beijing",
    "Japan agrees to take a diplomat from the Taliban",
    "Oman receives an ambassador from the Taliban government",
]


@pytest.mark.parametrize("text", ENVOY_ACCEPTED_BRANCHES)
def test_a_step_rule_s_gates_pass_every_text_its_pattern_matches(text: str) -> None:
    from monitor.classify.recognition import _has_any
    from monitor.classify.steps import STEP_RULES

    (rule,) = [r for r in STEP_RULES if r.name == "step:envoy-accepted"]
    lowered = " " + text.lower()
    assert rule.pattern.search(lowered) is not None
    assert all(_has_any(lowered, gate) for gate in (rule.keys, rule.also, rule.verbs))


# The delisting rule's gate: "ban" after whitespace and ending a word (each branch where it
# alone names the ban has it so) passes; words that only begin with " ban" ("Bangladesh",
# "bank", "banner") do not, so the rule's slow pattern is not run on them (it matches none).
@pytest.mark.parametrize(("text", "passes"), [
    ("Kazakhstan lifts the ban on the Taliban", True),
    ("Kyrgyzstan suspends its ban on IEA activity", True),
    ("Court ends Taliban ban, Kabul says", True),
    ("Moscow scraps the Taliban's ban", True),
    ("Russia lifts Taliban ban", True),
    ("Western states lift\tban on the Taliban, bank chief says", True),
    ("Court ends Taliban\u00a0ban", True),
    ("Bangladesh envoy meets Taliban officials in Kabul", False),
    ("Kabul bank chief talks with Taliban envoy", False),
    ("Taliban banner raised over the embassy", False),
])
def test_the_delisting_gate_passes_ban_as_a_word_only(text: str, passes: bool) -> None:
    from monitor.classify.recognition import _passes_keys
    from monitor.classify.steps import STEP_RULES

    (rule,) = [r for r in STEP_RULES if r.name == "step:delisting"]
    lowered = " " + text.lower()
    assert (rule.pattern.search(lowered) is not None) == passes
    assert _passes_keys(rule, lowered) == passes
