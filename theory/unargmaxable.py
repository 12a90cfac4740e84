"""Unargmaxable tokens of a softmax layer softmax(W x + b): criterion, invariances, expected counts.

Token k is *argmaxable* iff some x in R^d gives z_k > z_i for every i != k (z = W x + b, strict).

* Criterion (Gordan / LP duality): k is unargmaxable iff some alpha in the simplex over i != k has
  sum_i alpha_i w_i = w_k and sum_i alpha_i b_i >= b_k, i.e. the lifted point (w_k, b_k) is not a
  vertex of the *upper* hull of {(w_i, b_i)}. Without bias: w_k in conv{w_i : i != k}
  (Demeter et al. 2020, Thm 1; Grivas et al. 2022). A bias can only rescue tokens.
* Invariances the detector exploits: W -> W A, W -> W + 1 c^T, b -> b + c 1, b -> b + W v,
  b -> s b, (W, b) -> s (W, b) (s > 0), row permutations.
* Expected counts for iid Gaussian rows (Efron; Renyi-Sulanke type; facets by Blaschke-Petkantschin):
  E f_{d-1}(n) = 2 C(n, d) * int phi(z) Phi(z / sqrt d)^(n-d) dz; vertices E_2 = E f_1,
  E_3 = E f_2 / 2 + 2; with an independent Gaussian bias E = (E_{d+1} + E_d) / 2.
  The integrals are evaluated by quadrature (the asymptotics converge too slowly to test against).
* Su 2022 (kexue.fm/archives/9046): the bounded minimax min_alpha r||sum alpha dw|| + sum alpha db tends,
  as r -> inf, to "no bias" only when w_k is outside the others' hull; inside, the bias decides.
"""
from __future__ import annotations

import math

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "CRITERION", "INVARIANCES", "STRUCTURE", "DIAMOND", "GAUSSIAN", "ANGLES", "SU2022",
           "expected_facets", "expected_vertices", "expected_argmaxable", "DIAMOND_ROWS"]

GRIVAS = "Grivas, Bogoychev, Lopez 2022, ACL, arXiv 2203.06462"
DEMETER = "Demeter, Kimmel, Downey 2020, ACL, arXiv 2005.02433, Theorem 1"
SU = "Su Jianlin 2022, https://kexue.fm/archives/9046"

x1, x2 = sp.symbols("x1 x2", real=True)
X = sp.Matrix([x1, x2])


def _vec(name: str) -> sp.Matrix:
    a, b = sp.symbols(f"{name}_1 {name}_2", real=True)
    return sp.Matrix([a, b])


# -- 1. the criterion ------------------------------------------------------------------------------
CRITERION = Derivation(
    "unargmaxable-criterion",
    statement=("k is unargmaxable iff some alpha in the simplex over i != k has sum alpha_i w_i = w_k and "
               "sum alpha_i b_i >= b_k; without bias iff w_k lies in conv{w_i : i != k}. Hence "
               "U(W, b) is a subset of U(W, 0): a bias can rescue tokens, never doom them."),
    assumptions=["alpha_i >= 0, sum alpha_i = 1", "strict argmax: a token that can only tie is unargmaxable",
                 "converse direction: LP duality (Gordan/Farkas alternative), checked via the LP's Lagrangian"],
    source=f"{DEMETER}; {GRIVAS}",
)
_a1, _a2 = sp.symbols("alpha_1 alpha_2", nonnegative=True)
_alphas = [_a1, _a2, 1 - _a1 - _a2]
_W3 = [_vec("w1"), _vec("w2"), _vec("w3")]
_b = sp.symbols("b_1 b_2 b_3 b_k", real=True)
_wk = sum((a * w for a, w in zip(_alphas, _W3)), sp.zeros(2, 1))
_gap = sum((a * ((w - _wk).dot(X) + bi - _b[3]) for a, w, bi in zip(_alphas, _W3, _b[:3])), sp.Integer(0))
CRITERION.step("alpha-average of the logit gaps z_i - z_k is x-free when w_k = sum alpha_i w_i",
               _gap, sum(a * bi for a, bi in zip(_alphas, _b[:3])) - _b[3])
