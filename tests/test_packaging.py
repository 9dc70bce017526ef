"""What a user installs: the sdist and the wheel, built once per module, checked by the ecosystem's validators.

The sdist is built from this tree and the wheel from that sdist (so the sdist is complete enough to build
from), without build isolation, so no test downloads anything. Then: check-manifest (the sdist holds every
tracked file), ``twine check --strict`` (the metadata and README render on an index), pyroma (metadata
quality, 9 or more out of 10), the sdist's own tests collect, and the wheel, installed on its own, runs
``demo`` and prints the systemd units. Each validator comes from the ``test`` extra; a test skips with the
reason when its validator is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple

import pytest

from cxone_tune import __version__, units

ROOT = Path(__file__).resolve().parents[1]
MIN_SETUPTOOLS = 77  # `license = "MIT"` (an SPDX expression) and `license-files`


class Dists(NamedTuple):
    sdist: Path
    wheel: Path


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,
        check=False,
    )


def require_module(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{package} is not installed (it is in the test extra)")


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    require_module("build", "build")
    try:
        setuptools_major = int(version("setuptools").split(".")[0])
    except PackageNotFoundError:
        setuptools_major = 0
    if setuptools_major < MIN_SETUPTOOLS:
        pytest.skip(f"building without isolation needs setuptools >= {MIN_SETUPTOOLS} installed (the test extra)")
    out = tmp_path_factory.mktemp("dist")
    result = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel)


def packages_under_src() -> set[str]:
    """Top-level import packages in src/: cxone_tune and any other (the sandbox may get its own)."""
    return {path.parent.name for path in (ROOT / "src").glob("*/__init__.py")}


def test_the_wheel_holds_every_package_the_units_and_the_license_but_no_tests(dists: Dists) -> None:
    names = set(zipfile.ZipFile(dists.wheel).namelist())
    top = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert top == packages_under_src()
    for package in packages_under_src():
        sources = {f"{path.relative_to(ROOT / 'src').as_posix()}" for path in (ROOT / "src" / package).rglob("*.py")}
        assert sources <= names, sorted(sources - names)
    for unit in units.UNITS.values():
        assert f"cxone_tune/systemd/{unit}" in names
    assert "cxone_tune/py.typed" in names
    assert f"cxone_tune-{__version__}.dist-info/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(dists.wheel).read(f"cxone_tune-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata
    assert not any(name.startswith(("tests/", "examples/", "docs/")) for name in names)


def test_the_sdist_holds_the_tests_their_helpers_examples_docs_and_bench(dists: Dists) -> None:
    prefix = f"cxone_tune-{__version__}/"
    with tarfile.open(dists.sdist) as archive:
        names = {member.name.removeprefix(prefix) for member in archive.getmembers()}
    expected = {
        "LICENSE",
        "README.md",
        ".ci/run",
        "examples/.env.example",
        "examples/Containerfile",
        "docs/reliability.md",
        "tests/conftest.py",
        "tests/harness.py",
        "bench/bench.py",
        *(f"src/cxone_tune/systemd/{unit}" for unit in units.UNITS.values()),
    }
    assert expected <= names, sorted(expected - names)


def test_check_manifest_finds_the_sdist_complete() -> None:
    require_module("check_manifest", "check-manifest")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (check-manifest compares the sdist with version control)")
    result = run(sys.executable, "-m", "check_manifest", "--no-build-isolation", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_twine_check_strict_passes(dists: Dists) -> None:
    require_module("twine", "twine")
    result = run(sys.executable, "-m", "twine", "check", "--strict", dists.sdist, dists.wheel)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_pyroma_rates_the_metadata_nine_or_more(dists: Dists) -> None:
    require_module("pyroma", "pyroma")
    result = run(sys.executable, "-m", "pyroma", "--file", dists.sdist)
    match = re.search(r"Final rating: (\d+)/10", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert int(match.group(1)) >= 9, result.stdout


def test_the_sdists_tests_collect(dists: Dists, tmp_path: Path) -> None:
    with tarfile.open(dists.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"cxone_tune-{__version__}"
    # The sdist's own package, not this checkout's.
    env = {**os.environ, "PYTHONPATH": str(unpacked / "src")}
    result = run(
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", cwd=unpacked, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = re.search(r"(\d+) tests? collected", result.stdout)
    assert collected is not None and int(collected.group(1)) > 0, result.stdout[-2000:]
    files = {line.split("::", 1)[0] for line in result.stdout.splitlines() if "::" in line}
    assert files == {f"tests/{path.name}" for path in (unpacked / "tests").glob("test_*.py")}


def test_the_wheel_on_its_own_runs_the_demo_and_prints_the_units(dists: Dists, tmp_path: Path) -> None:
    """The wheel installed into an empty directory (its dependencies from this environment) runs by itself."""
    target = tmp_path / "install"
    result = run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", target, dists.wheel
    )
    assert result.returncode == 0, result.stdout + result.stderr
    script = target / "bin" / "cxone-tune"
    env = {**os.environ, "PYTHONPATH": str(target), "NO_COLOR": "1", "HOME": str(tmp_path)}
    where = run(sys.executable, "-c", "import cxone_tune; print(cxone_tune.__file__)", env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(target), where.stdout + where.stderr
    demo = run(script, "demo", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "maxConcurrentCalls" in demo.stdout
    printed = run(script, "print-unit", env=env, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert f"\nExecStart={script.resolve()} run-once\n" in printed.stdout
    assert re.findall(r"(?m)^# ==> (\S+) <==$", printed.stdout) == list(units.UNITS.values())


def test_the_containerfile_copies_the_wheel_this_build_makes(dists: Dists) -> None:
    text = (ROOT / "examples" / "Containerfile").read_text(encoding="utf-8")
    copied = re.search(r"(?m)^COPY dist/(\S+) ", text)
    assert copied is not None
    assert copied.group(1).replace("${VERSION}", __version__) == dists.wheel.name
