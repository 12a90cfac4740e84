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
                         are 1-D integrals over a (integrands below; integrate with scipy).
``hubness-null-model``   w = 0: N_k ~ Bin(m, q); skewness (1 − 2q)/√(m q (1 − q)), antihub (1 − q)^m.
``hubness-query-key``    Queries q_i = μ_q + z_i ranking keys by ⟨q_i, k_j⟩: the same law with
                         w² = μ_qᵀ Σ_k μ_q / tr(Σ_q Σ_k) (= ‖μ_q‖²/(σ_z² d) when isotropic);
                         translating all keys changes no ranking; centred queries give w = 0.

Derived for attnprobe from the sources above (see ``shared/notes/hubness.md``); the
limit law is an asymptote (d → ∞ at fixed n). For Euclidean data with n ≫ d it is an
upper bound approached slowly, for query→key ranking it is close at realistic d.
"""
from __future__ import annotations

import sympy as sp
from sympy.stats import E as _E
from sympy.stats import FiniteRV, Laplace, Normal, Uniform

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "CENTRALITY", "VOLUME_RATIO", "RANKING_KEY", "LIMIT_LAW", "NULL_MODEL",
           "QUERY_KEY", "expect_polynomial"]


def expect_polynomial(expr, moments: dict) -> sp.Expr:
    """E[expr] for a polynomial in independent random symbols with the given raw moments.

    ``moments`` maps each random symbol to a function ``j -> E[symbol**j]``; symbols not in
    it are constants. Used to check variance and cross-moment steps symbolically.
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


