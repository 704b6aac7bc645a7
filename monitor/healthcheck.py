"""`python -m monitor.healthcheck`: the container's HEALTHCHECK, asking the daemon's
`GET /healthz` (200 while its scheduler ticks).

Exit 0 when /healthz answers 200, and when the config has no `[http]` table (nothing
listens, so there is nothing to ask: the container counts as healthy); exit 1 with the
reason otherwise. It reads the config file as plain TOML (`MONITOR_CONFIG`, else
config/monitor.toml), without validating it, and imports nothing else of news-monitor: it
runs every 30 s and must stay light. A wildcard `listen` (0.0.0.0, ::) is asked on
loopback. With `token_env`, the token is sent as `Authorization: Bearer` (a non-loopback
`listen` needs it for every request).

Whether sources fail or deliveries are dead is `monitor status --check`'s question, not a
liveness check's: a container is not restarted because a feed is down.
"""

from __future__ import annotations

import os
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

CONFIG_ENV = "MONITOR_CONFIG"                 # as monitor.config's
DEFAULT_CONFIG_PATH = "config/monitor.toml"
DEFAULT_LISTEN = "127.0.0.1:8080"
TIMEOUT = 5.0


def healthz_url(listen: str) -> str:
    """The URL of /healthz for a `listen` address ("host:port", "[v6]:port")."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def probe(config_path: str, environ: Mapping[str, str],
          timeout: float = TIMEOUT) -> tuple[int, str]:
    """(exit code, one line saying why)."""
    try:
        config = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return 1, f"cannot read the config {config_path}: {exc}"
    http = config.get("http")
    if not isinstance(http, dict):
        return 0, "ok: no [http] table, nothing listens: nothing to check"
    url = healthz_url(str(http.get("listen", DEFAULT_LISTEN)))
    request = urllib.request.Request(url)
    token = environ.get(str(http.get("token_env") or ""))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # The daemon is on this machine: never through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as reply:
            return 0, f"ok: {_text(reply.read(300)) or reply.status}"
    except urllib.error.HTTPError as exc:
        return 1, f"{url}: HTTP {exc.code}: {_text(exc.read(300)) or exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return 1, f"{url}: {reason}"


def _text(body: bytes) -> str:
    return " ".join(body.decode("utf-8", errors="replace").split())


def main() -> int:
    code, line = probe(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH, os.environ)
    print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
