"""URLs: one canonical spelling per article, so two sources' copies are seen as one; links
to send without click-tracking parameters; and
a URL's credentials kept out of everything but the fetch (``***@`` where a person reads
the URL, dropped from links we store and send)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from w3lib.url import canonicalize_url

from monitor.text import utf8_length

# Query parameters that only track where a click came from: dropped from the links we send.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "itm_", "at_")
_CLICK_TRACKING = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mkt_tok", "ocid",
    "cmpid", "ref_src", "ref_url", "smid", "sr_share", "ns_mchannel", "ns_source",
    "ns_campaign", "ns_linkname", "ns_fee", "_ga", "spm", "fromrss", "xtor", "twclid",
})
# For telling copies apart only: names that usually track, but that some site may need to
# show the page; a link we send keeps them.
_TRACKING_NAMES = _CLICK_TRACKING | {"ref", "src", "rss", "feed", "share"}
# The port an http(s) URL means when it names none.
DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that need no percent-encoding normalisation in a path or query value.
_PLAIN = re.compile(r"[A-Za-z0-9\-._~/:@!$'()*,;]*")


# The longest canonical URL kept, in UTF-8 bytes: PostgreSQL indexes values of at most
# about 2,700 bytes, and a longer one fails the poll's whole commit. A link of 2,048 bytes
# (the parser's cap) grows up to three times as long when its non-ASCII is percent-encoded.
MAX_CANONICAL = 2_048

# The common link, which canonical_url reads without urllib: a lower-case http(s) host, an
# optional port, a path of plain characters, no query, no fragment, no credentials.
_SIMPLE_URL = re.compile(r"(https?)://([a-z0-9.-]+)(?::(\d{1,5}))?(/[A-Za-z0-9\-._~/:@!$'()*,;]*)?",
                         re.ASCII)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters,
    sorted query, and https and http treated alike. Returns "" for a non-http(s) URL, and
    for one longer than MAX_CANONICAL once percent-encoded (no copy of it is looked for)."""
    simple = _canonical_simple(url)
    canonical = _canonical_general(url) if simple is None else simple
    return "" if utf8_length(canonical) > MAX_CANONICAL else canonical


def _canonical_simple(url: str) -> str | None:
    """canonical_url of the common link (most news links: a third of a poll's CPU went to
    urllib reading them), None for any other URL."""
    match = _SIMPLE_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, port, path = match.groups()
    number = None if port is None else int(port)
    if number is not None and number > 65535:
        return None
    host = host.removeprefix("www.")
    netloc = host if number is None or number == DEFAULT_PORTS[scheme] else f"{host}:{number}"
    path = path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return f"https://{netloc}{path}"


def _canonical_general(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        hostname = parts.hostname
        if scheme not in DEFAULT_PORTS or not hostname:
            return ""
        port = parts.port
    except ValueError:
        return ""
    host = hostname.lower().removeprefix("www.")
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query: list[tuple[str, str]] = []
    if parts.query:
        query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _tracking(k, _TRACKING_NAMES))
    rebuilt = f"https://{netloc}{path}?{urlencode(query)}" if query else \
        f"https://{netloc}{path}"
    if _PLAIN.fullmatch(path) and all(_PLAIN.fullmatch(k + v) for k, v in query):
        return rebuilt  # nothing for w3lib to normalise: skip its cost (most news URLs)
    try:
        return canonicalize_url(rebuilt, keep_fragments=False)
    except ValueError:
        return ""   # w3lib cannot read it (an IPv6 host with a query): no copy to find


# In a link we send, only utm_ is dropped as a prefix: pk_id, at_id or mc_id may well be
# what the page needs; the trackers of those families are dropped by their exact names.
_SENT_PREFIXES = ("utm_",)
_SENT_TRACKING = _CLICK_TRACKING | {
    "pk_campaign", "pk_kwd", "pk_keyword", "pk_source", "pk_medium", "pk_content",
    "mc_cid", "mc_eid", "at_medium", "at_campaign", "at_term", "at_format", "at_creation",
    "at_variant", "at_send_date", "at_link", "at_platform", "itm_source", "itm_medium",
    "itm_campaign", "itm_content", "itm_term",
}


def _tracking(name: str, names: frozenset[str],
              prefixes: tuple[str, ...] = _TRACKING_PREFIXES) -> bool:
    key = name.lower()
    return key.startswith(prefixes) or key in names


