"""The deployment files (systemd units, crontab, Kubernetes CronJob, credentials guide) stay valid and honest.

The systemd checks run ``systemd-analyze`` where it exists (offline: no running systemd is needed) and are
skipped elsewhere; the rest are plain text checks, so they need neither systemd nor PyYAML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from cxone_tune.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "systemd"
EXAMPLES = ROOT / "examples"
SERVICE = SYSTEMD / "cxone-tune.service"
TIMER = SYSTEMD / "cxone-tune.timer"
CRONTAB = EXAMPLES / "crontab"
CRONJOB = EXAMPLES / "kubernetes-cronjob.yaml"

SETTINGS = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
SECRET_SETTINGS = {"CXONE_CLIENT_SECRET", "CXONE_ACCESS_KEY_SECRET"}
DEFAULT_TIME_BUDGET = 120
MAX_TIME_BUDGET = 280
TICK = 300

# `--offline=true` (security) and `--recursive-errors=` (verify) arrived in systemd 250.
MIN_SYSTEMD = 250


def deploy_files() -> list[Path]:
    files = [path for path in sorted(EXAMPLES.iterdir()) if path.is_file()]
    return [*files, SERVICE, TIMER]


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) pairs in order; keys may repeat, as systemd allows."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=value: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [value for name, value in unit_entries(path).get(section, []) if name == key]


def one(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{path.name}: expected one {key}= in [{section}], found {found}"
    return found[0]


def seconds(span: str) -> float:
    """A systemd time span such as ``240``, ``240s``, ``4min`` or ``3min 30s``."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts, span
    return sum(float(number) * units[unit] for number, unit in parts)


# --- unit contents: no systemd needed ---------------------------------------------------------------------


def test_service_runs_one_cycle_with_its_own_user_and_directories() -> None:
    assert one(SERVICE, "Service", "Type") == "oneshot"
    assert one(SERVICE, "Service", "ExecStart").endswith("cxone-tune run-once")
    assert one(SERVICE, "Service", "DynamicUser") == "yes"
    assert one(SERVICE, "Service", "CacheDirectory") == "cxone-tune"
    assert one(SERVICE, "Service", "StateDirectory") == "cxone-tune"
    assert one(SERVICE, "Service", "SyslogIdentifier") == "cxone-tune"
    assert "NO_COLOR=1" in values(SERVICE, "Service", "Environment")
    assert "network-online.target" in one(SERVICE, "Unit", "Wants")
    assert "network-online.target" in one(SERVICE, "Unit", "After")


def test_service_timeout_leaves_room_for_the_time_budget_inside_the_tick() -> None:
    timeout = seconds(one(SERVICE, "Service", "TimeoutStartSec"))
    assert DEFAULT_TIME_BUDGET + 15 <= timeout < TICK
    assert MAX_TIME_BUDGET < TICK


def test_service_secrets_are_credentials_named_like_settings() -> None:
    credentials = values(SERVICE, "Service", "LoadCredential") + values(SERVICE, "Service", "LoadCredentialEncrypted")
    names = {entry.partition(":")[0] for entry in credentials}
    assert "CXONE_CLIENT_SECRET" in names
    assert names <= SETTINGS
    # Only non-secret settings travel in the environment.
    assert one(SERVICE, "Service", "EnvironmentFile").startswith("-/etc/cxone-tune/")
    for entry in values(SERVICE, "Service", "Environment"):
        assert not any(secret in entry for secret in SECRET_SETTINGS), entry


def test_timer_fires_every_five_minutes_without_catch_up() -> None:
    assert one(TIMER, "Timer", "OnCalendar") == "*:0/5"
    assert seconds(one(TIMER, "Timer", "AccuracySec")) <= 5
    assert seconds(one(TIMER, "Timer", "RandomizedDelaySec")) <= 60
    assert one(TIMER, "Timer", "Persistent") == "false"
    assert one(TIMER, "Install", "WantedBy") == "timers.target"


# --- systemd-analyze --------------------------------------------------------------------------------------


class Units(NamedTuple):
    analyze: str  # the systemd-analyze executable
    service: Path
    timer: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.analyze, "--no-pager", *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=self.service.parent,
            timeout=60,
            check=False,
        )


