"""PURE: untrusted text as one safe line, capped.

What a feed says (titles, summaries, links) and what ends in an alert's header or line
(names, titles, URLs, a receiver's error) is cleaned by the same rule: control characters,
lone surrogates and the non-characters U+FFFE/U+FFFF are removed; whitespace (CR/LF, tabs,
the Unicode line and paragraph separators) collapses to single spaces; the result is cut at
a limit, the cut marked with an ellipsis. The parser (monitor/parse/sanitize.py) and the
digest (monitor/digest.py) both use it, so an alert shows a stored title as it was stored.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

# C0 and C1 control characters except the whitespace ones (collapsed separately), DEL,
# lone surrogates, and the Unicode non-characters U+FFFE/U+FFFF.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# The same characters within ASCII, as bytes; and all of C0 (tab, CR, LF too) with DEL.
_ASCII_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_ASCII_C0_DEL = bytes([*range(0x00, 0x20), 0x7F])


def cap(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def one_line(text: str | None, limit: int) -> str:
    """``text`` as one line: controls removed, whitespace collapsed, at most ``limit``
    characters. Only the first ``4 * limit`` characters are read."""
    if not text:
        return ""
    text = text[: limit * 4]
    if not is_plain_line(text):
        if not _has_no_control(text):
            text = CONTROL.sub("", text)
        text = " ".join(text.split())  # str.split: C-fast \s+
    return cap(text, limit)


def is_plain_line(text: str) -> bool:
    """True when ``text`` has no control character and no whitespace but single spaces
    between words: removing controls and collapsing whitespace would leave it unchanged."""
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_C0_DEL)) != len(raw):  # bytes: C-fast
            return False
    elif not text.isprintable():  # printable: no control, no whitespace but " "
        return False
    return "  " not in text and not text.startswith(" ") and not text.endswith(" ")


def _has_no_control(text: str) -> bool:
    """True when CONTROL cannot match ``text`` (a cheaper test than the regex's scan)."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw.translate(None, _ASCII_CONTROL)) == len(raw)
    return text.isprintable()


def utf8_length(text: str) -> int:
    """How many bytes ``text`` takes in UTF-8."""
    return len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))
