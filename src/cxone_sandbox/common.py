"""What both API contracts and the control endpoints share: the answer, the request, errors, parsing helpers.

Also the data both agent generators draw names and timestamps from. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from .faults import Fault
    from .tenant import SandboxTenant

STATUS_CODES = {
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
DEFAULT_PAGE_SIZE = 100  # agents per page when the request names none (v2 pageSize, acd top)


@dataclass
class Answer:
    """What the sandbox is about to send for one request."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # A body generated piece by piece, sent chunked without Content-Length (``body`` is then unused).
    stream: Iterable[bytes] | None = None
    # Send nothing at all and close the connection (a request that was never answered).
    silent: bool = False


NO_CONTENT = Answer(204, b"")


@dataclass
class Exchange:
    """One request as the routes see it (the HTTP layer fills it in), and the fault that hit it, if any."""

    method: str  # upper case
    path: str
    query: str
    body: bytes
    authorization: str  # the Authorization header, "" when absent
    accept: str | None  # the Accept header
    base_url: str  # this server's own URL: issuer, token host and api_endpoint of the sandbox at once
    tenant: SandboxTenant
    role: str | None = None  # what the request is for faults (faults.TOKEN, ...), from v2.role / acd.role
    fault: Fault | None = None

    def fault_is(self, kind: str) -> bool:
        return self.fault is not None and self.fault.kind == kind


class ApiError(Exception):
    """An error answer of the emulated API: HTTP status plus JSON body (plus extra headers)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(code: str, message: str, path: str | None = None) -> dict[str, Any]:
    """The contract's error shape: ``{"errors": [{"code", "message"[, "path"]}]}``."""
    err: dict[str, Any] = {"code": code, "message": message}
    if path is not None:
        err["path"] = path
    return {"errors": [err]}


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(payload).encode(), headers or {})


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description}, headers)


def method_not_allowed(allowed: str) -> ApiError:
    return ApiError(405, error_body("METHOD_NOT_ALLOWED", f"allowed: {allowed}"), {"Allow": allowed})


def only(method: str, allowed: str) -> None:
    """ApiError 405 unless ``method`` is the one ``allowed``."""
    if method != allowed:
        raise method_not_allowed(allowed)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, error_body("INVALID_BODY", "body is not valid JSON")) from None


def json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(400, error_body("INVALID_BODY", "body must be a JSON object"))
    return data


def first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def int_param(params: dict[str, list[str]], name: str, default: int, low: int, high: int | None) -> int:
    raw = first(params, name)
    bound = f"between {low} and {high}" if high is not None else f"an integer >= {low}"
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ApiError(400, error_body("INVALID_VALUE", f"{name} must be {bound}", name))
    return value


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(client id, secret) of a Basic Authorization header; None for another scheme; ApiError 400 if broken."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth_error(400, "invalid_request", "malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise oauth_error(400, "invalid_request", "malformed Basic credentials")
    # RFC 6749 2.3.1: id and secret are form-encoded before base64.
    return unquote_plus(user), unquote_plus(password)


def client_credentials(ex: Exchange, form: dict[str, list[str]]) -> tuple[str | None, str | None, bool]:
    """(client id, secret, sent as Basic) of a token request: client_secret_basic wins over client_secret_post."""
    basic = basic_credentials(ex.authorization)
    if basic is not None:
        return basic[0], basic[1], True
    return first(form, "client_id"), first(form, "client_secret"), False


def require_token(ex: Exchange) -> None:
    """ApiError 401 unless the request carries a valid Bearer access token (of either profile)."""
    scheme, _, token = ex.authorization.partition(" ")
    if scheme.lower() != "bearer" or not ex.tenant.token_valid(token.strip()):
        raise ApiError(
            401,
            {"error": "invalid_token", "error_description": "missing, expired or revoked access token"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge ``patch`` into ``target`` in place; nested objects merge, everything else replaces."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            target[key] = copy.deepcopy(value)


def is_int(value: Any) -> bool:
    # bool is a subclass of int; JSON true must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------ what both agent generators draw from
FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
)  # fmt: skip
LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
# Fixed anchor so that the whole agent list, timestamps included, depends on the seed only.
STATE_SINCE_ANCHOR = datetime(2025, 3, 3, 12, 0, 0, tzinfo=timezone.utc)


def quotas(mix: tuple[tuple[str, float], ...], n: int) -> dict[str, int]:
    """Exact counts per state for ``n`` agents (largest remainder): the mix is the same for every seed."""
    raw = [(state, share * n) for state, share in mix]
    counts = {state: int(q) for state, q in raw}
    rest = n - sum(counts.values())
    for state, _ in sorted(raw, key=lambda sq: sq[1] - int(sq[1]), reverse=True)[:rest]:
        counts[state] += 1
    return counts