# LP: max s s.t. (w_i - w_k).x + s <= b_k - b_i, s <= 1. Lagrangian with multipliers alpha_i, lam:
_s, _lam = sp.symbols("s lambda", real=True)
_wk_free = _vec("wk")
_lagr = _s + sum((a * (_b[3] - bi - (w - _wk_free).dot(X) - _s) for a, w, bi in zip(_alphas, _W3, _b[:3])),
                 sp.Integer(0)) + _lam * (1 - _s)
# with sum alpha = 1 - lam ... here sum alpha = 1, so lam = 0 when s* <= 0 (the cap is slack):
_dual_obj = sum((a * (_b[3] - bi) for a, bi in zip(_alphas, _b[:3])), sp.Integer(0)) + _lam
_resid = sum(((w - _wk_free) * a for a, w in zip(_alphas, _W3)), sp.zeros(2, 1))
CRITERION.step("LP Lagrangian = dual objective - lam*s - x.(sum alpha_i (w_i - w_k))  (x free => residual 0)",
               _lagr, _dual_obj - _lam * _s - _resid.dot(X))
CRITERION.step("minus the dual value (cap slack, lam = 0) is the certificate's bias gap sum alpha_i b_i - b_k",
               -_dual_obj.subs(_lam, 0), sum(a * bi for a, bi in zip(_alphas, _b[:3])) - _b[3])
CRITERION.prediction("certificate_bias_gap", sum(a * bi for a, bi in zip(_alphas, _b[:3])) - _b[3],
                     [_a1, _a2, *_b])

# -- 2. invariances ---------------------------------------------------------------------------------
INVARIANCES = Derivation(
    "unargmaxable-invariances",
    statement=("The unargmaxable set is unchanged by W -> W A (A invertible), W -> W + 1 c^T, b -> b + c 1, "
               "b -> b + W v, b -> s b and (W, b) -> s (W, b) for s > 0; a row permutation permutes the labels."),
    assumptions=["A invertible", "s > 0"],
    source=GRIVAS,
)
_wi, _wk2, _c, _v = _vec("wi"), _vec("wk"), _vec("c"), _vec("v")
_bi, _bk, _cb = sp.symbols("b_i b_k c_b", real=True)
_sp = sp.Symbol("s", positive=True)
_A = sp.Matrix(2, 2, sp.symbols("a11 a12 a21 a22", real=True))
_gap0 = (_wi - _wk2).dot(X) + _bi - _bk


def _gap_of(wi, wk, bi, bk, x):
    return (wi - wk).dot(x) + bi - bk


INVARIANCES.step("W -> W A with x -> A^-1 x", _gap_of(_A.T * _wi, _A.T * _wk2, _bi, _bk, _A.inv() * X), _gap0)
INVARIANCES.step("W -> W + 1 c^T", _gap_of(_wi + _c, _wk2 + _c, _bi, _bk, X), _gap0)
INVARIANCES.step("b -> b + c 1", _gap_of(_wi, _wk2, _bi + _cb, _bk + _cb, X), _gap0)
INVARIANCES.step("b -> b + W v with x -> x - v", _gap_of(_wi, _wk2, _bi + _wi.dot(_v), _bk + _wk2.dot(_v), X - _v),
                 _gap0)
INVARIANCES.step("b -> s b with x -> s x scales every gap by s > 0",
                 _gap_of(_wi, _wk2, _sp * _bi, _sp * _bk, _sp * X), _sp * _gap0)
INVARIANCES.step("(W, b) -> s (W, b) scales every gap by s > 0", _gap_of(_sp * _wi, _sp * _wk2, _sp * _bi, _sp * _bk, X),
                 _sp * _gap0)
INVARIANCES.step("a positive factor keeps the sign of a gap", sp.Q.positive(_sp) >> sp.Eq(sp.sign(_sp), 1), how="true")