def without_tracking(url: str) -> str:
    """``url`` without its click-tracking query parameters (``utm_*``, ``fbclid`` ...): the
    link to show and send. Everything else stays as written: the other parameters in their
    order and spelling, the path, the fragment. A URL with none is returned unchanged."""
    before_fragment, hash_mark, fragment = url.partition("#")
    head, mark, query = before_fragment.partition("?")
    if not mark:
        return url
    pairs = query.split("&")
    kept = [p for p in pairs if p and not _tracking(unquote_plus(p.split("=", 1)[0]),
                                                    _SENT_TRACKING, _SENT_PREFIXES)]
    if len(kept) == len(pairs):
        return url
    return head + ("?" + "&".join(kept) if kept else "") + hash_mark + fragment


# What urlsplit (and so the fetcher) skips before a URL's scheme: C0 controls and spaces.
_SCHEME = re.compile(r"[\x00-\x20]*[A-Za-z][A-Za-z0-9+.-]*://")
_REDACTED = "***"


def without_credentials(url: str) -> str:
    """``url`` for a person to read (messages, logs, status, check-config): its
    ``user:password@`` shown as ``***@``, so that a reader sees credentials are set, never
    what they are. A URL without any is returned unchanged. See `_userinfo_span`."""
    span = _userinfo_span(url)
    return url if span is None else f"{url[:span[0]]}{_REDACTED}@{url[span[1]:]}"


def strip_credentials(url: str) -> str:
    """``url`` with its ``user:password@`` dropped: a link to store and send in alerts.

    Links found in a source are resolved against its URL without credentials, and a link
    that carries its own (``http://www.bbc.co.uk@phish.example/``) is shown for where it
    goes. A URL without any is returned unchanged. See `_userinfo_span`."""
    span = _userinfo_span(url)
    return url if span is None else url[:span[0]] + url[span[1]:]


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """PURE. (start, end) of the ``user:password@`` of an absolute URL, "@" included;
    None when it has none.

    The authority runs from "//" to the first "/", "?" or "#" (RFC 3986, and urlsplit,
    which the fetcher uses); its userinfo ends at its last "@", so a raw "@" in a password
    (``user:p@ss@host``) is hidden whole. A raw "/", "?" or "#" in a password cuts the
    authority short: ``http://user:pa/ss@host/`` reads as host "user", port "pa". So an
    authority whose port is not a number, followed later by an "@", is taken as userinfo
    up to the URL's last "@": perhaps more than the credentials, never less. A port that
    is a number is a port: ``https://host:8080/@someone/feed`` keeps its path (and so
    would ``http://user:1234/5@host/``: RFC 3986 wants that "/" written %2F).
    """
    if "@" not in url:
        return None
    scheme = _SCHEME.match(url)
    if scheme is None:
        return None
    start = scheme.end()
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start, end)
        if found >= 0:
            end = found
    at = url.rfind("@", start, end)
    if at >= 0:
        return start, at + 1
    if _is_host_port(url[start:end]):
        return None
    at = url.rfind("@", end)
    return (start, at + 1) if at >= 0 else None


def _is_host_port(authority: str) -> bool:
    """True when ``authority`` (with no "@") is a host with at most a numeric port."""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return False
        host_end = close + 1
    else:
        host_end = authority.find(":")
        if host_end < 0:
            return True
    port = authority[host_end:]
    return port == "" or (port[0] == ":" and port[1:].isascii() and port[1:].isdigit())


# -- the database named in the config ---------------------------------------------------

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def is_postgres_url(database: str) -> bool:
    """True when ``[monitor] database`` names a PostgreSQL server (a ``postgresql://`` or
    ``postgres://`` URL) rather than a SQLite file."""
    return database.strip().lower().startswith(POSTGRES_SCHEMES)


def shown_database(database: str) -> str:
    """``database`` for a person to read: a database URL's ``user:password@`` as
    ``user:***@`` (a user name alone is no secret: it stays) and a ``password=`` parameter
    as ``password=***``; a file path unchanged."""
    if "://" not in database:
        return database
    span = _userinfo_span(database)
    if span is not None:
        user, colon, _ = database[span[0]:span[1] - 1].partition(":")
        if is_postgres_url(database) and "/" not in user:
            shown = f"{user}:{_REDACTED}" if colon else user
            database = f"{database[:span[0]]}{shown}@{database[span[1]:]}"
        else:
            database = without_credentials(database)
    return _QUERY_PASSWORD.sub(rf"\g<1>{_REDACTED}", database)


def database_password(database: str) -> bool:
    """True when a PostgreSQL URL carries a password (in its userinfo or as a
    ``password=`` parameter): a secret, which the config file must not hold."""
    if not is_postgres_url(database):
        return False
    span = _userinfo_span(database)
    userinfo = database[span[0]:span[1]] if span else ""
    return ":" in userinfo or _QUERY_PASSWORD.search(database) is not None
