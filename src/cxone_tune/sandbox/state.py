"""State of the sandbox tenant: agents, campaigns, skills, tokens, faults and the request log.

Two API profiles share this state: the ``v2`` contract (``/api/v2/...``, campaigns with versions) and
the ``acd`` contract, i.e. the real NICE CXone API (``/inContactAPI/services/vNN.N/...``: agent
states, Personal Connection skill settings without any version, access-key logins).

Pure data and logic, no HTTP. Every method that touches shared state takes the one
``threading.Lock`` because the HTTP layer serves each connection in its own thread.
The HTTP layer turns :class:`ApiError` into an error response.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_CAMPAIGN_ID = "c-100"
DEFAULT_SCOPE = "realtime:read campaign:read campaign:write"

FAULT_KINDS = frozenset(
    {
        "status",
        "delay",
        "malformed",
        "wrong_shape",
        "repeat_page_token",
        "concurrent_edit",
        "revoke_token",
        # Transport-level misbehaviour (see Fault's docstring).
        "reset",
        "hang",
        "trickle",
        "trickle_head",
        "huge",
        # Answers that are valid HTTP but wrong in content or direction.
        "empty_page",
        "redirect",
        "drop_field",
        "wrong_type",
    }
)
# Kinds that only ever match the GET of an agents list (v2 or acd), whatever ``path`` says.
_AGENT_LIST_KINDS = frozenset({"repeat_page_token", "empty_page"})
HUGE_DEFAULT_SIZE = 50_000_000  # bytes the "huge" fault streams: well past any client's body cap

AGENTS_PATH = "/api/v2/realtime/agents"
CAMPAIGNS_PREFIX = "/api/v2/campaigns/"

# ------------------------------------------------------------------ acd profile (the real CXone API)
DEFAULT_ACCESS_KEY_ID = "AKSANDBOX00000000000000000000001"
# Shaped like a real access key secret: base64 with "+", "/" and a trailing "=". A client that puts it
# into the form body without URL-encoding sends a different secret ("+" becomes a space): invalid_grant.
DEFAULT_ACCESS_KEY_SECRET = "q7Zt3Kx9+Lm2Wv8R/nB4yH6cD1fG5jP0sT8uE3aQ2wM="
DEFAULT_SKILL_ID = 4567
DEFAULT_TENANT_ID = "11ef4c2a-7b3d-4e5f-8a9b-0242ac120005"
ACD_API_VERSION_DEFAULT = "v30.0"
ACD_MIN_VERSION = 21.0
ACD_MAX_VERSION = 34.0
ACD_PREFIX = "/inContactAPI/services/"
ACD_AGENTS_ROUTE = "agents/states"
ISSUED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"

ACD_STATE_IDS: dict[str, int] = {
    "LoggedOut": 0,
    "Available": 1,
    "Unavailable": 2,
    "InboundContact": 3,
    "OutboundContact": 4,
    "InboundConsult": 5,
    "OutboundConsult": 6,
    "Dialer": 7,
    "LoggedIn": 8,
}
# Not an agentStateName: accepted by set_acd_agents() (and used by the generator) for an agent in
# after-call work, which the API shows as "Unavailable" with isACW true and outStateDescription "ACW".
ACD_ACW = "ACW"
_ACD_OUTBOUND_STATES = frozenset({"Dialer", "OutboundContact", "OutboundConsult"})
_ACD_INBOUND_STATES = frozenset({"InboundContact", "InboundConsult"})
_ACD_WORKING_STATES = (_ACD_OUTBOUND_STATES - {"Dialer"}) | _ACD_INBOUND_STATES
# (state, share of agents). Shares sum to 1. A third of the Unavailable ones become ACW.
_ACD_STATE_MIX: tuple[tuple[str, float], ...] = (
    ("Dialer", 0.20),
    ("Available", 0.15),
    ("OutboundContact", 0.25),
    ("InboundContact", 0.05),
    ("Unavailable", 0.15),
    ("LoggedOut", 0.10),
    ("LoggedIn", 0.05),
    ("InboundConsult", 0.025),
    ("OutboundConsult", 0.025),
)
_OUT_STATES = {"Break": 31, "Lunch": 33, "Meeting": 34, "Training": 35}  # Unavailable reason -> outStateId
_ACW_OUT_STATE_ID = 32
INBOUND_SKILL_ID = 4568
RENEWALS_SKILL_ID = 4571
# skillId -> (skillName, isOutbound, queueCount)
_ACD_SKILLS: dict[int, tuple[str, bool, int]] = {
    DEFAULT_SKILL_ID: ("PC Sales", True, 0),
    INBOUND_SKILL_ID: ("Inbound Support", False, 3),
    RENEWALS_SKILL_ID: ("PC Renewals", True, 0),
}
_ACD_TEAMS: dict[int, str] = {12: "Outbound", 14: "Inbound", 15: "Blended", 18: "Retention"}
_SKILL_TEAMS: dict[int, tuple[int, ...]] = {
    DEFAULT_SKILL_ID: (12, 15),
    INBOUND_SKILL_ID: (14, 15),
    RENEWALS_SKILL_ID: (18,),
    0: tuple(_ACD_TEAMS),
}
# "/inContactAPI/services/v30.0/agents/states" -> ("30", "0", "agents/states")
_ACD_PATH_RE = re.compile(r"/inContactAPI/services/v(\d{1,2})\.(\d)(?:/(.*))?")
_GENERAL_SETTINGS_RE = re.compile(r"skills/[^/]+/parameters/general-settings")

# (state, share of agents). Shares sum to 1.
_STATE_MIX: tuple[tuple[str, float], ...] = (
    ("available", 0.35),
    ("in-progress", 0.30),
    ("wrap-up", 0.10),
    ("unavailable", 0.15),
    ("logged-out", 0.10),
)
_MIXED_CASE_SHARE = 0.10
_QUEUES = ("q-sales", "q-renewals", "q-support")
_TEAMS = ("t-north", "t-south", "t-east", "t-west")
_FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
)  # fmt: skip
_LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
# Fixed anchor so that the whole agent list, timestamps included, depends on the seed only.
_STATE_SINCE_ANCHOR = datetime(2025, 3, 3, 12, 0, 0, tzinfo=timezone.utc)

# "o<offset>" is a normal page token; "r<offset>" is a sticky one that the repeat_page_token
# fault hands out and that the server then always hands back (a naive client loops forever).
# An optional "n<nonce>" suffix makes a token that differs from every other one for the same offset
# (the empty_page fault's "ask again from here" token).
_PAGE_TOKEN_RE = re.compile(r"([or])(\d{1,9})(?:n\d{1,9})?")


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

    The kinds:

    - ``status``: answer ``status`` (with ``Retry-After: retry_after`` when given) instead of the real answer.
    - ``delay``: wait ``delay`` seconds, then answer normally.
    - ``malformed`` / ``wrong_shape``: a 200 whose body is broken JSON / a JSON object of no known shape.
    - ``repeat_page_token``: paging that never advances (v2: the same token forever; acd: an unreachable
      ``totalRecords`` and a ``next`` link to the same page).
    - ``concurrent_edit``: another writer edits the resource (see above).
    - ``revoke_token``: every access token is revoked before the request is served (so it gets 401).
    - ``reset``: the real answer's headers and part of its body, then the connection is reset (RST).
    - ``hang``: the request is read and never answered, until the client goes away or the server stops.
    - ``trickle``: the real answer, its body ``chunk`` bytes at a time with ``delay`` seconds between them.
    - ``trickle_head``: the real answer, its status line and headers ``chunk`` bytes at a time with ``delay``
      seconds between them, then the body at once.
    - ``huge``: a 200 whose chunked body (no Content-Length) is ``size`` bytes, generated on the fly.
    - ``empty_page``: an agents page with no rows in the middle of paging. v2: ``items`` is empty and a
      fresh ``nextPageToken`` leads to the same offset, so the rest follows; acd: ``agentStates`` is empty
      while ``totalRecords`` is the real count and ``_links.next`` points at the same ``skip``.
    - ``redirect``: ``status`` (when a 3xx, else 302) with ``Location: location``.
    - ``drop_field``: the real answer without the field at the dotted path ``field`` (e.g.
      ``rules.maxConcurrentCalls``); only a 2xx JSON object is changed.
    - ``wrong_type``: the real answer with the field at ``field`` set to ``value`` (e.g. ``"12"``).

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
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.after < 0:
            raise ValueError("after must be >= 0")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")
        if self.kind in ("drop_field", "wrong_type") and not (self.field and all(self.field.split("."))):
            raise ValueError(f"a {self.kind} fault needs a field (a dotted path such as rules.maxConcurrentCalls)")
        if self.chunk < 1:
            raise ValueError("chunk must be >= 1")
        if self.size < 1:
            raise ValueError("size must be >= 1")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if not path.startswith(self.path):
            return False
        if self.kind in _AGENT_LIST_KINDS:
            return method.upper() == "GET" and (path == AGENTS_PATH or acd_route(path) == ACD_AGENTS_ROUTE)
        if self.kind == "concurrent_edit":
            if method.upper() == "PUT":
                return path.startswith(CAMPAIGNS_PREFIX)
            route = acd_route(path)
            return method.upper() == "GET" and route is not None and _GENERAL_SETTINGS_RE.fullmatch(route) is not None
        return True


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


def split_acd_path(path: str) -> tuple[str, str] | None:
    """("v30.0", "agents/states") for an acd API path; None when it is not one or the version is unsupported.

    Supported: v21.0 to v34.0, the versions in public use.
    """
    m = _ACD_PATH_RE.fullmatch(path)
    if m is None:
        return None
    number = float(f"{m.group(1)}.{m.group(2)}")
    if not ACD_MIN_VERSION <= number <= ACD_MAX_VERSION:
        return None
    return f"v{m.group(1)}.{m.group(2)}", m.group(3) or ""


def acd_route(path: str) -> str | None:
    """The part of an acd API path after the version ("agents/states"), or None."""
    split = split_acd_path(path)
    return None if split is None else split[1]


def parse_acd_time(raw: str) -> datetime:
    """An ``updatedSince``-style timestamp: ISO 8601 ("Z" or an offset; naive = UTC) or "0" (the epoch)."""
    if raw.strip() == "0":
        return datetime(1970, 1, 1, tzinfo=timezone.utc)
    text = raw.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)  # ValueError when it is not a date-time
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def format_acd_time(value: datetime) -> str:
    """The API's timestamp form: "2024-05-01T15:04:05.000Z" (UTC, milliseconds)."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def make_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token: real header and claims, random bytes as the "signature" (nobody can verify it).

    Clients only decode the payload (base64url, no padding) to read claims such as ``tenantId``.
    """
    header = {"alg": "RS256", "typ": "JWT", "kid": "sandbox-1"}
    parts = [_b64url(json.dumps(x, separators=(",", ":")).encode()) for x in (header, claims)]
    return ".".join([*parts, _b64url(secrets.token_bytes(256))])  # 256 bytes: an RS256 signature's size


def encode_page_token(offset: int, sticky: bool = False, nonce: int | None = None) -> str:
    """An opaque page token (base64url, no padding); a ``nonce`` makes it unlike any other for this offset."""
    raw = f"{'r' if sticky else 'o'}{offset}" + ("" if nonce is None else f"n{nonce % 10**9}")
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[int, bool]:
    """(offset, sticky) of a page token; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid page token") from exc
    m = _PAGE_TOKEN_RE.fullmatch(raw)
    if m is None:
        raise ValueError("invalid page token")
    return int(m.group(2)), m.group(1) == "r"


