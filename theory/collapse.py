"""Representation collapse: do consecutive layers converge? (Xie et al. 2023, ResiDual, arXiv 2304.14802.)

Model (derived for attnprobe from the independent-increment argument of Xie et al.): a residual stream
h_{k+1} = h_k + u_k whose increment u_k has E⟨h_k, u_k⟩ = 0 and E‖u_k‖² = v (a Pre-LN branch reads
LN(h_k), so its output scale does not grow with k). Then V_k = E‖h_k‖² = V₀ + k v and, with a = V₀/v,

    cos(h_k, h_{k+1}) ≈ ⟨h_k, h_k + u_k⟩ / (‖h_k‖ ‖h_{k+1}‖) = √(V_k/V_{k+1}) = √((a + k)/(a + k + 1)),

so 1 − cos ~ 1/(2k) and the log–log slope of 1 − cos against k tends to −1 (ω_k² = ‖ĥ_{k+1} − ĥ_k‖²
= 2 − 2√(k/(k+1)) ≈ 1/k at a = 0): Pre-LN's consecutive layers converge, its late layers add little.

A Post-LN stream is renormalised every layer: h_k = LN(·) has ‖h_k‖² = d, the increment has
‖u‖² = σ²d independent of k, and cos(h_k, LN(h_k + u_k)) = 1/√(1 + σ²): constant, no collapse (slope 0).
ResiDual keeps a Post-LN stream (the blocks read it: slope 0) and a dual stream y_{k+1} = y_k + u_k of the
raw branch outputs, which is the Pre-LN sum again (slope −1); its output is h_N + LN(y_N).
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "COLLAPSE"]

RESIDUAL = "Xie et al. 2023, ResiDual: Transformer with Dual Residual Connections, arXiv 2304.14802"

k, a, v, V0 = sp.symbols("k a v V0", positive=True)
sigma, d = sp.symbols("sigma d", positive=True)
j = sp.Symbol("j", integer=True, nonnegative=True)

_COS_PRE = sp.sqrt((a + k) / (a + k + 1))
_GAP_PRE = 1 - _COS_PRE

COLLAPSE = Derivation(
    "collapse-independent-increments",
    statement="With independent increments a Pre-LN stream's consecutive-layer gap 1 − cos(h_k, h_{k+1}) decays like "
              "1/(2k) (log–log slope −1); a Post-LN stream's cosine is the constant 1/√(1 + σ²) (slope 0).",
    assumptions=["E⟨h_k, u_k⟩ = 0 and E‖u_k‖² = v for every k (Pre-LN: the branch reads LN(h_k))",
                 "a = V₀/v > 0", "Post-LN: ‖h_k‖² = d (LN at ε = 0), ‖u_k‖² = σ²d", "cos of the expected norms"],
    source=RESIDUAL + " (independent-increment derivation for attnprobe)",
)
COLLAPSE.step("V_k = V₀ + Σ_{j<k} E‖u_j‖² = V₀ + k v", V0 + sp.Sum(v, (j, 0, k - 1)), V0 + k * v)
COLLAPSE.step("cos(h_k, h_{k+1}) = V_k / (√V_k √(V_k + v)) = √((a + k)/(a + k + 1)) at V_k = (a + k)v",
              sp.Subs(V0 / (sp.sqrt(V0) * sp.sqrt(V0 + v)), V0, (a + k) * v), _COS_PRE, how="equals")
COLLAPSE.step("ω_k² = 2 − 2√(k/(k+1)) ≈ 1/k (a = 0): k ω_k² → 1",
              sp.Limit(k * (2 - 2 * sp.sqrt(k / (k + 1))), k, sp.oo), 1)
COLLAPSE.step("1 − cos ~ 1/(2k): k (1 − √((a + k)/(a + k + 1))) → 1/2", sp.Limit(k * _GAP_PRE, k, sp.oo),
              sp.Rational(1, 2))
COLLAPSE.step("Pre-LN: d ln(1 − cos)/d ln k → −1", sp.Limit(k * sp.Derivative(sp.log(_GAP_PRE), k), k, sp.oo), -1)
COLLAPSE.step("Post-LN: cos(h, LN(h + u)) = d / (√d √(d + σ²d)) = 1/√(1 + σ²)",
              d / (sp.sqrt(d) * sp.sqrt(d + sigma ** 2 * d)), 1 / sp.sqrt(1 + sigma ** 2))
COLLAPSE.step("Post-LN: d ln(1 − cos)/d ln k = 0 (σ does not depend on k)",
              sp.Limit(k * sp.Derivative(sp.log(1 - 1 / sp.sqrt(1 + sigma ** 2)), k), k, sp.oo), 0)
COLLAPSE.prediction("slope_preln", None, [], from_step="Pre-LN: d ln(1 − cos)/d ln k → −1")
COLLAPSE.prediction("slope_postln", None, [], from_step="Post-LN: d ln(1 − cos)/d ln k = 0 (σ does not depend on k)")
COLLAPSE.prediction("gap_preln", lambda: _GAP_PRE, [k, a])
COLLAPSE.prediction("cos_postln", None, [sigma],
                    from_step="Post-LN: cos(h, LN(h + u)) = d / (√d √(d + σ²d)) = 1/√(1 + σ²)")

DERIVATIONS = [COLLAPSE]
