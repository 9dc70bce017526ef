"""Trust boundaries of the local file system, with real files in tmp_path and the real CLI against the sandbox.

The rule (``src/cxone_tune/files.py``): every file and directory the tool reads or writes is owned by the
running user, not writable by group or others, opened without following links, created 0600/0700; a
violation is exit 78 naming the path and the setting that chose it, and nothing is written. Also here: the
``.env`` file and the TOML config file, empty path settings and HOME, the metrics textfile, and ``history``
over a damaged audit log. The last two tests keep the "Trust boundaries" table of docs/reliability.md honest.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from cxone_sandbox import DEFAULT_CAMPAIGN_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SKILL_ID, SandboxTenant
from cxone_tune import audit, monitor
from cxone_tune.memory import DecisionMemory
from cxone_tune.settings import Settings
from cxone_tune.targets import SECRET_KEYS
from tests import doctables
from tests.conftest import Cli
from tests.harness import Harness

ALL_IN_TRUST_TABLE = True  # test_every_trust_test_is_in_the_table holds this module to the table
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


# -- helpers ---------------------------------------------------------------------------------------------------


def snapshot(*roots: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``roots`` (links not followed): what "nothing was written" is checked against."""
    seen: dict[str, tuple[Any, ...]] = {}
    for root in roots:
        if not os.path.lexists(root):
            continue
        for path in [root, *sorted(root.rglob("*"))]:
            info = os.lstat(path)
            if path.is_symlink():
                seen[str(path)] = ("link", os.readlink(path), info.st_uid)
            elif path.is_dir():
                seen[str(path)] = ("dir", info.st_mode, info.st_uid)
            else:
                seen[str(path)] = ("file", path.read_bytes(), info.st_mode, info.st_uid, info.st_mtime_ns)
    return seen


def refused(result: Any, *needles: str) -> str:
    """Exit 78, no traceback, and the last stderr line an error naming each needle (path, variable)."""
    assert result.exit_code == 78, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last: str = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cxone-tune: error: "), last
    for needle in needles:
        assert needle in last, (needle, last)
    return last


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("CXONE_STATE_DIR", str(path))
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file a planted link points at: it must never be truncated or appended to."""
    path = tmp_path / "precious.txt"
    path.write_text("someone else's data\n")
    return path


def campaign_value(tenant: SandboxTenant) -> int:
    return int(tenant.campaign(DEFAULT_CAMPAIGN_ID)["rules"]["maxConcurrentCalls"])


def memory_file(state: Path) -> Path:
    """The decision memory of the default v2 campaign (the key cycle.decision_memory uses)."""
    return DecisionMemory(state, f"v2|{DEFAULT_CAMPAIGN_ID}").path


# -- the state directory ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cxone-tune.lock", "audit.jsonl", "audit.jsonl.2", "memory"])
def test_a_link_planted_in_the_state_dir_is_78_and_its_target_is_untouched(
    cli: Cli,
    tenant: SandboxTenant,
    v2_env: dict[str, str],
    state: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.setenv("CXONE_RAISE_AFTER_RUNS", "2")  # so the decision memory is in play
    planted = memory_file(state) if name == "memory" else state / name
    planted.symlink_to(outside)
    before = snapshot(state, outside)
    refused(cli("run-once"), str(planted), "CXONE_STATE_DIR", "symbolic link")
    assert snapshot(state, outside) == before  # the target is untouched, nothing was added to the state dir
    assert tenant.requests == []  # refused before the API was asked anything
    assert campaign_value(tenant) == 12


@pytest.mark.parametrize("name", ["cxone-tune.lock", "audit.jsonl", "memory"])
def test_a_hard_link_planted_in_the_state_dir_is_78_and_its_target_is_untouched(
    cli: Cli, harness: Harness, outside: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A hard link is another name for the same file: ``O_NOFOLLOW`` does not see it, so before this rule a run
    truncated the file a planted ``cxone-tune.lock`` shared its inode with, and appended to an ``audit.jsonl``'s."""
    monkeypatch.setenv("CXONE_RAISE_AFTER_RUNS", "2")  # so the decision memory is in play
    state = Path(harness.env["CXONE_STATE_DIR"])
    state.mkdir(mode=0o700)
    target_id = harness.env.get("CXONE_CAMPAIGN_ID") or harness.env["CXONE_SKILL_ID"]
    planted = DecisionMemory(state, f"{harness.name}|{target_id}").path if name == "memory" else state / name
    os.link(outside, planted)
    before = snapshot(state, outside)
    refused(cli("run-once"), str(planted), "CXONE_STATE_DIR", "2 hard links")
    assert snapshot(state, outside) == before
    assert harness.tenant.requests == []


