"""Replay agent counts through the policy: a recorded or synthetic day (``cxone-tune replay TRACE.csv``), or the
audit log's own runs (``cxone-tune replay --history``).

A trace is a CSV file with a header ``time,<state>,<state>,...`` and one row per scheduler tick: the time (ISO
8601 or ``HH:MM``) and how many agents were in each state. Column names are the configured profile's state names,
in any case: the configured available states (``CXONE_AVAILABLE_STATES``, default v2 ``available``, acd
``Available`` and ``Dialer``) are the available agents; the profile says which mean "on a contact" (v2
``in-progress``; acd ``InboundContact``, ``OutboundContact``, ``InboundConsult``, ``OutboundConsult``) and which
"after-call work" (v2 ``wrap-up``; acd ``ACW``, a column of its own since the API flags it on an Unavailable
agent); every other column only counts toward the total.

Each row is fed to the policy ``run-once`` runs, with the value the previous row decided in force, once for the
configured policy and once for the baseline, and the two are compared:

- changes: how often the value in force changed (each one is a write to the tenant);
- idle-agent minutes: capacity (agents available or on a contact) above the limit, times the minutes it lasted;
- over-dial minutes: the limit above capacity, times the minutes it lasted.

Both minute figures need a line count: for a per-agent ratio (acd ``maximumRatio``) they are not computed.
A limit decided at one row is in force until the next row, and is measured against the capacity of that next
row: the tool always acts on a snapshot that is five minutes old by the time the next one is taken.

The baseline of a trace is the design's rule (the configured rule with no option on). With ``--history`` the rows
are the completed ``run-once`` runs of one target in the audit log (the counts each run saw), and the baseline is
what was written (:func:`replay_history`).

The abandon guard (issue 10) runs on the configured policy's side when it runs for the target (an acd skill,
``CXONE_ABANDON_GUARD`` on) and the rows carry its figures: a trace's ``abandons`` and ``handled`` columns (the
calls since the row before), summed into the two windows a live run would have read at each row's time
(:class:`cxone_tune.abandon.CallLog`, over the same spans as the live reads); or, with ``--history``, the windows
each run recorded. The design's rule runs without it, so the chart shows what the guard changed.

One loop (:func:`simulate`) serves both, and one function (:func:`policy_inputs`) turns a row into what the policy
reads: a new figure is a field of :class:`Row` and one line there. The chart and the table are drawn by
:mod:`cxone_tune.chart`; the JSON documents are built by :mod:`cxone_tune.documents`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, TextIO

from rich.console import Console

from cxone_tune import abandon, audit, cycle, documents
from cxone_tune.chart import MIN_CHART_WIDTH, print_replay
from cxone_tune.errors import NothingToReplay, UsageError
from cxone_tune.memory import KEEP
from cxone_tune.policy import (
    AbandonFigures,
    Evaluation,
    Inputs,
    Options,
    Params,
    PolicyParams,
    Pool,
    RatioParams,
    Value,
    WindowCounts,
    run,
)
from cxone_tune.profiles import TargetRef
from cxone_tune.settings import Settings, require, time_zone
from cxone_tune.text import plural, printable

TIME_COLUMN = "time"
# Columns of figures that are not agents in a state: the skill's abandoned and handled calls since the previous row,
# for issue 10's abandon guard. Read onto the row (not counted in the total), both or neither.
FIGURE_COLUMNS = ("abandons", "handled")
# What the abandon guard can do at a row (policy.GuardResult.action).
GUARD_ACTIONS = ("none", "hold", "halve", "progressive")
GAP_FACTOR = 3  # --history: an interval this many times the usual one between runs is a gap, not measured


# -- reading a trace ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Which trace columns count as what, as compared (lower case): the configured available states, and the
    profile's own states for agents on a contact and in after-call work."""

    available: frozenset[str]
    busy: frozenset[str] = frozenset()
    acw: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> Columns:
        profile = settings.profile_class
        available = frozenset(state.lower() for state in settings.available_state_names())
        return cls(available, profile.trace_busy_columns - available, profile.trace_acw_columns - available)


@dataclass(frozen=True)
class Row:
    """One snapshot of the agents: who could take a call, who was on one, who was wrapping up."""

    time: datetime
    available: int
    busy: int
    acw: int
    total: int
    abandons: int | None = None  # FIGURE_COLUMNS: None when the trace has no such column
    handled: int | None = None
    abandon: AbandonFigures | None = None  # the guard's two windows at this row (None: no figures)

    @property
    def capacity(self) -> int:
        """Agents who could hold a call: available or already on a contact."""
        return self.available + self.busy

    def pool(self) -> Pool:
        return Pool(available=self.available, total=self.total, busy=self.busy, acw=self.acw)


