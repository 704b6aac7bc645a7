"""monitor/fetch/response.py reads a response's headers and framing exactly as http.client
does, header blocks odd and plain, and plain ones without the email package's parser."""

from __future__ import annotations

import http.client
import io

import pytest

from monitor.fetch import response as response_module
from monitor.fetch.response import Response, parse_header_lines, read_header_lines

BLOCKS = {
    "plain": b"Date: Sun, 06 Dec 2026 12:00:00 GMT\r\nETag: \"v1\"\r\nContent-Length: 0\r\n\r\n",
    "repeated names, any case": b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nVary: x\r\n\r\n",
    "empty and spaced values": b"X-Empty:\r\nX-Tab:\t tabbed \r\nX-Tight:tight\r\n\r\n",
    "latin-1 bytes": b"Content-Disposition: attachment; filename=caf\xe9.xml\r\n\r\n",
    "LF line ends": b"ETag: \"v2\"\nLast-Modified: Sun, 06 Dec 2026 11:00:00 GMT\n\n",
    "cut short": b"ETag: \"v3\"\r\nX-Half: no line end",
    "folded line": b"X-Folded: one\r\n two\r\nETag: \"v4\"\r\n\r\n",
    "line with no colon": b"ETag: \"v5\"\r\nnot a header\r\nX-After: lost?\r\n\r\n",
    "bare CR": b"X-A: 1\rX-B: 2\r\nETag: \"v6\"\r\n\r\n",
    "a unix From line": b"From someone\r\nETag: \"v7\"\r\n\r\n",
    "empty name": b": nameless\r\nETag: \"v8\"\r\n\r\n",
    "space in a name": b"Bad Name: x\r\nETag: \"v9\"\r\n\r\n",
    "no headers": b"\r\n",
}


def stdlib_headers(block: bytes) -> http.client.HTTPMessage:
    return http.client.parse_headers(io.BytesIO(block))


def ours(block: bytes) -> http.client.HTTPMessage:
    return parse_header_lines(read_header_lines(io.BytesIO(block)))


@pytest.mark.parametrize("block", BLOCKS.values(), ids=BLOCKS.keys())
def test_headers_read_as_http_client_reads_them(block: bytes) -> None:
    expected, got = stdlib_headers(block), ours(block)
    assert list(got.items()) == list(expected.items())
    assert got.get_all("set-cookie") == expected.get_all("set-cookie")
    assert got.get_content_type() == expected.get_content_type()
    assert got.get("etag") == expected.get("etag")


def test_plain_headers_do_not_go_through_the_email_parser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain = ("plain", "repeated names, any case", "empty and spaced values", "latin-1 bytes",
             "LF line ends", "cut short", "no headers")
    expected = {name: list(stdlib_headers(BLOCKS[name]).items()) for name in plain}

    def refused(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the email parser read a plain header block")

    monkeypatch.setattr(response_module.email.parser, "Parser", refused)
    for name in plain:
        assert list(ours(BLOCKS[name]).items()) == expected[name]
    with pytest.raises(AssertionError, match="email parser"):
        ours(BLOCKS["folded line"])


def test_header_limits_are_http_client_s() -> None:
    too_long = b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n"
    too_many = b"".join(b"X-%d: 1\r\n" % n for n in range(101)) + b"\r\n"
    for block, error in ((too_long, http.client.LineTooLong),
                         (too_many, http.client.HTTPException)):
        with pytest.raises(error):
            stdlib_headers(block)
        with pytest.raises(error):
            ours(block)


class _Socket:
    """What a response reads from: the raw bytes of one answer."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def makefile(self, _mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._raw))  # type: ignore[arg-type]


ANSWERS = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "chunked and a length": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n"
                             b"Content-Length: 99\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "no length": b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\nuntil the end",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "1.0 keep-alive": (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5"
                       b"\r\nContent-Length: 2\r\n\r\nok"),
    "not modified": b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
    "no content": b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
    "continue first": (b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nhello",
    "folded header": b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "reason with spaces": b"HTTP/1.1 404   Not   Found  \r\nContent-Length: 0\r\n\r\n",
}


def begun(cls: type[http.client.HTTPResponse], raw: bytes,
          method: str = "GET") -> tuple[object, ...]:
    response = cls(_Socket(raw), method=method)  # type: ignore[arg-type]
    response.begin()
    framing = (response.status, response.reason, response.version, response.chunked,
               response.length, response.will_close, list(response.headers.items()))
    return (*framing, response.read())


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("raw", ANSWERS.values(), ids=ANSWERS.keys())
def test_status_and_framing_are_http_client_s(raw: bytes, method: str) -> None:
    assert begun(Response, raw, method) == begun(http.client.HTTPResponse, raw, method)


@pytest.mark.parametrize("raw", [b"HTTP/2.0 200 OK\r\n\r\n", b"ICY 200 OK\r\n\r\n",
                                 b"HTTP/1.1 abc OK\r\n\r\n", b""])
def test_a_bad_status_line_fails_as_in_http_client(raw: bytes) -> None:
    with pytest.raises(http.client.HTTPException) as expected:
        begun(http.client.HTTPResponse, raw)
    with pytest.raises(type(expected.value)):
        begun(Response, raw)
