"""The fault matrix: every fault of docs/reliability.md, against the sandbox over loopback, for both profiles.

Each test runs the CLI in-process (``run-once --json``) with one fault switched on and checks the four things
an operator relies on: the exit code, the writes (PUTs to the steered resource), the stored resource
afterwards (unchanged on failure; on success the expected value with every other field intact) and one clean
error line without a traceback. The last two tests keep the table in docs/reliability.md and this module in
step: every test the table names exists, and every test here is named in the table.

Budgets and timeouts are small (``CXONE_*`` variables) so the whole matrix runs in seconds; wall times are
only ever checked against loose bounds (budget + 10 s), attempts against exact or bounded counts.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import Result

from cxone_sandbox import Fault, SandboxServer
from cxone_tune import http as http_mod
from cxone_tune.profiles.acd import COUNT_FIELDS
from tests import doctables, tls_servers
from tests.conftest import Cli, wait_for
from tests.harness import Harness
from tests.tls_servers import Pki, PlainServer, TlsServer, make_pki, serving

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
PROFILES = ("v2", "acd")
TOKEN_PATHS = {"v2": "/oauth/token", "acd": "/auth/token"}
SLACK = 10.0  # seconds: the loose sanity bound on a run's wall time beyond its budget
_MIB = 1024 * 1024


# -- fixtures and helpers --------------------------------------------------------------------------------------


def setenv(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """``setenv(mp, time_budget=3)`` sets CXONE_TIME_BUDGET=3."""
    for name, value in values.items():
        monkeypatch.setenv(f"CXONE_{name.upper()}", str(value))


def run(cli: Cli, *options: str) -> tuple[Result, float]:
    """``run-once --json`` in-process, and its wall time."""
    started = time.monotonic()
    result = cli(*options, "run-once", "--json")
    return result, time.monotonic() - started


def others(h: Harness, resource: dict[str, Any]) -> dict[str, Any]:
    """Every field but the steered one and the version: what a write must leave exactly as it was."""
    rest = copy.deepcopy(resource)
    rest.pop("version", None)
    if h.name == "v2":
        rest.get("rules", {}).pop("maxConcurrentCalls", None)
    else:
        rest.pop("maximumRatio", None)
    return rest


def succeeded(h: Harness, result: Result, before: dict[str, Any]) -> dict[str, Any]:
    """Exit 0, the policy's value stored, every other field intact, no traceback. Returns the JSON document."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    target = h.expected(h.available())
    assert h.value_of(before) != target  # the run had something to write
    assert (body["applied"], body["limit"]) == (True, target)
    after = h.stored()
    assert h.value_of(after) == target
    assert others(h, after) == others(h, before)
    if h.name == "v2":
        assert after["version"] == before["version"] + 1  # exactly one write was accepted
    return body


