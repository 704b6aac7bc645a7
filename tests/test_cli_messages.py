"""What the command line says when things go wrong: one line that names the problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.types import Story, StorySource
from tests.loopback import Response
from tests.test_cli import monitor

ROOT = Path(__file__).resolve().parents[1]
GOOD = '{"id": "a", "title": "Belarus formally recognises the Taliban government", "label": 1}'


def test_eval_runs_on_the_shipped_sample() -> None:
    result = monitor("eval", str(ROOT / "examples" / "eval-sample.jsonl"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("records: 14  positives: 6")


@pytest.mark.parametrize(("lines", "expected"), [
    ([GOOD, "", "{not json"], ":3: not JSON: "),
    ([GOOD, '{"title": "x", "label": "yes"}'], ":2: label must be 0 or 1, got 'yes'"),
    (["[1, 2]"], ":1: expected a JSON object"),
    ([GOOD, '{"title": 5, "label": 0}'], ":2: title must be a string"),
])
def test_eval_names_the_file_and_line_of_a_bad_record(tmp_path: Path, lines: list[str],
                                                     expected: str) -> None:
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = monitor("eval", str(path))
    assert result.returncode == 2
    assert f"{path}{expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = monitor("eval", str(tmp_path / "absent.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"config error: no such file: {tmp_path / 'absent.jsonl'}"


# -- monitor once: exit codes ------------------------------------------------------------

def _once_config(tmp_path: Path, server, *, broken_source: bool, broken_hook: bool) -> Path:
    from tests.test_cli import DECOY, STEP, feed, write_config

    server.route("/feed.xml", Response(body=feed(STEP, DECOY)))
    server.route("/hook", Response(200, b"ok"))
    extra = ""
    if broken_source:
        extra += f'\n[[sources]]\nname = "Gone feed"\nurl = "{server.url("/missing.xml")}"\n'
    extra += (f'\n[[notifiers]]\nname = "hook"\ntype = "webhook"\n'
              f'url = "{server.url("/no-hook" if broken_hook else "/hook")}"\n')
    return write_config(tmp_path, server.url("/feed.xml"), extra)


@pytest.mark.parametrize(("broken_source", "broken_hook", "code"), [
    (False, False, 0), (True, False, 3), (False, True, 4), (True, True, 5),
])
def test_once_exit_code_says_what_failed(tmp_path: Path, fresh_server, broken_source: bool,
                                         broken_hook: bool, code: int) -> None:
    config = _once_config(tmp_path, fresh_server, broken_source=broken_source,
                          broken_hook=broken_hook)
    result = monitor("once", "-q", "-c", str(config))
    assert result.returncode == code, result.stdout + result.stderr


def test_once_can_be_told_to_ignore_source_errors(tmp_path: Path, fresh_server) -> None:
    config = _once_config(tmp_path, fresh_server, broken_source=True, broken_hook=False)
    result = monitor("once", "-q", "--no-fail-on-source-errors", "-c", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error Gone feed" in result.stdout   # still reported, only the exit code differs


def test_once_exit_code_decision() -> None:
    from monitor.cli import once_exit_code
    from monitor.types import FlushOutcome, PollOutcome

    ok, bad = PollOutcome("a", "ok"), PollOutcome("b", "error", error="FetchError: HTTP 404")
    unrecorded = PollOutcome("c", "error", error="StoreError: disk full")
    sent, failed = FlushOutcome("n", sent=1), FlushOutcome("n", failed=1, errors=("x",))
    assert once_exit_code([ok], [sent]) == 0
    assert once_exit_code([ok, bad], [sent]) == 3
    assert once_exit_code([ok, bad], [sent], fail_on_sources=False) == 0
    assert once_exit_code([ok], [failed]) == 4
    assert once_exit_code([bad], [failed]) == 5
    assert once_exit_code([bad], [failed], fail_on_sources=False) == 4
    assert once_exit_code([unrecorded], [sent]) == 1


# -- matches, status, deliveries: order, wording and --json ------------------------------

def _story(n: int, published: datetime | None) -> Story:
    return Story(id=n, topic="t", title=f"Headline number {n}", url=f"https://news.example/{n}",
                 published=published, category="recognition_step", score=0.9,
                 actors=("Kyrgyzstan",), evidence="e",
                 sources=(StorySource("Wire", f"https://news.example/{n}", "h", published),))


def test_matches_are_listed_newest_first() -> None:
    from monitor import report

    day = datetime(2025, 7, 3, tzinfo=UTC)
    stories = [_story(1, day), _story(2, day + timedelta(hours=5)), _story(3, None),
               _story(4, day + timedelta(hours=1))]
    text = report.matches(stories)
    order = [text.index(f"Headline number {n}\n") for n in (2, 4, 1, 3)]
    assert order == sorted(order)
    assert [s["id"] for s in json.loads(report.matches_json(stories))["stories"]] == [2, 4, 1, 3]


def test_json_output_of_status_matches_and_deliveries(tmp_path: Path, fresh_server) -> None:
    config = _once_config(tmp_path, fresh_server, broken_source=True, broken_hook=True)
    monitor("once", "-q", "-c", str(config))

    status = monitor("status", "--json", "-c", str(config))
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    health = {s["name"]: s["health"] for s in document["sources"]}
    assert health == {"News": "ok", "Gone feed": "failing"}
    assert document["deliveries"]["dead"] == 1  # a 404 is permanent

    matches = json.loads(monitor("matches", "--json", "-c", str(config)).stdout)
    [story] = matches["stories"]
    assert story["title"].startswith("Kyrgyzstan accepts") and story["sources"] == ["News"]

    deliveries = json.loads(monitor("deliveries", "--json", "-c", str(config)).stdout)
    [row] = deliveries["deliveries"]
    assert row["notifier"] == "hook" and row["status"] == "dead" and row["stories"] == 1
    assert "HTTP 404" in row["last_error"] and row["created_at"].endswith("Z")


def test_counts_agree_with_their_nouns() -> None:
    from monitor import report
    from monitor.types import FlushOutcome, PollOutcome

    text = report.cycle_summary([PollOutcome("a", "ok", new=1, matched=1)],
                                [FlushOutcome("n", sent=1)])
    assert text.splitlines() == ["polled 1 source (1 ok): 1 new item, 1 matched",
                                 "notifier n: 1 digest sent"]


def test_the_test_message_says_it_is_a_test_once(tmp_path: Path, fresh_server) -> None:
    config = _once_config(tmp_path, fresh_server, broken_source=False, broken_hook=False)
    result = monitor("test-notify", "local-file", "-c", str(config))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "digests.log").read_text()
    # the subject, then one sentence; not a second "This is a test message ..." line
    assert text.lower().count("test message") == 2, text
