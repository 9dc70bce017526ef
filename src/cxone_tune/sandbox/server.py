"""HTTP layer of the sandbox tenant on loopback: both API profiles at once, plus ``/_sandbox/`` control endpoints.

- ``v2``: ``/oauth/token`` and ``/api/v2/...`` (the design document's contract);
- ``acd`` (the real NICE CXone API): ``/.well-known/openid-configuration``, ``/auth/token``,
  ``/.well-known/cxone-configuration`` and ``/inContactAPI/services/{v21.0..v34.0}/...``. The server's own
  base URL is both the issuer and the ``api_endpoint``.

Access tokens of either profile are accepted by both APIs (one token store).
Standard library only. One thread per connection, HTTP/1.1 keep-alive so a client's
connection pool is really reused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, unquote_plus, urlencode, urlsplit

from .state import (
    ACD_AGENTS_ROUTE,
    ACD_MAX_VERSION,
    ACD_MIN_VERSION,
    ACD_PREFIX,
    AGENTS_PATH,
    CAMPAIGNS_PREFIX,
    DEFAULT_SCOPE,
    ApiError,
    Fault,
    SandboxTenant,
    alter_field,
    decode_page_token,
    encode_page_token,
    error_body,
    format_acd_time,
    parse_acd_time,
    split_acd_path,
)

HOST = "127.0.0.1"  # never anything else: the sandbox must not be reachable from the network
TOKEN_PATH = "/oauth/token"
API_PREFIX = "/api/v2/"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PAGE_SIZE = 100
MALFORMED_BODY = b'{"items": ['

# acd profile
ACD_TOKEN_PATH = "/auth/token"
JWKS_PATH = "/auth/jwks"
OPENID_CONFIG_PATH = "/.well-known/openid-configuration"
CXONE_CONFIG_PATH = "/.well-known/cxone-configuration"
# What CXone answers (406, text) when the request's Accept does not name application/json.
NOT_RENDERABLE = b"No known way to render data"
# Marker the repeat_page_token fault puts into _links.next: a request carrying it always gets the same
# page back with a "next" link to itself, so a client that only follows links loops forever.
REPEAT_PARAM = "sandboxRepeat"
_SKILL_ROUTE_RE = re.compile(r"skills/([^/]+)/(parameters/general-settings|activity)")
# The "huge" fault's body: a JSON-looking start, then this block over and over (never held in full).
HUGE_PREFIX = b'{"items": ['
_HUGE_BLOCK = (b'{"userId": "u-00000", "state": "available", "queueId": "q-sales"}, ' * 1024)[: 64 * 1024]
# How long the "reset" fault waits between the partial answer and the reset, so the client has read the
# headers: the reset then lands mid-body rather than before the status line.
RESET_PAUSE = 0.05
# How often a hanging handler looks whether its client has gone or the server is stopping.
HANG_POLL = 0.05
_NONCES = itertools.count(1)  # fresh page tokens of the empty_page fault

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
    content_type: str = "application/json"
    # A body generated piece by piece, sent chunked without Content-Length (``body`` is then unused).
    stream: Iterable[bytes] | None = None
    # Send nothing at all and close the connection (a request that was never answered).
    silent: bool = False


_NO_CONTENT = _Response(204, b"")


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


def _accepts_json_explicitly(accept: str | None) -> bool:
    """The acd API's rule: only an Accept naming application/json (q > 0) gets JSON; */* does not."""
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != "application/json":
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def _int_param(params: dict[str, list[str]], name: str, default: int, low: int, high: int | None) -> int:
    raw = _first(params, name)
    bound = f"between {low} and {high}" if high is not None else f"an integer >= {low}"
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ApiError(400, error_body("INVALID_VALUE", f"{name} must be {bound}", name))
    return value


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _huge_body(size: int) -> Iterator[bytes]:
    """``size`` bytes of a never-ending agent list, one 64 KiB block at a time (nothing held in full)."""
    prefix = HUGE_PREFIX[:size]
    yield prefix
    left = size - len(prefix)
    while left > 0:
        piece = _HUGE_BLOCK[:left]
        yield piece
        left -= len(piece)


