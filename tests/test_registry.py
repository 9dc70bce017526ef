"""The profile registry and the Job: what the rest of the tool asks instead of comparing profile names."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from cxone_tune import cycle, logs, profiles
from cxone_tune.errors import ConfigError
from cxone_tune.policy import PolicyParams, RatioParams
from cxone_tune.settings import SECRET_SETTINGS, Settings, load_settings


def test_listing_the_profiles_imports_no_http_stack() -> None:
    script = "import sys\nfrom cxone_tune import profiles\nprint(profiles.names(), 'httpx' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['v2', 'acd'] False"


def test_each_built_in_profile_carries_its_facts() -> None:
    v2, acd = profiles.profile_class("v2"), profiles.profile_class("acd")
    assert (v2.name, v2.target_kind, v2.group_label, v2.target_setting) == ("v2", "campaign", "Queue", "campaign_id")
    assert (acd.name, acd.target_kind, acd.group_label, acd.target_setting) == ("acd", "skill", "Skill", "skill_id")
    assert v2.secret_settings() == ("client_secret",)
    assert acd.secret_settings() == ("access_key_secret", "client_secret")
    with pytest.raises(KeyError):
        profiles.profile_class("v3")


def test_the_profile_is_chosen_by_its_own_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().profile_class is profiles.profile_class("v2")  # the default
    monkeypatch.setenv("CXONE_ACCESS_KEY_ID", "key-1")
    assert load_settings().profile_class is profiles.profile_class("acd")  # acd: chosen by an access key
    assert load_settings(api="v2").profile_class is profiles.profile_class("v2")  # CXONE_API wins


def test_the_target_reference_comes_from_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXONE_PACING_FIELD", "maxConcurrentCallsPerAgent")
    settings = load_settings(api="acd", skill_id=4567)
    assert cycle.Job.from_settings(settings).target == profiles.TargetRef(
        "acd", "skill", "4567", "general-settings.maxConcurrentCallsPerAgent"
    )
    assert cycle.Job.from_settings(load_settings(campaign_id="c-9")).target.id == "c-9"
    assert cycle.Job.from_settings(load_settings()).target.id == ""  # missing: the profile names it on open


def test_every_secret_setting_is_masked_in_logs() -> None:
    secret_fields = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
    assert set(SECRET_SETTINGS) == secret_fields
    assert {"client_secret", "access_key_secret"} <= secret_fields
    values = {name: f"sentinel-{name}-0123" for name in SECRET_SETTINGS}
    logs.redact_settings(load_settings(**{name: SecretStr(value) for name, value in values.items()}))
    for value in values.values():
        assert logs.mask(f"said {value} aloud") == "said *** aloud"


def test_the_job_builds_the_policy_once_from_the_settings(tmp_path: Path) -> None:
    design = cycle.Job.from_settings(load_settings(state_dir=tmp_path))
    assert isinstance(design.params, PolicyParams)
    assert design.memory is None  # nothing to remember: no file is read or written
    stable = cycle.Job.from_settings(load_settings(policy="stable", state_dir=tmp_path))
    assert stable.options.count_busy and stable.options.acw_weight == Decimal("0.5")
    assert stable.memory is not None and stable.memory.path.parent == tmp_path
    ratio = cycle.Job.from_settings(load_settings(api="acd", policy="stable"))
    assert isinstance(ratio.params, RatioParams)
    assert ratio.options.deadband == Decimal("0.1")  # a ratio moves in tenths
    assert design.verify is True


def test_an_unusable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="CXONE_CA_BUNDLE") as info:
        cycle.Job.from_settings(load_settings(ca_bundle=bundle))
    assert info.value.exit_code == 78


def test_an_unknown_profile_is_named() -> None:
    with pytest.raises(ConfigError, match=r"CXONE_API: 'v3' is not an API profile; expected 'v2' or 'acd'"):
        load_settings(api="v3")
