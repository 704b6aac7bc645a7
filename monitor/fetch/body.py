"""Response bodies and headers the fetcher reads: decompression under a size cap, and
Location headers as URLs."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from monitor.errors import FetchError


class BodyDecoder:
    """Decodes gzip/deflate as it arrives, never producing more than ``limit`` + 1 bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self._started = False
        self._obj: Any = self._new() if encoding else None
        self._members = 0            # complete gzip members decoded
        self._member_start = 0       # self.size when the current member began
        self._trailing = False       # bytes after the last member that are not one: ignored

    def _new(self, raw_deflate: bool = False) -> Any:
        if raw_deflate:
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected

    def _append(self, data: bytes) -> None:
        if data:
            self.parts.append(data)
            self.size += len(data)
            if self.size > self.limit:
                raise FetchError(f"body larger than {self.limit} bytes")

    def feed(self, data: bytes) -> None:
        if self._obj is None:
            self._append(data)
            return
        if self._trailing:
            return
        try:
            while data:
                out = self._obj.decompress(data, self.limit - self.size + 1)
                self._started = True
                self._append(out)
                data = self._obj.unconsumed_tail
                if self._obj.eof and self._obj.unused_data:  # another gzip member follows
                    data = self._obj.unused_data + data
                    self._obj = self._new()
                    self._members += 1
                    self._member_start = self.size
        except zlib.error as exc:
            if self._members:  # padding after a complete member, as curl and browsers allow
                self._trailing = True
                return
            if self.encoding == "deflate" and not self.parts and self.size == 0:
                # Some servers send raw deflate without the zlib header.
                self._obj = self._new(raw_deflate=True)
                self.encoding = "raw-deflate"
                self.feed(data)
                return
            raise FetchError(f"invalid {self.encoding} body") from exc

    def finish(self) -> bytes:
        if self._obj is not None and self._started:
            try:
                self._append(self._obj.flush())
            except zlib.error as exc:
                raise FetchError(f"invalid {self.encoding} body") from exc
            padding = self._trailing or (self._members and self.size == self._member_start)
            if not self._obj.eof and not padding:  # the stream stopped before its end
                raise FetchError(f"{self.encoding} body cut short before its end")
        return b"".join(self.parts)


def location_url(value: str) -> str:
    """A Location header as a URL: http.client decodes header bytes as Latin-1, but servers
    send UTF-8 paths; recover them and percent-encode what is not ASCII."""
    text = value.strip()
    try:
        text = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return quote(text, safe="/:?#[]@!$&'()*+,;=%~-._")


def content_encoding(headers: Mapping[str, str]) -> str:
    """The body's coding from response headers with lower-case names: "", "gzip" or
    "deflate"; FetchError for any other."""
    value = (headers.get("content-encoding") or "").strip().lower()
    if value in ("", "identity"):
        return ""
    if value in ("gzip", "x-gzip"):
        return "gzip"
    if value == "deflate":
        return "deflate"
    raise FetchError(f"unsupported Content-Encoding {value}")
