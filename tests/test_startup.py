"""Start-up loads only what the path needs (issue 12): counted in ``sys.modules`` of a fresh process, never timed.

``--version``, ``--help`` and a Tab press load the command tree and its help text, not the HTTP stack, pydantic
or the settings; ``--help`` alone loads rich (Typer renders help with it) but not markdown or pygments; a quiet
``run-once`` off a terminal, and any ``--json`` run, never load rich.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cxone_sandbox import SandboxTenant
from cxone_tune.cli import app
from cxone_tune.clibase import command_tree
from tests.harness import Harness

# The HTTP stack, the settings model and the retry rules: never on the start-up paths.
HEAVY = {"httpx", "httpcore", "pydantic", "pydantic_core", "pydantic_settings", "tenacity", "h11", "anyio"}
# Only the help renderer needs rich; typer's renderer imports these two without using them here.
NOT_FOR_HELP = {"rich.markdown", "rich.traceback", "rich.syntax", "markdown_it", "pygments"}

# Runs the console script's main() like the installed command, then reports what the process loaded.
DRIVER = """
import json, sys
sys.argv = ["cxone-tune", *sys.argv[1:]]
from cxone_tune.cli import main
try:
    main()
finally:
    print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI in a fresh interpreter (stdout and stderr are pipes, as under cron); its loaded modules."""
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, result.stderr
    return result, set(json.loads(marker[-1].removeprefix("MODULES ")))


def tops(modules: set[str]) -> set[str]:
    """Every module and each of its parent packages: ``rich.markdown`` also counts as ``rich``."""
    out: set[str] = set()
    for name in modules:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


# What bash and zsh set for one Tab press (Typer's completion protocol).
COMPLETION = {
    "bash": {"_CXONE_TUNE_COMPLETE": "complete_bash", "COMP_WORDS": "cxone-tune ru", "COMP_CWORD": "1"},
    "zsh": {"_CXONE_TUNE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "cxone-tune run-once --"},
}


def test_version_loads_neither_the_http_stack_nor_pydantic_nor_rich() -> None:
    result, modules = loaded("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("cxone-tune ")
    assert not tops(modules) & (HEAVY | {"rich"})
    # Of the tool itself, only what every path needs.
    assert {m for m in modules if m.startswith("cxone_tune")} <= {
        "cxone_tune",
        "cxone_tune.cli",
        "cxone_tune.clibase",
        "cxone_tune.errors",
        "cxone_tune.logs",
        "cxone_tune.startup",
        "cxone_tune.text",
    }


@pytest.mark.parametrize("args", [["--help"], ["run-once", "--help"], ["sandbox", "--help"], ["agents", "-h"]])
def test_help_loads_rich_for_rendering_but_nothing_heavy(args: list[str]) -> None:
    result, modules = loaded(*args, env={"COLUMNS": "100"})
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert "rich" in modules  # the help really was rendered by rich: this test would notice a plain renderer
    assert not tops(modules) & (HEAVY | NOT_FOR_HELP)
    assert "cxone_tune.settings" not in modules


def test_bash_tab_completion_loads_neither_rich_nor_pydantic() -> None:
    result, modules = loaded(env=COMPLETION["bash"])
    assert (result.returncode, result.stdout.split()) == (0, ["run-once"])
    assert not tops(modules) & (HEAVY | {"rich"})


def test_zsh_tab_completion_loads_rich_for_the_help_texts_and_nothing_heavy() -> None:
    result, modules = loaded(env=COMPLETION["zsh"])
    assert result.returncode == 0
    assert '"--dry-run":"Read and decide, but never write."' in result.stdout
    assert not tops(modules) & (HEAVY | NOT_FOR_HELP)


def test_the_markdown_stand_in_never_shadows_the_real_module() -> None:
    """After --help, rich.markdown and rich.traceback import as the real modules, and the names typer's
    renderer holds still work (they import the real classes on use)."""
    code = """
import sys
from cxone_tune.clibase import load_help_renderer
load_help_renderer()
import typer.rich_utils as r
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
rendered = r.Markdown("**bold**")
import rich.markdown, rich.traceback
assert type(rendered) is rich.markdown.Markdown
assert r.Traceback.from_exception.__self__ is rich.traceback.Traceback
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_quiet_no_op_run_once_and_json_runs_never_load_rich(
    tenant: SandboxTenant, v2_env: dict[str, str], tmp_path: Path
) -> None:
    env = {"CXONE_STATE_DIR": str(tmp_path / "state")}
    first, _ = loaded("run-once", env=env)  # the change: one line on stdout
    assert first.returncode == 0
    assert "applied" in first.stdout
    no_op, modules = loaded("run-once", env=env)
    assert (no_op.returncode, no_op.stdout) == (0, "")
    assert "httpx" in modules  # it did run the cycle
    assert "rich" not in tops(modules)
    as_json, modules = loaded("run-once", "--json", env=env)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["changed"] is False
    assert "rich" not in tops(modules)


