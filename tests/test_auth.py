"""Tokens: the 0600 on-disk cache, the token source (memory -> cache -> fetch), and BearerAuth's one refresh."""

from __future__ import annotations

import contextlib
import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxone_tune import http as http_mod
from cxone_tune.auth import EXPIRY_MARGIN, BearerAuth, Token, TokenCache, TokenSource
from cxone_tune.errors import AuthError, ConfigError, ProtocolError
from cxone_tune.http import ApiClient, RetryPolicy, json_object

BASE = "https://api-eu.nicecxone.com"
CAMPAIGN_URL = f"{BASE}/api/v2/campaigns/c-100"
HOUR = 3600.0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fresh(access_token: str, lifetime: float = HOUR) -> Token:
    return Token(access_token, time.time() + lifetime)


class Fetcher:
    """A ``fetch`` callable handing out t-1, t-2, ... and remembering what it was given."""

    def __init__(self, lifetime: float = HOUR) -> None:
        self.lifetime = lifetime
        self.previous: list[Token | None] = []

    def __call__(self, previous: Token | None) -> Token:
        self.previous.append(previous)
        return fresh(f"t-{len(self.previous)}", self.lifetime)

    @property
    def calls(self) -> int:
        return len(self.previous)


def never(previous: Token | None) -> Token:
    raise AssertionError("fetch must not be called")


@pytest.fixture
def cache(tmp_path: Path) -> TokenCache:
    return TokenCache(tmp_path / "cache" / "cxone-tune", f"v2|{BASE}|client-1")


# -- Token ---------------------------------------------------------------------------------------------------


def test_token_validity_has_a_30_second_margin() -> None:
    assert EXPIRY_MARGIN == 30.0
    token = Token("t", expires_at=1_000.0)
    assert token.valid(now=900.0)
    assert token.valid(now=969.9)
    assert not token.valid(now=970.0)
    assert not token.valid(now=1_000.0)
    assert not token.valid(now=2_000.0)
    assert token.remaining(now=900.0) == 100.0
    assert token.remaining(now=2_000.0) == 0.0


def test_token_json_round_trip() -> None:
    token = Token("abc", 1234.5, "Bearer", {"api_base": "https://x.example"})
    assert Token.from_json(json.loads(json.dumps(token.to_json()))) == token


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "abc",
        {},
        {"access_token": 1, "expires_at": 5},
        {"access_token": "a"},
        {"access_token": "a", "expires_at": "5"},
    ],
)
def test_token_from_bad_json_is_none(data: Any) -> None:
    assert Token.from_json(data) is None


# -- TokenCache ----------------------------------------------------------------------------------------------


def test_save_creates_file_0600_and_directory_0700(cache: TokenCache) -> None:
    assert not cache.directory.exists()
    cache.save(fresh("t-1"))
    assert cache.path.is_file()
    assert mode(cache.path) == 0o600
    assert mode(cache.directory) == 0o700


def test_load_round_trips(cache: TokenCache) -> None:
    token = Token("t-1", time.time() + HOUR, "Bearer", {"api_base": "https://api-c32.incontact.com"})
    cache.save(token)
    assert cache.load() == token


def test_missing_cache_is_none(cache: TokenCache) -> None:
    assert cache.load() is None


