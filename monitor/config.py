"""TOML config -> frozen, validated objects. Every error names its key path.

The file format is a contract (see README "Configuration"): keep keys stable,
add new ones, never rename.

One piece (over 400 lines) because it is the file format's one schema: every model here
is a table of that file, and the cross-checks (a topic or notifier named elsewhere, the
notifier types) need all of them side by side; the user-facing wording of errors is
already apart, in config_messages.py.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.config_messages import describe_all
from monitor.errors import ConfigError
from monitor.query import parse_query
from monitor.urls import (
    database_password,
    is_postgres_url,
    shown_database,
    without_credentials,
)

DEFAULT_CONFIG_PATH = "config/monitor.toml"
CONFIG_ENV = "MONITOR_CONFIG"

_DURATION_PART = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "15m", "2h", "1d" (or a sum such as "1h30m") into a timedelta."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like \"15m\", got {text!r}")
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION_PART.sub("", compact):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit s, m, h or d, "
                         "like \"90s\", \"15m\", \"2h\", \"1d\"")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be more than zero")
    return timedelta(seconds=seconds)


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


def _to_duration_or_zero(value: Any) -> timedelta:
    if isinstance(value, str) and value.strip() in ("0", "0s"):
        return timedelta(0)
    return _to_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]

MAX_WORKERS = 64


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _to_workers(value: Any) -> int | str:
    """`workers`: a whole number from 1 to MAX_WORKERS, or "auto"."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'expected a number of processes (1 to {MAX_WORKERS}) or "auto", '
                         f"got {value!r}")
    if not 1 <= value <= MAX_WORKERS:
        raise ValueError(f'expected a number of processes from 1 to {MAX_WORKERS} or "auto", '
                         f"got {value}")
    return value


