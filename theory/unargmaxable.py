"""Unargmaxable tokens of a softmax layer softmax(W x + b): criterion, invariances, expected counts.

Token k is *argmaxable* iff some x in R^d gives z_k > z_i for every i != k (z = W x + b, strict).

* Criterion (Gordan / LP duality): k is unargmaxable iff some alpha in the simplex over i != k has
  sum_i alpha_i w_i = w_k and sum_i alpha_i b_i >= b_k, i.e. the lifted point (w_k, b_k) is not a
  vertex of the *upper* hull of {(w_i, b_i)}. Without bias: w_k in conv{w_i : i != k}
  (Demeter et al. 2020, Thm 1; Grivas et al. 2022). A bias can only rescue tokens.
* Invariances the detector exploits: W -> W A, W -> W + 1 c^T, b -> b + c 1, b -> b + W v,
  b -> s b, (W, b) -> s (W, b) (s > 0), row permutations.
* Expected counts for iid Gaussian rows (Efron; Renyi-Sulanke type; facets by Blaschke-Petkantschin):
  E f_{d-1}(n) = 2 C(n, d) * int phi(z) Phi(z / sqrt d)^(n-d) dz (facet_prefactor * int facet_integrand).
  Vertices (Baryshnikov-Vitale + Affentranger-Schneider): E_d(n) = sum_{j = d-1, d-3, ...} vertex_prefactor(n, j) * gamma_j(n),
  gamma_j(n) = int phi(z) Phi(z / sqrt(j+1))^(n-j-1) dz; the steps show it gives E_2 = E f_1,
  E_3 = E f_2 / 2 + 2 and E_4 = 8 C(n,4) beta_tet gamma_3 + E_2. With an independent Gaussian bias the
  expected count is (E_{d+1} + E_d) / 2. The integrands and prefactors are registered predictions; the
  quadrature is the probe's (``probes.unargmaxable.expected_vertices``): the asymptotics converge too
  slowly to test against.
* Su 2022 (kexue.fm/archives/9046): the bounded minimax min_alpha r||sum alpha dw|| + sum alpha db tends,
  as r -> inf, to "no bias" only when w_k is outside the others' hull; inside, the bias decides.

Every step keeps its sides unevaluated (``sp.Subs``, ``sp.Derivative``, ``sp.Integral``/``Quadrature``,
``sp.Limit``, an unevaluated expectation) until ``check()``; importing this module does no symbolic work.
"""
from __future__ import annotations

import sympy as sp

from theory._unevaluated import Quadrature, expectation
from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "CRITERION", "INVARIANCES", "STRUCTURE", "DIAMOND", "GAUSSIAN", "ANGLES", "SU2022",
           "DIAMOND_ROWS", "MAX_VERTEX_DIM"]

GRIVAS = "Grivas, Bogoychev, Lopez 2022, ACL, arXiv 2203.06462"
DEMETER = "Demeter, Kimmel, Downey 2020, ACL, arXiv 2005.02433, Theorem 1"
SU = "Su Jianlin 2022, https://kexue.fm/archives/9046"
MAX_VERTEX_DIM = 4  # internal angles of regular j-simplices are closed forms for j <= 3 only

x1, x2 = sp.symbols("x1 x2", real=True)
X = sp.Matrix([x1, x2])


def _vec(name: str) -> sp.Matrix:
    a, b = sp.symbols(f"{name}_1 {name}_2", real=True)
    return sp.Matrix([a, b])


def _subs(expr, pairs: list[tuple]):
    """A builder of sp.Subs(expr, olds, news) from (old, new) pairs (vectors flattened), simultaneous.

    ``Subs.doit`` substitutes one pair after the other; the variables are first renamed to fresh
    dummies (a structural ``xreplace``), so a replacement may contain any of the old variables."""
    olds, news = [], []
    for old, new in pairs:
        if isinstance(old, sp.MatrixBase):
            olds.extend(old)
            news.extend(new)
        else:
            olds.append(old)
            news.append(new)
    def build():  # a zero-argument callable: the (costly) construction waits for the check
        fresh = [sp.Dummy(str(o), real=True) for o in olds]
        return sp.Subs(sp.sympify(expr).xreplace(dict(zip(olds, fresh))), tuple(fresh), tuple(news))
    return build


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
_wk_free = _vec("wk")
_wk_mix = sum((a * w for a, w in zip(_alphas, _W3)), sp.zeros(2, 1))
_bias_gap = sum(a * bi for a, bi in zip(_alphas, _b[:3])) - _b[3]      # sum alpha_i b_i - b_k
_gap_avg = sum((a * ((w - _wk_free).dot(X) + bi - _b[3]) for a, w, bi in zip(_alphas, _W3, _b[:3])), sp.Integer(0))
CRITERION.step("alpha-average of the logit gaps z_i - z_k is x-free (= sum alpha_i b_i - b_k) at w_k = sum alpha_i w_i",
               _subs(_gap_avg, [(_wk_free, _wk_mix)]), _bias_gap)
