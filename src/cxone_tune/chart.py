"""The text output of ``cxone-tune replay``: a step chart of a replayed trace, the summary table, the comparison.

:mod:`cxone_tune.replay` reads the trace and simulates the policies; this module only draws what it found:
:func:`chart_series` says what is drawn (bottom layer first), :func:`chart` draws it at a width, and
:func:`print_replay` prints the header lines, the chart, the table and the comparison. A new thing to show
(issue 10's guard holds and cuts) is a series or a table column here, and a field of the simulation there.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cxone_tune.replay import Replay

CHART_HEIGHT = 13  # rows of the plot, 0 included: the scale has 12 steps
MIN_CHART_WIDTH = 40


# -- the chart ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    char: str
    style: str
    values: tuple[float, ...]


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
        when = result.trace.label(rows[index].time)
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


# -- the table and the printed output ----------------------------------------------------------------------------------


# How the summary table narrows for a narrow terminal (cron mails, pipes at 60 columns), never to a column of
# no width: 0 as is, 1 with two-line headers, 2 without the minor columns min, max and mean as well.
_NARROWER = (0, 1, 2)


def summary_table(result: Replay, narrower: int = 0) -> Table:
    caption = "not shown at this width: min, max, mean" if narrower >= 2 else None
    table = Table(header_style="bold", title_justify="left", caption=caption)
    columns = ("policy", "changes", "idle-agent minutes", "over-dial minutes", "min", "max", "mean")
    for column in columns[:4] if narrower >= 2 else columns:
        header = column.replace(" ", "\n") if narrower >= 1 else column
        table.add_column(header, justify="left" if column == "policy" else "right", no_wrap=column != "policy")
    for label, run in ((f"configured ({result.configured.name})", result.configured), ("design rule", result.design)):
        cells = [
            label,
            str(run.changes),
            f"{run.idle_agent_minutes:,.0f}",
            f"{run.over_dial_minutes:,.0f}",
            f"{run.min:g}",
            f"{run.max:g}",
            f"{run.mean:.1f}",
        ]
        table.add_row(*cells[: len(table.columns)])
    return table


def _summary_table_for(out: Console, result: Replay) -> Table:
    """The widest form of the summary table whose natural width fits the terminal (else the narrowest)."""
    unbounded = out.options.update_width(10_000)  # measure the natural width, not one clamped to the terminal
    for narrower in _NARROWER:
        table = summary_table(result, narrower)
        if out.measure(table, options=unbounded).maximum <= out.width:
            break
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
    span = f"{trace.label(rows[0].time)} to {trace.label(rows[-1].time)}"
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
    out.print(_summary_table_for(out, result))
    for line in (
        "idle-agent minutes: capacity (available + on a contact) above the limit, times minutes",
        "over-dial minutes: the limit above capacity, times minutes; each limit meets the next row",
    ):
        out.print(line, markup=False, highlight=False)
    out.print(_comparison(result), markup=False, highlight=False)
