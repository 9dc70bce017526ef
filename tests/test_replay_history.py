"""``replay --history``: the audit log's own runs through the configured policy, against what was written.

The logs here are written by the tool itself: real ``run-once`` and ``apply`` runs against the sandbox tenant on
loopback, with the agent mix changed between runs through the sandbox. Where a test needs runs spread over
time (``--since``, gaps), it moves the recorded times apart afterwards; the counts and values stay the runs' own.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, DEFAULT_SKILL_ID, Fault, sandbox_env
from cxone_tune import audit, documents
from cxone_tune.policy import RatioParams, decide_ratio
from cxone_tune.profiles import TargetRef
from cxone_tune.replay import Row, minutes
from tests.conftest import Cli
from tests.harness import Harness

TEAM = 36  # agents in the sandbox for these tests


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for the whole table: how it fits narrower terminals is the table's own business."""
    monkeypatch.setenv("COLUMNS", "120")


def _state(harness: Harness) -> Path:
    return Path(harness.env["CXONE_STATE_DIR"])


def _churn(rng: random.Random) -> tuple[int, int, int, int]:
    """A mix whose availability jumps across the ratio table's steps (6, 15) while the staffed team barely moves."""
    away = rng.choice((2, 3, 4))
    acw = rng.choice((1, 2, 3))
    capacity = TEAM - away - acw
    available = rng.randint(3, 18)
    return available, capacity - available, acw, away


