"""``type = "webhook"``: one POST per digest, as JSON, Slack or Discord.

Headers: ``X-Monitor-Delivery`` carries the digest id (stable across retries, an
idempotency key for the receiver); with ``secret_env`` set, ``X-Monitor-Signature:
sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes. Any answer other than
2xx fails: 408, 429, 5xx, network errors and timeouts are temporary (``Retry-After``
is honoured), other statuses are permanent and keep (a capped part of) the body. A
redirect (3xx) is permanent on purpose: the signed body is never sent on to another
address, and the error names where the receiver pointed (scheme and host) so the
operator can fix the url. A receiver that answers after ``timeout`` may have taken the
digest: the retry sends it again under the same ``X-Monitor-Delivery`` id.

Errors name the URL by scheme and host only: Slack and Discord webhook paths are
credentials. The secret never appears in messages or logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from monitor.config import MonitorSettings, WebhookNotifierConfig
from monitor.digest import (
    clean_text,
    digest_payload,
    one_line,
    render_subject,
    safe_id,
    safe_link,
    story_view,
)
from monitor.errors import NotifyError
from monitor.headers import parse_retry_after
from monitor.neterrors import describe_connection_error
from monitor.notify.base import (
    ERROR_BODY_LIMIT,
    redact_url,
    scrub,
    url_secrets,
)
from monitor.text import ELLIPSIS, cap
from monitor.types import Digest

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery"

# Slack: https://api.slack.com/reference/block-kit/blocks (50 blocks, 3000 chars a section)
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_LIMIT = 3000
SLACK_TEXT_LIMIT = 3000
# Discord: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
DISCORD_CONTENT_LIMIT = 2000
DISCORD_MAX_EMBEDS = 10
DISCORD_TITLE_LIMIT = 256
DISCORD_DESCRIPTION_LIMIT = 4096
DISCORD_FOOTER_LIMIT = 2048
DISCORD_EMBEDS_TOTAL = 6000
_TEMPORARY_STATUSES = {408, 429}


def slack_escape(text: str) -> str:
    """Slack's three control characters, as its docs require for mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    link = safe_link(url)
    if link is None:
        return f"*{slack_escape(label)}*"
    link = link.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"*<{link}|{slack_escape(label).replace('|', '¦')}>*"


def slack_body(digest: Digest, zone: tzinfo = UTC) -> dict[str, Any]:
    """A Slack incoming-webhook message: fallback ``text`` plus Block Kit ``blocks``."""
    subject = render_subject(digest)
    blocks: list[dict[str, Any]] = [_slack_section(f"*{slack_escape(subject)}*")]
    if digest.kind in ("health", "test") or not digest.stories:
        text = clean_text(digest.text) or (
            "A test message from news-monitor." if digest.kind == "test" else "No new stories.")
        blocks.append(_slack_section(slack_escape(text)))
    stories = [story_view(s, zone) for s in digest.stories]
    room = SLACK_MAX_BLOCKS - len(blocks) - 1
    for story in stories[:room]:
        lines = [_slack_link(story.link or story.url, story.title),
                 slack_escape(" · ".join(filter(None, [
                     story.category_label, ", ".join(story.source_names), story.published]))),
                 ]
        if story.actors_text:
            lines.append(slack_escape("Actors: " + story.actors_text))
        if story.novelty:
            lines.append(slack_escape(story.novelty))
        if story.lead:
            lines.append(slack_escape(story.lead))
        if story.show_evidence:
            lines.append("> " + slack_escape(("from the article: " if story.from_article
                                              else "") + story.evidence.replace("\n", " ")))
        blocks.append(_slack_section("\n".join(lines)))
    if len(stories) > room:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"…and {len(stories) - room} more stories"}]})
    return {"text": cap(slack_escape(subject), SLACK_TEXT_LIMIT), "blocks": blocks}


def _slack_section(text: str) -> dict[str, Any]:
    if len(text) > SLACK_SECTION_LIMIT:
        text = text[: SLACK_SECTION_LIMIT - 1]
        # never leave a half escape sequence (&am) or half link behind
        amp = text.rfind("&")
        if amp >= len(text) - 4:
            text = text[:amp]
        text += ELLIPSIS
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


