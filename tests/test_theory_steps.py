"""Every derivation of every theory module checks, and a broken step is caught."""
from __future__ import annotations

import pytest
import sympy as sp

from theory import Derivation, DerivationError, all_derivations

DERIVATIONS = all_derivations()


def test_derivations_found():
    names = [d.name for d in DERIVATIONS]
    assert "row-mass" in names and "training-floor" in names, names
    assert len(set(names)) == len(names), f"duplicate derivation names: {names}"


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_every_step_checks(derivation):
    results = derivation.check()
    assert results and all(r.ok for r in results)
    assert derivation.statement and derivation.steps


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_predictions_evaluate(derivation):
    for name in derivation.prediction_names:
        expr = derivation.expr(name)
        assert isinstance(expr, sp.Basic)
        derivation.function(name)  # lambdify must succeed


def test_a_wrong_step_fails():
    x = sp.Symbol("x")
    d = Derivation("wrong", statement="(x+1)² = x² + 1 (false)")
    d.step("expand", (x + 1) ** 2, x ** 2 + 1)
    with pytest.raises(DerivationError, match="expand"):
        d.check()


def test_boolean_step_and_predict_arguments():
    n = sp.Symbol("n", positive=True)
    d = Derivation("ok", statement="n² > 0 for n > 0")
    d.step("positive", sp.Gt(n ** 2, 0))
    d.prediction("square", n ** 2, [n])
    d.check()
    assert d.predict("square", n=3) == 9
    with pytest.raises(TypeError, match="missing"):
        d.predict("square")
    with pytest.raises(KeyError):
        d.function("nope")
