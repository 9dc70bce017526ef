"""Terminal output: tables and lines on stdout (the one JSON document of ``--json`` is built in
``documents.py`` and written as is by the CLI, without rich).

Every string that came from the tenant, the audit log or the settings reaches the terminal through
``text.py`` (:func:`_cell`: a rich ``Text``, so markup in it is shown, not applied; :func:`markup_safe` where
a line is printed with markup); the JSON document never does (it is exact)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from cxone_tune.cycle import ApplyResult, ComputeResult, CycleResult
from cxone_tune.documents import shown_value
from cxone_tune.pool import PoolReport
from cxone_tune.profiles import Agent, AgentSnapshot, LoginInfo, TargetRef
from cxone_tune.settings import ENV_PREFIX, Settings
from cxone_tune.text import markup_safe, plural, printable

if TYPE_CHECKING:
    from cxone_tune.watch import Refresh

# Keyed by lower-case state; a profile adds its own names (Profile.state_styles), matched in any case too.
STATE_STYLES = {
    "available": "bold green",
    "dialer": "bold green",
    "in-progress": "cyan",
    "wrap-up": "yellow",
    "unavailable": "magenta",
    "logged-out": "dim",
}


NO_STYLES: Mapping[str, str] = MappingProxyType({})


class _Stdout(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (``cxone-tune agents | head -1``): print nothing more and carry on, so the exit
        code stays the command's own (rich's default exits 1)."""
        self.quiet = True
        stdout_to_devnull()


def stdout_to_devnull() -> None:
    """stdout's reader is gone: later writes, Python's own flush at exit included, go to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor behind stdout (tests)
        pass


def console() -> Console:
    # rich already honours NO_COLOR, FORCE_COLOR and TERM=dumb, and drops styling when not on a terminal.
    return _Stdout(highlight=False, soft_wrap=True)


def emit_json_line(document: Any) -> None:
    """One JSON document on one line (``agents --watch --json``: a line per refresh), flushed at once."""
    sys.stdout.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def state_style(state: str, styles: Mapping[str, str] = NO_STYLES) -> str:
    wanted = state.lower()
    extra = {name.lower(): style for name, style in styles.items()}
    return extra.get(wanted) or STATE_STYLES.get(wanted, "")


def _cell(value: Any, style: str = "") -> Text:
    """A table cell from any value: sanitised, and a ``Text``, so rich never reads markup in it."""
    return Text(printable("" if value is None else str(value)), style=style)


def _state(state: str, styles: Mapping[str, str] = NO_STYLES) -> Text:
    return _cell(state, state_style(state, styles))


def agents_table(agents: Iterable[Agent], group_label: str, styles: Mapping[str, str] = NO_STYLES) -> Table:
    table = Table(title="Agents", header_style="bold", expand=False)
    table.add_column("Agent ID", no_wrap=True)
    table.add_column("Name")
    table.add_column("State", no_wrap=True)
    table.add_column("Reason")
    table.add_column(group_label)
    table.add_column("Team")
    for agent in agents:
        table.add_row(
            _cell(agent.id),
            _cell(agent.name),
            _state(agent.state, styles),
            _cell(agent.reason),
            _cell(agent.group),
            _cell(agent.team),
        )
    return table


def summary_table(snapshot: AgentSnapshot, styles: Mapping[str, str] = NO_STYLES) -> Table:
    table = Table(title="Agents by state", header_style="bold")
    table.add_column("State")
    table.add_column("Agents", justify="right")
    table.add_column("Counted as available", justify="center")
    available_states = snapshot.available_states
    for state, count in sorted(snapshot.counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(_state(state, styles), str(count), "yes" if state in available_states else "")
    table.add_section()
    table.add_row(Text("total", style="bold"), Text(str(snapshot.total), style="bold"), "")
    table.add_row(Text("available", style="bold green"), Text(str(snapshot.available), style="bold green"), "")
    return table


COUNTED_BY = {
    "activity": "counted by the skill's activity",
    "assigned": "counted among the skill's assigned agents",
    "tenant": "counted among the tenant's agents",
}


def print_compute(out: Console, result: ComputeResult) -> None:
    decision, snapshot, counted = result.decision, result.snapshot, result.counted
    source = COUNTED_BY.get(result.counted_by, result.counted_by)
    out.print(
        f"[bold]{decision.available}[/] of {decision.total} agents available, {counted.busy} on a contact, "
        f"{counted.acw} in after-call work ({source}; {snapshot.pages} page(s) read)"
    )
    for line in pool_lines(result.pool, result.ref):
        out.print(line)
    if result.guard is not None and result.guard.status != "on":
        out.print(f"abandon guard: {result.guard.status}", markup=False)
    out.print(f"rule: {printable(decision.rule)}", markup=False)
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("step", "before", "after", "why"):
        table.add_column(column)
    for step in result.evaluation.steps:
        style = "" if step.fired or step.rule in ("eligible agents", "base rule", "abandon guard") else "dim"
        table.add_row(
            _cell(step.rule, style),
            "" if step.before is None else f"{step.before:g}",
            "" if step.after is None else f"{step.after:g}",
            _cell(step.note, style),
        )
    out.print(table)
    current = f"{result.target.value:g} -> " if result.target else ""
    held = " (held)" if result.evaluation.held else ""
    where = f"{markup_safe(result.ref.id)} ({markup_safe(result.ref.field)})"
    out.print(f"limit for {where}: {current}[bold]{decision.limit:g}[/]{held}")


def pool_lines(report: PoolReport | None, ref: TargetRef) -> list[Text]:
    """The skill's pool beside the tenant's agents, and any disagreement with the skill's activity."""
    if report is None or report.skill is None:
        return []
    skill, tenant = report.skill, report.tenant
    line = (
        f"{ref.kind} {ref.id}'s pool: {skill.available} of {skill.total} assigned agents available;"
        f" the tenant: {tenant.available} of {tenant.total}"
    )
    if report.activity is not None:
        line += f"; its activity says {report.activity.available} available"
    lines = [_cell(f"{line} (counting by {report.source})")]
    if report.disagreement:
        lines.append(_cell(f"warning: {report.disagreement}", "yellow"))
    lines += [_cell(f"note: {note}", "yellow") for note in report.notes]
    return lines


