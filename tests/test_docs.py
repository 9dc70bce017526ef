"""The README, the CLI's --help and .ci/run stay in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cxone_tune.cli import app
from cxone_tune.errors import exit_codes
from cxone_tune.settings import ENV_PREFIX, Settings
from tests.doctables import table_rows

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_the_contracts_commands_exist() -> None:
    assert set(COMMANDS) >= {"auth-check", "agents", "compute", "apply", "run-once", "sandbox", "demo"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_a_readme_section(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    assert f"### `cxone-tune {command}" in README


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"{ENV_PREFIX}{name.upper()}" in README, name


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick_start)
    assert len(commands) == 2
    assert commands[0].endswith("cxone-tune demo")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


def test_version_option() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("cxone-tune ")


def test_the_env_example_lists_every_setting() -> None:
    example = (ROOT / "examples" / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{ENV_PREFIX}{name.upper()}=" in example, name


def test_the_readme_exit_codes_are_the_error_hierarchys() -> None:
    """README's table, --help's epilog (tests/test_cli_edges.py) and errors.py say the same, code by code."""
    rows = table_rows(ROOT / "README.md", "Exit codes")
    assert [(int(code), when.replace("`", "")) for code, when in rows if code != "code"] == exit_codes()
