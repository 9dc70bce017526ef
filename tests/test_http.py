"""The one HTTP client: Retry-After, retries with jitter, the run's time budget, error mapping, bounds.

Everything goes through ``httpx.MockTransport``; no test sleeps for real (the client's ``sleep`` records).
"""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from cxone_tune import http as http_mod
from cxone_tune.auth import BearerAuth, Token, TokenSource
from cxone_tune.errors import (
    ApiUnavailable,
    AuthError,
    CampaignConflict,
    ConfigError,
    CxoneTuneError,
    NotFound,
    ProtocolError,
    RateLimited,
    TemporaryFailure,
    ValueRejected,
)
from cxone_tune.http import ApiClient, RetryPolicy, json_object, parse_retry_after

URL = "https://api-eu.nicecxone.com/api/v2/campaigns/c-100"
CALL = "GET campaign c-100"
Handler = Callable[[httpx.Request], httpx.Response]
V2_400 = {
    "errors": [
        {
            "code": "INVALID_VALUE",
            "message": "maxConcurrentCalls must be between 1 and 50",
            "path": "rules.maxConcurrentCalls",
        }
    ]
}


class Recorder:
    """Stands in for ``time.sleep``: remembers every wait, optionally advancing a fake clock."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.now += seconds


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now


class Server:
    """A scripted transport: answers from a list (the last one repeats) and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        answer = self.answers[index]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def count(self) -> int:
        return len(self.requests)


def make_client(
    server: Server,
    sleep: Recorder | None = None,
    auth: httpx.Auth | None = None,
    **policy: Any,
) -> ApiClient:
    return ApiClient(
        RetryPolicy(**policy),
        transport=httpx.MockTransport(server),
        sleep=sleep if sleep is not None else Recorder(),
        auth=auth,
    )


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"id": "c-100"})


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(code, headers=headers)
    return httpx.Response(code, json=body, headers=headers)


class FakeTimeModule:
    """What ``cxone_tune.http`` sees as ``time``: the fake monotonic clock, the real module for the rest."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def monotonic(self) -> float:
        return self.clock.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replaces the clock cxone_tune.http reads (only there), so the time budget is under test control."""
    fake = FakeClock()
    monkeypatch.setattr(http_mod, "time", FakeTimeModule(fake))
    return fake


