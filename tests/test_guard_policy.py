"""The abandon guard as a pure policy step (issue 10): its rules one by one, and a property against an oracle
written apart from it: whatever the pool, the options, the value in force and the abandon figures, the value
decided is exactly the plain policy's, capped at what the rules allow."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_tune.policy import (
    AbandonFigures,
    Options,
    Params,
    PolicyParams,
    Pool,
    RatioParams,
    Value,
    WindowCounts,
    evaluate,
)
from tests.test_policy_reference import count_params, options, pools, ratio_params, values

D = Decimal
RATIO = RatioParams()
POOL_20 = Pool(20, 20)  # the step table's 2.0
POOL_8 = Pool(8, 20)  # 1.5
POOL_3 = Pool(3, 20)  # 1.0


def w(abandons: int | None, handled: int | None, reason: str = "") -> WindowCounts:
    return WindowCounts("window", abandons, handled, reason)


QUIET = w(0, 100)


def figures(short: WindowCounts = QUIET, compliance: WindowCounts = QUIET) -> AbandonFigures:
    return AbandonFigures(short, compliance)


def decide(pool: Pool, current: Value | None, abandon: AbandonFigures, params: Params = RATIO) -> Value:
    return evaluate(pool, params, Options(), current, (), abandon).decision.limit


# -- the rules, one by one ---------------------------------------------------------------------------------------


def test_the_rate_is_abandons_over_handled_plus_abandons() -> None:
    window = w(2, 98)
    assert (window.live, window.rate) == (100, D("0.02"))
    assert not window.above(D(2)) and not window.below(D(2))  # exactly 2%: neither above nor below
    assert w(0, 0).rate is None and w(None, 5).rate is None
    assert "2 of 100 live calls abandoned (2%)" in window.describe()


def test_above_the_setpoint_on_the_compliance_window_the_ratio_is_held_at_one() -> None:
    assert decide(POOL_20, 2.0, figures(compliance=w(3, 97))) == 1.0  # 3% > 2%: lowered from 2.0 to 1.0
    assert decide(POOL_20, 1.0, figures(compliance=w(21, 979))) == 1.0  # 2.1%: never raised from 1.0
    assert decide(POOL_20, 1.0, figures(compliance=w(2, 98))) == 1.0  # exactly 2%: not above, but no raise
    # A line count is held at one call per agent too.
    assert decide(Pool(20, 20), 12, figures(compliance=w(3, 97)), PolicyParams()) == 1


def test_above_the_cap_on_the_short_window_the_headroom_above_one_is_halved() -> None:
    hot = figures(short=w(4, 96))  # 4% > 3%, on 100 live calls
    assert decide(POOL_20, 3.0, hot) == 2.0  # 1 + (3.0 - 1) / 2
    assert decide(POOL_20, 2.0, hot) == 1.5
    assert decide(POOL_20, 1.5, hot) == 1.2  # 1.25, rounded down to a tenth
    assert decide(POOL_20, 1.0, hot) == 1.0
    assert decide(POOL_3, 2.0, hot) == 1.0  # the policy's own lower value stands
    assert decide(Pool(20, 20), 7, hot, PolicyParams()) == 4  # a line count: 1 + 6 / 2


def test_a_raise_only_while_the_compliance_rate_is_below_half_the_setpoint() -> None:
    assert decide(POOL_20, 1.5, figures(compliance=w(99, 9901))) == 2.0  # 0.99% < 1%: raised
    assert decide(POOL_20, 1.5, figures(compliance=w(1, 99))) == 1.5  # 1%: held
    assert decide(POOL_3, 1.5, figures(compliance=w(1, 99))) == 1.0  # a lowering is never held
    evaluation = evaluate(POOL_20, RATIO, Options(), 1.5, (), figures(compliance=w(1, 99)))
    assert evaluation.guard is not None
    assert (evaluation.guard.action, evaluation.guard.raise_allowed) == ("hold", False)
    assert evaluation.steps[-1].rule == "bounds"
    assert "compliance rate is not below half the setpoint (1%)" in evaluation.steps[-1].note


def test_a_window_with_too_few_live_calls_does_not_trigger() -> None:
    few = w(19, 0)  # 100% abandoned, but 19 live calls < 20
    assert decide(POOL_20, 1.5, figures(short=few, compliance=few)) == 2.0
    assert decide(POOL_20, 1.5, figures(compliance=w(20, 0))) == 1.0  # 20 calls: it triggers
    many = Options(abandon_min_calls=50)
    assert evaluate(POOL_20, RATIO, many, 1.5, (), figures(compliance=w(20, 10))).decision.limit == 2.0


def test_missing_data_never_allows_a_raise_but_lets_the_value_fall() -> None:
    gone = w(None, None, "GET skill 4567 summary: API unavailable (503)")
    for abandon in (figures(short=gone), figures(compliance=gone), figures(gone, gone)):
        evaluation = evaluate(POOL_20, RATIO, Options(), 1.5, (), abandon)
        assert evaluation.decision.limit == 1.5
        assert "could not be read (GET skill 4567 summary: API unavailable (503))" in evaluation.steps[-1].note
        assert decide(POOL_3, 1.5, abandon) == 1.0
    # a short window above the cap still halves, whatever the other window
    assert decide(POOL_20, 3.0, figures(short=w(5, 95), compliance=gone)) == 2.0


def test_a_hold_or_a_halving_never_goes_under_the_minimum() -> None:
    """A value in force below the minimum (set by hand, or before the bounds changed) is not a pace to hold to:
    the bounds lift it to the minimum (1.0, progressive), whatever the guard says."""
    gone = w(None, None, "GET skill 4567 summary: API unavailable (503)")
    assert decide(POOL_20, 0.5, figures(gone, gone)) == 1.0  # no raise allowed: held, but at the minimum
    assert decide(POOL_20, 0.8, figures(short=w(5, 95))) == 1.0  # above the cap: "half the headroom" of 0.8
    assert decide(POOL_20, 0.5, figures(compliance=w(5, 95))) == 1.0  # above the setpoint: 1.0


def test_the_step_row_shows_both_rates() -> None:
    evaluation = evaluate(
        POOL_20,
        RATIO,
        Options(),
        1.5,
        (),
        AbandonFigures(WindowCounts("last 30 min", 1, 99), WindowCounts("today since 00:00 UTC", 3, 997)),
    )
    row = next(step for step in evaluation.steps if step.rule == "abandon guard")
    assert "last 30 min: 1 of 100 live calls abandoned (1%)" in row.note
    assert "today since 00:00 UTC: 3 of 1000 live calls abandoned (0.3%)" in row.note
    assert row.note.endswith("raise allowed")
    assert evaluation.decision.limit == 2.0


def test_without_figures_the_policy_is_unchanged() -> None:
    plain = evaluate(POOL_20, RATIO, Options(), 1.5)
    assert plain.guard is None
    assert all(step.rule != "abandon guard" for step in plain.steps)
    assert evaluate(POOL_20, RATIO, Options(), 1.5, (), figures()).decision == plain.decision


# -- the property ------------------------------------------------------------------------------------------------


def oracle(
    abandon: AbandonFigures, opts: Options, params: Params, current: Value | None, decided: Value
) -> Fraction | None:
    """The most the rules of issue 10 allow, worked out in fractions, apart from policy.py. The headroom halved
    is the value in force's, or (nothing in force) the value the policy decided."""
    limits: list[Fraction] = []
    short, compliance, n = abandon.short, abandon.compliance, opts.abandon_min_calls

    def above(window: WindowCounts, percent: Decimal) -> bool:
        if window.abandons is None or window.handled is None:
            return False
        live = window.abandons + window.handled
        return live >= n and live > 0 and Fraction(window.abandons, live) * 100 > Fraction(percent)

    if above(compliance, opts.abandon_setpoint_pct):
        limits.append(Fraction(1))
    low = Fraction(str(params.bounds[0]))  # a hold or a halving never goes under the minimum
    if above(short, opts.abandon_cap_pct):
        base = Fraction(str(decided if current is None else current))
        headroom = base - 1
        halved = 1 + headroom / 2 if headroom > 0 else base
        step = 1 if isinstance(params, PolicyParams) else Fraction(1, 10)
        limits.append(max(Fraction(math.floor(halved / step)) * step if headroom > 0 else halved, low))
    readable = None not in (short.abandons, short.handled, compliance.abandons, compliance.handled)
    if readable:
        assert compliance.abandons is not None and compliance.handled is not None
        live = compliance.abandons + compliance.handled
        half = Fraction(opts.abandon_setpoint_pct) / 2
        raise_ok = live < n or live == 0 or Fraction(compliance.abandons, live) * 100 < half  # none: none abandoned
    else:
        raise_ok = False
    if not raise_ok and current is not None:
        limits.append(max(Fraction(str(current)), low))
    return min(limits) if limits else None


