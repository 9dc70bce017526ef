"""The deployment files (systemd units, crontab, Kubernetes objects, Containerfile, guides) stay valid and honest.

The systemd checks run ``systemd-analyze`` where it exists (offline: no running systemd is needed) on the
units as ``cxone-tune print-unit`` writes them, and are skipped elsewhere; the Kubernetes objects are checked
against the API's schema by kubernetes-validate where it is installed; the rest are plain text checks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from cxone_tune import __version__, units
from cxone_tune.settings import ENV_PREFIX, Settings
from cxone_tune.targets import default_config_path
from tests.conftest import Cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "src" / "cxone_tune" / "systemd"
EXAMPLES = ROOT / "examples"
SERVICE = SYSTEMD / "cxone-tune.service"
TIMER = SYSTEMD / "cxone-tune.timer"
FAILURE = SYSTEMD / "cxone-tune-failure@.service"
CRONTAB = EXAMPLES / "crontab"
CRONJOB = EXAMPLES / "kubernetes-cronjob.yaml"
SECRET = EXAMPLES / "kubernetes-secret.yaml"
CONTAINERFILE = EXAMPLES / "Containerfile"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

SETTINGS = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
SECRET_SETTINGS = {"CXONE_CLIENT_SECRET", "CXONE_ACCESS_KEY_SECRET"}
DEFAULT_TIME_BUDGET = 120
MAX_TIME_BUDGET = 280
TICK = 300
MAX_EXPOSURE = 1.5

# `--offline=true` (security) and `--recursive-errors=` (verify) arrived in systemd 250.
MIN_SYSTEMD = 250


def deploy_files() -> list[Path]:
    files = [path for path in sorted(EXAMPLES.iterdir()) if path.is_file()]
    return [*files, SERVICE, TIMER, FAILURE]


# --- unit contents: no systemd needed ---------------------------------------------------------------------


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
    assert one(SERVICE, "Service", "ExecStart") == f"{units.SHIPPED_EXECUTABLE} run-once"
    assert one(SERVICE, "Service", "DynamicUser") == "yes"
    assert one(SERVICE, "Service", "CacheDirectory") == "cxone-tune"
    assert one(SERVICE, "Service", "StateDirectory") == "cxone-tune"
    assert one(SERVICE, "Service", "SyslogIdentifier") == "cxone-tune"
    assert "NO_COLOR=1" in values(SERVICE, "Service", "Environment")
    assert "network-online.target" in one(SERVICE, "Unit", "Wants")
    assert "network-online.target" in one(SERVICE, "Unit", "After")


def test_the_configuration_directory_holds_the_environment_file_and_is_where_the_tool_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = one(SERVICE, "Service", "ConfigurationDirectory")
    directory = Path("/etc") / name
    assert Path(one(SERVICE, "Service", "EnvironmentFile").removeprefix("-")).parent == directory
    # systemd sets $CONFIGURATION_DIRECTORY to /etc/<name> for the service; the tool reads config.toml there.
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(directory))
    assert default_config_path() == directory / "config.toml"


def test_every_unit_documents_itself_with_the_projects_documentation_url() -> None:
    for path in (SERVICE, TIMER, FAILURE):
        assert values(path, "Unit", "Documentation") == [PROJECT["urls"]["Documentation"]], path.name


def test_a_failed_run_starts_the_shipped_failure_template_for_this_unit() -> None:
    on_failure = one(SERVICE, "Unit", "OnFailure")
    template, instance = on_failure.split("@", 1)
    assert f"{template}@.service" == FAILURE.name == units.UNITS["failure"]
    assert instance == "%n.service"  # %n: the failed unit's full name, which the handler's %i then names
    assert one(FAILURE, "Service", "Type") == "oneshot"
    assert "%i" in one(FAILURE, "Service", "ExecStart")


def test_memory_is_capped_like_the_cronjob() -> None:
    # systemd's M is 1024-based, like Kubernetes' Mi: the same ceiling wherever the run happens.
    memory_max = re.fullmatch(r"(\d+)M", one(SERVICE, "Service", "MemoryMax"))
    limit = re.search(r"limits:\s*\n(?:\s+cpu: \S+\n)?\s+memory: (\d+)Mi", CRONJOB.read_text(encoding="utf-8"))
    assert memory_max is not None and limit is not None
    assert memory_max.group(1) == limit.group(1)


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


# --- print-unit: the shipped units, for this installation -------------------------------------------------


def test_the_package_ships_the_unit_files_of_this_repository() -> None:
    for kind, name in units.UNITS.items():
        assert units.shipped_text(kind) == (SYSTEMD / name).read_text(encoding="utf-8")
    assert {path.name for path in SYSTEMD.iterdir()} == set(units.UNITS.values())


def test_print_unit_starts_the_cxone_tune_that_printed_it(cli: Cli) -> None:
    result = cli("print-unit", "service")
    assert result.exit_code == 0, result.stderr
    command = units.running_command()
    assert f"\nExecStart={command[0]} run-once\n" in result.stdout
    assert Path(command[0]).is_absolute()
    # Nothing else changes: the shipped text with that one line replaced.
    shipped = units.shipped_text("service").replace(
        f"ExecStart={units.SHIPPED_EXECUTABLE} ", f"ExecStart={command[0]} "
    )
    assert result.stdout == shipped
    assert cli("print-unit", "timer").stdout == units.shipped_text("timer")


def test_print_unit_without_a_name_prints_all_three(cli: Cli) -> None:
    result = cli("print-unit")
    assert result.exit_code == 0
    headers = re.findall(r"(?m)^# ==> (\S+) <==$", result.stdout)
    assert headers == list(units.UNITS.values())
    assert cli("print-unit", "nonsense").exit_code == 2


def test_print_unit_dir_writes_the_units_and_replaces_a_symlink_instead_of_following_it(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "units"
    target.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep me\n", encoding="utf-8")
    (target / "cxone-tune.timer").symlink_to(elsewhere)
    result = cli("print-unit", "--dir", str(target))
    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in target.iterdir()) == sorted(units.UNITS.values())
    for kind, name in units.UNITS.items():
        path = target / name
        assert not path.is_symlink()
        assert path.stat().st_mode & 0o777 == 0o644
        assert path.read_text(encoding="utf-8") == units.unit_text(kind, units.running_command())
        assert str(path) in result.stdout
    assert elsewhere.read_text(encoding="utf-8") == "keep me\n"
    missing = cli("print-unit", "--dir", str(tmp_path / "missing"))
    assert missing.exit_code == 2
    assert "--dir" in missing.stderr and "missing" in missing.stderr


def test_running_command_prefers_the_script_then_the_one_beside_python_then_python_m(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "cxone-tune"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    link = tmp_path / "cxone-tune"
    link.symlink_to(script)
    assert units.running_command(str(link)) == [str(script.resolve())]
    beside = Path(sys.executable).parent / "cxone-tune"
    expected = [str(beside.resolve())] if beside.exists() else [sys.executable, "-m", "cxone_tune"]
    assert units.running_command(str(tmp_path / "__main__.py")) == expected


def test_exec_start_quotes_what_systemd_would_split_or_expand() -> None:
    text = units.unit_text("service", ["/opt/my tools/50%/bin/python", "-m", "cxone_tune"])
    assert '\nExecStart="/opt/my tools/50%%/bin/python" -m cxone_tune run-once\n' in text
    assert units.hidden_from_the_service(["/home/ops/.local/bin/cxone-tune"]) == Path("/home")
    assert units.hidden_from_the_service(["/usr/local/bin/cxone-tune"]) is None


def test_print_unit_warns_when_protect_home_would_hide_the_command(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(units, "running_command", lambda: ["/home/ops/.local/bin/cxone-tune"])
    result = cli("print-unit", "service")
    assert result.exit_code == 0
    assert "\nExecStart=/home/ops/.local/bin/cxone-tune run-once\n" in result.stdout
    assert "ProtectHome=yes hides" in result.stderr and "/home" in result.stderr


# --- systemd-analyze --------------------------------------------------------------------------------------


class Units(NamedTuple):
    analyze: str  # the systemd-analyze executable
    directory: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.analyze, "--no-pager", *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=self.directory,
            timeout=60,
            check=False,
        )


@pytest.fixture
def written_units(tmp_path: Path) -> Units:
    """The units as ``print-unit --dir`` writes them, ExecStart pointing at this environment's cxone-tune.

    ``verify`` refuses an ExecStart binary that does not exist, and /usr/local/bin/cxone-tune usually does not.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    version = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.match(r"systemd (\d+)", version)
    if match is None or int(match.group(1)) < MIN_SYSTEMD:
        pytest.skip(f"needs systemd >= {MIN_SYSTEMD} for offline checks, found {version.splitlines()[:1]}")
    units.write(list(units.UNITS), units.running_command(), tmp_path)
    return Units(analyze, tmp_path)