# LP: max s s.t. (w_i - w_k).x + s <= b_k - b_i, s <= 1. Lagrangian with multipliers alpha_i, lam:
_s, _lam = sp.symbols("s lambda", real=True)
_lagr = _s + sum((a * (_b[3] - bi - (w - _wk_free).dot(X) - _s) for a, w, bi in zip(_alphas, _W3, _b[:3])),
                 sp.Integer(0)) + _lam * (1 - _s)
_dual_obj = sum((a * (_b[3] - bi) for a, bi in zip(_alphas, _b[:3])), sp.Integer(0)) + _lam
_resid = sum(((w - _wk_free) * a for a, w in zip(_alphas, _W3)), sp.zeros(2, 1))
CRITERION.step("LP Lagrangian = dual objective - lam*s - x.(sum alpha_i (w_i - w_k))  (x free => residual 0)",
               _lagr, _dual_obj - _lam * _s - _resid.dot(X))
CRITERION.step("minus the dual value (cap slack, lam = 0) is the certificate's bias gap sum alpha_i b_i - b_k",
               sp.Subs(-_dual_obj, _lam, 0), _bias_gap)
CRITERION.prediction("certificate_bias_gap", None, [_a1, _a2, *_b],
                     from_step="minus the dual value (cap slack, lam = 0) is the certificate's bias gap "
                               "sum alpha_i b_i - b_k")

# -- 2. invariances ---------------------------------------------------------------------------------
INVARIANCES = Derivation(
    "unargmaxable-invariances",
    statement=("The unargmaxable set is unchanged by W -> W A (A invertible), W -> W + 1 c^T, b -> b + c 1, "
               "b -> b + W v, b -> s b and (W, b) -> s (W, b) for s > 0; a row permutation permutes the labels. "
               "Each transform maps every gap z_i - z_k at some x to the same gap (or s times it, s > 0, which keeps "
               "its sign) at a matching x."),
    assumptions=["A invertible (so x = A y is a bijection of R^d)", "s > 0"],
    source=GRIVAS,
)
_wi, _wk = _vec("wi"), _vec("wk")
_c, _v = _vec("c"), _vec("v")
_bi, _bk, _cb = sp.symbols("b_i b_k c_b", real=True)
_sp = sp.Symbol("s", positive=True)
_A = sp.Matrix(2, 2, sp.symbols("a11 a12 a21 a22", real=True))
_G = (_wi - _wk).dot(X) + _bi - _bk          # the gap z_i - z_k at x, in placeholder symbols
INVARIANCES.step("W -> W A: the gaps at x equal the original gaps at A x (x = A y is a bijection)",
                 _subs(_G, [(_wi, _A.T * _wi), (_wk, _A.T * _wk)]), _subs(_G, [(X, _A * X)]))
INVARIANCES.step("W -> W + 1 c^T", _subs(_G, [(_wi, _wi + _c), (_wk, _wk + _c)]), _G)
INVARIANCES.step("b -> b + c 1", _subs(_G, [(_bi, _bi + _cb), (_bk, _bk + _cb)]), _G)
INVARIANCES.step("b -> b + W v with x -> x - v",
                 _subs(_G, [(_bi, _bi + _wi.dot(_v)), (_bk, _bk + _wk.dot(_v)), (X, X - _v)]), _G)
INVARIANCES.step("b -> s b with x -> s x scales every gap by s > 0",
                 _subs(_G, [(_bi, _sp * _bi), (_bk, _sp * _bk), (X, _sp * X)]), _sp * _G)
