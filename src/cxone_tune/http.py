"""The one HTTP client of a run: timeouts, retries (tenacity), Retry-After, error mapping, TLS.

Retries are decided here and nowhere else. Every request of a run shares one deadline, and the transport
(``transport.py``) bounds every connect, TLS handshake, socket read and write by what is left of it, so
however the API misbehaves (a head or body trickling in, a handshake that stalls), a run ends well inside
the five-minute scheduling tick. A TLS failure is a configuration problem (the CA bundle, the URL), never retried.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import tenacity

from cxone_tune import __version__
from cxone_tune.errors import (
    ApiUnavailable,
    AuthError,
    CampaignConflict,
    ConfigError,
    CxoneTuneError,
    InternalError,
    NotFound,
    ProtocolError,
    RateLimited,
    ValueRejected,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)

USER_AGENT = f"cxone-tune/{__version__}"
T = TypeVar("T")
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
    if value.isascii() and value.isdigit():  # not "²", which isdigit() takes and float() refuses
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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, request: httpx.Request) -> None:
        with self._lock:  # pages go out from several threads at once (windowed)
            self.requests += 1


def windowed(jobs: Iterable[Callable[[], T]], window: int) -> Generator[T, None, None]:
    """The results of ``jobs`` in their order, with at most ``window`` jobs started and not yet taken by the
    caller: so at most ``window`` answers are held at any time, whatever the tenant's size. With ``window`` 1
    the jobs run one after another in the caller's thread; otherwise on that many threads over the one
    :class:`ApiClient` of the run, whose deadline, retry rules and token refresh hold for each job.

    A failed job raises when its turn comes. Then, or when the caller stops taking results (``break``, an error
    of its own, a SIGTERM; close the iterator, e.g. with ``contextlib.closing``), the jobs not yet started are
    cancelled and the caller goes on at once: the ones running end on their own within the run's deadline (or
    at the client's close), their results dropped. The workers are daemon threads, so they never hold up the
    caller's unwinding or the process's exit the way a ``ThreadPoolExecutor``'s would (it joins them).
    """
    pending = iter(jobs)
    if window <= 1:
        for job in pending:
            yield job()
        return
    from concurrent.futures import Future  # only for a read of several pages at once
    from queue import SimpleQueue

    work: SimpleQueue[tuple[Future[T], Callable[[], T]] | None] = SimpleQueue()

    def worker() -> None:
        while (item := work.get()) is not None:
            future, job = item
            if future.set_running_or_notify_cancel():  # False: cancelled before it started
                try:
                    future.set_result(job())
                except BaseException as exc:  # handed to the caller, raised there in its turn
                    future.set_exception(exc)

    def submit(job: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        work.put((future, job))
        return future

    running: deque[Future[T]] = deque(submit(job) for job in itertools.islice(pending, window))
    for number in range(len(running)):
        threading.Thread(target=worker, name=f"cxone-tune-page-{number + 1}", daemon=True).start()
    try:
        while running:
            yield running.popleft().result()  # the caller handles it while window - 1 jobs run
            following = next(pending, None)
            if following is not None:
                running.append(submit(following))
    finally:
        for future in running:
            future.cancel()
        for _ in range(window):
            work.put(None)  # each worker ends after its job in hand


class Pending(Generic[T]):
    """A read's result, taken once where the cycle needs it: from the read :class:`Ahead` started, or, when it
    started none, read there and then (in the caller's thread). Either way a failed read raises there."""

    def __init__(self, take: Callable[[], T]) -> None:
        self._take = take

    def result(self) -> T:
        return self._take()


class Ahead:
    """Reads a cycle sends before the point that needs them, so that they travel together with its other reads
    instead of one round trip after another; each result is taken (and each failure raised) where the cycle read
    it before, so what a failed read means does not change.

    Each read started ahead gets a daemon thread of its own over the run's one client (its deadline, retry rules
    and token), and at most ``room`` are started: with the caller's own request, at most ``room + 1`` go out at
    once. A read beyond the room (all of them with ``room`` 0) is sent where its result is asked for, as before.
    :meth:`settle` waits for the ones started (a cycle does before the agents' first page, which so is sent as it
    always was, after every other read)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self._started: list[Future[Any]] = []

    def start(self, job: Callable[[], T]) -> Pending[T]:
        if len(self._started) >= self.room:
            return Pending(job)
        from concurrent.futures import Future

        future: Future[T] = Future()

        def run() -> None:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the taker, raised where the result is taken
                future.set_exception(exc)

        threading.Thread(target=run, name=f"cxone-tune-read-{len(self._started) + 1}", daemon=True).start()
        self._started.append(future)
        return Pending(future.result)

    @property
    def started(self) -> int:
        """How many reads were started ahead (each is one request out at a time)."""
        return len(self._started)

    def settle(self) -> None:
        """Wait until every read started ahead has ended (its result or failure kept for its taker)."""
        if self._started:
            from concurrent.futures import wait

            wait(self._started)


# -- TLS -------------------------------------------------------------------------------------------------------

# What httpx's default context reads from the environment besides certifi (its create_ssl_context, trust_env)
_TLS_ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR")


class _Preloaded:
    """The default TLS context :func:`prepare_tls` loads on a thread, and the environment it was loaded under."""

    lock = threading.Lock()
    thread: threading.Thread | None = None
    environment: tuple[str | None, ...] = ()
    context: ssl.SSLContext | None = None


def prepare_tls() -> None:
    """Start loading httpx's default TLS context (the CA store: certifi's, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``)
    on a thread, for the run's client to take (:func:`default_tls_context`).

    A command that opens an API client calls this as it starts: OpenSSL parses the store's ~150 certificates
    (about 20 ms) without holding the GIL, so the settings and the imports of the run go on beside it. Every
    run against a real tenant speaks TLS, so this is never wasted there. Nothing if one is loading already."""
    import certifi  # noqa: F401 - imported here, not on the thread: the thread runs OpenSSL and nothing else

    with _Preloaded.lock:
        if _Preloaded.thread is not None:
            return
        _Preloaded.environment = _tls_environment()

        def load() -> None:
            try:
                _Preloaded.context = httpx.create_ssl_context()
            except Exception:  # default_tls_context builds it again, and raises where it always did
                _Preloaded.context = None

        _Preloaded.thread = threading.Thread(target=load, name="cxone-tune-tls", daemon=True)
        _Preloaded.thread.start()


def default_tls_context() -> ssl.SSLContext:
    """httpx's default TLS context: the one :func:`prepare_tls` loaded, when it was loaded under the environment
    of now (each is taken once: every client has its own), else a new one."""
    with _Preloaded.lock:
        thread, _Preloaded.thread = _Preloaded.thread, None
    if thread is not None:
        thread.join()
        context, _Preloaded.context = _Preloaded.context, None
        if context is not None and _Preloaded.environment == _tls_environment():
            return context
    return httpx.create_ssl_context()


def _tls_environment() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in _TLS_ENVIRONMENT)


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """What ``ApiClient(verify=...)`` takes for ``CXONE_CA_BUNDLE``: the default trust store plus the bundle.

    ``ssl.create_default_context(cafile=...)`` would trust the bundle *instead of* the default store (it
    loads the defaults only when given no CA file), so a proxy's CA would cost every public one. This starts
    from httpx's own default (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``) and adds the bundle to it.
    """
    if ca_bundle is None:
        return True
    context = default_tls_context()
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
        if transport is None:
            # Every connect, handshake, read and write keeps to the run's deadline (a test's transport stands in).
            # Imported here: httpcore and urllib.request cost start-up time no command without the API pays.
            from cxone_tune.transport import DeadlineTransport

            transport = DeadlineTransport(lambda: self.deadline, verify)
        self.http = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout),
            follow_redirects=False,  # a redirect must never carry the bearer token to another host
            transport=transport,
            event_hooks={"request": [self.stats.count]},
        )
        # One controller for every request, from every thread: tenacity (>= 8.3) keeps the state of a call in
        # thread-local storage and the call's own RetryCallState; _stop and _wait read only those and the
        # deadline. The stats counter takes a lock; BearerAuth's token refresh is TokenSource's, under its lock.
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

    def renew_deadline(self) -> None:
        """A fresh time budget from now, for a client that outlives one run (``agents --watch``: each refresh
        is a run of its own, held to ``time_budget`` like any other)."""
        self.deadline = time.monotonic() + self.policy.time_budget
        if self._auth is not None and hasattr(self._auth, "deadline"):
            self._auth.deadline = self.deadline

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
        # httpx binds a response's stream to the response (a reference cycle), so every response, its whole body
        # with it, waited for the cyclic garbage collector: pages read at once piled up dozens of bodies before
        # it ran. The body is read; a stream over it alone lets the response go as soon as its caller drops it.
        response.stream = httpx.ByteStream(response.content)
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
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
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


def path_segment(value: object) -> str:
    """``value`` as exactly one URL path segment: every character but RFC 3986's unreserved ones is
    percent-encoded, ``/`` and ``%`` included, so ``a%2Fb`` reaches the resource named ``a%2Fb`` (sent as
    ``a%252Fb``), never ``a/b``. Every URL builder of every profile puts ids into paths through this function.
    ``.`` and ``..`` stay what they are under any encoding (the URL resolves them), so they are refused here
    as a last line; the settings refuse them first (``settings.check_id``, exit 78 naming the variable)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise InternalError(f"refusing to put {text!r} into a URL path")
    return quote(text, safe="")


def json_object(response: httpx.Response, call: str) -> dict[str, Any]:
    """The body as a JSON object, or a ProtocolError naming the call."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{call}: the answer is not valid JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{call}: expected a JSON object, got {type(body).__name__}")
    return body