def test_the_decision_memory_is_read_without_following_a_link(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, outside: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CXONE_RAISE_AFTER_RUNS", "2")
    outside.write_text("[40, 40, 40]")  # a memory that would let a raise through at once
    memory_file(state).symlink_to(outside)
    before = snapshot(state, outside)
    refused(cli("compute"), str(memory_file(state)), "CXONE_STATE_DIR", "symbolic link")
    assert snapshot(state, outside) == before


def test_a_world_writable_state_dir_is_78_and_nothing_is_written(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path
) -> None:
    state.chmod(0o777)
    refused(cli("run-once"), str(state), "CXONE_STATE_DIR", "writable by group or others (mode 0777)")
    assert list(state.iterdir()) == []
    assert tenant.requests == []
    assert campaign_value(tenant) == 12


def test_a_group_writable_state_dir_is_78(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path) -> None:
    state.chmod(0o770)
    refused(cli("run-once"), str(state), "CXONE_STATE_DIR", "mode 0770")
    assert list(state.iterdir()) == []


@as_root
def test_a_state_dir_owned_by_another_user_is_78(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path
) -> None:
    os.chown(state, NOBODY, NOBODY)
    refused(cli("run-once"), str(state), "CXONE_STATE_DIR", f"owned by uid {NOBODY}")
    assert list(state.iterdir()) == []
    assert tenant.requests == []
    assert campaign_value(tenant) == 12


@as_root
def test_an_audit_log_owned_by_another_user_is_78(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path
) -> None:
    log = state / "audit.jsonl"
    log.write_text('{"time": "2026-01-01T00:00:00+00:00", "command": "run-once"}\n')
    os.chown(log, NOBODY, NOBODY)
    before = snapshot(state)
    refused(cli("run-once"), str(log), "CXONE_STATE_DIR", f"owned by uid {NOBODY}")
    assert snapshot(state) == before
    assert tenant.requests == []


@as_root
def test_a_state_dir_link_planted_by_another_user_is_78_and_ours_is_followed(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "private" / "state"
    real.mkdir(parents=True, mode=0o700)
    link = tmp_path / "state-link"
    link.symlink_to(real)
    monkeypatch.setenv("CXONE_STATE_DIR", str(link))
    os.lchown(link, NOBODY, NOBODY)
    refused(cli("run-once"), str(link), "CXONE_STATE_DIR", f"symbolic link owned by uid {NOBODY}")
    assert list(real.iterdir()) == []
    # systemd's DynamicUser= links /var/lib/<name> to /var/lib/private/<name>: a link of ours (or root's) is fine
    os.lchown(link, os.getuid(), os.getgid())
    assert cli("run-once").exit_code == 0
    assert (real / "audit.jsonl").is_file()


def test_files_the_tool_creates_are_0600_in_0700_directories(
    cli: Cli, v2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "new" / "state"
    monkeypatch.setenv("CXONE_STATE_DIR", str(state))
    monkeypatch.setenv("CXONE_RAISE_AFTER_RUNS", "2")
    assert cli("run-once").exit_code == 0
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)
    assert oct(state.parent.stat().st_mode & 0o777) == oct(0o700)  # a missing parent is made private too
    names = sorted(p.name for p in state.iterdir())
    assert names == sorted(["cxone-tune.lock", "audit.jsonl", memory_file(state).name])
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in state.iterdir()} == dict.fromkeys(names, oct(0o600))
    cache = Path(v2_env["CXONE_CACHE_DIR"])
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)
    assert [oct(p.stat().st_mode & 0o777) for p in cache.iterdir()] == [oct(0o600)]


def test_the_kubernetes_example_uses_subdirectories_of_its_world_writable_volumes(
    cli: Cli, v2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An emptyDir is mode 0777: the example points the tool at a subdirectory of each volume, which it creates
    0700 itself; the volume's own path would be refused."""
    text = (ROOT / "examples" / "kubernetes-cronjob.yaml").read_text()
    mounts = re.findall(r"mountPath: (\S+)", text)
    for name in ("CXONE_CACHE_DIR", "CXONE_STATE_DIR"):
        match = re.search(rf"- name: {name}\n\s+value: (\S+)", text)
        assert match, name
        value = Path(match.group(1))
        (mount,) = [Path(m) for m in mounts if Path(m) in value.parents]
        volume = tmp_path / "pod" / mount.relative_to("/")
        volume.mkdir(parents=True)
        volume.chmod(0o777)
        monkeypatch.setenv(name, str(volume / value.relative_to(mount)))
    assert cli("run-once").exit_code == 0
    state = Path(os.environ["CXONE_STATE_DIR"])
    assert oct(state.stat().st_mode & 0o777) == oct(0o700) and (state / "audit.jsonl").is_file()
    monkeypatch.setenv("CXONE_STATE_DIR", str(state.parent))
    refused(cli("run-once"), str(state.parent), "CXONE_STATE_DIR", "mode 0777")


# -- the token cache -------------------------------------------------------------------------------------------


def test_a_world_writable_cache_dir_is_78_and_no_token_is_fetched(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path
) -> None:
    cache = Path(v2_env["CXONE_CACHE_DIR"])
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    refused(cli("run-once"), str(cache), "CXONE_CACHE_DIR", "mode 0777")
    assert list(cache.iterdir()) == []
    assert tenant.requests == []  # not even a login: the cache directory is checked before the token is needed
    assert campaign_value(tenant) == 12


@as_root
def test_a_cache_dir_owned_by_another_user_is_78(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str]) -> None:
    cache = Path(v2_env["CXONE_CACHE_DIR"])
    cache.mkdir(mode=0o700)
    os.chown(cache, NOBODY, NOBODY)
    refused(cli("run-once"), str(cache), "CXONE_CACHE_DIR", f"owned by uid {NOBODY}")
    assert list(cache.iterdir()) == []
    assert tenant.requests == []