NO_POOL = "no skill pool read: every agent counts (the API has none, or CXONE_POOL_SOURCE=tenant)"


def print_pool(out: Console, report: PoolReport, ref: TargetRef, styles: Mapping[str, str] = NO_STYLES) -> None:
    """``agents --pool``: the skill's pool and the tenant's agents side by side, per state."""
    if report.skill is None:
        out.print(NO_POOL)
        return
    skill, tenant = report.skill, report.tenant
    table = Table(title=f"The {ref.kind}'s pool beside the tenant", header_style="bold")
    table.add_column("State")
    table.add_column(_cell(f"{ref.kind} {ref.id}"), justify="right")
    table.add_column("tenant", justify="right")
    states = sorted(set(skill.counts) | set(tenant.counts), key=lambda s: (-tenant.counts[s], -skill.counts[s], s))
    for state in states:
        table.add_row(_state(state, styles), str(skill.counts[state]), str(tenant.counts[state]))
    table.add_section()
    table.add_row(Text("total", style="bold"), str(skill.total), str(tenant.total))
    table.add_row(Text("available", style="bold green"), str(skill.available), str(tenant.available))
    if report.activity is not None:
        table.add_row(Text("activity: agentsAvailable"), str(report.activity.available), "")
    if report.assignments is not None:
        table.add_row(
            Text("assignments (active/inactive)", style="dim"),
            _cell(f"{len(report.assignments.active)}/{report.assignments.inactive}", "dim"),
            "",
        )
    out.print(table)
    for line in pool_lines(report, ref):
        out.print(line)


def change_line(result: ApplyResult) -> str:
    """One plain line (print it with ``markup=False``), its strings sanitised."""
    where = printable(f"{result.ref.kind} {result.ref.id}: {result.ref.field}")
    if not result.changed:
        return f"{where} is already {result.limit}; nothing to do"
    arrow = f"{result.previous} -> {result.limit}"
    overridden = f"; {printable(result.overridden)}" if result.overridden else ""
    if result.dry_run:
        return f"{where} {arrow} (dry run: nothing written{overridden})"
    suffix = f", version {result.version}" if result.version is not None else ""
    conflicts = f" after {result.conflicts} conflict(s)" if result.conflicts else ""
    return f"{where} {arrow} (applied{conflicts}{suffix}{overridden})"


def print_cycle(out: Console, result: CycleResult) -> None:
    print_compute(out, result.compute)
    out.print(change_line(result.apply), markup=False)


def login_line(info: LoginInfo) -> str:
    minutes, seconds = divmod(int(info.expires_in), 60)
    source = {"cache": "reused from the cache", "memory": "reused", "new": "newly issued"}.get(info.source, info.source)
    if info.details.get("cached_token_refused"):
        source = "from the cache refused (401), a new one issued"
    confirmed = info.details.get("confirmed_by")
    if confirmed:
        source += f", confirmed by {confirmed}"
    elif "confirmed_by" in info.details and info.source != "new":
        source += " (not confirmed: the profile has no probe call)"
    return printable(f"authenticated ({info.profile} profile): token {source}, valid for {minutes}m{seconds:02d}s")


