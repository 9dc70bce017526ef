"""`apply LIMIT` and the abandon guard (acd): a raise above what the guard allows is refused (78, nothing written)
unless --force, which writes and says so in the output and the audit line; a lowering is always allowed and reads
no figures. The calls are logged through the sandbox's control API (POST /_sandbox/skills/{id}/calls); every test
sets CXONE_ABANDON_TIME_ZONE to a zone where it is now about noon (the ``acd_run`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cxone_sandbox import DEFAULT_SKILL_ID
from tests.conftest import Cli
from tests.harness import ACD_SUMMARY, Harness

CALLS = f"/_sandbox/skills/{DEFAULT_SKILL_ID}/calls"


@pytest.fixture
def acd(acd_run: Harness) -> Harness:
    return acd_run


def log_calls(client: httpx.Client, abandons: int, handled: int, seconds_ago: int) -> None:
    body = {"abandons": abandons, "handled": handled, "secondsAgo": seconds_ago}
    client.post(CALLS, json=body).raise_for_status()


def stored(acd: Harness) -> Any:
    return acd.tenant.skill_settings_copy(DEFAULT_SKILL_ID)["maximumRatio"]


def history(cli: Cli) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(cli("history", "--json").stdout)
    return records


def test_a_raise_above_the_guard_is_refused_and_nothing_written(cli: Cli, acd: Harness, client: httpx.Client) -> None:
    log_calls(client, 50, 950, seconds_ago=2 * 3600)  # 5% today, outside the short window
    assert stored(acd) == 2
    for args in (("apply", "3", "--dry-run"), ("apply", "3")):
        result = cli(*args)
        assert result.exit_code == 78, result.stdout
        assert result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert "LIMIT 3 refused: the abandon guard allows at most 1" in line
        assert f"skill {DEFAULT_SKILL_ID} (general-settings.maximumRatio 2 in force)" in line
        assert "above the setpoint 2%" in line and "--force" in line
    assert (acd.writes(), stored(acd)) == (0, 2)
    refused = history(cli)
    assert [(r["exit_code"], r["dry_run"]) for r in refused] == [(78, True), (78, False)]
    assert "abandon guard allows at most 1" in refused[-1]["error"]


def test_force_writes_and_the_output_and_audit_line_say_the_guard_was_overridden(
    cli: Cli, acd: Harness, client: httpx.Client
) -> None:
    log_calls(client, 50, 950, seconds_ago=2 * 3600)
    dry = cli("apply", "3", "--dry-run", "--force")
    assert dry.exit_code == 0, dry.stderr
    assert "2 -> 3.0 (dry run: nothing written; abandon guard overridden (--force)" in dry.stdout
    assert acd.writes() == 0
    body = json.loads(cli("apply", "3", "--force", "--json").stdout)
    assert (body["previous_limit"], body["limit"], body["applied"]) == (2, 3.0, True)
    assert body["guard_overridden"].startswith("abandon guard overridden (--force): the abandon guard allows at most 1")
    assert (acd.writes(), stored(acd)) == (1, 3.0)
    record = history(cli)[-1]
    assert (record["command"], record["applied"], record["exit_code"]) == ("apply", True, 0)
    assert record["guard_overridden"] == body["guard_overridden"]


def test_the_short_window_allows_half_the_headroom(cli: Cli, acd: Harness, client: httpx.Client) -> None:
    log_calls(client, 8, 92, seconds_ago=60)  # 8% in the last 30 minutes
    log_calls(client, 0, 9900, seconds_ago=3 * 3600)  # 0.08% today: raises allowed
    result = cli("apply", "3")
    assert result.exit_code == 78
    assert "allows at most 1.5" in result.stderr and "half the headroom above 1.0, 2 -> 1.5" in result.stderr
    assert cli("apply", "1.5").exit_code == 0  # the ceiling itself is allowed (a lowering, too)
    assert stored(acd) == 1.5


def test_a_lowering_is_always_allowed_and_reads_no_figures(cli: Cli, acd: Harness, client: httpx.Client) -> None:
    log_calls(client, 50, 950, seconds_ago=60)  # hot on both windows
    result = cli("apply", "1.5")
    assert result.exit_code == 0, result.stderr
    assert stored(acd) == 1.5
    assert acd.tenant.count("GET", ACD_SUMMARY) == 0
    assert cli("apply", "1.5").exit_code == 0  # the value in force: nothing to do, nothing read
    assert acd.tenant.count("GET", ACD_SUMMARY) == 0


def test_a_raise_the_guard_allows_goes_through(cli: Cli, acd: Harness, client: httpx.Client) -> None:
    log_calls(client, 1, 999, seconds_ago=2 * 3600)  # 0.1% today: below half the setpoint
    result = cli("apply", "3")
    assert result.exit_code == 0, result.stderr
    assert "overridden" not in result.stdout
    assert stored(acd) == 3.0
    assert acd.tenant.count("GET", ACD_SUMMARY) == 2  # the short window and today


def test_unreadable_figures_allow_no_raise(cli: Cli, acd: Harness) -> None:
    from cxone_sandbox import Fault

    acd.tenant.add_fault(Fault("status", status=503, path=ACD_SUMMARY, times=None))
    result = cli("apply", "2.5")
    assert result.exit_code == 78
    assert "allows at most 2" in result.stderr and "could not be read" in result.stderr
    assert acd.writes() == 0


def test_with_the_guard_off_apply_reads_nothing_more(
    cli: Cli, acd: Harness, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_ABANDON_GUARD", "false")
    log_calls(client, 50, 950, seconds_ago=60)
    assert cli("apply", "3").exit_code == 0
    assert (stored(acd), acd.tenant.count("GET", ACD_SUMMARY)) == (3.0, 0)
