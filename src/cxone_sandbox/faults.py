"""The sandbox's faults: every kind of injected misbehaviour, its matching and its effect, in one registry.

A :class:`Fault` selects requests by ``method`` and ``path`` prefix; its kind (one entry of
:data:`FAULT_KINDS`) says which requests it can act on and what it does to them. The HTTP layer asks each
kind at three moments: ``answer`` (before the request is routed: replace the answer, or wait), ``alter``
(change the real answer) and ``send`` (put the answer on the wire its own way). Three kinds act inside a
contract's route, because what they do is the contract's own paging or resource: ``repeat_page_token`` and
``empty_page`` (``v2.py`` and ``acd.py`` paging) and ``concurrent_edit`` (the other writer of each contract).

Standard library only and cheap to import: ``cxone-tune sandbox --help`` lists :data:`FAULT_KINDS` from here.
The sandbox's own modules the effects use are imported when an effect runs, never when this module is.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .common import Answer, Exchange

HUGE_DEFAULT_SIZE = 50_000_000  # bytes the "huge" fault streams: well past any client's body cap

# What a request is, as far as faults care; the contract modules assign these (v2.role, acd.role).
TOKEN = "token"  # a token endpoint (it speaks OAuth error bodies)
AGENTS_LIST = "agents list"  # the GET of an agents list (v2 realtime/agents, acd agents/states)
EDITED = "edited"  # where another writer can edit under the client: v2 campaign PUT, acd settings GET


class Wire(Protocol):
    """How the HTTP layer lets a fault put an answer on the wire (see server.py for the mechanics)."""

    def send_trickled(self, answer: Answer, chunk: int, delay: float) -> None: ...
    def send_trickled_head(self, answer: Answer, chunk: int, delay: float) -> None: ...
    def send_then_reset(self, answer: Answer) -> None: ...
    def hang(self) -> None: ...


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault: what it does (one line), which requests it can hit, and its effect."""

    name: str
    description: str
    only: str | None = None  # the one request role it can act on (None: whatever method and path select)
    check: Callable[[Fault], str | None] | None = None  # what is missing from a fault of this kind
    answer: Callable[[Fault, Exchange, Wire], Answer | None] | None = None
    alter: Callable[[Fault, Answer], Answer] | None = None
    send: Callable[[Fault, Answer, Wire], None] | None = None