# Dropped in this order when the terminal is too narrow for every column (cron mails, pipes, 60 columns): what
# happened (time, change, outcome) always stays, and the outcome wraps rather than shrinking to nothing. The
# command goes last: it is what tells a value set by hand (apply) from the timer's run-once. A Target column
# that names one target only goes first (the title names it instead).
HISTORY_MINOR_COLUMNS = ("Available", "Target", "Command")
_OUTCOME_MIN_WIDTH = 16


def history_table(records: list[dict[str, Any]], width: int | None = None) -> Table:
    """The audit log as a table; for a terminal ``width`` columns wide, without the minor columns it cannot
    hold (the caption says which)."""
    rows = [_history_row(record) for record in records]
    columns = ["Time (UTC)", "Command", "Target", "Available", "Change", "Outcome"]
    outcome_width = min(_OUTCOME_MIN_WIDTH, max([len("Outcome")] + [row["Outcome"].cell_len for row in rows]))

    def needed(shown: list[str]) -> int:  # a border, and each column's padding, text and border
        widths = [max([len(c)] + [row[c].cell_len for row in rows]) if c != "Outcome" else outcome_width for c in shown]
        return 1 + sum(3 + w for w in widths)

    targets = {row["Target"].plain for row in rows}
    order = sorted(HISTORY_MINOR_COLUMNS, key=lambda column: column != "Target") if len(targets) == 1 else None
    dropped = []
    for minor in order or HISTORY_MINOR_COLUMNS:
        if width is None or needed(columns) <= width:
            break
        columns.remove(minor)
        dropped.append(minor)
    title = "Audit log (newest last)"
    if "Target" in dropped and len(targets) == 1:
        title = f"Audit log of {targets.pop()} (newest last)"
    caption = f"not shown at this width: {', '.join(dropped)}" if dropped else None
    table = Table(title=title, caption=caption, header_style="bold")
    for column in columns:
        outcome = column == "Outcome"
        table.add_column(column, no_wrap=not outcome, min_width=outcome_width if outcome else None)
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    return table


def _history_row(record: dict[str, Any]) -> dict[str, Text]:
    available = record.get("available_agents")
    total = record.get("total_agents")
    seen = f"{available}/{total}" if available is not None else ""
    previous, limit = record.get("previous_limit"), record.get("limit")
    change = f"{previous} -> {limit}" if previous is not None and previous != limit else str(limit or "")
    if record.get("outcome") == "unknown":  # an intent line no completed record followed (audit.py)
        outcome = Text("write attempted, outcome unknown", style="bold yellow")
    elif record.get("error"):
        outcome = _cell(f"exit {record.get('exit_code')}: {record['error']}", "red")
    elif record.get("applied"):
        outcome = Text("applied", style="green")
    elif record.get("dry_run"):
        outcome = Text("dry run")
    else:
        outcome = Text("no change", style="dim")
    when = str(record.get("time", "")).replace("T", " ").replace("+00:00", "")
    target = f"{record.get('profile', '')} {record.get('target', '')}".strip()
    return {
        "Time (UTC)": _cell(when),
        "Command": _cell(record.get("command", "")),
        "Target": _cell(target),
        "Available": _cell(seen),
        "Change": _cell(change),
        "Outcome": outcome,
    }


def config_table(settings: Settings, sources: dict[str, str]) -> Table:
    table = Table(title=f"Effective settings ({settings.api_name} API profile)", header_style="bold")
    table.add_column("Variable", no_wrap=True)
    table.add_column("Value")
    table.add_column("Source")
    for name in Settings.model_fields:
        value = shown_value(getattr(settings, name))
        source = sources[name]
        table.add_row(
            f"{ENV_PREFIX}{name.upper()}",
            _cell(value),
            _cell(source, "dim" if source == "default" else ""),
        )
    return table


# -- agents --watch ---------------------------------------------------------------------------------------------


def _counts(snapshot: AgentSnapshot) -> list[tuple[str, int]]:
    return sorted(snapshot.counts.items(), key=lambda item: (-item[1], item[0]))


def pool_line(snapshot: AgentSnapshot, target: str) -> str:
    """The pool counted for the target, in one plain line (sanitised)."""
    return printable(
        f"pool for {target}: {plural(snapshot.total, 'agent')}, {snapshot.available} available, "
        f"{snapshot.busy} on a contact, {snapshot.acw} in after-call work"
    )


def watch_pool_text(report: PoolReport) -> str:
    """``agents --watch --pool`` off a terminal: the tenant's agents and the skill's activity beside the pool."""
    if report.skill is None:
        return NO_POOL.split(" (", 1)[0]
    text = f"the tenant: {report.tenant.available} of {report.tenant.total} available"
    if report.activity is not None:
        text += f", the skill's activity: {report.activity.available} available"
    if report.disagreement:
        text += f" (more than CXONE_POOL_MARGIN={report.margin} apart from the pool)"
    return text


