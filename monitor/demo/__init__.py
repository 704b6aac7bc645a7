"""Bundled sample sources for ``monitor demo``: invented stories, served on loopback.

Three fictional outlets, one per source type the monitor reads:

- ``/demo-wire.rss``        RSS 2.0, "Demo Wire - World"
- ``/example-gazette.atom`` Atom 1.0, "Example Gazette - Asia"
- ``/sample-times.html``    an HTML listing page, "Sample Times - Afghanistan desk"

They mix recognition stories (an ambassador's credentials accepted, reported by two outlets
so that they group into one story; a refusal "until women's rights are restored"; a UN
credentials debate; a removal from a banned-organisations list) with decoys (other Taliban
news, and "recognition" in other senses; two of them a keyword filter would send). Dates in
the files are placeholders, ``{{NOW}}`` / ``{{NOW-2h}}`` (RFC 3339) and ``{{NOW_RFC822}}`` /
``{{NOW_RFC822-40m}}``, filled in relative to the time the demo serves them, so that no item
is older than ``max_age`` on the first poll.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path

from monitor.config import parse_duration
from monitor.digest import iso_utc

TOPIC = "taliban-recognition"
ENTITIES = ("Taliban", "Islamic Emirate of Afghanistan", "IEA", "Afghan interim government",
            "Afghan de facto authorities")

# served path -> (packaged file name, content type)
_FILES = {
    "/demo-wire.rss": ("demo-wire.rss", "application/rss+xml; charset=utf-8"),
    "/example-gazette.atom": ("example-gazette.atom", "application/atom+xml; charset=utf-8"),
    "/sample-times.html": ("sample-times.html", "text/html; charset=utf-8"),
}

_PLACEHOLDER = re.compile(r"\{\{NOW(?P<rfc822>_RFC822)?(?:-(?P<ago>[0-9smhd]+))?\}\}")


def render_dates(template: str, now: datetime) -> str:
    """PURE: replace the ``{{NOW...}}`` placeholders of a sample file with real times.

    ``{{NOW}}`` becomes RFC 3339 (Atom), ``{{NOW_RFC822}}`` RFC 822 (RSS); an optional
    ``-<duration>`` suffix ("-40m", "-2h") moves the time back. ``now`` must be aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(microsecond=0)

    def _replace(match: re.Match[str]) -> str:
        ago = parse_duration(match["ago"]) if match["ago"] else timedelta(0)
        when = now - ago
        if match["rfc822"]:
            return format_datetime(when, usegmt=True)
        return iso_utc(when)

    return _PLACEHOLDER.sub(_replace, template)


def demo_files(now: datetime) -> dict[str, tuple[bytes, str]]:
    """The sample sources to serve: URL path -> (body, content type), dated relative to ``now``."""
    package = resources.files(__name__)
    files: dict[str, tuple[bytes, str]] = {}
    for path, (name, content_type) in _FILES.items():
        template = (package / name).read_text(encoding="utf-8")
        files[path] = (render_dates(template, now).encode("utf-8"), content_type)
    return files


def _toml_str(value: str) -> str:
    # A JSON string literal is a valid TOML basic string (same escapes, \uXXXX included).
    return json.dumps(value)


def demo_config_toml(base_url: str, data_dir: str) -> str:
    """PURE: a config for the demo: the sample sources at ``base_url``, state under ``data_dir``.

    One topic (taliban-recognition), three sources (RSS, Atom, page with its selectors),
    one file notifier writing ``data_dir/digests.log`` at once. The sources are on loopback,
    so private networks are allowed and there is no per-host delay.
    """
    base = base_url.rstrip("/")
    data = Path(data_dir)
    entities = ", ".join(_toml_str(e) for e in ENTITIES)
    return f"""\
# news-monitor demo config: fictional sample sources served on loopback.

[monitor]
database = {_toml_str(str(data / "monitor.db"))}
user_agent = "news-monitor-demo/0.1 (+loopback demo)"
poll_interval = "15m"
max_age = "48h"
max_per_host = 4
min_host_interval = "0s"
allow_private_networks = true     # the demo sources are on 127.0.0.1
fetch_articles = "never"          # the sample stories link to articles nobody serves

[[topics]]
name = {_toml_str(TOPIC)}
event = "recognition"
entities = [{entities}]

[[sources]]
name = "Demo Wire"
type = "feed"
url = {_toml_str(base + "/demo-wire.rss")}

[[sources]]
name = "Example Gazette"
type = "feed"
url = {_toml_str(base + "/example-gazette.atom")}

[[sources]]
name = "Sample Times"
type = "page"
url = {_toml_str(base + "/sample-times.html")}
item_selector = "article.story"
link_selector = "h2 a"
title_selector = "h2"
summary_selector = "p.standfirst"

[[notifiers]]
name = "local-file"
type = "file"
path = {_toml_str(str(data / "digests.log"))}
schedule = "immediate"
"""
