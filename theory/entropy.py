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
* Su's sphere (|q| = |k| = √d, logits λ q·k = λ d c): c = cos(q, k) for k uniform on
  S^{d−1} has the exact density ∝ (1 − c²)^{(d−3)/2}; Su's Laplace form (1 − c²)^{d/2}
  is its large-d limit per dimension. The exact finite-d offset (H − ln n)/d =
  (ln E e^{λdc} − λd E_tilt c)/d is a 1-D quadrature of the exact density
  (``SU_LAPLACE`` predictions ``sphere_log_density`` and ``sphere_offset``).
* What λ = s·ln n does preserve: the needle. A key with margin Δ over n − 1
  equal logits gets p* = e^{mΔ}/(e^{mΔ} + n − 1) under multiplier m; with
  m = s ln n this is 1/(1 + (n−1) n^{−sΔ}) → 1 iff sΔ > 1 (Nakanishi 2025,
  arXiv 2501.19399). Over N(0, σ²) noise, p* ≈ e^{mΔ}/(e^{mΔ} + (n−1)e^{m²σ²/2}).
* A bias row b and multiplier C (ALiBi, T5, URPE): π ∝ |C|e^{b}, H = H(π) − λ²σ²/2
  while (e^{λ²σ²} − 1)Σπ²/2 is small; with few effective keys, the exact E H for
  independent keys via ln z = ∫₀^∞ (e^{−t} − e^{−tz}) dt/t and 1/z = ∫₀^∞ e^{−tz} dt.

Every step keeps its sides unevaluated (``sp.Integral``, ``sp.Limit``, ``sp.Sum``,
``sp.Derivative``, ``sp.Subs``, ``evaluate=False``): importing this module does no
symbolic work, and ``check()`` does the integrals, limits and sums.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["MEAN_FIELD", "FLAT", "FREEZING", "SU_SCALE", "SU_LAPLACE", "NEEDLE", "IID", "MULTIPLIERS", "ALIBI",
           "BIASED_NEEDLE", "BIASED_MEAN_FIELD", "FINITE_KEYS", "RELU2_BIASED", "DERIVATIONS"]

n, lam, sigma, d = sp.symbols("n lam sigma d", positive=True)
L, H0, Delta, s, m = sp.symbols("L H0 Delta s m", positive=True)
eps = sp.Symbol("eps", positive=True)
s1, s2, s3 = sp.symbols("s1 s2 s3", real=True)
zg = sp.Symbol("zeta", real=True)                  # a standard normal node: s = σζ
j_, N_ = sp.symbols("j N", integer=True, positive=True)

_phis = sp.exp(-zg**2 / 2) / sp.sqrt(2 * sp.pi)     # standard normal density of ζ


def _E(f):
    """E f(s) for s = σζ, ζ ~ N(0, 1), kept unevaluated (``check()`` integrates)."""
    return sp.Integral(f * _phis, (zg, -sp.oo, sp.oo))


_Mg = sp.exp(lam**2 * sigma**2 / 2)               # E e^{λs}, checked in entropy-mean-field
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
MEAN_FIELD.step("Gaussian moment generating function E e^{λs} = e^{λ²σ²/2}", _E(sp.exp(lam * sigma * zg)), _Mg)
MEAN_FIELD.step("tilted mean E[s e^{λs}]/E e^{λs} = λσ²",
                _E(sigma * zg * sp.exp(lam * sigma * zg)) / _E(sp.exp(lam * sigma * zg)), lam * sigma**2)
_Ms, _Ts = sp.symbols("M T", positive=True)
MEAN_FIELD.step("mean field H = ln(n E e^{λs}) − λ·tilted mean, with the two values above",
                sp.Subs(sp.log(n * _Ms) - lam * _Ts, (_Ms, _Ts), (_Mg, lam * sigma**2)), H_MF)
MEAN_FIELD.step("slope dH/d ln n = 1 at fixed λ", sp.Derivative(H_MF.subs(n, sp.exp(L)), L), 1)
MEAN_FIELD.prediction("H", None, [n, lam, sigma], from_step="mean field H = ln(n E e^{λs}) − λ·tilted mean, "
                                                            "with the two values above")

