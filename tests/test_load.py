"""A large tenant: every page read, the expected number of them, and no agent list kept by the cycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cxone_tune import cycle
from cxone_tune.sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune.settings import Settings

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
    common: dict[str, Any] = {
        "_env_file": None,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": SecretStr(DEFAULT_CLIENT_SECRET),
    }
    if api == "v2":
        settings = Settings(
            api="v2", tenant_url=server.url, campaign_id=DEFAULT_CAMPAIGN_ID, cache_dir=tmp_path, **common
        )
        agents_path, available = "/api/v2/realtime/agents", tenant.available_agents()
    else:
        settings = Settings(
            api="acd", issuer=server.url, access_key_id=DEFAULT_ACCESS_KEY_ID,
            access_key_secret=SecretStr(DEFAULT_ACCESS_KEY_SECRET), skill_id=DEFAULT_SKILL_ID, cache_dir=tmp_path,
            **common,
        )  # fmt: skip
        agents_path, available = "/inContactAPI/services/v30.0/agents/states", tenant.acd_available()
    with cycle.open_profile(settings) as profile:
        result = cycle.run_once(profile, cycle.policy_params(settings), dry_run=True)
    assert result.compute.snapshot.total == AGENTS
    assert result.compute.decision.available == available
    assert tenant.count("GET", agents_path) == 100  # the default page size of 1000
    assert result.compute.snapshot.agents == []  # counts only: memory does not grow with the tenant