# -- parse_retry_after ---------------------------------------------------------------------------------------

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Fri, 14 Mar 2025 12:00:05 GMT", 5.0),
        ("Friday, 14-Mar-25 12:00:30 GMT", 30.0),  # RFC 850, an obsolete form the RFC still requires
        ("Fri Mar 14 12:01:00 2025", 60.0),  # asctime
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        (format_datetime(NOW, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(expected)


# "²" and "¹²" are digits to str.isdigit() (a header is Latin-1: a server can send them) and not to float()
@pytest.mark.parametrize(
    "value", ["soon", "", "   ", "-5", "1.5.3", "abc123", "Mon, 99 Foo 2025 25:61:00 GMT", "\u00b2", "\u00b9\u00b2"]
)
def test_parse_retry_after_garbage_is_none(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_parse_retry_after_none_is_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after(None, now=NOW) is None


def test_parse_retry_after_date_defaults_to_the_current_time() -> None:
    future = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    waited = parse_retry_after(future)
    assert waited is not None
    assert 3_000 < waited <= 3_600


# -- 429 and Retry-After -------------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_then_200() -> None:
    server = Server(status(429, headers={"Retry-After": "2"}), ok())
    sleep = Recorder()
    with make_client(server, sleep) as client:
        response = client.request("GET", URL, call=CALL)
    assert response.status_code == 200
    assert response.json() == {"id": "c-100"}
    assert sleep.waits == [2.0]
    assert server.count == 2
    assert client.stats.requests == 2


def test_429_with_http_date_retry_after_waits_about_that_long() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    server = Server(status(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), ok())
    sleep = Recorder()
    with make_client(server, sleep, retry_after_cap=30.0) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert len(sleep.waits) == 1
    assert 8.0 <= sleep.waits[0] <= 10.0  # whole seconds on the wire


def test_retry_after_in_the_past_means_no_wait() -> None:
    server = Server(status(429, headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}), ok())
    sleep = Recorder()
    with make_client(server, sleep) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert sleep.waits == [0.0]


@pytest.mark.parametrize(("header", "cap"), [("3600", 30.0), ("45", 5.0), ("31", 30.0)])
def test_retry_after_above_cap_is_capped(header: str, cap: float) -> None:
    server = Server(status(429, headers={"Retry-After": header}), ok())
    sleep = Recorder()
    with make_client(server, sleep, retry_after_cap=cap) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert sleep.waits == [cap]


def test_retry_after_date_above_cap_is_capped() -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=2)
    server = Server(status(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), ok())
    sleep = Recorder()
    with make_client(server, sleep, retry_after_cap=12.0) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert sleep.waits == [12.0]


def test_retry_after_on_503_is_honoured() -> None:
    server = Server(status(503, headers={"Retry-After": "3"}), ok())
    sleep = Recorder()
    with make_client(server, sleep) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert sleep.waits == [3.0]


def test_429_without_header_uses_jittered_exponential_backoff() -> None:
    base, attempts = 0.5, 6
    samples: list[tuple[float, float]] = []
    for _ in range(10):
        server = Server(status(429))
        sleep = Recorder()
        client = make_client(server, sleep, max_attempts=attempts, backoff_base=base, backoff_max=100.0)
        with client, pytest.raises(RateLimited):
            client.request("GET", URL, call=CALL)
        assert server.count == attempts
        assert len(sleep.waits) == attempts - 1
        for n, wait in enumerate(sleep.waits, start=1):
            ceiling = base * 2 ** (n - 1)
            assert 0.0 <= wait <= ceiling
            samples.append((wait, ceiling))
    # Full jitter: the waits spread over [0, ceiling] rather than all sitting at the ceiling (or at 0).
    ratios = [wait / ceiling for wait, ceiling in samples]
    assert min(ratios) < 0.5 < max(ratios)
    assert len(set(ratios)) > 1


def test_backoff_ceiling_is_capped_by_backoff_max() -> None:
    server = Server(status(500))
    sleep = Recorder()
    client = make_client(server, sleep, max_attempts=8, backoff_base=4.0, backoff_max=5.0)
    with client, pytest.raises(ApiUnavailable):
        client.request("GET", URL, call=CALL)
    assert len(sleep.waits) == 7
    assert all(0.0 <= wait <= 5.0 for wait in sleep.waits)


def test_429_forever_is_rate_limited_after_max_attempts() -> None:
    server = Server(status(429, headers={"Retry-After": "1"}))
    sleep = Recorder()
    with make_client(server, sleep, max_attempts=4) as client, pytest.raises(RateLimited) as info:
        client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 75
    assert isinstance(info.value, TemporaryFailure)
    assert server.count == 4
    assert sleep.waits == [1.0, 1.0, 1.0]
    assert CALL in str(info.value)
    assert "429" in str(info.value)


# -- 5xx and transport errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_once_then_200_succeeds(code: int) -> None:
    server = Server(status(code), ok())
    sleep = Recorder()
    with make_client(server, sleep) as client:
        response = client.request("GET", URL, call=CALL)
    assert response.status_code == 200
    assert server.count == 2
    assert client.stats.requests == 2
    assert len(sleep.waits) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_5xx_forever_is_api_unavailable_after_exactly_max_attempts(code: int, attempts: int) -> None:
    server = Server(status(code, body={"message": "upstream is down"}))
    sleep = Recorder()
    with make_client(server, sleep, max_attempts=attempts) as client, pytest.raises(ApiUnavailable) as info:
        client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 69
    assert server.count == attempts
    assert client.stats.requests == attempts
    assert len(sleep.waits) == attempts - 1
    message = str(info.value)
    assert CALL in message
    assert str(code) in message
    assert "upstream is down" in message


def _connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _remote_protocol_error(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("server disconnected", request=request)


@pytest.mark.parametrize("failure", [_connect_error, _read_timeout, _remote_protocol_error])
def test_transport_errors_are_retried(failure: Handler) -> None:
    server = Server(failure, ok())
    sleep = Recorder()
    with make_client(server, sleep) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    assert server.count == 2
    assert len(sleep.waits) == 1


@pytest.mark.parametrize(
    ("failure", "words"),
    [(_connect_error, "cannot reach"), (_read_timeout, "timed out"), (_remote_protocol_error, "cannot reach")],
)
def test_transport_errors_forever_are_api_unavailable(failure: Handler, words: str) -> None:
    server = Server(failure)
    sleep = Recorder()
    with make_client(server, sleep, max_attempts=3) as client, pytest.raises(ApiUnavailable) as info:
        client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 69
    assert server.count == 3
    assert len(sleep.waits) == 2
    assert words in str(info.value)
    assert CALL in str(info.value)


# -- statuses that are not retried ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body", "error_type", "exit_code", "said"),
    [
        (400, V2_400, ValueRejected, 78, "maxConcurrentCalls must be between 1 and 50"),
        (401, {"error": "invalid_token", "error_description": "token expired"}, AuthError, 77, "token expired"),
        (403, {"message": "missing scope campaign:write"}, AuthError, 77, "missing scope campaign:write"),
        (404, {"message": "campaign c-100 not found"}, NotFound, 78, "campaign c-100 not found"),
        (409, {"message": "version 17 is not current"}, CampaignConflict, 75, "version 17 is not current"),
    ],
)
def test_client_errors_are_not_retried_and_are_mapped(
    code: int, body: Any, error_type: type[CxoneTuneError], exit_code: int, said: str
) -> None:
    server = Server(status(code, body=body))
    sleep = Recorder()
    with make_client(server, sleep) as client, pytest.raises(error_type) as info:
        client.request("PUT", URL, call="PUT campaign c-100", json_body={"version": 17})
    assert type(info.value) is error_type
    assert info.value.exit_code == exit_code
    assert server.count == 1
    assert client.stats.requests == 1
    assert sleep.waits == []
    message = str(info.value)
    assert said in message
    assert "PUT campaign c-100" in message
    assert str(code) in message
    assert "\n" not in message


def test_400_and_404_are_configuration_errors() -> None:
    assert issubclass(ValueRejected, ConfigError)
    assert issubclass(NotFound, ConfigError)


def test_error_message_from_a_non_json_body_is_the_reason_phrase_not_the_body() -> None:
    html = httpx.Response(403, content=b"<html>secret internals</html>", headers={"Content-Type": "text/html"})
    server = Server(html)
    with make_client(server) as client, pytest.raises(AuthError) as info:
        client.request("GET", URL, call=CALL)
    assert "Forbidden" in str(info.value)
    assert "secret internals" not in str(info.value)


def test_multiline_api_message_is_folded_onto_one_line() -> None:
    server = Server(status(400, body={"errors": [{"code": "X", "message": "line one\nline two"}]}))
    with make_client(server) as client, pytest.raises(ValueRejected) as info:
        client.request("GET", URL, call=CALL)
    assert "\n" not in str(info.value)
    assert "line one line two" in str(info.value)


def test_other_ok_statuses_can_be_accepted() -> None:
    server = Server(httpx.Response(204))
    with make_client(server) as client:
        assert client.request("DELETE", URL, call="DELETE x", ok=(200, 204)).status_code == 204
        with pytest.raises(ProtocolError, match="204"):
            client.request("DELETE", URL, call="DELETE x")


# -- redirects and body size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect_is_not_followed(code: int) -> None:
    server = Server(
        httpx.Response(code, headers={"Location": "https://evil.example/steal"}),
        ok(),
    )
    with make_client(server) as client, pytest.raises(ProtocolError) as info:
        client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 76
    assert server.count == 1
    assert all(request.url.host == "api-eu.nicecxone.com" for request in server.requests)
    assert "redirect" in str(info.value)
    assert "evil.example" not in str(info.value)


def test_body_larger_than_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1024)
    server = Server(httpx.Response(200, content=b"x" * 1025))
    with make_client(server) as client, pytest.raises(ProtocolError) as info:
        client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 76
    assert server.count == 1  # not retried


