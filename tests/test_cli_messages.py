"""What the command line says when things go wrong: one line that names the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

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