@pytest.fixture
def units(tmp_path: Path) -> Units:
    """The units copied to a temporary directory, ExecStart pointing at this environment's cxone-tune.

    ``verify`` refuses an ExecStart binary that does not exist, and /usr/local/bin/cxone-tune usually does not.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    version = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.match(r"systemd (\d+)", version)
    if match is None or int(match.group(1)) < MIN_SYSTEMD:
        pytest.skip(f"needs systemd >= {MIN_SYSTEMD} for offline checks, found {version.splitlines()[:1]}")
    executable = Path(sys.executable).parent / "cxone-tune"
    if not executable.exists():
        pytest.skip(f"{executable} is not installed")
    text = SERVICE.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^ExecStart=\S+", f"ExecStart={executable}", text)
    assert count == 1
    service = tmp_path / SERVICE.name
    service.write_text(text, encoding="utf-8")
    timer = tmp_path / TIMER.name
    shutil.copyfile(TIMER, timer)
    return Units(analyze, service, timer)


def test_units_pass_systemd_analyze_verify(units: Units) -> None:
    # Offline and about these two files only: no man page look-ups (--man=no), no generators, and no
    # errors from other units on this machine that the units merely reference (--recursive-errors=no).
    # No running systemd is needed: it works in a container too.
    result = units.run(
        "verify", "--man=no", "--generators=no", "--recursive-errors=no", str(units.service), str(units.timer)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Any warning about our files (unknown key, bad value, missing binary) names them.
    complaints = [line for line in output.splitlines() if "cxone-tune" in line]
    assert complaints == [], output


def test_service_exposure_is_two_or_lower(units: Units) -> None:
    result = units.run("security", "--offline=true", str(units.service))
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for cxone-tune\.service: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    assert float(match.group(1)) <= 2.0, result.stdout


# --- crontab and Kubernetes ------------------------------------------------------------------------------


def test_crontab_runs_every_five_minutes_with_path_and_mailto() -> None:
    lines = [line.strip() for line in CRONTAB.read_text(encoding="utf-8").splitlines()]
    active = [line for line in lines if line and not line.startswith("#")]
    jobs = [line for line in active if re.match(r"^[\d*/,-]+\s", line)]
    assert len(jobs) == 1, jobs
    assert jobs[0].split()[:5] == ["*/5", "*", "*", "*", "*"]
    assert re.search(r"\bcxone-tune run-once\b", jobs[0])
    assert "flock" not in jobs[0]  # the tool locks itself (exit 75 when another run holds the lock)
    assert any(line.startswith("PATH=") for line in active)
    assert any(line.startswith("MAILTO=") for line in active)


def test_cronjob_is_forbid_concurrent_and_locked_down() -> None:
    text = CRONJOB.read_text(encoding="utf-8")
    for required in (
        "apiVersion: batch/v1",
        "kind: CronJob",
        "kind: ConfigMap",
        "kind: Secret",
        'schedule: "*/5 * * * *"',
        "concurrencyPolicy: Forbid",
        "backoffLimit: 0",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "type: RuntimeDefault",
        "secretKeyRef:",
        "configMapRef:",
        "- run-once",
        "name: CXONE_CACHE_DIR",
        "name: CXONE_STATE_DIR",
    ):
        assert required in text, required
    assert re.search(r'drop: \["?ALL"?\]', text)
    deadline = re.search(r"activeDeadlineSeconds: (\d+)", text)
    assert deadline is not None
    assert DEFAULT_TIME_BUDGET < int(deadline.group(1)) < TICK
    assert len(re.findall(r"(?m)^---$", text)) >= 3


# --- every example names real settings and no real secret ------------------------------------------------


@pytest.mark.parametrize("path", deploy_files(), ids=lambda path: path.name)
def test_every_named_setting_exists(path: Path) -> None:
    named = set(re.findall(rf"\b{ENV_PREFIX}[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert named - SETTINGS == set(), f"{path.name} names settings cxone-tune does not have"


# Empty, an obvious stand-in, or a shell expansion that reads the real value from elsewhere.
PLACEHOLDER = re.compile(r"^[\"']?(|change-?me|replace-?me|<[^>]+>|\.\.\.|.*example.*|\$.*)[\"']?$", re.IGNORECASE)
SECRET_ASSIGNMENT = re.compile(r"^\s*#?\s*(?:export\s+)?(\w*(?:SECRET|PASSWORD|TOKEN)\w*)\s*[=:]\s*(.*?)\s*$")
LOOKS_LIKE_A_KEY = re.compile(r"[A-Za-z0-9+/_=-]{32,}")


@pytest.mark.parametrize("path", deploy_files(), ids=lambda path: path.name)
def test_examples_hold_only_placeholder_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        assignment = SECRET_ASSIGNMENT.match(line)
        if assignment and assignment.group(1).upper() in SECRET_SETTINGS:
            assert PLACEHOLDER.match(assignment.group(2)), f"{path.name}: {line!r} is not an obvious placeholder"
    for token in LOOKS_LIKE_A_KEY.findall(text):
        mixed = all(re.search(chars, token) for chars in ("[a-z]", "[A-Z]", "[0-9]"))
        assert not mixed, f"{path.name}: {token!r} looks like a key or token"
    assert "PRIVATE KEY" not in text
    assert not re.search(r"\beyJ[A-Za-z0-9_-]{10,}\.", text), "a JWT"


def test_the_cronjob_secret_is_a_placeholder() -> None:
    found = [m.group(2) for m in map(SECRET_ASSIGNMENT.match, CRONJOB.read_text(encoding="utf-8").splitlines()) if m]
    assert found, "the Secret manifest should show where the client secret goes"
    assert all(PLACEHOLDER.match(value) for value in found), found
