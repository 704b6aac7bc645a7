"""New ``[[sources]]`` entries: unique names, duplicates by URL, and their TOML text. PURE.

The config file is the user's, comments and all, so new sources are *appended* as text
rather than the file being re-serialised; this module writes that text. There is no TOML
writer in the standard library, and the entries need only basic strings and comments, so
they are emitted here with TOML's escapes (tests read them back with tomllib).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.sources.opml import OpmlDocument, OpmlSkip, one_line
from monitor.urls import DEFAULT_PORTS, without_credentials

MAX_NAME = 200          # SourceConfig.name's limit


@dataclass(frozen=True)
class Candidate:
    """A feed someone wants to add: its title (name to be), URL and notes kept as comments."""

    title: str
    url: str
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewSource:
    """A candidate given a name no other source has."""

    name: str
    url: str
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Duplicate:
    """A candidate skipped because a source (or an earlier candidate) has its URL."""

    title: str
    url: str
    existing: str       # that source's name


@dataclass(frozen=True)
class Plan:
    added: tuple[NewSource, ...]
    duplicates: tuple[Duplicate, ...]


def url_key(url: str) -> str:
    """Two spellings of one feed URL compare equal: scheme and host lower-cased, the
    default port, a trailing slash and a fragment dropped. Query strings are kept (a feed
    URL's query often selects the feed)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{path}{query}"


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` (one line, at most MAX_NAME characters), with " (2)", " (3)"... appended
    when another source already has that name."""
    base = one_line(wanted)[:MAX_NAME].strip()
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f" ({number})"
        name = base[: MAX_NAME - len(suffix)].rstrip() + suffix
    return name


def plan_sources(candidates: Iterable[Candidate],
                 existing: Iterable[tuple[str, str]]) -> Plan:
    """Which candidates become sources, and under which names.

    ``existing`` holds (name, url) of the configured sources. A candidate whose URL a
    source or an earlier candidate already has is a Duplicate; the others are named from
    their title, else their URL's host, made unique against every name in use.
    """
    names: set[str] = set()
    by_url: dict[str, str] = {}
    for name, url in existing:
        names.add(name)
        by_url.setdefault(url_key(url), name)
    added: list[NewSource] = []
    duplicates: list[Duplicate] = []
    for candidate in candidates:
        key = url_key(candidate.url)
        if key in by_url:
            duplicates.append(Duplicate(candidate.title, candidate.url, by_url[key]))
            continue
        wanted = one_line(candidate.title) or urlsplit(candidate.url).hostname or "feed"
        name = unique_name(wanted, names)
        names.add(name)
        by_url[key] = name
        added.append(NewSource(name, candidate.url, candidate.comments))
    return Plan(tuple(added), tuple(duplicates))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04X}")
        elif "\ud800" <= char <= "\udfff":      # not a Unicode scalar value: not encodable
            out.append("\ufffd")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_comment(text: str) -> str:
    """A one-line TOML comment: a newline in ``text`` cannot end it and start a key."""
    line = one_line(text).replace("\ufeff", "")
    line = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in line)
    return f"# {line}" if line else "#"


def render_sources(sources: Iterable[NewSource], heading: str = "") -> str:
    """``[[sources]]`` tables for the new sources, each preceded by its comments."""
    blocks = [toml_comment(heading) + "\n"] if heading else []
    for source in sources:
        lines = [toml_comment(c) for c in source.comments]
        lines += ["[[sources]]", f"name = {toml_string(source.name)}", 'type = "feed"',
                  f"url = {toml_string(source.url)}"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def candidates_from_opml(document: OpmlDocument) -> list[Candidate]:
    """The feeds of an OPML file as candidates; categories and the site URL become
    comments above each entry (the config has no keys for them)."""
    return [Candidate(feed.title, feed.xml_url,
                      (*(f"category: {c}" for c in feed.categories),
                       *([f"site: {feed.html_url}"] if feed.html_url else [])))
            for feed in document.feeds]


def plan_report(plan: Plan, skipped: Iterable[OpmlSkip] = ()) -> list[str]:
    """PURE. One line per entry left out, for stderr."""
    lines = [f"skipped {s.title or '(untitled outline)'!r}: {s.reason}" for s in skipped]
    lines += [f"skipped duplicate {d.title or d.url!r}: {without_credentials(d.url)} is "
              f"already source {d.existing!r}" for d in plan.duplicates]
    return lines
