"""``agents --watch``: the agents and their counts kept up to date, one refresh per interval, until Ctrl-C.

The library part needs no terminal. :class:`AgentBook` keeps the pool between reads and merges each read into
it: a full read replaces it, a read of changes updates the agents it names and drops those that left the pool.
:class:`Watcher` makes one refresh (one read of the profile's :meth:`~cxone_tune.profiles.Profile.fetch_changes`:
acd asks only for what changed since the last answer, a profile without such a read reads everything; the skill's
assignments, which say who is in the pool, with the first refresh and then every ``ASSIGNMENTS_EVERY``) and sorts
its failures: the API unavailable or rate limiting after retries leave the last good data on show, marked stale;
anything else (a refused login or permission, a configuration problem, an answer the tool cannot read) ends
the watch with its usual line and exit code, and so does any failure of the first read, when there is nothing
to show yet.

:func:`watch_agents` shows it: on a terminal a full-screen view (rich Live) redrawn at every refresh and
resize; off a terminal one line per refresh; with ``--json`` one JSON document per line per refresh. Ctrl-C
ends it with exit 0, as ``watch(1)`` does: it is how a watch is meant to end.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from cxone_tune import documents, logs, render
from cxone_tune import pool as skill_pool
from cxone_tune.errors import ApiUnavailable, CxoneTuneError, TemporaryFailure, UsageError
from cxone_tune.http import Pending
from cxone_tune.profiles import Agent, AgentChanges, AgentSnapshot, Profile

if TYPE_CHECKING:
    from rich.console import Console

    from cxone_tune.cycle import Job
    from cxone_tune.settings import Settings

DEFAULT_INTERVAL = 5.0  # seconds; NICE's own agent application polls every 5 s
# How often the skill's assignments (its pool) are read again, with the refresh that falls due: an agent an admin
# assigns to the skill, or takes off it, shows within a minute (and an interval), at one request a minute (one
# page per CXONE_PAGE_SIZE assignments): one refresh in twelve at the default interval, every refresh at an
# interval of a minute or more. An answer of changes cannot tell: an agent newly assigned whose state has not
# changed is in no such answer, which is why a changed pool makes that refresh a full read.
ASSIGNMENTS_EVERY = timedelta(minutes=1)
MIN_INTERVAL = 1.0
MAX_INTERVAL = 3600.0
# What a refresh may meet and the watch outlive: the API unavailable (5xx, timeouts, connection errors) or
# rate limiting, each after the usual retries. The next refresh tries again.
PASSING_FAILURES = (ApiUnavailable, TemporaryFailure)

Show = Callable[["Refresh"], None]


def check_options(interval: float | None, count: int | None) -> float:
    """The interval to use; UsageError (2) naming the option for one out of range."""
    if count is not None and count < 1:
        raise UsageError(f"--count: {count} is not a number of refreshes (1 or more)")
    if interval is None:
        return DEFAULT_INTERVAL
    if not (math.isfinite(interval) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        raise UsageError(f"--interval: {interval:g} is not between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds")
    return interval


@dataclass
class AgentBook:
    """The pool between reads: agent id -> agent, in the order first read, and the cursor of the next read."""

    agents: dict[str, Agent] = field(default_factory=dict)
    cursor: str | None = None

    def apply(self, changes: AgentChanges) -> int:
        """Merge one read into the pool; how many agents it added, changed or removed."""
        moved = 0
        if changes.complete:
            fresh = {agent_id: agent for agent_id, agent in changes.changed.items() if agent is not None}
            moved += sum(1 for agent_id, agent in fresh.items() if self.agents.get(agent_id) != agent)
            moved += sum(1 for agent_id in self.agents if agent_id not in fresh)
            self.agents = fresh
        else:
            for agent_id, agent in changes.changed.items():
                if agent is None:
                    moved += self.agents.pop(agent_id, None) is not None
                elif self.agents.get(agent_id) != agent:
                    self.agents[agent_id] = agent  # an agent already known keeps its place in the table
                    moved += 1
        self.cursor = changes.cursor
        return moved

    def snapshot(self, pages: int = 0) -> AgentSnapshot:
        """The pool's counts and rows, as one full read would give them."""
        snapshot = AgentSnapshot(keep_agents=True)
        for agent in self.agents.values():
            snapshot.add(agent)
        snapshot.pages = pages
        return snapshot


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Refresh:
    """One refresh: the pool after it, or, when it failed, the last good pool and the failure (stale)."""

    number: int  # 1, 2, ...
    at: datetime  # when it ended (UTC)
    snapshot: AgentSnapshot
    data_at: datetime  # when the pool shown was read: ``at``, or an earlier refresh's when stale
    requests: int  # sent by this refresh, retries and token renewals included
    changed: int  # agents added, changed or removed
    complete: bool  # a full read (the first, or every one of a profile that cannot ask for changes)
    error: CxoneTuneError | None = None
    assignments_read: bool = False  # the skill's assignments were read (again) by this refresh (ASSIGNMENTS_EVERY)
    pool: skill_pool.PoolReport | None = None  # with --pool: the pool beside the tenant and the skill's activity
    warnings: tuple[str, ...] = ()  # about the filters, judged on the first (full) read

    @property
    def stale(self) -> bool:
        return self.error is not None


