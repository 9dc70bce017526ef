"""The ApiClient's own transport: every socket operation clamped to the run's deadline, proxies from the
environment as httpx reads them, and plain requests to the sandbox over loopback.

The clamping is checked at the network edge (a recording ``httpcore.NetworkBackend`` under the
``DeadlineBackend``); the whole-exchange property is row 10 of the fault matrix (tests/test_fault_matrix.py).
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest

from cxone_sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxServer
from cxone_tune.errors import ApiUnavailable, ConfigError
from cxone_tune.http import ApiClient, RetryPolicy
from cxone_tune.transport import DeadlineBackend, DeadlineTransport

SSL_CONTEXT = ssl.create_default_context()  # plain HTTP on loopback; shared so each client skips CA loading


# -- the backend clamps every operation --------------------------------------------------------------------------


class RecordingStream(httpcore.NetworkStream):
    def __init__(self, seen: list[tuple[str, float | None]]) -> None:
        self.seen = seen

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.seen.append(("read", timeout))
        return b""

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.seen.append(("write", timeout))

    def close(self) -> None:
        self.seen.append(("close", None))

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self.seen.append(("start_tls", timeout))
        return RecordingStream(self.seen)

    def get_extra_info(self, info: str) -> Any:
        return f"info:{info}"


class RecordingBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.seen: list[tuple[str, float | None]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.seen.append(("connect", timeout))
        return RecordingStream(self.seen)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        self.seen.append(("connect_unix", timeout))
        return RecordingStream(self.seen)


def test_every_operation_waits_at_most_what_is_left_of_the_deadline() -> None:
    inner = RecordingBackend()
    deadline = time.monotonic() + 2.0
    backend = DeadlineBackend(lambda: deadline, inner)
    stream = backend.connect_tcp("127.0.0.1", 1, timeout=5.0)
    tls = stream.start_tls(SSL_CONTEXT, "localhost", timeout=5.0)
    tls.write(b"GET / HTTP/1.1\r\n\r\n", timeout=15.0)
    tls.read(4096, timeout=15.0)
    tls.read(4096, timeout=None)  # no timeout of its own: still the deadline
    tls.read(4096, timeout=0.25)  # a shorter timeout of its own stands
    backend.connect_unix_socket("/nonexistent", timeout=None)
    assert [op for op, _ in inner.seen] == ["connect", "start_tls", "write", "read", "read", "read", "connect_unix"]
    timeouts = [timeout for _, timeout in inner.seen]
    assert all(timeout is not None and 0 < timeout <= 2.0 for timeout in timeouts), timeouts
    assert timeouts[5] == 0.25
    assert tls.get_extra_info("ssl_object") == "info:ssl_object"  # httpcore asks the stream, e.g. for ALPN


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("connect", httpcore.ConnectTimeout),
        ("start_tls", httpcore.ConnectTimeout),
        ("read", httpcore.ReadTimeout),
        ("write", httpcore.WriteTimeout),
    ],
)
def test_past_the_deadline_nothing_reaches_the_socket(operation: str, error: type[Exception]) -> None:
    inner = RecordingBackend()
    deadline = [time.monotonic() + 60.0]
    backend = DeadlineBackend(lambda: deadline[0], inner)
    stream = backend.connect_tcp("127.0.0.1", 1, timeout=5.0)
    attempt: Callable[[], object] = {
        "connect": lambda: backend.connect_tcp("127.0.0.1", 1, timeout=5.0),
        "start_tls": lambda: stream.start_tls(SSL_CONTEXT, "localhost", timeout=5.0),
        "read": lambda: stream.read(4096, timeout=15.0),
        "write": lambda: stream.write(b"x", timeout=15.0),
    }[operation]
    before = len(inner.seen)
    deadline[0] = time.monotonic() - 0.001  # the run's budget is spent
    with pytest.raises(error, match="time budget"):
        attempt()
    assert len(inner.seen) == before


# -- the transport against the sandbox ---------------------------------------------------------------------------


def token(api: ApiClient, server: SandboxServer) -> httpx.Response:
    return api.request(
        "POST",
        f"{server.url}/oauth/token",
        call="POST token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
        authenticated=False,
    )


def test_requests_go_over_one_kept_alive_connection(server: SandboxServer) -> None:
    with ApiClient(verify=SSL_CONTEXT) as api:
        assert isinstance(api.http._transport, DeadlineTransport)
        ports = set()
        for _ in range(3):
            response = token(api, server)
            assert response.json()["access_token"]
            stream = response.extensions["network_stream"]
            ports.add(stream.get_extra_info("client_addr")[1])
    assert len(ports) == 1  # the pool keeps the connection, as httpx's own transport does
    assert server.tenant.count("POST", "/oauth/token") == 3


def test_connection_refused_is_a_connect_error_and_retried(server: SandboxServer) -> None:
    server.stop()
    with (
        ApiClient(RetryPolicy(max_attempts=2), verify=SSL_CONTEXT, sleep=lambda _s: None) as api,
        pytest.raises(ApiUnavailable, match=r"POST token: cannot reach the API \(ConnectError\) after retries"),
    ):
        token(api, server)
    assert api.stats.requests == 2


# -- proxies from the environment --------------------------------------------------------------------------------


class ForwardingProxy(ThreadingHTTPServer):
    """A plain HTTP forward proxy on 127.0.0.1: records each request line and Proxy-Authorization, relays it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ForwardingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        target = urlsplit(self.path)  # absolute form: http://host:port/path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=5)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "connection")}
        upstream.request(self.command, target.path, body=body, headers=headers)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    srv = ForwardingProxy()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("no_proxy_variables")
def test_http_proxy_from_the_environment_is_used(
    server: SandboxServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://ops:s3cret@"))
    with ApiClient(verify=SSL_CONTEXT) as api:
        assert token(api, server).json()["access_token"]
    credentials = base64.b64encode(b"ops:s3cret").decode()
    assert proxy.seen == [(f"{server.url}/oauth/token", f"Basic {credentials}")]
    assert server.tenant.count("POST", "/oauth/token") == 1


@pytest.mark.usefixtures("no_proxy_variables")
def test_no_proxy_bypasses_the_proxy(
    server: SandboxServer, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ApiClient(verify=SSL_CONTEXT) as api:
        assert token(api, server).json()["access_token"]
    assert proxy.seen == []
    assert server.tenant.count("POST", "/oauth/token") == 1


@pytest.mark.usefixtures("no_proxy_variables")
def test_a_socks_proxy_is_refused_naming_the_variables_without_the_password(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://ops:s3cret@127.0.0.1:1080")
    with ApiClient(verify=SSL_CONTEXT) as api, pytest.raises(ConfigError) as caught:
        token(api, server)
    assert caught.value.exit_code == 78
    assert str(caught.value) == (
        "POST token: HTTP_PROXY/ALL_PROXY: socks5://127.0.0.1:1080 is a socks5 proxy; "
        "only http and https proxies are supported"
    )
    assert server.tenant.count() == 0