def test_body_at_the_limit_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1024)
    server = Server(httpx.Response(200, content=b"y" * 1024))
    with make_client(server) as client:
        assert client.request("GET", URL, call=CALL).content == b"y" * 1024


class Chunks:
    """A chunked body (no Content-Length) that counts how much of itself was read."""

    def __init__(self, chunk: int, count: int) -> None:
        self.chunk, self.count, self.pulled = chunk, count, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.count):
            self.pulled += self.chunk
            yield b"z" * self.chunk


def test_chunked_body_larger_than_limit_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1024)
    body = Chunks(256, 400)
    server = Server(lambda request: httpx.Response(200, content=body))
    with make_client(server) as client, pytest.raises(ProtocolError):
        client.request("GET", URL, call=CALL)
    assert "Content-Length" not in server.requests[0].headers
    assert body.pulled <= 1024 + 256  # stopped at the limit, not after 100 KiB


def test_chunked_body_limit_holds_for_authenticated_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """An auth flow that asks httpx for the response body would read it all before the bounded read."""
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1024)
    body = Chunks(256, 400)
    server = Server(lambda request: httpx.Response(200, content=body))
    tokens = TokenSource(None, lambda previous: Token("t-1", time.time() + 3600))
    with make_client(server, auth=BearerAuth(tokens)) as client, pytest.raises(ProtocolError):
        client.request("GET", URL, call=CALL)
    assert server.requests[0].headers["Authorization"] == "Bearer t-1"
    assert body.pulled <= 1024 + 256


