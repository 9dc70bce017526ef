"""What earlier runs proposed, per target, for the rule "raise only after K runs agree" (state directory)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cxone_tune.files import ensure_dir, write_atomic
from cxone_tune.policy import Value

KEEP = 20


class DecisionMemory:
    def __init__(self, state_dir: Path, key: str) -> None:
        self.state_dir = state_dir
        self.path = state_dir / f"proposals-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"

    def recent(self) -> tuple[Value, ...]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return ()  # no memory (or a damaged one) only delays a raise by a run or two
        if not isinstance(loaded, list):
            return ()
        return tuple(v for v in loaded if isinstance(v, (int, float)) and not isinstance(v, bool))

    def remember(self, proposal: Value) -> None:
        values = [*self.recent(), proposal][-KEEP:]
        ensure_dir(self.state_dir, "CXONE_STATE_DIR")
        write_atomic(self.path, json.dumps(values).encode())
