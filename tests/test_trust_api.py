"""Trust boundaries of what the API and the settings put into requests: ids in URL paths, endpoints learned from
discovery, token lifetimes, and the credentials a cached token came from. The real CLI against the sandbox over
loopback (``httpx.MockTransport`` only for answers the sandbox cannot give). Every test here is named in the
"Trust boundaries" table of docs/reliability.md (``ALL_IN_TRUST_TABLE``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import Result

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    Fault,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune.auth import MAX_TOKEN_LIFETIME, token_lifetime
from cxone_tune.files import write_atomic
from cxone_tune.http import path_segment
from cxone_tune.settings import MAX_ID_LENGTH, check_id
from tests.conftest import Cli, wait_for
from tests.harness import Harness

ALL_IN_TRUST_TABLE = True  # test_every_trust_test_is_in_the_table (tests/test_trust_files.py) holds this module to it
CAMPAIGNS = "/api/v2/campaigns/"


@pytest.fixture
def acd_env(server: SandboxServer, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    env = {
        "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
        "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CXONE_ISSUER": server.url,
        "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
        "CXONE_CACHE_DIR": str(cache_dir),
        "CXONE_STATE_DIR": str(tmp_path / "state"),
        "CXONE_MAX_ATTEMPTS": "2",
        "CXONE_TIME_BUDGET": "20",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server.url


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def error_line(result: Result, code: int, *needles: str) -> str:
    """The run failed with ``code`` and one ``cxone-tune: error:`` line, last, holding every needle."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("cxone-tune: error: ")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


def audit_records(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]


def add_campaign(tenant: SandboxTenant, campaign_id: str, limit: int = 12) -> None:
    campaign = copy.deepcopy(tenant.campaign(DEFAULT_CAMPAIGN_ID))
    campaign["id"] = campaign_id
    campaign["rules"]["maxConcurrentCalls"] = limit
    tenant.campaigns[campaign_id] = campaign


# -- ids in URL paths (issue 11, item 4) -------------------------------------------------------------------------

BAD_IDS = {
    "empty": ("CXONE_CAMPAIGN_ID", "", "must not be empty"),
    "blank": ("CXONE_CAMPAIGN_ID", "   ", "must not be empty"),
    "dot": ("CXONE_CAMPAIGN_ID", ".", "names the current or parent path"),
    "dotdot": ("CXONE_CAMPAIGN_ID", "..", "names the current or parent path"),
    "escape": ("CXONE_CAMPAIGN_ID", "c-\x1b[31m100", "control character ('\\x1b')"),
    "newline": ("CXONE_CAMPAIGN_ID", "c-100\nc-200", "control character ('\\n')"),
    "nul-free-del": ("CXONE_CAMPAIGN_ID", "c-\x7f", "control character ('\\x7f')"),
    "bidi": ("CXONE_CAMPAIGN_ID", "c-\u202e001", "control character ('\\u202e')"),
    "too-long": ("CXONE_CAMPAIGN_ID", "c" * (MAX_ID_LENGTH + 1), f"an id has at most {MAX_ID_LENGTH}"),
    "team-escape": ("CXONE_TEAM_IDS", "t-1,t-\x1b2", "control character ('\\x1b')"),
    "queue-too-long": ("CXONE_QUEUE_IDS", "q" * 300, f"an id has at most {MAX_ID_LENGTH}"),
}


