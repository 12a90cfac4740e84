"""Gradient scale at initialisation, Post-LN vs Pre-LN (Xiong et al. 2020, arXiv 2002.04745).

Setting (Xiong et al., §3): Xavier weights, no biases, LayerNorm without affine terms and
ε = 0, Gaussian inputs, a ReLU FFN ReLU(x W¹) W² with W¹: d × rd (r = d_ff/d). Every
expectation is over the weights at initialisation.

``xiong-lemma1``        E‖ReLU(X)‖² = σ²d/2 for X ~ N(0, σ²I_d) (Lemma 1); P(X > 0) = ½.
``xiong-lemma2``        Post-LN: the FFN reads an LN output (‖x‖² = d exactly at ε = 0), so
                        E‖x^{post,5}‖²/d = 1 + 2r/(1+r)², 3/2 at r = 1 (Lemma 2; general r
                        derived here). Pre-LN: each layer adds c·d to E‖x_l‖² with
                        c_ffn = 2r/(1+r)² ≤ c ≤ c_ffn + 1 (attention adds 0…d), so
                        (1 + l/2)d ≤ E‖x_l‖² ≤ (1 + 3l/2)d at r = 1 (Lemma 2).
``xiong-appF-cancellation``  Going down one Post-LN FFN sub-layer multiplies the gradient by the LN
                        factor √d/‖x^{post,5}‖ and by the branch gain ‖(I + W²DW¹)ᵀv‖/‖v‖; both
                        squared are 1 + 2r/(1+r)² (forward through ∫x²φ, backward through ∫φ),
                        so their product is 1: at init the √(2/3) of App. F is cancelled by the
                        3/2 gain, and the per-layer profile is flat (derived). App. F's
                        (2/3)^{(L−l)/2} decay is the LN factor alone: log-rate ½ ln(3/2) per layer.
``xiong-thm1-depth-slope``  Lemma 3: J_LN(x) = (√d/‖y‖)(I − 11ᵀ/d − ŷŷᵀ), y = x − x̄, so
                        ‖J_LN‖₂ = √d/‖x − x̄‖ (rank d − 2). The last layer's W² gradient passes
                        the final LN once: Post-LN's input norm does not depend on L (slope 0),
                        Pre-LN's grows like √(1 + cL) (slope → −½; Theorem 1's O(d√(ln d/L))).
                        Between two depths L₁ < L₂ the Pre-LN slope lies in the band given by
                        c ∈ [c_ffn, c_ffn + 1].
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "LEMMA1", "LEMMA2", "CANCELLATION", "DEPTH_SLOPE", "C_FFN", "C_ATTN_MAX"]

XIONG = "Xiong et al. 2020, On Layer Normalization in the Transformer Architecture, ICML, arXiv 2002.04745"

x = sp.Symbol("x", real=True)
sigma, d, r = sp.symbols("sigma d r", positive=True)
L, l, c = sp.symbols("L l c", positive=True)
L1, L2 = sp.symbols("L1 L2", positive=True)


def _phi(z, var):
    """The N(0, var) density."""
    return sp.exp(-z ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def _relu_sq(var):
    """E[ReLU(X)²] for X ~ N(0, var), unevaluated."""
    return sp.Integral(x ** 2 * _phi(x, var), (x, 0, sp.oo))


def _relu_on(var):
    """E[ReLU'(X)] = P(X > 0) for X ~ N(0, var), unevaluated."""
    return sp.Integral(_phi(x, var), (x, 0, sp.oo))


def _xavier(fan_in, fan_out):
    """Variance of a Xavier-normal entry."""
    return 2 / (fan_in + fan_out)


# The forward and the backward square gains of x ↦ x + ReLU(x W¹) W² at an LN output x (‖x‖² = d).
# W¹: d × rd, W²: rd × d, both Xavier; x W¹ has entries of variance d · 2/(d + rd) = 2/(1 + r).
_PRE_VAR = d * _xavier(d, r * d)
_FORWARD = (d + r * d * _relu_sq(_PRE_VAR) * d * _xavier(r * d, d)) / d      # E‖x + FFN(x)‖² / d
_BACKWARD = 1 + r * d * _xavier(r * d, d) * _relu_on(_PRE_VAR) * d * _xavier(d, r * d)  # E‖(I + J)ᵀv‖²/‖v‖²

C_FFN = 2 * r / (1 + r) ** 2   # per-layer FFN increment of E‖x‖²/d (Pre-LN) = extra of E‖x^{post,5}‖²/d
C_ATTN_MAX = sp.Integer(1)     # attention adds at most d: a convex mix of LN outputs has norm ≤ √d

# --- Lemma 1 ----------------------------------------------------------------------------------
LEMMA1 = Derivation(
    "xiong-lemma1",
    statement="E‖ReLU(X)‖² = σ²d/2 for X ~ N(0, σ²I_d); a ReLU passes half the coordinates (P(X > 0) = 1/2).",
    assumptions=["X ~ N(0, σ² I_d)"],
    source=XIONG + ", Lemma 1",
)
LEMMA1.step("E‖ReLU(X)‖² = d ∫₀^∞ x² φ_σ(x) dx = σ²d/2", d * _relu_sq(sigma ** 2), sigma ** 2 * d / 2)
LEMMA1.step("E[ReLU'(X)] = ∫₀^∞ φ_σ(x) dx = 1/2", _relu_on(sigma ** 2), sp.Rational(1, 2))
LEMMA1.prediction("relu_norm_sq", None, [sigma, d], from_step="E‖ReLU(X)‖² = d ∫₀^∞ x² φ_σ(x) dx = σ²d/2")


def _ln_norm_sq():
    """‖LN(y)‖² at ε = 0, no affine, for a symbolic y ∈ R³ (built at check time)."""
    ys = sp.Matrix(sp.symbols("y1:4", real=True))
    centred = ys - sp.ones(3, 1) * (sum(ys) / 3)
    ln = centred / sp.sqrt((centred.T * centred)[0] / 3)
    return (ln.T * ln)[0]


# --- Lemma 2 ----------------------------------------------------------------------------------
LEMMA2 = Derivation(
    "xiong-lemma2",
    statement="Post-LN: E‖x^{post,5}‖²/d = 1 + 2r/(1+r)² (3/2 at r = 1). Pre-LN: each layer adds between "
              "2r/(1+r)² and 2r/(1+r)² + 1 to E‖x_l‖²/d, i.e. (1 + l/2)d ≤ E‖x_l‖² ≤ (1 + 3l/2)d at r = 1.",
    assumptions=["LayerNorm with ε = 0, no affine", "Xavier W¹ (d × rd), W² (rd × d), no biases",
                 "weights independent of the layer's input", "Pre-LN input x₀ with E‖x₀‖² = d"],
    source=XIONG + ", Lemma 2 (general r derived for attnprobe)",
)
LEMMA2.step("an LN output has ‖LN(y)‖² = d whatever y (d = 3, ε = 0)", _ln_norm_sq, 3)
LEMMA2.step("E‖x^{post,5}‖²/d = 1 + rd·E[ReLU(z)²]·d·Var(W²)/d = 1 + 2r/(1+r)²", _FORWARD, 1 + C_FFN)
LEMMA2.step("r = 1: E‖x^{post,5}‖² = 3d/2 (Xiong's Lemma 2)", sp.Subs(_FORWARD, r, 1), sp.Rational(3, 2))
LEMMA2.step("Pre-LN: l layers each adding c·d give E‖x_l‖²/d = 1 + Σ_{j≤l} c = 1 + c·l",
            1 + sp.Sum(c, (sp.Symbol("j", integer=True, positive=True), 1, l)), 1 + c * l)
LEMMA2.step("r = 1: the FFN adds d/2 to E‖x_l‖² (c ≥ 1/2)", sp.Subs(_FORWARD - 1, r, 1), sp.Rational(1, 2))
LEMMA2.step("r = 1: attention adds at most d more (c ≤ 3/2)", sp.Subs(_FORWARD - 1 + C_ATTN_MAX, r, 1),
            sp.Rational(3, 2))
LEMMA2.prediction("post5_norm_ratio", None, [r],
                  from_step="E‖x^{post,5}‖²/d = 1 + rd·E[ReLU(z)²]·d·Var(W²)/d = 1 + 2r/(1+r)²")
LEMMA2.prediction("c_ffn", C_FFN, [r])
LEMMA2.prediction("c_max", C_FFN + C_ATTN_MAX, [r])

# --- App. F: the LN factor and the branch gain cancel at init ------------------------------------
CANCELLATION = Derivation(
    "xiong-appF-cancellation",
    statement="At init the Post-LN FFN's LN factor √d/‖x^{post,5}‖ (√(2/3) at r = 1) and its branch gain "
              "‖(I + W²DW¹)ᵀv‖/‖v‖ (√(3/2)) cancel for every r, so Post-LN gradients do not decay going down; "
              "App. F's (2/3)^{(L−l)/2} is the LN factor alone.",
    assumptions=["as xiong-lemma2", "the backward vector v is independent of the weights",
                 "the pre-activations are symmetric about 0 (P(ReLU' = 1) = 1/2)"],
    source=XIONG + ", App. F (cancellation derived for attnprobe)",
)
CANCELLATION.step("branch gain E‖(I + W²DW¹)ᵀv‖²/‖v‖² = 1 + 2r/(1+r)²", _BACKWARD, 1 + C_FFN)
CANCELLATION.step("r = 1: the LN factor is √(2/3)", sp.Subs(1 / sp.sqrt(_FORWARD), r, 1), sp.sqrt(sp.Rational(2, 3)))
CANCELLATION.step("LN factor × branch gain = 1 for every r", sp.sqrt(_BACKWARD) / sp.sqrt(_FORWARD), 1)
CANCELLATION.step("per-layer log-rate of the gradient at init: ln(LN factor × branch gain) = 0",
                  sp.log(sp.sqrt(_BACKWARD) / sp.sqrt(_FORWARD)), 0)
CANCELLATION.step("App. F without the branch gain: d/dl ln (2/3)^{(L−l)/2} = ½ ln(3/2) per layer",
                  sp.Derivative(sp.log(sp.Rational(2, 3) ** ((L - l) / 2)), l), sp.log(sp.Rational(3, 2)) / 2)
CANCELLATION.prediction("ln_factor", lambda: 1 / sp.sqrt(1 + C_FFN), [r])
CANCELLATION.prediction("branch_gain", None, [r], from_step="branch gain E‖(I + W²DW¹)ᵀv‖²/‖v‖² = 1 + 2r/(1+r)²")
CANCELLATION.prediction("profile_rate_init", None, [],
                        from_step="per-layer log-rate of the gradient at init: ln(LN factor × branch gain) = 0")
CANCELLATION.prediction("profile_rate_appF", None, [],
                        from_step="App. F without the branch gain: d/dl ln (2/3)^{(L−l)/2} = ½ ln(3/2) per layer")


# --- Lemma 3 and Theorem 1: the depth slope of the last layer's gradient ----------------------------
def _ln_directional():
    """LN(x) at ε = 0 (no affine) for x = m·1 + a·e₁ + b·e₂ ∈ R³, e₁ = (1, −1, 0), e₂ = (1, 1, −2) (both ⊥ 1),
    with the directional derivatives J·1, J·y, J·u (y = a e₁ + b e₂ = x − x̄; u = 1 × y = −3b e₁ + a e₂,
    ⊥ 1 and y) and ‖y‖."""
    m, a, b = sp.symbols("m a b", real=True)
    e1, e2 = sp.Matrix([1, -1, 0]), sp.Matrix([1, 1, -2])
    xs = m * sp.ones(3, 1) + a * e1 + b * e2
    centred = xs - sp.ones(3, 1) * (sum(xs) / 3)
    ln = centred / sp.sqrt((centred.T * centred)[0] / 3)
    d_m, d_a, d_b = ln.diff(m), ln.diff(a), ln.diff(b)
    return d_m, a * d_a + b * d_b, -3 * b * d_a + a * d_b, -3 * b * e1 + a * e2, sp.sqrt(2 * a ** 2 + 6 * b ** 2)


def _jacobian_on_complement():
    _, _, j_u, u, norm = _ln_directional()
    return j_u - sp.sqrt(3) / norm * u


def _jacobian_kernel():
    j_1, j_y, _, _, _ = _ln_directional()
    return j_y.row_join(j_1)


_G_PRE = (1 + c * L) ** sp.Rational(-1, 2)     # √d/‖x_L‖ with E‖x_L‖²/d = 1 + cL
_G_POST = 1 / sp.sqrt(_FORWARD)                 # √d/‖x^{post,5}_L‖: no L in it
_TWO_POINT = -sp.log((1 + c * L2) / (1 + c * L1)) / (2 * sp.log(L2 / L1))

DEPTH_SLOPE = Derivation(
    "xiong-thm1-depth-slope",
    statement="The last layer's FFN gradient scales with √d/‖x − x̄‖ of the final LN input (Lemma 3): constant in L "
              "for Post-LN (slope 0), ∝ (1 + cL)^{−1/2} for Pre-LN (slope → −1/2), Theorem 1.",
    assumptions=["as xiong-lemma2", "the loss gradient at the LN output does not depend on L"],
    source=XIONG + ", Lemma 3 and Theorem 1",
)
DEPTH_SLOPE.step("Lemma 3: J_LN u = (√d/‖x − x̄‖) u for u ⊥ 1, x − x̄ (d = 3)", _jacobian_on_complement,
                 lambda: sp.zeros(3, 1))
DEPTH_SLOPE.step("Lemma 3: J_LN (x − x̄) = 0 and J_LN 1 = 0 (rank d − 2, so ‖J_LN‖₂ = √d/‖x − x̄‖)",
                 _jacobian_kernel, lambda: sp.zeros(3, 2))
DEPTH_SLOPE.step("Post-LN: d ln‖∇W^{2,L}‖ / d ln L = 0 (the final LN input does not depend on L)",
                 sp.Limit(L * sp.Derivative(sp.log(_G_POST), L), L, sp.oo), 0)
DEPTH_SLOPE.step("Pre-LN: d ln (1 + cL)^{−1/2} / d ln L → −1/2", sp.Limit(L * sp.Derivative(sp.log(_G_PRE), L), L, sp.oo),
                 sp.Rational(-1, 2))
DEPTH_SLOPE.step("Pre-LN two-point slope between L₁ and L₂ at constant c",
                 (sp.log(_G_PRE.subs(L, L2)) - sp.log(_G_PRE.subs(L, L1))) / (sp.log(L2) - sp.log(L1)), _TWO_POINT,
                 how="equals")
DEPTH_SLOPE.step("the two-point slope over L₂ = 8L₁ tends to −1/2 as L₁ → ∞",
                 sp.Limit(_TWO_POINT.subs(L2, 8 * L1), L1, sp.oo), sp.Rational(-1, 2))
DEPTH_SLOPE.prediction("slope_postln", None, [],
                       from_step="Post-LN: d ln‖∇W^{2,L}‖ / d ln L = 0 (the final LN input does not depend on L)")
DEPTH_SLOPE.prediction("slope_preln", None, [], from_step="Pre-LN: d ln (1 + cL)^{−1/2} / d ln L → −1/2")
DEPTH_SLOPE.prediction("preln_two_point", None, [L1, L2, c], from_step="Pre-LN two-point slope between L₁ and L₂ at constant c")
# The band: the steepest two-point slope has the largest growth after L₁ and the smallest before.
DEPTH_SLOPE.prediction("preln_band_lo",
                       lambda: -sp.log((1 + (C_FFN + C_ATTN_MAX) * L2) / (1 + C_FFN * L1)) / (2 * sp.log(L2 / L1)),
                       [L1, L2, r])
DEPTH_SLOPE.prediction("preln_band_hi",
                       lambda: -sp.Max(0, sp.log((1 + C_FFN * L2) / (1 + (C_FFN + C_ATTN_MAX) * L1)))
                       / (2 * sp.log(L2 / L1)),
                       [L1, L2, r])

DERIVATIONS = [LEMMA1, LEMMA2, CANCELLATION, DEPTH_SLOPE]
