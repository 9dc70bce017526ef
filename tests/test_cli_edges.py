"""The CLI's edges (issue 13 item 5): quiet whatever FORCE_COLOR says, JSON logs that stay JSON, the contract's
exit codes, a reader that leaves, completion for the named shell, real metavars and the exit codes in --help,
``replay -``, tables that fit 80 and 60 columns, and an error document for a failed ``--json`` run."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.main import get_command

from cxone_sandbox import Fault, SandboxServer, SandboxTenant
from cxone_tune.cli import app
from cxone_tune.documents import failed_target
from cxone_tune.errors import exit_codes
from cxone_tune.render import history_table
from tests.conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]
CAMPAIGN = "/api/v2/campaigns/"
TRACE = ROOT / "examples" / "trace-flapping.csv"
BASH = shutil.which("bash") or "/bin/bash"


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The tool in its own process, stdout and stderr pipes (as under cron)."""
    return subprocess.run(
        [sys.executable, "-m", "cxone_tune", *args],
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def flat(text: str) -> str:
    """``text`` without rich's panel borders and line breaks: the words of a usage error's box in one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("CXONE_STATE_DIR", str(path))
    return path


# -- quiet means quiet -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("force", ["FORCE_COLOR", "TTY_COMPATIBLE"])
def test_a_no_op_off_a_terminal_prints_nothing_whatever_force_color_says(
    force: str, tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path
) -> None:
    env = {force: "1"}
    changed = run("run-once", env=env)
    assert (changed.returncode, changed.stderr) == (0, "")
    assert len(changed.stdout.splitlines()) == 1  # the change, in one line: no spinner, no table
    assert "\x1b" not in changed.stdout.split(":", 1)[0]  # the line's own text; colour is FORCE_COLOR's to ask
    no_op = run("run-once", env=env)
    assert (no_op.returncode, no_op.stdout, no_op.stderr) == (0, "", "")  # 0 bytes (before: 944 of spinner)


# -- JSON logs stay JSON -----------------------------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of ``text`` as a JSON object (fails on any line that is not one)."""
    return [json.loads(line) for line in text.splitlines()]


def test_json_logs_carry_the_traceback_as_a_field_of_the_error_line(
    tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path
) -> None:
    tenant.add_fault(Fault("status", status=503, path=CAMPAIGN, times=None))
    failed = run("--log-format", "json", "-vv", "run-once")
    assert failed.returncode == 69
    records = json_lines(failed.stderr)  # not one raw traceback line between them
    assert len(records) > 2  # the debug story came too
    last = records[-1]
    assert last["level"] == "error"
    assert "GET campaign c-100" in str(last["message"])
    assert str(last["traceback"]).startswith("Traceback (most recent call last)")
    assert "ApiUnavailable" in str(last["traceback"])
    assert all("traceback" not in record for record in records[:-1])


def test_a_bug_with_json_logs_is_one_json_line_with_its_traceback(
    cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("policy exploded")

    monkeypatch.setattr("cxone_tune.cycle.evaluate", broken)
    result = cli("--log-format", "json", "-v", "compute")
    assert result.exit_code == 70
    [error] = [record for record in json_lines(result.stderr) if record["level"] == "error"]
    assert "policy exploded" in str(error["message"])
    assert "RuntimeError: policy exploded" in str(error["traceback"])
    text = cli("-v", "compute")  # text logs: the traceback first, the error line still the last line
    assert "Traceback" in text.stderr
    assert text.stderr.splitlines()[-1].startswith("cxone-tune: error: internal error (a bug): RuntimeError")


# -- exit codes per the contract ---------------------------------------------------------------------------------


def test_an_unknown_api_option_is_usage_2_and_the_variable_stays_configuration_78(
    cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    option = cli("--api", "foo", "config")
    assert option.exit_code == 2
    assert "Invalid value for '--api': 'foo' is not an API profile; expected 'v2' or 'acd'" in flat(option.stderr)
    assert cli("--api", "acd", "config", "--json").exit_code == 0
    monkeypatch.setenv("CXONE_API", "foo")
    variable = cli("config")
    assert variable.exit_code == 78
    assert "CXONE_API" in variable.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_sandbox_port_is_one_line_and_75(busy_port: int) -> None:
    result = run("sandbox", "--port", str(busy_port))
    assert result.returncode == 75
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"cxone-tune: error: --port {busy_port}: 127.0.0.1:{busy_port} is in use; "
        "choose another port, or --port 0 for a free one"
    ]


# -- a reader that leaves ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["agents"], ["agents", "--json"], ["replay", str(TRACE)]])
def test_a_reader_that_leaves_after_one_line_is_no_failure(
    args: list[str], v2_env: dict[str, str], tmp_path: Path
) -> None:
    with SandboxServer(SandboxTenant(agents=3000, seed=1)).start() as big:  # output far beyond a pipe's buffer
        env = {**os.environ, "CXONE_TENANT_URL": big.url, "COLUMNS": "100"}
        # `cxone-tune agents | head -1`, with the shell's pipe: head exits after one line.
        command = " ".join([f"'{sys.executable}'", "-m", "cxone_tune", *(f"'{a}'" for a in args)]) + " | head -1"
        result = subprocess.run(
            [BASH, "-o", "pipefail", "-c", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr  # pipefail: cxone-tune's own exit code
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""  # no traceback, no "Exception ignored", no error line


# -- completion for the shell named ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("zsh", "#compdef cxone-tune"),
        ("bash", "complete -o default -F _cxone_tune_completion cxone-tune"),
        ("fish", "complete --command cxone-tune"),
        ("powershell", "Register-ArgumentCompleter"),
    ],
)
def test_show_completion_prints_the_named_shells_script(shell: str, marker: str) -> None:
    result = run("--show-completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    others = {"zsh": "#compdef", "bash": "complete -o default", "fish": "complete --command"}
    assert not [name for name, text in others.items() if name != shell and text in result.stdout]
    assert run(f"--show-completion={shell}").stdout == result.stdout


def test_show_completion_refuses_a_shell_it_has_no_script_for() -> None:
    result = run("--show-completion", "tcsh")
    assert result.returncode == 2
    assert "'tcsh' is not a shell" in flat(result.stderr)


def test_install_completion_installs_for_the_named_shell(cli: Cli) -> None:
    result = cli("--install-completion", "fish")
    assert result.exit_code == 0, result.stderr
    script = Path.home() / ".config" / "fish" / "completions" / "cxone-tune.fish"
    assert "complete --command cxone-tune" in script.read_text()


def test_tab_completion_still_completes_commands_and_shells() -> None:
    env = {"_CXONE_TUNE_COMPLETE": "complete_bash", "COMP_WORDS": "cxone-tune ru", "COMP_CWORD": "1"}
    assert run(env=env).stdout.split() == ["run-once"]
    env = {"_CXONE_TUNE_COMPLETE": "complete_bash", "COMP_WORDS": "cxone-tune --show-completion z", "COMP_CWORD": "2"}
    assert run(env=env).stdout.split() == ["zsh"]


# -- help: metavars and the exit codes ---------------------------------------------------------------------------


def options_panel(text: str) -> str:
    return text.split("─ Options ─", 1)[1].split("╰", 1)[0]


TYPER_TYPE_NAMES = re.compile(r"<(bool|int|float|str|path|list\[[a-z]+\])[^>]*>|<[a-z]+\|[a-z|]+>")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_options_show_real_metavars_never_typers_type_names(cli: Cli, command: str) -> None:
    result = cli.runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    panel = options_panel(result.stdout)
    assert not TYPER_TYPE_NAMES.findall(panel)
    if "─ Arguments ─" in result.stdout:  # arguments too: their metavar, then what they take
        assert not TYPER_TYPE_NAMES.findall(result.stdout.split("─ Arguments ─", 1)[1].split("╰", 1)[0])
    for line in panel.splitlines():
        if "--json " in line or "--help " in line or "--dry-run " in line:
            assert re.search(r"(--json|--help|--dry-run)\s+(-[hn]\s+)?[A-Z]", line), line  # no value after a flag


@pytest.mark.parametrize(
    ("command", "argument"),
    [("apply", "LIMIT NUMBER"), ("replay", "TRACE PATH"), ("print-unit", "UNIT [service|timer|failure]")],
)
def test_arguments_show_their_metavar_and_what_they_take(cli: Cli, command: str, argument: str) -> None:
    text = cli.runner.invoke(app, [command, "--help"], env={"COLUMNS": "160"}).stdout
    rows = text.split("─ Arguments ─", 1)[1].split("╰", 1)[0].split("\n", 1)[1]
    panel = " ".join(rows.replace("│", " ").replace("*", " ").split())
    assert panel.startswith(f"{argument} "), panel


def test_main_help_names_real_metavars(cli: Cli) -> None:
    panel = " ".join(options_panel(cli.runner.invoke(app, ["--help"], env={"COLUMNS": "160"}).stdout).split())
    for option, metavar in [
        ("--tenant-url", "URL"),
        ("--campaign-id", "ID"),
        ("--cache-dir", "DIR"),
        ("--config", "FILE"),
        ("--target", "NAME"),
        ("--log-format", "FORMAT"),
        ("--show-completion", "[SHELL]"),
    ]:
        assert f"{option} {metavar} " in panel, option


@pytest.mark.parametrize("columns", [80, 100])
def test_main_help_lists_each_command_on_one_line_and_each_keeps_its_own_help(cli: Cli, columns: int) -> None:
    text = cli.runner.invoke(app, ["--help"], env={"COLUMNS": str(columns)}).stdout
    panel = text.split("─ Commands ─", 1)[1].split("╰", 1)[0].splitlines()[1:]
    names = [line.strip("│ ").split(" ", 1)[0] for line in panel]
    assert sorted(names) == COMMANDS  # one line each: no line continues the one before it
    for line in panel:
        assert line.rstrip(" │").endswith("."), line  # a whole sentence, not cut mid-way
    group = get_command(app)
    for name in COMMANDS:
        command = group.commands[name]  # type: ignore[attr-defined]
        own = " ".join(cli.runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"}).stdout.split())
        assert " ".join(command.help.split()) in own, name  # its docstring, whole, in its own --help


def test_main_help_lists_every_exit_code_from_the_error_hierarchy(cli: Cli) -> None:
    text = " ".join(cli.runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout.split())
    assert "Exit codes" in text
    codes = exit_codes()
    assert [code for code, _ in codes] == [0, 2, 66, 69, 70, 75, 76, 77, 78, 130, 143]
    for code, meaning in codes:
        assert f"{code} {meaning}" in text, code


# -- replay - ----------------------------------------------------------------------------------------------------


def test_replay_dash_reads_the_trace_from_stdin(cli: Cli) -> None:
    from_file = cli("replay", str(TRACE), "--json")
    from_stdin = cli.runner.invoke(app, ["replay", "-", "--json"], input=TRACE.read_text(), catch_exceptions=False)
    assert (from_file.exit_code, from_stdin.exit_code) == (0, 0)
    file_doc, stdin_doc = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
    assert stdin_doc["trace"] == "-"
    assert {**stdin_doc, "trace": file_doc["trace"]} == file_doc
    empty = cli.runner.invoke(app, ["replay", "-"], input="time,available\n")
    assert empty.exit_code == 2
    assert "- line 1: the trace is empty" in empty.stderr


# -- tables at 80 and 60 columns ---------------------------------------------------------------------------------


def table_headers(text: str) -> list[list[str]]:
    """The header cells of each rich table in ``text`` (heavy-box header rows), multi-line headers joined."""
    tables: list[list[str]] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            rows = []
        elif line.startswith("┃"):
            rows.append([cell.strip() for cell in line.strip().strip("┃").split("┃")])
        elif line.startswith("┡"):
            tables.append([" ".join(part for part in column if part) for column in zip(*rows, strict=True)])
    return tables


@pytest.mark.parametrize("columns", [200, 80, 60])
def test_history_fits_the_width_dropping_minor_columns_never_to_zero_width(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path, columns: int
) -> None:
    assert cli("run-once").exit_code == 0
    assert cli("apply", "7").exit_code == 0  # a value set by hand: the Command column is what tells it apart
    tenant.add_fault(Fault("status", status=404, path=CAMPAIGN, times=None))
    assert cli("run-once").exit_code == 78  # a long error outcome, the widest cell
    result = cli.runner.invoke(app, ["history"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    [headers] = table_headers(result.stdout)
    assert all(headers), headers  # no column of no width (an empty header cell)
    assert {"Time (UTC)", "Change", "Outcome"} <= set(headers)
    assert all(len(line) <= columns for line in result.stdout.splitlines())
    assert "not found (404)" in flat(result.stdout)  # the outcome wraps, in full
    if columns == 200:
        assert headers == ["Time (UTC)", "Command", "Target", "Available", "Change", "Outcome"]
        return
    # One target in the log: its column goes first, and the title names it instead.
    assert "Audit log of v2 c-100 (newest last)" in result.stdout
    if columns == 80:  # cron mails and pipes: everything but the one target's column, apply told from run-once
        assert headers == ["Time (UTC)", "Command", "Available", "Change", "Outcome"]
        assert "not shown at this width: Target\n" in result.stdout
        assert re.search(r"│ apply\s+│\s+│ \d+ -> 7 ", result.stdout), result.stdout
    else:
        assert headers == ["Time (UTC)", "Change", "Outcome"]
        assert "not shown at this width: Target, Available, Command" in result.stdout  # it says what it left out


def test_history_of_several_targets_leaves_out_the_counts_before_the_target_and_the_command() -> None:
    records = [
        {"time": f"2024-06-03T08:0{i}:00.123456+00:00", "command": command, "profile": "v2", "target": target}
        | {"available_agents": 14, "total_agents": 40, "previous_limit": 9, "limit": 11, "applied": True}
        for i, (command, target) in enumerate([("run-once", "c-100"), ("apply", "c-200-renewals")])
    ]
    widths = {}
    for width in range(120, 40, -1):
        table = history_table(records, width)
        widths[width] = [column.header for column in table.columns]
    assert widths[120] == ["Time (UTC)", "Command", "Target", "Available", "Change", "Outcome"]
    narrowed = [columns for _, columns in sorted(widths.items(), reverse=True)]
    dropped = [
        next(c for c in wider if c not in narrower)
        for wider, narrower in itertools.pairwise(narrowed)
        if wider != narrower
    ]
    assert dropped == ["Available", "Target", "Command"]


@pytest.mark.parametrize("columns", [200, 80, 60])
def test_the_replay_table_fits_the_width(cli: Cli, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("CXONE_POLICY", "stable")
    result = cli.runner.invoke(app, ["replay", str(TRACE)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    [headers] = table_headers(result.stdout)
    assert all(headers), headers
    assert headers[:4] == ["policy", "changes", "idle-agent minutes", "over-dial minutes"]
    table = result.stdout[result.stdout.index("┏") : result.stdout.index("┘") + 1]
    assert all(len(line) <= columns for line in table.splitlines())
    assert "…" not in table  # nothing cut short
    assert (headers[4:] == ["min", "max", "mean"]) == (columns != 60)
    assert ("not shown at this width: min, max, mean" in result.stdout) == (columns == 60)


# -- an error document for a failed --json run -------------------------------------------------------------------


def test_a_failed_single_target_json_run_prints_the_several_target_forms_entry(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    tenant.add_fault(Fault("status", status=503, path=CAMPAIGN, times=None))
    single = cli("run-once", "--json")
    assert single.exit_code == 69
    document = json.loads(single.stdout)  # one document, nothing else on stdout
    assert document == failed_target(None, 69, document["error"])
    assert document["error"].startswith("GET campaign c-100")
    assert document["error"] in single.stderr.splitlines()[-1]

    config = tmp_path / "config.toml"
    config.write_text('[[targets]]\nname = "renewals"\n\n[[targets]]\nname = "sales"\n')
    several = json.loads(cli("--config", str(config), "run-once", "--json").stdout)
    assert set(several["targets"][0]) == set(document)  # the same keys as an entry of the several-target form
    named = json.loads(cli("--config", str(config), "--target", "sales", "run-once", "--json").stdout)
    assert named == {**document, "name": "sales"}
    tenant.add_fault(Fault("status", status=503, times=None))  # every call, the token request too
    for command in (["compute"], ["agents"], ["auth-check"], ["apply", "7"]):
        result = cli(*command, "--json")
        assert result.exit_code == 69, command
        assert json.loads(result.stdout) == failed_target(None, 69, result.stderr.splitlines()[-1][19:]), command
    monkeypatch.setenv("CXONE_SAFETY_FACTOR", "7")
    invalid = cli("config", "--json")
    assert invalid.exit_code == 78
    assert json.loads(invalid.stdout)["error"].startswith("invalid configuration: CXONE_SAFETY_FACTOR")
