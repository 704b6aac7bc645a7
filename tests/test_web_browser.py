"""The status page in a real browser: Debian's chromium, driven by Playwright, opens the page
of a live `monitor run` that polled loopback feeds.

Without chromium (or Playwright) these tests skip with the reason; with MONITOR_TEST_BROWSER
set (CI sets it to /usr/bin/chromium) they fail instead. The screenshots are written under
the test's tmp dir (their paths printed: `pytest -s`); MONITOR_DOCS_SCREENSHOT=PATH also
writes the desktop one there (docs/status-page.png in the README).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.livedaemon import Feed, Hook, LiveDaemon
from tests.loopback import LoopbackHTTPServer, wait_for

BROWSER_ENV = "MONITOR_TEST_BROWSER"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HOSTILE = ('<script>window.__pwned = 1; document.title = "pwned"</script>'
           "Russia recognises the Taliban government")
WIRE = [
    ("w-1", HOSTILE, "Moscow accepted the credentials of the Taliban-appointed ambassador, "
                     "the first state to do so."),
    ("w-2", "Kazakhstan accepts credentials of Taliban envoy",
     "Astana accepted the credentials of the Taliban's ambassador on Monday."),
    ("w-3", "Weather in Kabul: a dry week ahead", "Sunny and dry."),
]
GAZETTE = [
    ("g-1", "Kazakhstan accepts the credentials of the Taliban's envoy",
     "Astana accepted the credentials of an ambassador appointed by the Taliban."),
    ("g-2", "Germany will not recognise the Taliban, minister says",
     "Berlin ruled out recognising the Taliban government while women are barred from "
     "schools."),
]


def chromium() -> str:
    """The chromium to drive; skips (fails when BROWSER_ENV is set) when it or Playwright
    is missing."""
    required = os.environ.get(BROWSER_ENV)
    path = required or shutil.which("chromium") or "/usr/bin/chromium"
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed: pip install -e '.[test]'"
    if not os.access(path, os.X_OK):
        problem = f"no chromium at {path}: apt-get install chromium"
    if problem is not None:
        if required:
            pytest.fail(f"{BROWSER_ENV}={required} asks for the browser tests: {problem}")
        pytest.skip(problem)
    return path


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def config(wire: Feed, gazette: Feed, broken: str, hook: Hook) -> str:
    return f"""
[[topics]]
name = "taliban-recognition"
event = "recognition"

[[sources]]
name = "Wire One"
url = "{wire.url}"
interval = "1h"

[[sources]]
name = "Kabul Gazette"
url = "{gazette.url}"
interval = "1h"

[[sources]]
name = "Broken feed"
url = "{broken}"
interval = "1h"

[[notifiers]]
name = "ops-webhook"
type = "webhook"
url = "{hook.url}"
"""


def api(daemon: LiveDaemon, path: str) -> Any:
    return requests.get(daemon.url(path), timeout=10).json()


def screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_the_status_page_in_a_browser(tmp_path: Path, browser: Any) -> None:
    with LoopbackHTTPServer() as server:
        wire, gazette = Feed(server, "/wire.rss", WIRE), Feed(server, "/gazette.rss", GAZETTE)
        hook = Hook(server)
        hook.status = 400                  # the webhook refuses: the digest is dead
        with LiveDaemon(tmp_path, config(wire, gazette, server.url("/missing.xml"), hook)) \
                as daemon:
            # The three stories reach the webhook in one or two digests (as the two feeds'
            # polls end), each refused for good.
            wait_for(lambda: sum(d["stories"] for d in api(
                daemon, "/api/v1/deliveries?state=dead")["deliveries"]) == 3, 20)
            dead = api(daemon, "/api/v1/deliveries?state=dead")["deliveries"]
            wait_for(lambda: all(s["last_status"] for s in api(daemon, "/api/v1/sources")[
                "sources"]), 20)

            page = browser.new_page(viewport={"width": 1280, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message),
                                              dialog.dismiss()))
            page.goto(daemon.url("/"))
            # The stories, each outlet's link, the failing source and its error.
            hostile = page.locator("article h3", has_text="Russia recognises")
            assert hostile.inner_text() == HOSTILE          # the script is shown as text
            for title in ("Kazakhstan accepts credentials of Taliban envoy",
                          "Germany will not recognise the Taliban, minister says"):
                assert page.get_by_role("link", name=title, exact=True).first.is_visible()
            grouped = page.locator("article", has_text="Kazakhstan accepts credentials")
            assert grouped.locator("li a").count() == 2     # Wire One and Kabul Gazette
            broken = page.locator("tr", has_text="Broken feed")
            assert broken.locator(".badge").inner_text() == "failing"
            assert "FetchError: HTTP 404" in broken.inner_text()
            # ... and the script did not run.
            assert page.evaluate("window.__pwned") is None
            assert page.title() == "news-monitor: 3 sources" and dialogs == []
            screenshot(page, tmp_path / "status-page.png")
            docs = os.environ.get("MONITOR_DOCS_SCREENSHOT")
            if docs:
                screenshot(page, Path(docs))

            # The retry button: a dead delivery is sent again, and taken this time.
            hook.status = 204
            row = page.locator("tr", has_text=dead[0]["id"])
            assert row.locator(".badge").inner_text() == "dead"
            row.get_by_role("button", name="Retry now").click()
            page.wait_for_url(lambda url: url.endswith("/?done=retried"))
            assert page.get_by_role("status").inner_text().startswith("The delivery was made")
            wait_for(lambda: hook.received() == len(dead) + 1, 15)
            wait_for(lambda: dead[0]["id"] in [d["id"] for d in api(
                daemon, "/api/v1/deliveries?state=delivered")["deliveries"]], 15)
            page.reload()
            assert page.locator("tr", has_text=dead[0]["id"]).count() == 0
            assert page.locator("tr", has_text="ops-webhook").count() == len(dead) - 1

            # The page of the failing source, and its poll-now button.
            page.get_by_role("link", name="Broken feed").click()
            page.wait_for_url("**/sources/Broken%20feed")
            assert "FetchError: HTTP 404" in page.locator("dl.state").inner_text()
            page.get_by_role("button", name="Poll now").click()
            page.wait_for_url(lambda url: url.endswith("/sources/Broken%20feed?done=polled"))
            wait_for(lambda: api(daemon, "/api/v1/sources/Broken%20feed")["source"][
                "consecutive_failures"] == 2, 15)
            page.reload()
            assert page.locator("table.cards tbody tr").count() == 2   # its two polls
            screenshot(page, tmp_path / "source-page.png")

            phone = browser.new_page(viewport={"width": 390, "height": 844},
                                     is_mobile=True, device_scale_factor=2)
            phone.goto(daemon.url("/"))
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            screenshot(phone, tmp_path / "status-page-phone.png")
            assert daemon.stop() == 0


def test_without_chromium_the_browser_tests_skip_unless_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium at .*apt-get install"):
        chromium()
    monkeypatch.setenv(BROWSER_ENV, "/opt/nowhere/chromium")
    with pytest.raises(pytest.fail.Exception, match="MONITOR_TEST_BROWSER=/opt/nowhere"):
        chromium()