INVARIANCES.step("(W, b) -> s (W, b) scales every gap by s > 0",
                 _subs(_G, [(_wi, _sp * _wi), (_wk, _sp * _wk), (_bi, _sp * _bi), (_bk, _sp * _bk)]), _sp * _G)

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
# three rows in R^2 with bias, token 3: x solves (w_i - w_3).x + b_i - b_3 = -1 for i = 1, 2 (Cramer's rule)
_M = sp.Matrix([[*(_W3[0] - _W3[2]).T], [*(_W3[1] - _W3[2]).T]])
_r = sp.Matrix([-1 - _b[0] + _b[2], -1 - _b[1] + _b[2]])
_det = _M[0, 0] * _M[1, 1] - _M[0, 1] * _M[1, 0]
_x_cramer = sp.Matrix([[_M[1, 1], -_M[0, 1]], [-_M[1, 0], _M[0, 0]]]) * _r / _det
for _i, _label in ((0, "every rival gap is -1 (token 3 wins by 1): the first rival"), (1, "... and the second rival")):
    STRUCTURE.step(f"affinely independent rows: x = adj(M) r / det M gives {_label}",
                   _subs(_G, [(_wi, _W3[_i]), (_wk, _W3[2]), (_bi, _b[_i]), (_bk, _b[2]), (X, _x_cramer)]),
                   sp.Integer(-1))
STRUCTURE.step("unique argmax of b: at x = 0 the gaps are b_i - b_k", _subs(_G, [(X, sp.zeros(2, 1))]), _bi - _bk)

# -- 4. the diamond (Su 2022's example; Grivas et al.'s demo has the same shape) ---------------------
DIAMOND_ROWS = ((1, 2), (2, 1), (1, 0), (0, 1), (1, 1))
DIAMOND = Derivation(
    "unargmaxable-diamond",
    statement=("w_1..w_4 = (1,2), (2,1), (1,0), (0,1), w_5 = (1,1): without bias token 5 is unargmaxable; its "
               "representations are (1/2 - t)(w_1 + w_3) + t(w_2 + w_4), t in [0, 1/2], so with bias it is "
               "argmaxable iff b_5 > max((b_1 + b_3)/2, (b_2 + b_4)/2) (equality is a tie)."),
    assumptions=["t in [0, 1/2]", "the maximum of a linear function of t over [0, 1/2] sits at an end"],
    source=SU,
)
_t = sp.Symbol("t", real=True)
_D = [sp.Matrix(r) for r in DIAMOND_ROWS]
_al = sp.symbols("a1:5", real=True)                  # weights on w_1..w_4
_t_weights = (sp.Rational(1, 2) - _t, _t, sp.Rational(1, 2) - _t, _t)
_mix = sum((a * w for a, w in zip(_al, _D[:4])), sp.zeros(2, 1))
_bd = sp.symbols("b1:6", real=True)
_avg_b = sum(a * b for a, b in zip(_al, _bd[:4]))     # sum alpha_i b_i
DIAMOND.step("first coordinate of the representation is w_5's", sp.Subs(_mix[0], _al, _t_weights), _D[4][0])
DIAMOND.step("second coordinate of the representation is w_5's", sp.Subs(_mix[1], _al, _t_weights), _D[4][1])
DIAMOND.step("the weights sum to 1", sp.Subs(sum(_al), _al, _t_weights), sp.Integer(1))
_avg_b_t = sp.Subs(_avg_b, _al, _t_weights)
DIAMOND.step("sum alpha_i b_i is linear in t (so its max over [0, 1/2] sits at an end)",
             sp.Derivative(_avg_b_t, (_t, 2)), sp.Integer(0))
DIAMOND.step("value at t = 0", sp.Subs(_avg_b_t, _t, 0), (_bd[0] + _bd[2]) / 2)
DIAMOND.step("value at t = 1/2", sp.Subs(_avg_b_t, _t, sp.Rational(1, 2)), (_bd[1] + _bd[3]) / 2)
DIAMOND.prediction("rescue_threshold", lambda: sp.Max(DIAMOND.get_step("value at t = 0").rhs,
                                                      DIAMOND.get_step("value at t = 1/2").rhs), list(_bd[:4]))

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
                 "Sheppard: P(U1 <= 0, U2 <= 0) = 1/4 + asin(rho)/(2 pi) for standard normals with correlation rho",
                 "bias: every lifted vertex is upper, lower or both, 'both' = projected vertices; b -> -b symmetry"],
    source="Efron 1965; Renyi-Sulanke 1963; Raynaud 1970; derivation in shared/notes/unargmaxable.md",
)
_facet_prefactor = 2 * sp.binomial(_n, _d)
_facet_kernel = _phi(_z) * _Phi(_z / sp.sqrt(_d)) ** (_n - _d)
_facet_integrand = _facet_prefactor * _facet_kernel
_dens_h = sp.sqrt(_d / (2 * sp.pi)) * sp.exp(-_d * _h ** 2 / 2)
GAUSSIAN.step("density of N(0, 1/d) at h = z/sqrt(d), times dh/dz = 1/sqrt(d), is phi(z)",
              sp.Subs(_dens_h, _h, _z / sp.sqrt(_d)) * sp.Derivative(_z / sp.sqrt(_d), _z), _phi(_z))
