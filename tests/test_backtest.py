"""`monitor backtest`: the current topics, or a query, replayed over the stored items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.backtest import backtest, choose_classifiers
from monitor.classify import build_classifier
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.types import PastMatch, StoredItem
from tests.loopback import LoopbackHTTPServer, Response
from tests.test_cli import monitor

ITEMS = (("g1", "Chile accepts the credentials of the new ambassador from Oslo"),
         ("g2", "Dock workers end their strike after talks with the port authority"),
         ("g3", "Envoy presents letters of credence to the president in Quito"))


def rss() -> bytes:
    body = "".join(f"<item><guid>{g}</guid><link>https://desk.example/{g}</link>"
                   f"<title>{t}</title></item>" for g, t in ITEMS)
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose topic alerted g1 on a real poll: the database backtest reads."""
    tmp_path = tmp_path_factory.mktemp("backtest")
    with LoopbackHTTPServer() as server:
        server.route("/desk.xml", Response(body=rss()))
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{tmp_path / 'm.db'}"
min_host_interval = "0s"

[[topics]]
name = "envoys"
query = "credentials"

[[sources]]
name = "desk"
url = "{server.url('/desk.xml')}"

[[notifiers]]
name = "log"
type = "file"
path = "{tmp_path / 'log.txt'}"
""")
        once = monitor("once", "-c", str(config))
        assert once.returncode == 0 and "1 matched" in once.stdout, once.stdout + once.stderr
    return config


def test_the_current_topics_alert_what_they_alerted(stored: Path) -> None:
    result = monitor("backtest", "-c", str(stored))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("backtest of envoys over 3 stored items")
    assert "0 would alert now, 0 alerted but would not now, 1 unchanged" in result.stdout


def test_a_query_shows_what_would_alert_now_and_what_would_not(stored: Path) -> None:
    result = monitor("backtest", "--topic", "envoys", "--query", "credence OR strike",
                     "--since", "1d", "-c", str(stored))
    assert result.returncode == 0, result.stderr
    gained, lost = result.stdout.split("alerted, would not now (1):")
    assert "would alert now, did not (2):" in gained
    assert "Dock workers end their strike" in gained and "Envoy presents letters" in gained
    assert "rules: query:credence OR strike" in gained
    assert "Chile accepts the credentials" in lost and "matched then: " in lost
    document = json.loads(monitor("backtest", "--json", "--query", "credence", "--topic",
                                  "envoys", "-c", str(stored)).stdout)
    assert document["topics"] == ["envoys"] and document["items"] == 3
    assert [c["title"] for c in document["would_alert_now"]] == [ITEMS[2][1]]
    assert [(c["title"], c["source"], len(c["stories"]))
            for c in document["alerted_would_not"]] == [(ITEMS[0][1], "desk", 1)]


def test_bad_options_are_usage_errors(stored: Path) -> None:
    for args, said in ((("--topic", "nope"), "no topic named 'nope'"),
                       (("--query", "(credence"), "--query:"),
                       (("--since", "soon"), "--since")):
        result = monitor("backtest", *args, "-c", str(stored))
        assert result.returncode == 2 and said in result.stderr, result.stderr


NOW = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)


def item(id: int, title: str, alert: bool = True, *matches: PastMatch) -> StoredItem:  # noqa: A002
    return StoredItem(id=id, source="desk", url=f"https://desk.example/{id}", title=title,
                      summary="", published=None, first_seen=NOW, alert=alert,
                      matches=tuple(matches))


def test_recorded_only_items_are_not_gained_and_a_query_alone_has_its_own_name() -> None:
    topics = [TopicConfig(name="envoys", query="credentials")]
    built = {"envoys": build_classifier(topics[0])}
    items = [item(1, "Letters of credence presented", False),   # old on a first poll
             item(2, "Letters of credence accepted"),
             item(3, "New credentials", True, PastMatch("envoys", 7, False, "New"))]
    result = backtest(items, choose_classifiers(topics, built, None, "credence"), NOW)
    assert result.topics == ("query",)
    assert [c.item.id for c in result.gained] == [2] and result.lost == ()
    # a story recorded without alert (too old) did not alert: not "lost" now
    result = backtest(items, choose_classifiers(topics, built, "envoys", "nothing"), NOW)
    assert result.gained == () and result.lost == ()
    with pytest.raises(ConfigError, match="no topic named"):
        choose_classifiers(topics, built, "other", None)


def test_the_readme_shows_backtest_and_retention() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for text in ('`monitor backtest [--since 30d] [--topic NAME] [--query "..."] [--json]`',
                 '| `retention` | `"90d"` |', "### Retention", "benchmarks/retention.py",
                 '"would_alert_now"'):
        assert text in readme, text
