"""``replay`` and the abandon guard (issue 10, acd): a trace's ``abandons`` and ``handled`` columns summed into the
two windows a live run reads, the guard's rules on specific traces, a property over arbitrary traces against the
oracle of test_guard_policy.py, the chart's marks and the table's column, and ``replay --history`` of real runs
against the sandbox replaying exactly what the guard made them write."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cxone_sandbox import DEFAULT_SKILL_ID, Fault, SandboxServer
from cxone_tune import audit, cycle
from cxone_tune.abandon import CallLog, Calls, spans
from cxone_tune.chart import chart
from cxone_tune.documents import replay_document
from cxone_tune.errors import UsageError
from cxone_tune.memory import KEEP
from cxone_tune.policy import AbandonFigures, Inputs, Value, WindowCounts, run
from cxone_tune.replay import Columns, _row, guard_effect, load_trace, replay, run_replay
from cxone_tune.settings import Settings, time_zone
from tests.conftest import SSL_CONTEXT, Cli
from tests.harness import ACD_SUMMARY, Harness
from tests.test_guard_policy import oracle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ACD_GUARD = EXAMPLES / "trace-acd-guard.csv"
HEADER = "time,Dialer,OutboundContact,abandons,handled\n"
HOT_RATIOS = "0:1.0,6:1.5,15:3.0"  # 20 agents in the dialer: 3.0, room for the guard to halve twice


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, api="acd", **values)  # type: ignore[call-arg]


def _trace(tmp_path: Path, rows: list[str], name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _text(path: Path, settings: Settings, width: int = 100) -> str:
    buffer = io.StringIO()
    run_replay(path, settings, Console(width=width, file=buffer, force_terminal=False), json_output=False, width=None)
    return buffer.getvalue()


# -- the windows: a trace's calls summed over the spans a live run reads --------------------------------------------


def test_the_short_window_sums_the_rows_of_the_last_minutes(tmp_path: Path) -> None:
    """Each row's calls are those since the row before: a run at 09:00 with a 30-minute window counts the rows
    stamped after 08:30 up to 09:00, which are the calls from 08:30 on."""
    rows = [f"08:{m:02d},20,10,{m // 5},{100 + m}" for m in range(0, 60, 5)] + ["09:00,20,10,12,160"]
    trace = replay(_trace(tmp_path, rows), _settings()).trace
    at_nine = trace.rows[-1].abandon
    assert at_nine is not None
    inside = range(35, 60, 5)  # 08:35 .. 08:55, and 09:00
    assert at_nine.short.abandons == sum(m // 5 for m in inside) + 12
    assert at_nine.short.handled == sum(100 + m for m in inside) + 160
    assert at_nine.short.label == "last 30 min"
    # today since midnight: every row so far; the first row's window is the first row
    assert at_nine.compliance.abandons == sum(m // 5 for m in range(0, 60, 5)) + 12
    first = trace.rows[0].abandon
    assert first is not None and (first.short.abandons, first.short.handled) == (0, 100)
    assert first.compliance.label == "today since 00:00 UTC"


def test_the_compliance_window_starts_at_local_midnight_in_the_configured_zone(tmp_path: Path) -> None:
    """Times without an offset are read in CXONE_ABANDON_TIME_ZONE; the compliance day starts at its midnight."""
    rows = ["2024-06-11T23:50,20,10,5,50", "2024-06-12T00:00,20,10,1,50", "2024-06-12T00:10,20,10,2,50"]
    london = replay(_trace(tmp_path, rows), _settings(abandon_time_zone="Europe/London")).trace.rows
    windows = [row.abandon for row in london]
    assert all(window is not None for window in windows)
    # 00:00's calls are those of 23:50-00:00, yesterday's: at 00:00 today has no calls yet, at 00:10 the 00:10 row
    assert [(w.compliance.abandons, w.compliance.handled) for w in windows if w] == [(5, 50), (0, 0), (2, 50)]
    assert [w.short.abandons for w in windows if w] == [5, 6, 8]  # the short window does not care about days
    # The same instants with an offset, read in another zone: New York's midnight is not London's.
    aware = [
        "2024-06-11T23:50+01:00,20,10,5,50",
        "2024-06-12T00:00+01:00,20,10,1,50",
        "2024-06-12T00:10+01:00,20,10,2,50",
    ]
    path = _trace(tmp_path, aware, "aware.csv")
    assert [
        row.abandon.compliance.abandons
        for row in replay(path, _settings(abandon_time_zone="Europe/London")).trace.rows
        if row.abandon
    ] == [5, 0, 2]  # the same instants as above (London is at +01:00 in June)
    new_york = replay(path, _settings(abandon_time_zone="America/New_York")).trace.rows
    assert [row.abandon.compliance.abandons for row in new_york if row.abandon] == [5, 6, 8]  # 18:50 .. 19:10 there


def test_the_30_day_window_reaches_as_far_as_the_trace(tmp_path: Path) -> None:
    """``30d``: today so far and the 29 whole local days before it; rows older than that drop out, and a trace
    that starts later than that counts from its start."""
    days = [date(2024, 6, 1) + timedelta(days=n) for n in (0, 10, 29, 30, 31)]
    rows = [f"{day.isoformat()}T12:00,20,10,{n + 1},100" for n, day in enumerate(days)]
    trace = replay(_trace(tmp_path, rows), _settings(abandon_window="30d")).trace
    compliance = [row.abandon.compliance.abandons for row in trace.rows if row.abandon]
    # 1 June to 30 June: the first four rows; 1 July: 2 June on (the first row drops out); 2 July: 3 June on
    assert compliance == [1, 1 + 2, 1 + 2 + 3, 2 + 3 + 4, 2 + 3 + 4 + 5]
    assert trace.rows[0].abandon is not None
    assert trace.rows[0].abandon.compliance.label == "last 30 days (UTC)"


def test_the_call_log_uses_the_live_runs_spans() -> None:
    """One place for what a window is: the spans the live run reads, summed over a log of calls."""
    config = _settings(abandon_window="30d", abandon_time_zone="Europe/London", abandon_short_minutes=45)
    now = datetime(2025, 3, 31, 9, 30, tzinfo=timezone.utc)
    short, days = spans(config, now)
    assert short.end - short.start == timedelta(minutes=45) and len(days) == 30
    log = CallLog(
        [
            Calls(short.start, 100, 100),  # the end of an interval before the window: not in it
            Calls(short.start + timedelta(seconds=1), 1, 10),
            Calls(now, 2, 20),
            Calls(now + timedelta(seconds=1), 100, 100),  # after the run
            Calls(days[0].start, 100, 100),  # before the first day
            Calls(days[0].start + timedelta(hours=1), 4, 40),
        ]
    )
    figures = log.figures(config, now)
    assert (figures.short.abandons, figures.short.handled) == (3, 30)
    assert (figures.compliance.abandons, figures.compliance.handled) == (100 + 1 + 2 + 4, 100 + 10 + 20 + 40)


# -- the rules on specific traces ----------------------------------------------------------------------------------


def test_above_the_cap_on_the_short_window_the_replay_halves(tmp_path: Path) -> None:
    # a quiet early morning (the day's rate stays low), then 40 abandoned of 100 in five minutes
    rows = ["06:00,20,10,0,9000", "08:00,20,10,0,500", "08:05,20,10,40,60", "08:10,20,10,0,100", "08:15,20,10,0,100"]
    result = replay(_trace(tmp_path, rows), _settings(ratio_steps=HOT_RATIOS))
    configured, design = result.configured, result.design
    assert design.limits == (3.0,) * 5
    # in the last 30 min: 40 of 600, of 700, of 800 (above 3% three runs in a row); the day at 0.4%
    assert configured.limits == (3.0, 3.0, 2.0, 1.5, 1.2)
    assert configured.guard == ("none", "none", "halve", "halve", "halve")
    assert configured.guard_marks == ("", "", "cut", "cut", "cut")
    assert (configured.guard_held, configured.guard_cut) == (0, 3)
    assert configured.label == "configured (design)"  # the design's rule with the guard is not the baseline
    assert not design.guard_ran and design.guard == (None,) * 5


def test_above_the_setpoint_on_the_compliance_window_the_replay_dials_one(tmp_path: Path) -> None:
    # 2.5% of today's calls, spread so that no 30 minutes is above the 3% cap
    rows = ["08:00,20,10,0,100"] + [f"{8 + h}:00,20,10,5,{195 if h < 5 else 200}" for h in range(1, 10)]
    result = replay(_trace(tmp_path, rows), _settings())
    configured = result.configured
    compliance = [row.abandon.compliance for row in result.trace.rows if row.abandon]
    above = [c.above(Decimal(2)) for c in compliance]
    first = above.index(True)
    assert configured.limits[:first] == (2.0,) * first
    assert configured.limits[first:] == (1.0,) * (len(rows) - first)
    assert configured.guard[first:] == ("progressive",) * (len(rows) - first)
    # lowered once (a cut), then held at 1.0 while the rate stays above the setpoint
    assert configured.guard_marks[first:] == ("cut",) + ("held",) * (len(rows) - first - 1)


def test_a_raise_is_held_while_the_day_is_above_half_the_setpoint(tmp_path: Path) -> None:
    rows = [
        "08:00,3,10,15,985",  # 1.0 (3 agents), the day at 1.5%
        "08:05,20,10,0,10",  # 2.0 proposed: held at 1.0 (15 of 1010, 1.49%)
        "08:10,20,10,0,500",  # 15 of 1510: 0.99%, below 1%: raised
    ]
    result = replay(_trace(tmp_path, rows), _settings())
    assert result.design.limits == (1.0, 2.0, 2.0)
    assert result.configured.limits == (1.0, 1.0, 2.0)
    assert result.configured.guard == ("none", "hold", "none")
    assert result.configured.guard_marks == ("", "held", "")


def test_a_window_with_fewer_live_calls_than_the_minimum_does_not_trigger(tmp_path: Path) -> None:
    rows = ["06:00,20,10,0,1000", "08:05,20,10,19,0"]  # 19 abandoned in the last 30 min, of 19
    path = _trace(tmp_path, rows)
    assert replay(path, _settings(ratio_steps=HOT_RATIOS)).configured.limits == (3.0, 3.0)
    # with a minimum of 19 live calls the short window triggers (compliance: 19 of 1019 = 1.9%, no progressive)
    fewer = replay(path, _settings(ratio_steps=HOT_RATIOS, abandon_min_calls=19)).configured
    assert (fewer.limits, fewer.guard) == ((3.0, 2.0), ("none", "halve"))
    # and with no calls at all the guard has nothing to say and allows raises
    quiet = replay(_trace(tmp_path, ["08:00,3,0,0,0", "08:05,20,0,0,0"], "quiet.csv"), _settings())
    assert (quiet.configured.limits, quiet.configured.guard) == ((1.0, 2.0), ("none", "none"))


def test_without_the_columns_or_with_the_guard_off_it_does_not_run(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("time,Dialer,OutboundContact\n08:00,20,10\n08:05,20,10\n", encoding="utf-8")
    result = replay(plain, _settings())
    assert not result.configured.guard_ran and not result.guard_ran
    assert "the trace has no abandons and handled columns: the abandon guard is not replayed" in result.notes
    assert "the configured policy is the design's rule: both columns are the same" in result.notes
    document = replay_document(result)
    assert document["guard"]["without_figures"] == 2 and document["guard"]["status"] == "on"
    assert document["policies"]["configured"]["guard_held"] is None
    assert "guard held/cut" not in _text(plain, _settings())  # no column without a guard

    hot = _trace(tmp_path, ["08:00,20,10,50,50"], "hot.csv")
    off = replay(hot, _settings(abandon_guard=False))
    assert off.configured.limits == (2.0,) and not off.configured.guard_ran
    assert "the trace's abandons and handled columns are not used: the abandon guard is off" in " ".join(off.notes)
    assert replay_document(off)["guard"]["status"] == "off"
    assert replay(hot, _settings()).configured.limits == (1.0,)


@pytest.mark.parametrize("header", ["time,Dialer,abandons", "time,handled,Dialer"])
def test_one_figure_column_without_the_other_is_a_usage_error(tmp_path: Path, header: str) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(f"{header}\n08:00,3,4\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 1: column '(abandons|handled)' needs a '(handled|abandons)' column"):
        load_trace(path, Columns.of(_settings()))


def test_guard_effect() -> None:
    assert guard_effect(None, 2.0, 2.0) == guard_effect("none", 2.0, 1.0) == ""
    assert guard_effect("hold", 1.5, 1.5) == "held"
    assert guard_effect("halve", 2.0, 1.5) == "cut"
    assert guard_effect("halve", 1.0, 1.0) == "held"  # at 1.0 already: a raise kept from it
    assert guard_effect("progressive", None, 1.0) == "cut"  # nothing in force: the write itself is lowered


# -- a property over arbitrary traces --------------------------------------------------------------------------------


ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]  # none moves its clocks at midnight


@st.composite
def traces(draw: st.DrawFn) -> tuple[list[tuple[datetime, int, int, int, int]], bool]:
    """Rows (local or aware time, agents in the dialer, on a call, abandons, handled) and whether the times carry
    an offset; intervals from a minute to three days, so windows cross midnights and the 30th day."""
    count = draw(st.integers(1, 30))
    aware = draw(st.booleans())
    when = datetime(2024, 3, 1, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    if aware:
        when = when.replace(tzinfo=timezone(timedelta(hours=draw(st.integers(-10, 10)))))
    rows = []
    for _ in range(count):
        hot = draw(st.booleans())
        abandons = draw(st.integers(0, 30 if hot else 2))
        handled = draw(st.integers(0, 200) | st.integers(1000, 5000))  # a busy stretch dilutes the day's rate
        rows.append((when, draw(st.integers(0, 25)), draw(st.integers(0, 10)), abandons, handled))
        when += timedelta(minutes=draw(st.sampled_from([1, 5, 5, 5, 17, 60, 6 * 60, 24 * 60, 3 * 24 * 60])))
    return rows, aware


def _by_hand(
    stamps: list[datetime], calls: list[tuple[int, int]], index: int, minutes: int, window: str, zone: tzinfo
) -> AbandonFigures:
    """The windows at row ``index``, summed apart from abandon.py: the rows whose interval (ending at their stamp)
    lies in the last ``minutes``, and since local midnight today (or 29 days before)."""
    now = stamps[index]
    local_day = now.astimezone(zone).date() - timedelta(days=0 if window == "today" else 29)
    midnight = datetime.combine(local_day, time(0), tzinfo=zone)

    def total(start: datetime) -> WindowCounts:
        inside = [calls[j] for j, stamp in enumerate(stamps) if start < stamp <= now]
        return WindowCounts("x", sum(a for a, _ in inside), sum(h for _, h in inside))

    return AbandonFigures(total(now - timedelta(minutes=minutes)), total(midnight))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces") / "trace.csv"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=traces(),
    zone_name=st.sampled_from(ZONES),
    window=st.sampled_from(["today", "30d"]),
    minutes=st.sampled_from([5, 30, 90]),
    min_calls=st.integers(0, 40),
    policy=st.sampled_from(["design", "stable"]),
    steps=st.sampled_from(["0:1.0,6:1.5,15:2.0", HOT_RATIOS]),
)
def test_no_replayed_ratio_is_above_what_the_guard_allows(
    scratch: Path,
    drawn: tuple[list[tuple[datetime, int, int, int, int]], bool],
    zone_name: str,
    window: str,
    minutes: int,
    min_calls: int,
    policy: str,
    steps: str,
) -> None:
    """Whatever the trace: at every row the replayed value is exactly the plain policy's (the same value in force
    and memory), capped at what the oracle of test_guard_policy.py allows from the windows summed by hand."""
    rows, aware = drawn
    scratch.write_text(
        HEADER + "".join(f"{when.isoformat()},{d},{c},{a},{h}\n" for when, d, c, a, h in rows), encoding="utf-8"
    )
    config = _settings(
        policy=policy,
        ratio_steps=steps,
        abandon_time_zone=zone_name,
        abandon_window=window,
        abandon_short_minutes=minutes,
        abandon_min_calls=min_calls,
    )
    result = replay(scratch, config)
    zone = time_zone(zone_name)
    # in UTC: arithmetic on times of one zone is wall-clock arithmetic, wrong across a change of the clocks
    stamps = [(when if aware else when.replace(tzinfo=zone)).astimezone(timezone.utc) for when, *_ in rows]
    calls = [(a, h) for *_, a, h in rows]
    params, options = cycle.policy_params(config), cycle.policy_options(config)
    configured = result.configured
    current: Value | None = None
    recent: list[Value] = []
    for index, row in enumerate(result.trace.rows):
        figures = _by_hand(stamps, calls, index, minutes, window, zone)
        assert row.abandon is not None
        for replayed, expected in ((row.abandon.short, figures.short), (row.abandon.compliance, figures.compliance)):
            assert (replayed.abandons, replayed.handled) == (expected.abandons, expected.handled)
        plain = run(Inputs(row.pool(), current, tuple(recent[-KEEP:])), params, options)
        allowed = oracle(figures, options, params, current, plain.decision.limit)
        written = Fraction(str(configured.limits[index]))
        assert allowed is None or written <= allowed
        unguarded = Fraction(str(plain.decision.limit))
        assert written == (unguarded if allowed is None else min(unguarded, allowed))
        mark = configured.guard_marks[index]
        event(f"guard: {configured.guard[index]}, {mark or '-'}")
        assert (mark == "") == (written == unguarded)  # marked exactly where the guard changed the value
        assert mark != "cut" or current is None or written < Fraction(str(current))
        recent.append(plain.proposal)
        current = configured.limits[index]


# -- the example day, the chart and the table ------------------------------------------------------------------------


def test_the_example_day_shows_the_guard_holding_and_cutting() -> None:
    result = replay(ACD_GUARD, _settings())
    configured, design = result.configured, result.design
    assert set(design.limits) == {2.0} and design.changes == 0
    assert (configured.guard_held, configured.guard_cut) == (39, 8)  # the README's figures
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "takes the day above the setpoint (`guard held/cut` 39/8; the design's rule stays at 2.0)" in readme
    assert {"hold", "halve", "progressive"} <= set(configured.guard)
    assert configured.limits[-1] == 1.0  # the afternoon's burst: the day above the setpoint, dialing 1.0
    assert configured.min == 1.0 and configured.max == 2.0
    document = replay_document(result)
    side = document["policies"]["configured"]
    assert (side["guard_held"], side["guard_cut"]) == (configured.guard_held, configured.guard_cut)
    assert side["guard_marks"].count("held") == configured.guard_held
    assert document["policies"]["design"]["guard_actions"] == [None] * 121


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_chart_marks_holds_and_cuts_on_the_configured_line(width: int) -> None:
    result = replay(ACD_GUARD, _settings(policy="stable"))
    text = chart(result, width).plain
    assert all(len(line) <= width for line in text.splitlines())
    agents, ratio = text[: text.index("general-settings")], text[text.index("general-settings") :]

    def plot(panel: str) -> list[str]:  # the plotted rows, right of the y axis
        return [re.split("[┤│]", line, maxsplit=1)[1] for line in panel.splitlines() if re.search("[┤│]", line)]

    legend = " ".join(ratio[ratio.index("└") :].splitlines()[2:])
    assert "= guard held" in legend and "v guard cut" in legend
    assert any("=" in line for line in plot(ratio)) and any("v" in line for line in plot(ratio))
    assert not any("=" in line or "v" in line for line in plot(agents))  # on the configured line only
    assert "guard" not in agents
    # The marks sit on the configured line's level: the held runs are all at 1.0 on this day.
    one = next(line for line in ratio.splitlines() if line.lstrip().startswith("1 ┤"))
    assert "=" in one


@pytest.mark.parametrize("columns", [120, 80, 60])
def test_the_table_counts_holds_and_cuts_within_the_width(columns: int) -> None:
    result = replay(ACD_GUARD, _settings(policy="stable"))
    text = _text(ACD_GUARD, _settings(policy="stable"), width=columns)
    table = text[text.index("┏") : text.index("┘") + 1].splitlines()
    assert all(len(line) <= columns for line in table)
    assert "…" not in "".join(table)
    header = " ".join(" ".join(line.split("┃")[5].split()) for line in table if line.startswith("┃"))
    assert header.strip() == "guard held/cut"
    rows = [line for line in table if line.startswith("│") and line.split("│")[2].strip()]
    cells = [line.split("│")[5].strip() for line in rows]
    assert cells == [f"{result.configured.guard_held}/{result.configured.guard_cut}", "-"]
    headers = " ".join(cell.strip() for line in table if line.startswith("┃") for cell in line.split("┃"))
    assert ("mean" in headers.split()) == (columns != 60)  # at 80 the policy's name wraps instead
    assert "guard held/cut: runs where the abandon guard held a raise / lowered the value" in " ".join(text.split())


# -- --history: the runs as the guard made them, replayed ---------------------------------------------------------


def _log_calls(server: SandboxServer, abandons: int, handled: int, seconds_ago: int) -> None:
    """Live calls of the skill, logged through the sandbox's control API."""
    with httpx.Client(base_url=server.url, verify=SSL_CONTEXT, timeout=5) as client:
        body = {"abandons": abandons, "handled": handled, "secondsAgo": seconds_ago}
        client.post(f"/_sandbox/skills/{DEFAULT_SKILL_ID}/calls", json=body).raise_for_status()


