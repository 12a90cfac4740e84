"""Position counting under relative position encodings (Su 2022; Luo et al. 2022).

Probe task (Su, kexue.fm/archives/9105): feed n copies of one token, ask for 1..n.

1. **Equal-rows lemma** (``equal-rows``). X = 1xᵀ stays equal-rowed through every
   position-wise map (LayerNorm, FFN, residual, Q/K/V projections: checked on a
   Pre-LN block with symbolic parameters). Attention then gives
   o_i = Σ_j w_ij v = s_i·v with the *row mass* s_i = Σ_j w_ij; a causal row i sees
   t = i keys, a bidirectional row sees t = n whatever i.
2. **Row mass** (``row-mass``) of t identical keys with common logit c, per
   normaliser: softmax 1; softmax₁ t e^c/(1+t e^c); relu²/n t·relu(c)²/n; sigmoid
   t·σ(c − ln n); l₂ √t; exp t e^c; clipped t·((ζ−γ)/t + γ); DiffAttn 1 − λ; linear
   t a/(t a + ε). A *logit-blind* normaliser (softmax, logn, ssmax, shift-ssmax,
   clipped in its linear part, DiffAttn) has the same row mass for *arbitrary*
   logits b_1..b_t, so a position term that only edits logits cancels; the others
   have a checked point where the mass moves with one logit.
3. **Position terms** (``position-terms``): where a position term acts decides
   whether the equal-rows argument survives — an input term x + p_i breaks equal
   rows; a value term (Shaw) and a weight multiplier C (URPE) make rows 1 and 2
   differ unless the table is flat (causal) or symmetric (bidirectional); C ≡ 1 is
   plain RPE; boundary tokens [CLS] … [SEP] are told apart by row i only through an
   offset bias β(−i) − β(n+1−i).
4. **Reflection lemma** (``reflection``). Bidirectional attention, a symmetric bias
   b(|i − j|) and a key-permutation-invariant normaliser: row i and row n+1−i see
   the same multiset of offsets, so y_i = y_{n+1−i}; the best value shared by a
   mirror pair is (n+1)/2 (spread alone is not a pass criterion).
5. **Training floor** (``training-floor``). An invariant model outputs one
   constant; the best constant is (n+1)/2 and the least MSE is (n²−1)/12, the
   variance of 1..n, so FVU = 1.
6. **Kazemnejad et al. 2023, Thm 1** (``bos-counts``). With a distinct first token
   and a causal mask, uniform attention reading a BOS flag outputs exactly 1/t.

:func:`predict` turns these into a design's theory row: each rule it applies names
the checked step it rests on (``TheoryRow.basis``). Importing this module builds
the steps but does no symbolic work; :func:`row_mass_depends_on_t` differentiates
the registered row mass when first called (cached).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "NORMALISERS", "LOGIT_BLIND", "POSITION_KINDS", "row_mass_depends_on_t",
           "row_mass_depends_on_logits", "row_mass_expr", "predict", "TheoryRow", "floor_mse", "floor_fvu",
           "floor_constant", "kazemnejad_output"]

SU_9105 = "Su Jianlin 2022, kexue.fm/archives/9105"

t, j, i, n = sp.symbols("t j i n", integer=True, positive=True)
delta = sp.Symbol("delta", integer=True)
c = sp.Symbol("c", real=True)
c2 = sp.Symbol("c'", real=True)          # DiffAttn's second common logit
lam = sp.Symbol("lambda", real=True)
eps = sp.Symbol("epsilon", positive=True)
a = sp.Symbol("a", positive=True)        # common φ(q)·φ(k) of linear attention
s_ = sp.Symbol("s", positive=True)       # SSMax's per-head scale
gamma, zeta = sp.Symbol("gamma", negative=True), sp.Symbol("zeta", positive=True)
v = sp.Symbol("v", real=True)
x = sp.Symbol("x", real=True)
z = sp.Symbol("z", positive=True)        # marks an offset in a generating polynomial
w = sp.Function("w")
b = sp.IndexedBase("b", real=True)       # logits b_1..b_t of one query row
bb = sp.IndexedBase("b'", real=True)     # DiffAttn's second logit map
A = sp.IndexedBase("A", positive=True)   # linear attention's φ(q)·φ(k_j) > 0
C = sp.IndexedBase("C", real=True)       # URPE's Toeplitz multiplier C_{i−j}


# --- the normalisers, as the weight of key j in a row of t keys with logits b_j ---------------
def _softmax(logits, scale=1, shift=0):
    return sp.exp(scale * logits[j] + shift) / sp.Sum(sp.exp(scale * logits[j] + shift), (j, 1, t))


_WEIGHT = {
    "softmax": lambda: _softmax(b),
    "softmax1": lambda: sp.exp(b[j]) / (1 + sp.Sum(sp.exp(b[j]), (j, 1, t))),          # Miller 2023
    "relu2": lambda: sp.Max(b[j], 0) ** 2 / n,                                           # Hua et al. 2022
    "sigmoid": lambda: 1 / (1 + sp.exp(-(b[j] - sp.log(n)))),                             # Ramapuram et al. 2024
    "l2": lambda: sp.exp(b[j]) / sp.sqrt(sp.Sum(sp.exp(2 * b[j]), (j, 1, t))),            # Su 9105, remedy 3
    "exp": lambda: sp.exp(b[j]),                                                          # Su 9105, remedy 2
    "logn": lambda: _softmax(b, scale=sp.log(t) / sp.log(512)),                           # Su 8823
    "ssmax": lambda: _softmax(b, scale=s_ * sp.log(t)),                                   # Nakanishi 2025
    "shiftssmax": lambda: _softmax(b, shift=-s_ * sp.log(t)),  # softmax(x − s ln t): a mis-read SSMax
    # clipped softmax (Bondarenko et al. 2023) inside the linear part of its clip
    "clipped": lambda: (zeta - gamma) * _softmax(b) + gamma,
    # normalised linear attention (Katharopoulos et al. 2020), ε in the denominator
    "linear": lambda: A[j] / (sp.Sum(A[j], (j, 1, t)) + eps),
}
NORMALISERS = tuple(_WEIGHT) + ("diff",)


def _mass(norm: str, keys=t):
    """Σ_{j=1}^{keys} w_j, unevaluated. DiffAttn (Ye et al. 2024) is softmax(b) − λ·softmax(b'),
    stated as the difference of two sums (linearity of Σ)."""
    if norm == "diff":
        return (sp.Sum(_softmax(b), (j, 1, t)) - lam * sp.Sum(_softmax(bb), (j, 1, t))).xreplace({t: keys})
    return sp.Sum(_WEIGHT[norm](), (j, 1, t)).xreplace({t: keys})


def _identical(norm: str):
    """The row mass with every key's logit equal (c; c' for DiffAttn's second map; a for linear)."""
    return _mass(norm).xreplace({b[j]: c, bb[j]: c2, A[j]: a})


_relu_c = sp.Max(c, 0)
ROW_MASS_CLOSED = {   # the claims the row-mass steps check; each is typed here once
    "softmax": sp.Integer(1),
    "softmax1": t * sp.exp(c) / (1 + t * sp.exp(c)),
    "relu2": t * _relu_c ** 2 / n,
    "sigmoid": t / (1 + n * sp.exp(-c)),
    "l2": sp.sqrt(t),
    "exp": t * sp.exp(c),
    "logn": sp.Integer(1),
    "ssmax": sp.Integer(1),
    "shiftssmax": sp.Integer(1),
    "clipped": zeta - gamma + gamma * t,
    "linear": t * a / (t * a + eps),
    "diff": 1 - lam,
}
# normalisers whose row mass is the same for arbitrary logits (each backed by a step below)
LOGIT_BLIND = ("softmax", "logn", "ssmax", "shiftssmax", "clipped", "diff")
# the others' two-key row mass moves with the second logit u at this point (logit 1 held at 0.3)
_u = sp.Symbol("u", real=True)
_WITNESS = {_u: sp.Rational(7, 10), n: 2, eps: sp.Rational(1, 100)}  # exact rationals: no rounding


def _two_key(norm: str):
    """The row mass of two keys with logits (0.3, u) (linear attention: φ(q)·φ(k) = (0.3, u))."""
    logit = sp.Rational(3, 10) + (_u - sp.Rational(3, 10)) * sp.KroneckerDelta(j, 2)
    return _mass(norm, 2).xreplace({b[j]: logit, A[j]: logit})


# --- 1. the equal-rows lemma ----------------------------------------------------------------------
equal_rows = Derivation(
    "equal-rows",
    statement="Identical inputs stay identical through position-wise maps; attention then outputs s_i·v, with "
              "t = i keys seen by causal row i and t = n by every bidirectional row.",
    assumptions=["x_i = x for every position i", "sub-layers other than attention act row by row"],
    source=SU_9105,
)
_D, _H = 3, 2   # a width-3 row through a Pre-LN block with a width-2 ReLU FFN
_x1 = sp.Matrix(sp.symbols("x1_1:4", real=True))
_x2 = sp.Matrix(sp.symbols("x2_1:4", real=True))
_p1 = sp.Matrix(sp.symbols("p1_1:4", real=True))
_p2 = sp.Matrix(sp.symbols("p2_1:4", real=True))


def _params():
    """LayerNorm gain g and shift β, FFN W_1, c_1, W_2, c_2 (all symbolic)."""
    g = sp.Matrix(sp.symbols("g1:4", positive=True))
    beta = sp.Matrix(sp.symbols("beta1:4", real=True))
    W1 = sp.Matrix(_H, _D, sp.symbols(f"W1_1:{_H * _D + 1}", real=True))
    c1 = sp.Matrix(sp.symbols(f"c1_1:{_H + 1}", real=True))
    W2 = sp.Matrix(_D, _H, sp.symbols(f"W2_1:{_H * _D + 1}", real=True))
    c2_ = sp.Matrix(sp.symbols("c2_1:4", real=True))
    return g, beta, W1, c1, W2, c2_


def _block(row):
    """F(x) = x + W_2 relu(W_1 LN(x) + c_1) + c_2, LN(x) = g ⊙ (x − μ)/√(σ² + ε) + β (a Pre-LN FFN block)."""
    g, beta, W1, c1, W2, c2_ = _params()
    mu = sum(row) / _D
    var = sum((r - mu) ** 2 for r in row) / _D
    ln = sp.Matrix([g[r] * (row[r] - mu) / sp.sqrt(var + eps) + beta[r] for r in range(_D)])
    hidden = (W1 * ln + c1).applyfunc(lambda u: sp.Max(u, 0))
    return row + W2 * hidden + c2_


@functools.lru_cache(maxsize=1)
def _equal_rows_lhs():
    """Built on first use (not at import) and kept: the block is large."""
    diff = _block(_x1) - _block(_x2)
    return sp.Matrix([sp.Subs(e, tuple(_x2), tuple(_x1)) for e in diff])


_EQUAL_ROWS = ("a Pre-LN block (LayerNorm, ReLU FFN, residual) maps equal rows x_1 = x_2 to equal rows: "
               "F(x_1) − F(x_2) = 0 at x_2 = x_1 (Q/K/V projections are linear maps of such rows)")
equal_rows.step(_EQUAL_ROWS, _equal_rows_lhs, lambda: sp.zeros(_D, 1))
equal_rows.step("attention over identical values: Σ_j w_ij v = (Σ_j w_ij)·v",
                sp.Sum(w(i, j) * v, (j, 1, t)), v * sp.Sum(w(i, j), (j, 1, t)))
_CAUSAL_KEYS = "causal row i sees t = i identical keys: Σ_{δ=1−i}^{0} w(c) = i·w(c)"
equal_rows.step(_CAUSAL_KEYS, sp.Sum(w(c), (delta, 1 - i, 0)), i * w(c))
_BIDIR_KEYS = "a bidirectional row i sees t = n identical keys whatever i: Σ_{δ=1−i}^{n−i} w(c) = n·w(c)"
equal_rows.step(_BIDIR_KEYS, sp.Sum(w(c), (delta, 1 - i, n - i)), n * w(c))

# --- 2. row mass per normaliser ------------------------------------------------------------------
row_mass = Derivation(
    "row-mass",
    statement="Row mass s(t) of t identical keys per normaliser; a causal model can count iff s depends on t. "
              "A logit-blind normaliser has the same row mass for arbitrary logits, so logit-only positions cancel.",
    assumptions=["all keys carry the same logit c (identical-key steps)", "t = keys seen (i if causal, n if "
                 "bidirectional)", "clipped: 0 ≤ (ζ−γ)/t + γ ≤ 1", "linear: φ(q)·φ(k) = a > 0"],
    source=SU_9105 + "; Miller 2023; Hua et al. 2022; Ramapuram et al. 2024; Ye et al. 2024",
)


def _row_mass_step(norm):
    return f"row mass of {norm} over t identical keys"


for _name in NORMALISERS:
    row_mass.step(_row_mass_step(_name), (lambda nm=_name: _identical(nm)), ROW_MASS_CLOSED[_name])
for _name in NORMALISERS:
    if _name in LOGIT_BLIND:
        row_mass.step(f"{_name} is logit-blind: its row mass over arbitrary logits b_1..b_t is s(t)",
                      (lambda nm=_name: _mass(nm)), ROW_MASS_CLOSED[_name])
    else:
        row_mass.step(f"{_name} is not logit-blind: ∂/∂u of its row mass over two keys with logits (0.3, u) ≠ 0 at u = 0.7",
                      (lambda nm=_name: sp.Ne(sp.Subs(sp.Derivative(_two_key(nm), _u), tuple(_WITNESS),
                                                      tuple(_WITNESS.values())), 0, evaluate=False)))
row_mass.step("softmax₁ at c = 0 sums to t/(1+t)", lambda: sp.Subs(_identical("softmax1"), c, 0), t / (1 + t))
row_mass.step("linear attention is row-stochastic as ε → 0",
              lambda: sp.Limit(ROW_MASS_CLOSED["linear"], eps, 0), 1)
row_mass.step("sigmoid with b = −ln n: n·σ(c − ln n) → e^c as n → ∞ (Ramapuram et al. 2024)",
              lambda: sp.Limit(n * ROW_MASS_CLOSED["sigmoid"].xreplace({t: 1}), n, sp.oo), sp.exp(c))
for _name, _expr in ROW_MASS_CLOSED.items():
    row_mass.prediction(f"row_mass_{_name}", None, sorted(_expr.free_symbols, key=str) or [t],
                        from_step=_row_mass_step(_name))


def row_mass_expr(normalizer: str) -> sp.Expr:
    """The checked closed-form row mass s(t) of ``normalizer`` (the registered prediction)."""
    if normalizer not in ROW_MASS_CLOSED:
        raise KeyError(f"no row mass for normaliser {normalizer!r}; known: {', '.join(NORMALISERS)}")
    return row_mass.expr(f"row_mass_{normalizer}")


@functools.lru_cache(maxsize=None)
def row_mass_depends_on_t(normalizer: str) -> bool:
    """True when the checked row mass s(t) of ``normalizer`` is not constant in t (∂s/∂t ≢ 0).

    Stabilising constants count: normalised linear attention's row mass
    a·t/(a·t + ε) depends on t through ε, and training finds it (it drives
    a = φ(q)·φ(k) down towards ε), so causal linear attention *can* count.
    """
    return sp.simplify(sp.diff(row_mass_expr(normalizer), t)) != 0


def row_mass_depends_on_logits(normalizer: str) -> bool:
    """False for a logit-blind normaliser (step "<name> is logit-blind: …"), True where a step shows
    the two-key row mass moving with one logit."""
    if normalizer not in ROW_MASS_CLOSED:
        raise KeyError(f"no row mass for normaliser {normalizer!r}; known: {', '.join(NORMALISERS)}")
    return normalizer not in LOGIT_BLIND


# --- 3. where a position term acts ------------------------------------------------------------------
position_terms = Derivation(
    "position-terms",
    statement="A position term at the input breaks equal rows; at the values (Shaw) or as a weight multiplier "
              "(URPE C) it makes rows differ unless its table is flat (causal) or symmetric (bidirectional); "
              "C ≡ 1 is plain RPE; [CLS]…[SEP] rows differ only through an offset bias.",
    assumptions=["identical tokens (equal rows before the position term)",
                 "uniform weights (B = 0) where the steps say so; any other weights give a generic mixture"],
    source="Shaw et al. 2018; Luo et al. 2022, Eq. 8; " + SU_9105 + " (remedy 4)",
)
_av = sp.Function("a_V", real=True)    # Shaw's value table a^V_{j−i}
_beta = sp.Function("beta", real=True)  # an offset bias β(j − i)
_kappa = sp.Symbol("kappa", real=True)
_cls, _sep = sp.symbols("c_CLS c_SEP", real=True)


def _first_projection():
    return sp.Matrix(_D, _D, sp.symbols("Wq_1:10", real=True))


_INPUT = "an input term x_i + p_i: after x_1 = x_2 the first projection still differs by W(p_1 − p_2)"
position_terms.step(_INPUT,
                    lambda: sp.Matrix([sp.Subs(e, tuple(_x2), tuple(_x1)) for e in
                                       _first_projection() * (_x1 + _p1) - _first_projection() * (_x2 + _p2)]),
                    lambda: _first_projection() * (_p1 - _p2))
position_terms.step("a value term (Shaw): Σ_j w_ij (v + a^V_{j−i}) = s_i·v + Σ_j w_ij a^V_{j−i}",
                    sp.Sum(w(i, j) * (v + _av(j - i)), (j, 1, t)),
                    v * sp.Sum(w(i, j), (j, 1, t)) + sp.Sum(w(i, j) * _av(j - i), (j, 1, t)))


def _shaw_row(row, keys):
    """Uniform weights over ``keys`` keys, values v + a^V_{j−row}."""
    return sp.Sum((v + _av(j - row)) / keys, (j, 1, keys))


_VALUE_CAUSAL = "value term, causal uniform weights: o_2 − o_1 = (a^V_{−1} − a^V_0)/2"
position_terms.step(_VALUE_CAUSAL, _shaw_row(2, 2) - _shaw_row(1, 1), (_av(-1) - _av(0)) / 2)
_VALUE_BIDIR = "value term, bidirectional n = 2: o_1 − o_2 = (a^V_1 − a^V_{−1})/2 (0 iff a^V symmetric)"
position_terms.step(_VALUE_BIDIR, _shaw_row(1, 2) - _shaw_row(2, 2), (_av(1) - _av(-1)) / 2)


def _urpe_row(row, keys):
    """URPE row mass with uniform weights over ``keys`` keys: Σ_j C_{row−j}/keys."""
    return sp.Sum(C[row - j] / keys, (j, 1, keys))


_WEIGHT_CAUSAL = "weight multiplier (URPE), causal uniform weights: s_2 − s_1 = (C_1 − C_0)/2"
position_terms.step(_WEIGHT_CAUSAL, _urpe_row(2, 2) - _urpe_row(1, 1), (C[1] - C[0]) / 2)
_WEIGHT_BIDIR = "weight multiplier, bidirectional n = 2: s_1 − s_2 = (C_{−1} − C_1)/2 (0 iff C symmetric)"
position_terms.step(_WEIGHT_BIDIR, _urpe_row(1, 2) - _urpe_row(2, 2), (C[-1] - C[1]) / 2)
_C_ONE = ("URPE with C ≡ 1 (its constant init) keeps a softmax row at mass 1: Σ_j w_ij (1 + κ C_{i−j}) = 1 at κ = 0, "
          "for arbitrary logits")
position_terms.step(_C_ONE, sp.Subs(sp.Sum(_softmax(b) * (1 + _kappa * C[i - j]), (j, 1, t)), _kappa, 0), 1)


def _boundary_ratio():
    """log(w_CLS/w_SEP) of interior row i (CLS at 0, SEP at n+1), softmax weights, offset bias β."""
    row = sp.Sum(sp.exp(c + _beta(j - i)), (j, 1, n))
    Z = sp.exp(_cls + _beta(-i)) + row + sp.exp(_sep + _beta(n + 1 - i))
    w_cls = sp.Mul(sp.exp(_cls + _beta(-i)), sp.Pow(Z, -1, evaluate=False), evaluate=False)
    w_sep = sp.Mul(sp.exp(_sep + _beta(n + 1 - i)), sp.Pow(Z, -1, evaluate=False), evaluate=False)
    return sp.log(sp.Mul(w_cls, sp.Pow(w_sep, -1, evaluate=False), evaluate=False), evaluate=False)


_BOUNDARY = ("[CLS] x…x [SEP]: row i weighs CLS against SEP by log(w_CLS/w_SEP) = c_CLS − c_SEP + β(−i) − "
             "β(n+1−i), the same for every row iff the bias is flat (NoPE)")
position_terms.step(_BOUNDARY, _boundary_ratio, _cls - _sep + _beta(-i) - _beta(n + 1 - i))

# --- 4. the reflection lemma -----------------------------------------------------------------------
reflection = Derivation(
    "reflection",
    statement="Bidirectional attention with a symmetric bias b(|i−j|) maps position i and n+1−i to the same output.",
    assumptions=["bidirectional mask", "b(i−j) = b(j−i)", "normaliser invariant to permuting keys",
                 "URPE: C symmetric"],
    source=SU_9105 + " (derived)",
)
_N_SPLIT = 6


def _offset_poly(row, keys):
    """Σ_δ z^δ over the distances δ = |row − j| of the keys j = 1..keys, split at the diagonal."""
    return sp.Sum(z ** delta, (delta, 0, row - 1)) + sp.Sum(z ** delta, (delta, 1, keys - row))


reflection.step(f"row i's distances |i − j| (n = {_N_SPLIT}, every row): Σ_j z^|i−j| = Σ_(δ<i) z^δ + "
                "Σ_(1≤δ≤n−i) z^δ",
                lambda: sp.Matrix([sp.Sum(z ** sp.Abs(r - j), (j, 1, _N_SPLIT)) for r in range(1, _N_SPLIT + 1)]),
                lambda: sp.Matrix([_offset_poly(r, _N_SPLIT) for r in range(1, _N_SPLIT + 1)]))
_MIRROR = "rows i and n+1−i see the same multiset of distances (equal generating polynomials, any n, i)"
reflection.step(_MIRROR, _offset_poly(i, n), _offset_poly(n + 1 - i, n), "equals")
_pair_loss = (i - x) ** 2 + (n + 1 - i - x) ** 2
reflection.step("the best value shared by a mirror pair (i, n+1−i) is (n+1)/2: the loss is stationary there",
                sp.Subs(sp.Derivative(_pair_loss, x), x, (n + 1) / 2), 0)
reflection.step("… and it is a minimum: the pair loss is convex in the shared value",
                sp.Gt(sp.Derivative(_pair_loss, (x, 2)), 0, evaluate=False))

# --- 5. the training floor -------------------------------------------------------------------------
floor = Derivation(
    "training-floor",
    statement="A model that cannot tell positions apart has least MSE (n²−1)/12 on targets 1..n, i.e. FVU = 1.",
    assumptions=["targets y_i = i, i = 1..n", "the model outputs one constant (or mirror pairs share one)"],
    source=SU_9105 + " (derived)",
)
_best = (n + 1) / 2
_mse_of = sp.Sum((i - x) ** 2, (i, 1, n)) / n
_var = sp.Sum(i ** 2, (i, 1, n)) / n - (sp.Sum(i, (i, 1, n)) / n) ** 2
floor.step("mean of 1..n", sp.Sum(i, (i, 1, n)) / n, _best)
floor.step("the MSE of a constant x is stationary at the mean (n+1)/2",
           sp.Subs(sp.Derivative(_mse_of, x), x, _best), 0)
floor.step("… and the MSE is convex in x, so the mean is the best constant",
           sp.Gt(sp.Derivative(_mse_of, (x, 2)), 0, evaluate=False))
floor.step("least MSE = (1/n)Σ(i − (n+1)/2)² = (n²−1)/12", sp.Subs(_mse_of, x, _best), (n ** 2 - 1) / 12)
floor.step("FVU at the floor = least MSE / Var(1..n) = 1", sp.Subs(_mse_of, x, _best) / _var, 1)
floor.prediction("floor_constant", None, [n], from_step="mean of 1..n")
floor.prediction("floor_mse", None, [n], from_step="least MSE = (1/n)Σ(i − (n+1)/2)² = (n²−1)/12")
floor.prediction("floor_fvu", None, [n], from_step="FVU at the floor = least MSE / Var(1..n) = 1")

# --- 6. Kazemnejad et al. 2023, Theorem 1 -----------------------------------------------------------
kazemnejad = Derivation(
    "bos-counts",
    statement="Causal NoPE with a distinct first token: uniform attention reading the BOS flag outputs 1/t.",
    assumptions=["causal mask", "keys equal, so attention is uniform over the t tokens seen",
                 "value = 1 on <bos> (position 1), 0 elsewhere"],
    source="Kazemnejad et al. 2023, arXiv 2305.19466, Theorem 1 (App. C.1)",
)
_uniform = lambda: _softmax(b).xreplace({b[j]: c})  # noqa: E731 - equal keys, one shared logit
kazemnejad.step("equal keys give uniform weights 1/t", _uniform, 1 / t)
_BOS = "o_t = Σ_{j≤t} w_tj·[j = 1] = 1/t"
kazemnejad.step(_BOS, lambda: sp.Sum(_uniform() * sp.KroneckerDelta(j, 1), (j, 1, t)), 1 / t)
kazemnejad.prediction("kazemnejad_output", None, [t], from_step=_BOS)
_tau = sp.Symbol("tau", positive=True)
kazemnejad.step("o(τ) = 1/τ is strictly decreasing for τ > 0, so it is injective and a wide ReLU FFN can map it "
                "back to t",
                lambda: sp.Lt(sp.Derivative(kazemnejad.expr("kazemnejad_output").xreplace({t: _tau}), _tau), 0,
                              evaluate=False))

DERIVATIONS = [equal_rows, row_mass, position_terms, reflection, floor, kazemnejad]


def floor_mse(n_: int) -> float:
    return float(floor.predict("floor_mse", n=n_))


def floor_fvu(n_: int) -> float:
    return float(floor.predict("floor_fvu", n=n_))


def floor_constant(n_: int) -> float:
    """The best constant output (n+1)/2, which a design that cannot count is held to."""
    return float(floor.predict("floor_constant", n=n_))


def kazemnejad_output(t_):
    return kazemnejad.function("kazemnejad_output")(t_)


# --- the theory row of a design ----------------------------------------------------------------------
POSITION_KINDS = ("none", "input", "logit", "value", "weight")  # where a position term acts


def _ref(d: Derivation, step: str) -> str:
    d.get_step(step)  # a rule may only cite a step that exists
    return f"{d.name}: {step}"


def _logit_step(norm: str) -> str:
    for s in row_mass.steps:
        if s.name.startswith(f"{norm} is logit-blind") or s.name.startswith(f"{norm} is not logit-blind"):
            return s.name
    raise KeyError(norm)  # pragma: no cover - every normaliser has one


@dataclass(frozen=True)
class TheoryRow:
    verdict: str
    rescued_by: tuple[str, ...]
    reason: str
    row_mass: str
    basis: tuple[str, ...] = ()   # "derivation: step" for every checked step the verdict rests on

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "rescued_by": list(self.rescued_by), "reason": self.reason,
                "row_mass": self.row_mass, "basis": list(self.basis)}