# -- 3. structural facts ----------------------------------------------------------------------------
STRUCTURE = Derivation(
    "unargmaxable-structure",
    statement=("All tokens are argmaxable when the rows are affinely independent (V <= d + 1 in general position) "
               "or when b = -||w||^2/2 and the rows are distinct (Voronoi cells); a unique argmax of b is "
               "argmaxable (x = 0)."),
    assumptions=["rows distinct", "affine independence: the gap system has a nonzero determinant"],
    source=f"{GRIVAS}, App. D (prevention)",
)
_w = _vec("w")
STRUCTURE.step("w.x - ||w||^2/2 = -||x - w||^2/2 + ||x||^2/2 (nearest row wins)",
               _w.dot(X) - _w.dot(_w) / 2, -(X - _w).dot(X - _w) / 2 + X.dot(X) / 2)
# three rows in R^2 with bias, token 3: solve (w_i - w_3).x + b_i - b_3 = -1 for i = 1, 2
_W3b = sp.Matrix([[*(_W3[0] - _W3[2]).T], [*(_W3[1] - _W3[2]).T]])
_rhs = sp.Matrix([-1 - _b[0] + _b[2], -1 - _b[1] + _b[2]])
_xsol = _W3b.LUsolve(_rhs)
STRUCTURE.step("affinely independent rows: x = M^-1 r gives every rival gap -1 (token 3 wins by 1)",
               _gap_of(_W3[0], _W3[2], _b[0], _b[2], _xsol), sp.Integer(-1))
STRUCTURE.step("... and for the second rival", _gap_of(_W3[1], _W3[2], _b[1], _b[2], _xsol), sp.Integer(-1))
STRUCTURE.step("unique argmax of b: at x = 0 the gaps are b_i - b_k", _gap_of(_wi, _wk2, _bi, _bk, sp.zeros(2, 1)),
               _bi - _bk)

# -- 4. the diamond (Su 2022's example; Grivas et al.'s demo has the same shape) ---------------------
DIAMOND_ROWS = ((1, 2), (2, 1), (1, 0), (0, 1), (1, 1))
DIAMOND = Derivation(
    "unargmaxable-diamond",
    statement=("w_1..w_4 = (1,2), (2,1), (1,0), (0,1), w_5 = (1,1): without bias token 5 is unargmaxable; its "
               "representations are (1/2 - t)(w_1 + w_3) + t(w_2 + w_4), t in [0, 1/2], so with bias it is "
               "argmaxable iff b_5 > max((b_1 + b_3)/2, (b_2 + b_4)/2) (equality is a tie)."),
    assumptions=["t in [0, 1/2]"],
    source=SU,
)
_t = sp.Symbol("t", real=True)
_D = [sp.Matrix(r) for r in DIAMOND_ROWS]
_rep = (sp.Rational(1, 2) - _t) * (_D[0] + _D[2]) + _t * (_D[1] + _D[3])
DIAMOND.step("first coordinate of the representation is w_5's", _rep[0], _D[4][0])
DIAMOND.step("second coordinate of the representation is w_5's", _rep[1], _D[4][1])
DIAMOND.step("the weights sum to 1", 2 * (sp.Rational(1, 2) - _t) + 2 * _t, sp.Integer(1))
_bd = sp.symbols("b1:6", real=True)
_avg_b = (sp.Rational(1, 2) - _t) * (_bd[0] + _bd[2]) + _t * (_bd[1] + _bd[3])
DIAMOND.step("sum alpha_i b_i is linear in t (so its max over [0, 1/2] sits at an end)", sp.diff(_avg_b, _t, 2), 0)
DIAMOND.step("value at t = 0", _avg_b.subs(_t, 0), (_bd[0] + _bd[2]) / 2)
DIAMOND.step("value at t = 1/2", _avg_b.subs(_t, sp.Rational(1, 2)), (_bd[1] + _bd[3]) / 2)
DIAMOND.prediction("rescue_threshold", sp.Max((_bd[0] + _bd[2]) / 2, (_bd[1] + _bd[3]) / 2), list(_bd[:4]))

