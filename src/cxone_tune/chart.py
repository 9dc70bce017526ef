"""The text output of ``cxone-tune replay``: a step chart of a replayed trace or history, the summary table, the
comparison.

:mod:`cxone_tune.replay` reads the trace (or the audit log) and simulates the policies; this module only draws
what it found: :func:`chart_series` says what is drawn (bottom layer first, each series on the panel of its
unit: agents and line counts share one, per-agent ratios get their own with a decimal scale), :func:`chart` draws
it at a width, and :func:`print_replay` prints the header lines, the chart, the table and the comparison. The
abandon guard's holds and cuts (``PolicyRun.guard``, row by row) are marks on the configured policy's line
(:func:`chart_marks`) and a column of the table, shown when a guard ran.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cxone_tune.replay import Replay

CHART_HEIGHT = 13  # rows of the plot, 0 included: the scale has 12 steps
MIN_CHART_WIDTH = 40


# -- the chart ---------------------------------------------------------------------------------------------------------


AGENTS = "agents"  # the unit of counts of agents and of line counts: one panel, a whole-number scale
RATIO = "ratio"  # per-agent ratios: a panel of their own, a decimal scale


@dataclass(frozen=True)
class Series:
    label: str
    char: str
    style: str
    values: tuple[float, ...]
    unit: str = AGENTS


@dataclass(frozen=True)
class Marks:
    """Rows marked on a series' line: ``char`` drawn over the line at its level in those rows."""

    label: str
    char: str
    style: str
    rows: frozenset[int]
    values: tuple[float, ...]  # the line marked
    unit: str = AGENTS


def chart_marks(result: Replay) -> list[Marks]:
    """The abandon guard's holds and cuts on the configured policy's line (none when it did not run); a cut is
    drawn over a hold where both fall in one column."""
    run = result.configured
    if not run.guard_ran:
        return []
    unit = RATIO if result.value_kind == "ratio" else AGENTS
    values = tuple(float(v) for v in run.limits)
    return [
        Marks("guard held", "=", "bold cyan", frozenset(run.guard_held_rows), values, unit),
        Marks("guard cut", "v", "bold magenta", frozenset(run.guard_cut_rows), values, unit),
    ]


def chart_series(result: Replay) -> list[Series]:
    """What the chart draws, bottom layer first (a later series is drawn over an earlier one)."""
    rows = result.trace.rows
    unit = RATIO if result.value_kind == "ratio" else AGENTS
    return [
        Series("capacity (available + on a call)", "#", "blue", tuple(float(r.capacity) for r in rows)),
        Series("available", ".", "green", tuple(float(r.available) for r in rows)),
        Series(result.baseline.label, "x", "red", tuple(float(v) for v in result.baseline.limits), unit),
        Series(result.configured.label, "o", "bold yellow", tuple(float(v) for v in result.configured.limits), unit),
    ]


_NICE_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)
_DECIMAL_STEPS = tuple(Decimal(step) for step in ("0.1", "0.2", "0.25", "0.5"))