# n = 4, d = 2: int phi(z) Phi(z/sqrt2)^2 dz = P(X1 <= Z/sqrt2, X2 <= Z/sqrt2) = P(U1 <= 0, U2 <= 0),
# U_i = sqrt2 X_i - Z with correlation 1/3.
_X1, _X2, _Zs = sp.symbols("X1 X2 Z", real=True)
_Estd = expectation({s: (lambda j: {1: sp.Integer(0), 2: sp.Integer(1)}.get(j, sp.Symbol(f"mu_{j}"))) for s in
                     (_X1, _X2, _Zs)}, name="E")
_U1, _U2 = sp.sqrt(2) * _X1 - _Zs, sp.sqrt(2) * _X2 - _Zs
GAUSSIAN.step("U_i = sqrt2 X_i - Z (X1, X2, Z iid N(0,1)) have correlation E U1 U2 / E U1^2 = 1/3",
              _Estd(_U1 * _U2) / _Estd(_U1 ** 2), sp.Rational(1, 3))
_orthant = sp.Rational(1, 4) + sp.asin(sp.Rational(1, 3)) / (2 * sp.pi)
GAUSSIAN.numeric_step("n = 4, d = 2: int phi(z) Phi(z/sqrt 2)^2 dz is the orthant probability 1/4 + asin(1/3)/(2 pi) "
                      "(mpmath quadrature, 40 digits)",
                      Quadrature(_phi(_z) * _Phi(_z / sp.sqrt(2)) ** 2, (_z, -sp.oo, sp.oo)), _orthant, tol=1e-25)
_I = sp.Symbol("I", positive=True)
GAUSSIAN.step("E_2(4) = 2 C(4,2) (1/4 + asin(1/3)/(2 pi)) = 3 + (6/pi) asin(1/3)",
              sp.Subs(_facet_prefactor * _I, (_n, _d, _I), (4, 2, _orthant)),
              3 + 6 * sp.asin(sp.Rational(1, 3)) / sp.pi)
_V, _E, _F = sp.symbols("V E F", positive=True)
GAUSSIAN.step("simplicial 3-polytope: V = 2 + E - F (Euler) with 2E = 3F gives V = F/2 + 2",
              sp.Subs(2 + _E - _F, _E, 3 * _F / 2), _F / 2 + 2)
_Eup, _Ed, _U, _L, _B = sp.symbols("E_up E_d U L B", positive=True)
_bias_avg = (_Eup + _Ed) / 2
GAUSSIAN.step("bias: with E_{d+1} = U + L - B (upper, lower, both), B = E_d (projected vertices) and L = U "
              "(b -> -b), (E_{d+1} + E_d)/2 = U, the expected number of upper vertices",
              sp.Subs(sp.Subs(_bias_avg, (_Eup, _Ed), (_U + _L - _B, _B)), _L, _U), _U)
GAUSSIAN.step("d = 1 with bias: (E_2 + E_1)/2 with E_1 = 2 is 1 + E_2/2", sp.Subs(_bias_avg, _Ed, 2), 1 + _Eup / 2)
# the facet count is facet_prefactor(n, d) * int facet_integrand dz; binomial(n, d) expanded per d (a polynomial
# in n: lambdify would write it as a ratio of gamma functions, which overflows once n > 170)
GAUSSIAN.prediction("facet_integrand", _facet_kernel, [_z, _n, _d])
GAUSSIAN.prediction("facet_prefactor",
                    lambda: sp.Piecewise(*[(sp.expand_func(_facet_prefactor.subs(_d, dd)), sp.Eq(_d, dd))
                                           for dd in range(1, MAX_VERTEX_DIM + 1)], (sp.nan, True)), [_n, _d])
GAUSSIAN.prediction("e2_n4", None, [], from_step="E_2(4) = 2 C(4,2) (1/4 + asin(1/3)/(2 pi)) = 3 + (6/pi) asin(1/3)")
GAUSSIAN.prediction("vertices_d3_from_facets", None, [_F],
                    from_step="simplicial 3-polytope: V = 2 + E - F (Euler) with 2E = 3F gives V = F/2 + 2")