def _forget_calls(server: SandboxServer) -> None:
    with httpx.Client(base_url=server.url, verify=SSL_CONTEXT, timeout=5) as client:
        client.delete(f"/_sandbox/skills/{DEFAULT_SKILL_ID}/calls").raise_for_status()


def _run(cli: Cli) -> dict[str, Any]:
    result = cli("run-once", "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _history(cli: Cli) -> dict[str, Any]:
    result = cli("replay", "--history", "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_history_replays_what_the_guard_made_real_runs_write(
    cli: Cli, acd_run: Harness, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real run-once runs against the sandbox while abandons are logged through its control API: the guard halves,
    holds, dials 1.0 and holds on an unreadable summary. Replaying the policy that ran gives back exactly what was
    written, run by run, and what the guard did in each; without the guard it would have written otherwise."""
    tenant = acd_run.tenant
    tenant.set_acd_agents(["Dialer"] * 20)  # 2.0, the value in force
    runs = [_run(cli)]  # no calls: nothing to judge
    _log_calls(server, 0, 9900, 3 * 3600)
    _log_calls(server, 8, 92, 60)  # 8% in the last 30 minutes, 0.08% today
    runs += [_run(cli), _run(cli)]  # 2.0 -> 1.5 -> 1.2
    _forget_calls(server)
    _log_calls(server, 15, 985, 2 * 3600)  # the day at 1.5%: raises held
    runs.append(_run(cli))
    tenant.set_acd_agents(["Dialer"] * 3)
    runs.append(_run(cli))  # the policy lowers to 1.0 itself
    tenant.set_acd_agents(["Dialer"] * 20)
    runs.append(_run(cli))  # held at 1.0
    _forget_calls(server)
    runs.append(_run(cli))  # nothing abandoned today: raised to 2.0
    _log_calls(server, 30, 970, 2 * 3600)  # 3% today: 1.0
    runs.append(_run(cli))
    _forget_calls(server)
    tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=None))
    runs.append(_run(cli))  # no figures: no raise
    tenant.clear_faults()

    written = [run["limit"] for run in runs]
    actions = [run["guard"]["action"] for run in runs]
    assert written == [2.0, 1.5, 1.2, 1.2, 1.0, 1.0, 2.0, 1.0, 1.0]
    assert actions == ["none", "halve", "halve", "hold", "none", "hold", "none", "progressive", "hold"]
    assert runs[-1]["guard"]["windows"]["short"]["error"]  # the last run's windows were unreadable

    document = _history(cli)
    configured, recorded = document["policies"]["configured"], document["policies"]["recorded"]
    assert recorded["limits"] == configured["limits"] == written
    assert document["same_as_recorded"] is True
    assert recorded["guard_actions"] == configured["guard_actions"] == actions
    marks = ["", "cut", "cut", "held", "", "held", "", "cut", "held"]
    assert recorded["guard_marks"] == configured["guard_marks"] == [mark or None for mark in marks]
    assert (configured["guard_held"], configured["guard_cut"]) == (recorded["guard_held"], recorded["guard_cut"])
    assert (configured["guard_held"], configured["guard_cut"]) == (3, 3)
    assert document["guard"]["without_figures"] == 0

    monkeypatch.setenv("COLUMNS", "120")
    text = cli("replay", "--history", "--width", "100").stdout
    assert "= guard held" in text and "v guard cut" in text
    table = [line for line in text.splitlines() if line.startswith("│") and line.split("│")[1].strip()]
    assert [line.split("│")[1].strip() for line in table] == ["configured (design)", "recorded"]
    assert all(line.split("│")[5].strip() == "3/3" for line in table)

    # The guard mattered: without it the same runs replay to 2.0 throughout but at the one the policy lowered.
    monkeypatch.setenv("CXONE_ABANDON_GUARD", "false")
    off = _history(cli)
    assert off["policies"]["configured"]["limits"] == [2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert off["policies"]["configured"]["guard_held"] is None
    assert any("the abandon guard is off (CXONE_ABANDON_GUARD=false)" in note for note in off["notes"])


def test_history_records_without_guard_figures_replay_without_the_guard(cli: Cli, acd_run: Harness) -> None:
    """Records written before the guard (no ``guard`` key) or with it off (no windows): no guard for those runs,
    counted in a note; the runs that read their windows still replay with it."""
    acd_run.tenant.set_acd_agents(["Dialer"] * 20)
    for _ in range(4):
        _run(cli)
    path = audit.audit_path(Path(os.environ["CXONE_STATE_DIR"]))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    del records[0]["guard"]
    records[1]["guard"].update(status="off", windows=None, action=None, ceiling=None, raise_allowed=None, reasons=[])
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    document = _history(cli)
    assert document["guard"]["without_figures"] == 2
    assert (
        "2 runs recorded no abandon figures (before the guard, or with it off): replayed without the guard"
        in (document["notes"])
    )
    assert document["policies"]["configured"]["guard_actions"] == [None, None, "none", "none"]
    assert document["policies"]["recorded"]["guard_actions"] == [None, None, "none", "none"]
    assert document["same_as_recorded"] is True


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        (None, None),
        ("on", None),
        ({"windows": None}, None),
        ({"windows": {"short": {"abandons": 1, "handled": 9}}}, None),  # one window only
        ({"windows": {"short": {"abandons": -1, "handled": 9}, "compliance": {"abandons": 0, "handled": 0}}}, None),
        ({"windows": {"short": {"abandons": "1", "handled": 9}, "compliance": {"abandons": 0, "handled": 0}}}, None),
        ({"windows": {"short": {"abandons": True, "handled": 9}, "compliance": {"abandons": 0, "handled": 0}}}, None),
        (
            {"windows": {"short": {"abandons": 1, "handled": 9}, "compliance": {"abandons": 2, "handled": 98}}},
            ((1, 9, ""), (2, 98, "")),
        ),
        (  # unreadable in the run: no counts, and the run's error as the reason
            {
                "windows": {
                    "short": {"abandons": None, "handled": None, "error": "GET skill 4567 summary: 503"},
                    "compliance": {"abandons": None, "handled": None, "error": None},
                }
            },
            ((None, None, "GET skill 4567 summary: 503"), (None, None, "unreadable")),
        ),
    ],
)
def test_recorded_windows_are_read_as_the_run_read_them_or_not_at_all(guard: Any, expected: Any) -> None:
    """An audit line is a file anyone with the state directory may have edited: a window of any other shape is no
    figures for that run (replayed without the guard), never a crash or a guessed count."""
    record = {"time": "2024-06-11T08:00:00+00:00", "total_agents": 20, "available_agents": 20, "guard": guard}
    row = _row(record)
    assert row is not None
    got = None
    if row.abandon is not None:
        got = tuple((w.abandons, w.handled, w.reason) for w in (row.abandon.short, row.abandon.compliance))
    assert got == expected