# -- time budget ---------------------------------------------------------------------------------------------


def test_time_budget_stops_instead_of_sleeping_past_the_deadline(clock: FakeClock) -> None:
    start = clock.now
    server = Server(status(429, headers={"Retry-After": "4"}))
    sleep = Recorder(clock)
    with make_client(server, sleep, time_budget=10.0, max_attempts=20) as client, pytest.raises(RateLimited):
        client.request("GET", URL, call=CALL)
    # t=0 429, sleep 4; t=4 429, sleep 4; t=8 429: another 4 s would end at 12 > 10, so it stops.
    assert sleep.waits == [4.0, 4.0]
    assert server.count == 3
    assert clock.now - start <= 10.0


def test_wait_longer_than_the_whole_budget_is_never_slept(clock: FakeClock) -> None:
    server = Server(status(503, headers={"Retry-After": "30"}), ok())
    sleep = Recorder(clock)
    client = make_client(server, sleep, time_budget=10.0, retry_after_cap=30.0)
    with client, pytest.raises(ApiUnavailable):
        client.request("GET", URL, call=CALL)
    assert sleep.waits == []
    assert server.count == 1


def test_spent_budget_sends_nothing(clock: FakeClock) -> None:
    server = Server(ok())
    with make_client(server, time_budget=5.0) as client:
        clock.now += 5.0
        with pytest.raises(ApiUnavailable, match="time budget") as info:
            client.request("GET", URL, call=CALL)
    assert info.value.exit_code == 69
    assert server.count == 0


def test_budget_is_shared_by_every_request_of_the_run(clock: FakeClock) -> None:
    server = Server(ok())
    with make_client(server, time_budget=10.0) as client:
        client.request("GET", URL, call="first")
        clock.now += 6.0
        client.request("GET", URL, call="second")
        clock.now += 4.0
        with pytest.raises(ApiUnavailable, match="time budget"):
            client.request("GET", URL, call="third")
    assert server.count == 2


def test_no_request_outlives_the_budget(clock: FakeClock) -> None:
    server = Server(status(429, headers={"Retry-After": "2"}), ok())
    sleep = Recorder(clock)
    with make_client(server, sleep, time_budget=3.0, read_timeout=15.0, connect_timeout=5.0) as client:
        assert client.request("GET", URL, call=CALL).status_code == 200
    first, second = (request.extensions["timeout"] for request in server.requests)
    assert first["read"] == pytest.approx(3.0)
    assert first["connect"] == pytest.approx(3.0)
    assert second["read"] == pytest.approx(1.0)  # 2 s of the 3 s budget went to the wait
    assert second["connect"] == pytest.approx(1.0)


def test_request_timeouts_come_from_the_policy() -> None:
    server = Server(ok())
    with make_client(server, read_timeout=7.0, connect_timeout=2.0) as client:
        client.request("GET", URL, call=CALL)
    timeout = server.requests[0].extensions["timeout"]
    assert timeout["read"] == pytest.approx(7.0)
    assert timeout["connect"] == pytest.approx(2.0)


# -- headers and stats ---------------------------------------------------------------------------------------


def test_every_request_carries_accept_and_user_agent() -> None:
    server = Server(status(500), status(429, headers={"Retry-After": "0"}), ok())
    with make_client(server) as client:
        client.request("GET", URL, call=CALL)
        client.request("POST", URL, call="POST x", data={"a": "b"}, authenticated=False)
        client.request("PUT", URL, call="PUT x", json_body={"k": 1}, headers={"X-Extra": "1"})
    assert server.count == 5
    for request in server.requests:
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith("cxone-tune/")


def test_json_body_and_params_are_sent() -> None:
    server = Server(ok())
    with make_client(server) as client:
        client.request("PUT", URL, call="PUT x", json_body={"rules": {"maxConcurrentCalls": 8}}, params={"a": "1"})
    request = server.requests[0]
    assert request.method == "PUT"
    assert request.url.params["a"] == "1"
    assert json.loads(request.content) == {"rules": {"maxConcurrentCalls": 8}}


def test_stats_count_every_attempt() -> None:
    server = Server(status(502), status(429, headers={"Retry-After": "0"}), ok())
    with make_client(server) as client:
        assert client.stats.requests == 0
        client.request("GET", URL, call="GET a")  # 3 attempts
        assert client.stats.requests == 3
        client.request("GET", URL, call="GET b")  # 1 attempt (the server repeats its last answer)
        client.request("GET", URL, call="GET b")
    assert client.stats.requests == 5
    assert server.count == 5