def predict(normalizer: str, causal: bool, *, kinds=("none",), symmetric: bool = True,
            c_is_one: bool = False) -> TheoryRow:
    """The verdict the checked derivations give a design built from these parts.

    ``normalizer``: a row-mass normaliser (:data:`NORMALISERS`; DiffAttn is ``"diff"``, linear
    attention ``"linear"``). ``kinds``: where the design's position terms act
    (:data:`POSITION_KINDS`; e.g. ``("input", "logit")`` for an absolute PE plus RoPE).
    ``symmetric``: the attention's position term treats offsets δ and −δ alike.
    ``c_is_one``: a weight multiplier that is identically 1 (URPE at its constant init).
    """
    kinds = set(kinds) - {"none"}
    unknown = kinds - set(POSITION_KINDS)
    if unknown:
        raise ValueError(f"unknown position kind(s) {sorted(unknown)}; use {POSITION_KINDS}")
    mass = row_mass_expr(normalizer)
    basis = [_ref(equal_rows, _EQUAL_ROWS)]
    if "weight" in kinds and c_is_one:
        kinds = (kinds - {"weight"}) | {"logit"}
        basis.append(_ref(position_terms, _C_ONE))

    def row(verdict, rescued, reason, *refs):
        return TheoryRow(verdict, tuple(rescued), reason, str(mass), tuple(basis + list(refs)))

    if "input" in kinds:
        return row("can-count", (), "a position term added to the input breaks the equal rows",
                   _ref(position_terms, _INPUT))
    for kind, causal_step, bidir_step, what in (("value", _VALUE_CAUSAL, _VALUE_BIDIR, "values (Shaw a^V)"),
                                                ("weight", _WEIGHT_CAUSAL, _WEIGHT_BIDIR, "weights (URPE C)")):
        if kind not in kinds:
            continue
        if causal:
            return row("can-count", (), f"a position table on the {what} makes causal rows differ",
                       _ref(position_terms, causal_step))
        if symmetric:
            return row("mirror-only", (), f"a symmetric table on the {what}: y_i = y_(n+1−i)",
                       _ref(position_terms, bidir_step), _ref(reflection, _MIRROR))
        return row("can-count", (), f"an asymmetric position table on the {what} makes rows differ",
                   _ref(position_terms, bidir_step))
    offset = "logit" in kinds
    rescue = ("bos", "cls-sep") if (causal or offset) else ()
    blind_ref = _ref(row_mass, _logit_step(normalizer))
    mass_ref = _ref(row_mass, _row_mass_step(normalizer))
    if causal:
        if row_mass_depends_on_t(normalizer):
            return row("can-count", (), f"causal row mass {mass} depends on t = i", mass_ref,
                       _ref(equal_rows, _CAUSAL_KEYS))
        if offset and row_mass_depends_on_logits(normalizer):
            return row("can-count", (), "causal rows see different windows of the offset bias and the row mass "
                       "moves with the logits", mass_ref, blind_ref)
        refs = [mass_ref, _ref(equal_rows, _CAUSAL_KEYS)] + ([blind_ref] if offset else [])
        return row("cannot-count", rescue, f"causal row mass {mass} is constant in t"
                   + (" and the positions act only on logits it is blind to" if offset else ""),
                   *refs, _ref(kazemnejad, _BOS))
    if not offset:
        return row("cannot-count", rescue, f"bidirectional: every row sees t = n identical keys, mass "
                   f"{mass.xreplace({t: n})}", _ref(equal_rows, _BIDIR_KEYS))
    if not row_mass_depends_on_logits(normalizer):
        return row("cannot-count", rescue, f"{normalizer} is logit-blind: positions acting only on logits cancel",
                   blind_ref, _ref(position_terms, _BOUNDARY))
    if symmetric:
        return row("mirror-only", (), "symmetric bias + bidirectional: y_i = y_(n+1−i) (reflection lemma)",
                   blind_ref, _ref(reflection, _MIRROR))
    return row("can-count", (), "an asymmetric bias gives each row its own logits and the row mass moves with them",
               blind_ref)
