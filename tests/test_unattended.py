"""Unattended operation over real processes: lock, quiet output, audit log, metrics, pings, signals, logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SKILL_ID, Fault, SandboxTenant
from cxone_tune import audit
from cxone_tune.cli import app
from tests.conftest import Cli, wait_for
from tests.harness import ACD_SETTINGS, ACD_SUMMARY, Harness

AGENTS = "/api/v2/realtime/agents"
CAMPAIGN = "/api/v2/campaigns/"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("CXONE_STATE_DIR", str(path))
    return path


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The tool as cron runs it: its own process, stdout and stderr not terminals."""
    return subprocess.run(
        [sys.executable, "-m", "cxone_tune", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cxone_tune", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- no overlap ------------------------------------------------------------------------------------------------


HOLD_LOCK = """
import sys
from pathlib import Path
from cxone_tune.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_exits_75_while_another_holds_the_lock_and_a_killed_holder_never_blocks(
    tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        blocked = run("run-once")
        assert blocked.returncode == 75, blocked.stderr
        assert "another cxone-tune run holds the lock" in blocked.stderr
        assert tenant.count() == 0  # it gave way before talking to the API
        assert run("run-once", "--dry-run").returncode == 0  # a dry run writes nothing, so needs no lock
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the lock
        holder.wait()
    after = run("run-once")
    assert after.returncode == 0, after.stderr
    assert tenant.count("PUT", CAMPAIGN) == 1


def test_two_overlapping_runs_never_both_write(tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path) -> None:
    # The first agent read is slow, so the two runs certainly overlap.
    tenant.add_fault(Fault("delay", delay=1.5, path=AGENTS, times=1))
    first, second = start("run-once"), start("run-once")
    codes = sorted([first.wait(timeout=60), second.wait(timeout=60)])
    for proc in (first, second):
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert codes == [0, 75]
    assert tenant.count("PUT", CAMPAIGN) == 1


# -- quiet when nothing happened -------------------------------------------------------------------------------


def test_cron_output_is_silent_on_a_no_op_one_line_on_a_change_and_the_story_on_failure(
    tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path
) -> None:
    changed = run("run-once")
    assert changed.returncode == 0
    assert changed.stderr == ""
    assert len(changed.stdout.splitlines()) == 1
    assert "applied" in changed.stdout

    no_op = run("run-once")
    assert (no_op.returncode, no_op.stdout, no_op.stderr) == (0, "", "")

    tenant.add_fault(Fault("status", status=503, path=CAMPAIGN, times=None))
    failed = run("run-once")
    assert failed.returncode == 69
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert lines[-1].startswith("cxone-tune: error: GET campaign c-100")
    assert any("retrying" in line for line in lines[:-1])  # the story: what it tried before giving up
    assert "Traceback" not in failed.stderr


def test_a_steady_condition_is_no_mail_every_run_but_its_own_record_and_metrics(
    acd_run: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The skill's activity apart from its pool and a summary the access key may not read (403) are true on every
    run while they last: a quiet no-op run prints 0 bytes; -v, the journal (at info), a failure's story, the audit
    line and the metrics carry them."""
    tenant = acd_run.tenant
    textfile = tmp_path / "textfile" / "cxone_tune.prom"
    textfile.parent.mkdir()
    monkeypatch.setenv("CXONE_METRICS_FILE", str(textfile))
    assert run("run-once").returncode == 0  # the first run writes what the pool calls for
    joined = tenant.pool_available(DEFAULT_SKILL_ID)
    tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": joined + 3})
    tenant.add_fault(Fault("status", status=403, path=ACD_SUMMARY, times=None))
    disagreement = f"activity says {joined + 3} available, its assigned agents joined with their states {joined}"
    unreadable = "abandon guard: last 30 min unreadable, no raise: GET skill 4567 summary"

    no_op = run("run-once")
    assert (no_op.returncode, no_op.stdout, no_op.stderr) == (0, "", "")
    verbose = run("-v", "run-once")
    assert verbose.returncode == 0
    info = [line for line in verbose.stderr.splitlines() if line.startswith("cxone-tune: info: ")]
    assert any(disagreement in line for line in info) and any(unreadable in line for line in info), verbose.stderr
    assert "warning" not in verbose.stderr
    journal = run("-v", "run-once", env={"JOURNAL_STREAM": "8:1234"})
    assert any(line.startswith("<6>cxone-tune: info: " + unreadable) for line in journal.stderr.splitlines())

    record = audit.read(Path(os.environ["CXONE_STATE_DIR"]))[-1]
    assert disagreement in record["pool"]["disagreement"]
    assert "403" in record["guard"]["windows"]["short"]["error"]
    metrics = textfile.read_text()
    assert 'cxone_tune_abandon_figures_readable{profile="acd",target="4567",window="short"} 0' in metrics
    assert 'cxone_tune_abandon_figures_readable{profile="acd",target="4567",window="compliance"} 0' in metrics
    assert 'cxone_tune_pool_disagreement{profile="acd",target="4567"} 1' in metrics

    tenant.add_fault(Fault("status", status=503, path=ACD_SETTINGS, times=None))
    failed = run("run-once")  # a failure's story tells them, before the error line
    assert failed.returncode == 69 and failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert lines[-1].startswith("cxone-tune: error: GET skill 4567 general-settings")
    assert any(disagreement in line for line in lines[:-1]) and any(unreadable in line for line in lines[:-1])

    tenant.clear_faults()
    tenant.override_activity(DEFAULT_SKILL_ID, {"agentsAvailable": joined})
    assert run("run-once").returncode == 0  # both conditions over: the metrics say so
    metrics = textfile.read_text()
    assert 'cxone_tune_abandon_figures_readable{profile="acd",target="4567",window="short"} 1' in metrics
    assert 'cxone_tune_pool_disagreement{profile="acd",target="4567"} 0' in metrics


def test_journald_priorities_and_json_logs(tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path) -> None:
    tenant.add_fault(Fault("status", status=403, path=AGENTS, times=None))
    journal = run("run-once", env={"JOURNAL_STREAM": "8:1234"})
    assert journal.returncode == 77
    assert journal.stderr.splitlines()[-1].startswith("<3>cxone-tune: error: ")
    as_json = run("--log-format", "json", "run-once")
    assert as_json.returncode == 77
    last = json.loads(as_json.stderr.splitlines()[-1])
    assert last["level"] == "error"
    assert "403" in last["message"]


# -- audit log -------------------------------------------------------------------------------------------------


def test_every_decision_is_in_the_history(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path
) -> None:
    assert cli("run-once", "--dry-run").exit_code == 0
    assert cli("run-once").exit_code == 0
    assert cli("apply", "9").exit_code == 0
    tenant.add_fault(Fault("concurrent_edit", times=None))
    assert cli("apply", "10").exit_code == 75
    records = json.loads(cli("history", "--json").stdout)
    assert [(r["command"], r["dry_run"], r["exit_code"]) for r in records] == [
        ("run-once", True, 0),
        ("run-once", False, 0),
        ("apply", False, 0),
        ("apply", False, 75),
    ]
    dry, real, manual, failed = records
    assert dry["applied"] is False
    assert dry["limit"] == real["limit"]
    assert real["applied"] is True
    assert real["previous_limit"] == 12
    assert real["version"] == 18
    assert real["available_agents"] == tenant.available_agents()
    assert real["counts"]["available"] == tenant.available_agents()
    assert real["reasons"]
    assert (manual["previous_limit"], manual["limit"], manual["applied"]) == (real["limit"], 9, True)
    assert "kept changing" in failed["error"]
    assert all(r["target"] == DEFAULT_CAMPAIGN_ID and r["profile"] == "v2" for r in records)
    table = cli.runner.invoke(app, ["history", "--limit", "2"], env={"COLUMNS": "120"})  # wide: every column
    assert table.exit_code == 0
    assert "apply" in table.stdout
    assert "exit 75" in table.stdout
    assert len(json.loads(cli("history", "--json", "--limit", "1").stdout)) == 1
    text = audit.audit_path(state_dir).read_text()
    assert DEFAULT_CLIENT_SECRET not in text
    assert audit.audit_path(state_dir).stat().st_mode & 0o777 == 0o600


def test_audit_log_rotates_by_size_and_history_reads_across_files(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    for index in range(50):
        audit.append(directory, {"n": index, "pad": "x" * 100}, max_bytes=1000)
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    assert all(p.stat().st_size <= 1000 for p in directory.iterdir())
    newest = audit.read(directory)
    numbers = [record["n"] for record in newest]
    assert numbers == sorted(numbers)
    assert numbers[-1] == 49
    assert [r["n"] for r in audit.read(directory, 3)] == [47, 48, 49]


# -- metrics ---------------------------------------------------------------------------------------------------


def _metrics(path: Path) -> dict[str, float]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("cxone_tune_"):
            name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1]
            values[name.removeprefix("cxone_tune_")] = float(value)
    return values


def test_metrics_textfile_keeps_last_success_and_counts_changes(
    cli: Cli,
    tenant: SandboxTenant,
    v2_env: dict[str, str],
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "textfile" / "cxone_tune.prom"
    path.parent.mkdir()
    monkeypatch.setenv("CXONE_METRICS_FILE", str(path))
    assert cli("run-once").exit_code == 0
    ok = _metrics(path)
    assert ok["last_exit_code"] == 0
    assert ok["last_success_timestamp_seconds"] == ok["last_run_timestamp_seconds"]
    assert ok["changes_total"] == 1
    assert ok["available_agents"] == tenant.available_agents()
    assert ok["total_agents"] == 40
    assert 'profile="v2",target="c-100"' in path.read_text()

    assert cli("run-once").exit_code == 0  # nothing to change: the counter stays
    assert _metrics(path)["changes_total"] == 1

    tenant.add_fault(Fault("status", status=500, times=None))
    assert cli("run-once").exit_code == 69
    failed = _metrics(path)
    assert failed["last_exit_code"] == 69
    assert failed["last_success_timestamp_seconds"] < failed["last_run_timestamp_seconds"] or (
        failed["last_success_timestamp_seconds"] == ok["last_success_timestamp_seconds"]
    )
    assert failed["changes_total"] == 1
    assert failed["limit"] == ok["limit"]
    assert cli("run-once", "--dry-run").exit_code == 69  # dry runs leave the scheduled job's metrics alone
    assert _metrics(path)["last_run_timestamp_seconds"] == failed["last_run_timestamp_seconds"]
    # no temp files left; the lock file beside the textfile serialises writers (node_exporter reads *.prom only)
    assert sorted(p.name for p in path.parent.iterdir()) == ["cxone_tune.prom", "cxone_tune.prom.lock"]


# -- healthcheck pings -----------------------------------------------------------------------------------------


@pytest.fixture
def pings() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", seen
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_pings_start_and_exit_code_but_not_on_dry_runs(
    cli: Cli,
    tenant: SandboxTenant,
    v2_env: dict[str, str],
    state_dir: Path,
    pings: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = pings
    monkeypatch.setenv("CXONE_HEALTHCHECK_URL", url)
    assert cli("run-once").exit_code == 0
    assert seen == ["/ping/abc/start", "/ping/abc/0"]
    assert cli("run-once", "--dry-run").exit_code == 0
    assert len(seen) == 2
    tenant.add_fault(Fault("status", status=403, path=AGENTS, times=None))
    assert cli("run-once").exit_code == 77
    assert seen[2:] == ["/ping/abc/start", "/ping/abc/77"]


def test_a_failed_ping_only_warns(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_HEALTHCHECK_URL", "http://127.0.0.1:9/nobody-listens")
    result = cli("run-once")
    assert result.exit_code == 0
    assert "healthcheck ping /start failed" in result.stderr
    assert tenant.count("PUT", CAMPAIGN) == 1


# -- signals ---------------------------------------------------------------------------------------------------


def test_sigterm_mid_run_ends_cleanly_with_143(
    tenant: SandboxTenant, v2_env: dict[str, str], state_dir: Path, cache_dir: Path
) -> None:
    tenant.add_fault(Fault("delay", delay=5.0, path=AGENTS, times=1))
    proc = start("run-once")
    assert wait_for(lambda: tenant.count("GET", AGENTS) >= 1, seconds=20)  # it is waiting for the slow agent page
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert stderr.splitlines()[-1] == "cxone-tune: error: terminated (SIGTERM); stopped cleanly"
    assert "Traceback" not in stderr
    assert tenant.count("PUT", CAMPAIGN) == 0
    records = audit.read(state_dir)
    assert records[-1]["exit_code"] == 143
    leftovers = [p.name for d in (cache_dir, state_dir) for p in d.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert run("run-once").returncode == 0  # and the next run is not blocked by anything it left