GAUSSIAN.prediction("argmaxable_with_bias", _bias_avg, [_Eup, _Ed])
GAUSSIAN.prediction("renyi_sulanke_asymptotic", 2 * sp.sqrt(2 * sp.pi * sp.log(_n)), [_n])


# Vertices in any d <= 4: the Gaussian polytope has the f-vector law of a Gaussian projection of the regular
# simplex with n vertices (Baryshnikov-Vitale 1994); Affentranger-Schneider 1992 then give
# E f_0 = 2 n sum_{s>=0} C(n-1, j) beta_0(j) gamma(j, n), j = d - 1 - 2s, with beta_0(j) the internal angle of a
# regular j-simplex at a vertex and gamma(j, n) = int phi(z) Phi(z / sqrt(j+1))^(n-j-1) dz its external angle.
_j = sp.Symbol("j", nonnegative=True, integer=True)
_xg = sp.Symbol("x", real=True)
_c3 = sp.Symbol("c", real=True)
_theta = sp.Symbol("theta", real=True)
_beta_tet = (3 * sp.acos(sp.Rational(1, 3)) - sp.pi) / (4 * sp.pi)
_beta0 = sp.Piecewise((1, sp.Eq(_j, 0)), (sp.Rational(1, 2), sp.Eq(_j, 1)), (sp.Rational(1, 6), sp.Eq(_j, 2)),
                      (_beta_tet, sp.Eq(_j, 3)), (sp.nan, True))
_vertex_prefactor = 2 * _n * sp.binomial(_n - 1, _j) * _beta0
_angle_integrand = _phi(_z) * _Phi(_z / sp.sqrt(_j + 1)) ** (_n - _j - 1)
_g = sp.Symbol("gamma_j", positive=True)
ANGLES = Derivation(
    "unargmaxable-gaussian-vertices-angles",
    statement=("E_d(n) = sum_{j = d-1, d-3, ...} 2n C(n-1, j) beta_0(j) gamma(j, n) (Baryshnikov-Vitale + "
               "Affentranger-Schneider); it reproduces E_2 = E f_1 and E_3 = E f_2/2 + 2 and gives "
               "E_4 = 8 C(n,4) beta_tet gamma(3, n) + E_2, beta_tet = (3 acos(1/3) - pi) / (4 pi), "
               "gamma(j, n) = int phi(z) Phi(z/sqrt(j+1))^(n-j-1) dz, gamma(0, n) = 1/n."),
    assumptions=["external angle of the regular simplex: gamma(j, n) = sqrt((j+1)/pi) int exp(-(j+1) x^2) "
                 "Phi(sqrt 2 x)^(n-j-1) dx", "beta_0(0) = 1, beta_0(1) = 1/2, beta_0(2) = 1/6; "
                 "beta_0(3) = vertex solid angle / (4 pi), the solid angle = 3 * dihedral - pi (Girard)"],
    source="Baryshnikov & Vitale 1994; Affentranger & Schneider 1992; Efron 1965",
)
ANGLES.step("x = z / sqrt(2(j+1)) turns the external-angle weight into phi(z) (Jacobian included)",
            sp.Subs(sp.sqrt((_j + 1) / sp.pi) * sp.exp(-(_j + 1) * _xg ** 2), _xg, _z / sp.sqrt(2 * (_j + 1)))
            * sp.Derivative(_z / sp.sqrt(2 * (_j + 1)), _z), _phi(_z))
ANGLES.step("... and Phi(sqrt 2 x) into Phi(z / sqrt(j+1))", sp.Subs(sp.sqrt(2) * _xg, _xg, _z / sp.sqrt(2 * (_j + 1))),
            _z / sp.sqrt(_j + 1))
ANGLES.step("d = 2 (j = 1): the vertex term is the facet integrand of d = 2, so E_2 = E f_1",
            sp.Subs(_vertex_prefactor * _angle_integrand, _j, 1), sp.Subs(_facet_integrand, _d, 2), how="equals")
ANGLES.step("d = 3 (j = 2): the vertex term is half the facet integrand of d = 3 (E f_2 / 2)",
            sp.Subs(_vertex_prefactor * _angle_integrand, _j, 2), sp.Subs(_facet_integrand, _d, 3) / 2, how="equals")
