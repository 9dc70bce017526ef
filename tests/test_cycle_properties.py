"""Property: whatever the agent mix and the settings, what the cycle writes lies within the configured and
the tenant's bounds, and a value the tenant refuses leaves the stored resource as it was."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxone_sandbox import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune import cycle
from cxone_tune.demo import sandbox_settings
from cxone_tune.errors import FilterMatchesNothing, ValueRejected
from cxone_tune.settings import Settings

V2_STATES = ["available", "Available", "AVAILABLE", "in-progress", "wrap-up", "unavailable", "logged-out"]
ACD_STATES = ["Available", "Dialer", "Unavailable", "OutboundContact", "InboundContact", "LoggedOut", "ACW"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxTenant, SandboxServer, Path]]:
    # One tenant for every example (a server per example would dominate the run); each example sets it up.
    tenant = SandboxTenant(agents=0)
    with SandboxServer(tenant).start() as server:
        yield tenant, server, tmp_path_factory.mktemp("cache")


def _settings(server: SandboxServer, cache: Path, api: str, **policy: Any) -> Settings:
    return sandbox_settings(api, server.url, cache, page_size=7, **policy)  # several pages even for small mixes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(st.sampled_from(V2_STATES), max_size=60),
    factor=st.decimals(min_value=Decimal("0.01"), max_value=1, places=2),
    bounds=st.tuples(st.integers(1, 40), st.integers(1, 40)).map(sorted),
    tenant_bounds=st.tuples(st.integers(1, 40), st.integers(1, 40)).map(sorted),
    stored=st.integers(1, 40),
)
def test_v2_writes_only_values_within_both_bounds(
    shared: tuple[SandboxTenant, SandboxServer, Path],
    states: list[str],
    factor: Decimal,
    bounds: list[int],
    tenant_bounds: list[int],
    stored: int,
) -> None:
    tenant, server, cache = shared
    tenant.set_agent_states(states)
    tenant.min_limit, tenant.max_limit = tenant_bounds
    tenant.edit_campaign(DEFAULT_CAMPAIGN_ID, lambda c: c["rules"].__setitem__("maxConcurrentCalls", stored))
    before = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    config = _settings(server, cache, "v2", safety_factor=factor, min_limit=bounds[0], max_limit=bounds[1])
    job = cycle.Job.from_settings(config)
    with job.open() as profile:
        try:
            result = cycle.run_once(job, profile, dry_run=False)
        except ValueRejected:
            # The tenant refused: its bounds exclude the decision, and nothing was stored.
            assert tenant.campaign(DEFAULT_CAMPAIGN_ID) == before
            return
    written = tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"]
    assert written == result.apply.limit
    assert bounds[0] <= written <= bounds[1]
    assert written >= 1
    if result.apply.applied:
        assert tenant_bounds[0] <= written <= tenant_bounds[1]
    assert result.compute.decision.available == sum(1 for s in states if s.lower() == "available")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(st.sampled_from(ACD_STATES), max_size=60),
    ratio_bounds=st.tuples(st.sampled_from(["1.0", "1.2", "1.5", "2.0"]), st.sampled_from(["1.5", "2.0", "3.0"])),
    tenant_max=st.sampled_from([1.0, 1.5, 2.0, 5.0]),
    stored=st.sampled_from([1, 1.5, 2, 2.5]),
)
def test_acd_writes_only_ratios_within_both_bounds(
    shared: tuple[SandboxTenant, SandboxServer, Path],
    states: list[str],
    ratio_bounds: tuple[str, str],
    tenant_max: float,
    stored: float,
) -> None:
    low, high = sorted(Decimal(b) for b in ratio_bounds)
    tenant, server, cache = shared
    tenant.set_acd_agents(states)
    tenant.max_ratio = tenant_max
    tenant.edit_skill_settings(DEFAULT_SKILL_ID, lambda s: s.__setitem__("maximumRatio", stored))
    before = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
    # a minimum above 1.0 contradicts the abandon guard's progressive pace (refused with it on: test_bad_input)
    config = _settings(server, cache, "acd", min_ratio=low, max_ratio=high, abandon_guard=low <= 1)
    job = cycle.Job.from_settings(config)
    with job.open() as profile:
        try:
            result = cycle.run_once(job, profile, dry_run=False)
        except ValueRejected:
            assert tenant.skill_settings_copy(DEFAULT_SKILL_ID) == before
            return
        except FilterMatchesNothing:  # a tenant of no agents: nobody assigned to the skill, nothing written
            assert not states and tenant.skill_settings_copy(DEFAULT_SKILL_ID) == before
            return
    after = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
    assert float(low) <= after["maximumRatio"] <= float(high)
    assert after["maximumRatio"] <= tenant_max or not result.apply.applied
    assert {k: v for k, v in after.items() if k != "maximumRatio"} == {
        k: v for k, v in before.items() if k != "maximumRatio"
    }