@pytest.mark.parametrize("case", list(BAD_IDS), ids=list(BAD_IDS))
def test_a_bad_id_is_78_naming_the_variable_before_any_request(
    case: str, cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    variable, value, needle = BAD_IDS[case]
    monkeypatch.setenv(variable, value)
    before = copy.deepcopy(tenant.campaigns)
    line = error_line(cli("run-once"), 78, f"{variable}: ", needle)
    assert "\x1b" not in line and "\u202e" not in line  # the value is never echoed raw
    assert tenant.requests == [] and tenant.campaigns == before


@pytest.mark.parametrize("value", ["..", "4567/../4568", "", "0", "%34567"])
def test_a_skill_id_that_is_not_a_positive_number_is_78(
    value: str, cli: Cli, tenant: SandboxTenant, acd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_SKILL_ID", value)
    error_line(cli("run-once"), 78, "CXONE_SKILL_ID")
    assert tenant.requests == []


# Each id is the literal name of a campaign; decoding it once more (or not encoding "%") would name another.
ESCAPED_IDS = ["a%2Fb", "%2E%2E", "a%25b", "c 100", "c-ü-100", "a%2e%2e%2Fc-100"]


@pytest.mark.parametrize("campaign_id", ESCAPED_IDS)
def test_a_percent_escaped_id_reaches_exactly_the_campaign_it_names(
    campaign_id: str,
    cli: Cli,
    tenant: SandboxTenant,
    v2_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_campaign(tenant, campaign_id)
    decoy = unquote(campaign_id)  # what a server that decodes twice, or a client that does not encode "%", reaches
    add_campaign(tenant, decoy)
    others = {cid: copy.deepcopy(c) for cid, c in tenant.campaigns.items() if cid != campaign_id}
    state = tmp_path / "state"
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", campaign_id)
    monkeypatch.setenv("CXONE_STATE_DIR", str(state))

    result = doc(cli("run-once", "--json"))

    assert result["target"] == campaign_id and result["applied"] is True
    assert tenant.campaign(campaign_id)["rules"]["maxConcurrentCalls"] == result["limit"] != 12
    assert {cid: c for cid, c in tenant.campaigns.items() if cid != campaign_id} == others  # the decoy untouched
    sent = {path for method, path in tenant.requests if path.startswith(CAMPAIGNS)}
    assert sent == {CAMPAIGNS + path_segment(campaign_id)}  # GET and PUT: one segment, "%" itself encoded
    intent, record = audit_records(state)  # the intent line before the PUT, the completed record after it
    assert intent["phase"] == "intent" and intent["target"] == campaign_id
    assert record["target"] == campaign_id and record["applied"] is True


@given(st.text(min_size=1, max_size=40))
def test_any_valid_id_is_exactly_one_path_segment_that_decodes_back(text: str) -> None:
    try:
        check_id(text)
    except ValueError:
        return  # refused at settings time, exit 78 (the test above)
    segment = path_segment(text)
    url = httpx.URL(f"https://tenant.example/api/v2/campaigns/{segment}")
    path = url.raw_path.decode("ascii")
    assert path.split("/") == ["", "api", "v2", "campaigns", segment]  # exactly one segment more than the base
    assert unquote(path.rsplit("/", 1)[1]) == text  # and it decodes back to the id, once


def test_the_sandbox_decodes_one_segment_not_the_whole_path(client: httpx.Client, tenant: SandboxTenant) -> None:
    """The sandbox must route encoded segments faithfully, or the test above proves nothing."""
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    add_campaign(tenant, "a/b", limit=7)
    add_campaign(tenant, "a%2Fb", limit=8)
    assert client.get(f"{CAMPAIGNS}a%2Fb", headers=headers).json()["id"] == "a/b"
    assert client.get(f"{CAMPAIGNS}a%252Fb", headers=headers).json()["id"] == "a%2Fb"
    assert client.get(f"{CAMPAIGNS}a/b", headers=headers).status_code == 404  # a deeper path, no campaign


# -- endpoints learned from discovery (issue 11, item 3) ---------------------------------------------------------

OPENID = "/.well-known/openid-configuration"
CXONE_CONFIG = "/.well-known/cxone-configuration"
ACD_TOKEN = "/auth/token"
POISONED = {
    "http-elsewhere": ("http://evil.example", "plain http is only allowed to loopback"),
    "ftp": ("ftp://sandbox.invalid/api", "must be an http(s) URL"),
    "javascript": ("javascript:alert(1)", "must be an http(s) URL"),
    "userinfo": ("https://operator:pw@evil.example", "must not carry credentials"),
    "empty": ("", "must be an http(s) URL"),
    "relative": ("/inContactAPI", "must be an http(s) URL"),
    "not-a-string": (443, "no usable"),
    # urlsplit drops a tab or newline inside a URL where httpx refuses it (exit 70, the entry cached, before)
    "tab-in-the-host": ("http://127.0.0.1:1\t.evil.example", "control character or space ('\\t')"),
    "escape": ("https://evil.example/\x1b[2J", "control character or space ('\\x1b')"),
    "empty-query": ("https://evil.example/?", "must not carry a query or fragment"),  # base + path: a query
    "empty-fragment": ("https://evil.example/#", "must not carry a query or fragment"),
    "bad-port": ("http://localhost:abc", "no valid port"),
    "port-out-of-range": ("https://evil.example:99999", "no valid port"),
}


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("token-*.json")) if cache_dir.is_dir() else []


@pytest.mark.parametrize("case", list(POISONED), ids=list(POISONED))
def test_a_discovered_api_endpoint_that_breaks_the_url_rule_is_76_and_nothing_is_cached(
    case: str, cli: Cli, tenant: SandboxTenant, acd_env: str, cache_dir: Path
) -> None:
    value, reason = POISONED[case]
    tenant.add_fault(Fault("wrong_type", method="GET", path=CXONE_CONFIG, field="api_endpoint", value=value))
    line = error_line(cli("run-once"), 76, "GET cxone-configuration: discovery returned", "api_endpoint", reason)
    if isinstance(value, str) and value:
        assert repr(value) in line  # the value the server sent, named
    assert "pw@" not in line or case == "userinfo"
    assert cache_files(cache_dir) == []  # the login succeeded, but nothing of it is kept
    assert tenant.count("GET", "/inContactAPI") == 0


@pytest.mark.parametrize("case", list(POISONED), ids=list(POISONED))
def test_a_discovered_token_endpoint_that_breaks_the_url_rule_is_76_and_no_secret_is_sent(
    case: str, cli: Cli, tenant: SandboxTenant, acd_env: str, cache_dir: Path
) -> None:
    value, reason = POISONED[case]
    tenant.add_fault(Fault("wrong_type", method="GET", path=OPENID, field="token_endpoint", value=value))
    error_line(cli("auth-check"), 76, "GET openid-configuration: discovery returned", "token_endpoint", reason)
    assert tenant.count("POST") == 0  # the access key never went anywhere
    assert cache_files(cache_dir) == []


BAD_URLS = {
    "empty-query": ("{url}/?", "must not carry a query or fragment"),
    "empty-fragment": ("{url}#", "must not carry a query or fragment"),
    "tab": ("http://\t{host}", "control character or space ('\\t')"),
    "escape": ("{url}/\x1b[2J", "control character or space ('\\x1b')"),
    "space": ("{url}/a b", "control character or space (' ')"),
    "bad-port": ("http://127.0.0.1:abc", "no valid port"),
    "port-out-of-range": ("http://127.0.0.1:99999", "no valid port"),
}
URL_SETTINGS = {"v2": ["CXONE_TENANT_URL", "CXONE_HEALTHCHECK_URL"], "acd": ["CXONE_ISSUER", "CXONE_API_BASE"]}


@pytest.mark.parametrize("case", list(BAD_URLS), ids=list(BAD_URLS))
def test_a_configured_url_that_is_no_clean_url_is_78_naming_the_variable(
    case: str, cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule every URL obeys (``settings.check_url``), for the configured ones, each pointed at the sandbox
    itself: the request would reach this machine, but not the resource the setting names. Before: an empty query
    or fragment sent every call to ``/`` (78 from a 404, or a healthcheck ping nowhere), a control character or a
    bad port ended in exit 70, a port out of range was retried as an outage (69)."""
    template, reason = BAD_URLS[case]
    for variable in URL_SETTINGS[harness.name]:
        with monkeypatch.context() as patch:
            url = harness.env.get("CXONE_TENANT_URL") or harness.env["CXONE_ISSUER"]
            patch.setenv(variable, template.format(url=url, host=url.removeprefix("http://")))
            error_line(cli("run-once"), 78, f"invalid configuration: {variable}: ", reason)
    assert harness.tenant.requests == []


def poison_cache(cache_dir: Path, **extra: Any) -> Path:
    """Rewrite the one cache file the tool wrote, the way the tool writes it (0600, atomically, ours)."""
    (path,) = cache_files(cache_dir)
    data = json.loads(path.read_bytes())
    data["extra"].update(extra)
    write_atomic(path, json.dumps(data).encode(), variable="CXONE_CACHE_DIR")
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    return path


@pytest.mark.parametrize("field", ["api_base", "token_endpoint"])
def test_a_poisoned_endpoint_in_the_token_cache_is_discarded_and_discovery_redone(
    field: str, cli: Cli, tenant: SandboxTenant, acd_env: str, cache_dir: Path
) -> None:
    doc(cli("auth-check", "--json"))
    path = poison_cache(cache_dir, **{field: "http://evil.example"})
    tenant.reset_counts()

    result = cli("run-once", "--json")

    assert doc(result)["applied"] is True
    assert "discarding the cached login" in result.stderr and "http://evil.example" in result.stderr
    # A fresh login with discovery; the poisoned entry's refresh token was not sent anywhere either.
    assert (tenant.count("GET", OPENID), tenant.count("GET", CXONE_CONFIG)) == (1, 1)
    assert tenant.logins == 2 and tenant.refreshes == 0
    assert json.loads(path.read_bytes())["extra"][field] != "http://evil.example"
    assert "evil" not in path.read_text()


def test_a_poisoned_cache_with_poisoned_discovery_is_76_and_leaves_no_cache(
    cli: Cli, tenant: SandboxTenant, acd_env: str, cache_dir: Path
) -> None:
    doc(cli("auth-check", "--json"))
    poison_cache(cache_dir, api_base="http://evil.example")
    tenant.add_fault(
        Fault("wrong_type", method="GET", path=CXONE_CONFIG, field="api_endpoint", value="http://evil.example")
    )
    error_line(cli("run-once"), 76, "discovery returned api_endpoint 'http://evil.example'")
    assert cache_files(cache_dir) == []
    assert tenant.count("GET", "/inContactAPI") == 0


# -- a token's lifetime (issue 11, item 10: expires_in) ----------------------------------------------------------

CAPPED = {"infinity": math.inf, "1e300": 1e300, "a-year": 365 * 86400, "10**400": 10**400}
REFUSED = {"nan": math.nan, "negative": -5, "zero": 0, "string": "3600", "bool": True, "null": None}


def token_path(harness: Harness) -> str:
    return "/oauth/token" if harness.name == "v2" else "/auth/token"


def cached_expiry(cache_dir: Path) -> float:
    (path,) = cache_files(cache_dir)
    expires_at = json.loads(path.read_bytes())["expires_at"]
    assert isinstance(expires_at, float)
    return expires_at


@pytest.mark.parametrize("case", list(CAPPED), ids=list(CAPPED))
def test_an_expires_in_beyond_a_day_is_capped_at_24h(case: str, cli: Cli, harness: Harness, cache_dir: Path) -> None:
    harness.tenant.add_fault(Fault("wrong_type", path=token_path(harness), field="expires_in", value=CAPPED[case]))
    result = cli("run-once", "--json")
    assert doc(result)["applied"] is True
    assert "using the token for 24h at most" in result.stderr
    assert time.time() + MAX_TOKEN_LIFETIME - 60 < cached_expiry(cache_dir) <= time.time() + MAX_TOKEN_LIFETIME


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_an_expires_in_that_is_not_a_positive_number_is_76_and_nothing_is_cached(
    case: str, cli: Cli, harness: Harness, cache_dir: Path
) -> None:
    harness.tenant.add_fault(Fault("wrong_type", path=token_path(harness), field="expires_in", value=REFUSED[case]))
    before = harness.stored()
    error_line(cli("run-once"), 76, "POST token", "expires_in is not a")
    assert cache_files(cache_dir) == [] and harness.writes() == 0 and harness.stored() == before


def test_a_literal_1e999_reads_as_infinity_and_is_capped() -> None:
    """The wire form the issue names: JSON's 1e999 is a float overflow, which Python reads as infinity."""
    assert token_lifetime(json.loads('{"expires_in": 1e999}'), "POST token") == MAX_TOKEN_LIFETIME
    assert token_lifetime({}, "POST token") == 3600.0  # RFC 6749 lets the server leave it out


@pytest.mark.parametrize("expires_at", [math.inf, math.nan, "forever", True, 4e9 * 10])
def test_a_cached_token_with_an_absurd_expiry_is_not_used(
    expires_at: Any, cli: Cli, harness: Harness, cache_dir: Path
) -> None:
    doc(cli("auth-check", "--json"))
    (path,) = cache_files(cache_dir)
    data = json.loads(path.read_bytes())
    data["expires_at"] = expires_at
    write_atomic(path, json.dumps(data).encode(), variable="CXONE_CACHE_DIR")
    logins = harness.logins()
    assert doc(cli("auth-check", "--json"))["token_source"] == "new"
    assert harness.logins() > logins
    assert cached_expiry(cache_dir) <= time.time() + MAX_TOKEN_LIFETIME


# -- auth-check proves the credentials (issue 11, item 6) --------------------------------------------------------


def secret_setting(harness: Harness) -> str:
    return "CXONE_CLIENT_SECRET" if harness.name == "v2" else "CXONE_ACCESS_KEY_SECRET"


def test_auth_check_confirms_a_cached_token_with_one_cheap_read(cli: Cli, harness: Harness) -> None:
    first = doc(cli("auth-check", "--json"))
    assert (first["token_source"], first["confirmed_by"]) == ("new", None)  # the login itself proved them
    harness.tenant.reset_counts()

    second = doc(cli("auth-check", "--json"))
    text = cli("auth-check").stdout

    probe = "GET campaign c-100" if harness.name == "v2" else "GET skill 4567 general-settings"
    assert (second["token_source"], second["confirmed_by"]) == ("cache", probe)
    assert f"token reused from the cache, confirmed by {probe}, valid for" in text
    assert harness.logins() == 0
    assert harness.tenant.requests == [("GET", harness.target_path)] * 2  # one read per run, nothing else


@pytest.mark.parametrize("setting", ["CXONE_CLIENT_SECRET", "secret"])
def test_a_wrong_secret_with_a_warm_cache_is_77(
    setting: str, cli: Cli, harness: Harness, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both profiles, the client secret and the profile's own secret (v2: the same; acd: the access key's)."""
    variable = secret_setting(harness) if setting == "secret" else setting
    doc(cli("auth-check", "--json"))
    (path,) = cache_files(cache_dir)
    cached = path.read_bytes()
    monkeypatch.setenv(variable, "not-the-secret")
    harness.tenant.reset_counts()

    line = error_line(cli("auth-check"), 77, "POST token", "refused (401)")

    assert "not-the-secret" not in line
    assert harness.tenant.count("GET", harness.target_path) == 0  # the cached token was not used at all
    assert path.read_bytes() == cached  # the good entry stays for the right secret ...
    monkeypatch.setenv(variable, harness.env[variable])
    assert doc(cli("auth-check", "--json"))["token_source"] == "cache"  # ... which reuses it


def test_a_rotated_secret_never_reuses_the_old_secrets_token(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tenant takes the new secret and still honours the old secret's token: the tool logs in anyway."""
    doc(cli("auth-check", "--json"))
    tenant.clients[v2_env["CXONE_CLIENT_ID"]] = "rotated-secret"
    monkeypatch.setenv("CXONE_CLIENT_SECRET", "rotated-secret")
    assert doc(cli("auth-check", "--json"))["token_source"] == "new"
    assert tenant.count("POST", "/oauth/token") == 2
    assert doc(cli("auth-check", "--json"))["token_source"] == "cache"  # the new secret's entry, from now on


def test_a_cached_token_the_api_refuses_is_reported_renewed(cli: Cli, harness: Harness) -> None:
    doc(cli("auth-check", "--json"))
    harness.tenant.revoke_all_tokens()  # the cache's token is no longer honoured
    body = doc(cli("auth-check", "--json"))
    assert (body["token_source"], body["cached_token_refused"]) == ("new", True)
    assert body["confirmed_by"].startswith("GET ")
    harness.tenant.revoke_all_tokens()
    assert "from the cache refused (401), a new one issued, confirmed by GET" in cli("auth-check").stdout


def test_the_cache_holds_a_salted_digest_of_the_credentials_never_a_secret(
    cli: Cli, harness: Harness, cache_dir: Path
) -> None:
    doc(cli("auth-check", "--json"))
    (path,) = cache_files(cache_dir)
    text = path.read_text()
    stamp = json.loads(text)["credentials"]
    assert set(stamp) == {"salt", "digest"} and len(bytes.fromhex(stamp["salt"])) == 16
    for variable in ("CXONE_CLIENT_SECRET", secret_setting(harness)):
        secret = harness.env[variable]
        assert secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text  # not a bare hash of the secret either
    doc(cli("auth-check", "--json"))  # a reuse does not rewrite the entry ...
    assert json.loads(path.read_text())["credentials"] == stamp
    harness.tenant.revoke_all_tokens()
    doc(cli("auth-check", "--json"))  # ... a new token does, with a fresh salt
    assert json.loads(path.read_text())["credentials"]["salt"] != stamp["salt"]


def test_a_cache_entry_from_before_the_credentials_stamp_is_not_reused(
    cli: Cli, harness: Harness, cache_dir: Path
) -> None:
    doc(cli("auth-check", "--json"))
    (path,) = cache_files(cache_dir)
    data = json.loads(path.read_bytes())
    del data["credentials"]
    write_atomic(path, json.dumps(data).encode(), variable="CXONE_CACHE_DIR")
    assert doc(cli("auth-check", "--json"))["token_source"] == "new"
    assert "credentials" in json.loads(path.read_bytes())


def test_a_probe_that_finds_no_campaign_is_78_naming_it(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe reads the target, so auth-check with a warm cache also finds a target that is not there."""
    assert doc(cli("auth-check", "--json"))["cached_token_refused"] is False
    monkeypatch.setenv("CXONE_CAMPAIGN_ID", "c-404")
    error_line(cli("auth-check"), 78, "GET campaign c-404: not found (404)")


# -- the healthcheck pings (issue 11, item 11: a deadline for the whole exchange) --------------------------------


def test_a_healthcheck_ping_whose_answer_trickles_in_is_cut_at_its_timeout(
    cli: Cli, harness: Harness, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pings go to a server the run does not control either: their whole exchange, head included, keeps to
    ``monitor.PING_TIMEOUT`` as the API's keeps to the run's budget. Before, a head arriving a byte every 0.05 s
    (inside the per-read timeout) held the run for its whole length, twice; at a byte every few seconds, for days."""
    from cxone_tune import monitor

    monkeypatch.setattr(monitor, "PING_TIMEOUT", 0.5)
    monkeypatch.setenv("CXONE_HEALTHCHECK_URL", f"{server.url}/hc")
    harness.tenant.add_fault(Fault("trickle_head", path="/hc", chunk=1, delay=0.05, times=None))
    result = cli("run-once", "--json")
    assert doc(result)["applied"] is True  # monitoring never changes what the run did
    warnings = [line for line in result.stderr.splitlines() if "healthcheck ping" in line]
    assert warnings == [
        "cxone-tune: warning: healthcheck ping /start failed: ReadTimeout",
        "cxone-tune: warning: healthcheck ping /0 failed: ReadTimeout",
    ], result.stderr
    # the sandbox notes each answer the client left during its head (the second one as the run ends)
    assert wait_for(lambda: len(harness.tenant.cut_answers) == 2)
    assert [(method, path, sent) for method, path, _, sent in harness.tenant.cut_answers] == [
        ("POST", "/hc/start", -1),
        ("POST", "/hc/0", -1),
    ]
