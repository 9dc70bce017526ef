"""The skill's own pool (issue 10): which agents a Personal Connection skill is paced for, and the cross-check
with the skill's live activity.

An agent's state row names a skill only while the agent is on a contact, so filtering the states by skill would
drop every idle agent. The pool is therefore the skill's active assignments joined with the states: before the
agents are read, :func:`load` reads the assignments and hands the profile a :class:`PoolFilter` of their agent
ids, which the agents read consults row by row (tallying the tenant's side as it goes, so both can be shown side
by side). After it, :func:`report` reads the skill's activity and says whether its count agrees.

Which count is right on a real tenant is not confirmed; ``CXONE_POOL_SOURCE`` chooses (``assigned``: the join;
``activity``: the activity's ``agentsAvailable``; ``tenant``: every agent, the tool's behaviour before the pool).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from cxone_tune import logs
from cxone_tune.errors import FilterMatchesNothing
from cxone_tune.policy import Pool

if TYPE_CHECKING:
    from cxone_tune.http import Pending
    from cxone_tune.profiles.base import AgentSnapshot, Profile
    from cxone_tune.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Side:
    """One side of the side-by-side view: how many agents, how many available, and how many per state."""

    total: int = 0
    available: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, state: str, available: bool) -> None:
        self.total += 1
        self.available += available
        self.counts[state] += 1

    @classmethod
    def of(cls, snapshot: AgentSnapshot) -> Side:
        return cls(snapshot.total, snapshot.available, Counter(snapshot.counts))

    def document(self) -> dict[str, Any]:
        return {"total": self.total, "available": self.available, "counts": dict(sorted(self.counts.items()))}


AgentKey: TypeAlias = "int | str"  # an agent id as the pool keys it (agent_key)
_T = TypeVar("_T")


def agent_key(agent_id: int | str) -> AgentKey:
    """An agent id as the pool keys it, so an assignment's id and a state row's meet however each was sent.

    A whole number, or its spelling as a string (``1001``, ``"1001"`` and ``" 1001 "`` are one agent, as are
    ``-5`` and ``"-5"``), is kept as the number; anything else as the text without its outer spaces: ``"A-7"``,
    or ``"01001"``, which is not the number's spelling. A number is also half the size of its string: with
    70,000 assigned agents, about 2 MB of a run's peak."""
    if isinstance(agent_id, int):
        return agent_id
    text = agent_id.strip()
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdecimal() and (digits[0] != "0" or text == "0"):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits), so no JSON number
            pass
    return text


class PoolFilter:
    """Which rows of an agents read count: those whose agent id is in ``ids`` (None: every row). Every row it is
    asked about is tallied in ``tenant`` first, so the tenant's side needs no second read."""

    def __init__(self, ids: AbstractSet[AgentKey] | None = None) -> None:
        self.ids = ids
        self.tenant = Side()

    def admits(self, agent_id: int | str, state: str, available: bool) -> bool:
        """Whether the row of ``agent_id`` (as the row sent it) counts; it is tallied in ``tenant`` either way."""
        self.tenant.add(state, available)
        return self.ids is None or agent_key(agent_id) in self.ids


class AgentIds(AbstractSet[AgentKey]):
    """The agent ids of a skill's active assignments, kept as every id read less the inactive ones: one set of
    every id (which paging needs anyway) and a small one of exceptions, not a second copy of the whole pool (with
    70,000 assigned agents, two sets and a frozen copy of one held about 8 MB at once at the end of the read)."""

    __slots__ = ("_every", "_inactive")

    def __init__(self, every: set[AgentKey], inactive: set[AgentKey]) -> None:
        self._every = every
        self._inactive = inactive

    def __contains__(self, key: object) -> bool:
        return key in self._every and key not in self._inactive

    def __iter__(self) -> Iterator[AgentKey]:
        inactive = self._inactive
        return (key for key in self._every if key not in inactive)

    def __len__(self) -> int:
        return len(self._every) - len(self._inactive)

    def __repr__(self) -> str:
        return f"AgentIds({sorted(self, key=str)!r})"

    @classmethod
    def _from_iterable(cls, keys: Iterable[_T]) -> frozenset[_T]:
        """What the set operators (``|``, ``&``, ``-``, ``^``) return: a plain frozen set."""
        return frozenset(keys)