def test_a_token_cache_planted_as_a_link_is_ignored_and_replaced_never_followed(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, outside: Path
) -> None:
    assert cli("run-once", "--dry-run").exit_code == 0  # learn the cache file's name
    cache = Path(v2_env["CXONE_CACHE_DIR"])
    (token_file,) = cache.iterdir()
    token_file.unlink()
    token_file.symlink_to(outside)
    before = snapshot(outside)
    result = cli("run-once")
    assert result.exit_code == 0, result.stderr
    assert "symbolic link" in result.stderr and "ignoring it" in result.stderr
    assert snapshot(outside) == before
    assert not token_file.is_symlink() and token_file.stat().st_mode & 0o777 == 0o600  # replaced by our own
    assert DEFAULT_CLIENT_SECRET not in token_file.read_text()


# -- .env and the config file ------------------------------------------------------------------------------------


def _dotenv(text: str = "CXONE_MAX_LIMIT=4\n") -> Path:
    path = Path(".env").absolute()  # the working directory: conftest makes it an empty tmp dir
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("case", ["mode 0666", "mode 0620", "owner", "link"])
def test_a_dotenv_others_could_have_written_is_78_and_nothing_is_written(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, tmp_path: Path, case: str
) -> None:
    path = _dotenv()
    if case == "owner":
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(path, NOBODY, NOBODY)
        needle = f"owned by uid {NOBODY}"
    elif case == "link":
        real = tmp_path / "elsewhere.env"
        path.rename(real)
        path.symlink_to(real)
        needle = "symbolic link"
    else:
        path.chmod(int(case.split()[1], 8))
        needle = case
    refused(cli("run-once"), str(path), ".env", needle)
    assert list(state.iterdir()) == []
    assert tenant.requests == []
    assert campaign_value(tenant) == 12


