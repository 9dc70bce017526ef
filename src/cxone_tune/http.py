"""The one HTTP client of a run: timeouts, retries (tenacity), Retry-After, error mapping, TLS.

Retries are decided here and nowhere else. Every request of a run shares one deadline, and the transport
bounds every connect, TLS handshake, socket read and write by what is left of it, so however the API
misbehaves (a head or body trickling in, a handshake that stalls), a run ends well inside the five-minute
scheduling tick. A TLS failure is a configuration problem (the CA bundle, the URL), never retried.
"""

from __future__ import annotations

import email.utils
import json
import logging
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import httpcore
import httpx
import tenacity

from cxone_tune import __version__
from cxone_tune.errors import (
    ApiUnavailable,
    AuthError,
    CampaignConflict,
    ConfigError,
    CxoneTuneError,
    NotFound,
    ProtocolError,
    RateLimited,
    ValueRejected,
)

log = logging.getLogger(__name__)

USER_AGENT = f"cxone-tune/{__version__}"
MAX_BODY_BYTES = 32 * 1024 * 1024  # far above any real page; stops a runaway answer exhausting memory


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    time_budget: float = 120.0  # seconds for the whole run, retries and waits included
    retry_after_cap: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    connect_timeout: float = 5.0
    read_timeout: float = 15.0


class _Retryable(Exception):
    """A response worth another attempt (429 or 5xx)."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def api_message(response: httpx.Response) -> str:
    """The API's own words about an error, from either error shape of the contracts; never the body raw."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return "; ".join(str(e.get("message", e.get("code", ""))) for e in errors if isinstance(e, Mapping))
        if "error" in body:
            description = body.get("error_description")
            return f"{body['error']}: {description}" if description else str(body["error"])
        for key in ("message", "detail", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.reason_phrase or f"HTTP {response.status_code}"


@dataclass
class Stats:
    """What a run cost: every request that went on the wire, resends after a 401 included."""

    requests: int = 0

    def count(self, request: httpx.Request) -> None:
        self.requests += 1


# -- TLS -------------------------------------------------------------------------------------------------------


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """What ``ApiClient(verify=...)`` takes for ``CXONE_CA_BUNDLE``: the default trust store plus the bundle.

    ``ssl.create_default_context(cafile=...)`` would trust the bundle *instead of* the default store (it
    loads the defaults only when given no CA file), so a proxy's CA would cost every public one. This starts
    from httpx's own default (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``) and adds the bundle to it.
    """
    if ca_bundle is None:
        return True
    context = httpx.create_ssl_context()
    try:
        context.load_verify_locations(cafile=str(ca_bundle))
    except ssl.SSLError:
        raise ConfigError(f"CXONE_CA_BUNDLE: {ca_bundle} holds no PEM certificate") from None
    except OSError as exc:
        raise ConfigError(f"CXONE_CA_BUNDLE: cannot read {ca_bundle}: {exc.strerror or exc}") from None
    return context


# OpenSSL's X509_V_ERR_* codes for a chain that ends in no trusted root
_UNKNOWN_CA = frozenset({2, 18, 19, 20, 21})
_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH, _IP_MISMATCH = 10, 9, 62, 64
# what OpenSSL says when the bytes that came back are not TLS at all (an HTTP answer, mostly)
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"})
# ssl errors that are the connection going away, not TLS refusing: retried like any transport error
_TRANSIENT_SSL = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError, ssl.SSLWantReadError)


def tls_failure(exc: BaseException, host: str) -> str | None:
    """The cause of a TLS failure anywhere in ``exc``'s chain, in an operator's words; None if it is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            code = current.verify_code
            if code in _UNKNOWN_CA:
                return (
                    f"certificate verify failed: unknown CA ({current.verify_message}); "
                    "if that CA is trusted, name a PEM file with it in CXONE_CA_BUNDLE"
                )
            if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
                return (
                    f"certificate verify failed: hostname mismatch (the certificate is not for {host}); check the URL"
                )
            if code == _EXPIRED:
                return "certificate verify failed: the server's certificate has expired"
            if code == _NOT_YET_VALID:
                return "certificate verify failed: the server's certificate is not valid yet (check the clock)"
            return f"certificate verify failed: {current.verify_message or current.reason}"
        if isinstance(current, ssl.SSLError) and not isinstance(current, _TRANSIENT_SSL):
            reason = str(current.reason or "").upper()
            words = reason.lower().replace("_", " ") or str(current)
            if reason in _NOT_TLS:
                return f"the server did not speak TLS (plain http on an https port?): {words}"
            return f"TLS handshake failed: {words}"
        current = current.__cause__ or current.__context__
    return None


# -- a transport whose every socket operation keeps to the run's deadline --------------------------------------

_DEADLINE_SPENT = "the run's time budget is spent"


def _clamp(timeout: float | None, deadline: float, error: type[Exception]) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error(_DEADLINE_SPENT)
    return remaining if timeout is None or timeout > remaining else timeout


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads, writes and TLS handshake never wait past the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Callable[[], float]) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, self._deadline(), httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, self._deadline(), httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, self._deadline(), httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every connect, read and write clamped to ``deadline()`` (monotonic).

    httpx's timeouts bound each socket operation, not an exchange: a server that sends a byte of its head
    (or body) more often than the read timeout would hold the run as long as it likes. Here every operation
    waits at most what is left of the run, so the deadline holds for the whole exchange, headers included.
    """

    def __init__(self, deadline: Callable[[], float], backend: httpcore.NetworkBackend | None = None) -> None:
        self._deadline = deadline
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, self._deadline(), httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, self._deadline(), httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options), self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# httpcore's errors as httpx's, most specific first (what httpx.HTTPTransport does, on public names only)
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


