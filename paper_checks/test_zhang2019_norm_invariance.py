"""Zhang & Sennrich 2019: the LayerNorm / RMSNorm invariance table, the input gradient, and what ε breaks.

Every deviation here is deterministic (float64, fixed draws), so the tolerances are rounding bounds, not
standard errors: ``invariant`` means a relative change ≤ 1e-10, ``not invariant`` one ≥ 1e-3.
"""
from __future__ import annotations

import torch
from torch import nn

from paper_checks._fwp_sources import ZHANG2019
from paper_checks.claims import claim
from probes import norm_invariance as NI
from theory import norm_invariance as T

ZERO, NONZERO = NI.thresholds(torch.float64)  # rounding bound / clear change (deterministic quantities)
D = 16


def _row(module, seed):
    return NI.probe_norm(module, seed=seed)


def _check_row(claim, label, row, kind):
    for cell, invariant in T.theory_row(kind).items():
        if invariant:
            claim.less(f"{label} {cell}: relative output change", row.deviation[cell], ZERO)
        else:
            claim.greater(f"{label} {cell}: relative output change", row.deviation[cell], NONZERO)


@claim("zhang2019-layernorm-invariance-row", ZHANG2019.at("README table, LayerNorm row"),
       "LayerNorm (ε = 0) is invariant to weight-matrix scaling and re-centring, data scaling and single-case "
       "scaling, and not to weight-row scaling or data re-centring.", attribution="paper")
def test_layernorm_row(claim):
    s = claim.seed(0)
    _check_row(claim, "LayerNorm", _row(nn.LayerNorm(D), s), "layernorm")
    # premise broken: the same cells on RMSNorm (no re-centring) — the re-centring cell must fail
    rms = _row(nn.RMSNorm(D), s)
    claim.control.greater("RMSNorm swapped in, weight-recentre: relative output change", rms.deviation["weight-recentre"],
                          NONZERO, inverts="LayerNorm weight-recentre: relative output change")


@claim("zhang2019-rmsnorm-invariance-row", ZHANG2019.at("README table, RMSNorm row"),
       "RMSNorm (ε = 0) is invariant to weight-matrix scaling, data scaling and single-case scaling, and — unlike "
       "LayerNorm — not to weight-matrix re-centring; neither to weight-row scaling nor data re-centring.",
       attribution="paper")
def test_rmsnorm_row(claim):
    s = claim.seed(1)
    _check_row(claim, "RMSNorm", _row(nn.RMSNorm(D), s), "rmsnorm")
    ln = _row(nn.LayerNorm(D), s)
    claim.control.less("LayerNorm swapped in, weight-recentre: relative output change", ln.deviation["weight-recentre"],
                       ZERO, inverts="RMSNorm weight-recentre: relative output change")


@claim("zhang2019-norm-input-gradient-orthogonal", ZHANG2019.at("§3 (invariance), derived"),
       "The input gradient of RMSNorm is orthogonal to its input x (scale invariance); LayerNorm's is orthogonal to "
       "x and to the all-ones vector (shift invariance), RMSNorm's is not orthogonal to 1.", attribution="derived")
def test_gradient_orthogonality(claim):
    s = claim.seed(2)
    rms, ln = _row(nn.RMSNorm(D), s), _row(nn.LayerNorm(D), s)
    claim.less("RMSNorm max |cos(∇, x)|", rms.grad_cos_x, ZERO)
    claim.less("LayerNorm max |cos(∇, x)|", ln.grad_cos_x, ZERO)
    claim.less("LayerNorm max |cos(∇, 1)|", ln.grad_cos_1, ZERO)
    claim.control.greater("RMSNorm max |cos(∇, 1)| (no re-centring)", rms.grad_cos_1, NONZERO,
                          inverts="LayerNorm max |cos(∇, 1)|")


@claim("zhang2019-epsilon-breaks-scale-invariance", ZHANG2019.at("§3, derived"),
       "With torch's default ε = 1e-5, LayerNorm's output at input scale s (σ of the summed inputs) shrinks by "
       "r(s) = 1 − s/√(s² + ε), so it is scale-invariant to τ = 1e-3 only above s_τ = √ε(1 − τ)/√(τ(2 − τ)) ≈ 0.0707; "
       "with ε = 0 it is invariant at every scale.", attribution="derived")
def test_epsilon_break(claim):
    s = claim.seed(3)
    tau, eps = 1e-3, 1e-5
    row = NI.probe_norm(nn.LayerNorm(D, eps=eps), seed=s, tau=tau)
    want = T.EPSILON.predict("break_scale", epsilon=eps, tau=tau)
    # deterministic: bisection to far below rounding, so a relative tolerance of 1e-8 is a rounding bound
    claim.close("break scale s_τ (LayerNorm, ε = 1e-5, τ = 1e-3)", row.break_scale, want, rtol=1e-8)
    claim.close("ε fitted from the measured s_τ", row.eps_fitted, eps, rtol=1e-6)
    k = row.scales.index(1e-2)
    r_th = T.EPSILON.predict("relative_deviation", s=1e-2, epsilon=eps)
    claim.close("r(s = 0.01), ε = 1e-5", row.relative_deviation[k], r_th, rtol=1e-8)
    zero = NI.probe_norm(nn.LayerNorm(D, eps=0.0), seed=s, tau=tau)
    claim.control.far("r(s = 0.01), ε = 0", zero.relative_deviation[k], r_th, rtol=1e-8,
                      inverts="r(s = 0.01), ε = 1e-5")
    claim.note(f"s_τ measured {row.break_scale:.6g} (theory {want:.6g}); r(1) = {row.deviation_at_unit_scale:.3g}: "
               "exact float64 invariance (1e-10) would need σ > √(ε/2e-10) ≈ 224")
