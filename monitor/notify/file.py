"""``type = "file"``: appends each digest, as plain text, to a local file.

One write of the whole digest plus a separator line, then flush and fsync, so a
digest is either wholly in the file or (after a crash mid-write) visibly cut
before its separator. The file is opened in append mode for each digest, which
keeps working when the operator rotates it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from monitor.config import FileNotifierConfig
from monitor.digest import DigestRenderer
from monitor.errors import NotifyError
from monitor.types import Digest

log = logging.getLogger(__name__)

SEPARATOR = "=" * 72


class FileNotifier:
    """Appends digests to ``config.path`` (``type = "file"``)."""

    type = "file"
    options = FileNotifierConfig

    def __init__(self, config: FileNotifierConfig) -> None:
        self.name = config.name
        self.config = config
        self.path = Path(config.path)
        self._renderer = DigestRenderer(config.zone)

    def __repr__(self) -> str:
        return f"FileNotifier(name={self.name!r}, path={str(self.path)!r})"

    def send(self, digest: Digest) -> None:
        text = self._renderer.text(digest).rstrip("\n")
        data = f"{text}\n{SEPARATOR}\n".encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise NotifyError(f"file {self.path}: {exc.strerror or exc}") from exc
        log.debug("file %s: digest %s appended (%d bytes)", self.name, digest.id, len(data))
