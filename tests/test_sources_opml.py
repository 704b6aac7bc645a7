"""`monitor sources import` / `export`: OPML in, [[sources]] TOML out, and back.

OPML files are untrusted XML (entities are refused); names and comments written into the
user's config must read back exactly (tomllib), and --write must keep the user's file.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import load_config_data
from monitor.errors import ConfigError, ParseError
from monitor.sources.config_file import append_to_config
from monitor.sources.entries import (
    Candidate,
    NewSource,
    candidates_from_opml,
    plan_sources,
    render_sources,
    toml_string,
)
from monitor.sources.opml import MAX_TEXT, ExportedFeed, parse_opml, render_opml
from monitor.sources.opml import one_line as opml_line
from monitor.text import one_line as text_line

OPML2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reading list</title></head>
  <body>
    <outline text="Regional">
      <outline text="Asia">
        <outline type="rss" text="Harbour Courier" title="The Harbour Courier"
                 xmlUrl="https://courier.example/rss.xml" htmlUrl="https://courier.example/"/>
      </outline>
      <outline type="rss" text="Valley Post" xmlUrl="https://valley.example/atom"
               category="/Politics,/Economy/Trade"/>
    </outline>
    <outline text="An empty note"/>
    <outline text="Mail feed" xmlUrl="mailto:desk@example.org"/>
  </body>
</opml>"""

OPML1 = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>old</title></head><body>
<outline title="Plains Herald" type="rss" xmlurl="http://plains.example/feed" htmlurl="http://plains.example"/>
</body></opml>"""


def test_opml2_nested_folders_become_categories_and_html_url_is_kept() -> None:
    doc = parse_opml(OPML2)
    assert doc.title == "Reading list"
    assert [(f.title, f.xml_url, f.html_url, f.categories) for f in doc.feeds] == [
        ("The Harbour Courier", "https://courier.example/rss.xml", "https://courier.example/",
         ("Regional/Asia",)),
        ("Valley Post", "https://valley.example/atom", None,
         ("Regional", "Politics", "Economy/Trade")),
    ]
    assert [(s.title, s.reason.split()[0]) for s in doc.skipped] == [
        ("An empty note", "no"), ("Mail feed", "xmlUrl")]


def test_opml1_lower_case_attributes() -> None:
    (feed,) = parse_opml(OPML1).feeds
    assert (feed.title, feed.xml_url, feed.html_url) == (
        "Plains Herald", "http://plains.example/feed", "http://plains.example")


def test_categories_and_site_become_comments_in_the_toml() -> None:
    plan = plan_sources(candidates_from_opml(parse_opml(OPML2)), [])
    text = render_sources(plan.added, "Imported from list.opml")
    assert "# category: Regional/Asia\n# site: https://courier.example/\n[[sources]]" in text
    data = tomllib.loads(text)
    assert data["sources"] == [
        {"name": "The Harbour Courier", "type": "feed", "url": "https://courier.example/rss.xml"},
        {"name": "Valley Post", "type": "feed", "url": "https://valley.example/atom"}]


SECRET = "do-not-read-this-secret-line"


@pytest.mark.parametrize("doctype", [
    # billion laughs: nested internal entities
    '<!ENTITY a "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
              for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
    # external entity (XXE) naming a local file
    '<!ENTITY x SYSTEM "file://{secret}">',
    # a harmless-looking internal entity: refused too, OPML needs none
    '<!ENTITY y "plain">',
])
def test_entities_are_refused(tmp_path: Path, doctype: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    doctype = doctype.replace("{secret}", str(secret))
    body = (f'<?xml version="1.0"?><!DOCTYPE opml [{doctype}]><opml version="2.0"><body>'
            f'<outline text="&{doctype.split()[1]};" xmlUrl="https://e.example/"/>'
            f"</body></opml>").encode()
    with pytest.raises(ParseError) as caught:
        parse_opml(body)
    assert SECRET not in str(caught.value)


def test_not_opml_is_a_parse_error() -> None:
    for body in (b"", b"<rss version='2.0'/>", b"<opml><head/></opml>", b"<opml><body>"):
        with pytest.raises(ParseError):
            parse_opml(body)


HOSTILE = ['say "hi"', "back\\slash", "two\nlines", "tab\there", "\u00e9t\u00e9 \u6771\u4eac",
           "bell\x07", "\U0001f4f0 news", "[[sources]]\nname = \"x\"", "# not a comment",
           "'single'", "trailing\\"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_round_trip_through_tomllib_and_the_config(name: str) -> None:
    text = render_sources([NewSource(name, "https://h.example/", (name,))], name)
    data = tomllib.loads(text)
    assert data["sources"] == [{"name": name, "type": "feed", "url": "https://h.example/"}]
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}], **data})
    assert config.sources[0].name == name


@given(st.text())
def test_any_string_round_trips(value: str) -> None:
    expected = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    assert tomllib.loads(f"k = {toml_string(value)}")["k"] == expected


def test_names_are_made_unique_and_duplicate_urls_skipped() -> None:
    plan = plan_sources(
        [Candidate("Desk", "https://desk.example/rss"),
         Candidate("Desk", "https://other.example/rss"),
         Candidate("Another", "HTTPS://Desk.Example:443/rss/"),   # same feed, other spelling
         Candidate("", "https://untitled.example/feed")],
        [("Desk", "https://first.example/rss"), ("Mine", "https://desk.example/rss")])
    assert [d.existing for d in plan.duplicates] == ["Mine", "Mine"]
    assert [(s.name, s.url) for s in plan.added] == [
        ("Desk (2)", "https://other.example/rss"), ("untitled.example",
                                                    "https://untitled.example/feed")]


CONFIG = """# my monitor config: this comment must survive
[monitor]
database = "{db}"   # inline comment too

