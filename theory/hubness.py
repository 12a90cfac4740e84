"""Hubness: why a few points sit in very many k-nearest-neighbour lists.

Six derivations, each a :class:`~theory.derivation.Derivation` with checked steps:

``hubness-centrality``   E‖y − X‖² = ‖y − μ‖² + tr Σ: points near the mean are closer to
                         everyone (Su 2022, kexue.fm/archives/9147, eq. 2; Radovanović et al.
                         2010, §4).
``hubness-volume-ratio`` V_d / 2^d = π^{d/2} / (Γ(d/2 + 1) 2^d) and its Stirling form
                         (πe / 2d)^{d/2} / √(πd) (Su 2022, eq. 1).
``hubness-ranking-key``  For a query x the candidates y rank by ‖y‖² − 2⟨x, y⟩: a per-point term
                         plus a per-pair term with sd ratio w. i.i.d. coordinates of kurtosis κ:
                         w = √(κ − 1)/2 for every d; in general w² = Var‖y − ȳ‖² / (4 tr Σ²).
``hubness-limit-law``    d → ∞ at fixed n: N_k | a ~ Bin(m, p(a)), p(a) = Φ(√(1+w²) Φ⁻¹(q) − w a),
                         a ~ N(0, 1), q = k/m. Moments, antihub fraction and Robin Hood index
                         are 1-D integrals over a (integrands below; the probe integrates them).
``hubness-null-model``   w = 0: N_k ~ Bin(m, q); skewness (1 − 2q)/√(m q (1 − q)) → 1/√k, antihub
                         (1 − q)^m → e^{−k}; the probe's skewness verdict threshold is twice the
                         null skewness (→ 2/√k).
``hubness-query-key``    Queries q_i = μ_q + z_i ranking keys by ⟨q_i, k_j⟩: the same law with
                         w² = μ_qᵀ Σ_k μ_q / tr(Σ_q Σ_k) (= ‖μ_q‖²/(σ_z² d) when isotropic);
                         translating all keys changes no ranking; centred queries give w = 0.

Derived for attnprobe from the sources above (see ``shared/notes/hubness.md``); the
limit law is an asymptote (d → ∞ at fixed n). For Euclidean data with n ≫ d it is an
upper bound approached slowly, for query→key ranking it is close at realistic d.

``w`` is a population parameter (of the distribution the points are drawn from). The
probe's ``w_plug_in_for_this_draw`` puts the same formula on the moments of the very
draw it measures: a plug-in estimate, not a prediction.

Every step keeps its sides unevaluated (``sp.Subs``, ``sp.Derivative``, ``sp.Integral``/
``Quadrature``, ``sp.Limit``, ``sp.Sum``, an unevaluated expectation) until ``check()``;
importing this module does no symbolic work.
"""
from __future__ import annotations

import sympy as sp

from theory._unevaluated import Quadrature, binomial_as_loggamma, expect_polynomial, expectation
from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "CENTRALITY", "VOLUME_RATIO", "RANKING_KEY", "LIMIT_LAW", "NULL_MODEL",
           "QUERY_KEY", "expect_polynomial", "HUB_SKEW_FACTOR"]