# -- flat law --------------------------------------------------------------------
LAM_FLAT = sp.sqrt(2 * (sp.log(n) - H0)) / sigma
FLAT = Derivation(
    "entropy-flat-scale",
    statement="The multiplier that keeps the mean-field entropy at H₀ is λ(n) = √(2(ln n − H₀))/σ, "
              "which grows like √(ln n), not ln n.",
    assumptions=["mean field (entropy-mean-field)", "ln n > H₀"],
    source="derived",
)
FLAT.step("H(λ_flat) = H₀", sp.Subs(H_MF, lam, LAM_FLAT), H0)
FLAT.step("λ_flat² is linear in ln n (slope 2/σ²)", sp.Derivative((LAM_FLAT**2).subs(n, sp.exp(L)), L), 2 / sigma**2)
FLAT.step("λ_flat/√(ln n) → √2/σ", sp.Limit((LAM_FLAT / sp.sqrt(sp.log(n))).subs(n, sp.exp(L)), L, sp.oo),
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
FREEZING.step("tilted mean at λ_c equals σ√(2 ln n)", sp.Subs(lam * sigma**2, lam, LAM_FREEZE),
              sigma * sp.sqrt(2 * sp.log(n)))
FREEZING.step("mean-field H at λ_c is 0", sp.Subs(H_MF, lam, LAM_FREEZE), 0)
FREEZING.step("λ = ln n exceeds √(2 ln n) once ln n = 2 + ε (squared: (2 + ε)² > 2(2 + ε))",
              sp.Gt((2 + eps) ** 2, 2 * (2 + eps), evaluate=False))
FREEZING.step("relative variance of one key's weight E e^{2λs}/(E e^{λs})² = e^{λ²σ²}",
              _E(sp.exp(2 * lam * sigma * zg)) / _Mg**2, sp.exp(lam**2 * sigma**2))
FREEZING.step("the partition sum concentrates (relative variance (e^{λ²σ²} − 1)/n < 1) while λσ < √(ln(n+1))",
              sp.Subs((sp.exp(lam**2 * sigma**2) - 1) / n, lam, sp.sqrt(sp.log(n + 1)) / sigma), 1)
FREEZING.prediction("lam_freeze", LAM_FREEZE, [n, sigma])
FREEZING.prediction("lam_valid", sp.sqrt(sp.log(n)) / sigma, [n, sigma])

# -- Su's log n scale under Gaussian logits --------------------------------------
LN512 = sp.log(512)
H_SU_L = L - L**2 * sigma**2 / (2 * LN512**2)       # H under log₅₁₂ n, in L = ln n (checked below)
SLOPE_SU_L = 1 - L * sigma**2 / LN512**2
SU_SCALE = Derivation(
    "entropy-su-logn-scale",
    statement="Su's multiplier log₅₁₂ n gives H = L − L²σ²/(2 ln²512) on Gaussian logits: slope "
              "1 − Lσ²/ln²512 < 1 but > 0 for every practical n (partial compensation). His quick "
              "derivation H ≈ ln n − λ(s_max − s̄) itself gives λ ∝ √(ln n) once s_max − s̄ ≈ σ√(2 ln n).",
    assumptions=["mean field", "multiplier λ = ln n/ln 512 (kexue.fm/archives/8823, 9588)"],
    source="Su, kexue.fm/archives/8823 and 9034; refinement derived",
)
SU_SCALE.step("H under log₅₁₂ n", sp.Subs(sp.Subs(H_MF, lam, sp.log(n) / LN512), n, sp.exp(L)), H_SU_L)
SU_SCALE.step("slope 1 − Lσ²/ln²512", sp.Derivative(H_SU_L, L), SLOPE_SU_L)
SU_SCALE.step("slope at n = 512, σ = 1 is 1 − 1/ln 512 > 0",
              sp.Gt(sp.Subs(SLOPE_SU_L, (L, sigma), (LN512, 1)), 0, evaluate=False))
SU_SCALE.step("slope reaches 0 at ln n = ln²512/σ² (n ≈ 7e16 for σ = 1)",
              sp.Subs(SLOPE_SU_L, L, LN512**2 / sigma**2), 0)
_lam_quick = (L - H0) / (sigma * sp.sqrt(2 * L))
SU_SCALE.step("quick derivation with s_max − s̄ = σ√(2L): λ = (L − H₀)/(σ√(2L)) keeps H = H₀",
              sp.Subs(L - lam * sigma * sp.sqrt(2 * L), lam, _lam_quick), H0)
SU_SCALE.step("... which grows like √L: λ/√L → 1/(σ√2)", sp.Limit(_lam_quick / sp.sqrt(L), L, sp.oo),
              1 / (sigma * sp.sqrt(2)))
SU_SCALE.prediction("H_su", lambda: H_SU_L.subs(L, sp.log(n)), [n, sigma])
SU_SCALE.prediction("slope_su", lambda: SLOPE_SU_L.subs(L, sp.log(n)), [n, sigma])
SU_SCALE.prediction("lam_su", sp.log(n) / LN512, [n])

# -- Su 8823's constant and the sphere ---------------------------------------------
c = sp.Symbol("c", positive=True)
cr = sp.Symbol("c", real=True)                    # c = cos(q, k) ∈ (−1, 1)
_f = lam * c + sp.log(1 - c**2) / 2               # Su's large-d exponent per dimension
_cstar = (sp.sqrt(5) - 1) / 2
PHI = (1 + sp.sqrt(5)) / 2
LOG_DENSITY = (d - 3) / 2 * sp.log(1 - cr**2)     # exact: c = cos(q, k), k uniform on S^{d−1}
_lnM, _Tc = sp.symbols("lnM T_c", real=True)


def _area(k):
    """|S^{k−1}| = 2π^{k/2}/Γ(k/2), the area of the unit sphere in R^k."""
    return 2 * sp.pi ** sp.Rational(k, 2) / sp.gamma(sp.Rational(k, 2))


SU_LAPLACE = Derivation(
    "entropy-su-0.24",
    statement="Su's H ≈ ln n − 0.24·λd (8823): with |q| = |k| = √d the logit is λq·k = λd·c, c = cos(q, k). "
              "For k uniform on the sphere S^{d−1}, c has the exact density ∝ (1 − c²)^{(d−3)/2}, so the exact "
              "mean-field offset is (H − ln n)/d = (ln E e^{λdc} − λd E_tilt c)/d (a 1-D quadrature). Per "
              "dimension the exponent (d−3)/2·ln(1 − c²) tends to Su's ½ ln(1 − c²) as d → ∞; Laplace's method "
              "at λ = 1 then puts the saddle at c* = 1/φ, giving H ≈ ln n − (d/2) ln φ; 0.24 is ½ ln φ ≈ 0.2406, "
              "and H₀-invariance then gives λ ∝ ln n/d.",
    assumptions=["|q| = |k| = √d, k uniform on the sphere", "mean field over keys",
                 "d large (Laplace) for the constant; the quadrature is exact at any d ≥ 3",
                 "n ≳ e^{(d/2) ln φ} so that the sum over keys reaches the saddle"],
    source="Su, kexue.fm/archives/8823; the exact density and the closed form of 0.24 are derived",
)
_dims = (3, 5, 7)  # odd d: the density is a polynomial in c, so sympy integrates it exactly


def _density(D):
    """e^{LOG_DENSITY} at d = D (a polynomial in c for odd D)."""
    return sp.exp(LOG_DENSITY.subs(d, D))


SU_LAPLACE.step("(1 − c²)^{(d−3)/2} is the area element: |S^{d−2}|·∫₋₁¹ (1 − c²)^{(d−3)/2} dc = |S^{d−1}| "
                "(d = 3, 5, 7)",
                sp.Matrix([sp.Integral(_density(D), (cr, -1, 1)) * _area(D - 1) / _area(D) for D in _dims]),
                sp.ones(len(_dims), 1))
SU_LAPLACE.step("... and it gives E c² = 1/d (Σ_i k_i² = 1 on the unit sphere; Su's d/2 exponent would give "
                "1/(d + 3)) (d = 3, 5, 7)",
                sp.Matrix([sp.Integral(cr**2 * _density(D), (cr, -1, 1)) / sp.Integral(_density(D), (cr, -1, 1))
                           for D in _dims]),
                sp.Matrix([sp.Rational(1, D) for D in _dims]))
SU_LAPLACE.step("large d: the exact exponent per dimension, (λdc + (d−3)/2·ln(1 − c²))/d, tends to Su's "
                "λc + ½ ln(1 − c²)",
                sp.Limit((lam * d * c + LOG_DENSITY.subs(cr, c)) / d, d, sp.oo), _f)
SU_LAPLACE.step("saddle condition f'(c) = 0 at λ = 1, c = c* = (√5 − 1)/2",
                sp.Subs(sp.Derivative(_f, c), (lam, c), (1, _cstar)), 0)
SU_LAPLACE.step("at the saddle 1 − c*² = c* = 1/φ", 1 - _cstar**2, 1 / PHI)
SU_LAPLACE.step("entropy offset per dimension f(c*) − λc* = −½ ln φ",
                sp.Subs(_f - lam * c, (lam, c), (1, _cstar)), -sp.log(PHI) / 2, how="equals")
SU_LAPLACE.step("½ ln φ rounds to 0.24",
                sp.Lt(sp.Abs(sp.log(PHI) / 2 - sp.Rational(24, 100)), sp.Rational(1, 200), evaluate=False))
SU_LAPLACE.step("H₀ = ln n − κλd is held by λ = (L − H₀)/(κd)",
                sp.Subs(L - s * lam * d, lam, (L - H0) / (s * d)), H0)
SU_LAPLACE.step("... so dλ/d ln n = 1/(κd): λ ∝ ln n", sp.Derivative((L - H0) / (s * d), L), 1 / (s * d))
SU_LAPLACE.prediction("su_constant", sp.log(PHI) / 2, [])
SU_LAPLACE.prediction("sphere_log_density", LOG_DENSITY, [cr, d])
SU_LAPLACE.prediction("sphere_log_tilted", lam * d * cr + LOG_DENSITY, [cr, lam, d])
SU_LAPLACE.prediction("sphere_offset", (_lnM - lam * d * _Tc) / d, [_lnM, _Tc, lam, d])

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
NEEDLE.step("softmax of [Δ, 0, ..., 0] under m: the n − 1 background keys weigh e^{m·0} each",
            sp.exp(m * Delta) / (sp.exp(m * Delta) + sp.Sum(sp.exp(m * 0 * j_), (j_, 2, n))), P_FLAT)
NEEDLE.step("m = s ln n turns it into 1/(1 + (n−1)n^{−sΔ})", sp.Subs(P_FLAT, m, s * sp.log(n)), P_SSMAX,
            how="equals")
NEEDLE.step("sΔ = 2: p* → 1", sp.Limit(P_SSMAX.subs({s: 1, Delta: 2}), n, sp.oo), 1)
NEEDLE.step("sΔ = 1: p* → ½", sp.Limit(P_SSMAX.subs({s: 1, Delta: 1}), n, sp.oo), sp.Rational(1, 2))
NEEDLE.step("sΔ = ½: p* → 0", sp.Limit(P_SSMAX.subs({s: sp.Rational(1, 4), Delta: 2}), n, sp.oo), 0)
NEEDLE.step("fixed m: p* → 0 like e^{mΔ}/n", sp.Limit(n * P_FLAT, n, sp.oo), sp.exp(m * Delta))
NEEDLE.step("noise background (mean field): each of the n − 1 keys weighs E e^{ms} = ∫ e^{mσζ} φ(ζ) dζ",
            sp.exp(m * Delta) / (sp.exp(m * Delta) + (n - 1) * _E(sp.exp(m * sigma * zg))), P_NOISE)
NEEDLE.prediction("p_flat", None, [n, Delta, m],
                  from_step="softmax of [Δ, 0, ..., 0] under m: the n − 1 background keys weigh e^{m·0} each")
NEEDLE.prediction("p_noise", None, [n, Delta, m, sigma],
                  from_step="noise background (mean field): each of the n − 1 keys weighs E e^{ms} = ∫ e^{mσζ} "
                            "φ(ζ) dζ")
NEEDLE.prediction("p_ssmax", None, [n, s, Delta], from_step="m = s ln n turns it into 1/(1 + (n−1)n^{−sΔ})")
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
IID.step("slope of ln(n E u) − E[u ln u]/E u in ln n is 1", sp.Derivative(_H_iid.subs(n, sp.exp(L)), L), 1)
IID.step("softmax is the case u = e^{λs} (E u = e^{λ²σ²/2}, E[u ln u] = λ²σ² e^{λ²σ²/2}): recovers "
         "ln n − λ²σ²/2",
         sp.Subs(_H_iid, (Eu, Eulnu), (_Mg, lam**2 * sigma**2 * _Mg)), H_MF, how="equals")

MULTIPLIERS = Derivation(
    "entropy-length-multipliers",
    statement="The length multipliers of the zoo: Su's log₅₁₂ n, SSMax's s·ln n (Chiang & Cholak: s = 1), "
              "and the shift form softmax(x − s ln n), which is no multiplier at all (shift invariance).",
    assumptions=["multipliers act on the 1/√d-scaled logits"],
    source="Su, kexue.fm/archives/8823; Nakanishi 2025, arXiv 2501.19399, Eq. 2; Chiang & Cholak 2022, "
           "arXiv 2202.12172, §5",
)
MULTIPLIERS.step("ln n/ln 512 is log₅₁₂ n: 512^{ln n/ln 512} = n", sp.Subs(512**lam, lam, sp.log(n) / LN512), n)
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

Z_CAUSAL = (1 - sp.exp(-m * n)) / (1 - _r)                                  # distances 0..n−1
Z_CENTRE = ((1 + _r) * (1 - sp.exp(-m * n / 2)) / (1 - _r))                 # query at n/2: 1..n/2 left, 0..n/2−1 right
LNZ_CAUSAL = sp.log(1 - sp.exp(-m * n)) - sp.log(1 - _r)                    # ln Z_m(n), both factors positive
EDELTA = _r / (1 - _r) - n * sp.exp(-m * n) / (1 - sp.exp(-m * n))          # E_π[δ] = −∂_m ln Z (checked)
EDELTA_CENTRE = _r / (1 + _r) + _r / (1 - _r) - (n / 2) * sp.exp(-m * n / 2) / (1 - sp.exp(-m * n / 2))
H_ALIBI = LNZ_CAUSAL + m * EDELTA - lam**2 * sigma**2 / 2                   # ln Z + m E_π[δ] − λ²σ²/2
H_ALIBI_CENTRE = sp.log(Z_CENTRE) + m * EDELTA_CENTRE - lam**2 * sigma**2 / 2
H_INF = -sp.log(1 - _r) + m * _r / (1 - _r) - lam**2 * sigma**2 / 2
H_INF_CENTRE = sp.log((1 + _r) / (1 - _r)) + 2 * m * _r / (1 - _r**2) - lam**2 * sigma**2 / 2
CORR_ALIBI = (sp.exp(lam**2 * sigma**2) - 1) / 2 * Z_CAUSAL.subs(m, 2 * m) / Z_CAUSAL**2
CORR_ALIBI_CENTRE = (sp.exp(lam**2 * sigma**2) - 1) / 2 * Z_CENTRE.subs(m, 2 * m) / Z_CENTRE**2
_bs = (b1, b2, b3)
_pb = [sp.exp(v) / (sp.exp(b1) + sp.exp(b2) + sp.exp(b3)) for v in _bs]
_Eu = [sp.exp(v) * _Mg for v in _bs]                                  # E e^{λs + b} = e^{b} E e^{λs}
_Eulnu = [sp.exp(v) * (v + lam**2 * sigma**2) * _Mg for v in _bs]      # E[e^{λs+b}(λs + b)] (entropy-biased-mean-field)
_Z5 = sum(sp.exp(-m * j) for j in range(5))
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
           sp.log(sp.exp(b1) + sp.exp(b2) + sp.exp(b3)) - sum(p * v for p, v in zip(_pb, _bs))
           - lam**2 * sigma**2 / 2, how="equals")