@dataclass(frozen=True)
class Assignments:
    """The skill's assignments as read: the agent ids of the active ones, how many rows, and in how many pages."""

    active: AbstractSet[AgentKey]
    rows: int
    pages: int

    @property
    def inactive(self) -> int:
        return self.rows - len(self.active)


@dataclass(frozen=True)
class SkillActivity:
    """The skill's live counts (``skills/{id}/activity``); only ``available`` is required of the answer."""

    available: int
    logged_in: int | None = None
    working: int | None = None
    acw: int | None = None
    unavailable: int | None = None

    def document(self) -> dict[str, Any]:
        return {
            "agents_available": self.available,
            "agents_logged_in": self.logged_in,
            "agents_working": self.working,
            "agents_acw": self.acw,
            "agents_unavailable": self.unavailable,
        }


@dataclass(frozen=True)
class PoolReport:
    """The skill's pool beside the tenant's agents, the activity's count, and which one the run used."""

    source: str  # "assigned", "activity" or "tenant"
    skill: Side | None  # the assigned agents joined with their states (None: not read)
    tenant: Side
    assignments: Assignments | None
    activity: SkillActivity | None
    margin: int
    disagreement: str | None = None
    notes: tuple[str, ...] = ()
    compared: bool = False  # the activity was read and set against the join (no team or queue filter)

    @property
    def counted_by(self) -> str:
        """Where the counts the policy sees come from: "activity" (the skill's activity: available, logged in,
        working and in after-call work, all four), "assigned" (the skill's agents joined with their states) or
        "tenant" (every agent read)."""
        if self.source == "activity" and self.activity is not None:
            return "activity"
        return "tenant" if self.skill is None else "assigned"

    def decision_pool(self, snapshot: AgentSnapshot) -> Pool:
        """The counts the policy sees (from one source, :attr:`counted_by`): the agents read (the join, or every
        agent), or the activity's."""
        if self.counted_by == "activity" and self.activity is not None:
            activity = self.activity
            total = activity.logged_in if activity.logged_in is not None else activity.available
            return Pool(activity.available, max(total, activity.available), activity.working or 0, activity.acw or 0)
        return Pool(snapshot.available, snapshot.total, snapshot.busy, snapshot.acw)

    def document(self) -> dict[str, Any]:
        assignments = self.assignments
        return {
            "source": self.source,
            "skill": None if self.skill is None else self.skill.document(),
            "tenant": self.tenant.document(),
            "assignments": None
            if assignments is None
            else {"active": len(assignments.active), "inactive": assignments.inactive, "pages": assignments.pages},
            "activity": None if self.activity is None else self.activity.document(),
            "margin": self.margin,
            "disagreement": self.disagreement,
            "notes": list(self.notes),
        }


def reads_pool(profile: Profile, settings: Settings) -> bool:
    """Whether this run reads the skill's pool: the profile has one and ``CXONE_POOL_SOURCE`` is not ``tenant``."""
    return profile.has_skill_pool and settings.pool_source != "tenant"


def load(profile: Profile, settings: Settings, window: int | None = None) -> Assignments | None:
    """Before the agents read: the skill's active assignments, set as the filter the read consults (None: the
    run counts every agent), their pages ``window`` at a time (default ``CXONE_PAGE_CONCURRENCY``). An assignment
    list that cannot be read raises, like a failed agents page: nothing is written, and the filter set before
    stays (``agents --watch`` reads them again on a schedule)."""
    if not reads_pool(profile, settings):
        profile.pool = PoolFilter()
        return None
    assignments = profile.read_assignments(settings.page_concurrency if window is None else window)
    profile.pool = PoolFilter(assignments.active)
    return assignments


