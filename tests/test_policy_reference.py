"""The policy pipeline against a frozen copy of the one-function ``evaluate`` it replaced (issue 9, item 4).

``reference_evaluate`` below is the old ``policy.evaluate`` as it stood before the steps became a list, copied
verbatim but for two ``isinstance`` narrowings that replace its ``type: ignore`` comments. It is never edited:
a change of behaviour in ``policy.py`` has to show up here first, as a failing comparison, and be decided on
purpose (then the reference is updated in the same commit, with the reason).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_tune.policy import (
    Decision,
    Evaluation,
    Options,
    Params,
    PolicyParams,
    Pool,
    RatioParams,
    Step,
    Value,
    decide,
    decide_ratio,
    evaluate,
)

# -- the frozen reference --------------------------------------------------------------------------------------


def reference_evaluate(
    pool: Pool,
    params: Params,
    options: Options | None = None,
    current: Value | None = None,
    recent: tuple[Value, ...] = (),
) -> Evaluation:
    """Run the whole policy. ``current`` is the value in force (None: unknown), ``recent`` the proposals of
    the previous runs, newest last (for the raise confirmation)."""
    options = options or Options()
    _check_counts(pool.available, pool.total)
    steps: list[Step] = []
    effective = Decimal(pool.available) + options.acw_weight * pool.acw + (pool.busy if options.count_busy else 0)
    parts = [f"{pool.available} available"]
    if options.acw_weight:
        parts.append(f"{options.acw_weight.normalize():f} x {pool.acw} in after-call work")
    if options.count_busy:
        parts.append(f"{pool.busy} on a contact")
    steps.append(Step("eligible agents", None, _num(effective), " + ".join(parts) + f" = {effective.normalize():f}"))

    counted = math.floor(effective)
    ratio = isinstance(params, RatioParams)
    base = (
        decide_ratio(counted, pool.total, params)
        if isinstance(params, RatioParams)
        else decide(counted, pool.total, params)
    )
    value: Value = base.raw
    note = base.reasons[0]
    if effective != pool.available:
        note = note.replace("available agent(s)", "eligible agent(s)")
    steps.append(Step("base rule", None, value, note))
    low, high = params.bounds

    if options.small_team_size and 0 < counted < options.small_team_size and isinstance(params, PolicyParams):
        # One line per agent, but never more than the rule gives at the threshold itself: otherwise one more
        # agent could lower the ceiling (5 agents -> 5 lines, 6 -> floor(4.8) = 4) and the value would flap.
        at_threshold = decide(options.small_team_size, pool.total, params).raw
        new = max(value, min(counted, at_threshold))
        if new != value:
            note = f"fewer than {options.small_team_size} agents: one line each, up to {at_threshold}"
            steps.append(Step("small team", value, new, note))
            value = new
    if counted == 0 and options.no_agents == "hold" and current is not None:
        steps.append(Step("no agents", value, current, "no agents available: holding the current value"))
        return _finish(pool, base, steps, effective, current, held=True, low=low, high=high)
    clamped = min(max(value, low), high)
    if clamped != value:
        why = "no agents are available (0 is never written)" if counted == 0 else "outside the configured bounds"
        steps.append(Step("bounds", value, clamped, f"clamped to [{low:g}, {high:g}]: {why}"))
        value = clamped
    proposal = value
    if current is None:
        return _finish(pool, base, steps, effective, proposal, held=False, low=low, high=high)

    if value > current and options.raise_after_runs > 1:
        streak = 1
        for earlier in reversed(recent):
            if earlier <= current:
                break
            streak += 1
        needed = options.raise_after_runs
        if streak < needed:
            steps.append(Step("confirm raise", value, current, f"raise proposed on {streak} of {needed} runs in a row"))
            return _finish(pool, base, steps, effective, proposal, held=True, low=low, high=high, value=current)
        agreed = min([value, *recent[-(needed - 1) :]])
        if agreed != value:
            steps.append(Step("confirm raise", value, agreed, f"the lowest raise of the last {needed} runs"))
            value = agreed
    if value > current:
        caps = [Decimal(str(current)) + options.max_raise] if options.max_raise is not None else []
        if options.max_raise_pct is not None:
            caps.append(Decimal(str(current)) * (1 + options.max_raise_pct / 100))
        if caps:
            # "At most N lines or P%": whichever allows more, so a small limit is not stuck crawling up
            # 20% at a time (from 1 after a night at the minimum) while a large one still rises gently.
            cap = max(caps)
            # A whole line at least: floor(4 x 1.2) is 4, and a small limit could otherwise never rise.
            capped = _num(cap) if ratio else max(math.floor(cap), int(current) + 1)
            if capped < value:
                steps.append(Step("raise step", value, max(capped, current), "raised by at most the step limit"))
                value = max(capped, current)
    elif value < current and options.max_lower_pct is not None:
        floor_value = Decimal(str(current)) * (1 - options.max_lower_pct / 100)
        floored = _num(math.ceil(floor_value) if not ratio else floor_value)
        if floored > value:
            steps.append(Step("lower step", value, floored, f"lowered by at most {options.max_lower_pct}%"))
            value = floored
    band = max(options.deadband, Decimal(str(current)) * options.deadband_pct / 100)
    if value != current and band and abs(Decimal(str(value)) - Decimal(str(current))) < band:
        steps.append(
            Step("deadband", value, current, f"a change smaller than {band.normalize():f} is not worth a write")
        )
        return _finish(pool, base, steps, effective, proposal, held=True, low=low, high=high, value=current)
    return _finish(pool, base, steps, effective, proposal, held=value == current, low=low, high=high, value=value)


def _finish(
    pool: Pool,
    base: Decision,
    steps: list[Step],
    effective: Decimal,
    proposal: Value,
    *,
    held: bool,
    low: Value,
    high: Value,
    value: Value | None = None,
) -> Evaluation:
    limit = proposal if value is None else value
    if not low <= limit <= high:
        # A value in force outside today's bounds is never kept: the bounds win over hold and deadband.
        bounded = min(max(limit, low), high)
        steps.append(Step("bounds", limit, bounded, f"the value in force is outside [{low:g}, {high:g}]"))
        limit, held = bounded, False
    reasons = tuple(step.note for step in steps[1:] if step.rule == "base rule" or step.fired)
    decision = Decision(
        limit=limit, raw=base.raw, available=pool.available, total=pool.total, reasons=reasons, rule=base.rule
    )
    return Evaluation(decision, tuple(steps), effective, proposal, held)


def _check_counts(available: int, total: int) -> None:
    if available < 0 or total < 0:
        raise ValueError("agent counts cannot be negative")


def _num(value: Decimal | float | int) -> Value:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


# -- the comparison -----------------------------------------------------------------------------------------------

D = Decimal
ratio_values = st.decimals(min_value=D("0.5"), max_value=4, places=1)


@st.composite
def step_tables(draw: st.DrawFn) -> tuple[tuple[int, Decimal], ...]:
    thresholds = sorted(draw(st.sets(st.integers(1, 40), max_size=4)))
    return tuple((n, draw(ratio_values)) for n in [0, *thresholds])


count_params = st.builds(
    lambda factor, bounds: PolicyParams(factor, *bounds),
    st.decimals(min_value=D("0.01"), max_value=1, places=2),
    st.tuples(st.integers(1, 60), st.integers(1, 60)).map(sorted),
)
ratio_params = st.builds(
    lambda steps, bounds: RatioParams(steps, *bounds),
    step_tables(),
    st.tuples(ratio_values, ratio_values).map(sorted),
)
options = st.builds(
    Options,
    acw_weight=st.decimals(min_value=0, max_value=1, places=2),
    count_busy=st.booleans(),
    small_team_size=st.integers(0, 12),
    no_agents=st.sampled_from(["minimum", "hold"]),
    raise_after_runs=st.integers(1, 5),
    max_raise=st.none() | st.decimals(min_value=D("0.1"), max_value=10, places=1),
    max_raise_pct=st.none() | st.decimals(min_value=1, max_value=100, places=0),
    max_lower_pct=st.none() | st.decimals(min_value=1, max_value=100, places=0),
    deadband=st.decimals(min_value=0, max_value=5, places=1),
    deadband_pct=st.decimals(min_value=0, max_value=30, places=0),
)
pools = st.builds(
    lambda available, busy, acw, others: Pool(available, available + busy + acw + others, busy, acw),
    st.integers(0, 120),
    st.integers(0, 60),
    st.integers(0, 30),
    st.integers(0, 20),
)
# Values in force and remembered proposals, in and out of any bounds: whole numbers for either rule (a tenant's
# ratio can read back as 2), tenths for the ratio rule.
values = st.integers(0, 120) | st.decimals(min_value=0, max_value=5, places=1).map(float)


def _same(new: Evaluation, old: Evaluation) -> None:
    assert new == old
    # == on floats says 2 == 2.0: the kinds must match too (a line count stays an int in JSON and the audit line)
    assert [type(v) for v in (new.decision.limit, new.proposal)] == [
        type(v) for v in (old.decision.limit, old.proposal)
    ]
    assert [(type(s.before), type(s.after)) for s in new.steps] == [(type(s.before), type(s.after)) for s in old.steps]


@settings(max_examples=1500, deadline=None)
@given(
    pool=pools,
    params=st.one_of(count_params, ratio_params),
    options=options,
    current=st.none() | values,
    recent=st.lists(values, max_size=6).map(tuple),
)
def test_the_step_list_decides_exactly_as_the_old_evaluate(
    pool: Pool, params: Params, options: Options, current: Value | None, recent: tuple[Value, ...]
) -> None:
    _same(evaluate(pool, params, options, current, recent), reference_evaluate(pool, params, options, current, recent))


@settings(max_examples=300, deadline=None)
@given(pool=pools, params=st.one_of(count_params, ratio_params))
def test_default_options_and_nothing_in_force_match_too(pool: Pool, params: Params) -> None:
    _same(evaluate(pool, params), reference_evaluate(pool, params))


@pytest.mark.parametrize("evaluate_any", [evaluate, reference_evaluate])
def test_negative_counts_are_refused_by_both(evaluate_any: Callable[[Pool, Params], Evaluation]) -> None:
    with pytest.raises(ValueError, match="negative"):
        evaluate_any(Pool(-1, 3), PolicyParams())