ALIBI.step("geometric sum Σ_{δ=0}^{n−1} e^{−mδ} = Z_m(n) (sympy also states the excluded case e^{−m} = 1)",
           sp.Sum(sp.exp(-m * k), (k, 0, n - 1)), sp.Piecewise((n, sp.Eq(_r, 1)), (Z_CAUSAL, True)))
ALIBI.step("−∂_m ln Z_m(n) = e^{−m}/(1 − e^{−m}) − n e^{−mn}/(1 − e^{−mn})",
           -sp.Derivative(sp.log(Z_CAUSAL), m), EDELTA)
ALIBI.step("E_p[δ] = −∂_m ln Σ e^{−mδ} (n = 5, explicit sums)",
           sum(j * sp.exp(-m * j) for j in range(5)) / _Z5, -sp.Derivative(sp.log(_Z5), m), how="equals")
ALIBI.step("b = −mδ: H(softmax(b)) = ln Z + m E_p[δ] (n = 5, explicit sums)",
           -sum((sp.exp(-m * j) / _Z5) * sp.log(sp.exp(-m * j) / _Z5) for j in range(5)),
           sp.log(_Z5) + m * sum(j * sp.exp(-m * j) for j in range(5)) / _Z5, how="equals")
ALIBI.step("ln Z_m(n) = ln(1 − e^{−mn}) − ln(1 − e^{−m}) (both factors positive; numeric at 3 points)",
           sp.log(Z_CAUSAL), LNZ_CAUSAL, how="numeric",
           at=({m: sp.Rational(1, 4), n: 7}, {m: sp.Rational(1, 64), n: 4096}, {m: 3, n: 2}), tol=1e-12)