def _to_retention(value: Any) -> timedelta | None:
    """A retention: a duration, or "off" (also "0") to keep everything forever."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "0", "0s")):
        return None
    return _to_duration(value)


def _check_url(value: str) -> str:
    """An absolute http(s) URL whose host and port can be read; a message shows it without
    its credentials."""
    shown = without_credentials(value or "")
    if not re.match(r"^https?://[^\s/?#]+", value or "", re.IGNORECASE):
        raise ValueError(f"invalid URL {shown!r}: must be an absolute http:// or https:// URL")
    try:
        urlsplit(value).port  # noqa: B018 - reading the port checks it
    except ValueError:
        # "http://user:pa/ss@host/" reads as host "user", port "pa": say what to write.
        hint = ("; write / ? # @ in a user name or password as %2F %3F %23 %40"
                if "@" in value else "")
        raise ValueError(f"invalid URL {shown!r}: bad host or port{hint}") from None
    return value


HttpUrl = Annotated[str, AfterValidator(_check_url)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MonitorSettings(_Frozen):
    """The ``[monitor]`` table."""

    # A SQLite path, or a postgresql:// URL; with database_env, the URL is read from that
    # environment variable (a password is a secret: never in the file). Never shown whole:
    # monitor.urls.shown_database.
    database: str = Field("data/monitor.db", min_length=1, repr=False)
    database_env: str | None = None
    user_agent: str = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"
    poll_interval: Duration = timedelta(minutes=15)
    max_concurrency: int = Field(32, ge=1, le=1024)
    max_age: Duration = timedelta(hours=48)
    max_per_host: int = Field(2, ge=1, le=64)
    min_host_interval: Annotated[timedelta, BeforeValidator(_to_duration_or_zero)] = timedelta(
        seconds=1)
    allow_private_networks: bool = False
    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=30)
    fetch_deadline: Duration = timedelta(seconds=60)
    max_body_size: int = Field(10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(5, ge=0, le=30)
    max_backoff: Duration = timedelta(hours=6)
    # Processes of this node that share the CPU work of polls (parse, new items, classify):
    # "auto" is one per core; 1 does it all in the daemon's own process.
    workers: Annotated[int | Literal["auto"], BeforeValidator(_to_workers)] = "auto"
    # The old name of `workers` (it counted parser processes, 0 for none), still read.
    parse_workers: int | None = Field(None, ge=0, le=MAX_WORKERS)
    parse_timeout: Duration = timedelta(seconds=30)
    story_window: Duration = timedelta(days=1)
    # One poll of one source opens at most this many alerting stories; its other new items
    # are recorded as seen, without alert (a flooding source cannot fill the outbox).
    max_new_per_poll: int = Field(50, ge=1, le=1_000_000)
    # Items, stories and delivered deliveries older than this are deleted (their dedup keys
    # are kept, so nothing old alerts again); "off" keeps everything. See monitor.retention.
    retention: Annotated[timedelta | None, BeforeValidator(_to_retention)] = timedelta(days=90)
    # A node that stops beating (killed, frozen, cut off) keeps its sources and deliveries
    # this long; then the other nodes of its database take them over (monitor/cluster.py).
    lease_timeout: Duration = timedelta(minutes=5)
    # When a headline names the Taliban but does not settle the event, read its article
    # (monitor/articles.py): "candidates" (those items, and every item of a page source),
    # "all" new items, or "never".
    fetch_articles: Literal["candidates", "never", "all"] = "candidates"
    # Articles fetched per poll_interval by this process, across all sources; the items
    # past it are classified on their headline and lead alone (0: read only the cache).
    article_budget: int = Field(200, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _resolve_database(self) -> MonitorSettings:
        if self.database_env is not None:
            if "database" in self.model_fields_set:
                raise ValueError("set database or database_env, not both")
            value = os.environ.get(self.database_env, "").strip()
            if not value:
                raise ValueError(f"database_env: environment variable {self.database_env} "
                                 "is not set" if self.database_env not in os.environ else
                                 f"database_env: environment variable {self.database_env} "
                                 "is empty")
            object.__setattr__(self, "database", value)
        elif database_password(self.database):
            raise ValueError("database: secrets are never written in the config file; put the "
                             "URL in an environment variable and name it in database_env "
                             "(or the password alone in PGPASSWORD)")
        if "://" in self.database and not is_postgres_url(self.database):
            raise ValueError(f"database: {shown_database(self.database)!r} is neither a "
                             "SQLite file nor a postgresql:// URL")
        return self

    @model_validator(mode="after")
    def _one_name_for_workers(self) -> MonitorSettings:
        if self.parse_workers is not None and "workers" in self.model_fields_set:
            raise ValueError("set workers only: parse_workers is its old name")
        return self

    def worker_count(self, cores: int | None = None) -> int:
        """The processes that share the CPU work of polls: `workers`, else the deprecated
        `parse_workers` (0 meant none: 1 process), else one per core (``cores``, by default
        the cores this process may run on)."""
        if self.parse_workers is not None and "workers" not in self.model_fields_set:
            return max(self.parse_workers, 1)
        if self.workers != "auto":
            return self.workers
        return max(1, min(cores or usable_cores(), MAX_WORKERS))

    @model_validator(mode="after")
    def _retention_covers_stories(self) -> MonitorSettings:
        if self.retention is not None and self.retention < max(self.story_window,
                                                               timedelta(days=1)):
            raise ValueError("retention must be at least 1d and at least story_window "
                             "(a story still being grouped is never deleted), or \"off\"")
        return self



class TopicConfig(_Frozen):
    """A ``[[topics]]`` entry: entities plus an event detector or a boolean query."""

    name: Name
    event: Literal["recognition"] | None = None
    entities: tuple[str, ...] = ()
    query: str | None = None

    @model_validator(mode="after")
    def _needs_something(self) -> TopicConfig:
        if self.event is None and not self.query:
            raise ValueError("a topic needs an event (\"recognition\") or a query")
        if any(not e.strip() for e in self.entities):
            raise ValueError("entities must not contain empty strings")
        return self

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_query(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


class SourceConfig(_Frozen):
    """A ``[[sources]]`` entry: an RSS/Atom feed or an HTML listing page."""

    name: Name
    type: Literal["feed", "page"] = "feed"
    url: HttpUrl
    interval: Duration | None = None
    item_selector: str | None = None
    link_selector: str | None = None
    title_selector: str | None = None
    summary_selector: str | None = None

    @model_validator(mode="after")
    def _page_needs_selectors(self) -> SourceConfig:
        if self.type == "page":
            for key in ("item_selector", "link_selector"):
                if not getattr(self, key):
                    raise ValueError(f"a page source needs {key}")
        return self


SCHEDULE_FORMS = ('schedules look like "immediate", "every 30m" (a duration: s, m, h, d) '
                  'or a 5-field cron string in UTC like "0 8 * * *"')


def _check_schedule(value: str) -> str:
    text = value.strip()
    if text == "immediate":
        return text
    if text.startswith("every "):
        try:
            parse_duration(text[len("every "):])
        except ValueError:
            raise ValueError(f"invalid schedule {value!r}: {SCHEDULE_FORMS}") from None
        return text
    from apscheduler.triggers.cron import CronTrigger

    if len(text.split()) != 5:
        raise ValueError(f"invalid schedule {value!r}: {SCHEDULE_FORMS}")
    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        reason = str(exc).rsplit("': ", 1)[-1]  # not APScheduler's "Error validating ..."
        raise ValueError(f"invalid cron schedule {value!r}: {reason}; {SCHEDULE_FORMS}") \
            from None
    return text


Schedule = Annotated[str, AfterValidator(_check_schedule)]


def _check_timezone(value: str) -> str:
    """An IANA time zone name the system (or the tzdata package) knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name like "
                         "\"Europe/Paris\", \"America/New_York\" or \"UTC\"") from None
    return value


