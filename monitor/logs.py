"""How the daemon's log lines look, in its own process and in its worker processes."""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["log_to_stderr"]

FORMAT = "%(asctime)sZ %(levelname)s %(name)s: %(message)s"


def log_to_stderr(level: int) -> None:
    """Log at ``level`` and above to standard error, times in UTC."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(FORMAT)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