ALIBI.step("n → ∞: H → H∞ (saturation)", sp.Limit(H_ALIBI, n, sp.oo), H_INF)
ALIBI.step("m → 0: H → ln n − λ²σ²/2 (plain softmax)", sp.Limit(H_ALIBI, m, 0), H_MF)
ALIBI.step("centre query, left half: Σ_{δ=1}^{c} e^{−mδ} = e^{−m} Z_m(c)",
           sp.Sum(sp.exp(-m * k), (k, 1, ci)), sp.Piecewise((ci, sp.Eq(_r, 1)), (_r * Z_CAUSAL.subs(n, ci), True)))
ALIBI.step("centre query: e^{−m} Z_m(c) + Z_m(c) (right half 0..c−1) = Z_centre at n = 2c",
           sp.Add(_r * Z_CAUSAL.subs(n, ci), Z_CAUSAL.subs(n, ci), evaluate=False), Z_CENTRE.subs(n, 2 * ci))
ALIBI.step("centre query: −∂_m ln Z_centre = E_p[δ]",
           -sp.Derivative(sp.log(Z_CENTRE), m), EDELTA_CENTRE)
ALIBI.step("centre query, n → ∞: H − H∞(centre) → 0", sp.Limit(H_ALIBI_CENTRE - H_INF_CENTRE, n, sp.oo), 0)
ALIBI.step("centre query, m → 0: H → ln n − λ²σ²/2", sp.Limit(H_ALIBI_CENTRE, m, 0), H_MF)
_Eu2 = [sp.exp(2 * v) * sp.exp(2 * lam**2 * sigma**2) for v in _bs]  # E u² = e^{2b} E e^{2λs} (entropy-freezing)
ALIBI.step("relative variance of the partition sum, Var Z/(E Z)² = (e^{λ²σ²} − 1)·Σπ² (3 keys)",
           (sum(_Eu2) - sum(u**2 for u in _Eu)) / sum(_Eu)**2,
           (sp.exp(lam**2 * sigma**2) - 1) * sum(p**2 for p in _pb))
