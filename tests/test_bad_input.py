"""Bad configuration ends with exit 78 and one line naming the setting; `config` shows what is in force."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
)
from tests.conftest import Cli

V2 = {
    "CXONE_API": "v2",
    "CXONE_TENANT_URL": "http://127.0.0.1:9",
    "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
    "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
}
ACD = {
    "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
    "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
    "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
    "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    "CXONE_ISSUER": "http://127.0.0.1:9",
    "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
}
UNSET = ""  # marks a variable the case removes

# (id, base profile, changes, the setting the error line must name)
CASES = [
    ("v2-missing-client-secret", V2, {"CXONE_CLIENT_SECRET": UNSET}, "CXONE_CLIENT_SECRET"),
    ("v2-missing-tenant-url", V2, {"CXONE_TENANT_URL": UNSET}, "CXONE_TENANT_URL"),
    ("v2-missing-campaign", V2, {"CXONE_CAMPAIGN_ID": UNSET}, "CXONE_CAMPAIGN_ID"),
    ("acd-missing-access-key-secret", ACD, {"CXONE_ACCESS_KEY_SECRET": UNSET}, "CXONE_ACCESS_KEY_SECRET"),
    ("acd-missing-client-secret", ACD, {"CXONE_CLIENT_SECRET": UNSET}, "CXONE_CLIENT_SECRET"),
    ("acd-missing-skill", ACD, {"CXONE_SKILL_ID": UNSET}, "CXONE_SKILL_ID"),
    ("url-not-a-url", V2, {"CXONE_TENANT_URL": "not a url"}, "CXONE_TENANT_URL"),
    ("url-wrong-scheme", V2, {"CXONE_TENANT_URL": "ftp://api.example.com"}, "CXONE_TENANT_URL"),
    ("url-plain-http-remote", V2, {"CXONE_TENANT_URL": "http://api-eu.nicecxone.com"}, "CXONE_TENANT_URL"),
    ("url-with-credentials", V2, {"CXONE_TENANT_URL": "https://u:pw@api.example.com"}, "CXONE_TENANT_URL"),
    ("issuer-plain-http-remote", ACD, {"CXONE_ISSUER": "http://cxone.niceincontact.com"}, "CXONE_ISSUER"),
    ("factor-zero", V2, {"CXONE_SAFETY_FACTOR": "0"}, "CXONE_SAFETY_FACTOR"),
    ("factor-above-one", V2, {"CXONE_SAFETY_FACTOR": "1.2"}, "CXONE_SAFETY_FACTOR"),
    ("factor-nan", V2, {"CXONE_SAFETY_FACTOR": "NaN"}, "CXONE_SAFETY_FACTOR"),
    ("factor-text", V2, {"CXONE_SAFETY_FACTOR": "eighty"}, "CXONE_SAFETY_FACTOR"),
    ("min-zero", V2, {"CXONE_MIN_LIMIT": "0"}, "CXONE_MIN_LIMIT"),
    ("bounds-inverted", V2, {"CXONE_MIN_LIMIT": "20", "CXONE_MAX_LIMIT": "10"}, "CXONE_MAX_LIMIT"),
    ("ratio-bounds-inverted", ACD, {"CXONE_MIN_RATIO": "2.5", "CXONE_MAX_RATIO": "1.5"}, "CXONE_MIN_RATIO"),
    ("min-ratio-above-the-guards-pace", ACD, {"CXONE_MIN_RATIO": "1.2"}, "CXONE_MIN_RATIO"),
    ("ratio-steps-garbage", ACD, {"CXONE_RATIO_STEPS": "six:1.5"}, "CXONE_RATIO_STEPS"),
    ("ratio-steps-not-from-zero", ACD, {"CXONE_RATIO_STEPS": "6:1.5"}, "CXONE_RATIO_STEPS"),
    ("page-size-zero", V2, {"CXONE_PAGE_SIZE": "0"}, "CXONE_PAGE_SIZE"),
    ("unknown-profile", V2, {"CXONE_API": "v3"}, "CXONE_API"),
    ("negative-skill-id", ACD, {"CXONE_SKILL_ID": "-4"}, "CXONE_SKILL_ID"),
    ("team-ids-not-numbers", ACD, {"CXONE_TEAM_IDS": "north,south"}, "CXONE_TEAM_IDS"),
    ("api-version-garbage", ACD, {"CXONE_API_VERSION": "latest"}, "CXONE_API_VERSION"),
    ("time-budget-past-the-tick", V2, {"CXONE_TIME_BUDGET": "600"}, "CXONE_TIME_BUDGET"),
    ("ca-bundle-missing", V2, {"CXONE_CA_BUNDLE": "/nonexistent/ca.pem"}, "CXONE_CA_BUNDLE"),
    ("healthcheck-plain-http-remote", V2, {"CXONE_HEALTHCHECK_URL": "http://hc-ping.com/x"}, "CXONE_HEALTHCHECK_URL"),
]


@pytest.mark.parametrize(("base", "changes", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_setting_is_78_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, base: dict[str, str], changes: dict[str, str], named: str
) -> None:
    for name, value in {**base, **changes}.items():
        if value == UNSET:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    result = cli("run-once", "--dry-run")
    assert result.exit_code == 78, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    assert DEFAULT_CLIENT_SECRET not in result.stderr
    assert DEFAULT_ACCESS_KEY_SECRET not in result.stderr


def test_a_dotenv_line_that_is_not_key_value_is_78_without_echoing_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in V2.items():
        monkeypatch.setenv(name, value)
    Path(".env").write_text("CXONE_SAFETY_FACTOR=0.7\nthis is the-secret-value\n")
    result = cli("compute")
    assert result.exit_code == 78
    assert ".env line 2: not a KEY=value line" in result.stderr
    assert "the-secret-value" not in result.stderr


def test_an_unusable_cache_directory_is_78_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, v2_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CXONE_CACHE_DIR", str(blocker / "cache"))
    result = cli("auth-check")
    assert result.exit_code == 78
    assert "CXONE_CACHE_DIR" in result.stderr.splitlines()[-1]


def test_a_typo_in_a_variable_name_is_warned_about(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_SAFTEY_FACTOR", "0.5")
    result = cli("config")
    assert result.exit_code == 0
    assert "CXONE_SAFTEY_FACTOR is not a cxone-tune setting" in result.stderr


def test_config_shows_effective_values_sources_and_no_secret(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CXONE_CLIENT_SECRET", "env-secret-1234")
    Path(".env").write_text("CXONE_SAFETY_FACTOR=0.7\nCXONE_MAX_LIMIT=40\n")
    monkeypatch.setenv("CXONE_MAX_LIMIT", "30")  # the environment beats .env
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "CXONE_ACCESS_KEY_SECRET").write_text("cred-secret-5678\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    result = cli("--campaign-id", "c-7", "config", "--json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)["settings"]
    assert body["CXONE_CAMPAIGN_ID"] == {"value": "c-7", "source": "option"}
    assert body["CXONE_MAX_LIMIT"] == {"value": 30, "source": "environment"}
    assert body["CXONE_SAFETY_FACTOR"] == {"value": "0.7", "source": ".env"}
    assert body["CXONE_CLIENT_SECRET"] == {"value": "***", "source": "environment"}
    assert body["CXONE_ACCESS_KEY_SECRET"] == {"value": "***", "source": "credential file"}
    assert body["CXONE_MIN_LIMIT"] == {"value": 1, "source": "default"}
    table = cli("config")
    for text in (result.stdout, table.stdout, table.stderr):
        assert "env-secret-1234" not in text
        assert "cred-secret-5678" not in text
    assert os.environ["CXONE_CLIENT_SECRET"] == "env-secret-1234"