def watch_line(refresh: Refresh, target: str) -> str:
    """``agents --watch`` off a terminal: one plain line per refresh (print it with ``markup=False``)."""
    counts = ", ".join(f"{state} {count}" for state, count in _counts(refresh.snapshot)) or "no agents"
    line = f"{refresh.at.isoformat(timespec='seconds')} refresh {refresh.number}: {pool_line(refresh.snapshot, target)}"
    line += f"; {counts}"
    if refresh.pool is not None:
        line += f"; {watch_pool_text(refresh.pool)}"
    if refresh.error is not None:
        return printable(f"{line} (stale: read {refresh.data_at.isoformat(timespec='seconds')}; {refresh.error})")
    read = ", with the assignments" if refresh.assignments_read else ""
    return printable(f"{line} ({plural(refresh.requests, 'request')}, {refresh.changed} changed{read})")


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class WatchView:
    """``agents --watch`` on a terminal: the refresh's status, the pool and the counts per state at the top, the
    agents table below, cut to the terminal's size each time it is drawn (so a resized window is filled anew).

    Updated from the watch loop and drawn by rich Live's thread: each update swaps one reference, so a draw
    sees one refresh whole."""

    def __init__(
        self,
        target: str,
        group_label: str,
        styles: Mapping[str, str] = NO_STYLES,
        *,
        ref: TargetRef | None = None,
        interval: float,
        states: tuple[str, ...] = (),
        summary: bool = False,
    ) -> None:
        self.target = target
        self.ref = ref  # the target, for --pool's lines
        self.group_label = group_label
        self.styles = styles
        self.interval = interval
        self.states = states
        self.summary = summary
        self.refresh: Refresh | None = None
        self.message: str | None = None

    def update(self, refresh: Refresh) -> None:
        self.refresh = refresh

    def note(self, message: str) -> None:
        """A log line written while the view owns the terminal: shown under the status."""
        self.message = message

    def header(self, refresh: Refresh) -> list[Text]:
        every = f"every {self.interval:g}s · Ctrl-C to stop"
        if refresh.error is None:
            how = "full read" if refresh.complete else "changes only"
            how += ", with the assignments" if refresh.assignments_read else ""
            status = Text(
                f"refresh {refresh.number} at {_clock(refresh.at)}: {plural(refresh.requests, 'request')} ({how}), "
                f"{refresh.changed} changed · {every}"
            )
        else:
            status = Text.assemble(
                ("STALE", "bold red"),
                f" refresh {refresh.number} at {_clock(refresh.at)} failed: {printable(str(refresh.error))}",
                (f" · showing the agents as read at {_clock(refresh.data_at)} · {every}", "yellow"),
            )
        lines = [
            Text.assemble(("Agents ", "bold"), status),
            Text(pool_line(refresh.snapshot, self.target), style="bold"),
            self._counts(refresh.snapshot.counts) or Text("no agents", style="dim"),
        ]
        pooled = refresh.pool
        if pooled is not None and self.ref is not None:  # --pool: beside the tenant, and the skill's activity
            lines += pool_lines(pooled, self.ref) or [Text(NO_POOL, style="dim")]
            if pooled.skill is not None:
                lines.append(Text.assemble(("the tenant: ", "dim"), self._counts(pooled.tenant.counts)))
        if self.message:
            lines.append(Text(printable(self.message), style="dim"))
        for line in lines:  # wrapped to the window, whatever the console's soft wrapping says
            line.no_wrap, line.overflow = False, "fold"
        return lines

    def _counts(self, counts: Mapping[str, int]) -> Text:
        """Agents per state, most first, each state in its colour."""
        text = Text()
        for state, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            if text:
                text.append(" · ", style="dim")
            text.append(printable(state), style=state_style(state, self.styles))
            text.append(f" {count}")
        return text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        refresh = self.refresh
        if refresh is None:
            yield Text("reading agents...")
            return
        header = self.header(refresh)
        yield from header
        if self.summary:
            return
        height = options.height or console.size.height
        unbounded = options.update(height=None)
        used = sum(len(console.render_lines(line, unbounded, pad=False)) for line in header)
        listed = refresh.snapshot.in_states(self.states)
        # The table's title, borders and heading take 5 lines, the note of rows left out 1; a row takes 1.
        room = max(0, height - used - 6)
        shown = listed if len(listed) <= room + 1 else listed[:room]
        if listed and not shown:  # not even one row fits: no empty table frame either
            yield Text(f"{len(listed)} agents not shown: enlarge the window", style="dim", overflow="fold")
            return
        table = agents_table(shown, self.group_label, self.styles)
        for column in table.columns:
            column.no_wrap, column.overflow = True, "ellipsis"
        if len(shown) < len(listed):
            more = f"{len(listed) - len(shown)} more: enlarge the window, or narrow with --state"
            table.caption = Text(more, no_wrap=False, overflow="fold")
        yield table
