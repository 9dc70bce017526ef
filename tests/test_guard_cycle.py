"""The abandon guard through whole runs against the sandbox (issue 10, acd): above the setpoint nothing above 1.0
is written, above the cap the value falls, with the summary unreadable nothing higher than the value in force;
the windows it reads, what the audit line and the metrics file say; and a property over arbitrary abandon and
pool figures.

The compliance window is "today since local midnight"; every test sets CXONE_ABANDON_TIME_ZONE to a zone where
it is now about noon (``noon_zone``), so calls logged minutes or hours ago are "today" on any clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import Result

from cxone_sandbox import DEFAULT_SKILL_ID, Fault, SandboxServer, SandboxTenant
from cxone_tune import cycle, logs
from cxone_tune.abandon import compliance_spans
from cxone_tune.demo import sandbox_settings
from cxone_tune.errors import FilterMatchesNothing
from cxone_tune.policy import AbandonFigures, Pool, WindowCounts, evaluate
from cxone_tune.settings import time_zone
from tests.conftest import Cli
from tests.harness import ACD_SETTINGS, ACD_SUMMARY, Harness, noon_zone
from tests.test_guard_policy import oracle

SKILL = DEFAULT_SKILL_ID


@pytest.fixture
def acd(acd_run: Harness) -> Harness:
    return acd_run


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def set_value(tenant: SandboxTenant, value: float) -> None:
    tenant.edit_skill_settings(SKILL, lambda s: s.__setitem__("maximumRatio", value))


def stored(tenant: SandboxTenant) -> Any:
    return tenant.skill_settings_copy(SKILL)["maximumRatio"]


def step(body: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(s for s in body["steps"] if s["rule"] == rule)


# -- the rules through run-once --------------------------------------------------------------------------------


def test_above_the_setpoint_run_once_never_writes_above_one(cli: Cli, acd: Harness) -> None:
    acd.tenant.set_acd_agents(["Dialer"] * 20)  # the step table says 2.0
    acd.tenant.add_calls(SKILL, 25, 975, seconds_ago=2 * 3600)  # 2.5% of today's live calls, outside the short window
    body = doc(cli("run-once", "--json"))
    assert (body["previous_limit"], body["raw_limit"], body["limit"], body["applied"]) == (2, 2.0, 1.0, True)
    assert stored(acd.tenant) == 1.0
    guard = body["guard"]
    assert (guard["status"], guard["action"], guard["ceiling"]) == ("on", "progressive", 1.0)
    assert guard["raise_allowed"] is False
    compliance = guard["windows"]["compliance"]
    assert (compliance["abandons"], compliance["handled"], compliance["live_calls"]) == (25, 975, 1000)
    assert compliance["rate"] == 0.025 and compliance["triggers"] is True
    assert guard["windows"]["short"]["live_calls"] == 0
    note = step(body, "abandon guard")["note"]
    assert "last 30 min: 0 of 0 live calls abandoned (no live calls)" in note
    assert "25 of 1000 live calls abandoned (2.5%)" in note
    # and the next run (the ratio now 1.0, the policy still proposing 2.0) writes nothing
    again = doc(cli("run-once", "--json"))
    assert (again["limit"], again["changed"], acd.writes()) == (1.0, False, 1)


def test_above_the_cap_on_the_short_window_it_lowers(cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_RATIO_STEPS", "0:1.0,6:1.5,15:3.0")
    acd.tenant.set_acd_agents(["Dialer"] * 20)  # the policy says 3.0, the value in force
    set_value(acd.tenant, 3)
    acd.tenant.add_calls(SKILL, 8, 92, seconds_ago=60)  # 8% in the last 30 minutes
    acd.tenant.add_calls(SKILL, 0, 9900, seconds_ago=3 * 3600)  # today: 8 of 10000 = 0.08%, raises allowed
    body = doc(cli("run-once", "--json"))
    assert (body["previous_limit"], body["raw_limit"], body["limit"]) == (3, 3.0, 2.0)
    assert stored(acd.tenant) == 2.0
    assert body["guard"]["action"] == "halve" and body["guard"]["raise_allowed"] is True
    assert body["guard"]["windows"]["short"]["rate"] == 0.08
    assert "half the headroom above 1.0, 3 -> 2" in step(body, "bounds")["note"]
    # Five minutes later, still hot: half again (2.0 -> 1.5).
    assert doc(cli("run-once", "--json"))["limit"] == 1.5


def test_a_raise_only_below_half_the_setpoint(cli: Cli, acd: Harness) -> None:
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    set_value(acd.tenant, 1.5)
    acd.tenant.add_calls(SKILL, 10, 990, seconds_ago=3600)  # 1%: not below 1%
    held = doc(cli("run-once", "--json"))
    assert (held["raw_limit"], held["limit"], held["changed"], acd.writes()) == (2.0, 1.5, False, 0)
    assert held["guard"]["action"] == "hold"
    acd.tenant.add_calls(SKILL, 0, 100, seconds_ago=3600)  # 10 of 1100: 0.91%
    raised = doc(cli("run-once", "--json"))
    assert (raised["limit"], raised["applied"], raised["guard"]["action"]) == (2.0, True, "none")


def test_a_window_with_fewer_live_calls_than_the_minimum_does_not_trigger(cli: Cli, acd: Harness) -> None:
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    set_value(acd.tenant, 1.5)
    acd.tenant.add_calls(SKILL, 19, 0, seconds_ago=60)  # every one abandoned, but 19 < 20 live calls
    body = doc(cli("run-once", "--json"))
    assert (body["limit"], body["applied"]) == (2.0, True)
    assert body["guard"]["windows"]["short"]["triggers"] is False


@pytest.mark.parametrize("fault", ["503", "403", "malformed", "string-count"])
def test_with_the_summary_failing_nothing_higher_than_the_value_in_force_is_written(
    cli: Cli, acd: Harness, fault: str
) -> None:
    faults = {
        "503": Fault("status", status=503, path=ACD_SUMMARY, times=None),
        "403": Fault("status", status=403, path=ACD_SUMMARY, times=None),
        "malformed": Fault("malformed", path=ACD_SUMMARY, times=None),
        "string-count": Fault("wrong_type", path=ACD_SUMMARY, field="skillSummaries", value=[{"abandonCount": "x"}]),
    }
    acd.tenant.set_acd_agents(["Dialer"] * 20)  # a raise from 1.0 to 2.0 proposed
    set_value(acd.tenant, 1.0)
    acd.tenant.add_fault(faults[fault])
    body = doc(cli("run-once", "--json"))
    assert (body["raw_limit"], body["limit"], body["changed"], acd.writes()) == (2.0, 1.0, False, 0)
    assert body["guard"]["action"] == "hold"
    windows = body["guard"]["windows"]
    unreadable = [name for name, window in windows.items() if window["error"]]
    assert "short" in unreadable and all(windows[name]["abandons"] is None for name in unreadable)
    assert "GET skill 4567 summary" in windows["short"]["error"]
    assert "window could not be read (GET skill 4567 summary" in step(body, "abandon guard")["note"]


def test_with_the_summary_failing_a_lowering_is_still_written(cli: Cli, acd: Harness) -> None:
    acd.tenant.set_acd_agents(["Dialer"] * 3)  # 1.0 proposed, 2 in force
    acd.tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=None))
    body = doc(cli("run-once", "--json"))
    assert (body["limit"], body["applied"], stored(acd.tenant)) == (1.0, True, 1.0)


def test_another_writer_lowering_the_ratio_before_the_write_is_never_raised_over(cli: Cli, acd: Harness) -> None:
    """2.0 in force, 8 agents in the dialer (1.5 proposed: a lowering), today's rate not below half the setpoint
    (no raise allowed). A person sets 1.0 right after the run's read: the run must not write its 1.5 over their
    1.0 (a raise the guard forbids, on the value now in force): it decides again on the fresh copy, and holds."""
    acd.tenant.set_acd_agents(["Dialer"] * 8)
    acd.tenant.add_calls(SKILL, 15, 985, seconds_ago=2 * 3600)  # 1.5% today: no raise, no 1.0 ceiling either
    acd.tenant.add_fault(Fault("concurrent_edit", field="maximumRatio", value=1.0))
    acd.tenant.reset_counts()
    body = doc(cli("run-once", "--json"))
    assert stored(acd.tenant) == 1.0  # theirs, kept
    assert acd.tenant.count("PUT") == 0
    assert (body["previous_limit"], body["limit"], body["applied"], body["conflicts"]) == (1.0, 1.0, False, 1)
    assert body["raw_limit"] == 1.5  # the first decision, on the value read before their edit


def test_another_writer_changing_only_the_ratio_is_a_conflict_not_overwritten(cli: Cli, acd: Harness) -> None:
    """Without the guard in the way, too: the other writer's value is where the run decides from, never a value
    it overwrites with a decision made on the one before (acd has no version: the re-read before the PUT sees it)."""
    acd.tenant.set_acd_agents(["Dialer"] * 8)  # 1.5 proposed
    set_value(acd.tenant, 2.0)
    acd.tenant.add_fault(Fault("concurrent_edit", field="maximumRatio", value=3.0))
    body = doc(cli("run-once", "--json"))
    assert body["conflicts"] == 1
    assert (body["previous_limit"], body["limit"], body["applied"]) == (3.0, 1.5, True)  # decided on 3.0, lowered
    assert stored(acd.tenant) == 1.5


def test_the_30_day_window_reads_one_summary_per_day(cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_ABANDON_WINDOW", "30d")
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    acd.tenant.add_calls(SKILL, 30, 970, at=datetime.now(timezone.utc) - timedelta(days=10))  # 3% ten days ago
    acd.tenant.add_calls(SKILL, 1, 999, at=datetime.now(timezone.utc) - timedelta(days=40))  # outside: not counted
    acd.tenant.reset_counts()
    body = doc(cli("run-once", "--dry-run", "--json"))
    compliance = body["guard"]["windows"]["compliance"]
    assert (compliance["abandons"], compliance["requests"]) == (30, 30)
    assert compliance["label"].startswith("last 30 days")
    assert acd.tenant.count("GET", ACD_SUMMARY) == 1 + 30  # the short window, and one read per calendar day
    assert body["limit"] == 1.0


def test_the_compliance_spans_are_whole_local_days() -> None:
    zone = time_zone("Europe/London")
    now = datetime(2025, 3, 31, 9, 30, tzinfo=timezone.utc)  # 10:30 BST, the day after the clocks went forward
    (today,) = compliance_spans(now, "today", zone)
    assert (today.start, today.end) == (datetime(2025, 3, 30, 23, 0, tzinfo=timezone.utc), now)
    days = compliance_spans(now, "30d", zone)
    assert len(days) == 30 and days[-1] == today
    assert all(a.end == b.start for a, b in itertools.pairwise(days))  # contiguous, oldest first
    assert days[-2].end - days[-2].start == timedelta(hours=23)  # 30 March: 23 hours long in London
    assert days[0].start == datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc)


def test_the_guard_off_reads_nothing_and_says_so(cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_ABANDON_GUARD", "false")
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    acd.tenant.add_calls(SKILL, 50, 50, seconds_ago=60)
    set_value(acd.tenant, 1.0)
    body = doc(cli("run-once", "--json"))
    assert (body["limit"], body["guard"]["status"], body["guard"]["windows"]) == (2.0, "off", None)
    assert acd.tenant.count("GET", ACD_SUMMARY) == 0
    assert all(s["rule"] != "abandon guard" for s in body["steps"])


def test_compute_shows_the_guard_row_with_both_rates(cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    acd.tenant.add_calls(SKILL, 1, 99, seconds_ago=60)
    acd.tenant.add_calls(SKILL, 2, 298, seconds_ago=2 * 3600)
    result = cli("compute")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("abandon guard"))
    assert "last 30 min: 1 of 100 live calls abandoned (1%)" in row
    assert "3 of 400 live calls abandoned (0.75%)" in row


def test_the_audit_line_and_the_metrics_file_carry_both_rates(
    cli: Cli, acd: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    textfile = tmp_path / "metrics" / "cxone_tune.prom"
    textfile.parent.mkdir(mode=0o755)
    monkeypatch.setenv("CXONE_METRICS_FILE", str(textfile))
    acd.tenant.add_calls(SKILL, 1, 39, seconds_ago=60)  # 2.5% short
    acd.tenant.add_calls(SKILL, 1, 159, seconds_ago=2 * 3600)  # 2 of 200 = 1% today
    doc(cli("run-once", "--json"))
    (record,) = json.loads(cli("history", "--json").stdout)
    assert record["guard"]["windows"]["short"]["rate"] == 0.025
    assert record["guard"]["windows"]["compliance"]["rate"] == 0.01
    assert record["pool"]["skill"]["total"] == len(acd.tenant.pool_agents(SKILL))
    rates = {
        sample.labels["window"]: (sample.value, sample.labels["target"], sample.labels["profile"])
        for family in text_string_to_metric_families(textfile.read_text())
        for sample in family.samples
        if sample.name == "cxone_tune_abandon_rate_ratio"
    }
    assert rates == {"short": (0.025, str(SKILL), "acd"), "compliance": (0.01, str(SKILL), "acd")}
    # A run whose summary cannot be read keeps the last known rates (like the other gauges of what was seen).
    acd.tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=None))
    doc(cli("run-once", "--json"))
    assert 'cxone_tune_abandon_rate_ratio{profile="acd"' in textfile.read_text()
    assert textfile.read_text().count("cxone_tune_abandon_rate_ratio{") == 2


# -- the property ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxTenant, SandboxServer, Path]]:
    # The runs below log through whatever handler an earlier CLI test left on the tool's logger, whose stream
    # that test's runner has closed by now: log to this module's stderr instead.
    logs.setup_logging(0, "text", hold_back=False)
    tenant = SandboxTenant(agents=0)
    with SandboxServer(tenant).start() as server:
        yield tenant, server, tmp_path_factory.mktemp("cache")


STATES = ["Dialer", "Available", "OutboundContact", "Unavailable", "LoggedOut"]
calls = st.tuples(st.integers(0, 40), st.integers(0, 400))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(st.sampled_from(STATES), max_size=40),
    assigned=st.integers(0, 40),
    stored_ratio=st.sampled_from([1, 1.2, 1.5, 2, 2.5, 3]),
    short=calls,
    earlier=calls,
    failing=st.sampled_from([None, "short", "every"]),
    min_calls=st.integers(0, 30),
    other_writer=st.none() | st.sampled_from([1, 1.2, 1.5, 2, 2.5, 3]),
)
def test_no_written_ratio_is_above_what_the_guard_allows(
    shared: tuple[SandboxTenant, SandboxServer, Path],
    states: list[str],
    assigned: int,
    stored_ratio: float,
    short: tuple[int, int],
    earlier: tuple[int, int],
    failing: str | None,
    min_calls: int,
    other_writer: float | None,
) -> None:
    """Arbitrary pools (some agents of the tenant assigned to the skill), abandons in the short window and
    earlier today, summary reads failing or not, and maybe a person setting the ratio right after the run read
    it: what run-once leaves stored is the policy's value capped at what the oracle of test_guard_policy.py
    allows from the figures the sandbox holds, for the value in force when it writes."""
    tenant, server, cache = shared
    tenant.set_acd_agents(states)
    tenant.assign_agents(SKILL, [1001 + i for i in range(min(assigned, len(states)))])
    set_value(tenant, stored_ratio)
    tenant.clear_calls()
    tenant.clear_faults()
    tenant.add_calls(SKILL, *short, seconds_ago=60)
    tenant.add_calls(SKILL, *earlier, seconds_ago=2 * 3600)
    if failing == "every":
        tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=None))
    elif failing == "short":
        tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=2))  # both attempts of the first read
    if other_writer is not None:  # right after the run's first read of the settings
        tenant.add_fault(Fault("concurrent_edit", field="maximumRatio", value=other_writer))
    in_force = stored_ratio if other_writer is None else other_writer
    config = sandbox_settings(
        "acd",
        server.url,
        cache,
        abandon_time_zone=noon_zone(),
        abandon_min_calls=min_calls,
        max_attempts=2,
        retry_after_cap=0,
    )
    job = cycle.Job.from_settings(config)
    writes = tenant.count("PUT", ACD_SETTINGS)
    if not min(assigned, len(states)):  # a skill with nobody assigned: the run ends, nothing written
        with pytest.raises(FilterMatchesNothing), job.open() as profile:
            cycle.run_once(job, profile, dry_run=False)
        assert tenant.count("PUT", ACD_SETTINGS) == writes
        return
    with job.open() as profile:
        result = cycle.run_once(job, profile, dry_run=False)
    # The value in force when the run decided last: the other writer's, when the run went to write and found
    # it (a conflict: it decided again); the value it read, when its decision needed no write.
    conflicted = result.apply.conflicts > 0
    assert conflicted == (stored_ratio not in (in_force, result.compute.decision.limit))
    current = in_force if conflicted else stored_ratio
    written = stored(tenant)
    # Written, it is the run's value; else whatever was in force stands (theirs, or the value read).
    assert written == (result.apply.limit if result.apply.applied else in_force)
    decided = result.apply.limit
    # The figures the guard was owed, straight from the sandbox's call log and faults.
    total = (short[0] + earlier[0], short[1] + earlier[1])
    gone = WindowCounts("x", None, None, "failing")
    short_counts = gone if failing else WindowCounts("x", *short)
    compliance_counts = gone if failing == "every" else WindowCounts("x", *total)
    allowed = oracle(AbandonFigures(short_counts, compliance_counts), job.options, job.params, current, 0)
    decision, snapshot = result.compute.decision, result.compute.snapshot
    pool = Pool(decision.available, decision.total, snapshot.busy, snapshot.acw)
    plain = evaluate(pool, job.params, job.options, current)
    unguarded = Fraction(str(plain.decision.limit))
    assert Fraction(str(decided)) == (unguarded if allowed is None else min(unguarded, allowed))
    if failing is not None:
        assert decided <= current  # nothing higher than the value in force with the summary unreadable
    guard = result.compute.decide_again(job, current).guard
    assert guard is not None
    if decided > current:
        assert guard.raise_allowed and failing is None


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000])
def test_a_summary_count_that_is_no_count_makes_the_window_unreadable_never_a_crash(
    cli: Cli, acd: Harness, value: str
) -> None:
    """ "²" passes str.isdigit() and int() raises on it: a ProtocolError (the window unreadable, no raise), not 70."""
    acd.tenant.set_acd_agents(["Dialer"] * 20)
    set_value(acd.tenant, 1.5)
    entry = {"skillId": SKILL, "abandonCount": value, "contactsHandled": 100}
    acd.tenant.add_fault(Fault("wrong_type", method="GET", path=ACD_SUMMARY, field="skillSummaries", value=[entry]))
    body = doc(cli("run-once", "--json"))
    assert (body["limit"], body["applied"], body["guard"]["action"]) == (1.5, False, "hold")
    error = body["guard"]["windows"]["short"]["error"]
    assert error.startswith("GET skill 4567 summary: abandonCount is missing or not a count")
