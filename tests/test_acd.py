"""What only the acd profile has: discovery, the refresh grant, the steered field, filters, API variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    DEFAULT_TENANT_ID,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune import cycle, render
from cxone_tune import pool as skill_pool
from cxone_tune.demo import sandbox_settings
from cxone_tune.profiles.acd import COUNT_FIELDS, AcdProfile, canonical_state, jwt_claims
from tests.conftest import Cli

SETTINGS = f"/inContactAPI/services/v30.0/skills/{DEFAULT_SKILL_ID}/parameters/general-settings"


@pytest.fixture
def acd_env(server: SandboxServer, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    env = {
        "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
        "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CXONE_ISSUER": server.url,
        "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
        "CXONE_CACHE_DIR": str(cache_dir),
        "CXONE_STATE_DIR": str(tmp_path / "state"),
        "CXONE_MAX_ATTEMPTS": "2",
        "CXONE_TIME_BUDGET": "20",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server.url


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def test_login_discovers_once_and_reads_the_tenant_from_the_token(
    cli: Cli, tenant: SandboxTenant, acd_env: str
) -> None:
    body = doc(cli("auth-check", "--json"))
    assert (body["profile"], body["tenant_id"], body["api_base"]) == ("acd", DEFAULT_TENANT_ID, acd_env)
    assert tenant.count("GET", "/.well-known/openid-configuration") == 1
    assert tenant.count("GET", "/.well-known/cxone-configuration") == 1
    assert tenant.logins == 1
    doc(cli("run-once", "--json"))
    doc(cli("run-once", "--json"))
    assert tenant.count("GET", "/.well-known/") == 2  # still only the first run's two discovery reads
    assert tenant.logins == 1


def test_an_api_base_setting_skips_discovery(
    cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_API_BASE", acd_env)
    doc(cli("run-once", "--json"))
    assert tenant.count("GET", "/.well-known/cxone-configuration") == 0


def test_a_refused_refresh_falls_back_to_a_new_login(cli: Cli, tenant: SandboxTenant, acd_env: str) -> None:
    doc(cli("auth-check", "--json"))
    tenant.revoke_all_tokens()
    tenant.revoke_refresh_tokens()
    assert doc(cli("run-once", "--json"))["applied"] is True
    assert tenant.logins == 2


def test_a_wrong_access_key_is_77_and_never_printed(cli: Cli, acd_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_ACCESS_KEY_SECRET", "wrong-secret-value=")
    result = cli("-vv", "auth-check")
    assert result.exit_code == 77
    assert "invalid_grant" in result.stderr.splitlines()[-1]
    assert "wrong-secret-value" not in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["CXONE_ACCESS_KEY_SECRET", "CXONE_SKILL_ID", "CXONE_CLIENT_ID"])
def test_missing_settings_are_78_naming_them(
    cli: Cli, acd_env: str, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    monkeypatch.setenv("CXONE_API", "acd")
    result = cli("compute")
    assert result.exit_code == 78
    assert missing in result.stderr


def test_unknown_skill_is_78(cli: Cli, acd_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_SKILL_ID", "999")
    result = cli("run-once", "--dry-run")
    assert result.exit_code == 78
    assert "skill 999" in result.stderr


def test_older_result_set_wrapper_and_204_on_write(cli: Cli, tenant: SandboxTenant, acd_env: str) -> None:
    tenant.acd_result_set_wrapper = True
    tenant.acd_put_returns_204 = True
    body = doc(cli("run-once", "--json"))
    assert body["total_agents"] == len(tenant.pool_agents(DEFAULT_SKILL_ID)) == 22  # the skill's pool
    assert body["pool"]["tenant"]["total"] == 40  # of the tenant's 40 agents
    assert body["pool"]["activity"]["agents_available"] == body["available_agents"]  # resultSet-wrapped too
    assert body["applied"] is True
    assert tenant.skill_settings_copy(DEFAULT_SKILL_ID)["maximumRatio"] == body["limit"]


def test_available_states_and_team_filter_are_settings(
    cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant.set_acd_agents(["Dialer", "Dialer", "Available", "Unavailable", "OutboundContact"])
    assert doc(cli("agents", "--json"))["available"] == 3
    monkeypatch.setenv("CXONE_AVAILABLE_STATES", "7")  # by id: Dialer
    assert doc(cli("agents", "--json"))["available"] == 2
    teams = {agent["teamId"] for agent in tenant.acd_agents}
    team = sorted(teams)[0]
    monkeypatch.setenv("CXONE_TEAM_IDS", str(team))
    body = doc(cli("agents", "--json"))
    assert body["total"] == sum(1 for agent in tenant.acd_agents if agent["teamId"] == team)


def test_acd_states_are_coloured_like_v2s(
    cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render.state_style("Available", AcdProfile.state_styles) == render.state_style("available") == "bold green"
    assert render.state_style("OutboundContact", AcdProfile.state_styles) == render.state_style("in-progress")
    tenant.set_acd_agents(["Available", "Unavailable"])
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    table = cli("agents")
    assert table.exit_code == 0, table.stderr
    assert "\x1b[1;32mAvailable" in table.stdout  # the agent's row, in bold green
    assert "\x1b[35mUnavailable" in table.stdout


def test_after_call_work_is_shown(cli: Cli, tenant: SandboxTenant, acd_env: str) -> None:
    tenant.set_acd_agents(["ACW", "Dialer"])
    agents = doc(cli("agents", "--json"))["agents"]
    assert [a.get("reason") for a in agents] == ["ACW", None]


def test_a_count_field_uses_the_line_count_rule(
    cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_PACING_FIELD", "maxConcurrentCallsPerAgent")
    monkeypatch.setenv("CXONE_MAX_LIMIT", "10")
    tenant.set_acd_agents(["Dialer"] * 9 + ["OutboundContact"])
    body = doc(cli("run-once", "--json"))
    assert body["limit"] == 7  # floor(9 x 0.8)
    stored = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
    assert stored["maxConcurrentCallsPerAgent"] == 7
    assert stored["maximumRatio"] == 2  # the field not steered is untouched


def test_a_tenant_rejecting_the_value_is_78_with_its_message(
    cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant.max_ratio = 1.2  # the tenant's bound is below ours (3.0)
    tenant.set_acd_agents(["Dialer"] * 10)  # -> ratio 1.5, which differs from the stored 2
    result = cli("run-once")
    assert result.exit_code == 78
    assert "maximumRatio must be between" in result.stderr.splitlines()[-1]
    assert tenant.count("PUT", SETTINGS) == 1


def test_state_names_and_token_claims() -> None:
    assert [canonical_state(s) for s in ("dialer", "7", "AVAILABLE", "Unknown")] == [
        "Dialer", "Dialer", "Available", "Unknown",
    ]  # fmt: skip
    assert jwt_claims("not-a-jwt") == {}
    assert jwt_claims("a.!!!.c") == {}


# -- a count asks agents/states only for the columns it reads (COUNT_FIELDS) ----------------------------------------

COUNTED = ("total", "available", "busy", "acw", "counts", "available_states", "pages")


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"pool_source": "tenant"},
        {"team_ids": "12,15"},
        {"queue_ids": str(DEFAULT_SKILL_ID), "available_states": "Available,Dialer,LoggedIn"},
    ],
)
def test_a_count_asks_only_for_the_columns_it_reads_and_counts_as_whole_rows_do(
    server: SandboxServer, tenant: SandboxTenant, tmp_path: Path, filters: dict[str, str]
) -> None:
    """The cycle's read of agents/states asks for COUNT_FIELDS on every page, and the sandbox projects its rows to
    them as a tenant honouring ``fields`` does; the agents table asks for whole rows. Both count the same, the
    pool's join, the tenant's side, after-call work and the team and queue filters included: a column the count
    reads but does not ask for would show here."""
    tenant.set_agent_count(300)
    tenant.assign_agents(DEFAULT_SKILL_ID, list(range(1001, 1201)))
    settings = sandbox_settings("acd", server.url, tmp_path / "cache", page_size=40, **filters)
    job = cycle.Job.from_settings(settings)
    with job.open() as profile:
        seen = []
        for keep in (False, True):
            skill_pool.load(profile, settings)
            tenant.reset_counts()
            snapshot = profile.fetch_agents(keep_agents=keep)
            seen.append((snapshot, profile.pool.tenant.document(), list(tenant.states_fields)))
    (counted, counted_tenant, asked), (kept, kept_tenant, whole) = seen
    assert asked == [COUNT_FIELDS] * counted.pages
    assert whole == [None] * kept.pages
    assert counted.agents == [] and len(kept.agents) == kept.total
    assert counted.total > 0 and counted.acw > 0  # the filters leave rows to count, after-call work among them
    for name in COUNTED:
        assert getattr(counted, name) == getattr(kept, name), name
    assert counted_tenant == kept_tenant
