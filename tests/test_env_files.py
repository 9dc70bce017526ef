"""The shipped env files mean the same to every loader that reads them.

``examples/.env.example`` is read three ways: by the tool as ``.env`` (python-dotenv, through
pydantic-settings), by systemd as an ``EnvironmentFile=``, and by ``sh`` with ``set -a`` (the crontab). The
tests load it all three ways and compare. systemd needs no running systemd here: its env-file rules, from
systemd.exec(5) and the parser they describe (``parse_env_file`` in systemd's src/basic/env-file.c), are
implemented below and tested against the examples the manual gives.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from cxone_tune.settings import ENV_PREFIX, Settings, load_settings, setting_sources

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ENV_FILES = sorted({EXAMPLES / ".env.example", *EXAMPLES.glob("*.env")})
SETTINGS = {f"{ENV_PREFIX}{name.upper()}": name for name in Settings.model_fields}

# What a line may hold so that all three loaders agree (see the header of .env.example).
SAFE_VALUE = r"[A-Za-z0-9.,:/@%+=_-]+"
# Single quotes hold anything but a quote, a backslash or "${" (python-dotenv expands that even there).
ACTIVE_LINE = re.compile(rf"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>{SAFE_VALUE}|'(?:[^'\\$]|\$(?!{{))*')$")
COMMENTED_ASSIGNMENT = re.compile(r"^#(?P<key>CXONE_[A-Z0-9_]*)=(?P<value>.*)$")


# --- the three loaders ----------------------------------------------------------------------------------


def systemd_environment_file(text: str) -> dict[str, str]:
    """An ``EnvironmentFile=`` as systemd reads it: a port of ``parse_env_file_internal`` (systemd 252).

    Comments are whole lines starting with ``#`` or ``;`` (a comment line ending in a backslash swallows the
    next line); an unquoted value keeps interior whitespace and everything after ``#``, loses trailing
    whitespace, and takes a backslash as "the next character literally"; single quotes are literal; double
    quotes unescape only ``"``, ``\\``, backquote and ``$``; no ``$`` expansion anywhere. Assignments whose
    name is not a valid variable name are dropped, as systemd drops them before starting the process.
    """
    whitespace, newline = " \t\n\r", "\n\r"
    result: dict[str, str] = {}
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_ws: int | None = None  # where trailing whitespace of the key starts
    value_ws: int | None = None  # where trailing whitespace of an unquoted value starts

    def push(strip_value: bool) -> None:
        name = "".join(key[:key_ws] if key_ws is not None else key)
        content = value[:value_ws] if strip_value and value_ws is not None else value
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            result[name] = "".join(content)

    for char in text:
        if state == "pre_key":
            if char in "#;":
                state = "comment"
            elif char not in whitespace:
                state, key, value, key_ws = "key", [char], [], None
        elif state == "key":
            if char in newline:
                state = "pre_key"  # no "=": ignored
            elif char == "=":
                state, value_ws = "pre_value", None
            else:
                if char not in whitespace:
                    key_ws = None
                elif key_ws is None:
                    key_ws = len(key)
                key.append(char)
        elif state == "pre_value":
            if char in newline:
                push(strip_value=False)
                state = "pre_key"
            elif char == "'":
                state = "single_quote"
            elif char == '"':
                state = "double_quote"
            elif char == "\\":
                state = "value_escape"
            elif char not in whitespace:
                state = "value"
                value.append(char)
        elif state == "value":
            if char in newline:
                push(strip_value=True)
                state = "pre_key"
            elif char == "\\":
                state, value_ws = "value_escape", None
            else:
                if char not in whitespace:
                    value_ws = None
                elif value_ws is None:
                    value_ws = len(value)
                value.append(char)
        elif state == "value_escape":
            state = "value"
            if char not in newline:  # an escaped newline joins the lines
                value.append(char)
        elif state == "single_quote":
            if char == "'":
                state = "pre_value"
            else:
                value.append(char)
        elif state == "double_quote":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_quote_escape"
            else:
                value.append(char)
        elif state == "double_quote_escape":
            state = "double_quote"
            if char in '"\\`$':
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
        elif state == "comment":
            if char == "\\":
                state = "comment_escape"
            elif char in newline:
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
    if state in ("pre_value", "value", "value_escape", "single_quote", "double_quote", "double_quote_escape"):
        push(strip_value=state == "value")
    return result


def sh_set_a(path: Path) -> tuple[dict[str, str], str]:
    """``set -a; . FILE`` in a POSIX shell, as the crontab does; the variables it set, and what it printed
    plus its exit status when that was not 0 (the crontab's ``&&`` would then not start the tool at all)."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh")
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    result = subprocess.run(
        [sh, "-c", 'set -a; . "$1"; status=$?; set +a; env -0; exit $status', "sh", str(path)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    variables = dict(entry.split("=", 1) for entry in result.stdout.split("\0") if "=" in entry)
    for name in ("PATH", "HOME", "PWD", "SHLVL", "_", "OLDPWD", "status"):
        variables.pop(name, None)
    printed = result.stderr + (f"[exit {result.returncode}]" if result.returncode else "")
    return variables, printed


def python_dotenv(path: Path, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """The tool's own .env loader: pydantic-settings calls python-dotenv's ``dotenv_values`` (interpolating)."""
    dotenv = pytest.importorskip("dotenv", reason="python-dotenv (a pydantic-settings dependency) is missing")
    with caplog.at_level(logging.WARNING, logger="dotenv.main"):
        parsed = dotenv.dotenv_values(path, encoding="utf-8")
    unparsed = [record.getMessage() for record in caplog.records if record.name == "dotenv.main"]
    assert unparsed == [], unparsed
    assert all(value is not None for value in parsed.values()), "a line without '='"
    return {key: str(value) for key, value in parsed.items()}


def all_three(path: Path, caplog: pytest.LogCaptureFixture) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    shell, printed = sh_set_a(path)
    assert printed == "", f"sh printed while reading {path.name}: {printed}"
    return shell, python_dotenv(path, caplog), systemd_environment_file(path.read_text(encoding="utf-8"))


def uncommented(path: Path, tmp_path: Path) -> Path:
    """The file with every commented setting switched on, as a user uncommenting lines gets it."""
    text = re.sub(r"(?m)^#(CXONE_[A-Z0-9_]*=)", r"\1", path.read_text(encoding="utf-8"))
    copy = tmp_path / f"{path.name}.uncommented"
    copy.write_text(text, encoding="utf-8")
    return copy


# --- the systemd rules, checked against systemd.exec(5)'s own examples ----------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("FOO=word1 word2", "word1 word2"),  # interior whitespace is kept
        ("FOO=value   ", "value"),  # trailing whitespace is not
        ("  FOO  =  value", "value"),
        ("FOO=a # not a comment", "a # not a comment"),
        ("FOO='a\\b $HOME'", "a\\b $HOME"),  # single quotes: literal, no expansion
        ('FOO="a \\"b\\" \\$c \\d"', 'a "b" $c \\d'),
        ("FOO=a\\ b\\\\c", "a b\\c"),  # unquoted: backslash takes the next character literally
        ("FOO=one\\\ntwo", "onetwo"),  # a line ending in a backslash continues
        ("FOO=${HOME}", "${HOME}"),  # no expansion at all
        ("FOO=", ""),
    ],
)
def test_the_systemd_rules_as_documented(line: str, expected: str) -> None:
    assert systemd_environment_file(line + "\n") == {"FOO": expected}


def test_the_systemd_rules_for_comments_and_odd_lines() -> None:
    text = "# comment\n; also a comment\nNOEQUALS\n#C=1 \\\nSWALLOWED=1\nexport BAD=1\nGOOD=1"
    assert systemd_environment_file(text) == {"GOOD": "1"}


# --- the shipped files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_every_line_is_a_comment_or_a_plain_assignment(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name} line {number}: {line!r}"
        if not line or line.startswith("#"):
            assert not line.endswith("\\"), f"{where}: systemd would join the next line to this comment"
            assignment = COMMENTED_ASSIGNMENT.match(line)
            if assignment:  # a default shown as a comment: uncommenting it must give a usable line
                assert re.fullmatch(SAFE_VALUE, assignment["value"]), f"{where}: empty or needs quoting"
            continue
        match = ACTIVE_LINE.match(line)
        assert match, f"{where}: not KEY=value with a value every loader reads the same"
        assert match["key"] in SETTINGS, where


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_sh_python_dotenv_and_systemd_read_the_same(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shell, dotenv, systemd = all_three(path, caplog)
    assert dotenv, f"{path.name} sets nothing"
    assert shell == dotenv == systemd


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_with_every_setting_uncommented_they_still_agree(
    path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shell, dotenv, systemd = all_three(uncommented(path, tmp_path), caplog)
    assert shell == dotenv == systemd
    assert set(dotenv) == set(SETTINGS), "every setting has a line, commented or not"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_the_tool_loads_it_as_is_and_fully_uncommented(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No line, active or uncommented, ends in exit 78 (the autouse fixture put us in an empty directory)."""
    shutil.copyfile(path, ".env")
    settings = load_settings()
    sources = setting_sources({})
    assert {SETTINGS[key] for key in systemd_environment_file(path.read_text(encoding="utf-8"))} == {
        name for name, source in sources.items() if source == ".env"
    }
    assert settings.api_name in ("v2", "acd")
    shutil.copyfile(uncommented(path, tmp_path), ".env")
    # The one setting that must name an existing file: point it at one (the environment wins over .env).
    bundle = tmp_path / "ca.pem"
    bundle.write_text("", encoding="utf-8")
    monkeypatch.setenv("CXONE_CA_BUNDLE", str(bundle))
    load_settings()


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_commented_values_are_the_defaults_unless_the_setting_has_none(path: Path) -> None:
    defaults = Settings()
    for line in path.read_text(encoding="utf-8").splitlines():
        assignment = COMMENTED_ASSIGNMENT.match(line)
        if assignment is None:
            continue
        name = SETTINGS[assignment["key"]]
        default = getattr(defaults, name)
        if default is None:
            continue  # an example value; the comment above it says so
        shown = getattr(Settings.model_validate({name: assignment["value"]}), name)
        if isinstance(default, Decimal):
            assert Decimal(shown) == default, line
        else:
            assert shown == default, line


# --- the $-in-secrets rule that .env.example documents -------------------------------------------------------


def test_single_quoted_secrets_read_the_same_and_unquoted_dollars_do_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quoted = tmp_path / "quoted.env"
    quoted.write_text("CXONE_CLIENT_SECRET='pa$$w$HOME rd#1 \"x\" $'\n", encoding="utf-8")
    shell, dotenv, systemd = all_three(quoted, caplog)
    assert shell == dotenv == systemd == {"CXONE_CLIENT_SECRET": 'pa$$w$HOME rd#1 "x" $'}

    unquoted = tmp_path / "unquoted.env"
    unquoted.write_text("CXONE_CLIENT_SECRET=pa${HOME}rd\n", encoding="utf-8")
    shell, dotenv, systemd = all_three(unquoted, caplog)
    assert systemd["CXONE_CLIENT_SECRET"] == "pa${HOME}rd"  # literal
    assert shell["CXONE_CLIENT_SECRET"] == "pa/nonexistentrd"  # the shell's $HOME
    assert dotenv["CXONE_CLIENT_SECRET"] == f"pa{os.environ['HOME']}rd"  # python-dotenv's, from this process


@pytest.mark.parametrize("secret", ["pa${HOME}rd", "pa\\\\rd", "pa\\'rd"], ids=["${", "backslash", "quote"])
def test_the_documented_exceptions_differ_even_in_single_quotes(
    secret: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Why .env.example sends a secret with ``'``, a backslash or ``${`` to a credential file."""
    path = tmp_path / "exception.env"
    path.write_text(f"CXONE_CLIENT_SECRET='{secret}'\n", encoding="utf-8")
    shell, printed = sh_set_a(path)
    readings = {
        "sh": shell.get("CXONE_CLIENT_SECRET") if not printed else f"error: {printed}",
        "python-dotenv": python_dotenv(path, caplog).get("CXONE_CLIENT_SECRET"),
        "systemd": systemd_environment_file(path.read_text(encoding="utf-8")).get("CXONE_CLIENT_SECRET"),
    }
    assert len(set(readings.values())) > 1, readings
    example = (EXAMPLES / ".env.example").read_text(encoding="utf-8")
    assert "single quotes" in example and "credential file" in example
    assert all(exception in example for exception in ("a single quote", "a backslash", '"${"'))


def test_an_inline_comment_is_what_the_comparison_catches(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The old .env.example's style: systemd keeps the comment as part of the value, sh runs a command."""
    old = tmp_path / "old.env"
    old.write_text("CXONE_MIN_LIMIT=1   # at least one line\nCXONE_AVAILABLE_STATES=Available, Dialer\n")
    shell, printed = sh_set_a(old)
    assert "Dialer" in printed  # "not found": sh ran it as a command
    assert python_dotenv(old, caplog)["CXONE_MIN_LIMIT"] == "1"
    assert systemd_environment_file(old.read_text())["CXONE_MIN_LIMIT"] == "1   # at least one line"
    assert "CXONE_AVAILABLE_STATES" not in shell
