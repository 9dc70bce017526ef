"""A third API profile, written in this file alone and registered at run time, runs through the real CLI: the
registry, the Job, the documents and the audit log need no edit in the package for it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from cxone_tune import profiles
from cxone_tune.http import ApiClient, json_object
from cxone_tune.policy import Value
from cxone_tune.profiles.base import Agent, AgentSnapshot, LoginInfo, PageCallback, Profile, Target
from cxone_tune.settings import Settings
from tests.conftest import Cli


class LinesTenant:
    """A made-up API: ``GET /agents``, and one line pool at ``/pools/{id}`` read and written whole."""

    def __init__(self, statuses: list[str]) -> None:
        self.agents = [{"id": f"u{n}", "status": status, "team": "t1"} for n, status in enumerate(statuses)]
        self.pool: dict[str, Any] = {"lines": 3, "owner": "ops", "notes": {"kept": True}}
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/agents":
            return httpx.Response(200, json={"agents": self.agents})
        if request.url.path == "/pools/pool-7" and request.method == "PUT":
            self.pool = json.loads(request.content)
        return httpx.Response(200, json=self.pool)


class LinesProfile(Profile):
    name = "lines-test"
    target_kind = "pool"
    group_label = "Pool"
    target_setting = "campaign_id"
    required_settings = ("tenant_url", "campaign_id")
    default_available_states = ("ready",)
    tenant: ClassVar[LinesTenant]

    @classmethod
    def field_label_for(cls, settings: Settings) -> str:
        return "lines"

    @classmethod
    def transport(cls, settings: Settings) -> httpx.BaseTransport:
        return httpx.MockTransport(cls.tenant.handle)

    def __init__(self, settings: Settings, client: ApiClient) -> None:
        super().__init__(settings, client)
        self.url = f"{settings.tenant_url}/pools/{self.target_id}"

    def login(self) -> LoginInfo:
        return LoginInfo(self.name, "new", 3600, time.time() + 3600)

    def fetch_agents(self, on_page: PageCallback | None = None, *, keep_agents: bool = True) -> AgentSnapshot:
        body = json_object(self.client.request("GET", f"{self.settings.tenant_url}/agents", call="GET agents"), "")
        snapshot = AgentSnapshot(keep_agents, pages=1)
        states = set(self.settings.available_state_names())
        for row in body["agents"]:
            agent = Agent(row["id"], row["status"], row["status"] in states, team=row["team"])
            if self.eligible(agent.state, agent.team, None):
                snapshot.add(agent)
        return snapshot

    def read_target(self) -> Target:
        body = json_object(self.client.request("GET", self.url, call="GET pool"), "GET pool")
        return Target(self.target_id, body["lines"], body)

    def write_target(self, target: Target, value: Value) -> Target:
        body = json_object(
            self.client.request("PUT", self.url, call="PUT pool", json_body={**target.resource, "lines": value}),
            "PUT pool",
        )
        return Target(self.target_id, body["lines"], body)


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LinesTenant]:
    LinesProfile.tenant = LinesTenant(["ready"] * 10 + ["busy"] * 4)
    profiles.register(LinesProfile)
    env = {"CXONE_API": "lines-test", "CXONE_TENANT_URL": "http://127.0.0.1:9", "CXONE_CAMPAIGN_ID": "pool-7"}
    for name, value in {**env, "CXONE_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(name, value)
    yield LinesProfile.tenant
    profiles.unregister("lines-test")


def test_a_registered_profile_runs_compute_run_once_and_history_through_the_cli(cli: Cli, lines: LinesTenant) -> None:
    computed = cli("compute", "--json")
    assert computed.exit_code == 0, computed.stderr
    decision = json.loads(computed.stdout)
    assert (decision["profile"], decision["target"], decision["target_kind"], decision["field"]) == (
        "lines-test",
        "pool-7",
        "pool",
        "lines",
    )
    assert (decision["total_agents"], decision["available_agents"], decision["previous_limit"]) == (14, 10, 3)
    assert decision["limit"] == 8  # floor(10 x 0.8)
    assert lines.pool["lines"] == 3  # compute writes nothing

    ran = cli("run-once", "--json")
    assert ran.exit_code == 0, ran.stderr
    cycle = json.loads(ran.stdout)
    shared = {key: value for key, value in decision.items() if key != "current"}  # compute's older alias
    assert {key: cycle[key] for key in shared} == shared  # the same decision, under the same keys
    assert (cycle["changed"], cycle["applied"], cycle["requests"]) == (True, True, 3)
    assert lines.pool == {"lines": 8, "owner": "ops", "notes": {"kept": True}}  # every other field kept
    assert lines.requests[-3:] == ["GET /agents", "GET /pools/pool-7", "PUT /pools/pool-7"]

    again = cli("run-once", "--no-quiet")
    assert again.exit_code == 0, again.stderr
    assert "pool pool-7: lines is already 8; nothing to do" in again.stdout

    history = cli("history", "--json")
    assert history.exit_code == 0, history.stderr
    records = json.loads(history.stdout)
    assert [(r["command"], r["profile"], r["target"], r["limit"], r["applied"]) for r in records] == [
        ("run-once", "lines-test", "pool-7", 8, True),
        ("run-once", "lines-test", "pool-7", 8, False),
    ]
    table = cli("history")
    assert table.exit_code == 0 and "lines-test pool-7" in table.stdout


def test_the_registered_profile_is_a_valid_cxone_api_and_its_requirements_are_named(
    cli: Cli, lines: LinesTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "lines-test" in profiles.names()
    monkeypatch.delenv("CXONE_CAMPAIGN_ID")
    result = cli("run-once", "--dry-run")
    assert result.exit_code == 78
    assert "CXONE_CAMPAIGN_ID is not set (needed by the lines-test API profile)" in result.stderr
