"""`demo` and `sandbox`: what a newcomer runs first must work for both profiles."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from cxone_tune.cli import _demo_profiles, app
from cxone_tune.demo import SANDBOX_PROFILES
from tests.conftest import Cli
from tests.harness import noon_zone


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_demo_shows_the_whole_cycle(cli: Cli, api: str) -> None:
    result = cli("demo", "--api", api)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "(dry run: nothing written)" in text
    assert "(applied" in text
    assert "nothing to do" in text
    assert "every other field kept as it was" in text
    assert "CHANGED (a bug)" not in text


def test_demo_acd_shows_the_pool_and_the_guard_holding_a_raise(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CXONE_ABANDON_TIME_ZONE", noon_zone())  # the demo's calls a minute ago are "today"
    text = cli("demo", "--api", "acd").stdout
    # The skill's pool beside the tenant: 22 assigned agents (8 available) of the tenant's 40 (14 available).
    assert "The skill's pool beside the tenant" in text
    assert "skill 4567's pool: 8 of 22 assigned agents available; the tenant: 14 of 40" in text
    assert re.search(r"available\s+│\s+8 │\s+14 │", text), text
    # Then more of the skill's agents join the dialer (the step table says 2.0), but 1.5% of today's calls were
    # abandoned, not below half the 2% setpoint: the guard holds the raise at the value in force.
    assert "no raise, the compliance rate is not below half the setpoint (1%)" in text
    assert "the abandon guard held the raise: 2 proposed, nothing written" in text
    # Then the skill's own agents come and go, its 22 assigned agents and no others (the assignments are kept):
    # the first run lowers the ratio to 1.0, and the guard holds back every raise after it for the rest of today.
    churned = text.split("while the skill's agents come and go", 1)[1].split("afterwards", 1)[0].splitlines()[1:-1]
    assert len(churned) == 12 and all(" of 22 available, " in line for line in churned), churned
    assert "maximumRatio 1.5 -> 1.0 (applied)" in churned[0]
    assert any(line.endswith("(the abandon guard held back 1.5)") for line in churned)
    assert "maximumRatio 2 -> 1.0; every other field kept" in text  # not the raises the guard held back
    v2 = cli("demo", "--api", "v2").stdout
    assert "abandon guard: not available on this API" in v2
    assert "pool" not in v2


def _eligible_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("eligible agents"))


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_demo_runs_the_configured_policy_and_filters(cli: Cli, monkeypatch: pytest.MonkeyPatch, api: str) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per step
    design = cli("demo", "--api", api)
    monkeypatch.setenv("CXONE_POLICY", "stable")
    stable = cli("demo", "--api", api)
    assert stable.exit_code == 0, stable.stderr
    assert "stable policy" in stable.stdout and "design policy" in design.stdout
    # The stable preset counts agents on a contact and half of those in after-call work; the design does not.
    assert "on a contact" in _eligible_line(stable.stdout)
    assert "0.5 x" in _eligible_line(stable.stdout)
    assert "on a contact" not in _eligible_line(design.stdout)
    monkeypatch.setenv("CXONE_TEAM_IDS", "t-north" if api == "v2" else "12")
    filtered = cli("demo", "--api", api)
    assert filtered.exit_code == 0, filtered.stderr
    assert "on a contact" in _eligible_line(filtered.stdout)  # the filter and the policy, together
    assert _eligible_line(filtered.stdout) != _eligible_line(stable.stdout)


def test_sandbox_command_serves_both_profiles_until_stopped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxone_tune", "sandbox", "--port", "0", "--agents", "3"],
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        url = match.group(0)
        exports = [proc.stdout.readline() for _ in range(9)]  # a header, then one line per variable
        assert any("CXONE_ACCESS_KEY_SECRET=" in line for line in exports)
        assert any(f"CXONE_ISSUER={url}" in line for line in exports)
        state = httpx.get(f"{url}/_sandbox/state", timeout=5).json()
        assert state["agents"] == 3
        openid = httpx.get(f"{url}/.well-known/openid-configuration", timeout=5).json()
        assert openid["token_endpoint"] == f"{url}/auth/token"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_demo_refuses_a_profile_it_cannot_show_with_one_line_naming_the_option(cli: Cli) -> None:
    result = cli("demo", "--api", "v3")
    assert result.exit_code == 2
    assert "--api: the sandbox speaks v2 and acd, not 'v3'" in result.stderr
    assert result.stdout == ""


def test_demo_help_and_completion_name_every_profile_it_can_show(cli: Cli) -> None:
    text = " ".join(cli.runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).stdout.split())
    completed = _demo_profiles("")
    assert completed == list(SANDBOX_PROFILES) and _demo_profiles("a") == ["acd"]
    for name in SANDBOX_PROFILES:
        assert re.search(rf"\b{name}\b", text.split("--api PROFILE", 1)[1]), name


def _shown_profile(text: str) -> str:
    match = re.search(r"(\w+) API profile, \w+ policy", text)
    assert match, text
    return match.group(1)


def test_demo_shows_the_profile_chosen_as_every_command_chooses_one(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert _shown_profile(cli("--api", "acd", "demo", "--agents", "12").stdout) == "acd"  # the global option
    monkeypatch.setenv("CXONE_API", "acd")
    assert _shown_profile(cli("demo", "--agents", "12").stdout) == "acd"  # the environment
    assert _shown_profile(cli("--api", "v2", "demo", "--agents", "12").stdout) == "v2"  # an option over it
    assert _shown_profile(cli("--api", "acd", "demo", "--api", "v2", "--agents", "12").stdout) == "v2"  # demo's own
    monkeypatch.setenv("CXONE_API", "")
    assert _shown_profile(cli("demo", "--agents", "12").stdout) == "v2"  # empty is unset
    monkeypatch.setenv("CXONE_API", "v3")
    result = cli("demo")
    assert result.exit_code == 78 and "CXONE_API: the sandbox speaks v2 and acd, not 'v3'" in result.stderr
