"""The package's layering, stated as a contract and checked on the source with ``ast``.

- Pure modules (decisions, records, text processing) import no I/O module: not directly, not
  through another ``monitor`` module, not inside a function.
- Only ``monitor.cli`` and ``monitor.__main__`` import ``monitor.cli``: stages never reach up
  to the command line.
- ``monitor.config`` does not import ``monitor.classify``: the configuration is read and
  checked without the classifier (the query grammar it checks lives in ``monitor.query``).
- Only ``monitor.metrics`` and the HTTP face (``monitor.web``) import ``prometheus_client``:
  the pipeline and the delivery stage report their work through the Observer port
  (``monitor.ports``), and pure modules reach neither the library nor the metrics.

Every ``import`` statement counts, at any depth (function-local imports run too), and
importing ``a.b.c`` counts as importing the packages ``a`` and ``a.b`` as well, since their
``__init__`` runs first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

import monitor

PACKAGE_ROOT = Path(monitor.__file__).parent

# Decisions and records: they take what they need as arguments (clock readings, stored rows,
# fetched bytes) and return records. Reading package data (states.json, digest templates)
# is allowed; talking to the network, a database, other processes or threads is not.
PURE = (
    "monitor.article_plan",
    "monitor.backtest",
    "monitor.classify",
    "monitor.classify.evaluate",
    "monitor.classify.gazetteer",
    "monitor.classify.languages",
    "monitor.classify.languages.ar",
    "monitor.classify.languages.base",
    "monitor.classify.languages.fa",
    "monitor.classify.languages.normalise",
    "monitor.classify.languages.ps",
    "monitor.classify.languages.ru",
    "monitor.classify.languages.ur",
    "monitor.classify.languages.zh",
    "monitor.classify.multilingual",
    "monitor.classify.recognition",
    "monitor.classify.steps",
    "monitor.cluster",
    "monitor.config_messages",
    "monitor.decide",
    "monitor.digest",
    "monitor.errors",
    "monitor.events",
    "monitor.headers",
    "monitor.health",
    "monitor.intents",
    "monitor.outbox",
    "monitor.plan",
    "monitor.query",
    "monitor.sources.entries",
    "monitor.sources.opml",
    "monitor.stories",
    "monitor.story_index",
    "monitor.text",
    "monitor.types",
    "monitor.urls",
)

# A module is I/O when it is one of these or inside one of them.
IO_MODULES = (
    # the standard library's network, database, process and thread modules
    "asyncio", "concurrent", "fcntl", "http.client", "http.server", "multiprocessing",
    "selectors", "signal", "smtplib", "socket", "sqlite3", "ssl", "subprocess", "threading",
    "urllib.request",
    # dependencies that talk to the network or run threads, or keep process-wide state
    "anyio", "apprise", "apscheduler.schedulers", "prometheus_client", "psycopg", "psycopg_pool",
    "requests", "starlette",
    "urllib3", "uvicorn",
    # the project's own I/O: storage, fetching, sending, the daemon and its commands
    "monitor.app", "monitor.articles", "monitor.batch", "monitor.cli", "monitor.deliver",
    "monitor.demo", "monitor.fetch", "monitor.metrics", "monitor.node", "monitor.notify",
    "monitor.pipeline",
    "monitor.report",
    "monitor.retention", "monitor.scheduler", "monitor.sources.config_file",
    "monitor.sources.discover", "monitor.store", "monitor.workers", "monitor.liveness",
    "monitor.web",
)

# Imports of an I/O module that are known and accepted, with the reason.
ACCEPTED = {
    # AppriseNotifierConfig builds each URL's plugin to reject a bad URL at load; nothing is
    # sent. Pure modules use config's records (TopicConfig), and so reach this import.
    ("monitor.config", "apprise"),
}

CLI_IMPORTERS = frozenset({"monitor.cli", "monitor.__main__"})
PROMETHEUS_IMPORTERS = ("monitor.metrics", "monitor.web")   # and the modules within them


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement in ``tree`` names, with its parent packages
    (``from a.b import c`` gives a, a.b and a.b.c: c may be a submodule)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in found:
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def package_imports(root: Path) -> dict[str, set[str]]:
    """Module name -> the names it imports, for every module under ``root``."""
    imports = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imports[name] = imported_names(tree, name, path.name == "__init__.py")
    return imports


def within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def import_chain(imports: dict[str, set[str]], start: str, bad: Iterable[str]) -> list[str]:
    """The shortest chain of imports from ``start`` to a module within ``bad``, through the
    package's own modules; empty when there is none."""
    bad = tuple(bad)
    paths = {start: [start]}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for name in sorted(imports.get(current, ())):
            if (current, name) in ACCEPTED:
                continue
            if within(name, bad):
                return paths[current] + [name]
            if name in imports and name not in paths:
                paths[name] = paths[current] + [name]
                queue.append(name)
    return []


