"""What every API profile supplies, and the data shapes the cycle, policy and rendering share."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxone_tune.auth import Token
from cxone_tune.http import ApiClient
from cxone_tune.policy import Value
from cxone_tune.settings import Settings, parse_list

PageCallback = Callable[[int, int], None]  # (pages so far, agents so far)


@dataclass(frozen=True)
class Agent:
    id: str
    state: str  # lower-case, as compared
    available: bool
    name: str | None = None
    group: str | None = None  # queue (v2) or skill (acd)
    team: str | None = None
    reason: str | None = None
    busy: bool = False  # on a contact
    acw: bool = False  # in after-call work


@dataclass
class AgentSnapshot:
    """Counts of every agent read, and the agents themselves only when a caller needs the rows.

    The cycle needs counts only, so a 100,000-agent tenant costs it one page of memory, not the whole list.
    """

    keep_agents: bool = True
    agents: list[Agent] = field(default_factory=list)
    pages: int = 0
    total: int = 0
    available: int = 0
    busy: int = 0
    acw: int = 0
    state_counts: Counter[str] = field(default_factory=Counter)
    available_states: set[str] = field(default_factory=set)

    def add(self, agent: Agent) -> None:
        self.total += 1
        self.state_counts[agent.state] += 1
        if agent.available:
            self.available += 1
            self.available_states.add(agent.state)
        elif agent.busy:
            self.busy += 1
        elif agent.acw:
            self.acw += 1
        if self.keep_agents:
            self.agents.append(agent)

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(self.state_counts.items()))


@dataclass(frozen=True)
class Target:
    """The resource that holds the steered value, exactly as read (every field, known or not)."""

    id: str
    value: Value
    resource: dict[str, Any]
    version: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoginInfo:
    profile: str
    source: str  # "cache", "memory" or "new"
    expires_in: float
    expires_at: float
    details: dict[str, Any] = field(default_factory=dict)


class Profile(abc.ABC):
    """One API dialect: login, agent fetch, read and write of the steered value."""

    name: str
    target_kind: str  # "campaign" or "skill"
    field_label: str  # the steered field, as shown to operators

    def __init__(self, settings: Settings, client: ApiClient) -> None:
        self.settings = settings
        self.client = client
        self.team_ids = frozenset(parse_list(settings.team_ids)) if settings.team_ids else None
        self.queue_ids = frozenset(parse_list(settings.queue_ids)) if settings.queue_ids else None

    def eligible(self, agent: Agent, queue_id: str | None) -> bool:
        """Whether an agent belongs to the pool the target is paced for (the team and queue filters)."""
        if self.team_ids is not None and agent.team not in self.team_ids:
            return False
        return self.queue_ids is None or queue_id in self.queue_ids

    @property
    @abc.abstractmethod
    def target_id(self) -> str: ...

    @abc.abstractmethod
    def login(self) -> LoginInfo:
        """Get (or reuse) a token."""

    @abc.abstractmethod
    def fetch_agents(self, on_page: PageCallback | None = None, *, keep_agents: bool = True) -> AgentSnapshot:
        """Every agent, all pages; raises ProtocolError rather than return a partial count."""

    @abc.abstractmethod
    def read_target(self) -> Target: ...

    @abc.abstractmethod
    def write_target(self, target: Target, value: Value) -> Target:
        """Write ``value`` onto ``target`` as read; CampaignConflict if someone else changed it since."""


def login_info(profile: str, token: Token, source: str, **details: Any) -> LoginInfo:
    return LoginInfo(profile, source, token.remaining(), token.expires_at, dict(details))
