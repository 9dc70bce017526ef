"""The sandbox's fault kinds for the fault matrix: transport faults, odd pages, redirects, reshaped answers.

Raw HTTP (httpx or a bare socket) against the sandbox on loopback, no cxone-tune client: these tests pin down
what each fault does on the wire, so the fault matrix (tests/test_fault_matrix.py) can rely on it.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cxone_sandbox import (
    ACD_API_VERSION_DEFAULT,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    HUGE_DEFAULT_SIZE,
    Fault,
    SandboxServer,
    SandboxTenant,
    alter_field,
    decode_page_token,
    encode_page_token,
)
from tests.conftest import wait_for

AGENTS = "/api/v2/realtime/agents"
CAMPAIGN = f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}"
ACD_AGENTS = f"/inContactAPI/services/{ACD_API_VERSION_DEFAULT}/agents/states"
ACD_SETTINGS = f"/inContactAPI/services/{ACD_API_VERSION_DEFAULT}/skills/{DEFAULT_SKILL_ID}/parameters/general-settings"
SSL_CONTEXT = ssl.create_default_context()  # plain HTTP on loopback; shared so each client skips CA loading


@pytest.fixture
def tenant() -> SandboxTenant:
    return SandboxTenant()


@pytest.fixture
def log_lines() -> list[str]:
    return []


@pytest.fixture
def server(tenant: SandboxTenant, log_lines: list[str]) -> Iterator[SandboxServer]:
    with SandboxServer(tenant, log=log_lines.append) as srv:
        yield srv


@pytest.fixture
def api(server: SandboxServer, tenant: SandboxTenant) -> Iterator[httpx.Client]:
    """A client with a valid token and the Accept header both profiles want."""
    token, _ = tenant.issue_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5.0, verify=SSL_CONTEXT) as client:
        yield client


def raw_request(server: SandboxServer, tenant: SandboxTenant, path: str) -> socket.socket:
    """A bare socket that has sent one authenticated GET (and nothing else)."""
    token, _ = tenant.issue_token()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


def read_all(sock: socket.socket) -> tuple[bytes, BaseException | None]:
    """Everything the peer sends until it closes (None) or the connection breaks (the error)."""
    got = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError as exc:
            return got, exc
        if not data:
            return got, None
        got += data


# ---------------------------------------------------------------------------- the Fault record
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "redirect"}, "needs a location"),
        ({"kind": "drop_field"}, "needs a field"),
        ({"kind": "wrong_type", "field": "rules..maxConcurrentCalls"}, "needs a field"),
        ({"kind": "trickle", "chunk": 0}, "chunk"),
        ({"kind": "huge", "size": 0}, "size"),
        ({"kind": "status", "after": -1}, "after"),
        ({"kind": "trickle", "delay": -1.0}, "delay"),
    ],
)
def test_new_fault_fields_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)


def test_new_kinds_defaults() -> None:
    assert Fault("huge").size == HUGE_DEFAULT_SIZE == 50_000_000
    assert Fault("trickle").chunk == 1
    assert Fault("wrong_type", field="items", value={}).value == {}
    for kind in ("reset", "hang", "trickle", "trickle_head", "huge", "empty_page"):
        assert Fault(kind).after == 0


def test_after_lets_matching_requests_through_first(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("status", status=503, path=AGENTS, after=2))
    assert [api.get(AGENTS).status_code for _ in range(4)] == [200, 200, 503, 200]
    assert tenant.faults == []
    # A fault still waiting out its "after" does not shadow the next one.
    tenant.add_fault(Fault("status", status=502, path=AGENTS, after=1))
    tenant.add_fault(Fault("status", status=504, path=AGENTS))
    assert [api.get(AGENTS).status_code for _ in range(3)] == [504, 502, 200]


def test_alter_field_and_page_token_nonce() -> None:
    doc: dict[str, Any] = {"rules": {"maxConcurrentCalls": 12, "maxAttempts": 3}, "version": 17}
    assert alter_field(doc, "rules.maxConcurrentCalls", drop=True)
    assert doc == {"rules": {"maxAttempts": 3}, "version": 17}
    assert not alter_field(doc, "rules.maxConcurrentCalls", drop=True)  # already gone
    assert alter_field(doc, "version", drop=False, value="17")
    assert not alter_field(doc, "schedule.timezone", drop=False, value=1)  # no such parent: unchanged
    assert doc == {"rules": {"maxAttempts": 3}, "version": "17"}

    fresh = encode_page_token(10, nonce=7)
    assert fresh != encode_page_token(10) and fresh != encode_page_token(10, nonce=8)
    assert decode_page_token(fresh) == (10, False) == decode_page_token(encode_page_token(10))


# ---------------------------------------------------------------------------- reset
def test_reset_sends_part_of_the_answer_then_resets(server: SandboxServer, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("reset", path=CAMPAIGN))
    sock = raw_request(server, tenant, CAMPAIGN)
    with sock:
        got, error = read_all(sock)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = re.search(rb"Content-Length: (\d+)", head)
    assert length is not None
    assert 0 < len(body) < int(length.group(1))  # cut mid-body
    assert error is None or isinstance(error, ConnectionResetError)
    assert tenant.count("GET", CAMPAIGN) == 1


def test_reset_is_a_transport_error_and_the_next_request_works(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("reset", path=AGENTS))
    with pytest.raises(httpx.TransportError):
        api.get(AGENTS)
    assert api.get(AGENTS).status_code == 200


# ---------------------------------------------------------------------------- hang
def test_hang_never_answers_and_frees_itself_when_the_client_leaves(
    api: httpx.Client, tenant: SandboxTenant, log_lines: list[str]
) -> None:
    tenant.add_fault(Fault("hang", path=AGENTS))
    with pytest.raises(httpx.ReadTimeout):
        api.get(AGENTS, timeout=0.2)  # httpx closes the connection after a timeout
    assert wait_for(lambda: any(line.startswith(f"GET {AGENTS} -> no answer") for line in log_lines))
    assert api.get(AGENTS).status_code == 200


def test_hang_answer_stores_the_write_and_never_answers(api: httpx.Client, tenant: SandboxTenant) -> None:
    campaign = api.get(CAMPAIGN).json()
    campaign["rules"]["maxConcurrentCalls"] = 7
    tenant.add_fault(Fault("hang_answer", method="PUT", path=CAMPAIGN))
    with pytest.raises(httpx.ReadTimeout):
        api.put(CAMPAIGN, json=campaign, timeout=0.5)
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"] == 7  # stored all the same
    assert api.get(CAMPAIGN).json()["rules"]["maxConcurrentCalls"] == 7


def test_stop_returns_quickly_while_a_request_hangs(tenant: SandboxTenant) -> None:
    srv = SandboxServer(tenant).start()
    tenant.add_fault(Fault("hang", times=None))
    sock = raw_request(srv, tenant, AGENTS)
    with sock:
        assert wait_for(lambda: tenant.count("GET", AGENTS) == 1)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # no answer
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 2.0  # loose: the hanging handler lets go at once
        sock.settimeout(5)
        got, _ = read_all(sock)
    assert got == b""  # closed without a word


# ---------------------------------------------------------------------------- trickle
def test_trickle_sends_the_real_answer_piece_by_piece(api: httpx.Client, tenant: SandboxTenant) -> None:
    expected = api.get(CAMPAIGN).content
    tenant.add_fault(Fault("trickle", path=CAMPAIGN, delay=0.05, chunk=max(1, len(expected) // 5)))
    with api.stream("GET", CAMPAIGN, timeout=1.0) as resp:  # a read timeout above the gap: never fires
        assert resp.headers["Content-Length"] == str(len(expected))
        pieces = list(resp.iter_raw())
    assert b"".join(pieces) == expected
    assert len(pieces) >= 2  # it really came in pieces
    assert tenant.cut_answers == []


def test_a_trickle_the_client_leaves_is_noted_as_cut(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("trickle", path=AGENTS, delay=0.05, chunk=10))
    with api.stream("GET", AGENTS) as resp:
        assert resp.status_code == 200
        total = int(resp.headers["Content-Length"])
    # Closed after the head: the sandbox notices at its next write or two.
    assert wait_for(lambda: bool(tenant.cut_answers))
    method, path, kind, sent = tenant.cut_answers[0]
    assert (method, path, kind) == ("GET", AGENTS, "trickle")
    assert 0 <= sent < total


def test_trickle_head_sends_the_status_line_and_headers_slowly(server: SandboxServer, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("trickle_head", path=CAMPAIGN, delay=0.05, chunk=20))
    sock = raw_request(server, tenant, CAMPAIGN)
    with sock:
        first = sock.recv(65536)
        got = first
        while True:
            head, sep, body = got.partition(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head)
            if sep and length is not None and len(body) >= int(length.group(1)):
                break
            data = sock.recv(65536)
            assert data, "closed before the end of the answer"
            got += data
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    assert 0 < len(first) < len(head)  # the head came in pieces (20 bytes each, 0.05 s apart)
    assert json.loads(body)["id"] == DEFAULT_CAMPAIGN_ID


# ---------------------------------------------------------------------------- huge
def test_huge_body_is_chunked_without_content_length(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("huge", path=AGENTS, size=1_000_003))
    with api.stream("GET", AGENTS) as resp:
        assert resp.status_code == 200
        assert "Content-Length" not in resp.headers
        assert resp.headers["Transfer-Encoding"] == "chunked"
        size, first = 0, b""
        for piece in resp.iter_bytes():
            first = first or piece
            size += len(piece)
    assert size == 1_000_003
    assert first.startswith(b'{"items": [')
    assert tenant.cut_answers == []


def test_huge_body_left_early_is_noted_as_cut(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("huge", path=AGENTS))  # 50 MB, generated as it goes
    read = 0
    with api.stream("GET", AGENTS) as resp:
        for piece in resp.iter_bytes():
            read += len(piece)
            if read >= 1_000_000:
                break
    assert wait_for(lambda: bool(tenant.cut_answers))
    method, path, kind, sent = tenant.cut_answers[0]
    assert (method, path, kind) == ("GET", AGENTS, "huge")
    assert read <= sent < HUGE_DEFAULT_SIZE
    assert api.get(CAMPAIGN).status_code == 200


# ---------------------------------------------------------------------------- empty_page
def test_empty_page_v2_then_the_rest_follows(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("empty_page", after=1))
    first = api.get(AGENTS, params={"pageSize": 10}).json()
    sent = first["nextPageToken"]
    empty = api.get(AGENTS, params={"pageSize": 10, "nextPageToken": sent}).json()
    assert empty["items"] == []
    assert empty["nextPageToken"] not in (None, "", sent)  # a fresh token ...
    assert decode_page_token(empty["nextPageToken"]) == decode_page_token(sent)  # ... for the same offset
    ids = [agent["userId"] for agent in first["items"]]
    token = empty["nextPageToken"]
    while token:
        page = api.get(AGENTS, params={"pageSize": 10, "nextPageToken": token}).json()
        ids += [agent["userId"] for agent in page["items"]]
        token = page["nextPageToken"]
    assert len(ids) == len(set(ids)) == 40


def test_empty_page_acd_keeps_total_and_points_at_the_same_skip(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("empty_page"))
    body = api.get(ACD_AGENTS, params={"skip": 10, "top": 10}).json()
    assert (body["agentStates"], body["totalRecords"]) == ([], 40)
    assert parse_qs(urlsplit(body["_links"]["next"]).query)["skip"] == ["10"]
    assert len(api.get(ACD_AGENTS, params={"skip": 10, "top": 10}).json()["agentStates"]) == 10  # used up


def test_empty_page_only_hits_agent_lists(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("empty_page"))  # no path: still not used up by the token request or the campaign
    form = {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    assert api.post("/oauth/token", data=form).status_code == 200
    assert api.get(CAMPAIGN).status_code == 200
    assert api.get(AGENTS).json()["items"] == []


# ---------------------------------------------------------------------------- redirect
def test_redirect_answers_3xx_with_location(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("redirect", status=307, path=AGENTS, location="http://127.0.0.2:9/elsewhere"))
    tenant.add_fault(Fault("redirect", path=AGENTS, location="http://127.0.0.2:9/other"))  # status 503: not a 3xx
    first, second = api.get(AGENTS), api.get(AGENTS)  # httpx does not follow by default
    assert (first.status_code, first.headers["Location"]) == (307, "http://127.0.0.2:9/elsewhere")
    assert (second.status_code, second.headers["Location"]) == (302, "http://127.0.0.2:9/other")
    assert api.get(AGENTS).status_code == 200


# ---------------------------------------------------------------------------- drop_field / wrong_type
def test_drop_field_and_wrong_type_reshape_the_real_answer(api: httpx.Client, tenant: SandboxTenant) -> None:
    real = api.get(CAMPAIGN).json()
    tenant.add_fault(Fault("drop_field", method="GET", path=CAMPAIGN, field="rules.maxConcurrentCalls"))
    tenant.add_fault(Fault("wrong_type", method="GET", path=CAMPAIGN, field="rules.maxConcurrentCalls", value="12"))
    tenant.add_fault(Fault("wrong_type", method="GET", path=ACD_SETTINGS, field="maximumRatio", value=True))
    tenant.add_fault(Fault("drop_field", method="GET", path=ACD_AGENTS, field="agentStates"))
    dropped = api.get(CAMPAIGN).json()
    assert "maxConcurrentCalls" not in dropped["rules"]
    assert {**dropped, "rules": real["rules"]} == real
    assert api.get(CAMPAIGN).json()["rules"]["maxConcurrentCalls"] == "12"
    assert api.get(ACD_SETTINGS).json()["maximumRatio"] is True
    acd = api.get(ACD_AGENTS).json()
    assert "agentStates" not in acd and acd["totalRecords"] == 40
    assert api.get(CAMPAIGN).json() == real  # all used up
    assert tenant.campaign(DEFAULT_CAMPAIGN_ID) == real  # only the answer changed, never the stored resource


def test_reshaping_leaves_error_answers_alone(api: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_fault(Fault("drop_field", path=CAMPAIGN, field="errors"))
    resp = api.get(CAMPAIGN, headers={"Authorization": "Bearer revoked"})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    tenant.add_fault(Fault("drop_field", path="/api/v2/campaigns/nope", field="errors"))
    assert "errors" in api.get("/api/v2/campaigns/nope").json()


# ---------------------------------------------------------------------------- control endpoint
def test_new_kinds_through_the_control_endpoint(api: httpx.Client, tenant: SandboxTenant) -> None:
    bare = {"Authorization": ""}
    fault = {"kind": "wrong_type", "path": CAMPAIGN, "field": "rules.maxConcurrentCalls", "value": "12"}
    assert api.post("/_sandbox/faults", json=fault, headers=bare).status_code == 200
    assert api.post("/_sandbox/faults", json={"kind": "redirect"}, headers=bare).status_code == 400
    state = api.get("/_sandbox/state", headers=bare).json()
    assert state["faults"][0]["field"] == "rules.maxConcurrentCalls"
    assert state["faults"][0]["value"] == "12"
    assert state["cutAnswers"] == []
    assert api.get(CAMPAIGN).json()["rules"]["maxConcurrentCalls"] == "12"