# Runs the console script's entry (cxone_tune.__main__:main), then reports the cyclic collector's state.
ENTRY_DRIVER = """
import gc, json, sys
sys.argv = ["cxone-tune", *sys.argv[1:]]
from cxone_tune.__main__ import main
try:
    main()
finally:
    print("\\nGC " + json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}), file=sys.stderr)
"""


def collector_after(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the console script's entry in a fresh interpreter; the collector's state when the command ended."""
    result = subprocess.run(
        [sys.executable, "-c", ENTRY_DRIVER, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("GC ")]
    assert marker, result.stderr
    state: dict[str, Any] = json.loads(marker[-1].removeprefix("GC "))
    return result, state


def test_the_collector_is_paused_for_start_up_and_runs_again_once_the_client_is_open(
    tenant: SandboxTenant, v2_env: dict[str, str], tmp_path: Path
) -> None:
    """startup.py: the console script pauses the cyclic collector while it starts; a run resumes it (start-up
    frozen out of later collections) when its API client opens, so paging never runs without it."""
    version, state = collector_after("--version")
    assert version.returncode == 0
    assert state == {"enabled": False, "frozen": 0}  # start-up is all --version does: paused to the end
    run, state = collector_after("run-once", "--json", env={"CXONE_STATE_DIR": str(tmp_path / "state")})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total_agents"] == 40
    assert state["enabled"] is True
    assert state["frozen"] > 10_000  # the modules and classes of start-up, never walked again


def test_a_command_without_an_api_client_runs_with_the_collector(tmp_path: Path) -> None:
    """``history`` (and ``sandbox``, ``demo``, ``replay``...) opens no client: the main callback resumes it."""
    result, state = collector_after("history", "--json", env={"CXONE_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr
    assert state["enabled"] is True
    assert state["frozen"] > 0


# -- the command tree, each command built when it is looked up (clibase.command_tree) --------------------------


@pytest.mark.parametrize("args", [["--help"], ["run-once", "--help"], ["bogus"], ["run-onc"], ["history", "--bad"]])
def test_the_tree_built_lazily_says_what_typers_own_says(args: list[str]) -> None:
    """The real entry (``cli.main``: the lazy tree) and Typer's own build (what CliRunner runs) print the same."""
    env = {"COLUMNS": "100"}
    result, _ = loaded(*args, env=env)
    eager = CliRunner().invoke(app, args, env=env)
    lazy_err = result.stderr.split("\nMODULES ")[0].removesuffix("\n")
    assert (result.returncode, result.stdout, lazy_err) == (eager.exit_code, eager.stdout, eager.stderr.rstrip("\n"))


def test_a_run_builds_the_one_command_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    tree = command_tree(app)
    assert list(tree.commands) == list(get_command(app).commands)  # type: ignore[attr-defined]
    assert tree.commands.built == []
    assert tree.main(["run-once", "--help"], prog_name="cxone-tune", standalone_mode=False) == 0
    assert "--dry-run" in capsys.readouterr().out
    assert tree.commands.built == ["run-once"]
    assert sorted(tree.commands[name].name for name in tree.commands) == sorted(tree.commands)  # looked up: built
    assert len(tree.commands.built) == len(tree.commands)


# -- a steady run-once: what it does not use, it does not load -------------------------------------------------

# Off a steady cron tick's path: rich (nothing printed), the TOML parser (no config file), monitoring (no metrics
# file, no healthcheck URL), the sandbox, and the commands' own modules.
NOT_FOR_A_STEADY_RUN = {
    "rich",
    "tomllib",
    "tomli",
    "cxone_sandbox",
    "cxone_tune.monitor",
    "cxone_tune.render",
    "cxone_tune.replay",
    "cxone_tune.chart",
    "cxone_tune.demo",
    "cxone_tune.watch",
    "cxone_tune.units",
}
OTHER_PROFILE = {"v2": {"cxone_tune.profiles.acd", "cxone_tune.profiles.acd_skill"}, "acd": {"cxone_tune.profiles.v2"}}


def test_a_steady_run_once_loads_only_what_it_uses(harness: Harness) -> None:
    # CXONE_API named, as the bench does: without it the profiles are imported to ask which one the settings choose
    env = {"CXONE_API": harness.name}
    first, _ = loaded("run-once", env=env)  # sets the value the policy picks, and fills the token cache
    assert first.returncode == 0, first.stderr
    steady, modules = loaded("run-once", env=env)
    assert (steady.returncode, steady.stdout) == (0, "")
    assert "httpx" in modules and f"cxone_tune.profiles.{harness.name}" in modules  # it did run the cycle
    assert tops(modules) & (NOT_FOR_A_STEADY_RUN | OTHER_PROFILE[harness.name]) == set()