ALIBI.step("Σπ² = Z_{2m}(n)/Z_m(n)² (n = 5, explicit sums)",
           sum((sp.exp(-m * j) / _Z5)**2 for j in range(5)), sp.Subs(Z_CAUSAL.subs(m, 2 * m) / Z_CAUSAL**2, n, 5))
ALIBI.step("m → 0: the correction scale (e^{λ²σ²} − 1)Σπ²/2 → the gate's (e^{λ²σ²} − 1)/2n",
           sp.Limit(CORR_ALIBI, m, 0), (sp.exp(lam**2 * sigma**2) - 1) / (2 * n))
ALIBI.step("centre query: Σπ² = Z_centre(2m)/Z_centre(m)² (n = 6, explicit sums)",
           sum(sp.exp(-2 * m * abs(j - 3)) for j in range(6)) / sum(sp.exp(-m * abs(j - 3)) for j in range(6))**2,
           sp.Subs(Z_CENTRE.subs(m, 2 * m) / Z_CENTRE**2, n, 6))
ALIBI.prediction("H", H_ALIBI, [n, m, lam, sigma])
ALIBI.prediction("correction", CORR_ALIBI, [n, m, lam, sigma])
ALIBI.prediction("correction_centre", CORR_ALIBI_CENTRE, [n, m, lam, sigma])
ALIBI.prediction("H_inf", None, [m, lam, sigma], from_step="n → ∞: H → H∞ (saturation)")
ALIBI.prediction("H_centre", H_ALIBI_CENTRE, [n, m, lam, sigma])
ALIBI.prediction("H_inf_centre", H_INF_CENTRE, [m, lam, sigma])
ALIBI.prediction("Z", Z_CAUSAL, [n, m])
ALIBI.prediction("Z_centre", Z_CENTRE, [n, m])

# the needle over a biased flat background: exact for any elementwise weight u
_a, _a0, _S = sp.symbols("a a0 S", positive=True)
_y = sp.Symbol("y", real=True)
_u = sp.Function("u")
_d0 = sp.Symbol("delta0", nonnegative=True)
SHARE_BIASED = _a / (_S - _a0 + _a)
BIASED_NEEDLE = Derivation(
    "entropy-needle-biased",
    statement="With elementwise weights u (then one common normalisation), key 0 raised by Δ over a "
              "background whose logits are a position bias b_j gets the share "
              "u(Δ + b₀)/(Σ_j u(b_j) − u(b₀) + u(Δ + b₀)); for softmax and the ALiBi row (key 0 at distance "
              "δ₀) this is e^{Δ − mδ₀}/(Z + (e^Δ − 1)e^{−mδ₀}), Z = Z_m(n) (causal, δ₀ = n − 1) or Z_centre(n).",
    assumptions=["a multiplier table C (URPE) enters as u(b_j)·|C_j|"],
    source="derived (exact, no mean field)",
)
BIASED_NEEDLE.step("raising key 0's logit b₀ by Δ (3 keys, any u): share = a/(S − a₀ + a) with a = u(Δ + b₀), "
                   "a₀ = u(b₀), S = Σ_j u(b_j)",
                   sp.Subs(_u(_y) / (_u(_y) + _u(b2) + _u(b3)), _y, Delta + b1),
                   sp.Subs(SHARE_BIASED, (_a, _a0, _S), (_u(Delta + b1), _u(b1), _u(b1) + _u(b2) + _u(b3))))
BIASED_NEEDLE.step("softmax over the ALiBi causal row, n = 5 (key 0 at distance 4), explicit sums",
                   sp.exp(Delta - 4 * m) / (sp.exp(Delta - 4 * m) + sum(sp.exp(-m * j) for j in range(4))),
                   sp.Subs(SHARE_BIASED, (_a, _a0, _S), (sp.exp(Delta - 4 * m), sp.exp(-4 * m), Z_CAUSAL.subs(n, 5))))
_Zs = sp.Symbol("Z", positive=True)
BIASED_NEEDLE.step("softmax over an ALiBi row with normaliser Z: a = e^{Δ−mδ₀}, a₀ = e^{−mδ₀}, S = Z",
                   sp.Subs(SHARE_BIASED, (_a, _a0, _S), (sp.exp(Delta - m * _d0), sp.exp(-m * _d0), _Zs)),
                   sp.exp(Delta - m * _d0) / (_Zs + (sp.exp(Delta) - 1) * sp.exp(-m * _d0)))
_SHARE_Z = BIASED_NEEDLE.get_step("softmax over an ALiBi row with normaliser Z: a = e^{Δ−mδ₀}, a₀ = e^{−mδ₀}, "
                                  "S = Z").rhs
BIASED_NEEDLE.prediction("share", SHARE_BIASED, [_a, _a0, _S])
BIASED_NEEDLE.prediction("share_alibi", lambda: _SHARE_Z.subs(_Zs, Z_CAUSAL), [n, m, Delta, _d0])
BIASED_NEEDLE.prediction("share_alibi_centre", lambda: _SHARE_Z.subs(_Zs, Z_CENTRE), [n, m, Delta, _d0])
BIASED_NEEDLE.prediction("u_exp", sp.exp(_y), [_y])

DERIVATIONS += [ALIBI, BIASED_NEEDLE]

# -- any bias row and positive multiplier: the general biased mean field ----------------
_bI = sp.IndexedBase("b", real=True)
_ZB = sp.Sum(sp.exp(_bI[j_]), (j_, 1, N_))  # Σ e^{b}; its j is bound, so sympy can match it with the outer Σ_j
_PI = sp.exp(_bI[j_]) / _ZB                                    # π_j = e^{b_j}/Σ e^{b}
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
BIASED_MEAN_FIELD.step("E[(λs + b)e^{λs+b}] = e^{b}(b E e^{λs} + λ E[s e^{λs}]) = e^{b}(b + λ²σ²)E e^{λs} "
                       "(the two expectations checked in entropy-mean-field)",
                       sp.Subs(sp.exp(b1) * (b1 * _Ms + lam * _Ts * _Ms), (_Ms, _Ts), (_Mg, lam * sigma**2)),
                       sp.exp(b1) * (b1 + lam**2 * sigma**2) * _Mg)
