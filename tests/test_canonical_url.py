"""canonical_url's shortcut for the common link (lower-case http(s) host, plain path, no
query) gives exactly what the general reading gives, for any string."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.urls import _canonical_general, _canonical_simple, canonical_url

# Pieces that the shortcut must either read exactly or leave to the general reading.
HOSTS = st.sampled_from(["news.example", "www.news.example", "WWW.News.Example", "a..b",
                         "x-y.example.", "127.0.0.1", "[::1]", "user:pw@host.example", "", "."])
PORTS = st.sampled_from(["", ":80", ":443", ":080", ":0", ":8080", ":65535", ":65536",
                         ":99999", ":", ":x"])
PATHS = st.text(alphabet="/aZ09-._~:@!$'()*,;%?#& \t\n=+é[]", max_size=12)
SCHEMES = st.sampled_from(["http", "https", "HTTP", "Https", "ftp", ""])


@settings(max_examples=3000)
@given(SCHEMES, HOSTS, PORTS, PATHS)
@example("https", "news.example", "", "//")
@example("http", "www.news.example", ":80", "/a/b/")
@example("https", "news.example", ":0443", "")
@example("http", "[::1]", "", "??")   # w3lib raised ValueError: a poll failed on one link
def test_the_shortcut_agrees_with_the_general_reading(scheme: str, host: str, port: str,
                                                      path: str) -> None:
    url = f"{scheme}://{host}{port}{path}"
    assert canonical_url(url) == _canonical_general(url)


def test_the_shortcut_takes_the_common_link_and_leaves_the_rest() -> None:
    assert _canonical_simple("http://www.news.example:80/world/story-1/") \
        == "https://news.example/world/story-1"
    assert _canonical_simple("https://news.example") == "https://news.example/"
    for other in ("https://news.example/a?b=1", "https://news.example/a#top",
                  "HTTPS://news.example/", " https://news.example/", "https://u@news.example/",
                  "https://news.example/caf%C3%A9", "https://news.example:70000/"):
        assert _canonical_simple(other) is None