@dataclass
class Fault:
    """An injected misbehaviour, applied to the requests that ``method`` and ``path`` select.

    ``path`` is a prefix of the request path ("" = any), ``method`` None = any method.
    ``times`` is how many matching requests it still hits (None = forever); ``after`` is how many
    matching requests it lets through untouched first (e.g. ``after=1``: the second page, not the first).
    Kinds ``repeat_page_token``, ``empty_page`` and ``concurrent_edit`` only match the request they can
    act on, whatever ``path`` says, so a broad fault is not used up by the token request:
    ``repeat_page_token`` and ``empty_page`` the GET of an agents list (v2 ``/api/v2/realtime/agents`` or acd
    ``.../agents/states``), ``concurrent_edit`` the PUT of a v2 campaign or the GET of an acd skill's
    ``.../parameters/general-settings`` (acd has no version to conflict on: the other writer edits
    right after the client's read, so the client's copy is stale before it writes).
    The kinds and their parameters: :data:`FAULT_KINDS`.

    An answer the client stops reading (``trickle``, ``trickle_head``, ``huge``) is noted in
    ``SandboxTenant.cut_answers`` (for ``trickle_head`` with -1 body bytes when it left during the head).
    """

    kind: str
    method: str | None = None
    path: str = ""
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    after: int = 0
    location: str | None = None
    field: str | None = None
    value: Any = None
    chunk: int = 1
    size: int = HUGE_DEFAULT_SIZE

    def __post_init__(self) -> None:
        kind = FAULT_KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.after < 0:
            raise ValueError("after must be >= 0")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        problem = kind.check(self) if kind.check is not None else None
        if problem is not None:
            raise ValueError(problem)
        if self.chunk < 1:
            raise ValueError("chunk must be >= 1")
        if self.size < 1:
            raise ValueError("size must be >= 1")

    @property
    def kind_info(self) -> FaultKind:
        return FAULT_KINDS[self.kind]

    def matches(self, method: str, path: str, role: str | None = None) -> bool:
        """Whether this fault selects the request; ``role`` is what the contract says the request is."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if not path.startswith(self.path):
            return False
        only = self.kind_info.only
        return only is None or role == only


# ------------------------------------------------------------------ the effects, one small function each
def _status(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import STATUS_CODES, error_body, json_answer

    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    if fault.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    code = STATUS_CODES.get(fault.status, f"HTTP_{fault.status}")
    message = f"injected fault: HTTP {fault.status}"
    if ex.role == TOKEN:  # the token endpoints speak OAuth error bodies
        return json_answer(fault.status, {"error": code.lower(), "error_description": message}, headers)
    return json_answer(fault.status, error_body(code, message), headers)


def _delay(fault: Fault, ex: Exchange, wire: Wire) -> None:
    time.sleep(fault.delay)


def _gather(fault: Fault, ex: Exchange, wire: Wire) -> None:
    ex.tenant.wait_in_flight(ex.role, fault.value, fault.delay)


def _needs_count(fault: Fault) -> str | None:
    value = fault.value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 and fault.delay > 0:
        return None
    return "a gather fault needs value (how many requests at once, >= 1) and delay (the longest wait, > 0)"


MALFORMED_BODY = b'{"items": ['


def _malformed(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import Answer

    return Answer(200, MALFORMED_BODY)


def _wrong_shape(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import json_answer

    return json_answer(200, {"unexpected": True})


def _revoke_token(fault: Fault, ex: Exchange, wire: Wire) -> None:
    ex.tenant.revoke_all_tokens()


def _hang(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import Answer

    wire.hang()
    return Answer(0, b"", silent=True)


def _huge(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import Answer
    from .server import huge_body

    return Answer(200, b"", stream=huge_body(fault.size))


def _redirect(fault: Fault, ex: Exchange, wire: Wire) -> Answer:
    from .common import error_body, json_answer

    assert fault.location is not None  # checked when the fault is made
    status = fault.status if 300 <= fault.status < 400 else 302
    return json_answer(status, error_body("REDIRECT", f"moved to {fault.location}"), {"Location": fault.location})


def _needs_location(fault: Fault) -> str | None:
    return None if fault.location else "a redirect fault needs a location"


def _needs_field(fault: Fault) -> str | None:
    if fault.field and all(fault.field.split(".")):
        return None
    return f"a {fault.kind} fault needs a field (a dotted path such as rules.maxConcurrentCalls)"


_MISSING = object()


def alter_field(document: dict[str, Any], dotted: str, *, drop: bool, value: Any = None) -> bool:
    """Remove (``drop``) or set the field at ``dotted`` ("rules.maxConcurrentCalls") in place.

    Returns whether the document changed shape: False when a parent object on the way is missing.
    Setting a field whose parent exists adds it if it was absent.
    """
    *parents, last = dotted.split(".")
    node: Any = document
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return False
    if drop:
        return node.pop(last, _MISSING) is not _MISSING
    node[last] = copy.deepcopy(value)
    return True


def _altered(fault: Fault, answer: Answer) -> Answer:
    """drop_field / wrong_type: the real 2xx JSON object with one field removed or retyped."""
    from .common import Answer

    if not 200 <= answer.status < 300 or answer.stream is not None or not answer.body:
        return answer
    try:
        document = json.loads(answer.body)
    except ValueError:
        return answer
    if not isinstance(document, dict):
        return answer
    assert fault.field is not None  # checked when the fault is made
    alter_field(document, fault.field, drop=fault.kind == "drop_field", value=fault.value)
    return Answer(answer.status, json.dumps(document).encode(), answer.headers, answer.content_type)


def _reset(fault: Fault, answer: Answer, wire: Wire) -> None:
    wire.send_then_reset(answer)


def _hang_answer(fault: Fault, answer: Answer, wire: Wire) -> None:
    wire.hang()  # the route has run: a write is stored, its answer never leaves


def _trickle(fault: Fault, answer: Answer, wire: Wire) -> None:
    wire.send_trickled(answer, fault.chunk, fault.delay)


def _trickle_head(fault: Fault, answer: Answer, wire: Wire) -> None:
    wire.send_trickled_head(answer, fault.chunk, fault.delay)


_KINDS = (
    FaultKind("status", "answer `status` (with Retry-After: `retry_after` when given) instead", answer=_status),
    FaultKind("delay", "wait `delay` seconds, then answer normally", answer=_delay),
    # Makes concurrency observable without timing: the held requests are answered only once `value` of
    # them are served together (SandboxTenant.peak_in_flight then says so), or after `delay` seconds.
    FaultKind(
        "gather",
        "hold the request until `value` requests of its kind have been served at once (at most `delay` seconds)",
        check=_needs_count,
        answer=_gather,
    ),
    FaultKind("malformed", "a 200 whose body is broken JSON", answer=_malformed),
    FaultKind("wrong_shape", "a 200 whose body is a JSON object of no known shape", answer=_wrong_shape),
    # Acts in the contracts' paging (v2.agents, acd.agents): it only needs to say which requests it hits.
    FaultKind(
        "repeat_page_token",
        "agents paging that never advances (v2: the same token; acd: a `next` link to the same page)",
        only=AGENTS_LIST,
    ),
    # Acts in the contracts' routes, whose other writer edits (v2 before the PUT, acd right after the GET).
    FaultKind(
        "concurrent_edit",
        "another writer edits the v2 campaign before the PUT, or the acd skill settings after the GET"
        " (with `field` and `value`: sets that field, v2 one of the campaign's rules)",
        only=EDITED,
    ),
    FaultKind("revoke_token", "every access token is revoked before the request is served", answer=_revoke_token),
    FaultKind("reset", "the real answer's headers and half its body, then a TCP reset", send=_reset),
    FaultKind("hang", "read the request and never answer, until the client leaves or the server stops", answer=_hang),
    FaultKind(
        "hang_answer",
        "serve the request (a write is stored), then never send the answer, until the client leaves",
        send=_hang_answer,
    ),
    FaultKind("trickle", "the real answer, its body `chunk` bytes every `delay` seconds", send=_trickle),
    FaultKind(
        "trickle_head",
        "the real answer, its status line and headers `chunk` bytes every `delay` seconds",
        send=_trickle_head,
    ),
    FaultKind("huge", "a 200 whose chunked body is `size` bytes (default 50 MB), generated as sent", answer=_huge),
    # Acts in the contracts' paging, like repeat_page_token.
    FaultKind(
        "empty_page",
        "an agents page with no rows in the middle of paging; the rest follows",
        only=AGENTS_LIST,
    ),
    FaultKind(
        "redirect", "`status` (a 3xx, else 302) with Location: `location`", check=_needs_location, answer=_redirect
    ),
    FaultKind(
        "drop_field",
        "the real answer without the field at the dotted path `field`",
        check=_needs_field,
        alter=_altered,
    ),
    FaultKind(
        "wrong_type",
        "the real answer with the field at `field` set to `value`",
        check=_needs_field,
        alter=_altered,
    ),
)
FAULT_KINDS: dict[str, FaultKind] = {kind.name: kind for kind in _KINDS}
