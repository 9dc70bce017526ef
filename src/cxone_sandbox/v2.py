"""The ``v2`` contract (the design document's API): ``/oauth/token`` and ``/api/v2/...``, routes and state.

Agents in realtime states with token paging, campaigns with a version (full-replacement PUT with
optimistic concurrency), client-credentials tokens.
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any
from urllib.parse import parse_qs, unquote

from .common import (
    DEFAULT_PAGE_SIZE,
    FIRST_NAMES,
    LAST_NAMES,
    STATE_SINCE_ANCHOR,
    Answer,
    ApiError,
    Exchange,
    client_credentials,
    deep_merge,
    error_body,
    first,
    is_int,
    json_answer,
    method_not_allowed,
    oauth_error,
    only,
    parse_json,
    quotas,
    require_token,
)
from .faults import AGENTS_LIST, EDITED, TOKEN

DEFAULT_CAMPAIGN_ID = "c-100"
DEFAULT_SCOPE = "realtime:read campaign:read campaign:write"
TOKEN_PATH = "/oauth/token"
API_PREFIX = "/api/v2/"
AGENTS_PATH = "/api/v2/realtime/agents"
CAMPAIGNS_PREFIX = "/api/v2/campaigns/"

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

# "o<offset>" is a normal page token; "r<offset>" is a sticky one that the repeat_page_token
# fault hands out and that the server then always hands back (a naive client loops forever).
# An optional "n<nonce>" suffix makes a token that differs from every other one for the same offset
# (the empty_page fault's "ask again from here" token).
_PAGE_TOKEN_RE = re.compile(r"([or])(\d{1,9})(?:n\d{1,9})?")
_NONCES = count(1)  # fresh page tokens of the empty_page fault


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


class V2State:
    """The v2 part of the tenant: agents and campaigns. A mixin of :class:`~cxone_sandbox.SandboxTenant`."""

    # Provided by the tenant.
    seed: int
    max_page_size: int
    _lock: threading.Lock

    def _init_v2(self, agents: int, min_limit: int, max_limit: int) -> None:
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.campaigns: dict[str, dict[str, Any]] = {DEFAULT_CAMPAIGN_ID: _default_campaign()}
        self.agents: list[dict[str, Any]] = self._generate_agents(agents)

    # ----------------------------------------------------------------- agents
    def _generate_agents(self, n: int) -> list[dict[str, Any]]:
        rng = random.Random(self.seed)
        counts = quotas(_STATE_MIX, n)
        states = [state for state, _ in _STATE_MIX for _ in range(counts[state])]
        rng.shuffle(states)
        return [self._make_agent(rng, i, state, vary_case=True) for i, state in enumerate(states)]

    @staticmethod
    def _make_agent(rng: random.Random, index: int, state: str, vary_case: bool) -> dict[str, Any]:
        if vary_case and rng.random() < _MIXED_CASE_SHARE:
            # The real API is not consistent about case; clients must compare case-insensitively.
            state = rng.choice((state.capitalize(), state.upper()))
        since = STATE_SINCE_ANCHOR - timedelta(seconds=rng.randint(5, 3 * 3600))
        return {
            "userId": f"u-{index + 1:05d}",
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "state": state,
            "queueId": rng.choice(_QUEUES),
            "teamId": rng.choice(_TEAMS),
            "stateSince": since.isoformat().replace("+00:00", "Z"),
        }

    def set_agent_states(self, states: list[str]) -> None:
        """Replace the agents with exactly one agent per given state (case kept as given)."""
        rng = random.Random(self.seed)
        agents = [self._make_agent(rng, i, s, vary_case=False) for i, s in enumerate(states)]
        with self._lock:
            self.agents = agents

    def set_agent(self, user_id: str, state: str | None = None, team_id: str | None = None) -> dict[str, Any]:
        """Change one agent's state (as given, case kept) or team; its ``stateSince`` becomes now on a state
        change. Returns a copy of the agent; KeyError for an unknown ``userId``."""
        with self._lock:
            agent = next((a for a in self.agents if a["userId"] == user_id), None)
            if agent is None:
                raise KeyError(user_id)
            if state is not None:
                agent["state"] = state
                agent["stateSince"] = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
            if team_id is not None:
                agent["teamId"] = team_id
            return copy.deepcopy(agent)

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

    def concurrent_edit(self, campaign_id: str, field: str | None = None, value: Any = None) -> dict[str, Any]:
        """The other writer of the ``concurrent_edit`` fault: sets the rule ``field`` (``rules.<field>``) to
        ``value`` when a field is given (a person setting ``maxConcurrentCalls`` by hand, say); else renames the
        campaign and bumps maxAttempts."""

        def mutate(c: dict[str, Any]) -> None:
            if field is not None:
                c.setdefault("rules", {})[field] = value
                return
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
            if not is_int(version):
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


# ------------------------------------------------------------------ routes
def role(method: str, path: str) -> str | None:
    """What a request of this contract is, for the faults that only act on some requests."""
    if path == TOKEN_PATH:
        return TOKEN
    if method == "GET" and path == AGENTS_PATH:
        return AGENTS_LIST
    if method == "PUT" and path.startswith(CAMPAIGNS_PREFIX):
        return EDITED
    return None


def route(ex: Exchange) -> Answer | None:
    """The answer to a request of this contract; None when the path is not one of its."""
    path, method = ex.path, ex.method
    if path == TOKEN_PATH:
        only(method, "POST")
        return _token(ex)
    if not path.startswith(API_PREFIX):
        return None
    require_token(ex)
    if not _accepts_json(ex.accept):
        raise ApiError(406, error_body("NOT_ACCEPTABLE", "this API only answers application/json"))
    if path == AGENTS_PATH:
        only(method, "GET")
        return _agents(ex)
    if path.startswith(CAMPAIGNS_PREFIX):
        # One segment, decoded once: "a%252Fb" is the campaign "a%2Fb", "a%2Fb" is "a/b"; a raw "/" is a
        # deeper path, no campaign.
        segment = path[len(CAMPAIGNS_PREFIX) :]
        campaign_id = unquote(segment)
        if segment and "/" not in segment:
            if method == "GET":
                return json_answer(200, ex.tenant.campaign(campaign_id))
            if method == "PUT":
                return _put_campaign(ex, campaign_id)
            raise method_not_allowed("GET, PUT")
    raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))


def _accepts_json(accept: str | None) -> bool:
    if accept is None:
        return True
    ranges = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(ranges & {"application/json", "application/*", "*/*"})


def _token(ex: Exchange) -> Answer:
    form = parse_qs(ex.body.decode("utf-8", "replace"), keep_blank_values=True)
    grant_type = first(form, "grant_type")
    if grant_type is None:
        raise oauth_error(400, "invalid_request", "grant_type is required (form-encoded body)")
    if grant_type != "client_credentials":
        raise oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    client_id, client_secret, basic = client_credentials(ex, form)
    if not ex.tenant.check_client(client_id, client_secret):
        headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if basic else None
        raise oauth_error(401, "invalid_client", "unknown client or wrong secret", headers)

    token, expires_in = ex.tenant.issue_token()
    payload = {
        "access_token": token,
        "expires_in": expires_in,
        "token_type": "Bearer",
        "scope": first(form, "scope") or DEFAULT_SCOPE,
    }
    return json_answer(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _agents(ex: Exchange) -> Answer:
    """``GET realtime/agents``: token paging. The repeat_page_token and empty_page faults act here."""
    params = parse_qs(ex.query, keep_blank_values=True)
    limit = ex.tenant.max_page_size
    bad_size = ApiError(400, error_body("INVALID_VALUE", f"pageSize must be between 1 and {limit}", "pageSize"))
    raw_size = first(params, "pageSize")
    try:
        size = DEFAULT_PAGE_SIZE if raw_size is None else int(raw_size)
    except ValueError:
        raise bad_size from None
    if not 1 <= size <= limit:
        raise bad_size

    sent = first(params, "nextPageToken") or ""  # an empty token means the first page
    offset, sticky = 0, False
    if sent:
        try:
            offset, sticky = decode_page_token(sent)
        except ValueError:
            raise ApiError(400, error_body("INVALID_VALUE", "nextPageToken is not valid", "nextPageToken")) from None

    if ex.fault_is("empty_page"):
        # No rows, and a token never seen before that asks for this same offset again.
        return json_answer(200, {"items": [], "nextPageToken": encode_page_token(offset, nonce=next(_NONCES))})
    repeat = ex.fault_is("repeat_page_token")
    items, nxt = ex.tenant.agents_page(offset, size)
    next_token = encode_page_token(nxt) if nxt is not None else None
    if sticky or (repeat and sent):
        next_token = sent  # hand back exactly the token that was sent
    elif repeat:
        # First page: a sticky token, which the server then keeps handing back forever.
        next_token = encode_page_token(nxt if nxt is not None else 0, sticky=True)
    return json_answer(200, {"items": items, "nextPageToken": next_token})


def _put_campaign(ex: Exchange, campaign_id: str) -> Answer:
    ex.tenant.campaign(campaign_id)  # 404 before any body complaint
    data = parse_json(ex.body)
    if ex.fault is not None and ex.fault_is("concurrent_edit"):
        # the other writer, just before this PUT: a 409
        ex.tenant.concurrent_edit(campaign_id, ex.fault.field, ex.fault.value)
    return json_answer(200, ex.tenant.put_campaign(campaign_id, data))
