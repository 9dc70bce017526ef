"""HTTP layer of the sandbox tenant: the v2 contract plus ``/_sandbox/`` control endpoints, on loopback.

Standard library only. One thread per connection, HTTP/1.1 keep-alive so a client's
connection pool is really reused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

from .state import (
    AGENTS_PATH,
    CAMPAIGNS_PREFIX,
    DEFAULT_SCOPE,
    ApiError,
    Fault,
    SandboxTenant,
    decode_page_token,
    encode_page_token,
    error_body,
)

HOST = "127.0.0.1"  # never anything else: the sandbox must not be reachable from the network
TOKEN_PATH = "/oauth/token"
API_PREFIX = "/api/v2/"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PAGE_SIZE = 100
MALFORMED_BODY = b'{"items": ['

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers or {})


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description}, headers)


def _method_not_allowed(allowed: str) -> ApiError:
    return ApiError(405, error_body("METHOD_NOT_ALLOWED", f"allowed: {allowed}"), {"Allow": allowed})


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, error_body("INVALID_BODY", "body is not valid JSON")) from None


def _json_object(body: bytes) -> dict[str, Any]:
    data = _parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(400, error_body("INVALID_BODY", "body must be a JSON object"))
    return data


def _accepts_json(accept: str | None) -> bool:
    if accept is None:
        return True
    ranges = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(ranges & {"application/json", "application/*", "*/*"})


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Do not join handler threads on close: keep-alive connections of a still-open client pool
    # (or a handler sleeping in a "delay" fault) would make stop() hang.
    block_on_close = False

    def __init__(self, port: int, tenant: SandboxTenant, log: Callable[[str], None] | None) -> None:
        self.tenant = tenant
        self.log = log
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

    # ------------------------------------------------------------ plumbing
    @property
    def _server(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    @property
    def tenant(self) -> SandboxTenant:
        return self._server.tenant

    def log_message(self, format: str, *args: Any) -> None:
        """Silence BaseHTTPRequestHandler's stderr logging; see ``_log_request``."""

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
        body = json.dumps(error_body(_STATUS_CODES.get(code, f"HTTP_{code}"), explain or short)).encode()
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
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            resp = _json(400, error_body("INVALID_BODY", "bad Content-Length or chunked framing"))
        else:
            try:
                if path.startswith(CONTROL_PREFIX):
                    resp = self._control(method, path, body)
                else:
                    resp = self._api(method, path, split.query, body)
            except ApiError as exc:
                resp = _json(exc.status, exc.body, exc.headers)
            except Exception as exc:  # a bug in the sandbox: still answer, never hang the client
                resp = _json(500, error_body("INTERNAL_ERROR", f"sandbox error: {exc!r}"))
        self._send(resp)
        log = self._server.log
        if log is not None:
            ms = (time.perf_counter() - started) * 1000
            log(f"{method} {self.path} -> {resp.status} ({ms:.1f} ms)")

    def _send(self, resp: _Response) -> None:
        try:
            self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(resp.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(resp.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            # The client gave up (e.g. its timeout fired during a "delay" fault).
            self.close_connection = True

    # ------------------------------------------------------------ emulated API
    def _api(self, method: str, path: str, query: str, body: bytes) -> _Response:
        tenant = self.tenant
        tenant.record(method, path)
        if tenant.latency > 0:
            time.sleep(tenant.latency)

        fault = tenant.take_fault(method, path)
        if fault is not None:
            early = self._apply_fault(fault, path)
            if early is not None:
                return early

        if path == TOKEN_PATH:
            if method != "POST":
                raise _method_not_allowed("POST")
            return self._token(body)
        if not path.startswith(API_PREFIX):
            raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))

        self._require_token()
        if not _accepts_json(self.headers.get("Accept")):
            raise ApiError(406, error_body("NOT_ACCEPTABLE", "this API only answers application/json"))

        if path == AGENTS_PATH:
            if method != "GET":
                raise _method_not_allowed("GET")
            repeat = fault is not None and fault.kind == "repeat_page_token"
            return self._agents(query, repeat)
        if path.startswith(CAMPAIGNS_PREFIX):
            campaign_id = unquote(path[len(CAMPAIGNS_PREFIX) :])
            if campaign_id and "/" not in campaign_id:
                if method == "GET":
                    return _json(200, tenant.campaign(campaign_id))
                if method == "PUT":
                    concurrent = fault is not None and fault.kind == "concurrent_edit"
                    return self._put_campaign(campaign_id, body, concurrent)
                raise _method_not_allowed("GET, PUT")
        raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))

    def _apply_fault(self, fault: Fault, path: str) -> _Response | None:
        """Answer for faults that replace the answer; None for those that act later or only delay."""
        if fault.kind == "status":
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.status == 401:
                headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            code = _STATUS_CODES.get(fault.status, f"HTTP_{fault.status}")
            message = f"injected fault: HTTP {fault.status}"
            if path == TOKEN_PATH:  # the token endpoint speaks OAuth error bodies
                return _json(fault.status, {"error": code.lower(), "error_description": message}, headers)
            return _json(fault.status, error_body(code, message), headers)
        if fault.kind == "delay":
            time.sleep(fault.delay)
        elif fault.kind == "malformed":
            return _Response(200, MALFORMED_BODY)
        elif fault.kind == "wrong_shape":
            return _json(200, {"unexpected": True})
        elif fault.kind == "revoke_token":
            self.tenant.revoke_all_tokens()
        return None

    def _token(self, body: bytes) -> _Response:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        grant_type = _first(form, "grant_type")
        if grant_type is None:
            raise _oauth_error(400, "invalid_request", "grant_type is required (form-encoded body)")
        if grant_type != "client_credentials":
            raise _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

        client_id, client_secret = _first(form, "client_id"), _first(form, "client_secret")
        basic = self._basic_credentials()
        if basic is not None:
            client_id, client_secret = basic
        if not self.tenant.check_client(client_id, client_secret):
            headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if basic is not None else None
            raise _oauth_error(401, "invalid_client", "unknown client or wrong secret", headers)

        token, expires_in = self.tenant.issue_token()
        payload = {
            "access_token": token,
            "expires_in": expires_in,
            "token_type": "Bearer",
            "scope": _first(form, "scope") or DEFAULT_SCOPE,
        }
        return _json(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _basic_credentials(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _oauth_error(400, "invalid_request", "malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise _oauth_error(400, "invalid_request", "malformed Basic credentials")
        # RFC 6749 2.3.1: id and secret are form-encoded before base64.
        return unquote_plus(user), unquote_plus(password)

    def _require_token(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.tenant.token_valid(token.strip()):
            raise ApiError(
                401,
                {"error": "invalid_token", "error_description": "missing, expired or revoked access token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def _agents(self, query: str, repeat: bool) -> _Response:
        params = parse_qs(query, keep_blank_values=True)
        limit = self.tenant.max_page_size
        bad_size = ApiError(400, error_body("INVALID_VALUE", f"pageSize must be between 1 and {limit}", "pageSize"))
        raw_size = _first(params, "pageSize")
        try:
            size = DEFAULT_PAGE_SIZE if raw_size is None else int(raw_size)
        except ValueError:
            raise bad_size from None
        if not 1 <= size <= limit:
            raise bad_size

        sent = _first(params, "nextPageToken") or ""  # an empty token means the first page
        offset, sticky = 0, False
        if sent:
            try:
                offset, sticky = decode_page_token(sent)
            except ValueError:
                raise ApiError(
                    400, error_body("INVALID_VALUE", "nextPageToken is not valid", "nextPageToken")
                ) from None

        items, nxt = self.tenant.agents_page(offset, size)
        next_token = encode_page_token(nxt) if nxt is not None else None
        if sticky or (repeat and sent):
            next_token = sent  # hand back exactly the token that was sent
        elif repeat:
            # First page: a sticky token, which the server then keeps handing back forever.
            next_token = encode_page_token(nxt if nxt is not None else 0, sticky=True)
        return _json(200, {"items": items, "nextPageToken": next_token})

    def _put_campaign(self, campaign_id: str, body: bytes, concurrent: bool) -> _Response:
        self.tenant.campaign(campaign_id)  # 404 before any body complaint
        data = _parse_json(body)
        if concurrent:
            self.tenant.concurrent_edit(campaign_id)
        return _json(200, self.tenant.put_campaign(campaign_id, data))

    # ------------------------------------------------------------ control endpoints
    def _control(self, method: str, path: str, body: bytes) -> _Response:
        tenant = self.tenant
        route = path[len(CONTROL_PREFIX) :].rstrip("/")
        ok = {"ok": True}
        if route == "state":
            if method != "GET":
                raise _method_not_allowed("GET")
            return _json(200, tenant.snapshot())
        if route == "faults":
            if method == "DELETE":
                tenant.clear_faults()
                return _json(200, ok)
            if method == "POST":
                try:
                    fault = Fault(**_json_object(body))
                except (TypeError, ValueError) as exc:
                    raise ApiError(400, error_body("INVALID_VALUE", f"bad fault: {exc}")) from None
                tenant.add_fault(fault)
                return _json(200, ok)
            raise _method_not_allowed("POST, DELETE")
        if route == "agents":
            if method != "POST":
                raise _method_not_allowed("POST")
            data = _json_object(body)
            states, count = data.get("states"), data.get("count")
            if isinstance(states, list) and all(isinstance(s, str) for s in states):
                tenant.set_agent_states(states)
            elif isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                tenant.set_agent_count(count)
            else:
                raise ApiError(400, error_body("INVALID_VALUE", 'expected {"states": [str]} or {"count": n}'))
            return _json(200, ok)
        if route in ("tokens/revoke", "tokens/expire"):
            if method != "POST":
                raise _method_not_allowed("POST")
            if route == "tokens/revoke":
                tenant.revoke_all_tokens()
            else:
                tenant.expire_all_tokens()
            return _json(200, ok)
        if route == "requests":
            if method != "DELETE":
                raise _method_not_allowed("DELETE")
            tenant.reset_counts()
            return _json(200, ok)
        parts = route.split("/")
        if len(parts) == 3 and parts[0] == "campaigns" and parts[2] == "edit":
            if method != "POST":
                raise _method_not_allowed("POST")
            return _json(200, tenant.merge_campaign(unquote(parts[1]), _json_object(body)))
        raise ApiError(404, error_body("NOT_FOUND", f"no such control endpoint: {path}"))


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