windows = st.builds(
    WindowCounts,
    st.just("window"),
    st.none() | st.integers(0, 60),
    st.none() | st.integers(0, 600),
    st.just("unreadable in this example"),
).map(lambda window: window if window.readable else replace(window, abandons=None, handled=None))
thresholds = st.tuples(
    st.decimals(min_value=D("0.1"), max_value=10, places=1), st.decimals(min_value=D("0.1"), max_value=10, places=1)
).map(sorted)


@settings(max_examples=1500, deadline=None)
@given(
    pool=pools,
    params=st.one_of(count_params, ratio_params),
    base_options=options,
    current=st.none() | values,
    recent=st.lists(values, max_size=4).map(tuple),
    short=windows,
    compliance=windows,
    levels=thresholds,
    min_calls=st.integers(0, 40),
)
def test_the_value_decided_is_the_plain_policys_capped_at_what_the_rules_allow(
    pool: Pool,
    params: Params,
    base_options: Options,
    current: Value | None,
    recent: tuple[Value, ...],
    short: WindowCounts,
    compliance: WindowCounts,
    levels: list[Decimal],
    min_calls: int,
) -> None:
    opts = replace(base_options, abandon_setpoint_pct=levels[0], abandon_cap_pct=levels[1], abandon_min_calls=min_calls)
    abandon = AbandonFigures(short, compliance)
    plain = evaluate(pool, params, opts, current, recent)
    guarded = evaluate(pool, params, opts, current, recent, abandon)
    allowed = oracle(abandon, opts, params, current, plain.decision.limit)
    unguarded = Fraction(str(plain.decision.limit))
    expected = unguarded if allowed is None else min(unguarded, allowed)
    assert Fraction(str(guarded.decision.limit)) == expected
    assert guarded.proposal == plain.proposal  # the guard caps the write, not what the next run remembers
    # Every other step saw and did exactly what it did without the guard.
    rows = [step for step in guarded.steps if step.rule != "abandon guard"]
    assert rows[: len(plain.steps)] == list(plain.steps)
    assert len(rows) - len(plain.steps) == (guarded.decision.limit != plain.decision.limit)
    assert guarded.guard is not None
    assert guarded.guard.action == ("none" if guarded.decision.limit == plain.decision.limit else guarded.guard.action)
    if current is not None and guarded.decision.limit > max(current, params.bounds[0]):
        # a raise only ever with every figure read and the rate low (lifting a value in force from below the
        # minimum up to it is the bounds' floor, not a raise: test_a_hold_or_a_halving_never_goes_under_...)
        assert guarded.guard.raise_allowed


@pytest.mark.parametrize("current", [1.0, 1.5, 2.0, 3.0])
def test_no_raise_above_the_value_in_force_while_data_is_missing(current: float) -> None:
    gone = w(None, None, "unreadable")
    for pool in (POOL_3, POOL_8, POOL_20, Pool(100, 100)):
        assert decide(pool, current, figures(gone, QUIET)) <= current
        assert decide(pool, current, figures(QUIET, gone)) <= current
