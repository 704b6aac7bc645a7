"""Webhook notifier against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.config import WebhookNotifierConfig
from monitor.errors import NotifyError
from monitor.headers import parse_retry_after
from monitor.notify import NOTIFIER_TYPES, WebhookNotifier, build_notifier
from monitor.types import Digest, Story, StorySource
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

NOW = datetime(2025, 7, 3, 13, 0, tzinfo=UTC)
SECRET = "whsec-test-3f9a1c77"
HOOK = "/hooks/T000/B000/token-abc123"


def story(n: int, title: str | None = None, evidence: str | None = None) -> Story:
    when = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    return Story(
        id=n, topic="taliban-recognition",
        title=title or f"Story {n}: a ministry receives an envoy",
        url=f"https://news.example/{n}", published=when, category="recognition_step",
        score=0.75, actors=("Ruritania",),
        evidence=evidence or f"Evidence sentence number {n} about the envoy's credentials.",
        sources=(StorySource("Wire One", f"https://news.example/{n}", "t", when),
                 StorySource("Daily <Two>", f"https://two.example/{n}", "t", when)),
    )


def digest(*stories: Story, digest_id: str = "ops-hook-17") -> Digest:
    return Digest(id=digest_id, notifier="ops-hook", created_at=NOW, stories=stories)


def notifier(url: str, fmt: str = "json", secret: str | None = None) -> WebhookNotifier:
    data = {"name": "ops-hook", "type": "webhook", "url": url, "format": fmt,
            "timeout": "5s"}
    if secret is not None:
        data["secret"] = secret
    return WebhookNotifier(WebhookNotifierConfig.model_validate(data), clock=lambda: NOW)


@pytest.fixture
def server(fresh_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The module's receiver, reset, answering 204 on the hook."""
    fresh_server.route(HOOK, Response(204))
    return fresh_server


def test_json_body_headers_and_signature(server: LoopbackHTTPServer) -> None:
    hook = notifier(server.url(HOOK), secret=SECRET)
    hook.send(digest(story(1), story(2)))
    (request,) = server.requests_to(HOOK)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Monitor-Delivery"] == "ops-hook-17"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Monitor-Signature"] == f"sha256={expected}"
    body = json.loads(request.body)
    assert body["id"] == "ops-hook-17" and body["notifier"] == "ops-hook"
    assert body["sent_at"] == "2025-07-03T13:00:00Z"
    assert [s["id"] for s in body["stories"]] == [1, 2]
    assert body["stories"][0]["sources"] == ["Wire One", "Daily <Two>"]
    assert set(body["stories"][0]) >= {"id", "topic", "title", "url", "sources", "published",
                                       "category", "score", "actors", "evidence"}


def test_no_signature_without_secret_and_same_id_on_retry(server: LoopbackHTTPServer) -> None:
    hook = notifier(server.url(HOOK))
    hook.send(digest(story(1)))
    hook.send(digest(story(1)))
    first, second = server.requests_to(HOOK)
    assert "X-Monitor-Signature" not in first.headers
    assert first.headers["X-Monitor-Delivery"] == second.headers["X-Monitor-Delivery"]
    assert first.body == second.body


def test_tampered_body_does_not_verify(server: LoopbackHTTPServer) -> None:
    notifier(server.url(HOOK), secret=SECRET).send(digest(story(1)))
    (request,) = server.requests_to(HOOK)
    tampered = request.body.replace(b"Story 1", b"Story 9")
    digest_hex = hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest()
    assert request.headers["X-Monitor-Signature"] != f"sha256={digest_hex}"