class _NotingFilter(skill_pool.PoolFilter):
    """The pool's filter for one read, noting every row it is asked about (those the team and queue filters
    leave in): agent id -> (state, available), the tenant's side of ``--pool`` as that read saw it."""

    def __init__(self, ids: AbstractSet[skill_pool.AgentKey] | None) -> None:
        super().__init__(ids)
        self.seen: dict[str, tuple[str, bool]] = {}

    def admits(self, agent_id: int | str, state: str, available: bool) -> bool:
        self.seen[str(agent_id)] = (state, available)  # keyed as the agents' rows are (Agent.id)
        return super().admits(agent_id, state, available)


class Watcher:
    """Refreshes one profile's pool, read after read, with the cursor each answer gives for the next; the skill's
    assignments (who is in the pool) with the first read and again every ``ASSIGNMENTS_EVERY``. With ``pool``
    (``--pool``), the tenant's agents are kept beside the pool the same way, and the skill's activity is read with
    every refresh (one request more)."""

    def __init__(self, profile: Profile, clock: Callable[[], datetime] = _now, *, pool: bool = False) -> None:
        self.profile = profile
        self.with_pool = pool
        self.tenant: dict[str, tuple[str, bool]] = {}  # with --pool: the tenant's agents, kept as the pool is
        self.book = AgentBook()
        self.clock = clock
        self.number = 0
        self.last_good: Refresh | None = None
        self.assignments: skill_pool.Assignments | None = None
        self.assignments_at: datetime | None = None  # when they were last read (None: never)
        self.full_read_due = False  # the pool changed: the next read is a full one, whatever the cursor

    def _read_assignments(self, now: datetime) -> bool:
        """Read the skill's assignments when due (the first read, then every ASSIGNMENTS_EVERY); whether they were
        read. A pool that changed makes this refresh's read of agents a full one."""
        due = self.assignments_at is None or now - self.assignments_at >= ASSIGNMENTS_EVERY
        if not due:
            return False
        fresh = skill_pool.load(self.profile, self.profile.settings)  # None: no pool read (v2, or tenant)
        if fresh is not None and self.assignments is not None and fresh.active != self.assignments.active:
            self.full_read_due = True
        self.assignments, self.assignments_at = fresh, now
        return fresh is not None

    def refresh(self) -> Refresh:
        self.number += 1
        client = self.profile.client
        client.renew_deadline()  # every refresh has the run's whole time budget, retries included
        before = client.stats.requests
        reread = False
        try:
            reread = self._read_assignments(self.clock())
            noting = _NotingFilter(self.profile.pool.ids)
            self.profile.pool = noting
            changes = self.profile.fetch_changes(None if self.full_read_due else self.book.cursor)
            self.full_read_due = False
            changed = self.book.apply(changes)
            snapshot = self.book.snapshot(changes.pages)
            pooled = self._pool_report(snapshot, changes, noting.seen) if self.with_pool else None
        except PASSING_FAILURES as exc:
            if self.last_good is None:
                raise  # nothing to show yet: the first read ends the watch the way it ends ``agents``
            sent = client.stats.requests - before
            return replace(
                self.last_good,
                number=self.number,
                at=self.clock(),
                requests=sent,
                changed=0,
                error=exc,
                warnings=(),
                assignments_read=reread,
            )
        # Judged on a full read only (a read of changes holds a few rows); the call also starts a fresh tally.
        errors, warnings = self.profile.filter_findings(snapshot)
        now = self.clock()
        refresh = Refresh(
            self.number,
            now,
            snapshot,
            now,
            client.stats.requests - before,
            changed,
            changes.complete,
            warnings=tuple(errors + warnings) if self.last_good is None else (),
            assignments_read=reread,
            pool=pooled,
        )
        self.last_good = refresh
        return refresh

    def _pool_report(
        self, snapshot: AgentSnapshot, changes: AgentChanges, seen: dict[str, tuple[str, bool]]
    ) -> skill_pool.PoolReport:
        """``--pool``: the tenant's agents kept like the pool (a full read replaces them; a read of changes
        updates the rows it brought, and drops those now outside the team and queue filters, which the filter
        was never asked about), beside the pool, with the skill's activity read afresh."""
        if changes.complete:
            self.tenant = dict(seen)
        else:
            for agent_id in changes.changed:
                if agent_id in seen:
                    self.tenant[agent_id] = seen[agent_id]
                else:
                    self.tenant.pop(agent_id, None)
        tenant = skill_pool.Side()
        for state, available in self.tenant.values():
            tenant.add(state, available)
        profile = self.profile
        activity = Pending(profile.read_activity)
        return skill_pool.report(
            profile, profile.settings, snapshot, self.assignments, activity=activity, tenant=tenant
        )