[[topics]]
name = "t"
event = "recognition"

[[sources]]
name = "Harbour"
url = "https://courier.example/rss.xml"

[[notifiers]]
name = "f"
type = "file"
path = "{db}.log"
"""


def monitor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=120)


def test_import_prints_toml_and_reports_duplicates(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(CONFIG.format(db=tmp_path / "m.db"))
    opml = tmp_path / "list.opml"
    opml.write_bytes(OPML2)
    result = monitor("sources", "import", str(opml), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["sources"] == [
        {"name": "Valley Post", "type": "feed", "url": "https://valley.example/atom"}]
    assert "already source 'Harbour'" in result.stderr
    assert "'An empty note': no xmlUrl" in result.stderr
    assert config.read_text() == CONFIG.format(db=tmp_path / "m.db")   # not written


def test_import_write_appends_validates_and_keeps_a_backup(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    original = CONFIG.format(db=tmp_path / "m.db")
    config.write_text(original)
    opml = tmp_path / "list.opml"
    opml.write_bytes(OPML2.replace(b"Valley Post", b"Harbour"))   # a name already taken
    result = monitor("sources", "import", str(opml), "--write", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "added 1 source" in result.stdout
    text = config.read_text()
    assert text.startswith(original.rstrip("\n"))       # comments and layout kept
    assert (tmp_path / "monitor.toml.bak").read_text() == original
    sources = load_config_data(tomllib.loads(text)).sources
    assert [(s.name, s.url) for s in sources] == [
        ("Harbour", "https://courier.example/rss.xml"),
        ("Harbour (2)", "https://valley.example/atom")]
    # Again: everything is a duplicate now, nothing is written.
    again = monitor("sources", "import", str(opml), "--write", "-c", str(config))
    assert again.returncode == 0 and "no new source" in again.stdout
    assert config.read_text() == text


def test_write_refuses_a_result_that_is_not_a_valid_config(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    # An inline `sources` array cannot take [[sources]] tables after it.
    original = ('sources = []\n[[topics]]\nname = "t"\nevent = "recognition"\n')
    config.write_text(original)
    with pytest.raises(ConfigError, match="nothing was written"):
        append_to_config(config, render_sources([NewSource("n", "https://n.example/")]))
    assert config.read_text() == original
    assert not (tmp_path / "monitor.toml.bak").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["monitor.toml"]   # no temporary left


def test_export_writes_opml2_of_feed_sources_that_reads_back(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(CONFIG.format(db=tmp_path / "m.db") + """
[[sources]]
name = "Locked <&> \\"desk\\""
url = "https://reader:s3cret@locked.example/feed"

[[sources]]
name = "A page"
type = "page"
url = "https://page.example/"
item_selector = "article"
link_selector = "a"
""")
    result = subprocess.run([sys.executable, "-m", "monitor", "sources", "export", "-c",
                             str(config)], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"s3cret" not in result.stdout and b"credentials" in result.stderr
    doc = parse_opml(result.stdout)
    assert [(f.title, f.xml_url) for f in doc.feeds] == [
        ("Harbour", "https://courier.example/rss.xml"),
        ('Locked <&> "desk"', "https://locked.example/feed")]
    assert b'<opml version="2.0">' in result.stdout


def test_render_opml_escapes_and_drops_control_characters() -> None:
    body = render_opml([ExportedFeed("bell\x07 & <tag>", "https://x.example/?a=1&b=2")],
                       "t", datetime(2024, 1, 2, tzinfo=UTC))
    (feed,) = parse_opml(body).feeds
    assert (feed.title, feed.xml_url) == ("bell & <tag>", "https://x.example/?a=1&b=2")


@given(st.text())
def test_an_imported_title_is_one_line_by_the_alert_rule_and_shows_nothing_invisible(
        text: str) -> None:
    """The OPML reader cleans a title by the one-line rule of alerts (monitor.text), and
    drops the invisible characters a config name should not hide (format characters)."""
    title = opml_line(text)
    assert text_line(title, MAX_TEXT) == title
    assert all(c.isprintable() for c in title) and len(title) <= MAX_TEXT


def test_an_imported_title_loses_hidden_characters_and_line_breaks() -> None:
    assert opml_line(" Desk\u200b\u202e \tnews\r\n\x07wire ") == "Desk news wire"
