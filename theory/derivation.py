"""The derivation contract shared by every module of ``theory/``.

A :class:`Derivation` holds a statement, its assumptions, a list of checked
steps and named predictions. A step is an identity ``lhs == rhs`` checked with
``sympy.simplify(lhs - rhs) == 0`` (or a sympy boolean that must reduce to
``True``). A prediction is a sympy expression turned into a plain numeric
function with :func:`sympy.lambdify`, so probes never re-type a formula.

Usage::

    d = Derivation("floor", statement="...", assumptions=["n >= 1"])
    d.step("mean of 1..n", sp.summation(i, (i, 1, n)) / n, (n + 1) / 2)
    d.prediction("floor_mse", (n**2 - 1) / 12, [n])
    d.check()                    # raises DerivationError on a failed step
    d.predict("floor_mse", n=16) # 21.25
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import sympy as sp

__all__ = ["Derivation", "DerivationError", "Step", "StepCheck"]


class DerivationError(AssertionError):
    """A derivation step did not check."""


@dataclass(frozen=True)
class StepCheck:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Step:
    """One checked step: ``lhs == rhs`` (identity) or ``lhs`` is a sympy boolean.

    ``how`` picks the check: ``"simplify"`` (``simplify(lhs - rhs) == 0``),
    ``"equals"`` (``lhs.equals(rhs)``, numeric-assisted, for identities simplify
    cannot close) or ``"true"`` (``simplify(lhs)`` is ``sympy.true``).
    """

    name: str
    lhs: Any
    rhs: Any = None
    how: str = "simplify"

    def verify(self) -> StepCheck:
        try:
            if self.how == "true":
                val = sp.simplify(self.lhs)
                ok = val is sp.true or val is True
                detail = f"{self.lhs} -> {val}"
            elif self.how == "equals":
                ok = bool(sp.sympify(self.lhs).equals(sp.sympify(self.rhs)))
                detail = f"{self.lhs} == {self.rhs}"
            elif self.how == "simplify":
                diff = sp.simplify(sp.sympify(self.lhs) - sp.sympify(self.rhs))
                ok = diff == 0
                detail = f"{self.lhs} - ({self.rhs}) -> {diff}"
            else:  # pragma: no cover - programming error
                raise ValueError(f"unknown step check {self.how!r}")
        except Exception as exc:  # a step that cannot be evaluated has failed
            ok, detail = False, f"error while checking: {exc!r}"
        return StepCheck(self.name, bool(ok), detail)


@dataclass
class Derivation:
    """A statement, its assumptions, checked steps and lambdified predictions."""

    name: str
    statement: str
    assumptions: Sequence[str] = ()
    source: str = ""
    steps: list[Step] = field(default_factory=list)
    _predictions: dict[str, tuple[Any, tuple]] = field(default_factory=dict)
    _compiled: dict[str, Callable] = field(default_factory=dict, repr=False)

    # -- building ---------------------------------------------------------
    def step(self, name: str, lhs, rhs=None, how: str = "simplify") -> "Derivation":
        if rhs is None and how == "simplify":
            how = "true"
        self.steps.append(Step(name, lhs, rhs, how))
        return self

    def prediction(self, name: str, expr, args: Sequence[sp.Symbol]) -> "Derivation":
        """Register ``expr`` as a numeric prediction of the symbols ``args``."""
        self._predictions[name] = (sp.sympify(expr), tuple(args))
        self._compiled.pop(name, None)
        return self

    # -- using ------------------------------------------------------------
    def check(self) -> list[StepCheck]:
        """Verify every step; raise :class:`DerivationError` naming the first failure."""
        results = [s.verify() for s in self.steps]
        bad = [r for r in results if not r.ok]
        if bad:
            lines = "; ".join(f"{r.name}: {r.detail}" for r in bad)
            raise DerivationError(f"{self.name}: {len(bad)} step(s) failed: {lines}")
        return results

    @property
    def prediction_names(self) -> tuple[str, ...]:
        return tuple(self._predictions)

    def expr(self, name: str):
        return self._predictions[name][0]

    def function(self, name: str) -> Callable:
        """The numeric function of prediction ``name`` (numpy-backed, via lambdify)."""
        if name not in self._predictions:
            raise KeyError(f"{self.name} has no prediction {name!r}; it has {list(self._predictions)}")
        if name not in self._compiled:
            expr, args = self._predictions[name]
            self._compiled[name] = sp.lambdify(args, expr, modules=["numpy", "scipy"])
        return self._compiled[name]

    def predict(self, name: str, **numbers) -> float:
        """Evaluate prediction ``name`` with keyword numbers named like its symbols."""
        expr, args = self._predictions[name]
        names = [str(a) for a in args]
        missing = [a for a in names if a not in numbers]
        extra = [k for k in numbers if k not in names]
        if missing or extra:
            raise TypeError(f"{self.name}.{name} takes {names}; missing {missing}, unexpected {extra}")
        return self.function(name)(*[numbers[a] for a in names])

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "statement": self.statement,
            "assumptions": list(self.assumptions),
            "source": self.source,
            "steps": [s.name for s in self.steps],
            "predictions": {k: str(v[0]) for k, v in self._predictions.items()},
        }