_u = sp.Symbol("u", positive=True)
ANGLES.step("u = Phi(z) has du = phi(z) dz", sp.Derivative(_Phi(_z), _z), _phi(_z))
ANGLES.step("... so gamma(0, n) = int_0^1 u^(n-1) du = 1/n", sp.Integral(_u ** (_n - 1), (_u, 0, 1)), 1 / _n)
ANGLES.numeric_step("gamma(0, n) = int phi Phi^(n-1) dz = 1/n at n = 3 and 50 (mpmath quadrature)",
                    Quadrature(_angle_integrand.xreplace({_j: 0}), (_z, -sp.oo, sp.oo)), 1 / _n,
                    at=({_n: 3}, {_n: 50}), tol=1e-25)
ANGLES.step("d = 3 and d = 1 (j = 0 term): 2n * beta_0(0) * gamma(0, n) = 2",
            sp.Subs(_vertex_prefactor * _g, (_j, _g), (0, 1 / _n)), sp.Integer(2))
ANGLES.step("triple angle: cos 3 theta = 4 cos^3 theta - 3 cos theta", sp.cos(3 * _theta),
            4 * sp.cos(_theta) ** 3 - 3 * sp.cos(_theta))
ANGLES.step("regular tetrahedron (dihedral theta = acos(1/3)): cos(3 theta - pi) = -(4c^3 - 3c) at c = 1/3 is 23/27",
            sp.Subs(-(4 * _c3 ** 3 - 3 * _c3), _c3, sp.Rational(1, 3)), sp.Rational(23, 27))
ANGLES.numeric_step("... so the vertex solid angle 3 acos(1/3) - pi (in [0, pi]) is acos(23/27) (30 digits)",
                    3 * sp.acos(sp.Rational(1, 3)) - sp.pi, sp.acos(sp.Rational(23, 27)), tol=1e-25)
ANGLES.step("d = 4 (j = 3): 2n C(n-1,3) beta_0(3) = 8 C(n,4) beta_tet",
            sp.Subs(_vertex_prefactor, _j, 3), 8 * sp.binomial(_n, 4) * _beta_tet, how="equals")
ANGLES.prediction("beta_tetrahedron", _beta_tet, [])
ANGLES.prediction("angle_integrand", _angle_integrand, [_z, _n, _j])
# binomial(n-1, j) expanded per branch: a polynomial in n (lambdify would write C(n-1, j) as a ratio of
# gamma functions, which overflows at vocabulary sizes)
ANGLES.prediction("vertex_prefactor",
                  lambda: sp.Piecewise(*[(sp.expand_func(_vertex_prefactor.subs(_j, jj)), sp.Eq(_j, jj))
                                         for jj in range(MAX_VERTEX_DIM)], (sp.nan, True)), [_n, _j])

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
_rr = sp.Symbol("r", positive=True)
_dist = sp.Symbol("delta", nonnegative=True)
_bgap = sp.Symbol("beta", real=True)
_resid_d = _D[4] - _mix
SU2022.step("diamond: the distance term r*||w_5 - sum alpha_i w_i|| vanishes for every t (interior point)",
            sp.Subs(_rr * sp.sqrt(_resid_d.dot(_resid_d)), _al, _t_weights), sp.Integer(0))
SU2022.step("outside (delta > 0, written delta + 1): r*(delta + 1) + beta -> +inf, the bias is irrelevant",
            sp.Eq(sp.Limit(_rr * (_dist + 1) + _bgap, _rr, sp.oo), sp.oo, evaluate=False), how="true")
# the diamond with bias: the limit value is b_5 - max((b_1 + b_3)/2, (b_2 + b_4)/2)
SU2022.step("diamond: limit value at t = 0 is b_5 - (b_1 + b_3)/2", sp.Subs(_bd[4] - _avg_b_t, _t, 0),
            _bd[4] - (_bd[0] + _bd[2]) / 2)
SU2022.step("diamond: limit value at t = 1/2 is b_5 - (b_2 + b_4)/2", sp.Subs(_bd[4] - _avg_b_t, _t, sp.Rational(1, 2)),
            _bd[4] - (_bd[1] + _bd[3]) / 2)
SU2022.prediction("diamond_limit_value",
                  lambda: sp.Min(SU2022.get_step("diamond: limit value at t = 0 is b_5 - (b_1 + b_3)/2").rhs,
                                 SU2022.get_step("diamond: limit value at t = 1/2 is b_5 - (b_2 + b_4)/2").rhs),
                  list(_bd))

DERIVATIONS = [CRITERION, INVARIANCES, STRUCTURE, DIAMOND, GAUSSIAN, ANGLES, SU2022]
