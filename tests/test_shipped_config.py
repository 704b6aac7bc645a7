"""The shipped config, its commented examples, and the demo's config and sample sources."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from bs4 import BeautifulSoup

from monitor.config import (
    Config,
    EmailNotifierConfig,
    FileNotifierConfig,
    WebhookNotifierConfig,
    load_config,
    load_config_data,
)
from monitor.demo import demo_config_toml, demo_files, render_dates
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "monitor.toml"
NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
SECRET_VARS = ("MONITOR_SMTP_PASSWORD", "MONITOR_WEBHOOK_SECRET")


def commented_examples(text: str) -> list[str]:
    """The commented-out TOML blocks of a config: runs of "# " lines opened by "# [[...]]"."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("# [["):
            current = [line[2:]]
            blocks.append("")
        elif current is not None and line.startswith("# "):
            current.append(line[2:])
        else:
            current = None
            continue
        blocks[-1] = "\n".join(current) + "\n"
    return blocks


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shipped(no_secrets: None) -> Config:
    return load_config(SHIPPED)


# ---- the shipped config ----------------------------------------------------------------------

def test_shipped_config_runs_as_is_without_any_secret(shipped: Config) -> None:
    assert shipped.monitor.database == "data/monitor.db"
    assert shipped.monitor.max_age == timedelta(hours=48)
    assert "news-monitor" in shipped.monitor.user_agent
    assert not shipped.monitor.allow_private_networks


def test_shipped_config_tracks_the_recognition_topic(shipped: Config) -> None:
    [topic] = shipped.topics
    assert topic.name == "taliban-recognition"
    assert topic.event == "recognition"
    for entity in ("Taliban", "Islamic Emirate of Afghanistan", "Afghan interim government"):
        assert entity in topic.entities


def test_shipped_config_delivers_to_a_local_file_at_once(shipped: Config) -> None:
    [notifier] = shipped.notifiers
    assert isinstance(notifier, FileNotifierConfig)
    assert notifier.name == "local-file"
    assert notifier.path == "data/digests.log"
    assert notifier.schedule == "immediate"


def test_shipped_sources_are_https_feeds_with_sane_intervals(shipped: Config) -> None:
    assert 8 <= len(shipped.sources) <= 15
    hosts = set()
    for source in shipped.sources:
        parts = urlsplit(source.url)
        assert parts.scheme == "https", source.name
        assert parts.hostname and "example" not in parts.hostname, source.name
        assert source.type == "feed", source.name
        assert timedelta(minutes=5) <= shipped.interval(source) <= timedelta(hours=1)
        hosts.add(parts.hostname)
    assert len(hosts) >= 8, "the feeds should come from many outlets"


def test_shipped_sources_include_a_news_search_for_the_topic(shipped: Config) -> None:
    searches = [s for s in shipped.sources if "search" in urlsplit(s.url).path]
    assert searches, "expected a news search feed"
    assert any("taliban" in urlsplit(s.url).query.lower() for s in searches)


def test_commented_examples_are_valid_notifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    blocks = commented_examples(text)
    assert len(blocks) == 3  # email, webhook, operator
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", "hook-secret")
    config = load_config_data(tomllib.loads(text + "\n" + "\n".join(blocks)), str(SHIPPED))
    by_type = {type(n) for n in config.notifiers}
    assert by_type == {FileNotifierConfig, EmailNotifierConfig, WebhookNotifierConfig}
    email = next(n for n in config.notifiers if isinstance(n, EmailNotifierConfig)
                 and not n.operator)
    assert email.password is not None and email.password.get_secret_value() == "smtp-secret"
    assert email.topics == ("taliban-recognition",)
    webhook = next(n for n in config.notifiers if isinstance(n, WebhookNotifierConfig))
    assert webhook.secret is not None and webhook.secret.get_secret_value() == "hook-secret"
    [operator] = [n for n in config.notifiers if n.operator]
    assert operator.alert_after == timedelta(hours=6)


def test_commented_examples_need_their_secret_variables(no_secrets: None) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    email_block = next(b for b in commented_examples(text) if "password_env" in b)
    with pytest.raises(ConfigError, match="MONITOR_SMTP_PASSWORD"):
        load_config_data(tomllib.loads(text + "\n" + email_block))


def test_commented_examples_reader_sees_every_block() -> None:
    text = ("a = 1\n# prose\n# [[notifiers]]\n# name = \"x\"  # note\n# type = \"file\"\n\n"
            "# [[notifiers]]\n# name = \"y\"\nb = 2\n")
    assert commented_examples(text) == ["[[notifiers]]\nname = \"x\"  # note\ntype = \"file\"\n",
                                        "[[notifiers]]\nname = \"y\"\n"]