def _altered(resp: _Response, fault: Fault) -> _Response:
    """The drop_field / wrong_type faults: the real 2xx JSON object with one field removed or retyped."""
    if not 200 <= resp.status < 300 or resp.stream is not None or not resp.body:
        return resp
    try:
        document = json.loads(resp.body)
    except ValueError:
        return resp
    if not isinstance(document, dict):
        return resp
    assert fault.field is not None  # Fault checks it
    alter_field(document, fault.field, drop=fault.kind == "drop_field", value=fault.value)
    return _Response(resp.status, json.dumps(document).encode(), resp.headers, resp.content_type)


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
        self._fault = None
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
        fault = self._fault
        if fault is not None and fault.kind in ("drop_field", "wrong_type"):
            resp = _altered(resp, fault)
        if resp.silent:
            self.close_connection = True
        elif fault is not None and fault.kind == "reset":
            self._send_reset(resp)
        elif fault is not None and fault.kind == "trickle":
            self._send_trickle(resp, fault, method, path)
        elif fault is not None and fault.kind == "trickle_head":
            self._send_trickled_head(resp, fault, method, path)
        else:
            self._send(resp, method, path)
        log = self._server.log
        if log is not None:
            ms = (time.perf_counter() - started) * 1000
            outcome = "no answer" if resp.silent else str(resp.status)
            log(f"{method} {self.path} -> {outcome} ({ms:.1f} ms)")

    def _send(self, resp: _Response, method: str = "", path: str = "") -> None:
        if resp.stream is not None:
            self._send_stream(resp, method, path)
            return
        try:
            self._send_head(resp, len(resp.body))
            if resp.status not in (204, 304):
                self.wfile.write(resp.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            # The client gave up (e.g. its timeout fired during a "delay" fault).
            self.close_connection = True

    def _send_head(self, resp: _Response, length: int | None) -> None:
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

    def _send_stream(self, resp: _Response, method: str, path: str) -> None:
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
            self.close_connection = True
            self.tenant.note_cut(method, path, self._fault.kind if self._fault else "stream", sent)

    def _send_trickle(self, resp: _Response, fault: Fault, method: str, path: str) -> None:
        """The answer as usual, but its body ``fault.chunk`` bytes at a time, ``fault.delay`` seconds apart."""
        body = b"" if resp.status in (204, 304) else resp.body
        sent = 0
        try:
            self._send_head(resp, len(body))
            self.wfile.flush()
            while sent < len(body):
                if self._server.stopping.wait(fault.delay):
                    raise ConnectionAbortedError("server stopping")
                piece = body[sent : sent + fault.chunk]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
        except OSError:
            self.close_connection = True
            self.tenant.note_cut(method, path, fault.kind, sent)

    def _send_trickled_head(self, resp: _Response, fault: Fault, method: str, path: str) -> None:
        """Status line and headers ``fault.chunk`` bytes at a time, ``fault.delay`` seconds apart; then the body."""
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
                piece = head[sent : sent + fault.chunk]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if sent < len(head) and self._server.stopping.wait(fault.delay):
                    raise ConnectionAbortedError("server stopping")
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            self.tenant.note_cut(method, path, fault.kind, -1 if sent < len(head) else 0)

    def _send_reset(self, resp: _Response) -> None:
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

    def _hang(self) -> None:
        """Never answer: wait until the client closes its end or the server stops."""
        conn = self.connection
        while not self._server.stopping.wait(HANG_POLL):
            try:
                readable, _, _ = select.select([conn], [], [], 0)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    return  # the client hung up
            except (OSError, ValueError):  # closed under us (stop() shuts connections down)
                return

    # ------------------------------------------------------------ emulated API
    def _api(self, method: str, path: str, query: str, body: bytes) -> _Response:
        tenant = self.tenant
        tenant.record(method, path)
        if tenant.latency > 0:
            time.sleep(tenant.latency)

        fault = tenant.take_fault(method, path)
        self._fault = fault
        if fault is not None:
            early = self._apply_fault(fault, path)
            if early is not None:
                return early

        if path == TOKEN_PATH:
            if method != "POST":
                raise _method_not_allowed("POST")
            return self._token(body)
        if path == ACD_TOKEN_PATH:
            if method != "POST":
                raise _method_not_allowed("POST")
            return self._acd_token(body)
        if path in (OPENID_CONFIG_PATH, CXONE_CONFIG_PATH, JWKS_PATH):
            if method != "GET":
                raise _method_not_allowed("GET")
            return self._discovery(path, query)
        if path.startswith(ACD_PREFIX):
            return self._acd_api(method, path, query, body, fault)
        if not path.startswith(API_PREFIX):
            raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))

        self._require_token()
        if not _accepts_json(self.headers.get("Accept")):
            raise ApiError(406, error_body("NOT_ACCEPTABLE", "this API only answers application/json"))

        if path == AGENTS_PATH:
            if method != "GET":
                raise _method_not_allowed("GET")
            repeat = fault is not None and fault.kind == "repeat_page_token"
            return self._agents(query, repeat, empty=fault is not None and fault.kind == "empty_page")
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
            if path in (TOKEN_PATH, ACD_TOKEN_PATH):  # the token endpoints speak OAuth error bodies
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
        elif fault.kind == "hang":
            self._hang()
            return _Response(0, b"", silent=True)
        elif fault.kind == "huge":
            return _Response(200, b"", stream=_huge_body(fault.size))
        elif fault.kind == "redirect":
            assert fault.location is not None  # Fault checks it
            status = fault.status if 300 <= fault.status < 400 else 302
            body = error_body("REDIRECT", f"moved to {fault.location}")
            return _json(status, body, {"Location": fault.location})
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

    def _agents(self, query: str, repeat: bool, empty: bool = False) -> _Response:
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

        if empty:
            # No rows, and a token never seen before that asks for this same offset again.
            return _json(200, {"items": [], "nextPageToken": encode_page_token(offset, nonce=next(_NONCES))})
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

    # ------------------------------------------------------------ acd profile (the real CXone API)
    @property
    def _base_url(self) -> str:
        """This server's own URL: issuer, token host and api_endpoint of the sandbox at once."""
        return f"http://{HOST}:{self._server.server_port}"

    def _acd_token(self, body: bytes) -> _Response:
        """``POST /auth/token``: password grant (access key) or refresh_token grant, client via Basic or form."""
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        grant_type = _first(form, "grant_type")
        if grant_type is None:
            raise _oauth_error(400, "invalid_request", "grant_type is required (form-encoded body)")

        client_id, client_secret = _first(form, "client_id"), _first(form, "client_secret")
        basic = self._basic_credentials()
        if basic is not None:  # client_secret_basic wins over client_secret_post
            client_id, client_secret = basic
        if client_id is None or not self.tenant.check_client(client_id, client_secret):
            headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if basic is not None else None
            raise _oauth_error(401, "invalid_client", "unknown client or wrong secret", headers)

        issuer = self._base_url
        if grant_type == "password":
            # parse_qs has already form-decoded them: "%3D" -> "=", "+" -> " ".
            payload = self.tenant.acd_password_grant(
                _first(form, "username"), _first(form, "password"), issuer, client_id
            )
        elif grant_type == "refresh_token":
            payload = self.tenant.acd_refresh_grant(_first(form, "refresh_token"), issuer, client_id)
        else:
            raise _oauth_error(
                400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported (password, refresh_token)"
            )
        return _json(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _discovery(self, path: str, query: str) -> _Response:
        base = self._base_url
        if path == OPENID_CONFIG_PATH:
            return _json(
                200,
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/auth/authorize",
                    "token_endpoint": f"{base}{ACD_TOKEN_PATH}",
                    "jwks_uri": f"{base}{JWKS_PATH}",
                    "end_session_endpoint": f"{base}/auth/logout",
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["password", "refresh_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if path == JWKS_PATH:
            # The sandbox's signatures are random bytes: there is no key to verify them with (clients
            # must only decode the payload).
            return _json(200, {"keys": []})
        tenant_id = _first(parse_qs(query, keep_blank_values=True), "tenantId") or ""
        if tenant_id.lower() != self.tenant.tenant_id.lower():
            what = f"unknown tenantId {tenant_id!r}" if tenant_id else "tenantId is required"
            raise ApiError(404, error_body("NOT_FOUND", what, "tenantId"))
        return _json(
            200,
            {
                "private": False,
                "area": "sb1",
                "cluster": self.tenant.cluster_id,
                # Not a real domain: clients must use api_endpoint, not build "api-{area}.{domain}".
                "domain": "sandbox.invalid",
                "acdDomain": "sandbox.invalid",
                "uhDomain": "sandbox.invalid",
                "ui_endpoint": base,
                "auth_endpoint": base,
                "api_endpoint": base,
                "tenantId": self.tenant.tenant_id,
            },
        )

    def _acd_api(self, method: str, path: str, query: str, body: bytes, fault: Fault | None) -> _Response:
        split = split_acd_path(path)
        if split is None:
            raise ApiError(
                404,
                error_body(
                    "NOT_FOUND",
                    f"no such resource: {path} (versions v{ACD_MIN_VERSION} to v{ACD_MAX_VERSION} are served)",
                ),
            )
        route = split[1]
        self._require_token()
        if not _accepts_json_explicitly(self.headers.get("Accept")):
            return _Response(406, NOT_RENDERABLE, content_type="text/plain; charset=utf-8")

        if route == ACD_AGENTS_ROUTE:
            if method != "GET":
                raise _method_not_allowed("GET")
            kind = fault.kind if fault is not None else None
            return self._acd_agents(path, query, kind == "repeat_page_token", empty=kind == "empty_page")
        m = _SKILL_ROUTE_RE.fullmatch(route)
        if m is not None:
            if not m.group(1).isdigit():
                raise ApiError(404, error_body("NOT_FOUND", f"skill {unquote(m.group(1))} not found"))
            skill_id = int(m.group(1))
            if m.group(2) == "activity":
                if method != "GET":
                    raise _method_not_allowed("GET")
                return _json(200, self.tenant.skill_activity(skill_id))
            if method == "GET":
                answer = _json(200, self.tenant.skill_settings_copy(skill_id))
                if fault is not None and fault.kind == "concurrent_edit":
                    # Another writer edits right after this read: the client's copy is stale at once.
                    self.tenant.concurrent_skill_edit(skill_id)
                return answer
            if method == "PUT":
                self.tenant.skill_settings_copy(skill_id)  # 404 before any body complaint
                stored = self.tenant.put_skill_settings(skill_id, _parse_json(body))
                return _NO_CONTENT if self.tenant.acd_put_returns_204 else _json(200, stored)
            raise _method_not_allowed("GET, PUT")
        raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))

    def _acd_agents(self, path: str, query: str, repeat_fault: bool, empty: bool = False) -> _Response:
        """``GET agents/states``: offset paging with skip/top, totalRecords and _links.

        ``fields`` (comma list) projects the rows; ``orderBy`` and ``reqBUIds`` are accepted and ignored.
        """
        tenant = self.tenant
        params = parse_qs(query, keep_blank_values=True)
        top = _int_param(params, "top", DEFAULT_PAGE_SIZE, 1, tenant.max_page_size)
        skip = _int_param(params, "skip", 0, 0, None)
        raw_since = _first(params, "updatedSince")
        since: datetime | None = None
        if raw_since:
            try:
                since = parse_acd_time(raw_since)
            except ValueError:
                raise ApiError(
                    400, error_body("INVALID_VALUE", "updatedSince must be an ISO 8601 date-time", "updatedSince")
                ) from None

        page = tenant.acd_agents_page(skip, top, since)
        if page is None:
            return _NO_CONTENT  # nothing updated since updatedSince
        rows, total = page
        fields = [f.strip() for f in (_first(params, "fields") or "").split(",") if f.strip()]
        if fields:
            rows = [{k: row[k] for k in fields if k in row} for row in rows]

        kept = [(k, v) for k, values in params.items() if k not in ("skip", "top", REPEAT_PARAM) for v in values]

        def link(at: int, marker: bool = False) -> str:
            pairs = [*kept, ("skip", str(at)), ("top", str(top))]
            if marker:
                pairs.append((REPEAT_PARAM, "1"))
            return f"{self._base_url}{path}?{urlencode(pairs)}"

        sticky = _first(params, REPEAT_PARAM) == "1"
        links: dict[str, str | None]
        if empty:
            # A page with no rows although totalRecords says more are there: "next" is this same skip.
            rows = []
            links = {"self": link(skip), "next": link(skip)}
        elif repeat_fault or sticky:
            # A pager that never advances: "next" is this very page again, and totalRecords is more
            # than can ever be reached.
            links = {"self": link(skip, sticky), "next": link(skip, marker=True)}
            total += 10 * top
        else:
            links = {"self": link(skip), "next": link(skip + top) if skip + top < total else None}
        links["previous"] = link(max(0, skip - top)) if skip > 0 else None
        poll = format_acd_time(datetime.now(timezone.utc))
        if tenant.acd_result_set_wrapper:  # older API versions
            wrapped = {"agentStates": rows, "totalRecords": total, "_links": links, "lastPollTime": poll}
            return _json(200, {"resultSet": wrapped})
        return _json(200, {"totalRecords": total, "_links": links, "lastPollTime": poll, "agentStates": rows})

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
        if route == "acd-agents":
            if method != "POST":
                raise _method_not_allowed("POST")
            states = _json_object(body).get("states")
            if not (isinstance(states, list) and all(isinstance(s, str) for s in states)):
                raise ApiError(400, error_body("INVALID_VALUE", 'expected {"states": [agentStateName, ...]}'))
            try:
                tenant.set_acd_agents(states)
            except ValueError as exc:
                raise ApiError(400, error_body("INVALID_VALUE", str(exc))) from None
            return _json(200, ok)
        if route in ("tokens/revoke", "tokens/expire", "tokens/revoke-refresh"):
            if method != "POST":
                raise _method_not_allowed("POST")
            if route == "tokens/revoke":
                tenant.revoke_all_tokens()
            elif route == "tokens/expire":
                tenant.expire_all_tokens()
            else:
                tenant.revoke_refresh_tokens()
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
        if len(parts) == 3 and parts[0] == "skills" and parts[2] == "edit":
            if method != "POST":
                raise _method_not_allowed("POST")
            if not parts[1].isdigit():
                raise ApiError(404, error_body("NOT_FOUND", f"skill {unquote(parts[1])} not found"))
            return _json(200, tenant.merge_skill_settings(int(parts[1]), _json_object(body)))
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
