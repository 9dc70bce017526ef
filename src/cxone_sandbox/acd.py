"""The ``acd`` contract (the real NICE CXone API): routes and state.

Issuer discovery (``/.well-known/openid-configuration``, ``/.well-known/cxone-configuration``), access-key
and refresh-token grants at ``/auth/token`` with JWT-shaped tokens, and under
``/inContactAPI/services/{v21.0..v34.0}/``: ``agents/states`` (offset paging with skip/top and _links),
a skill's ``parameters/general-settings`` (no version: last write wins), and its ``agents`` (assignments),
``activity`` and ``summary`` (served by ``skills.py``). The server's own base URL is both the issuer and the
``api_endpoint``.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from . import skills
from .common import (
    DEFAULT_PAGE_SIZE,
    FIRST_NAMES,
    LAST_NAMES,
    NO_CONTENT,
    STATE_SINCE_ANCHOR,
    Answer,
    ApiError,
    Exchange,
    client_credentials,
    deep_merge,
    error_body,
    first,
    int_param,
    is_int,
    is_number,
    json_answer,
    method_not_allowed,
    oauth_error,
    only,
    parse_json,
    quotas,
    require_token,
)
from .faults import AGENTS_LIST, EDITED, TOKEN

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
ACD_TOKEN_PATH = "/auth/token"
JWKS_PATH = "/auth/jwks"
OPENID_CONFIG_PATH = "/.well-known/openid-configuration"
CXONE_CONFIG_PATH = "/.well-known/cxone-configuration"
# What CXone answers (406, text) when the request's Accept does not name application/json.
NOT_RENDERABLE = b"No known way to render data"
# Marker the repeat_page_token fault puts into _links.next: a request carrying it always gets the same
# page back with a "next" link to itself, so a client that only follows links loops forever.
REPEAT_PARAM = "sandboxRepeat"
_SKILL_ROUTE_RE = re.compile(r"skills/([^/]+)/(parameters/general-settings|activity|agents|summary)")
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


def _set_acd_state(row: dict[str, Any], state: str) -> None:
    """Rewrite an agent row's state fields for ``state`` (an agentStateName or "ACW"), as the ACD shows them."""
    acw = state == ACD_ACW
    name = "Unavailable" if acw else state
    skill_id = row["skillId"]
    if name == "LoggedOut":
        skill_id = 0
    elif name in _ACD_INBOUND_STATES:
        skill_id = INBOUND_SKILL_ID
    elif skill_id == 0 or (skill_id == INBOUND_SKILL_ID and name in _ACD_OUTBOUND_STATES):
        skill_id = DEFAULT_SKILL_ID
    skill_name, skill_outbound, _ = _ACD_SKILLS.get(skill_id, ("", False, 0))
    on_contact = name in _ACD_WORKING_STATES
    out_state_id, out_state = 0, ""
    if acw:
        out_state_id, out_state = _ACW_OUT_STATE_ID, "ACW"
    elif name == "Unavailable":
        out_state_id, out_state = _OUT_STATES["Break"], "Break"
    contact_id = row["contactId"] or 10**9 + int(row["agentId"])
    row.update(
        {
            "agentStateId": ACD_STATE_IDS[name],
            "agentStateName": name,
            "isOutbound": name in _ACD_OUTBOUND_STATES or (acw and skill_outbound),
            "isACW": acw,
            "skillId": skill_id,
            "skillName": skill_name,
            "outStateId": out_state_id,
            "outStateDescription": out_state,
            "contactId": contact_id if on_contact or acw else 0,
            "openContacts": 1 if on_contact else 0,
        }
    )


