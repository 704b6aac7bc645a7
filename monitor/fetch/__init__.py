"""The fetch stage: HTTP retrieval (bytes + caching headers), politeness, address safety,
robots.txt. Nothing here parses feeds.
"""

from monitor.fetch.addresses import check_url_allowed, is_public_address, is_url_allowed
from monitor.fetch.http import HttpFetcher
from monitor.fetch.politeness import HostLimiter, host_key
from monitor.fetch.robots import RobotsCache
from monitor.headers import parse_retry_after

__all__ = [
    "HostLimiter",
    "HttpFetcher",
    "RobotsCache",
    "check_url_allowed",
    "host_key",
    "is_public_address",
    "is_url_allowed",
    "parse_retry_after",
]
