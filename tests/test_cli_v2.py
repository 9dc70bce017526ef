"""Integration: every command over real HTTP against the sandbox tenant on loopback (profile v2)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, DEFAULT_CLIENT_SECRET, Fault, SandboxServer, SandboxTenant
from tests.conftest import Cli

CAMPAIGN = "/api/v2/campaigns/"
AGENTS = "/api/v2/realtime/agents"
TOKEN = "/oauth/token"


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def expected_limit(available: int, factor: str = "0.8", low: int = 1, high: int = 50) -> int:
    return max(low, min(high, math.floor(available * Decimal(factor))))


def puts(tenant: SandboxTenant) -> int:
    return tenant.count("PUT", CAMPAIGN)


def one_error_line(result: Result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # One error line, last; off a terminal the run's held-back info lines may come before it as its story.
    errors = [line for line in lines if line.startswith("cxone-tune: error: ")]
    assert errors == lines[-1:], result.stderr
    assert all(line.startswith("cxone-tune: info: ") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[-1]
    return lines[-1]


# -- the happy paths ------------------------------------------------------------------------------------------


def test_auth_check_then_reuses_the_cached_token(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    first = doc(cli("auth-check", "--json"))
    assert first["token_source"] == "new"
    assert 3500 < first["expires_in"] <= 3600
    second = doc(cli("auth-check", "--json"))
    assert second["token_source"] == "cache"
    assert tenant.count("POST", TOKEN) == 1
    text = cli("auth-check")
    assert text.exit_code == 0
    assert "valid for" in text.stdout


def test_agents_json_counts_states_case_insensitively(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    body = doc(cli("agents", "--json"))
    assert body["total"] == 40
    assert body["available"] == tenant.available_agents()
    assert sum(body["counts"].values()) == 40
    assert set(body["counts"]) <= {"available", "in-progress", "wrap-up", "unavailable", "logged-out"}
    assert len(body["agents"]) == 40
    # The sandbox writes some states as "Available"/"AVAILABLE"; all of them must count.
    raw_available = [a for a in tenant.agents if a["state"].lower() == "available"]
    assert any(a["state"] != "available" for a in tenant.agents)
    assert body["available"] == len(raw_available)


def test_agents_table_and_summary(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    result = cli("agents")
    assert result.exit_code == 0
    assert "u-00001" in result.stdout
    assert "Agents by state" in result.stdout
    only = cli("agents", "--state", "AVAILABLE")
    rows = [line for line in only.stdout.splitlines() if "u-0" in line]
    assert len(rows) == tenant.available_agents()
    summary = cli("agents", "--summary")
    assert "u-00001" not in summary.stdout
    assert "Agents by state" in summary.stdout


def test_agents_json_honours_state_and_summary(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    everyone = doc(cli("agents", "--json"))
    only = doc(cli("agents", "--json", "--state", "AVAILABLE", "--state", "wrap-up"))
    assert {a["state"] for a in only["agents"]} == {"available", "wrap-up"} & set(everyone["counts"])
    assert len(only["agents"]) == everyone["counts"].get("available", 0) + everyone["counts"].get("wrap-up", 0)
    assert len(only["agents"]) < len(everyone["agents"])
    # The filter narrows the rows, never the counts.
    assert {k: only[k] for k in ("total", "available", "counts")} == {
        k: everyone[k] for k in ("total", "available", "counts")
    }
    summary = doc(cli("agents", "--json", "--summary"))
    assert "agents" not in summary
    assert {k: summary[k] for k in ("total", "available", "counts")} == {
        k: everyone[k] for k in ("total", "available", "counts")
    }


def test_compute_shows_limit_and_reasons(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    body = doc(cli("compute", "--json"))
    available = tenant.available_agents()
    assert body["available_agents"] == available
    assert body["total_agents"] == 40
    assert body["limit"] == expected_limit(available)
    assert body["reasons"]
    assert puts(tenant) == 0
    text = cli("compute")
    assert f"limit for {DEFAULT_CAMPAIGN_ID}" in text.stdout


def test_dry_run_writes_nothing(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    before = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    body = doc(cli("run-once", "--dry-run", "--json"))
    assert body["dry_run"] is True
    assert body["applied"] is False
    assert body["changed"] is True
    assert body["previous_limit"] == 12
    assert body["limit"] == expected_limit(tenant.available_agents())
    assert puts(tenant) == 0
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID) == before
    text = cli("run-once", "--dry-run")
    assert "dry run: nothing written" in text.stdout
    assert "12 -> " in text.stdout


def test_run_once_writes_once_and_keeps_every_other_field(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]
) -> None:
    before = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    limit = expected_limit(tenant.available_agents())
    assert limit != before["rules"]["maxConcurrentCalls"]
    body = doc(cli("run-once", "--json"))
    assert (body["target"], body["previous_limit"], body["limit"]) == (DEFAULT_CAMPAIGN_ID, 12, limit)
    assert body["changed"] is True
    assert body["applied"] is True
    assert body["dry_run"] is False
    assert puts(tenant) == 1
    after = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    expected = json.loads(json.dumps(before))
    expected["rules"]["maxConcurrentCalls"] = limit
    expected["version"] = before["version"] + 1
    assert after == expected  # every field the tool does not know about survived the full-replacement PUT

    # Steady state: warm token cache, value already right -> the agent page and one campaign read.
    tenant.reset_counts()
    again = doc(cli("run-once", "--json"))
    assert again["changed"] is False
    assert again["applied"] is False
    assert tenant.requests == [("GET", AGENTS), ("GET", CAMPAIGN + DEFAULT_CAMPAIGN_ID)]
    assert again["requests"] == 2


def test_a_change_costs_exactly_one_put_more(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    doc(cli("auth-check", "--json"))  # warm the token cache
    tenant.reset_counts()
    doc(cli("run-once", "--json"))
    assert tenant.count() == 3
    assert puts(tenant) == 1


@pytest.mark.parametrize(("agents", "page_size", "pages"), [(2500, "1000", 3), (10_000, None, 10), (7, "3", 3)])
def test_paging_reads_every_agent_once(
    cli: Cli,
    tenant: SandboxTenant,
    v2_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    agents: int,
    page_size: str | None,
    pages: int,
) -> None:
    tenant.set_agent_count(agents)
    if page_size:
        monkeypatch.setenv("CXONE_PAGE_SIZE", page_size)
    body = doc(cli("agents", "--json"))
    assert body["total"] == agents
    assert len({a["id"] for a in body["agents"]}) == agents
    assert body["pages"] == pages
    assert tenant.count("GET", AGENTS) == pages


def test_no_agents_writes_the_minimum_and_says_why(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.set_agent_states(["logged-out", "unavailable"])
    body = doc(cli("run-once", "--json"))
    assert body["limit"] == 1
    assert body["available_agents"] == 0
    assert any("0 is never written" in reason for reason in body["reasons"])
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"] == 1


def test_apply_sets_the_value_and_refuses_out_of_bounds(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]
) -> None:
    assert doc(cli("apply", "7", "--dry-run", "--json"))["applied"] is False
    assert puts(tenant) == 0
    body = doc(cli("apply", "7", "--json"))
    assert (body["previous_limit"], body["limit"], body["applied"]) == (12, 7, True)
    assert doc(cli("apply", "7", "--json"))["changed"] is False
    assert puts(tenant) == 1
    one_error_line(cli("apply", "51"), 2, "LIMIT 51", "[1, 50]")
    one_error_line(cli("apply", "0"), 2, "LIMIT 0")
    assert puts(tenant) == 1


def test_two_processes_in_a_row_make_one_token_request(
    tenant: SandboxTenant, v2_env: dict[str, str], cache_dir: Path
) -> None:
    env = {**os.environ, **v2_env}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "cxone_tune", "run-once", "--dry-run", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["dry_run"] is True
    assert tenant.count("POST", TOKEN) == 1
    cache_files = list(cache_dir.glob("token-*.json"))
    assert len(cache_files) == 1
    assert cache_files[0].stat().st_mode & 0o777 == 0o600
    assert DEFAULT_CLIENT_SECRET not in cache_files[0].read_text()


# -- conflicts: another writer is never overwritten ----------------------------------------------------------


def test_409_with_another_writers_edit_keeps_both_changes(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]
) -> None:
    tenant.add_fault(Fault("concurrent_edit"))
    body = doc(cli("run-once", "--json"))
    assert body["applied"] is True
    assert body["conflicts"] == 1
    after = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    assert after["name"] == "Spring renewals (edited)"  # the other writer's change
    assert after["rules"]["maxAttempts"] == 4  # the other writer's change
    assert after["rules"]["maxConcurrentCalls"] == expected_limit(tenant.available_agents())  # ours
    assert puts(tenant) == 2


def test_conflicts_forever_end_with_75_and_the_other_writer_intact(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]
) -> None:
    tenant.add_fault(Fault("concurrent_edit", times=None))
    one_error_line(cli("run-once"), 75, "kept changing")
    after = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    assert after["rules"]["maxConcurrentCalls"] == 12
    assert after["name"].endswith("(edited)")
    assert puts(tenant) == 4  # the first try and three re-applies, each on a fresh copy


# -- every exit code of the contract, provoked against the sandbox -------------------------------------------


def test_400_from_the_tenant_is_78_with_the_apis_message(v2_env: dict[str, str], cli: Cli) -> None:
    strict = SandboxTenant(agents=40, seed=1, max_limit=5)  # the tenant's bound is below ours (50)
    with SandboxServer(strict).start() as other:
        os.environ["CXONE_TENANT_URL"] = other.url
        one_error_line(cli("run-once"), 78, "maxConcurrentCalls must be between 1 and 5")
    assert strict.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"] == 12


def test_unknown_campaign_is_78_naming_it(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", "c-nope")
    one_error_line(cli("run-once", "--dry-run"), 78, "c-nope", "404")


def test_missing_configuration_is_78(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXONE_CAMPAIGN_ID")
    one_error_line(cli("run-once"), 78, "CXONE_CAMPAIGN_ID")
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", DEFAULT_CAMPAIGN_ID)
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "1.5")
    one_error_line(cli("compute"), 78, "CXONE_SAFETY_FACTOR")


def test_wrong_client_secret_is_77(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_CLIENT_SECRET", "not-the-secret")
    line = one_error_line(cli("auth-check"), 77, "invalid_client")
    assert "not-the-secret" not in line


def test_revoked_token_is_refreshed_once(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    doc(cli("auth-check", "--json"))
    tenant.add_fault(Fault("revoke_token", path=AGENTS))
    body = doc(cli("run-once", "--json"))
    assert body["applied"] is True
    assert tenant.count("POST", TOKEN) == 2


def test_401_that_a_refresh_does_not_cure_is_77(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.add_fault(Fault("status", status=401, path=CAMPAIGN, times=None))
    one_error_line(cli("run-once"), 77, "GET campaign c-100", "401")
    assert tenant.count("GET", CAMPAIGN) == 2  # the call and one resend after the refresh
    assert puts(tenant) == 0


def test_403_on_the_write_is_77(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.add_fault(Fault("status", status=403, method="PUT", path=CAMPAIGN, times=None))
    one_error_line(cli("run-once"), 77, "PUT campaign c-100", "403")
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"] == 12


def test_5xx_once_is_retried(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.add_fault(Fault("status", status=503, path=AGENTS))
    assert doc(cli("run-once", "--json"))["applied"] is True
    assert tenant.count("GET", AGENTS) == 2


def test_5xx_every_time_is_69(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.add_fault(Fault("status", status=502, path=AGENTS, times=None))
    one_error_line(cli("run-once"), 69, "GET agents page 1", "502")
    assert tenant.count("GET", AGENTS) == 3  # CXONE_MAX_ATTEMPTS
    assert puts(tenant) == 0


def test_connection_refused_is_69(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    dead = SandboxServer(SandboxTenant(agents=1)).start()
    url = dead.url
    dead.stop()  # nothing listens there any more
    monkeypatch.setenv("CXONE_TENANT_URL", url)
    one_error_line(cli("auth-check"), 69, "cannot reach the API")


def test_slow_answer_times_out_and_is_retried(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_READ_TIMEOUT", "0.3")
    tenant.add_fault(Fault("delay", delay=1.0, path=CAMPAIGN, method="GET"))
    assert doc(cli("run-once", "--json"))["applied"] is True
    assert tenant.count("GET", CAMPAIGN) == 2


@pytest.mark.parametrize("retry_after", ["0", "date"])
def test_429_once_honours_retry_after(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], retry_after: str
) -> None:
    if retry_after == "date":
        retry_after = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=1), usegmt=True)
    tenant.add_fault(Fault("status", status=429, retry_after=retry_after, path=AGENTS))
    assert doc(cli("run-once", "--json"))["applied"] is True
    assert tenant.count("GET", AGENTS) == 2


def test_429_forever_is_75(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    tenant.add_fault(Fault("status", status=429, retry_after="0", path=AGENTS, times=None))
    one_error_line(cli("run-once"), 75, "rate limited")
    assert puts(tenant) == 0


@pytest.mark.parametrize(("kind", "path"), [("malformed", AGENTS), ("wrong_shape", AGENTS), ("wrong_shape", CAMPAIGN)])
def test_answers_the_tool_cannot_understand_are_76(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], kind: str, path: str
) -> None:
    tenant.add_fault(Fault(kind, path=path, method="GET"))
    one_error_line(cli("run-once"), 76)
    assert puts(tenant) == 0


def test_a_repeated_page_token_is_76_not_an_endless_loop(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_PAGE_SIZE", "10")
    tenant.add_fault(Fault("repeat_page_token", times=None))
    one_error_line(cli("run-once"), 76, "repeated a page token")
    assert tenant.count("GET", AGENTS) <= 3
    assert puts(tenant) == 0


def test_a_bug_is_70_without_a_traceback(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("policy exploded")

    monkeypatch.setattr("cxone_tune.cycle.evaluate", broken)
    one_error_line(cli("compute"), 70, "internal error", "policy exploded")
    verbose = cli("--verbose", "compute")
    assert verbose.exit_code == 70
    assert "Traceback" in verbose.stderr


def test_bad_usage_is_2(cli: Cli) -> None:
    assert cli("run-once", "--no-such-option").exit_code == 2
    assert cli("apply", "many").exit_code == 2


# -- secrets -------------------------------------------------------------------------------------------------


def test_no_secret_or_token_in_any_output(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    outputs: list[str] = []
    for args in (
        ["auth-check"],
        ["auth-check", "--json"],
        ["agents"],
        ["agents", "--json"],
        ["compute", "--json"],
        ["run-once", "--dry-run"],
        ["run-once", "--json"],
        ["apply", "9"],
        ["-vv", "run-once"],
        ["-vv", "apply", "99"],
    ):
        result = cli(*args)
        outputs += [result.stdout, result.stderr]
    tenant.add_fault(Fault("status", status=401, path=CAMPAIGN, times=None))
    failing = cli("-vv", "run-once")
    assert failing.exit_code == 77
    outputs += [failing.stdout, failing.stderr]
    issued = list(tenant._tokens)
    assert issued
    for text in outputs:
        assert DEFAULT_CLIENT_SECRET not in text
        for token in issued:
            assert token not in text


def test_team_and_queue_filters_narrow_the_pool(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_TEAM_IDS", "t-north,t-east")
    monkeypatch.setenv("CXONE_QUEUE_IDS", "q-sales")
    body = doc(cli("compute", "--json"))
    pool = [a for a in tenant.agents if a["teamId"] in ("t-north", "t-east") and a["queueId"] == "q-sales"]
    assert 0 < body["total_agents"] == len(pool) < 40
    assert body["available_agents"] == sum(1 for a in pool if a["state"].lower() == "available")
