"""The sandbox is its own package: it stands alone, the tool loads only its fault registry, its help lists the kinds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cxone_sandbox
from cxone_sandbox import SandboxServer, sandbox_env
from cxone_sandbox.faults import FAULT_KINDS, Fault
from cxone_tune.cli import app
from tests.conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "src" / "cxone_sandbox").glob("*.py") if p.stem != "__init__")


def _loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    ).stdout
    loaded: list[str] = json.loads(out.splitlines()[-1])
    return loaded


def test_the_sandbox_imports_nothing_of_the_tool() -> None:
    code = "\n".join(f"import cxone_sandbox.{name}" for name in MODULES)
    loaded = _loaded_after(code + "\nimport cxone_sandbox\n[getattr(cxone_sandbox, n) for n in cxone_sandbox.__all__]")
    assert {f"cxone_sandbox.{name}" for name in MODULES} <= set(loaded)
    tool = [m for m in loaded if m == "cxone_tune" or m.startswith("cxone_tune.")]
    assert tool == []
    # Nor anything outside the standard library that the tool depends on.
    assert not {"httpx", "pydantic", "typer", "rich"} & set(loaded)


def test_the_tool_loads_only_the_faults_registry_of_the_sandbox() -> None:
    loaded = _loaded_after("import cxone_tune.cli")
    assert [m for m in loaded if m.split(".")[0] == "cxone_sandbox"] == []  # not even for the command tree
    sandbox_help = "import sys\nfrom cxone_tune.cli import app\napp(['sandbox', '--help'], standalone_mode=False)"
    loaded = _loaded_after(sandbox_help)
    assert [m for m in loaded if m.split(".")[0] == "cxone_sandbox"] == ["cxone_sandbox", "cxone_sandbox.faults"]


def test_every_public_name_resolves() -> None:
    for name in cxone_sandbox.__all__:
        assert getattr(cxone_sandbox, name) is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = cxone_sandbox.no_such_name


def test_sandbox_help_lists_every_fault_kind_with_its_line() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for name, kind in FAULT_KINDS.items():
        assert f"{name}: {' '.join(kind.description.split())}" in text, name


def test_every_fault_kind_has_a_line_and_builds() -> None:
    for name, kind in FAULT_KINDS.items():
        assert kind.name == name
        assert kind.description and "\n" not in kind.description
        Fault(name, location="/elsewhere", field="rules.maxConcurrentCalls", value=2, delay=1.0)  # every check passes
    with pytest.raises(ValueError, match="unknown fault kind 'nope'"):
        Fault("nope")


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_sandbox_env_points_either_profile_at_the_sandbox(
    api: str, cli: Cli, server: SandboxServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in os.environ:
        if name.startswith("CXONE_"):
            monkeypatch.delenv(name)
    env = sandbox_env(server.url)
    assert all(name.startswith("CXONE_") for name in env)
    for name, value in {**env, "CXONE_API": api, "CXONE_CACHE_DIR": str(cache_dir)}.items():
        monkeypatch.setenv(name, value)
    result = cli("auth-check")
    assert result.exit_code == 0, result.stderr
    assert server.tenant.tokens_issued == 1
