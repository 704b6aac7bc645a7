"""http.client's response, its header block read without the email package's parser.

http.client hands every response's header block to the email package's parser: about
27 us of CPU a response on the test machine, more than a tenth of a 304 poll. Servers send
plain "Name: value" lines; those are read here straight into the same HTTPMessage, in the
same order, with the same names and values. Any other block (a folded line, a line with no
colon, a bare CR, a name the email parser would not take) goes to that parser, so the
headers always read as http.client would read them.

`Response.begin` does what http.client's does with them: the status line (interim 100
responses skipped), the version, and how the body is framed (chunked, Content-Length, or
until the connection closes; none for 1xx, 204, 304 and HEAD).
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import Protocol

# http.client's own limits on a header block.
MAX_LINE = 65536
MAX_HEADERS = 100
# A header name as the email parser takes it: visible ASCII but the colon.
_NAME = re.compile(r"[!-9;-~]+")


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_header_lines(fp: _Lines) -> list[bytes]:
    """The lines of a header block as sent, each with its line end, the blank line (or the
    b"" of a connection closed early) last: http.client's reading, with its limits."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_header_lines(lines: list[bytes]) -> http.client.HTTPMessage:
    """The header block ``lines`` (`read_header_lines`) as http.client's parser reads it."""
    message = http.client.HTTPMessage()
    for raw in lines[:-1]:
        line = raw.decode("iso-8859-1")
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        name, colon, value = line.partition(":")
        if not colon or "\r" in line or not _NAME.fullmatch(name):
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        message.set_raw(name, value.lstrip(" \t"))
    return message


def _length(value: str | None) -> int | None:
    """A Content-Length's bytes; None for none, or one that is not a count."""
    try:
        length = int(value) if value else None
    except ValueError:
        return None
    return length if length is None or length >= 0 else None


class Response(http.client.HTTPResponse):
    """A response whose headers `parse_header_lines` reads; the rest is http.client's
    (its `_read_status` and `_check_close`, as its own `begin` uses them: the tests compare
    the two responses on the same bytes, so a Python that changes them fails there)."""

    def begin(self) -> None:
        if self.headers is not None:    # already begun
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_header_lines(self.fp)   # an interim "100 Continue": its headers skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = parse_header_lines(read_header_lines(self.fp))
        self._frame(status)

    def _frame(self, status: int) -> None:
        """How the body ends: chunked (Content-Length then ignored), a Content-Length, none
        (1xx, 204, 304, a HEAD), else when the connection closes."""
        encoding = self.headers.get("transfer-encoding")
        self.chunked = encoding is not None and encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None if self.chunked else _length(self.headers.get("content-length"))
        if (status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
                or 100 <= status < 200 or self._method == "HEAD"):  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