def _default_campaign() -> dict[str, Any]:
    return {
        "id": DEFAULT_CAMPAIGN_ID,
        "name": "Spring renewals",
        "status": "active",
        "version": 17,
        "dialingMode": "predictive",
        "schedule": {"timezone": "UTC", "start": "08:00", "end": "20:00"},
        "rules": {"maxConcurrentCalls": 12, "maxAttempts": 3, "abandonRateTarget": 3.0},
        # Fields the client does not know: a correct full-replacement PUT must send them back.
        "customFields": {"region": "EMEA", "costCenter": "CC-4711"},
        "notes": "Owned by the renewals team; do not pause without asking.",
    }


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge ``patch`` into ``target`` in place; nested objects merge, everything else replaces."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            target[key] = copy.deepcopy(value)


def _is_int(value: Any) -> bool:
    # bool is a subclass of int; JSON true must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _quotas(mix: tuple[tuple[str, float], ...], n: int) -> dict[str, int]:
    """Exact counts per state for ``n`` agents (largest remainder): the mix is the same for every seed."""
    raw = [(state, share * n) for state, share in mix]
    counts = {state: int(q) for state, q in raw}
    rest = n - sum(counts.values())
    for state, _ in sorted(raw, key=lambda sq: sq[1] - int(sq[1]), reverse=True)[:rest]:
        counts[state] += 1
    return counts


