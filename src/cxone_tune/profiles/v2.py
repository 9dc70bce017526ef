"""Profile ``v2``: the design document's API (OAuth client credentials, /api/v2/...)."""

from __future__ import annotations

import copy
import time
from typing import Any

from cxone_tune.auth import BearerAuth, Token, TokenCache, TokenSource, token_lifetime
from cxone_tune.errors import AuthError, ProtocolError
from cxone_tune.http import ApiClient, api_message, json_object, path_segment
from cxone_tune.policy import Value
from cxone_tune.profiles.base import (
    MAX_PAGES,
    Agent,
    AgentSnapshot,
    LoginInfo,
    PageCallback,
    Profile,
    Target,
    login_info,
)
from cxone_tune.settings import Settings

SCOPES = "realtime:read campaign:read campaign:write"
BUSY_STATES = frozenset({"in-progress"})
ACW_STATES = frozenset({"wrap-up"})
KNOWN_STATES = frozenset({"available", "in-progress", "wrap-up", "unavailable", "logged-out"})  # the contract's


class V2Profile(Profile):
    name = "v2"
    target_kind = "campaign"
    group_label = "Queue"
    target_setting = "campaign_id"
    required_settings = ("tenant_url", "client_id", "client_secret", "campaign_id")
    default_available_states = ("available",)
    is_default = True
    known_states = KNOWN_STATES  # "values seen": a tenant may have more, so states seen in a read count too
    trace_busy_columns = BUSY_STATES
    trace_acw_columns = ACW_STATES

    @classmethod
    def field_label_for(cls, settings: Settings) -> str:
        return "rules.maxConcurrentCalls"

    def __init__(self, settings: Settings, client: ApiClient) -> None:
        super().__init__(settings, client)
        assert settings.tenant_url and settings.client_id and settings.campaign_id  # for mypy
        self.base = settings.tenant_url
        self.campaign_id = settings.campaign_id
        self.available_states = frozenset(state.lower() for state in settings.available_state_names())
        assert settings.client_secret is not None
        credentials = (self.name, self.base, settings.client_id, settings.client_secret.get_secret_value())
        cache = TokenCache(settings.resolved_cache_dir(), f"v2|{self.base}|{settings.client_id}", credentials)
        self.tokens: TokenSource = TokenSource(cache, self._fetch_token)
        client.set_auth(BearerAuth(self.tokens))

    # -- login ----------------------------------------------------------------------------------------------

    def _fetch_token(self, previous: Token | None) -> Token:
        assert self.settings.client_id and self.settings.client_secret
        call = "POST token"
        response = self.client.request(
            "POST",
            f"{self.base}/oauth/token",
            call=call,
            data={
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret.get_secret_value(),
                "scope": SCOPES,
            },
            authenticated=False,
            ok=(200, 400, 401),
        )
        if response.status_code != 200:
            raise AuthError(f"{call}: the token request was refused ({response.status_code}): {api_message(response)}")
        body = json_object(response, call)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProtocolError(f"{call}: the answer has no access_token")
        expires_in = token_lifetime(body, call)
        return Token(access_token, time.time() + expires_in, str(body.get("token_type", "Bearer")))

    def login(self) -> LoginInfo:
        token = self.tokens.get()
        return login_info(self.name, token, self.tokens.source, tenant_url=self.base)

    # -- agents ---------------------------------------------------------------------------------------------

    def fetch_agents(self, on_page: PageCallback | None = None, *, keep_agents: bool = True) -> AgentSnapshot:
        snapshot = AgentSnapshot(keep_agents)
        seen_tokens: set[str] = set()
        page_token: str | None = None
        pages = 0
        while True:
            call = f"GET agents page {pages + 1}"
            params: dict[str, Any] = {"pageSize": self.settings.page_size}
            if page_token:
                params["nextPageToken"] = page_token
            body = json_object(
                self.client.request("GET", f"{self.base}/api/v2/realtime/agents", call=call, params=params),
                call,
            )
            pages += 1
            items = body.get("items")
            if not isinstance(items, list):
                raise ProtocolError(f"{call}: the answer has no 'items' list")
            self._count(snapshot, items, call)
            if on_page:
                on_page(pages, snapshot.total)
            page_token = body.get("nextPageToken")
            del body, items  # one page held parsed at a time, not two while the next is read
            if page_token is None or page_token == "":
                snapshot.pages = pages
                return snapshot
            if not isinstance(page_token, str):
                raise ProtocolError(f"{call}: nextPageToken is not a string")
            if page_token in seen_tokens or pages >= MAX_PAGES:
                raise ProtocolError(f"{call}: the API repeated a page token; agent list would never end")
            seen_tokens.add(page_token)

    def _count(self, snapshot: AgentSnapshot, items: list[Any], call: str) -> None:
        """Count one page's agents. Whether a row counts is the filters' call (:meth:`eligible`); an
        :class:`Agent` is built only for a row the caller keeps, so a count costs no object per row."""
        available_states = self.available_states
        for item in items:
            state = _state(item, call)
            if not self.eligible(state, item.get("teamId"), item.get("queueId")):
                continue
            if snapshot.keep_agents:
                snapshot.add(_agent(item, state, available_states))
            else:
                snapshot.count(state, state in available_states, state in BUSY_STATES, state in ACW_STATES)

    # -- campaign -------------------------------------------------------------------------------------------

    def _campaign_url(self) -> str:
        return f"{self.base}/api/v2/campaigns/{path_segment(self.campaign_id)}"

    @property
    def _read_call(self) -> str:
        return f"GET campaign {self.campaign_id}"

    def read_target(self) -> Target:
        call = self._read_call
        body = json_object(self.client.request("GET", self._campaign_url(), call=call), call)
        return self._target(body, call)

    def write_target(self, target: Target, value: Value) -> Target:
        call = f"PUT campaign {self.campaign_id}"
        # The PUT replaces the whole resource: send back every field as read, only the one value changed.
        body = copy.deepcopy(target.resource)
        body["rules"]["maxConcurrentCalls"] = value
        response = self.client.request("PUT", self._campaign_url(), call=call, json_body=body)
        return self._target(json_object(response, call), call)

    def _target(self, body: dict[str, Any], call: str) -> Target:
        rules = body.get("rules")
        value = rules.get("maxConcurrentCalls") if isinstance(rules, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"{call}: rules.maxConcurrentCalls is missing or not an integer")
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, (int, str)):
            raise ProtocolError(f"{call}: the campaign has no version; refusing to write without one")
        return Target(id=self.campaign_id, value=value, resource=body, version=version)


def _state(item: Any, call: str) -> str:
    """The state of one agent entry as compared (lower case); a ProtocolError for an entry that is no agent."""
    if not isinstance(item, dict):
        raise ProtocolError(f"{call}: an agent entry is not an object")
    user_id, state = item.get("userId"), item.get("state")
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or not isinstance(state, str):
        raise ProtocolError(f"{call}: an agent entry lacks userId or state")
    return state.strip().lower()


def _agent(item: dict[str, Any], state: str, available_states: frozenset[str]) -> Agent:
    """The agent of an entry :func:`_state` has checked."""
    name = item.get("name") if isinstance(item.get("name"), str) else None
    queue = item.get("queueId")
    team = item.get("teamId")
    return Agent(
        id=str(item["userId"]),
        state=state,
        available=state in available_states,
        busy=state in BUSY_STATES,
        acw=state in ACW_STATES,
        name=name,
        group=None if queue is None else str(queue),
        team=None if team is None else str(team),
    )
