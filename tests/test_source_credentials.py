"""Credentials in a source URL (``http://user:password@host/feed``) never leave the fetcher.

They are sent as Basic auth; links found in the source are resolved without them; and
wherever a URL is shown (messages, logs, status, check-config) they read ``***@``.
"""

from __future__ import annotations

import pytest

from monitor.urls import strip_credentials, without_credentials

# --- the two ways of removing credentials -------------------------------------------------


@pytest.mark.parametrize("url, shown, stripped", [
    ("http://user:pass@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://token@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:@host.example/", "http://***@host.example/", "http://host.example/"),
    ("http://u:p@host.example", "http://***@host.example", "http://host.example"),
    # A raw "@", "/", "?" or "#" in the password: hidden whole, whatever the fetcher reads.
    ("http://user:p@ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:pa/ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("https://user:pa?ss@host.example/feed?page=2", "https://***@host.example/feed?page=2",
     "https://host.example/feed?page=2"),
    ("http://user:pa#ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:pa/ss@host.example:8080/a/b", "http://***@host.example:8080/a/b",
     "http://host.example:8080/a/b"),
    ("HTTPS://user:pw@Host.example/x", "HTTPS://***@Host.example/x", "HTTPS://Host.example/x"),
    ("http://user:pw@[2001:db8::1]:8080/feed", "http://***@[2001:db8::1]:8080/feed",
     "http://[2001:db8::1]:8080/feed"),
    # A URL that may be cut short is hidden up to its last "@": more, never less.
    ("http://user:pa/ss@host.example/?mail=a@b.example", "http://***@b.example",
     "http://b.example"),
])
def test_credentials_are_hidden_or_dropped(url: str, shown: str, stripped: str) -> None:
    assert without_credentials(url) == shown
    assert strip_credentials(url) == stripped


@pytest.mark.parametrize("url", [
    "https://medium.com/@someone/feed",
    "https://host.example:8080/@someone/feed",
    "https://host.example/users/a@b.example",
    "https://host.example/feed?mail=a@b.example#c@d",
    "http://[2001:db8::1]:8080/@x",
    "http://[2001:db8::1]/feed",
    "http://host.example/feed",
    "feeds.example.org/rss",
    "mailto:a@b.example",
    "",
])
def test_urls_without_credentials_are_unchanged(url: str) -> None:
    assert without_credentials(url) == url
    assert strip_credentials(url) == url
