"""A large tenant: every page read, the expected number of them, and no agent list kept by the cycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cxone_sandbox import (
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune import cycle
from cxone_tune.demo import sandbox_settings

AGENTS = 100_000


@pytest.fixture(scope="module")
def big_server() -> Iterator[tuple[SandboxTenant, SandboxServer]]:
    tenant = SandboxTenant(agents=AGENTS, seed=3)
    with SandboxServer(tenant).start() as server:
        yield tenant, server


@pytest.mark.parametrize("api", ["v2", "acd"])
def test_run_once_on_100000_agents(big_server: tuple[SandboxTenant, SandboxServer], tmp_path: Path, api: str) -> None:
    tenant, server = big_server
    tenant.reset_counts()
    settings = sandbox_settings(api, server.url, tmp_path)
    if api == "v2":
        agents_path, available, counted = "/api/v2/realtime/agents", tenant.available_agents(), AGENTS
    else:
        agents_path, available = "/inContactAPI/services/v30.0/agents/states", tenant.pool_available(DEFAULT_SKILL_ID)
        counted = len(tenant.pool_agents(DEFAULT_SKILL_ID))  # the steered skill's pool, of the 100,000
    job = cycle.Job.from_settings(settings)
    with job.open() as profile:
        result = cycle.run_once(job, profile, dry_run=True)
    assert result.compute.snapshot.total == counted
    assert result.compute.pool is not None and result.compute.pool.tenant.total == AGENTS
    assert result.compute.decision.available == available
    assert tenant.count("GET", agents_path) == 100  # the default page size of 1000
    assert result.compute.snapshot.agents == []  # counts only: memory does not grow with the tenant
