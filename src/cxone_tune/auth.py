"""Tokens: an ``httpx.Auth`` flow over a token source, and the on-disk cache that outlives one process.

A tool started by cron every five minutes must not log in on every run, so tokens (and, for profiles
that discover them, endpoints) are cached in a 0600 file written atomically. The cache never holds the
client secret or the access-key secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cxone_tune.errors import ConfigError, ProtocolError
from cxone_tune.files import check_dir, ensure_dir, read_bytes, write_atomic
from cxone_tune.http import read_bounded

log = logging.getLogger(__name__)

VARIABLE = "CXONE_CACHE_DIR"
EXPIRY_MARGIN = 30.0  # seconds before expiry at which a token counts as expired
MAX_TOKEN_LIFETIME = 24 * 3600.0  # seconds; a longer expires_in (1e999 included) is capped at this
DEFAULT_TOKEN_LIFETIME = 3600.0  # when a token answer has no expires_in (RFC 6749 lets it leave it out)


def token_lifetime(body: dict[str, Any], call: str) -> float:
    """Seconds a token answer's ``expires_in`` lets the token be used. Not a number (a string, a bool, null),
    NaN, zero or negative: a ProtocolError (76) naming the field, and nothing is cached. More than
    ``MAX_TOKEN_LIFETIME`` (infinity, ``1e300``): capped, with a warning, so no answer makes a token
    immortal in the cache; a token the API stops honouring earlier is renewed by the 401 flow anyway."""
    if "expires_in" not in body:
        return DEFAULT_TOKEN_LIFETIME
    value = body["expires_in"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{call}: expires_in is not a number of seconds ({type(value).__name__})")
    if (isinstance(value, float) and math.isnan(value)) or value <= 0:  # isnan(10**400) would overflow
        raise ProtocolError(f"{call}: expires_in is not a positive number of seconds ({value!r})")
    if value > MAX_TOKEN_LIFETIME:
        shown = "inf" if value == math.inf else "above 1e300" if value > 1e300 else f"{value:.3g}"  # ints overflow
        log.warning("%s: expires_in %s is more than 24h; using the token for 24h at most", call, shown)
        return MAX_TOKEN_LIFETIME
    return float(value)


@dataclass
class Token:
    access_token: str
    expires_at: float  # wall-clock epoch seconds, so the value means the same in the next process
    token_type: str = "Bearer"
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. refresh token, discovered API base

    def valid(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.expires_at - EXPIRY_MARGIN

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.expires_at - (now if now is not None else time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: Any) -> Token | None:
        if not isinstance(data, dict):
            return None
        access_token, expires_at = data.get("access_token"), data.get("expires_at")
        if (
            not isinstance(access_token, str)
            or isinstance(expires_at, bool)
            or not isinstance(expires_at, (int, float))
        ):
            return None
        if not math.isfinite(expires_at):  # written by an older version from an expires_in of 1e999 or NaN
            return None
        extra = data.get("extra")
        return cls(
            access_token=access_token,
            expires_at=float(expires_at),
            token_type=str(data.get("token_type", "Bearer")),
            extra=extra if isinstance(extra, dict) else {},
        )


def credentials_digest(salt: bytes, credentials: Sequence[str]) -> str:
    """HMAC-SHA256, keyed by a random per-entry ``salt``, over the canonical form of the credentials a token
    came from (a JSON array: profile, endpoint, ids and secrets, in the profile's order). The cache keeps
    this digest, never a secret. The salt defeats precomputed tables and comparing entries across caches; it
    does not slow guessing, which needs no more: the secrets are high-entropy keys the tenant issued, and the
    same 0600 file holds the token itself, worth more than any offline guess at the secret."""
    canonical = json.dumps(list(credentials), separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(salt, canonical, hashlib.sha256).hexdigest()


class TokenCache:
    """One JSON file per (profile, endpoint, client), mode 0600 from creation, replaced atomically.

    With ``credentials`` given, an entry is used only by the very credentials it came from (its
    ``credentials_digest``): a rotated or wrong secret never reuses another secret's token; it logs in, and
    its token replaces the entry.
    """

    def __init__(self, directory: Path, key: str, credentials: Sequence[str] = ()) -> None:
        self.directory = directory
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = directory / f"token-{digest}.json"
        self._credentials = tuple(credentials)

    def load(self) -> Token | None:
        """The cached token, or None. The directory must obey the rule of ``files.py`` (else exit 78); a cache
        file that does not (a link, another owner, readable by others) is ignored, and replaced on save."""
        if not os.path.lexists(self.directory):
            return None
        check_dir(self.directory, VARIABLE)
        try:
            data = read_bytes(self.path, VARIABLE, private=True)
        except FileNotFoundError:
            return None
        except ConfigError as exc:
            log.warning("token cache: %s; ignoring it", exc)
            return None
        try:
            document = json.loads(data)
        except ValueError:  # UnicodeDecodeError is one
            log.warning("token cache %s is corrupt; ignoring it", self.path)
            return None
        if self._credentials and not self._same_credentials(document):
            log.info("token cache %s: made with other credentials (a changed secret?); not reusing it", self.path)
            return None
        return Token.from_json(document)

    def _same_credentials(self, document: Any) -> bool:
        stamp = document.get("credentials") if isinstance(document, dict) else None
        if not isinstance(stamp, dict) or not isinstance(stamp.get("salt"), str):
            return False  # an entry from before the stamp: its credentials are unknown
        try:
            salt = bytes.fromhex(stamp["salt"])
        except ValueError:
            return False
        digest = stamp.get("digest")
        return isinstance(digest, str) and hmac.compare_digest(digest, credentials_digest(salt, self._credentials))

    def save(self, token: Token) -> None:
        # mkstemp creates the file 0600, so the token is never readable by others, not even briefly.
        directory = ensure_dir(self.directory, VARIABLE)
        try:
            document = token.to_json()
            if self._credentials:
                salt = os.urandom(16)
                document["credentials"] = {"salt": salt.hex(), "digest": credentials_digest(salt, self._credentials)}
            write_atomic(self.path, json.dumps(document).encode(), variable=VARIABLE)
        except OSError as exc:
            raise ConfigError(f"{VARIABLE}: cannot write the token cache in {directory}: {exc.strerror}") from None

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class TokenSource:
    """Hands out a valid token: memory, then disk cache, then ``fetch`` (a login through the API client).

    ``fetch(previous)`` gets the token being replaced (or None) so a profile can use its refresh token.
    """

    def __init__(
        self,
        cache: TokenCache | None,
        fetch: Callable[[Token | None], Token],
        check: Callable[[Token], None] | None = None,
    ) -> None:
        self.cache = cache
        self._fetch = fetch
        self._check = check  # raises ProtocolError for a cached token the profile must not use
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.source = "none"  # "memory", "cache" or "new": auth-check reports it

    def get(self) -> Token:
        with self._lock:
            if self._token is not None and self._token.valid():
                self.source = "memory"
                return self._token
            cached = self._load()
            if cached is not None and cached.valid():
                self._token, self.source = cached, "cache"
                return cached
            return self._renew(cached or self._token)

    def at_hand(self) -> bool:
        """Whether :meth:`get` would hand out a token without a request (one valid in memory or the cache)."""
        with self._lock:
            if self._token is not None and self._token.valid():
                return True
            cached = self._load()
            if cached is not None and cached.valid():
                self._token, self.source = cached, "cache"
                return True
            return False

    def _load(self) -> Token | None:
        """The cached token, unless the profile's check refuses it: then the entry is discarded (with a
        warning) and the caller logs in afresh, discovery included; nothing of the refused entry is reused."""
        if self.cache is None:
            return None
        token = self.cache.load()
        if token is not None and token.expires_at > time.time() + MAX_TOKEN_LIFETIME + EXPIRY_MARGIN:
            log.warning("%s: the cached token claims to live past the %gh cap; discarding it", self.cache.path, 24)
            self.cache.clear()
            return None
        if token is None or self._check is None:
            return token
        try:
            self._check(token)
        except ProtocolError as exc:
            log.warning("%s: %s; discarding the cached login and logging in again", self.cache.path, exc)
            self.cache.clear()
            return None
        return token

    def refresh(self, rejected: str) -> Token:
        """The API refused ``rejected``; get a new token unless another request already did."""
        with self._lock:
            if self._token is not None and self._token.access_token != rejected and self._token.valid():
                return self._token
            return self._renew(self._token)

    def _renew(self, previous: Token | None) -> Token:
        token = self._fetch(previous)
        self._token, self.source = token, "new"
        if self.cache:
            self.cache.save(token)
        return token

    def forget(self) -> None:
        with self._lock:
            self._token = None
            if self.cache:
                self.cache.clear()


class BearerAuth(httpx.Auth):
    """Adds the bearer token; answers a 401 with one refresh and one resend (a second 401 stands)."""

    # The body is left to ApiClient, which reads it with a size limit; only a 401 is read here.
    requires_response_body = False

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens
        self.deadline: float | None = None  # the run's, set by the ApiClient that uses this flow

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code == 401:
            read_bounded(response, "token refused (401)", self.deadline)  # returns the connection to the pool
            log.info("token refused (401); fetching a new one and resending once")
            token = self.tokens.refresh(token.access_token)
            request.headers["Authorization"] = f"Bearer {token.access_token}"
            yield request
