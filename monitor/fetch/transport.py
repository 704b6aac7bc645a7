"""What HttpFetcher reads from the environment once: TLS trust and proxies.

TLS: certificates are always verified. The trusted roots are, in this order,
``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (a file or a directory, as requests
reads them); else the system's OpenSSL defaults when ``SSL_CERT_FILE`` or
``SSL_CERT_DIR`` is set; else certifi's bundle (what requests uses); else the
system's defaults. One SSLContext is built per fetcher and shared by every
connection, so a new TLS connection does not re-read the bundle.

Proxies (as curl and requests read them, any case): ``HTTP_PROXY`` for http
URLs, ``HTTPS_PROXY`` for https URLs, ``ALL_PROXY`` for either when the
scheme's own is unset. ``NO_PROXY`` is a comma-separated list of host names
(each also matching its subdomains; a leading dot is ignored), ``host:port``
entries, IP addresses, IP networks in CIDR form (``10.0.0.0/8``), or ``*``
for every host. A proxy URL without a scheme is taken as ``http://``;
``user:password@`` in it is sent as Proxy-Authorization (basic). http and
https proxies are supported; a ``socks`` proxy needs PySocks installed
(urllib3's SOCKS support), else each fetch it would serve fails with a
FetchError saying so.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies_environment

from urllib3.util.ssl_ import create_urllib3_context

from monitor.errors import ConfigError

PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def tls_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A client SSLContext that verifies certificates and host names; see the module doc.

    Raises ConfigError when REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE names no readable
    certificates (fail at start rather than on every https fetch).
    """
    env = os.environ if environ is None else environ
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.check_hostname = True
    name = next((n for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if env.get(n)), None)
    if name is not None:
        bundle = env[name]
        try:
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{name}: cannot load CA certificates from {bundle}") from exc
        return context
    if env.get("SSL_CERT_FILE") or env.get("SSL_CERT_DIR"):
        context.load_default_certs()   # OpenSSL reads both variables itself
        return context
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        context.load_default_certs()
        return context
    context.load_verify_locations(cafile=certifi.where())
    return context


def proxy_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"http": url, "https": url, "all": url, "no": "a,b"}`` from the environment.

    Only the keys that are set appear. Read once, when a fetcher is built.
    """
    if environ is None:
        found = getproxies_environment()
    else:
        found = {}
        for name, value in environ.items():   # lower-case names win, as in urllib
            lowered = name.lower()
            if value and lowered.endswith("_proxy") and (name == lowered
                                                         or lowered[:-6] not in found):
                found[lowered[:-6]] = value
    return {key: setting.strip() for key in ("http", "https", "all", "no")
            if (setting := found.get(key)) and setting.strip()}


def no_proxy_matches(host: str, port: int, no_proxy: str) -> bool:
    """True when ``NO_PROXY`` (the ``no_proxy`` list) excludes host:port from proxying.

    PURE. ``host`` is lower-case, without brackets for IPv6.
    """
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = \
            ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".")
        if entry.startswith("[") and "]" in entry:    # [v6] or [v6]:port
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:                   # name:port
            name, _, entry_port = entry.partition(":")
        else:
            name, entry_port = entry, ""
        if not name or (entry_port and entry_port != str(port)):
            continue  # "." or "[]" names no host
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(scheme: str, host: str, port: int, proxies: Mapping[str, str]) -> str | None:
    """The proxy URL to use for scheme://host:port, or None to connect directly.

    PURE. ``proxies`` is what proxy_settings() returns.
    """
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    no_proxy = proxies.get("no")
    if no_proxy and no_proxy_matches(host, port, no_proxy):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def proxy_auth(proxy_url: str) -> str | None:
    """``user:password`` from a proxy URL's userinfo (unquoted), or None."""
    parts = urlsplit(proxy_url)
    if parts.username is None:
        return None
    return f"{unquote(parts.username)}:{unquote(parts.password or '')}"


def basic_auth(credentials: str) -> str:
    """``user:password`` -> a Basic authorization value (Latin-1 as requests sends it,
    UTF-8 for what Latin-1 cannot carry)."""
    try:
        raw = credentials.encode("latin-1")
    except UnicodeEncodeError:
        raw = credentials.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def redacted(proxy_url: str) -> str:
    """A proxy URL without its credentials, for messages."""
    parts = urlsplit(proxy_url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
