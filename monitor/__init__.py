"""news-monitor: watches news sources and alerts on tracked topics."""

__version__ = "0.1.0"
