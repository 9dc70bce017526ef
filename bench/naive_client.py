"""The benchmark's baseline: a naive pacing client of the design document's kind, one process per run.

It does what the design document's sample does on every cron tick, with httpx and nothing else:

- a NEW token every run (no token cache; acd: discovery, then the access-key login, then the API base
  discovery, every run);
- agents in pages of 50 (v2 ``pageSize=50``; acd ``top=50``);
- the design's rule ``floor(available x 0.8)``, clamped to the tenant's bounds;
- always GET the resource and PUT it back with the value set, even when it is already right.

It is not a straw man: one ``httpx.Client`` (keep-alive connection pool) for the whole run, states compared
case-insensitively, the whole resource sent back. It reads the same ``CXONE_*`` variables as cxone-tune
(tenant URL or issuer, client, access key, campaign or skill) so the benchmark gives both the same
environment. On success it prints one JSON line (``available``, ``value``, ``requests``) and exits 0; any
HTTP error exits 1 with one line on stderr.

    CXONE_TENANT_URL=... CXONE_CLIENT_ID=... python bench/naive_client.py v2
    CXONE_ISSUER=... CXONE_ACCESS_KEY_ID=... python bench/naive_client.py acd
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
from typing import Any

import httpx

PAGE = 50  # the design document's page size
SAFETY = 0.8  # the design document's safety factor
V2_BOUNDS = (1, 50)  # rules.maxConcurrentCalls: the contract's example bounds (the sandbox's too)
ACD_BOUNDS = (1, 5)  # maximumRatio: the sandbox tenant's range (the real one is not public)
ACD_VERSION = "v30.0"
ACD_CAPACITY = ("available", "dialer")  # agentStateName values that are outbound capacity
TIMEOUT = 60.0  # the design's sample has none; the benchmark must not hang on a stuck run


def design_value(available: int, bounds: tuple[int, int]) -> int:
    """The design document's rule: floor(available x 0.8), clamped to the bounds."""
    low, high = bounds
    return max(low, min(high, math.floor(available * SAFETY)))


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SystemExit(f"naive_client: {name} is not set")
    return value


class Counter:
    """Counts the requests this run sends."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.requests = 0

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        response = self.client.request(method, url, **kwargs)
        response.raise_for_status()
        return response


def run_v2(http: Counter) -> dict[str, Any]:
    base = env("CXONE_TENANT_URL").rstrip("/")
    token = http.send(
        "POST",
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env("CXONE_CLIENT_ID"),
            "client_secret": env("CXONE_CLIENT_SECRET"),
            "scope": "realtime:read campaign:read campaign:write",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    available = 0
    params: dict[str, Any] = {"pageSize": PAGE}
    while True:
        page = http.send("GET", f"{base}/api/v2/realtime/agents", params=params, headers=headers).json()
        available += sum(1 for agent in page["items"] if str(agent.get("state", "")).lower() == "available")
        next_token = page.get("nextPageToken")
        if not next_token:
            break
        params = {"pageSize": PAGE, "nextPageToken": next_token}

    value = design_value(available, V2_BOUNDS)
    url = f"{base}/api/v2/campaigns/{env('CXONE_CAMPAIGN_ID')}"
    campaign = http.send("GET", url, headers=headers).json()
    campaign["rules"]["maxConcurrentCalls"] = value
    http.send("PUT", url, json=campaign, headers=headers)
    return {"available": available, "value": value}


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def run_acd(http: Counter) -> dict[str, Any]:
    issuer = env("CXONE_ISSUER").rstrip("/")
    openid = http.send("GET", f"{issuer}/.well-known/openid-configuration").json()
    token = http.send(
        "POST",
        openid["token_endpoint"],
        data={
            "grant_type": "password",
            "username": env("CXONE_ACCESS_KEY_ID"),
            "password": env("CXONE_ACCESS_KEY_SECRET"),
        },
        auth=(env("CXONE_CLIENT_ID"), env("CXONE_CLIENT_SECRET")),
    ).json()["access_token"]
    tenant_id = jwt_claims(token)["tenantId"]
    config = http.send("GET", f"{issuer}/.well-known/cxone-configuration", params={"tenantId": tenant_id}).json()
    base = f"{config['api_endpoint'].rstrip('/')}/inContactAPI/services/{ACD_VERSION}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    available, skip = 0, 0
    while True:
        page = http.send(
            "GET",
            f"{base}/agents/states",
            params={"updatedSince": "1970-01-01T00:00:00Z", "skip": skip, "top": PAGE},
            headers=headers,
        ).json()
        rows = page["agentStates"]
        available += sum(1 for row in rows if str(row.get("agentStateName", "")).lower() in ACD_CAPACITY)
        skip += len(rows)
        if not rows or skip >= int(page["totalRecords"]) or not (page.get("_links") or {}).get("next"):
            break

    value = design_value(available, ACD_BOUNDS)
    field = env("CXONE_PACING_FIELD", "maximumRatio")
    url = f"{base}/skills/{env('CXONE_SKILL_ID')}/parameters/general-settings"
    settings = http.send("GET", url, headers=headers).json()
    settings[field] = value
    http.send("PUT", url, json={"generalSettings": settings}, headers=headers)
    return {"available": available, "value": value}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("v2", "acd"):
        print("usage: naive_client.py v2|acd", file=sys.stderr)
        return 2
    with httpx.Client(timeout=TIMEOUT) as client:
        http = Counter(client)
        try:
            result = run_v2(http) if argv[0] == "v2" else run_acd(http)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            print(f"naive_client: request {http.requests} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print(json.dumps({**result, "requests": http.requests}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
