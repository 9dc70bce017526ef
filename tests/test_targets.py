"""Several targets in one run, from a TOML config file; a failing target does not stop the others."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, Fault, SandboxTenant
from cxone_tune import audit
from cxone_tune.targets import worst_exit
from tests.conftest import Cli


@pytest.fixture
def campaigns(tenant: SandboxTenant) -> list[str]:
    for campaign_id in ("c-200", "c-300"):
        campaign = copy.deepcopy(tenant.campaigns[DEFAULT_CAMPAIGN_ID])
        campaign["id"] = campaign_id
        tenant.campaigns[campaign_id] = campaign
    return [DEFAULT_CAMPAIGN_ID, "c-200", "c-300"]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


THREE = """
[defaults]
max_limit = 9

[[targets]]
name = "renewals"
campaign_id = "c-100"

[[targets]]
name = "sales"
campaign_id = "c-200"
max_limit = 4

[[targets]]
name = "support"
campaign_id = "c-300"
"""


def test_three_targets_one_failing_update_the_other_two_and_exit_with_its_code(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], campaigns: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CXONE_STATE_DIR", str(tmp_path / "state"))
    config = write_config(tmp_path / "config.toml", THREE)
    tenant.add_fault(Fault("status", status=403, method="PUT", path="/api/v2/campaigns/c-200", times=None))
    result = cli("--config", str(config), "run-once", "--json")
    assert result.exit_code == 77
    body = json.loads(result.stdout)
    assert body["exit_code"] == 77
    by_name = {entry["name"]: entry for entry in body["targets"]}
    assert by_name["renewals"]["applied"] is True
    assert by_name["support"]["applied"] is True
    assert by_name["sales"]["exit_code"] == 77
    assert "403" in by_name["sales"]["error"]
    expected = min(9, max(1, int(tenant.available_agents() * 0.8)))
    assert tenant.campaign("c-100")["rules"]["maxConcurrentCalls"] == expected  # [defaults] applied
    assert tenant.campaign("c-300")["rules"]["maxConcurrentCalls"] == expected
    assert tenant.campaign("c-200")["rules"]["maxConcurrentCalls"] == 12  # the failing one: untouched
    assert "target 'sales'" in result.stderr
    records = audit.read(tmp_path / "state")
    assert sorted((r["target"], r["exit_code"]) for r in records) == [("c-100", 0), ("c-200", 77), ("c-300", 0)]


def test_each_target_has_its_own_decision_and_text_output(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], campaigns: list[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", THREE)
    result = cli("--config", str(config), "compute", "--json")
    assert result.exit_code == 0, result.stderr
    limits = {entry["name"]: entry["limit"] for entry in json.loads(result.stdout)["targets"]}
    assert limits["sales"] == 4  # its own max_limit
    assert limits["renewals"] == limits["support"] == 9
    text = cli("--config", str(config), "compute")
    assert "target sales" in text.stdout
    assert "target support" in text.stdout


def test_target_option_picks_one_and_a_cli_option_beats_the_file(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], campaigns: list[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", THREE)
    body = json.loads(cli("--config", str(config), "--target", "sales", "run-once", "--json").stdout)
    assert body["target"] == "c-200"  # a single target keeps the single-document shape
    assert tenant.campaign("c-100")["rules"]["maxConcurrentCalls"] == 12
    assert cli("--config", str(config), "--target", "nope", "run-once").exit_code == 2
    several = cli("--config", str(config), "apply", "5")
    assert several.exit_code == 2
    assert "--target" in several.stderr
    assert cli("--config", str(config), "--target", "support", "apply", "5").exit_code == 0
    assert tenant.campaign("c-300")["rules"]["maxConcurrentCalls"] == 5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[targets]]\nname = 'a'\ncampain_id = 'c-1'\n", "'campain_id' is not a setting"),
        ("[[targets]\nname = 'a'\n", "not valid TOML"),
        ("[defaults]\npolicy = 'stable'\n", "no [[targets]]"),
        ("[[targets]]\ncampaign_id = 'c-1'\n", "target 1 has no name"),
        ("[[targets]]\nname = 'a'\n[[targets]]\nname = 'a'\n", "used twice"),
        ("[extra]\n[[targets]]\nname = 'a'\n", "unknown section 'extra'"),
        ("[[targets]]\nname = 'a'\nsafety_factor = 3\n", "target 'a': invalid configuration: CXONE_SAFETY_FACTOR"),
    ],
)
def test_a_bad_config_file_is_78_naming_what_is_wrong(
    cli: Cli, v2_env: dict[str, str], tmp_path: Path, text: str, needle: str
) -> None:
    config = write_config(tmp_path / "config.toml", text)
    result = cli("--config", str(config), "compute")
    assert result.exit_code == 78, result.stderr
    assert needle in result.stderr.splitlines()[-1]


def test_a_missing_explicit_config_is_78_and_the_default_one_is_optional(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("--config", str(tmp_path / "nope.toml"), "compute").exit_code == 78
    assert cli("compute").exit_code == 0  # no file at the default place: the environment alone


def test_the_default_config_file_is_read(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], campaigns: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "cxone-tune").mkdir(parents=True)
    write_config(tmp_path / "xdg" / "cxone-tune" / "config.toml", THREE)
    body = json.loads(cli("compute", "--json").stdout)
    assert [entry["name"] for entry in body["targets"]] == ["renewals", "sales", "support"]


def test_worst_exit_code_ranks_bugs_and_configuration_first() -> None:
    assert worst_exit([0, 0]) == 0
    assert worst_exit([0, 75, 69]) == 69
    assert worst_exit([75, 78, 77]) == 78
    assert worst_exit([78, 70]) == 70


def test_the_example_config_file_is_valid() -> None:
    from cxone_tune.targets import load_targets

    specs = load_targets(Path(__file__).resolve().parents[1] / "examples" / "config.toml")
    assert [spec.name for spec in specs] == ["renewals", "sales", "winback"]
    assert specs[1].overrides["policy"] == "stable"
    assert specs[2].overrides["policy"] == "design"


def test_history_shows_every_targets_decisions(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], campaigns: list[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", THREE)
    assert cli("--config", str(config), "run-once").exit_code == 0
    records = json.loads(cli("--config", str(config), "history", "--json").stdout)
    assert sorted(record["target"] for record in records) == ["c-100", "c-200", "c-300"]
