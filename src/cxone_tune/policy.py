"""The pacing policy: counts in, a decision and its reasons out. Pure: no I/O, no clock, no settings object.

The design's rule: floor(available x safety factor), clamped to [min, max]. Zero is never a decision: the
API rejects it, and an idle campaign with no agents should fall to the minimum, not fail every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

RULE = "floor(available x safety_factor), clamped to [min_limit, max_limit]"


@dataclass(frozen=True)
class PolicyParams:
    safety_factor: Decimal = Decimal("0.8")
    min_limit: int = 1
    max_limit: int = 50

    def __post_init__(self) -> None:
        if not (Decimal(0) < self.safety_factor <= Decimal(1)):
            raise ValueError("safety_factor must be in (0, 1]")
        if not (1 <= self.min_limit <= self.max_limit):
            raise ValueError("need 1 <= min_limit <= max_limit")


@dataclass(frozen=True)
class Decision:
    limit: int
    raw: int  # the rule's value before clamping
    available: int
    total: int
    reasons: tuple[str, ...]
    rule: str = RULE


def decide(available: int, total: int, params: PolicyParams) -> Decision:
    if available < 0 or total < 0:
        raise ValueError("agent counts cannot be negative")
    # Decimal, not float: 0.29 * 100 is 28.999999999999996 in binary floating point, and floor would say 28.
    product = Decimal(available) * params.safety_factor
    raw = math.floor(product)
    percent = f"{(params.safety_factor * 100).normalize():f}%"
    reasons = [f"{percent} of {available} available agent(s) = {product.normalize():f}, rounded down to {raw}"]
    limit = raw
    if raw < params.min_limit:
        limit = params.min_limit
        why = "no agents are available" if available == 0 else f"{raw} is below the minimum"
        reasons.append(f"raised to the minimum {params.min_limit}: {why} (0 is never written)")
    elif raw > params.max_limit:
        limit = params.max_limit
        reasons.append(f"capped at the maximum {params.max_limit}")
    return Decision(limit=limit, raw=raw, available=available, total=total, reasons=tuple(reasons))