def test_units_pass_systemd_analyze_verify(written_units: Units) -> None:
    # Offline and about these files only: no man page look-ups (--man=no), no generators, and no errors
    # from other units on this machine that the units merely reference (--recursive-errors=no). No running
    # systemd is needed: it works in a container too. A template (name@.service) is checked as an instance.
    result = written_units.run("verify", "--man=no", "--generators=no", "--recursive-errors=no", *units.UNITS.values())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Any warning about our files (unknown key, bad value, missing binary) names them.
    complaints = [line for line in output.splitlines() if "cxone-tune" in line]
    assert complaints == [], output


def test_service_exposure_is_at_most_one_and_a_half(written_units: Units) -> None:
    result = written_units.run("security", "--offline=true", units.UNITS["service"])
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for cxone-tune\.service: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


# --- crontab -------------------------------------------------------------------------------------------------


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


# --- Kubernetes and the image -------------------------------------------------------------------------------


def manifests(path: Path) -> list[dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (from the test extra, via kubernetes-validate) is not installed")
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def cronjob() -> dict[str, Any]:
    (job,) = [document for document in manifests(CRONJOB) if document["kind"] == "CronJob"]
    return job


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_the_cronjob_file_holds_no_secret_so_reapplying_it_is_safe() -> None:
    assert sorted(document["kind"] for document in manifests(CRONJOB)) == ["ConfigMap", "CronJob"]
    (secret,) = manifests(SECRET)
    assert secret["kind"] == "Secret"
    assert set(secret["stringData"]) <= SECRET_SETTINGS
    text = SECRET.read_text(encoding="utf-8")
    assert "kubectl create secret generic cxone-tune-secrets" in text
    assert "--from-file=CXONE_CLIENT_SECRET=" in text
    assert "NEVER APPLY" in text


def test_secrets_are_mounted_as_files_where_credentials_directory_points() -> None:
    spec = pod_spec()
    (container,) = spec["containers"]
    environment = {entry["name"]: entry for entry in container["env"]}
    assert not any("valueFrom" in entry for entry in environment.values()), "secrets must not be variables"
    assert not set(environment) & SECRET_SETTINGS
    (secret_volume,) = [volume for volume in spec["volumes"] if "secret" in volume]
    (secret,) = manifests(SECRET)
    assert secret_volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert secret_volume["secret"]["defaultMode"] == 0o440  # group fsGroup: only the tool's user reads it
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
    (mount,) = [entry for entry in container["volumeMounts"] if entry["name"] == secret_volume["name"]]
    assert mount["readOnly"] is True
    assert environment["CREDENTIALS_DIRECTORY"]["value"] == mount["mountPath"]


def test_a_secret_volume_as_kubernetes_lays_it_out_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kubelet's layout: a timestamped directory, a ``..data`` symlink to it, and a symlink per key."""
    from cxone_tune.settings import load_settings

    mount = tmp_path / "run-secrets"
    stamped = mount / "..2026_12_02_18_00_00.000000001"
    stamped.mkdir(parents=True)
    (stamped / "CXONE_CLIENT_SECRET").write_text("pa$$word'#1\n", encoding="utf-8")
    (mount / "..data").symlink_to(stamped.name)
    (mount / "CXONE_CLIENT_SECRET").symlink_to("..data/CXONE_CLIENT_SECRET")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(mount))
    settings = load_settings()
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "pa$$word'#1"


