"""An article page -> its main text, with trafilatura (the headline, menus, "related" boxes,
comments and footers left out).

trafilatura's options were chosen on the article-extraction benchmark
(benchmarks/extract.py, 181 annotated news pages): readers' comments are left out (they
are not the outlet's report) and ``favor_precision`` keeps out the boxes around an
article (a "related stories" link naming another event would otherwise put that event in
the article's mouth). Both raise precision at a small cost in recall: the alerts read
only the opening of the text, where recall matters least.

trafilatura is imported on first use: the commands that never read an article (status,
classify, matches ...) do not pay for it.
"""

from __future__ import annotations

from monitor.errors import ParseError

# Bytes of a page handed to the extractor: an article's text sits in its first part, and
# the extractor's time grows with the page.
MAX_HTML_BYTES = 2 * 1024 * 1024
# Content types read as HTML; a page that says none is tried as HTML too.
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


def is_html(content_type: str | None) -> bool:
    """Whether a response's Content-Type may be an article page (PURE)."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def extract_text(content: bytes, url: str, content_type: str | None = None) -> str:
    """The main text of an article page, paragraphs separated by line breaks.

    Raises ParseError when the body is not an HTML page or holds no main text."""
    if not is_html(content_type):
        kind = (content_type or "").split(";", 1)[0].strip()
        raise ParseError(f"not an HTML page ({kind})")
    import trafilatura  # noqa: PLC0415 - see the module docstring

    try:
        text = trafilatura.extract(content[:MAX_HTML_BYTES], url=url, include_comments=False,
                                   favor_precision=True, output_format="txt")
    except (ValueError, TypeError, AttributeError) as exc:   # a page lxml cannot read
        raise ParseError(f"cannot read the article page: {exc}") from exc
    if not text or not text.strip():
        raise ParseError("no article text found on the page")
    return text.strip()