TimeZone = Annotated[str, AfterValidator(_check_timezone)]


class _NotifierBase(_Frozen):
    name: Name
    schedule: Schedule = "immediate"
    topics: tuple[str, ...] | None = None
    operator: bool = False
    alert_after: Duration = timedelta(hours=6)
    max_attempts: int = Field(12, ge=1, le=1000)
    give_up_after: Duration = timedelta(days=2)
    timezone: TimeZone = "UTC"     # times in the messages people read (JSON stays UTC)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _env_secret(value: str | None, key: str) -> SecretStr | None:
    if value is None:
        return None
    secret = os.environ.get(value)
    if secret is None:
        raise ValueError(f"{key}: environment variable {value} is not set")
    return SecretStr(secret)


class EmailNotifierConfig(_NotifierBase):
    """``type = "email"``: one multipart/alternative message per digest over SMTP."""

    type: Literal["email"]
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    from_: str = Field(alias="from", min_length=3)
    to: tuple[str, ...] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)
    password: SecretStr | None = Field(None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _resolve_password(self) -> EmailNotifierConfig:
        if self.password_env is not None and self.password is None:
            object.__setattr__(self, "password", _env_secret(self.password_env, "password_env"))
        return self


class WebhookNotifierConfig(_NotifierBase):
    """``type = "webhook"``: one POST per digest, JSON, Slack or Discord body."""

    type: Literal["webhook"]
    url: HttpUrl
    format: Literal["json", "slack", "discord"] = "json"
    secret_env: str | None = None
    timeout: Duration = timedelta(seconds=15)
    secret: SecretStr | None = Field(None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _resolve_secret(self) -> WebhookNotifierConfig:
        if self.secret_env is not None and self.secret is None:
            object.__setattr__(self, "secret", _env_secret(self.secret_env, "secret_env"))
        return self


class FileNotifierConfig(_NotifierBase):
    """``type = "file"``: appends each digest, as text, to a local file."""

    type: Literal["file"]
    path: str = Field(min_length=1)


APPRISE_EXTRA = "pip install 'news-monitor[apprise]'"
_APPRISE_URL_SPLIT = re.compile(r"\s+|,\s*(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


def split_apprise_urls(text: str) -> tuple[str, ...]:
    """Apprise URLs from one variable: separated by whitespace, or by commas before a scheme
    (a comma inside one URL, as in ``mailto://...?to=a,b``, stays)."""
    return tuple(u for u in _APPRISE_URL_SPLIT.split(text.strip()) if u)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://" if "://" in url else "(no scheme)"


class _Silence(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _apprise_accepts(apprise: Any, url: str) -> object | None:
    """Apprise's plugin for ``url``, or None; Apprise's own log lines (which print the URL,
    a secret) are dropped while it looks."""
    logger, silence = logging.getLogger("apprise"), _Silence()
    logger.addFilter(silence)
    try:
        plugin: object | None = apprise.Apprise.instantiate(url)
        return plugin
    finally:
        logger.removeFilter(silence)


class AppriseNotifierConfig(_NotifierBase):
    """``type = "apprise"``: one message per digest to each Apprise URL (chat, push, SMS).

    The URLs carry their services' tokens, so they come from the environment variable
    named by ``urls_env``, never from the file. Needs the ``apprise`` extra.
    """

    type: Literal["apprise"]
    urls_env: str = Field(min_length=1)
    urls: tuple[SecretStr, ...] = Field((), exclude=True, repr=False)

    @model_validator(mode="after")
    def _resolve_urls(self) -> AppriseNotifierConfig:
        if self.urls:
            return self
        try:
            import apprise
        except ImportError:
            raise ValueError("type \"apprise\" needs the optional Apprise package: "
                             f"{APPRISE_EXTRA}") from None
        value = _env_secret(self.urls_env, "urls_env")
        urls = split_apprise_urls(value.get_secret_value() if value else "")
        if not urls:
            raise ValueError(f"urls_env: environment variable {self.urls_env} is empty; "
                             "put one or more Apprise URLs in it")
        for number, url in enumerate(urls, 1):
            if _apprise_accepts(apprise, url) is None:  # the URL itself is a secret
                raise ValueError(f"urls_env: URL {number} in {self.urls_env} "
                                 f"({_scheme(url)}) is not one Apprise can use; see "
                                 "https://github.com/caronc/apprise/wiki")
        object.__setattr__(self, "urls", tuple(SecretStr(u) for u in urls))
        return self


_LISTEN = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")
LISTEN_FORMS = 'like "127.0.0.1:8080", "[::1]:8080" or "0.0.0.0:8080"'


def split_listen(value: str) -> tuple[str, int]:
    """PURE: ``"127.0.0.1:8080"`` -> ("127.0.0.1", 8080); an IPv6 address in brackets, or
    ``localhost``; a port 0 lets the system choose one."""
    match = _LISTEN.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        hint = ("; write an IPv6 address in brackets, like [::1]:8080"
                if isinstance(value, str) and value.count(":") > 1 else "")
        raise ValueError(f"invalid listen address {value!r}: an IP address and a port, "
                         f"{LISTEN_FORMS}{hint}")
    host, port = match.group("v6") or match.group("host"), int(match.group("port"))
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"invalid listen address {value!r}: {host!r} is not an IP "
                             f"address (or localhost); {LISTEN_FORMS}") from None
        if (address.version == 6) != bool(match.group("v6")):
            raise ValueError(f"invalid listen address {value!r}: write an IPv6 address in "
                             "brackets, like [::1]:8080")
    if port > 65535:
        raise ValueError(f"invalid listen address {value!r}: the port must be 0 to 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """PURE: whether ``host`` (an IP address or localhost) is on the loopback interface."""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


class HttpSettings(_Frozen):
    """The ``[http]`` table: `monitor run` serves the status page, the JSON API and the
    health checks there. Writes, and every request on a non-loopback address, need the
    bearer token held in the variable named by ``token_env``."""

    listen: str = "127.0.0.1:8080"
    token_env: str | None = None
    token: SecretStr | None = Field(None, exclude=True, repr=False)

    @field_validator("listen")
    @classmethod
    def _listen_parses(cls, value: str) -> str:
        split_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _resolve_token(self) -> HttpSettings:
        if self.token_env is not None and self.token is None:
            token = _env_secret(self.token_env, "token_env")
            if token is None or not token.get_secret_value().strip():
                raise ValueError(f"token_env: environment variable {self.token_env} is empty")
            object.__setattr__(self, "token", token)
        if self.token is None and not self.loopback:
            raise ValueError(f"token_env: required when listen is not a loopback address "
                             f"({self.listen}): name the environment variable holding the "
                             f"token that every request must then carry")
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


NotifierConfig = Annotated[
    EmailNotifierConfig | WebhookNotifierConfig | FileNotifierConfig | AppriseNotifierConfig,
    Field(discriminator="type"),
]
NOTIFIER_TYPES = ("email", "webhook", "file", "apprise")


class Config(_Frozen):
    """The whole configuration file."""

    monitor: MonitorSettings = MonitorSettings()
    http: HttpSettings | None = None       # absent: nothing listens
    topics: tuple[TopicConfig, ...] = Field(min_length=1)
    sources: tuple[SourceConfig, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = ()
    path: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        for table in ("topics", "sources", "notifiers"):
            seen: dict[str, int] = {}
            for index, entry in enumerate(getattr(self, table)):
                if entry.name in seen:
                    raise _KeyError(f"{table}[{index}].name",
                                    f"duplicate name {entry.name!r} "
                                    f"(also {table}[{seen[entry.name]}])")
                seen[entry.name] = index
        topic_names = {t.name for t in self.topics}
        for index, notifier in enumerate(self.notifiers):
            for name in notifier.topics or ():
                if name not in topic_names:
                    raise _KeyError(f"notifiers[{index}].topics",
                                    f"unknown topic {name!r}; known: {sorted(topic_names)}")
        return self

    def source(self, name: str) -> SourceConfig:
        return next(s for s in self.sources if s.name == name)

    def notifier(self, name: str) -> NotifierConfig:
        for n in self.notifiers:
            if n.name == name:
                return n
        raise ConfigError(f"no notifier named {name!r}; "
                          f"known: {', '.join(n.name for n in self.notifiers) or 'none'}")

    def interval(self, source: SourceConfig) -> timedelta:
        return source.interval or self.monitor.poll_interval


class _KeyError(ValueError):
    """A cross-check failure that knows its own key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias or name for name, f in model.model_fields.items() if not f.exclude)


KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": _keys(Config), "monitor": _keys(MonitorSettings), "http": _keys(HttpSettings),
    "topics": _keys(TopicConfig),
    "sources": _keys(SourceConfig), "notifiers.email": _keys(EmailNotifierConfig),
    "notifiers.webhook": _keys(WebhookNotifierConfig), "notifiers.file": _keys(FileNotifierConfig),
    "notifiers.apprise": _keys(AppriseNotifierConfig),
}


def _cross_check(ctx_error: Any) -> str | None:
    if isinstance(ctx_error, _KeyError):
        return f"{ctx_error.path}: {ctx_error.message}"
    return None


def _secrets_in_file(data: dict[str, Any]) -> list[str]:
    """The resolved-secret keys are filled from *_env variables, never from the file."""
    tables: list[tuple[str, Any, tuple[str, ...]]] = [("http", data.get("http"), ("token",))]
    notifiers = data.get("notifiers")
    if isinstance(notifiers, list):
        tables += [(f"notifiers[{i}]", entry, ("password", "secret", "urls"))
                   for i, entry in enumerate(notifiers)]
    return [f"{where}.{key}: secrets are never written in the config file; put it in "
            f"an environment variable and name that variable in {key}_env"
            for where, entry, keys in tables if isinstance(entry, dict)
            for key in keys if key in entry]


def load_config_data(data: dict[str, Any], path: str = "") -> Config:
    """Validate an already-parsed TOML document."""
    refused = _secrets_in_file(data)
    if refused:
        raise ConfigError("\n".join(refused))
    try:
        return Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(describe_all(exc.errors(), KNOWN_KEYS, NOTIFIER_TYPES,
                                       _cross_check)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file; ConfigError names the key path on error."""
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        raw = chosen.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {chosen}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {chosen}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    return load_config_data(data, str(chosen))