@pytest.mark.parametrize("unsafe", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_cache_readable_by_others_is_ignored(cache: TokenCache, unsafe: int) -> None:
    cache.save(fresh("t-1"))
    cache.path.chmod(unsafe)
    assert cache.load() is None


def test_corrupt_cache_is_ignored(cache: TokenCache) -> None:
    cache.save(fresh("t-1"))
    cache.path.write_text("{not json", encoding="utf-8")
    assert mode(cache.path) == 0o600
    assert cache.load() is None


@pytest.mark.parametrize("content", [b"[]", b'{"access_token": 5}', b"\xff\xfe\x00garbage", b""])
def test_cache_with_wrong_content_is_ignored(cache: TokenCache, content: bytes) -> None:
    cache.save(fresh("t-1"))
    cache.path.write_bytes(content)
    assert cache.load() is None


def test_cache_symlink_is_not_followed(cache: TokenCache, tmp_path: Path) -> None:
    elsewhere = TokenCache(tmp_path / "elsewhere", "other")
    elsewhere.save(fresh("planted"))
    cache.directory.mkdir(parents=True, mode=0o700)
    cache.path.symlink_to(elsewhere.path)
    assert elsewhere.load() is not None
    assert cache.load() is None


def test_save_replaces_atomically_without_leftovers(cache: TokenCache) -> None:
    cache.save(fresh("t-1"))
    cache.save(fresh("t-2"))
    cache.save(fresh("t-3"))
    assert [p.name for p in cache.directory.iterdir()] == [cache.path.name]
    loaded = cache.load()
    assert loaded is not None
    assert loaded.access_token == "t-3"
    assert mode(cache.path) == 0o600


def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(cache: TokenCache) -> None:
    cache.save(fresh("t-1"))
    unserialisable = Token("t-2", time.time() + HOUR, extra={"oops": object()})
    with pytest.raises(TypeError):
        cache.save(unserialisable)
    assert [p.name for p in cache.directory.iterdir()] == [cache.path.name]
    loaded = cache.load()
    assert loaded is not None
    assert loaded.access_token == "t-1"


def test_save_rewrites_an_unsafe_cache_as_0600(cache: TokenCache) -> None:
    cache.save(fresh("t-1"))
    cache.path.chmod(0o644)
    cache.save(fresh("t-2"))
    assert mode(cache.path) == 0o600
    loaded = cache.load()
    assert loaded is not None
    assert loaded.access_token == "t-2"


def test_unwritable_cache_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    cache = TokenCache(blocker / "cache", "k")
    with pytest.raises(ConfigError, match="CXONE_CACHE_DIR") as info:
        cache.save(fresh("t-1"))
    assert info.value.exit_code == 78


def test_cache_file_depends_on_the_key_and_does_not_expose_it(tmp_path: Path) -> None:
    a = TokenCache(tmp_path, "v2|https://a.example|client-a")
    b = TokenCache(tmp_path, "v2|https://b.example|client-a")
    assert a.path != b.path
    assert "client-a" not in a.path.name
    a.save(fresh("token-a"))
    assert b.load() is None


def test_clear_removes_the_file(cache: TokenCache) -> None:
    cache.clear()  # nothing there yet: no error
    cache.save(fresh("t-1"))
    cache.clear()
    assert not cache.path.exists()
    assert cache.load() is None


# -- TokenSource ---------------------------------------------------------------------------------------------


def test_valid_cached_token_is_used_without_fetching(cache: TokenCache) -> None:
    cache.save(fresh("cached"))
    source = TokenSource(cache, never)
    assert source.get().access_token == "cached"
    assert source.source == "cache"


def test_second_get_comes_from_memory(cache: TokenCache) -> None:
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    assert source.get().access_token == "t-1"
    assert source.source == "new"
    assert source.get().access_token == "t-1"
    assert source.source == "memory"
    assert fetch.calls == 1


@pytest.mark.parametrize(
    "lifetime",
    [
        pytest.param(-60.0, id="expired"),
        pytest.param(10.0, id="within-30s"),
        pytest.param(29.0, id="just-inside-margin"),
    ],
)
def test_expired_or_nearly_expired_cached_token_is_replaced_and_saved(cache: TokenCache, lifetime: float) -> None:
    old = fresh("old", lifetime)
    cache.save(old)
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    token = source.get()
    assert token.access_token == "t-1"
    assert source.source == "new"
    assert fetch.calls == 1
    assert fetch.previous == [old]  # the profile may use the old token (e.g. its refresh token)
    saved = cache.load()
    assert saved is not None
    assert saved.access_token == "t-1"


def test_unsafe_cache_is_not_used(cache: TokenCache) -> None:
    cache.save(fresh("leaked"))
    cache.path.chmod(0o644)
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    assert source.get().access_token == "t-1"
    assert fetch.previous == [None]
    assert mode(cache.path) == 0o600


def test_works_without_a_cache() -> None:
    fetch = Fetcher()
    source = TokenSource(None, fetch)
    assert source.get().access_token == "t-1"
    assert source.get().access_token == "t-1"
    assert fetch.calls == 1


def test_refresh_twice_with_the_same_rejected_token_fetches_once(cache: TokenCache) -> None:
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    rejected = source.get().access_token
    assert rejected == "t-1"
    first = source.refresh(rejected)
    second = source.refresh(rejected)  # another caller that saw the same 401
    assert first.access_token == "t-2"
    assert second.access_token == "t-2"
    assert fetch.calls == 2
    saved = cache.load()
    assert saved is not None
    assert saved.access_token == "t-2"


def test_refresh_of_the_current_token_fetches_again(cache: TokenCache) -> None:
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    source.get()
    assert source.refresh("t-1").access_token == "t-2"
    assert source.refresh("t-2").access_token == "t-3"
    assert fetch.calls == 3


def test_concurrent_refresh_fetches_once() -> None:
    second_caller_started = threading.Event()
    fetch = Fetcher()

    def slow_fetch(previous: Token | None) -> Token:
        if fetch.calls == 1:  # the refresh, not the first login
            second_caller_started.wait(timeout=5)
        return fetch(previous)

    source = TokenSource(None, slow_fetch)
    rejected = source.get().access_token
    results: dict[str, str] = {}

    def caller(name: str, before: Callable[[], None] | None = None) -> None:
        if before is not None:
            before()
        results[name] = source.refresh(rejected).access_token

    a = threading.Thread(target=caller, args=("a",))
    b = threading.Thread(target=caller, args=("b", second_caller_started.set))
    a.start()
    b.start()
    a.join(timeout=10)
    b.join(timeout=10)
    assert not a.is_alive()
    assert not b.is_alive()
    assert results == {"a": "t-2", "b": "t-2"}
    assert fetch.calls == 2


def test_forget_drops_memory_and_cache(cache: TokenCache) -> None:
    fetch = Fetcher()
    source = TokenSource(cache, fetch)
    source.get()
    source.forget()
    assert cache.load() is None
    assert source.get().access_token == "t-2"


# -- BearerAuth through ApiClient ----------------------------------------------------------------------------


class Api:
    """A campaign endpoint that accepts only the tokens in ``good`` and records the Authorization it saw."""

    def __init__(self, *good: str) -> None:
        self.good = set(good)
        self.seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization")
        self.seen.append(auth)
        if auth is None or auth.removeprefix("Bearer ") not in self.good:
            return httpx.Response(401, json={"error": "invalid_token", "error_description": "token revoked"})
        return httpx.Response(200, json={"id": "c-100"})


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], tokens: TokenSource
) -> tuple[ApiClient, list[float]]:
    waits: list[float] = []
    client = ApiClient(
        RetryPolicy(max_attempts=3),
        transport=httpx.MockTransport(handler),
        auth=BearerAuth(tokens),
        sleep=waits.append,
    )
    return client, waits


