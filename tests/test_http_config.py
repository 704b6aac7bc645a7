"""The `[http]` table: where the HTTP face listens and which token guards it."""

from __future__ import annotations

import pytest

from monitor.config import load_config_data
from monitor.errors import ConfigError

MINIMAL = {"topics": [{"name": "t", "event": "recognition", "entities": ["Taliban"]}]}


def refused(http: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_data({**MINIMAL, "http": http})
    return str(info.value)


def test_absent_means_nothing_listens() -> None:
    assert load_config_data(MINIMAL).http is None


def test_an_empty_table_listens_on_loopback_port_8080() -> None:
    http = load_config_data({**MINIMAL, "http": {}}).http
    assert http is not None
    assert (http.host, http.port, http.loopback, http.token) == ("127.0.0.1", 8080, True, None)


@pytest.mark.parametrize("listen, host, port", [
    ("127.0.0.1:9000", "127.0.0.1", 9000),
    ("127.0.0.2:0", "127.0.0.2", 0),
    ("localhost:8080", "localhost", 8080),
    ("[::1]:8080", "::1", 8080),
])
def test_loopback_listen_addresses(listen: str, host: str, port: int) -> None:
    http = load_config_data({**MINIMAL, "http": {"listen": listen}}).http
    assert http is not None
    assert (http.host, http.port, http.loopback) == (host, port, True)


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NM_TEST_HTTP_TOKEN", "s3cret-token")
    http = load_config_data({**MINIMAL, "http": {"listen": "0.0.0.0:8080",
                                                 "token_env": "NM_TEST_HTTP_TOKEN"}}).http
    assert http is not None and http.token is not None
    assert http.token.get_secret_value() == "s3cret-token"
    assert http.loopback is False
    assert "s3cret-token" not in repr(http)


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.0.2.7:8080", "[::]:8080"])
def test_a_public_listen_without_a_token_is_refused(listen: str) -> None:
    message = refused({"listen": listen})
    assert message.startswith("http.token_env: required when listen is not a loopback")


@pytest.mark.parametrize("listen, says", [
    ("8080", "http.listen: "),
    ("127.0.0.1", "http.listen: "),
    ("127.0.0.1:http", "http.listen: "),
    ("127.0.0.1:70000", "http.listen: "),
    ("::1:8080", "brackets"),
    ("example.org:8080", "http.listen: "),
    (":8080", "http.listen: "),
])
def test_a_bad_listen_names_its_key(listen: str, says: str) -> None:
    assert says in refused({"listen": listen})


def test_a_missing_or_empty_token_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NM_TEST_HTTP_TOKEN", raising=False)
    assert refused({"token_env": "NM_TEST_HTTP_TOKEN"}) == (
        "http.token_env: environment variable NM_TEST_HTTP_TOKEN is not set")
    monkeypatch.setenv("NM_TEST_HTTP_TOKEN", "  ")
    assert "http.token_env: environment variable NM_TEST_HTTP_TOKEN is empty" in refused(
        {"token_env": "NM_TEST_HTTP_TOKEN"})


def test_a_token_written_in_the_file_is_refused() -> None:
    message = refused({"token": "in-the-file"})
    assert message.startswith("http.token: secrets are never written in the config file")
    assert "in-the-file" not in message


def test_an_unknown_key_suggests_the_right_one() -> None:
    assert refused({"listn": "127.0.0.1:8080"}) == (
        "http.listn: unknown key; did you mean `listen`?")


def test_check_config_says_where_the_http_face_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.report import config_summary

    monkeypatch.setenv("NM_TEST_HTTP_TOKEN", "s3cret-token")
    summary = config_summary(load_config_data({**MINIMAL, "http": {
        "listen": "[::1]:9000", "token_env": "NM_TEST_HTTP_TOKEN"}}))
    assert "http: [::1]:9000 (reads open; API writes: the token in $NM_TEST_HTTP_TOKEN)" \
        in summary
    assert "s3cret-token" not in summary
    assert "http:" not in config_summary(load_config_data(MINIMAL))
