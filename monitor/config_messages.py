"""Pydantic's validation errors -> one plain line per real problem, naming the key path.

pydantic words its errors for programmers ("Input should be a valid tuple", "Tuple should
have at least 1 item after validation"), and reports a failing entry twice (the entry, and
the list it then leaves empty). The operator needs the key, what it should hold, and for
an unknown key the key they probably meant. Pure: errors and known keys in, text out.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Where a key lives -> the keys allowed there. "" is the top level, "notifiers.email" is a
# [[notifiers]] entry of that type.
KnownKeys = Mapping[str, Sequence[str]]

_TYPE_WORDS = {
    "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "bool_type": "true or false",
    "bool_parsing": "true or false", "float_type": "a number", "float_parsing": "a number",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
}
_LISTS = ("tuple_type", "list_type", "iterable_type")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {str: "a string", int: "a number", float: "a number", dict: "a table",
            list: "a list"}.get(type(value), type(value).__name__)


def format_loc(loc: Sequence[Any], tags: Sequence[str]) -> str:
    """``("sources", 1, "interval")`` -> ``sources[1].interval``; the union tag pydantic
    adds after ``notifiers[i]`` (one of ``tags``) is left out."""
    out = ""
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, int) and part in tags and out.startswith("notifiers"):
            pass
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


def _table_of(loc: Sequence[Any], tags: Sequence[str]) -> str:
    """The KnownKeys entry for the table holding the last key of ``loc``."""
    parts = [p for p in loc[:-1] if not isinstance(p, int)]
    if parts[:1] == ["notifiers"] and len(parts) > 1 and parts[1] in tags:
        return f"notifiers.{parts[1]}"
    return ".".join(parts)


def suggest(key: str, known: Sequence[str]) -> str | None:
    """The known key closest to a misspelt one, if any is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not close and key.lower() in (k.lower() for k in known):
        close = [k for k in known if k.lower() == key.lower()]
    return close[0] if close else None


def describe(error: Mapping[str, Any], known: KnownKeys, tags: Sequence[str],
             custom: Callable[[Any], str | None]) -> str:
    """One line for one pydantic error dict: ``key.path: what is wrong``."""
    loc = tuple(error["loc"])
    where = format_loc(loc, tags)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    ctx_error = ctx.get("error")
    special = custom(ctx_error)
    if special is not None:
        return special
    if kind == "extra_forbidden":
        hint = suggest(str(loc[-1]), known.get(_table_of(loc, tags), ()))
        return f"{where}: unknown key" + (f"; did you mean `{hint}`?" if hint else "")
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "union_tag_invalid":
        return f"{where}.type: must be one of {', '.join(tags)}"
    if kind == "union_tag_not_found":
        return f"{where}.type: required key is missing (one of {', '.join(tags)})"
    if kind in _LISTS:
        return f"{where}: must be a list of strings, like [\"a\", \"b\"]" \
            if loc[-1] not in ("topics", "sources", "notifiers") or len(loc) > 1 \
            else f"{where}: must be a list of [[{loc[-1]}]] tables"
    if kind == "too_short":
        if len(loc) == 1:
            return f"{where}: at least one [[{loc[0]}]] entry is required"
        return f"{where}: must not be an empty list"
    if kind == "string_too_short":
        return f"{where}: must not be empty"
    if kind == "string_too_long":
        return f"{where}: must be at most {ctx.get('max_length')} characters"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{where}: must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"{where}: must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        return f"{where}: must be {ctx.get('expected', '')}"
    if kind in _TYPE_WORDS:
        if loc and isinstance(loc[-1], int):  # an item of a list of strings
            parent = format_loc(loc[:-1], tags)
            return (f"{parent}: must be a list of strings; item {loc[-1]} is "
                    f"{_json_type(error.get('input'))}")
        return f"{where}: must be {_TYPE_WORDS[kind]}, not {_json_type(error.get('input'))}"
    message = str(ctx_error) if ctx_error is not None else str(error["msg"])
    message = message.removeprefix("Value error, ")
    key, _, rest = message.partition(": ")
    if rest and (key.endswith("_env") or key in known.get(_table_of((*loc, key), tags), ())):
        return f"{where}.{key}: {rest}"  # a validator that names the key inside its table
    return f"{where}: {message}"


def describe_all(errors: Sequence[Mapping[str, Any]], known: KnownKeys, tags: Sequence[str],
                 custom: Callable[[Any], str | None]) -> str:
    """Every real problem once: an error about a list is dropped when one of its entries
    has its own error (the entry's failure is the cause, the list's the echo)."""
    locs = [tuple(e["loc"]) for e in errors]
    kept = [e for e, loc in zip(errors, locs, strict=True)
            if not any(other != loc and other[:len(loc)] == loc for other in locs)]
    # "pth: unknown key; did you mean `path`?" says all that "path: required key" would.
    meant = {tuple(e["loc"])[:-1] + (hint,) for e in kept if e["type"] == "extra_forbidden"
             for hint in [suggest(str(e["loc"][-1]),
                                  known.get(_table_of(tuple(e["loc"]), tags), ()))] if hint}
    kept = [e for e in kept if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]
    return "\n".join(dict.fromkeys(describe(e, known, tags, custom) for e in kept))