BIASED_MEAN_FIELD.step(
    "any N: ln Σ_j E u_j − Σ_j E[u_j ln u_j]/Σ_j E u_j = −Σ_j π_j ln π_j − λ²σ²/2 (symbolic Σ over j = 1..N)",
    lambda: sp.expand_log(sp.log(_ZB * _Mg) - sp.Sum(sp.exp(_bI[j_]) * (_bI[j_] + lam**2 * sigma**2) * _Mg,
                                                     (j_, 1, N_)) / (_ZB * _Mg), force=True),
    lambda: sp.expand_log(-sp.Sum(_PI * sp.log(_PI), (j_, 1, N_)) - lam**2 * sigma**2 / 2, force=True))
BIASED_MEAN_FIELD.step(
    "any N: relative variance of Z, Σ_j Var u_j/(Σ_j E u_j)² = (e^{λ²σ²} − 1)Σ_j π_j² (symbolic Σ; "
    "E u² = e^{2b}e^{2λ²σ²}, entropy-freezing)",
    sp.Sum(sp.exp(2 * _bI[j_]) * (sp.exp(2 * lam**2 * sigma**2) - _Mg**2), (j_, 1, N_)) / (_ZB * _Mg)**2,
    (sp.exp(lam**2 * sigma**2) - 1) * sp.Sum(_PI**2, (j_, 1, N_)))
BIASED_MEAN_FIELD.step("a multiplier C_j ≠ 0 on the weights is a bias ln|C_j| in |w|/Σ|w| (2 keys)",
                       sp.Abs(c1) * sp.exp(s1 + b1) / (sp.Abs(c1) * sp.exp(s1 + b1) + sp.Abs(c2) * sp.exp(s2 + b2)),
                       sp.exp(s1 + b1 + sp.log(sp.Abs(c1)), evaluate=False)
                       / (sp.exp(s1 + b1 + sp.log(sp.Abs(c1)), evaluate=False)
                          + sp.exp(s2 + b2 + sp.log(sp.Abs(c2)), evaluate=False)))
BIASED_MEAN_FIELD.step("b ≡ 0: π uniform, H(π) = Σ_j (1/N) ln N = ln N: the plain mean field",
                       sp.Subs(H_BMF, Hpi, sp.Sum(-sp.log(1 / n) / n, (j_, 1, n))), H_MF)
BIASED_MEAN_FIELD.step("b ≡ 0: Σπ² = Σ_j 1/N² = 1/N: the gate's scale (e^{λ²σ²} − 1)/2N",
                       sp.Subs(CORR_BMF, Spi2, sp.Sum(1 / n**2, (j_, 1, n))), (sp.exp(lam**2 * sigma**2) - 1) / (2 * n))
BIASED_MEAN_FIELD.prediction("H", H_BMF, [Hpi, lam, sigma])
BIASED_MEAN_FIELD.prediction("correction", CORR_BMF, [Spi2, lam, sigma])
BIASED_MEAN_FIELD.prediction("effective_bias", b1 + sp.log(Cmul), [b1, Cmul])  # b + ln|C| (the multiplier step)

DERIVATIONS += [BIASED_MEAN_FIELD]

# -- finitely many effective keys: the exact expectation for independent keys -----------
t_, z_, v_, tau, w_ = sp.symbols("t z v tau w", positive=True)
u1, u2, u3 = sp.symbols("u1 u2 u3", positive=True)
v0, vr = sp.symbols("v0 vr", real=True)
_uu = sp.IndexedBase("u", positive=True)
_ZU = sp.Sum(_uu[j_], (j_, 1, N_))
Pt, St, ElnZ, Eulnu_, r1, r2, Kc = sp.symbols("P S E_lnZ E_ulnu r1 r2 K", real=True)
EZ = sp.Symbol("EZ", positive=True)
_G0 = sp.exp(-tau * sp.exp(lam * sigma * zg))                       # e^{−τ e^{λs}}
_G1 = sp.exp(lam * sigma * zg) * _G0                                 # e^{λs} e^{−τ e^{λs}}
_G2 = lam * sigma * zg * sp.exp(lam * sigma * zg) * _G0              # λs e^{λs} e^{−τ e^{λs}}
_frullani = (sp.exp(-t_) - sp.exp(-t_ * z_)) / t_
FINITE_KEYS = Derivation(
    "entropy-finite-keys",
    statement="For independent key weights u_j = e^{λs_j + b_j}, s_j ~ N(0, σ²), the expected entropy of the "
              "row p = u/Z is exact without a mean field: E H = E ln Z − E[Σ_j u_j ln u_j/Z] with "
              "E ln Z = ∫₀^∞ (e^{−t} − Π_j φ_j(t)) dt/t and E[Σ_j u_j ln u_j/Z] = ∫₀^∞ Π_k φ_k(t)·Σ_j ψ_j(t)/φ_j(t) dt, "
              "where φ_j(t) = g₀(te^{b_j}), ψ_j(t) = e^{b_j}(b_j g₁ + g₂)(te^{b_j}) and g₀, g₁, g₂ are the 1-D "
              "lognormal transforms E e^{−τe^{λs}}, E e^{λs}e^{−τe^{λs}}, E λs e^{λs}e^{−τe^{λs}} (Gauss–Hermite "
              "in s); keys with te^{b_j} → 0 enter through g₀ ≈ 1 − τe^{λ²σ²/2}, g₁ → e^{λ²σ²/2}, "
              "g₂ → λ²σ²e^{λ²σ²/2}. With t = e^v both integrals run over v ∈ ℝ; below v₀ the integrands are "
              "e^v(E Z − 1) and e^v S(0) to first order, which integrate to e^{v₀}(E Z − 1) and e^{v₀}S(0).",
    assumptions=["keys independent given the query (P1: q fixed on the sphere, k_j i.i.d. N(0, I))",
                 "bias row b (and ln|C| of a multiplier) fixed by the query position",
                 "differentiation under the integral sign (the integrands are dominated for z > 0)"],
    source="derived (Frullani and Laplace-transform identities; exact, no mean field)",
)
FINITE_KEYS.step("Frullani, 1: ∂_z (e^{−t} − e^{−tz})/t = e^{−tz}", sp.Derivative(_frullani, z_), sp.exp(-t_ * z_))
FINITE_KEYS.step("∫₀^∞ e^{−tz} dt = 1/z (z > 0)", sp.Integral(sp.exp(-t_ * z_), (t_, 0, sp.oo)), 1 / z_)
FINITE_KEYS.step("Frullani, 2: the integrand vanishes at z = 1", sp.Subs(_frullani, z_, 1), 0)
FINITE_KEYS.step("Frullani, 3: so ∫₀^∞ (e^{−t} − e^{−tz})/t dt = ∫₁^z dw/w = ln z",
                 sp.Integral(1 / w_, (w_, 1, z_)), sp.log(z_))