def test_401_gets_one_refresh_and_one_resend(cache: TokenCache) -> None:
    cache.save(fresh("t-0"))  # a cached token the API has since revoked
    fetch = Fetcher()
    tokens = TokenSource(cache, fetch)
    api = Api("t-1")
    client, waits = client_for(api, tokens)
    with client:
        response = client.request("GET", CAMPAIGN_URL, call="GET campaign c-100")
        assert response.status_code == 200
        assert json_object(response, "GET campaign c-100") == {"id": "c-100"}
        assert api.seen == ["Bearer t-0", "Bearer t-1"]
        assert fetch.calls == 1
        assert waits == []  # a refresh is not a retry: no backoff
        assert client.stats.requests == 2  # the resend went on the wire and is counted
        saved = cache.load()
        assert saved is not None
        assert saved.access_token == "t-1"
        # The next call of the run reuses the new token: no further login.
        assert client.request("GET", CAMPAIGN_URL, call="GET campaign c-100").status_code == 200
    assert api.seen == ["Bearer t-0", "Bearer t-1", "Bearer t-1"]
    assert fetch.calls == 1
    assert client.stats.requests == 3


def test_second_401_is_an_auth_error_after_exactly_one_refresh(cache: TokenCache) -> None:
    cache.save(fresh("t-0"))
    fetch = Fetcher()
    tokens = TokenSource(cache, fetch)
    api = Api()  # refuses every token
    client, waits = client_for(api, tokens)
    with client, pytest.raises(AuthError) as info:
        client.request("GET", CAMPAIGN_URL, call="GET campaign c-100")
    assert info.value.exit_code == 77
    assert "401" in str(info.value)
    assert "token revoked" in str(info.value)
    assert "GET campaign c-100" in str(info.value)
    assert api.seen == ["Bearer t-0", "Bearer t-1"]
    assert fetch.calls == 1
    assert waits == []
    assert client.stats.requests == 2  # not retried beyond the one resend


