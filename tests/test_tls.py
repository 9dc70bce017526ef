"""TLS against real TLS servers on 127.0.0.1: failures name their cause, are not retried, and exit 78;
``CXONE_CA_BUNDLE`` adds to the default trust store, and a bundle that is not PEM is exit 78 naming it.

Each server counts the TCP connections it accepts, so "not retried" is a count, not a timing.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxone_tune import http
from cxone_tune.errors import ConfigError
from cxone_tune.http import ApiClient, RetryPolicy, default_tls_context, prepare_tls, tls_context
from tests import doctables
from tests.conftest import Cli
from tests.tls_servers import HOST, Pki, PlainServer, TlsServer, make_pki, serving


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[TlsServer]:
    with serving(TlsServer(pki.good)) as server:
        yield server


@pytest.fixture
def plain_server() -> Iterator[PlainServer]:
    server = PlainServer()
    yield server
    server.close()


def client(verify: ssl.SSLContext | bool) -> ApiClient:
    # Five attempts allowed and no real sleeping: a TLS failure must still make exactly one connection.
    return ApiClient(RetryPolicy(max_attempts=5, time_budget=20), verify=verify, sleep=lambda _seconds: None)


def refused(verify: ssl.SSLContext | bool, url: str) -> ConfigError:
    with client(verify) as api, pytest.raises(ConfigError) as caught:
        api.request("GET", f"{url}/api/v2/campaigns/c-100", call="GET campaign c-100")
    error = caught.value
    assert error.exit_code == 78
    assert "\n" not in str(error)
    assert str(error).startswith(f"GET campaign c-100: TLS with {HOST}:")
    return error


# -- the failures --------------------------------------------------------------------------------------------


def test_unknown_ca_names_the_cause_and_is_not_retried(tls_server: TlsServer) -> None:
    error = refused(True, tls_server.url)  # the default trust store: our CA is not in it
    assert "certificate verify failed: unknown CA" in str(error)
    assert "CXONE_CA_BUNDLE" in str(error)
    assert tls_server.connections == 1


def test_hostname_mismatch_names_the_cause(pki: Pki) -> None:
    with serving(TlsServer(pki.other_name)) as server:
        error = refused(tls_context(pki.ca), server.url)
        assert f"hostname mismatch (the certificate is not for {HOST})" in str(error)
        assert server.connections == 1


def test_expired_certificate_names_the_cause(pki: Pki) -> None:
    with serving(TlsServer(pki.expired)) as server:
        error = refused(tls_context(pki.ca), server.url)
        assert "certificate has expired" in str(error)
        assert server.connections == 1


def test_plain_http_on_an_https_url_names_the_cause(plain_server: PlainServer) -> None:
    error = refused(True, plain_server.url)
    assert "the server did not speak TLS (plain http on an https port?)" in str(error)
    assert "wrong version number" in str(error)
    assert plain_server.connections == 1


def test_run_once_with_an_unknown_ca_is_78_with_one_line_and_one_connection(
    cli: Cli, tls_server: TlsServer, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_TENANT_URL", tls_server.url)  # CXONE_MAX_ATTEMPTS=3 from v2_env
    result = cli("run-once", "--json")
    assert result.exit_code == 78, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    # the token request, made inside the first API call's auth flow, names both
    assert last.startswith(f"cxone-tune: error: GET agents page 1: POST token: TLS with {HOST}:"), last
    assert "unknown CA" in last
    assert tls_server.connections == 1


# -- the CA bundle ---------------------------------------------------------------------------------------------


def test_ca_bundle_makes_the_server_trusted(pki: Pki, tls_server: TlsServer) -> None:
    with client(tls_context(pki.ca)) as api:
        response = api.request("GET", f"{tls_server.url}/api/v2/campaigns/c-100", call="GET campaign c-100")
    assert response.json() == {"ok": True}
    assert tls_server.connections == 1


def test_ca_bundle_adds_to_the_default_trust_store_instead_of_replacing_it(pki: Pki) -> None:
    default = httpx.create_ssl_context()  # what verify=True trusts
    context = tls_context(pki.ca)
    assert isinstance(context, ssl.SSLContext)
    assert default.cert_store_stats()["x509_ca"] > 0  # a default store to keep
    assert context.cert_store_stats()["x509_ca"] == default.cert_store_stats()["x509_ca"] + 1
    subjects = {tuple(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()}
    assert (("commonName", "cxone-tune test CA"),) in subjects
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # what the tool did before: the file alone, every public CA gone
    assert ssl.create_default_context(cafile=str(pki.ca)).cert_store_stats()["x509_ca"] == 1


def test_no_ca_bundle_means_the_default_verification() -> None:
    assert tls_context(None) is True


@pytest.mark.parametrize("content", ["garbage", "der", "key-only", "empty"])
def test_a_bundle_that_is_not_pem_is_78_naming_the_variable(pki: Pki, tmp_path: Path, content: str) -> None:
    bundle = tmp_path / "bundle.pem"
    if content == "garbage":
        bundle.write_text("this is not a certificate\n")
    elif content == "der":
        bundle.write_bytes(pki.ca_der.read_bytes())
    elif content == "key-only":
        bundle.write_bytes(pki.good[1].read_bytes())
    else:
        bundle.write_bytes(b"")
    with pytest.raises(ConfigError) as caught:
        tls_context(bundle)
    assert caught.value.exit_code == 78
    assert str(caught.value) == f"CXONE_CA_BUNDLE: {bundle} holds no PEM certificate"


def test_an_unreadable_bundle_is_78_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        tls_context(tmp_path / "missing.pem")
    assert caught.value.exit_code == 78
    assert str(caught.value).startswith(f"CXONE_CA_BUNDLE: cannot read {tmp_path / 'missing.pem'}: ")


# -- the default trust store, loaded ahead of the run's client --------------------------------------------------


def test_the_trust_store_loaded_ahead_is_the_default_one_and_taken_once() -> None:
    prepare_tls()
    thread = http._Preloaded.thread
    assert thread is not None
    prepare_tls()  # one load at a time
    assert http._Preloaded.thread is thread
    thread.join()
    loaded = http._Preloaded.context
    context = default_tls_context()
    assert context is loaded  # the context the thread loaded, not one built now
    default = httpx.create_ssl_context()
    assert context.cert_store_stats() == default.cert_store_stats()
    assert context.get_ca_certs() == default.get_ca_certs()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    again = default_tls_context()  # taken once: the next client has its own
    assert again is not context
    assert again.cert_store_stats() == default.cert_store_stats()


def test_a_trust_store_loaded_under_another_environment_is_not_used(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    prepare_tls()
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # httpx's default context now trusts this file alone
    context = default_tls_context()
    assert context.cert_store_stats()["x509_ca"] == 1
    subjects = {tuple(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()}
    assert subjects == {(("commonName", "cxone-tune test CA"),)}


def test_run_once_takes_the_trust_store_it_loaded_as_it_started(
    cli: Cli, pki: Pki, tls_server: TlsServer, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command loads the default store as it starts (SSL_CERT_FILE names the test CA here); the run's client
    takes that context, so the handshake succeeds and the server answers (a test server's 501 to the token POST)."""
    taken: list[ssl.SSLContext] = []
    real = http.default_tls_context

    def recorded() -> ssl.SSLContext:
        preloaded = http._Preloaded.thread is not None
        context = real()
        if preloaded:
            taken.append(context)
        return context

    monkeypatch.setattr(http, "default_tls_context", recorded)
    monkeypatch.setattr("cxone_tune.transport.default_tls_context", recorded)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    monkeypatch.setenv("CXONE_TENANT_URL", tls_server.url)
    result = cli("run-once", "--json")
    assert len(taken) == 1
    assert taken[0].cert_store_stats()["x509_ca"] == 1
    assert result.exit_code == 69, result.stderr  # verified and answered: the store SSL_CERT_FILE names
    assert "501" in result.stderr.strip().splitlines()[-1]


# -- docs/reliability.md "TLS" stays in step with this module --------------------------------------------------


def test_the_tls_table_names_exactly_this_modules_tests() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    section = doctables.section(doc, "TLS")
    named = set(re.findall(r"`(test_\w+)", section))
    mine = {name for name in globals() if name.startswith("test_") and callable(globals()[name])}
    assert named, "docs/reliability.md has no TLS table naming tests"
    assert named - mine == set(), f"the TLS table names tests this module lacks: {sorted(named - mine)}"
    assert mine - named == {"test_no_ca_bundle_means_the_default_verification", _THIS}, sorted(mine - named)


_THIS = "test_the_tls_table_names_exactly_this_modules_tests"