def test_unauthenticated_request_sends_no_authorization() -> None:
    server = Server(ok())
    tokens = TokenSource(None, lambda previous: Token("t-1", time.time() + 3600))
    with make_client(server, auth=BearerAuth(tokens)) as client:
        client.request("POST", URL, call="POST token", authenticated=False)
        client.request("GET", URL, call=CALL)
    assert "Authorization" not in server.requests[0].headers
    assert server.requests[1].headers["Authorization"] == "Bearer t-1"


# -- json_object ---------------------------------------------------------------------------------------------


def test_json_object_returns_the_object() -> None:
    assert json_object(httpx.Response(200, json={"a": [1, 2]}), CALL) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "content",
    [b"not json", b"", b"<html></html>", b"\xff\xfe\x00", b'{"a": 1'],
)
def test_json_object_rejects_non_json(content: bytes) -> None:
    with pytest.raises(ProtocolError, match="not valid JSON") as info:
        json_object(httpx.Response(200, content=content), CALL)
    assert info.value.exit_code == 76
    assert CALL in str(info.value)


@pytest.mark.parametrize("body", [[], [{"id": 1}], "text", 3, None, True])
def test_json_object_rejects_json_that_is_not_an_object(body: Any) -> None:
    with pytest.raises(ProtocolError, match="expected a JSON object") as info:
        json_object(httpx.Response(200, content=json.dumps(body).encode()), CALL)
    assert info.value.exit_code == 76


# -- one retry controller per client: nested and concurrent requests keep their own attempts ----------------------


def test_a_token_request_retried_inside_a_retried_request_keeps_both_counts(caplog: pytest.LogCaptureFixture) -> None:
    """The token request runs inside the API call's auth flow on the same client (and retry controller)."""
    token_url = "https://auth.example.test/oauth/token"
    answers = {"token": [status(503), ok({"access_token": "t-1"})], "api": [status(502), status(503), ok()]}

    def handler(request: httpx.Request) -> httpx.Response:
        queue = answers["token" if request.url == token_url else "api"]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    sleep = Recorder()
    client = make_client(Server(handler), sleep, max_attempts=3)

    def fetch(previous: Token | None) -> Token:
        body = json_object(client.request("POST", token_url, call="POST token", authenticated=False), "POST token")
        return Token(body["access_token"], time.time() + 3600)

    client.set_auth(BearerAuth(TokenSource(None, fetch)))
    with client, caplog.at_level("INFO", logger="cxone_tune.http"):
        assert json_object(client.request("GET", URL, call=CALL), CALL) == {"id": "c-100"}
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    # the token request's one retry, then the API call's two, each under its own name and attempt number
    assert [m.split(";")[0] for m in retries] == ["POST token: HTTP 503", f"{CALL}: HTTP 502", f"{CALL}: HTTP 503"]
    assert [m.rsplit("(", 1)[1] for m in retries] == ["attempt 1)", "attempt 1)", "attempt 2)"]
    assert len(sleep.waits) == 3
    assert client.stats.requests == 5  # token 2 (first API attempt's flow) + API 3


def test_requests_from_several_threads_retry_independently() -> None:
    lock = threading.Lock()
    seen: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen[request.url.path] = seen.get(request.url.path, 0) + 1
            first = seen[request.url.path] == 1
        return status(503) if first else ok({"path": request.url.path})

    client = make_client(Server(handler), max_attempts=2)
    results: dict[int, Any] = {}

    def work(n: int) -> None:
        results[n] = json_object(client.request("GET", f"{URL}/{n}", call=f"GET {n}"), f"GET {n}")

    with client:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # each request failed once and succeeded on its own second (and last allowed) attempt
    assert results == {n: {"path": f"/api/v2/campaigns/c-100/{n}"} for n in range(8)}
    assert client.stats.requests == 16


# -- what pages read at once rely on ------------------------------------------------------------------------------


def test_a_response_is_freed_when_its_caller_drops_it_not_at_the_next_garbage_collection() -> None:
    """httpx ties a response's stream to the response (a reference cycle): without the client's unbinding, every
    body waited for the cyclic collector, and pages read at once piled up dozens of them."""
    client = make_client(Server(lambda request: ok({"items": ["x" * 1000]})))
    gc.disable()
    try:
        response = client.request("GET", "https://api.example/agents", call="GET agents")
        assert json_object(response, "GET agents") == {"items": ["x" * 1000]}  # the body is still readable
        gone = weakref.ref(response)
        del response
        assert gone() is None
    finally:
        gc.enable()