_CORE_ERRORS = tuple(core for core, _ in _ERRORS)


def _as_httpx(exc: Exception) -> Exception:
    for core, mapped in _ERRORS:
        if isinstance(exc, core):
            return mapped(str(exc))
    return exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _CORE_ERRORS as exc:
            raise _as_httpx(exc) from exc

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


# NO_PROXY as urllib (and httpx) read it; typeshed does not list this public-by-use function
_proxy_bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]

# httpx's default pool limits (httpx.Client's own)
_MAX_CONNECTIONS, _MAX_KEEPALIVE, _KEEPALIVE_EXPIRY = 100, 20, 5.0


class DeadlineTransport(httpx.BaseTransport):
    """What ``httpx.HTTPTransport`` does, built on httpcore's public API with a :class:`DeadlineBackend`.

    httpx has no public way to give its transport a network backend, so this adapts requests to an
    ``httpcore.ConnectionPool`` itself. A transport given to ``httpx.Client`` turns off the client's own
    reading of the proxy variables, so this reads them (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``) as httpx would and sends through an ``httpcore.HTTPProxy`` on the same backend.
    """

    def __init__(self, deadline: Callable[[], float], verify: ssl.SSLContext | bool = True, trust_env: bool = True):
        self._ssl_context = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        self._backend = DeadlineBackend(deadline)
        self._direct = httpcore.ConnectionPool(ssl_context=self._ssl_context, **self._pool_options())
        self._proxies: dict[str, str] = urllib.request.getproxies_environment() if trust_env else {}
        self._via: dict[str, httpcore.HTTPProxy] = {}

    def _pool_options(self) -> dict[str, Any]:
        return {
            "max_connections": _MAX_CONNECTIONS,
            "max_keepalive_connections": _MAX_KEEPALIVE,
            "keepalive_expiry": _KEEPALIVE_EXPIRY,
            "network_backend": self._backend,
        }

    def _pool_for(self, url: httpx.URL) -> httpcore.ConnectionPool | httpcore.HTTPProxy:
        if not self._proxies:
            return self._direct
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or _proxy_bypass(url.host, self._proxies):
            return self._direct
        pool = self._via.get(proxy)
        if pool is None:
            proxy_url = httpx.URL(proxy if "://" in proxy else f"http://{proxy}")
            if proxy_url.scheme not in ("http", "https"):
                raise ConfigError(
                    f"proxy {proxy_url.copy_with(username=None, password=None)}: only http(s) proxies are supported"
                )
            auth = (proxy_url.username, proxy_url.password) if proxy_url.username else None
            pool = httpcore.HTTPProxy(
                proxy_url=str(proxy_url.copy_with(username=None, password=None)),
                proxy_auth=auth,
                ssl_context=self._ssl_context,
                **self._pool_options(),
            )
            self._via[proxy] = pool
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=cast("Iterable[bytes]", request.stream),
            extensions=request.extensions,
        )
        try:
            response = self._pool_for(url).handle_request(core_request)
        except _CORE_ERRORS as exc:
            raise _as_httpx(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(cast("Iterable[bytes]", response.stream)),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._direct.close()
        for pool in self._via.values():
            pool.close()


class ApiClient:
    """One per run. ``request`` sends with retries and maps every failure onto the error hierarchy."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        sleep: Any = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.stats = Stats()
        self.deadline = time.monotonic() + self.policy.time_budget
        self._sleep = sleep
        self._auth = auth
        # Every connect, handshake, read and write keeps to the run's deadline (a test's transport stands in).
        self.http = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout),
            follow_redirects=False,  # a redirect must never carry the bearer token to another host
            transport=transport or DeadlineTransport(lambda: self.deadline, verify),
            event_hooks={"request": [self.stats.count]},
        )
        # One controller for every request (tenacity keeps its per-call state per thread and per call).
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_Retryable, httpx.TransportError)),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=_log_retry,
        )

    def set_auth(self, auth: httpx.Auth) -> None:
        if hasattr(auth, "deadline"):
            auth.deadline = self.deadline  # an auth flow that reads bodies keeps to the run's budget too
        self._auth = auth

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        call: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send with retries. Returns a response whose status is in ``ok``; anything else raises.

        ``call`` names the operation in errors and logs ("GET campaign c-100"), so an operator reads which
        call failed without the URL (which may carry tokens in query strings) ever being printed.
        """
        try:
            response = self._retrying(
                self._send_once, method, url, call, params, json_body, data, headers, authenticated
            )
        except _Retryable as exc:
            status = exc.response.status_code
            if status == 429:
                raise RateLimited(f"{call}: still rate limited (429) after retries") from None
            raise ApiUnavailable(
                f"{call}: API unavailable ({status} {api_message(exc.response)}) after retries"
            ) from None
        except httpx.TimeoutException:
            if time.monotonic() >= self.deadline:
                raise ApiUnavailable(
                    f"{call}: timed out: the run's time budget ({self.policy.time_budget:g}s) "
                    "was spent before the answer was complete"
                ) from None
            raise ApiUnavailable(f"{call}: timed out after retries") from None
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"{call}: cannot reach the API ({type(exc).__name__}) after retries") from None
        self._raise_for_status(response, call, ok)
        return response

    def _send_once(
        self,
        method: str,
        url: str,
        call: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ApiUnavailable(f"{call}: the run's time budget ({self.policy.time_budget:g}s) is spent")
        # No single request may outlive the run's budget.
        timeout = httpx.Timeout(
            min(self.policy.read_timeout, remaining), connect=min(self.policy.connect_timeout, remaining)
        )
        request = self.http.build_request(
            method, url, params=params, json=json_body, data=data, headers=headers, timeout=timeout
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s %s", call, method, request.url.copy_with(query=None))
        auth = self._auth if authenticated else None
        try:
            response = self.http.send(request, auth=auth, stream=True)
        except httpx.ConnectError as exc:
            cause = tls_failure(exc, request.url.host)
            if cause is None:
                raise
            # Not an outage: the CA bundle or the URL is wrong, and another attempt would fail the same way.
            raise ConfigError(
                f"{call}: TLS with {request.url.host}:{request.url.port or 443} failed: {cause}"
            ) from None
        except CxoneTuneError as exc:
            # raised inside the auth flow (a token request, a 401's body): say which call it interrupted
            raise type(exc)(f"{call}: {exc}") from None
        try:
            read_bounded(response, call, self.deadline)
        finally:
            response.close()
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(response, parse_retry_after(response.headers.get("Retry-After")))
        return response

    # -- tenacity hooks --------------------------------------------------------------------------------------

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        # Give up rather than sleep past the run's deadline.
        return time.monotonic() + state.upcoming_sleep >= self.deadline

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_cap)
        # Exponential backoff with full jitter (AWS architecture blog's "full jitter").
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (state.attempt_number - 1))
        return float(tenacity.wait_random(0, ceiling)(state))

    # -- status mapping --------------------------------------------------------------------------------------

    @staticmethod
    def _raise_for_status(response: httpx.Response, call: str, ok: tuple[int, ...]) -> None:
        status = response.status_code
        if status in ok:
            return
        message = api_message(response)
        error: CxoneTuneError
        if status == 400:
            error = ValueRejected(f"{call}: the API refused the request (400): {message}")
        elif status == 401:
            error = AuthError(f"{call}: authentication refused (401) even after a token refresh: {message}")
        elif status == 403:
            error = AuthError(f"{call}: permission refused (403): {message}")
        elif status == 404:
            error = NotFound(f"{call}: not found (404): {message}")
        elif status == 409:
            error = CampaignConflict(f"{call}: conflict (409): {message}")
        elif 300 <= status < 400:
            error = ProtocolError(f"{call}: unexpected redirect ({status}); not followed")
        else:
            error = ProtocolError(f"{call}: unexpected answer {status}: {message}")
        raise error


