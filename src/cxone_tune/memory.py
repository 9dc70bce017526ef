"""What earlier runs proposed, per target, for the rule "raise only after K runs agree" (state directory)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cxone_tune.files import ensure_dir, read_bytes, write_atomic
from cxone_tune.policy import Value

KEEP = 20
VARIABLE = "CXONE_STATE_DIR"
_PATTERN = "proposals-*.json"


def files(state_dir: Path) -> list[Path]:
    """The decision memory files in ``state_dir`` (for the run lock's check of the directory)."""
    return sorted(state_dir.glob(_PATTERN))


class DecisionMemory:
    def __init__(self, state_dir: Path, key: str) -> None:
        self.state_dir = state_dir
        self.path = state_dir / _PATTERN.replace("*", hashlib.sha256(key.encode()).hexdigest()[:16])

    def recent(self) -> tuple[Value, ...]:
        """The remembered proposals. A link or a foreign file in its place is exit 78 (files.py)."""
        try:
            loaded = json.loads(read_bytes(self.path, VARIABLE))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return ()  # no memory (or a damaged one) only delays a raise by a run or two
        if not isinstance(loaded, list):
            return ()
        return tuple(v for v in loaded if isinstance(v, (int, float)) and not isinstance(v, bool))

    def remember(self, proposal: Value) -> None:
        values = [*self.recent(), proposal][-KEEP:]
        ensure_dir(self.state_dir, VARIABLE)
        write_atomic(self.path, json.dumps(values).encode(), variable=VARIABLE)