def _phi(x):
    """Standard normal density."""
    return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _Phi(x):
    """Standard normal distribution function."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def _Phi_inv(x):
    """Standard normal quantile function."""
    return sp.sqrt(2) * sp.erfinv(2 * x - 1)


def _moments(table: dict):
    """j -> E[X^j] from a table, unknown orders as symbols M_j."""
    return lambda j: table.get(j, sp.Symbol(f"M{j}"))


# -- shared symbols ----------------------------------------------------------------
a = sp.Symbol("a", real=True)              # per-point latent, a ~ N(0, 1)
t = sp.Symbol("t", real=True)              # top-k threshold on the standardised score
w = sp.Symbol("w", nonnegative=True)       # per-point / per-pair sd ratio
q = sp.Symbol("q", positive=True)          # k / m
m = sp.Symbol("m", positive=True)          # number of rankings a point can appear in
k = sp.Symbol("k", positive=True, integer=True)
p = sp.Symbol("p", positive=True)
d = sp.Symbol("d", positive=True, integer=True)
kappa = sp.Symbol("kappa", positive=True)  # coordinate kurtosis E y⁴ / (E y²)²
sigma = sp.Symbol("sigma", positive=True)

# ==================================================================================
# (a) centrality: E‖y − X‖² = ‖y − μ‖² + tr Σ
# ==================================================================================
CENTRALITY = Derivation(
    "hubness-centrality",
    statement="E‖y − X‖² = ‖y − μ‖² + tr Σ: the mean is the point closest to everyone on average, "
              "and a point's mean squared distance to the data grows with its distance to the mean.",
    assumptions=["X has mean μ and covariance Σ (any distribution with second moments)",
                 "coordinates handled one at a time; the identity sums over coordinates"],
    source="Su 2022, kexue.fm/archives/9147, eq. 2; Radovanović et al. 2010 (JMLR 11), §4",
)
_y1, _y2, _mu1, _mu2, _s1, _s2 = sp.symbols("y1 y2 mu1 mu2 s1 s2", real=True)
_z1, _z2 = sp.symbols("z1 z2", real=True)   # standardised coordinates: E z = 0, E z² = 1
_Estd = expectation({_z1: _moments({1: 0, 2: 1}), _z2: _moments({1: 0, 2: 1})})
# X = μ + diag(s) z in two coordinates (covariance diagonal; a rotation reduces any Σ to this)
_sq = (_y1 - _mu1 - _s1 * _z1) ** 2 + (_y2 - _mu2 - _s2 * _z2) ** 2
CENTRALITY.step("E‖y − X‖² = ‖y − μ‖² + tr Σ (two coordinates, Σ = diag(s²))",
                _Estd(_sq), (_y1 - _mu1) ** 2 + (_y2 - _mu2) ** 2 + _s1**2 + _s2**2)
_c1 = sp.Symbol("c1", real=True)
CENTRALITY.step("the mean minimises it: d/dc E(c − X)² = 0 at c = μ",
                sp.Subs(sp.Derivative(_Estd((_c1 - _mu1 - _s1 * _z1) ** 2), _c1), _c1, _mu1), 0)
_r2, _tr = sp.symbols("r2 trace_sigma", nonnegative=True)
CENTRALITY.prediction("mean_sq_distance", _r2 + _tr, [_r2, _tr])

# ==================================================================================
# (Su eq. 1) unit ball / enclosing cube volume ratio
# ==================================================================================
VOLUME_RATIO = Derivation(
    "hubness-volume-ratio",
    statement="The unit ball fills V_d/2^d = π^{d/2}/(Γ(d/2+1)·2^d) of its enclosing cube, which "
              "collapses faster than exponentially: ≈ (πe/2d)^{d/2}/√(πd) (Stirling).",
    assumptions=["d ≥ 1"],
    source="Su 2022, kexue.fm/archives/9147, eq. 1",
)
_x = sp.Symbol("x", positive=True)
_V = sp.pi ** (d / 2) / sp.gamma(d / 2 + 1)
_ratio = _V / 2**d
_stirling = (sp.pi * sp.E / (2 * d)) ** (d / 2) / sp.sqrt(sp.pi * d)
VOLUME_RATIO.step("V_2 = π (disc)", sp.Subs(_V, d, 2), sp.pi)
VOLUME_RATIO.step("V_3 = 4π/3 (ball)", sp.Subs(_V, d, 3), 4 * sp.pi / 3)
VOLUME_RATIO.step("recursion V_{d+2} = 2π V_d/(d+2)", sp.Subs(_V, d, d + 2) / _V, 2 * sp.pi / (d + 2))
VOLUME_RATIO.step("Stirling: log Γ(x+1) − (x log x − x + ½ log 2πx) → 0",
                  sp.Limit(sp.loggamma(_x + 1) - (_x * sp.log(_x) - _x + sp.log(2 * sp.pi * _x) / 2), _x, sp.oo), 0)
# substituting Γ(d/2+1) ≈ √(πd)(d/2e)^{d/2} into the ratio gives the Stirling form exactly
_gamma_stirling = sp.sqrt(sp.pi * d) * (d / (2 * sp.E)) ** (d / 2)
VOLUME_RATIO.step("ratio with Stirling's Γ = (πe/2d)^{d/2}/√(πd)",
                  sp.pi ** (d / 2) / (_gamma_stirling * 2**d), _stirling, how="equals")
_factor = sp.pi / (2 * (d + 2))
VOLUME_RATIO.step("two dimensions on, the ratio is multiplied by π/(2(d+2))", sp.Subs(_ratio, d, d + 2) / _ratio,
                  _factor)
VOLUME_RATIO.step("that factor is largest at d = 1, where it is π/6 < 1",
                  sp.StrictLessThan(sp.Subs(_factor, d, 1), 1, evaluate=False), how="true")
VOLUME_RATIO.step("and it decreases in d, so the ratio falls ever faster",
                  sp.StrictLessThan(sp.Derivative(_factor, d), 0, evaluate=False), how="true")
_dr = sp.Symbol("d", positive=True)  # real-valued d for the numeric predictions (keeps loggamma intact)
VOLUME_RATIO.prediction("log_volume_ratio", (_dr / 2) * sp.log(sp.pi) - sp.loggamma(_dr / 2 + 1) - _dr * sp.log(2), [_dr])
VOLUME_RATIO.prediction("log_volume_ratio_stirling",
                        lambda: sp.expand_log(sp.log(_stirling.xreplace({d: _dr})), force=True), [_dr])

# ==================================================================================
# (b) the ranking key: per-point vs per-pair term
# ==================================================================================
RANKING_KEY = Derivation(
    "hubness-ranking-key",
    statement="For a query x, neighbours y rank by ‖y‖² − 2⟨x, y⟩ (centred data): a per-point term "
              "(sd σ²√(d(κ−1))) plus an uncorrelated per-pair term (sd 2σ²√d), so their ratio "
              "w = √(κ−1)/2 does not fade with d; in general w² = Var‖y−ȳ‖² / (4 tr Σ²).",
    assumptions=["coordinates i.i.d., mean 0 (distances are translation invariant), variance σ², "
                 "kurtosis κ, symmetric (third moment 0)", "x and y independent draws"],
    source="derived for attnprobe (shared/notes/hubness.md (b)); mechanism of Radovanović et al. 2010, §4",
)
_X, _Y = sp.symbols("X Y", real=True)     # one coordinate of query and candidate
_coord = _moments({1: 0, 2: sigma**2, 3: 0, 4: kappa * sigma**4})
_Eiid = expectation({_X: _coord, _Y: _coord})
_var_point = _Eiid(_Y**4) - _Eiid(_Y**2) ** 2
_var_pair = _Eiid((2 * _X * _Y) ** 2) - _Eiid(2 * _X * _Y) ** 2
RANKING_KEY.step("‖x − y‖² = ‖x‖² + (‖y‖² − 2⟨x,y⟩): ‖x‖² is common to a query's ranking",
                 (_X - _Y) ** 2, _X**2 + (_Y**2 - 2 * _X * _Y))
RANKING_KEY.step("per-point variance per coordinate Var(y²) = σ⁴(κ − 1)", _var_point, sigma**4 * (kappa - 1))
RANKING_KEY.step("per-pair variance per coordinate Var(2xy) = 4σ⁴", _var_pair, 4 * sigma**4)
RANKING_KEY.step("the two terms are uncorrelated: Cov(y², 2xy) = 0",
                 _Eiid(_Y**2 * 2 * _X * _Y) - _Eiid(_Y**2) * _Eiid(2 * _X * _Y), 0)
RANKING_KEY.step("w = sd(per-point)/sd(per-pair) = √(κ−1)/2, the same for every d",
                 sp.sqrt(d * _var_point) / sp.sqrt(d * _var_pair), sp.sqrt(kappa - 1) / 2)


_xr = sp.Symbol("x", real=True)
_ir = sp.Symbol("i", integer=True, nonnegative=True)


def _kurtosis(moment):
    """E X⁴ / (E X²)² from ``moment(j)`` = E X^j (an unevaluated sum or integral)."""
    return moment(4) / moment(2) ** 2


def _rademacher(j):   # X = 2i − 1, i ∈ {0, 1} with probability 1/2 each
    return sp.Sum((2 * _ir - 1) ** j / 2, (_ir, 0, 1))


def _uniform(j):      # X ~ U(−1, 1), density 1/2
    return sp.Integral(_xr**j / 2, (_xr, -1, 1))


def _normal(j):       # X ~ N(0, 1)
    return sp.Integral(_xr**j * _phi(_xr), (_xr, -sp.oo, sp.oo))


def _laplace(j):      # X ~ Laplace(0, 1), density e^{−|x|}/2; even j: twice the half-line integral
    return sp.Integral(_xr**j * sp.exp(-_xr), (_xr, 0, sp.oo))


RANKING_KEY.step("Rademacher κ = 1 (w = 0: constant norm, no hubness)", _kurtosis(_rademacher), 1)
RANKING_KEY.step("uniform κ = 9/5", _kurtosis(_uniform), sp.Rational(9, 5))
RANKING_KEY.step("normal κ = 3", _kurtosis(_normal), 3)
RANKING_KEY.step("Laplace κ = 6", _kurtosis(_laplace), 6)
_vn, _trs2 = sp.symbols("var_sqnorm trace_sigma_sq", positive=True)
RANKING_KEY.step("the general form Var‖y‖²/(4 tr Σ²) reduces to (κ−1)/4 for i.i.d. coordinates",
                 sp.Subs(_vn / (4 * _trs2), (_vn, _trs2), (d * sigma**4 * (kappa - 1), d * sigma**4)), (kappa - 1) / 4)
RANKING_KEY.prediction("w_from_kurtosis", None, [kappa],
                       from_step="w = sd(per-point)/sd(per-pair) = √(κ−1)/2, the same for every d")
RANKING_KEY.prediction("w_from_moments", sp.sqrt(_vn / (4 * _trs2)), [_vn, _trs2])

# ==================================================================================
# (c) the d → ∞ limit law
# ==================================================================================
LIMIT_LAW = Derivation(
    "hubness-limit-law",
    statement="As d → ∞ at fixed n the standardised ranking scores become w·a_j + e_ij with "
              "a, e i.i.d. N(0, 1); a point with latent a is in a ranking's top k with probability "
              "p(a) = Φ(√(1+w²)Φ⁻¹(q) − w a), so N_k | a ~ Bin(m, p(a)) and E p = q.",
    assumptions=["d → ∞ at fixed n (central limit theorem on the ranking key)",
                 "threshold t = the q-quantile of w a + e ~ N(0, 1 + w²) (m large)",
                 "rankings independent given the latents"],
    source="derived for attnprobe (shared/notes/hubness.md (c)); the skew it predicts is the one "
           "Radovanović et al. 2010 observe, Fig. 1",
)
_s = sp.sqrt(1 + w**2)
_sv, _bv = sp.Symbol("s", positive=True), sp.Symbol("b", real=True)
LIMIT_LAW.step("completing the square: log φ(t − w a) + log φ(a) = log φ(t/√(1+w²)) "
               "+ log φ(√(1+w²) a − w t/√(1+w²))",
               -(t - w * a) ** 2 / 2 - a**2 / 2, -(t / _s) ** 2 / 2 - (_s * a - w * t / _s) ** 2 / 2)
LIMIT_LAW.step("∫ φ(s a − b) da = 1/s", sp.Integral(_phi(_sv * a - _bv), (a, -sp.oo, sp.oo)), 1 / _sv)
_points = ({t: sp.Rational(3, 10), w: sp.Rational(7, 10)}, {t: sp.Rational(-6, 5), w: sp.Integer(2)},
           {t: sp.Rational(5, 2), w: sp.Rational(1, 10)})
LIMIT_LAW.numeric_step("so E_a φ(t − w a) = φ(t/√(1+w²))/√(1+w²) (mpmath quadrature at 3 points)",
                       Quadrature(_phi(t - w * a) * _phi(a), (a, -sp.oo, sp.oo)), _phi(t / _s) / _s,
                       at=_points, tol=1e-25)
LIMIT_LAW.step("d/dt Φ(t/√(1+w²)) = φ(t/√(1+w²))/√(1+w²): the same t-derivative",
               sp.Derivative(_Phi(t / _s), t), _phi(t / _s) / _s)
LIMIT_LAW.numeric_step("so E_a Φ(t − w a) = Φ(t/√(1+w²)) (both → 0 as t → −∞; mpmath quadrature at 3 "
                       "points)",
                       Quadrature(_Phi(t - w * a) * _phi(a), (a, -sp.oo, sp.oo)), _Phi(t / _s),
                       at=_points, tol=1e-25)
_p_a = _Phi(_s * _Phi_inv(q) - w * a)
LIMIT_LAW.step("with t = √(1+w²)Φ⁻¹(q): E p = Φ(Φ⁻¹(q)) = q", sp.Subs(_Phi(t / _s), t, _s * _Phi_inv(q)), q)
_N = sp.Symbol("N")
LIMIT_LAW.step("N² = N(N−1) + N (factorial moments)", _N**2, _N * (_N - 1) + _N)
LIMIT_LAW.step("N³ = N(N−1)(N−2) + 3N(N−1) + N", _N**3, _N * (_N - 1) * (_N - 2) + 3 * _N * (_N - 1) + _N)
# Binomial factorial moments E[N(N-1)...(N-j+1)] = m(m-1)...(m-j+1) p^j, checked at m = 7
_jj = sp.Symbol("jj", integer=True, nonnegative=True)
_pmf7 = sp.binomial(7, _jj) * p**_jj * (1 - p) ** (7 - _jj)
for _o, _ff in ((1, _jj), (2, _jj * (_jj - 1)), (3, _jj * (_jj - 1) * (_jj - 2))):
    LIMIT_LAW.step(f"Binomial factorial moment of order {_o} = m^(falling {_o}) p^{_o} (m = 7)",
                   sp.Sum(_ff * _pmf7, (_jj, 0, 7)), sp.ff(7, _o) * p**_o)
_P1, _P2, _P3 = sp.symbols("P1 P2 P3", positive=True)   # P_j = E_a p(a)^j
_EN = m * _P1
_EN2 = m * _P1 + m * (m - 1) * _P2
_EN3 = m * _P1 + 3 * m * (m - 1) * _P2 + m * (m - 1) * (m - 2) * _P3
_skew = (_EN3 - 3 * _EN * _EN2 + 2 * _EN**3) / (_EN2 - _EN**2) ** sp.Rational(3, 2)
_mu, _e2, _e3 = sp.symbols("mu e2 e3", real=True)
_EN_raw = expectation({_N: _moments({1: _mu, 2: _e2, 3: _e3})})
LIMIT_LAW.step("skewness from raw moments: E(N−μ)³ = EN³ − 3μEN² + 2μ³", _EN_raw((_N - _mu) ** 3),
               _e3 - 3 * _mu * _e2 + 2 * _mu**3)
LIMIT_LAW.prediction("p", _p_a, [a, w, q])
for _o in (1, 2, 3):
    LIMIT_LAW.prediction(f"moment_integrand_{_o}", _phi(a) * _p_a**_o, [a, w, q])
LIMIT_LAW.prediction("antihub_integrand", _phi(a) * (1 - _p_a) ** m, [a, w, q, m])
# E|N − c| = E(N − c) + 2 E(c − N)⁺, the second a finite sum over N ≤ ⌊c⌋ (c = N̄, the mean occurrence;
# an integer k in self mode, k·n_q/n_k query→key)
_j = sp.Symbol("j", integer=True, nonnegative=True)
_cc = sp.Symbol("c", positive=True)                   # the centre N̄
_kk = sp.Symbol("kk", nonnegative=True, integer=True)  # ⌊c⌋
_mad_given_p = m * p - _cc + 2 * sp.Sum((_cc - _j) * sp.binomial(m, _j) * p**_j * (1 - p) ** (m - _j), (_j, 0, _kk))
for _cv, _kv in ((sp.Rational(5, 2), 2), (sp.Integer(3), 3)):
    LIMIT_LAW.step(f"E|N − c| = E(N − c) + 2E(c − N)⁺ for N ~ Bin(7, p), c = {_cv}",
                   sp.Sum(sp.Abs(_jj - _cv) * _pmf7, (_jj, 0, 7)), _mad_given_p.xreplace({m: 7, _cc: _cv, _kk: _kv}))
LIMIT_LAW.numeric_step("binomial(m, j) = exp(lgamma(m+1) − lgamma(j+1) − lgamma(m−j+1)) (the form the "
                       "predictions are evaluated in, stable at large m)",
                       sp.binomial(m, _j), lambda: binomial_as_loggamma(sp.binomial(m, _j)),
                       at=({m: 7, _j: 3}, {m: 999, _j: 10}, {m: 20, _j: 0}), tol=1e-20)


LIMIT_LAW.prediction("abs_dev_given_p", lambda: binomial_as_loggamma(_mad_given_p), [p, m, _cc, _kk])
LIMIT_LAW.prediction("robinhood_integrand",
                     lambda: binomial_as_loggamma(_phi(a) * _mad_given_p.xreplace({p: _p_a}) / (2 * _cc)),
                     [a, w, q, m, _cc, _kk])
LIMIT_LAW.prediction("skewness_from_moments", _skew, [m, _P1, _P2, _P3])

# ==================================================================================
# (d) the null model w = 0
# ==================================================================================
HUB_SKEW_FACTOR = sp.Integer(2)  # the probe's decision margin: "hubness" once S exceeds twice the null's S
NULL_MODEL = Derivation(
    "hubness-null-model",
    statement="With w = 0 every point has p = q: N_k ~ Bin(m, q), skewness (1−2q)/√(m q (1−q)) "
              "(→ 1/√k for small q) and antihub fraction (1 − q)^m (→ e^{−k}). The probe's skewness "
              "verdict threshold is twice the null skewness, 2(1−2q)/√(m q (1−q)) → 2/√k: 1/√k is the null's "
              "own skewness (a null draw scatters around it, so it cannot be a threshold), 2/√k a margin above it.",
    assumptions=["w = 0 (constant norms: Rademacher coordinates, cosine on Gaussian data, "
                 "centred queries)"],
    source="derived for attnprobe (shared/notes/hubness.md (d)); Low et al. 2013 read hubness as a "
           "density gradient, which w = 0 removes",
)
_binom_skew = (1 - 2 * q) / sp.sqrt(m * q * (1 - q))
NULL_MODEL.step("w = 0 makes p(a) = q for every a", sp.Subs(_p_a, w, 0), q)
NULL_MODEL.step("the mixed skewness at P_j = q^j is the Binomial one (1−2q)/√(m q(1−q))",
                sp.Subs(_skew, (_P1, _P2, _P3), (q, q**2, q**3)), _binom_skew, how="equals")
NULL_MODEL.step("for q = k/m → 0 the skewness tends to 1/√k",
                sp.Limit(_binom_skew.xreplace({q: k / m}), m, sp.oo), 1 / sp.sqrt(k))
NULL_MODEL.step("the antihub fraction (1 − k/m)^m tends to e^{−k}", sp.Limit((1 - k / m) ** m, m, sp.oo), sp.exp(-k))
NULL_MODEL.step("the verdict threshold (twice the null skewness) tends to 2/√k",
                sp.Limit((HUB_SKEW_FACTOR * _binom_skew).xreplace({q: k / m}), m, sp.oo), 2 / sp.sqrt(k))
NULL_MODEL.prediction("skewness", None, [m, q],
                      from_step="the mixed skewness at P_j = q^j is the Binomial one (1−2q)/√(m q(1−q))")
NULL_MODEL.prediction("antihub", (1 - q) ** m, [m, q])
NULL_MODEL.prediction("skewness_hub_threshold", HUB_SKEW_FACTOR * _binom_skew, [m, q])

# ==================================================================================
# attention: queries ranking keys
# ==================================================================================
QUERY_KEY = Derivation(
    "hubness-query-key",
    statement="Queries q_i = μ_q + z_i rank keys by ⟨q_i, k_j⟩ = ⟨μ_q, k_j⟩ + ⟨z_i, k_j⟩: a per-key "
              "offset plus per-pair noise, the limit law with w² = μ_qᵀΣ_kμ_q / tr(Σ_qΣ_k) "
              "(= ‖μ_q‖²/(σ_z² d) when isotropic). Adding one vector to every key changes no ranking; "
              "centred queries (μ_q = 0) give w = 0, the null.",
    assumptions=["z_i i.i.d. with mean 0, covariance Σ_q; keys with covariance Σ_k, independent of z",
                 "d → ∞ for the limit law (exact invariance needs nothing)"],
    source="derived for attnprobe (shared/notes/hubness.md, Attention)",
)
_muv = sp.Matrix(sp.symbols("mu1:4", real=True))
_zv = sp.Matrix(sp.symbols("zq1:4", real=True))
_kv = sp.Matrix(sp.symbols("u1:4", real=True))
_kv2 = sp.Matrix(sp.symbols("v1:4", real=True))
_cv3 = sp.Matrix(sp.symbols("c1:4", real=True))
_sz, _sk = sp.symbols("sigma_z sigma_k", positive=True)
_qk_mom = {}
for _sym in list(_zv):
    _qk_mom[_sym] = _moments({1: 0, 2: _sz**2})
for _sym in list(_kv):
    _qk_mom[_sym] = _moments({1: 0, 2: _sk**2})
_Eqk = expectation(_qk_mom)
_qv = _muv + _zv
QUERY_KEY.step("⟨q, k⟩ = ⟨μ_q, k⟩ + ⟨z, k⟩ (d = 3)", _qv.dot(_kv), _muv.dot(_kv) + _zv.dot(_kv))
QUERY_KEY.step("per-key offset variance Var⟨μ_q, k⟩ = σ_k²‖μ_q‖² (isotropic keys, d = 3)",
               _Eqk(_muv.dot(_kv) ** 2), _sk**2 * _muv.dot(_muv))
QUERY_KEY.step("per-pair variance Var⟨z, k⟩ = d σ_z² σ_k² (d = 3)", _Eqk(_zv.dot(_kv) ** 2), 3 * _sz**2 * _sk**2)
QUERY_KEY.step("offset and noise are uncorrelated: E⟨μ_q,k⟩⟨z,k⟩ = 0", _Eqk(_muv.dot(_kv) * _zv.dot(_kv)), 0)
_ku, _kw = list(_kv), list(_kv2)
QUERY_KEY.step("translating every key by c shifts a query's logits by one constant: logit differences unchanged",
               sp.Subs(_qv.dot(_kv) - _qv.dot(_kv2), (*_ku, *_kw),
                       (*(_kv + _cv3), *(_kv2 + _cv3))), _qv.dot(_kv) - _qv.dot(_kv2))
_mu_norm = sp.Symbol("mu_norm", nonnegative=True)
_off, _pair = sp.symbols("offset_var pair_var", positive=True)
_w_qk = sp.Subs(sp.sqrt(_off / _pair), (_off, _pair), (_sk**2 * _mu_norm**2, d * _sz**2 * _sk**2))
QUERY_KEY.step("w = √(offset variance / pair variance) = ‖μ_q‖/(σ_z √d): the key scale cancels", _w_qk,
               _mu_norm / (_sz * sp.sqrt(d)))
QUERY_KEY.step("centred queries (μ_q = 0) give w = 0: the null model", sp.Subs(_w_qk, _mu_norm, 0), 0)
_offv, _trqk = sp.symbols("offset_var trace_sq_sk", nonnegative=True)
QUERY_KEY.prediction("w_isotropic", None, [_mu_norm, _sz, d],
                     from_step="w = √(offset variance / pair variance) = ‖μ_q‖/(σ_z √d): the key scale "
                               "cancels")
QUERY_KEY.prediction("w_from_moments", sp.sqrt(_offv / _trqk), [_offv, _trqk])

DERIVATIONS = [CENTRALITY, VOLUME_RATIO, RANKING_KEY, LIMIT_LAW, NULL_MODEL, QUERY_KEY]
