"""Attention entropy against length, and the needle that fades.

Logits are λ·s with s ~ N(0, σ²) (σ = 1 for unit-variance q, k and the 1/√d
scale); H is the Shannon entropy of the softmax row in nats, L = ln n.

* Mean field (sums over n keys replaced by n·E): E e^{λs} = e^{λ²σ²/2}, the
  tilted mean is λσ², so H = ln n − λ²σ²/2 and dH/d ln n = 1 at fixed λ.
* Flat law: H ≡ H₀ needs λ(n) = √(2(ln n − H₀))/σ, a √(ln n) growth.
* Freezing: the tilted mean λσ² reaches the typical maximum σ√(2 ln n) at
  λσ = √(2 ln n), where the mean-field H hits 0; beyond it rows collapse onto
  a few keys and the formula no longer holds (random-energy-model freezing).
* Su (kexue.fm/archives/8823, 9034) as stated: a multiplier λ ∝ ln n,
  calibrated as log₅₁₂ n. Under Gaussian logits it gives H = L − L²σ²/(2 ln²512),
  slope 1 − Lσ²/ln²512: below 1, but not 0 (partial compensation). The 0.24 of
  8823 is ½ ln φ, the large-d saddle value at λ = 1.
* What λ = s·ln n does preserve: the needle. A key with margin Δ over n − 1
  equal logits gets p* = e^{mΔ}/(e^{mΔ} + n − 1) under multiplier m; with
  m = s ln n this is 1/(1 + (n−1) n^{−sΔ}) → 1 iff sΔ > 1 (Nakanishi 2025,
  arXiv 2501.19399). Over N(0, σ²) noise, p* ≈ e^{mΔ}/(e^{mΔ} + (n−1)e^{m²σ²/2}).
* A bias row b and multiplier C (ALiBi, T5, URPE): π ∝ |C|e^{b}, H = H(π) − λ²σ²/2
  while (e^{λ²σ²} − 1)Σπ²/2 is small; with few effective keys, the exact E H for
  independent keys via ln z = ∫₀^∞ (e^{−t} − e^{−tz}) dt/t and 1/z = ∫₀^∞ e^{−tz} dt.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["MEAN_FIELD", "FLAT", "FREEZING", "SU_SCALE", "SU_LAPLACE", "NEEDLE", "BIASED_MEAN_FIELD", "FINITE_KEYS",
           "DERIVATIONS"]

n, lam, sigma, d = sp.symbols("n lam sigma d", positive=True)
L, H0, Delta, s, m = sp.symbols("L H0 Delta s m", positive=True)
x = sp.Symbol("x", real=True)
eps = sp.Symbol("eps", positive=True)
s1, s2, s3 = sp.symbols("s1 s2 s3", real=True)

_phi = sp.exp(-x**2 / (2 * sigma**2)) / (sigma * sp.sqrt(2 * sp.pi))
_mgf = sp.integrate(sp.exp(lam * x) * _phi, (x, -sp.oo, sp.oo))
_tilt = sp.integrate(x * sp.exp(lam * x) * _phi, (x, -sp.oo, sp.oo)) / _mgf
H_MF = sp.log(n) - lam**2 * sigma**2 / 2

# -- mean field ------------------------------------------------------------------
MEAN_FIELD = Derivation(
    "entropy-mean-field",
    statement="For logits λs, s ~ N(0, σ²), the mean-field softmax entropy is H = ln n − λ²σ²/2 "
              "and its slope in ln n is exactly 1.",
    assumptions=["s_j i.i.d. N(0, σ²)", "sums over n keys replaced by n times expectations",
                 "λσ well below √(2 ln n) (see entropy-freezing)"],
    source="derived; cf. Su, kexue.fm/archives/9034 (the entropy identity)",
)
_p = [sp.exp(lam * v) / sum(sp.exp(lam * w) for w in (s1, s2, s3)) for v in (s1, s2, s3)]
MEAN_FIELD.step("entropy identity H = ln Σe^{λs} − λΣ p s (3 keys)",
                -sum(pi * sp.log(pi) for pi in _p),
                sp.log(sum(sp.exp(lam * w) for w in (s1, s2, s3))) - lam * sum(pi * w for pi, w in zip(_p, (s1, s2, s3))),
                how="equals")
MEAN_FIELD.step("Gaussian moment generating function E e^{λs}", _mgf, sp.exp(lam**2 * sigma**2 / 2))
MEAN_FIELD.step("tilted mean E[s e^{λs}]/E e^{λs}", _tilt, lam * sigma**2)
MEAN_FIELD.step("mean field H = ln(n E e^{λs}) − λ·tilted mean",
                sp.expand_log(sp.log(n * _mgf), force=True) - lam * _tilt, H_MF)
MEAN_FIELD.step("slope dH/d ln n = 1 at fixed λ", sp.diff(H_MF.subs(n, sp.exp(L)), L), 1)
MEAN_FIELD.prediction("H", H_MF, [n, lam, sigma])

# -- flat law --------------------------------------------------------------------
LAM_FLAT = sp.sqrt(2 * (sp.log(n) - H0)) / sigma
FLAT = Derivation(
    "entropy-flat-scale",
    statement="The multiplier that keeps the mean-field entropy at H₀ is λ(n) = √(2(ln n − H₀))/σ, "
              "which grows like √(ln n), not ln n.",
    assumptions=["mean field (entropy-mean-field)", "ln n > H₀"],
    source="derived",
)
FLAT.step("H(λ_flat) = H₀", H_MF.subs(lam, LAM_FLAT), H0)
FLAT.step("λ_flat² is linear in ln n (slope 2/σ²)", sp.diff((LAM_FLAT**2).subs(n, sp.exp(L)), L), 2 / sigma**2)
FLAT.step("λ_flat/√(ln n) → √2/σ", sp.limit((LAM_FLAT / sp.sqrt(sp.log(n))).subs(n, sp.exp(L)), L, sp.oo),
          sp.sqrt(2) / sigma)
FLAT.prediction("lam_flat", LAM_FLAT, [n, H0, sigma])
FLAT.prediction("H0_calibrated", H_MF, [n, lam, sigma])

# -- freezing --------------------------------------------------------------------
LAM_FREEZE = sp.sqrt(2 * sp.log(n)) / sigma
FREEZING = Derivation(
    "entropy-freezing",
    statement="The mean field holds while λσ < √(ln n) (the partition sum concentrates) and fails at "
              "λσ = √(2 ln n): there the tilted mean λσ² reaches the typical maximum σ√(2 ln n) and the "
              "mean-field H reaches 0; a multiplier λ = ln n (Chiang & Cholak) is past this line for n > e². "
              "In between lies a crossover with no closed form at practical n.",
    assumptions=["max of n i.i.d. N(0, σ²) ≈ σ√(2 ln n) (extreme-value leading order)"],
    source="derived (random-energy-model freezing)",
)
FREEZING.step("tilted mean at λ_c equals σ√(2 ln n)", (lam * sigma**2).subs(lam, LAM_FREEZE),
              sigma * sp.sqrt(2 * sp.log(n)))
FREEZING.step("mean-field H at λ_c is 0", H_MF.subs(lam, LAM_FREEZE), 0)
FREEZING.step("λ = ln n exceeds √(2 ln n) once ln n = 2 + ε",
              sp.simplify((2 + eps) ** 2 - 2 * (2 + eps)) > 0, how="true")
_m2 = sp.integrate(sp.exp(2 * lam * x) * _phi, (x, -sp.oo, sp.oo))
FREEZING.step("relative variance of one key's weight E e^{2λs}/(E e^{λs})² = e^{λ²σ²}", _m2 / _mgf**2,
              sp.exp(lam**2 * sigma**2))
FREEZING.step("the partition sum concentrates (relative variance (e^{λ²σ²} − 1)/n < 1) while λσ < √(ln(n+1))",
              ((sp.exp(lam**2 * sigma**2) - 1) / n).subs(lam, sp.sqrt(sp.log(n + 1)) / sigma), 1)
FREEZING.prediction("lam_freeze", LAM_FREEZE, [n, sigma])
FREEZING.prediction("lam_valid", sp.sqrt(sp.log(n)) / sigma, [n, sigma])

# -- Su's log n scale under Gaussian logits --------------------------------------
LN512 = sp.log(512)
H_SU = (H_MF.subs(lam, sp.log(n) / LN512))
SU_SCALE = Derivation(
    "entropy-su-logn-scale",
    statement="Su's multiplier log₅₁₂ n gives H = L − L²σ²/(2 ln²512) on Gaussian logits: slope "
              "1 − Lσ²/ln²512 < 1 but > 0 for every practical n (partial compensation). His quick "
              "derivation H ≈ ln n − λ(s_max − s̄) itself gives λ ∝ √(ln n) once s_max − s̄ ≈ σ√(2 ln n).",
    assumptions=["mean field", "multiplier λ = ln n/ln 512 (kexue.fm/archives/8823, 9588)"],
    source="Su, kexue.fm/archives/8823 and 9034; refinement derived",
)
SU_SCALE.step("H under log₅₁₂ n", H_SU.subs(n, sp.exp(L)), L - L**2 * sigma**2 / (2 * LN512**2))
SU_SCALE.step("slope 1 − Lσ²/ln²512", sp.diff(H_SU.subs(n, sp.exp(L)), L), 1 - L * sigma**2 / LN512**2)
SU_SCALE.step("slope at n = 512, σ = 1 is 1 − 1/ln 512 > 0",
              (1 - L / LN512**2).subs(L, LN512) > 0, how="true")
SU_SCALE.step("slope reaches 0 only at ln n = ln²512/σ² (n ≈ 7e16 for σ = 1)",
              sp.solve(sp.Eq(1 - L * sigma**2 / LN512**2, 0), L)[0], LN512**2 / sigma**2)
_lam_quick = (L - H0) / (sigma * sp.sqrt(2 * L))
SU_SCALE.step("quick derivation with s_max − s̄ = σ√(2L): λ = (L − H₀)/(σ√(2L))",
              (L - _lam_quick * sigma * sp.sqrt(2 * L)), H0)
SU_SCALE.step("... which grows like √L: λ/√L → 1/(σ√2)", sp.limit(_lam_quick / sp.sqrt(L), L, sp.oo),
              1 / (sigma * sp.sqrt(2)))
SU_SCALE.prediction("H_su", H_SU, [n, sigma])
SU_SCALE.prediction("slope_su", (1 - L * sigma**2 / LN512**2).subs(L, sp.log(n)), [n, sigma])
SU_SCALE.prediction("lam_su", sp.log(n) / LN512, [n])

# -- Su 8823's constant ------------------------------------------------------------
c = sp.Symbol("c", positive=True)
_f = lam * c + sp.log(1 - c**2) / 2  # large-d exponent per dimension, c = cos(q, k)
_cstar = (sp.sqrt(5) - 1) / 2
PHI = (1 + sp.sqrt(5)) / 2
SU_LAPLACE = Derivation(
    "entropy-su-0.24",
    statement="Su's H ≈ ln n − 0.24·λd (8823): with |q| = |k| = √d, q·k = d·c and the sphere density "
              "(1 − c²)^{d/2}, Laplace's method at λ = 1 puts the saddle at c* = 1/φ, giving "
              "H ≈ ln n − (d/2) ln φ; 0.24 is ½ ln φ ≈ 0.2406, and H₀-invariance then gives λ ∝ ln n/d.",
    assumptions=["|q| = |k| = √d, k uniform on the sphere", "d large (Laplace)",
                 "n ≳ e^{(d/2) ln φ} so that the sum over keys reaches the saddle"],
    source="Su, kexue.fm/archives/8823; the closed form of 0.24 is derived",
)
SU_LAPLACE.step("saddle condition f'(c) = 0 at λ = 1", sp.diff(_f, c).subs({lam: 1, c: _cstar}), 0)
SU_LAPLACE.step("at the saddle 1 − c*² = c* = 1/φ", 1 - _cstar**2, 1 / PHI)
SU_LAPLACE.step("entropy offset per dimension f(c*) − λc* = −½ ln φ",
                (_f - lam * c).subs({lam: 1, c: _cstar}), -sp.log(PHI) / 2, how="equals")
SU_LAPLACE.step("½ ln φ rounds to 0.24", sp.Abs(sp.log(PHI) / 2 - sp.Rational(24, 100)) < sp.Rational(1, 200),
                how="true")
SU_LAPLACE.step("H₀ = ln n − κλd fixed ⇒ dλ/d ln n = 1/(κd), i.e. λ ∝ ln n",
                sp.diff(sp.solve(sp.Eq(L - s * lam * d, H0), lam)[0], L), 1 / (s * d))
SU_LAPLACE.prediction("su_constant", sp.log(PHI) / 2, [])

# -- the needle ------------------------------------------------------------------
P_FLAT = sp.exp(m * Delta) / (sp.exp(m * Delta) + n - 1)
P_NOISE = sp.exp(m * Delta) / (sp.exp(m * Delta) + (n - 1) * sp.exp(m**2 * sigma**2 / 2))
P_SSMAX = 1 / (1 + (n - 1) * n ** (-s * Delta))
NEEDLE = Derivation(
    "entropy-needle",
    statement="A key with margin Δ over n − 1 equal logits gets p* = e^{mΔ}/(e^{mΔ} + n − 1) under "
              "multiplier m; with m = s ln n (SSMax) p* → 1 if sΔ > 1, ½ at sΔ = 1 and 0 if sΔ < 1, so "
              "a ln n multiplier keeps a fixed-margin needle from fading; over N(0, σ²) noise "
              "p* ≈ e^{mΔ}/(e^{mΔ} + (n − 1)e^{m²σ²/2}).",
    assumptions=["background logits equal (flat) or i.i.d. N(0, σ²) (mean field)", "n ≥ 2"],
    source="Nakanishi 2025, arXiv 2501.19399, §2; noise form derived",
)
NEEDLE.step("softmax of [Δ, 0, ..., 0] under m", sp.exp(m * Delta) / (sp.exp(m * Delta) + (n - 1) * sp.exp(0)), P_FLAT)
NEEDLE.step("m = s ln n turns it into 1/(1 + (n−1)n^{−sΔ})", P_FLAT.subs(m, s * sp.log(n)), P_SSMAX, how="equals")
NEEDLE.step("sΔ = 2: p* → 1", sp.limit(P_SSMAX.subs({s: 1, Delta: 2}), n, sp.oo), 1)
NEEDLE.step("sΔ = 1: p* → ½", sp.limit(P_SSMAX.subs({s: 1, Delta: 1}), n, sp.oo), sp.Rational(1, 2))
NEEDLE.step("sΔ = ½: p* → 0", sp.limit(P_SSMAX.subs({s: sp.Rational(1, 4), Delta: 2}), n, sp.oo), 0)
NEEDLE.step("fixed m: p* → 0 like e^{mΔ}/n", sp.limit(n * P_FLAT, n, sp.oo), sp.exp(m * Delta))
NEEDLE.step("noise background: (n−1)·E e^{ms} replaces n − 1",
            P_FLAT.subs(n, 1 + (n - 1) * sp.exp(m**2 * sigma**2 / 2)), P_NOISE)
NEEDLE.prediction("p_flat", P_FLAT, [n, Delta, m])
NEEDLE.prediction("p_noise", P_NOISE, [n, Delta, m, sigma])
NEEDLE.prediction("p_ssmax", P_SSMAX, [n, s, Delta])
NEEDLE.prediction("share", sp.Symbol("a") / (sp.Symbol("a") + (n - 1) * sp.Symbol("b")),
                  [n, sp.Symbol("a"), sp.Symbol("b")])

DERIVATIONS = [MEAN_FIELD, FLAT, FREEZING, SU_SCALE, SU_LAPLACE, NEEDLE]

# -- i.i.d. key weights and the length multipliers in use ----------------------------
Eu, Eulnu = sp.symbols("E_u E_ulnu", positive=True)
IID = Derivation(
    "entropy-iid-weights",
    statement="Any normaliser whose unnormalised weights u_j = f(x_j) are i.i.d. over keys (softmax₁, "
              "sigmoid, relu², L2, exp, a difference of two softmaxes, a positive feature map) has "
              "H = ln n + ln E u − E[u ln u]/E u in the mean field: slope exactly 1 in ln n.",
    assumptions=["u_j i.i.d. with finite E u ln u", "mean field", "no length-dependent multiplier"],
    source="derived",
)
_H_iid = sp.log(n * Eu) - Eulnu / Eu
IID.step("slope of ln(n E u) − E[u ln u]/E u in ln n is 1", sp.diff(_H_iid.subs(n, sp.exp(L)), L), 1)
IID.step("softmax is the case u = e^{λs}: recovers ln n − λ²σ²/2",
         _H_iid.subs({Eu: sp.exp(lam**2 * sigma**2 / 2), Eulnu: lam**2 * sigma**2 * sp.exp(lam**2 * sigma**2 / 2)}),
         H_MF, how="equals")

MULTIPLIERS = Derivation(
    "entropy-length-multipliers",
    statement="The length multipliers of the zoo: Su's log₅₁₂ n, SSMax's s·ln n (Chiang & Cholak: s = 1), "
              "and the shift form softmax(x − s ln n), which is no multiplier at all (shift invariance).",
    assumptions=["multipliers act on the 1/√d-scaled logits"],
    source="Su, kexue.fm/archives/8823; Nakanishi 2025, arXiv 2501.19399, Eq. 2; Chiang & Cholak 2022, "
           "arXiv 2202.12172, §5",
)
MULTIPLIERS.step("log₅₁₂ n = ln n/ln 512 is SSMax with s = 1/ln 512", sp.log(n, 512), (1 / LN512) * sp.log(n))
MULTIPLIERS.step("shift form: softmax(x − s ln n) = softmax(x) (2 keys)",
                 sp.exp(s1 - s * sp.log(n)) / (sp.exp(s1 - s * sp.log(n)) + sp.exp(s2 - s * sp.log(n))),
                 sp.exp(s1) / (sp.exp(s1) + sp.exp(s2)))
MULTIPLIERS.prediction("lam_su", sp.log(n) / LN512, [n])
MULTIPLIERS.prediction("lam_ssmax", s * sp.log(n), [n, s])
MULTIPLIERS.prediction("lam_chiang", sp.log(n), [n])

DERIVATIONS += [IID, MULTIPLIERS]

# -- a distance bias (ALiBi) ----------------------------------------------------------
k = sp.Symbol("k", integer=True, nonnegative=True)
ci = sp.Symbol("c", integer=True, positive=True)
b1, b2, b3 = sp.symbols("b1 b2 b3", real=True)
_r = sp.exp(-m)


def _nondegenerate(expr):
    """The m > 0 branch of a geometric sum (sympy adds the degenerate case e^{−m} = 1 as a Piecewise)."""
    if isinstance(expr, sp.Piecewise):
        (deg, cond), (main, true) = expr.args
        assert true == sp.true and cond == sp.Eq(_r, 1), expr
        return main
    return expr


Z_CAUSAL = (1 - sp.exp(-m * n)) / (1 - _r)                                  # distances 0..n−1
Z_CENTRE = ((1 + _r) * (1 - sp.exp(-m * n / 2)) / (1 - _r))                 # query at n/2: 1..n/2 left, 0..n/2−1 right


def _h_bias(Z):
    """Mean-field entropy of softmax(λs − mδ): ln Z + m E_π[δ] − λ²σ²/2 with E_π[δ] = −∂_m ln Z."""
    return sp.log(Z) - m * sp.diff(sp.log(Z), m) - lam**2 * sigma**2 / 2


H_ALIBI = _h_bias(Z_CAUSAL)
H_ALIBI_CENTRE = _h_bias(Z_CENTRE)
H_INF = -sp.log(1 - _r) + m * _r / (1 - _r) - lam**2 * sigma**2 / 2
H_INF_CENTRE = sp.log((1 + _r) / (1 - _r)) + 2 * m * _r / (1 - _r**2) - lam**2 * sigma**2 / 2
_pb = [sp.exp(v) / (sp.exp(b1) + sp.exp(b2) + sp.exp(b3)) for v in (b1, b2, b3)]
_Eu = [sp.exp(v) * _mgf for v in (b1, b2, b3)]                      # E e^{λs + b}
_Eulnu = [sp.exp(v) * (_mgf * v + lam * _mgf * _tilt) for v in (b1, b2, b3)]  # E[e^{λs+b}(λs + b)]
ALIBI = Derivation(
    "entropy-alibi-saturation",
    statement="A query whose keys sit at distances δ = 0..n−1 with logits λs_j − mδ_j, s ~ N(0, σ²) "
              "(ALiBi, slope m), has mean-field entropy H(n) = ln Z_m(n) + m E_p[δ] − λ²σ²/2 with "
              "Z_m(n) = Σ_{δ<n} e^{−mδ} = (1 − e^{−mn})/(1 − e^{−m}): it saturates at "
              "H∞ = −ln(1 − e^{−m}) + m e^{−m}/(1 − e^{−m}) − λ²σ²/2 instead of growing like ln n, and "
              "recovers ln n − λ²σ²/2 as m → 0. A bidirectional query at the centre (distances 1..n/2 on "
              "one side, 0..n/2−1 on the other) has Z = (1 + e^{−m})(1 − e^{−mn/2})/(1 − e^{−m}) and "
              "H∞ = ln((1 + e^{−m})/(1 − e^{−m})) + 2m e^{−m}/(1 − e^{−2m}) − λ²σ²/2.",
    assumptions=["s_j i.i.d. N(0, σ²)", "mean field: sums over keys replaced by expectations, which needs "
                 "many effective keys: the partition sum's relative variance (e^{λ²σ²} − 1)Σπ² must be small; "
                 "half of it, the scale of the leading Jensen correction to E ln Z, is the prediction "
                 "'correction' (for π uniform it is the gate's (e^{σ²} − 1)/2n; at m = 1/4, σ = 1 it is 0.11)",
                 "bias −m·|i − j| (Press et al. 2022, Eq. in §3), query at the last position (causal) or "
                 "at n/2 (bidirectional, n even)"],
    source="Press, Smith, Lewis 2022, arXiv 2108.12409, §3; mean field derived",
)
ALIBI.step("biased mean field: ln Σ E e^{λs+b} − Σ E[u ln u]/Σ E u = H(softmax(b)) − λ²σ²/2 (3 keys)",
           sp.log(sum(_Eu)) - sum(_Eulnu) / sum(_Eu),
           sp.log(sp.exp(b1) + sp.exp(b2) + sp.exp(b3)) - sum(p * v for p, v in zip(_pb, (b1, b2, b3)))
           - lam**2 * sigma**2 / 2, how="equals")
ALIBI.step("geometric sum Σ_{δ=0}^{n−1} e^{−mδ} = Z_m(n)",
           _nondegenerate(sp.summation(sp.exp(-m * k), (k, 0, n - 1))), Z_CAUSAL)
ALIBI.step("E_p[δ] = −∂_m ln Z (checked at n = 5 against the explicit sums)",
           sum(j * sp.exp(-m * j) for j in range(5)) / sum(sp.exp(-m * j) for j in range(5)),
           (-sp.diff(sp.log(Z_CAUSAL), m)).subs(n, 5), how="equals")
_Z5 = sum(sp.exp(-m * j) for j in range(5))
ALIBI.step("b = −mδ: H(softmax(b)) = ln Z + m E_p[δ] (n = 5, explicit sums; logs of positives expanded)",
           sp.expand_log(-sum((sp.exp(-m * j) / _Z5) * sp.log(sp.exp(-m * j) / _Z5) for j in range(5)), force=True),
           sp.log(_Z5) + m * sum(j * sp.exp(-m * j) for j in range(5)) / _Z5)
ALIBI.step("n → ∞: H → H∞ (saturation)", sp.expand_log(sp.limit(H_ALIBI, n, sp.oo), force=True), H_INF)
ALIBI.step("m → 0: H → ln n − λ²σ²/2 (plain softmax)", sp.Limit(H_ALIBI, m, 0), H_MF)  # evaluated (sp.limit) when checked
ALIBI.step("centre query: Σ_{δ=1}^{c} e^{−mδ} + Σ_{δ=0}^{c−1} e^{−mδ} = Z_centre at n = 2c",
           _nondegenerate(sp.summation(sp.exp(-m * k), (k, 1, ci)))
           + _nondegenerate(sp.summation(sp.exp(-m * k), (k, 0, ci - 1))), Z_CENTRE.subs(n, 2 * ci))
ALIBI.step("centre query, n → ∞: H → H∞(centre)",
           sp.expand_log(sp.limit(H_ALIBI_CENTRE, n, sp.oo), force=True), sp.expand_log(H_INF_CENTRE, force=True))
ALIBI.step("centre query, m → 0: H → ln n − λ²σ²/2", sp.Limit(H_ALIBI_CENTRE, m, 0), H_MF)  # evaluated when checked
_Eu2 = [sp.exp(2 * v) * _m2 for v in (b1, b2, b3)]  # E u² = e^{2b} E e^{2λs}
ALIBI.step("relative variance of the partition sum, Var Z/(E Z)² = (e^{λ²σ²} − 1)·Σπ² (3 keys)",
           (sum(_Eu2) - sum(u**2 for u in _Eu)) / sum(_Eu)**2,
           (sp.exp(lam**2 * sigma**2) - 1) * sum(p**2 for p in _pb))
ALIBI.step("Σπ² = Z_{2m}(n)/Z_m(n)² (n = 5, explicit sums)",
           sum((sp.exp(-m * j) / _Z5)**2 for j in range(5)), Z_CAUSAL.subs({m: 2 * m, n: 5}) / Z_CAUSAL.subs(n, 5)**2)
ALIBI.step("m → 0: the correction scale (e^{λ²σ²} − 1)Σπ²/2 → the gate's (e^{λ²σ²} − 1)/2n",
           sp.Limit((sp.exp(lam**2 * sigma**2) - 1) / 2 * Z_CAUSAL.subs(m, 2 * m) / Z_CAUSAL**2, m, 0),
           (sp.exp(lam**2 * sigma**2) - 1) / (2 * n))
ALIBI.step("centre query: Σπ² = Z_centre(2m)/Z_centre(m)² (n = 6, explicit sums)",
           sum(sp.exp(-2 * m * abs(j - 3)) for j in range(6)) / sum(sp.exp(-m * abs(j - 3)) for j in range(6))**2,
           (Z_CENTRE.subs(m, 2 * m) / Z_CENTRE**2).subs(n, 6))
ALIBI.prediction("H", H_ALIBI, [n, m, lam, sigma])
ALIBI.prediction("correction", (sp.exp(lam**2 * sigma**2) - 1) / 2 * Z_CAUSAL.subs(m, 2 * m) / Z_CAUSAL**2,
                 [n, m, lam, sigma])
ALIBI.prediction("correction_centre", (sp.exp(lam**2 * sigma**2) - 1) / 2 * Z_CENTRE.subs(m, 2 * m) / Z_CENTRE**2,
                 [n, m, lam, sigma])
ALIBI.prediction("H_inf", H_INF, [m, lam, sigma])
ALIBI.prediction("H_centre", H_ALIBI_CENTRE, [n, m, lam, sigma])
ALIBI.prediction("H_inf_centre", H_INF_CENTRE, [m, lam, sigma])
ALIBI.prediction("Z", Z_CAUSAL, [n, m])
ALIBI.prediction("Z_centre", Z_CENTRE, [n, m])

# the needle over a biased flat background: exact for any elementwise weight u
_a, _a0, _S = sp.symbols("a a0 S", positive=True)
_u = sp.Function("u")
BIASED_NEEDLE = Derivation(
    "entropy-needle-biased",
    statement="With elementwise weights u (then one common normalisation), key 0 raised by Δ over a "
              "background whose logits are a position bias b_j gets the share "
              "u(Δ + b₀)/(Σ_j u(b_j) − u(b₀) + u(Δ + b₀)); for softmax and the ALiBi causal row "
              "(key 0 at distance n − 1) this is e^{Δ − m(n−1)}/(Z_m(n) + (e^Δ − 1)e^{−m(n−1)}).",
    assumptions=["a multiplier table C (URPE) enters as u(b_j)·|C_j|"],
    source="derived (exact, no mean field)",
)
_us = [_u(Delta + b1), _u(b2), _u(b3)]
BIASED_NEEDLE.step("share of key 0 (3 keys)", _us[0] / sum(_us),
                   (_u(Delta + b1) / (_u(b1) + _u(b2) + _u(b3) - _u(b1) + _u(Delta + b1))))
BIASED_NEEDLE.prediction("share", _a / (_S - _a0 + _a), [_a, _a0, _S])

DERIVATIONS += [ALIBI, BIASED_NEEDLE]

# -- any bias row and positive multiplier: the general biased mean field ----------------
j_, k_, N_ = sp.symbols("j k N", integer=True, positive=True)
_b = sp.IndexedBase("b", real=True)
_ZB = sp.Sum(sp.exp(_b[j_]), (j_, 1, N_))  # Σ e^{b}; its j is bound, so sympy can match it with the outer Σ_j
_PI = sp.exp(_b[j_]) / _ZB                                    # π_j = e^{b_j}/Σ e^{b}
Hpi, Spi2, Cmul = sp.symbols("H_pi S_pi2 C", positive=True)
c1, c2 = sp.symbols("c1 c2", nonzero=True, real=True)
H_BMF = Hpi - lam**2 * sigma**2 / 2
CORR_BMF = (sp.exp(lam**2 * sigma**2) - 1) * Spi2 / 2
BIASED_MEAN_FIELD = Derivation(
    "entropy-biased-mean-field",
    statement="For logits λs_j + b_j with s_j i.i.d. N(0, σ²), any bias row b (ALiBi, T5, URPE's B) and any "
              "nonzero weight multiplier C_j (URPE's C, acting on |w|/Σ|w|), the key weights enter only through "
              "π_j ∝ |C_j| e^{b_j}; the mean-field entropy is H = H(π) − λ²σ²/2 and it is valid while the "
              "partition sum concentrates: the scale of its leading correction, (e^{λ²σ²} − 1)Σπ²/2 (half the "
              "relative variance of Z), must be small (the probe asks ≤ GATE_TOL).",
    assumptions=["s_j i.i.d. N(0, σ²)", "mean field: ln Z and Σ u ln u replaced by their expectations",
                 "the bias row and multiplier are fixed by the query position (one query row)"],
    source="derived (generalises entropy-alibi-saturation's first step to any n and any row)",
)
_Mg = sp.exp(lam**2 * sigma**2 / 2)
BIASED_MEAN_FIELD.step("E e^{λs + b} = e^{b} E e^{λs} and E[(λs + b)e^{λs+b}] = e^{b}(b + λ·tilted mean)E e^{λs}",
                       sp.exp(b1) * (_mgf * b1 + lam * _mgf * _tilt), sp.exp(b1) * (b1 + lam**2 * sigma**2) * _Mg)
BIASED_MEAN_FIELD.step(
    "any N: ln Σ_j E u_j − Σ_j E[u_j ln u_j]/Σ_j E u_j = −Σ_j π_j ln π_j − λ²σ²/2 (symbolic Σ over j = 1..N)",
    sp.expand_log(sp.log(_ZB * _Mg) - sp.Sum(sp.exp(_b[j_]) * (_b[j_] + lam**2 * sigma**2) * _Mg, (j_, 1, N_))
                  / (_ZB * _Mg), force=True),
    sp.expand_log(-sp.Sum(_PI * sp.log(_PI), (j_, 1, N_)) - lam**2 * sigma**2 / 2, force=True))
BIASED_MEAN_FIELD.step(
    "any N: relative variance of Z, Σ_j Var u_j/(Σ_j E u_j)² = (e^{λ²σ²} − 1)Σ_j π_j² (symbolic Σ)",
    sp.Sum(sp.exp(2 * _b[j_]) * (_m2 - _mgf**2), (j_, 1, N_)) / (_ZB * _mgf)**2,
    (sp.exp(lam**2 * sigma**2) - 1) * sp.Sum(_PI**2, (j_, 1, N_)))
BIASED_MEAN_FIELD.step("a multiplier C_j ≠ 0 on the weights is a bias ln|C_j| in |w|/Σ|w| (2 keys)",
                       sp.Abs(c1) * sp.exp(s1 + b1) / (sp.Abs(c1) * sp.exp(s1 + b1) + sp.Abs(c2) * sp.exp(s2 + b2)),
                       sp.exp(s1 + b1 + sp.log(sp.Abs(c1)))
                       / (sp.exp(s1 + b1 + sp.log(sp.Abs(c1))) + sp.exp(s2 + b2 + sp.log(sp.Abs(c2)))))
BIASED_MEAN_FIELD.step("b ≡ 0: π uniform, H(π) = ln N, Σπ² = 1/N: the plain mean field and the gate's scale",
                       (H_BMF.subs(Hpi, sp.log(n)) - H_MF) + (CORR_BMF.subs(Spi2, 1 / n)
                                                              - (sp.exp(lam**2 * sigma**2) - 1) / (2 * n)), 0)
BIASED_MEAN_FIELD.prediction("H", H_BMF, [Hpi, lam, sigma])
BIASED_MEAN_FIELD.prediction("correction", CORR_BMF, [Spi2, lam, sigma])

DERIVATIONS += [BIASED_MEAN_FIELD]

# -- finitely many effective keys: the exact expectation for independent keys -----------
t_, z_, v_, tau = sp.symbols("t z v tau", positive=True)
u1, u2, u3 = sp.symbols("u1 u2 u3", positive=True)
zg = sp.Symbol("zeta", real=True)                  # a standard normal node: s = σζ
_uu = sp.IndexedBase("u", positive=True)
_ZU = sp.Sum(_uu[j_], (j_, 1, N_))
Pt, St, ElnZ, Eulnu, r1, r2 = sp.symbols("P S E_lnZ E_ulnu r1 r2", real=True)
_G0 = sp.exp(-tau * sp.exp(lam * sigma * zg))                       # e^{−τ e^{λs}}
_G1 = sp.exp(lam * sigma * zg) * _G0                                 # e^{λs} e^{−τ e^{λs}}
_G2 = lam * sigma * zg * sp.exp(lam * sigma * zg) * _G0              # λs e^{λs} e^{−τ e^{λs}}
FINITE_KEYS = Derivation(
    "entropy-finite-keys",
    statement="For independent key weights u_j = e^{λs_j + b_j}, s_j ~ N(0, σ²), the expected entropy of the "
              "row p = u/Z is exact without a mean field: E H = E ln Z − E[Σ_j u_j ln u_j/Z] with "
              "E ln Z = ∫₀^∞ (e^{−t} − Π_j φ_j(t)) dt/t and E[Σ_j u_j ln u_j/Z] = ∫₀^∞ Π_k φ_k(t)·Σ_j ψ_j(t)/φ_j(t) dt, "
              "where φ_j(t) = g₀(te^{b_j}), ψ_j(t) = e^{b_j}(b_j g₁ + g₂)(te^{b_j}) and g₀, g₁, g₂ are the 1-D "
              "lognormal transforms E e^{−τe^{λs}}, E e^{λs}e^{−τe^{λs}}, E λs e^{λs}e^{−τe^{λs}} (Gauss–Hermite "
              "in s); keys with te^{b_j} → 0 enter through g₀ ≈ 1 − τe^{λ²σ²/2}, g₁ → e^{λ²σ²/2}, "
              "g₂ → λ²σ²e^{λ²σ²/2}. With t = e^v both integrals run over v ∈ ℝ.",
    assumptions=["keys independent given the query (P1: q fixed on the sphere, k_j i.i.d. N(0, I))",
                 "bias row b (and ln|C| of a multiplier) fixed by the query position"],
    source="derived (Frullani and Laplace-transform identities; exact, no mean field)",
)
# integrals are left unevaluated (sp.Integral) so that importing stays fast; simplify evaluates them when checked
FINITE_KEYS.step("Frullani: ∫₀^∞ (e^{−t} − e^{−tz})/t dt = ln z (z > 0)",
                 sp.Integral((sp.exp(-t_) - sp.exp(-t_ * z_)) / t_, (t_, 0, sp.oo)), sp.log(z_))
FINITE_KEYS.step("∫₀^∞ e^{−tz} dt = 1/z (z > 0)", sp.Integral(sp.exp(-t_ * z_), (t_, 0, sp.oo)), 1 / z_)
FINITE_KEYS.step("any N: H(u/Z) = ln Z − Σ_j u_j ln u_j/Z (symbolic Σ)",
                 sp.expand_log(-sp.Sum(_uu[j_] / _ZU * sp.log(_uu[j_] / _ZU), (j_, 1, N_)), force=True),
                 sp.expand_log(sp.log(_ZU) - sp.Sum(_uu[j_] * sp.log(_uu[j_]), (j_, 1, N_)) / _ZU, force=True))
FINITE_KEYS.step("independence: e^{−tZ} = Π_j e^{−tu_j}, so E e^{−tZ} = Π_j φ_j(t) (3 keys)",
                 sp.exp(-t_ * (u1 + u2 + u3)), sp.exp(-t_ * u1) * sp.exp(-t_ * u2) * sp.exp(-t_ * u3))
FINITE_KEYS.step("u₁ ln u₁/Z = ∫₀^∞ u₁ ln u₁ e^{−tu₁} Π_{k≠1} e^{−tu_k} dt, so E = ∫ ψ₁ Π_{k≠1} φ_k (2 keys)",
                 sp.Integral(u1 * sp.log(u1) * sp.exp(-t_ * u1) * sp.exp(-t_ * u2), (t_, 0, sp.oo)),
                 u1 * sp.log(u1) / (u1 + u2))
FINITE_KEYS.step("u = e^{b + λs}: u ln u e^{−tu} = e^{b}(b g₁ + g₂ integrands) at τ = te^{b}",
                 sp.expand_log(sp.exp(b1 + lam * sigma * zg) * sp.log(sp.exp(b1 + lam * sigma * zg)), force=True)
                 * sp.exp(-t_ * sp.exp(b1 + lam * sigma * zg)),
                 sp.exp(b1) * (b1 * _G1 + _G2).subs(tau, t_ * sp.exp(b1)))
FINITE_KEYS.step("t = e^v: ∫₀^∞ f(t) dt = ∫_ℝ f(e^v) e^v dv (f = e^{−zt})",
                 sp.Integral(sp.exp(-z_ * sp.exp(v_)) * sp.exp(v_), (v_, -sp.oo, sp.oo)), 1 / z_)
_phis = sp.exp(-zg**2 / 2) / sp.sqrt(2 * sp.pi)                      # standard normal density of ζ
FINITE_KEYS.step("small τ: g₀'(0) = −E e^{λs} = −e^{λ²σ²/2}",
                 sp.integrate(sp.diff(_G0, tau).subs(tau, 0) * _phis, (zg, -sp.oo, sp.oo)), -_Mg)
FINITE_KEYS.step("small τ: g₁(0) = e^{λ²σ²/2}", sp.integrate(_G1.subs(tau, 0) * _phis, (zg, -sp.oo, sp.oo)), _Mg)
FINITE_KEYS.step("small τ: g₂(0) = λ²σ² e^{λ²σ²/2}",
                 sp.integrate(_G2.subs(tau, 0) * _phis, (zg, -sp.oo, sp.oo)), lam**2 * sigma**2 * _Mg)
FINITE_KEYS.prediction("g0_integrand", _G0, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("g1_integrand", _G1, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("g2_integrand", _G2, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("log_g0_small", -tau * _Mg, [tau, lam, sigma])
FINITE_KEYS.prediction("psi_over_phi", sp.exp(b1) * (b1 * r1 + r2), [b1, r1, r2])   # r_i = g_i/g₀ at τ = te^{b}
FINITE_KEYS.prediction("psi_over_phi_small", sp.exp(b1) * (b1 + lam**2 * sigma**2) * _Mg, [b1, lam, sigma])
FINITE_KEYS.prediction("lnZ_integrand_v", sp.exp(-t_) - Pt, [t_, Pt])                 # dt/t = dv
FINITE_KEYS.prediction("ulnu_integrand_v", t_ * Pt * St, [t_, Pt, St])                # dt = t dv
FINITE_KEYS.prediction("H", ElnZ - Eulnu, [ElnZ, Eulnu])

DERIVATIONS += [FINITE_KEYS]

# -- relu² weights with a bias row (relu2+t5) ------------------------------------------------
_zs = sp.Symbol("z", real=True)
_yq = sp.Symbol("y", positive=True)
_bb = sp.Symbol("b", real=True)
_phi1 = sp.exp(-_zs**2 / 2) / sp.sqrt(2 * sp.pi)
_Phi_b = (1 + sp.erf(_bb / sp.sqrt(2))) / 2
_phi_b = sp.exp(-_bb**2 / 2) / sp.sqrt(2 * sp.pi)
EU_RELU2 = (1 + _bb**2) * _Phi_b + _bb * _phi_b                              # E relu(s + b)², s ~ N(0, 1)
EU2_RELU2 = (_bb**4 + 6 * _bb**2 + 3) * _Phi_b + (_bb**3 + 5 * _bb) * _phi_b  # E relu(s + b)⁴
SumEu, SumEulnu, SumVar = sp.symbols("SumEu SumEulnu SumVar", positive=True)
RELU2_BIASED = Derivation(
    "entropy-relu2-biased-mean-field",
    statement="relu² weights u_j = relu(s_j + b_j)², s ~ N(0, 1), over a bias row b have the mean-field entropy "
              "H = ln Σ_j E u_j − Σ_j E[u_j ln u_j]/Σ_j E u_j with E relu(s + b)² = (1 + b²)Φ(b) + bφ(b) and "
              "E[u ln u] = ∫₀^∞ y² ln y² φ(y − b) dy (1-D quadrature); the scale of its leading correction is "
              "half the relative variance of Z, Σ_j Var u_j/(2(Σ_j E u_j)²) with E relu(s + b)⁴ = "
              "(b⁴ + 6b² + 3)Φ(b) + (b³ + 5b)φ(b). With b ≡ 0 it is relu2-entropy's ln n − (2 − γ).",
    assumptions=["s_j i.i.d. N(0, 1) (the probe's logits)", "mean field", "relu² is scale invariant, so the "
                 "normaliser's 1/n and any temperature drop out of |w|/Σ|w|"],
    source="derived (extends relu2-entropy to a bias row)",
)
RELU2_BIASED.step("E relu(s + b)² = (1 + b²)Φ(b) + bφ(b)",
                  sp.integrate((_zs + _bb) ** 2 * _phi1, (_zs, -_bb, sp.oo)).rewrite(sp.erf), EU_RELU2)
RELU2_BIASED.step("E relu(s + b)⁴ = (b⁴ + 6b² + 3)Φ(b) + (b³ + 5b)φ(b)",
                  sp.integrate((_zs + _bb) ** 4 * _phi1, (_zs, -_bb, sp.oo)).rewrite(sp.erf), EU2_RELU2)
RELU2_BIASED.step("E[u ln u] with y = s + b: ∫_{−b}^∞ (s + b)² ln (s + b)² φ(s) ds = ∫₀^∞ y² ln y² φ(y − b) dy",
                  sp.Integral((_zs + _bb) ** 2 * sp.log((_zs + _bb) ** 2) * _phi1, (_zs, -_bb, sp.oo))
                  .transform(_zs, (_yq - _bb, _yq)),
                  sp.Integral(_yq**2 * sp.log(_yq**2) * _phi1.subs(_zs, _yq - _bb), (_yq, 0, sp.oo)))
RELU2_BIASED.step("b = 0: E u = ½ (relu2-entropy)", EU_RELU2.subs(_bb, 0), sp.Rational(1, 2))
RELU2_BIASED.step("b ≡ 0, n keys: H = ln(n·½) − n·E[u ln u]/(n·½) = ln n − (2 − γ) (relu2-entropy's constant)",
                  sp.expand_log(sp.log(n * EU_RELU2.subs(_bb, 0)), force=True)
                  - (n * (2 - sp.EulerGamma - sp.log(2)) / 2) / (n * EU_RELU2.subs(_bb, 0)),
                  sp.log(n) - (2 - sp.EulerGamma))
RELU2_BIASED.prediction("Eu", EU_RELU2, [_bb])
RELU2_BIASED.prediction("Eu2", EU2_RELU2, [_bb])
RELU2_BIASED.prediction("ulnu_integrand", _yq**2 * sp.log(_yq**2) * _phi1.subs(_zs, _yq - _bb), [_yq, _bb])
RELU2_BIASED.prediction("H", sp.log(SumEu) - SumEulnu / SumEu, [SumEu, SumEulnu])
RELU2_BIASED.prediction("correction", SumVar / (2 * SumEu**2), [SumVar, SumEu])

DERIVATIONS += [RELU2_BIASED]
