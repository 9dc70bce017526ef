"""Replay a recorded day of agent states through the policy: ``cxone-tune replay TRACE.csv``.

A trace is a CSV file with a header ``time,<state>,<state>,...`` (v2 state names, case-insensitive) and one row
per scheduler tick: the time (ISO 8601 or ``HH:MM``) and how many agents were in each state. Each row is fed to
the same pipeline ``run-once`` uses (:func:`cxone_tune.policy.evaluate`), with the value the previous row decided
in force, once for the configured policy and once for the design's rule, and the two are compared:

- changes: how often the limit in force changed (each one is a write to the tenant);
- idle-agent minutes: capacity (agents available or on a contact) above the limit, times the minutes it lasted;
- over-dial minutes: the limit above capacity, times the minutes it lasted.

A limit decided at one row is in force until the next row, and is measured against the capacity of that next
row: the tool always acts on a snapshot that is five minutes old by the time the next one is taken.

This module reads the trace (:func:`load_trace`) and simulates (:func:`simulate`, :func:`replay`); the chart and
the table are drawn by :mod:`cxone_tune.chart`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from cxone_tune import cycle
from cxone_tune.chart import MIN_CHART_WIDTH, print_replay
from cxone_tune.errors import UsageError
from cxone_tune.memory import KEEP
from cxone_tune.policy import Options, PolicyParams, Pool, Value, evaluate
from cxone_tune.settings import Settings

BUSY_STATES = frozenset({"in-progress"})
ACW_STATES = frozenset({"wrap-up"})
KNOWN_STATES = ("available", "in-progress", "wrap-up", "unavailable", "logged-out")
TIME_COLUMN = "time"


# -- reading a trace ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One snapshot of the agents: who could take a call, who was on one, who was wrapping up."""

    time: datetime
    available: int
    busy: int
    acw: int
    total: int

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

    def label(self, when: datetime, *, full: bool = False) -> str:
        """A time as the trace writes it: HH:MM for a day without a date (or a trace within one day), the
        date too when the trace spans days, or the whole ISO time (``full``)."""
        if self.clock_times:
            return when.strftime("%H:%M")
        if full:
            return when.isoformat()
        same_day = self.rows[0].time.date() == self.rows[-1].time.date()
        return when.strftime("%H:%M" if same_day else "%m-%d %H:%M")


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


def load_trace(path: Path, available_states: Sequence[str] = ("available",)) -> Trace:
    """Read and check a trace; every problem is one :class:`UsageError` line naming the file and the line."""
    available_names = frozenset(state.lower() for state in available_states)
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
    states = tuple(name for name in names if name != TIME_COLUMN)
    if not available_names & set(states):
        wanted = ", ".join(sorted(available_names))
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
        for state in states:
            text = values[state]
            if not _COUNT.match(text):
                raise fail(number, f"'{state}' is {text!r}, not a whole number of agents")
            count = int(text)
            if count < 0:
                raise fail(number, f"'{state}' is {count}: a count of agents cannot be negative")
            counts[state] = count
        available = sum(n for state, n in counts.items() if state in available_names)
        busy = sum(n for state, n in counts.items() if state in BUSY_STATES and state not in available_names)
        acw = sum(n for state, n in counts.items() if state in ACW_STATES and state not in available_names)
        rows.append(Row(when, available, busy, acw, sum(counts.values())))
    return Trace(path, states, tuple(rows), first_kind == "clock")


# -- simulation --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRun:
    """What one policy did over a trace."""

    name: str
    rule: str
    options: dict[str, Any]  # the options that differ from the design's (all off)
    limits: tuple[Value, ...]  # the limit decided at each row, in force until the next
    changes: int
    idle_agent_minutes: float
    over_dial_minutes: float

    @property
    def min(self) -> Value:
        return min(self.limits)

    @property
    def max(self) -> Value:
        return max(self.limits)

    @property
    def mean(self) -> float:
        return float(sum(self.limits)) / len(self.limits)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "rule": self.rule,
            "options": self.options,
            "changes": self.changes,
            "idle_agent_minutes": round(self.idle_agent_minutes, 2),
            "over_dial_minutes": round(self.over_dial_minutes, 2),
            "min": self.min,
            "max": self.max,
            "mean": round(self.mean, 2),
            "limits": list(self.limits),
        }


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


