"""Configuration: CXONE_* environment, .env, systemd credentials, overrides; one ConfigError line naming the variable.

conftest.py clears CXONE_* and CREDENTIALS_DIRECTORY and chdirs every test into an empty work directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxone_tune.cli import app
from cxone_tune.errors import ConfigError
from cxone_tune.settings import load_settings, require

SECRET = "s3cr3t-Zq9-value"


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> ConfigError:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.exit_code == 78
    assert "\n" not in str(info.value)
    return info.value


# -- defaults ------------------------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()
    assert settings.safety_factor == Decimal("0.8")
    assert isinstance(settings.safety_factor, Decimal)
    assert settings.min_limit == 1
    assert settings.max_limit == 50
    assert settings.page_size == 1000
    assert settings.api is None
    assert settings.api_name == "v2"
    assert settings.tenant_url is None
    assert settings.client_secret is None
    assert settings.issuer == "https://cxone.niceincontact.com"
    assert settings.pacing_field == "maximumRatio"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "0.29")
    monkeypatch.setenv("CXONE_MIN_LIMIT", "2")
    monkeypatch.setenv("CXONE_MAX_LIMIT", "40")
    monkeypatch.setenv("CXONE_PAGE_SIZE", "500")
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", "c-100")
    monkeypatch.setenv("CXONE_CLIENT_SECRET", SECRET)
    settings = load_settings()
    assert settings.safety_factor == Decimal("0.29")  # exactly, not via a binary float
    assert (settings.min_limit, settings.max_limit, settings.page_size) == (2, 40, 500)
    assert settings.campaign_id == "c-100"
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.client_secret)


# -- invalid values name the variable ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1.5", "-1", "abc", "1.0001", "-0", "NaN", "inf"])
def test_bad_safety_factor(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    error = config_error(monkeypatch, CXONE_SAFETY_FACTOR=value)
    assert "CXONE_SAFETY_FACTOR" in str(error)


@pytest.mark.parametrize("value", ["1", "1.0", "0.01", "0.5"])
def test_good_safety_factor(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", value)
    assert load_settings().safety_factor == Decimal(value)


def test_min_above_max_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    error = config_error(monkeypatch, CXONE_MIN_LIMIT="20", CXONE_MAX_LIMIT="10")
    message = str(error)
    assert "CXONE_MIN_LIMIT" in message
    assert "CXONE_MAX_LIMIT" in message
    assert "20" in message
    assert "10" in message


def test_min_equal_to_max_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_MIN_LIMIT", "7")
    monkeypatch.setenv("CXONE_MAX_LIMIT", "7")
    settings = load_settings()
    assert (settings.min_limit, settings.max_limit) == (7, 7)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CXONE_MIN_LIMIT", "0"),
        ("CXONE_MIN_LIMIT", "-1"),
        ("CXONE_MIN_LIMIT", "one"),
        ("CXONE_MAX_LIMIT", "0"),
        ("CXONE_PAGE_SIZE", "0"),
        ("CXONE_PAGE_SIZE", "-5"),
        ("CXONE_PAGE_SIZE", "lots"),
        ("CXONE_API", "v3"),
        ("CXONE_MAX_ATTEMPTS", "0"),
        ("CXONE_TIME_BUDGET", "0"),
        ("CXONE_SKILL_ID", "abc"),
    ],
)
def test_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    error = config_error(monkeypatch, **{name: value})
    assert name in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "ftp://api-eu.nicecxone.com/",
        "not a url",
        "api-eu.nicecxone.com",
        "http://example.com",
        "http://api-eu.nicecxone.com/",
        "http://localhost.evil.example/",
        "http://0.0.0.0:8080/",
        "https://",
        "https://api-eu.nicecxone.com/?token=1",
        "https://api-eu.nicecxone.com/#frag",
    ],
)
def test_bad_tenant_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    error = config_error(monkeypatch, CXONE_TENANT_URL=url)
    assert "CXONE_TENANT_URL" in str(error)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:8787/", "http://[::1]:8787"),
        ("https://api-eu.nicecxone.com/", "https://api-eu.nicecxone.com"),
        ("https://api-us.nicecxone.com", "https://api-us.nicecxone.com"),
        ("https://api-eu.nicecxone.com/inContactAPI/", "https://api-eu.nicecxone.com/inContactAPI"),
    ],
)
def test_good_tenant_url(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", url)
    assert load_settings().tenant_url == expected


def test_plain_http_refusal_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    error = config_error(monkeypatch, CXONE_TENANT_URL="http://example.com")
    assert "https" in str(error)


# -- sources and their precedence ----------------------------------------------------------------------------


def test_dotenv_in_the_working_directory_is_read() -> None:
    Path(".env").write_text(
        "CXONE_TENANT_URL=https://api-eu.nicecxone.com/\nCXONE_SAFETY_FACTOR=0.5\nCXONE_CAMPAIGN_ID=c-7\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.tenant_url == "https://api-eu.nicecxone.com"
    assert settings.safety_factor == Decimal("0.5")
    assert settings.campaign_id == "c-7"


def test_dotenv_elsewhere_is_not_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CXONE_CAMPAIGN_ID=from-parent\n", encoding="utf-8")
    assert Path.cwd() != tmp_path
    assert load_settings().campaign_id is None


def test_invalid_value_in_dotenv_names_the_variable() -> None:
    Path(".env").write_text("CXONE_MIN_LIMIT=0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="CXONE_MIN_LIMIT"):
        load_settings()


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("CXONE_SAFETY_FACTOR=0.5\nCXONE_MAX_LIMIT=20\n", encoding="utf-8")
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "0.6")
    settings = load_settings()
    assert settings.safety_factor == Decimal("0.6")
    assert settings.max_limit == 20  # the .env still supplies what the environment does not


def test_override_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", "https://api-us.nicecxone.com")
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", "from-env")
    settings = load_settings(tenant_url="https://api-eu.nicecxone.com/", campaign_id=None)
    assert settings.tenant_url == "https://api-eu.nicecxone.com"
    assert settings.campaign_id == "from-env"  # None means "option not given"


def test_override_is_validated_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", "https://api-us.nicecxone.com")
    with pytest.raises(ConfigError, match="CXONE_TENANT_URL"):
        load_settings(tenant_url="ftp://x")


def test_systemd_credentials_directory_supplies_the_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pydantic-settings matches secret files case-insensitively here, so systemd's uppercase name works."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "CXONE_CLIENT_SECRET").write_text(SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings()
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == SECRET  # trailing newline stripped


def test_missing_credentials_directory_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "absent"))
    assert load_settings().client_secret is None


def test_credentials_directory_at_process_start(tmp_path: Path) -> None:
    """How systemd runs the tool: $CREDENTIALS_DIRECTORY is in the environment before anything is imported."""
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "CXONE_CLIENT_SECRET").write_text(SECRET, encoding="utf-8")
    (credentials / "CXONE_ACCESS_KEY_SECRET").write_text("ak-" + SECRET, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "CREDENTIALS_DIRECTORY": str(credentials),
        "CXONE_ACCESS_KEY_ID": "key-1",
    }
    script = (
        "import json\n"
        "from cxone_tune.settings import load_settings\n"
        "s = load_settings()\n"
        "print(json.dumps({'client': s.client_secret.get_secret_value() if s.client_secret else None,\n"
        "                  'access': s.access_key_secret.get_secret_value() if s.access_key_secret else None,\n"
        "                  'api': s.api_name}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=Path.cwd(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"client": SECRET, "access": "ak-" + SECRET, "api": "acd"}


# -- api_name and require ------------------------------------------------------------------------------------


def test_api_name_is_acd_with_an_access_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_ACCESS_KEY_ID", "key-1")
    assert load_settings().api_name == "acd"


def test_api_name_is_v2_without_an_access_key() -> None:
    assert load_settings().api_name == "v2"


def test_explicit_api_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_ACCESS_KEY_ID", "key-1")
    monkeypatch.setenv("CXONE_API", "v2")
    assert load_settings().api_name == "v2"
    assert load_settings(api="acd").api_name == "acd"


def test_require_names_the_missing_variable() -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match="CXONE_TENANT_URL") as info:
        require(settings, "tenant_url")
    assert info.value.exit_code == 78


def test_require_names_the_first_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", "https://api-eu.nicecxone.com")
    monkeypatch.setenv("CXONE_CLIENT_ID", "client-1")
    settings = load_settings()
    with pytest.raises(ConfigError, match="CXONE_CLIENT_SECRET"):
        require(settings, "tenant_url", "client_id", "client_secret", "campaign_id")


def test_require_treats_an_empty_secret_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_CLIENT_SECRET", "")
    with pytest.raises(ConfigError, match="CXONE_CLIENT_SECRET"):
        require(load_settings(), "client_secret")


def test_require_passes_when_everything_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", "https://api-eu.nicecxone.com")
    monkeypatch.setenv("CXONE_CLIENT_SECRET", SECRET)
    require(load_settings(), "tenant_url", "client_secret")


# -- secrets never appear in errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_name", "bad_value"),
    [
        ("CXONE_SAFETY_FACTOR", "abc"),
        ("CXONE_MIN_LIMIT", "0"),
        ("CXONE_TENANT_URL", "http://example.com"),
        ("CXONE_API", "v3"),
    ],
)
def test_config_error_never_contains_the_secret(monkeypatch: pytest.MonkeyPatch, bad_name: str, bad_value: str) -> None:
    monkeypatch.setenv("CXONE_CLIENT_SECRET", SECRET)
    Path(".env").write_text(f"CXONE_ACCESS_KEY_SECRET=ak-{SECRET}\n", encoding="utf-8")
    error = config_error(monkeypatch, **{bad_name: bad_value})
    assert bad_name in str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


def test_invalid_secret_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(client_secret=["not", "a", SECRET])
    assert "CXONE_CLIENT_SECRET" in str(info.value)
    assert SECRET not in str(info.value)


# -- through the CLI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_cli_compute_without_tenant_url_exits_78(monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:
    monkeypatch.setenv("CXONE_CLIENT_ID", "client-1")
    monkeypatch.setenv("CXONE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", "c-100")
    result = CliRunner().invoke(app, ["compute", *extra])
    assert result.exit_code == 78, result.output
    if extra:  # --json: the error document on stdout, naming the variable too
        document = json.loads(result.stdout)
        assert document["exit_code"] == 78
        assert "CXONE_TENANT_URL" in document["error"]
        assert SECRET not in result.stdout
    else:
        assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CXONE_TENANT_URL" in lines[0]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_cli_option_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", "https://api-eu.nicecxone.com")
    result = CliRunner().invoke(app, ["--tenant-url", "http://example.com", "compute"])
    assert result.exit_code == 78, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CXONE_TENANT_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_invalid_environment_exits_78_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "1.5")
    result = CliRunner().invoke(app, ["compute"])
    assert result.exit_code == 78, result.output
    assert "CXONE_SAFETY_FACTOR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