def failed(h: Harness, result: Result, code: int, before: dict[str, Any] | None, *needles: str) -> str:
    """The exit code, one error line naming what went wrong, no traceback; the resource unchanged (unless None)."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cxone-tune: error: "), last
    for needle in needles:
        assert needle in last, last
    if before is not None:
        assert h.stored() == before
    return last


def agents_call(h: Harness) -> str:
    """How the tool names the agents call in its error line."""
    return "GET agents page" if h.name == "v2" else "GET agents/states page"


# -- 429 -------------------------------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, retry_after_cap=0.6)  # a wait no backoff's first one (at most 0.5 s) can be
    before = harness.stored()
    harness.tenant.add_fault(Fault("status", status=429, retry_after="1", method="GET", path=harness.agents_path))
    result, _ = run(cli, "-v")
    succeeded(harness, result, before)
    assert "retrying in 0.6s" in result.stderr  # the header's 1 s, capped: not a backoff
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_429_retry_after_http_date_is_honoured(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, retry_after_cap=0.6)
    before = harness.stored()
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    harness.tenant.add_fault(Fault("status", status=429, retry_after=when, method="GET", path=harness.agents_path))
    result, _ = run(cli, "-v")
    succeeded(harness, result, before)
    # The date is 2-3 s ahead, capped at 0.6 s: only a parsed date gives 0.6 (a backoff's first wait is <= 0.5).
    assert "retrying in 0.6s" in result.stderr
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_429_without_retry_after_backs_off(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("status", status=429, method="GET", path=harness.agents_path))
    result, _ = run(cli, "-v")
    succeeded(harness, result, before)
    assert re.search(r"retrying in 0\.[0-5]s \(attempt 1\)", result.stderr), result.stderr  # full jitter, <= 0.5
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_429_forever_is_75_within_the_budget(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 1.5
    setenv(monkeypatch, time_budget=budget, max_attempts=20, retry_after_cap=1)
    before = harness.stored()
    harness.tenant.add_fault(
        Fault("status", status=429, retry_after="1", method="GET", path=harness.agents_path, times=None)
    )
    result, elapsed = run(cli)
    failed(harness, result, 75, before, "429", agents_call(harness))
    # The budget ended it, not the 20 attempts: 1 s apart, a 1.5 s budget leaves room for 2.
    assert 2 <= harness.pages() <= budget + 1
    assert harness.writes() == 0
    assert elapsed < budget + SLACK


# -- 5xx -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_once_is_retried(cli: Cli, harness: Harness, status: int) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("status", status=status, method="GET", path=harness.agents_path))
    result, _ = run(cli)
    succeeded(harness, result, before)
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_5xx_every_time_is_69(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("status", status=503, method="GET", path=harness.agents_path, times=None))
    result, _ = run(cli)
    failed(harness, result, 69, before, "503", agents_call(harness))
    assert (harness.pages(), harness.writes()) == (3, 0)  # CXONE_MAX_ATTEMPTS=3


# -- the connection --------------------------------------------------------------------------------------------


def test_connection_refused_is_69(cli: Cli, harness: Harness, server: SandboxServer) -> None:
    before = harness.stored()
    server.stop()  # nothing listens on the port any more: every connect is refused
    result, _ = run(cli)
    failed(harness, result, 69, before, "cannot reach the API")
    assert harness.tenant.count() == 0
    assert harness.writes() == 0


def test_reset_mid_answer_once_is_retried(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("reset", method="GET", path=harness.agents_path))
    result, _ = run(cli)
    succeeded(harness, result, before)
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_reset_mid_answer_every_time_is_69(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("reset", method="GET", path=harness.agents_path, times=None))
    result, _ = run(cli)
    failed(harness, result, 69, before, agents_call(harness))
    assert (harness.pages(), harness.writes()) == (3, 0)


def test_no_answer_ends_within_the_budget_with_69(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    budget, read_timeout = 1.5, 0.5
    setenv(monkeypatch, time_budget=budget, read_timeout=read_timeout, max_attempts=20)
    before = harness.stored()
    harness.tenant.add_fault(Fault("hang", method="GET", path=harness.agents_path, times=None))
    result, elapsed = run(cli)
    failed(harness, result, 69, before, agents_call(harness))
    # Retried, but each attempt waits a read timeout: the budget, not CXONE_MAX_ATTEMPTS, ends it.
    assert 2 <= harness.pages() <= budget / read_timeout + 1
    assert harness.writes() == 0
    assert elapsed < budget + SLACK


@pytest.mark.parametrize(
    "part",
    [
        "body",
        "head",
        "401-body",
        "token-head",
    ],
)
def test_trickled_answer_is_cut_at_the_budget_with_69(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """A slow trickle: each piece inside the read timeout, the whole answer far longer than the budget.

    ``body``: the agents page's body; ``head``: its status line and headers; ``401-body``: the body of the 401
    that a revoked token gets (read by the token-refresh flow, not by the request itself); ``token-head``: the
    status line and headers of the token request's answer (no cached token; acd discovers its endpoints first).
    """
    budget, read_timeout, gap = 0.5, 0.3, 0.05
    path, method, call = harness.agents_path, "GET", agents_call(harness)
    if part == "token-head":
        path, method, call = TOKEN_PATHS[harness.name], "POST", "POST token"
    else:
        # A cached token (and, for acd, API base): the run's first request is the agents GET, at once.
        assert cli("auth-check", "--json").exit_code == 0
    if part == "401-body":
        harness.tenant.revoke_all_tokens()  # the agents GET finds the cached token revoked
    setenv(monkeypatch, time_budget=budget, read_timeout=read_timeout, max_attempts=3)
    # Pieces every 0.05 s (well inside the 0.3 s read timeout); the whole part takes ~1.3 s, past the budget.
    pieces = round((budget + 0.8) / gap)
    if part in ("head", "token-head"):
        size = 150  # status line, Server, Date, Content-Type and Content-Length
    elif part == "401-body":
        size = 90  # {"error": "invalid_token", "error_description": "..."}
    elif harness.name == "v2":
        size = len(json.dumps({"items": harness.tenant.agents_page(0, 1000)[0]}))
    else:  # the rows as a count asks for them (COUNT_FIELDS), under a third of whole ones
        page = harness.tenant.acd_agents_page(0, 1000)
        assert page is not None
        columns = COUNT_FIELDS.split(",")
        size = len(json.dumps([{k: row[k] for k in columns if k in row} for row in page[0]]))
    kind = "trickle_head" if part.endswith("head") else "trickle"
    before = harness.stored()
    harness.tenant.add_fault(Fault(kind, method=method, path=path, delay=gap, chunk=max(1, size // pieces)))
    result, elapsed = run(cli)
    assert result.exit_code == 69, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert (harness.stored(), harness.writes()) == (before, 0)
    assert elapsed < budget + SLACK
    # The property itself: the client stopped reading at its deadline instead of waiting for the last byte.
    cut = wait_for(lambda: any(c[1] == path for c in harness.tenant.cut_answers), seconds=0.5)
    assert cut, f"the client read the whole trickled {part}: {elapsed:.1f}s on a {budget}s budget"
    # and the error names the call that ran out, and why
    failed(harness, result, 69, before, call, "time budget")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("failure", ["unknown-ca", "plain-http"])
def test_tls_failure_is_78_and_not_retried(
    cli: Cli, harness: Harness, server: SandboxServer, pki: Pki, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The configured URL leads to an https server whose certificate no trusted CA signed, or to a plain-HTTP
    server: a configuration problem (CXONE_CA_BUNDLE, the URL), not an outage. Fixtures: tests/tls_servers.py."""
    before = harness.stored()
    with contextlib.ExitStack() as stack:
        tls: TlsServer | PlainServer
        if failure == "unknown-ca":
            tls = stack.enter_context(serving(TlsServer(pki.good)))
        else:
            tls = PlainServer()
            stack.callback(tls.close)
        for name, value in harness.env.items():
            if value == server.url:  # v2: CXONE_TENANT_URL; acd: CXONE_ISSUER
                monkeypatch.setenv(name, tls.url)
        result, _ = run(cli)
    cause = "certificate verify failed: unknown CA" if failure == "unknown-ca" else "the server did not speak TLS"
    failed(harness, result, 78, before, f"TLS with {tls_servers.HOST}:", cause)
    assert tls.connections == 1  # CXONE_MAX_ATTEMPTS=3, yet one attempt: nothing to retry
    assert (harness.tenant.count(), harness.writes()) == (0, 0)