_DISCORD_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\*_~`|>#[]"})


def discord_escape(text: str) -> str:
    """Backslash Discord's markdown characters so feed text shows as written."""
    return text.translate(_DISCORD_MARKDOWN)


def discord_body(digest: Digest, zone: tzinfo = UTC) -> dict[str, Any]:
    """A Discord webhook message within Discord's limits; mentions are never parsed."""
    subject = render_subject(digest)
    body: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if digest.kind in ("health", "test") or not digest.stories:
        text = clean_text(digest.text) or (
            "A test message from news-monitor." if digest.kind == "test" else "No new stories.")
        body["content"] = cap(f"**{discord_escape(subject)}**\n{discord_escape(text)}",
                              DISCORD_CONTENT_LIMIT)
        body["embeds"] = []
        return body
    stories = [story_view(s, zone) for s in digest.stories]
    shown, rest = stories[:DISCORD_MAX_EMBEDS], stories[DISCORD_MAX_EMBEDS:]
    budget = DISCORD_EMBEDS_TOTAL // len(shown)
    embeds = []
    for story in shown:
        title = cap(story.title, min(DISCORD_TITLE_LIMIT, budget // 4))
        footer = cap(", ".join(story.source_names) or "unknown source",
                     min(DISCORD_FOOTER_LIMIT, budget // 8))
        lines = [f"**Category:** {discord_escape(story.category_label)}",
                 f"**Sources:** {discord_escape(', '.join(story.source_names) or 'unknown')}",
                 f"**Published:** {story.published}"]
        if story.actors_text:
            lines.append(f"**Actors:** {discord_escape(story.actors_text)}")
        if story.novelty:
            lines.append(discord_escape(story.novelty))
        if story.lead:
            lines.append(discord_escape(story.lead))
        if story.show_evidence:
            lines.append("> " + discord_escape(("from the article: " if story.from_article
                                                else "") + story.evidence.replace("\n", " ")))
        description = cap("\n".join(lines),
                          min(DISCORD_DESCRIPTION_LIMIT, budget - len(title) - len(footer)))
        embed: dict[str, Any] = {"title": title, "description": description,
                                 "footer": {"text": footer}}
        if story.link:
            embed["url"] = story.link
        if story.published_iso:
            embed["timestamp"] = story.published_iso
        embeds.append(embed)
    content = f"**{discord_escape(subject)}**"
    for story in rest:
        line = f"\n- {discord_escape(story.title)}"
        if story.link:
            line += f" <{story.link}>"
        if len(content) + len(line) > DISCORD_CONTENT_LIMIT - 40:
            content += f"\n…and {len(rest) - rest.index(story)} more stories"
            break
        content += line
    body["content"] = cap(content, DISCORD_CONTENT_LIMIT)
    body["embeds"] = embeds
    return body


def webhook_body(digest: Digest, fmt: str, sent_at: datetime, zone: tzinfo = UTC) -> bytes:
    """The exact bytes POSTed (and signed) for ``fmt`` "json", "slack" or "discord"; Slack
    and Discord show times in ``zone``, the JSON body keeps UTC."""
    if fmt == "slack":
        payload = slack_body(digest, zone)
    elif fmt == "discord":
        payload = discord_body(digest, zone)
    else:
        payload = digest_payload(digest, sent_at)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Monitor-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _redirect_target(url: str, location: str | None) -> str:
    """Where a redirect points, by scheme and host only (its path may hold a token)."""
    if not location:
        return "nowhere (no Location)"
    try:
        return redact_url(urljoin(url, one_line(location, 2000)))
    except ValueError:  # a bracketed host or a port out of range
        return "an unreadable address"


class WebhookNotifier:
    """POSTs each digest to ``config.url`` (``type = "webhook"``)."""

    type = "webhook"
    options = WebhookNotifierConfig

    def __init__(self, config: WebhookNotifierConfig, *,
                 session: requests.Session | None = None,
                 clock: Callable[[], datetime] | None = None,
                 user_agent: str = MonitorSettings().user_agent) -> None:
        self.name = config.name
        self.config = config
        self.user_agent = one_line(user_agent, 500)
        self._session = session or requests.Session()
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, url={redact_url(self.config.url)!r})"

    def close(self) -> None:
        self._session.close()

    def send(self, digest: Digest) -> None:
        config = self.config
        body = webhook_body(digest, config.format, self._clock(), config.zone)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            DELIVERY_HEADER: safe_id(digest.id),
        }
        secret = config.secret.get_secret_value() if config.secret else None
        if secret:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        where = redact_url(config.url)
        timeout = config.timeout.total_seconds()
        try:
            response = self._session.post(config.url, data=body, headers=headers,
                                          timeout=timeout, allow_redirects=False, stream=True)
        except requests.Timeout:
            raise NotifyError(f"webhook {where}: timed out after {timeout:g}s") from None
        except requests.RequestException as exc:
            # One short phrase (refused, unresolvable, TLS ...), not urllib3's nested reprs.
            host = urlsplit(config.url).hostname or "?"
            reason = scrub(one_line(describe_connection_error(exc, host), ERROR_BODY_LIMIT),
                           config.url, *url_secrets(config.url), secret)
            raise NotifyError(f"webhook {where}: {reason}") from None
        with response:
            status = response.status_code
            if 200 <= status < 300:
                log.debug("webhook %s: digest %s delivered (%d)", self.name, digest.id, status)
                return
            try:
                raw = response.raw.read(ERROR_BODY_LIMIT * 4, decode_content=True) or b""
            except Exception:  # noqa: BLE001 - the body is only a hint for the operator
                raw = b""
        text = scrub(one_line(raw.decode("utf-8", errors="replace"), ERROR_BODY_LIMIT), secret)
        message = f"webhook {where}: HTTP {status}" + (f": {text}" if text else "")
        if 300 <= status < 400:
            # A signed POST is not sent on to wherever the receiver points: the configured
            # url is wrong (http for https, a moved endpoint). Retrying would not fix it.
            target = _redirect_target(config.url, response.headers.get("Location"))
            message = (f"webhook {where}: HTTP {status} redirect to {target} not followed; "
                       f"set the notifier's url to the receiver's final address")
        if status in _TEMPORARY_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            raise NotifyError(message, permanent=False, retry_after=retry_after)
        raise NotifyError(message, permanent=True)