@dataclass(frozen=True)
class Trace:
    path: Path
    states: tuple[str, ...]
    rows: tuple[Row, ...]
    clock_times: bool  # the times were HH:MM (a day without a date)
    figures: tuple[str, ...] = ()  # the FIGURE_COLUMNS the trace has

    def label(self, when: datetime, *, full: bool = False) -> str:
        """A time as the trace writes it: HH:MM for a day without a date (or a trace within one day; with seconds
        when it spans less than ten minutes), the date too when it spans days, or the whole ISO time (``full``)."""
        if self.clock_times:
            return when.strftime("%H:%M")
        if full:
            return when.isoformat()
        first, last = self.rows[0].time, self.rows[-1].time
        if last - first < timedelta(minutes=10):
            return when.strftime("%H:%M:%S")
        return when.strftime("%H:%M" if first.date() == last.date() else "%m-%d %H:%M")


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_COUNT = re.compile(r"^-?\d+$")


def _parse_time(text: str) -> tuple[datetime, str]:
    """A time and its kind: "clock" (HH:MM), "naive" or "aware" (ISO 8601 with or without an offset)."""
    match = _CLOCK.match(text)
    if match:
        hour, minute, second = (int(part) if part else 0 for part in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{text!r} is not a time of day")
        return datetime(2000, 1, 1, hour, minute, second), "clock"
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time or HH:MM") from None
    return parsed, "naive" if parsed.tzinfo is None else "aware"


_KINDS = {"clock": "HH:MM", "naive": "an ISO time without an offset", "aware": "an ISO time with an offset"}


def _trace_file(path: Path) -> TextIO:
    """The trace file, or standard input for ``-`` (``... | cxone-tune replay -``)."""
    if str(path) == "-":
        return io.StringIO(sys.stdin.buffer.read().decode("utf-8-sig"), newline="")
    return path.open(encoding="utf-8-sig", newline="")


def load_trace(path: Path, columns: Columns) -> Trace:
    """Read and check a trace; every problem is one :class:`UsageError` line naming the file and the line."""
    lines: list[tuple[int, list[str]]] = []
    try:
        with _trace_file(path) as handle:
            reader = csv.reader(handle)
            try:
                lines = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
            except csv.Error as exc:
                raise UsageError(f"{path} line {reader.line_num}: not CSV: {exc}") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: cannot read the trace: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the trace: {exc}") from None
    if not lines:
        raise UsageError(f"{path} line 1: the trace is empty (expected a header: time,available,in-progress,...)")

    header_line, header = lines[0]
    names = [cell.strip().lower() for cell in header]

    def fail(number: int, what: str) -> UsageError:
        return UsageError(f"{path} line {number}: {what}")

    if TIME_COLUMN not in names:
        raise fail(header_line, f"no '{TIME_COLUMN}' column in the header (got {','.join(names)})")
    for position, name in enumerate(names):
        if not name:
            raise fail(header_line, f"column {position + 1} of the header has no name")
        if names.count(name) > 1:
            raise fail(header_line, f"column '{name}' appears more than once")
    states = tuple(name for name in names if name != TIME_COLUMN and name not in FIGURE_COLUMNS)
    figures = tuple(name for name in FIGURE_COLUMNS if name in names)
    if len(figures) == 1:
        (other,) = set(FIGURE_COLUMNS) - set(figures)
        raise fail(
            header_line,
            f"column '{figures[0]}' needs a '{other}' column too (the abandon rate is abandons / (handled + abandons))",
        )
    if not columns.available & set(states):
        wanted = ", ".join(sorted(columns.available))
        raise fail(header_line, f"no column for an available state ({wanted}); got {', '.join(states) or 'none'}")
    if len(lines) == 1:
        raise fail(header_line, "the trace is empty: a header but no rows")

    rows: list[Row] = []
    first_kind = ""
    for number, cells in lines[1:]:
        if len(cells) != len(names):
            raise fail(number, f"expected {len(names)} fields ({','.join(names)}), got {len(cells)}")
        values = dict(zip(names, (cell.strip() for cell in cells), strict=True))
        try:
            when, kind = _parse_time(values[TIME_COLUMN])
        except ValueError as exc:
            raise fail(number, f"bad time: {exc}") from None
        first_kind = first_kind or kind
        if kind != first_kind:
            raise fail(number, f"time {values[TIME_COLUMN]!r} is {_KINDS[kind]}, earlier rows use {_KINDS[first_kind]}")
        if rows and when <= rows[-1].time:
            raise fail(
                number, f"time {values[TIME_COLUMN]!r} is not after the previous row's; rows must be in time order"
            )
        counts: dict[str, int] = {}
        for column in (*states, *figures):
            text = values[column]
            what = "calls" if column in figures else "agents"
            if not _COUNT.match(text):
                raise fail(number, f"'{column}' is {text!r}, not a whole number of {what}")
            count = int(text)
            if count < 0:
                raise fail(number, f"'{column}' is {count}: a count of {what} cannot be negative")
            counts[column] = count
        available = sum(counts[state] for state in states if state in columns.available)
        busy = sum(counts[state] for state in states if state in columns.busy)
        acw = sum(counts[state] for state in states if state in columns.acw)
        total = sum(counts[state] for state in states)
        rows.append(Row(when, available, busy, acw, total, counts.get("abandons"), counts.get("handled")))
    return Trace(path, states, tuple(rows), first_kind == "clock", figures)


def with_guard_windows(trace: Trace, settings: Settings) -> Trace:
    """The trace with, on each row, the two windows the abandon guard would have judged at its time: the rows'
    calls summed over the spans a live run reads (:mod:`cxone_tune.abandon`). A time without an offset (and
    ``HH:MM``) is read in ``CXONE_ABANDON_TIME_ZONE``, the zone whose midnight starts the compliance day."""
    zone = time_zone(settings.abandon_time_zone)

    def moment(row: Row) -> datetime:
        return row.time if row.time.tzinfo is not None else row.time.replace(tzinfo=zone)

    log = abandon.CallLog(abandon.Calls(moment(row), row.abandons or 0, row.handled or 0) for row in trace.rows)
    rows = tuple(replace(row, abandon=log.figures(settings, moment(row))) for row in trace.rows)
    return replace(trace, rows=rows)


# -- simulation --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRun:
    """What one policy did (or, for --history, what was written) over the rows."""

    name: str
    label: str  # as the chart and the table show it
    rule: str
    options: dict[str, Any]  # the options that differ from the design's (all off)
    limits: tuple[Value, ...]  # the value in force after each row, until the next
    changes: int  # writes: rows after which the value in force differed from the one before
    idle_agent_minutes: float | None  # None: a per-agent ratio, which has no line count to set against capacity
    over_dial_minutes: float | None
    fired: tuple[tuple[str, ...], ...] = ()  # per row, the steps that changed the value (the chart can mark them)
    guard: tuple[str | None, ...] = ()  # per row, what the abandon guard did (GuardResult.action); None: it did not run
    guard_marks: tuple[str, ...] = ()  # per row, what that did to the value: "held", "cut" or "" (guard_effect)

    @property
    def min(self) -> Value:
        return min(self.limits)

    @property
    def max(self) -> Value:
        return max(self.limits)

    @property
    def mean(self) -> float:
        return float(sum(self.limits)) / len(self.limits)

    @property
    def guard_ran(self) -> bool:
        return any(action is not None for action in self.guard)

    @property
    def guard_held_rows(self) -> tuple[int, ...]:
        """Rows where the abandon guard held a raise at the value in force."""
        return tuple(index for index, mark in enumerate(self.guard_marks) if mark == "held")

    @property
    def guard_cut_rows(self) -> tuple[int, ...]:
        """Rows where the abandon guard lowered the value (half the headroom above 1.0, or 1.0)."""
        return tuple(index for index, mark in enumerate(self.guard_marks) if mark == "cut")

    @property
    def guard_held(self) -> int:
        return len(self.guard_held_rows)

    @property
    def guard_cut(self) -> int:
        return len(self.guard_cut_rows)

    def steps_fired(self) -> dict[str, int]:
        """How many rows each step changed the value in, by the step's name."""
        return dict(sorted(Counter(rule for rules in self.fired for rule in rules).items()))


@dataclass(frozen=True)
class World:
    """What the replayed runs met besides their own counts (for --history): the value in force when the first one
    ran, values set from outside before a run (by hand with ``apply``, by another writer), earlier runs that fill
    the decision memory (with the value in force each met), and the longest interval the minutes measure."""

    start: Value | None = None
    resets: Mapping[int, Value] = field(default_factory=dict)  # row index -> value in force set before it
    earlier: tuple[tuple[Row, Value | None], ...] = ()
    max_interval: timedelta | None = None


def policy_inputs(row: Row, current: Value | None, recent: tuple[Value, ...], *, guard: bool = False) -> Inputs:
    """What the policy reads at one row: the one place a replayed row becomes :class:`policy.Inputs`. ``guard``:
    the abandon guard runs, on the row's windows (a row without them: it does not, as a live run without figures)."""
    return Inputs(row.pool(), current, recent, row.abandon if guard else None)


def _evaluate(
    row: Row, params: Params, options: Options, current: Value | None, recent: list[Value], guard: bool
) -> Evaluation:
    # ``recent`` is what run-once's decision memory would hold: the last proposals, newest last.
    return run(policy_inputs(row, current, tuple(recent[-KEEP:]), guard=guard), params, options)


def guard_effect(action: str | None, before: Value | None, after: Value) -> str:
    """What the abandon guard's action did to the value at a row: "cut" (it acted and the value fell below the one
    in force, or nothing was in force), "held" (it acted and the value stayed: a raise held, or a ratio already at
    1.0 kept there), or "" (it did not act)."""
    if action is None or action == "none":
        return ""
    return "cut" if before is None or after < before else "held"


def _fired(evaluation: Evaluation) -> tuple[str, ...]:
    return tuple(step.rule for step in evaluation.steps if step.before is not None and step.fired)


def minutes(
    rows: Sequence[Row], limits: Sequence[Value], *, max_interval: timedelta | None = None
) -> tuple[float, float]:
    """Idle-agent and over-dial minutes of line counts in force: each limit against the next row's capacity."""
    idle = over = 0.0
    for (row, following), limit in zip(pairwise(rows), limits[:-1], strict=True):
        interval = following.time - row.time
        if max_interval is not None and interval > max_interval:
            continue  # a gap: what capacity did in it is unknown
        span = interval.total_seconds() / 60
        idle += max(0, following.capacity - limit) * span
        over += max(0, limit - following.capacity) * span
    return idle, over


def _measured(
    params: Params, rows: Sequence[Row], limits: Sequence[Value], world: World
) -> tuple[float | None, float | None]:
    if not isinstance(params, PolicyParams):
        return None, None
    return minutes(rows, limits, max_interval=world.max_interval)


def simulate(
    trace: Trace,
    params: Params,
    options: Options,
    *,
    name: str = "",
    world: World | None = None,
    guard: bool = False,
) -> PolicyRun:
    """Feed the trace's rows through the policy, one scheduler tick per row, as run-once would have run them
    (``guard``: with the abandon guard, on the rows that carry its windows)."""
    world = world or World()
    recent: list[Value] = []
    for row, in_force in world.earlier:  # runs before the window: they only fill the memory
        recent.append(_evaluate(row, params, options, in_force, recent, guard).proposal)
    current = world.start
    limits: list[Value] = []
    fired: list[tuple[str, ...]] = []
    actions: list[str | None] = []
    marks: list[str] = []
    changes = 0
    for index, row in enumerate(trace.rows):
        current = world.resets.get(index, current)
        evaluation = _evaluate(row, params, options, current, recent, guard)
        limit = evaluation.decision.limit
        if current is not None and limit != current:
            changes += 1
        limits.append(limit)
        fired.append(_fired(evaluation))
        actions.append(None if evaluation.guard is None else evaluation.guard.action)
        marks.append(guard_effect(actions[-1], current, limit))
        recent.append(evaluation.proposal)
        current = limit
    idle, over = _measured(params, trace.rows, limits, world)
    # the design's rule with the guard is not the design's rule any more: a label of its own beside the baseline
    label = f"configured ({name})" if name and (name != "design" or guard) else "design rule"
    rule = _rule(params, options)
    return PolicyRun(
        name,
        label,
        rule,
        _changed_options(options),
        tuple(limits),
        changes,
        idle,
        over,
        tuple(fired),
        tuple(actions),
        tuple(marks),
    )


def _plain(value: Decimal) -> Value:
    return int(value) if value == value.to_integral_value() else float(value)


def _changed_options(options: Options) -> dict[str, Any]:
    default = Options()
    changed: dict[str, Any] = {}
    for name in Options.__dataclass_fields__:
        value = getattr(options, name)
        if value != getattr(default, name):
            changed[name] = _plain(value) if isinstance(value, Decimal) else value
    return changed


def _rule(params: Params, options: Options) -> str:
    counted = "eligible agents" if options.acw_weight or options.count_busy else "available agents"
    if isinstance(params, RatioParams):
        steps = ",".join(f"{agents}:{ratio}" for agents, ratio in params.steps)
        return f"ratio by {counted} from the step table {steps}, clamped to [{params.min_ratio}, {params.max_ratio}]"
    percent = f"{(params.safety_factor * 100).normalize():f}%"
    return f"floor({percent} of {counted}), clamped to [{params.min_limit}, {params.max_limit}]"


@dataclass(frozen=True)
class History:
    """What ``--history`` found in the audit log for one target, besides the rows it replays."""

    log: Path
    ref: TargetRef
    name: str | None  # the config file's name for the target (None: the environment's one target)
    since: datetime | None
    replayed: int = 0
    dry_runs: int = 0
    failed: int = 0
    manual: int = 0  # apply records: values set by hand
    unknown: int = 0  # writes attempted with no completed record (a run killed mid-write)
    outside: int = 0  # runs that found a value in force other than the one the log last left
    malformed: int = 0  # records without the counts or values a replay needs
    earlier: int = 0  # runs before --since that fill the decision memory
    unreadable: int = 0  # lines of the log that are not JSON objects (read_log skips them)
    other_targets: dict[str, int] = field(default_factory=dict)  # "profile:id" -> records, of other targets
    gaps: int = 0
    usual_interval: timedelta | None = None
    same_as_recorded: bool = False  # the configured policy wrote exactly what was recorded, run by run


@dataclass(frozen=True)
class GuardFacts:
    """The abandon guard in a replay: whether it runs for the target (``abandon.status``), its windows and
    thresholds as configured, and the rows replayed without it for want of figures."""

    status: str  # "on", "off" or "not available on this API"
    short: str  # the windows' labels
    compliance: str
    setpoint_pct: Decimal
    cap_pct: Decimal
    min_calls: int
    without_figures: int = 0  # rows the configured policy replayed without the guard (status "on" only)

    @classmethod
    def of(cls, settings: Settings, without_figures: int = 0) -> GuardFacts:
        short, compliance = abandon.labels(settings)
        return cls(
            abandon.status(settings),
            short,
            compliance,
            settings.abandon_setpoint_pct,
            settings.abandon_cap_pct,
            settings.abandon_min_calls,
            without_figures,
        )

    @property
    def on(self) -> bool:
        return self.status == "on"


@dataclass(frozen=True)
class Replay:
    trace: Trace
    configured: PolicyRun
    baseline: PolicyRun  # the design's rule (a trace) or what was written (--history)
    notes: tuple[str, ...] = ()
    value_kind: Literal["count", "ratio"] = "count"
    field: str = ""  # the steered field, as operators see it
    history: History | None = None
    guard: GuardFacts | None = None

    @property
    def guard_ran(self) -> bool:
        """The abandon guard ran on either side (the table then counts what it did)."""
        return self.configured.guard_ran or self.baseline.guard_ran

    @property
    def design(self) -> PolicyRun:
        """The baseline under its older name (a trace's baseline is the design's rule)."""
        return self.baseline

    @property
    def saved(self) -> int:
        """Writes the configured policy makes fewer than the baseline (negative: more)."""
        return self.baseline.changes - self.configured.changes


def _policy_name(settings: Settings, options: Options) -> str:
    # The preset as the Job builds it for this kind of value (a ratio's deadband is its own), no option set alone.
    alone = settings.model_copy(update=dict.fromkeys(Options.__dataclass_fields__))
    preset = cycle.policy_options(alone)
    return settings.policy if options == preset else f"{settings.policy} with overrides"


def _configured(settings: Settings) -> tuple[Params, Options, str]:
    """The configured rule and options, asked of the settings as the Job asks them (line count or ratio)."""
    options = cycle.policy_options(settings)
    return cycle.policy_params(settings), options, _policy_name(settings, options)


def replay(path: Path, settings: Settings) -> Replay:
    """Replay a trace with the configured policy and with the design's rule (the configured rule, no option on)."""
    params, options, name = _configured(settings)
    trace = load_trace(path, Columns.of(settings))
    facts = GuardFacts.of(settings)
    guard = facts.on and bool(trace.figures)
    if guard:
        trace = with_guard_windows(trace, settings)
    elif facts.on:
        facts = replace(facts, without_figures=len(trace.rows))
    configured = simulate(trace, params, options, name=name, guard=guard)
    design = simulate(trace, params, Options(), name="design")
    notes = []
    if options == Options() and not guard:
        notes.append("the configured policy is the design's rule: both columns are the same")
    notes.extend(_trace_guard_notes(facts, trace, guard))
    ref = settings.profile_class.target_ref(settings)
    return Replay(trace, configured, design, tuple(notes), settings.value_kind, ref.field, guard=facts)


def _trace_guard_notes(facts: GuardFacts, trace: Trace, guard: bool) -> list[str]:
    columns = "the trace's abandons and handled columns"
    if guard:
        return [
            f"the abandon guard runs on the configured policy's side, on {columns} summed by window "
            f"({facts.short}; {facts.compliance}); the design's rule runs without it"
        ]
    if facts.on:
        return ["the trace has no abandons and handled columns: the abandon guard is not replayed"]
    if not trace.figures:
        return []
    if facts.status == "off":
        return [f"{columns} are not used: the abandon guard is off (CXONE_ABANDON_GUARD=false)"]
    return [f"{columns} are not used: the abandon guard is {facts.status}"]


def run_replay(path: Path | None, settings: Settings, out: Console, *, json_output: bool, width: int | None) -> None:
    """The ``replay TRACE`` command: load and check the trace, simulate both policies, print a chart and a table
    (or one JSON document). Every problem with the trace is a :class:`UsageError` (exit 2)."""
    if path is None:
        raise UsageError("replay needs a TRACE.csv, or --history to replay the audit log's runs")
    _check_width(width)
    result = replay(path, settings)
    if json_output:
        out.out(json.dumps(documents.replay_document(result), indent=2), highlight=False)
        return
    print_replay(out, result, width)


def _check_width(width: int | None) -> None:
    if width is not None and width < MIN_CHART_WIDTH:
        raise UsageError(f"--width must be at least {MIN_CHART_WIDTH} columns, got {width}")


# -- --history: the audit log's runs -----------------------------------------------------------------------------


def parse_since(text: str) -> datetime:
    """``--since``: an ISO 8601 date (local midnight) or date and time, local unless it carries ``Z`` or an
    offset; an aware datetime."""
    value = text.strip()
    iso = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f"--since: {text!r} is not an ISO 8601 date or time (e.g. 2024-06-11, 2024-06-11T08:00, 2024-06-11T06:00Z)"
        ) from None
    return parsed.astimezone()  # a naive time is local time


