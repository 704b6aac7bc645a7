"""What the worker processes' fork server loads once, so that no worker pays for it again:
the worker module, and the gazetteer of states compiled (its patterns take most of a
second to compile, in every process that first needs them)."""

from monitor import workers  # noqa: F401 - imported for the workers it forks (and their task)
from monitor.classify import gazetteer

gazetteer.entries()
