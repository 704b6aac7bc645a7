"""Config errors in the operator's words: the key, what it should hold, one line each."""

from __future__ import annotations

import pytest

from monitor.config import load_config_data
from monitor.errors import ConfigError

TOPICS = [{"name": "t", "event": "recognition"}]
FILE = {"name": "f", "type": "file", "path": "digests.log"}
EMAIL = {"name": "e", "type": "email", "smtp_host": "h", "from": "a@b.org", "to": ["c@d.org"]}


def message(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_data(data)
    return str(info.value)


@pytest.mark.parametrize(("data", "expected"), [
    ({"topics": [{**TOPICS[0], "entities": "Taliban"}]},
     'topics[0].entities: must be a list of strings, like ["a", "b"]'),
    ({"topics": [{**TOPICS[0], "entities": ["Taliban", 7]}]},
     "topics[0].entities: must be a list of strings; item 1 is a number"),
    ({"topics": TOPICS, "notifiers": [{**FILE, "topics": "t"}]},
     'notifiers[0].topics: must be a list of strings, like ["a", "b"]'),
    ({"topics": TOPICS, "notifiers": [{**EMAIL, "to": []}]},
     "notifiers[0].to: must not be an empty list"),
    ({"topics": []}, "topics: at least one [[topics]] entry is required"),
    ({"topics": TOPICS, "sources": {"name": "s"}}, "sources: must be a list of [[sources]] tables"),
    ({"topics": TOPICS, "monitor": {"max_concurrency": "many"}},
     "monitor.max_concurrency: must be a whole number, not a string"),
    ({"topics": TOPICS, "monitor": {"max_concurrency": 0}},
     "monitor.max_concurrency: must be at least 1"),
    ({"topics": [{"name": "", "event": "recognition"}]}, "topics[0].name: must not be empty"),
])
def test_messages_speak_of_lists_and_values_not_validation(data: dict, expected: str) -> None:
    text = message(data)
    assert text == expected
    for jargon in ("Input should", "Tuple should", "after validation", "valid tuple"):
        assert jargon not in text


def test_a_bad_entry_is_reported_once_not_echoed_by_its_list() -> None:
    # pydantic also reports "topics: Tuple should have at least 1 item" here.
    assert message({"topics": [{**TOPICS[0], "entities": "Taliban"}]}).count("\n") == 0


@pytest.mark.parametrize(("data", "expected"), [
    ({"topics": TOPICS, "sources": [{"name": "s", "url": "https://x.org/", "intervall": "5m"}]},
     "sources[0].intervall: unknown key; did you mean `interval`?"),
    ({"topics": TOPICS, "monitor": {"pol_interval": "5m"}},
     "monitor.pol_interval: unknown key; did you mean `poll_interval`?"),
    ({"topics": TOPICS, "sourcez": []}, "sourcez: unknown key; did you mean `sources`?"),
    ({"topics": TOPICS, "notifiers": [{**EMAIL, "form": "x@y.org"}]},
     "notifiers[0].form: unknown key; did you mean `from`?"),
    ({"topics": TOPICS, "sources": [{"name": "s", "url": "https://x.org/", "colour": "red"}]},
     "sources[0].colour: unknown key"),
])
def test_unknown_keys_suggest_the_nearest_key(data: dict, expected: str) -> None:
    assert message(data) == expected


def test_a_misspelt_required_key_is_one_problem() -> None:
    # not also "notifiers[0].path: required key is missing"
    assert message({"topics": TOPICS, "notifiers": [{"name": "f", "type": "file", "pth": "x"}]}) \
        == "notifiers[0].pth: unknown key; did you mean `path`?"


@pytest.mark.parametrize("schedule", ["every 5q", "daily", "61 * * * *"])
def test_a_bad_schedule_says_what_schedules_look_like(schedule: str) -> None:
    text = message({"topics": TOPICS, "notifiers": [{**FILE, "schedule": schedule}]})
    assert text.startswith("notifiers[0].schedule: invalid")
    assert '"immediate", "every 30m"' in text and '"0 8 * * *"' in text
    assert "invalid duration" not in text