def test_our_own_dotenv_is_read(cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path) -> None:
    _dotenv("CXONE_MAX_LIMIT=4\n")
    result = cli("run-once", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["limit"] == 4 == campaign_value(tenant)


def test_the_dotenv_read_is_the_dotenv_checked(tmp_path: Path) -> None:
    """No window between the check and pydantic's read: a .env created or swapped in meanwhile is not read."""
    from cxone_tune.settings import _checked_env_file

    planted = tmp_path / "planted.env"
    planted.write_text("CXONE_MAX_LIMIT=2\n")
    with _checked_env_file() as (names, env_file):  # no .env yet
        shutil.copy(planted, ".env")
        assert (names, env_file) == ([], None)
        assert Settings(_env_file=env_file).max_limit == 50  # type: ignore[call-arg]
    Path(".env").unlink()
    _dotenv("CXONE_MAX_LIMIT=4\n")
    with _checked_env_file() as (names, env_file):
        os.replace(planted, ".env")  # swapped after the check
        assert names == ["CXONE_MAX_LIMIT"]
        assert Settings(_env_file=env_file).max_limit == 4  # type: ignore[call-arg]


def test_secret_keys_are_every_secret_setting() -> None:
    """Found independently of targets.py: every setting that, given a string, holds it as a SecretStr."""
    secret = set()
    for name in Settings.model_fields:
        given: dict[str, Any] = {name: "x"}
        try:
            value = getattr(Settings(**given), name)
        except Exception:  # noqa: S112 - a setting that takes no string is no secret
            continue
        if isinstance(value, SecretStr):
            secret.add(name)
    assert secret == SECRET_KEYS
    assert secret >= {"client_secret", "access_key_secret"}


def _target_line(harness: Harness) -> str:
    return f'campaign_id = "{DEFAULT_CAMPAIGN_ID}"' if harness.name == "v2" else f"skill_id = {DEFAULT_SKILL_ID}"


@pytest.mark.parametrize("case", ["mode 0666", "mode 0620", "owner", "link owner", "default path mode 0666"])
def test_a_config_file_others_could_have_written_is_78_and_nothing_is_written(
    cli: Cli, harness: Harness, tmp_path: Path, case: str
) -> None:
    """Like another user's .env, a config file others can write can point the tool (and the environment's
    secrets) at their server or raise the bounds: it obeys the rule too. Root's file is fine (the systemd unit's
    /etc/cxone-tune, read by a service user), and so is a link that is ours or root's (a Kubernetes ConfigMap)."""
    if case in ("owner", "link owner") and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    explicit = not case.startswith("default")
    config = (
        tmp_path / "config.toml" if explicit else Path(os.environ["HOME"]) / ".config" / "cxone-tune" / "config.toml"
    )
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[defaults]\nmax_limit = 2\nmax_ratio = 1.1\n[[targets]]\nname = "a"\n{_target_line(harness)}\n')
    config.chmod(0o644)
    named = config
    if case.endswith("0666"):
        config.chmod(0o666)
        needle = "mode 0666"
    elif case == "mode 0620":
        config.chmod(0o620)
        needle = "mode 0620"
    elif case == "owner":
        os.chown(config, NOBODY, NOBODY)
        needle = f"owned by uid {NOBODY}"
    else:
        named = tmp_path / "config-link.toml"
        named.symlink_to(config)
        os.lchown(named, NOBODY, NOBODY)
        needle = f"symbolic link owned by uid {NOBODY}"
    before = harness.stored()
    args = ["--config", str(named)] if explicit else []
    refused(cli(*args, "run-once"), str(named), "--config" if explicit else "config file", needle)
    assert harness.tenant.requests == []
    assert harness.stored() == before
    assert not Path(harness.env["CXONE_STATE_DIR"]).exists()


def test_our_own_or_roots_config_file_is_read_also_through_our_link(cli: Cli, harness: Harness, tmp_path: Path) -> None:
    config = tmp_path / "real" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[[targets]]\nname = "a"\n{_target_line(harness)}\nmax_limit = 2\nmax_ratio = 1.1\n')
    config.chmod(0o644)  # readable by others is fine: no secret may be in it
    link = tmp_path / "config.toml"
    link.symlink_to(config)  # ours (or root's): followed, as a ConfigMap mount's links are
    result = cli("--config", str(link), "run-once", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["limit"] == (2 if harness.name == "v2" else 1.1) == harness.value()


def test_a_config_file_that_is_not_utf8_is_78_naming_it(cli: Cli, harness: Harness, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(f'[[targets]]\nname = "caf\xe9"\n{_target_line(harness)}\n'.encode("latin-1"))
    refused(cli("--config", str(config), "run-once"), str(config), "not valid TOML: not UTF-8")  # before: 70
    assert harness.tenant.requests == []


URL_SETTING = {"v2": "CXONE_TENANT_URL", "acd": "CXONE_ISSUER"}


@pytest.mark.parametrize("case", ["file owner", "file mode 0666", "link owner", "dir mode 0777", "ours"])
def test_a_credential_file_others_could_have_written_is_78_and_nothing_is_sent(
    cli: Cli, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """pydantic-settings reads every setting, not only the secrets, from ``$CREDENTIALS_DIRECTORY``: a file
    another user put there could point the tenant URL or the issuer (and the client secret beside it) at their
    server, as row 11's .env could. Every file there named like a setting obeys the rule of row 61, and the
    directory is ours or root's and writable by others only with the sticky bit (a Kubernetes secret volume is
    a read-only 1777 tmpfs: others may add a file, never replace ours). Before: read, whoever wrote it."""
    if case in ("file owner", "link owner") and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    credentials.chmod(0o777 if case == "dir mode 0777" else 0o1777)
    secret = credentials / "CXONE_CLIENT_SECRET"
    secret.write_text(harness.env["CXONE_CLIENT_SECRET"] + "\n")
    secret.chmod(0o400)
    monkeypatch.delenv("CXONE_CLIENT_SECRET")
    variable = URL_SETTING[harness.name]
    planted = credentials / variable
    planted.write_text(harness.env[variable])  # this very sandbox: only the refusal keeps the run from it
    planted.chmod(0o644)
    monkeypatch.delenv(variable)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    named, needle = planted, ""
    if case == "file owner":
        os.chown(planted, NOBODY, NOBODY)
        needle = f"owned by uid {NOBODY}"
    elif case == "file mode 0666":
        planted.chmod(0o666)
        needle = "mode 0666"
    elif case == "link owner":
        real = tmp_path / "elsewhere"
        planted.rename(real)
        planted.symlink_to(real)
        os.lchown(planted, NOBODY, NOBODY)
        needle = f"symbolic link owned by uid {NOBODY}"
    elif case == "dir mode 0777":
        named, needle = credentials, "mode 0777"
    result = cli("run-once")
    if case == "ours":  # the shape of a Kubernetes secret volume, every file ours (or root's): used
        assert result.exit_code == 0, result.stderr
        return
    refused(result, str(named), "CREDENTIALS_DIRECTORY", needle)
    assert harness.tenant.requests == [] and harness.writes() == 0


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
@pytest.mark.parametrize("table", ["defaults", "targets"])
def test_a_secret_in_the_config_file_is_78_naming_the_file_and_key(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, tmp_path: Path, key: str, table: str
) -> None:
    config = tmp_path / "config.toml"
    secret_line = f'{key} = "hunter2"\n'
    head = f"[defaults]\n{secret_line}" if table == "defaults" else ""
    body = f'[[targets]]\nname = "a"\ncampaign_id = "c-100"\n{secret_line if table == "targets" else ""}'
    config.write_text(head + body)
    last = refused(cli("--config", str(config), "run-once"), str(config), repr(key), f"CXONE_{key.upper()}")
    assert "hunter2" not in last
    assert list(state.iterdir()) == []
    assert tenant.requests == []


@pytest.mark.parametrize("case", ["mode 0666", "mode 0664", "owner", "link owner"])
def test_a_ca_bundle_others_could_have_written_is_78_before_any_request(
    cli: Cli, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The CA bundle decides whom the tool trusts with its token and secrets: whoever can write it can add a CA
    of their own and read the traffic. It obeys the rule (root's bundle, and root's links, are fine)."""
    if case in ("owner", "link owner") and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    import certifi

    bundle = tmp_path / "bundle.pem"
    shutil.copy(certifi.where(), bundle)  # a real PEM bundle: without the rule the run goes ahead
    bundle.chmod(0o644)
    named = bundle
    if case.startswith("mode"):
        bundle.chmod(int(case.split()[1], 8))
        needle = case
    elif case == "owner":
        os.chown(bundle, NOBODY, NOBODY)
        needle = f"owned by uid {NOBODY}"
    else:
        named = tmp_path / "bundle-link.pem"
        named.symlink_to(bundle)
        os.lchown(named, NOBODY, NOBODY)
        needle = f"symbolic link owned by uid {NOBODY}"
    monkeypatch.setenv("CXONE_CA_BUNDLE", str(named))
    before = harness.stored()
    refused(cli("run-once"), str(named), "CXONE_CA_BUNDLE", needle)
    assert harness.tenant.requests == []
    assert harness.stored() == before
    bundle.chmod(0o644)
    if case.endswith("owner"):
        os.chown(bundle, os.getuid(), os.getgid())
        os.lchown(named, os.getuid(), os.getgid())
    assert cli("run-once").exit_code == 0  # the same bundle, ours: used


def test_print_unit_into_a_directory_others_can_write_is_78_naming_dir(cli: Cli, tmp_path: Path, outside: Path) -> None:
    """``print-unit --dir`` writes under the same rule (run as root, into /etc/systemd/system): a directory others
    can write is refused naming the option; a link planted at a unit's name is replaced, never written through."""
    units = tmp_path / "units"
    units.mkdir(mode=0o777)
    units.chmod(0o777)
    refused(cli("print-unit", "--dir", str(units)), f"--dir: {units}", "mode 0777")  # before: "path: ..."
    assert list(units.iterdir()) == []
    units.chmod(0o755)
    (units / "cxone-tune.service").symlink_to(outside)
    before = snapshot(outside)
    assert cli("print-unit", "service", "--dir", str(units)).exit_code == 0
    assert snapshot(outside) == before and not (units / "cxone-tune.service").is_symlink()


# -- empty path settings and HOME -------------------------------------------------------------------------------


def test_empty_path_settings_mean_the_default_never_the_working_directory(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CXONE_CACHE_DIR", "CXONE_STATE_DIR", "CXONE_METRICS_FILE", "CXONE_CA_BUNDLE"):
        monkeypatch.setenv(name, "")
    result = cli("run-once")
    assert result.exit_code == 0, result.stderr
    assert list(Path.cwd().iterdir()) == []  # nothing in the working directory
    home = Path(os.environ["HOME"])
    assert (home / ".local" / "state" / "cxone-tune" / "audit.jsonl").is_file()
    assert len(list((home / ".cache" / "cxone-tune").glob("token-*.json"))) == 1
    assert campaign_value(tenant) != 12


@pytest.mark.parametrize("option", ["--state-dir", "--cache-dir"])
def test_an_empty_directory_option_means_the_default_never_the_working_directory(
    cli: Cli, harness: Harness, option: str
) -> None:
    """The command-line options obey the rule of the variables: ``--state-dir ""`` is the default directory
    (before: the working directory, so the lock, the audit log or the token landed in it)."""
    result = cli(option, "", "run-once")
    assert result.exit_code == 0, result.stderr
    assert list(Path.cwd().iterdir()) == []
    home = Path(os.environ["HOME"])
    if option == "--state-dir":
        assert (home / ".local" / "state" / "cxone-tune" / "audit.jsonl").is_file()
    else:
        assert len(list((home / ".cache" / "cxone-tune").glob("token-*.json"))) == 1


def test_an_empty_url_setting_means_its_default(cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """``CXONE_ISSUER=`` is the default issuer (before: no issuer at all, and a run retried a request to
    "None/.well-known/..." until it reported the API unavailable, 69); the other URL settings have no default."""
    for name in ("CXONE_ISSUER", "CXONE_API_BASE", "CXONE_HEALTHCHECK_URL"):
        monkeypatch.setenv(name, "")
    result = cli("config", "--json")  # no request: the settings alone
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)["settings"]
    assert (
        shown["CXONE_ISSUER"]["value"] == Settings.model_fields["issuer"].default == "https://cxone.niceincontact.com"
    )
    assert shown["CXONE_API_BASE"]["value"] is None and shown["CXONE_HEALTHCHECK_URL"]["value"] is None
    assert harness.tenant.requests == []


@pytest.mark.parametrize("home", ["", None, "relative/home", "/"])
def test_an_unusable_home_is_78_naming_home_and_the_setting(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, home: str | None
) -> None:
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    if home is None:
        monkeypatch.delenv("HOME")
    else:
        monkeypatch.setenv("HOME", home)
    monkeypatch.delenv("CXONE_CACHE_DIR")
    refused(cli("run-once"), "HOME", "CXONE_STATE_DIR")
    assert list(Path.cwd().iterdir()) == []
    assert not Path("/.local/state/cxone-tune").exists()
    assert tenant.requests == []
    monkeypatch.setenv("CXONE_STATE_DIR", str(Path.cwd().parent / "state"))  # the state dir given: the cache is next
    refused(cli("run-once"), "HOME", "CXONE_CACHE_DIR")
    assert list(Path.cwd().iterdir()) == []


def test_an_empty_home_is_fine_when_the_directories_are_given(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv("CXONE_CACHE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "systemd-cache"))
    assert cli("run-once").exit_code == 0
    assert (tmp_path / "xdg-state" / "cxone-tune" / "audit.jsonl").is_file()
    assert len(list((tmp_path / "systemd-cache").glob("token-*.json"))) == 1
    assert list(Path.cwd().iterdir()) == []


def test_a_relative_xdg_directory_is_ignored(cli: Cli, v2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "state-here")  # the XDG rule: a relative path is invalid, ignore it
    assert cli("run-once").exit_code == 0
    assert list(Path.cwd().iterdir()) == []
    assert (Path(os.environ["HOME"]) / ".local" / "state" / "cxone-tune" / "audit.jsonl").is_file()


def test_an_empty_home_never_reads_a_config_file_from_the_working_directory(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    planted = Path(".config/cxone-tune/config.toml")
    planted.parent.mkdir(parents=True)
    planted.write_text('[[targets]]\nname = "planted"\ncampaign_id = "c-100"\nmax_limit = 2\n')
    result = cli("run-once", "--json")
    assert result.exit_code == 0, result.stderr
    assert "targets" not in json.loads(result.stdout)  # one target, from the environment
    assert campaign_value(tenant) != 2


# -- the metrics textfile ----------------------------------------------------------------------------------------


@pytest.fixture
def textfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "textfile" / "cxone_tune.prom"
    path.parent.mkdir()
    monkeypatch.setenv("CXONE_METRICS_FILE", str(path))
    return path


def samples(path: Path) -> dict[tuple[str, str], float]:
    """(metric, target) -> value, parsed by prometheus_client's own text parser (which rejects a bad file)."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name.removeprefix("cxone_tune_"), sample.labels["target"])] = sample.value
    return found


@pytest.mark.parametrize("case", ["file link", "lock link", "dir mode", "dir owner"])
def test_a_metrics_file_others_could_steer_is_78_before_the_run(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, textfile: Path, outside: Path, case: str
) -> None:
    if case == "file link":
        textfile.symlink_to(outside)
        path, needle = textfile, "symbolic link"
    elif case == "lock link":
        path = textfile.with_name(textfile.name + ".lock")
        path.symlink_to(outside)
        needle = "symbolic link"
    elif case == "dir mode":
        textfile.parent.chmod(0o777)
        path, needle = textfile.parent, "mode 0777"
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(textfile.parent, NOBODY, NOBODY)
        path, needle = textfile.parent, f"owned by uid {NOBODY}"
    before = snapshot(textfile.parent, outside)
    refused(cli("run-once"), str(path), "CXONE_METRICS_FILE", needle)
    assert snapshot(textfile.parent, outside) == before
    assert list(state.iterdir()) == []
    assert tenant.requests == []
    assert campaign_value(tenant) == 12


@pytest.mark.parametrize("content", ["a dotfile", "a textfile of another exporter"])
def test_a_metrics_path_onto_a_file_that_is_not_our_textfile_is_78_and_it_is_kept(
    cli: Cli, harness: Harness, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    """The textfile is replaced whole on every run: a typo (or a .env) pointing CXONE_METRICS_FILE at a file of
    ours that is not a cxone-tune textfile (~/.bashrc, /etc/hosts for root) would have been overwritten."""
    victim = Path(os.environ["HOME"]) / (".bashrc" if content == "a dotfile" else "node.prom")
    text = "alias ll='ls -l'\n" if content == "a dotfile" else "# HELP node_load1 1m load average.\nnode_load1 0.5\n"
    victim.write_text(text)
    victim.chmod(0o644)
    monkeypatch.setenv("CXONE_METRICS_FILE", str(victim))
    before = harness.stored()
    refused(cli("run-once"), str(victim), "CXONE_METRICS_FILE", "not a cxone-tune textfile")
    assert victim.read_text() == text
    assert harness.tenant.requests == [] and harness.stored() == before
    victim.write_text("")  # an empty file (made beforehand, say for its permissions) is ours to fill
    assert cli("run-once").exit_code == 0
    assert victim.read_text().startswith("# HELP cxone_tune_")
    assert cli("run-once").exit_code == 0  # and our own textfile is rewritten, run after run


@pytest.mark.parametrize("case", ["a directory in its place", "no such directory", "parent is a file"])
def test_a_metrics_file_that_cannot_be_written_only_warns(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, textfile: Path,
    monkeypatch: pytest.MonkeyPatch, case: str,
) -> None:  # fmt: skip
    if case == "a directory in its place":
        textfile.mkdir()
    elif case == "no such directory":
        monkeypatch.setenv("CXONE_METRICS_FILE", str(textfile.parent / "missing" / "cxone_tune.prom"))
    else:
        blocker = textfile.parent / "blocker"
        blocker.write_text("")
        monkeypatch.setenv("CXONE_METRICS_FILE", str(blocker / "cxone_tune.prom"))
    result = cli("run-once", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["applied"] is True
    warnings = [line for line in result.stderr.splitlines() if "cannot write the metrics file" in line]
    assert len(warnings) == 1, result.stderr
    assert campaign_value(tenant) != 12
    assert [(r["command"], r["exit_code"]) for r in audit.read(state)] == [("run-once", 0)]  # the audit agrees


def test_metrics_timestamps_are_the_clock_at_full_precision(
    cli: Cli, v2_env: dict[str, str], state: Path, textfile: Path
) -> None:
    before = time.time()
    assert cli("run-once").exit_code == 0
    after = time.time()
    values = samples(textfile)
    for name in ("last_run_timestamp_seconds", "last_success_timestamp_seconds"):
        assert before - 1 <= values[(name, DEFAULT_CAMPAIGN_ID)] <= after + 1
    started = values[("last_run_timestamp_seconds", DEFAULT_CAMPAIGN_ID)]
    # the audit line records the same start (to the second): the written number is the clock, not 6 digits of it
    (record,) = audit.read(state)
    assert abs(started - _epoch(record["time"])) < 1
    assert oct(textfile.stat().st_mode & 0o777) == oct(0o644)  # node_exporter reads it; only we write it


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_metric_value_reads_back_exactly(value: float) -> None:
    assert float(monitor.format_value(value)) == value


def test_format_value_handles_the_special_floats() -> None:
    assert [monitor.format_value(v) for v in (math.inf, -math.inf, 3.0, 1764700000.123456)] == [
        "+Inf",
        "-Inf",
        "3",
        "1764700000.123456",
    ]
    assert math.isnan(float(monitor.format_value(math.nan)))


TWO = """
[[targets]]
name = "renewals"
campaign_id = "c-100"

[[targets]]
name = "sales"
campaign_id = "c-200"
max_limit = 4
"""


def test_two_targets_keep_their_own_series_and_counters_in_one_file(
    cli: Cli, tenant: SandboxTenant, v2_env: dict[str, str], state: Path, textfile: Path, tmp_path: Path
) -> None:
    import copy

    campaign = copy.deepcopy(tenant.campaigns[DEFAULT_CAMPAIGN_ID])
    campaign["id"] = "c-200"
    tenant.campaigns["c-200"] = campaign
    config = tmp_path / "config.toml"
    config.write_text(TWO)
    assert cli("--config", str(config), "run-once").exit_code == 0
    first = samples(textfile)
    assert first[("changes_total", "c-100")] == 1
    assert first[("changes_total", "c-200")] == 1
    assert first[("limit", "c-200")] == 4
    assert first[("limit", "c-100")] == min(50, math.floor(tenant.available_agents() * 0.8))
    # only the second target changes next time: its counter moves, the first one's stays
    tenant.edit_campaign("c-200", lambda c: c["rules"].update(maxConcurrentCalls=12))
    assert cli("--config", str(config), "run-once").exit_code == 0
    second = samples(textfile)
    assert (second[("changes_total", "c-100")], second[("changes_total", "c-200")]) == (1, 2)
    # one target alone (--target) keeps the other's series as they were
    assert cli("--config", str(config), "--target", "sales", "run-once").exit_code == 0
    third = samples(textfile)
    assert third[("last_run_timestamp_seconds", "c-100")] == second[("last_run_timestamp_seconds", "c-100")]
    assert third[("last_run_timestamp_seconds", "c-200")] > second[("last_run_timestamp_seconds", "c-200")]
    # each family is written once, with one sample per target
    text = textfile.read_text()
    assert text.count("# TYPE cxone_tune_changes_total counter") == 1
    assert text.count("cxone_tune_changes_total{") == 2


def test_concurrent_writers_of_one_textfile_lose_no_change(tmp_path: Path) -> None:
    path = tmp_path / "cxone_tune.prom"
    writers, runs = 4, 15

    def write(target: str) -> None:
        for _ in range(runs):
            monitor.write_metrics(path, monitor.RunMetrics(time.time(), 0.1, 0, "v2", target, changed=True))

    threads = [threading.Thread(target=write, args=(f"c-{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = samples(path)
    assert {target: values[("changes_total", target)] for _, target in values} == {
        f"c-{n}": runs for n in range(writers)
    }


def test_the_readmes_staleness_alert_uses_metrics_the_file_has_and_stays_quiet_after_a_healthy_run(
    cli: Cli, v2_env: dict[str, str], state: Path, textfile: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"`(time\(\) - (cxone_tune_\w+) > (\d+))`", readme)
    assert match, "README.md has no staleness alert of the form `time() - cxone_tune_... > N`"
    expression, metric, threshold = match.group(1), match.group(2), int(match.group(3))
    assert cli("run-once").exit_code == 0
    families = {s.name: s.value for f in text_string_to_metric_families(textfile.read_text()) for s in f.samples}
    names_in_alert = set(re.findall(r"cxone_tune_\w+", expression))
    assert names_in_alert <= set(families), names_in_alert - set(families)
    assert time.time() - families[metric] < min(threshold, 5)  # fresh: the alert does not fire


def test_promtool_accepts_the_textfile(cli: Cli, v2_env: dict[str, str], state: Path, textfile: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (prometheus_client's parser checks the file in the other tests)")
    assert cli("run-once").exit_code == 0
    result = subprocess.run([promtool, "check", "metrics"], input=textfile.read_text(), capture_output=True,
                            text=True, check=False, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# -- history over a damaged audit log ---------------------------------------------------------------------------


def _damaged_log(state: Path) -> list[dict[str, Any]]:
    good = [
        {"time": f"2026-01-0{n}T00:00:00+00:00", "command": "run-once", "exit_code": 0, "limit": n} for n in (1, 2, 3)
    ]
    lines = [
        json.dumps(good[0]).encode(),
        b'{"time": "2026-01-01T12:00:00+00:00", "command": "r\xffn-once"}',  # not UTF-8
        json.dumps(good[1]).encode(),
        b"\x00\x00\x00\x00",  # a hole left by a crash
        b'["not", "an", "object"]',
        json.dumps(good[2]).encode(),
        b'{"time": "2026-01-04T00:00:00+00:00", "comm',  # cut short
    ]
    (state / "audit.jsonl").write_bytes(b"\n".join(lines))
    (state / "audit.jsonl").chmod(0o600)
    return good


@pytest.mark.parametrize("json_output", [True, False])
def test_history_skips_unreadable_lines_and_says_how_many(cli: Cli, state: Path, json_output: bool) -> None:
    good = _damaged_log(state)
    result = cli("history", *(["--json"] if json_output else []))
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, result.stderr
    assert "skipped 4 unreadable lines" in warnings[0] and str(state / "audit.jsonl") in warnings[0]
    if json_output:
        assert json.loads(result.stdout) == good  # stdout stays one JSON document
    else:
        assert result.stdout.count("run-once") == 3


def test_history_skips_lines_with_numbers_json_has_not(cli: Cli, state: Path) -> None:
    """Python's json reads NaN, Infinity and an overflowing 1e400 (as inf), which no JSON document holds: such a
    line is unreadable like any other, so ``history --json`` stays a document jq reads (before: it printed NaN)."""
    good = {"time": "2026-01-01T00:00:00+00:00", "command": "run-once", "exit_code": 0, "limit": 3}
    lines = [
        '{"time": "2026-01-02T00:00:00+00:00", "command": "run-once", "limit": NaN}',
        '{"time": "2026-01-03T00:00:00+00:00", "command": "run-once", "previous_limit": -Infinity}',
        '{"time": "2026-01-04T00:00:00+00:00", "command": "run-once", "limit": 1e400}',
        json.dumps(good),
    ]
    (state / "audit.jsonl").write_text("\n".join(lines) + "\n")
    (state / "audit.jsonl").chmod(0o600)
    result = cli("history", "--json")
    assert result.exit_code == 0, result.stderr
    assert "skipped 3 unreadable lines" in result.stderr
    assert json.loads(result.stdout, parse_constant=_no_constant) == [good]


def _no_constant(name: str) -> None:
    raise AssertionError(f"not JSON: {name}")


def test_history_refuses_an_audit_log_planted_as_a_link(cli: Cli, state: Path, outside: Path) -> None:
    (state / "audit.jsonl.1").symlink_to(outside)
    refused(cli("history"), str(state / "audit.jsonl.1"), "CXONE_STATE_DIR", "symbolic link")


def test_a_record_appended_after_a_cut_short_line_starts_a_line_of_its_own(
    cli: Cli, v2_env: dict[str, str], state: Path
) -> None:
    good = _damaged_log(state)
    assert cli("run-once").exit_code == 0
    records = json.loads(cli("history", "--json").stdout)
    assert records[:3] == good
    assert [(r["command"], r["exit_code"], r["applied"]) for r in records[3:]] == [("run-once", 0, True)]


# -- the table in docs/reliability.md ----------------------------------------------------------------------------

_DOC_TESTS = frozenset({"test_trust_table_names_only_existing_tests", "test_every_trust_test_is_in_the_table"})
_CELL_TEST = re.compile(r"`(tests/(test_\w+)\.py::(test_\w+)(\[[^\]`]*\])?)`")
_COLUMNS = 5  # number, case, what the tool does, exit and what was written, tests


def trust_rows() -> list[list[str]]:
    return doctables.table_rows(DOC, "Trust boundaries")


def _named() -> list[tuple[str, str, str]]:
    """(module, function, parameter id or "") for every test the table names."""
    return [
        (module, function, (params or "").strip("[]"))
        for row in trust_rows()
        for _, module, function, params in _CELL_TEST.findall(row[-1])
    ]


def test_trust_table_names_only_existing_tests(request: pytest.FixtureRequest) -> None:
    rows = trust_rows()
    assert rows, "the Trust boundaries table has no rows"
    assert [row[0] for row in rows] == [str(n) for n in range(1, len(rows) + 1)], "rows must be numbered 1, 2, ..."
    collected = {item.nodeid.split("::", 1)[1] for item in request.session.items if "::" in item.nodeid}
    for row in rows:
        assert len(row) == _COLUMNS, f"row {row[0]} has {len(row)} cells, expected {_COLUMNS}: {row}"
        found = _CELL_TEST.findall(row[-1])
        assert found, f"row {row[0]} ({row[1]}) names no test"
        for _, module_name, function, params in found:
            module = importlib.import_module(f"tests.{module_name}")
            assert callable(getattr(module, function, None)), f"row {row[0]}: tests/{module_name}.py has no {function}"
            if params and any(name.startswith(f"{function}[") for name in collected):
                assert f"{function}{params}" in collected, f"row {row[0]}: {function}{params} is not a test id"


def test_every_trust_test_is_in_the_table() -> None:
    """Every test of a module that promises it (``ALL_IN_TRUST_TABLE = True``: this one, and any other module of
    trust-boundary tests that opts in) is named in the table."""
    named = {(module, function) for module, function, _ in _named()}
    modules = {module for module, _ in named} | {__name__.rsplit(".", 1)[-1]}
    for module_name in sorted(modules):
        module = importlib.import_module(f"tests.{module_name}")
        if not getattr(module, "ALL_IN_TRUST_TABLE", False):
            continue
        tests = {name for name in vars(module) if name.startswith("test_") and callable(getattr(module, name))}
        missing = sorted(name for name in tests - _DOC_TESTS if (module_name, name) not in named)
        assert not missing, f"tests in tests/{module_name}.py that the Trust boundaries table does not name: {missing}"