def _describe(ref: TargetRef) -> str:
    return f"{ref.profile} {ref.kind} {ref.id}"


def _key(ref: TargetRef) -> str:
    return f"{ref.profile}:{ref.id}"


def choose_target(targets: Sequence[tuple[str | None, Settings]], wanted: str | None) -> tuple[str | None, Settings]:
    """The one target whose history to replay: the only one configured, or the one ``--target`` names (a config
    file target's name, the steered id, or PROFILE:ID). Several and none named is a usage error naming them."""

    def choice(name: str | None, settings: Settings) -> str:
        ref = settings.profile_class.target_ref(settings)
        return f"{name} ({_key(ref)})" if name is not None else _key(ref)

    choices = ", ".join(choice(name, settings) for name, settings in targets)
    if wanted is None:
        if len(targets) == 1:
            return targets[0]
        raise UsageError(f"replay --history replays one target at a time; choose one with --target ({choices})")
    matches = []
    for name, settings in targets:
        ref = settings.profile_class.target_ref(settings)
        if wanted in (name, ref.id, _key(ref)):
            matches.append((name, settings))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"--target {wanted!r} names several targets; use PROFILE:ID ({choices})")
    raise UsageError(f"--target {wanted!r} is not a configured target ({choices})")


def _time(record: Mapping[str, Any]) -> datetime | None:
    text = record.get("time")
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or timezone.utc).astimezone()