# -- 5. expected counts for Gaussian rows ---------------------------------------------------------
_z = sp.Symbol("z", real=True)
_n, _d = sp.symbols("n d", positive=True, integer=True)
_h = sp.Symbol("h", real=True)


def _phi(u):
    return sp.exp(-u ** 2 / 2) / sp.sqrt(2 * sp.pi)


def _Phi(u):
    return (1 + sp.erf(u / sp.sqrt(2))) / 2


GAUSSIAN = Derivation(
    "unargmaxable-gaussian-counts",
    statement=("For n iid N(0, I_d) rows: E f_{d-1} = 2 C(n,d) int phi(z) Phi(z/sqrt d)^(n-d) dz; E_2 = E f_1, "
               "E_3 = E f_2/2 + 2; E_2(4) = 3 + (6/pi) asin(1/3); with an independent Gaussian bias the expected "
               "number of argmaxable tokens is (E_{d+1} + E_d)/2 (d = 1: 1 + E_2/2)."),
    assumptions=["the hyperplane through d Gaussian points lies at signed distance N(0, 1/d) "
                 "(Blaschke-Petkantschin: the joint density factorises as phi(h)^d)",
                 "Sheppard: P(Z1 <= 0, Z2 <= 0) = 1/4 + asin(rho)/(2 pi) for correlation rho",
                 "bias: every lifted vertex is upper, lower or both, 'both' = projected vertices; b -> -b symmetry"],
    source="Efron 1965; Renyi-Sulanke 1963; Raynaud 1970; derivation in shared/notes/unargmaxable.md",
)
_dens_h = sp.sqrt(_d / (2 * sp.pi)) * sp.exp(-_d * _h ** 2 / 2)
GAUSSIAN.step("density of N(0, 1/d) at h = z/sqrt(d), times dh/dz = 1/sqrt(d), is phi(z)",
              _dens_h.subs(_h, _z / sp.sqrt(_d)) * sp.diff(_z / sp.sqrt(_d), _z), _phi(_z))
_rho = sp.Rational(1, 2) / (1 + sp.Rational(1, 2))
GAUSSIAN.step("n = 4, d = 2: int phi(z) Phi(z/sqrt 2)^2 dz is an orthant probability with rho = 1/3",
              _rho, sp.Rational(1, 3))
GAUSSIAN.step("E_2(4) = 12 (1/4 + asin(1/3)/(2 pi)) = 3 + (6/pi) asin(1/3)",
              12 * (sp.Rational(1, 4) + sp.asin(_rho) / (2 * sp.pi)), 3 + 6 * sp.asin(sp.Rational(1, 3)) / sp.pi)
_V, _E, _F = sp.symbols("V E F", positive=True)
GAUSSIAN.step("simplicial 3-polytope: V - E + F = 2 and 2E = 3F give V = F/2 + 2",
              sp.solve([_V - _E + _F - 2, 2 * _E - 3 * _F], [_V, _E])[_V], _F / 2 + 2)
_E2 = sp.Symbol("E_2", positive=True)
GAUSSIAN.step("d = 1 with bias: (E_2 + E_1)/2 with E_1 = 2 is 1 + E_2/2", (_E2 + 2) / 2, 1 + _E2 / 2)
GAUSSIAN.prediction("facet_integrand", 2 * sp.binomial(_n, _d) * _phi(_z) * _Phi(_z / sp.sqrt(_d)) ** (_n - _d),
                    [_z, _n, _d])
GAUSSIAN.prediction("e2_n4", 3 + 6 * sp.asin(sp.Rational(1, 3)) / sp.pi, [])
GAUSSIAN.prediction("renyi_sulanke_asymptotic", 2 * sp.sqrt(2 * sp.pi * sp.log(_n)), [_n])


