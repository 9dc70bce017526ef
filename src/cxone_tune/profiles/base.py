"""What every API profile supplies, and the data shapes the cycle, policy and rendering share."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cxone_tune.errors import FilterMatchesNothing
from cxone_tune.policy import Value
from cxone_tune.pool import PoolFilter
from cxone_tune.settings import SECRET_SETTINGS, Settings, parse_list, require

if TYPE_CHECKING:  # only types: listing or choosing a profile imports no HTTP stack
    from datetime import datetime

    import httpx

    from cxone_tune.abandon import Summary
    from cxone_tune.auth import Token, TokenSource
    from cxone_tune.http import ApiClient
    from cxone_tune.pool import Assignments, SkillActivity

PageCallback = Callable[[int, int], None]  # (pages so far, agents so far)
MAX_PAGES = 100_000  # a guard against an API that pages without end (fresh tokens, skips that never reach the total)


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
        """Count an agent, and keep it when the caller wants the rows."""
        self.count(agent.state, agent.available, agent.busy, agent.acw)
        if self.keep_agents:
            self.agents.append(agent)

    def count(self, state: str, available: bool, busy: bool, acw: bool) -> None:
        """Count an agent from its facts alone: what a profile does when it keeps no rows, so that a count
        costs no :class:`Agent` per row."""
        self.total += 1
        self.state_counts[state] += 1
        if available:
            self.available += 1
            self.available_states.add(state)
        elif busy:
            self.busy += 1
        elif acw:
            self.acw += 1

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(self.state_counts.items()))

    def in_states(self, states: Iterable[str]) -> list[Agent]:
        """The agents kept; only those in one of ``states`` (any case) when any are named."""
        wanted = {state.strip().lower() for state in states}
        return [agent for agent in self.agents if not wanted or agent.state.lower() in wanted]


@dataclass(frozen=True)
class AgentChanges:
    """What one read brought a caller that keeps the pool between reads (``agents --watch``, ``watch.py``).

    ``complete``: every agent was read, so the pool is exactly the agents in ``changed`` (one not there has
    left it). Otherwise ``changed`` holds only the agents whose rows changed since the cursor the read was given,
    each mapped to its agent, or to None when its row now puts it outside the pool (the team and queue filters);
    empty when the API said nothing changed. ``cursor`` goes to the next read: None when the profile cannot ask
    for changes (or the API named no point to ask from), so the next read is a full one again.
    """

    complete: bool
    changed: Mapping[str, Agent | None]
    cursor: str | None
    pages: int


@dataclass
class FilterTally:
    """What the team and queue filters met during one agents read: every row, before any filter."""

    rows: int = 0
    teams: Counter[str] = field(default_factory=Counter)  # rows per configured team id they matched
    queues: Counter[str] = field(default_factory=Counter)
    states: set[str] = field(default_factory=set)  # every state seen, filtered out or not


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(repr(value) for value in sorted(values))


@dataclass(frozen=True)
class Target:
    """The resource that holds the steered value, exactly as read (every field, known or not)."""

    id: str
    value: Value
    resource: dict[str, Any]
    version: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetRef:
    """Which resource a run steers, with the labels every result and document shows for it."""

    profile: str  # the API profile's name
    kind: str  # "campaign", "skill", ...
    id: str  # "" when the setting that names it is missing (the run then fails on that, and is recorded)
    field: str  # the steered field, as shown to operators


@dataclass(frozen=True)
class LoginInfo:
    profile: str
    source: str  # "cache", "memory" or "new"
    expires_in: float
    expires_at: float
    details: dict[str, Any] = field(default_factory=dict)


class Profile(abc.ABC):
    """One API dialect: login, agent fetch, read and write of the steered value.

    The class-level facts below are what the rest of the tool asks a profile (through the registry in
    ``profiles/__init__.py``) instead of comparing profile names.
    """

    name: ClassVar[str]
    target_kind: ClassVar[str]  # "campaign" or "skill"
    group_label: ClassVar[str]  # what an agent's group is called in tables: "Queue" or "Skill"
    target_setting: ClassVar[str]  # the Settings field that names the steered resource
    required_settings: ClassVar[tuple[str, ...]]  # checked, in order, when the profile is built
    default_available_states: ClassVar[tuple[str, ...]]  # when CXONE_AVAILABLE_STATES is unset
    chosen_by: ClassVar[str | None] = None  # with CXONE_API unset, the profile is chosen when this setting is set
    is_default: ClassVar[bool] = False  # with CXONE_API unset and no profile's chosen_by set
    state_styles: ClassVar[dict[str, str]] = {}  # state (any case) -> rich style, over the shared defaults
    # The API's documented state names, as compared (empty: the profile knows none, nothing is checked).
    known_states: ClassVar[frozenset[str]] = frozenset()
    # Whether known_states is the whole list (acd's numbered states), or only the states seen so far (v2).
    closed_states: ClassVar[bool] = False
    # What the profile can read beyond the agents (issue 10); the cycle asks these, never the profile's name.
    has_skill_pool: ClassVar[bool] = False  # read_assignments and read_activity work: the target has its own pool
    has_abandon_data: ClassVar[bool] = False  # read_abandons works: the abandon guard can run
    available_states: frozenset[str] = frozenset()  # the configured names, as compared
    # Trace columns (``replay``), lower case: the states of agents on a contact, and of agents in after-call work
    # (a profile whose API marks after-call work with a flag, not a state, names the trace column for it).
    trace_busy_columns: ClassVar[frozenset[str]] = frozenset()
    trace_acw_columns: ClassVar[frozenset[str]] = frozenset()
    tokens: TokenSource | None = None  # the bearer tokens of a profile that logs in (set by its __init__)

    @classmethod
    def field_label_for(cls, settings: Settings) -> str:
        """The steered field, as shown to operators."""
        raise NotImplementedError

    @classmethod
    def value_kind(cls, settings: Settings) -> Literal["ratio", "count"]:
        """What the steered value is: a line count or a per-agent ratio (which policy rule applies)."""
        return "count"

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Profile-specific validation; raise ValueError with a message that starts with the variable."""
        return  # nothing beyond the checks every setting has

    @classmethod
    def target_id_of(cls, settings: Settings) -> str:
        value = getattr(settings, cls.target_setting)
        return "" if value is None else str(value)

    @classmethod
    def target_ref(cls, settings: Settings) -> TargetRef:
        return TargetRef(cls.name, cls.target_kind, cls.target_id_of(settings), cls.field_label_for(settings))

    @classmethod
    def secret_settings(cls) -> tuple[str, ...]:
        """The settings this profile needs that are secrets (every SecretStr field is masked in logs anyway)."""
        return tuple(name for name in cls.required_settings if name in SECRET_SETTINGS)

    @classmethod
    def transport(cls, settings: Settings) -> httpx.BaseTransport | None:
        """The HTTP transport to use instead of the network (None: the network), e.g. an in-process tenant."""
        return None

    def __init__(self, settings: Settings, client: ApiClient) -> None:
        require(settings, *self.required_settings)
        self.settings = settings
        self.client = client
        self.team_ids = frozenset(parse_list(settings.team_ids)) if settings.team_ids else None
        self.queue_ids = frozenset(parse_list(settings.queue_ids)) if settings.queue_ids else None
        self.filter_tally = FilterTally()
        # Which agents of a read count (pool.load sets the skill's; by default every one) and the tenant's tally.
        self.pool = PoolFilter()
        # Called with (the target as read, the value) right before each write is sent: the run's audit intent.
        self.before_write: list[Callable[[Target, Value], None]] = []

    @property
    def target_id(self) -> str:
        return self.target_id_of(self.settings)

    @property
    def field_label(self) -> str:
        return self.field_label_for(self.settings)

    def eligible(self, state: str, team: object, queue: object) -> bool:
        """Whether an agent belongs to the pool the target is paced for (the team and queue filters): its state
        as compared, and its team and queue (acd: skill) id as the API gave them (None when absent).

        Called once for every row read: it also notes what the filters met (:meth:`filter_findings`)."""
        tally = self.filter_tally
        tally.rows += 1
        tally.states.add(state)
        if self.team_ids is None and self.queue_ids is None:
            return True
        team_id = None if team is None else str(team)
        queue_id = None if queue is None else str(queue)
        in_team = self.team_ids is None or team_id in self.team_ids
        in_queue = self.queue_ids is None or queue_id in self.queue_ids
        if self.team_ids is not None and in_team:
            tally.teams[str(team_id)] += 1
        if self.queue_ids is not None and in_queue:
            tally.queues[str(queue_id)] += 1
        return in_team and in_queue

    def filter_findings(self, snapshot: AgentSnapshot) -> tuple[list[str], list[str]]:
        """What is wrong with the filters, judged on the read just made: (errors, warnings); and a fresh
        tally for the next read.

        Errors: a team or queue id that none of the rows read carries (a typo, or a team of nobody: either way
        the pool would be counted without it), filters that together leave no agent of a tenant that has some,
        and an available-state name that is no state at all (not one the API documents, nor, for an API whose
        list is open, one seen in this read). A known state nobody is in is fine: nobody is available. Warnings:
        an unknown state name beside known ones (the count stands on the known ones)."""
        tally, self.filter_tally = self.filter_tally, FilterTally()
        errors: list[str] = []
        warnings: list[str] = []
        read = f"{tally.rows} agent{'' if tally.rows == 1 else 's'} read"
        if tally.rows:
            for variable, wanted, hits in (
                ("CXONE_TEAM_IDS", self.team_ids, tally.teams),
                ("CXONE_QUEUE_IDS", self.queue_ids, tally.queues),
            ):
                missing = sorted(value for value in wanted or () if not hits[value])
                if missing:
                    verb = "matches" if len(missing) == 1 else "match"
                    errors.append(f"{variable}: {_quoted(missing)} {verb} none of the {read}")
            if not errors and snapshot.total == 0 and self.team_ids is not None and self.queue_ids is not None:
                errors.append(f"CXONE_TEAM_IDS and CXONE_QUEUE_IDS together match none of the {read}")
        if self.known_states:
            known = self.known_states if self.closed_states else self.known_states | tally.states
            unknown = sorted(set(self.available_states) - known)
            if unknown:
                verb = "is not a state" if len(unknown) == 1 else "are not states"
                line = (
                    f"CXONE_AVAILABLE_STATES: {_quoted(unknown)} {verb} of the {self.name} API"
                    f" (known: {', '.join(sorted(known))})"
                )
                closed_or_all = self.closed_states or not set(self.available_states) - set(unknown)
                (errors if closed_or_all else warnings).append(line)
        return errors, warnings

    def check_filters(self, snapshot: AgentSnapshot) -> list[str]:
        """Raise :class:`FilterMatchesNothing` (nothing is written) on any error of :meth:`filter_findings`;
        return its warnings."""
        errors, warnings = self.filter_findings(snapshot)
        if errors:
            raise FilterMatchesNothing("; ".join(errors) + "; nothing written")
        return warnings

    def token_at_hand(self) -> bool:
        """Whether a valid token is at hand (in memory or the cache) so that no request would be sent for one.
        Only then does a cycle send reads together (``cycle.compute``): a login is one request after another."""
        return self.tokens is not None and self.tokens.at_hand()

    @abc.abstractmethod
    def login(self) -> LoginInfo:
        """Get (or reuse) a token."""

    @property
    def _read_call(self) -> str | None:
        """The name of :meth:`read_target`'s call ("GET campaign c-100"), when it is one cheap read."""
        return None

    def probe(self) -> str | None:
        """One cheap authenticated read that proves the token works, and its call's name: the steered resource,
        one small object, when the profile names that call (``_read_call``); None when the profile has none
        (auth-check then reports the token unconfirmed)."""
        if self._read_call is None:
            return None
        self.read_target()
        return self._read_call

    def auth_check(self) -> LoginInfo:
        """``login``, and a token that did not come from a login just now (the cache's) confirmed by ``probe``.

        The cache is keyed by the credentials (``auth.TokenCache``), so a cached token is one these very
        credentials got; the probe proves the API still takes it. A token the API refuses there (401) is
        renewed by the usual 401 flow and the read resent: then the result says the cached one was refused.
        """
        info = self.login()
        if info.source == "new":
            return replace(info, details={**info.details, "confirmed_by": None, "cached_token_refused": False})
        call = self.probe()
        after = self.login()  # from memory now, unless the probe's 401 renewed it
        renewed = after.expires_at != info.expires_at
        details = {**after.details, "confirmed_by": call, "cached_token_refused": renewed}
        return replace(after, source="new" if renewed else info.source, details=details)

    @abc.abstractmethod
    def fetch_agents(self, on_page: PageCallback | None = None, *, keep_agents: bool = True) -> AgentSnapshot:
        """Every agent, all pages; raises ProtocolError rather than return a partial count."""

    def fetch_changes(self, since: str | None = None) -> AgentChanges:
        """The agents changed since ``since``, a cursor an earlier answer gave (None: every agent).

        This default knows no way to ask the API for changes: every call is a full read (``complete``, no
        cursor). A profile whose API can answer only what changed overrides it (acd: ``updatedSince``)."""
        snapshot = self.fetch_agents(keep_agents=True)
        return AgentChanges(True, {agent.id: agent for agent in snapshot.agents}, None, snapshot.pages)

    def read_assignments(self, window: int = 1) -> Assignments:
        """The target's agent assignments, all pages (``has_skill_pool``), up to ``window`` requests at once where
        the pages allow it; raises rather than return part."""
        raise NotImplementedError(f"the {self.name} API has no skill pool")

    def read_activity(self) -> SkillActivity:
        """The target's live counts (``has_skill_pool``)."""
        raise NotImplementedError(f"the {self.name} API has no skill activity")

    def read_abandons(self, start: datetime, end: datetime) -> Summary:
        """Live calls abandoned and handled from ``start`` to ``end`` (``has_abandon_data``)."""
        raise NotImplementedError(f"the {self.name} API has no abandon figures")

    @abc.abstractmethod
    def read_target(self) -> Target: ...

    @abc.abstractmethod
    def write_target(self, target: Target, value: Value) -> Target:
        """Write ``value`` onto ``target`` as read; CampaignConflict if someone else changed it since."""


def login_info(profile: str, token: Token, source: str, **details: Any) -> LoginInfo:
    return LoginInfo(profile, source, token.remaining(), token.expires_at, dict(details))