def empty_pool(profile: Profile, settings: Settings, assignments: Assignments | None) -> str | None:
    """Why the pool the run counts by (``CXONE_POOL_SOURCE=assigned``) is empty by its assignments, before any
    agent is read: nobody is assigned to the skill, or no row is active (``isActive`` absent or not true on every
    row, or ``isSkillActive`` false). None when it is not (or the run counts another way). A run ends on it like
    a filter that matches nothing (:func:`check`); a listing shows it as a warning."""
    if assignments is None or assignments.active or settings.pool_source != "assigned":
        return None
    where = f"{profile.target_kind} {profile.target_id}"
    if assignments.rows:
        why = (
            f"{where} has {assignments.rows} agent assignment(s) but no active one (isActive true and isSkillActive"
            " not false): its pool is empty"
        )
    else:
        why = f"{where} has no agent assigned (an empty assignment list): its pool is empty"
    return f"{why}; CXONE_POOL_SOURCE=activity or tenant counts the agents another way"


def check(profile: Profile, settings: Settings, assignments: Assignments | None) -> None:
    """Raise :class:`FilterMatchesNothing` when the pool is empty by its assignments (:func:`empty_pool`): a run
    would pace the skill for nobody, so nothing is written."""
    why = empty_pool(profile, settings, assignments)
    if why is not None:
        raise FilterMatchesNothing(f"{why}; nothing written")


def report(
    profile: Profile,
    settings: Settings,
    snapshot: AgentSnapshot,
    assignments: Assignments | None,
    *,
    activity: Pending[SkillActivity] | None = None,
    tenant: Side | None = None,
) -> PoolReport:
    """After the agents read: both sides (``tenant``: the tenant's side as the caller kept it, else the one the
    read's filter tallied), and (``activity``: the read, perhaps started ahead) the skill's activity taken and
    compared with the join. An activity read that failed raises here (nothing is written); a disagreement beyond
    ``CXONE_POOL_MARGIN`` is logged and reported, never an error: which side is right is the open question it
    points at."""
    source = settings.pool_source if profile.has_skill_pool else "tenant"
    if assignments is None:
        return PoolReport(source, None, Side.of(snapshot), None, None, settings.pool_margin)
    skill = Side.of(snapshot)
    notes: list[str] = []
    kind = profile.target_kind
    empty = empty_pool(profile, settings, assignments)
    if empty is not None:
        notes.append(empty)
    filtered = profile.team_ids is not None or profile.queue_ids is not None
    missing = len(assignments.active) - snapshot.total
    if missing > 0 and not filtered:
        notes.append(f"{missing} assigned agent(s) are not in the agents' states")
    live = activity.result() if activity is not None else None
    disagreement = None
    compared = live is not None and not filtered
    if live is not None and filtered:
        # The activity counts the whole skill; the team and queue filters narrow the join on purpose.
        notes.append("CXONE_TEAM_IDS/CXONE_QUEUE_IDS narrow the join: the activity's count is not compared")
    elif live is not None and abs(live.available - skill.available) > settings.pool_margin:
        disagreement = (
            f"{kind} {profile.target_id} activity says {live.available} available, its assigned agents joined with"
            f" their states {skill.available} (more than CXONE_POOL_MARGIN={settings.pool_margin} apart; counting"
            f" by {source}; which is right on a real tenant is unconfirmed)"
        )
        logs.condition(log, disagreement)  # on every run while it lasts: a warning only for a person reading
    for note in notes:
        log.info("%s", note)
    tenant = tenant if tenant is not None else profile.pool.tenant
    margin = settings.pool_margin
    return PoolReport(source, skill, tenant, assignments, live, margin, disagreement, tuple(notes), compared)
