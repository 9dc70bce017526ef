"""The sandbox tenant speaks the v2 contract over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from cxone_sandbox import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Fault,
    SandboxServer,
    SandboxTenant,
)
from tests.conftest import SSL_CONTEXT

AGENTS = "/api/v2/realtime/agents"
CAMPAIGN = f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}"


def get_token(client: httpx.Client) -> str:
    resp = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "scope": "realtime:read campaign:read campaign:write",
        },
    )
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def api(client: httpx.Client) -> httpx.Client:
    """The same client, authenticated the way the contract says."""
    client.headers["Authorization"] = f"Bearer {get_token(client)}"
    client.headers["Accept"] = "application/json"
    return client


def all_agents(api: httpx.Client, page_size: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"pageSize": page_size}
    for _ in range(1000):
        resp = api.get(AGENTS, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items.extend(body["items"])
        if not body.get("nextPageToken"):
            return items
        params["nextPageToken"] = body["nextPageToken"]
    raise AssertionError("paging did not end")


# ---------------------------------------------------------------------------- token
def test_token_issue_and_bad_client(client: httpx.Client, tenant: SandboxTenant) -> None:
    resp = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": "nope"},
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"

    resp = client.post("/oauth/token", data={"grant_type": "password", "client_id": DEFAULT_CLIENT_ID})
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"

    resp = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) > 20
    assert tenant.count("POST", "/oauth/token") == 3


def test_token_via_basic_auth_and_extra_client(client: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.clients["other"] = "s3cret"
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("other", "s3cret"))
    assert resp.status_code == 200
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("other", "bad"))
    assert resp.status_code == 401


def test_tokens_are_distinct_and_ttl_is_tenants() -> None:
    tenant = SandboxTenant(token_ttl=120)
    (a, ttl), (b, _) = tenant.issue_token(), tenant.issue_token()
    assert a != b
    assert ttl == 120
    assert tenant.token_valid(a)


# ---------------------------------------------------------------------------- auth
def test_401_without_expired_and_revoked_token(api: httpx.Client, tenant: SandboxTenant) -> None:
    resp = api.get(AGENTS, headers={"Authorization": ""})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    assert "invalid_token" in resp.headers["WWW-Authenticate"]
    assert api.get(AGENTS, headers={"Authorization": "Bearer made-up"}).status_code == 401

    assert api.get(AGENTS).status_code == 200
    tenant.expire_all_tokens()
    assert api.get(AGENTS).status_code == 401

    api.headers["Authorization"] = f"Bearer {get_token(api)}"
    assert api.get(AGENTS).status_code == 200
    tenant.revoke_all_tokens()
    assert api.get(CAMPAIGN).status_code == 401


def test_406_when_json_not_acceptable(api: httpx.Client) -> None:
    assert api.get(AGENTS, headers={"Accept": "text/html"}).status_code == 406
    assert api.get(AGENTS, headers={"Accept": "text/html, */*;q=0.1"}).status_code == 200


# ---------------------------------------------------------------------------- agents
def test_agents_paging_covers_every_agent_once(api: httpx.Client, tenant: SandboxTenant) -> None:
    for page_size in (7, 40, 1000):
        items = all_agents(api, page_size)
        ids = [a["userId"] for a in items]
        assert len(ids) == 40
        assert len(set(ids)) == 40
    assert tenant.count("GET", AGENTS) == 6 + 1 + 1
    agent = items[0]
    assert {"userId", "name", "state", "queueId", "teamId", "stateSince"} <= agent.keys()


def test_default_page_size_is_100(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.set_agent_count(250)
    body = api.get(AGENTS).json()
    assert len(body["items"]) == 100
    assert body["nextPageToken"]
    assert len(all_agents(api, 100)) == 250


def test_page_size_and_token_validation(api: httpx.Client) -> None:
    resp = api.get(AGENTS, params={"pageSize": 1001})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [{"code": "INVALID_VALUE", "message": "pageSize must be between 1 and 1000", "path": "pageSize"}]
    }
    assert api.get(AGENTS, params={"pageSize": 0}).status_code == 400
    assert api.get(AGENTS, params={"pageSize": "ten"}).status_code == 400
    assert api.get(AGENTS, params={"pageSize": 5, "nextPageToken": "garbage!"}).status_code == 400


def test_generated_agents_are_deterministic_and_realistic() -> None:
    a, b = SandboxTenant(agents=1000, seed=7), SandboxTenant(agents=1000, seed=7)
    assert a.agents == b.agents
    assert a.agents != SandboxTenant(agents=1000, seed=8).agents
    states = [str(x["state"]) for x in a.agents]
    lowered = [s.lower() for s in states]
    assert lowered.count("available") == 350
    assert lowered.count("in-progress") == 300
    assert lowered.count("logged-out") == 100
    mixed = sum(1 for s in states if s != s.lower())
    assert 50 <= mixed <= 150
    assert a.available_agents() == 350


def test_set_agent_states_exact(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.set_agent_states(["available", "AVAILABLE", "wrap-up"])
    assert [a["state"] for a in all_agents(api, 2)] == ["available", "AVAILABLE", "wrap-up"]
    tenant.set_agent_states([])
    assert api.get(AGENTS).json() == {"items": [], "nextPageToken": None}


# ---------------------------------------------------------------------------- campaigns
def test_campaign_get_and_full_replacement_put(api: httpx.Client, tenant: SandboxTenant) -> None:
    campaign = api.get(CAMPAIGN).json()
    assert campaign["version"] == 17
    assert campaign["rules"] == {"maxConcurrentCalls": 12, "maxAttempts": 3, "abandonRateTarget": 3.0}
    assert campaign["customFields"] == {"region": "EMEA", "costCenter": "CC-4711"}

    # A correct client sends everything back: unknown fields survive.
    campaign["rules"]["maxConcurrentCalls"] = 20
    resp = api.put(CAMPAIGN, json=campaign)
    assert resp.status_code == 200
    stored = resp.json()
    assert stored["version"] == 18
    assert stored["rules"]["maxConcurrentCalls"] == 20
    assert stored["customFields"] == campaign["customFields"]
    assert stored == tenant.campaign(DEFAULT_CAMPAIGN_ID)

    # The sample code's bug: a partial PUT deletes every omitted field.
    partial = {"id": DEFAULT_CAMPAIGN_ID, "version": 18, "rules": {"maxConcurrentCalls": 5}}
    resp = api.put(CAMPAIGN, json=partial)
    assert resp.status_code == 200
    assert resp.json() == {**partial, "version": 19}
    assert "customFields" not in tenant.campaign(DEFAULT_CAMPAIGN_ID)


def test_stale_version_409(api: httpx.Client) -> None:
    campaign = api.get(CAMPAIGN).json()
    assert api.put(CAMPAIGN, json=campaign).status_code == 200
    resp = api.put(CAMPAIGN, json=campaign)
    assert resp.status_code == 409
    assert resp.json() == {"errors": [{"code": "VERSION_CONFLICT", "message": "version 17 is not current (18)"}]}


@pytest.mark.parametrize("value", [0, 51, -1, 12.5, "12", None, True])
def test_out_of_bounds_400(api: httpx.Client, value: Any) -> None:
    campaign = api.get(CAMPAIGN).json()
    campaign["rules"]["maxConcurrentCalls"] = value
    resp = api.put(CAMPAIGN, json=campaign)
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [
            {
                "code": "INVALID_VALUE",
                "message": "maxConcurrentCalls must be between 1 and 50",
                "path": "rules.maxConcurrentCalls",
            }
        ]
    }


def test_tenant_bounds_are_configurable() -> None:
    tenant = SandboxTenant(min_limit=2, max_limit=30)
    with SandboxServer(tenant) as srv, httpx.Client(base_url=srv.url, verify=SSL_CONTEXT) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client)}"
        campaign = client.get(CAMPAIGN).json()
        campaign["rules"]["maxConcurrentCalls"] = 31
        resp = client.put(CAMPAIGN, json=campaign)
        assert resp.json()["errors"][0]["message"] == "maxConcurrentCalls must be between 2 and 30"
        campaign["rules"]["maxConcurrentCalls"] = 30
        assert client.put(CAMPAIGN, json=campaign).status_code == 200


def test_put_body_checks(api: httpx.Client) -> None:
    assert api.put(CAMPAIGN, content=b"not json").status_code == 400
    assert api.put(CAMPAIGN, json=[1, 2]).status_code == 400
    campaign = api.get(CAMPAIGN).json()
    assert api.put(CAMPAIGN, json={**campaign, "id": "c-999"}).status_code == 400
    assert api.put(CAMPAIGN, json={**campaign, "version": None}).status_code == 400


def test_404s(api: httpx.Client) -> None:
    resp = api.get("/api/v2/campaigns/c-404")
    assert resp.status_code == 404
    assert resp.json() == {"errors": [{"code": "NOT_FOUND", "message": "campaign c-404 not found"}]}
    assert api.put("/api/v2/campaigns/c-404", json={}).status_code == 404
    assert api.get("/api/v2/nothing").status_code == 404
    resp = api.get("/elsewhere")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/json"
    assert api.delete(CAMPAIGN).status_code == 405


def test_edit_campaign_as_another_writer(tenant: SandboxTenant) -> None:
    def rename(c: dict[str, Any]) -> None:
        c["name"] = "Renamed"

    edited = tenant.edit_campaign(DEFAULT_CAMPAIGN_ID, rename)
    assert edited["version"] == 18
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["name"] == "Renamed"
    # campaign() hands out a copy
    tenant.campaign(DEFAULT_CAMPAIGN_ID)["name"] = "changed copy"
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["name"] == "Renamed"


# ---------------------------------------------------------------------------- faults
def test_fault_status_times_and_selection(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("status", method="GET", path=AGENTS, times=2, status=503))
    assert api.get(CAMPAIGN).status_code == 200  # not selected: other path
    assert api.get(AGENTS).status_code == 503
    assert api.get(AGENTS).status_code == 503
    assert api.get(AGENTS).status_code == 200  # used up and removed
    assert tenant.faults == []

    tenant.add_fault(Fault("status", path="/api/v2/campaigns/", times=None, status=500))
    for _ in range(3):
        assert api.get(CAMPAIGN).status_code == 500
    tenant.clear_faults()
    assert api.get(CAMPAIGN).status_code == 200


def test_fault_only_first_match_consumed(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("status", status=502))
    tenant.add_fault(Fault("status", status=504))
    assert api.get(AGENTS).status_code == 502
    assert api.get(AGENTS).status_code == 504
    assert api.get(AGENTS).status_code == 200


def test_fault_429_retry_after_both_forms(api: httpx.Client, tenant: SandboxTenant) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    tenant.add_fault(Fault("status", status=429, retry_after="2"))
    tenant.add_fault(Fault("status", status=429, retry_after=when))
    first, second = api.get(AGENTS), api.get(AGENTS)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert (second.status_code, second.headers["Retry-After"]) == (429, when)
    assert second.headers["Content-Type"] == "application/json"
    assert "errors" in second.json()


def test_fault_on_token_endpoint(client: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("status", path="/oauth/token", status=503))
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert resp.status_code == 503
    assert "error" in resp.json()
    get_token(client)


def test_fault_delay(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("delay", path=AGENTS, delay=0.2))
    started = time.monotonic()
    assert api.get(AGENTS).status_code == 200
    assert time.monotonic() - started >= 0.2
    # A client that times out first sees a timeout; the server survives it.
    tenant.add_fault(Fault("delay", path=AGENTS, delay=0.3))
    with pytest.raises(httpx.ReadTimeout):
        api.get(AGENTS, timeout=0.05)
    assert api.get(CAMPAIGN).status_code == 200


def test_fault_malformed_and_wrong_shape(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("malformed", path=AGENTS))
    tenant.add_fault(Fault("wrong_shape", path=AGENTS))
    resp = api.get(AGENTS)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        resp.json()
    resp = api.get(AGENTS)
    assert (resp.status_code, resp.json()) == (200, {"unexpected": True})


def test_fault_repeat_page_token_first_page(api: httpx.Client, tenant: SandboxTenant) -> None:
    # Hits only the first page, yet the token it hands out then repeats forever.
    tenant.add_fault(Fault("repeat_page_token"))
    first = api.get(AGENTS, params={"pageSize": 10}).json()
    token = first["nextPageToken"]
    assert token
    for _ in range(3):
        body = api.get(AGENTS, params={"pageSize": 10, "nextPageToken": token}).json()
        assert body["nextPageToken"] == token
        assert len(body["items"]) == 10


def test_fault_repeat_page_token_mid_paging(api: httpx.Client, tenant: SandboxTenant) -> None:
    token = api.get(AGENTS, params={"pageSize": 10}).json()["nextPageToken"]
    tenant.add_fault(Fault("repeat_page_token", times=None))
    body = api.get(AGENTS, params={"pageSize": 10, "nextPageToken": token}).json()
    assert body["nextPageToken"] == token


def test_fault_concurrent_edit(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("concurrent_edit"))
    campaign = api.get(CAMPAIGN).json()  # a GET does not use the fault up
    campaign["rules"]["maxConcurrentCalls"] = 20
    resp = api.put(CAMPAIGN, json=campaign)
    assert resp.status_code == 409
    fresh = api.get(CAMPAIGN).json()
    assert fresh["version"] == 18
    assert fresh["name"] == "Spring renewals (edited)"
    assert fresh["rules"] == {"maxConcurrentCalls": 12, "maxAttempts": 4, "abandonRateTarget": 3.0}
    # Re-read and re-apply: the other writer's change survives.
    fresh["rules"]["maxConcurrentCalls"] = 20
    stored = api.put(CAMPAIGN, json=fresh).json()
    assert stored["version"] == 19
    assert stored["rules"]["maxAttempts"] == 4


def test_fault_revoke_token(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("revoke_token", path=AGENTS))
    assert api.get(AGENTS).status_code == 401
    assert api.get(CAMPAIGN).status_code == 401  # the token stays revoked
    api.headers["Authorization"] = f"Bearer {get_token(api)}"
    assert api.get(AGENTS).status_code == 200


def test_unknown_fault_kind_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")


# ---------------------------------------------------------------------------- request log
def test_request_log(api: httpx.Client, tenant: SandboxTenant) -> None:
    api.get(AGENTS, params={"pageSize": 5})
    api.get(CAMPAIGN)
    assert tenant.requests[-2:] == [("GET", AGENTS), ("GET", CAMPAIGN)]
    assert tenant.count() == 3
    assert tenant.count("GET") == 2
    assert tenant.count(path_prefix="/api/v2/campaigns/") == 1
    tenant.reset_counts()
    assert tenant.count() == 0


# ---------------------------------------------------------------------------- control endpoints
def test_control_endpoints(api: httpx.Client, tenant: SandboxTenant) -> None:
    bare = {"Authorization": ""}  # control endpoints need no token
    assert api.post("/_sandbox/agents", json={"states": ["available", "Available", "logged-out"]}, headers=bare)
    assert tenant.available_agents() == 2

    api.post("/_sandbox/faults", json={"kind": "status", "status": 429, "retry_after": "1"}, headers=bare)
    assert api.get(AGENTS).status_code == 429
    api.post("/_sandbox/faults", json={"kind": "status", "times": None}, headers=bare)
    assert api.get(AGENTS).status_code == 503
    assert api.delete("/_sandbox/faults", headers=bare).status_code == 200
    assert api.get(AGENTS).status_code == 200
    assert api.post("/_sandbox/faults", json={"kind": "nope"}, headers=bare).status_code == 400

    resp = api.post(f"/_sandbox/campaigns/{DEFAULT_CAMPAIGN_ID}/edit", json={"rules": {"maxAttempts": 9}})
    assert resp.status_code == 200
    assert resp.json()["version"] == 18
    assert resp.json()["rules"]["maxConcurrentCalls"] == 12  # merged, not replaced

    state = api.get("/_sandbox/state", headers=bare).json()
    assert state["agents"] == 3
    assert state["campaigns"][DEFAULT_CAMPAIGN_ID]["rules"]["maxAttempts"] == 9
    assert state["requests"][0] == ["POST", "/oauth/token"]
    assert all(not p.startswith("/_sandbox/") for _, p in state["requests"])

    api.post("/_sandbox/tokens/expire", headers=bare)
    assert api.get(AGENTS).status_code == 401
    api.headers["Authorization"] = f"Bearer {get_token(api)}"
    api.post("/_sandbox/tokens/revoke", headers=bare)
    assert api.get(AGENTS).status_code == 401


# ---------------------------------------------------------------------------- server plumbing
def test_keep_alive_reuses_one_connection(server: SandboxServer, tenant: SandboxTenant) -> None:
    token, _ = tenant.issue_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", CAMPAIGN, headers=headers)
        campaign = json.loads(conn.getresponse().read())
        sock = conn.sock
        # A PUT with a body, then more requests on the same socket: bodies are fully read.
        conn.request("PUT", CAMPAIGN, body=json.dumps(campaign), headers=headers)
        assert conn.getresponse().read() and conn.sock is sock
        for _ in range(3):
            conn.request("GET", AGENTS + "?pageSize=3", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200
            assert resp.getheader("Content-Length") == str(len(body))
            assert conn.sock is sock
    finally:
        conn.close()


def test_server_binds_loopback_and_stops_with_open_connections(tenant: SandboxTenant) -> None:
    srv = SandboxServer(tenant)
    assert srv.url == f"http://127.0.0.1:{srv.port}"  # port known before start
    with srv.start() as same, httpx.Client(base_url=same.url, verify=SSL_CONTEXT) as client:
        assert same is srv
        assert client.get("/_sandbox/state").status_code == 200
        started = time.monotonic()
        srv.stop()  # the client still holds a kept-alive connection
        assert time.monotonic() - started < 1.0
    srv.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/_sandbox/state", timeout=1, verify=SSL_CONTEXT)


def test_log_callback_and_latency() -> None:
    lines: list[str] = []
    tenant = SandboxTenant(latency=0.05)
    with SandboxServer(tenant, log=lines.append) as srv:
        started = time.monotonic()
        resp = httpx.get(srv.url + AGENTS, verify=SSL_CONTEXT)
        assert resp.status_code == 401
        assert time.monotonic() - started >= 0.05
    assert len(lines) == 1
    assert lines[0].startswith(f"GET {AGENTS} -> 401")


def test_serve_forever_in_foreground_stops_from_another_thread(tenant: SandboxTenant) -> None:
    srv = SandboxServer(tenant)
    runner = threading.Thread(target=srv.serve_forever)
    runner.start()
    try:
        assert httpx.get(srv.url + "/_sandbox/state", verify=SSL_CONTEXT).status_code == 200
    finally:
        srv.stop()
        runner.join(timeout=2)
    assert not runner.is_alive()


def test_concurrent_puts_exactly_one_wins(server: SandboxServer, tenant: SandboxTenant) -> None:
    token, _ = tenant.issue_token()
    campaign = tenant.campaign(DEFAULT_CAMPAIGN_ID)
    statuses: list[int] = []

    def put(value: int) -> None:
        body = {**campaign, "rules": {**campaign["rules"], "maxConcurrentCalls": value}}
        resp = httpx.put(
            server.url + CAMPAIGN, json=body, headers={"Authorization": f"Bearer {token}"}, verify=SSL_CONTEXT
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=put, args=(v,)) for v in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["version"] == 18
