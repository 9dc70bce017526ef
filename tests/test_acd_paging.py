"""acd reads the pages of agents/states after the first CXONE_PAGE_CONCURRENCY at a time, over the run's one client.

Against the sandbox on loopback: the window is counted where the requests land (the sandbox's requests in flight,
never a timing), each fault kind of the fault matrix on a page in the middle of paging keeps its exit code and a
clear line naming the page, a token revoked while pages are in flight is renewed once, and the requests of a
cycle are the same however wide the window. ``windowed`` itself (http.py) is tested with plain callables.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cxone_sandbox import Fault, SandboxServer
from cxone_tune import cycle
from cxone_tune.demo import sandbox_settings
from cxone_tune.http import Ahead, windowed
from tests import doctables
from tests.conftest import Cli, wait_for
from tests.harness import ACD_ACTIVITY, ACD_AGENTS, ACD_ASSIGNMENTS, ACD_SETTINGS, ACD_SKILL, ACD_SUMMARY, Harness

ACD = pytest.mark.parametrize("harness", ["acd"], indirect=True)  # the profile whose pages go out together

AVAILABLE, BUSY = 10, 85  # 95 agents: 10 pages of 10, the last one of 5; 10 available -> maximumRatio 1.5
AGENTS = AVAILABLE + BUSY
PAGES = 10
ROLE = "agents list"  # the sandbox's name for an agents GET (faults.AGENTS_LIST)
PAGE_CALL = re.compile(r"GET agents/states page \d+: ")


@pytest.fixture
def h(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The acd harness with 95 agents in pages of 10."""
    harness.set_states(AVAILABLE, BUSY)
    monkeypatch.setenv("CXONE_PAGE_SIZE", "10")
    harness.tenant.reset_counts()
    return harness


def run(cli: Cli, *options: str) -> Result:
    return cli(*options, "run-once", "--json")


def skill_reads(h: Harness) -> int:
    """The requests of a run for the steered skill's pool and abandon figures (its assignments pages, activity and
    summaries; issue 10), as the sandbox logged them: paged one after another, apart from the agents' pages."""
    return h.tenant.count("GET", ACD_SKILL + "/") - h.tenant.count("GET", h.target_path)


def peak(h: Harness) -> int:
    return h.tenant.peak_in_flight.get(ROLE, 0)


def succeeded(h: Harness, result: Result, before: dict[str, Any]) -> dict[str, Any]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    body: dict[str, Any] = json.loads(result.stdout)
    assert (body["total_agents"], body["available_agents"], body["applied"]) == (AGENTS, AVAILABLE, True)
    assert h.stored() == {**before, "maximumRatio": 1.5}
    return body


