"""bench/: the whole-process benchmark runs end to end (--quick) and its baseline client does the design's cycle.

No timing assertions: the figures are only checked to be there. Request counts are checked, because they come
from the sandbox's own request log and are what the cycle and the naive client must send.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune.settings import Settings

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"
QUICK_AGENTS = 1_500  # bench.py's --quick tenant
CAPPED_AGENTS = 2_000  # bench.py's --quick capped acd tenant (top capped at 100)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CXONE_")}


def _run(*args: str, timeout: float = 110) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=_env(), check=False
    )


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    proc = _run(str(BENCH_DIR / "bench.py"), "--quick", "--json")
    assert proc.returncode == 0, f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _figure(s: dict[str, Any]) -> None:
    assert s["n"] >= 1
    assert 0 < s["min"] <= s["median"] <= s["max"]


def test_quick_run_passes_its_checks(report: dict[str, Any]) -> None:
    assert report["ok"] is True
    assert report["failures"] == []
    assert report["checks"] > 50
    assert report["quick"] is True
    assert report["tool_version"].startswith("cxone-tune ")


def test_startup_rows_pair_each_command_with_import_httpx(report: dict[str, Any]) -> None:
    labels = [row["label"] for row in report["startup"]]
    assert labels == [
        "cxone-tune --version",
        "cxone-tune --help",
        "Tab completion 'cxone-tune ru'",
        "python -c pass (reference)",
    ]
    completion = report["startup"][2]
    assert completion["env"] == {
        "_CXONE_TUNE_COMPLETE": "complete_bash",
        "COMP_WORDS": "cxone-tune ru",
        "COMP_CWORD": "1",
    }
    for row in report["startup"]:
        assert row["baseline"] == "python -c 'import httpx'"
        for key in ("wall_ms", "baseline_wall_ms", "ratio"):
            _figure(row[key])
            assert row[key]["n"] == report["startup_repeat"]


def _naive_expected(profile: str, agents: int) -> dict[str, int]:
    # New token every run (acd: both discovery documents too), 50 per page, one GET and always one PUT.
    discovery = 2 if profile == "acd" else 0
    pages = math.ceil(agents / 50)
    return {"discovery": discovery, "token": 1, "pages": pages, "pool": 0, "abandon": 0, "get": 1, "put": 1, "other": 0}


def _tool_expected(profile: str, scenario: str, agents: int) -> dict[str, int]:
    # Warm token cache: no login, no discovery; default page size 1000; acd reads again right before its PUT.
    # acd also reads the steered skill's assignments (bench.py's tenant: seed 1) in pages, its activity, and its
    # abandon summary for the short and the compliance window.
    changed = scenario == "changed"
    gets = 2 if changed and profile == "acd" else 1
    pages = math.ceil(agents / 1000)
    pool = abandon = 0
    if profile == "acd":
        assignments = len(SandboxTenant(agents=agents, seed=1).assignments[DEFAULT_SKILL_ID])
        pool, abandon = math.ceil(assignments / 1000) + 1, 2
    return {
        "discovery": 0,
        "token": 0,
        "pages": pages,
        "pool": pool,
        "abandon": abandon,
        "get": gets,
        "put": int(changed),
        "other": 0,
    }


def test_cycle_rows_count_the_requests_of_both_profiles_and_both_scenarios(report: dict[str, Any]) -> None:
    rows = {(r["profile"], r["agents"], r["scenario"]): r for r in report["cycles"]}
    assert set(rows) == {(p, QUICK_AGENTS, s) for p in ("v2", "acd") for s in ("steady", "changed")}
    for (profile, agents, scenario), row in rows.items():
        tool, naive = _tool_expected(profile, scenario, agents), _naive_expected(profile, agents)
        assert row["tool"]["requests"] == {**tool, "total": sum(tool.values())}, (profile, scenario)
        assert row["naive"]["requests"] == {**naive, "total": sum(naive.values())}, (profile, scenario)
        assert row["ratio"]["requests"] == pytest.approx(sum(tool.values()) / sum(naive.values()), abs=1e-4)
        assert row["tool"]["command"][-2:] == ["run-once", "--json"]
        assert row["naive"]["command"][-1] == profile
        for side in ("tool", "naive"):
            _figure(row[side]["wall_ms"])
            _figure(row[side]["cpu_ms"])
            assert row[side]["wall_ms"]["n"] == report["repeat"]
        _figure(row["ratio"]["wall"])
        if report["rss_method"].startswith("/usr/bin/time"):
            _figure(row["tool"]["rss_kib"])
            _figure(row["naive"]["rss_kib"])
            _figure(row["ratio"]["rss"])


def test_capped_acd_row_counts_the_pages_and_the_bound(report: dict[str, Any]) -> None:
    capped = report["capped"]
    assert capped["agents"] == CAPPED_AGENTS
    assert capped["top"] == 100
    assert capped["pages"] == capped["expected_pages"] == CAPPED_AGENTS // 100
    assert capped["requests"]["put"] == 0  # --dry-run
    assert capped["requests"]["token"] == 0  # warm token cache
    assert capped["sequential_bound_s"] == pytest.approx(capped["pages"] * capped["latency_ms"] / 1000)
    assert capped["command"][-3:] == ["run-once", "--dry-run", "--json"]
    # the pages went out together, never more at once than the tool's default window (the sandbox counts them)
    assert 1 < capped["pages_in_flight_peak"] <= Settings.model_fields["page_concurrency"].default
    _figure(capped["wall_ms"])
    _figure(capped["ratio"])


def test_bad_arguments_exit_2() -> None:
    proc = _run(str(BENCH_DIR / "bench.py"), "--repeat", "0", timeout=30)
    assert proc.returncode == 2
    assert "--repeat" in proc.stderr


# ------------------------------------------------------------------------ the naive baseline client


def _naive(env: dict[str, str], profile: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "naive_client.py"), profile],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(), **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_naive_client_v2_takes_a_new_token_pages_of_50_and_always_puts() -> None:
    tenant = SandboxTenant(agents=120, seed=3)
    with SandboxServer(tenant).start() as server:
        env = {
            "CXONE_TENANT_URL": server.url,
            "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
        }
        for run in (1, 2):
            tenant.reset_counts()
            result = _naive(env, "v2")
            assert tenant.count("POST", "/oauth/token") == 1  # every run
            assert tenant.count("GET", "/api/v2/realtime/agents") == 3  # 120 agents / 50
            assert tenant.count("PUT", "/api/v2/campaigns/") == 1  # even when the value is already right
            assert tenant.count() == result["requests"] == 6, run
        available = tenant.available_agents()
        assert result["available"] == available
        assert result["value"] == max(1, min(50, math.floor(available * 0.8)))
        stored = tenant.campaign(DEFAULT_CAMPAIGN_ID)
        assert stored["rules"]["maxConcurrentCalls"] == result["value"]
        assert stored["name"] and stored["schedule"]  # the whole resource went back


def test_naive_client_acd_logs_in_every_run_and_pages_top_50() -> None:
    tenant = SandboxTenant(agents=120, seed=3)
    with SandboxServer(tenant).start() as server:
        env = {
            "CXONE_ISSUER": server.url,
            "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
            "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
            "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
        }
        before = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
        for run in (1, 2):
            tenant.reset_counts()
            result = _naive(env, "acd")
            assert tenant.count("GET", "/.well-known/") == 2, run  # openid + cxone configuration
            assert tenant.count("POST", "/auth/token") == 1, run
            assert tenant.count("GET", "/inContactAPI/services/v30.0/agents/states") == 3, run
            assert tenant.count("PUT", "/inContactAPI/") == 1, run
            assert tenant.count() == result["requests"] == 8, run
        assert tenant.logins == 2
        available = sum(1 for a in tenant.acd_agents if a["agentStateName"] in ("Available", "Dialer"))
        assert result["available"] == available
        assert result["value"] == max(1, min(5, math.floor(available * 0.8)))
        after = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
        assert after == {**before, "maximumRatio": result["value"]}  # every other field sent back
