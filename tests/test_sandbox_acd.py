"""The sandbox tenant also speaks the acd profile (the real NICE CXone API) over real HTTP on loopback."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

import cxone_sandbox.acd as sandbox_acd
from cxone_sandbox import (
    ACD_API_VERSION_DEFAULT,
    ACD_STATE_IDS,
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    DEFAULT_TENANT_ID,
    Fault,
    SandboxServer,
    SandboxTenant,
)

BASE = f"/inContactAPI/services/{ACD_API_VERSION_DEFAULT}"
AGENTS = f"{BASE}/agents/states"
SETTINGS = f"{BASE}/skills/{DEFAULT_SKILL_ID}/parameters/general-settings"
ACTIVITY = f"{BASE}/skills/{DEFAULT_SKILL_ID}/activity"
FULL = {"updatedSince": "1970-01-01T00:00:00Z"}
JSON = {"Accept": "application/json"}
BARE = {"Authorization": ""}  # control endpoints need no token
CLIENT = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
AGENT_FIELDS = {
    "agentId", "userName", "firstName", "lastName", "agentStateId", "agentStateName", "isOutbound", "isACW",
    "skillId", "skillName", "teamId", "teamName", "outStateId", "outStateDescription", "contactId",
    "openContacts", "lastUpdateTime",
}  # fmt: skip
CONTRACT_SETTINGS = {
    "maximumRatio": 2,
    "aggressiveness": "Normal",
    "maxConcurrentCallsPerAgent": 3,
    "percentageOfAgentsBeforeOverdial": 50,
    "abandonRateThreshold": 3,
    "abandonRateCutoff": 5,
    "overrideBusinessUnitAbandonRate": False,
    "beginDampenPercentage": 80,
    "maximumRingingDuration": 30,
    "minimumRetryMinutes": 1440,
    "maximumAttempts": 3,
    "enableDialingByProficiency": False,
}


def password_form(secret: str = DEFAULT_ACCESS_KEY_SECRET, key_id: str = DEFAULT_ACCESS_KEY_ID) -> bytes:
    """The form body exactly as a careful client builds it: every value URL-encoded."""
    return f"grant_type=password&username={quote(key_id, safe='')}&password={quote(secret, safe='')}".encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def login(client: httpx.Client) -> dict[str, Any]:
    resp = client.post("/auth/token", content=password_form(), headers=FORM, auth=CLIENT)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture
def acd(client: httpx.Client) -> httpx.Client:
    """The same client, authenticated and with the Accept header the real API needs."""
    client.headers["Authorization"] = f"Bearer {login(client)['access_token']}"
    client.headers.update(JSON)
    return client


def jwt_claims(token: str) -> dict[str, Any]:
    """Decode a JWT payload without verifying it (what a client does to read tenantId)."""
    parts = token.split(".")
    assert len(parts) == 3
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
    return claims


def all_states(acd: httpx.Client, top: int, via_links: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    skip = 0
    url: str | None = None
    for _ in range(1000):
        resp = acd.get(url) if url else acd.get(AGENTS, params={**FULL, "skip": skip, "top": top})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows.extend(body["agentStates"])
        skip += len(body["agentStates"])
        if via_links:
            url = body["_links"]["next"]
            if url is None:
                return rows
        elif skip >= body["totalRecords"] or not body["_links"]["next"]:
            return rows
    raise AssertionError("paging did not end")


# ---------------------------------------------------------------------------- discovery and auth
def test_constants() -> None:
    assert DEFAULT_ACCESS_KEY_ID == "AKSANDBOX00000000000000000000001"
    assert DEFAULT_ACCESS_KEY_SECRET.endswith("=")
    assert quote(DEFAULT_ACCESS_KEY_SECRET, safe="") != DEFAULT_ACCESS_KEY_SECRET
    assert DEFAULT_SKILL_ID == 4567
    assert ACD_API_VERSION_DEFAULT == "v30.0"
    assert len(DEFAULT_TENANT_ID) == 36
    tenant = SandboxTenant()
    assert tenant.access_keys == {DEFAULT_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY_SECRET}
    assert (tenant.min_ratio, tenant.max_ratio) == (1.0, 5.0)
    assert not tenant.acd_result_set_wrapper
    assert not tenant.acd_put_returns_204


def test_discovery_documents(client: httpx.Client, server: SandboxServer) -> None:
    oidc = client.get("/.well-known/openid-configuration").json()
    assert oidc["issuer"] == server.url
    assert oidc["token_endpoint"] == f"{server.url}/auth/token"
    assert oidc["scopes_supported"] == ["openid"]
    assert oidc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert client.get(oidc["jwks_uri"]).json() == {"keys": []}
    assert client.post("/.well-known/openid-configuration").status_code == 405

    conf = client.get("/.well-known/cxone-configuration", params={"tenantId": DEFAULT_TENANT_ID}).json()
    assert conf["api_endpoint"] == server.url
    assert conf["tenantId"] == DEFAULT_TENANT_ID
    assert {"area", "cluster", "domain", "ui_endpoint", "auth_endpoint"} <= conf.keys()
    for params in ({"tenantId": "11111111-2222-3333-4444-555555555555"}, {}):
        resp = client.get("/.well-known/cxone-configuration", params=params)
        assert resp.status_code == 404
        assert resp.json()["errors"][0]["code"] == "NOT_FOUND"


def test_password_grant_basic_client_urlencoded_secret(client: httpx.Client, tenant: SandboxTenant) -> None:
    body = login(client)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["refresh_token"] and body["id_token"]
    # httpx's data= encodes too (client_secret_post here, no Basic).
    data = {
        "grant_type": "password",
        "username": DEFAULT_ACCESS_KEY_ID,
        "password": DEFAULT_ACCESS_KEY_SECRET,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    assert client.post("/auth/token", data=data).status_code == 200
    # Not URL-encoded: "+" arrives as a space, the secret is wrong.
    raw = f"grant_type=password&username={DEFAULT_ACCESS_KEY_ID}&password={DEFAULT_ACCESS_KEY_SECRET}"
    resp = client.post("/auth/token", content=raw.encode(), headers=FORM, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_grant")
    assert (tenant.logins, tenant.refreshes, tenant.tokens_issued) == (2, 0, 2)


def test_token_errors(client: httpx.Client, tenant: SandboxTenant) -> None:
    resp = client.post("/auth/token", content=password_form(), headers=FORM, auth=(DEFAULT_CLIENT_ID, "nope"))
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    assert "Basic" in resp.headers["WWW-Authenticate"]
    resp = client.post("/auth/token", content=password_form(), headers=FORM)  # no client at all
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    resp = client.post("/auth/token", content=password_form(secret="wrong="), headers=FORM, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_grant")
    resp = client.post("/auth/token", content=password_form(key_id="AKNOPE"), headers=FORM, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_grant")
    resp = client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (400, "unsupported_grant_type")
    resp = client.post("/auth/token", data={}, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")
    assert client.get("/auth/token").status_code == 405
    assert tenant.logins == 0


def test_refresh_grant_rotates(client: httpx.Client, tenant: SandboxTenant) -> None:
    first = login(client)
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "openid"}
    resp = client.post("/auth/token", data=data, auth=CLIENT)
    assert resp.status_code == 200, resp.text
    second = resp.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    # The old refresh token is spent.
    resp = client.post("/auth/token", data=data, auth=CLIENT)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")
    bad = {"grant_type": "refresh_token", "refresh_token": "made-up"}
    assert client.post("/auth/token", data=bad, auth=CLIENT).status_code == 400
    assert client.post("/auth/token", data={"grant_type": "refresh_token"}, auth=CLIENT).status_code == 400
    assert (tenant.logins, tenant.refreshes) == (1, 1)
    # Both access tokens work (the first is not revoked by the refresh).
    for body in (first, second):
        headers = {"Authorization": f"Bearer {body['access_token']}", **JSON}
        assert client.get(AGENTS, params=FULL, headers=headers).status_code == 200
    tenant.revoke_refresh_tokens()
    data["refresh_token"] = second["refresh_token"]
    assert client.post("/auth/token", data=data, auth=CLIENT).status_code == 400


def test_jwt_claims(client: httpx.Client, server: SandboxServer, tenant: SandboxTenant) -> None:
    a, b = login(client), login(client)
    claims = jwt_claims(a["access_token"])
    assert claims["tenantId"] == DEFAULT_TENANT_ID
    assert claims["iss"] == server.url
    assert {"tenant", "icBUId", "icClusterId", "sub", "iat", "exp", "jti"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == tenant.token_ttl
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["sub"].startswith("user:")
    assert jwt_claims(b["access_token"])["jti"] != claims["jti"]
    assert jwt_claims(a["id_token"])["tenantId"] == DEFAULT_TENANT_ID
    jwt_claims(a["refresh_token"])


def test_bearer_check_versions_and_one_token_store(acd: httpx.Client, tenant: SandboxTenant) -> None:
    resp = acd.get(AGENTS, headers=BARE)
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_token")
    assert acd.get(AGENTS, headers={"Authorization": "Bearer made-up"}).status_code == 401
    for version in ("v21.0", "v34.0", "v25.5"):
        assert acd.get(f"/inContactAPI/services/{version}/agents/states").status_code == 200
    for version in ("v20.0", "v34.1", "v35.0", "latest", "30.0"):
        assert acd.get(f"/inContactAPI/services/{version}/agents/states").status_code == 404
    assert acd.get(f"{BASE}/nothing").status_code == 404
    # A v2 token works on the acd API and an acd token on the v2 API: one store.
    token, _ = tenant.issue_token()
    assert acd.get(AGENTS, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert acd.get(f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}").status_code == 200
    tenant.expire_all_tokens()
    assert acd.get(AGENTS).status_code == 401


def test_406_unless_accept_names_json(acd: httpx.Client) -> None:
    for accept in ("*/*", "text/html", "application/*", "application/json;q=0"):
        resp = acd.get(AGENTS, headers={"Accept": accept})
        assert resp.status_code == 406, accept
        assert resp.text == "No known way to render data"
        assert resp.headers["Content-Type"].startswith("text/plain")
    assert acd.get(AGENTS, headers={"Accept": "text/html, application/json; charset=utf-8"}).status_code == 200
    assert acd.get(SETTINGS, headers={"Accept": "*/*"}).status_code == 406
    # httpx's default Accept is */*: a client that forgets the header gets 406.
    del acd.headers["Accept"]
    assert acd.get(AGENTS).status_code == 406


# ---------------------------------------------------------------------------- agent states
@pytest.mark.parametrize("via_links", [False, True])
def test_agent_paging_covers_every_agent_once(acd: httpx.Client, tenant: SandboxTenant, via_links: bool) -> None:
    for top in (7, 40, 1000):
        rows = all_states(acd, top, via_links)
        ids = [a["agentId"] for a in rows]
        assert len(ids) == 40
        assert len(set(ids)) == 40
    assert rows == tenant.acd_agents
    assert all(a.keys() == AGENT_FIELDS for a in rows)


def test_agent_page_shape_and_links(acd: httpx.Client, server: SandboxServer) -> None:
    body = acd.get(AGENTS, params={**FULL, "skip": 35, "top": 10}).json()
    assert list(body) == ["totalRecords", "_links", "lastPollTime", "agentStates"]
    assert body["totalRecords"] == 40
    assert len(body["agentStates"]) == 5
    assert body["_links"]["next"] is None
    assert body["lastPollTime"].endswith("Z")
    prev = urlsplit(body["_links"]["previous"])
    assert f"{prev.scheme}://{prev.netloc}{prev.path}" == server.url + AGENTS
    assert parse_qs(prev.query) == {"updatedSince": ["1970-01-01T00:00:00Z"], "skip": ["25"], "top": ["10"]}

    first = acd.get(AGENTS, params={"top": 10}).json()  # skip defaults to 0, updatedSince to everything
    assert first["_links"]["previous"] is None
    assert parse_qs(urlsplit(first["_links"]["next"]).query) == {"skip": ["10"], "top": ["10"]}
    assert len(acd.get(AGENTS).json()["agentStates"]) == 40  # top defaults to 100
    past_end = acd.get(AGENTS, params={"skip": 40, "top": 10}).json()
    assert (past_end["agentStates"], past_end["_links"]["next"]) == ([], None)

    projected = acd.get(AGENTS, params={"fields": "agentId,agentStateName", "orderBy": "agentId", "reqBUIds": "1"})
    assert all(a.keys() == {"agentId", "agentStateName"} for a in projected.json()["agentStates"])


def test_agent_query_validation(acd: httpx.Client) -> None:
    resp = acd.get(AGENTS, params={"top": 1001})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [{"code": "INVALID_VALUE", "message": "top must be between 1 and 1000", "path": "top"}]
    }
    for params in ({"top": 0}, {"top": "ten"}, {"skip": -1}, {"skip": "x"}, {"updatedSince": "yesterday"}):
        assert acd.get(AGENTS, params=params).status_code == 400, params


def test_updated_since(acd: httpx.Client, tenant: SandboxTenant) -> None:
    latest = max(str(a["lastUpdateTime"]) for a in tenant.acd_agents)
    resp = acd.get(AGENTS, params={"updatedSince": latest})
    assert resp.status_code == 200
    assert [a["lastUpdateTime"] for a in resp.json()["agentStates"]] == [latest]
    # Later than every agent: 204, no body (the real API may answer so when nothing changed).
    resp = acd.get(AGENTS, params={"updatedSince": "2030-01-01T00:00:00.000Z"})
    assert (resp.status_code, resp.content) == (204, b"")
    assert "Content-Type" not in resp.headers
    assert acd.get(AGENTS, params={"updatedSince": "0"}).json()["totalRecords"] == 40  # connection still fine
    tenant.set_acd_agents([])
    body = acd.get(AGENTS, params=FULL).json()
    assert (body["totalRecords"], body["agentStates"]) == (0, [])


def test_updated_since_is_worked_out_once_per_list_not_on_every_page(
    acd: httpx.Client, tenant: SandboxTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = sandbox_acd.parse_acd_time

    def counted(raw: str) -> datetime:
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(sandbox_acd, "parse_acd_time", counted)
    pages = [acd.get(AGENTS, params={**FULL, "skip": skip, "top": 10}).json() for skip in (0, 10, 20, 30)]
    assert len(parsed) == 4 + 40  # each request's updatedSince, and every agent's timestamp once
    assert [row for page in pages for row in page["agentStates"]] == tenant.acd_agents
    latest = max(str(a["lastUpdateTime"]) for a in tenant.acd_agents)
    assert acd.get(AGENTS, params={"updatedSince": latest}).json()["totalRecords"] == 1  # another instant
    assert len(parsed) == 4 + 40 + 1 + 40
    tenant.set_acd_agents(["Dialer", "Available"])  # another list: worked out again
    assert acd.get(AGENTS, params=FULL).json()["totalRecords"] == 2
    assert len(parsed) == 4 + 40 + 1 + 40 + 1 + 2


def test_peak_in_flight_counts_the_agents_pages_served_at_once(server: SandboxServer, tenant: SandboxTenant) -> None:
    token = httpx.post(
        f"{server.url}/auth/token", content=password_form(), headers=FORM, auth=CLIENT, timeout=5
    ).json()["access_token"]
    tenant.reset_counts()
    # The first three agents pages are answered only once all three are being served together.
    tenant.add_fault(Fault("gather", path=AGENTS, times=3, value=3, delay=10.0))
    headers = {**JSON, "Authorization": f"Bearer {token}"}

    def page(skip: int) -> int:
        with httpx.Client(base_url=server.url, headers=headers, timeout=15) as own:  # one connection each
            return own.get(AGENTS, params={**FULL, "skip": skip, "top": 10}).status_code

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(page, (0, 10, 20))) == [200, 200, 200]
    assert page(30) == 200
    assert tenant.peak_in_flight == {"agents list": 3}
    assert tenant.in_flight["agents list"] == 0
    snapshot = httpx.get(f"{server.url}/_sandbox/state", timeout=5).json()
    assert snapshot["inFlightPeak"] == {"agents list": 3}
    tenant.reset_counts()
    assert page(0) == 200
    assert tenant.peak_in_flight == {"agents list": 1}


def test_a_gather_fault_needs_a_count_and_a_longest_wait() -> None:
    for bad in ({}, {"value": 0, "delay": 1.0}, {"value": 2}, {"value": True, "delay": 1.0}):
        with pytest.raises(ValueError, match="gather fault needs value"):
            Fault("gather", **bad)


def test_result_set_wrapper(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.acd_result_set_wrapper = True
    body = acd.get(AGENTS, params={"top": 5}).json()
    assert list(body) == ["resultSet"]
    assert body["resultSet"]["totalRecords"] == 40
    assert len(body["resultSet"]["agentStates"]) == 5
    assert body["resultSet"]["_links"]["next"]


def test_generated_acd_agents_deterministic_and_realistic() -> None:
    a, b = SandboxTenant(agents=1000, seed=7), SandboxTenant(agents=1000, seed=7)
    assert a.acd_agents == b.acd_agents
    assert a.acd_agents != SandboxTenant(agents=1000, seed=8).acd_agents
    names = Counter(str(x["agentStateName"]) for x in a.acd_agents)
    assert names == {
        "Dialer": 200, "Available": 150, "OutboundContact": 250, "InboundContact": 50, "Unavailable": 150,
        "LoggedOut": 100, "LoggedIn": 50, "InboundConsult": 25, "OutboundConsult": 25,
    }  # fmt: skip
    assert all(ACD_STATE_IDS[x["agentStateName"]] == x["agentStateId"] for x in a.acd_agents)
    acw = [x for x in a.acd_agents if x["isACW"]]
    assert len(acw) == 50
    assert all(x["agentStateName"] == "Unavailable" and x["outStateDescription"] == "ACW" for x in acw)
    reasons = {x["outStateDescription"] for x in a.acd_agents if x["agentStateName"] == "Unavailable"}
    assert reasons == {"ACW", "Lunch", "Break", "Meeting", "Training"}
    assert all(x["isOutbound"] for x in a.acd_agents if x["agentStateName"] == "Dialer")
    assert {x["skillName"] for x in a.acd_agents if x["skillId"] == DEFAULT_SKILL_ID} == {"PC Sales"}
    assert len({x["skillId"] for x in a.acd_agents}) == 4  # three skills, and 0 for logged-out agents
    assert len({x["teamId"] for x in a.acd_agents}) >= 3
    assert a.acd_available() == 350
    assert a.acd_available(("Dialer",), skill_id=DEFAULT_SKILL_ID) < 200
    # v2 and acd lists follow the same count.
    a.set_agent_count(12)
    assert (len(a.agents), len(a.acd_agents)) == (12, 12)


def test_set_acd_agents(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.set_acd_agents(["Dialer", "Available", "Unavailable", "LoggedOut", "ACW"])
    rows = acd.get(AGENTS, params=FULL).json()["agentStates"]
    assert [(a["agentStateName"], a["isACW"]) for a in rows] == [
        ("Dialer", False),
        ("Available", False),
        ("Unavailable", False),
        ("LoggedOut", False),
        ("Unavailable", True),
    ]
    assert [a["skillId"] for a in rows] == [DEFAULT_SKILL_ID] * 3 + [0, DEFAULT_SKILL_ID]
    assert tenant.acd_available() == 2
    assert tenant.acd_available(("Dialer",)) == 1
    with pytest.raises(ValueError, match="unknown agent state"):
        tenant.set_acd_agents(["dialer"])


# ---------------------------------------------------------------------------- skills
def test_general_settings_get_and_full_replacement_put(acd: httpx.Client, tenant: SandboxTenant) -> None:
    settings = acd.get(SETTINGS).json()
    assert {k: settings[k] for k in CONTRACT_SETTINGS} == CONTRACT_SETTINGS
    extra = settings.keys() - CONTRACT_SETTINGS.keys()
    assert "dialerQueuePriority" in extra

    # A correct client sends everything back: the field it does not know survives.
    settings["maximumRatio"] = 2.5
    resp = acd.put(SETTINGS, json={"generalSettings": settings})
    assert resp.status_code == 200
    assert resp.json() == settings == tenant.skill_settings_copy(DEFAULT_SKILL_ID)

    # A partial body replaces everything: omitted fields are gone.
    resp = acd.put(SETTINGS, json={"generalSettings": {"maximumRatio": 3, "aggressiveness": "Low"}})
    assert resp.json() == {"maximumRatio": 3, "aggressiveness": "Low"}
    assert "dialerQueuePriority" not in acd.get(SETTINGS).json()


@pytest.mark.parametrize("value", [0.5, 5.01, 0, -1, "2", None, True, [2]])
def test_ratio_out_of_range_400(acd: httpx.Client, value: Any) -> None:
    settings = acd.get(SETTINGS).json()
    settings["maximumRatio"] = value
    resp = acd.put(SETTINGS, json={"generalSettings": settings})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": [
            {
                "code": "INVALID_VALUE",
                "message": "maximumRatio must be between 1.0 and 5.0",
                "path": "generalSettings.maximumRatio",
            }
        ]
    }


def test_calls_per_agent_and_bounds(acd: httpx.Client, tenant: SandboxTenant) -> None:
    settings = acd.get(SETTINGS).json()
    for value in (0, 11, 2.5, "3"):
        resp = acd.put(SETTINGS, json={"generalSettings": {**settings, "maxConcurrentCallsPerAgent": value}})
        assert resp.status_code == 400
        assert resp.json()["errors"][0]["path"] == "generalSettings.maxConcurrentCallsPerAgent"
    both = {**settings, "maxConcurrentCallsPerAgent": 0, "maximumRatio": 9}
    assert len(acd.put(SETTINGS, json={"generalSettings": both}).json()["errors"]) == 2
    for ratio in (1, 5, 1.0, 5.0):
        assert acd.put(SETTINGS, json={"generalSettings": {**settings, "maximumRatio": ratio}}).status_code == 200
    tenant.min_ratio, tenant.max_ratio = 1.5, 3.0
    resp = acd.put(SETTINGS, json={"generalSettings": {**settings, "maximumRatio": 1}})
    assert resp.json()["errors"][0]["message"] == "maximumRatio must be between 1.5 and 3.0"
    assert SandboxTenant(min_ratio=2, max_ratio=4).max_ratio == 4.0


def test_put_body_checks_and_204_mode(acd: httpx.Client, tenant: SandboxTenant) -> None:
    settings = acd.get(SETTINGS).json()
    for body in (settings, [settings], {"generalSettings": [1]}, {"generalSettings": None}):
        resp = acd.put(SETTINGS, json=body)
        assert resp.status_code == 400
        error = resp.json()["errors"][0]
        assert error["code"] == "INVALID_BODY"
        assert '{"generalSettings": {...}}' in error["message"]
    assert acd.put(SETTINGS, content=b"not json").status_code == 400
    assert tenant.skill_settings_copy(DEFAULT_SKILL_ID) == settings

    tenant.acd_put_returns_204 = True
    settings["maximumRatio"] = 4
    resp = acd.put(SETTINGS, json={"generalSettings": settings})
    assert (resp.status_code, resp.content) == (204, b"")
    assert acd.get(SETTINGS).json()["maximumRatio"] == 4


def test_unknown_skill_404(acd: httpx.Client) -> None:
    for path in (
        f"{BASE}/skills/999/parameters/general-settings",
        f"{BASE}/skills/abc/parameters/general-settings",
        f"{BASE}/skills/4568/parameters/general-settings",  # the inbound skill has no PC settings
        f"{BASE}/skills/999/activity",
    ):
        resp = acd.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["errors"][0]["code"] == "NOT_FOUND"
    assert acd.put(f"{BASE}/skills/999/parameters/general-settings", json={}).status_code == 404
    assert acd.delete(SETTINGS).status_code == 405
    assert acd.post(AGENTS).status_code == 405


def test_skill_activity(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.set_acd_agents(["Dialer", "Dialer", "Available", "OutboundContact", "Unavailable", "ACW", "LoggedOut"])
    body = acd.get(ACTIVITY).json()["skillActivity"][0]  # an array even for one skill
    assert body == {
        **body,
        "skillId": DEFAULT_SKILL_ID,
        "skillName": "PC Sales",
        "isOutbound": True,
        "agentsAvailable": 3,
        "agentsWorking": 1,
        "agentsLoggedIn": 6,
        "agentsUnavailable": 1,
        "agentsACW": 1,
    }
    assert isinstance(body["queueCount"], int)
    assert acd.get(f"{BASE}/skills/4568/activity").json()["skillActivity"][0]["agentsLoggedIn"] == 0
    assert acd.put(ACTIVITY, json={}).status_code == 405


def test_skill_settings_copy_and_edit(tenant: SandboxTenant) -> None:
    copy = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
    copy["maximumRatio"] = 99
    assert tenant.skill_settings[DEFAULT_SKILL_ID]["maximumRatio"] == 2

    def other_writer(s: dict[str, Any]) -> None:
        s["abandonRateCutoff"] = 4

    assert tenant.edit_skill_settings(DEFAULT_SKILL_ID, other_writer)["abandonRateCutoff"] == 4
    assert tenant.skill_settings_copy(DEFAULT_SKILL_ID)["abandonRateCutoff"] == 4


# ---------------------------------------------------------------------------- faults
def test_fault_status_on_acd_paths(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("status", path="/inContactAPI/", status=429, retry_after="2"))
    resp = acd.get(SETTINGS)
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "2")
    assert "errors" in resp.json()
    tenant.add_fault(Fault("status", path="/auth/token", status=503))
    resp = acd.post("/auth/token", content=password_form(), headers=FORM, auth=CLIENT)
    assert resp.status_code == 503
    assert "error" in resp.json()
    tenant.add_fault(Fault("status", method="GET", path="/.well-known/", status=500, times=2))
    assert acd.get("/.well-known/openid-configuration").status_code == 500
    assert acd.get("/.well-known/cxone-configuration", params={"tenantId": DEFAULT_TENANT_ID}).status_code == 500
    assert acd.get("/.well-known/openid-configuration").status_code == 200
    login(acd)


def test_fault_delay_malformed_wrong_shape(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("delay", path=AGENTS, delay=0.1))
    started = time.monotonic()
    assert acd.get(AGENTS).status_code == 200
    assert time.monotonic() - started >= 0.1
    for path in (AGENTS, SETTINGS):
        tenant.add_fault(Fault("malformed", path=path))
        tenant.add_fault(Fault("wrong_shape", path=path))
        resp = acd.get(path)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()
        assert acd.get(path).json() == {"unexpected": True}
    assert acd.get(SETTINGS).json()["maximumRatio"] == 2


def test_fault_revoke_token_then_refresh(client: httpx.Client, tenant: SandboxTenant) -> None:
    tokens = login(client)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", **JSON}
    tenant.add_fault(Fault("revoke_token", path="/inContactAPI/"))
    assert client.get(AGENTS, headers=headers).status_code == 401
    assert client.get(SETTINGS, headers=headers).status_code == 401  # stays revoked
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    fresh = client.post("/auth/token", data=data, auth=CLIENT).json()  # refresh tokens survive
    headers["Authorization"] = f"Bearer {fresh['access_token']}"
    assert client.get(AGENTS, headers=headers).status_code == 200
    assert tenant.refreshes == 1


def test_fault_repeat_page_never_advances(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("repeat_page_token"))  # one hit, yet the page it hands out repeats forever
    first = acd.get(AGENTS, params={**FULL, "skip": 0, "top": 10}).json()
    assert first["totalRecords"] > 40  # more than can ever be reached
    url = first["_links"]["next"]
    assert parse_qs(urlsplit(url).query)["skip"] == ["0"]
    for _ in range(3):
        body = acd.get(url).json()
        assert body["agentStates"] == first["agentStates"]
        assert body["_links"]["next"] == url
        assert body["totalRecords"] > 40
    assert tenant.faults == []
    assert len(all_states(acd, 10, via_links=True)) == 40  # a fresh paging is normal again

    # times=None: a client advancing skip itself runs past the end, gets empty pages, never reaches the total.
    tenant.add_fault(Fault("repeat_page_token", times=None))
    body = acd.get(AGENTS, params={"skip": 40, "top": 10}).json()
    assert (body["agentStates"], body["totalRecords"] > 40) == ([], True)
    assert acd.get(SETTINGS).status_code == 200  # other paths do not use the fault


def test_fault_concurrent_edit_after_read(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("concurrent_edit"))
    acd.get(AGENTS)  # not a general-settings GET: does not use the fault
    acd.put(SETTINGS, json={"generalSettings": tenant.skill_settings_copy(DEFAULT_SKILL_ID)})  # nor a PUT
    read = acd.get(SETTINGS).json()
    assert (read["aggressiveness"], read["maximumAttempts"]) == ("Normal", 3)  # as it was
    fresh = tenant.skill_settings_copy(DEFAULT_SKILL_ID)
    assert (fresh["aggressiveness"], fresh["maximumAttempts"]) == ("High", 4)  # changed right after
    assert tenant.faults == []

    # No version, no 409: a blind PUT of the stale copy silently undoes the other writer's edit.
    read["maximumRatio"] = 3
    assert acd.put(SETTINGS, json={"generalSettings": read}).status_code == 200
    assert tenant.skill_settings_copy(DEFAULT_SKILL_ID)["aggressiveness"] == "Normal"

    # The v2 behaviour is unchanged: the campaign PUT still conflicts.
    tenant.add_fault(Fault("concurrent_edit"))
    campaign = acd.get(f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}").json()
    assert acd.put(f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}", json=campaign).status_code == 409


# ---------------------------------------------------------------------------- control endpoints
def test_control_endpoints(acd: httpx.Client, tenant: SandboxTenant) -> None:
    resp = acd.post("/_sandbox/acd-agents", json={"states": ["Dialer", "Available", "LoggedOut"]}, headers=BARE)
    assert resp.status_code == 200
    assert tenant.acd_available() == 2
    assert acd.post("/_sandbox/acd-agents", json={"states": ["available"]}, headers=BARE).status_code == 400
    assert acd.post("/_sandbox/acd-agents", json={"states": "Dialer"}, headers=BARE).status_code == 400

    resp = acd.post(f"/_sandbox/skills/{DEFAULT_SKILL_ID}/edit", json={"maximumAttempts": 9}, headers=BARE)
    assert resp.status_code == 200
    assert resp.json()["maximumAttempts"] == 9
    assert resp.json()["maximumRatio"] == 2  # merged, not replaced
    assert acd.post("/_sandbox/skills/999/edit", json={}, headers=BARE).status_code == 404
    assert acd.post("/_sandbox/skills/x/edit", json={}, headers=BARE).status_code == 404

    state = acd.get("/_sandbox/state", headers=BARE).json()
    assert state["skillSettings"][str(DEFAULT_SKILL_ID)]["maximumAttempts"] == 9
    assert (state["logins"], state["refreshes"]) == (1, 0)
    assert (state["acdAgents"], state["acdAvailable"]) == (3, 2)
    assert state["agents"] == 40  # the v2 list is untouched

    refresh = login(acd)["refresh_token"]
    assert acd.post("/_sandbox/tokens/revoke-refresh", headers=BARE).status_code == 200
    data = {"grant_type": "refresh_token", "refresh_token": refresh}
    assert acd.post("/auth/token", data=data, auth=CLIENT).status_code == 400
    acd.post("/_sandbox/tokens/revoke", headers=BARE)
    assert acd.get(AGENTS).status_code == 401
