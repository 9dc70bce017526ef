"""Whole-process benchmark of cxone-tune against the local sandbox tenant (127.0.0.1 only), side by side.

Run from the repository root with the project's venv:

    .venv/bin/python bench/bench.py            # the full run (a few minutes on 2 cores)
    .venv/bin/python bench/bench.py --quick    # small tenants, few repeats (what tests/test_bench.py runs)
    .venv/bin/python bench/bench.py --json     # one JSON document instead of tables

Everything it times is a whole process started from outside, its interpreter start-up included: the
``cxone-tune`` console script (``--version``, ``--help``, one Tab completion, ``run-once``) and the naive
baseline client ``bench/naive_client.py``. It never imports cxone_tune itself: the sandbox tenant runs in a
process of its own, started from ``SANDBOX_MODULE`` below, and the requests are counted from the sandbox's
request log through its ``/_sandbox/`` control endpoints.

The method: two commands A and B run in turn (A B A B ...) after one untimed warm-up each, and each ratio
A/B is taken pair by pair, so a machine whose speed drifts during the run still gives a meaningful ratio.
Every figure is printed as its median with min and max. Peak RSS of a run is ``/usr/bin/time -f %M`` of
that process (Linux: a child's own ``ru_maxrss`` cannot read below the parent's, so it is not used).

Exit status: 0 when every check passed, 1 when a check failed (the report is printed either way),
2 on bad arguments or when the benchmark cannot start (no console script, no sandbox).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The one place that names the sandbox's package: it moves to the top-level `cxone_sandbox` package
# with the same public names (SandboxTenant, SandboxServer, DEFAULT_*); change this line (or pass
# --sandbox-module) when it does.
SANDBOX_MODULE = "cxone_sandbox"

BENCH_DIR = Path(__file__).resolve().parent
NAIVE_CLIENT = BENCH_DIR / "naive_client.py"
TIME_BIN = "/usr/bin/time"

NAIVE_PAGE = 50  # bench/naive_client.py's page size (the design document's)
TOOL_PAGE = 1000  # cxone-tune's default CXONE_PAGE_SIZE: the steady runs use the default
CAPPED_TOP = 100  # the capped acd case: the tenant's largest `top`, and CXONE_PAGE_SIZE
FULL_AGENTS = (1_000, 10_000, 100_000)
QUICK_AGENTS = (1_500,)
PROFILES = ("v2", "acd")
SCENARIOS = ("steady", "changed")  # warm token cache + value already right / value set by another writer
RUN_TIMEOUT = 600.0  # seconds: one hung child must not hang the benchmark
SANDBOX_START_TIMEOUT = 120.0  # generating 100,000 agents of both profiles takes a few seconds

# Targets of issue 12, printed beside the figures for reading; they are not checks (the exit status is not
# about speed, which depends on the machine).
STARTUP_TARGET = 2.0  # x `python -c "import httpx"`
CYCLE_TARGETS = {1_000: 0.9, 10_000: 0.35}  # x the naive client's wall time, steady run-once
CAPPED_TARGET = 0.5  # x the sequential bound pages x latency
# Peak RSS of a steady run-once at 100,000 agents no higher than before issue 12: the run quoted in
# bench/README.md then (commit b698d7e), in MiB.
RSS_TARGETS_MIB = {("v2", 100_000): 50.5, ("acd", 100_000): 56.6}

# Runs a sandbox tenant in its own process: argv = module agents latency max_page_size. It prints one JSON
# line (its URL and the tenant's demo credentials) and serves until its stdin is closed, so it also stops when
# the benchmark dies. The sandbox as it is: its acd updatedSince filter is worked out once per agent list, not
# on every page (it was O(agents) per page, which a launcher here once had to work around).
SANDBOX_LAUNCHER = """\
import importlib, json, sys
sandbox = importlib.import_module(sys.argv[1])
tenant = sandbox.SandboxTenant(
    agents=int(sys.argv[2]), seed=1, latency=float(sys.argv[3]), max_page_size=int(sys.argv[4])
)
server = sandbox.SandboxServer(tenant, port=0).start()
names = ("CLIENT_ID", "CLIENT_SECRET", "CAMPAIGN_ID", "ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SKILL_ID")
info = {name.lower(): str(getattr(sandbox, "DEFAULT_" + name)) for name in names}
print(json.dumps({"url": server.url, **info}), flush=True)
sys.stdin.read()
server.stop()
"""

# Variables of the tool (and of systemd) that must not leak from the caller's shell into the children.
_DROPPED_ENV_PREFIXES = ("CXONE_", "_CXONE_TUNE_COMPLETE", "COMP_")
_DROPPED_ENV = ("CREDENTIALS_DIRECTORY", "CACHE_DIRECTORY", "STATE_DIRECTORY", "JOURNAL_STREAM")


# ---------------------------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    """One finished child process."""

    wall_s: float  # monotonic clock just before the start to just after the child is reaped
    cpu_s: float  # user + system of the child and what it waited for (os.wait4)
    rss_kib: int | None  # /usr/bin/time -f %M (None when it was not asked for or not available)
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Cmd:
    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the benchmark's clean environment


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES) and k not in _DROPPED_ENV}


def run_process(cmd: Cmd, cwd: Path, *, rss: bool, timeout: float = RUN_TIMEOUT) -> Proc:
    """Start ``cmd``, wait for it, and return its figures. Output goes to files (no pipe to drain)."""
    with tempfile.TemporaryDirectory(prefix="run-", dir=cwd) as tmp:
        out_path, err_path, rss_path = Path(tmp, "out"), Path(tmp, "err"), Path(tmp, "rss")
        argv = cmd.argv
        if rss:
            argv = [TIME_BIN, "-f", "%M", "-o", str(rss_path), *argv]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            child = subprocess.Popen(
                argv, cwd=cwd, env={**clean_env(), **cmd.env}, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
            watchdog = threading.Timer(timeout, child.kill)
            watchdog.start()
            try:
                _, status, usage = os.wait4(child.pid, 0)
            finally:
                watchdog.cancel()
            wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        peak: int | None = None
        if rss:
            lines = rss_path.read_text().split() if rss_path.exists() else []
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else None
        return Proc(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            rss_kib=peak,
            code=child.returncode,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
        )


# ---------------------------------------------------------------------------------------------- figures


def stats(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def fmt_spread(s: dict[str, Any], scale: float = 1.0, spec: str = ".2f") -> str:
    if s["median"] is None:
        return "-"
    med, low, high = (format(s[k] * scale, spec) for k in ("median", "min", "max"))
    return f"{med} [{low}-{high}]"


# ---------------------------------------------------------------------------------------------- sandbox


_SKILL_POOL = re.compile(r".*/skills/[^/]+/(agents|activity)")


def classify(method: str, path: str) -> str:
    """The kind of one logged request, by the two API contracts' paths."""
    if path.startswith("/.well-known/"):
        return "discovery"
    if path in ("/oauth/token", "/auth/token"):
        return "token"
    if path.endswith(("/realtime/agents", "/agents/states")):
        return "pages"
    if _SKILL_POOL.fullmatch(path):
        return "pool"  # acd: the steered skill's assignment pages and its activity
    if path.endswith("/summary"):
        return "abandon"  # acd: the abandon guard's summary reads
    if "/campaigns/" in path or path.endswith("/parameters/general-settings"):
        return {"GET": "get", "PUT": "put"}.get(method, "other")
    return "other"