# ---- the demo config ---------------------------------------------------------------------------

@pytest.fixture
def demo_config(tmp_path: Path) -> tuple[Config, Path]:
    data_dir = tmp_path / "demo data"
    path = tmp_path / "demo.toml"
    path.write_text(demo_config_toml("http://127.0.0.1:8765/", str(data_dir)), encoding="utf-8")
    return load_config(path), data_dir


def test_demo_config_loads_and_keeps_state_in_the_data_dir(
        demo_config: tuple[Config, Path]) -> None:
    config, data_dir = demo_config
    assert Path(config.monitor.database).parent == data_dir
    assert config.monitor.min_host_interval == timedelta(0)
    assert [t.name for t in config.topics] == ["taliban-recognition"]
    assert config.topics[0].event == "recognition"
    [notifier] = config.notifiers
    assert isinstance(notifier, FileNotifierConfig)
    assert Path(notifier.path) == data_dir / "digests.log"
    assert notifier.schedule == "immediate"


def test_demo_config_points_every_source_at_a_served_file(
        demo_config: tuple[Config, Path]) -> None:
    config, _ = demo_config
    files = demo_files(NOW)
    assert len(config.sources) == len(files) == 3
    for source in config.sources:
        assert source.url.startswith("http://127.0.0.1:8765/")
        assert urlsplit(source.url).path in files
    assert {s.type for s in config.sources} == {"feed", "page"}
    page = next(s for s in config.sources if s.type == "page")
    assert page.item_selector and page.link_selector and page.title_selector


def test_demo_config_escapes_odd_paths(tmp_path: Path) -> None:
    odd = str(tmp_path / 'quote" back\\slash é')
    config = load_config_data(tomllib.loads(demo_config_toml("http://127.0.0.1:1", odd)))
    assert config.monitor.database == str(Path(odd) / "monitor.db")


# ---- the demo's sample sources ---------------------------------------------------------------

def test_render_dates_fills_every_placeholder_relative_to_now() -> None:
    text = "{{NOW}} {{NOW-90m}} {{NOW_RFC822}} {{NOW_RFC822-2h}}"
    assert render_dates(text, NOW) == ("2025-07-03T12:00:00Z 2025-07-03T10:30:00Z "
                                       "Thu, 03 Jul 2025 12:00:00 GMT "
                                       "Thu, 03 Jul 2025 10:00:00 GMT")
    with pytest.raises(ValueError):
        render_dates(text, NOW.replace(tzinfo=None))


def _feed_entries(files: dict[str, tuple[bytes, str]]) -> list[feedparser.FeedParserDict]:
    entries = []
    for path, (body, content_type) in files.items():
        if "html" in content_type:
            continue
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version in ("rss20", "atom10"), path
        entries.extend(parsed.entries)
    return entries


def test_demo_files_are_dated_within_max_age_of_now() -> None:
    files = demo_files(NOW)
    assert {ct.split(";")[0] for _, ct in files.values()} == {
        "application/rss+xml", "application/atom+xml", "text/html"}
    for path, (body, _) in files.items():
        assert b"{{" not in body, path
    entries = _feed_entries(files)
    assert len(entries) >= 8
    for entry in entries:
        raw = entry.get("published") or entry.get("updated")
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = datetime.fromisoformat(raw)
        assert NOW - timedelta(hours=48) < when <= NOW, entry.title


def test_demo_files_mix_recognition_stories_and_decoys() -> None:
    files = demo_files(NOW)
    titles = [e.title for e in _feed_entries(files)]
    page = BeautifulSoup(files["/sample-times.html"][0], "html.parser")
    items = page.select("article.story")
    assert len(items) >= 3
    titles += [item.select_one("h2").get_text(strip=True) for item in items]
    for item in items:
        assert item.select_one("h2 a")["href"].startswith("https://")
        assert item.select_one("p.standfirst").get_text(strip=True)
    text = "\n".join(titles).lower()
    for needle in ("credentials", "until women's rights", "un credentials", "banned",  # events
                   "earthquake", "facial recognition", "recognition award", "palestine"):
        assert needle in text, needle
    uzbek = [t for t in titles if t.startswith("Uzbekistan")]
    assert len(uzbek) == 2, "the same story from two outlets shows story grouping"


