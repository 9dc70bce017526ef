"""Shared fixtures: a clean environment for every test, and a sandbox tenant on loopback."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from cxone_sandbox import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune.cli import app
from tests.harness import Harness, acd_harness, noon_zone, v2_harness

_OWN_VARS = ("CREDENTIALS_DIRECTORY", "CACHE_DIRECTORY", "STATE_DIRECTORY", "JOURNAL_STREAM", "NO_COLOR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's CXONE_* variables, .env, caches or home directory."""
    for name in list(os.environ):
        if name.startswith("CXONE_") or name in _OWN_VARS:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # so a .env in the repository is never read


@pytest.fixture
def tenant() -> SandboxTenant:
    return SandboxTenant(agents=40, seed=1)


@pytest.fixture
def server(tenant: SandboxTenant) -> Iterator[SandboxServer]:
    with SandboxServer(tenant).start() as srv:
        yield srv


# Plain HTTP on loopback only; one shared context spares each httpx.Client ~40 ms of CA loading.
SSL_CONTEXT = ssl.create_default_context()


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    """Raw HTTP to the sandbox, for the sandbox's own tests."""
    with httpx.Client(base_url=server.url, timeout=5.0, verify=SSL_CONTEXT) as c:
        yield c


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def v2_env(server: SandboxServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of an operator pointed at the sandbox; also set in os.environ for in-process runs."""
    env = {
        "CXONE_TENANT_URL": server.url,
        "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
        "CXONE_CACHE_DIR": str(cache_dir),
        # Keep failing runs quick: the retry rules themselves are tested in test_http.py.
        "CXONE_MAX_ATTEMPTS": "3",
        "CXONE_TIME_BUDGET": "20",
        "CXONE_RETRY_AFTER_CAP": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(params=["v2", "acd"])
def harness(
    request: pytest.FixtureRequest,
    tenant: SandboxTenant,
    server: SandboxServer,
    cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Harness:
    """One API profile pointed at the sandbox, with retries and timeouts kept short."""
    build = v2_harness if request.param == "v2" else acd_harness
    h = build(tenant, server.url, cache_dir)
    common = {
        "CXONE_CACHE_DIR": str(cache_dir),
        "CXONE_STATE_DIR": str(tmp_path / "state"),
        "CXONE_MAX_ATTEMPTS": "3",
        "CXONE_TIME_BUDGET": "20",
        "CXONE_RETRY_AFTER_CAP": "1",
        "CXONE_CONNECT_TIMEOUT": "2",
        "CXONE_READ_TIMEOUT": "5",
    }
    for name, value in {**h.env, **common}.items():
        monkeypatch.setenv(name, value)
    h.env.update(common)
    return h


@pytest.fixture
def acd_run(
    tenant: SandboxTenant, server: SandboxServer, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Harness:
    """The acd profile alone pointed at the sandbox, retries kept short, and the abandon guard's "today" in a
    zone where it is now about noon (calls logged minutes or hours ago are today's on any clock)."""
    h = acd_harness(tenant, server.url, cache_dir)
    env = {**h.env, "CXONE_CACHE_DIR": str(cache_dir), "CXONE_STATE_DIR": str(tmp_path / "state")}
    env |= {"CXONE_MAX_ATTEMPTS": "2", "CXONE_TIME_BUDGET": "20", "CXONE_RETRY_AFTER_CAP": "1"}
    env["CXONE_ABANDON_TIME_ZONE"] = noon_zone()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return h


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False); for what another thread does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class Cli:
    runner: CliRunner

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    """Runs the CLI in-process; ``result.stdout`` and ``result.stderr`` are kept apart."""
    return Cli(CliRunner())
