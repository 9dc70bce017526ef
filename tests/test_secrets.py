"""No secret and no issued token ever appears in output, logs, or any file but the token cache."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, DEFAULT_SKILL_ID, Fault, SandboxServer, SandboxTenant
from tests.conftest import Cli

CLIENT_ID = "sentinel-client"
CLIENT_SECRET = "SENTINEL-client-secret-7f3a9c"
KEY_ID = "AKSENTINEL0000000000000000000042"
KEY_SECRET = "SENTINEL+access/key=secret=="


def _issued(tenant: SandboxTenant) -> set[str]:
    # The sandbox's own record of what it handed out: access tokens and (acd) refresh tokens.
    return set(tenant._tokens) | set(getattr(tenant, "_refresh_tokens", {}))


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_every_command_in_every_mode_keeps_secrets_out_of_output_and_files(
    cli: Cli, tenant: SandboxTenant, server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    tenant.clients[CLIENT_ID] = CLIENT_SECRET
    tenant.access_keys[KEY_ID] = KEY_SECRET
    cache, state, metrics = tmp_path / "cache", tmp_path / "state", tmp_path / "metrics.prom"
    env = {
        "CXONE_API": api,
        "CXONE_CLIENT_ID": CLIENT_ID,
        "CXONE_CLIENT_SECRET": CLIENT_SECRET,
        "CXONE_CACHE_DIR": str(cache),
        "CXONE_STATE_DIR": str(state),
        "CXONE_METRICS_FILE": str(metrics),
        "CXONE_HEALTHCHECK_URL": "http://127.0.0.1:9/ping",  # nobody listens: a warning is logged
        "CXONE_MAX_ATTEMPTS": "2",
        "CXONE_TIME_BUDGET": "10",
        "CXONE_RETRY_AFTER_CAP": "0",
    }
    if api == "v2":
        env |= {"CXONE_TENANT_URL": server.url, "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID}
        target, low, high = "/api/v2/campaigns/", "5", "9"
    else:
        env |= {
            "CXONE_ISSUER": server.url,
            "CXONE_ACCESS_KEY_ID": KEY_ID,
            "CXONE_ACCESS_KEY_SECRET": KEY_SECRET,
            "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
        }
        # The skill's settings: its reads beside the assignments go out together, so no other read is the first
        target, low, high = f"/inContactAPI/services/v30.0/skills/{DEFAULT_SKILL_ID}/parameters/", "1.5", "2.5"
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    outputs: list[str] = []
    issued: set[str] = set()

    def run(*args: str) -> int:
        result = cli(*args)
        outputs.extend([result.stdout, result.stderr])
        issued.update(_issued(tenant))
        return result.exit_code

    commands = [
        ["auth-check"], ["agents"], ["compute"], ["apply", low, "--dry-run"], ["apply", high],
        ["run-once", "--dry-run"], ["run-once"], ["history"], ["config"],
    ]  # fmt: skip
    modes = [[], ["-vv"], ["-vv", "--log-format", "json"], ["-vv", "--log-format", "journal"]]
    for mode, command in itertools.product(modes, commands):
        json_flag = ["--json"] if mode == ["-vv"] else []  # every command in both output modes
        assert run(*mode, *command, *json_flag) == 0, (mode, command)

    # Failures, at the highest verbosity: tracebacks and held-back stories must be clean too.
    tenant.add_fault(Fault("status", status=401, path=target, times=None))
    assert run("-vv", "run-once") == 77
    tenant.clear_faults()
    tenant.add_fault(Fault("malformed", path=target, method="GET"))
    assert run("-vv", "run-once", "--json") == 76
    tenant.add_fault(Fault("status", status=500, times=None))
    assert run("run-once") == 69
    tenant.clear_faults()
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "7")
    assert run("-vv", "run-once") == 78

    assert issued, "the sandbox issued no token: the test would prove nothing"
    secrets = {CLIENT_SECRET, KEY_SECRET, *issued}
    token_cache = set(cache.glob("token-*.json"))
    assert token_cache
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in token_cache]
    assert metrics in written
    assert state / "audit.jsonl" in written
    for secret in secrets:
        for text in outputs:
            assert secret not in text
        for path in written:
            assert secret not in path.read_text(errors="replace"), path
    # The cache holds tokens (that is its job), never the client or access-key secret.
    for path in token_cache:
        assert path.stat().st_mode & 0o777 == 0o600
        cached = path.read_text()
        assert CLIENT_SECRET not in cached
        assert KEY_SECRET not in cached


def test_a_cache_with_a_wide_mode_or_another_owner_is_refused_and_rewritten(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], cache_dir: Path
) -> None:
    assert cli("auth-check").exit_code == 0
    (path,) = cache_dir.glob("token-*.json")
    path.chmod(0o644)
    assert cli("auth-check").exit_code == 0
    assert tenant.count("POST", "/oauth/token") == 2  # the loose file was not trusted
    assert path.stat().st_mode & 0o777 == 0o600  # and it was rewritten private
    if os.getuid() == 0:  # only root can hand a file to another owner
        os.chown(path, 12345, 12345)
        assert cli("auth-check").exit_code == 0
        assert tenant.count("POST", "/oauth/token") == 3
        assert path.stat().st_uid == 0
