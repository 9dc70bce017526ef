"""``agents --watch`` in a real pseudo-terminal (pexpect): the full-screen view refreshes, shows a state change
made in the sandbox, costs one agents request per refresh in steady state, survives a resize and ends on
Ctrl-C with exit 0 and no traceback. The command runs as its own process against the sandbox on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

import pytest

from cxone_sandbox import DEFAULT_SKILL_ID, SandboxTenant
from tests.harness import Harness

pexpect = pytest.importorskip("pexpect", reason="pexpect (in the test extra) drives the pseudo-terminal")

# CSI sequences (colours, cursor moves) and the other escapes rich writes around the text
ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[()][0-9A-B]|[=>78])")


class Terminal:
    """The process on a pseudo-terminal, and everything it wrote, escapes removed."""

    def __init__(self, args: list[str], env: dict[str, str], rows: int, columns: int) -> None:
        self.child = pexpect.spawn(
            sys.executable, args, env=env, dimensions=(rows, columns), encoding="utf-8", codec_errors="replace"
        )
        self.raw = ""
        self.seen = 0  # where the next wait_for starts looking

    @property
    def text(self) -> str:
        return ESCAPES.sub("", self.raw)

    def read(self) -> None:
        with contextlib.suppress(pexpect.TIMEOUT):
            self.raw += self.child.read_nonblocking(65536, timeout=0.2)

    def wait_for(self, pattern: str, seconds: float = 30.0) -> re.Match[str]:
        """The first match of ``pattern`` after the last one waited for; fails the test after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            found = re.compile(pattern).search(self.text, self.seen)
            if found:
                self.seen = found.end()
                return found
            if time.monotonic() > deadline or not self.child.isalive():
                pytest.fail(f"no {pattern!r} on the screen; it showed:\n{self.text[-3000:]}")
            self.read()


def test_watch_refreshes_shows_a_change_survives_a_resize_and_ends_on_ctrl_c(
    harness: Harness, tenant: SandboxTenant, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        **harness.env,
    }
    target = "campaign c-100" if harness.name == "v2" else "skill 4567"
    terminal = Terminal(["-m", "cxone_tune", "agents", "--watch", "--interval", "1"], env, rows=30, columns=120)
    try:
        available = harness.available()
        terminal.wait_for(rf"pool for {target}: {harness.counted()} agents, {available} available")
        terminal.wait_for(r"refresh 2 at \d\d:\d\d:\d\d: 1 request")
        away = next(a for a in tenant_agent_ids(harness, tenant) if a[1] is False)[0]
        harness.set_agent_state(away, "available")
        terminal.wait_for(r"refresh \d+ at [\d:]+: 1 request \([a-z ]+\), 1 changed")
        terminal.wait_for(rf"pool for {target}: {harness.counted()} agents, {available + 1} available")

        # Steady state: between two refreshes on the screen, exactly one agents request each.
        number = int(terminal.wait_for(r"refresh (\d+) at")[1])
        before = harness.pages()
        terminal.wait_for(rf"refresh {number + 2} at")
        assert harness.pages() - before == 2

        terminal.child.setwinsize(16, 64)  # SIGWINCH: the next draws fit the new size
        number = int(terminal.wait_for(r"refresh (\d+) at")[1])
        terminal.wait_for(rf"refresh {number + 1} at")
        terminal.wait_for(r"more: enlarge the window")  # 40 rows (acd: the 22 of the pool) do not fit in 16 lines
        assert terminal.child.isalive()

        terminal.child.sendintr()  # Ctrl-C
        terminal.child.expect(pexpect.EOF, timeout=20)
    finally:
        terminal.child.close(force=True)
    terminal.raw += terminal.child.before or ""
    assert terminal.child.exitstatus == 0, terminal.text[-2000:]
    assert "Traceback" not in terminal.text and "cxone-tune: error" not in terminal.text


def tenant_agent_ids(harness: Harness, tenant: SandboxTenant) -> list[tuple[str, bool]]:
    """(agent id as the tool reads it, counted as available) for every agent the watch counts (acd: the steered
    skill's pool)."""
    if harness.name == "v2":
        return [(str(a["userId"]), str(a["state"]).lower() == "available") for a in tenant.agents]
    pool = tenant.pool_agents(DEFAULT_SKILL_ID)
    return [(str(a["agentId"]), a["agentStateName"] in ("Available", "Dialer")) for a in pool]
