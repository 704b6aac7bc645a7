"""The boolean query grammar for user topics (documented in docs/queries.md).

PURE. ``parse_query(text)`` compiles a query once into a ``Query``; ``Query.matches(title,
summary)`` evaluates it. Outside ``classify`` so that ``config`` can reject a malformed query
at load without importing the classifier. Grammar (case-insensitive, words match whole words)::

    query   := or_expr
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*          # two terms side by side mean AND
    unary   := ("NOT" | "-") unary | primary
    primary := [field ":"] ( "(" or_expr ")" | PHRASE | WORD )
    field   := "title" | "summary" | "text"
    PHRASE  := '"' words '"'                    # the words in this order
    WORD    := letters/digits, optional trailing "*" for a prefix ("recogni*")

The operators must be written in capitals (``and``/``or``/``not`` in lower case are words).
A malformed query raises ``monitor.errors.ConfigError`` naming the position and what was
expected.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from monitor.errors import ConfigError

FIELDS = ("title", "summary", "text")

# A compiled query node: it gets the lower-cased (title, summary, title + summary).
Texts = tuple[str, str, str]
Matcher = Callable[[Texts], bool]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<phrase>"(?P<phrase_body>[^"]*)(?P<phrase_end>"?))
      | (?P<field>[A-Za-z]+):
      | (?P<minus>-)(?=[\w"(])
      | (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str        # lparen, rparen, phrase, field, minus, word, and, or, not, end
    text: str
    position: int    # 1-based column in the query


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:  # pragma: no cover - the regex is total
            raise ConfigError(f"query: unexpected character at position {position + 1}")
        kind = match.lastgroup or "word"
        start = match.start(kind) + 1
        if kind in ("phrase_body", "phrase_end", "phrase"):
            if not match.group("phrase_end"):
                raise ConfigError(f"query: unterminated quoted phrase starting at position "
                                  f"{match.start('phrase') + 1}")
            kind = "phrase"
            text = match.group("phrase_body")
            start = match.start("phrase") + 1
        elif kind == "field":
            text = match.group("field").lower()
            if text not in FIELDS:
                raise ConfigError(f"query: unknown field {match.group('field')!r} at position "
                                  f"{start}; expected one of {', '.join(f + ':' for f in FIELDS)}")
        else:
            text = match.group(kind)
            if kind == "word" and text in ("AND", "OR", "NOT"):
                kind = text.lower()
        tokens.append(_Token(kind, text, start))
        position = match.end()
    tokens.append(_Token("end", "", len(query) + 1))
    return tokens


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    return f"{token.text!r}" if token.kind != "phrase" else f'"{token.text}"'


def fold(text: str) -> str:
    """Case- and form-insensitive text: NFKC, casefolded, without the dot that Turkish
    capital I leaves behind ("İslam" -> "islam"), so query words and headlines compare."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.replace("i\u0307", "i") if "\u0307" in folded else folded


def _word_pattern(word: str) -> tuple[str, re.Pattern[str]] | None:
    """(a literal that must occur, the pattern) for one word; lower-cased, no flags."""
    prefix = word.endswith("*")
    core = fold(word.rstrip("*"))
    if not core:
        return None
    tail = r"[\w'’-]*" if prefix else r"(?!\w)"
    return core, re.compile(rf"(?<!\w){re.escape(core)}{tail}")


def _phrase_pattern(words: list[str]) -> tuple[str, re.Pattern[str]]:
    parts = [re.escape(fold(w.rstrip("*"))) + (r"[\w'’-]*" if w.endswith("*") else "")
             for w in words]
    literal = fold(words[0].rstrip("*"))
    return literal, re.compile(r"(?<!\w)" + r"[\s\W]+".join(parts) + r"(?!\w)")


_FIELD_INDEX = {"title": 0, "summary": 1, "text": 2, None: 2}


def _leaf(field: str | None, literal: str, pattern: re.Pattern[str]) -> Matcher:
    index = _FIELD_INDEX[field]

    def match(texts: Texts) -> bool:
        text = texts[index]
        return literal in text and pattern.search(text) is not None

    return match


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def error(self, expected: str) -> ConfigError:
        token = self.token
        return ConfigError(f"query: at position {token.position}: expected {expected}, "
                           f"got {_describe(token)} (in {self.query!r})")

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def parse(self) -> Matcher:
        if self.token.kind == "end":
            raise ConfigError("query: is empty; expected at least one word or phrase")
        matcher = self.or_expr(None)
        if self.token.kind != "end":
            raise self.error("AND, OR or the end of the query"
                             if self.token.kind == "rparen" else "an operator")
        return matcher

    def or_expr(self, field: str | None) -> Matcher:
        parts = [self.and_expr(field)]
        while self.token.kind == "or":
            self.advance()
            parts.append(self.and_expr(field))
        if len(parts) == 1:
            return parts[0]
        return lambda texts: any(p(texts) for p in parts)

    def and_expr(self, field: str | None) -> Matcher:
        parts = [self.unary(field)]
        while self.token.kind in ("and", "not", "minus", "lparen", "phrase", "field", "word"):
            if self.token.kind == "and":
                self.advance()
            parts.append(self.unary(field))
        if len(parts) == 1:
            return parts[0]
        return lambda texts: all(p(texts) for p in parts)

    def unary(self, field: str | None) -> Matcher:
        if self.token.kind in ("not", "minus"):
            self.advance()
            inner = self.unary(field)
            return lambda texts: not inner(texts)
        return self.primary(field)

    def primary(self, field: str | None) -> Matcher:
        token = self.token
        if token.kind == "field":
            self.advance()
            if self.token.kind not in ("lparen", "phrase", "word"):
                raise self.error(f"a word, a quoted phrase or \"(\" after {token.text}:")
            return self.primary(token.text)
        if token.kind == "lparen":
            self.advance()
            if self.token.kind in ("rparen", "end"):
                raise self.error("a word or a quoted phrase inside the parentheses")
            inner = self.or_expr(field)
            if self.token.kind != "rparen":
                raise self.error(f"\")\" to close the \"(\" at position {token.position}")
            self.advance()
            return inner
        if token.kind == "phrase":
            self.advance()
            words = token.text.split()
            if not words:
                raise ConfigError(f"query: at position {token.position}: empty quoted phrase")
            return _leaf(field, *_phrase_pattern(words))
        if token.kind == "word":
            self.advance()
            compiled = _word_pattern(token.text)
            if compiled is None:
                raise ConfigError(f"query: at position {token.position}: a lone \"*\" is not a "
                                  "word; put it after a prefix, like recogni*")
            return _leaf(field, *compiled)
        raise self.error("a word, a quoted phrase, NOT or \"(\"")


@dataclass(frozen=True)
class Query:
    """A compiled boolean query."""

    text: str
    matcher: Matcher

    def matches(self, title: str, summary: str = "") -> bool:
        title, summary = fold(title), fold(summary)
        return self.matcher((title, summary, f"{title}\n{summary}"))


def parse_query(text: str) -> Query:
    """Compile ``text``; raises ConfigError with the position and what was expected."""
    if not isinstance(text, str):
        raise ConfigError(f"query: expected a string, got {type(text).__name__}")
    return Query(text=text, matcher=_Parser(text).parse())
