"""The HTTP plumbing of the sandbox tenant on 127.0.0.1: server, handler, and the ways an answer goes out.

One thread per connection, HTTP/1.1 keep-alive so a client's connection pool is really reused. The
handler reads a request, records it, asks the faults (``faults.py``) whether one hits it, hands it to the
control endpoints (``control.py``) or a contract (``v2.py``, ``acd.py``), and sends the answer: at once,
as a chunked stream (huge bodies), trickled (body or head), or cut by a TCP reset; or never (a hang).
Access tokens of either profile are accepted by both APIs (one token store). Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from . import acd, control, v2
from .common import STATUS_CODES, Answer, ApiError, Exchange, error_body, json_answer
from .faults import Fault
from .tenant import SandboxTenant

HOST = "127.0.0.1"  # never anything else: the sandbox must not be reachable from the network
# The API contracts: what a request is for the faults, and the answer (None: not a path of that contract).
_ROLES: tuple[Callable[[str, str], str | None], ...] = (v2.role, acd.role)
_ROUTES: tuple[Callable[[Exchange], Answer | None], ...] = (v2.route, acd.route)
# The "huge" fault's body: a JSON-looking start, then this block over and over (never held in full).
HUGE_PREFIX = b'{"items": ['
_HUGE_BLOCK = (b'{"userId": "u-00000", "state": "available", "queueId": "q-sales"}, ' * 1024)[: 64 * 1024]
# How long the "reset" fault waits between the partial answer and the reset, so the client has read the
# headers: the reset then lands mid-body rather than before the status line.
RESET_PAUSE = 0.05
# How often a hanging handler looks whether its client has gone or the server is stopping.
HANG_POLL = 0.05


def huge_body(size: int) -> Iterator[bytes]:
    """``size`` bytes of a never-ending agent list, one 64 KiB block at a time (nothing held in full)."""
    prefix = HUGE_PREFIX[:size]
    yield prefix
    left = size - len(prefix)
    while left > 0:
        piece = _HUGE_BLOCK[:left]
        yield piece
        left -= len(piece)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Do not join handler threads on close: keep-alive connections of a still-open client pool
    # (or a handler sleeping in a "delay" fault) would make stop() hang.
    block_on_close = False

    def __init__(self, port: int, tenant: SandboxTenant, log: Callable[[str], None] | None) -> None:
        self.tenant = tenant
        self.log = log
        # Set by SandboxServer.stop(): handlers that hang or trickle on purpose give up at once.
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    # Track open connections so stop() can cut idle keep-alive connections.
    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._conns_lock:
                self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, socket.socket):
            with self._conns_lock:
                self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that times out or drops its pool is normal here; no traceback for that.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cxone-sandbox/1.0"
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds ~40 ms
    # to every answer on a kept-alive connection.
    disable_nagle_algorithm = True
    # The fault that hit the request being served (None: none did); set per request by _dispatch/_api.
    _fault: Fault | None = None
    # The in-flight key (SandboxTenant.enter) of the API request being served; None for control requests.
    _serving: str | None = None
    _method = ""
    _path = ""

    # ------------------------------------------------------------ plumbing
    @property
    def _server(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    @property
    def tenant(self) -> SandboxTenant:
        return self._server.tenant

    def log_message(self, format: str, *args: Any) -> None:
        """Silence BaseHTTPRequestHandler's stderr logging; see ``_dispatch``."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by http.server itself (bad request line, 501...) in JSON too."""
        short = message or self.responses.get(code, ("error", ""))[0]
        body = json.dumps(error_body(STATUS_CODES.get(code, f"HTTP_{code}"), explain or short)).encode()
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """Read the whole request body, so the next request on a kept-alive connection starts clean."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        method = self.command.upper()
        split = urlsplit(self.path)
        path = split.path
        self._fault = None
        self._serving = None
        self._method, self._path = method, path  # for the notes of answers cut short
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            resp = json_answer(400, error_body("INVALID_BODY", "bad Content-Length or chunked framing"))
        else:
            ex = Exchange(
                method,
                path,
                split.query,
                body,
                self.headers.get("Authorization", ""),
                self.headers.get("Accept"),
                f"http://{HOST}:{self._server.server_port}",
                self.tenant,
            )
            try:
                resp = control.route(ex) if path.startswith(control.CONTROL_PREFIX) else self._api(ex)
            except ApiError as exc:
                resp = json_answer(exc.status, exc.body, exc.headers)
            except Exception as exc:  # a bug in the sandbox: still answer, never hang the client
                resp = json_answer(500, error_body("INTERNAL_ERROR", f"sandbox error: {exc!r}"))
        fault = self._fault
        kind = fault.kind_info if fault is not None else None
        try:
            if fault is not None and kind is not None and kind.alter is not None:
                resp = kind.alter(fault, resp)
            if resp.silent:
                self.close_connection = True
            elif fault is not None and kind is not None and kind.send is not None:
                kind.send(fault, resp, self)
            else:
                self._send(resp)
        finally:
            if self._serving is not None:
                self.tenant.leave(self._serving)
        log = self._server.log
        if log is not None:
            ms = (time.perf_counter() - started) * 1000
            outcome = "no answer" if resp.silent else str(resp.status)
            log(f"{method} {self.path} -> {outcome} ({ms:.1f} ms)")

    def _api(self, ex: Exchange) -> Answer:
        """Record the request, let a fault hit it, then route it to its contract."""
        tenant = ex.tenant
        tenant.record(ex.method, ex.path)
        ex.role = next((r for role in _ROLES if (r := role(ex.method, ex.path)) is not None), None)
        self._serving = tenant.enter(ex.role)  # left in _dispatch once the answer is out
        if tenant.latency > 0:
            time.sleep(tenant.latency)
        fault = ex.fault = self._fault = tenant.take_fault(ex.method, ex.path, ex.role)
        if fault is not None and fault.kind_info.answer is not None:
            early = fault.kind_info.answer(fault, ex, self)
            if early is not None:
                return early
        for route in _ROUTES:
            answer = route(ex)
            if answer is not None:
                return answer
        raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {ex.path}"))

    # ------------------------------------------------------------ sending (the Wire of faults.py)
    def _cut(self, kind: str, sent: int) -> None:
        """The client went away (or the server is stopping) before the end of the answer."""
        self.close_connection = True
        self.tenant.note_cut(self._method, self._path, kind, sent)

    def _send(self, resp: Answer) -> None:
        if resp.stream is not None:
            self._send_stream(resp)
            return
        try:
            self._send_head(resp, len(resp.body))
            if resp.status not in (204, 304):
                self.wfile.write(resp.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            # The client gave up (e.g. its timeout fired during a "delay" fault).
            self.close_connection = True

    def _send_head(self, resp: Answer, length: int | None) -> None:
        """Status line and headers; ``length`` None: a chunked body follows."""
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.status not in (204, 304):  # these have no body, and say nothing about one
            self.send_header("Content-Type", resp.content_type)
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send_stream(self, resp: Answer) -> None:
        """A chunked body generated on the fly: only one piece is ever in memory."""
        assert resp.stream is not None
        sent = 0
        try:
            self._send_head(resp, None)
            for piece in resp.stream:
                if self._server.stopping.is_set():
                    raise ConnectionAbortedError("server stopping")
                if piece:
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client stopped reading (a body cap, a timeout) or went away
            self._cut(self._fault.kind if self._fault else "stream", sent)

    def send_trickled(self, resp: Answer, chunk: int, delay: float) -> None:
        """The answer as usual, but its body ``chunk`` bytes at a time, ``delay`` seconds apart."""
        body = b"" if resp.status in (204, 304) else resp.body
        sent = 0
        try:
            self._send_head(resp, len(body))
            self.wfile.flush()
            while sent < len(body):
                if self._server.stopping.wait(delay):
                    raise ConnectionAbortedError("server stopping")
                piece = body[sent : sent + chunk]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
        except OSError:
            self._cut("trickle", sent)

    def send_trickled_head(self, resp: Answer, chunk: int, delay: float) -> None:
        """Status line and headers ``chunk`` bytes at a time, ``delay`` seconds apart; then the body."""
        body = b"" if resp.status in (204, 304) else resp.body
        lines = [f"HTTP/1.1 {resp.status} {self.responses.get(resp.status, ('',))[0]}".rstrip()]
        lines += [f"Server: {self.version_string()}", f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in resp.headers.items()]
        if resp.status not in (204, 304):
            lines += [f"Content-Type: {resp.content_type}", f"Content-Length: {len(body)}"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sent = 0
        try:
            while sent < len(head):
                piece = head[sent : sent + chunk]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if sent < len(head) and self._server.stopping.wait(delay):
                    raise ConnectionAbortedError("server stopping")
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self._cut("trickle_head", -1 if sent < len(head) else 0)

    def send_then_reset(self, resp: Answer) -> None:
        """Headers and half the body, then a TCP reset (SO_LINGER 0 and close): a connection cut mid-answer."""
        self.close_connection = True
        body = resp.body
        with contextlib.suppress(OSError):
            self._send_head(resp, len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            time.sleep(RESET_PAUSE)
        conn = self.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            conn.close()

    def hang(self) -> None:
        """Never answer: wait until the client closes its end or the server stops."""
        conn = self.connection
        while not self._server.stopping.wait(HANG_POLL):
            try:
                readable, _, _ = select.select([conn], [], [], 0)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    return  # the client hung up
            except (OSError, ValueError):  # closed under us (stop() shuts connections down)
                return


class SandboxServer:
    """The sandbox tenant served over HTTP on 127.0.0.1.

    ``SandboxServer(tenant).start()`` serves in a daemon thread; ``serve_forever()`` in the
    foreground. Usable as a context manager (starts on enter if not started, stops on exit).
    """

    def __init__(self, tenant: SandboxTenant, port: int = 0, log: Callable[[str], None] | None = None) -> None:
        self.tenant = tenant
        # Bound (and the port known) right away, so .url works before start().
        self._httpd = _HTTPServer(port, tenant, log)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._httpd.server_port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; a no-op when already serving. Returns self."""
        with self._lock:
            if self._closed:
                raise RuntimeError("server is stopped")
            if not self._serving:
                self._serving = True
                self._thread = threading.Thread(
                    target=self._httpd.serve_forever,
                    kwargs={"poll_interval": 0.01},  # stop() returns within ~10 ms
                    name=f"sandbox-{self.port}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() (from another thread) or KeyboardInterrupt."""
        with self._lock:
            if self._closed or self._serving:
                raise RuntimeError("server is stopped or already serving")
            self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, cut open connections and close the socket. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serving = self._serving
        self._httpd.stopping.set()  # handlers hanging or trickling on purpose give up now
        # shutdown() waits for serve_forever to exit; it would wait forever if it never ran.
        # (From the foreground serve_forever's finally the loop has ended and it returns at once.)
        if serving:
            self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
