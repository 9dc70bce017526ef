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
"""

from __future__ import annotations

import csv
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cxone_tune import cycle
from cxone_tune.errors import UsageError
from cxone_tune.memory import KEEP
from cxone_tune.policy import Options, PolicyParams, Pool, Value, evaluate
from cxone_tune.settings import Settings

BUSY_STATES = frozenset({"in-progress"})
ACW_STATES = frozenset({"wrap-up"})
KNOWN_STATES = ("available", "in-progress", "wrap-up", "unavailable", "logged-out")
TIME_COLUMN = "time"

CHART_HEIGHT = 13  # rows of the plot, 0 included: the scale has 12 steps
MIN_CHART_WIDTH = 40


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


def load_trace(path: Path, available_states: Sequence[str] = ("available",)) -> Trace:
    """Read and check a trace; every problem is one :class:`UsageError` line naming the file and the line."""
    available_names = frozenset(state.lower() for state in available_states)
    lines: list[tuple[int, list[str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
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
        "start": _label(trace, trace.rows[0].time, full=True),
        "end": _label(trace, trace.rows[-1].time, full=True),
        "notes": list(result.notes),
        "policies": {"configured": result.configured.to_json(), "design": result.design.to_json()},
    }


# -- rendering ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    char: str
    style: str
    values: tuple[float, ...]


def _label(trace: Trace, when: datetime, *, full: bool = False) -> str:
    if trace.clock_times:
        return when.strftime("%H:%M")
    if full:
        return when.isoformat()
    same_day = trace.rows[0].time.date() == trace.rows[-1].time.date()
    return when.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def chart_series(result: Replay) -> list[Series]:
    """What the chart draws, bottom layer first (a later series is drawn over an earlier one)."""
    rows = result.trace.rows
    return [
        Series("capacity (available + on a call)", "#", "blue", tuple(float(r.capacity) for r in rows)),
        Series("available", ".", "green", tuple(float(r.available) for r in rows)),
        Series("design rule", "x", "red", tuple(float(v) for v in result.design.limits)),
        Series(
            f"configured ({result.configured.name})",
            "o",
            "bold yellow",
            tuple(float(v) for v in result.configured.limits),
        ),
    ]


_NICE_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)


def _scale_step(value: float) -> int:
    """The smallest "nice" step such that four steps reach ``value``: the y axis is labelled at 0..4 steps."""
    for step in _NICE_STEPS:
        if value <= step * 4:
            return step
    magnitude = 100
    while value > magnitude * 4:
        magnitude *= 2
    return magnitude


def _buckets(rows: int, columns: int) -> list[range]:
    """The rows each column shows: a bucket of rows, or one row stretched over several columns."""
    buckets = []
    for column in range(columns):
        start = column * rows // columns
        buckets.append(range(start, max(start + 1, (column + 1) * rows // columns)))
    return buckets


def chart(result: Replay, width: int, *, ascii_only: bool = False) -> Text:
    """A step chart of the trace: time across, agents or lines up, one character (and colour) per series."""
    rows = result.trace.rows
    series = chart_series(result)
    step = _scale_step(max(max(item.values) for item in series))
    top = step * 4
    scale_rows = CHART_HEIGHT - 1  # a multiple of 4, so every labelled row is a whole number
    axis_width = len(str(top)) + 2  # "40 ┤"
    columns = max(MIN_CHART_WIDTH, width) - axis_width
    vertical, tick, corner, horizontal, mark = ("|", "+", "+", "-", "+") if ascii_only else ("│", "┤", "└", "─", "┴")

    def level(value: float) -> int:
        return min(scale_rows, max(0, round(value / top * scale_rows)))

    # A series fills the cells between its lowest and highest level within a column's bucket and its level in
    # the column before: a step is a vertical stroke, and a limit that flaps within a bucket shows as a bar
    # rather than disappearing into an average.
    buckets = _buckets(len(rows), columns)
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * columns for _ in range(scale_rows + 1)]
    for item in series:
        previous: int | None = None
        for column, bucket in enumerate(buckets):
            levels = [level(item.values[i]) for i in bucket]
            low, high = min(levels), max(levels)
            if previous is not None:
                low, high = min(low, previous), max(high, previous)
            for y in range(low, high + 1):
                grid[y][column] = (item.char, item.style)
            previous = levels[-1]

    text = Text(no_wrap=True, overflow="ignore", end="")
    every = scale_rows // 4
    for y in range(scale_rows, -1, -1):
        labelled = y % every == 0
        label = str(step * y // every) if labelled else ""
        line = Text(f"{label:>{axis_width - 2}} {tick if labelled else vertical}")
        for char, style in grid[y]:
            line.append(char, style=style)
        line.rstrip()  # no trailing blanks: the chart is pasted into documents
        text.append_text(line)
        text.append("\n")
    axis = [horizontal] * columns
    labels = [" "] * columns
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        index = round(fraction * (len(rows) - 1))
        column = next(column for column, bucket in enumerate(buckets) if index < bucket.stop)
        when = _label(result.trace, rows[index].time)
        start = min(max(0, column - len(when) // 2), columns - len(when))
        if all(cell == " " for cell in labels[max(0, start - 1) : start + len(when) + 1]):
            axis[column] = mark
            labels[start : start + len(when)] = when
    text.append(" " * (axis_width - 1) + corner + "".join(axis) + "\n")
    text.append(" " * axis_width + "".join(labels).rstrip() + "\n")
    # the legend, on as many lines as the width needs
    used = axis_width
    text.append(" " * axis_width)
    for index, item in enumerate(series):
        entry = f"{item.char} {item.label}"
        if index and used + 3 + len(entry) > axis_width + columns:
            text.append("\n" + " " * axis_width)
            used = axis_width
        elif index:
            text.append("   ")
            used += 3
        text.append(item.char, style=item.style)
        text.append(entry[1:])
        used += len(entry)
    return text


def summary_table(result: Replay) -> Table:
    table = Table(header_style="bold", title_justify="left")
    for column in ("policy", "changes", "idle-agent minutes", "over-dial minutes", "min", "max", "mean"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for label, run in ((f"configured ({result.configured.name})", result.configured), ("design rule", result.design)):
        table.add_row(
            label,
            str(run.changes),
            f"{run.idle_agent_minutes:,.0f}",
            f"{run.over_dial_minutes:,.0f}",
            f"{run.min:g}",
            f"{run.max:g}",
            f"{run.mean:.1f}",
        )
    return table


def _comparison(result: Replay) -> str:
    configured, design = result.configured.changes, result.design.changes
    if configured == design:
        return f"both policies changed the limit {configured} time(s)"
    if configured == 0:
        return f"the configured policy never changed the limit; the design's rule changed it {design} time(s)"
    ratio = design / configured
    fewer = "fewer" if ratio > 1 else "more"
    factor = ratio if ratio > 1 else 1 / ratio
    return (
        f"the configured policy changed the limit {configured} time(s), the design's rule {design}: "
        f"{factor:.1f}x {fewer} writes"
    )


def print_replay(out: Console, result: Replay, width: int | None = None) -> None:
    trace = result.trace
    rows = trace.rows
    span = f"{_label(trace, rows[0].time)} to {_label(trace, rows[-1].time)}"
    out.print(f"replay of {trace.path}: {len(rows)} rows, {span}", markup=False, highlight=False)
    configured = result.configured
    out.print(f"configured ({configured.name}): {configured.rule}", markup=False, highlight=False)
    if configured.options:
        shown = ", ".join(f"{name}={value}" for name, value in configured.options.items())
        wrapped = textwrap.fill(
            shown, width=max(MIN_CHART_WIDTH, out.width), initial_indent="  options: ", subsequent_indent="    "
        )
        out.print(wrapped, markup=False, highlight=False, soft_wrap=True)
    out.print(f"design rule: {result.design.rule}", markup=False, highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", markup=False, highlight=False)
    out.print()
    ascii_only = not out.encoding.lower().startswith("utf")
    out.print(chart(result, width or out.width - 2, ascii_only=ascii_only), soft_wrap=True, highlight=False)
    out.print()
    out.print(summary_table(result))
    for line in (
        "idle-agent minutes: capacity (available + on a contact) above the limit, times minutes",
        "over-dial minutes: the limit above capacity, times minutes; each limit meets the next row",
    ):
        out.print(line, markup=False, highlight=False)
    out.print(_comparison(result), markup=False, highlight=False)


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
