"""Unevaluated operators for derivation steps: their evaluation is the check's work.

* :class:`Quadrature` is an ``sp.Integral`` whose numeric value (``evalf``, which a
  ``how="numeric"`` step uses) comes from ``mpmath.quad`` on the integrand compiled for
  mpmath, at a capped working precision (cached), instead of sympy's generic evalf of
  an integral, which re-evaluates the integrand symbolically and, on a difference that
  cancels to 0, keeps raising the precision (minutes for one Gaussian integral).
  Symbolically (``doit``) it is an ordinary integral.
* :func:`expectation` builds an operator ``E(expr)`` for polynomials in independent
  random symbols with given raw moments; it stays unevaluated until ``doit()``
  (``expect_polynomial`` then expands and replaces each power by its moment).

Nothing here does symbolic work when it is built; mpmath is imported on first use.
"""
from __future__ import annotations

from typing import Callable, Mapping

import sympy as sp

__all__ = ["Quadrature", "expectation", "expect_polynomial", "binomial_as_loggamma", "QUAD_DIGITS"]

QUAD_DIGITS = 40  # the working precision of a quadrature is capped here (digits)


class Quadrature(sp.Integral):
    """∫ f dz over one variable, evaluated numerically by ``mpmath.quad`` (split at 0).

    The limits may be infinite. The value is cached per working precision, so sympy's
    precision escalation on a cancelling difference costs one quadrature.
    """

    def _eval_evalf(self, prec):
        import mpmath

        if len(self.limits) != 1 or len(self.limits[0]) != 3:
            raise ValueError("Quadrature: one variable with two limits")
        var, lo, hi = self.limits[0]
        if self.function.free_symbols - {var}:
            return None  # free parameters left: not a number yet
        dps = min(QUAD_DIGITS, max(15, int(prec * 0.30103) + 5))
        cache = self.__dict__.setdefault("_quad_cache", {})
        if dps not in cache:
            f = sp.lambdify(var, self.function, "mpmath")
            with mpmath.workdps(dps):
                ends = [mpmath.mpf(sp.Float(e, dps)) if e.is_finite
                        else (mpmath.inf if e.is_extended_positive else -mpmath.inf) for e in (lo, hi)]
                pts = [ends[0], ends[1]]
                if ends[0] < 0 < ends[1]:
                    pts = [ends[0], mpmath.mpf(0), ends[1]]
                cache[dps] = sp.Float(mpmath.quad(f, pts), dps)
        return cache[dps]


def expect_polynomial(expr, moments: Mapping[sp.Symbol, Callable[[int], sp.Expr]]) -> sp.Expr:
    """E[expr] for a polynomial in independent random symbols with the given raw moments.

    ``moments`` maps each random symbol to ``j -> E[symbol**j]``; other symbols are constants.
    """
    expr = sp.expand(expr)
    rv = list(moments)
    poly = sp.Poly(expr, *rv)
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        term = coeff
        for sym, j in zip(rv, powers):
            if j:
                term *= moments[sym](j)
        total += term
    return sp.expand(total)


def expectation(moments: Mapping[sp.Symbol, Callable[[int], sp.Expr]], name: str = "E"):
    """An operator class ``E``: ``E(expr)`` stays unevaluated; ``E(expr).doit()`` is the expectation."""

    def doit(self, **hints):
        arg = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        return expect_polynomial(arg, moments)

    def _eval_derivative(self, s):  # linearity: d/ds E[f] = E[df/ds] for a constant s
        return self.func(sp.diff(self.args[0], s))

    return type(name, (sp.Function,), {"nargs": 1, "eval": classmethod(lambda cls, arg: None), "doit": doit,
                                       "_eval_derivative": _eval_derivative})


def binomial_as_loggamma(expr):
    """``expr`` with every binomial(n, j) written exp(lgamma(n+1) − lgamma(j+1) − lgamma(n−j+1)).

    The same function (a derivation that uses it checks the identity numerically); lambdify would
    otherwise print binomial as a ratio of gamma functions, which overflows once n > 170.
    """
    def as_loggamma(n, j):  # unevaluated: sympy would turn exp(lgamma(x) ...) back into gamma(x)
        return sp.exp(sp.Add(sp.loggamma(n + 1), -sp.loggamma(j + 1), -sp.loggamma(n - j + 1), evaluate=False),
                      evaluate=False)

    return sp.sympify(expr).replace(sp.binomial, as_loggamma)