def violations(root: Path) -> list[str]:
    """The contract's breaches in the package at ``root``, one line each."""
    imports = package_imports(root)
    found = []
    for module in PURE:
        if module in imports and (chain := import_chain(imports, module, IO_MODULES)):
            found.append(f"pure module imports I/O: {' -> '.join(chain)}")
    for module in sorted(imports):
        if module not in CLI_IMPORTERS and "monitor.cli" in imports[module]:
            found.append(f"{module} imports monitor.cli")
        if not within(module, PROMETHEUS_IMPORTERS) and "prometheus_client" in imports[module]:
            found.append(f"{module} imports prometheus_client")
    if chain := import_chain(imports, "monitor.config", ["monitor.classify"]):
        found.append(f"config imports classify: {' -> '.join(chain)}")
    return found


def test_the_package_keeps_its_layering() -> None:
    found = violations(PACKAGE_ROOT)
    assert not found, "\n".join(found)


def test_every_listed_pure_module_exists() -> None:
    imports = package_imports(PACKAGE_ROOT)
    assert [m for m in PURE if m not in imports] == []


def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "monitor"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "__init__.py": "",
    "__main__.py": "from monitor.cli import main\n",
    "cli.py": "import monitor.store\n",
    "store/__init__.py": "import sqlite3\n",
    "urls.py": "from urllib.parse import urlsplit\n",
    "decide.py": "from monitor import urls\n",
    "config.py": "from monitor.query import parse_query\n",
    "query.py": "",
    "classify/__init__.py": "from monitor.config import TopicConfig\n",
    "metrics.py": "from prometheus_client import Counter\n",
    "web/__init__.py": "from prometheus_client import CONTENT_TYPE_LATEST\n",
    "app.py": "from monitor.metrics import Metrics\n",
}


def test_a_clean_package_has_no_violations(tmp_path: Path) -> None:
    assert violations(write_package(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(("change", "expected"), [
    # a pure module importing the standard library's database module, inside a function
    ({"decide.py": "def f():\n    import sqlite3\n"},
     "pure module imports I/O: monitor.decide -> sqlite3"),
    # ... or the store, through another pure module, by a relative import
    ({"urls.py": "from .store import Store\n"},
     "pure module imports I/O: monitor.decide -> monitor.urls -> monitor.store"),
    # a stage importing the command line
    ({"store/__init__.py": "from monitor import cli\n"}, "monitor.store imports monitor.cli"),
    # the pipeline counting with the library itself, not through the Observer port
    ({"pipeline.py": "def f():\n    from prometheus_client import Counter\n"},
     "monitor.pipeline imports prometheus_client"),
    # a pure module reaching the metrics
    ({"decide.py": "from monitor import metrics\n"},
     "pure module imports I/O: monitor.decide -> monitor.metrics"),
    # config reaching the classifier through a submodule's package
    ({"config.py": "from monitor.classify.query import parse_query\n"},
     "config imports classify: monitor.config -> monitor.classify"),
])
def test_a_violation_is_reported(tmp_path: Path, change: dict[str, str], expected: str) -> None:
    assert expected in violations(write_package(tmp_path, {**CLEAN, **change}))