# -- answers the tool cannot understand ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["agents", "target"])
def test_malformed_json_is_76(cli: Cli, harness: Harness, where: str) -> None:
    before = harness.stored()
    path = harness.agents_path if where == "agents" else harness.target_path
    harness.tenant.add_fault(Fault("malformed", method="GET", path=path))
    result, _ = run(cli)
    failed(harness, result, 76, before, "not valid JSON")
    assert harness.writes() == 0


# (profile, "agents" or "target", fault kind, dotted field, wrong value)
_SHAPES = [
    pytest.param("v2", "agents", "drop_field", "items", None, id="v2-no-items"),
    pytest.param("v2", "agents", "wrong_type", "items", {}, id="v2-items-object"),
    pytest.param("v2", "agents", "wrong_type", "nextPageToken", 5, id="v2-nextPageToken-number"),
    pytest.param("v2", "target", "drop_field", "version", None, id="v2-no-version"),
    pytest.param("v2", "target", "drop_field", "rules.maxConcurrentCalls", None, id="v2-no-maxConcurrentCalls"),
    pytest.param("v2", "target", "wrong_type", "rules.maxConcurrentCalls", "12", id="v2-maxConcurrentCalls-string"),
    pytest.param("acd", "agents", "drop_field", "agentStates", None, id="acd-no-agentStates"),
    pytest.param("acd", "agents", "wrong_type", "agentStates", {}, id="acd-agentStates-object"),
    pytest.param("acd", "agents", "drop_field", "totalRecords", None, id="acd-no-totalRecords"),
    pytest.param("acd", "agents", "wrong_type", "totalRecords", "x", id="acd-totalRecords-string"),
    pytest.param("acd", "target", "drop_field", "maximumRatio", None, id="acd-no-maximumRatio"),
    pytest.param("acd", "target", "wrong_type", "maximumRatio", True, id="acd-maximumRatio-bool"),
]


