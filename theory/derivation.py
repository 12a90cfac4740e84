"""The derivation contract shared by every module of ``theory/``.

A :class:`Derivation` holds a statement, its assumptions, a list of steps and
named predictions. A :class:`Step` states ``lhs == rhs`` (or that ``lhs``, a
sympy boolean, holds) with both sides **unevaluated**: integrals, limits, sums,
derivatives and substitutions are kept as ``sp.Integral``, ``sp.Limit``,
``sp.Sum``, ``sp.Derivative``, ``sp.Subs`` (or built with ``evaluate=False``, or
by a zero-argument callable that builds them). Only :meth:`Step.verify` does
the work (``doit``, then ``simplify``/``equals``), so a check is evidence and an
import is cheap. ``tests/test_theory_steps.py`` shows that no step is settled
before it is checked and that each fails when its right side is perturbed.

``how`` says what kind of evidence a step is:

* ``"simplify"`` (symbolic): ``simplify(doit(lhs) − doit(rhs)) == 0``;
* ``"equals"`` (symbolic): ``doit(lhs).equals(doit(rhs))`` (sympy's
  zero test, for identities ``simplify`` cannot close);
* ``"true"`` (symbolic): ``simplify(doit(lhs))`` is ``sympy.true``;
* ``"numeric"``: ``|lhs − rhs| ≤ tol`` evaluated (mpmath quadrature for an
  unevaluated integral) at the stated points ``at``. It is reported as a
  numeric check, not a proof.

A prediction is a sympy expression (or a callable building it) turned into a
plain numeric function by :func:`sympy.lambdify` on first use, so probes never
re-type a formula. ``from_step=`` takes the expression from a checked step's
right side, so the prediction is literally the checked expression.

Usage::

    d = Derivation("floor", statement="...", assumptions=["n >= 1"])
    d.step("mean of 1..n", sp.Sum(i, (i, 1, n)) / n, (n + 1) / 2)
    d.prediction("mean", None, [n], from_step="mean of 1..n")
    d.check()                    # raises DerivationError on a failed step
    d.predict("mean", n=16)      # 8.5
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import sympy as sp

__all__ = ["Derivation", "DerivationError", "Step", "StepCheck", "SYMBOLIC", "NUMERIC", "PERTURBATION"]

SYMBOLIC, NUMERIC = "symbolic", "numeric"
HOWS = {"simplify": SYMBOLIC, "equals": SYMBOLIC, "true": SYMBOLIC, "numeric": NUMERIC}
PERTURBATION = sp.Rational(1, 7)  # what the mutation meta-test adds to a right side
NUMERIC_TOL_MAX = 1e-3            # a numeric step's tolerance must be far below the perturbation
NUMERIC_DIGITS = 30


class DerivationError(AssertionError):
    """A derivation step did not check."""


@dataclass(frozen=True)
class StepCheck:
    """The outcome of checking one step."""

    name: str
    ok: bool
    detail: str
    kind: str = SYMBOLIC
    how: str = "simplify"
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "kind": self.kind, "how": self.how,
                "seconds": round(self.seconds, 4)}


def _build(side):
    """A side as sympy builds it, nothing evaluated beyond sympy's automatic rules."""
    value = side() if callable(side) and not isinstance(side, sp.Basic) else side
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, (sp.MatrixBase, sp.Basic)):
        return value
    return sp.sympify(value)


def _doit(expr):
    return expr.doit() if hasattr(expr, "doit") else expr


def _is_zero(value) -> bool:
    if isinstance(value, sp.MatrixBase):
        return all(v == 0 for v in value)
    return value == 0


