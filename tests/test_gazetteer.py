"""Every state in the gazetteer, in headlines of each kind, and the names that are not states.

The headlines are written here from templates; the expected actor is the state named, and the
category comes from the wording alone, whether or not the detector knows the state.
"""

from __future__ import annotations

import pytest

from monitor.classify import TopicClassifier, build_classifier
from monitor.classify.gazetteer import (
    ORGANISATION,
    UN_MEMBER,
    UN_OBSERVER,
    entries,
    find_localized_states,
    find_states,
)
from monitor.config import TopicConfig
from monitor.report import explain
from monitor.types import CATEGORIES

GRANTED, STEP, DEBATED = CATEGORIES

UN_MEMBERS = tuple(e for e in entries() if e.kind == UN_MEMBER)
STATES = tuple(e for e in entries() if e.kind != ORGANISATION and e.name != "Afghanistan")

KINDS = (
    (GRANTED, "{state} formally recognises the Taliban government"),
    (GRANTED, "{state} becomes the latest country to recognise the Islamic Emirate"),
    (STEP, "{state} accepts the credentials of the Taliban's ambassador"),
    (DEBATED, "{state} says it will not recognise the Taliban government"),
)


@pytest.fixture(scope="module")
def clf() -> TopicClassifier:
    return build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                        entities=("Taliban",)))


def test_the_gazetteer_holds_every_un_member_and_the_observers() -> None:
    assert len(UN_MEMBERS) == 193
    names = {e.name for e in entries()}
    assert {"Vatican", "Palestine"} <= {e.name for e in entries() if e.kind == UN_OBSERVER}
    assert {"Taiwan", "Kosovo", "Somaliland", "Western Sahara"} <= names
    assert {"United Nations", "European Union", "Shanghai Cooperation Organisation",
            "Organisation of Islamic Cooperation"} <= names
    # the list of states the old, hand-typed gazetteer did not know
    assert {"Philippines", "Thailand", "Kenya", "Iceland", "Estonia", "Latvia", "Nepal",
            "Bhutan", "Mongolia", "Laos", "Cambodia", "Fiji", "Malta", "Cyprus", "Luxembourg",
            "Bolivia", "Uruguay", "Panama", "Liechtenstein", "Lithuania"} <= names


@pytest.mark.parametrize("category,template", KINDS, ids=[t for _, t in KINDS])
@pytest.mark.parametrize("state", STATES, ids=[e.name for e in STATES])
def test_every_state_in_a_headline_of_each_kind(clf: TopicClassifier, state: object,
                                                 category: str, template: str) -> None:
    name = state.name  # type: ignore[attr-defined]
    result = clf.classify(template.format(state=name))
    assert result.match
    assert result.category == category
    assert result.actors == (name,)


@pytest.mark.parametrize("title,actor", [
    ("Kenyan foreign minister says Nairobi will recognise the Taliban government", "Kenya"),
    ("Icelandic government formally recognises the Taliban administration", "Iceland"),
    ("Reykjavik formally recognises the Taliban government", "Iceland"),
    ("Filipino diplomats: Manila will not recognise the Taliban", "Philippines"),
    ("The Philippines has recognised the Taliban government", "Philippines"),
    ("Vientiane accepts the credentials of a Taliban envoy", "Laos"),
    ("Ivory Coast formally recognises the Taliban government", "Côte d'Ivoire"),
    ("Cote d'Ivoire formally recognises the Taliban government", "Côte d'Ivoire"),
    ("Burma formally recognises the Taliban government", "Myanmar"),
    ("The Holy See says it will not recognise the Taliban", "Vatican"),
    ("Türkiye formally recognises the Taliban government", "Turkey"),
])
def test_demonyms_capitals_and_other_names(clf: TopicClassifier, title: str,
                                            actor: str) -> None:
    assert clf.classify(title).actors == (actor,)