# Vertices in d = 4: the Gaussian polytope has the f-vector law of a Gaussian projection of the regular
# simplex with n vertices (Baryshnikov-Vitale 1994); Affentranger-Schneider 1992 then give
# E f_0 = 2 n sum_{s>=0} C(n-1, j) beta_0(j) gamma(j, n), j = d - 1 - 2s, with beta_0(j) the internal angle of a
# regular j-simplex at a vertex and gamma(j, n) = int phi(z) Phi(z / sqrt(j+1))^(n-j-1) dz its external angle.
_j = sp.Symbol("j", nonnegative=True, integer=True)
_xg = sp.Symbol("x", real=True)
ANGLES = Derivation(
    "unargmaxable-gaussian-vertices-angles",
    statement=("E_d(n) = 2n sum_s C(n-1, j) beta_0(j) gamma(j, n), j = d-1-2s (Baryshnikov-Vitale + "
               "Affentranger-Schneider); it reproduces E_2 and E_3 and gives E_4 = 8 C(n,4) beta_tet I_4 + E_2, "
               "beta_tet = (3 acos(1/3) - pi) / (4 pi), I_m = int phi(z) Phi(z/sqrt m)^(n-m) dz."),
    assumptions=["external angle of the regular simplex: gamma(j, n) = sqrt((j+1)/pi) int exp(-(j+1) x^2) "
                 "Phi(sqrt 2 x)^(n-j-1) dx", "beta_0(1) = 1/2, beta_0(2) = 1/6, beta_0(0) = 1, gamma(0, n) = 1/n"],
    source="Baryshnikov & Vitale 1994; Affentranger & Schneider 1992; Efron 1965",
)
ANGLES.step("x = z / sqrt(2(j+1)) turns the external-angle integrand into phi(z) (Jacobian included)",
            (sp.sqrt((_j + 1) / sp.pi) * sp.exp(-(_j + 1) * _xg ** 2)).subs(_xg, _z / sp.sqrt(2 * (_j + 1)))
            / sp.sqrt(2 * (_j + 1)), _phi(_z))
ANGLES.step("... and Phi(sqrt 2 x) into Phi(z / sqrt(j+1))", sp.sqrt(2) * _z / sp.sqrt(2 * (_j + 1)),
            _z / sp.sqrt(_j + 1))
ANGLES.step("d = 2 (s = 0, j = 1, beta = 1/2): 2n C(n-1,1)/2 = n(n-1), the E_2 prefactor",
            sp.expand_func(2 * _n * sp.binomial(_n - 1, 1) / 2), _n * (_n - 1))
ANGLES.step("d = 3 (j = 2, beta = 1/6): 2n C(n-1,2)/6 = C(n,3) = (2 C(n,3))/2, the E f_2 / 2 prefactor",
            sp.expand_func(2 * _n * sp.binomial(_n - 1, 2) / 6 - sp.binomial(_n, 3)), 0)
ANGLES.step("d = 3, j = 0 term: 2n * 1 * gamma(0, n) = 2n * (1/n) = 2", 2 * _n * 1 / _n, 2)
_th = sp.Symbol("theta", real=True)
ANGLES.step("regular tetrahedron (dihedral acos(1/3)): cos(3 theta - pi) = -(4 cos^3 - 3 cos) = 23/27, so the "
            "vertex solid angle 3 acos(1/3) - pi (in [0, pi]) is acos(23/27)",
            (-sp.expand_trig(sp.cos(3 * _th))).subs(sp.cos(_th), sp.Rational(1, 3)), sp.Rational(23, 27))
ANGLES.step("d = 4 (j = 3): 2n C(n-1,3) = 8 C(n,4)", sp.expand_func(2 * _n * sp.binomial(_n - 1, 3) - 8 * sp.binomial(_n, 4)), 0)
ANGLES.prediction("beta_tetrahedron", (3 * sp.acos(sp.Rational(1, 3)) - sp.pi) / (4 * sp.pi), [])
ANGLES.prediction("angle_integrand", _phi(_z) * _Phi(_z / sp.sqrt(_j + 1)) ** (_n - _j - 1), [_z, _n, _j])