def _scale_step(value: float, *, whole: bool = True) -> Decimal:
    """The smallest "nice" step such that four steps reach ``value``: the y axis is labelled at 0..4 steps.
    Whole steps for counts; a ratio's scale may step by tenths, fifths, quarters or halves."""
    for step in (() if whole else _DECIMAL_STEPS) + tuple(Decimal(n) for n in _NICE_STEPS):
        if value <= step * 4:
            return step
    magnitude = Decimal(100)
    while value > magnitude * 4:
        magnitude *= 2
    return magnitude


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _buckets(rows: int, columns: int) -> list[range]:
    """The rows each column shows: a bucket of rows, or one row stretched over several columns."""
    buckets = []
    for column in range(columns):
        start = column * rows // columns
        buckets.append(range(start, max(start + 1, (column + 1) * rows // columns)))
    return buckets


def axis_labels(result: Replay, indices: list[int]) -> list[str]:
    """The time axis' labels of these rows (distinct indices): their times as the trace writes them, or, when two
    of them would read the same (runs within one second, as the demo's are, or a trace's rows within a minute of
    HH:MM), the rows' numbers: "run 1", "run 8", ... for the audit log's runs, "row 1", ... for a trace."""
    times = [result.trace.label(result.trace.rows[index].time) for index in indices]
    if len(set(times)) == len(times):
        return times
    noun = "run" if result.history is not None else "row"
    return [f"{noun} {index + 1}" for index in indices]


def chart(result: Replay, width: int, *, ascii_only: bool = False) -> Text:
    """A step chart of the trace: time across, agents or lines up, one character (and colour) per series; a
    per-agent ratio is drawn on a panel of its own under the agents, each panel titled."""
    series = chart_series(result)
    marks = chart_marks(result)
    panels = [[item for item in series if item.unit == unit] for unit in dict.fromkeys(item.unit for item in series)]
    scales = [_scale(panel) for panel in panels]
    # one width for every panel's y labels, so the time axes line up
    axis_width = max(len(label) for _, labels in scales for label in labels.values()) + 2  # "40 ┤"
    if len(panels) == 1:
        return _panel(result, series, marks, scales[0], width, axis_width, ascii_only=ascii_only)
    text = Text(no_wrap=True, overflow="ignore", end="")
    titles = {AGENTS: "agents", RATIO: f"{result.field or 'the steered value'}: a per-agent ratio"}
    for index, (panel, scale) in enumerate(zip(panels, scales, strict=True)):
        if index:
            text.append("\n\n")
        title = titles.get(panel[0].unit, panel[0].unit)
        text.append(
            "\n".join(textwrap.wrap(title, max(MIN_CHART_WIDTH, width), break_on_hyphens=False)) + "\n", style="bold"
        )
        own = [item for item in marks if item.unit == panel[0].unit]
        text.append_text(_panel(result, panel, own, scale, width, axis_width, ascii_only=ascii_only))
    return text


SCALE_ROWS = CHART_HEIGHT - 1  # a multiple of 4, so every labelled row is a whole number of steps


def _scale(series: list[Series]) -> tuple[Decimal, dict[int, str]]:
    """A panel's step and its labelled rows (0, step, ... 4 steps, bottom up)."""
    step = _scale_step(max(max(item.values) for item in series), whole=series[0].unit == AGENTS)
    every = SCALE_ROWS // 4
    return step, {y: _number(step * (y // every)) for y in range(0, SCALE_ROWS + 1, every)}


def _panel(
    result: Replay,
    series: list[Series],
    marks: list[Marks],
    scale: tuple[Decimal, dict[int, str]],
    width: int,
    axis_width: int,
    *,
    ascii_only: bool,
) -> Text:
    """One panel: the series of one unit on one scale, the marks on them, the time axis, the legend."""
    rows = result.trace.rows
    step, labels_y = scale
    top = float(step * 4)
    scale_rows = SCALE_ROWS
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
    for marking in marks:  # over the lines: at the line's level in the last marked row of the column
        for column, bucket in enumerate(buckets):
            marked = [i for i in bucket if i in marking.rows]
            if marked:
                grid[level(marking.values[marked[-1]])][column] = (marking.char, marking.style)

    text = Text(no_wrap=True, overflow="ignore", end="")
    for y in range(scale_rows, -1, -1):
        labelled = y in labels_y
        label = labels_y.get(y, "")
        line = Text(f"{label:>{axis_width - 2}} {tick if labelled else vertical}")
        for char, style in grid[y]:
            line.append(char, style=style)
        line.rstrip()  # no trailing blanks: the chart is pasted into documents
        text.append_text(line)
        text.append("\n")
    axis = [horizontal] * columns
    labels = [" "] * columns
    ticks = list(dict.fromkeys(round(fraction * (len(rows) - 1)) for fraction in (0.0, 0.25, 0.5, 0.75, 1.0)))
    for index, when in zip(ticks, axis_labels(result, ticks), strict=True):
        column = next(column for column, bucket in enumerate(buckets) if index < bucket.stop)
        start = min(max(0, column - len(when) // 2), columns - len(when))
        if all(cell == " " for cell in labels[max(0, start - 1) : start + len(when) + 1]):
            axis[column] = mark
            labels[start : start + len(when)] = when
    text.append(" " * (axis_width - 1) + corner + "".join(axis) + "\n")
    text.append(" " * axis_width + "".join(labels).rstrip() + "\n")
    # the legend, on as many lines as the width needs
    used = axis_width
    text.append(" " * axis_width)
    legend: list[Series | Marks] = [*series, *marks]
    for index, shown in enumerate(legend):
        entry = f"{shown.char} {shown.label}"
        if index and used + 3 + len(entry) > axis_width + columns:
            text.append("\n" + " " * axis_width)
            used = axis_width
        elif index:
            text.append("   ")
            used += 3
        text.append(shown.char, style=shown.style)
        text.append(entry[1:])
        used += len(entry)
    return text


# -- the table and the printed output ----------------------------------------------------------------------------------


def _minutes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


GUARD_COLUMN = "guard held/cut"  # shown when the abandon guard ran on either side


# How the summary table narrows for a narrow terminal (cron mails, pipes at 60 columns), never to a column of
# no width: 0 as is, 1 with two-line headers, 2 with the policies' names wrapped as well (the guard's column
# takes the room at 80 columns), 3 without the minor columns min, max and mean.
_NARROWER = (0, 1, 2, 3)
_WRAPPED = 2  # the level whose table is measured with the policy column wrapped
_MINOR = 3  # the level that leaves min, max and mean out


def summary_table(result: Replay, narrower: int = 0) -> Table:
    caption = "not shown at this width: min, max, mean" if narrower >= _MINOR else None
    table = Table(header_style="bold", title_justify="left", caption=caption)
    guard = result.guard_ran
    columns = ["policy", "changes", "idle-agent minutes", "over-dial minutes"]
    if guard:
        columns.append(GUARD_COLUMN)
    if narrower < _MINOR:
        columns += ["min", "max", "mean"]
    for column in columns:
        header = column.replace(" ", "\n") if narrower >= 1 else column
        table.add_column(header, justify="left" if column == "policy" else "right", no_wrap=column != "policy")
    mean = ".2f" if result.value_kind == "ratio" else ".1f"
    for run in (result.configured, result.baseline):
        cells = {
            "policy": run.label,
            "changes": str(run.changes),
            "idle-agent minutes": _minutes(run.idle_agent_minutes),
            "over-dial minutes": _minutes(run.over_dial_minutes),
            GUARD_COLUMN: f"{run.guard_held}/{run.guard_cut}" if run.guard_ran else "-",
            "min": f"{run.min:g}",
            "max": f"{run.max:g}",
            "mean": f"{run.mean:{mean}}",
        }
        table.add_row(*(cells[column] for column in columns))
    return table


def _summary_table_for(out: Console, result: Replay) -> Table:
    """The widest form of the summary table whose natural width fits the terminal (else the narrowest)."""
    unbounded = out.options.update_width(10_000)  # measure the natural width, not one clamped to the terminal
    for narrower in _NARROWER:
        table = summary_table(result, narrower)
        measured = out.measure(table, options=unbounded)
        if (measured.minimum if narrower == _WRAPPED else measured.maximum) <= out.width:
            break
    return table


def _history_comparison(result: Replay) -> str:
    history = result.history
    assert history is not None
    recorded, configured, saved = result.baseline.changes, result.configured.changes, result.saved
    head = (
        f"recorded: {recorded} write(s) in {history.replayed} run(s); "
        f"the configured policy ({result.configured.name}) would have made {configured}"
    )
    if saved > 0:
        return f"{head}: {saved} write(s) saved"
    if saved < 0:
        return f"{head}: {-saved} write(s) more"
    return f"{head}: no write saved"


def _comparison(result: Replay) -> str:
    if result.history is not None:
        return _history_comparison(result)
    configured, design = result.configured.changes, result.design.changes
    if configured == design:
        return f"both policies changed the limit {configured} time(s)"
    if configured == 0:
        return f"the configured policy never changed the limit; the design's rule changed it {design} time(s)"
    if design == 0:
        return f"the design's rule never changed the limit; the configured policy changed it {configured} time(s)"
    ratio = design / configured
    fewer = "fewer" if ratio > 1 else "more"
    factor = ratio if ratio > 1 else 1 / ratio
    return (
        f"the configured policy changed the limit {configured} time(s), the design's rule {design}: "
        f"{factor:.1f}x {fewer} writes"
    )


def _headline(result: Replay) -> str:
    trace, history = result.trace, result.history
    rows = trace.rows
    first, last = trace.label(rows[0].time), trace.label(rows[-1].time)
    span = f"{first} to {last}" if first != last or len(rows) == 1 else f"all at {first}"
    if history is None:
        return f"replay of {trace.path}: {len(rows)} rows, {span}"
    ref = history.ref
    named = f"target {history.name}: " if history.name is not None else ""
    return (
        f"replay of the audit log {history.log}: {named}{ref.profile} {ref.kind} {ref.id} ({ref.field}), "
        f"{len(rows)} run(s), {span} (local time)"
    )


def print_replay(out: Console, result: Replay, width: int | None = None) -> None:
    out.print(_headline(result), markup=False, highlight=False)
    configured = result.configured
    out.print(f"configured ({configured.name}): {configured.rule}", markup=False, highlight=False)
    if configured.options:
        shown = ", ".join(f"{name}={value}" for name, value in configured.options.items())
        wrapped = textwrap.fill(
            shown, width=max(MIN_CHART_WIDTH, out.width), initial_indent="  options: ", subsequent_indent="    "
        )
        out.print(wrapped, markup=False, highlight=False, soft_wrap=True)
    out.print(f"{result.baseline.label}: {result.baseline.rule}", markup=False, highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", markup=False, highlight=False)
    out.print()
    ascii_only = not out.encoding.lower().startswith("utf")
    out.print(chart(result, width or out.width - 2, ascii_only=ascii_only), soft_wrap=True, highlight=False)
    out.print()
    out.print(_summary_table_for(out, result))
    footnotes: tuple[str, ...] = (
        ("idle-agent and over-dial minutes: n/a for a per-agent ratio (no line count to set against capacity)",)
        if result.value_kind == "ratio"
        else (
            "idle-agent minutes: capacity (available + on a contact) above the limit, times minutes",
            "over-dial minutes: the limit above capacity, times minutes; each limit meets the next row",
        )
    )
    if result.guard_ran:
        footnotes += ("guard held/cut: runs where the abandon guard held a raise / lowered the value",)
    for line in footnotes:
        out.print(line, markup=False, highlight=False)
    out.print(_comparison(result), markup=False, highlight=False)