def failed(h: Harness, result: Result, code: int, before: dict[str, Any], needle: str) -> str:
    """The exit code, one line naming the page's call and the cause, nothing written, no request left running."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cxone-tune: error: GET agents/states page "), last
    assert needle in last, last
    assert (h.stored(), h.writes()) == (before, 0)
    # Every page that was running when the run gave up ended with it: none still being served.
    assert wait_for(lambda: h.tenant.in_flight.get(ROLE, 0) == 0), h.tenant.in_flight
    return last


# -- the window ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 3, 8])
@ACD
def test_pages_go_out_at_most_window_at_a_time(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", str(window))
    assert cli("auth-check").exit_code == 0  # the run starts from the token cache
    h.tenant.reset_counts()
    before = h.stored()
    if window > 1:
        # Pages 2 to window + 1 are answered only once all of them are being served together: proof, by count,
        # that the window is used, and the peak below proves it is never exceeded.
        h.tenant.add_fault(Fault("gather", path=h.agents_path, after=1, times=window, value=window, delay=20))
    body = succeeded(h, run(cli), before)
    assert h.pages() == PAGES  # exactly the pages there are: skip 0, 10, ..., 90
    assert peak(h) == window
    # the pages, the skill's reads, the GET, the GET again right before the PUT, the PUT
    assert body["requests"] == PAGES + skill_reads(h) + 1 + 2


@ACD
def test_a_cycle_sends_the_same_requests_whatever_the_window(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("auth-check").exit_code == 0  # logged in: both runs below start from the token cache
    logs = []
    for window in ("1", "8"):
        monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", window)
        h.tenant.reset_counts()
        result = cli("run-once", "--dry-run", "--json")
        assert result.exit_code == 0, result.stderr
        logs.append((sorted(h.tenant.requests), json.loads(result.stdout)["requests"]))
    assert logs[0] == logs[1]
    assert logs[0][1] == PAGES + skill_reads(h) + 1


@ACD
def test_pages_are_counted_in_order_and_the_progress_only_grows(h: Harness, tmp_path: Path) -> None:
    settings = sandbox_settings("acd", h.env["CXONE_ISSUER"], tmp_path / "cache", page_size=10)
    seen: list[tuple[int, int]] = []
    job = cycle.Job.from_settings(settings)
    with job.open() as profile:
        snapshot = profile.fetch_agents(lambda pages, agents: seen.append((pages, agents)))
    assert [pages for pages, _ in seen] == list(range(1, PAGES + 1))
    assert [agents for _, agents in seen] == [10 * n for n in range(1, PAGES)] + [AGENTS]
    # The rows in the tenant's order, each once: page k's before page k + 1's.
    assert [agent.id for agent in snapshot.agents] == [str(row["agentId"]) for row in h.tenant.acd_agents]
    assert snapshot.pages == PAGES


@ACD
def test_the_cycle_counts_without_keeping_rows(h: Harness, tmp_path: Path) -> None:
    settings = sandbox_settings("acd", h.env["CXONE_ISSUER"], tmp_path / "cache", page_size=10)
    job = cycle.Job.from_settings(settings)
    with job.open() as profile:
        counted = profile.fetch_agents(keep_agents=False)
        kept = profile.fetch_agents(keep_agents=True)
    assert counted.agents == []
    assert len(kept.agents) == AGENTS
    for field in ("total", "available", "busy", "acw", "counts", "available_states", "pages"):
        assert getattr(counted, field) == getattr(kept, field), field


# -- the reads that need no agents, ahead of them -------------------------------------------------------------------

OTHER = "other"  # the sandbox's name for a request no fault role covers: the skill's assignments, activity, summary


def in_turn(requests: list[tuple[str, str]]) -> list[str]:
    """The paths of ``requests`` in the order they arrived, a run of the same path (pages) as one."""
    paths = [path for _, path in requests]
    return [path for n, path in enumerate(paths) if n == 0 or paths[n - 1] != path]


@ACD
def test_the_reads_that_need_no_agents_go_out_together_before_the_agents(cli: Cli, h: Harness) -> None:
    assert cli("auth-check").exit_code == 0  # a token at hand: the run sends no login
    h.tenant.reset_counts()
    before = h.stored()
    # The first assignments page, the activity and the short window's summary (the sandbox's "other" requests) are
    # answered only once all three are being served together: proof, by count, that they travel together. The
    # compliance window's summary follows the short one's (the guard reads its windows in turn).
    for path in (ACD_ASSIGNMENTS, ACD_ACTIVITY, ACD_SUMMARY):
        h.tenant.add_fault(Fault("gather", path=path, times=1, value=3, delay=5))
    body = succeeded(h, run(cli), before)
    # 3 at once at least (the gathered three); more only as the next reads (an assignments page, the compliance
    # window) go out while the three answers are still being written, and never beyond the window of 8
    assert 3 <= h.tenant.peak_in_flight.get(OTHER, 0) <= 8
    first_page = h.tenant.requests.index(("GET", ACD_AGENTS))
    ahead = {path for _, path in h.tenant.requests[:first_page]}
    assert ahead == {ACD_ASSIGNMENTS, ACD_ACTIVITY, ACD_SUMMARY, ACD_SETTINGS}  # all of them before the agents
    assert body["requests"] == PAGES + skill_reads(h) + 1 + 2  # as many requests as ever


@ACD
def test_the_reads_ahead_keep_within_the_window(cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Window 2: the activity goes ahead beside the assignments (2 at once, never 3); the summaries and the
    settings are read where the cycle reads them, after the agents."""
    monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", "2")
    assert cli("auth-check").exit_code == 0
    h.tenant.reset_counts()
    for path in (ACD_ASSIGNMENTS, ACD_ACTIVITY):
        h.tenant.add_fault(Fault("gather", path=path, times=1, value=2, delay=5))
    result = cli("run-once", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert h.tenant.peak_in_flight.get(OTHER) == 2
    assert in_turn(h.tenant.requests)[-3:] == [ACD_AGENTS, ACD_SUMMARY, ACD_SETTINGS]


@pytest.mark.parametrize("why", ["window 1", "no token at hand"])
@ACD
def test_without_room_or_a_token_every_read_waits_for_the_one_before(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """CXONE_PAGE_CONCURRENCY=1, or a run that must log in first (the login is made once, by the first request):
    the reads that need no agents wait for the agents, in the cycle's order, as they always did (with a window,
    the assignments' pages after the first still go out together)."""
    if why == "window 1":
        monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", "1")
        assert cli("auth-check").exit_code == 0
    h.tenant.reset_counts()
    result = cli("run-once", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert h.logins() == (0 if why == "window 1" else 3)  # discovery twice and the token request
    sent = [request for request in h.tenant.requests if request[1].startswith(ACD_SKILL + "/")]
    if why == "window 1":
        assert h.tenant.peak_in_flight.get(OTHER) == 1
    assert in_turn(sent) == [ACD_ASSIGNMENTS, ACD_ACTIVITY, ACD_SUMMARY, ACD_SETTINGS]
    assert in_turn([r for r in h.tenant.requests if r[1].startswith(ACD_SKILL) or r[1] == ACD_AGENTS]) == [
        ACD_ASSIGNMENTS,
        ACD_AGENTS,
        ACD_ACTIVITY,
        ACD_SUMMARY,
        ACD_SETTINGS,
    ]


# -- a fault on one page in the middle of paging --------------------------------------------------------------------

# (id, fault on the third agents GET to arrive (after=2), extra settings, exit code, what the error line says)
_FAULTS: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
    ("503-once", {"kind": "status", "status": 503}, {}, 0, ""),
    ("429-once", {"kind": "status", "status": 429, "retry_after": "0"}, {}, 0, ""),
    ("reset-once", {"kind": "reset"}, {}, 0, ""),
    ("delay", {"kind": "delay", "delay": 0.3}, {}, 0, ""),
    ("503-always", {"kind": "status", "status": 503, "times": None}, {}, 69, "API unavailable (503"),
    ("429-always", {"kind": "status", "status": 429, "retry_after": "0", "times": None}, {}, 75, "rate limited"),
    ("reset-always", {"kind": "reset", "times": None}, {}, 69, "cannot reach the API"),
    (
        "hang",
        {"kind": "hang", "times": None},
        {"CXONE_READ_TIMEOUT": "0.5", "CXONE_TIME_BUDGET": "1.5", "CXONE_MAX_ATTEMPTS": "20"},
        69,
        "timed out",
    ),
    (
        "trickle",
        {"kind": "trickle", "delay": 0.05, "chunk": 50, "times": None},
        {"CXONE_READ_TIMEOUT": "0.3", "CXONE_TIME_BUDGET": "0.5"},
        69,
        "time budget",
    ),
    ("403", {"kind": "status", "status": 403, "times": None}, {}, 77, "permission refused (403)"),
    ("401-always", {"kind": "status", "status": 401, "times": None}, {}, 77, "even after a token refresh"),
    ("malformed", {"kind": "malformed"}, {}, 76, "not valid JSON"),
    ("wrong-shape", {"kind": "wrong_shape"}, {}, 76, "no agentStates list"),
    ("no-total", {"kind": "drop_field", "field": "totalRecords"}, {}, 76, "totalRecords is missing"),
    ("total-changed", {"kind": "wrong_type", "field": "totalRecords", "value": 96}, {}, 76, "from 95 to 96"),
    (
        "short-page",
        {"kind": "wrong_type", "field": "agentStates", "value": [{"agentId": 1, "agentStateId": 7}]},
        {},
        76,
        "read 86 agents but totalRecords says 95",
    ),
    ("next-null", {"kind": "wrong_type", "field": "_links.next", "value": None}, {}, 76, "but totalRecords says 95"),
    ("empty-page", {"kind": "empty_page"}, {}, 76, "did not advance"),
    ("never-ends", {"kind": "repeat_page_token", "times": None}, {}, 76, "totalRecords changed"),
    ("huge", {"kind": "huge", "size": 40_000_000}, {}, 76, "answer larger than"),
    ("redirect", {"kind": "redirect", "status": 307, "location": "http://127.0.0.1:9/elsewhere"}, {}, 76, "redirect"),
]


@pytest.mark.parametrize(("fault", "env", "code", "needle"), [pytest.param(*case[1:], id=case[0]) for case in _FAULTS])
@ACD
def test_a_fault_on_a_page_in_the_middle_keeps_its_exit_code(
    cli: Cli,
    h: Harness,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    env: dict[str, str],
    code: int,
    needle: str,
) -> None:
    assert cli("auth-check").exit_code == 0  # the run starts from the token cache: its first request is page 1
    h.tenant.reset_counts()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = h.stored()
    h.tenant.add_fault(Fault(**{"method": "GET", "path": h.agents_path, "after": 2, **fault}))
    result = run(cli)
    if code == 0:
        succeeded(h, result, before)
        assert h.pages() == PAGES + (fault["kind"] != "delay")  # the one page sent again
    else:
        failed(h, result, code, before, needle)
        assert PAGE_CALL.search(result.stderr)


@ACD
def test_a_token_revoked_while_pages_are_in_flight_is_renewed_once(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch, server: SandboxServer
) -> None:
    window = 4
    monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", str(window))
    assert cli("auth-check").exit_code == 0  # logged in once: the run starts from the token cache
    before = h.stored()
    # Pages 2 to 5 are held (a gathering of 5 never happens: 4 at most are in flight) until the token they carry
    # has been revoked under them; then every one of them gets a 401 for the same token.
    h.tenant.add_fault(Fault("gather", path=h.agents_path, after=1, times=window, value=window + 1, delay=3))

    def revoke_when_all_are_in() -> None:
        if wait_for(lambda: peak(h) == window, seconds=10):
            h.tenant.revoke_all_tokens()

    revoker = threading.Thread(target=revoke_when_all_are_in)
    revoker.start()
    result = run(cli)
    revoker.join()
    succeeded(h, result, before)
    assert (h.tenant.logins, h.tenant.refreshes) == (1, 1)  # 4 pages refused, one renewal
    assert h.pages() == PAGES + window  # each refused page sent again, with the renewed token


@ACD
def test_sigterm_while_pages_hang_in_flight_stops_at_once(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real process: the pages after the first never answer (each would wait its 60 s read timeout), four of
    them in flight; SIGTERM unwinds at once as it does with one request, without waiting for the four."""
    assert cli("auth-check").exit_code == 0
    for name, value in {"CXONE_PAGE_CONCURRENCY": "4", "CXONE_READ_TIMEOUT": "60", "CXONE_TIME_BUDGET": "120"}.items():
        monkeypatch.setenv(name, value)
    before = h.stored()
    h.tenant.add_fault(Fault("hang", method="GET", path=h.agents_path, after=1, times=None))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxone_tune", "run-once"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: peak(h) == 4, seconds=30)  # four pages hanging in flight
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)  # far less than one read timeout
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert stderr.splitlines()[-1] == "cxone-tune: error: terminated (SIGTERM); stopped cleanly"
    assert (h.stored(), h.writes()) == (before, 0)


@ACD
def test_the_window_is_a_setting_named_in_its_error(cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("0", "33", "lots"):
        monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", bad)
        result = run(cli)
        assert result.exit_code == 78, (bad, result.stderr)
        assert "CXONE_PAGE_CONCURRENCY" in result.stderr.strip().splitlines()[-1]
    assert h.tenant.count() == 0


# -- windowed() itself ----------------------------------------------------------------------------------------------


class Jobs:
    """Jobs that note when they start and end, and a caller that notes when it takes a result."""

    def __init__(self, count: int, fail: int | None = None, pause: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.finished: list[int] = []
        self.taken = 0
        self.most_outstanding = 0  # jobs started and not yet taken, at worst
        self.fail = fail
        self.pause = pause
        self.jobs = [self.job(n) for n in range(count)]

    def job(self, n: int) -> Callable[[], int]:
        def run() -> int:
            with self.lock:
                self.started.append(n)
                self.most_outstanding = max(self.most_outstanding, len(self.started) - self.taken)
            time.sleep(self.pause)
            self.finished.append(n)
            if n == self.fail:
                raise ValueError(f"job {n} failed")
            return n

        return run

    def take(self, results: Any) -> list[int]:
        out = []
        for result in results:
            with self.lock:
                self.taken += 1
            out.append(result)
        return out


def test_windowed_keeps_the_order_and_never_more_than_window_outstanding() -> None:
    for window in (1, 2, 5):
        jobs = Jobs(23, pause=0.002)
        assert jobs.take(windowed(jobs.jobs, window)) == list(range(23))
        assert jobs.most_outstanding <= window
        assert sorted(jobs.started) == list(range(23))


def workers_gone(before: set[threading.Thread]) -> bool:
    """Whether every page worker started since ``before`` was taken has ended."""
    return not [t for t in threading.enumerate() if t not in before and t.name.startswith("cxone-tune-page")]


def test_windowed_stops_at_a_failure_without_waiting_for_the_jobs_running() -> None:
    threads = set(threading.enumerate())
    jobs = Jobs(40, fail=3, pause=0.01)
    held = threading.Event()

    def job_4() -> int:  # still running when job 3 fails, until the test lets it go
        held.wait(10)
        jobs.finished.append(4)
        return 4

    jobs.jobs[4] = job_4
    with pytest.raises(ValueError, match="job 3 failed"):
        jobs.take(windowed(jobs.jobs, 4))
    assert jobs.taken == 3  # 0, 1 and 2 were handed over; 3 raised in its turn
    assert 4 not in jobs.finished  # the caller went on while job 4 was still running
    held.set()
    assert max(jobs.started) <= 3 + 4  # nothing beyond the window was started, nor after the failure
    assert wait_for(lambda: workers_gone(threads))  # every worker ended after its job in hand
    assert wait_for(lambda: 4 in jobs.finished)


def test_windowed_stops_when_the_caller_stops() -> None:
    threads = set(threading.enumerate())
    jobs = Jobs(40, pause=0.01)
    results = windowed(jobs.jobs, 4)
    assert [next(results), next(results)] == [0, 1]
    results.close()
    assert max(jobs.started) <= 1 + 4
    assert wait_for(lambda: workers_gone(threads))
    assert sorted(jobs.finished) == sorted(jobs.started)


# -- Ahead itself ----------------------------------------------------------------------------------------------------


def test_ahead_starts_at_most_its_room_and_reads_the_rest_where_taken() -> None:
    started: list[tuple[int, str]] = []
    gate = threading.Event()

    def job(n: int) -> Callable[[], int]:
        def run() -> int:
            started.append((n, threading.current_thread().name))
            if n < 2:
                gate.wait(10)  # held until both are known to run at once
            return n

        return run

    ahead = Ahead(2)
    pending = [ahead.start(job(n)) for n in range(4)]
    assert wait_for(lambda: sorted(n for n, _ in started) == [0, 1])  # two at once, on threads of their own
    assert all(name.startswith("cxone-tune-read-") for _, name in started)
    gate.set()
    ahead.settle()
    assert [n for n, _ in started] in ([0, 1], [1, 0])  # the others not yet sent
    assert [p.result() for p in pending] == [0, 1, 2, 3]
    here = threading.current_thread().name
    assert started[2:] == [(2, here), (3, here)]  # beyond the room: read where taken, in the caller's thread


def test_a_read_started_ahead_fails_where_it_is_taken() -> None:
    ahead = Ahead(1)
    failing = ahead.start(lambda: 1 // 0)
    ahead.settle()  # ended, and the failure kept: nothing raised yet
    with pytest.raises(ZeroDivisionError):
        failing.result()


# -- docs/reliability.md "acd pages read at once" stays in step with this module -----------------------------------


def test_the_paging_table_names_exactly_this_modules_tests() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    named = set(re.findall(r"`(test_\w+)", doctables.section(doc, "acd pages read at once")))
    mine = {name for name in globals() if name.startswith("test_") and callable(globals()[name])}
    assert named - mine == set(), f"the table names tests this module lacks: {sorted(named - mine)}"
    assert mine - named == {"test_the_paging_table_names_exactly_this_modules_tests"}, sorted(mine - named)


# -- totalRecords as a string: one parser for every acd number (acd_skill.count) ----------------------------------


@ACD
def test_total_records_as_a_string_is_read_like_the_skills_counts(cli: Cli, h: Harness) -> None:
    """The contract lets tenants send numbers as strings: "95" is 95 on every page, as the skill's reads take it."""
    h.tenant.add_fault(
        Fault("wrong_type", method="GET", path=h.agents_path, field="totalRecords", value="95", times=None)
    )
    body = json.loads(run(cli).stdout)
    assert (body["total_agents"], h.pages()) == (h.counted(), PAGES)


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "x"])
@ACD
def test_total_records_that_is_no_count_is_76_naming_the_page_and_field(cli: Cli, h: Harness, value: str) -> None:
    before = h.stored()
    h.tenant.add_fault(Fault("wrong_type", method="GET", path=h.agents_path, field="totalRecords", value=value))
    result = run(cli)
    failed(h, result, 76, before, "GET agents/states page 1: totalRecords is missing or not a count")


def _rows(first_id: int, count: int) -> list[dict[str, Any]]:
    return [{"agentId": first_id + i, "agentStateId": 7, "agentStateName": "Dialer"} for i in range(count)]


@ACD
def test_a_page_of_another_size_than_the_first_is_76_even_when_the_count_adds_up(
    cli: Cli, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are read at skip = k x the first page's size: page 2 with 11 rows overlaps page 3, and a page 3 of 9
    makes the count come to totalRecords all the same. Counted, that is 95 rows that are not the tenant's 95."""
    monkeypatch.setenv("CXONE_PAGE_CONCURRENCY", "1")  # pages 2 and 3 in order, so each fault meets its page
    before = h.stored()
    h.tenant.add_fault(
        Fault("wrong_type", method="GET", path=h.agents_path, after=1, field="agentStates", value=_rows(9001, 11))
    )
    h.tenant.add_fault(
        Fault("wrong_type", method="GET", path=h.agents_path, after=1, field="agentStates", value=_rows(9101, 9))
    )
    result = run(cli)
    failed(h, result, 76, before, "GET agents/states page 2: 11 agents on a page of 10 (pages of 10)")