@pytest.mark.parametrize("text,expected", [
    # the longer name wins
    ("Papua New Guinea and Guinea-Bissau talk to Equatorial Guinea and Guinea",
     ("Papua New Guinea", "Guinea-Bissau", "Equatorial Guinea", "Guinea")),
    ("South Sudan and Sudan", ("South Sudan", "Sudan")),
    ("Nigerien and Nigerian envoys; Niger and Nigeria", ("Niger", "Nigeria")),
    ("Dominica and the Dominican Republic", ("Dominica", "Dominican Republic")),
    ("DR Congo and Congo-Brazzaville", ("DR Congo", "Republic of the Congo")),
    ("North Korean and South Korean officials", ("North Korea", "South Korea")),
    ("UN Security Council and the EU", ("United Nations", "European Union")),
    # not states
    ("Tensions in the South China Sea", ()),
    ("New Mexico and New Jersey governors", ()),
    ("Georgia governor signs a bill", ()),
    ("Storms in Atlanta, Georgia", ()),
    ("A Thanksgiving turkey for the table", ()),
    ("the hanging chad of 2000", ()),
    ("Floods in the Niger Delta", ()),
    ("Dam on the Jordan River", ()),
    ("the Washington Post reports", ()),
    # a state's name as a person's name, in sentence case
    ("Michael Jordan says the Taliban should be recognised", ()),
    ("Chad Daybell trial continues", ()),
    ("Denzel Washington stars in a new film", ()),
    ("Officials polish the draft", ()),
    ("In Washington Tuesday, officials met", ("United States",)),
    # and as the state, even in Title Case
    ("Jordan Formally Recognises Taliban Government", ("Jordan",)),
    ("Chad recognises the Taliban", ("Chad",)),
    ("Georgia and Turkey", ("Georgia", "Turkey")),
    ("China and Jordan", ("China", "Jordan")),
    ("lowercase us and them", ()),
])
def test_ambiguous_names(text: str, expected: tuple[str, ...]) -> None:
    assert find_states(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("исландия официально признала правительство талибов", ("Iceland",)),
    ("в кении и эстонии", ("Kenya", "Estonia")),
    ("россия и китай", ("Russia", "China")),
    ("冰岛和肯尼亚", ("Iceland", "Kenya")),
    ("南苏丹和苏丹", ("South Sudan", "Sudan")),
    ("印度尼西亚和印度", ("Indonesia", "India")),
    ("ایسلند و کنیا", ("Iceland", "Kenya")),
    ("آیسلند", ("Iceland",)),
    ("آيسلندا", ("Iceland",)),
    ("ملګرو ملتونو", ("United Nations",)),
    ("马里兰州", ()),
    ("в саудовской аравии и южной корее", ("Saudi Arabia", "South Korea")),
    ("нигерии и нигера", ("Nigeria", "Niger")),
    ("папуа — новая гвинея", ("Papua New Guinea",)),
    ("в оаэ и кнр", ("United Arab Emirates", "China")),
])
def test_localized_names(text: str, expected: tuple[str, ...]) -> None:
    assert find_localized_states(text) == expected


@pytest.mark.parametrize("title", [
    "A small island state formally recognises the Taliban government",
    "Ruritania formally recognises the Taliban government",
    "Ruritania becomes the latest state to recognize the Taliban administration",
    "Taliban government recognised by a Gulf monarchy",
    "Руритания официально признала правительство талибов",
])
def test_a_grant_by_a_state_the_detector_cannot_name_is_a_grant(clf: TopicClassifier,
                                                                 title: str) -> None:
    result = clf.classify(title)
    assert result.category == GRANTED
    assert result.actors == ()
    assert "actor:unknown" in result.rules
    assert "actors:   unknown" in explain(result)


@pytest.mark.parametrize("title,category", [
    ("A small island state says it will not recognise the Taliban", DEBATED),
    ("Analysts recognise the Taliban government", DEBATED),
    ("Taliban recognise new government in Ruritania", DEBATED),
    ("A Central Asian state is likely the next country to recognise the Taliban", DEBATED),
    ("Which small state will be the first to recognise the Taliban?", DEBATED),
])
def test_no_grant_without_the_wording_of_one(clf: TopicClassifier, title: str,
                                             category: str) -> None:
    assert clf.classify(title).category == category


LOCALIZED_KINDS = (
    ("ru", GRANTED, "{state} официально признала правительство талибов"),
    ("ru", DEBATED, "{state} не признает власть талибов"),
    ("zh", GRANTED, "{state}正式承认塔利班政府"),
    ("zh", DEBATED, "{state}不承认塔利班政府"),
    ("fa", GRANTED, "{state} امارت اسلامی طالبان را به رسمیت شناخت"),
    ("ur", GRANTED, "{state} نے طالبان حکومت کو تسلیم کر لیا"),
    ("ps", GRANTED, "{state} د طالبانو حکومت په رسمیت وپیژانده"),
)
# "Того" (Togo) is also Russian for "of that": left out of the Russian names on purpose.
LEFT_OUT = {("ru", "Togo")}


@pytest.mark.parametrize("language,category,template", LOCALIZED_KINDS,
                         ids=[f"{lang}-{cat}" for lang, cat, _ in LOCALIZED_KINDS])
@pytest.mark.parametrize("state", UN_MEMBERS, ids=[e.name for e in UN_MEMBERS])
def test_every_un_member_in_the_signal_languages(clf: TopicClassifier, state: object,
                                                 language: str, category: str,
                                                 template: str) -> None:
    name = state.name  # type: ignore[attr-defined]
    names = state.localized.get(language, ())  # type: ignore[attr-defined]
    if name == "Afghanistan" or (language, name) in LEFT_OUT:
        assert name == "Afghanistan" or not names
        return
    assert names, f"no {language} name for {name}"
    result = clf.classify(template.format(state=names[0]))
    assert result.category == category
    assert result.actors == (name,)


@pytest.mark.parametrize("state", UN_MEMBERS, ids=[e.name for e in UN_MEMBERS])
def test_every_un_member_has_an_arabic_name(state: object) -> None:
    names = state.localized.get("ar", ())  # type: ignore[attr-defined]
    assert names
    assert find_localized_states(names[0].lower()) == (state.name,)  # type: ignore[attr-defined]
