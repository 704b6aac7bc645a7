"""Appending ``[[sources]]`` entries to the user's config file, safely.

The file's own text is kept byte for byte (its comments and layout are the user's) and the
new entries are appended. The result is validated with the same loader the daemon uses
before anything is written; then the old file is kept as ``<name>.bak`` and the new text
replaces it atomically (a temporary file in the same directory, then os.replace), so a
crash leaves either the old config or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from pathlib import Path

from monitor.config import Config, load_config_data
from monitor.errors import ConfigError


def appended_text(original: str, addition: str) -> str:
    """PURE. ``original`` with ``addition`` after one blank line."""
    if not original:
        return addition
    return original.rstrip("\n") + "\n\n" + addition


def append_to_config(path: Path, addition: str) -> Config:
    """Append ``addition`` (TOML text) to the config at ``path`` and return the validated
    result. Raises ConfigError, leaving the file untouched, when the result is not a valid
    config. A symbolic link is followed: the file it points to is the one replaced."""
    path = Path(os.path.realpath(path))
    try:
        raw = path.read_bytes()
        original = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    text = appended_text(original, addition)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the file with the new sources appended would not be "
                          f"valid TOML ({exc}); nothing was written") from None
    try:
        config = load_config_data(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: with the new sources the config would not be valid; "
                          f"nothing was written:\n{exc}") from None
    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return config