def test_demo_duplicate_story_reads_alike_to_the_story_grouper() -> None:
    stories = pytest.importorskip("monitor.stories")
    if not hasattr(stories, "similarity") or not hasattr(stories, "THRESHOLD"):
        pytest.skip("monitor.stories has no similarity()/THRESHOLD")
    entries = _feed_entries(demo_files(NOW))
    first, second = [e for e in entries if e.title.startswith("Uzbekistan")]
    same = stories.similarity(first.title, first.summary, second.title, second.summary)
    assert same >= stories.THRESHOLD
    # Other stories may share words ("recognise the Taliban government"); the grouper also
    # needs the same category and acting state. Here: the pair reads most alike.
    for other in entries:
        if other is not first and other is not second:
            assert stories.similarity(first.title, first.summary,
                                      other.title, other.summary) < same
            assert stories.similarity(second.title, second.summary,
                                      other.title, other.summary) < same


# ---- Dockerfile and systemd unit -------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines  # type: ignore[misc]
            if line and not line.startswith("#")]


def test_dockerfile_runs_the_daemon_as_a_non_root_user() -> None:
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    values = {}
    for keyword, value in instructions:
        values.setdefault(keyword, []).append(value)
    assert values["USER"][-1] not in ("root", "0")
    assert values["ENTRYPOINT"] == ['["monitor"]'] and values["CMD"] == ['["run"]']
    assert values["WORKDIR"] == ["/app"]
    assert "MONITOR_CONFIG=/app/config/monitor.toml" in " ".join(values["ENV"])
    assert "/app/config" in values["VOLUME"][0] and "/app/data" in values["VOLUME"][0]
    # The shipped config's relative paths land in the data volume.
    assert load_config(SHIPPED).monitor.database.startswith("data/")


def test_dockerfile_copies_only_what_the_build_context_keeps() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    sources = []
    for keyword, value in _dockerfile():
        if keyword == "COPY":
            sources += value.split()[:-1]
    assert "monitor" in sources and "pyproject.toml" in sources
    for source in sources:
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
        if source != "README.md":  # the README is written beside this work
            assert (ROOT / source).exists(), source
    for secret_or_state in (".git", "data", "*.env", ".venv", "__pycache__"):
        assert secret_or_state in ignored