@pytest.mark.parametrize(("harness", "where", "kind", "field", "value"), _SHAPES, indirect=["harness"])
def test_wrong_shape_is_76_and_writes_nothing(
    cli: Cli, harness: Harness, where: str, kind: str, field: str, value: Any
) -> None:
    before = harness.stored()
    path = harness.agents_path if where == "agents" else harness.target_path
    harness.tenant.add_fault(Fault(kind, method="GET", path=path, field=field, value=value))
    result, _ = run(cli)
    failed(harness, result, 76, before, field.rsplit(".", 1)[-1])
    assert harness.writes() == 0


# -- paging ----------------------------------------------------------------------------------------------------


def test_empty_page_mid_paging(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, page_size=10)
    before = harness.stored()
    harness.tenant.add_fault(Fault("empty_page", after=1))  # the second page of four comes back empty
    result, _ = run(cli)
    if harness.name == "v2":
        # An empty page with a next token is legitimate: the rest follows and every agent is counted.
        body = succeeded(harness, result, before)
        assert body["total_agents"] == 40
        assert (harness.pages(), harness.writes()) == (5, 1)
    else:
        # Zero rows while skip < totalRecords: the client refuses to loop and writes nothing. Pages 2 to 4 go
        # out together (the first page told how many there are); the empty one cancels those not yet sent.
        failed(harness, result, 76, before, "did not advance")
        assert 2 <= harness.pages() <= 4
        assert harness.writes() == 0


def test_pager_that_never_ends_is_76(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, page_size=10)
    before = harness.stored()
    # v2: the same nextPageToken comes back; acd: totalRecords can never be reached.
    harness.tenant.add_fault(Fault("repeat_page_token", times=None))
    result, _ = run(cli)
    failed(harness, result, 76, before, "repeated a page token" if harness.name == "v2" else "did not advance")
    # 4 pages of rows, then the empty one; acd has sent the pages after it too (its window) when that one is read
    assert harness.pages() <= 4 + harness.window
    assert harness.writes() == 0


# -- authentication and permission -----------------------------------------------------------------------------


def test_token_revoked_mid_run_is_renewed_once(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("revoke_token", method="GET", path=harness.agents_path))
    result, _ = run(cli)
    succeeded(harness, result, before)
    if harness.name == "v2":
        assert harness.tenant.count("POST", "/oauth/token") == 2  # the login, then one renewal
    else:
        assert (harness.tenant.logins, harness.tenant.refreshes) == (1, 1)  # the refresh token, no new login
    assert (harness.pages(), harness.writes()) == (2, 1)


def test_refresh_refused_is_77(cli: Cli, harness: Harness) -> None:
    assert cli("auth-check", "--json").exit_code == 0  # a cached token, so the run starts without a login
    before = harness.stored()
    if harness.name == "v2":
        harness.tenant.clients.clear()  # the client was revoked: the token endpoint answers 401 invalid_client
    else:
        harness.tenant.revoke_refresh_tokens()  # the refresh grant is refused (invalid_grant) ...
        harness.tenant.access_keys.clear()  # ... and so is the password login with the access key
    harness.tenant.add_fault(Fault("revoke_token", method="GET", path=harness.agents_path))
    result, _ = run(cli)
    failed(harness, result, 77, before, "POST token", "401")
    if harness.name == "v2":
        assert harness.tenant.count("POST", "/oauth/token") == 2  # auth-check's login, the refused renewal
    else:
        assert harness.tenant.count("POST", "/auth/token") == 3  # auth-check's login, refresh, password
        assert (harness.tenant.logins, harness.tenant.refreshes) == (1, 0)
    assert (harness.pages(), harness.writes()) == (1, 0)


@pytest.mark.parametrize("call", ["agents-read", "read", "write"])
def test_403_is_77(cli: Cli, harness: Harness, call: str) -> None:
    before = harness.stored()
    method, path = {
        "agents-read": ("GET", harness.agents_path),
        "read": ("GET", harness.target_path),
        "write": ("PUT", harness.target_path),
    }[call]
    harness.tenant.add_fault(Fault("status", status=403, method=method, path=path, times=None))
    result, _ = run(cli)
    failed(harness, result, 77, before, "403", method)
    assert harness.writes() == (1 if call == "write" else 0)  # the one PUT was refused, not retried


