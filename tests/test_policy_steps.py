"""The policy as an ordered list of steps: the order, and the seam a guard step plugs into (issue 10's abandon
guard): one function before ``bounds``, fed by a field of ``Inputs``, whose ceiling no other step can override."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_tune.policy import (
    STEPS,
    Inputs,
    Options,
    Params,
    PolicyParams,
    Pool,
    RatioParams,
    Value,
    Work,
    bounds,
    evaluate,
    run,
)
from tests.test_policy_reference import count_params, options, pools, ratio_params, values

D = Decimal


def test_the_steps_run_in_this_order_and_bounds_has_the_last_word() -> None:
    assert [step.__name__ for step in STEPS] == [
        "eligible",
        "base_rule",
        "small_team",
        "no_agents",
        "proposal",
        "confirm_raise",
        "raise_step",
        "lower_step",
        "deadband",
        "abandon_guard",
        "bounds",
    ]


@dataclass(frozen=True)
class GuardedInputs(Inputs):
    """A test-only input beyond the pool, as issue 10 adds abandon figures: the steps' signatures stay."""

    allowed: Value | None = None


def cap_guard(work: Work) -> None:
    """A stand-in for the abandon guard: the most the run may write, whatever the stability steps decided."""
    allowed = work.inputs.allowed if isinstance(work.inputs, GuardedInputs) else None
    if allowed is not None:
        work.lower_ceiling(allowed, f"the guard allows at most {allowed:g}")


GUARDED = (*STEPS[:-1], cap_guard, bounds)


@settings(max_examples=500, deadline=None)
@given(
    pool=pools,
    params=st.one_of(count_params, ratio_params),
    options=options,
    current=st.none() | values,
    recent=st.lists(values, max_size=6).map(tuple),
    allowed=values,
)
def test_no_step_keeps_a_value_above_a_guards_ceiling(
    pool: Pool, params: Params, options: Options, current: Value | None, recent: tuple[Value, ...], allowed: Value
) -> None:
    """Holds (no agents, an unconfirmed raise), the deadband and the minimum all run before the guard's ceiling
    is applied, so whatever they decided, the written value is at most the ceiling."""
    plain = evaluate(pool, params, options, current, recent)
    guarded = run(GuardedInputs(pool, current, recent, allowed=allowed), params, options, GUARDED)
    assert guarded.decision.limit == min(plain.decision.limit, allowed)
    assert guarded.proposal == plain.proposal  # the guard caps the write, not what the next run remembers
    assert guarded.held is (guarded.decision.limit == current)
    if guarded.decision.limit != plain.decision.limit:
        last = guarded.steps[-1]
        assert (last.rule, last.before, last.after) == ("bounds", plain.decision.limit, allowed)
        assert last.note in guarded.decision.reasons
    else:
        assert guarded.steps == plain.steps


def test_a_guard_ceiling_overrides_a_deadband_hold_and_the_hold_of_no_agents() -> None:
    ratio = RatioParams()
    deadband = Options(deadband=D("0.6"))
    held = run(GuardedInputs(Pool(20, 20), 1.5, (), allowed=1.0), ratio, deadband, GUARDED)
    assert [(s.rule, s.before, s.after) for s in held.steps if s.fired][-2:] == [
        ("deadband", 2.0, 1.5),
        ("bounds", 1.5, 1.0),
    ]
    assert (held.decision.limit, held.held) == (1.0, False)
    nobody = run(GuardedInputs(Pool(0, 20), 2.5, (), allowed=1.0), ratio, Options(no_agents="hold"), GUARDED)
    assert nobody.decision.limit == 1.0


def test_without_the_new_input_the_guarded_list_is_the_plain_policy() -> None:
    params, stable = PolicyParams(), Options(raise_after_runs=2, deadband=D(1))
    plain = evaluate(Pool(20, 40), params, stable, 10, (14,))
    assert run(Inputs(Pool(20, 40), 10, (14,)), params, stable, GUARDED) == plain
    assert run(GuardedInputs(Pool(20, 40), 10, (14,)), params, stable, GUARDED) == plain