FINITE_KEYS.step("any N: H(u/Z) = ln Z − Σ_j u_j ln u_j/Z (symbolic Σ)",
                 lambda: sp.expand_log(-sp.Sum(_uu[j_] / _ZU * sp.log(_uu[j_] / _ZU), (j_, 1, N_)), force=True),
                 lambda: sp.expand_log(sp.log(_ZU) - sp.Sum(_uu[j_] * sp.log(_uu[j_]), (j_, 1, N_)) / _ZU,
                                       force=True))
FINITE_KEYS.step("independence: e^{−tZ} = Π_j e^{−tu_j}, so E e^{−tZ} = Π_j φ_j(t) (3 keys)",
                 sp.exp(-t_ * (u1 + u2 + u3)),
                 sp.Mul(sp.exp(-t_ * u1), sp.exp(-t_ * u2), sp.exp(-t_ * u3), evaluate=False))
FINITE_KEYS.step("u₁ ln u₁/Z = ∫₀^∞ u₁ ln u₁ e^{−tu₁} Π_{k≠1} e^{−tu_k} dt, so E = ∫ ψ₁ Π_{k≠1} φ_k (2 keys)",
                 sp.Integral(u1 * sp.log(u1) * sp.exp(-t_ * u1) * sp.exp(-t_ * u2), (t_, 0, sp.oo)),
                 u1 * sp.log(u1) / (u1 + u2))
FINITE_KEYS.step("u = e^{b + λs}: u ln u e^{−tu} = e^{b}(b g₁ + g₂ integrands) at τ = te^{b}",
                 sp.exp(b1 + lam * sigma * zg) * sp.log(sp.exp(b1 + lam * sigma * zg))
                 * sp.exp(-t_ * sp.exp(b1 + lam * sigma * zg)),
                 sp.exp(b1) * sp.Subs(b1 * _G1 + _G2, tau, t_ * sp.exp(b1)))
FINITE_KEYS.step("t = e^v: ∫₀^∞ f(t) dt = ∫_ℝ f(e^v) e^v dv (f = e^{−zt})",
                 sp.Integral(sp.exp(-z_ * sp.exp(v_)) * sp.exp(v_), (v_, -sp.oo, sp.oo)), 1 / z_)
FINITE_KEYS.step("small τ: g₀'(0) = E ∂_τ e^{−τe^{λs}}|₀ = −E e^{λs} = −e^{λ²σ²/2}",
                 _E(sp.Subs(sp.Derivative(_G0, tau), tau, 0)), -_Mg)
FINITE_KEYS.step("small τ: g₂(0) = E λs e^{λs} = λ²σ² e^{λ²σ²/2}", _E(sp.Subs(_G2, tau, 0)), lam**2 * sigma**2 * _Mg)
FINITE_KEYS.step("E u = E e^{b + λs} = e^{b}g₁(0) = e^{b}e^{λ²σ²/2} (summed over keys: E Z)",
                 _E(sp.exp(b1) * sp.Subs(_G1, tau, 0)), sp.exp(b1) * _Mg)
FINITE_KEYS.step("small t: (e^{−t} − e^{−tZ})/t → Z − 1, so the ln Z integrand tends to E Z − 1",
                 sp.Limit((sp.exp(-t_) - sp.exp(-t_ * EZ)) / t_, t_, 0), EZ - 1)
FINITE_KEYS.step("tail below v₀: ∫_{−∞}^{v₀} K e^v dv = K e^{v₀} (K = E Z − 1 for ln Z, S(0) for Σu ln u/Z)",
                 sp.Integral(Kc * sp.exp(vr), (vr, -sp.oo, v0)), Kc * sp.exp(v0))
