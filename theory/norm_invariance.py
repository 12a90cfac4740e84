"""LayerNorm vs RMSNorm: the invariance table, the input gradient, and what ε breaks.

Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", NeurIPS, arXiv 1910.07467
(README table of the official code, after Ba et al. 2016, Table 1). The norm acts on the
summed inputs a = W x (units i = 1..d, one training case x at a time):

    RMSNorm(a)_i = a_i / RMS(a),       RMS(a) = √(mean_j a_j²)
    LayerNorm(a)_i = (a_i − ā) / σ(a), σ(a)² = mean_j (a_j − ā)²   (= RMSNorm(a − ā·1))

How each transformation of the table acts on a (δ > 0, γ any vector):

| cell                | change        | effect on a                 | LayerNorm | RMSNorm |
|---------------------|---------------|-----------------------------|-----------|---------|
| weight-scale        | W → δW        | a → δa                      | invariant | invariant |
| weight-recentre     | W → W + 1γᵀ   | a → a + (γᵀx)·1             | invariant | **not** |
| row-scale           | w_r → δ w_r   | a_r → δ a_r                 | not       | not     |
| data-scale          | x_n → δ x_n ∀n | a → δa                     | invariant | invariant |
| data-recentre       | x_n → x_n + γ | a → a + Wγ (any direction)  | not       | not     |
| single-case-scale   | x_1 → δ x_1   | case 1: a → δa; others same | invariant | invariant |

Derived here (sympy, d = 3 units, symbolic entries): each cell, as an exact identity or an
exact counterexample; the Jacobians J_RMS = (I − y yᵀ/d)/RMS(a) and
J_LN = (I − 11ᵀ/d − y yᵀ/d)/σ(a), so the input gradient Jᵀg is ⟂ a for both norms and also
⟂ 1 for LayerNorm; and the ε of an implementation: with ε > 0 the output shrinks by the
factor s/√(s² + ε) at input scale s (RMS for RMSNorm, σ for LayerNorm), so scale invariance
holds to a relative tolerance τ only above s_τ = √ε (1 − τ)/√(τ(2 − τ)) ≈ √(ε/2τ).
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "CELLS", "TABLE", "KINDS", "EQUIVALENCE", "CELL_STEPS", "GRADIENT", "EPSILON",
           "theory_row"]

SOURCE = ("Zhang & Sennrich 2019, Root Mean Square Layer Normalization, NeurIPS, arXiv 1910.07467 "
          "(README invariance table; after Ba et al. 2016, arXiv 1607.06450, Table 1)")

D = 3
a = sp.symbols("a1:4", real=True)
a_ = list(a)
delta = sp.Symbol("delta", positive=True)
c = sp.Symbol("c", real=True)
g = sp.symbols("g1:4", real=True)
eps = sp.Symbol("epsilon", positive=True)
s = sp.Symbol("s", positive=True)          # input scale: RMS (RMSNorm) or σ (LayerNorm)
tau = sp.Symbol("tau", positive=True)      # relative tolerance
r = sp.Symbol("r", positive=True)          # a measured relative deviation


def _mean(v):
    return sp.Add(*v) / len(v)


def rms_norm(v, e=0):
    """RMSNorm of the list ``v`` (ε = e), as a list of sympy expressions."""
    rho = sp.sqrt(_mean([vi ** 2 for vi in v]) + e)
    return [vi / rho for vi in v]


def layer_norm(v, e=0):
    """LayerNorm of ``v`` (ε = e), centred two-pass variance."""
    mu = _mean(v)
    cen = [vi - mu for vi in v]
    sig = sp.sqrt(_mean([ci ** 2 for ci in cen]) + e)
    return [ci / sig for ci in cen]


NORMS = {"layernorm": layer_norm, "rmsnorm": rms_norm}
KINDS = tuple(NORMS)
CELLS = ("weight-scale", "weight-recentre", "row-scale", "data-scale", "data-recentre", "single-case-scale")


def _vec(v):
    return sp.Matrix(v)


# --- LN = RMSNorm on centred input ------------------------------------------------------
EQUIVALENCE = Derivation(
    "norm-ln-is-centred-rms",
    statement="LayerNorm(a) = RMSNorm(a − ā·1): LayerNorm is RMSNorm after re-centring (one-pass variance "
              "mean(a²) − ā² = mean((a − ā)²)).",
    assumptions=["a ∈ R^d not constant (σ(a) > 0)", "d = 3 units, symbolic entries", "ε = 0, no gain or bias"],
    source=SOURCE + ", §3",
)


def _ln_one_pass():
    mu = _mean(a_)
    var = _mean([ai ** 2 for ai in a_]) - mu ** 2
    return _vec([(ai - mu) / sp.sqrt(var) for ai in a_])


EQUIVALENCE.step("LayerNorm with the one-pass variance = RMSNorm of the centred input",
                 _ln_one_pass, lambda: _vec(rms_norm([ai - _mean(a_) for ai in a_])))
EQUIVALENCE.step("on a zero-mean input LayerNorm equals RMSNorm (a₃ = −a₁ − a₂)",
                 lambda: sp.Subs(_vec(layer_norm(a_)), a[2], -a[0] - a[1]),
                 lambda: sp.Subs(_vec(rms_norm(a_)), a[2], -a[0] - a[1]))

# --- the invariance table, cell by cell ----------------------------------------------------
CELL_STEPS = Derivation(
    "norm-invariance-table",
    statement="The invariance table of Zhang & Sennrich 2019: LayerNorm is invariant to weight scale, weight "
              "re-centring, data scale and single-case scale, not to row scale or data re-centring; RMSNorm is "
              "additionally not invariant to weight re-centring.",
    assumptions=["a = W x, δ > 0, ε = 0, no gain or bias (an affine map after the norm keeps every equality)",
                 "per-case norm: case n's output depends on its own a only",
                 "counterexamples at stated points show a cell fails (the Jacobian steps of "
                 "norm-gradient-orthogonality show it fails for almost every input)"],
    source=SOURCE,
)
_scale = [delta * ai for ai in a_]
_shift = [ai + c for ai in a_]
_x = sp.symbols("x1:3", real=True)
_W = sp.Matrix([[1, 2], [0, -1], [3, 1]])  # any fixed W: a = W x
_b = sp.symbols("b1:4", real=True)          # a second case of the batch

#: cell -> kind -> (invariant?, the name of the step that shows it)
TABLE: dict[str, dict[str, tuple[bool, str]]] = {c_: {} for c_ in CELLS}


def _cell(kind: str, cell: str, invariant: bool, how: str, lhs, rhs) -> None:
    """Add the step for one cell of the table and record its verdict (the table's only source)."""
    name = f"{kind} {cell}: {how}"
    CELL_STEPS.step(name, lhs, rhs)
    TABLE[cell][kind] = (invariant, name)


def _same(kind, new):
    """(Subs(y₁(a), a → new), y₁(a)): unit 1 is unchanged (every unit, by relabelling the units)."""
    f = NORMS[kind]
    return (lambda: sp.Subs(f(a_)[0], a, new)), (lambda: f(a_)[0])


def _change(kind, new, point, extra=()):
    """y₃(a') − y₃(a) at an exact point (the check substitutes and evaluates both norms)."""
    f = NORMS[kind]
    syms = list(a) + [p for p, _ in extra]
    vals = list(point) + [v for _, v in extra]
    return lambda: sp.Subs(f(new)[2] - f(a_)[2], syms, vals)


def _batch(kind, first):
    """Unit 1 of both cases of the batch (a, b)."""
    f = NORMS[kind]
    return sp.Matrix([f(first)[0], f(list(_b))[0]])


for _k in KINDS:
    _cell(_k, "weight-scale", True, "W → δW is a → δa; the output is unchanged", *_same(_k, _scale))
    _cell(_k, "data-scale", True, "x → δx gives W(δx) = δ·Wx; the output is unchanged",
          lambda k=_k: sp.Subs(NORMS[k](list(_W @ sp.Matrix(_x)))[0], _x, [delta * xi for xi in _x]),
          lambda k=_k: NORMS[k](list(_W @ sp.Matrix(_x)))[0])
    _cell(_k, "single-case-scale", True, "scaling case 1 of a batch (a, b) leaves both outputs unchanged",
          lambda k=_k: sp.Subs(_batch(k, a_), a, _scale), lambda k=_k: _batch(k, a_))
# weight re-centring W + 1γᵀ adds the same γᵀx = c to every unit
_cell("layernorm", "weight-recentre", True, "a → a + c·1; the output is unchanged", *_same("layernorm", _shift))
_cell("rmsnorm", "weight-recentre", False, "a → a + c·1 changes y₃ at a = (1, −1, 0), c = 1 (0 → √15/5)",
      _change("rmsnorm", _shift, (1, -1, 0), [(c, 1)]), sp.sqrt(15) / 5)
# row scale: unit 1 only
_row = [delta * a[0], a[1], a[2]]
_cell("layernorm", "row-scale", False, "a₁ → 2a₁ changes y₃ at a = (1, −1, 0) (0 → −√14/14)",
      _change("layernorm", _row, (1, -1, 0), [(delta, 2)]), -sp.sqrt(14) / 14)
_cell("rmsnorm", "row-scale", False, "a₁ → 2a₁ changes y₃ at a = (1, −1, 2) (√2 → 2√3/3)",
      _change("rmsnorm", _row, (1, -1, 2), [(delta, 2)]), 2 * sp.sqrt(3) / 3 - sp.sqrt(2))
# data re-centring x + γ adds Wγ, a direction that is neither 1 nor a (here c·e₁)
_dir = [a[0] + c, a[1], a[2]]
_cell("layernorm", "data-recentre", False, "a → a + c·e₁ changes y₃ at a = (1, −1, 0), c = 2 (0 → −√26/13)",
      _change("layernorm", _dir, (1, -1, 0), [(c, 2)]), -sp.sqrt(26) / 13)
_cell("rmsnorm", "data-recentre", False, "a → a + c·e₁ changes y₃ at a = (1, −1, 2), c = 2 (√2 → √42/7)",
      _change("rmsnorm", _dir, (1, -1, 2), [(c, 2)]), sp.sqrt(42) / 7 - sp.sqrt(2))
assert all(len(TABLE[c_]) == len(KINDS) for c_ in CELLS), TABLE


def theory_row(kind: str) -> dict[str, bool]:
    """cell -> invariant? for ``kind`` ('layernorm' or 'rmsnorm'), read from the checked steps."""
    return {cell: TABLE[cell][kind][0] for cell in CELLS}


# --- Jacobian and the input gradient ---------------------------------------------------------
GRADIENT = Derivation(
    "norm-gradient-orthogonality",
    statement="RMSNorm's input gradient is ⟂ a; LayerNorm's is ⟂ a and ⟂ 1 (J_RMS = (I − yyᵀ/d)/RMS, "
              "J_LN = (I − 11ᵀ/d − yyᵀ/d)/σ); RMSNorm's has 1ᵀ∇ = (1ᵀg − (gᵀy)ȳ)/RMS ≠ 0.",
    assumptions=["d = 3 units, symbolic input a and upstream gradient g", "ε = 0, no gain or bias"],
    source=SOURCE + " (derived for attnprobe)",
)


def _grad_dot(kind, weights):
    """Σ_i w_i ∂(gᵀy)/∂a_i, unevaluated derivatives."""
    y = NORMS[kind](a_)
    L = sp.Add(*[gi * yi for gi, yi in zip(g, y)])
    return sp.Add(*[wi * sp.Derivative(L, ai) for wi, ai in zip(weights, a)], evaluate=False)


def _jac(kind):
    y = NORMS[kind](a_)
    return sp.Matrix(D, D, lambda i, j: sp.Derivative(y[i], a[j]))


def _jac_closed(kind):
    y = sp.Matrix(NORMS[kind](a_))
    eye = sp.eye(D)
    if kind == "rmsnorm":
        return (eye - y * y.T / D) / sp.sqrt(_mean([ai ** 2 for ai in a_]))
    mu = _mean(a_)
    sig = sp.sqrt(_mean([(ai - mu) ** 2 for ai in a_]))
    return (eye - sp.ones(D, D) / D - y * y.T / D) / sig


GRADIENT.step("rmsnorm Jacobian closed form (J_LN = J_RMS(a − ā) (I − 11ᵀ/d) by the chain rule)",
              lambda: _jac("rmsnorm"), lambda: _jac_closed("rmsnorm"))
for _kind in KINDS:
    GRADIENT.step(f"{_kind}: ∇·a = Σ a_i ∂(gᵀy)/∂a_i = 0 (scale invariance)", lambda k=_kind: _grad_dot(k, a_), 0)
GRADIENT.step("layernorm: ∇·1 = Σ ∂(gᵀy)/∂a_i = 0 (shift invariance)", lambda: _grad_dot("layernorm", [1] * D), 0)


def _rms_sum_closed():
    y = rms_norm(a_)
    rho = sp.sqrt(_mean([ai ** 2 for ai in a_]))
    return (sp.Add(*g) - sp.Add(*[gi * yi for gi, yi in zip(g, y)]) * _mean(y)) / rho


GRADIENT.step("rmsnorm: ∇·1 = (1ᵀg − (gᵀy)·ȳ)/RMS(a), not 0 in general",
              lambda: _grad_dot("rmsnorm", [1] * D), _rms_sum_closed)

# --- what ε breaks ---------------------------------------------------------------------------
EPSILON = Derivation(
    "norm-epsilon-break",
    statement="With ε > 0 the normalised output shrinks by s/√(s² + ε) at input scale s (RMS for RMSNorm, σ for "
              "LayerNorm): relative deviation r(s) = 1 − s/√(s² + ε) ≈ ε/(2s²); scale invariance holds to τ only "
              "for s ≥ s_τ = √ε(1 − τ)/√(τ(2 − τ)).",
    assumptions=["ε > 0 added to the mean square (RMSNorm) or the variance (LayerNorm), as torch does",
                 "s = RMS(a) (RMSNorm) or σ(a) (LayerNorm)", "0 < τ < 1"],
    source=SOURCE + " (derived for attnprobe; torch.nn.LayerNorm ε = 1e-5, torch.nn.RMSNorm ε = finfo.eps)",
)
# a probe input of scale s: s·u with u = (√(3/2), −√(3/2), 0), whose mean is 0 and RMS = σ = 1
_u = [sp.sqrt(sp.Rational(3, 2)), -sp.sqrt(sp.Rational(3, 2)), 0]
_su = [s * ui for ui in _u]
_r_of_s = 1 - s / sp.sqrt(s ** 2 + eps)
EPSILON.step("RMSNorm at input s·u (RMS s): 1 − y_ε/y₀ = r(s) = 1 − s/√(s² + ε)",
             lambda: sp.Subs(1 - rms_norm(a_, eps)[0] / rms_norm(a_)[0], a, _su), _r_of_s)
EPSILON.step("LayerNorm at input s·u (σ = s): 1 − y_ε/y₀ = r(s) = 1 − s/√(s² + ε)",
             lambda: sp.Subs(1 - layer_norm(a_, eps)[0] / layer_norm(a_)[0], a, _su), _r_of_s)
EPSILON.step("small ε: r(s)·s²/ε → 1/2", lambda: sp.Limit(_r_of_s * s ** 2 / eps, eps, 0), sp.Rational(1, 2))
_s_tau = sp.sqrt(eps) * (1 - tau) / sp.sqrt(tau * (2 - tau))
EPSILON.step("break scale s_τ = √ε(1 − τ)/√(τ(2 − τ)): (1 − r(s_τ))² = (1 − τ)², so r(s_τ) = τ for 0 < τ < 1 "
             "(both roots positive)", lambda: sp.Subs((1 - _r_of_s) ** 2, s, _s_tau), (1 - tau) ** 2)
_eps_of_r = s ** 2 * ((1 - r) ** -2 - 1)
EPSILON.step("inverse: the ε that gives deviation r at scale s is s²((1 − r)⁻² − 1)",
             lambda: sp.Subs(_eps_of_r, r, _r_of_s), eps)
EPSILON.prediction("relative_deviation", None, [s, eps],
                   from_step="RMSNorm at input s·u (RMS s): 1 − y_ε/y₀ = r(s) = 1 − s/√(s² + ε)")
EPSILON.prediction("break_scale", _s_tau, [eps, tau])
EPSILON.prediction("effective_eps", _eps_of_r, [s, r])

DERIVATIONS = [EQUIVALENCE, CELL_STEPS, GRADIENT, EPSILON]