def test_403_is_not_answered_with_a_refresh(cache: TokenCache) -> None:
    cache.save(fresh("t-0"))
    seen: list[str | None] = []

    def forbidden(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(403, json={"message": "missing scope campaign:write"})

    tokens = TokenSource(cache, never)
    client, _ = client_for(forbidden, tokens)
    with client, pytest.raises(AuthError, match="missing scope") as info:
        client.request("PUT", CAMPAIGN_URL, call="PUT campaign c-100", json_body={})
    assert info.value.exit_code == 77
    assert seen == ["Bearer t-0"]


def test_refresh_through_the_same_client_like_a_profile_does(cache: TokenCache) -> None:
    """The profile's fetch is itself an (unauthenticated) request through the run's one client."""
    issued: list[str] = []
    seen: list[tuple[str, str | None]] = []

    def tenant(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("Authorization")))
        if request.url.path == "/oauth/token":
            issued.append(f"issued-{len(issued) + 1}")
            return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 3600, "token_type": "Bearer"})
        if request.headers.get("Authorization") == f"Bearer {issued[-1] if issued else ''}":
            return httpx.Response(200, json={"id": "c-100"})
        return httpx.Response(401, json={"error": "invalid_token"})

    holder: dict[str, ApiClient] = {}

    def fetch(previous: Token | None) -> Token:
        response = holder["client"].request(
            "POST",
            f"{BASE}/oauth/token",
            call="POST token",
            data={"grant_type": "client_credentials"},
            authenticated=False,
        )
        body = json_object(response, "POST token")
        return Token(str(body["access_token"]), time.time() + float(body["expires_in"]))

    cache.save(fresh("stale"))
    tokens = TokenSource(cache, fetch)
    client, _ = client_for(tenant, tokens)
    holder["client"] = client
    with client:
        assert client.request("GET", CAMPAIGN_URL, call="GET campaign c-100").status_code == 200
    assert seen == [
        ("/api/v2/campaigns/c-100", "Bearer stale"),
        ("/oauth/token", None),
        ("/api/v2/campaigns/c-100", "Bearer issued-1"),
    ]
    assert tokens.source == "new"
    assert client.stats.requests == 3


def test_401_body_is_bounded_too(cache: TokenCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1024)
    pulled = [0]

    def runaway() -> Iterator[bytes]:
        for _ in range(400):  # 100 KiB, chunked (no Content-Length to refuse up front)
            pulled[0] += 256
            yield b"u" * 256

    answers = iter([httpx.Response(401, content=runaway()), httpx.Response(200, json={"id": "c-100"})])
    cache.save(fresh("t-0"))
    client, _ = client_for(lambda request: next(answers), TokenSource(cache, Fetcher()))
    # Refusing the answer (ProtocolError) or dropping the body and refreshing are both fine; reading it all is not.
    with client, contextlib.suppress(ProtocolError):
        client.request("GET", CAMPAIGN_URL, call="GET campaign c-100")
    assert pulled[0] <= 1024 + 256