FINITE_KEYS.prediction("g0_integrand", _G0, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("g1_integrand", _G1, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("g2_integrand", _G2, [tau, zg, lam, sigma])
FINITE_KEYS.prediction("log_g0_small", -tau * _Mg, [tau, lam, sigma])   # ln g₀ ≈ τ g₀'(0) (checked)
FINITE_KEYS.prediction("psi_over_phi", sp.exp(b1) * (b1 * r1 + r2), [b1, r1, r2])   # r_i = g_i/g₀ at τ = te^{b}
FINITE_KEYS.prediction("psi_over_phi_small", sp.exp(b1) * (b1 + lam**2 * sigma**2) * _Mg, [b1, lam, sigma])
FINITE_KEYS.prediction("mean_weight", None, [b1, lam, sigma],
                       from_step="E u = E e^{b + λs} = e^{b}g₁(0) = e^{b}e^{λ²σ²/2} (summed over keys: E Z)")
FINITE_KEYS.prediction("lnZ_integrand_v", sp.exp(-t_) - Pt, [t_, Pt])                 # dt/t = dv
FINITE_KEYS.prediction("ulnu_integrand_v", t_ * Pt * St, [t_, Pt, St])                # dt = t dv
FINITE_KEYS.prediction("tail", None, [Kc, v0],
                       from_step="tail below v₀: ∫_{−∞}^{v₀} K e^v dv = K e^{v₀} (K = E Z − 1 for ln Z, S(0) for "
                                 "Σu ln u/Z)")
FINITE_KEYS.prediction("H", ElnZ - Eulnu_, [ElnZ, Eulnu_])

DERIVATIONS += [FINITE_KEYS]

# -- relu² weights with a bias row (relu2+t5) ------------------------------------------------
_zs = sp.Symbol("z", real=True)
_yq = sp.Symbol("y", positive=True)
_bb = sp.Symbol("b", real=True)
_phi1 = sp.exp(-_zs**2 / 2) / sp.sqrt(2 * sp.pi)
_Phi_b = (2 - sp.erfc(_bb / sp.sqrt(2))) / 2                                 # Φ(b) = 1 − erfc(b/√2)/2
_phi_b = sp.exp(-_bb**2 / 2) / sp.sqrt(2 * sp.pi)
EU_RELU2 = (1 + _bb**2) * _Phi_b + _bb * _phi_b                              # E relu(s + b)², s ~ N(0, 1)
EU2_RELU2 = (_bb**4 + 6 * _bb**2 + 3) * _Phi_b + (_bb**3 + 5 * _bb) * _phi_b  # E relu(s + b)⁴
_ULNU_Z = (_zs + _bb) ** 2 * sp.log((_zs + _bb) ** 2) * _phi1                # integrand in s, over s > −b
_ULNU_Y = _yq**2 * sp.log(_yq**2) * _phi1.subs(_zs, _yq - _bb)               # the same in y = s + b, over y > 0
SumEu, SumEulnu, SumVar, Cr, EuS, Eu2S, EulnuS = sp.symbols("SumEu SumEulnu SumVar C Eu Eu2 Eulnu", positive=True)
_uS = sp.Symbol("u", positive=True)
RELU2_BIASED = Derivation(
    "entropy-relu2-biased-mean-field",
    statement="relu² weights u_j = relu(s_j + b_j)², s ~ N(0, 1), over a bias row b have the mean-field entropy "
              "H = ln Σ_j E u_j − Σ_j E[u_j ln u_j]/Σ_j E u_j with E relu(s + b)² = (1 + b²)Φ(b) + bφ(b) and "
              "E[u ln u] = ∫₀^∞ y² ln y² φ(y − b) dy (1-D quadrature); the scale of its leading correction is "
              "half the relative variance of Z, Σ_j Var u_j/(2(Σ_j E u_j)²) with E relu(s + b)⁴ = "
              "(b⁴ + 6b² + 3)Φ(b) + (b³ + 5b)φ(b). A multiplier C_j > 0 scales u_j: E[Cu] = C E u, "
              "E[Cu ln Cu] = C E[u ln u] + C ln C E u, Var(Cu) = C² Var u. With b ≡ 0 it is relu2-entropy's "
              "ln n − (2 − γ).",
    assumptions=["s_j i.i.d. N(0, 1) (the probe's logits)", "mean field", "relu² is scale invariant, so the "
                 "normaliser's 1/n and any temperature drop out of |w|/Σ|w|"],
    source="derived (extends relu2-entropy to a bias row)",
)
RELU2_BIASED.step("E relu(s + b)² = (1 + b²)Φ(b) + bφ(b)",
                  sp.Integral((_zs + _bb) ** 2 * _phi1, (_zs, -_bb, sp.oo)), EU_RELU2)
RELU2_BIASED.step("E relu(s + b)⁴ = (b⁴ + 6b² + 3)Φ(b) + (b³ + 5b)φ(b)",
                  sp.Integral((_zs + _bb) ** 4 * _phi1, (_zs, -_bb, sp.oo)), EU2_RELU2)
RELU2_BIASED.step("E[u ln u] with y = s + b: the integrand (s + b)² ln (s + b)² φ(s) at s = y − b is y² ln y² φ(y − b)",
                  sp.Subs(_ULNU_Z, _zs, _yq - _bb), _ULNU_Y)
RELU2_BIASED.step("... and the lower limit s = −b maps to y = 0", sp.Subs(_zs + _bb, _zs, -_bb), 0)
RELU2_BIASED.step("b = 0: E u = ∫₀^∞ z² φ(z) dz = ½ (relu2-entropy)", sp.Subs(EU_RELU2, _bb, 0),
                  sp.Integral(_yq**2 * _phi1.subs(_zs, _yq), (_yq, 0, sp.oo)))
RELU2_BIASED.step("b ≡ 0, n keys: ln(n E u) − E[u ln u]/E u with relu2-entropy's E u = ½, E[u ln u] = "
                  "(2 − γ − ln 2)/2 is ln n − (2 − γ)",
                  sp.Subs(sp.log(n * EuS) - EulnuS / EuS, (EuS, EulnuS),
                          (sp.Rational(1, 2), (2 - sp.EulerGamma - sp.log(2)) / 2)),
                  sp.log(n) - (2 - sp.EulerGamma))
RELU2_BIASED.step("a multiplier C > 0: Cu ln(Cu) = C·u ln u + C ln C·u (so E[Cu ln Cu] = C E[u ln u] + C ln C E u)",
                  Cr * _uS * sp.log(Cr * _uS), Cr * _uS * sp.log(_uS) + Cr * sp.log(Cr) * _uS)
RELU2_BIASED.prediction("Eu", None, [_bb], from_step="E relu(s + b)² = (1 + b²)Φ(b) + bφ(b)")
RELU2_BIASED.prediction("Eu2", None, [_bb], from_step="E relu(s + b)⁴ = (b⁴ + 6b² + 3)Φ(b) + (b³ + 5b)φ(b)")
RELU2_BIASED.prediction("ulnu_integrand", _ULNU_Y, [_yq, _bb])
RELU2_BIASED.prediction("Eu_scaled", Cr * EuS, [Cr, EuS])
RELU2_BIASED.prediction("Eulnu_scaled", Cr * EulnuS + Cr * sp.log(Cr) * EuS, [Cr, EulnuS, EuS])
RELU2_BIASED.prediction("Var_scaled", Cr**2 * (Eu2S - EuS**2), [Cr, Eu2S, EuS])
RELU2_BIASED.prediction("H", sp.log(SumEu) - SumEulnu / SumEu, [SumEu, SumEulnu])
RELU2_BIASED.prediction("correction", SumVar / (2 * SumEu**2), [SumVar, SumEu])

DERIVATIONS += [RELU2_BIASED]