def _short(expr, limit: int = 160) -> str:
    s = str(expr)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class Step:
    """One step: ``lhs == rhs`` (``how`` = simplify/equals/numeric) or ``lhs`` holds (``how`` = true).

    ``lhs`` and ``rhs`` are sympy objects kept unevaluated, or zero-argument callables
    that build them. ``at`` (numeric steps): the points, as ``{symbol: value}``, where
    ``|lhs − rhs| ≤ tol`` is evaluated; a step with no free symbols needs none.
    """

    name: str
    lhs: Any
    rhs: Any = None
    how: str = "simplify"
    at: tuple = ()
    tol: float | None = None

    def __post_init__(self):
        if self.how not in HOWS:
            raise ValueError(f"step {self.name!r}: how={self.how!r}; use one of {sorted(HOWS)}")
        if (self.how == "true") != (self.rhs is None):
            raise ValueError(f"step {self.name!r}: a 'true' step has no right side; every other kind needs one")
        if self.how == "numeric":
            if self.tol is None or not (0 < self.tol <= NUMERIC_TOL_MAX):
                raise ValueError(f"step {self.name!r}: a numeric step states its tolerance 0 < tol <= "
                                 f"{NUMERIC_TOL_MAX} (got {self.tol})")
        elif self.at or self.tol is not None:
            raise ValueError(f"step {self.name!r}: points and tolerance belong to numeric steps only")

    @property
    def kind(self) -> str:
        return HOWS[self.how]

    def sides(self) -> tuple:
        """Both sides as built (callables called), with no evaluation done."""
        return _build(self.lhs), (None if self.rhs is None else _build(self.rhs))

    def settled(self) -> bool:
        """True when the step already holds as built: ``lhs − rhs`` is 0, or the boolean is ``True``.

        A settled step proves nothing when checked; the meta-tests reject it.
        """
        lhs, rhs = self.sides()
        if self.how == "true":
            return lhs is sp.true
        if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
            if not (isinstance(lhs, sp.MatrixBase) and isinstance(rhs, sp.MatrixBase)) or lhs.shape != rhs.shape:
                return False
            return _is_zero(lhs - rhs)
        if isinstance(lhs, sp.logic.boolalg.Boolean) or isinstance(rhs, sp.logic.boolalg.Boolean):
            return lhs == rhs
        return lhs == rhs or _is_zero(sp.Add(lhs, -rhs))

    def perturbed(self) -> "Step":
        """The same step with its right side moved by 1/7 (a boolean step: negated); it must fail."""
        if self.how == "true":
            lhs = self.lhs
            return Step(self.name + " [perturbed]", lambda: sp.Not(_build(lhs)), None, "true")
        rhs = self.rhs

        def moved():
            r = _build(rhs)
            if isinstance(r, sp.MatrixBase):
                return r + PERTURBATION * sp.ones(*r.shape)
            return r + PERTURBATION

        return Step(self.name + " [perturbed]", self.lhs, moved, self.how, self.at, self.tol)

    def verify(self) -> StepCheck:
        t0 = time.perf_counter()
        try:
            ok, detail = self._verify()
        except Exception as exc:  # a step that cannot be evaluated has failed
            ok, detail = False, f"error while checking: {exc!r}"
        return StepCheck(self.name, bool(ok), detail, self.kind, self.how, time.perf_counter() - t0)

    def _verify(self) -> tuple[bool, str]:
        lhs, rhs = self.sides()
        if self.how == "true":
            val = sp.simplify(_doit(lhs))
            return (val is sp.true), f"{_short(lhs)} -> {_short(val)}"
        if self.how == "numeric":
            return self._numeric(lhs, rhs)
        L, R = _doit(lhs), _doit(rhs)
        if self.how == "equals":
            if isinstance(L, sp.MatrixBase):
                ok = all(bool(sp.sympify(a).equals(b)) for a, b in zip(L, R))
            else:
                ok = bool(sp.sympify(L).equals(sp.sympify(R)))
            return ok, f"{_short(L)} == {_short(R)}"
        diff = sp.simplify(L - R)
        return _is_zero(diff), f"{_short(L)} - ({_short(R)}) -> {_short(diff)}"

    def _numeric(self, lhs, rhs) -> tuple[bool, str]:
        points = list(self.at) or [{}]
        worst = 0.0
        for point in points:
            vals = []
            for side in (lhs, rhs):  # each side on its own: a difference that cancels to 0 makes evalf
                expr = side.subs(point) if point else side  # keep raising its precision
                val = sp.N(expr, NUMERIC_DIGITS)
                if not val.is_number:
                    val = sp.N(_doit(expr), NUMERIC_DIGITS)
                if not val.is_number:
                    return False, f"not a number at {point}: {_short(val)}"
                vals.append(complex(val))
            mag = abs(vals[0] - vals[1])
            if mag != mag:  # NaN
                return False, f"NaN at {point}"
            worst = max(worst, mag)
        where = f" at {len(points)} point(s)" if self.at else ""
        return worst <= self.tol, f"numeric: max |lhs − rhs| = {worst:.3g}{where} (tol {self.tol:g})"

    def describe(self) -> dict:
        lhs, rhs = self.sides()
        out = {"name": self.name, "how": self.how, "kind": self.kind, "lhs": str(lhs)}
        if rhs is not None:
            out["rhs"] = str(rhs)
        if self.how == "numeric":
            out["tol"] = self.tol
            out["at"] = [{str(k): float(v) for k, v in p.items()} for p in self.at]
        return out


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
    def step(self, name: str, lhs, rhs=None, how: str | None = None, *, at: Sequence[Mapping] = (),
             tol: float | None = None) -> "Derivation":
        """Add a step; ``how`` defaults to ``"simplify"``, or ``"true"`` when there is no right side."""
        if how is None:
            how = "true" if rhs is None else "simplify"
        if any(s.name == name for s in self.steps):
            raise ValueError(f"{self.name}: two steps are named {name!r}")
        self.steps.append(Step(name, lhs, rhs, how, tuple(dict(p) for p in at), tol))
        return self

    def numeric_step(self, name: str, lhs, rhs, *, tol: float, at: Sequence[Mapping] = ()) -> "Derivation":
        """A step that can only be checked numerically: ``|lhs − rhs| ≤ tol`` at the points ``at``."""
        return self.step(name, lhs, rhs, "numeric", at=at, tol=tol)

    def prediction(self, name: str, expr, args: Sequence[sp.Symbol], *, from_step: str | None = None) -> "Derivation":
        """Register ``expr`` (or a callable building it) as a numeric prediction of the symbols ``args``.

        ``from_step``: take the expression from that step's right side (``expr`` must be None).
        """
        if from_step is not None:
            if expr is not None:
                raise ValueError(f"{self.name}.{name}: give expr or from_step, not both")
            step = self.get_step(from_step)
            expr = step.rhs
        self._predictions[name] = (expr, tuple(args))
        self._compiled.pop(name, None)
        return self

    def get_step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no step {name!r}")

    # -- using ------------------------------------------------------------
    def check(self) -> list[StepCheck]:
        """Verify every step; raise :class:`DerivationError` naming the failures."""
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
        """The sympy expression of prediction ``name`` (built on first use)."""
        if name not in self._predictions:
            raise KeyError(f"{self.name} has no prediction {name!r}; it has {list(self._predictions)}")
        expr, args = self._predictions[name]
        if callable(expr) and not isinstance(expr, sp.Basic):
            expr = _build(expr)
            self._predictions[name] = (expr, args)
        return sp.sympify(expr)

    def args(self, name: str) -> tuple:
        self.expr(name)
        return self._predictions[name][1]

    def function(self, name: str) -> Callable:
        """The numeric function of prediction ``name`` (numpy/scipy-backed, lambdified once and cached)."""
        if name not in self._compiled:
            expr = self.expr(name)
            args = self._predictions[name][1]
            self._compiled[name] = sp.lambdify(args, expr, modules=["numpy", "scipy"])
        return self._compiled[name]

    def predict(self, name: str, **numbers) -> float:
        """Evaluate prediction ``name`` with keyword numbers named like its symbols."""
        names = [str(a) for a in self.args(name)]
        missing = [a for a in names if a not in numbers]
        extra = [k for k in numbers if k not in names]
        if missing or extra:
            raise TypeError(f"{self.name}.{name} takes {names}; missing {missing}, unexpected {extra}")
        return self.function(name)(*[numbers[a] for a in names])

    def to_dict(self, *, checks: Sequence[StepCheck] | None = None) -> dict:
        steps = [s.describe() for s in self.steps]
        if checks is not None:
            for row, chk in zip(steps, checks):
                row.update(ok=chk.ok, seconds=round(chk.seconds, 4), detail=chk.detail)
        return {
            "name": self.name,
            "statement": self.statement,
            "assumptions": list(self.assumptions),
            "source": self.source,
            "steps": steps,
            "predictions": {k: {"args": [str(a) for a in self.args(k)], "expr": str(self.expr(k))}
                            for k in self._predictions},
        }
