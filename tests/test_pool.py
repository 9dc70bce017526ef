"""The steered skill's own pool (issue 10, acd): only the agents assigned to it count, joined with their states;
the skill's activity is read as a cross-check; CXONE_POOL_SOURCE chooses the count; the run's exact cost."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cxone_sandbox import DEFAULT_SKILL_ID, Fault, SandboxTenant
from cxone_tune import pool as skill_pool
from cxone_tune.errors import ProtocolError
from cxone_tune.http import ApiClient, RetryPolicy
from cxone_tune.profiles import acd_skill
from tests.conftest import Cli
from tests.harness import ACD_AGENTS, ACD_ASSIGNMENTS, ACD_SETTINGS, ACD_SUMMARY, Harness

ASSIGNED = 25


@pytest.fixture
def acd(acd_run: Harness) -> Harness:
    return acd_run


@pytest.fixture
def big(acd: Harness) -> Harness:
    """300 agents of every skill, of which exactly the first 25 are assigned to the steered skill; a warm token
    cache (the requests counted are the run's own)."""
    acd.tenant.set_agent_count(300)
    acd.tenant.assign_agents(DEFAULT_SKILL_ID, list(range(1001, 1001 + ASSIGNED)))
    assert Cli(CliRunner())("auth-check").exit_code == 0
    acd.tenant.reset_counts()
    return acd


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def in_pool(tenant: SandboxTenant) -> list[dict[str, Any]]:
    return tenant.pool_agents(DEFAULT_SKILL_ID)


# -- the "Done when" -----------------------------------------------------------------------------------


def test_compute_counts_only_the_25_assigned_agents_of_300(cli: Cli, big: Harness) -> None:
    tenant = big.tenant
    pool = in_pool(tenant)
    assert [agent["agentId"] for agent in pool] == list(range(1001, 1026))
    available = sum(1 for agent in pool if agent["agentStateName"] in ("Available", "Dialer"))
    assert 0 < available < tenant.acd_available()  # the tenant-wide count would be far higher
    tenant.reset_counts()
    body = doc(cli("compute", "--json"))
    assert (body["total_agents"], body["available_agents"]) == (ASSIGNED, available)
    assert sum(body["counts"].values()) == ASSIGNED
    assert body["pool"]["source"] == "assigned"
    assert body["pool"]["skill"]["total"] == ASSIGNED
    assert body["pool"]["tenant"] == {
        "total": 300,
        "available": tenant.acd_available(),
        "counts": body["pool"]["tenant"]["counts"],
    }
    assert sum(body["pool"]["tenant"]["counts"].values()) == 300
    assert body["pool"]["activity"]["agents_available"] == available
    assert body["pool"]["disagreement"] is None
    assert body["limit"] == big.expected(available)
    # The run's cost: 1 page of agents/states (300 < 1000) + 1 assignment page + 1 activity read + 1 summary read
    # per window (short, compliance) + 1 settings read = 6 requests; the five that do not need the agents go out
    # together, the agents' page after them (harness.steady_reads).
    assert len(tenant.requests) == 6
    assert big.steady(tenant.requests), tenant.requests


def test_the_request_count_with_small_pages(cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_PAGE_SIZE", "10")
    big.tenant.reset_counts()
    body = doc(cli("run-once", "--dry-run", "--json"))
    assert body["total_agents"] == ASSIGNED
    # 30 pages of agents/states + 3 assignment pages (25 at 10 a page) + 1 activity + 2 summaries + 1 settings read.
    assert big.tenant.count("GET", ACD_AGENTS) == 30
    assert big.tenant.count("GET", ACD_ASSIGNMENTS) == 3
    assert body["pool"]["assignments"] == {"active": ASSIGNED, "inactive": 0, "pages": 3}
    assert big.tenant.count() == body["requests"] == 30 + 3 + 1 + 2 + 1


def test_agents_summary_shows_the_pool_and_the_tenant_side_by_side(
    cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    available = sum(1 for agent in in_pool(big.tenant) if agent["agentStateName"] in ("Available", "Dialer"))
    result = cli("agents", "--summary", "--pool")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "The skill's pool beside the tenant" in text
    assert f"skill 4567's pool: {available} of {ASSIGNED} assigned agents available;" in text
    assert f"the tenant: {big.tenant.acd_available()} of 300" in text
    lines = [line for line in text.splitlines() if line.startswith(("│ total", "│ available "))]
    assert [line.split("│")[2:4] for line in lines][-2:] == [
        [f" {ASSIGNED:>10} ", f" {300:>6} "],
        [f" {available:>10} ", f" {big.tenant.acd_available():>6} "],
    ]
    body = doc(cli("agents", "--summary", "--pool", "--json"))
    assert (body["total"], body["available"]) == (ASSIGNED, available)
    assert (body["pool"]["tenant"]["total"], body["pool"]["activity"]["agents_available"]) == (300, available)
    plain = doc(cli("agents", "--summary", "--json"))
    assert plain["pool"]["activity"] is None  # the activity only with --pool
    assert "agents" not in plain


# -- who counts ------------------------------------------------------------------------------------------------


def test_inactive_assignments_and_an_inactive_skill_do_not_count(cli: Cli, acd: Harness) -> None:
    tenant = acd.tenant
    tenant.set_acd_agents(["Dialer"] * 6)
    tenant.assign_agents(DEFAULT_SKILL_ID, [1001, 1002], inactive=[1003, 1004])
    body = doc(cli("compute", "--json"))
    assert (body["total_agents"], body["available_agents"]) == (2, 2)
    assert body["pool"]["assignments"] == {"active": 2, "inactive": 2, "pages": 1}
    assert body["pool"]["tenant"]["total"] == 6
    tenant.skills[DEFAULT_SKILL_ID]["isActive"] = False  # every row isSkillActive false: nobody counts
    refused = cli("compute", "--json")
    assert refused.exit_code == 78
    assert "has 4 agent assignment(s) but no active one" in refused.stderr


@pytest.mark.parametrize(
    ("active", "inactive", "said"),
    [
        ([], [1001, 1002, 1003], "skill 4567 has 3 agent assignment(s) but no active one"),
        ([], [], "skill 4567 has no agent assigned (an empty assignment list)"),
    ],
)
def test_a_pool_of_nobody_ends_the_run_and_writes_nothing(
    cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch, active: list[int], inactive: list[int], said: str
) -> None:
    tenant = acd.tenant
    tenant.set_acd_agents(["Dialer"] * 20)  # the tenant has agents to dial with; the skill has none
    tenant.assign_agents(DEFAULT_SKILL_ID, active, inactive=inactive)
    for command in ("compute", "run-once"):
        result = cli(command, "--json")
        assert result.exit_code == 78, result.stdout
        (line,) = result.stderr.strip().splitlines()
        assert said in line and "CXONE_POOL_SOURCE=activity or tenant" in line and "nothing written" in line
    assert (acd.writes(), acd.pages()) == (0, 0)  # ended before any agents page
    # A listing shows what is there: a warning, not an end.
    listed = cli("agents", "--summary", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert said in listed.stderr
    assert json.loads(listed.stdout)["total"] == 0
    # Counting another way is the way out.
    monkeypatch.setenv("CXONE_POOL_SOURCE", "tenant")
    assert doc(cli("run-once", "--json"))["total_agents"] == 20


def test_an_assigned_agent_missing_from_the_states_is_noted(cli: Cli, acd: Harness) -> None:
    acd.tenant.set_acd_agents(["Dialer", "Dialer"])
    acd.tenant.assignments[DEFAULT_SKILL_ID][4242] = {"isActive": True, "proficiency": 1}
    body = doc(cli("compute", "--json"))
    assert body["total_agents"] == 2
    assert "1 assigned agent(s) are not in the agents' states" in body["pool"]["notes"]


def test_the_activity_source_counts_what_the_activity_says(
    cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    big.tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": 17, "agentsLoggedIn": 21, "agentsWorking": 3})
    monkeypatch.setenv("CXONE_POOL_SOURCE", "activity")
    body = doc(cli("compute", "--json"))
    assert (body["available_agents"], body["total_agents"]) == (17, 21)
    assert body["limit"] == big.expected(17)
    assert body["pool"]["skill"]["total"] == ASSIGNED  # the join is still read and shown
    assert "counting by activity" in body["pool"]["disagreement"]


def test_the_activity_source_takes_every_count_from_the_activity_and_says_so(
    cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity = {"agentsAvailable": 3, "agentsLoggedIn": 5, "agentsWorking": 1, "agentsACW": 1}
    big.tenant.override_activity(DEFAULT_SKILL_ID, activity)
    monkeypatch.setenv("CXONE_POOL_SOURCE", "activity")
    body = doc(cli("compute", "--json"))
    counted = (body["total_agents"], body["available_agents"], body["busy_agents"], body["acw_agents"])
    assert counted == (5, 3, 1, 1)  # not the join's busy and after-call work beside the activity's total
    assert (body["counted_by"], body["counts_of"]) == ("activity", "assigned")
    assert sum(body["counts"].values()) == body["pool"]["skill"]["total"] == ASSIGNED  # the states of the join
    text = cli("compute").stdout
    assert "3 of 5 agents available, 1 on a contact, 1 in after-call work (counted by the skill's activity;" in text
    monkeypatch.setenv("CXONE_POOL_SOURCE", "assigned")
    joined = doc(cli("compute", "--json"))
    assert (joined["counted_by"], joined["counts_of"]) == ("assigned", "assigned")
    assert joined["busy_agents"] + joined["acw_agents"] + joined["available_agents"] <= joined["total_agents"]
    assert "(counted among the skill's assigned agents;" in cli("compute").stdout


def test_the_tenant_source_is_the_old_behaviour_and_reads_no_pool(
    cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_POOL_SOURCE", "tenant")
    big.tenant.reset_counts()
    body = doc(cli("compute", "--json"))
    assert (body["total_agents"], body["available_agents"]) == (300, big.tenant.acd_available())
    assert (body["pool"]["source"], body["pool"]["skill"], body["pool"]["activity"]) == ("tenant", None, None)
    # no assignments, no activity: the summaries and the settings together, then the agents
    ahead = [("GET", path) for path in (ACD_SUMMARY, ACD_SUMMARY, ACD_SETTINGS)]
    assert sorted(big.tenant.requests[:3]) == sorted(ahead)
    assert big.tenant.requests[3:] == [("GET", ACD_AGENTS)]


def test_a_disagreement_beyond_the_margin_is_said_in_compute_the_log_and_the_audit_line(
    cli: Cli, big: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = sum(1 for agent in in_pool(big.tenant) if agent["agentStateName"] in ("Available", "Dialer"))
    big.tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": joined + 2})
    assert doc(cli("compute", "--json"))["pool"]["disagreement"] is None  # 2 apart: within the margin of 2
    big.tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": joined + 3})
    monkeypatch.setenv("COLUMNS", "300")
    shown = cli("compute")
    assert shown.exit_code == 0
    expected = f"activity says {joined + 3} available, its assigned agents joined with their states {joined}"
    assert expected in shown.stdout and "warning:" in shown.stdout
    assert expected not in shown.stderr  # said once: stdout shows it (on a terminal too, see below)
    assert f"cxone-tune: info: skill 4567 {expected}" in cli("-v", "compute", "--json").stderr  # the log
    result = cli("run-once", "--json")
    body = doc(result)
    assert expected in body["pool"]["disagreement"]
    assert body["available_agents"] == joined  # counted by the join all the same
    (record,) = [r for r in json.loads(cli("history", "--json").stdout) if r.get("command") == "run-once"]
    assert expected in record["pool"]["disagreement"]
    monkeypatch.setenv("CXONE_POOL_MARGIN", "3")
    assert doc(cli("compute", "--json"))["pool"]["disagreement"] is None


ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[()][0-9A-B]|[=>78])")


def on_a_terminal(*args: str) -> str:
    """The command in its own process with stdout and stderr on one pseudo-terminal, as a person runs it; all it
    wrote, escapes removed."""
    pexpect = pytest.importorskip("pexpect", reason="pexpect (in the test extra) drives the pseudo-terminal")
    env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    child = pexpect.spawn(sys.executable, ["-m", "cxone_tune", *args], env=env, dimensions=(60, 500), encoding="utf-8")
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert child.exitstatus == 0, child.before
    return ESCAPES.sub("", child.before)


def test_on_a_terminal_a_disagreement_and_an_unreadable_window_are_said_once(big: Harness) -> None:
    joined = sum(1 for agent in in_pool(big.tenant) if agent["agentStateName"] in ("Available", "Dialer"))
    big.tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": joined + 3})
    big.tenant.add_fault(Fault("status", status=403, path=ACD_SUMMARY, times=None))
    expected = f"activity says {joined + 3} available, its assigned agents joined with their states {joined}"
    # compute shows both on stdout (the pool's warning line, the guard step's note): no warning on stderr as well
    text = on_a_terminal("compute")
    assert text.count(expected) == 1, text
    assert "last 30 min: unreadable (GET skill 4567 summary: permission refused (403)" in text, text
    assert "cxone-tune: warning" not in text, text
    # With --json, stdout is the document: the warnings on stderr are what a person reads, each once.
    warnings = [line for line in on_a_terminal("run-once", "--json").splitlines() if "cxone-tune: warning:" in line]
    said = [line for line in warnings if expected in line]
    assert len(said) == 1 and said[0].startswith(f"cxone-tune: warning: skill 4567 {expected} (more than"), warnings


def test_numbers_as_strings_and_the_older_wrapper(cli: Cli, big: Harness) -> None:
    big.tenant.acd_numbers_as_strings = True
    big.tenant.acd_result_set_wrapper = True
    big.tenant.add_calls(DEFAULT_SKILL_ID, 1, 99, seconds_ago=30)
    body = doc(cli("compute", "--json"))
    assert body["total_agents"] == ASSIGNED
    assert body["pool"]["activity"]["agents_available"] == body["available_agents"]
    short = body["guard"]["windows"]["short"]
    assert (short["abandons"], short["handled"], short["reported_rate"]) == (1, 99, "1.0")


def test_v2_has_no_pool_and_no_extra_reads(cli: Cli, v2_env: dict[str, str], tenant: SandboxTenant) -> None:
    assert cli("auth-check").exit_code == 0
    tenant.reset_counts()
    body = doc(cli("compute", "--json"))
    assert body["pool"]["source"] == "tenant" and body["pool"]["skill"] is None
    assert body["pool"]["tenant"]["total"] == body["total_agents"] == 40
    assert body["guard"]["status"] == "not available on this API"
    assert body["guard"]["windows"] is None
    assert len(tenant.requests) == 2
    assert "no skill pool read" in cli("agents", "--summary", "--pool").stdout


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CXONE_POOL_SOURCE", "skill", "CXONE_POOL_SOURCE"),
        ("CXONE_POOL_MARGIN", "-1", "CXONE_POOL_MARGIN"),
        ("CXONE_ABANDON_GUARD", "maybe", "CXONE_ABANDON_GUARD"),
        ("CXONE_ABANDON_SETPOINT_PCT", "0", "CXONE_ABANDON_SETPOINT_PCT"),
        ("CXONE_ABANDON_SETPOINT_PCT", "nan", "CXONE_ABANDON_SETPOINT_PCT"),
        ("CXONE_ABANDON_CAP_PCT", "101", "CXONE_ABANDON_CAP_PCT"),
        ("CXONE_ABANDON_SETPOINT_PCT", "3.5", "CXONE_ABANDON_SETPOINT_PCT (3.5) is above CXONE_ABANDON_CAP_PCT (3.0)"),
        ("CXONE_ABANDON_MIN_CALLS", "-5", "CXONE_ABANDON_MIN_CALLS"),
        ("CXONE_ABANDON_SHORT_MINUTES", "0", "CXONE_ABANDON_SHORT_MINUTES"),
        ("CXONE_ABANDON_WINDOW", "7d", "CXONE_ABANDON_WINDOW"),
        ("CXONE_ABANDON_TIME_ZONE", "Mars/Olympus_Mons", "CXONE_ABANDON_TIME_ZONE: 'Mars/Olympus_Mons' is not an IANA"),
    ],
)
def test_a_bad_pool_or_guard_setting_is_78_naming_it(
    cli: Cli, acd: Harness, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    acd.tenant.reset_counts()
    result = cli("run-once")
    assert result.exit_code == 78, result.stderr
    assert named in result.stderr.strip().splitlines()[-1]
    assert acd.tenant.count() == 0


# -- parsing the assignment list (at the transport edge: shapes a sandbox does not serve) ------------------------


def _client(pages: list[dict[str, Any]]) -> tuple[ApiClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[min(len(seen), len(pages)) - 1])

    client = ApiClient(RetryPolicy(max_attempts=1, time_budget=5), transport=httpx.MockTransport(handler))
    return client, seen


def _read(pages: list[dict[str, Any]], page_size: int = 2) -> tuple[Any, list[httpx.Request]]:
    client, seen = _client(pages)
    with client:
        found = acd_skill.read_assignments(client, "https://api.example/skills/7/agents", 7, page_size, str)
    return found, seen


def rows(*ids: int, active: Any = True) -> list[dict[str, Any]]:
    return [{"agentId": agent_id, "isActive": active} for agent_id in ids]


def test_paging_without_total_records_ends_at_a_short_page_or_an_empty_next_link() -> None:
    found, seen = _read([{"agentSkillAssignments": rows(1, 2)}, {"agentSkillAssignments": rows(3)}])
    assert (found.active, found.pages, len(seen)) == (frozenset({1, 2, 3}), 2, 2)
    assert [request.url.params["skip"] for request in seen] == ["0", "2"]
    assert seen[0].url.params["fields"] == "agentId,isActive,isSkillActive"
    found, seen = _read([{"agentSkillAssignments": rows(1, 2), "_links": {"next": None}}])
    assert (len(found.active), len(seen)) == (2, 1)


def test_an_endpoint_that_does_not_page_is_read_once() -> None:
    everything = {"agentSkillAssignments": rows(1, 2, 3)}  # skip and top ignored, no totalRecords
    found, seen = _read([everything, everything])
    assert (len(found.active), found.rows, len(seen)) == (3, 3, 2)


def test_a_total_that_is_never_reached_is_76_never_a_partial_pool() -> None:
    stuck = {"agentSkillAssignments": rows(1, 2), "totalRecords": 10}
    with pytest.raises(ProtocolError, match="did not advance"):
        _read([stuck, stuck])
    with pytest.raises(ProtocolError, match="totalRecords says 3"):  # a repeated row is one agent, not two
        _read([{"agentSkillAssignments": rows(1, 1), "totalRecords": 3}, {"agentSkillAssignments": rows(4)}])


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ({"agentSkillAssignments": {}}, "no agentSkillAssignments list"),
        ({"agentSkillAssignments": [7]}, "not an object"),
        ({"agentSkillAssignments": [{"isActive": True}]}, "lacks agentId"),
        ({"agentSkillAssignments": [{"agentId": True}]}, "lacks agentId"),
        ({"agentSkillAssignments": [{"agentId": 1, "skillId": 8}]}, "of skill 8, not 7"),
        ({"agentSkillAssignments": [], "totalRecords": "x"}, "totalRecords"),
    ],
)
def test_assignment_shapes_it_cannot_understand_are_76(page: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        _read([page])


def test_active_means_an_active_assignment_of_an_active_skill() -> None:
    page = {
        "agentSkillAssignments": [
            {"agentId": 1, "isActive": True},
            {"agentId": "2", "isActive": "true", "skillId": "7"},  # strings, as some tenants send
            {"agentId": 3, "isActive": False},
            {"agentId": 4},  # no isActive: not counted
            {"agentId": 5, "isActive": True, "isSkillActive": False},
            {"agentId": 6, "isActive": "yes"},
        ],
    }
    found, _ = _read([page], page_size=10)
    assert (found.active, found.rows, found.inactive) == (frozenset({1, 2}), 6, 4)


@pytest.mark.parametrize("first", [True, False])
def test_an_agent_with_an_active_row_is_active_whichever_row_comes_first(first: bool) -> None:
    """Two rows of one agent (a tenant that lists a reassignment twice): one active row makes it active."""
    twice = [{"agentId": 9, "isActive": first}, {"agentId": "9", "isActive": not first}, {"agentId": 8}]
    found, _ = _read([{"agentSkillAssignments": twice}], page_size=10)
    assert (found.active, found.rows, found.inactive, 9 in found.active, 8 in found.active) == (
        frozenset({9}),
        2,
        1,
        True,
        False,
    )


@given(st.integers(min_value=0, max_value=10**100), st.sampled_from(["", " ", "\t", "  "]))
def test_an_agent_id_sent_as_a_number_or_its_digits_is_one_agent(number: int, pad: str) -> None:
    assert (
        skill_pool.agent_key(number) == skill_pool.agent_key(str(number)) == skill_pool.agent_key(f"{pad}{number}{pad}")
    )
    assert skill_pool.agent_key(f"{pad}{number}{pad}") == number


@given(st.integers(min_value=-(10**100), max_value=10**100))
def test_an_agent_id_sent_as_any_number_or_its_spelling_is_one_agent(number: int) -> None:
    assert skill_pool.agent_key(f" {number} ") == skill_pool.agent_key(number) == number


@pytest.mark.parametrize("text", ["01001", "-01", "-0", "-", "A-7", "1e3", "+5", "1_000", "²", "٣", "1.0", "1" * 5000])
def test_an_agent_id_that_is_not_a_numbers_spelling_stays_text(text: str) -> None:
    """Only a number's own spelling meets the number: "01001" is not agent 1001, as it was not before."""
    assert skill_pool.agent_key(f" {text} ") == text


def test_assignments_and_states_meet_however_each_sends_the_id() -> None:
    """Assignments sent as strings (some tenants do), states as numbers, and the other way round."""
    page = {"agentSkillAssignments": [{"agentId": "1001", "isActive": True}, {"agentId": 1002, "isActive": True}]}
    found, _ = _read([page], page_size=10)
    pool = skill_pool.PoolFilter(found.active)
    admitted = [pool.admits(agent_id, "Available", True) for agent_id in (1001, " 1002", "1001", 1003, "01001")]
    assert admitted == [True, True, True, False, False]
    assert (pool.tenant.total, pool.tenant.available) == (5, 5)  # the tenant's side tallies every row asked about
    assert (found.active | {1003}, found.active - {1001}) == ({1001, 1002, 1003}, {1002})  # a set, operators too


class Paged:
    """An assignment list of ``total`` agents served by ``skip`` and ``top``, its answers changed where asked, and
    a count of the requests it served at once: a page after the first waits (at most 5 s) until ``gather`` of
    them are being served together."""

    def __init__(self, total: int, gather: int = 1, changes: dict[int, dict[str, Any]] | None = None) -> None:
        self.total, self.gather, self.changes = total, gather, changes or {}
        self.skips: list[int] = []
        self.lock = threading.Condition()
        self.in_flight = self.peak = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        skip, top = int(request.url.params["skip"]), int(request.url.params["top"])
        with self.lock:
            self.skips.append(skip)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.lock.notify_all()
            if skip:
                self.lock.wait_for(lambda: self.peak >= self.gather, timeout=5)
        ids = range(1 + skip, 1 + min(skip + top, self.total))
        page = {"agentSkillAssignments": rows(*ids), "totalRecords": self.total, **self.changes.get(skip, {})}
        with self.lock:
            self.in_flight -= 1
        return httpx.Response(200, json=page)

    def read(self, window: int) -> Any:
        client = ApiClient(RetryPolicy(max_attempts=1, time_budget=10), transport=httpx.MockTransport(self.handler))
        with client:
            return acd_skill.read_assignments(client, "https://api.example/skills/7/agents", 7, 2, str, window)


def test_with_a_total_the_pages_after_the_first_go_out_window_at_a_time() -> None:
    paged = Paged(total=21, gather=4)
    found = paged.read(window=4)
    assert (len(found.active), found.rows, found.pages) == (21, 21, 11)
    assert paged.skips[0] == 0 and sorted(paged.skips) == list(range(0, 21, 2))  # each page once, the first first
    assert paged.peak == 4  # the window, reached (gather) and never passed
    one_by_one = Paged(total=21)
    assert one_by_one.read(window=1) == found
    assert one_by_one.peak == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"totalRecords": 23}, "totalRecords changed from 21 to 23 while paging; writing nothing"),
        ({"agentSkillAssignments": rows(5)}, "read 20 assignments but totalRecords says 21; writing nothing"),
        ({"agentSkillAssignments": rows(1, 2)}, r"^3: the page did not advance \(skip 4 of 21\)"),
    ],
)
def test_a_page_read_together_that_does_not_fit_is_76_never_a_partial_pool(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        Paged(total=21, changes={4: change}).read(window=4)


def test_counts_take_numbers_and_their_digits_only() -> None:
    assert [acd_skill.count(v, "c", "n") for v in (3, "12", " 7 ", 4.0)] == [3, 12, 7, 4]
    # "²" and "٣" pass str.isdigit() (int() then raises, or reads an Arabic-Indic 3); 5,000 digits are more than
    # int() converts: each one is the API's mistake (76), never a bug of the tool's (70).
    for bad in (True, -1, "1.5", "", None, 2.5, [1], "²", "1²", "٣", "-3", "9" * 5000, float("inf"), float("nan")):
        with pytest.raises(ProtocolError, match="n is missing or not a count"):
            acd_skill.count(bad, "c", "n")


def test_a_state_given_by_id_takes_ascii_digits_only() -> None:
    from cxone_tune.profiles.acd import STATE_NAMES, canonical_state

    assert canonical_state(" 1 ") == STATE_NAMES[1]
    assert [canonical_state(text) for text in ("²", "٣", "9" * 5000)] == ["²", "٣", "9" * 5000]  # names, no crash