def read_bounded(response: httpx.Response, call: str, deadline: float | None = None) -> None:
    """Read a streamed body, refusing one larger than MAX_BODY_BYTES before it exhausts memory, and one still
    trickling in when the run's ``deadline`` (time.monotonic) passes: httpx's read timeout is per socket read,
    so only this check bounds a body that arrives slowly but steadily."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ProtocolError(f"{call}: answer of {int(declared)} bytes is larger than the tool accepts")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProtocolError(f"{call}: answer larger than {MAX_BODY_BYTES} bytes; refused")
        if deadline is not None and time.monotonic() > deadline:
            raise ApiUnavailable(f"{call}: the answer was still arriving when the run's time budget was spent")
        chunks.append(chunk)
    response._content = b"".join(chunks)  # httpx's own attribute: later .read()/.content use these bytes


def _log_retry(state: tenacity.RetryCallState) -> None:
    log.info(
        "%s: %s; retrying in %.1fs (attempt %d)",
        state.args[2],  # the call's name: _send_once(method, url, call, ...)
        _describe_failure(state),
        state.upcoming_sleep,
        state.attempt_number,
    )


def _describe_failure(state: tenacity.RetryCallState) -> str:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, _Retryable):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__ if exc is not None else "failure"


def json_object(response: httpx.Response, call: str) -> dict[str, Any]:
    """The body as a JSON object, or a ProtocolError naming the call."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{call}: the answer is not valid JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{call}: expected a JSON object, got {type(body).__name__}")
    return body