def _run(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("run-once", "--json", *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _history(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("replay", "--history", "--json", *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _text(cli: Cli, *args: str) -> str:
    result = cli("replay", "--history", "--width", "100", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _respace(state: Path, start: datetime, step: timedelta, *, gap_after: int | None = None) -> list[str]:
    """Move the recorded runs ``step`` apart from ``start`` (an extra hour after run ``gap_after``), in the
    order they were written; the counts and values stay as recorded. Returns the new times, one per record."""
    path = audit.audit_path(state)
    lines = path.read_text(encoding="utf-8").splitlines()
    when, times, rewritten = start, [], []
    for line in lines:
        record = json.loads(line)
        record["time"] = when.isoformat(timespec="seconds")
        rewritten.append(json.dumps(record))
        if record.get("phase") != audit.INTENT:  # an intent and its completed record are one run
            times.append(record["time"])
            when += step
            if gap_after is not None and len(times) == gap_after:
                when += timedelta(hours=1)
    path.write_text("\n".join(rewritten) + "\n", encoding="utf-8")
    return times


# -- 50 real runs, then the replay -------------------------------------------------------------------------------


def test_fifty_runs_replayed_against_what_was_written(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done when": 50 run-once runs against the sandbox while the agent mix changes; the replay shows
    the writes recorded (the sandbox counted them) and the alternative policy's, and how many it would save."""
    harness.tenant.set_agent_count(TEAM)
    rng = random.Random(13)
    written = []
    for _ in range(50):
        harness.set_mix(*_churn(rng))
        _run(cli)
        written.append(harness.value())
    writes = harness.writes()
    assert writes >= 10  # the design's rule follows every flap

    same = _history(cli)  # the policy that ran (design) replays to exactly what it wrote
    assert same["runs"] == 50
    assert same["writes"] == {"recorded": writes, "configured": writes, "saved": 0}
    assert same["policies"]["recorded"]["limits"] == written
    assert same["policies"]["configured"]["limits"] == written
    assert same["same_as_recorded"] is True

    monkeypatch.setenv("CXONE_POLICY", "stable")
    stable = _history(cli)
    configured = stable["policies"]["configured"]
    assert stable["writes"]["recorded"] == writes
    assert stable["writes"]["configured"] == configured["changes"]
    assert stable["writes"]["saved"] == writes - configured["changes"] > 0
    assert configured["policy"] == "stable"
    assert stable["same_as_recorded"] is False
    assert stable["value_kind"] == ("ratio" if harness.name == "acd" else "count")

    text = _text(cli)
    saved = writes - configured["changes"]
    assert (
        f"recorded: {writes} write(s) in 50 run(s); the configured policy (stable) would have made "
        f"{configured['changes']}: {saved} write(s) saved"
    ) in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.startswith("│")}
    assert set(rows) == {"configured (stable)", "recorded"}
    assert [cell.strip() for cell in rows["recorded"].split("│")[2:3]] == [str(writes)]
    assert "x recorded" in text and "o configured (stable)" in text


def test_a_ratio_history_is_drawn_on_its_own_decimal_panel(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.tenant.set_agent_count(TEAM)
    rng = random.Random(7)
    for _ in range(12):
        harness.set_mix(*_churn(rng))
        _run(cli)
    text = _text(cli)
    table = [line for line in text.splitlines() if line.startswith("│")]
    if harness.name == "acd":
        assert "general-settings.maximumRatio: a per-agent ratio" in text
        assert any(line.startswith("1.5 ┤") for line in text.splitlines())  # a decimal scale for the ratio
        assert all("n/a" in line for line in table)  # no line count: no idle or over-dial minutes
        assert "n/a for a per-agent ratio" in text
        document = _history(cli)
        assert document["policies"]["recorded"]["idle_agent_minutes"] is None
        assert {1.0, 1.5, 2.0} >= set(document["policies"]["recorded"]["limits"])
    else:
        assert "a per-agent ratio" not in text
        assert not any("n/a" in line for line in table)


def test_stable_runs_replay_exactly_with_the_decision_memory(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs under the stable policy remember their proposals (raise only after two runs agree): the replay keeps
    the same memory, so the policy that ran writes what was recorded, run by run; also from --since on, where the
    runs before fill the memory."""
    monkeypatch.setenv("CXONE_POLICY", "stable")
    harness.tenant.set_agent_count(TEAM)
    # The team grows and shrinks by whole groups, so raises wait for confirmation and lowers come at once.
    teams = [8, 8, 20, 20, 20, 5, 30, 12, 30, 30, 30, 6, 6, 18, 25, 25, 4, 4, 30, 30]
    for team in teams:
        harness.set_mix(team // 3, team - team // 3, 1, TEAM - team - 1)
        _run(cli)
    times = _respace(_state(harness), datetime(2024, 6, 11, 8, 0, tzinfo=timezone.utc), timedelta(minutes=5))

    whole = _history(cli)
    fired = whole["policies"]["recorded"]["steps_fired"]
    assert fired.get("confirm raise", 0) >= 2  # the memory held raises back in the real runs
    assert whole["same_as_recorded"] is True
    assert whole["writes"]["saved"] == 0

    since = times[9]
    window = _history(cli, "--since", since)
    assert window["runs"] == len(teams) - 9
    assert window["records"]["earlier"] == 9
    assert window["policies"]["recorded"]["limits"] == whole["policies"]["recorded"]["limits"][9:]
    assert window["same_as_recorded"] is True
    assert window["since"] == datetime.fromisoformat(since).isoformat()
    assert window["start"] == since


def test_an_alternative_that_writes_more_says_so(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs under the stable policy on a flapping day, replayed with the design's rule: more writes, not fewer."""
    monkeypatch.setenv("CXONE_POLICY", "stable")
    harness.tenant.set_agent_count(TEAM)
    rng = random.Random(11)
    for _ in range(15):
        harness.set_mix(*_churn(rng))
        _run(cli)
    recorded = harness.writes()
    monkeypatch.setenv("CXONE_POLICY", "design")
    design = _history(cli)
    more = design["writes"]["configured"] - recorded
    assert design["writes"] == {"recorded": recorded, "configured": recorded + more, "saved": -more}
    assert more > 0  # no memory, no deadband: it follows every flap
    assert f"would have made {recorded + more}: {more} write(s) more" in " ".join(_text(cli).split())


# -- what else the log holds -------------------------------------------------------------------------------------


def test_dry_failed_manual_outside_and_unknown_records(cli: Cli, harness: Harness) -> None:
    """Each kind of record is handled on its own: dry runs and failed runs are not replayed, a value set by hand
    (apply) or by another writer is where both sides go on from, and a write of unknown outcome is settled by
    the next run's reading."""
    harness.tenant.set_agent_count(TEAM)
    high = 2.5 if harness.name == "acd" else 33
    harness.set_mix(10, 20, 2, 4)
    _run(cli)  # 1: a real run
    harness.set_mix(16, 14, 2, 4)
    _run(cli, "--dry-run")  # a dry run: nothing written
    harness.tenant.add_fault(Fault("status", status=403, path=harness.agents_path, times=None))
    failed = cli("run-once")  # a failed run: refused, nothing seen
    assert failed.exit_code == 77
    harness.tenant.clear_faults()
    by_hand = cli("apply", str(high))  # a value set by hand
    assert by_hand.exit_code == 0, by_hand.stderr
    _run(cli)  # 2: finds the value set by hand, writes the rule's
    harness.edit_value(high)  # another writer
    _run(cli)  # 3: finds the other writer's value
    # A run killed between its intent line and its record: the intent is all the log has; the write did land.
    ref = TargetRef(harness.name, _kind(harness), _id(harness), "")
    now = datetime.now(timezone.utc).timestamp()
    intent = documents.intent_record(
        now=now, run_id="killed", command="run-once", ref=ref, previous=harness.value(), limit=high
    )
    audit.append(_state(harness), intent)
    harness.edit_value(high)
    harness.set_mix(4, 26, 2, 4)
    _run(cli)  # 4: finds the killed run's value

    document = _history(cli)
    assert document["records"] == {
        "replayed": 4,
        "dry_run": 1,
        "failed": 1,
        "manual": 1,
        "unknown_outcome": 1,
        "malformed": 0,
        "earlier": 0,
        "unreadable_lines": 0,
    }
    assert document["outside_changes"] == 2  # the other writer's edit, and the killed run's write
    # Run 2 and run 4 found a value set from outside the replayed runs: the design's rule, replayed, writes
    # from there as the real runs did (had it gone on from its own value, it would have written less).
    assert document["same_as_recorded"] is True
    assert document["writes"]["configured"] == document["writes"]["recorded"] == harness.writes() - 1  # not apply
    text = " ".join(_text(cli).split())
    assert "1 dry run not replayed" in text
    assert "1 failed run not replayed" in text
    assert "1 value set by hand (apply)" in text
    assert "1 write of unknown outcome" in text
    assert "2 x time a run found a value in force other than the log last left" in text


def test_a_log_of_two_targets(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Records of another target are never mixed in: the configured target is replayed and the others named; a
    config file with several targets needs --target, which takes the name, the id or PROFILE:ID."""
    harness.tenant.set_agent_count(TEAM)
    other = "acd" if harness.name == "v2" else "v2"
    ids = {"v2": DEFAULT_CAMPAIGN_ID, "acd": str(DEFAULT_SKILL_ID)}
    for _ in range(3):
        _run(cli)
    url = harness.env.get("CXONE_TENANT_URL") or harness.env["CXONE_ISSUER"]
    for name, value in sandbox_env(url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CXONE_API", other)
    for _ in range(5):
        _run(cli)

    monkeypatch.setenv("CXONE_API", harness.name)
    mine = _history(cli)
    assert (mine["profile"], mine["target"], mine["runs"]) == (harness.name, ids[harness.name], 3)
    assert mine["other_targets"] == {f"{other}:{ids[other]}": 5}
    assert f"the log also holds records of other targets, not replayed: {other}:{ids[other]} (5)" in " ".join(
        _text(cli).split()
    )

    refused = cli("replay", "--history", "--target", ids[other])
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        f"cxone-tune: error: --target {ids[other]!r} is not a configured target ({harness.name}:{ids[harness.name]})"
    ]

    config = tmp_path / "targets.toml"
    config.write_text(
        f'[[targets]]\nname = "outbound"\napi = "v2"\ncampaign_id = "{DEFAULT_CAMPAIGN_ID}"\n\n'
        f'[[targets]]\nname = "dialer"\napi = "acd"\nskill_id = {DEFAULT_SKILL_ID}\n',
        encoding="utf-8",
    )
    several = cli("--config", str(config), "replay", "--history")
    assert several.exit_code == 2
    assert several.stderr.strip().splitlines() == [
        "cxone-tune: error: replay --history replays one target at a time; choose one with --target "
        f"(outbound (v2:{DEFAULT_CAMPAIGN_ID}), dialer (acd:{DEFAULT_SKILL_ID}))"
    ]
    runs = {"v2": 3 if harness.name == "v2" else 5, "acd": 3 if harness.name == "acd" else 5}
    for wanted, profile in (
        ("outbound", "v2"),
        ("dialer", "acd"),
        (DEFAULT_CAMPAIGN_ID, "v2"),
        (f"acd:{DEFAULT_SKILL_ID}", "acd"),
    ):
        result = cli("--config", str(config), "replay", "--history", "--json", "--target", wanted)
        assert result.exit_code == 0, result.stderr
        chosen = json.loads(result.stdout)
        assert (chosen["profile"], chosen["runs"]) == (profile, runs[profile])
        assert chosen["name"] == ("outbound" if profile == "v2" else "dialer")
        assert chosen["value_kind"] == ("ratio" if profile == "acd" else "count")
    # the global --target narrows the config file the same way
    result = cli("--config", str(config), "--target", "dialer", "replay", "--history", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["profile"] == "acd"


# -- --since, and nothing to replay ------------------------------------------------------------------------------


@pytest.fixture
def spread_log(cli: Cli, harness: Harness) -> list[str]:
    """Twelve real runs, recorded five minutes apart from 2024-06-11 08:00 UTC."""
    harness.tenant.set_agent_count(TEAM)
    rng = random.Random(3)
    for _ in range(12):
        harness.set_mix(*_churn(rng))
        _run(cli)
    return _respace(_state(harness), datetime(2024, 6, 11, 8, 0, tzinfo=timezone.utc), timedelta(minutes=5))


@pytest.mark.parametrize(
    ("since", "runs"),
    [
        ("2024-06-11T08:30:00Z", 6),  # 08:30 to 08:55 UTC
        ("2024-06-11T08:30Z", 6),
        ("2024-06-11T10:30+02:00", 6),  # the same moment, with an offset
        ("2024-06-11T08:31:00+00:00", 5),
        ("2024-06-10", 12),  # a date: local midnight, the day before
        ("2024-06-11T07:00Z", 12),
    ],
)
def test_since_takes_a_date_or_a_time(cli: Cli, spread_log: list[str], since: str, runs: int) -> None:
    document = _history(cli, "--since", since)
    assert document["runs"] == runs
    assert document["start"] == spread_log[12 - runs]
    assert document["records"]["earlier"] == 12 - runs


def test_since_in_local_time(cli: Cli, spread_log: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    local = datetime.fromisoformat(spread_log[4]).astimezone().replace(tzinfo=None)  # a naive local time
    document = _history(cli, "--since", local.isoformat())
    assert document["runs"] == 8


def test_since_after_the_last_run_is_nothing_to_replay(cli: Cli, spread_log: list[str]) -> None:
    result = cli("replay", "--history", "--json", "--since", "2024-06-12")
    assert result.exit_code == 66
    (line,) = result.stderr.strip().splitlines()
    assert json.loads(result.stdout) == {
        "name": None,
        "exit_code": 66,
        "error": line.removeprefix("cxone-tune: error: "),
    }
    assert "nothing to replay:" in line
    assert "since 2024-06-12" in line
    assert "12 completed runs before that" in line


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", "11/06/2024", ""])
def test_a_bad_since_is_a_usage_error(cli: Cli, bad: str) -> None:
    result = cli("replay", "--history", "--since", bad)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"--since: {bad!r} is not an ISO 8601 date or time" in line


def test_a_gap_between_runs_is_left_out_of_the_minutes(cli: Cli, harness: Harness) -> None:
    harness.tenant.set_agent_count(TEAM)
    rng = random.Random(5)
    for _ in range(8):
        harness.set_mix(*_churn(rng))
        _run(cli)
    _respace(_state(harness), datetime(2024, 6, 11, 8, 0, tzinfo=timezone.utc), timedelta(minutes=5), gap_after=4)
    document = _history(cli)
    assert document["gaps"] == 1
    assert any("1 gap longer than 3x the usual 5 min between runs" in note for note in document["notes"])


def test_minutes_skip_an_interval_longer_than_the_limit() -> None:
    start = datetime(2024, 6, 11, 8, 0, tzinfo=timezone.utc)
    rows = [Row(start + timedelta(minutes=m), available=5, busy=5, acw=0, total=10) for m in (0, 5, 65, 70)]
    limits = [4, 4, 4, 4]
    assert minutes(rows, limits) == ((10 - 4) * 70, 0)
    assert minutes(rows, limits, max_interval=timedelta(minutes=15)) == ((10 - 4) * 10, 0)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_no_log_is_one_line_and_exit_66(cli: Cli, harness: Harness, json_flag: list[str]) -> None:
    result = cli("replay", "--history", *json_flag)
    assert result.exit_code == 66
    (line,) = result.stderr.strip().splitlines()
    log = _state(harness) / "audit.jsonl"
    error = f"nothing to replay: {log} does not exist (no run recorded yet)"
    assert line == f"cxone-tune: error: {error}"
    # --json: the error document every failed --json command prints (the failed-target keys), else nothing
    assert result.stdout == (
        json.dumps({"name": None, "exit_code": 66, "error": error}, indent=2) + "\n" if json_flag else ""
    )


def test_a_log_of_dry_runs_only_says_so(cli: Cli, harness: Harness) -> None:
    _run(cli, "--dry-run")
    _run(cli, "--dry-run")
    result = cli("replay", "--history")
    assert result.exit_code == 66
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(f"holds no completed run-once of {harness.name} {_kind(harness)} {_id(harness)} (2 dry runs)")


def test_an_unreadable_line_is_skipped_with_a_warning(cli: Cli, harness: Harness) -> None:
    _run(cli)
    with audit.audit_path(_state(harness)).open("ab") as handle:
        handle.write(b'{"time": "2024-06-11T08:0\xff\n')
    _run(cli)
    result = cli("replay", "--history", "--json")
    assert result.exit_code == 0, result.stderr
    assert "skipped 1 unreadable line" in result.stderr
    document = json.loads(result.stdout)
    assert (document["runs"], document["records"]["unreadable_lines"]) == (2, 1)


def _kind(harness: Harness) -> str:
    return "campaign" if harness.name == "v2" else "skill"


def _id(harness: Harness) -> str:
    return DEFAULT_CAMPAIGN_ID if harness.name == "v2" else str(DEFAULT_SKILL_ID)


# -- the command line --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay"], "replay needs a TRACE.csv, or --history"),
        (["replay", "--since", "2024-06-11"], "--since and --target go with --history"),
        (["replay", "--target", "x"], "--since and --target go with --history"),
        (["replay", "trace.csv", "--history"], "replay takes a TRACE or --history, not both"),
        (["replay", "--history", "--width", "10"], "--width must be at least"),
    ],
)
def test_option_mistakes_are_usage_errors(cli: Cli, harness: Harness, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line


def test_the_json_document_keys(cli: Cli, harness: Harness) -> None:
    for _ in range(3):
        _run(cli)
    document = _history(cli)
    assert list(document) == [
        "source",
        "log",
        "name",
        "profile",
        "target",
        "target_kind",
        "field",
        "value_kind",
        "since",
        "start",
        "end",
        "runs",
        "records",
        "outside_changes",
        "other_targets",
        "gaps",
        "writes",
        "same_as_recorded",
        "notes",
        "times",
        "policies",
        "guard",
    ]
    assert document["source"] == "history"
    assert document["log"] == str(_state(harness) / "audit.jsonl")
    assert len(document["times"]) == 3
    assert set(document["policies"]) == {"configured", "recorded"}
    for side in document["policies"].values():
        assert list(side) == [
            "policy",
            "rule",
            "options",
            "changes",
            "idle_agent_minutes",
            "over_dial_minutes",
            "min",
            "max",
            "mean",
            "steps_fired",
            "limits",
            "guard_held",
            "guard_cut",
            "guard_actions",
            "guard_marks",
        ]
        assert len(side["limits"]) == 3
        assert len(side["guard_actions"]) == len(side["guard_marks"]) == 3
    guard = document["guard"]
    assert list(guard) == [
        "status",
        "short_window",
        "compliance_window",
        "setpoint_pct",
        "cap_pct",
        "min_calls",
        "without_figures",
    ]
    if harness.name == "acd":  # every run read its windows: the guard runs on both sides
        assert (guard["status"], guard["without_figures"]) == ("on", 0)
        assert all(side["guard_actions"] == ["none"] * 3 for side in document["policies"].values())
        assert all((side["guard_held"], side["guard_cut"]) == (0, 0) for side in document["policies"].values())
    else:
        assert guard["status"] == "not available on this API"
        assert all(side["guard_held"] is None and side["guard_cut"] is None for side in document["policies"].values())
        assert all(side["guard_actions"] == [None] * 3 for side in document["policies"].values())


# -- the demo's own log ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_the_demo_replays_its_own_audit_log(cli: Cli, api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = cli("demo", "--api", api)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    _, replayed = text.split("cxone-tune replay --history: the runs above, replayed", 1)
    applied = text.split("replay --history", 1)[0].count("(applied")
    # step 4, step 5 and the 12 runs while agents come and go are recorded (acd: and the run the abandon guard
    # holds); the dry run is recorded and not replayed
    runs = 15 if api == "acd" else 14
    assert f"recorded: {applied} write(s) in {runs} run(s); the configured policy (stable) would have made" in replayed
    assert "1 dry run not replayed" in replayed
    assert "x recorded" in replayed and "o configured (stable)" in replayed
    # The runs were made back to back, within a second or two: the time axis never repeats a label (it numbers the
    # runs when their times would read the same; on a machine slow enough to spread them, their times differ).
    lines = replayed.splitlines()
    axes = [re.split(r"\s{2,}", lines[i + 1].strip()) for i, line in enumerate(lines) if line.lstrip().startswith("└┴")]
    assert axes and all(len(set(axis)) == len(axis) == 5 for axis in axes), axes
    assert all(axis[0] == "run 1" and axis[-1] == f"run {runs}" for axis in axes if axis[0].startswith("run")), axes
    if api == "v2":  # the line the README quotes
        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
        line = "recorded: 10 write(s) in 14 run(s); the configured policy (stable) would have made 3: 7 write(s) saved"
        assert line in replayed and line in readme


# -- the ratio rule on a trace -----------------------------------------------------------------------------------


def test_an_acd_trace_replays_the_ratio_rule(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """acd columns: Available and Dialer are available, the contact states busy, ACW after-call work."""
    trace = tmp_path / "acd.csv"
    trace.write_text(
        "time,Available,Dialer,OutboundContact,InboundConsult,ACW,Unavailable,LoggedOut\n"
        "08:00,1,2,10,1,2,3,5\n"  # 3 available
        "08:05,2,5,8,0,2,3,5\n"  # 7 available
        "08:10,4,12,4,0,1,3,5\n"  # 16 available
        "08:15,0,5,14,0,2,3,5\n",  # 5 available
        encoding="utf-8",
    )
    monkeypatch.setenv("CXONE_API", "acd")
    result = cli("replay", str(trace), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    design = document["policies"]["design"]
    table = RatioParams()
    assert design["limits"] == [decide_ratio(n, 24, table).limit for n in (3, 7, 16, 5)] == [1.0, 1.5, 2.0, 1.0]
    assert design["idle_agent_minutes"] is None and design["over_dial_minutes"] is None
    assert document["value_kind"] == "ratio"

    monkeypatch.setenv("CXONE_POLICY", "stable")
    stable = json.loads(cli("replay", str(trace), "--json").stdout)["policies"]["configured"]
    # stable counts agents on a contact and half of those in ACW: 3 + 11 + 1 = 15 eligible -> 2.0 from the start
    assert stable["limits"][0] == 2.0
    assert stable["options"]["deadband"] == 0.1  # the ratio's own deadband, not the line count's
    assert stable["policy"] == "stable"

    text = cli("replay", str(trace), "--width", "80").stdout
    assert "general-settings.maximumRatio: a per-agent ratio" in text
    assert any(line.startswith("0.5 ┤") for line in text.splitlines())
    assert "ratio by eligible agents from the step table 0:1.0,6:1.5,15:2.0" in text


def test_an_acd_trace_with_different_available_states(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "acd.csv"
    trace.write_text("time,Available,Dialer,OutboundContact\n08:00,2,7,10\n", encoding="utf-8")
    monkeypatch.setenv("CXONE_API", "acd")
    monkeypatch.setenv("CXONE_AVAILABLE_STATES", "Dialer")
    document = json.loads(cli("replay", str(trace), "--json").stdout)
    assert document["policies"]["design"]["limits"] == [1.5]  # 7 in Dialer; Available is only in the total
    monkeypatch.setenv("CXONE_RATIO_STEPS", "0:1.0,5:1.25")
    monkeypatch.setenv("CXONE_MAX_RATIO", str(Decimal("1.2")))
    document = json.loads(cli("replay", str(trace), "--json").stdout)
    assert document["policies"]["design"]["limits"] == [1.2]  # the step table's 1.25, capped
