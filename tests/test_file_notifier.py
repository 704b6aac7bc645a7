"""File notifier: appends each digest as text plus a separator line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import FileNotifierConfig
from monitor.errors import NotifyError
from monitor.notify import FileNotifier, build_notifier
from monitor.notify.file import SEPARATOR
from monitor.types import Digest, Story, StorySource

NOW = datetime(2025, 7, 3, 13, 0, tzinfo=UTC)


def digest(n: int, title: str) -> Digest:
    story = Story(id=n, topic="taliban-recognition", title=title,
                  url=f"https://news.example/{n}", published=NOW,
                  category="recognition_refused_or_debated", score=0.6, actors=(),
                  evidence="Delegates debated who should hold the seat.",
                  sources=(StorySource("Wire One", f"https://news.example/{n}", title, NOW),))
    return Digest(id=f"local-file-{n}", notifier="local-file", created_at=NOW, stories=(story,))


def notifier(path: Path) -> FileNotifier:
    config = FileNotifierConfig.model_validate(
        {"name": "local-file", "type": "file", "path": str(path)})
    built = build_notifier(config)
    assert isinstance(built, FileNotifier)
    return built


def test_appends_digests_with_separators(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "digests.log"
    file_notifier = notifier(path)
    file_notifier.send(digest(1, "Assembly committee defers the seat question"))
    first = path.read_text(encoding="utf-8")
    file_notifier.send(digest(2, "Second debate on credentials scheduled"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(first)
    assert text.count(SEPARATOR + "\n") == 2
    assert text.endswith(SEPARATOR + "\n")
    assert text.index("Assembly committee defers") < text.index("Second debate on credentials")
    for expected in ("https://news.example/1", "Wire One", "Recognition refused or debated",
                     "Delegates debated who should hold the seat.", "local-file-2"):
        assert expected in text


def test_keeps_existing_content(tmp_path: Path) -> None:
    path = tmp_path / "digests.log"
    path.write_text("earlier line\n", encoding="utf-8")
    notifier(path).send(digest(3, "Envoy question raised again"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("earlier line\n") and "Envoy question raised again" in text


def test_unwritable_path_is_a_temporary_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(NotifyError) as caught:
        notifier(blocker / "digests.log").send(digest(4, "Anything"))
    assert caught.value.permanent is False
    assert "not-a-dir" in str(caught.value)