def _count(record: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = record.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _value(record: Mapping[str, Any], key: str) -> Value | None:
    value = record.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


Kind = Literal["run", "manual", "dry", "failed", "unknown", "malformed"]


def _kind(record: Mapping[str, Any]) -> Kind:
    """What a record of the target is to a replay."""
    if record.get("outcome") == audit.UNKNOWN:
        return "unknown"
    command = record.get("command")
    if command not in ("run-once", "apply"):
        return "malformed"
    if record.get("dry_run") is True:
        return "dry"
    if record.get("exit_code") != 0 or record.get("error"):
        return "failed"
    if _value(record, "previous_limit") is None or _value(record, "limit") is None:
        return "malformed"
    if command == "apply":
        return "manual"
    if _row(record) is None or not isinstance(record.get("applied"), bool):
        return "malformed"
    return "run"


def _row(record: Mapping[str, Any]) -> Row | None:
    """The counts a run saw, as a row: the agents available, on a contact, in after-call work, in all; and the
    abandon guard's two windows as the run read them (``guard.windows``; None: the record has none)."""
    when = _time(record)
    total, available = _count(record, "total_agents"), _count(record, "available_agents")
    busy, acw = _count(record, "busy_agents", 0), _count(record, "acw_agents", 0)
    if when is None or total is None or available is None or busy is None or acw is None:
        return None
    return Row(when, available, busy, acw, total, abandon=_recorded_windows(record))


def _recorded_windows(record: Mapping[str, Any]) -> AbandonFigures | None:
    """The guard's windows an audit record carries (``abandon.GuardReport.document``), as the policy read them:
    a window with its counts, or unreadable with the run's error. None: no windows, or not of that shape."""
    guard = record.get("guard")
    windows = guard.get("windows") if isinstance(guard, dict) else None
    if not isinstance(windows, dict):
        return None
    short, compliance = _recorded_window(windows.get("short")), _recorded_window(windows.get("compliance"))
    if short is None or compliance is None:
        return None
    return AbandonFigures(short, compliance)


def _recorded_window(window: Any) -> WindowCounts | None:
    if not isinstance(window, dict):
        return None
    label = window.get("label")
    label = label if isinstance(label, str) else ""
    abandons, handled = _count(window, "abandons"), _count(window, "handled")
    if abandons is not None and handled is not None:
        return WindowCounts(label, abandons, handled)
    if window.get("abandons") is None and window.get("handled") is None:  # the run could not read it
        error = window.get("error")
        return WindowCounts(label, reason=error if isinstance(error, str) and error else "unreadable")
    return None


def _recorded_action(record: Mapping[str, Any]) -> str | None:
    """What the abandon guard did in a recorded run (None: it did not run, or the record does not say)."""
    guard = record.get("guard")
    action = guard.get("action") if isinstance(guard, dict) else None
    return action if action in GUARD_ACTIONS else None


def _after(record: Mapping[str, Any]) -> Value:
    """The value in force after a completed run: the one written, or the one it found."""
    value = _value(record, "limit") if record.get("applied") else _value(record, "previous_limit")
    assert value is not None  # _kind checked both
    return value


def _recorded_fired(record: Mapping[str, Any]) -> tuple[str, ...]:
    steps = record.get("steps")
    if not isinstance(steps, list):
        return ()
    return tuple(
        str(step.get("rule"))
        for step in steps
        if isinstance(step, dict) and step.get("fired") is True and step.get("before") is not None
    )


def _span(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    if seconds >= 120:
        return f"{seconds / 60:g} min"
    return f"{seconds:.3g} s"


def replay_history(settings: Settings, *, name: str | None = None, since: datetime | None = None) -> Replay:
    """Replay the completed ``run-once`` runs of the configured target in the audit log, through the configured
    policy, against what was written. The value in force at the first run, values set by hand (``apply``) or by
    another writer before a run, and the decision memory of the runs before ``since`` are the real ones."""
    profile = settings.profile_class
    require(settings, profile.target_setting)  # the target whose history this is
    ref = profile.target_ref(settings)
    log_dir = settings.resolved_state_dir()
    path = audit.audit_path(log_dir)
    log = audit.read_log(log_dir)
    mine: list[dict[str, Any]] = []
    others: Counter[str] = Counter()
    for record in log.records:
        key = f"{record.get('profile')}:{record.get('target')}"
        if key == _key(ref):
            mine.append(record)
        else:
            others[printable(key)] += 1
    # in time order (the log is, unless a clock stepped back); records without a time sort first, as malformed
    mine.sort(key=lambda record: _time(record) or datetime.min.replace(tzinfo=timezone.utc))

    tallies: Counter[str] = Counter()
    rows: list[Row] = []
    recorded: list[Value] = []
    recorded_fired: list[tuple[str, ...]] = []
    recorded_guard: list[str | None] = []
    recorded_marks: list[str] = []
    recorded_writes = 0
    earlier: list[tuple[Row, Value | None]] = []
    start: Value | None = None
    resets: dict[int, Value] = {}
    in_force: Value | None = None  # the value the log last left in force
    set_by_hand = False  # an apply since the last run
    for record in mine:
        kind = _kind(record)
        when = _time(record)
        if since is not None and when is not None and when < since:
            if kind == "run":
                row = _row(record)
                assert row is not None
                earlier.append((row, _value(record, "previous_limit")))
                tallies["earlier"] += 1
            continue
        if kind == "manual":
            tallies["manual"] += 1
            in_force, set_by_hand = _value(record, "limit"), True
            continue
        if kind != "run":
            tallies[kind] += 1
            continue
        row = _row(record)
        assert row is not None
        found = _value(record, "previous_limit")
        assert found is not None
        if not rows:
            start = found
        elif set_by_hand or found != in_force:
            resets[len(rows)] = found  # both sides go on from the value the run found
            if found != in_force:
                tallies["outside"] += 1
        set_by_hand = False
        rows.append(row)
        recorded.append(_after(record))
        recorded_fired.append(_recorded_fired(record))
        recorded_guard.append(_recorded_action(record))
        recorded_marks.append(guard_effect(recorded_guard[-1], found, _after(record)))
        recorded_writes += bool(record.get("applied"))
        in_force = recorded[-1]

    window = f" since {since.isoformat(timespec='minutes')}" if since is not None else ""
    if not rows:
        raise NothingToReplay(_nothing(path, log, ref, window, tallies, others))

    intervals = [following.time - row.time for row, following in pairwise(rows)]
    # the usual interval between runs (the timer's period), from the median: failed runs and pauses do not move it
    usual = timedelta(seconds=statistics.median(i.total_seconds() for i in intervals)) if len(intervals) >= 3 else None
    max_interval = usual * GAP_FACTOR if usual else None
    gaps = sum(1 for interval in intervals if max_interval is not None and interval > max_interval)
    world = World(start, resets, tuple(earlier[-KEEP:]), max_interval)

    params, options, policy = _configured(settings)
    trace = Trace(path, (), tuple(rows), clock_times=False)
    guard = GuardFacts.of(settings)
    if guard.on:
        guard = replace(guard, without_figures=sum(row.abandon is None for row in rows))
    configured = simulate(trace, params, options, name=policy, world=world, guard=guard.on)
    idle, over = _measured(params, rows, recorded, world)
    baseline = PolicyRun(
        "recorded",
        "recorded",
        "the values run-once wrote, as the audit log holds them (the policy then configured)",
        {},
        tuple(recorded),
        recorded_writes,
        idle,
        over,
        tuple(recorded_fired),
        tuple(recorded_guard),
        tuple(recorded_marks),
    )
    facts = History(
        log=path,
        ref=ref,
        name=name,
        since=since,
        replayed=len(rows),
        dry_runs=tallies["dry"],
        failed=tallies["failed"],
        manual=tallies["manual"],
        unknown=tallies["unknown"],
        outside=tallies["outside"],
        malformed=tallies["malformed"],
        earlier=min(tallies["earlier"], KEEP),
        unreadable=log.skipped,
        other_targets=dict(sorted(others.items())),
        gaps=gaps,
        usual_interval=usual,
        same_as_recorded=configured.limits == baseline.limits,
    )
    notes = _history_notes(facts, options) + _history_guard_notes(guard, rows)
    return Replay(trace, configured, baseline, notes, settings.value_kind, ref.field, facts, guard)


def _history_guard_notes(guard: GuardFacts, rows: Sequence[Row]) -> tuple[str, ...]:
    recorded = sum(row.abandon is not None for row in rows)
    if guard.on and guard.without_figures:
        runs = plural(guard.without_figures, "run")
        return (f"{runs} recorded no abandon figures (before the guard, or with it off): replayed without the guard",)
    if not guard.on and recorded:
        why = "is off (CXONE_ABANDON_GUARD=false)" if guard.status == "off" else f"is {guard.status}"
        return (f"the abandon guard {why}: the configured policy is replayed without the figures the runs recorded",)
    return ()


def _nothing(
    path: Path, log: audit.AuditLog, ref: TargetRef, window: str, tallies: Counter[str], others: Counter[str]
) -> str:
    """Why there is nothing to replay, in one line."""
    head = f"nothing to replay: {path}"
    if not log.records:
        return f"{head} holds no records" if path.exists() else f"{head} does not exist (no run recorded yet)"
    skipped = [
        plural(tallies[kind], label)
        for kind, label in (
            ("dry", "dry run"),
            ("failed", "failed run"),
            ("manual", "apply"),
            ("unknown", "write of unknown outcome"),
            ("malformed", "unusable record"),
        )
        if tallies[kind]
    ]
    if tallies["earlier"]:
        skipped.append(f"{plural(tallies['earlier'], 'completed run')} before that")
    if skipped:
        return f"{head} holds no completed run-once of {_describe(ref)}{window} ({', '.join(skipped)})"
    held = ", ".join(f"{key} ({count})" for key, count in sorted(others.items()))
    return f"{head} holds no records of {_describe(ref)}{window} (it holds: {held})"


def _history_notes(history: History, options: Options) -> tuple[str, ...]:
    notes = []
    if history.earlier and options.raise_after_runs > 1:
        notes.append(f"{plural(history.earlier, 'run')} before --since fill the decision memory, as they did")
    for count, text in (
        (history.dry_runs, "dry run not replayed: it wrote nothing and left the decision memory alone"),
        (history.failed, "failed run not replayed: it saw no counts, wrote nothing and remembered nothing"),
        (history.manual, "value set by hand (apply), not by a policy: both sides go on from it"),
        (
            history.unknown,
            "write of unknown outcome (a run killed mid-write): the next run's value in force says what happened",
        ),
        (
            history.outside,
            "time a run found a value in force other than the log last left (another writer, or a write of "
            "unknown outcome): both sides go on from the value it found",
        ),
        (history.malformed, "record without the counts or values a replay needs, skipped"),
    ):
        if count:
            notes.append(f"{count} {text}" if count == 1 else f"{count} x {text}")
    if history.gaps and history.usual_interval is not None:
        notes.append(
            f"{plural(history.gaps, 'gap')} longer than {GAP_FACTOR}x the usual {_span(history.usual_interval)} "
            "between runs left out of the minutes (no counts were taken in it)"
        )
    if history.other_targets:
        held = ", ".join(f"{key} ({count})" for key, count in history.other_targets.items())
        notes.append(f"the log also holds records of other targets, not replayed: {held}")
    if history.same_as_recorded:
        notes.append("the configured policy writes exactly what was recorded, run by run")
    return tuple(notes)


def run_history(
    targets: Sequence[tuple[str | None, Settings]],
    out: Console,
    *,
    since: str | None,
    target: str | None,
    json_output: bool,
    width: int | None,
    trace: Path | None = None,
) -> None:
    """The ``replay --history`` command: one target's recorded runs through the configured policy, against what
    was written; a chart and a table (or one JSON document). Nothing to replay is :class:`NothingToReplay`."""
    if trace is not None:
        raise UsageError("replay takes a TRACE or --history, not both")
    _check_width(width)
    start = parse_since(since) if since is not None else None
    name, settings = choose_target(targets, target)
    result = replay_history(settings, name=name, since=start)
    if json_output:
        out.out(json.dumps(documents.history_replay_document(result), indent=2), highlight=False)
        return
    print_replay(out, result, width)