def _rule(params: PolicyParams, options: Options) -> str:
    percent = f"{(params.safety_factor * 100).normalize():f}%"
    counted = "eligible agents" if options.acw_weight or options.count_busy else "available agents"
    return f"floor({percent} of {counted}), clamped to [{params.min_limit}, {params.max_limit}]"


def simulate(trace: Trace, params: PolicyParams, options: Options, *, name: str = "") -> PolicyRun:
    """Feed the trace's rows through :func:`evaluate`, one scheduler tick per row."""
    current: Value | None = None
    recent: list[Value] = []
    limits: list[Value] = []
    changes = 0
    for row in trace.rows:
        # ``recent`` is what run-once's decision memory would hold: the last proposals, newest last.
        evaluation = evaluate(row.pool(), params, options, current, tuple(recent[-KEEP:]))
        limit = evaluation.decision.limit
        if current is not None and limit != current:
            changes += 1
        limits.append(limit)
        recent.append(evaluation.proposal)
        current = limit
    idle = over = 0.0
    for (row, following), limit in zip(pairwise(trace.rows), limits[:-1], strict=True):
        minutes = (following.time - row.time).total_seconds() / 60
        idle += max(0, following.capacity - limit) * minutes
        over += max(0, limit - following.capacity) * minutes
    return PolicyRun(name, _rule(params, options), _changed_options(options), tuple(limits), changes, idle, over)


@dataclass(frozen=True)
class Replay:
    trace: Trace
    configured: PolicyRun
    design: PolicyRun
    notes: tuple[str, ...] = ()


def _policy_name(settings: Settings, options: Options) -> str:
    preset = Options(**cycle.STABLE_PRESET) if settings.policy == "stable" else Options()
    return settings.policy if options == preset else f"{settings.policy} with overrides"


def replay(path: Path, settings: Settings) -> Replay:
    """Replay a trace with the configured policy and with the design's rule."""
    notes: list[str] = []
    count_settings = settings
    if settings.value_kind == "ratio":
        # A trace replays a line count: steer the count rule with the same safety factor, bounds and options.
        count_settings = settings.model_copy(update={"pacing_kind": "count"})
        notes.append(
            f"the configured profile steers a per-agent ratio ({settings.pacing_field}); the replay uses the "
            f"line-count rule with CXONE_SAFETY_FACTOR={settings.safety_factor} and limits "
            f"[{settings.min_limit}, {settings.max_limit}]"
        )
    params = cycle.policy_params(count_settings)
    if not isinstance(params, PolicyParams):  # never: a count profile has a count rule
        params = PolicyParams(settings.safety_factor, settings.min_limit, settings.max_limit)
    options = cycle.policy_options(count_settings)
    design_params = PolicyParams(settings.safety_factor, settings.min_limit, settings.max_limit)
    trace = load_trace(path, settings.available_state_names())
    configured = simulate(trace, params, options, name=_policy_name(settings, options))
    design = simulate(trace, design_params, Options(), name="design")
    if options == Options() and params == design_params:
        notes.append("the configured policy is the design's rule: both columns are the same")
    return Replay(trace, configured, design, tuple(notes))


def replay_json(result: Replay) -> dict[str, Any]:
    trace = result.trace
    return {
        "trace": str(trace.path),
        "rows": len(trace.rows),
        "start": trace.label(trace.rows[0].time, full=True),
        "end": trace.label(trace.rows[-1].time, full=True),
        "notes": list(result.notes),
        "policies": {"configured": result.configured.to_json(), "design": result.design.to_json()},
    }


def run_replay(path: Path, settings: Settings, out: Console, *, json_output: bool, width: int | None) -> None:
    """The ``replay`` command: load and check the trace, simulate both policies, print a chart and a table (or
    one JSON document). Every problem with the trace is a :class:`UsageError` (exit 2)."""
    if width is not None and width < MIN_CHART_WIDTH:
        raise UsageError(f"--width must be at least {MIN_CHART_WIDTH} columns, got {width}")
    result = replay(path, settings)
    if json_output:
        out.out(json.dumps(replay_json(result), indent=2), highlight=False)
        return
    print_replay(out, result, width)
