"""Canonical URLs: one spelling per article, so two sources' copies are seen as one."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from w3lib.url import canonicalize_url

# Query parameters that only track where a click came from.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "itm_", "at_")
_TRACKING_NAMES = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mkt_tok", "ocid", "cmpid",
    "ref", "ref_src", "ref_url", "src", "smid", "sr_share", "rss", "feed", "ns_mchannel",
    "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "_ga", "spm", "share", "fromrss",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that need no percent-encoding normalisation in a path or query value.
_PLAIN = re.compile(r"[A-Za-z0-9\-._~/:@!$'()*,;]*")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters,
    sorted query, and https and http treated alike. Returns "" for a non-http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        hostname = parts.hostname
        if scheme not in _DEFAULT_PORTS or not hostname:
            return ""
        port = parts.port
    except ValueError:
        return ""
    host = hostname.lower().removeprefix("www.")
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query: list[tuple[str, str]] = []
    if parts.query:
        query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith(_TRACKING_PREFIXES)
                       and k.lower() not in _TRACKING_NAMES)
    rebuilt = f"https://{netloc}{path}?{urlencode(query)}" if query else \
        f"https://{netloc}{path}"
    if _PLAIN.fullmatch(path) and all(_PLAIN.fullmatch(k + v) for k, v in query):
        return rebuilt  # nothing for w3lib to normalise: skip its cost (most news URLs)
    return canonicalize_url(rebuilt, keep_fragments=False)


def without_credentials(url: str) -> str:
    """The URL with any user:password@ removed, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
