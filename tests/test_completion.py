"""The bash completion in deploy/ completes commands and each command's options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "monitor-completion.bash"


def complete(tmp_path: Path, *words: str) -> list[str]:
    """COMPREPLY for the command line ``monitor WORDS...`` (the last word being typed)."""
    shim = tmp_path / "bin" / "monitor"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m monitor "$@"\n')
    shim.chmod(0o755)
    line = " ".join(["monitor", *words])
    script = (f"source {SCRIPT}\nCOMP_WORDS=(monitor {' '.join(repr(w) for w in words)})\n"
              f"COMP_CWORD={len(words)}\nCOMP_LINE={line!r}\n_monitor_complete\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return [w for w in result.stdout.split("\n") if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_commands_and_options_complete(tmp_path: Path) -> None:
    assert {"run", "once", "check-config", "status", "matches", "classify", "eval",
            "test-notify", "deliveries", "demo"} <= set(complete(tmp_path, ""))
    assert complete(tmp_path, "de") == ["deliveries", "demo"]
    assert complete(tmp_path, "once", "--no") == ["--no-fail-on-source-errors"]
    assert {"--json", "--check"} <= set(complete(tmp_path, "-c", "x.toml", "status", "--"))
    assert complete(tmp_path, "--vers") == ["--version"]


def test_readme_documents_the_global_options_json_and_completion() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in ("`monitor --version`", "`-v/--verbose`", "`-q/--quiet`",
                 "`monitor status [--json] [--check]`", "`monitor matches [--since 7d] [--json]`",
                 "[--json]` | lists pending", "deploy/monitor-completion.bash",
                 "--no-fail-on-source-errors", "3 when a source failed"):
        assert text in readme, text


def test_version_option() -> None:
    from monitor import __version__

    result = subprocess.run([sys.executable, "-m", "monitor", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"news-monitor {__version__}"
