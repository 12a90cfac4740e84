"""Scan and Snap: the training dynamics of a 1-layer Transformer (Tian et al. 2023).

Tian, Wang, Chen & Du 2023, "Scan and Snap: Understanding Training Dynamics and Token
Composition in 1-layer Transformer", NeurIPS, arXiv 2305.16380. With orthonormal embeddings the
model is reparametrised by Y (decoder, rows = contextual token l, columns = output token j) and
Z (attention logits, row m = the query token). For long sequences (T → ∞) and one query token
m, class n (the next token) sees contextual token l with weight c_{l|n} ∝ P(l|n)·e^{z_{ml}},
the l2-normalised feature f_n = c_n/‖c_n‖, logits o_n = Yᵀf_n and loss −log softmax(o_n)_n,
averaged over the K classes. Gradient flow from Y(0) = Z(0) = 0:

* **Lemma 1** (row sums): softmax is shift-invariant in its logits, so every gradient is ⟂ 1:
  Σ_j Y_lj and Σ_l z_ml stay 0.
* **Thm 2** (scan): z of a token distinct to one class grows, z of a common token falls.
* **Thm 3** (as attnprobe reads it): for two distinct tokens l, l' of one class, when the decoder
  is fast (η_Y ≫ η_Z, so Y(e_n − α_n) ∝ f_n on the class's distinct tokens)
  ż_l/ż_l' = f_l²/f_l'² = r(0)·e^{2(z_l − z_l')} with r(0) = (P(l|n)/P(l'|n))².
* **Thm 4** (snap, as quoted in the issue): t₀ ≈ 2K ln M/η_Y.

Derived here (sympy): the shift invariances; the attention-logit rate
∂(gᵀf)/∂z_l = f_l(g_l − (gᵀf)f_l) for f = c/‖c‖ (so g ∝ f gives no motion: without shared tokens
the attention does not move); the ratio law under g_l = γf_l; and, for frozen orthonormal
features, the decoder margin x = o_nn − o_nj: ẋ = (η_Y M/K)/(e^x + M − 1), so
e^x − 1 + (M − 1)x = η_Y M t/K and α_n reaches ½ at t½ = K(M − 2 + (M − 1)ln(M − 1))/(η_Y M)
~ K ln M/η_Y — half the quoted t₀.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "ROW_SUMS", "Z_RATE", "DECODER"]

SOURCE = ("Tian, Wang, Chen & Du 2023, Scan and Snap: Understanding Training Dynamics and Token Composition in "
          "1-layer Transformer, NeurIPS, arXiv 2305.16380")

L = 3  # tokens in the symbolic checks
z = sp.symbols("z1:4", real=True)
p = sp.symbols("p1:4", positive=True)
g = sp.symbols("g1:4", real=True)
o = sp.symbols("o1:4", real=True)
gamma = sp.Symbol("gamma", real=True)


def attention(p_=p, z_=z):
    """c_l = p_l e^{z_l} / Σ_k p_k e^{z_k}."""
    e = [pi * sp.exp(zi) for pi, zi in zip(p_, z_)]
    tot = sp.Add(*e)
    return [ei / tot for ei in e]


def _l2(v):
    nrm = sp.sqrt(sp.Add(*[vi ** 2 for vi in v]))
    return [vi / nrm for vi in v]


def feature(p_=p, z_=z):
    """f = c/‖c‖ = u/‖u‖ with u_l = p_l e^{z_l} (the softmax denominator cancels; step below)."""
    return _l2([pi * sp.exp(zi) for pi, zi in zip(p_, z_)])


def _sum_derivs(expr, syms):
    return sp.Add(*[sp.Derivative(expr, s_) for s_ in syms], evaluate=False)


# --- Lemma 1 ---------------------------------------------------------------------------------
ROW_SUMS = Derivation(
    "scan-snap-row-sums",
    statement="Lemma 1: every gradient of the softmax attention and of the softmax decoder is ⟂ 1, so from "
              "Y(0) = Z(0) = 0 the row sums Σ_j Y_lj and Σ_l z_ml stay 0; a squared-error decoder has no such law.",
    assumptions=["3 tokens, symbolic P(l|n) > 0, logits z and o", "Ẏ_lj = −η_Y Σ_n π_n f_nl ∂L_n/∂o_nj"],
    source=SOURCE + ", Lemma 1",
)
ROW_SUMS.step("attention: Σ_k ∂c_l/∂z_k = 0 for every l",
              lambda: sp.Matrix([_sum_derivs(cl, z) for cl in attention()]), lambda: sp.zeros(L, 1))
ROW_SUMS.step("the l2-normalised feature does not see the softmax denominator: c/‖c‖ = u/‖u‖, u_l = p_l e^{z_l}",
              lambda: sp.Matrix(_l2(attention())), lambda: sp.Matrix(feature()))
ROW_SUMS.step("so any loss through f = c/‖c‖: Σ_k ∂(gᵀf)/∂z_k = 0",
              lambda: _sum_derivs(sp.Add(*[gi * fi for gi, fi in zip(g, feature())]), z), 0)
_logsm = o[0] - sp.log(sp.Add(*[sp.exp(oi) for oi in o]))
ROW_SUMS.step("softmax decoder: Σ_j ∂(−log softmax(o)_1)/∂o_j = 0", lambda: _sum_derivs(-_logsm, o), 0)
ROW_SUMS.step("squared-error decoder: Σ_j ∂(½‖o − e₁‖²)/∂o_j = Σ_j o_j − 1 (not 0: its row sums drift)",
              lambda: _sum_derivs(sp.Rational(1, 2) * ((o[0] - 1) ** 2 + o[1] ** 2 + o[2] ** 2), o),
              sp.Add(*o) - 1)

# --- the attention-logit rate and Thm 3 ----------------------------------------------------------
Z_RATE = Derivation(
    "scan-snap-z-rate",
    statement="For f = c/‖c‖: ∂(gᵀf)/∂z_l = f_l(g_l − (gᵀf)f_l). With a fast decoder, g = Y(e_n − α_n) is γ·f_n on the "
              "class's distinct tokens, so their rates are in the ratio f_l²/f_l'² = (P(l|n)/P(l'|n))²·e^{2(z_l − z_l')} "
              "(Thm 3); g ∝ f everywhere (no token shared between classes) gives no motion at all.",
    assumptions=["3 tokens, symbolic P(l|n) > 0, logits z, upstream gradient g",
                 "ż_l = η_Z Σ_n π_n ∂(g_nᵀf_n)/∂z_l with g_n = Y(e_n − α_n)"],
    source=SOURCE + ", Thm 3 (relative gain); rate formula derived for attnprobe",
)
_f = feature()
_G = sp.Add(*[gi * fi for gi, fi in zip(g, _f)])
Z_RATE.step("∂(gᵀf)/∂z_l = f_l(g_l − (gᵀf)·f_l) (token 1; the others by relabelling)",
            lambda: sp.Derivative(_G, z[0]), lambda: _f[0] * (g[0] - _G * _f[0]), "equals")
rho, dz = sp.Symbol("rho", positive=True), sp.Symbol("dz", real=True)
Z_RATE.step("Thm 3: with g₁ = γf₁, g₂ = γf₂ the rate ratio is (p₁/p₂)²·e^{2(z₁ − z₂)}",
            lambda: sp.Subs(sp.Derivative(_G, z[0]) / sp.Derivative(_G, z[1]), (g[0], g[1]), (gamma * _f[0], gamma * _f[1])),
            (p[0] / p[1]) ** 2 * sp.exp(2 * (z[0] - z[1])))
Z_RATE.step("in the ratio form r(0)·e^{2Δz}: ρ = p₁/p₂, Δz = z₁ − z₂",
            lambda: sp.Subs((p[0] / p[1]) ** 2 * sp.exp(2 * (z[0] - z[1])), (p[0], z[0]), (rho * p[1], z[1] + dz)),
            rho ** 2 * sp.exp(2 * dz))
Z_RATE.step("g = γf on every token (orthogonal classes): the attention logits do not move (token 1; the others "
            "by relabelling)", lambda: sp.Subs(sp.Derivative(_G, z[0]), g, [gamma * fi for fi in _f]), 0)
Z_RATE.prediction("rate_ratio", None, [rho, dz], from_step="in the ratio form r(0)·e^{2Δz}: ρ = p₁/p₂, Δz = z₁ − z₂")

# --- the decoder transition (snap time) -----------------------------------------------------------
DECODER = Derivation(
    "scan-snap-decoder-transition",
    statement="Frozen orthonormal features, K classes, M outputs: the decoder margin x obeys ẋ = (η_Y M/K)/(e^x + M − 1), "
              "so e^x − 1 + (M − 1)x = η_Y M t/K and α_n = ½ at t½ = K(M − 2 + (M − 1)ln(M − 1))/(η_Y M) ~ K ln M/η_Y; "
              "the quoted t₀ = 2K ln M/η_Y is twice that.",
    assumptions=["f_n orthonormal and fixed (distinct tokens only, z frozen)", "π_n = 1/K", "gradient flow from Y = 0",
                 "by symmetry every wrong logit of class n is equal; x = o_nn − o_nj"],
    source=SOURCE + ", Thm 4 (t₀ as quoted in attnprobe issue 11); t½ derived for attnprobe",
)
x = sp.Symbol("x", nonnegative=True)
t, eta, K, M = sp.symbols("t eta K M", positive=True)
A, B = sp.symbols("A B", positive=True)
_F = sp.exp(x) + (M - 1) * x
DECODER.step("d/dt F(x) = F′(x)·ẋ = η_Y M/K with ẋ = (η_Y/K)(1 − α_n + α_j), F = e^x + (M − 1)x",
             lambda: sp.Subs((eta / K) * (1 - A + B) * sp.Derivative(_F, x), (A, B),
                             (sp.exp(x) / (sp.exp(x) + M - 1), 1 / (sp.exp(x) + M - 1))),
             eta * M / K)
_t_half = K * (M - 2 + (M - 1) * sp.log(M - 1)) / (eta * M)
DECODER.step("α_n = ½ at x = ln(M − 1): t½ = K(F(x) − F(0))/(η_Y M) = K(M − 2 + (M − 1)ln(M − 1))/(η_Y M)",
             lambda: sp.Subs(K * (_F - _F.subs(x, 0)) / (eta * M), x, sp.log(M - 1)), _t_half)
DECODER.step("t½ ~ K ln M/η_Y: t½·η_Y/(K ln M) → 1 as M → ∞",
             lambda: sp.Limit(_t_half * eta / (K * sp.log(M)), M, sp.oo), 1)
_t0 = 2 * K * sp.log(M) / eta
DECODER.step("the quoted t₀ = 2K ln M/η_Y is twice t½ for large M: t₀/t½ → 2",
             lambda: sp.Limit(_t0 / _t_half, M, sp.oo), 2)
DECODER.prediction("half_time", _t_half, [K, M, eta])
DECODER.prediction("t0_quoted", _t0, [K, M, eta])

DERIVATIONS = [ROW_SUMS, Z_RATE, DECODER]