def test_slack_body_is_escaped_and_within_limits(server: LoopbackHTTPServer) -> None:
    stories = [story(1, title="<script>alert(1)</script> & <!channel>", evidence="x" * 5000)]
    stories += [story(n) for n in range(2, 81)]
    notifier(server.url(HOOK), fmt="slack").send(digest(*stories))
    body = json.loads(server.requests_to(HOOK)[0].body)
    assert isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert len(blocks) <= 50
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    first = sections[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;" in first
    assert "<script>" not in json.dumps(body) and "<!channel>" not in json.dumps(body)
    assert "<https://news.example/1|" in first
    assert blocks[-1]["type"] == "context" and "more stories" in json.dumps(blocks[-1])


def test_discord_body_within_limits(server: LoopbackHTTPServer) -> None:
    stories = [story(n, title=("@everyone " + "T" * 400), evidence="e" * 6000)
               for n in range(1, 31)]
    notifier(server.url(HOOK), fmt="discord").send(digest(*stories))
    body = json.loads(server.requests_to(HOOK)[0].body)
    assert body["allowed_mentions"] == {"parse": []}
    assert len(body["content"]) <= 2000
    embeds = body["embeds"]
    assert len(embeds) == 10
    total = 0
    for embed in embeds:
        assert len(embed["title"]) <= 256
        assert len(embed["description"]) <= 4096
        assert embed["url"].startswith("https://news.example/")
        total += len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    assert total <= 6000
    assert "more stories" in body["content"] or body["content"].count("\n- ") == 20


def test_discord_and_slack_carry_health_text(server: LoopbackHTTPServer) -> None:
    health = Digest(id="h-1", notifier="ops-hook", created_at=NOW, stories=(), kind="health",
                    text="Source 'Wire One' failing for 6h: HTTP 503")
    notifier(server.url(HOOK), fmt="discord").send(health)
    notifier(server.url(HOOK), fmt="slack").send(health)
    discord, slack = (json.loads(r.body) for r in server.requests_to(HOOK))
    assert "failing for 6h" in discord["content"]
    assert any("failing for 6h" in b["text"]["text"] for b in slack["blocks"])


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_temporary(server: LoopbackHTTPServer, status: int) -> None:
    server.route(HOOK, Response(status, b"upstream trouble"))
    with pytest.raises(NotifyError) as caught:
        notifier(server.url(HOOK)).send(digest(story(1)))
    assert caught.value.permanent is False
    assert str(status) in str(caught.value)


def test_429_with_retry_after_seconds(server: LoopbackHTTPServer) -> None:
    server.route(HOOK, Response(429, b"slow down", headers={"Retry-After": "120"}))
    with pytest.raises(NotifyError) as caught:
        notifier(server.url(HOOK)).send(digest(story(1)))
    assert caught.value.permanent is False
    assert caught.value.retry_after == 120


def test_503_with_retry_after_http_date(server: LoopbackHTTPServer) -> None:
    later = format_datetime(NOW + timedelta(minutes=5), usegmt=True)
    server.route(HOOK, Response(503, b"", headers={"Retry-After": later}))
    with pytest.raises(NotifyError) as caught:
        notifier(server.url(HOOK)).send(digest(story(1)))
    assert caught.value.permanent is False
    assert caught.value.retry_after == pytest.approx(300)


def test_400_is_permanent_and_keeps_the_body(server: LoopbackHTTPServer) -> None:
    server.route(HOOK, Response(400, b"invalid payload: field 'stories' rejected" + b"z" * 5000))
    with pytest.raises(NotifyError) as caught:
        notifier(server.url(HOOK)).send(digest(story(1)))
    assert caught.value.permanent is True
    message = str(caught.value)
    assert "400" in message and "invalid payload: field 'stories' rejected" in message
    assert len(message) < 1000


def test_redirect_is_not_followed(server: LoopbackHTTPServer) -> None:
    server.route(HOOK, Response(302, b"", headers={"Location": server.url("/elsewhere")}))
    with pytest.raises(NotifyError) as caught:
        notifier(server.url(HOOK)).send(digest(story(1)))
    assert caught.value.permanent is True
    assert server.requests_to("/elsewhere") == []


def test_secret_and_url_token_never_in_errors(server: LoopbackHTTPServer) -> None:
    def echo(request: RecordedRequest) -> Response:
        return Response(403, f"bad signature, expected secret {SECRET}".encode())

    server.route(HOOK, echo)
    hook = notifier(server.url(HOOK), secret=SECRET)
    with pytest.raises(NotifyError) as caught:
        hook.send(digest(story(1)))
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert "token-abc123" not in repr(hook) and SECRET not in repr(hook.config)


def test_connection_refused_is_temporary_and_hides_the_path() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NotifyError) as caught:
        notifier(f"http://127.0.0.1:{port}{HOOK}", secret=SECRET).send(digest(story(1)))
    assert caught.value.permanent is False
    assert "token-abc123" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # one short line: host and reason, not urllib3's nested reprs
    assert str(caught.value) == f"webhook http://127.0.0.1:{port}/…: connection refused"


def test_a_receiver_that_hangs_up_is_one_short_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def hang_up() -> None:
            conn, _ = listener.accept()
            with conn:  # read the whole request, then close without a word
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)

        worker = threading.Thread(target=hang_up, daemon=True)
        worker.start()
        with pytest.raises(NotifyError) as caught:
            notifier(f"http://127.0.0.1:{port}{HOOK}").send(digest(story(1)))
        worker.join(10)
    assert str(caught.value) == (f"webhook http://127.0.0.1:{port}/…: "
                                 "connection closed without a response")
    assert caught.value.permanent is False


def test_timeout_is_temporary(server: LoopbackHTTPServer) -> None:
    server.route(HOOK, Response(200, b"late", delay=3))
    data = {"name": "slow", "type": "webhook", "url": server.url(HOOK), "timeout": "1s"}
    hook = WebhookNotifier(WebhookNotifierConfig.model_validate(data))
    with pytest.raises(NotifyError) as caught:
        hook.send(digest(story(1)))
    assert caught.value.permanent is False


def test_registry_builds_a_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    config = WebhookNotifierConfig.model_validate(
        {"name": "h", "type": "webhook", "url": "https://hooks.example/x",
         "secret_env": "TEST_HOOK_SECRET"})
    built = build_notifier(config)
    assert isinstance(built, WebhookNotifier) and NOTIFIER_TYPES["webhook"] is WebhookNotifier
    assert built.name == "h"


@pytest.mark.parametrize(("value", "expected"), [
    ("30", 30.0), ("0", 0.0), (None, None), ("soon", None),
    ("Thu, 03 Jul 2025 13:02:00 GMT", 120.0), ("Thu, 03 Jul 2025 12:00:00 GMT", 0.0),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_sends_the_configured_user_agent_and_each_storys_lead(
        server: LoopbackHTTPServer) -> None:
    """`[monitor] user_agent` is what the receiver sees (as the fetcher sends it), and each
    story carries its lead, without the headline the description repeats."""
    from monitor.config import load_config_data

    config = load_config_data({
        "monitor": {"user_agent": "desk-monitor/2.1 (+https://desk.example/bot)"},
        "topics": [{"name": "t", "event": "recognition"}],
        "notifiers": [{"name": "ops-hook", "type": "webhook", "url": server.url(HOOK)}]})
    hook = build_notifier(config.notifiers[0], config.monitor.user_agent)
    lead = "The ministry said the envoy would present his papers on Monday. More follows."
    hook.send(digest(replace(story(1, title="A ministry receives an envoy"),
                             summary="A ministry receives an envoy. " + lead)))
    (request,) = server.requests_to(HOOK)
    assert request.headers["User-Agent"] == "desk-monitor/2.1 (+https://desk.example/bot)"
    (sent,) = json.loads(request.body)["stories"]
    assert sent["lead"] == lead
    assert sent["evidence"] == "Evidence sentence number 1 about the envoy's credentials."
