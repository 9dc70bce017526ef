"""The ApiClient's transport: httpx's default one, rebuilt on httpcore's public API, whose every connect, TLS
handshake, socket read and write waits at most what is left of the run's deadline.

Imported only when an ApiClient is built without a transport of its own (tests pass ``httpx.MockTransport``),
so commands that never reach the API do not pay for importing httpcore.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import httpcore
import httpx

from cxone_tune.errors import ConfigError
from cxone_tune.http import default_tls_context

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

    def __init__(
        self, deadline: Callable[[], float], verify: ssl.SSLContext | bool = True, trust_env: bool = True
    ) -> None:
        # The default context is the one loaded ahead of the client, when the command loaded one (http.prepare_tls).
        use_default = verify is True and trust_env
        self._ssl_context = (
            default_tls_context() if use_default else httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        )
        self._backend = DeadlineBackend(deadline)
        self._direct = httpcore.ConnectionPool(ssl_context=self._ssl_context, **self._pool_options())
        self._proxies: dict[str, str] = urllib.request.getproxies_environment() if trust_env else {}
        self._via: dict[str, httpcore.HTTPProxy] = {}
        self._via_lock = threading.Lock()

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
        with self._via_lock:  # one pool per proxy, however many pages ask for it at once
            pool = self._via.get(proxy)
            if pool is None:
                proxy_url = httpx.URL(proxy if "://" in proxy else f"http://{proxy}")
                if proxy_url.scheme not in ("http", "https"):
                    shown = proxy_url.copy_with(username=None, password=None)  # never the proxy's password
                    raise ConfigError(
                        f"{url.scheme.upper()}_PROXY/ALL_PROXY: {shown} is a {proxy_url.scheme} proxy; "
                        "only http and https proxies are supported"
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