KINDS = ("discovery", "token", "pages", "pool", "abandon", "get", "put", "other")


def count_kinds(log: Sequence[Sequence[str]]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for method, path in log:
        counts[classify(method, path)] += 1
    counts["total"] = len(log)
    return counts


class BenchError(Exception):
    """The benchmark cannot run (exit status 2)."""


class Sandbox:
    """A sandbox tenant in its own process, and its control endpoints."""

    def __init__(self, module: str, agents: int, latency_s: float, max_page_size: int, errors: Path) -> None:
        self.agents = agents
        self.latency_s = latency_s
        # Its stderr goes to a file: a pipe nobody reads would block it once full.
        with errors.open("w") as err:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-c", SANDBOX_LAUNCHER, module),
                    *(str(agents), repr(latency_s), str(max_page_size)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=clean_env(),
                text=True,
            )
        timer = threading.Timer(SANDBOX_START_TIMEOUT, self.proc.kill)
        timer.start()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        timer.cancel()
        if not line:
            self.stop()
            raise BenchError(f"the sandbox ({module}) did not start: {tail(errors.read_text()) or 'no output'}")
        self.info: dict[str, str] = json.loads(line)
        self.url = self.info["url"]

    def _call(self, method: str, route: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_sandbox/{route}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (loopback only)
            return json.loads(answer.read())

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "state")
        return result

    def clear_log(self) -> None:
        self._call("DELETE", "requests")

    def log(self) -> list[list[str]]:
        return list(self.state()["requests"])

    def assignments(self) -> int:
        """How many assignment rows the acd skill has (active or not): what its pages cover."""
        return int(self.state()["skillAssignments"][self.info["skill_id"]])

    def value(self, profile: str) -> Any:
        state = self.state()
        if profile == "v2":
            return state["campaigns"][self.info["campaign_id"]]["rules"]["maxConcurrentCalls"]
        return state["skillSettings"][self.info["skill_id"]]["maximumRatio"]

    def set_value(self, profile: str, value: Any) -> None:
        """Another writer sets the steered value (v2: the version is bumped, as the real API would)."""
        if profile == "v2":
            self._call("POST", f"campaigns/{self.info['campaign_id']}/edit", {"rules": {"maxConcurrentCalls": value}})
        else:
            self._call("POST", f"skills/{self.info['skill_id']}/edit", {"maximumRatio": value})

    def env(self, profile: str, root: Path) -> dict[str, str]:
        """What an operator exports to point cxone-tune (and the naive client) at this tenant."""
        i = self.info
        common = {"CXONE_API": profile, "CXONE_CLIENT_ID": i["client_id"], "CXONE_CLIENT_SECRET": i["client_secret"]}
        if profile == "v2":
            specific = {"CXONE_TENANT_URL": self.url, "CXONE_CAMPAIGN_ID": i["campaign_id"]}
        else:
            specific = {
                "CXONE_ISSUER": self.url,
                "CXONE_ACCESS_KEY_ID": i["access_key_id"],
                "CXONE_ACCESS_KEY_SECRET": i["access_key_secret"],
                "CXONE_SKILL_ID": i["skill_id"],
            }
        dirs = {"CXONE_CACHE_DIR": str(root / "cache"), "CXONE_STATE_DIR": str(root / "state")}
        return {**common, **specific, **dirs}

    def stop(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def sandbox(bench: Bench, agents: int, latency_s: float, max_page_size: int = TOOL_PAGE) -> Iterator[Sandbox]:
    errors = bench.root / f"sandbox-{agents}-{max_page_size}.err"
    box = Sandbox(bench.module, agents, latency_s, max_page_size, errors)
    try:
        yield box
    finally:
        box.stop()


# ---------------------------------------------------------------------------------------------- report


@dataclass
class Bench:
    tool: Path
    module: str
    root: Path
    repeat: int
    startup_repeat: int
    latency_ms: float
    rss: bool
    quick: bool = False
    failures: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, what: str) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(what)
        return ok


def pages(agents: int, size: int) -> int:
    return max(1, math.ceil(agents / size))  # an empty list is still one (empty) page


def expected_counts(who: str, profile: str, scenario: str, agents: int, assignments: int = 0) -> dict[str, int]:
    """What one run must send. Tool: warm token cache (no login, no discovery); acd re-reads before a PUT, and
    reads the steered skill's ``assignments`` (in pages), its activity and its abandon summary for the short and
    the compliance (today) window."""
    counts = dict.fromkeys(KINDS, 0)
    if who == "naive":
        counts |= {"token": 1, "pages": pages(agents, NAIVE_PAGE), "get": 1, "put": 1}
        if profile == "acd":
            counts["discovery"] = 2
    else:
        counts |= {"pages": pages(agents, TOOL_PAGE), "get": 1}
        if profile == "acd":
            counts |= {"pool": pages(assignments, TOOL_PAGE) + 1, "abandon": 2}
        if scenario == "changed":
            counts |= {"put": 1, "get": 2 if profile == "acd" else 1}
    counts["total"] = sum(counts[k] for k in KINDS)
    return counts


def parse_json_line(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def tail(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:300] if lines else ""


# ---------------------------------------------------------------------------------------------- start-up


def bench_startup(bench: Bench) -> list[dict[str, Any]]:
    python, tool = sys.executable, str(bench.tool)
    baseline = Cmd("python -c 'import httpx'", [python, "-c", "import httpx"])
    complete_env = {"_CXONE_TUNE_COMPLETE": "complete_bash", "COMP_WORDS": "cxone-tune ru", "COMP_CWORD": "1"}
    commands: list[tuple[Cmd, Callable[[Proc], bool], float | None]] = [
        (Cmd("cxone-tune --version", [tool, "--version"]), lambda p: "cxone-tune" in p.stdout, STARTUP_TARGET),
        (Cmd("cxone-tune --help", [tool, "--help"]), lambda p: "run-once" in p.stdout, STARTUP_TARGET),
        (
            Cmd("Tab completion 'cxone-tune ru'", [tool], complete_env),
            lambda p: p.stdout.split() == ["run-once"],
            STARTUP_TARGET,
        ),
        (Cmd("python -c pass (reference)", [python, "-c", "pass"]), lambda p: True, None),
    ]
    run_process(baseline, bench.root, rss=False)  # warm-up of the baseline, not counted
    rows = []
    for cmd, ok, target in commands:
        a_ms: list[float] = []
        b_ms: list[float] = []
        ratios: list[float] = []
        if not bench.quick:
            run_process(cmd, bench.root, rss=False)  # warm-up, not counted
        for i in range(bench.startup_repeat):
            a = run_process(cmd, bench.root, rss=False)
            b = run_process(baseline, bench.root, rss=False)
            bench.check(
                a.code == 0 and ok(a),
                f"{cmd.label} #{i + 1}: exit {a.code}, stdout {a.stdout[:200]!r}, stderr {tail(a.stderr)!r}",
            )
            bench.check(b.code == 0, f"{baseline.label} #{i + 1}: exit {b.code}, stderr {tail(b.stderr)!r}")
            a_ms.append(a.wall_s * 1000)
            b_ms.append(b.wall_s * 1000)
            ratios.append(a.wall_s / b.wall_s)
        rows.append(
            {
                "label": cmd.label,
                "command": cmd.argv,
                "env": cmd.env,
                "baseline": baseline.label,
                "wall_ms": stats(a_ms, 2),
                "baseline_wall_ms": stats(b_ms, 2),
                "ratio": stats(ratios),
                "target": target,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------- cycles


def other_value(value: Any) -> Any:
    """A valid value the tool will have to change (both profiles accept 1 and 2)."""
    return 2 if value == 1 else 1


def check_cycle_run(
    bench: Bench, box: Sandbox, profile: str, label: str, name: str, proc: Proc, counts: dict[str, int], right: Any
) -> None:
    """One measured run: exit 0, exactly the expected requests, its own account of them, the value left."""
    who = "naive" if name == "naive" else "tool"
    expect = expected_counts(who, profile, name, box.agents, box.assignments())
    bench.check(proc.code == 0, f"{label}: exit {proc.code}: {tail(proc.stderr)}")
    bench.check(counts == expect, f"{label}: requests {counts}, expected {expect}")
    out = parse_json_line(proc.stdout if who == "tool" else tail(proc.stdout))
    if not bench.check(out is not None, f"{label}: no JSON on stdout: {proc.stdout[:200]!r}") or out is None:
        return
    now = box.value(profile)
    if who == "naive":
        said = out.get("requests")
        bench.check(said == counts["total"], f"{label}: the client says {said} requests, the log {counts['total']}")
        wrote = out.get("value")
        bench.check(now == wrote, f"{label}: the tenant holds {now!r}, the client wrote {wrote!r}")
        return
    if "requests" in out:
        said = out["requests"]
        bench.check(said == counts["total"], f"{label}: run-once says {said} requests, the log {counts['total']}")
    want = {"changed": name == "changed", "applied": name == "changed", "dry_run": False}
    got = {k: out.get(k) for k in want}
    bench.check(got == want, f"{label}: run-once JSON {got}, expected {want}")
    # steady: left as it was; changed: set back to the right value
    bench.check(now == right, f"{label}: the tenant holds {now!r} afterwards, expected {right!r}")


def bench_profile(bench: Bench, box: Sandbox, profile: str) -> list[dict[str, Any]]:
    agents = box.agents
    where = f"{profile}, {agents} agents"
    root = bench.root / f"{profile}-{agents}"
    root.mkdir()
    env = box.env(profile, root)
    tool = Cmd("cxone-tune run-once --json", [str(bench.tool), "run-once", "--json"], env)
    naive = Cmd(f"naive_client.py {profile}", [sys.executable, str(NAIVE_CLIENT), profile], env)

    # Warm-up (untimed): run-once logs in, fills the token cache and leaves the right value, which every
    # steady run starts from.
    warm = run_process(tool, root, rss=False)
    if not bench.check(warm.code == 0, f"{where}: warm-up run-once exit {warm.code}: {tail(warm.stderr)}"):
        return []
    right = box.value(profile)
    if not bench.quick:
        run_process(naive, root, rss=False)  # warm-up of the baseline (page cache, bytecode)

    samples: dict[str, list[tuple[Proc, dict[str, int]]]] = {"steady": [], "changed": [], "naive": []}
    rounds = (("steady", tool, right), ("naive", naive, right), ("changed", tool, other_value(right)))
    # Rounds of three, interleaved: steady run-once, naive, changed run-once. Each ratio is taken against
    # the naive run of the same round.
    for i in range(bench.repeat):
        for name, cmd, start in rounds:
            box.set_value(profile, start)  # untimed set-up: the value the run starts from
            box.clear_log()
            proc = run_process(cmd, root, rss=bench.rss)
            counts = count_kinds(box.log())
            samples[name].append((proc, counts))
            check_cycle_run(bench, box, profile, f"{where}, {name} #{i + 1}", name, proc, counts, right)

    rows = []
    naive_runs = samples["naive"]
    for name in SCENARIOS:
        runs = samples[name]
        pairs = list(zip(runs, naive_runs, strict=True))
        tool_counts, naive_counts = runs[0][1], naive_runs[0][1]
        rss_pairs = [(a.rss_kib, b.rss_kib) for (a, _), (b, _) in pairs if a.rss_kib and b.rss_kib]
        rows.append(
            {
                "profile": profile,
                "agents": agents,
                "latency_ms": bench.latency_ms,
                "scenario": name,
                "tool": {
                    "command": tool.argv,
                    "requests": tool_counts,
                    "requests_expected": expected_counts("tool", profile, name, agents, box.assignments()),
                    "wall_ms": stats([p.wall_s * 1000 for p, _ in runs], 1),
                    "cpu_ms": stats([p.cpu_s * 1000 for p, _ in runs], 1),
                    "rss_kib": stats([p.rss_kib for p, _ in runs if p.rss_kib], 0),
                },
                "naive": {
                    "command": naive.argv,
                    "requests": naive_counts,
                    "requests_expected": expected_counts("naive", profile, name, agents),
                    "wall_ms": stats([p.wall_s * 1000 for p, _ in naive_runs], 1),
                    "cpu_ms": stats([p.cpu_s * 1000 for p, _ in naive_runs], 1),
                    "rss_kib": stats([p.rss_kib for p, _ in naive_runs if p.rss_kib], 0),
                },
                "ratio": {
                    "requests": round(tool_counts["total"] / naive_counts["total"], 4),
                    "wall": stats([a.wall_s / b.wall_s for (a, _), (b, _) in pairs]),
                    "cpu": stats([a.cpu_s / b.cpu_s for (a, _), (b, _) in pairs if b.cpu_s > 0]),
                    "rss": stats([a / b for a, b in rss_pairs]),
                },
                "target": CYCLE_TARGETS.get(agents) if name == "steady" else None,
                "rss_target_mib": RSS_TARGETS_MIB.get((profile, agents)) if name == "steady" else None,
            }
        )
    return rows


def bench_cycles(bench: Bench, agent_counts: Sequence[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for agents in agent_counts:
        with sandbox(bench, agents, bench.latency_ms / 1000) as box:
            for profile in PROFILES:
                rows += bench_profile(bench, box, profile)
    return rows


# ---------------------------------------------------------------------------------------------- capped acd


def bench_capped(bench: Bench, agents: int, latency_ms: float, repeat: int) -> dict[str, Any]:
    """acd with `top` capped at 100 by the tenant: whole run-once --dry-run processes vs pages x latency."""
    where = f"acd capped, {agents} agents"
    root = bench.root / f"capped-{agents}"
    root.mkdir()
    expect_pages = pages(agents, CAPPED_TOP)
    bound_s = expect_pages * latency_ms / 1000
    with sandbox(bench, agents, latency_ms / 1000, max_page_size=CAPPED_TOP) as box:
        env = box.env("acd", root) | {"CXONE_PAGE_SIZE": str(CAPPED_TOP)}
        cmd = Cmd("cxone-tune run-once --dry-run --json", [str(bench.tool), "run-once", "--dry-run", "--json"], env)
        warm = run_process(cmd, root, rss=False)  # logs in, fills the token cache
        bench.check(warm.code == 0, f"{where}: warm-up exit {warm.code}: {tail(warm.stderr)}")
        before = box.value("acd")
        runs: list[Proc] = []
        counts: dict[str, int] = {}
        in_flight: list[int] = []
        for i in range(repeat):
            box.clear_log()
            proc = run_process(cmd, root, rss=bench.rss)
            state = box.state()
            counts = count_kinds(state["requests"])
            # the most agents pages the sandbox served at once (a sandbox without the count: none)
            in_flight += [state["inFlightPeak"].get("agents list", 0)] if "inFlightPeak" in state else []
            runs.append(proc)
            label = f"{where}, #{i + 1}"
            bench.check(proc.code == 0, f"{label}: exit {proc.code}: {tail(proc.stderr)}")
            bench.check(counts["pages"] == expect_pages, f"{label}: {counts['pages']} pages, expected {expect_pages}")
            bench.check(counts["put"] == 0, f"{label}: --dry-run sent {counts['put']} PUT(s)")
            bench.check(counts["token"] == 0, f"{label}: logged in again with a warm token cache")
        after = box.value("acd")
        bench.check(after == before, f"{where}: --dry-run changed the value from {before!r} to {after!r}")
    walls = [p.wall_s for p in runs]
    return {
        "profile": "acd",
        "agents": agents,
        "latency_ms": latency_ms,
        "top": CAPPED_TOP,
        "command": cmd.argv,
        "pages": counts.get("pages"),
        "expected_pages": expect_pages,
        "requests": counts,
        "sequential_bound_s": round(bound_s, 4),
        "pages_in_flight_peak": max(in_flight) if in_flight else None,
        "wall_ms": stats([w * 1000 for w in walls], 1),
        "cpu_ms": stats([p.cpu_s * 1000 for p in runs], 1),
        "rss_kib": stats([p.rss_kib for p in runs if p.rss_kib], 0),
        "ratio": stats([w / bound_s for w in walls]),
        "target": CAPPED_TARGET,
    }


# ---------------------------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned plain text: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def verdict(ratio: dict[str, Any], target: float | None) -> str:
    if target is None or ratio["median"] is None:
        return ""
    return f"<= {target:g}: {'met' if ratio['median'] <= target else 'NOT met'}"


def rss_verdict(rss_kib: dict[str, Any], target_mib: float | None) -> str:
    if target_mib is None or rss_kib["median"] is None:
        return ""
    met = rss_kib["median"] / 1024 <= target_mib
    return f"RSS <= {target_mib:g} MiB: {'met' if met else 'NOT met'}"


def mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def to_text(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        f"{report['tool_version']} whole-process benchmark, {report['date']}: {m['cpus']} CPU(s), "
        f"load average {m['loadavg']} at the start, Python {m['python']}, {m['platform']}",
        f"Sandbox tenant in its own process on 127.0.0.1 ({report['sandbox_module']}). Pairs run in turn A B A B "
        "after one untimed warm-up each (none with --quick);",
        "ratios are A/B taken pair by pair; figures are median [min-max].",
        "",
        f"Start-up: wall time of whole processes vs python -c 'import httpx' ({report['startup_repeat']} pairs each)",
    ]
    rows = [
        [
            r["label"],
            fmt_spread(r["wall_ms"], spec=".1f"),
            fmt_spread(r["baseline_wall_ms"], spec=".1f"),
            fmt_spread(r["ratio"]),
            verdict(r["ratio"], r["target"]),
        ]
        for r in report["startup"]
    ]
    out += table(["command", "ms", "import httpx ms", "ratio", "target"], rows)
    out += [
        "",
        f"run-once vs the naive client (bench/naive_client.py: new token, {NAIVE_PAGE} per page, always PUT), "
        f"whole processes, latency {report['latency_ms']:g} ms/request, {report['repeat']} rounds each.",
        "steady = warm token cache, value already right (the normal cron tick); changed = warm cache, another "
        "writer changed the value.",
        f"Requests from the sandbox's log (tool/naive); peak RSS by {report['rss_method']}.",
    ]
    rows = []
    for r in report["cycles"]:
        t, n, q = r["tool"], r["naive"], r["ratio"]
        rows.append(
            [
                r["profile"],
                f"{r['agents']:,}",
                r["scenario"],
                f"{t['requests']['total']}/{n['requests']['total']}",
                f"{q['requests']:.3f}",
                f"{t['wall_ms']['median']:.0f}/{n['wall_ms']['median']:.0f}",
                fmt_spread(q["wall"]),
                f"{mib(t['rss_kib']['median'])}/{mib(n['rss_kib']['median'])}",
                fmt_spread(q["rss"]),
                "; ".join(
                    v
                    for v in (verdict(q["wall"], r["target"]), rss_verdict(t["rss_kib"], r.get("rss_target_mib")))
                    if v
                ),
            ]
        )
    out += table(
        [
            "profile", "agents", "scenario", "requests", "ratio", "wall ms", "wall ratio",
            "RSS MiB", "RSS ratio", "target (steady: wall ratio, RSS)",
        ],
        rows,
        left=3,
    )  # fmt: skip
    c = report.get("capped")
    if c:
        out += [
            "",
            f"acd, top capped at {c['top']} (tenant's largest top and CXONE_PAGE_SIZE), {c['agents']:,} agents, "
            f"{c['latency_ms']:g} ms latency: whole `run-once --dry-run` processes ({c['wall_ms']['n']} runs)",
            f"  agent pages: {c['pages']} (expected exactly {c['expected_pages']}); requests {c['requests']['total']}; "
            f"at most {c.get('pages_in_flight_peak', '?')} pages served at once (the sandbox's count)",
            f"  wall: {fmt_spread(c['wall_ms'], 1 / 1000, '.3f')} s; sequential bound {c['expected_pages']} pages x "
            f"{c['latency_ms']:g} ms = {c['sequential_bound_s']:.3f} s",
            f"  ratio to the bound: {fmt_spread(c['ratio'])}  (target {verdict(c['ratio'], c['target'])}); "
            f"peak RSS {mib(c['rss_kib']['median'])} MiB",
        ]
    out.append("")
    if report["failures"]:
        out.append(f"CHECKS FAILED ({len(report['failures'])} of {report['checks']}):")
        out += [f"  - {f}" for f in report["failures"]]
    else:
        out.append(
            f"All {report['checks']} checks passed: every process exited 0 and sent exactly the expected requests "
            "(sandbox log == its own count), run-once's JSON said what happened, and the tenant held the right value."
        )
    out.append(f"Total benchmark time: {report['elapsed_s']:.1f} s")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return value


def agent_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(not 1 <= v <= 1_000_000 for v in values):
        raise argparse.ArgumentTypeError("agent counts must be between 1 and 1,000,000")
    return values


def agent_count(text: str) -> int:
    values = agent_list(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one agent count, got {text!r}")
    return values[0]


def latency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 0 and 1000 ms")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Whole-process benchmark of cxone-tune vs a naive client, side by side.")
    p.add_argument("--quick", action="store_true", help="small tenants and few repeats (about 15 s)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--render", type=Path, metavar="FILE", help="print the tables of a saved --json report, run nothing")
    p.add_argument("--agents", type=agent_list, help="comma-separated agent counts (default 1000,10000,100000)")
    p.add_argument("--repeat", type=positive_int, help="rounds per cycle measurement (default 5; quick 1)")
    p.add_argument("--startup-repeat", type=positive_int, help="pairs per start-up command (default 10; quick 2)")
    p.add_argument("--latency-ms", type=latency, default=3.0, help="sandbox latency per request (default 3)")
    p.add_argument(
        "--capped-agents", type=agent_count, help="agents of the capped acd case (default 30000, quick 2000)"
    )
    p.add_argument("--capped-latency-ms", type=latency, help="latency of the capped acd case (default 20; quick 2)")
    p.add_argument("--capped-repeat", type=positive_int, help="runs of the capped acd case (default 5; quick 1)")
    p.add_argument("--no-capped", action="store_true", help="skip the capped acd case")
    p.add_argument("--tool", type=Path, help="the cxone-tune console script (default: beside this Python)")
    p.add_argument("--sandbox-module", default=SANDBOX_MODULE, help=f"the sandbox's package (default {SANDBOX_MODULE})")
    return p.parse_args(argv)


def find_tool(given: Path | None) -> Path:
    if given is not None:
        return given
    beside = Path(sys.executable).parent / "cxone-tune"
    if beside.exists():
        return beside
    found = shutil.which("cxone-tune")
    if found is None:
        raise BenchError("no cxone-tune console script beside this Python or on PATH (pass --tool)")
    return Path(found)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark: the report as a JSON-ready dict."""
    quick = bool(args.quick)
    tool = find_tool(args.tool)
    if not tool.exists():
        raise BenchError(f"--tool {tool} does not exist")
    rss = Path(TIME_BIN).exists()
    capped_agents = args.capped_agents or (2_000 if quick else 30_000)
    capped_latency = args.capped_latency_ms if args.capped_latency_ms is not None else (2.0 if quick else 20.0)
    started = time.perf_counter()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="cxone-bench-") as tmp:
        bench = Bench(
            tool=tool,
            module=args.sandbox_module,
            root=Path(tmp),
            repeat=args.repeat or (1 if quick else 5),
            startup_repeat=args.startup_repeat or (2 if quick else 10),
            latency_ms=float(args.latency_ms),
            rss=rss,
            quick=quick,
        )
        version = run_process(Cmd("version", [str(tool), "--version"]), bench.root, rss=False).stdout.strip()
        startup = bench_startup(bench)
        cycles = bench_cycles(bench, args.agents or (QUICK_AGENTS if quick else FULL_AGENTS))
        capped = (
            None
            if args.no_capped
            else bench_capped(bench, capped_agents, capped_latency, args.capped_repeat or (1 if quick else 5))
        )
    return {
        "bench": "whole processes, side by side",
        "date": date,
        "tool_version": version or "cxone-tune (version unknown)",
        "tool": str(tool),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg": loadavg,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": quick,
        "sandbox_module": bench.module,
        "latency_ms": bench.latency_ms,
        "repeat": bench.repeat,
        "startup_repeat": bench.startup_repeat,
        "rss_method": f"{TIME_BIN} -f %M" if rss else "unavailable (no /usr/bin/time)",
        "bench_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "startup": startup,
        "cycles": cycles,
        "capped": capped,
        "checks": bench.checks,
        "failures": bench.failures,
        "ok": not bench.failures,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.render is not None:
            try:
                report = json.loads(args.render.read_text())
                text = to_text(report)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise BenchError(
                    f"--render {args.render}: not a saved --json report ({type(exc).__name__}: {exc})"
                ) from None
            print(text)
            return 0
        report = run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else to_text(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