def test_cronjob_is_forbid_concurrent_and_locked_down() -> None:
    job = cronjob()["spec"]
    assert job["schedule"] == "*/5 * * * *"
    assert job["concurrencyPolicy"] == "Forbid"
    assert job["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert DEFAULT_TIME_BUDGET < job["jobTemplate"]["spec"]["activeDeadlineSeconds"] < TICK
    spec = pod_spec()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["command"] == ["cxone-tune"] and container["args"] == ["run-once"]
    assert container["envFrom"][0]["configMapRef"]["name"] == "cxone-tune-config"
    names = {entry["name"] for entry in container["env"]}
    assert {"CXONE_CACHE_DIR", "CXONE_STATE_DIR"} <= names


def test_the_cronjobs_image_tag_is_the_package_version() -> None:
    (container,) = pod_spec()["containers"]
    assert container["image"].rsplit(":", 1)[1] == __version__


def test_manifests_pass_kubernetes_validate() -> None:
    validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (the test extra) is not installed"
    )
    version = validate.latest_version()
    for path in (CRONJOB, SECRET):
        for document in manifests(path):
            # strict: an unknown or misspelt field is an error, not silently dropped by the API server
            validate.validate(document, version, strict=True)
    # The check can fail: a misspelt field is caught.
    broken = cronjob()
    broken["spec"]["concurrencyPolicyy"] = "Forbid"
    with pytest.raises(validate.ValidationError):
        validate.validate(broken, version, strict=True)


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def test_the_containerfile_builds_a_small_non_root_image_from_the_wheel_of_this_version() -> None:
    instructions = containerfile()
    bases = [arguments for word, arguments in instructions if word == "FROM"]
    assert len(bases) == 1
    pinned = re.fullmatch(r"(?:[\w.-]+/)*python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(?:@sha256:[0-9a-f]{64})?", bases[0])
    assert pinned, f"the base is not pinned to a patch release: {bases[0]}"
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PROJECT["requires-python"])
    assert minimum is not None
    assert (int(pinned.group(1)), int(pinned.group(2))) >= (int(minimum.group(1)), int(minimum.group(2)))
    arguments = dict(arguments.partition("=")[::2] for word, arguments in instructions if word == "ARG")
    assert arguments["VERSION"] == __version__
    wheel = "cxone_tune-${VERSION}-py3-none-any.whl"
    assert any(word == "COPY" and wheel in rest for word, rest in instructions)
    assert any(word == "RUN" and f"pip install /tmp/{wheel}" in rest for word, rest in instructions)
    users = [arguments for word, arguments in instructions if word == "USER"]
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) > 0, "a numeric non-root user, so runAsNonRoot can verify it"
    context = pod_spec()["securityContext"]
    assert (int(user), int(group)) == (context["runAsUser"], context["runAsGroup"])
    assert instructions[-1][0] == "CMD" or ("ENTRYPOINT", '["cxone-tune"]') in instructions
    assert ("ENTRYPOINT", '["cxone-tune"]') in instructions


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


def test_the_kubernetes_secret_is_a_placeholder() -> None:
    found = [m.group(2) for m in map(SECRET_ASSIGNMENT.match, SECRET.read_text(encoding="utf-8").splitlines()) if m]
    assert found, "the Secret manifest should show where the client secret goes"
    assert all(PLACEHOLDER.match(value) for value in found), found