def _default_skill_settings(maximum_ratio: float = 2, calls_per_agent: int = 3) -> dict[str, Any]:
    return {
        "maximumRatio": maximum_ratio,
        "aggressiveness": "Normal",
        "maxConcurrentCallsPerAgent": calls_per_agent,
        "percentageOfAgentsBeforeOverdial": 50,
        "abandonRateThreshold": 3,
        "abandonRateCutoff": 5,
        "overrideBusinessUnitAbandonRate": False,
        "beginDampenPercentage": 80,
        "maximumRingingDuration": 30,
        "minimumRetryMinutes": 1440,
        "maximumAttempts": 3,
        "enableDialingByProficiency": False,
        # Fields a client does not model: sending back everything read keeps them.
        "dialerQueuePriority": 5,
        "inactiveBlenderTimer": 0,
    }


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})


class SandboxTenant:
    """Everything the sandbox tenant knows. Safe to use from many threads."""

    def __init__(
        self,
        agents: int = 40,
        seed: int = 1,
        token_ttl: int = 3600,
        min_limit: int = 1,
        max_limit: int = 50,
        max_page_size: int = 1000,
        latency: float = 0.0,
        min_ratio: float = 1.0,
        max_ratio: float = 5.0,
        min_calls_per_agent: int = 1,
        max_calls_per_agent: int = 10,
        acd_result_set_wrapper: bool = False,
        acd_put_returns_204: bool = False,
    ) -> None:
        self.seed = seed
        self.token_ttl = token_ttl
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.max_page_size = max_page_size  # largest pageSize (v2) and top (acd)
        self.latency = latency
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.campaigns: dict[str, dict[str, Any]] = {DEFAULT_CAMPAIGN_ID: _default_campaign()}
        self.agents: list[dict[str, Any]] = self._generate_agents(agents)
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        # Answers the client stopped reading before their end: (method, path, fault kind, body bytes sent).
        self.cut_answers: list[tuple[str, str, str, int]] = []
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}  # access token (both profiles) -> monotonic expiry
        self._lock = threading.Lock()

        # acd profile. The real range of maximumRatio is not public: the bounds are the tenant's.
        self.min_ratio = float(min_ratio)
        self.max_ratio = float(max_ratio)
        self.min_calls_per_agent = min_calls_per_agent
        self.max_calls_per_agent = max_calls_per_agent
        self.acd_result_set_wrapper = acd_result_set_wrapper  # older versions: {"resultSet": {...}}
        self.acd_put_returns_204 = acd_put_returns_204  # PUT general-settings: 204 instead of 200 + body
        self.tenant_id = DEFAULT_TENANT_ID
        self.tenant_name = "sandbox_tenant"
        self.bu_id = 4600123
        self.cluster_id = "SB1"
        self.access_keys: dict[str, str] = {DEFAULT_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY_SECRET}
        self.skills: dict[int, dict[str, Any]] = {
            sid: {"skillName": name, "isOutbound": outbound, "queueCount": queue}
            for sid, (name, outbound, queue) in _ACD_SKILLS.items()
        }
        # General settings exist for the Personal Connection (outbound) skills only.
        self.skill_settings: dict[int, dict[str, Any]] = {
            DEFAULT_SKILL_ID: _default_skill_settings(),
            RENEWALS_SKILL_ID: _default_skill_settings(maximum_ratio=1.5, calls_per_agent=2),
        }
        self.acd_agents: list[dict[str, Any]] = self._generate_acd_agents(agents)
        self.logins = 0  # password grants that succeeded
        self.refreshes = 0  # refresh_token grants that succeeded
        self._refresh_tokens: dict[str, str] = {}  # valid refresh token -> access key id

    # ----------------------------------------------------------------- agents
    def _generate_agents(self, n: int) -> list[dict[str, Any]]:
        rng = random.Random(self.seed)
        counts = _quotas(_STATE_MIX, n)
        states = [state for state, _ in _STATE_MIX for _ in range(counts[state])]
        rng.shuffle(states)
        return [self._make_agent(rng, i, state, vary_case=True) for i, state in enumerate(states)]

    @staticmethod
    def _make_agent(rng: random.Random, index: int, state: str, vary_case: bool) -> dict[str, Any]:
        if vary_case and rng.random() < _MIXED_CASE_SHARE:
            # The real API is not consistent about case; clients must compare case-insensitively.
            state = rng.choice((state.capitalize(), state.upper()))
        since = _STATE_SINCE_ANCHOR - timedelta(seconds=rng.randint(5, 3 * 3600))
        return {
            "userId": f"u-{index + 1:05d}",
            "name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            "state": state,
            "queueId": rng.choice(_QUEUES),
            "teamId": rng.choice(_TEAMS),
            "stateSince": since.isoformat().replace("+00:00", "Z"),
        }

    def set_agent_count(self, n: int) -> None:
        """Replace the agents of both profiles with ``n`` generated ones (same seed, same realistic mix)."""
        agents = self._generate_agents(n)
        acd_agents = self._generate_acd_agents(n)
        with self._lock:
            self.agents = agents
            self.acd_agents = acd_agents

    def set_agent_states(self, states: list[str]) -> None:
        """Replace the agents with exactly one agent per given state (case kept as given)."""
        rng = random.Random(self.seed)
        agents = [self._make_agent(rng, i, s, vary_case=False) for i, s in enumerate(states)]
        with self._lock:
            self.agents = agents

    def available_agents(self) -> int:
        """How many agents are ``available`` (case-insensitive): what a correct client counts."""
        with self._lock:
            return sum(1 for a in self.agents if str(a["state"]).lower() == "available")

    def agents_page(self, offset: int, size: int) -> tuple[list[dict[str, Any]], int | None]:
        """One page of agents and the offset of the next page (None on the last page)."""
        with self._lock:
            items = copy.deepcopy(self.agents[offset : offset + size])
            nxt = offset + size if offset + size < len(self.agents) else None
        return items, nxt

    # ------------------------------------------------------------- acd agents
    def _generate_acd_agents(self, n: int) -> list[dict[str, Any]]:
        # Own random stream: the v2 list of the same seed stays exactly what it was.
        rng = random.Random(f"acd:{self.seed}")
        counts = _quotas(_ACD_STATE_MIX, n)
        acw = (counts["Unavailable"] + 1) // 3
        counts["Unavailable"] -= acw
        states = [state for state, _ in _ACD_STATE_MIX for _ in range(counts[state])] + [ACD_ACW] * acw
        rng.shuffle(states)
        return [self._make_acd_agent(rng, i, state, generated=True) for i, state in enumerate(states)]

    @staticmethod
    def _make_acd_agent(rng: random.Random, index: int, state: str, generated: bool) -> dict[str, Any]:
        acw = state == ACD_ACW
        name = "Unavailable" if acw else state
        if name not in ACD_STATE_IDS:
            raise ValueError(f"unknown agent state {state!r}; expected one of {[*ACD_STATE_IDS, ACD_ACW]}")
        if name == "LoggedOut":
            skill_id = 0
        elif name in _ACD_INBOUND_STATES:
            skill_id = INBOUND_SKILL_ID
        elif not generated:
            skill_id = DEFAULT_SKILL_ID  # set_acd_agents: predictable, everyone on the PC skill
        elif name in _ACD_OUTBOUND_STATES:
            skill_id = rng.choices((DEFAULT_SKILL_ID, RENEWALS_SKILL_ID), weights=(4, 1))[0]
        else:  # Available, LoggedIn, Unavailable: the skill of their last contact
            skill_id = rng.choices((DEFAULT_SKILL_ID, INBOUND_SKILL_ID, RENEWALS_SKILL_ID), weights=(5, 3, 2))[0]
        skill_name, skill_outbound, _ = _ACD_SKILLS.get(skill_id, ("", False, 0))
        team_id = rng.choice(_SKILL_TEAMS[skill_id]) if generated else (14 if skill_id == INBOUND_SKILL_ID else 12)
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        agent_id = 1001 + index
        out_state_id, out_state = 0, ""
        if acw:
            out_state_id, out_state = _ACW_OUT_STATE_ID, "ACW"
        elif name == "Unavailable":
            out_state = rng.choice(sorted(_OUT_STATES))
            out_state_id = _OUT_STATES[out_state]
        on_contact = name in _ACD_WORKING_STATES
        updated = _STATE_SINCE_ANCHOR - timedelta(seconds=rng.randint(5, 3 * 3600))
        return {
            "agentId": agent_id,
            "userName": f"{first[0]}.{last}.{agent_id}@example.com".lower(),
            "firstName": first,
            "lastName": last,
            "agentStateId": ACD_STATE_IDS[name],
            "agentStateName": name,
            "isOutbound": name in _ACD_OUTBOUND_STATES or (acw and skill_outbound),
            "isACW": acw,
            "skillId": skill_id,
            "skillName": skill_name,
            "teamId": team_id,
            "teamName": _ACD_TEAMS[team_id],
            "outStateId": out_state_id,
            "outStateDescription": out_state,
            "contactId": rng.randint(10**9, 2 * 10**9) if on_contact or acw else 0,
            "openContacts": 1 if on_contact else 0,
            "lastUpdateTime": format_acd_time(updated),
        }

    def set_acd_agents(self, states: list[str]) -> None:
        """Replace the acd agents with exactly one agent per given state name, in order.

        Names are agentStateName values ("Dialer", "Available", ...; case-sensitive) or "ACW" (Unavailable,
        isACW true). Every agent is on DEFAULT_SKILL_ID, except LoggedOut ones (skillId 0) and
        InboundContact/InboundConsult ones (the inbound skill). ValueError on an unknown name.
        """
        rng = random.Random(f"acd:{self.seed}")
        agents = [self._make_acd_agent(rng, i, s, generated=False) for i, s in enumerate(states)]
        with self._lock:
            self.acd_agents = agents

    def acd_available(self, names: tuple[str, ...] = ("Available", "Dialer"), skill_id: int | None = None) -> int:
        """How many acd agents have one of these agentStateName values (on this skill, if given)."""
        with self._lock:
            return sum(
                1
                for a in self.acd_agents
                if a["agentStateName"] in names and (skill_id is None or a["skillId"] == skill_id)
            )

    def acd_agents_page(
        self, skip: int, top: int, updated_since: datetime | None = None
    ) -> tuple[list[dict[str, Any]], int] | None:
        """Rows ``skip``..``skip+top`` of the agents updated at or after ``updated_since``, and how many there are.

        None when there are agents but none was updated since then (the API's 204 "nothing changed").
        """
        with self._lock:
            agents = self.acd_agents
            if updated_since is not None:
                agents = [a for a in agents if parse_acd_time(str(a["lastUpdateTime"])) >= updated_since]
                if self.acd_agents and not agents:
                    return None
            return copy.deepcopy(agents[skip : skip + top]), len(agents)

    # ----------------------------------------------------------------- skills
    def _get_skill_settings(self, skill_id: int) -> dict[str, Any]:
        # Caller holds the lock.
        try:
            return self.skill_settings[skill_id]
        except KeyError:
            raise ApiError(404, error_body("NOT_FOUND", f"skill {skill_id} not found")) from None

    def skill_settings_copy(self, skill_id: int) -> dict[str, Any]:
        """A deep copy of the skill's general settings; ApiError 404 when unknown."""
        with self._lock:
            return copy.deepcopy(self._get_skill_settings(skill_id))

    def edit_skill_settings(self, skill_id: int, mutator: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change the skill's settings as another writer would (``mutator`` edits in place); returns a copy.

        There is no version: nothing tells the next writer that this happened.
        """
        with self._lock:
            stored = self._get_skill_settings(skill_id)
            mutator(stored)
            return copy.deepcopy(stored)

    def merge_skill_settings(self, skill_id: int, patch: dict[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the skill's settings as another writer."""
        return self.edit_skill_settings(skill_id, lambda s: deep_merge(s, patch))

    def concurrent_skill_edit(self, skill_id: int) -> dict[str, Any]:
        """The other writer of the acd ``concurrent_edit`` fault: flips aggressiveness, bumps maximumAttempts."""

        def mutate(s: dict[str, Any]) -> None:
            s["aggressiveness"] = "Normal" if s.get("aggressiveness") == "High" else "High"
            attempts = s.get("maximumAttempts")
            s["maximumAttempts"] = attempts + 1 if isinstance(attempts, int) and not isinstance(attempts, bool) else 1

        return self.edit_skill_settings(skill_id, mutate)

    def put_skill_settings(self, skill_id: int, body: Any) -> dict[str, Any]:
        """PUT general-settings: full replacement, no version, last write wins. Returns the stored copy.

        ``body`` must be ``{"generalSettings": {...}}``. The inner object is stored as sent (an omitted
        field is gone). ``maximumRatio`` and ``maxConcurrentCallsPerAgent`` are checked when present.
        """
        with self._lock:
            self._get_skill_settings(skill_id)
            inner = body.get("generalSettings") if isinstance(body, dict) else None
            if not isinstance(inner, dict):
                raise ApiError(
                    400,
                    error_body(
                        "INVALID_BODY",
                        'body must be {"generalSettings": {...}}: the settings object wrapped under "generalSettings"',
                        "generalSettings",
                    ),
                )
            errors: list[dict[str, Any]] = []
            if "maximumRatio" in inner:
                ratio = inner["maximumRatio"]
                if not (_is_number(ratio) and self.min_ratio <= ratio <= self.max_ratio):
                    errors += error_body(
                        "INVALID_VALUE",
                        f"maximumRatio must be between {self.min_ratio} and {self.max_ratio}",
                        "generalSettings.maximumRatio",
                    )["errors"]
            if "maxConcurrentCallsPerAgent" in inner:
                calls = inner["maxConcurrentCallsPerAgent"]
                if not (_is_int(calls) and self.min_calls_per_agent <= calls <= self.max_calls_per_agent):
                    errors += error_body(
                        "INVALID_VALUE",
                        f"maxConcurrentCallsPerAgent must be between {self.min_calls_per_agent}"
                        f" and {self.max_calls_per_agent}",
                        "generalSettings.maxConcurrentCallsPerAgent",
                    )["errors"]
            if errors:
                raise ApiError(400, {"errors": errors})
            self.skill_settings[skill_id] = copy.deepcopy(inner)
            return copy.deepcopy(inner)

    def skill_activity(self, skill_id: int) -> dict[str, Any]:
        """Read-only live counts of a skill, computed from the acd agents on it; ApiError 404 when unknown.

        agentsAvailable = Available + Dialer; agentsWorking = on a contact or consult; agentsACW = in
        after-call work; agentsUnavailable = Unavailable but not ACW; agentsLoggedIn = all but LoggedOut.
        """
        with self._lock:
            skill = self.skills.get(skill_id)
            if skill is None:
                raise ApiError(404, error_body("NOT_FOUND", f"skill {skill_id} not found"))
            agents = [a for a in self.acd_agents if a["skillId"] == skill_id]
        names = [str(a["agentStateName"]) for a in agents]
        acw = sum(1 for a in agents if a["isACW"])
        working = sum(1 for n in names if n in _ACD_WORKING_STATES)
        return {
            "skillId": skill_id,
            "skillName": skill["skillName"],
            "isOutbound": skill["isOutbound"],
            "campaignId": 0,
            "agentsAvailable": sum(1 for n in names if n in ("Available", "Dialer")),
            "agentsWorking": working,
            "agentsLoggedIn": sum(1 for n in names if n != "LoggedOut"),
            "agentsUnavailable": names.count("Unavailable") - acw,
            "agentsACW": acw,
            "queueCount": skill["queueCount"],
            "contactsActive": working,
        }

    # -------------------------------------------------------------- campaigns
    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """A deep copy of the stored campaign; ApiError 404 when unknown."""
        with self._lock:
            return copy.deepcopy(self._get_campaign(campaign_id))

    def _get_campaign(self, campaign_id: str) -> dict[str, Any]:
        # Caller holds the lock.
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise ApiError(404, error_body("NOT_FOUND", f"campaign {campaign_id} not found")) from None

    def edit_campaign(self, campaign_id: str, mutator: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change the campaign as another writer would: ``mutator`` edits it in place, version bumps.

        Returns a copy of the result.
        """
        with self._lock:
            stored = self._get_campaign(campaign_id)
            version = stored.get("version", 0)
            mutator(stored)
            stored["version"] = version + 1
            return copy.deepcopy(stored)

    def merge_campaign(self, campaign_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the campaign as another writer (version bumped)."""
        return self.edit_campaign(campaign_id, lambda c: deep_merge(c, patch))

    def concurrent_edit(self, campaign_id: str) -> dict[str, Any]:
        """The other writer of the ``concurrent_edit`` fault: renames and bumps maxAttempts."""

        def mutate(c: dict[str, Any]) -> None:
            c["name"] = f"{c.get('name', '')} (edited)"
            rules = c.setdefault("rules", {})
            if isinstance(rules, dict):
                rules["maxAttempts"] = int(rules.get("maxAttempts", 0)) + 1

        return self.edit_campaign(campaign_id, mutate)

    def put_campaign(self, campaign_id: str, body: Any) -> dict[str, Any]:
        """Full replacement with optimistic concurrency. Returns the stored resource or raises ApiError."""
        with self._lock:
            stored = self._get_campaign(campaign_id)
            if not isinstance(body, dict):
                raise ApiError(400, error_body("INVALID_BODY", "body must be a JSON object"))
            if body.get("id") != campaign_id:
                raise ApiError(400, error_body("INVALID_VALUE", f"id must be {campaign_id} (the id in the path)", "id"))
            version = body.get("version")
            if not _is_int(version):
                raise ApiError(400, error_body("INVALID_VALUE", "version must be an integer", "version"))
            current = stored["version"]
            if version != current:
                raise ApiError(409, error_body("VERSION_CONFLICT", f"version {version} is not current ({current})"))
            rules = body.get("rules")
            limit = rules.get("maxConcurrentCalls") if isinstance(rules, dict) else None
            if not isinstance(limit, int) or isinstance(limit, bool) or not (self.min_limit <= limit <= self.max_limit):
                raise ApiError(
                    400,
                    error_body(
                        "INVALID_VALUE",
                        f"maxConcurrentCalls must be between {self.min_limit} and {self.max_limit}",
                        "rules.maxConcurrentCalls",
                    ),
                )
            new = copy.deepcopy(body)  # stored AS SENT: omitted fields are gone
            new["version"] = current + 1
            self.campaigns[campaign_id] = new
            return copy.deepcopy(new)

    # ----------------------------------------------------------------- tokens
    def check_client(self, client_id: str | None, client_secret: str | None) -> bool:
        if client_id is None or client_secret is None:
            return False
        with self._lock:
            expected = self.clients.get(client_id)
        return expected is not None and secrets.compare_digest(expected, client_secret)

    def issue_token(self) -> tuple[str, int]:
        """A new random access token and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        return token, self.token_ttl

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke_all_tokens(self) -> None:
        """Revoke every access token (both profiles). Refresh tokens stay valid: see revoke_refresh_tokens."""
        with self._lock:
            self._tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Revoke every acd refresh token: the next refresh_token grant gets invalid_grant."""
        with self._lock:
            self._refresh_tokens.clear()

    # ------------------------------------------------------------ acd tokens
    def acd_password_grant(
        self, access_key_id: str | None, access_key_secret: str | None, issuer: str, client_id: str
    ) -> dict[str, Any]:
        """``grant_type=password`` with an access key; the token answer, or ApiError 401 invalid_grant."""
        bad_key = _oauth_error(401, "invalid_grant", "unknown access key or wrong secret")
        if access_key_id is None or access_key_secret is None:
            raise bad_key
        with self._lock:
            expected = self.access_keys.get(access_key_id)
        # Compare bytes: compare_digest refuses non-ASCII str.
        if expected is None or not secrets.compare_digest(expected.encode(), access_key_secret.encode()):
            raise bad_key
        return self._issue_acd_tokens(access_key_id, issuer, client_id, refresh=False)

    def acd_refresh_grant(self, refresh_token: str | None, issuer: str, client_id: str) -> dict[str, Any]:
        """``grant_type=refresh_token``: new tokens; the refresh token used is spent (rotation).

        ApiError 400 invalid_grant for an unknown, already used or revoked refresh token.
        """
        with self._lock:
            key_id = self._refresh_tokens.pop(refresh_token, None) if refresh_token else None
        if key_id is None:
            raise _oauth_error(400, "invalid_grant", "unknown, used or revoked refresh token")
        return self._issue_acd_tokens(key_id, issuer, client_id, refresh=True)

    def _issue_acd_tokens(self, key_id: str, issuer: str, client_id: str, refresh: bool) -> dict[str, Any]:
        now = int(time.time())
        user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-user:{key_id}"))
        common = {"iss": issuer, "sub": f"user:{user}", "iat": now, "exp": now + self.token_ttl}
        access = make_jwt(
            {
                "role": {"legacyId": "Administrator", "id": user},
                **common,
                "aud": "cxone-sandbox@incontact.com",
                "icBUId": self.bu_id,
                "tenantId": self.tenant_id,
                "tenant": self.tenant_name,
                "icClusterId": self.cluster_id,
                "jti": secrets.token_hex(16),  # every token differs, even within one second
            }
        )
        refresh_token = make_jwt({**common, "exp": now + 30 * 86400, "typ": "refresh", "jti": secrets.token_hex(16)})
        id_token = make_jwt({**common, "aud": client_id, "tenantId": self.tenant_id, "jti": secrets.token_hex(16)})
        with self._lock:
            self._tokens[access] = time.monotonic() + self.token_ttl
            self._refresh_tokens[refresh_token] = key_id
            self.tokens_issued += 1
            if refresh:
                self.refreshes += 1
            else:
                self.logins += 1
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "issued_token_type": ISSUED_TOKEN_TYPE,
        }

    def expire_all_tokens(self) -> None:
        """Tokens stay known but are past their expiry (a 401 for an expired, not unknown, token)."""
        with self._lock:
            past = time.monotonic() - 1.0
            for token in self._tokens:
                self._tokens[token] = past

    # ------------------------------------------------------------ request log
    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method.upper(), path))

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many recorded requests have this method (None = any) and path prefix."""
        with self._lock:
            return sum(
                1 for m, p in self.requests if (method is None or m == method.upper()) and p.startswith(path_prefix)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # ----------------------------------------------------------------- faults
    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, with one of its ``times`` used up.

        A matching fault that still has ``after`` to wait out lets this request through (one ``after`` used
        up) and the search goes on with the next fault.
        """
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def note_cut(self, method: str, path: str, kind: str, sent: int) -> None:
        """The client went away before the end of an answer of this fault kind, after ``sent`` body bytes."""
        with self._lock:
            self.cut_answers.append((method.upper(), path, kind, sent))

    # --------------------------------------------------------------- snapshot
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view for ``GET /_sandbox/state``."""
        with self._lock:
            return {
                "campaigns": copy.deepcopy(self.campaigns),
                "requests": [[m, p] for m, p in self.requests],
                "agents": len(self.agents),
                "available": sum(1 for a in self.agents if str(a["state"]).lower() == "available"),
                "faults": [asdict(f) for f in self.faults],
                "tokensIssued": self.tokens_issued,
                "skillSettings": {str(k): copy.deepcopy(v) for k, v in self.skill_settings.items()},
                "acdAgents": len(self.acd_agents),
                "acdAvailable": sum(1 for a in self.acd_agents if a["agentStateName"] in ("Available", "Dialer")),
                "logins": self.logins,
                "refreshes": self.refreshes,
                "cutAnswers": [list(cut) for cut in self.cut_answers],
            }
