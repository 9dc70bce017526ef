"""Trust boundaries of tenant data: filters that match nobody (issue 11 item 5), tenant strings on a terminal
(item 10) and the audit intent line that survives a kill -9 (item 12).

Every test here is a row of the "Trust boundaries" table of docs/reliability.md (``ALL_IN_TRUST_TABLE``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxone_sandbox import DEFAULT_SKILL_ID
from cxone_sandbox.faults import Fault
from cxone_tune import audit
from cxone_tune.text import markup_safe, printable
from tests.conftest import Cli, wait_for
from tests.harness import Harness

ALL_IN_TRUST_TABLE = True  # test_every_trust_test_is_in_the_table holds this module to the table

# Per profile: the agent row's team and queue keys, a value of each the sandbox has, and the type of ids.
FILTER_KEYS = {"v2": ("teamId", "queueId"), "acd": ("teamId", "skillId")}
REAL = {
    "v2": {"CXONE_TEAM_IDS": "t-north", "CXONE_QUEUE_IDS": "q-sales"},
    "acd": {"CXONE_TEAM_IDS": "12", "CXONE_QUEUE_IDS": "4567"},
}
BOGUS = {
    "v2": {"CXONE_TEAM_IDS": "t-nowhere", "CXONE_QUEUE_IDS": "q-none"},
    "acd": {"CXONE_TEAM_IDS": "99", "CXONE_QUEUE_IDS": "999"},
}


def rows(h: Harness) -> list[dict[str, Any]]:
    """The agent rows of the harness's profile, as the sandbox serves them (edited in place by tests)."""
    return h.tenant.agents if h.name == "v2" else h.tenant.acd_agents


def audit_records(h: Harness) -> list[dict[str, Any]]:
    return audit.read(Path(h.env["CXONE_STATE_DIR"]))


# ------------------------------------------------------------------ item 5: filters that match nobody
@pytest.mark.parametrize("variable", ["CXONE_TEAM_IDS", "CXONE_QUEUE_IDS"])
@pytest.mark.parametrize("shape", ["alone", "beside-real-ones"])
def test_a_filter_value_that_matches_no_agent_is_78_and_nothing_is_written(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch, variable: str, shape: str
) -> None:
    bogus = BOGUS[harness.name][variable]
    value = bogus if shape == "alone" else f"{REAL[harness.name][variable]},{bogus}"
    monkeypatch.setenv(variable, value)
    before = harness.stored()
    result = cli("run-once")
    assert result.exit_code == 78, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert variable in line and repr(bogus) in line and "nothing written" in line
    assert repr(REAL[harness.name][variable]) not in line  # only the value that matched nothing is named
    assert harness.writes() == 0 and harness.stored() == before
    assert audit_records(harness)[-1]["exit_code"] == 78  # the refused run is recorded