def watch_agents(
    settings: Settings,
    out: Console,
    *,
    interval: float | None,
    count: int | None,
    json_output: bool,
    states: Sequence[str],
    summary: bool,
    pool: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``agents --watch`` until Ctrl-C (or ``count`` refreshes); the exit code. ``pool`` (``--pool``): the
    skill's pool beside the tenant's agents and the skill's activity, in every refresh.

    0 when Ctrl-C ends it, or ``count`` does after a good refresh; the failure's code when the last of ``count``
    refreshes failed (so a script knows its last line is stale). Failures that end the watch raise."""
    from cxone_tune.cycle import Job

    pace = check_options(interval, count)
    job = Job.from_settings(settings)
    last: Refresh | None = None
    try:
        # Every refresh shows the pool's disagreement with the activity (--pool): no warning line each time too.
        with logs.conditions_shown(), job.open() as profile:
            watcher = Watcher(profile, pool=pool)
            last = watcher.refresh()
            for line in last.warnings:  # a listing shows what is there: the filters' findings are warnings
                logs.warning(line)
            with _display(out, job, pace, json_output=json_output, states=states, summary=summary) as show:
                show(last)
                while count is None or last.number < count:
                    sleep(pace)
                    last = watcher.refresh()
                    show(last)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # the reader went away (``| head``): the watch has nobody to show to
        render.stdout_to_devnull()
        return 0
    return last.error.exit_code if last is not None and last.error is not None else 0


@contextlib.contextmanager
def _display(
    out: Console, job: Job, interval: float, *, json_output: bool, states: Sequence[str], summary: bool
) -> Iterator[Show]:
    """Where each refresh goes: JSON lines, the full-screen view on a terminal, or plain lines."""
    if json_output:

        def as_json(refresh: Refresh) -> None:
            if refresh.error is not None:
                logs.warning(f"refresh {refresh.number}: {refresh.error}; the data is stale")
            listed = refresh.snapshot.in_states(states)
            render.emit_json_line(documents.watch_document(refresh, listed, summary=summary, pool=refresh.pool))

        yield as_json
        return
    target = f"{job.target.kind} {job.target.id}"
    isatty = getattr(out.file, "isatty", None)
    if not (callable(isatty) and isatty()) or out.is_dumb_terminal:

        def as_line(refresh: Refresh) -> None:
            if refresh.error is not None:
                logs.warning(f"refresh {refresh.number}: {refresh.error}; the data is stale")
            # Written as is (the line is sanitised plain text), so a closed pipe is a BrokenPipeError to end on.
            out.file.write(render.watch_line(refresh, target) + "\n")
            out.file.flush()  # a pipe is block-buffered: each refresh's line should leave now

        yield as_line
        return
    from rich.live import Live

    view = render.WatchView(
        target,
        job.profile_class.group_label,
        job.profile_class.state_styles,
        ref=job.target,
        interval=interval,
        states=tuple(states),
        summary=summary,
    )
    # Log lines written to the terminal under the view would tear it: they go to its status area meanwhile.
    diverted = logs.diverted(view.note) if sys.stderr.isatty() else contextlib.nullcontext()
    live = Live(
        view,
        console=out,
        screen=True,  # the terminal's alternate screen, as top and watch(1) use: whole redraws, the shell's
        auto_refresh=True,  # screen back afterwards; redrawn twice a second, so a resized window is filled
        refresh_per_second=2,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with diverted, live:

        def on_screen(refresh: Refresh) -> None:
            view.update(refresh)
            live.refresh()

        yield on_screen