def test_systemd_unit_is_hardened_and_runs_monitor_run() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "news-monitor.service", encoding="utf-8")
    service = unit["Service"]
    program, *arguments = service["ExecStart"].split()
    assert Path(program).name == "monitor" and arguments == ["run"]
    assert service["User"] not in ("root", "0")
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["WorkingDirectory"] in service["ReadWritePaths"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# ---- the demo through the project's own stages (when they exist) ----------------------------

RECOGNITION_STORIES = ("Uzbekistan", "Norway", "UN credentials", "Kyrgyzstan")


def _demo_items() -> list[tuple[str, str]]:
    """(title, summary) of every demo item, read with feedparser and bs4 directly."""
    files = demo_files(NOW)
    items = [(e.title, e.summary) for e in _feed_entries(files)]
    page = BeautifulSoup(files["/sample-times.html"][0], "html.parser")
    items += [(a.select_one("h2").get_text(strip=True),
               a.select_one("p.standfirst").get_text(strip=True))
              for a in page.select("article.story")]
    return items


def test_demo_files_parse_with_the_parse_stage(demo_config: tuple[Config, Path]) -> None:
    parse = pytest.importorskip("monitor.parse")
    config, _ = demo_config
    files = demo_files(NOW)
    titles = []
    for source in config.sources:
        body, content_type = files[urlsplit(source.url).path]
        if source.type == "feed":
            parsed = parse.parse_feed(body, source.url, content_type)
        else:
            parsed = parse.parse_page(
                body, source.url, item_selector=source.item_selector,
                link_selector=source.link_selector, title_selector=source.title_selector,
                summary_selector=source.summary_selector, content_type=content_type)
        assert parsed.items, source.name
        for item in parsed.items:
            assert item.url.startswith("https://"), item
            assert item.title and item.guid
            assert item.published is not None, item  # pages too: <time datetime>
            assert NOW - timedelta(hours=48) < item.published <= NOW
        titles += [item.title for item in parsed.items]
    assert sorted(titles) == sorted(title for title, _ in _demo_items())


def test_demo_alerts_exactly_the_recognition_stories(demo_config: tuple[Config, Path]) -> None:
    classify = pytest.importorskip("monitor.classify")
    if not hasattr(classify, "build_classifier"):
        pytest.skip("monitor.classify has no build_classifier()")
    config, _ = demo_config
    classifier = classify.build_classifier(config.topics[0])
    verdicts = {title: classifier.classify(title, summary) for title, summary in _demo_items()}
    matched = {title for title, verdict in verdicts.items() if verdict.match}
    expected = {title for title in verdicts if title.startswith(RECOGNITION_STORIES)}
    assert len(expected) == 5
    assert matched == expected
    categories = {verdicts[title].category for title in matched}
    assert categories == {"recognition_granted", "recognition_step",
                          "recognition_refused_or_debated"}
    # Both outlets' reports of the same story get the same category, so they can group.
    uzbek = {verdicts[t].category for t in matched if t.startswith("Uzbekistan")}
    assert len(uzbek) == 1


def _install_steps() -> list[list[str]]:
    """The `install` commands of the systemd unit's header, as argument lists."""
    steps = []
    for line in (ROOT / "deploy" / "news-monitor.service").read_text().splitlines():
        command = line.lstrip("#").split("#", 1)[0].strip()
        if command.startswith("install "):
            steps.append(shlex.split(command))
    return steps


def test_systemd_install_steps_let_the_service_user_read_its_config() -> None:
    # Each folder on the way to the config must let the service's group in, and the file
    # must be readable by it: a root-owned 0750 folder left the unit unable to start.
    made: dict[str, tuple[str, str | None]] = {}     # path -> (mode, group)
    for argv in _install_steps():
        mode = argv[argv.index("-m") + 1] if "-m" in argv else "0755"
        group = argv[argv.index("-g") + 1] if "-g" in argv else None
        made[argv[-1]] = (mode, group)
    config = "/etc/news-monitor/monitor.toml"
    assert config in made
    for path in ("/etc/news-monitor", config):
        mode, group = made[path]
        needed = 0o5 if path != config else 0o4      # folders: read + enter; file: read
        by_others = int(mode, 8) & needed == needed
        by_group = group == "news-monitor" and (int(mode, 8) >> 3) & needed == needed
        assert by_others or by_group, f"{path} ({mode}, group {group}) unreadable by the service"


def _docker_run_snippets() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    header = "\n".join(line.lstrip("#") for line in dockerfile.splitlines()
                       if line.startswith("#"))
    snippets = [block for block in re.findall(r"```sh\n(.*?)```", readme, re.S)
                if "docker run -d" in block]
    return [*snippets, header]


def test_docker_stop_timeout_outlasts_the_daemons_grace() -> None:
    from monitor.scheduler import STOP_GRACE_SECONDS

    snippets = _docker_run_snippets()
    assert len(snippets) == 2
    for text in snippets:
        timeout = re.search(r"docker run -d [^\n]*--stop-timeout (\d+)", text)
        assert timeout and int(timeout.group(1)) > STOP_GRACE_SECONDS + 5, text
    compose = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    grace = re.search(r"^\s*stop_grace_period:\s*(\d+)s\s*$", compose, re.M)
    assert grace and int(grace.group(1)) > STOP_GRACE_SECONDS + 5


def test_docker_env_file_example_works_without_secrets() -> None:
    # `docker run --env-file F` fails when F is missing: the example makes it first.
    for text in _docker_run_snippets():
        env_file = re.search(r"--env-file (\S+)", text)
        assert env_file, text
        assert re.search(rf"^\s*touch {re.escape(env_file.group(1))}\b", text, re.M), text
    compose = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    assert re.search(r"required:\s*false", compose)


def test_compose_runs_postgres_and_two_nodes_with_secrets_from_the_environment() -> None:
    """deploy/compose.yaml parses; the postgres profile's nodes reach the server by the
    variable the README tells the config to name, the password only from the environment."""
    from monitor.scheduler import STOP_GRACE_SECONDS

    yaml = pytest.importorskip("yaml")   # PyYAML comes with apprise, a test dependency
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["db"]["profiles"] == ["postgres"]
    assert services["news-monitor"]["profiles"] == ["sqlite"]
    nodes = [s for s in services.values() if s.get("profiles") == ["postgres"]
             and s.get("command") == ["run"]]
    assert len(nodes) == 2
    password = services["db"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${MONITOR_DB_PASSWORD:?")
    for node in nodes:
        assert int(node["stop_grace_period"].rstrip("s")) > STOP_GRACE_SECONDS + 5
        assert node["depends_on"]["db"]["condition"] == "service_healthy"
        assert node["environment"]["PGPASSWORD"] == password
        url = node["environment"]["MONITOR_DATABASE_URL"]
        assert urlsplit(url).password is None and urlsplit(url).hostname == "db"
    assert len({tuple(n["volumes"]) for n in nodes}) == 2   # each node its own data folder


def test_the_compose_nodes_config_line_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://monitor@db:5432/monitor")
    config = load_config_data({"monitor": {"database_env": "MONITOR_DATABASE_URL"},
                               "topics": [{"name": "t", "query": "x"}]})
    assert config.monitor.database == "postgresql://monitor@db:5432/monitor"
