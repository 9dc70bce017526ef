"""``agents --watch``: the pool kept between reads (merge of full reads and of changes), a refresh per interval
against the sandbox (acd: one ``updatedSince`` request, v2: one full read), passing failures shown stale,
the others ending the watch, and the CLI's line and JSON forms off a terminal. The terminal itself:
``test_watch_terminal.py``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CLIENT_ID,
    DEFAULT_SKILL_ID,
    Fault,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune import cycle, render
from cxone_tune.errors import ApiUnavailable, AuthError, ProtocolError, RateLimited
from cxone_tune.profiles import Agent, AgentChanges, AgentSnapshot, Profile
from cxone_tune.profiles.acd import EPOCH
from cxone_tune.settings import Settings
from cxone_tune.watch import AgentBook, Watcher
from tests.conftest import Cli
from tests.harness import ACD_AGENTS, ACD_ASSIGNMENTS, ACD_SKILL, Harness


def agent(agent_id: str, state: str = "available", *, available: bool = True, team: str = "t1") -> Agent:
    return Agent(id=agent_id, state=state, available=available, team=team)


# -- the merge, without a terminal or a tenant ----------------------------------------------------------------


def test_a_full_read_replaces_the_pool_and_an_agent_missing_from_it_has_left() -> None:
    book = AgentBook()
    assert book.apply(AgentChanges(True, {"1": agent("1"), "2": agent("2"), "3": agent("3")}, "c1", 1)) == 3
    assert list(book.agents) == ["1", "2", "3"]
    assert book.cursor == "c1"
    away = agent("2", "away", available=False)
    # "3" is not in the next full read: it has left; "2" changed; "1" did not.
    assert book.apply(AgentChanges(True, {"1": agent("1"), "2": away}, None, 1)) == 2
    assert book.agents == {"1": agent("1"), "2": away}
    assert book.cursor is None  # a read that names no cursor: the next one is a full read again


def test_a_read_of_changes_updates_in_place_adds_and_drops() -> None:
    book = AgentBook()
    book.apply(AgentChanges(True, {"1": agent("1"), "2": agent("2"), "3": agent("3")}, "c1", 1))
    busy = agent("2", "busy", available=False)
    changes = AgentChanges(False, {"2": busy, "4": agent("4"), "3": None, "9": None}, "c2", 1)
    assert book.apply(changes) == 3  # "2" changed, "4" came, "3" left; "9" was never in the pool
    assert list(book.agents) == ["1", "2", "4"]  # a known agent keeps its place, a new one comes last
    assert book.agents["2"] == busy
    assert book.cursor == "c2"
    # The same row again (only its timestamp moved, which no Agent holds) changes nothing.
    assert book.apply(AgentChanges(False, {"2": busy}, "c3", 1)) == 0


def test_nothing_changed_keeps_the_pool_and_the_cursor_it_was_given() -> None:
    book = AgentBook()
    book.apply(AgentChanges(True, {"1": agent("1")}, "c1", 1))
    # What acd's fetch_changes returns for a 304 or 204: no rows, the cursor it was asked with.
    assert book.apply(AgentChanges(False, {}, "c1", 1)) == 0
    assert (book.agents, book.cursor) == ({"1": agent("1")}, "c1")


def test_the_books_snapshot_counts_like_a_read_of_the_same_agents() -> None:
    rows = [
        Agent("1", "available", True),
        Agent("2", "in-progress", False, busy=True),
        Agent("3", "wrap-up", False, acw=True),
        Agent("4", "available", True),
    ]
    book = AgentBook()
    book.apply(AgentChanges(True, {row.id: row for row in rows}, None, 2))
    direct = AgentSnapshot()
    for row in rows:
        direct.add(row)
    got = book.snapshot(2)
    assert (got.total, got.available, got.busy, got.acw, got.counts, got.agents, got.pages) == (
        4,
        2,
        1,
        1,
        direct.counts,
        rows,
        2,
    )


# -- against the sandbox -----------------------------------------------------------------------------------------

ACD_ONLY = pytest.mark.parametrize("harness", ["acd"], indirect=True)  # v2's contract cannot ask for changes


@contextmanager
def opened() -> Iterator[Profile]:
    """The profile the environment (the harness's) configures, with its one HTTP client."""
    with cycle.Job.from_settings(Settings()).open() as profile:
        yield profile


def full_read(profile: Profile) -> list[Agent]:
    return sorted(profile.fetch_agents(keep_agents=True).agents, key=lambda a: a.id)


def sent(profile: Profile) -> list[httpx.Request]:
    """Every agents request the profile's client sends from now on."""
    requests: list[httpx.Request] = []

    def note(request: httpx.Request) -> None:
        if request.url.path.endswith(("/agents/states", "/realtime/agents")):  # not the skill's assignments
            requests.append(request)

    profile.client.http.event_hooks["request"].append(note)
    return requests


def answered(profile: Profile) -> list[int]:
    """The status of every answer the profile's client gets from now on."""
    statuses: list[int] = []
    profile.client.http.event_hooks["response"].append(lambda response: statuses.append(response.status_code))
    return statuses


def test_one_request_per_refresh_and_a_state_change_shows_up_in_the_next(harness: Harness) -> None:
    with opened() as profile:
        watcher = Watcher(profile)
        first = watcher.refresh()
        pool = harness.counted()  # acd: the steered skill's assigned agents, not the whole tenant
        assert (first.number, first.complete, first.snapshot.total, first.changed) == (1, True, pool, pool)
        assert first.snapshot.available == harness.available()
        assert harness.pages() == 1
        steady = watcher.refresh()
        assert (steady.requests, steady.changed, harness.pages()) == (1, 0, 2)
        # acd asks only for what changed; v2 has no such read: a full read every time, still one request
        assert steady.complete is (harness.name == "v2")
        away = next(a for a in first.snapshot.agents if not a.available)
        harness.set_agent_state(away.id, "available")
        changed = watcher.refresh()
        assert (changed.requests, changed.changed, harness.pages()) == (1, 1, 3)
        assert changed.snapshot.available == first.snapshot.available + 1
        assert next(a for a in changed.snapshot.agents if a.id == away.id).available
        assert sorted(changed.snapshot.agents, key=lambda a: a.id) == full_read(profile)


@ACD_ONLY
def test_acd_sends_back_the_last_lastpolltime_and_keeps_it_when_nothing_changed(
    harness: Harness, tenant: SandboxTenant
) -> None:
    for status in (204, 304):
        tenant.acd_unchanged_status = status
        with opened() as profile:
            requests = sent(profile)
            statuses = answered(profile)
            watcher = Watcher(profile)
            watcher.refresh()
            cursor = watcher.book.cursor
            assert requests[0].url.params["updatedSince"] == EPOCH
            assert cursor is not None and cursor.endswith("Z")  # the answer's lastPollTime
            quiet = watcher.refresh()
            assert (statuses[-1], quiet.requests, quiet.changed) == (status, 1, 0)
            assert requests[1].url.params["updatedSince"] == cursor
            assert watcher.book.cursor == cursor  # a 204/304 names no later point: the last one stays
            for moving in [a for a in quiet.snapshot.agents if a.available][:2]:
                harness.set_agent_state(moving.id, "away")
            moved = watcher.refresh()
            assert requests[2].url.params["updatedSince"] == cursor  # the change since then is not lost
            assert (statuses[-1], moved.changed) == (200, 2)
            assert watcher.book.cursor is not None and watcher.book.cursor > cursor
            assert sorted(moved.snapshot.agents, key=lambda a: a.id) == full_read(profile)


class Clock:
    """The watcher's clock, moved by the test: when the assignments fall due is a matter of the time it reads."""

    def __init__(self) -> None:
        self.now = datetime(2025, 5, 1, 15, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@ACD_ONLY
def test_acd_the_skills_assignments_are_read_again_every_minute_and_a_changed_pool_is_read_whole(
    harness: Harness, tenant: SandboxTenant, server: SandboxServer
) -> None:
    """An agent assigned to the skill, or taken off it, during a long watch shows within a minute: the
    assignments are read again with the refresh that falls due (one request more, in its count), and when the pool
    changed that refresh reads every agent, so a newly assigned agent whose state has not changed is there too."""
    clock = Clock()
    control = f"{server.url}/_sandbox/skills/{DEFAULT_SKILL_ID}/agents"
    with opened() as profile:
        watcher = Watcher(profile, clock)
        first = watcher.refresh()
        assert (first.complete, first.assignments_read, first.snapshot.total) == (True, True, harness.counted())
        assert tenant.count("GET", ACD_ASSIGNMENTS) == 1
        clock.advance(30)
        steady = watcher.refresh()
        assert (steady.requests, steady.assignments_read, steady.complete) == (1, False, False)
        # An admin assigns the first 30 agents: most of those new to the pool have not changed state since.
        assert httpx.post(control, json={"count": 30}, timeout=5).status_code == 200
        clock.advance(29)
        unseen = watcher.refresh()  # not yet a minute: the pool as it was
        assert (unseen.requests, unseen.snapshot.total) == (1, first.snapshot.total)
        clock.advance(1)
        due = watcher.refresh()
        assert (due.assignments_read, due.complete, due.requests) == (True, True, 2)  # assignments, then every agent
        assert tenant.count("GET", ACD_ASSIGNMENTS) == 2
        assert due.snapshot.total == 30 == harness.counted()
        assert due.snapshot.available == harness.available()
        assert due.changed == len({a.id for a in first.snapshot.agents} ^ {a.id for a in due.snapshot.agents})
        clock.advance(5)
        assert watcher.refresh().requests == 1  # steady again: one agents request, changes only
        clock.advance(60)
        unchanged = watcher.refresh()  # due again, the same pool: one request more, and still changes only
        assert (unchanged.assignments_read, unchanged.complete, unchanged.requests) == (True, False, 2)


@ACD_ONLY
def test_acd_a_failed_read_of_the_assignments_keeps_the_pool_and_is_tried_again(
    harness: Harness, tenant: SandboxTenant
) -> None:
    clock = Clock()
    with opened() as profile:
        watcher = Watcher(profile, clock)
        first = watcher.refresh()
        tenant.assign_agents(DEFAULT_SKILL_ID, [1001, 1002, 1003])
        tenant.add_fault(Fault(kind="status", status=503, times=None, path=ACD_ASSIGNMENTS))
        clock.advance(60)
        stale = watcher.refresh()
        assert stale.stale and stale.snapshot == first.snapshot  # the last good pool, marked stale
        tenant.clear_faults()
        clock.advance(5)
        back = watcher.refresh()  # still due: read again, and the pool that changed meanwhile read whole
        assert (back.stale, back.assignments_read, back.complete, back.snapshot.total) == (False, True, True, 3)


def test_a_profile_without_a_pool_reads_no_assignments(
    harness: Harness, tenant: SandboxTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_POOL_SOURCE", "tenant")  # acd without its pool; v2 has none
    clock = Clock()
    with opened() as profile:
        watcher = Watcher(profile, clock)
        assert not watcher.refresh().assignments_read  # (its requests include the login's)
        for _ in range(3):
            clock.advance(60)
            refresh = watcher.refresh()
            assert not refresh.assignments_read and refresh.requests == 1
    assert tenant.count("GET", ACD_ASSIGNMENTS) == 0


def full_pool() -> dict[str, Any]:
    """The pool beside the tenant as ``agents --pool`` reads it now, in a profile of its own: every agent."""
    with opened() as profile:
        _, pooled = cycle.read_agents(cycle.Job.from_settings(Settings()), profile, activity=True, check=False)
    return pooled.document()


@ACD_ONLY
@pytest.mark.parametrize("teams", [None, "12,14"])
def test_acd_with_pool_the_tenant_is_kept_beside_the_pool_as_a_full_read_sees_it(
    harness: Harness, tenant: SandboxTenant, monkeypatch: pytest.MonkeyPatch, teams: str | None
) -> None:
    """``--watch --pool``: the tenant's side follows the changes read (agents outside the pool too, and agents
    leaving the team filter), and the skill's activity is read with every refresh: one request more."""
    if teams:
        monkeypatch.setenv("CXONE_TEAM_IDS", teams)
    rng = random.Random(7)
    ids = [str(row["agentId"]) for row in tenant.acd_agents]
    with opened() as profile:
        watcher = Watcher(profile, pool=True)
        first = watcher.refresh()
        assert first.pool is not None and first.pool.document() == full_pool()
        for _ in range(6):
            for agent_id in rng.sample(ids, rng.randint(1, 6)):  # any agent of the tenant, in the pool or not
                harness.set_agent_state(agent_id, rng.choice(("available", "busy", "away")))
            if teams:  # one agent moves between a team the filter names and one it does not
                tenant.set_acd_agent(int(rng.choice(ids)), team_id=rng.choice((12, 14, 15)))
            refresh = watcher.refresh()
            assert (refresh.complete, refresh.requests) == (False, 2)  # the changes, and the skill's activity
            assert refresh.pool is not None and refresh.pool.document() == full_pool()
    assert tenant.count("GET", f"{ACD_SKILL}/activity") == 7 + 7  # each refresh's, and each full read's here


@ACD_ONLY
def test_acd_watch_pool_off_a_terminal_and_in_json(cli: Cli, harness: Harness, tenant: SandboxTenant) -> None:
    result = cli("agents", "--watch", "--pool", "--interval", "1", "--count", "2")
    assert result.exit_code == 0, result.stderr
    tenant_side = f"the tenant: {tenant.acd_available()} of {len(tenant.acd_agents)} available"
    activity = f"the skill's activity: {harness.available()} available"
    for line in result.stdout.splitlines():
        assert f"; {tenant_side}, {activity} (" in line, line
    assert result.stdout.splitlines()[1].endswith("(2 requests, 0 changed)")
    lines = cli("agents", "--watch", "--pool", "--json", "--summary", "--interval", "1", "--count", "2").stdout
    documents = [json.loads(line) for line in lines.splitlines()]
    agents = json.loads(cli("agents", "--pool", "--json", "--summary").stdout)
    assert [document["pool"] for document in documents] == [agents["pool"]] * 2
    # A disagreement is said in every line (and JSON): not a warning on stderr each refresh as well.
    tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": harness.available() + 3})
    disagreeing = cli("agents", "--watch", "--pool", "--interval", "1", "--count", "2")
    assert all(
        "(more than CXONE_POOL_MARGIN=2 apart from the pool)" in line for line in disagreeing.stdout.splitlines()
    )
    assert disagreeing.stderr == ""


def test_watch_pool_without_a_skill_pool_says_every_agent_counts(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_POOL_SOURCE", "tenant")  # acd without its pool; v2 has none
    result = cli("agents", "--watch", "--pool", "--interval", "1", "--count", "1")
    assert result.exit_code == 0, result.stderr
    assert "; no skill pool read: every agent counts (" in result.stdout
    assert harness.tenant.count("GET", f"{ACD_SKILL}/activity") == 0


@ACD_ONLY
def test_acd_changes_that_fill_several_pages_are_all_read(
    harness: Harness, tenant: SandboxTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_PAGE_SIZE", "2")
    with opened() as profile:
        requests = sent(profile)
        watcher = Watcher(profile)
        first = watcher.refresh()
        assert len(requests) == 20  # 40 agents, 2 a page (the login's requests besides)
        for moving in [a for a in first.snapshot.agents if a.available][:5]:
            harness.set_agent_state(moving.id, "away")
        moved = watcher.refresh()
        assert (moved.requests, moved.changed, moved.complete) == (3, 5, False)
        assert {r.url.params["skip"] for r in requests[20:]} == {"0", "2", "4"}
        assert len({r.url.params["updatedSince"] for r in requests[20:]}) == 1
        assert sorted(moved.snapshot.agents, key=lambda a: a.id) == full_read(profile)


def test_an_agent_moving_out_of_the_filtered_team_leaves_the_pool_and_comes_back(
    harness: Harness, tenant: SandboxTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    if harness.name == "acd":
        tenant.set_acd_agents(["Dialer", "Available", "OutboundContact", "Unavailable"])  # all in team 12
        monkeypatch.setenv("CXONE_TEAM_IDS", "12")

        def move(agent_id: str, team: str) -> None:
            tenant.set_acd_agent(int(agent_id), team_id=int(team))

        mover, teams = "1002", ("14", "12")
    else:
        tenant.set_agent_states(["available", "available", "in-progress", "unavailable"])
        monkeypatch.setenv("CXONE_TEAM_IDS", ",".join({str(a["teamId"]) for a in tenant.agents}))
        inside = str(tenant.agents[1]["teamId"])

        def move(agent_id: str, team: str) -> None:
            tenant.set_agent(agent_id, team_id=team)

        mover, teams = "u-00002", ("t-nowhere", inside)
    with opened() as profile:
        watcher = Watcher(profile)
        before = watcher.refresh()
        assert (before.snapshot.total, before.snapshot.available) == (4, 2)
        move(mover, teams[0])
        gone = watcher.refresh()
        assert (gone.snapshot.total, gone.snapshot.available, gone.changed) == (3, 1, 1)
        assert mover not in {a.id for a in gone.snapshot.agents}
        assert sorted(gone.snapshot.agents, key=lambda a: a.id) == full_read(profile)
        move(mover, teams[1])
        back = watcher.refresh()
        assert (back.snapshot.total, back.snapshot.available, back.changed) == (4, 2, 1)
        assert sorted(back.snapshot.agents, key=lambda a: a.id) == full_read(profile)


def test_many_random_changes_leave_the_watched_pool_equal_to_a_full_read(harness: Harness) -> None:
    rng = random.Random(13)
    with opened() as profile:
        watcher = Watcher(profile)
        ids = [a.id for a in watcher.refresh().snapshot.agents]
        for _ in range(8):
            for agent_id in rng.sample(ids, rng.randint(0, 6)):
                harness.set_agent_state(agent_id, rng.choice(("available", "busy", "away")))
            refresh = watcher.refresh()
            assert refresh.requests == 1
            full = full_read(profile)
            assert sorted(refresh.snapshot.agents, key=lambda a: a.id) == full
            assert refresh.snapshot.available == sum(a.available for a in full) == harness.available()


@ACD_ONLY
def test_acd_an_answer_without_lastpolltime_makes_the_next_read_a_full_one(
    harness: Harness, tenant: SandboxTenant
) -> None:
    with opened() as profile:
        requests = sent(profile)
        watcher = Watcher(profile)
        tenant.add_fault(Fault(kind="drop_field", field="lastPollTime", path=ACD_AGENTS))
        assert watcher.refresh().complete
        assert watcher.book.cursor is None
        again = watcher.refresh()
        assert again.complete and requests[1].url.params["updatedSince"] == EPOCH
        assert watcher.book.cursor is not None
        tenant.add_fault(Fault(kind="drop_field", field="lastPollTime", path=ACD_AGENTS))
        cursor = watcher.book.cursor
        harness.set_agent_state(next(a for a in again.snapshot.agents if a.available).id, "away")
        assert watcher.refresh().changed == 1
        assert watcher.book.cursor == cursor  # a read of changes without one keeps the last: nothing is skipped
        tenant.add_fault(Fault(kind="wrong_type", field="lastPollTime", value=5, path=ACD_AGENTS))
        with pytest.raises(ProtocolError, match="lastPollTime is not a timestamp"):
            watcher.refresh()


@pytest.mark.parametrize(("status", "error"), [(503, ApiUnavailable), (429, RateLimited)])
def test_a_passing_failure_leaves_the_last_good_data_stale_and_the_next_refresh_recovers(
    harness: Harness, tenant: SandboxTenant, status: int, error: type[Exception]
) -> None:
    with opened() as profile:
        watcher = Watcher(profile)
        good = watcher.refresh()
        tenant.add_fault(Fault(kind="status", status=status, times=None, path=harness.agents_path))
        stale = watcher.refresh()
        assert isinstance(stale.error, error) and stale.stale
        assert (stale.number, stale.snapshot, stale.data_at, stale.changed) == (2, good.snapshot, good.at, 0)
        assert stale.requests == 3  # CXONE_MAX_ATTEMPTS
        tenant.clear_faults()
        away = next(a for a in good.snapshot.agents if not a.available)
        harness.set_agent_state(away.id, "available")
        back = watcher.refresh()
        assert (back.stale, back.number, back.snapshot.available) == (False, 3, good.snapshot.available + 1)


def test_the_first_reads_failure_and_a_refused_permission_end_the_watch(
    harness: Harness, tenant: SandboxTenant
) -> None:
    with opened() as profile:
        tenant.add_fault(Fault(kind="status", status=503, times=None, path=harness.agents_path))
        with pytest.raises(ApiUnavailable):
            Watcher(profile).refresh()  # nothing to show yet: it ends as `agents` would
    tenant.clear_faults()
    with opened() as profile:
        watcher = Watcher(profile)
        watcher.refresh()
        tenant.add_fault(Fault(kind="status", status=403, path=harness.agents_path))
        with pytest.raises(AuthError, match="403"):
            watcher.refresh()


# -- the CLI off a terminal --------------------------------------------------------------------------------------


def test_off_a_terminal_each_refresh_is_one_line(cli: Cli, harness: Harness) -> None:
    result = cli("agents", "--watch", "--interval", "1", "--count", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    target = "campaign c-100" if harness.name == "v2" else "skill 4567"
    assert [line.split(" ")[1:3] for line in lines] == [["refresh", "1:"], ["refresh", "2:"]]
    for line in lines:
        assert f"pool for {target}: {harness.counted()} agents, {harness.available()} available" in line
    assert lines[1].endswith("(1 request, 0 changed)")
    assert harness.pages() == 2


def test_json_watch_is_one_document_per_line_that_follows_state_and_summary(cli: Cli, harness: Harness) -> None:
    state = "available" if harness.name == "v2" else "Dialer"
    result = cli("agents", "--watch", "--json", "--interval", "1", "--count", "2", "--state", state)
    assert result.exit_code == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["refresh"] for d in documents] == [1, 2]
    assert [d["full_read"] for d in documents] == [True, harness.name == "v2"]
    assert [d["assignments_read"] for d in documents] == [harness.name == "acd", False]  # the first read's, on acd
    for document in documents:
        assert {"time", "stale", "data_time", "requests", "changed", "error", "exit_code"} <= set(document)
        assert (document["total"], document["available"], document["stale"]) == (
            harness.counted(),
            harness.available(),
            False,
        )
        assert document["agents"] and {a["state"].lower() for a in document["agents"]} == {state.lower()}
    summary = cli("agents", "--watch", "--json", "--interval", "1", "--count", "1", "--summary")
    assert "agents" not in json.loads(summary.stdout)


def test_a_stale_last_refresh_is_its_exit_code_and_says_so(cli: Cli, harness: Harness, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault(kind="status", status=503, times=None, after=1, path=harness.agents_path))
    result = cli("agents", "--watch", "--interval", "1", "--count", "2")
    assert result.exit_code == 69
    last = result.stdout.splitlines()[-1]
    assert "refresh 2:" in last and "(stale: read " in last and "API unavailable (503" in last
    assert "refresh 2: " in result.stderr and "the data is stale" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("kind", "code"), [("status", 77), ("malformed", 76)])
def test_a_failure_no_refresh_can_cure_ends_the_watch_with_one_line(
    cli: Cli, harness: Harness, tenant: SandboxTenant, kind: str, code: int
) -> None:
    tenant.add_fault(Fault(kind=kind, status=403, after=1, path=harness.agents_path))
    result = cli("agents", "--watch", "--interval", "1")  # no --count: only the failure ends it
    assert result.exit_code == code
    assert len(result.stdout.splitlines()) == 1  # the first refresh
    assert result.stderr.strip().splitlines()[-1].startswith("cxone-tune: error: GET agents")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("harness", ["v2"], indirect=True)
@pytest.mark.parametrize("form", [[], ["--json"]])
def test_a_reader_that_goes_away_ends_the_watch_quietly_with_0(
    harness: Harness, tmp_path: Path, form: list[str]
) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"), **harness.env}
    command = [sys.executable, "-m", "cxone_tune", "agents", "--watch", "--interval", "1", "--count", "3", *form]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as process:
        assert process.stdout is not None and process.stdout.readline()  # the first refresh
        process.stdout.close()  # what `| head -1` does: the next refresh has nobody to write to
        _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, b"")
    assert harness.pages() == 2  # it stopped at the refresh that found the pipe closed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--watch", "--interval", "0.5"], "--interval: 0.5 is not between 1 and 3600 seconds"),
        (["--watch", "--interval", "nan"], "--interval: nan is not between 1 and 3600 seconds"),
        (["--watch", "--interval", "86400"], "--interval: 86400 is not between 1 and 3600 seconds"),
        (["--watch", "--count", "0"], "--count: 0 is not a number of refreshes (1 or more)"),
        (["--interval", "5"], "--interval and --count go with --watch"),
        (["--count", "3"], "--interval and --count go with --watch"),
    ],
)
def test_watch_options_are_checked_before_any_request(
    cli: Cli, harness: Harness, args: list[str], message: str
) -> None:
    result = cli("agents", *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"cxone-tune: error: {message}"
    assert harness.pages() == 0


def drawn(view: render.WatchView, width: int, height: int) -> list[str]:
    from rich.console import Console
    from rich.screen import Screen

    console = Console(width=width, height=height, force_terminal=True, color_system=None)
    with console.capture() as capture:
        console.print(Screen(view))  # as rich Live draws it on the alternate screen
    return capture.get().rstrip("\n").split("\n")


@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_the_view_fills_the_window_it_has_and_says_what_it_left_out(harness: Harness) -> None:
    with opened() as profile:
        refresh = Watcher(profile).refresh()
    view = render.WatchView("skill 4567", "Skill", interval=5)
    view.update(refresh)
    for width, height in ((120, 24), (80, 20), (60, 18)):  # too few lines for the pool's rows
        lines = drawn(view, width, height)
        assert len(lines) == height and all(len(line) <= width for line in lines)
        rows = [line for line in lines if line.startswith("│ 10")]
        assert rows, (width, height)
        note = next(line for line in lines if " more: " in line)
        assert note.strip().startswith(f"{harness.counted() - len(rows)} more: enlarge the window")
    lines = drawn(view, 80, 7)  # the counts take the window: not even one row fits, and no empty frame is drawn
    assert f"{harness.counted()} agents not shown: enlarge the window" in [line.strip() for line in lines]
    assert not [line for line in drawn(view, 80, 7) + drawn(view, 40, 10) if line.startswith(("│", "┏"))]
    assert len([line for line in drawn(view, 120, 60) if line.startswith("│ 10")]) == harness.counted()
    dialer = render.WatchView("skill 4567", "Skill", interval=5, states=("dialer",))
    dialer.update(refresh)
    assert len([line for line in drawn(dialer, 120, 40) if "│ Dialer" in line]) == refresh.snapshot.counts["Dialer"]
    summary = render.WatchView("skill 4567", "Skill", interval=5, summary=True)
    summary.update(refresh)
    assert not [line for line in drawn(summary, 120, 40) if line.startswith("│")]


@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_the_view_with_pool_shows_the_tenant_and_the_activity_beside_the_pool(
    harness: Harness, tenant: SandboxTenant
) -> None:
    tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": harness.available() + 3})
    with opened() as profile:
        refresh = Watcher(profile, pool=True).refresh()
    view = render.WatchView("skill 4567", "Skill", ref=profile.target_ref(profile.settings), interval=5)
    view.update(refresh)
    text = " ".join(" ".join(drawn(view, 200, 40)).split())
    pool, available = harness.counted(), harness.available()
    assert f"skill 4567's pool: {available} of {pool} assigned agents available; the tenant: " in text
    assert f"its activity says {available + 3} available (counting by assigned)" in text
    assert "warning: skill 4567 activity says" in text  # the disagreement, in the view
    assert refresh.pool is not None
    counts = sorted(refresh.pool.tenant.counts.items(), key=lambda item: (-item[1], item[0]))
    assert "the tenant: " + " · ".join(f"{state} {n}" for state, n in counts) in text
    assert sum(n for _, n in counts) == len(tenant.acd_agents)


def test_the_view_draws_tenant_strings_through_the_sanitiser(harness: Harness, tenant: SandboxTenant) -> None:
    from rich.console import Console

    if harness.name == "v2":
        tenant.set_agent_states(["available\x1b[31m", "away"])
    else:
        tenant.set_acd_agents(["Available", "Unavailable"])
        with tenant._lock:
            tenant.acd_agents[0]["firstName"] = "Eve\x1b]0;owned\x07"
    with opened() as profile:
        refresh = Watcher(profile).refresh()
    view = render.WatchView("target", "Group", interval=5)
    view.update(refresh)
    console = Console(width=160, height=30, force_terminal=True, color_system=None)
    with console.capture() as capture:
        console.print(view)
    drawn: Any = capture.get()
    assert "\x1b" not in drawn and "\x07" not in drawn  # no style codes either: color_system=None
    assert ("available\\x1b[31m" if harness.name == "v2" else "Eve\\x1b]0;owned\\x07") in drawn


# -- the sandbox serves updatedSince as the tool expects the tenant to -------------------------------------------


@pytest.fixture
def api(client: httpx.Client, tenant: SandboxTenant) -> httpx.Client:
    """Raw HTTP to the sandbox's acd API, logged in."""
    login = tenant.acd_password_grant(
        DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, str(client.base_url), DEFAULT_CLIENT_ID
    )
    client.headers.update({"Authorization": f"Bearer {login['access_token']}", "Accept": "application/json"})
    return client


@pytest.mark.parametrize("unchanged", [204, 304])
def test_the_sandbox_answers_only_what_changed_since_with_a_poll_time_each_time(
    api: httpx.Client, tenant: SandboxTenant, unchanged: int
) -> None:
    tenant.acd_unchanged_status = unchanged
    everyone = api.get(ACD_AGENTS, params={"updatedSince": EPOCH}).json()
    assert (everyone["totalRecords"], len(everyone["agentStates"])) == (40, 40)
    since = everyone["lastPollTime"]
    quiet = api.get(ACD_AGENTS, params={"updatedSince": since})
    assert (quiet.status_code, quiet.content) == (unchanged, b"")
    row = api.post("/_sandbox/acd-agents/1005", json={"state": "Available"}).json()
    assert (row["agentId"], row["agentStateName"], row["agentStateId"]) == (1005, "Available", 1)
    assert row["lastUpdateTime"] >= since
    delta = api.get(ACD_AGENTS, params={"updatedSince": since}).json()
    assert (delta["totalRecords"], delta["agentStates"]) == (1, [row])
    assert delta["lastPollTime"] >= since
    after = api.get(ACD_AGENTS, params={"updatedSince": delta["lastPollTime"]})
    # "At or after": the row comes again only when it was stamped in the very millisecond of that poll time.
    assert after.status_code == unchanged or after.json()["agentStates"] == [row] == [
        {**row, "lastUpdateTime": delta["lastPollTime"]}
    ]
    # Replacing the list stamps only the rows that differ from what their agent had.
    tenant.set_acd_agents(["Dialer", "Available", "Unavailable"])
    before = api.get(ACD_AGENTS, params={"updatedSince": EPOCH}).json()
    tenant.set_acd_agents(["Dialer", "OutboundContact", "Unavailable"])
    after = api.get(ACD_AGENTS, params={"updatedSince": EPOCH}).json()["agentStates"]
    stamps = [(a["lastUpdateTime"], b["lastUpdateTime"]) for a, b in zip(before["agentStates"], after, strict=True)]
    assert stamps[0][0] == stamps[0][1] and stamps[2][0] == stamps[2][1] and stamps[1][1] >= before["lastPollTime"]
    changed = api.get(ACD_AGENTS, params={"updatedSince": before["lastPollTime"]}).json()["agentStates"]
    assert (1002, "OutboundContact") in [(a["agentId"], a["agentStateName"]) for a in changed]
    # Others only when stamped in the very millisecond of the poll time: "at or after" repeats, never loses.
    assert all(a["lastUpdateTime"] == before["lastPollTime"] for a in changed if a["agentId"] != 1002)


def test_the_control_api_changes_one_agent_and_refuses_what_is_not_one(
    client: httpx.Client, tenant: SandboxTenant
) -> None:
    acw = client.post("/_sandbox/acd-agents/1001", json={"state": "ACW", "teamId": 14}).json()
    assert (acw["agentStateName"], acw["isACW"], acw["outStateDescription"], acw["teamName"]) == (
        "Unavailable",
        True,
        "ACW",
        "Inbound",
    )
    v2 = client.post("/_sandbox/agents/u-00001", json={"state": "wrap-up"}).json()
    assert (v2["userId"], v2["state"], tenant.agents[0]["state"]) == ("u-00001", "wrap-up", "wrap-up")
    for path, body, status in (
        ("/_sandbox/acd-agents/99999", {"state": "Available"}, 404),
        ("/_sandbox/agents/u-99999", {"state": "available"}, 404),
        ("/_sandbox/acd-agents/1001", {"state": "Sleeping"}, 400),
        ("/_sandbox/acd-agents/1001", {"teamId": 99}, 400),
        ("/_sandbox/acd-agents/1001", {}, 400),
        ("/_sandbox/acd-agents/x", {"state": "Available"}, 400),
    ):
        assert client.post(path, json=body).status_code == status, (path, body)


def test_readme_and_help_say_how_a_watch_ends() -> None:
    from typer.testing import CliRunner

    from cxone_tune.cli import app

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `cxone-tune agents`", 1)[1].split("\n### ", 1)[0]
    assert "Ctrl-C, which ends it with **exit 0**" in section
    assert "`--json --watch`" in section and "Off a terminal" in section
    shown = CliRunner().invoke(app, ["agents", "--help"], env={"COLUMNS": "200"}).stdout
    assert "Keep refreshing until Ctrl-C, which exits 0" in " ".join(shown.split())
