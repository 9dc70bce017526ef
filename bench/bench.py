# (src/cxone_tune has no py.typed marker, so `mypy bench` alone sees the package as untyped; the
# project-wide `mypy`, as CI runs it, checks this file against the real types.)
"""Benchmark of the cxone-tune cycle against the local sandbox tenant (127.0.0.1 only).

Run from the repository root:

    .venv/bin/python bench/bench.py [--latency-ms 3] [--agents 100,1000,10000] [--repeat 5] [--json]

For every agent count it starts a sandbox tenant and server in this process and drives the library
(``cycle.Job.from_settings``, then ``job.open()`` + ``cycle.run_once``), not the CLI. Requests are counted
twice, by the sandbox's own request log and by the client's ``ApiClient.stats``, and the two must agree. It
also times process start (``cxone-tune --help`` and ``import cxone_tune.cli``) in subprocesses and reports peak RSS.

Exit status: 0 when every check passed, 1 when a check failed (the report is printed either way),
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxone_sandbox import (
    AGENTS_PATH,
    CAMPAIGNS_PREFIX,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune import __version__
from cxone_tune.cycle import Job, run_once
from cxone_tune.demo import sandbox_settings
from cxone_tune.policy import PolicyParams, decide
from cxone_tune.settings import ENV_PREFIX, Settings

TOKEN_PATH = "/oauth/token"
MAX_AGENTS = 200_000
MAX_REPEAT = 50
MAX_LATENCY_MS = 1000.0
SUBPROCESS_TIMEOUT = 60.0  # seconds; one hung child must not hang the benchmark
PAGES_CHECK_AGENTS = 10_000
PAGES_CHECK_MAX = 10
CATEGORIES = ("token", "pages", "get", "put", "other")
SCENARIOS = ("cold", "warm unchanged", "warm changed")


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Counts:
    """Requests of one cycle, by kind."""

    token: int = 0
    pages: int = 0
    get: int = 0
    put: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.token + self.pages + self.get + self.put + self.other

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in CATEGORIES} | {"total": self.total}

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


@dataclass(frozen=True)
class Sample:
    """One measured cycle."""

    wall_ms: float  # job.open() (new client) + run_once + close
    run_once_ms: float  # run_once alone
    sandbox: Counts  # from the sandbox's request log
    client: int  # ApiClient.stats.requests: every request the client put on the wire
    result_requests: int  # CycleResult.requests
    changed: bool
    applied: bool


@dataclass
class Scenario:
    name: str
    expected: Counts
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> list[float]:
        return [s.wall_ms for s in self.samples]

    def run_once(self) -> list[float]:
        return [s.run_once_ms for s in self.samples]

    def totals(self, source: str) -> list[int]:
        return [s.sandbox.total if source == "sandbox" else s.client for s in self.samples]


@dataclass
class AgentRun:
    agents: int
    available: int
    limit: int
    pages: int  # expected pages at the page size used
    scenarios: list[Scenario] = field(default_factory=list)


@dataclass(frozen=True)
class Timing:
    label: str
    command: list[str]
    ms: list[float]


@dataclass
class Report:
    latency_ms: float
    repeat: int
    page_size: int
    runs: list[AgentRun] = field(default_factory=list)
    pages_check: dict[str, Any] = field(default_factory=dict)
    startup: list[Timing] = field(default_factory=list)
    peak_rss_kib: int = 0
    import_rss_kib: int | None = None  # VmHWM of a fresh process that only imports cxone_tune.cli
    load: dict[str, Any] = field(default_factory=dict)  # one run-once process against a large tenant
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


# ---------------------------------------------------------------------------------------------- helpers


def median_min(values: Sequence[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def expected_pages(agents: int, page_size: int) -> int:
    return max(1, math.ceil(agents / page_size))  # an empty list is still one (empty) page


def sandbox_counts(tenant: SandboxTenant) -> Counts:
    token = tenant.count("POST", TOKEN_PATH)
    pages = tenant.count("GET", AGENTS_PATH)
    get = tenant.count("GET", CAMPAIGNS_PREFIX)
    put = tenant.count("PUT", CAMPAIGNS_PREFIX)
    total = tenant.count()
    return Counts(token, pages, get, put, total - token - pages - get - put)


def policy_params_v2(settings: Settings) -> PolicyParams:
    params = Job.from_settings(settings).params
    assert isinstance(params, PolicyParams)  # the v2 profile steers a line count
    return params


def make_settings(url: str, cache: Path, page_size: int) -> Settings:
    return sandbox_settings("v2", url, cache, page_size=page_size)


def set_limit(tenant: SandboxTenant, value: int) -> None:
    """Another writer sets rules.maxConcurrentCalls (the version is bumped, as the real API would)."""

    def mutate(campaign: dict[str, Any]) -> None:
        campaign["rules"]["maxConcurrentCalls"] = value

    tenant.edit_campaign(DEFAULT_CAMPAIGN_ID, mutate)


def stored_limit(tenant: SandboxTenant) -> int:
    return int(tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"])


def measure_cycle(tenant: SandboxTenant, settings: Settings, *, dry_run: bool = False) -> Sample:
    job = Job.from_settings(settings)  # once per run, as the CLI does; not part of the timed cycle
    tenant.reset_counts()
    started = time.perf_counter()
    with job.open() as profile:
        before = time.perf_counter()
        result = run_once(job, profile, dry_run=dry_run)
        after = time.perf_counter()
        client_total = profile.client.stats.requests
    ended = time.perf_counter()
    return Sample(
        wall_ms=(ended - started) * 1000,
        run_once_ms=(after - before) * 1000,
        sandbox=sandbox_counts(tenant),
        client=client_total,
        result_requests=result.requests,
        changed=result.apply.changed,
        applied=result.apply.applied,
    )


def check_sample(report: Report, where: str, sample: Sample, expected: Counts, *, applied: bool) -> None:
    fail = report.failures.append
    if sample.sandbox.total != sample.client:
        fail(f"{where}: sandbox log ({sample.sandbox.describe()}) != client stats ({sample.client} requests)")
    if sample.result_requests != sample.client:
        fail(f"{where}: CycleResult.requests={sample.result_requests} != client stats total {sample.client}")
    if sample.sandbox != expected:
        fail(f"{where}: requests {sample.sandbox.describe()}; expected {expected.describe()}")
    if sample.applied != applied:
        fail(f"{where}: applied={sample.applied}, expected {applied}")


# ---------------------------------------------------------------------------------------------- cycles


@contextmanager
def sandbox(agents: int, latency_s: float) -> Iterator[tuple[SandboxTenant, str]]:
    tenant = SandboxTenant(agents=agents, seed=1, latency=latency_s)
    with SandboxServer(tenant).start() as server:
        yield tenant, server.url


def bench_agents(report: Report, agents: int, params: PolicyParams, root: Path) -> AgentRun:
    repeat, page_size = report.repeat, report.page_size
    with sandbox(agents, report.latency_ms / 1000) as (tenant, url):
        available = tenant.available_agents()
        limit = int(decide(available, agents, params).limit)
        # A value the cycle will have to change: one step away from the decision, inside the bounds.
        other = limit - 1 if limit > max(params.min_limit, tenant.min_limit) else limit + 1
        pages = expected_pages(agents, page_size)
        run = AgentRun(agents, available, limit, pages)

        cold = Scenario("cold", Counts(token=1, pages=pages, get=1, put=1))
        unchanged = Scenario("warm unchanged", Counts(pages=pages, get=1))
        changed = Scenario("warm changed", Counts(pages=pages, get=1, put=1))
        run.scenarios = [cold, unchanged, changed]

        # Cold: a fresh, empty token cache directory each time, and a value that must be changed.
        for i in range(repeat):
            cache = root / f"n{agents}-cold-{i}"
            cache.mkdir()
            settings = make_settings(url, cache, page_size)
            set_limit(tenant, other)
            sample = measure_cycle(tenant, settings)
            check_sample(report, f"{agents} agents, cold #{i + 1}", sample, cold.expected, applied=True)
            cold.samples.append(sample)

        # Warm: one cache directory, primed by one untimed cycle, so every timed cycle reuses the token.
        warm_cache = root / f"n{agents}-warm"
        warm_cache.mkdir()
        settings = make_settings(url, warm_cache, page_size)
        measure_cycle(tenant, settings)
        for i in range(repeat):
            sample = measure_cycle(tenant, settings)
            check_sample(report, f"{agents} agents, warm unchanged #{i + 1}", sample, unchanged.expected, applied=False)
            unchanged.samples.append(sample)
        for i in range(repeat):
            set_limit(tenant, other)
            sample = measure_cycle(tenant, settings)
            check_sample(report, f"{agents} agents, warm changed #{i + 1}", sample, changed.expected, applied=True)
            changed.samples.append(sample)
        if stored_limit(tenant) != limit:
            report.failures.append(f"{agents} agents: campaign holds {stored_limit(tenant)}, expected {limit}")
    return run


def check_pages(report: Report, root: Path) -> None:
    """10,000 agents at the default page size must take at most 10 pages."""
    measured = next((r for r in report.runs if r.agents == PAGES_CHECK_AGENTS), None)
    if measured is not None:
        pages = measured.scenarios[0].samples[0].sandbox.pages
        source = "measured above"
    else:
        with sandbox(PAGES_CHECK_AGENTS, 0.0) as (tenant, url):
            cache = root / "pages-check"
            cache.mkdir()
            sample = measure_cycle(tenant, make_settings(url, cache, report.page_size), dry_run=True)
            pages = sample.sandbox.pages
            source = "separate dry-run cycle, no latency"
    ok = pages <= PAGES_CHECK_MAX
    report.pages_check = {
        "agents": PAGES_CHECK_AGENTS,
        "page_size": report.page_size,
        "pages": pages,
        "limit": PAGES_CHECK_MAX,
        "ok": ok,
        "source": source,
    }
    if not ok:
        report.failures.append(f"{PAGES_CHECK_AGENTS} agents took {pages} pages (> {PAGES_CHECK_MAX})")


# ---------------------------------------------------------------------------------------------- startup


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)} | {"NO_COLOR": "1"}


def time_command(report: Report, label: str, command: list[str], cwd: Path) -> Timing:
    times: list[float] = []
    env = clean_env()
    for _ in range(report.repeat):
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=SUBPROCESS_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            report.failures.append(f"{label}: {type(exc).__name__}: {exc}")
            break
        times.append((time.perf_counter() - started) * 1000)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            report.failures.append(f"{label}: exit status {proc.returncode}: {tail[0]}")
            break
    return Timing(label, command, times)


# ru_maxrss of a child (RUSAGE_CHILDREN) is useless here: Linux carries the parent's high-water mark
# across fork/vfork + exec, so it reports this process's own peak. VmHWM belongs to the new address
# space that exec creates, so the child reads its own.
RSS_PROBE = (
    "import pathlib, cxone_tune.cli\n"
    "for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
    "    if line.startswith('VmHWM:'):\n"
    "        print(line.split()[1])\n"
)


def measure_import_rss(report: Report, cwd: Path) -> None:
    if not Path("/proc/self/status").exists():
        return  # not Linux: leave it unreported
    try:
        proc = subprocess.run(
            [sys.executable, "-c", RSS_PROBE],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        report.failures.append(f"import RSS probe: {type(exc).__name__}: {exc}")
        return
    text = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0 or not text.isdigit():
        report.failures.append(f"import RSS probe: exit status {proc.returncode}, output {text!r}")
        return
    report.import_rss_kib = int(text)


def bench_startup(report: Report, cwd: Path) -> None:
    python = sys.executable
    script = str(Path(python).parent / "cxone-tune")
    for label, command in (
        ("python -c pass (baseline)", [python, "-c", "pass"]),
        ("python -c 'import cxone_tune.cli'", [python, "-c", "import cxone_tune.cli"]),
        ("cxone-tune --help", [script, "--help"]),
    ):
        report.startup.append(time_command(report, label, command, cwd))
    measure_import_rss(report, cwd)


# The child reports its own peak RSS as it exits, from /proc/self/status VmHWM: it cannot be read once the
# process is gone, and ru_maxrss (SELF or CHILDREN) keeps this bigger process's high-water mark across
# fork and exec.
LOAD_PROBE = (
    "import atexit, re, sys\n"
    "def hwm():\n"
    "    text = open('/proc/self/status').read()\n"
    "    sys.stderr.write('RSS_KIB=%s\\n' % re.search(r'VmHWM:\\s+(\\d+)', text).group(1))\n"
    "atexit.register(hwm)\n"
    "from cxone_tune.cli import main\n"
    "sys.argv = ['cxone-tune', 'run-once', '--json']\n"
    "main()\n"
)


def bench_load(report: Report, agents: int, root: Path) -> None:
    """One cron-style run-once process against a tenant of ``agents``: pages, requests, wall time, peak RSS."""
    with sandbox(agents, report.latency_ms / 1000) as (tenant, url):
        cache = root / f"load-{agents}"
        cache.mkdir()
        settings = make_settings(url, cache, report.page_size)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)},
            "CXONE_API": "v2",
            "CXONE_TENANT_URL": url,
            "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
            "CXONE_CACHE_DIR": str(settings.resolved_cache_dir()),
            "CXONE_STATE_DIR": str(root / f"load-state-{agents}"),
        }
        tenant.reset_counts()
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", LOAD_PROBE],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        wall = time.perf_counter() - started
        rss = [int(line.split("=", 1)[1]) for line in proc.stderr.splitlines() if line.startswith("RSS_KIB=")]
        pages = tenant.count("GET", AGENTS_PATH)
        expected = expected_pages(agents, report.page_size)
        report.load = {
            "agents": agents,
            "exit_code": proc.returncode,
            "pages": pages,
            "expected_pages": expected,
            "requests": tenant.count(),
            "wall_ms": round(wall * 1000, 1),
            "peak_rss_kib": rss[0] if rss else None,
        }
        if proc.returncode != 0 or pages != expected or not rss:
            report.failures.append(f"load run ({agents} agents): {report.load}, stderr {proc.stderr[-300:]!r}")


# ---------------------------------------------------------------------------------------------- output


def to_json(report: Report) -> dict[str, Any]:
    def stats(values: Sequence[float]) -> dict[str, Any]:
        if not values:
            return {"median": None, "min": None, "samples": []}
        med, low = median_min(values)
        return {"median": round(med, 3), "min": round(low, 3), "samples": [round(v, 3) for v in values]}

    return {
        "tool": f"cxone-tune {__version__}",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "latency_ms": report.latency_ms,
        "repeat": report.repeat,
        "page_size": report.page_size,
        "runs": [
            {
                "agents": run.agents,
                "available": run.available,
                "limit": run.limit,
                "expected_pages": run.pages,
                "scenarios": {
                    sc.name: {
                        "requests_sandbox": sc.samples[0].sandbox.as_dict(),
                        "requests_client": sc.samples[0].client,
                        "requests_expected": sc.expected.as_dict(),
                        "requests_total_per_sample": sc.totals("sandbox"),
                        "wall_ms": stats(sc.wall()),
                        "run_once_ms": stats(sc.run_once()),
                    }
                    for sc in run.scenarios
                },
            }
            for run in report.runs
        ],
        "pages_check": report.pages_check,
        "startup_ms": {t.label: stats(t.ms) for t in report.startup},
        "peak_rss_kib": report.peak_rss_kib,
        "import_rss_kib": report.import_rss_kib,
        "load": report.load,
        "failures": report.failures,
        "ok": not report.failures,
        "elapsed_s": round(report.elapsed_s, 2),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned plain text: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def spread(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def to_text(report: Report) -> str:
    out: list[str] = []
    out.append(
        f"cxone-tune {__version__} benchmark: sandbox on 127.0.0.1, latency {report.latency_ms:g} ms/request, "
        f"repeat {report.repeat}, page size {report.page_size}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s)"
    )
    out.append("")
    out.append(
        "Cycles: requests per cycle by kind, from the sandbox's log; 'total' = sandbox log total, "
        "'client' = ApiClient.stats total,\n'expect' = what the cycle should cost. Times in ms: 'wall' = "
        "job.open() (new HTTP client) + run_once + close; 'run_once' = run_once alone."
    )
    rows: list[list[str]] = []
    for run in report.runs:
        for sc in run.scenarios:
            first = sc.samples[0].sandbox
            wall_med, wall_min = median_min(sc.wall())
            once_med, _ = median_min(sc.run_once())
            rows.append(
                [
                    f"{run.agents}",
                    sc.name,
                    str(first.token),
                    str(first.pages),
                    str(first.get),
                    str(first.put),
                    str(first.other),
                    spread(sc.totals("sandbox")),
                    spread(sc.totals("client")),
                    str(sc.expected.total),
                    f"{wall_med:.1f}",
                    f"{wall_min:.1f}",
                    f"{once_med:.1f}",
                ]
            )
    headers = [
        "agents", "scenario", "token", "pages", "GET", "PUT", "other",
        "total", "client", "expect", "wall med", "wall min", "run_once med",
    ]  # fmt: skip
    out.extend(table(headers, rows, left=2))
    out.append("")
    pc = report.pages_check
    if pc:
        verdict = "OK" if pc["ok"] else "FAIL"
        out.append(
            f"Pages at the default page size: {pc['agents']} agents -> {pc['pages']} page(s) at pageSize "
            f"{pc['page_size']} (limit {pc['limit']}): {verdict} [{pc['source']}]"
        )
        out.append("")
    out.append(f"Process start (ms, {report.repeat} runs each, subprocess wall time)")
    start_rows = []
    for t in report.startup:
        if t.ms:
            med, low = median_min(t.ms)
            start_rows.append([t.label, f"{med:.1f}", f"{low:.1f}", str(len(t.ms))])
        else:
            start_rows.append([t.label, "-", "-", "0"])
    out.extend(table(["command", "median", "min", "runs"], start_rows))
    out.append("")
    out.append(
        f"Peak RSS of this process after all cycles (sandbox included): {report.peak_rss_kib} KiB "
        f"({report.peak_rss_kib / 1024:.1f} MiB)"
    )
    if report.import_rss_kib is not None:
        out.append(
            f"Peak RSS of a fresh process that imports cxone_tune.cli (VmHWM): {report.import_rss_kib} KiB "
            f"({report.import_rss_kib / 1024:.1f} MiB)"
        )
    if report.load:
        load = report.load
        rss = load["peak_rss_kib"]
        out.append(
            f"Load: one `cxone-tune run-once` process against {load['agents']} agents: exit {load['exit_code']}, "
            f"{load['pages']} page(s) (expected {load['expected_pages']}), {load['requests']} request(s), "
            f"{load['wall_ms']:.0f} ms, peak RSS {rss} KiB ({(rss or 0) / 1024:.1f} MiB)"
        )
    out.append("")
    if report.failures:
        out.append(f"CHECKS FAILED ({len(report.failures)}):")
        out.extend(f"  - {f}" for f in report.failures)
    else:
        out.append(
            "All checks passed: sandbox log == client stats == CycleResult.requests for every cycle, "
            "and every cycle made exactly the expected requests."
        )
    out.append(f"Total benchmark time: {report.elapsed_s:.1f} s")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main


def parse_agents(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(not 0 <= v <= MAX_AGENTS for v in values):
        raise argparse.ArgumentTypeError(f"agent counts must be between 0 and {MAX_AGENTS}")
    return values


def bounded(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the cxone-tune cycle against the local sandbox.")
    parser.add_argument(
        "--latency-ms", type=bounded(float, 0, MAX_LATENCY_MS), default=3.0, help="sandbox latency per request"
    )
    parser.add_argument("--agents", type=parse_agents, default=[100, 1000, 10_000], help="comma-separated agent counts")
    parser.add_argument("--repeat", type=bounded(int, 1, MAX_REPEAT), default=5, help="runs per measurement")
    parser.add_argument(
        "--load",
        type=bounded(int, 0, 1_000_000),
        default=100_000,
        help="agents for the one-process load run that reports peak RSS (0 skips it)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Settings read CXONE_* from the environment: a developer's own values must not skew the numbers.
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        del os.environ[name]
    page_size = int(Settings.model_fields["page_size"].default)
    report = Report(latency_ms=float(args.latency_ms), repeat=int(args.repeat), page_size=page_size)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cxone-bench-") as tmp:
        root = Path(tmp)
        params = policy_params_v2(make_settings("http://127.0.0.1:1", root, page_size))
        for agents in args.agents:
            report.runs.append(bench_agents(report, agents, params, root))
        check_pages(report, root)
        report.peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bench_startup(report, root)
        if args.load:
            bench_load(report, args.load, root)
    report.elapsed_s = time.perf_counter() - started
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print(to_text(report))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
