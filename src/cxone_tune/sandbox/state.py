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
    {"status", "delay", "malformed", "wrong_shape", "repeat_page_token", "concurrent_edit", "revoke_token"}
)

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
_ACD_WORKING_STATES = _ACD_OUTBOUND_STATES - {"Dialer"} | _ACD_INBOUND_STATES
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
_PAGE_TOKEN_RE = re.compile(r"([or])(\d{1,9})")


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
    ``times`` is how many matching requests it still hits (None = forever).
    Kinds ``repeat_page_token`` and ``concurrent_edit`` only match the request they can act on
    (GET of the agents list, PUT of a campaign), whatever ``path`` says, so a broad fault is not
    used up by the token request.
    """

    kind: str
    method: str | None = None
    path: str = ""
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if not path.startswith(self.path):
            return False
        if self.kind == "repeat_page_token":
            return method.upper() == "GET" and path == AGENTS_PATH
        if self.kind == "concurrent_edit":
            return method.upper() == "PUT" and path.startswith(CAMPAIGNS_PREFIX)
        return True


def encode_page_token(offset: int, sticky: bool = False) -> str:
    """An opaque page token (base64url, no padding)."""
    raw = f"{'r' if sticky else 'o'}{offset}"
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
    ) -> None:
        self.seed = seed
        self.token_ttl = token_ttl
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.max_page_size = max_page_size
        self.latency = latency
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.campaigns: dict[str, dict[str, Any]] = {DEFAULT_CAMPAIGN_ID: _default_campaign()}
        self.agents: list[dict[str, Any]] = self._generate_agents(agents)
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- agents
    def _generate_agents(self, n: int) -> list[dict[str, Any]]:
        rng = random.Random(self.seed)
        # Exact quotas (largest remainder), then shuffled: the mix is the same for every seed.
        raw = [(state, share * n) for state, share in _STATE_MIX]
        counts = {state: int(q) for state, q in raw}
        rest = n - sum(counts.values())
        for state, _ in sorted(raw, key=lambda sq: sq[1] - int(sq[1]), reverse=True)[:rest]:
            counts[state] += 1
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
        """Replace the agents with ``n`` generated ones (same seed, same realistic mix)."""
        agents = self._generate_agents(n)
        with self._lock:
            self.agents = agents

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
        with self._lock:
            self._tokens.clear()

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
        """The first fault matching this request, with one of its ``times`` used up."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

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
            }
