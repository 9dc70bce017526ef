"""The same integration coverage for both API profiles, over loopback HTTP against the sandbox tenant.

Each profile gets a harness that knows where its steered value lives and how to count its calls; the
tests themselves are written once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import Result

from cxone_sandbox import (
    Fault,
)
from tests.conftest import Cli
from tests.harness import Harness


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def fails(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    last = result.stderr.splitlines()[-1]
    assert last.startswith("cxone-tune: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in last


# -- reading ---------------------------------------------------------------------------------------------------


def test_auth_check_logs_in_once_then_reuses_the_cache(cli: Cli, harness: Harness) -> None:
    assert doc(cli("auth-check", "--json"))["token_source"] == "new"
    first = harness.logins()
    assert doc(cli("auth-check", "--json"))["token_source"] == "cache"
    assert harness.logins() == first


def test_agents_are_counted_per_state(cli: Cli, harness: Harness) -> None:
    body = doc(cli("agents", "--json"))
    assert body["total"] == harness.counted()
    assert body["available"] == harness.available()
    assert sum(body["counts"].values()) == harness.counted()
    assert body["pages"] == 1
    assert body["pool"]["tenant"]["total"] == 40


def test_paging_reads_every_agent_once(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.tenant.set_agent_count(2500)
    monkeypatch.setenv("CXONE_PAGE_SIZE", "1000")
    body = doc(cli("agents", "--json"))
    assert body["pool"]["tenant"]["total"] == 2500
    assert body["total"] == harness.counted()
    assert len({agent["id"] for agent in body["agents"]}) == harness.counted()
    assert harness.pages() == 3


def test_compute_gives_the_profiles_rule_and_reasons(cli: Cli, harness: Harness) -> None:
    for available, busy in ((0, 3), (4, 4), (9, 2), (30, 5)):
        harness.set_states(available, busy)
        body = doc(cli("compute", "--json"))
        assert (body["available_agents"], body["total_agents"]) == (available, available + busy)
        assert body["limit"] == harness.expected(available)
        assert body["reasons"]
    assert harness.writes() == 0


# -- writing ---------------------------------------------------------------------------------------------------


def test_dry_run_writes_nothing(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    body = doc(cli("run-once", "--dry-run", "--json"))
    assert (body["dry_run"], body["applied"], body["changed"]) == (True, False, True)
    assert body["previous_limit"] == harness.value_of(before)
    assert body["limit"] == harness.expected(harness.available())
    assert harness.writes() == 0
    assert harness.stored() == before


def test_one_write_keeps_every_other_field_and_the_next_run_is_pages_plus_one(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    target = harness.expected(harness.available())
    assert harness.value_of(before) != target
    body = doc(cli("run-once", "--json"))
    assert (body["changed"], body["applied"], body["limit"]) == (True, True, target)
    assert harness.writes() == 1
    after = harness.stored()
    assert harness.value_of(after) == target
    kept = {k: v for k, v in after.items() if k not in ("version", "rules", "maximumRatio")}
    assert kept == {k: v for k, v in before.items() if k not in ("version", "rules", "maximumRatio")}
    if harness.name == "v2":
        assert {**after["rules"], "maxConcurrentCalls": 12} == before["rules"]

    harness.tenant.reset_counts()
    again = doc(cli("run-once", "--json"))
    assert (again["changed"], again["applied"]) == (False, False)
    assert harness.steady(harness.tenant.requests), harness.tenant.requests
    assert again["requests"] == harness.steady_count


def test_a_second_process_makes_no_login_or_discovery_request(harness: Harness) -> None:
    env = {**os.environ, **harness.env}
    for _ in range(2):
        harness.tenant.reset_counts()
        proc = subprocess.run(
            [sys.executable, "-m", "cxone_tune", "run-once", "--json"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    # The second run: the agent page and the one read of the steered value (acd: and the skill's pool, activity
    # and abandon figures), nothing else.
    assert harness.steady(harness.tenant.requests), harness.tenant.requests


def test_an_edit_by_someone_else_between_read_and_write_survives(cli: Cli, harness: Harness) -> None:
    harness.tenant.add_fault(Fault("concurrent_edit"))
    body = doc(cli("run-once", "--json"))
    assert body["applied"] is True
    assert body["conflicts"] == 1
    after = harness.stored()
    assert harness.value_of(after) == harness.expected(harness.available())
    if harness.name == "v2":
        assert after["name"].endswith("(edited)")
        assert after["rules"]["maxAttempts"] == 4
    else:
        assert after["aggressiveness"] == "High"
        assert after["maximumAttempts"] == 4
    assert harness.writes() == (2 if harness.name == "v2" else 1)  # acd re-reads instead of a rejected PUT


def test_an_edit_on_every_attempt_ends_with_75_and_writes_nothing_over_it(cli: Cli, harness: Harness) -> None:
    before = harness.value()
    harness.tenant.add_fault(Fault("concurrent_edit", times=None))
    fails(cli("run-once"), 75, "kept changing")
    assert harness.value() == before


def test_apply_sets_the_value_within_bounds_only(cli: Cli, harness: Harness) -> None:
    good, too_high = ("7", "51") if harness.name == "v2" else ("2.5", "3.5")
    body = doc(cli("apply", good, "--json"))
    assert body["applied"] is True
    assert harness.value() == float(good)
    assert doc(cli("apply", good, "--json"))["changed"] is False
    fails(cli("apply", too_high), 2, f"LIMIT {too_high}")
    assert harness.writes() == 1


# -- auth ------------------------------------------------------------------------------------------------------


def test_a_revoked_token_is_renewed_once_mid_run(cli: Cli, harness: Harness) -> None:
    doc(cli("auth-check", "--json"))
    harness.tenant.add_fault(Fault("revoke_token", path=harness.agents_path))
    assert doc(cli("run-once", "--json"))["applied"] is True
    if harness.name == "acd":
        assert (harness.tenant.logins, harness.tenant.refreshes) == (1, 1)  # the refresh token, no new login
    else:
        assert harness.tenant.count("POST", "/oauth/token") == 2


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_403_is_77_naming_the_call(cli: Cli, harness: Harness, method: str) -> None:
    before = harness.value()
    harness.tenant.add_fault(Fault("status", status=403, method=method, path=harness.target_path, times=None))
    fails(cli("run-once"), 77, "403", method)
    assert harness.value() == before


def test_401_after_a_refresh_is_77(cli: Cli, harness: Harness) -> None:
    harness.tenant.add_fault(Fault("status", status=401, path=harness.agents_path, times=None))
    fails(cli("run-once"), 77, "401")
    assert harness.writes() == 0


@pytest.mark.parametrize("kind", ["malformed", "wrong_shape"])
def test_answers_it_cannot_understand_are_76_and_write_nothing(cli: Cli, harness: Harness, kind: str) -> None:
    harness.tenant.add_fault(Fault(kind, method="GET", path=harness.agents_path))
    fails(cli("run-once"), 76)
    assert harness.writes() == 0


def test_a_pager_that_never_advances_is_76(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_PAGE_SIZE", "10")
    harness.tenant.add_fault(Fault("repeat_page_token", times=None))
    fails(cli("run-once"), 76)
    # 4 pages of rows, then the empty one; acd has sent the pages after it too (its window) when that one is read
    assert harness.pages() <= 4 + harness.window
    assert harness.writes() == 0
