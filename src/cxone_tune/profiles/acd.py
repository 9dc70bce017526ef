"""Profile ``acd``: the API real CXone tenants expose (access-key login, agents/states, skill pacing).

Login discovers the token endpoint from the issuer, logs in with the access key (password grant, the app's
client as HTTP Basic), refreshes with the refresh token, and finds the tenant's API base from the token's
``tenantId``. The token, refresh token, token endpoint and API base are cached together, so a steady-state
run makes no login or discovery request at all.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import functools
import json
import logging
import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cxone_tune.abandon import Summary
from cxone_tune.auth import BearerAuth, Token, TokenCache, TokenSource, token_lifetime
from cxone_tune.errors import AuthError, CampaignConflict, ProtocolError
from cxone_tune.http import ApiClient, api_message, json_object, path_segment, windowed
from cxone_tune.policy import Value
from cxone_tune.pool import Assignments, SkillActivity
from cxone_tune.profiles import acd_skill
from cxone_tune.profiles.base import (
    MAX_PAGES,
    Agent,
    AgentChanges,
    AgentSnapshot,
    LoginInfo,
    PageCallback,
    Profile,
    Target,
    login_info,
)
from cxone_tune.settings import Settings, check_url, parse_list

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# agentStateId -> agentStateName, as NICE documents them.
STATE_NAMES = {
    0: "LoggedOut",
    1: "Available",
    2: "Unavailable",
    3: "InboundContact",
    4: "OutboundContact",
    5: "InboundConsult",
    6: "OutboundConsult",
    7: "Dialer",
    8: "LoggedIn",
}
BUSY_STATES = frozenset({"InboundContact", "OutboundContact", "InboundConsult", "OutboundConsult"})
# The columns of agents/states a count reads (agentId for the pool, the state by name or by id, after-call work,
# the team and skill filters): a counting read asks for only these (``fields``), under a third of a whole row. The
# agents table and --watch ask for whole rows. A tenant that ignores ``fields`` sends whole rows, counted the same.
COUNT_FIELDS = "agentId,agentStateId,agentStateName,isACW,teamId,skillId"
RATIO_FIELDS = frozenset({"maximumRatio"})  # general-settings fields that hold a per-agent ratio
_BY_LOWER_NAME = {name.lower(): name for name in STATE_NAMES.values()}
EPOCH = "1970-01-01T00:00:00Z"  # updatedSince: every agent, not only the ones that changed


@functools.lru_cache(maxsize=256)  # called for every row read: a tenant has a handful of state names
def canonical_state(value: str) -> str:
    """A state given by name (any case) or id, as NICE spells its name."""
    text = value.strip()
    if text.isascii() and text.isdecimal() and len(text) < 5 and int(text) in STATE_NAMES:
        return STATE_NAMES[int(text)]
    return _BY_LOWER_NAME.get(text.lower(), text)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without verifying the signature (only to learn the tenantId)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


class AcdProfile(Profile):
    name = "acd"
    target_kind = "skill"
    group_label = "Skill"
    target_setting = "skill_id"
    required_settings = ("access_key_id", "access_key_secret", "client_id", "client_secret", "skill_id")
    default_available_states = ("Available", "Dialer")
    chosen_by = "access_key_id"
    known_states = frozenset(STATE_NAMES.values())  # numbered by NICE: the whole list
    closed_states = True
    trace_busy_columns = frozenset(state.lower() for state in BUSY_STATES)
    trace_acw_columns = frozenset({"acw"})  # the API flags after-call work (isACW) on an Unavailable agent
    has_skill_pool = True  # skills/{id}/agents and skills/{id}/activity
    has_abandon_data = True  # skills/{id}/summary
    # The shared colours are keyed by v2's state names; these are NICE's names for the same kinds of state.
    state_styles: ClassVar[dict[str, str]] = {
        "InboundContact": "cyan",
        "OutboundContact": "cyan",
        "InboundConsult": "cyan",
        "OutboundConsult": "cyan",
        "LoggedOut": "dim",
    }

    @classmethod
    def field_label_for(cls, settings: Settings) -> str:
        return f"general-settings.{settings.pacing_field}"

    @classmethod
    def value_kind(cls, settings: Settings) -> Literal["ratio", "count"]:
        """The default field is a per-agent ratio; CXONE_PACING_KIND names the kind of any other field."""
        if settings.pacing_kind != "auto":
            return settings.pacing_kind
        return "ratio" if settings.pacing_field in RATIO_FIELDS else "count"

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        for name in ("team_ids", "queue_ids"):
            value = getattr(settings, name)
            if value and not all(item.isdigit() for item in parse_list(value)):
                raise ValueError(f"CXONE_{name.upper()}: the acd API numbers its teams and skills, got {value!r}")
        # The abandon guard's progressive ceiling is one call per agent (1.0); a minimum above it would make the
        # guard and the bounds contradict each other exactly when abandons are too high.
        name, low = (
            ("min_ratio", settings.min_ratio)
            if cls.value_kind(settings) == "ratio"
            else ("min_limit", settings.min_limit)
        )
        if settings.abandon_guard and low > 1:
            raise ValueError(
                f"CXONE_{name.upper()}: {low} is above 1, the abandon guard's progressive pace (one call per agent);"
                " lower it, or set CXONE_ABANDON_GUARD=false"
            )

    def __init__(self, settings: Settings, client: ApiClient) -> None:
        super().__init__(settings, client)
        assert settings.skill_id is not None
        self.skill_id = settings.skill_id
        self.field = settings.pacing_field
        self.available_states = frozenset(canonical_state(s) for s in settings.available_state_names())
        key = f"acd|{settings.issuer}|{settings.client_id}|{settings.access_key_id}"
        assert settings.client_secret is not None and settings.access_key_secret is not None
        credentials = (
            self.name,
            settings.issuer,
            settings.client_id or "",
            settings.client_secret.get_secret_value(),
            settings.access_key_id or "",
            settings.access_key_secret.get_secret_value(),
        )
        cache = TokenCache(settings.resolved_cache_dir(), key, credentials)
        self.tokens: TokenSource = TokenSource(cache, self._fetch_token, self.check_cached)
        client.set_auth(BearerAuth(self.tokens))

    # -- login ----------------------------------------------------------------------------------------------

    def _client_auth(self) -> dict[str, str]:
        assert self.settings.client_id and self.settings.client_secret
        pair = f"{self.settings.client_id}:{self.settings.client_secret.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def _token_endpoint(self, previous: Token | None) -> str:
        if previous is not None and isinstance(previous.extra.get("token_endpoint"), str):
            return discovered("token cache", "token_endpoint", previous.extra["token_endpoint"])
        call = "GET openid-configuration"
        body = json_object(
            self.client.request(
                "GET", f"{self.settings.issuer}/.well-known/openid-configuration", call=call, authenticated=False
            ),
            call,
        )
        return discovered(call, "token_endpoint", body.get("token_endpoint"))

    def _grant(self, endpoint: str, form: dict[str, str], call: str) -> dict[str, Any] | None:
        """POST a grant; the answer's body, or None when the grant itself was refused (400/401)."""
        response = self.client.request(
            "POST", endpoint, call=call, data=form, headers=self._client_auth(), authenticated=False, ok=(200, 400, 401)
        )
        if response.status_code != 200:
            message = api_message(response)
            if "invalid_client" in message or form["grant_type"] == "password":
                raise AuthError(f"{call}: refused ({response.status_code}): {message}")
            log.info("%s: refused (%s); logging in again", call, message)
            return None
        return json_object(response, call)

    def _fetch_token(self, previous: Token | None) -> Token:
        endpoint = self._token_endpoint(previous)
        body: dict[str, Any] | None = None
        refresh_token = previous.extra.get("refresh_token") if previous is not None else None
        if isinstance(refresh_token, str) and refresh_token:
            body = self._grant(
                endpoint,
                {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": "openid"},
                "POST token (refresh)",
            )
        if body is None:
            assert self.settings.access_key_id and self.settings.access_key_secret
            body = self._grant(
                endpoint,
                {
                    "grant_type": "password",
                    "username": self.settings.access_key_id,
                    "password": self.settings.access_key_secret.get_secret_value(),
                },
                "POST token (access key)",
            )
            assert body is not None  # a refused password grant raises
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProtocolError("POST token: the answer has no access_token")
        expires_in = token_lifetime(body, "POST token")
        tenant_id = jwt_claims(access_token).get("tenantId")
        extra: dict[str, Any] = {"token_endpoint": endpoint, "tenant_id": tenant_id}
        if isinstance(body.get("refresh_token"), str):
            extra["refresh_token"] = body["refresh_token"]
        extra["api_base"] = self._api_base(previous, tenant_id)
        return Token(access_token, time.time() + float(expires_in), str(body.get("token_type", "Bearer")), extra)

    def _api_base(self, previous: Token | None, tenant_id: Any) -> str:
        if self.settings.api_base:
            return self.settings.api_base
        if previous is not None and previous.extra.get("tenant_id") == tenant_id and previous.extra.get("api_base"):
            return discovered("token cache", "api_base", previous.extra["api_base"])
        call = "GET cxone-configuration"
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ProtocolError(f"{call}: the access token carries no tenantId; set CXONE_API_BASE")
        body = json_object(
            self.client.request(
                "GET",
                f"{self.settings.issuer}/.well-known/cxone-configuration",
                call=call,
                params={"tenantId": tenant_id},
                authenticated=False,
            ),
            call,
        )
        return discovered(call, "api_endpoint", body.get("api_endpoint"))

    @staticmethod
    def check_cached(token: Token) -> None:
        """A token read from the cache is used only if the endpoints cached with it obey the rule of configured
        URLs (a cache written before that rule, or by anyone who could write it, may hold any)."""
        for field in ("token_endpoint", "api_base"):
            if field in token.extra:
                discovered("token cache", field, token.extra[field])

    def _base(self) -> str:
        api = self.settings.api_base or self.tokens.get().extra.get("api_base")
        if not isinstance(api, str):
            raise ProtocolError("the cached login has no API base; run auth-check again")
        return f"{api}/inContactAPI/services/{self.settings.api_version}"

    def login(self) -> LoginInfo:
        token = self.tokens.get()
        return login_info(
            self.name,
            token,
            self.tokens.source,
            tenant_id=token.extra.get("tenant_id"),
            api_base=self.settings.api_base or token.extra.get("api_base"),
        )

    # -- agents ---------------------------------------------------------------------------------------------

    def fetch_agents(self, on_page: PageCallback | None = None, *, keep_agents: bool = True) -> AgentSnapshot:
        """Every row of ``agents/states``. The first page gives ``totalRecords`` and the page size the tenant
        grants, so the other pages (``skip`` = k x that size) are independent: they are read
        ``CXONE_PAGE_CONCURRENCY`` at a time over the run's one client, and counted in order. Any page that
        fails, a ``totalRecords`` that changes on the way, or a count that does not come to ``totalRecords`` is a
        ProtocolError (76): nothing is written on a partial count."""
        url = f"{self._base()}/agents/states"
        snapshot = AgentSnapshot(keep_agents)
        fields = None if keep_agents else COUNT_FIELDS
        call = _page_call(1)
        read, total, more = self._read_page(snapshot, self._get_states(url, 1, 0, fields), call, empty_total=0)
        pages = 1
        if on_page:
            on_page(pages, snapshot.total)
        if read < total and more:
            if not read:
                raise ProtocolError(f"{call}: the page did not advance (skip 0 of {total}); writing nothing")
            step = read  # the tenant may grant fewer rows than `top` asks for: its pages are this size
            last = -(-total // step)
            if last > MAX_PAGES:
                raise ProtocolError(f"{call}: totalRecords {total} would take {last} pages of {step}; writing nothing")
            get = self._get_states
            jobs = (functools.partial(get, url, number, (number - 1) * step, fields) for number in range(2, last + 1))
            with contextlib.closing(windowed(jobs, self.settings.page_concurrency)) as responses:
                for pages, response in enumerate(responses, 2):
                    call = _page_call(pages)
                    got, page_total, more = self._read_page(snapshot, response, call, empty_total=total)
                    if page_total != total:
                        raise ProtocolError(
                            f"{call}: totalRecords changed from {total} to {page_total} while paging; writing nothing"
                        )
                    read += got
                    if on_page:
                        on_page(pages, snapshot.total)
                    room = step if pages < last else total - (last - 1) * step
                    if got > room:
                        # pages are read at skip = k x step: a longer one overlaps the next, and with a short one
                        # elsewhere the count could still come to totalRecords (short ones alone: the checks below)
                        raise ProtocolError(
                            f"{call}: {got} agents on a page of {room} (pages of {step}); writing nothing"
                        )
                    if read >= total or not more:
                        break
                    if not got:
                        raise ProtocolError(
                            f"{call}: the page did not advance (skip {read} of {total}); writing nothing"
                        )
        if read != total:
            raise ProtocolError(f"{call}: read {read} agents but totalRecords says {total}; writing nothing")
        snapshot.pages = pages
        return snapshot

    def _get_states(self, url: str, number: int, skip: int, fields: str | None = None) -> httpx.Response:
        """One page of ``agents/states``, as sent (a worker thread's job; the answer is parsed by the reader);
        ``fields``: only those columns (COUNT_FIELDS for a count)."""
        params: dict[str, str | int] = {"updatedSince": EPOCH, "skip": skip, "top": self.settings.page_size}
        if fields is not None:
            params["fields"] = fields
        return self.client.request("GET", url, call=_page_call(number), params=params, ok=(200, 204))

    def _read_page(
        self, snapshot: AgentSnapshot, response: httpx.Response, call: str, empty_total: int
    ) -> tuple[int, int, bool]:
        """Count one answer's rows: (rows, totalRecords, whether a next page is announced). The parsed page lives
        only in here, so one page at a time is held parsed. A 204 (nothing at all since the epoch) is no rows and
        ``empty_total``: on the first page, no agents; later, a count that falls short."""
        if response.status_code == 204:
            return 0, empty_total, False
        rows, total, more = _states_page(json_object(response, call), call)
        self._count(snapshot, rows, call)
        return len(rows), total, more

    def _count(self, snapshot: AgentSnapshot, rows: list[Any], call: str) -> None:
        """Count one page's rows. Whether a row counts is the filters' call (:meth:`eligible`; the paging still
        accounts for every row); an :class:`Agent` is built only for a row the caller keeps."""
        available_states = self.available_states
        for row in rows:
            state = _state(row, call)
            available = state in available_states
            if not self._counts(row, state, available):
                continue
            if snapshot.keep_agents:
                snapshot.add(self._agent(row, state))
            else:
                snapshot.count(state, available, state in BUSY_STATES, row.get("isACW") is True)

    def _counts(self, row: dict[str, Any], state: str, available: bool) -> bool:
        """Whether a row (checked by :func:`_state`) counts: the team and skill filters (:meth:`eligible`), then
        the steered skill's pool (``self.pool``: its assigned agents, which also tallies the tenant's side)."""
        if not self.eligible(state, row.get("teamId"), row.get("skillId")):
            return False
        return self.pool.admits(row["agentId"], state, available)

    def fetch_changes(self, since: str | None = None) -> AgentChanges:
        """Only the agents whose rows changed since ``since`` (an earlier answer's ``lastPollTime``, sent back as
        ``updatedSince``); every agent when it is None. An answer's ``lastPollTime`` is the next cursor (the first
        page's, so nothing that changes while later pages are read is missed). 304 or 204 means nothing changed:
        the cursor stays ``since``, since such an answer names no later point (NICE's SDK falls back to the epoch
        there, a full reload each time). Kept apart from :meth:`fetch_agents`, which counts without keeping rows."""
        base = self._base()
        changed: dict[str, Agent | None] = {}
        cursor: str | None = None
        skip, pages = 0, 0
        while True:
            call = f"GET agents/states{' changes' if since else ''} page {pages + 1}"
            response = self.client.request(
                "GET",
                f"{base}/agents/states",
                call=call,
                params={"updatedSince": since or EPOCH, "skip": skip, "top": self.settings.page_size},
                ok=(200, 204, 304),
            )
            pages += 1
            if response.status_code != 200:
                if pages > 1:
                    raise ProtocolError(f"{call}: answered {response.status_code} in the middle of paging")
                return AgentChanges(since is None, changed, since, pages)  # nothing (changed) since then
            body = json_object(response, call)
            rows, total, more = _states_page(body, call)
            if pages == 1:
                cursor = _poll_time(body, call)
            skip += len(rows)
            for row in rows:
                state = _state(row, call)
                agent = self._agent(row, state)
                counted = self._counts(row, state, agent.available)
                changed[agent.id] = agent if counted else None
            if skip >= total or not more:
                if skip != total:
                    raise ProtocolError(f"{call}: read {skip} agents but totalRecords says {total}")
                break
            if not rows or pages >= MAX_PAGES:
                raise ProtocolError(f"{call}: the page did not advance (skip {skip} of {total})")
        return AgentChanges(since is None, changed, cursor if cursor is not None else since, pages)

    def _agent(self, row: dict[str, Any], state: str) -> Agent:
        """The agent of a row :func:`_state` has checked."""
        first, last = row.get("firstName"), row.get("lastName")
        name = " ".join(p for p in (first, last) if isinstance(p, str) and p) or row.get("userName")
        reason = row.get("outStateDescription") if isinstance(row.get("outStateDescription"), str) else ""
        if row.get("isACW") is True:
            reason = f"ACW{': ' + reason if reason and reason != 'ACW' else ''}"
        skill = row.get("skillName") or row.get("skillId")
        team = row.get("teamId")
        return Agent(
            id=str(row["agentId"]),
            state=state,
            available=state in self.available_states,
            busy=state in BUSY_STATES,
            acw=row.get("isACW") is True,
            name=name if isinstance(name, str) else None,
            group=None if skill is None else str(skill),
            team=None if team is None else str(team),
            reason=reason or None,
        )

    # -- the skill's pool and abandon figures (issue 10; parsing in acd_skill.py) -----------------------------

    def _skill_url(self, what: str) -> str:
        return f"{self._base()}/skills/{path_segment(self.skill_id)}/{what}"

    def read_assignments(self, window: int = 1) -> Assignments:
        return acd_skill.read_assignments(
            self.client,
            self._skill_url("agents"),
            self.skill_id,
            self.settings.page_size,
            lambda page: f"GET skill {self.skill_id} agents page {page}",
            window,
        )

    def read_activity(self) -> SkillActivity:
        call = f"GET skill {self.skill_id} activity"
        return acd_skill.read_activity(self.client, self._skill_url("activity"), self.skill_id, call)

    def read_abandons(self, start: datetime, end: datetime) -> Summary:
        call = f"GET skill {self.skill_id} summary"
        return acd_skill.read_summary(self.client, self._skill_url("summary"), self.skill_id, start, end, call)

    # -- the skill's general settings -------------------------------------------------------------------------

    def _settings_url(self) -> str:
        return f"{self._base()}/skills/{path_segment(self.skill_id)}/parameters/general-settings"

    @property
    def _read_call(self) -> str:
        return f"GET skill {self.skill_id} general-settings"

    def read_target(self) -> Target:
        call = self._read_call
        body = json_object(self.client.request("GET", self._settings_url(), call=call), call)
        if isinstance(body.get("generalSettings"), dict):  # tolerate the PUT's wrapper on reads too
            body = body["generalSettings"]
        value = body.get(self.field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ProtocolError(f"{call}: {self.field} is missing or not a finite number")  # NaN, Infinity
        return Target(id=self.target_id, value=value, resource=body)

    def write_target(self, target: Target, value: Value) -> Target:
        # No version, no ETag: read again right before the write, and give way if someone else changed anything
        # since the decision, the steered field included (a person who just set it must not be overwritten by
        # a decision made on the value before); the cycle then decides again on the fresh copy.
        fresh = self.read_target()
        if fresh.resource != target.resource:
            raise CampaignConflict(f"skill {self.skill_id} general-settings changed since they were read")
        body = copy.deepcopy(fresh.resource)
        body[self.field] = value
        call = f"PUT skill {self.skill_id} general-settings"
        response = self.client.request(
            "PUT", self._settings_url(), call=call, json_body={"generalSettings": body}, ok=(200, 204)
        )
        if response.status_code == 200 and response.content.strip():
            stored = json_object(response, call)
            stored_value = stored.get(self.field)
            if (
                isinstance(stored_value, (int, float))
                and not isinstance(stored_value, bool)
                and math.isfinite(stored_value)
            ):
                return Target(id=self.target_id, value=stored_value, resource=stored)
        return Target(id=self.target_id, value=value, resource=body)


def discovered(call: str, field: str, value: Any) -> str:
    """An endpoint learned from discovery (or cached from it), held to the rule every configured URL obeys
    (``settings.check_url``: https, plain http only to loopback, no credentials, query or fragment); else a
    ProtocolError (76) naming the call and the field."""
    if not isinstance(value, str):
        raise ProtocolError(f"{call}: discovery returned no usable {field} ({type(value).__name__})")
    try:
        return check_url(value)
    except ValueError as exc:
        shown = value if len(value) <= 100 else value[:100] + "..."
        raise ProtocolError(f"{call}: discovery returned {field} {shown!r}: {exc}") from None


def _page_call(number: int) -> str:
    return f"GET agents/states page {number}"


def _state(row: Any, call: str) -> str:
    """The state of one ``agentStates`` row, as NICE spells its name; a ProtocolError for a row that is no agent."""
    if not isinstance(row, dict):
        raise ProtocolError(f"{call}: an agent entry is not an object")
    agent_id, state_name = row.get("agentId"), row.get("agentStateName")
    if isinstance(agent_id, bool) or not isinstance(agent_id, (int, str)):
        raise ProtocolError(f"{call}: an agent entry lacks agentId")
    if isinstance(state_name, str) and state_name:
        return canonical_state(state_name)
    state_id = row.get("agentStateId")
    if isinstance(state_id, int) and not isinstance(state_id, bool) and state_id in STATE_NAMES:
        return STATE_NAMES[state_id]
    raise ProtocolError(f"{call}: agent {agent_id} has no state")


def _without(resource: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != field}


def _poll_time(body: dict[str, Any], call: str) -> str | None:
    """The answer's ``lastPollTime`` (top level, or in an older version's ``resultSet``), sent back verbatim as
    the next ``updatedSince``; None when the answer has none (the next read is then a full one)."""
    container = acd_skill.unwrapped(body)
    value = container.get("lastPollTime", body.get("lastPollTime"))
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ProtocolError(f"{call}: lastPollTime is not a timestamp")
    return value


def _states_page(body: dict[str, Any], call: str) -> tuple[list[Any], int, bool]:
    container = acd_skill.unwrapped(body)
    rows = container.get("agentStates")
    total = container.get("totalRecords", body.get("totalRecords"))
    if not isinstance(rows, list):
        raise ProtocolError(f"{call}: the answer has no agentStates list")
    total = acd_skill.count(total, call, "totalRecords")  # the one parser of acd numbers: 300 and "300"
    links = container.get("_links", body.get("_links"))
    more = True
    if isinstance(links, dict) and "next" in links:
        more = bool(links.get("next"))
    return rows, total, more