def test_several_values_where_one_matches_nothing_name_only_that_one(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_key, _ = FILTER_KEYS[harness.name]
    teams = sorted({str(row[team_key]) for row in rows(harness)})
    assert len(teams) >= 2
    monkeypatch.setenv("CXONE_TEAM_IDS", ",".join([*teams, BOGUS[harness.name]["CXONE_TEAM_IDS"]]))
    result = cli("compute")
    assert result.exit_code == 78
    assert f"CXONE_TEAM_IDS: {BOGUS[harness.name]['CXONE_TEAM_IDS']!r} matches none of the 40 agents read" in (
        result.stderr
    )
    for team in teams:
        assert repr(team) not in result.stderr.splitlines()[-1]


def test_filters_that_together_match_nobody_are_78(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    team_key, queue_key = FILTER_KEYS[harness.name]
    agents = rows(harness)
    # Two teams, each on a queue of its own: each filter matches agents, their intersection none.
    first, second = agents[0][team_key], next(r[team_key] for r in agents if r[team_key] != agents[0][team_key])
    queue_a, queue_b = agents[0][queue_key], next(r[queue_key] for r in agents if r[queue_key] != agents[0][queue_key])
    for index, row in enumerate(agents):
        row[team_key], row[queue_key] = (first, queue_a) if index % 2 else (second, queue_b)
    monkeypatch.setenv("CXONE_TEAM_IDS", str(first))
    monkeypatch.setenv("CXONE_QUEUE_IDS", str(queue_b))
    before = harness.stored()
    result = cli("run-once")
    assert result.exit_code == 78, result.stderr
    assert "CXONE_TEAM_IDS and CXONE_QUEUE_IDS together match none of the 40 agents read" in result.stderr
    assert harness.writes() == 0 and harness.stored() == before


def test_a_filter_that_matches_is_used_as_before(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in REAL[harness.name].items():
        monkeypatch.setenv(variable, value)
    result = cli("compute", "--json")
    assert result.exit_code == 0, result.stderr
    team_key, queue_key = FILTER_KEYS[harness.name]
    real = REAL[harness.name]
    skill = {agent["agentId"] for agent in harness.tenant.pool_agents(DEFAULT_SKILL_ID)}  # acd: the skill's pool
    pool = [
        r
        for r in rows(harness)
        if str(r[team_key]) == real["CXONE_TEAM_IDS"]
        and str(r[queue_key]) == real["CXONE_QUEUE_IDS"]
        and (harness.name == "v2" or r["agentId"] in skill)
    ]
    assert 0 < json.loads(result.stdout)["total_agents"] == len(pool)
    assert "warning" not in result.stderr


def test_a_known_state_nobody_is_in_is_a_real_zero_and_lowers(cli: Cli, harness: Harness) -> None:
    harness.set_states(0, 6)  # everyone on a contact: nobody available is true, and the value goes down
    result = cli("run-once", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["available_agents"] == 0
    assert harness.writes() == 1 and harness.value() == harness.expected(0)
    assert "CXONE_AVAILABLE_STATES" not in result.stderr


def test_an_available_state_that_is_no_state_is_78(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_AVAILABLE_STATES", "Avialable")
    before = harness.stored()
    result = cli("run-once")
    assert result.exit_code == 78, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "CXONE_AVAILABLE_STATES" in line and "is not a state" in line and "nothing written" in line
    assert harness.writes() == 0 and harness.stored() == before


def test_an_unknown_state_beside_known_ones_warns_on_v2_and_is_78_on_acd(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = "available" if harness.name == "v2" else "Available,Dialer"
    monkeypatch.setenv("CXONE_AVAILABLE_STATES", f"{known},Avialable")
    result = cli("compute", "--json")
    if harness.name == "v2":  # the contract's list is "values seen": the count stands on the known names
        assert result.exit_code == 0, result.stderr
        assert "warning: CXONE_AVAILABLE_STATES: 'avialable' is not a state of the v2 API" in result.stderr
        assert json.loads(result.stdout)["available_agents"] == harness.available()
    else:  # NICE numbers its states: a name outside that list is a typo, whatever else is listed
        assert result.exit_code == 78
        assert "CXONE_AVAILABLE_STATES: 'Avialable' is not a state of the acd API" in result.stderr


@pytest.mark.parametrize("harness", ["v2"], indirect=True)  # acd states are NICE's numbered list: none can be added
def test_a_v2_state_seen_in_the_tenant_is_known(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.tenant.set_agent_states(["available", "dialer", "dialer", "in-progress"])
    monkeypatch.setenv("CXONE_AVAILABLE_STATES", "available,dialer")
    result = cli("compute", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["available_agents"] == 3
    assert "warning" not in result.stderr


def test_agents_lists_with_a_warning_when_a_filter_matches_nothing(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_TEAM_IDS", BOGUS[harness.name]["CXONE_TEAM_IDS"])
    result = cli("agents", "--summary")
    assert result.exit_code == 0, result.stderr
    assert "warning: CXONE_TEAM_IDS:" in result.stderr and "matches none of the 40 agents read" in result.stderr


# ------------------------------------------------------------------ item 12: the audit intent line
def raw_lines(h: Harness) -> list[dict[str, Any]]:
    path = Path(h.env["CXONE_STATE_DIR"]) / audit.AUDIT_NAME
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_a_write_leaves_an_intent_line_before_it_and_the_completed_record_after(cli: Cli, harness: Harness) -> None:
    harness.set_states(3, 2)
    before = harness.value()
    assert before != harness.expected(3)
    result = cli("run-once")
    assert result.exit_code == 0, result.stderr
    intent, done = raw_lines(harness)
    assert intent["phase"] == "intent" and intent["run_id"] == done["run_id"] and len(intent["run_id"]) == 32
    assert (
        (intent["previous_limit"], intent["limit"])
        == (before, harness.expected(3))
        == (
            done["previous_limit"],
            done["limit"],
        )
    )
    assert intent["target"] == done["target"] and done["applied"] is True and "phase" not in done
    # history folds the intent into its completed record: one run, one row
    (record,) = json.loads(cli("history", "--json").stdout)
    assert record == done and "outcome" not in record
    assert "outcome unknown" not in cli("history").stdout


def test_apply_and_a_conflict_retry_leave_an_intent_before_every_write_and_history_one_row(
    cli: Cli, harness: Harness
) -> None:
    """``apply`` writes through the same hook as ``run-once``; a write re-applied after another writer's edit
    (v2: a 409 on the PUT; acd: the edit seen by the re-read before the PUT) leaves an intent line per attempt,
    all with the run's id, and ``history`` still shows one row for the run."""
    before = harness.value()
    value = "5" if harness.name == "v2" else "1.2"
    result = cli("apply", value)
    assert result.exit_code == 0, result.stderr
    intent, done = raw_lines(harness)
    assert (intent["phase"], intent["command"], intent["run_id"]) == ("intent", "apply", done["run_id"])
    assert (intent["previous_limit"], intent["limit"]) == (before, float(value) if harness.name == "acd" else 5)
    harness.tenant.add_fault(Fault("concurrent_edit"))  # another writer, once
    result = cli("run-once")
    assert result.exit_code == 0, result.stderr
    lines = raw_lines(harness)[2:]
    assert [line.get("phase") for line in lines] == ["intent", "intent", None]
    assert len({line["run_id"] for line in lines}) == 1 and lines[-1]["conflicts"] == 1
    assert harness.writes() == (1 + 2 if harness.name == "v2" else 1 + 1)  # v2: one PUT refused with 409
    history = json.loads(cli("history", "--json").stdout)
    assert [(r["command"], r.get("outcome"), r["applied"]) for r in history] == [
        ("apply", None, True),
        ("run-once", None, True),
    ]


def test_no_write_means_no_intent_line(cli: Cli, harness: Harness) -> None:
    harness.set_states(3, 2)
    assert cli("run-once", "--dry-run").exit_code == 0
    cli("apply", str(harness.value()))  # already the value: nothing to write
    assert [r.get("phase") for r in raw_lines(harness)] == [None, None]


def test_kill_9_between_the_put_and_its_audit_line_leaves_an_attempted_write(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGKILL of a real run, while the sandbox holds back the answer to a PUT it has stored."""
    harness.set_states(3, 2)
    before, wanted = harness.value(), harness.expected(3)
    assert before != wanted
    harness.tenant.add_fault(Fault("hang_answer", method="PUT", path=harness.target_path))
    run = subprocess.Popen(
        [sys.executable, "-m", "cxone_tune", "run-once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CXONE_READ_TIMEOUT": "60", "CXONE_TIME_BUDGET": "120"},
    )
    try:
        # The sandbox received the PUT and stored the value; its answer never leaves.
        assert wait_for(lambda: harness.value() == wanted, seconds=60), "the PUT never arrived"
        assert run.poll() is None  # still waiting for the answer
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert harness.writes() == 1
    (intent,) = raw_lines(harness)  # no completed record: the kill came first
    assert intent["phase"] == "intent"
    (record,) = json.loads(cli("history", "--json").stdout)
    assert record["outcome"] == "unknown" and record["run_id"] == intent["run_id"]
    assert (record["previous_limit"], record["limit"]) == (before, wanted)
    monkeypatch.setenv("COLUMNS", "200")  # the table's row on one line
    text = cli("history")
    assert text.exit_code == 0 and "write attempted, outcome unknown" in text.stdout
    # The next run completes normally; the attempt stays in the history as it was.
    harness.tenant.clear_faults()
    assert cli("run-once").exit_code == 0
    outcomes = [r.get("outcome") for r in json.loads(cli("history", "--json").stdout)]
    assert outcomes == ["unknown", None]


def test_a_write_whose_intent_cannot_be_recorded_is_not_sent(harness: Harness) -> None:
    """A real failure to append: the run's process may not grow a file past the audit log's size (EFBIG)."""
    harness.set_states(3, 2)
    before = harness.value()
    state = Path(harness.env["CXONE_STATE_DIR"])
    state.mkdir(mode=0o700)
    old = json.dumps({"time": "2026-01-01T00:00:00+00:00", "command": "run-once", "pad": "x" * 4000}) + "\n"
    (state / audit.AUDIT_NAME).write_text(old)
    os.chmod(state / audit.AUDIT_NAME, 0o600)
    limit = len(old) + 10  # room for the lock's pid and the token cache, not for an audit line

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing

    run = subprocess.run(
        [sys.executable, "-m", "cxone_tune", "run-once"],
        capture_output=True,
        check=False,
        env=dict(os.environ),
        preexec_fn=small_files,
        timeout=120,
    )
    assert run.returncode == 75, run.stderr
    assert b"cannot append the intent line to the audit log" in run.stderr and b"nothing written" in run.stderr
    assert harness.writes() == 0 and harness.value() == before
    # What the limit let through of the intent is a cut-short line, skipped when read; no record says "applied".
    assert (state / audit.AUDIT_NAME).read_text().startswith(old)
    assert [record.get("pad") for record in audit.read(state)] == ["x" * 4000]


def test_every_audit_line_is_fsynced_and_a_new_file_s_directory_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    state = tmp_path / "state"
    audit.append(state, {"n": 1})
    assert synced == ["file", "dir"]  # the line, and the new file's directory entry
    audit.append(state, {"n": 2})
    assert synced == ["file", "dir", "file"]


# ------------------------------------------------------------------ numbers from the tenant
STEERED_FIELD = {"v2": "rules.maxConcurrentCalls", "acd": "maximumRatio"}


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_a_steered_value_that_is_no_finite_number_is_76_and_nothing_is_written(
    cli: Cli, harness: Harness, value: float
) -> None:
    """The value in force as the tenant sends it (``Infinity``, ``NaN``: Python's json reads them) is no value a
    policy can start from. Before: acd took it and the policy's Decimal arithmetic ended in exit 70."""
    field = STEERED_FIELD[harness.name]
    harness.tenant.add_fault(
        Fault("wrong_type", method="GET", path=harness.target_path, field=field, value=value, times=None)
    )
    before = harness.stored()
    result = cli("run-once")
    assert result.exit_code == 76, (result.stdout, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cxone-tune: error: GET ") and field.split(".")[-1] in last, last
    assert harness.writes() == 0 and harness.stored() == before


# ------------------------------------------------------------------ item 10: tenant strings on a terminal
ESC_CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home
TITLE = "\x1b]0;pwned\x07"  # set the terminal's title (OSC ... BEL)
BIDI = "\u202egnp.exe\u202c"  # right-to-left override ... pop
HOSTILE = {
    "v2": {
        "name": f"[bold red]Eve[/]{TITLE}",
        "userId": f"u-{BIDI}",
        "teamId": f"t\r{ESC_CLEAR}",
        "queueId": "q\u2066x\u2069",
    },
    "acd": {
        "firstName": f"[bold red]Eve[/]{TITLE}",
        "outStateDescription": f"Lunch\r{ESC_CLEAR}",
        "skillName": f"[link=http://example.invalid]PC[/link]{BIDI}\x9b31m",
    },
}
STATE = {"v2": f"unavailable{ESC_CLEAR}", "acd": "Unavailable\x1b[31m"}
STATE_KEY = {"v2": "state", "acd": "agentStateName"}


def assert_terminal_safe(data: bytes) -> str:
    """No byte or character that a terminal acts on: controls but \\n, DEL, C1, bidi controls."""
    text = data.decode("utf-8")
    bad = [
        char
        for char in text
        if (ord(char) < 0x20 and char != "\n")
        or 0x7F <= ord(char) <= 0x9F
        or 0x202A <= ord(char) <= 0x202E
        or 0x2066 <= ord(char) <= 0x2069
    ]
    assert not bad, f"raw control characters reached the terminal: {bad!r}"
    return text


def plant_hostile_strings(h: Harness) -> None:
    agents = rows(h)
    for row in agents[:3]:
        row.update(HOSTILE[h.name])
    agents[3][STATE_KEY[h.name]] = STATE[h.name]


@pytest.mark.parametrize(
    "command", [["agents"], ["agents", "--summary"], ["compute"], ["run-once", "--no-quiet"], ["history"]]
)
def test_tenant_strings_reach_the_terminal_escaped_never_raw(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    plant_hostile_strings(harness)
    if command == ["history"]:
        assert cli("run-once").exit_code == 0
        # A record whose strings carry what a server's error message can (the acd case of a real run that
        # leaves one: test_error_lines_with_tenant_strings_are_escaped).
        audit.append(
            Path(harness.env["CXONE_STATE_DIR"]),
            {
                "time": "2026-01-01T00:00:00+00:00",
                "command": f"run-once{TITLE}",
                "target": f"c{BIDI}",
                "exit_code": 69,
                "error": f"GET agents: the API said {ESC_CLEAR}[bold]down[/]",
            },
        )
    result = cli(*command)
    assert result.exit_code == 0, result.stderr
    out = assert_terminal_safe(result.stdout_bytes)
    assert_terminal_safe(result.stderr_bytes)
    if command == ["agents"]:
        assert "[bold red]Eve[/]\\x1b]0;pwned\\x07" in out  # markup shown, not applied; escapes visible
        assert "\\u202e" in out
    if command == ["agents", "--summary"]:
        assert "\\x1b[" in out  # the state name (v2 lower-cases it), escaped
    if command == ["history"]:
        assert "\\x1b[2J\\x1b[H[bold]down[/]" in out and "\\u202e" in out  # escaped, markup shown


def test_json_output_keeps_tenant_strings_exact(cli: Cli, harness: Harness) -> None:
    plant_hostile_strings(harness)
    result = cli("agents", "--json")
    assert result.exit_code == 0
    assert_terminal_safe(result.stdout_bytes)  # JSON escapes control characters itself
    names = {agent.get("name") for agent in json.loads(result.stdout)["agents"]}
    planted = f"[bold red]Eve[/]{TITLE}"  # v2's name as is; acd's first name, then the last name
    assert sum(1 for name in names if name == planted or (name or "").startswith(planted + " ")) >= 1


# No v2 error line carries a string of the tenant's agents (an entry lacking a state has no id to name).
@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_error_lines_with_tenant_strings_are_escaped(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = rows(harness)[0]
    row["agentId"] = f"1001{ESC_CLEAR}\u202e"
    del row["agentStateName"]
    row["agentStateId"] = 99  # no state: "agent <id> has no state"
    result = cli("run-once")
    assert result.exit_code == 76
    err = assert_terminal_safe(result.stderr_bytes)
    assert "agent 1001\\x1b[2J\\x1b[H\\u202e has no state" in err
    monkeypatch.setenv("COLUMNS", "400")
    history = cli("history")  # the audit log keeps the error exact; the table shows it escaped
    assert "\\x1b[2J" in assert_terminal_safe(history.stdout_bytes)
    (record,) = audit_records(harness)
    assert ESC_CLEAR in record["error"]


@given(st.text())
def test_the_sanitiser_leaves_nothing_a_terminal_acts_on_and_printable_text_as_it_is(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert_terminal_safe(shown.encode("utf-8", "surrogatepass"))
    if text.isprintable():
        assert shown == text
    assert printable("a\x1b[2J\r\u202eb\x9b\x7f\U000e0001") == "a\\x1b[2J\\x0d\\u202eb\\x9b\\x7f\\U000e0001"
    assert markup_safe("[bold]x[/]") == "\\[bold]x\\[/]"