def test_404_is_78_naming_the_id(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "c-404" if harness.name == "v2" else "9999"
    setenv(monkeypatch, **({"campaign_id": missing} if harness.name == "v2" else {"skill_id": missing}))
    before = harness.stored()
    result, _ = run(cli)
    failed(harness, result, 78, before, "404", missing)
    assert harness.tenant.count("PUT") == 0


# -- writing ---------------------------------------------------------------------------------------------------


def test_409_once_keeps_both_changes(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("concurrent_edit"))
    result, _ = run(cli)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    body = json.loads(result.stdout)
    assert (body["applied"], body["conflicts"]) == (True, 1)
    after = harness.stored()
    assert harness.value_of(after) == harness.expected(harness.available())  # our change
    if harness.name == "v2":
        assert after["name"] == f"{before['name']} (edited)"  # and the other writer's
        assert after["rules"]["maxAttempts"] == before["rules"]["maxAttempts"] + 1
        assert {k: v for k, v in after.items() if k not in ("name", "rules", "version")} == {
            k: v for k, v in before.items() if k not in ("name", "rules", "version")
        }
        assert harness.writes() == 2  # one refused with 409, one accepted
    else:
        assert after["aggressiveness"] == "High"
        assert after["maximumAttempts"] == before["maximumAttempts"] + 1
        rest = ("maximumRatio", "aggressiveness", "maximumAttempts")
        assert {k: v for k, v in after.items() if k not in rest} == {k: v for k, v in before.items() if k not in rest}
        assert harness.writes() == 1  # the re-read saw the edit before any PUT was sent


def test_409_forever_is_75_and_the_other_writer_wins(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(Fault("concurrent_edit", times=None))
    result, _ = run(cli)
    failed(harness, result, 75, None, "kept changing")
    after = harness.stored()
    assert harness.value_of(after) == harness.value_of(before)  # nothing of ours landed
    if harness.name == "v2":
        assert harness.writes() == 4  # CXONE_MAX_CONFLICT_RETRIES=3: four PUTs, every one refused with 409
        assert after["rules"]["maxAttempts"] == before["rules"]["maxAttempts"] + 4  # each edit kept
        assert after["name"] == before["name"] + " (edited)" * 4
    else:
        assert harness.writes() == 0  # every re-read found another edit: no PUT at all
        edits = harness.tenant.count("GET", harness.target_path)
        assert after["maximumAttempts"] == before["maximumAttempts"] + edits


def test_400_out_of_bounds_is_78_with_the_apis_message(cli: Cli, harness: Harness) -> None:
    # The tenant's bounds are narrower than the tool's: the computed value is refused.
    if harness.name == "v2":
        harness.tenant.max_limit = 5
        message = "maxConcurrentCalls must be between 1 and 5"
    else:
        harness.tenant.max_ratio = 1.2
        message = "maximumRatio must be between 1.0 and 1.2"
    before = harness.stored()
    result, _ = run(cli)
    failed(harness, result, 78, before, "400", message)
    assert harness.writes() == 1  # refused, not retried


# -- redirects -------------------------------------------------------------------------------------------------


class _Recorder(ThreadingHTTPServer):
    """Another host: records every request it gets (method, path, headers) and answers 200 {}."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        super().__init__((host, 0), _RecordingHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self) -> None:
        cast(_Recorder, self.server).seen.append((self.command, self.path, dict(self.headers.items())))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST = _record

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    """On 127.0.0.2 (another host as far as the client knows) when it can bind there, else 127.0.0.1."""
    try:
        srv = _Recorder("127.0.0.2")
    except OSError:
        srv = _Recorder("127.0.0.1")
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("call", ["read", "write"])
def test_redirect_to_another_host_never_carries_the_token(
    cli: Cli, harness: Harness, recorder: _Recorder, call: str
) -> None:
    before = harness.stored()
    method, path = ("GET", harness.agents_path) if call == "read" else ("PUT", harness.target_path)
    harness.tenant.add_fault(Fault("redirect", status=307, method=method, path=path, location=recorder.url + path))
    result, _ = run(cli)
    failed(harness, result, 76, before, "redirect", "not followed")
    assert harness.writes() == (1 if call == "write" else 0)  # the PUT was answered 307, nothing stored
    assert not any("authorization" in {k.lower() for k in headers} for _, _, headers in recorder.seen)
    assert recorder.seen == []  # not even a request without the token


# -- size ------------------------------------------------------------------------------------------------------


def test_huge_answer_is_refused_without_exhausting_memory(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    size = 50 * 1000 * 1000
    assert size > http_mod.MAX_BODY_BYTES
    harness.tenant.add_fault(Fault("huge", method="GET", path=harness.agents_path, size=size))
    tracemalloc.start()
    try:
        result, _ = run(cli)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    failed(harness, result, 76, before, "larger than")
    assert (harness.pages(), harness.writes()) == (1, 0)  # not retried
    # Neither the sandbox (which streams it) nor the tool (which stops at its cap) ever held the whole answer.
    assert peak < http_mod.MAX_BODY_BYTES + 8 * _MIB, f"peak {peak / _MIB:.1f} MiB"
    assert wait_for(
        lambda: any(cut[1] == harness.agents_path and cut[3] < size for cut in harness.tenant.cut_answers), seconds=1.0
    )


# -- the steered skill's pool and abandon figures (acd only: v2 has no such reads) -------------------------------

ACD_SKILL = "/inContactAPI/services/v30.0/skills/4567"


def _read_fault(kind: str, path: str) -> Fault:
    """The faults the three new reads are tested against, by name."""
    return {
        "503": Fault("status", status=503, method="GET", path=path, times=None),
        "403": Fault("status", status=403, method="GET", path=path, times=None),
        "malformed": Fault("malformed", method="GET", path=path),
        "no-agentSkillAssignments": Fault("drop_field", path=path, field="agentSkillAssignments"),
        "totalRecords-never-reached": Fault("wrong_type", path=path, field="totalRecords", value=10**6, times=None),
        "no-skillActivity": Fault("drop_field", path=path, field="skillActivity"),
        "agentsAvailable-not-a-count": Fault(
            "wrong_type", path=path, field="skillActivity", value=[{"skillId": 4567, "agentsAvailable": "x"}]
        ),
        "no-skillSummaries": Fault("wrong_shape", method="GET", path=path, times=None),
    }[kind]


_POOL_CODES = {"503": 69, "403": 77, "malformed": 76}


_NEEDLES = {
    "503": "503",
    "403": "403",
    "malformed": "not valid JSON",
    "no-agentSkillAssignments": "no agentSkillAssignments list",
    "totalRecords-never-reached": "did not advance",
    "no-skillActivity": "no skillActivity list",
    "agentsAvailable-not-a-count": "agentsAvailable is missing or not a count",
}


@pytest.mark.parametrize("kind", ["503", "403", "malformed", "no-agentSkillAssignments", "totalRecords-never-reached"])
@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_an_unreadable_assignment_list_writes_nothing(cli: Cli, harness: Harness, kind: str) -> None:
    before = harness.stored()
    harness.tenant.add_fault(_read_fault(kind, f"{ACD_SKILL}/agents"))
    result, _ = run(cli)
    failed(harness, result, _POOL_CODES.get(kind, 76), before, "GET skill 4567 agents page", _NEEDLES[kind])
    assert harness.writes() == 0
    assert harness.pages() == 0  # the assignments come first: no agent page is read without them


@pytest.mark.parametrize("kind", ["503", "malformed", "no-skillActivity", "agentsAvailable-not-a-count"])
@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_an_unreadable_skill_activity_writes_nothing(cli: Cli, harness: Harness, kind: str) -> None:
    before = harness.stored()
    harness.tenant.add_fault(_read_fault(kind, f"{ACD_SKILL}/activity"))
    result, _ = run(cli)
    failed(harness, result, _POOL_CODES.get(kind, 76), before, "GET skill 4567 activity", _NEEDLES[kind])
    assert harness.writes() == 0


@pytest.mark.parametrize("kind", ["503", "403", "malformed", "no-skillSummaries"])
@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_an_unreadable_summary_holds_a_raise(cli: Cli, harness: Harness, kind: str) -> None:
    harness.tenant.edit_skill_settings(4567, lambda s: s.__setitem__("maximumRatio", 1))  # the policy says 1.5
    before = harness.stored()
    harness.tenant.add_fault(_read_fault(kind, f"{ACD_SKILL}/summary"))
    result, _ = run(cli, "-v")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["raw_limit"], body["limit"], body["applied"]) == (1.5, 1, False)
    assert body["guard"]["action"] == "hold"
    assert "GET skill 4567 summary" in body["guard"]["windows"]["short"]["error"]
    # The log line: true on every run while it lasts, so off a terminal an info line (-v), no cron mail each time
    assert "info: abandon guard: last 30 min unreadable, no raise: GET skill 4567 summary" in result.stderr
    assert (harness.writes(), harness.stored()) == (0, before)


@pytest.mark.parametrize("harness", ["acd"], indirect=True)
def test_an_unreadable_summary_lets_a_lowering_through(cli: Cli, harness: Harness) -> None:
    before = harness.stored()
    harness.tenant.add_fault(_read_fault("503", f"{ACD_SKILL}/summary"))
    result, _ = run(cli)
    body = succeeded(harness, result, before)  # 2 -> 1.5, every other field intact
    assert body["guard"]["raise_allowed"] is False
    assert harness.writes() == 1


# -- the table in docs/reliability.md --------------------------------------------------------------------------

_DOC_TESTS = frozenset({"test_reliability_table_names_only_existing_tests", "test_every_matrix_test_is_in_the_table"})
_TEST_ID = re.compile(r"`(test_\w+(?:\[[^\]`]*\])?)`")
_COLUMNS = 8  # number, fault, what the tool does, exit code, writes, resource afterwards, v2 tests, acd tests


def table_rows() -> list[list[str]]:
    return doctables.table_rows(DOC, "Fault matrix")


def table_ids() -> list[tuple[str, str]]:
    """(profile column, test id or pattern) for every test the table names."""
    return [
        (profile, test_id)
        for row in table_rows()
        for profile, cell in zip(PROFILES, row[-2:], strict=True)
        for test_id in _TEST_ID.findall(cell)
    ]


def id_matches(name: str, pattern: str) -> bool:
    """A test id against a table entry, where only ``*`` is a wildcard (brackets are literal)."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), name) is not None


def collected(request: pytest.FixtureRequest) -> list[pytest.Item]:
    """The items of this module in this session (all of them unless the run was narrowed with -k or ids)."""
    module = sys.modules[__name__]
    return [item for item in request.session.items if getattr(item, "module", None) is module]


def _profile_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else cast(str | None, callspec.params.get("harness"))


def test_reliability_table_names_only_existing_tests(request: pytest.FixtureRequest) -> None:
    rows = table_rows()
    assert [row[0] for row in rows] == [str(n) for n in range(1, len(rows) + 1)], "rows must be numbered 1, 2, ..."
    assert len(rows) >= 23
    items = collected(request)
    for row in rows:
        assert len(row) == _COLUMNS, f"row {row[0]} has {len(row)} cells, expected {_COLUMNS}: {row}"
        for profile, cell in zip(PROFILES, row[-2:], strict=True):
            if cell == "-":
                continue  # the profile has no such call (acd's skill pool and abandon reads)
            ids = _TEST_ID.findall(cell)
            assert ids, f"row {row[0]} ({row[1]}) names no {profile} test"
            for test_id in ids:
                name = test_id.split("[", 1)[0]
                assert name.startswith("test_") and callable(globals().get(name)), (
                    f"row {row[0]} names {test_id}, but {__name__} has no test function {name}"
                )
                mine = [item for item in items if getattr(item, "originalname", item.name) == name]
                if mine:  # the function was collected in this run: the id must be one of its own, for this profile
                    matched = [item for item in mine if id_matches(item.name, test_id)]
                    assert matched, f"row {row[0]} names {test_id}, which matches none of {[i.name for i in mine]}"
                    assert all(_profile_of(item) == profile for item in matched), (
                        f"row {row[0]}: {test_id} is in the {profile} column but runs another profile"
                    )


def test_every_matrix_test_is_in_the_table(request: pytest.FixtureRequest) -> None:
    named = table_ids()
    names = {test_id.split("[", 1)[0] for _, test_id in named}
    module_tests = {name for name in globals() if name.startswith("test_") and callable(globals()[name])}
    missing = sorted(module_tests - _DOC_TESTS - names)
    assert not missing, f"tests in {__name__} that docs/reliability.md does not name: {missing}"
    unnamed = [
        item.name
        for item in collected(request)
        if getattr(item, "originalname", item.name) not in _DOC_TESTS
        and not any(id_matches(item.name, test_id) for _, test_id in named)
    ]
    assert not unnamed, f"test ids that docs/reliability.md does not name: {unnamed}"