def _angle_integral(n: int, j: int) -> float:
    from scipy import integrate

    f = ANGLES.function("angle_integrand")
    val, _err = integrate.quad(lambda z: float(f(z, n, j)), -math.inf, math.inf, limit=200, epsabs=1e-13,
                               epsrel=1e-11)
    return float(val)


def expected_facets(n: int, d: int) -> float:
    """E f_{d-1} of the hull of n iid N(0, I_d) points, by quadrature of GAUSSIAN's facet integrand."""
    from scipy import integrate

    if d < 1 or n < d + 1:
        raise ValueError(f"expected_facets: need d >= 1 and n >= d + 1, got n={n}, d={d}")
    f = GAUSSIAN.function("facet_integrand")
    val, _err = integrate.quad(lambda z: float(f(z, n, d)), -math.inf, math.inf, limit=200, epsabs=1e-12,
                               epsrel=1e-11)
    return float(val)


def expected_vertices(n: int, d: int) -> float:
    """E_d(n): expected hull vertices of n iid N(0, I_d) points, d <= 4 (d = 4 through ANGLES)."""
    if n <= d + 1:
        return float(n)  # affinely independent almost surely
    if d == 1:
        return 2.0
    if d == 2:
        return expected_facets(n, 2)
    if d == 3:
        return expected_facets(n, 3) / 2 + 2
    if d == 4:
        return (8 * math.comb(n, 4) * ANGLES.predict("beta_tetrahedron") * _angle_integral(n, 3)
                + expected_vertices(n, 2))
    raise ValueError(f"expected_vertices: d={d}: implemented for d <= 4 (internal angles of regular simplices)")


def expected_argmaxable(n: int, d: int, bias: bool) -> float:
    """Expected argmaxable tokens among n iid Gaussian rows in R^d; with an independent Gaussian bias
    (E_{d+1}(n) + E_d(n)) / 2 (lifted upper-hull vertices)."""
    if not bias:
        return expected_vertices(n, d)
    return (expected_vertices(n, d + 1) + expected_vertices(n, d)) / 2


# -- 6. Su 2022 with the correction -----------------------------------------------------------------
SU2022 = Derivation(
    "unargmaxable-su2022",
    statement=("Su 2022: n is predictable iff max_z min_i <w_n - w_i, z> + b_n - b_i > 0; bounding ||z|| <= r "
               "gives min over the simplex of r||sum alpha_i dw_i|| + sum alpha_i db_i. Correction: as r -> inf "
               "this equals the bias-free test only when w_n is outside the others' hull; inside, the distance "
               "term vanishes and the limit is min sum alpha_i db_i over representing alpha (the bias decides)."),
    assumptions=["dw_i = w_n - w_i, db_i = b_n - b_i", "r > 0"],
    source=SU,
)
_r = sp.Symbol("r", positive=True)
_dist = sp.Symbol("delta", nonnegative=True)
_bgap = sp.Symbol("beta", real=True)
SU2022.step("diamond: the distance term r*||w_5 - sum alpha_i w_i|| vanishes for every t (interior point)",
            _r * sp.sqrt((_D[4] - _rep).dot(_D[4] - _rep)), 0)
SU2022.step("outside (delta > 0, written delta + 1): r*(delta + 1) + beta -> +inf, the bias is irrelevant",
            sp.Eq(sp.limit(_r * (_dist + 1) + _bgap, _r, sp.oo), sp.oo), how="true")
# the diamond with bias: the limit value is b_5 - max((b_1 + b_3)/2, (b_2 + b_4)/2)
_lim = _bd[4] - _avg_b
SU2022.step("diamond: limit value at t = 0 is b_5 - (b_1 + b_3)/2", _lim.subs(_t, 0), _bd[4] - (_bd[0] + _bd[2]) / 2)
SU2022.prediction("diamond_limit_value", sp.Min(_bd[4] - (_bd[0] + _bd[2]) / 2, _bd[4] - (_bd[1] + _bd[3]) / 2),
                  list(_bd))

DERIVATIONS = [CRITERION, INVARIANCES, STRUCTURE, DIAMOND, GAUSSIAN, ANGLES, SU2022]