class AcdState:
    """The acd part of the tenant: agents in ACD states, skills and their settings, access-key logins.

    A mixin of :class:`~cxone_sandbox.SandboxTenant`.
    """

    # Provided by the tenant.
    seed: int
    token_ttl: int
    tokens_issued: int
    _tokens: dict[str, float]
    _lock: threading.Lock

    def _init_acd(
        self,
        agents: int,
        min_ratio: float,
        max_ratio: float,
        min_calls_per_agent: int,
        max_calls_per_agent: int,
        acd_result_set_wrapper: bool,
        acd_put_returns_204: bool,
        acd_unchanged_status: int = 204,
    ) -> None:
        # The real range of maximumRatio is not public: the bounds are the tenant's.
        self.min_ratio = float(min_ratio)
        self.max_ratio = float(max_ratio)
        self.min_calls_per_agent = min_calls_per_agent
        self.max_calls_per_agent = max_calls_per_agent
        self.acd_result_set_wrapper = acd_result_set_wrapper  # older versions: {"resultSet": {...}}
        self.acd_put_returns_204 = acd_put_returns_204  # PUT general-settings: 204 instead of 200 + body
        # agents/states with an updatedSince after every change: 204 (no content) or 304 (not modified)
        self.acd_unchanged_status = acd_unchanged_status
        self.tenant_id = DEFAULT_TENANT_ID
        self.tenant_name = "sandbox_tenant"
        self.bu_id = 4600123
        self.cluster_id = "SB1"
        self.access_keys: dict[str, str] = {DEFAULT_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY_SECRET}
        self.skills: dict[int, dict[str, Any]] = {
            sid: {"skillName": name, "isOutbound": outbound, "queueCount": queue, "isActive": True}
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
        # The last updatedSince filter: (the agent list it ran on, its length, the instant, the rows it kept).
        self._since_cache: tuple[list[dict[str, Any]], int, datetime, list[dict[str, Any]]] | None = None

    # ----------------------------------------------------------------- agents
    def _generate_acd_agents(self, n: int) -> list[dict[str, Any]]:
        # Own random stream: the v2 list of the same seed stays exactly what it was.
        rng = random.Random(f"acd:{self.seed}")
        counts = quotas(_ACD_STATE_MIX, n)
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
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        agent_id = 1001 + index
        out_state_id, out_state = 0, ""
        if acw:
            out_state_id, out_state = _ACW_OUT_STATE_ID, "ACW"
        elif name == "Unavailable":
            out_state = rng.choice(sorted(_OUT_STATES))
            out_state_id = _OUT_STATES[out_state]
        on_contact = name in _ACD_WORKING_STATES
        updated = STATE_SINCE_ANCHOR - timedelta(seconds=rng.randint(5, 3 * 3600))
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

        A row that differs from the one its agent id had before (or is new) is updated now: its
        ``lastUpdateTime`` is the current time, so an ``updatedSince`` poll sees exactly these changes.
        """
        # A random stream per agent: an agent given the same state again gets the very same row.
        agents = [
            self._make_acd_agent(random.Random(f"acd:{self.seed}:{i}"), i, s, generated=False)
            for i, s in enumerate(states)
        ]
        now = format_acd_time(datetime.now(timezone.utc))
        with self._lock:
            before = {a["agentId"]: a for a in self.acd_agents}
            for agent in agents:
                old = before.get(agent["agentId"])
                if old is None or {**old, "lastUpdateTime": ""} != {**agent, "lastUpdateTime": ""}:
                    agent["lastUpdateTime"] = now
                else:
                    agent["lastUpdateTime"] = old["lastUpdateTime"]
            self.acd_agents = agents

    def set_acd_agent(self, agent_id: int, state: str | None = None, team_id: int | None = None) -> dict[str, Any]:
        """Change one agent as the ACD does when an agent changes state (or team); returns a copy of its row.

        ``state`` is an agentStateName or "ACW", as for :meth:`set_acd_agents`; the row's state fields follow
        it (id, isACW, isOutbound, the unavailable reason, the contact, the skill a LoggedOut or inbound agent
        has) and ``lastUpdateTime`` becomes now, so the next ``updatedSince`` poll returns this row.
        KeyError for an unknown agent, ValueError for an unknown state or team.
        """
        if state is not None and state != ACD_ACW and state not in ACD_STATE_IDS:
            raise ValueError(f"unknown agent state {state!r}; expected one of {[*ACD_STATE_IDS, ACD_ACW]}")
        if team_id is not None and team_id not in _ACD_TEAMS:
            raise ValueError(f"unknown team {team_id!r}; expected one of {sorted(_ACD_TEAMS)}")
        with self._lock:
            row = next((a for a in self.acd_agents if a["agentId"] == agent_id), None)
            if row is None:
                raise KeyError(agent_id)
            if state is not None:
                _set_acd_state(row, state)
            if team_id is not None:
                row["teamId"], row["teamName"] = team_id, _ACD_TEAMS[team_id]
            self._touched(row)
            return copy.deepcopy(row)

    def _touched(self, row: dict[str, Any]) -> None:
        """A row changed in place (caller holds the lock): updated now, and the updatedSince filter worked out
        afresh (its cache knows a replaced list, not an edited row)."""
        row["lastUpdateTime"] = format_acd_time(datetime.now(timezone.utc))
        self._since_cache = None

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
                agents = self._updated_since(updated_since)
                if self.acd_agents and not agents:
                    return None
            return copy.deepcopy(agents[skip : skip + top]), len(agents)

    def _updated_since(self, since: datetime) -> list[dict[str, Any]]:
        """The agents updated at or after ``since`` (caller holds the lock). Worked out once per agent list and
        instant, not on every page: parsing every timestamp costs O(agents), some 50 ms at 100,000 agents,
        which a paging client would otherwise pay on each page. The list is replaced (``set_acd_agents``,
        ``set_agent_count``), so its identity and length tell when to work it out again; a row edited in place
        clears the cache (:meth:`_touched`)."""
        agents, cached = self.acd_agents, self._since_cache
        if cached is not None and cached[0] is agents and cached[1] == len(agents) and cached[2] == since:
            return cached[3]
        kept = [a for a in agents if parse_acd_time(str(a["lastUpdateTime"])) >= since]
        self._since_cache = (agents, len(agents), since, kept)
        return kept

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

    def concurrent_skill_edit(self, skill_id: int, field: str | None = None, value: Any = None) -> dict[str, Any]:
        """The other writer of the acd ``concurrent_edit`` fault: sets ``field`` to ``value`` when a field is
        given (a person setting ``maximumRatio`` by hand, say); else flips aggressiveness, bumps maximumAttempts."""

        def mutate(s: dict[str, Any]) -> None:
            if field is not None:
                s[field] = value
                return
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
                if not (is_number(ratio) and self.min_ratio <= ratio <= self.max_ratio):
                    errors += error_body(
                        "INVALID_VALUE",
                        f"maximumRatio must be between {self.min_ratio} and {self.max_ratio}",
                        "generalSettings.maximumRatio",
                    )["errors"]
            if "maxConcurrentCallsPerAgent" in inner:
                calls = inner["maxConcurrentCallsPerAgent"]
                if not (is_int(calls) and self.min_calls_per_agent <= calls <= self.max_calls_per_agent):
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

    # ----------------------------------------------------------------- tokens
    def acd_password_grant(
        self, access_key_id: str | None, access_key_secret: str | None, issuer: str, client_id: str
    ) -> dict[str, Any]:
        """``grant_type=password`` with an access key; the token answer, or ApiError 401 invalid_grant."""
        bad_key = oauth_error(401, "invalid_grant", "unknown access key or wrong secret")
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
            raise oauth_error(400, "invalid_grant", "unknown, used or revoked refresh token")
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


# ------------------------------------------------------------------ routes
def role(method: str, path: str) -> str | None:
    """What a request of this contract is, for the faults that only act on some requests."""
    if path == ACD_TOKEN_PATH:
        return TOKEN
    route = acd_route(path)
    if method != "GET" or route is None:
        return None
    if route == ACD_AGENTS_ROUTE:
        return AGENTS_LIST
    if _GENERAL_SETTINGS_RE.fullmatch(route) is not None:
        return EDITED
    return None


def route(ex: Exchange) -> Answer | None:
    """The answer to a request of this contract; None when the path is not one of its."""
    path = ex.path
    if path == ACD_TOKEN_PATH:
        only(ex.method, "POST")
        return _token(ex)
    if path in (OPENID_CONFIG_PATH, CXONE_CONFIG_PATH, JWKS_PATH):
        only(ex.method, "GET")
        return _discovery(ex)
    if path.startswith(ACD_PREFIX):
        return _api(ex)
    return None


def _token(ex: Exchange) -> Answer:
    """``POST /auth/token``: password grant (access key) or refresh_token grant, client via Basic or form."""
    form = parse_qs(ex.body.decode("utf-8", "replace"), keep_blank_values=True)
    grant_type = first(form, "grant_type")
    if grant_type is None:
        raise oauth_error(400, "invalid_request", "grant_type is required (form-encoded body)")

    client_id, client_secret, basic = client_credentials(ex, form)
    if client_id is None or not ex.tenant.check_client(client_id, client_secret):
        headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if basic else None
        raise oauth_error(401, "invalid_client", "unknown client or wrong secret", headers)

    issuer = ex.base_url
    if grant_type == "password":
        # parse_qs has already form-decoded them: "%3D" -> "=", "+" -> " ".
        payload = ex.tenant.acd_password_grant(first(form, "username"), first(form, "password"), issuer, client_id)
    elif grant_type == "refresh_token":
        payload = ex.tenant.acd_refresh_grant(first(form, "refresh_token"), issuer, client_id)
    else:
        raise oauth_error(
            400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported (password, refresh_token)"
        )
    return json_answer(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _discovery(ex: Exchange) -> Answer:
    base = ex.base_url
    if ex.path == OPENID_CONFIG_PATH:
        return json_answer(
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
    if ex.path == JWKS_PATH:
        # The sandbox's signatures are random bytes: there is no key to verify them with (clients
        # must only decode the payload).
        return json_answer(200, {"keys": []})
    tenant = ex.tenant
    tenant_id = first(parse_qs(ex.query, keep_blank_values=True), "tenantId") or ""
    if tenant_id.lower() != tenant.tenant_id.lower():
        what = f"unknown tenantId {tenant_id!r}" if tenant_id else "tenantId is required"
        raise ApiError(404, error_body("NOT_FOUND", what, "tenantId"))
    return json_answer(
        200,
        {
            "private": False,
            "area": "sb1",
            "cluster": tenant.cluster_id,
            # Not a real domain: clients must use api_endpoint, not build "api-{area}.{domain}".
            "domain": "sandbox.invalid",
            "acdDomain": "sandbox.invalid",
            "uhDomain": "sandbox.invalid",
            "ui_endpoint": base,
            "auth_endpoint": base,
            "api_endpoint": base,
            "tenantId": tenant.tenant_id,
        },
    )


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


def _api(ex: Exchange) -> Answer:
    path, method, tenant = ex.path, ex.method, ex.tenant
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
    require_token(ex)
    if not _accepts_json_explicitly(ex.accept):
        return Answer(406, NOT_RENDERABLE, content_type="text/plain; charset=utf-8")

    if route == ACD_AGENTS_ROUTE:
        only(method, "GET")
        return _agents(ex)
    m = _SKILL_ROUTE_RE.fullmatch(route)
    if m is not None:
        if not m.group(1).isdigit():
            raise ApiError(404, error_body("NOT_FOUND", f"skill {unquote(m.group(1))} not found"))
        skill_id = int(m.group(1))
        reads = {"activity": skills.activity, "agents": skills.assignments, "summary": skills.summary}
        if m.group(2) in reads:
            only(method, "GET")
            return json_answer(200, reads[m.group(2)](ex, skill_id))
        if method == "GET":
            answer = json_answer(200, tenant.skill_settings_copy(skill_id))
            if ex.fault is not None and ex.fault_is("concurrent_edit"):
                # Another writer edits right after this read: the client's copy is stale at once.
                tenant.concurrent_skill_edit(skill_id, ex.fault.field, ex.fault.value)
            return answer
        if method == "PUT":
            tenant.skill_settings_copy(skill_id)  # 404 before any body complaint
            stored = tenant.put_skill_settings(skill_id, parse_json(ex.body))
            return NO_CONTENT if tenant.acd_put_returns_204 else json_answer(200, stored)
        raise method_not_allowed("GET, PUT")
    raise ApiError(404, error_body("NOT_FOUND", f"no such resource: {path}"))


def _agents(ex: Exchange) -> Answer:
    """``GET agents/states``: offset paging with skip/top, totalRecords and _links.

    ``fields`` (comma list) projects the rows; ``orderBy`` and ``reqBUIds`` are accepted and ignored.
    The repeat_page_token and empty_page faults act here.
    """
    tenant = ex.tenant
    params = parse_qs(ex.query, keep_blank_values=True)
    top = int_param(params, "top", DEFAULT_PAGE_SIZE, 1, tenant.max_page_size)
    skip = int_param(params, "skip", 0, 0, None)
    raw_since = first(params, "updatedSince")
    since: datetime | None = None
    if raw_since:
        try:
            since = parse_acd_time(raw_since)
        except ValueError:
            raise ApiError(
                400, error_body("INVALID_VALUE", "updatedSince must be an ISO 8601 date-time", "updatedSince")
            ) from None

    tenant.record_states_fields(first(params, "fields"))
    # Taken before the rows are read: a change landing while they are read is in the next delta too, never lost.
    poll = format_acd_time(datetime.now(timezone.utc))
    page = tenant.acd_agents_page(skip, top, since)
    if page is None:  # nothing updated since updatedSince: 204, or 304 as NICE's SDK expects
        return NO_CONTENT if tenant.acd_unchanged_status == 204 else Answer(tenant.acd_unchanged_status, b"")
    rows, total = page
    fields = [f.strip() for f in (first(params, "fields") or "").split(",") if f.strip()]
    if fields:
        rows = [{k: row[k] for k in fields if k in row} for row in rows]

    kept = [(k, v) for k, values in params.items() if k not in ("skip", "top", REPEAT_PARAM) for v in values]

    def link(at: int, marker: bool = False) -> str:
        pairs = [*kept, ("skip", str(at)), ("top", str(top))]
        if marker:
            pairs.append((REPEAT_PARAM, "1"))
        return f"{ex.base_url}{ex.path}?{urlencode(pairs)}"

    sticky = first(params, REPEAT_PARAM) == "1"
    links: dict[str, str | None]
    if ex.fault_is("empty_page"):
        # A page with no rows although totalRecords says more are there: "next" is this same skip.
        rows = []
        links = {"self": link(skip), "next": link(skip)}
    elif ex.fault_is("repeat_page_token") or sticky:
        # A pager that never advances: "next" is this very page again, and totalRecords is more
        # than can ever be reached.
        links = {"self": link(skip, sticky), "next": link(skip, marker=True)}
        total += 10 * top
    else:
        links = {"self": link(skip), "next": link(skip + top) if skip + top < total else None}
    links["previous"] = link(max(0, skip - top)) if skip > 0 else None
    if tenant.acd_result_set_wrapper:  # older API versions
        wrapped = {"agentStates": rows, "totalRecords": total, "_links": links, "lastPollTime": poll}
        return json_answer(200, {"resultSet": wrapped})
    return json_answer(200, {"totalRecords": total, "_links": links, "lastPollTime": poll, "agentStates": rows})