def _phi(x):
    """Standard normal density."""
    return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _Phi(x):
    """Standard normal distribution function."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def _Phi_inv(x):
    """Standard normal quantile function."""
    return sp.sqrt(2) * sp.erfinv(2 * x - 1)


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
_std = {_z1: lambda j: {1: 0, 2: 1}.get(j, sp.Symbol(f"M{j}_1")),
        _z2: lambda j: {1: 0, 2: 1}.get(j, sp.Symbol(f"M{j}_2"))}
# X = μ + diag(s) z in two coordinates (covariance diagonal; a rotation reduces any Σ to this)
_sq = (_y1 - _mu1 - _s1 * _z1) ** 2 + (_y2 - _mu2 - _s2 * _z2) ** 2
CENTRALITY.step("E‖y − X‖² = ‖y − μ‖² + tr Σ (two coordinates, Σ = diag(s²))",
                expect_polynomial(_sq, _std), (_y1 - _mu1) ** 2 + (_y2 - _mu2) ** 2 + _s1**2 + _s2**2)
_c1 = sp.Symbol("c1", real=True)
CENTRALITY.step("the mean minimises it: d/dc E(c − X)² = 0 at c = μ",
                sp.diff(expect_polynomial((_c1 - _mu1 - _s1 * _z1) ** 2, _std), _c1).subs(_c1, _mu1), 0)
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
VOLUME_RATIO.step("V_2 = π (disc)", _V.subs(d, 2), sp.pi)
VOLUME_RATIO.step("V_3 = 4π/3 (ball)", _V.subs(d, 3), 4 * sp.pi / 3)
VOLUME_RATIO.step("recursion V_{d+2} = 2π V_d/(d+2)", sp.gammasimp(_V.subs(d, d + 2) / _V), 2 * sp.pi / (d + 2))
VOLUME_RATIO.step("Stirling: log Γ(x+1) − (x log x − x + ½ log 2πx) → 0",
                  sp.limit(sp.loggamma(_x + 1) - (_x * sp.log(_x) - _x + sp.log(2 * sp.pi * _x) / 2), _x, sp.oo), 0)
# substituting Γ(d/2+1) ≈ √(πd)(d/2e)^{d/2} into the ratio gives the Stirling form exactly
_gamma_stirling = sp.sqrt(sp.pi * d) * (d / (2 * sp.E)) ** (d / 2)
VOLUME_RATIO.step("ratio with Stirling's Γ = (πe/2d)^{d/2}/√(πd)",
                  sp.powsimp(sp.expand_power_base(sp.pi ** (d / 2) / (_gamma_stirling * 2**d), force=True), force=True),
                  _stirling, how="equals")
VOLUME_RATIO.step("two dimensions on, the ratio is multiplied by π/(2(d+2))",
                  sp.gammasimp(_ratio.subs(d, d + 2) / _ratio), sp.pi / (2 * (d + 2)))
VOLUME_RATIO.step("that factor is largest at d = 1, where it is π/6 < 1", sp.Lt(sp.pi / 6, 1))
VOLUME_RATIO.step("and it decreases in d, so the ratio falls ever faster",
                  sp.sympify(bool(sp.diff(sp.pi / (2 * (d + 2)), d).is_negative)))
_dr = sp.Symbol("d", positive=True)  # real-valued d for the numeric predictions (keeps loggamma intact)
VOLUME_RATIO.prediction("log_volume_ratio", (_dr / 2) * sp.log(sp.pi) - sp.loggamma(_dr / 2 + 1) - _dr * sp.log(2), [_dr])
VOLUME_RATIO.prediction("log_volume_ratio_stirling",
                        sp.expand_log(sp.log(_stirling.subs(d, _dr)), force=True), [_dr])

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
_iid = {_X: lambda j: {1: 0, 2: sigma**2, 3: 0, 4: kappa * sigma**4}[j],
        _Y: lambda j: {1: 0, 2: sigma**2, 3: 0, 4: kappa * sigma**4}[j]}
_var_point = expect_polynomial(_Y**4, _iid) - expect_polynomial(_Y**2, _iid) ** 2
_var_pair = expect_polynomial((2 * _X * _Y) ** 2, _iid) - expect_polynomial(2 * _X * _Y, _iid) ** 2
_cov = expect_polynomial(_Y**2 * 2 * _X * _Y, _iid) - expect_polynomial(_Y**2, _iid) * expect_polynomial(2 * _X * _Y, _iid)
RANKING_KEY.step("‖x − y‖² = ‖x‖² + (‖y‖² − 2⟨x,y⟩): ‖x‖² is common to a query's ranking",
                 (_X - _Y) ** 2, _X**2 + (_Y**2 - 2 * _X * _Y))
RANKING_KEY.step("per-point variance per coordinate Var(y²) = σ⁴(κ − 1)", _var_point, sigma**4 * (kappa - 1))
RANKING_KEY.step("per-pair variance per coordinate Var(2xy) = 4σ⁴", _var_pair, 4 * sigma**4)
RANKING_KEY.step("the two terms are uncorrelated: Cov(y², 2xy) = 0", _cov, 0)
_w_iid = sp.sqrt(d * _var_point) / sp.sqrt(d * _var_pair)
RANKING_KEY.step("w = sd(per-point)/sd(per-pair) = √(κ−1)/2, the same for every d", _w_iid, sp.sqrt(kappa - 1) / 2)
_kurt = lambda X: sp.simplify(_E(X**4) / _E(X**2) ** 2)  # noqa: E731
RANKING_KEY.step("Rademacher κ = 1 (w = 0: constant norm, no hubness)",
                 _kurt(FiniteRV("R", {-1: sp.Rational(1, 2), 1: sp.Rational(1, 2)})), 1)
RANKING_KEY.step("uniform κ = 9/5", _kurt(Uniform("U", -1, 1)), sp.Rational(9, 5))
RANKING_KEY.step("normal κ = 3", _kurt(Normal("G", 0, 1)), 3)
RANKING_KEY.step("Laplace κ = 6", _kurt(Laplace("L", 0, 1)), 6)
_vn, _trs2 = sp.symbols("var_sqnorm trace_sigma_sq", positive=True)
RANKING_KEY.step("the general form Var‖y‖²/(4 tr Σ²) reduces to (κ−1)/4 for i.i.d. coordinates",
                 (_vn / (4 * _trs2)).subs({_vn: d * sigma**4 * (kappa - 1), _trs2: d * sigma**4}), (kappa - 1) / 4)
RANKING_KEY.prediction("w_from_kurtosis", sp.sqrt(kappa - 1) / 2, [kappa])
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
_lhs_density = sp.integrate(_phi(t - w * a) * _phi(a), (a, -sp.oo, sp.oo))
LIMIT_LAW.step("d/dt E_a Φ(t − w a) = E_a φ(t − w a) = φ(t/√(1+w²))/√(1+w²)",
               sp.simplify(_lhs_density.rewrite(sp.erf)), _phi(t / _s) / _s)
LIMIT_LAW.step("so E_a Φ(t − w a) = Φ(t/√(1+w²)) (both → 0 as t → −∞): their t-derivatives agree",
               sp.diff(_Phi(t / _s), t), _phi(t / _s) / _s)
_p_a = _Phi(_s * _Phi_inv(q) - w * a)
LIMIT_LAW.step("with t = √(1+w²)Φ⁻¹(q): E p = Φ(Φ⁻¹(q)) = q", _Phi((_s * _Phi_inv(q)) / _s), q)
_N = sp.Symbol("N")
LIMIT_LAW.step("N² = N(N−1) + N (factorial moments)", _N**2, _N * (_N - 1) + _N)
LIMIT_LAW.step("N³ = N(N−1)(N−2) + 3N(N−1) + N", _N**3, _N * (_N - 1) * (_N - 2) + 3 * _N * (_N - 1) + _N)
# Binomial factorial moments E[N(N-1)...(N-j+1)] = m(m-1)...(m-j+1) p^j, checked at m = 7
_pmf7 = lambda j: sp.binomial(7, j) * p**j * (1 - p) ** (7 - j)  # noqa: E731
for _j, _ff in ((1, _N), (2, _N * (_N - 1)), (3, _N * (_N - 1) * (_N - 2))):
    LIMIT_LAW.step(f"Binomial factorial moment of order {_j} = m^(falling {_j}) p^{_j} (m = 7)",
                   sum(_ff.subs(_N, jj) * _pmf7(jj) for jj in range(8)), sp.ff(7, _j) * p**_j)
_P1, _P2, _P3 = sp.symbols("P1 P2 P3", positive=True)   # P_j = E_a p(a)^j
_EN = m * _P1
_EN2 = m * _P1 + m * (m - 1) * _P2
_EN3 = m * _P1 + 3 * m * (m - 1) * _P2 + m * (m - 1) * (m - 2) * _P3
_skew = (_EN3 - 3 * _EN * _EN2 + 2 * _EN**3) / (_EN2 - _EN**2) ** sp.Rational(3, 2)
LIMIT_LAW.step("skewness from raw moments: E(N−μ)³ = EN³ − 3μEN² + 2μ³",
               sp.expand((_N - _EN) ** 3 - (_N**3 - 3 * _EN * _N**2 + 3 * _EN**2 * _N - _EN**3)), 0)
LIMIT_LAW.prediction("p", _p_a, [a, w, q])
for _j in (1, 2, 3):
    LIMIT_LAW.prediction(f"moment_integrand_{_j}", _phi(a) * _p_a**_j, [a, w, q])
LIMIT_LAW.prediction("antihub_integrand", _phi(a) * (1 - _p_a) ** m, [a, w, q, m])
# E|N − k| = E(N − k) + 2 E(k − N)^+, the second a finite sum over N < k
_j = sp.Symbol("j", integer=True, nonnegative=True)
_pmf = sp.exp(sp.loggamma(m + 1) - sp.loggamma(_j + 1) - sp.loggamma(m - _j + 1)) * p**_j * (1 - p) ** (m - _j)
_kk = sp.Symbol("kk", positive=True, integer=True)  # the integer k of the k-NN lists
_mad_given_p = m * p - _kk + 2 * sp.Sum((_kk - _j) * _pmf, (_j, 0, _kk - 1))
LIMIT_LAW.step("E|N − k| = E(N − k) + 2E(k − N)⁺ (checked at m = 7, k = 3)",
               sum(sp.Abs(jj - 3) * _pmf7(jj) for jj in range(8)),
               sp.expand(7 * p - 3 + 2 * sum((3 - jj) * _pmf7(jj) for jj in range(3))))
LIMIT_LAW.prediction("abs_dev_given_p", _mad_given_p, [p, m, _kk])
LIMIT_LAW.prediction("skewness_from_moments", _skew, [m, _P1, _P2, _P3])

# ==================================================================================
# (d) the null model w = 0
# ==================================================================================
NULL_MODEL = Derivation(
    "hubness-null-model",
    statement="With w = 0 every point has p = q: N_k ~ Bin(m, q), skewness (1−2q)/√(m q (1−q)) "
              "(≈ 1/√k for small q) and antihub fraction (1 − q)^m (≈ e^{−k}).",
    assumptions=["w = 0 (constant norms: Rademacher coordinates, cosine on Gaussian data, "
                 "centred queries)"],
    source="derived for attnprobe (shared/notes/hubness.md (d)); Low et al. 2013 read hubness as a "
           "density gradient, which w = 0 removes",
)
NULL_MODEL.step("w = 0 makes p(a) = q for every a", _p_a.subs(w, 0), q)
_null_skew = _skew.subs({_P1: q, _P2: q**2, _P3: q**3})
NULL_MODEL.step("the mixed skewness at P_j = q^j is the Binomial one (1−2q)/√(m q(1−q))",
                _null_skew, (1 - 2 * q) / sp.sqrt(m * q * (1 - q)), how="equals")
NULL_MODEL.step("for q = k/m → 0 the skewness tends to 1/√k",
                sp.limit(((1 - 2 * q) / sp.sqrt(m * q * (1 - q))).subs(q, k / m), m, sp.oo), 1 / sp.sqrt(k))
NULL_MODEL.step("the antihub fraction (1 − k/m)^m tends to e^{−k}", sp.limit((1 - k / m) ** m, m, sp.oo), sp.exp(-k))
NULL_MODEL.prediction("skewness", (1 - 2 * q) / sp.sqrt(m * q * (1 - q)), [m, q])
NULL_MODEL.prediction("antihub", (1 - q) ** m, [m, q])

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
_mu = sp.Matrix(sp.symbols("mu1:4", real=True))
_z = sp.Matrix(sp.symbols("zq1:4", real=True))
_kv = sp.Matrix(sp.symbols("u1:4", real=True))
_kv2 = sp.Matrix(sp.symbols("v1:4", real=True))
_c = sp.Matrix(sp.symbols("c1:4", real=True))
_sz, _sk = sp.symbols("sigma_z sigma_k", positive=True)
_qk_mom = {}
for _sym in list(_z):
    _qk_mom[_sym] = lambda j: {1: 0, 2: _sz**2}.get(j, sp.Symbol(f"Mz{j}"))
for _sym in list(_kv):
    _qk_mom[_sym] = lambda j: {1: 0, 2: _sk**2}.get(j, sp.Symbol(f"Mk{j}"))
_q = _mu + _z
QUERY_KEY.step("⟨q, k⟩ = ⟨μ_q, k⟩ + ⟨z, k⟩ (d = 3)", _q.dot(_kv), _mu.dot(_kv) + _z.dot(_kv))
QUERY_KEY.step("per-key offset variance Var⟨μ_q, k⟩ = σ_k²‖μ_q‖² (isotropic keys, d = 3)",
               expect_polynomial(_mu.dot(_kv) ** 2, _qk_mom), _sk**2 * _mu.dot(_mu))
QUERY_KEY.step("per-pair variance Var⟨z, k⟩ = d σ_z² σ_k² (d = 3)",
               expect_polynomial(_z.dot(_kv) ** 2, _qk_mom), 3 * _sz**2 * _sk**2)
QUERY_KEY.step("offset and noise are uncorrelated: E⟨μ_q,k⟩⟨z,k⟩ = 0",
               expect_polynomial(_mu.dot(_kv) * _z.dot(_kv), _qk_mom), 0)
QUERY_KEY.step("translating every key by c shifts a query's logits by one constant: rankings unchanged",
               (_q.dot(_kv + _c) - _q.dot(_kv2 + _c)) - (_q.dot(_kv) - _q.dot(_kv2)), 0)
_mu_norm = sp.Symbol("mu_norm", nonnegative=True)
_w_qk = sp.sqrt(_sk**2 * _mu_norm**2 / (d * _sz**2 * _sk**2))
QUERY_KEY.step("w = ‖μ_q‖/(σ_z √d): the key scale cancels", _w_qk, _mu_norm / (_sz * sp.sqrt(d)))
QUERY_KEY.step("centred queries (μ_q = 0) give w = 0: the null model", _w_qk.subs(_mu_norm, 0), 0)
_off, _trqk = sp.symbols("offset_var trace_sq_sk", nonnegative=True)
QUERY_KEY.prediction("w_isotropic", _mu_norm / (_sz * sp.sqrt(d)), [_mu_norm, _sz, d])
QUERY_KEY.prediction("w_from_moments", sp.sqrt(_off / _trqk), [_off, _trqk])

DERIVATIONS = [CENTRALITY, VOLUME_RATIO, RANKING_KEY, LIMIT_LAW, NULL_MODEL, QUERY_KEY]
