"""Position counting under relative position encodings (Su 2022; Luo et al. 2022).

Probe task (Su, kexue.fm/archives/9105): feed n copies of one token, ask for 1..n.

1. **Equal-rows lemma.** X = 1xᵀ stays equal-rowed through every position-wise
   map (embedding, LayerNorm, FFN, residual, Q/K/V projections). Attention then
   gives o_i = Σ_j w_ij v = s_i·v with the *row mass* s_i = Σ_j w_ij.
2. **Row mass** of t identical keys with common logit c, per normaliser
   (t = i if causal, t = n if bidirectional): softmax 1; softmax₁ t e^c/(1+t e^c);
   relu²/n t·relu(c)²/n; sigmoid t·σ(c − ln n); l₂ √t; exp t e^c; clipped
   t·clip((ζ−γ)/t + γ, 0, 1); DiffAttn 1 − λ; URPE (1/t)Σ_{δ<t} c_δ (causal).
   A model cannot count iff s_i is the same for every i and no position term
   reaches V or the weights — so softmax RPE designs cannot count.
3. **Reflection lemma.** Bidirectional attention, a symmetric bias b(|i − j|) and a
   key-permutation-invariant normaliser: row i and row n+1−i see the same multiset
   of logits, so y_i = y_{n+1−i} (spread alone is not a pass criterion).
4. **Training floor.** An invariant model outputs one constant; the best constant
   is (n+1)/2 and the least MSE is (n²−1)/12, the variance of 1..n, so FVU = 1.
   A mirror-symmetric model's best pair value is also (n+1)/2: same floor.
5. **Kazemnejad et al. 2023, Thm 1.** With a distinct first token and a causal
   mask, uniform attention reading a BOS flag outputs exactly 1/t.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "ROW_MASS_CLOSED", "row_mass_depends_on_t", "predict", "TheoryRow",
           "floor_mse", "floor_fvu", "kazemnejad_output"]

SU_9105 = "Su Jianlin 2022, kexue.fm/archives/9105"

t, j, k, i, n = sp.symbols("t j k i n", integer=True, positive=True)
c = sp.Symbol("c", real=True)
lam = sp.Symbol("lambda", real=True)
eps = sp.Symbol("epsilon", positive=True)
a = sp.Symbol("a", positive=True)  # common φ(q)·φ(k) of linear attention
gamma, zeta = sp.Symbol("gamma", negative=True), sp.Symbol("zeta", positive=True)
v = sp.Symbol("v", real=True)
w = sp.Function("w")
g = sp.Function("g")
f = sp.Function("f")
x = sp.Symbol("x", real=True)


def _mass(weight_of_one_key):
    """Σ_{j=1}^{t} of a per-key weight (identical keys: every term is the same)."""
    return sp.summation(weight_of_one_key, (j, 1, t))


# --- 1. the equal-rows lemma --------------------------------------------------
equal_rows = Derivation(
    "equal-rows",
    statement="Identical inputs stay identical through position-wise maps; attention then outputs s_i·v.",
    assumptions=["x_i = x for every position i", "sub-layers other than attention act row by row"],
    source=SU_9105,
)
equal_rows.step("a position-wise map keeps rows equal: f(x_i) − f(x_j) = 0 when x_i = x_j = x",
                f(x) - f(x), 0)
equal_rows.step("attention over identical values: Σ_j w_ij v = (Σ_j w_ij)·v",
                sp.Sum(w(j) * v, (j, 1, t)), v * sp.Sum(w(j), (j, 1, t)))

# --- 2. row mass per normaliser -------------------------------------------------
_norm_softmax = sp.exp(c) / sp.summation(sp.exp(c), (k, 1, t))
_norm_l2 = sp.exp(c) / sp.sqrt(sp.summation(sp.exp(2 * c), (k, 1, t)))
_norm_softmax1 = sp.exp(c) / (1 + sp.summation(sp.exp(c), (k, 1, t)))
_relu = sp.Max(c, 0)

ROW_MASS_EXPR = {
    "softmax": _mass(_norm_softmax),
    "softmax1": _mass(_norm_softmax1),
    "relu2": _mass(_relu ** 2 / n),
    "sigmoid": _mass(1 / (1 + sp.exp(-(c - sp.log(n))))),
    "l2": _mass(_norm_l2),
    "exp": _mass(sp.exp(c)),
    # length-scaled softmax: any per-row scale κ(t) multiplies every logit alike, still 1
    "logn": _mass(sp.exp(sp.log(t) / sp.log(512) * c) / sp.summation(sp.exp(sp.log(t) / sp.log(512) * c), (k, 1, t))),
    "ssmax": _mass(sp.exp(sp.Symbol("s", positive=True) * sp.log(t) * c)
                   / sp.summation(sp.exp(sp.Symbol("s", positive=True) * sp.log(t) * c), (k, 1, t))),
    # the shift-form "SSMax" softmax(x − s·ln t): a shift common to the row, so still 1
    "shiftssmax": _mass(sp.exp(c - sp.Symbol("s", positive=True) * sp.log(t))
                        / sp.summation(sp.exp(c - sp.Symbol("s", positive=True) * sp.log(t)), (k, 1, t))),
    # clipped softmax (Bondarenko et al. 2023) on identical keys, inside the linear part of the clip
    "clipped": _mass((zeta - gamma) / t + gamma),
    # DiffAttn (Ye et al. 2024): softmax − λ·softmax
    "diff": _mass(_norm_softmax - lam * _norm_softmax),
    # normalised linear attention (Katharopoulos et al. 2020) with its ε in the denominator
    "linear": _mass(a / (sp.summation(a, (k, 1, t)) + eps)),
}
ROW_MASS_CLOSED = {
    "softmax": sp.Integer(1),
    "softmax1": t * sp.exp(c) / (1 + t * sp.exp(c)),
    "relu2": t * _relu ** 2 / n,
    "sigmoid": t / (1 + n * sp.exp(-c)),
    "l2": sp.sqrt(t),
    "exp": t * sp.exp(c),
    "logn": sp.Integer(1),
    "ssmax": sp.Integer(1),
    "shiftssmax": sp.Integer(1),
    "clipped": zeta - gamma + gamma * t,
    "diff": 1 - lam,
    "linear": t * a / (t * a + eps),
}

row_mass = Derivation(
    "row-mass",
    statement="Row mass s(t) of t identical keys per normaliser; a causal model can count iff s depends on t.",
    assumptions=["all keys carry the same logit c", "t = keys seen (i if causal, n if bidirectional)",
                 "clipped: 0 ≤ (ζ−γ)/t + γ ≤ 1", "linear: φ(q)·φ(k) = a > 0"],
    source=SU_9105 + "; Miller 2023; Hua et al. 2022; Ramapuram et al. 2024; Ye et al. 2024",
)
for _name in ROW_MASS_EXPR:
    row_mass.step(f"row mass of {_name}", ROW_MASS_EXPR[_name], ROW_MASS_CLOSED[_name])
row_mass.step("softmax₁ at c = 0 sums to t/(1+t)", ROW_MASS_CLOSED["softmax1"].subs(c, 0), t / (1 + t))
row_mass.step("linear attention is row-stochastic as ε → 0",
              sp.limit(ROW_MASS_CLOSED["linear"], eps, 0), 1)
row_mass.step("sigmoid with b = −ln n: n·σ(c − ln n) → e^c as n → ∞ (Ramapuram et al. 2024)",
              sp.limit(n * ROW_MASS_CLOSED["sigmoid"].subs(t, 1), n, sp.oo), sp.exp(c))
# URPE (Luo et al. 2022, Eq. 8) on identical tokens with B = 0: uniform causal weights 1/i times C_{i−j}
_C = sp.IndexedBase("C")
_delta = sp.Symbol("delta", integer=True, nonnegative=True)
_urpe_mass = sp.Sum(_C[i - j] / i, (j, 1, i))
row_mass.step("URPE causal row mass Σ_{j≤i} C_{i−j}/i = (1/i)Σ_{δ<i} C_δ (re-index δ = i − j)",
              _urpe_mass.change_index(j, i - j, _delta), sp.Sum(_C[_delta] / i, (_delta, 0, i - 1)))
row_mass.step("URPE with C ≡ 1 (the constant init) has row mass 1: it is plain RPE",
              sp.summation(sp.Integer(1) / i, (j, 1, i)), 1)
for _name, _expr in ROW_MASS_CLOSED.items():
    row_mass.prediction(f"row_mass_{_name}", _expr, sorted(_expr.free_symbols, key=str) or [t])


def row_mass_depends_on_t(normalizer: str) -> bool:
    """True when the sympy row mass of ``normalizer`` is not constant in t.

    Stabilising constants count: normalised linear attention's row mass
    a·t/(a·t + ε) depends on t through ε, and training finds it (it drives
    a = φ(q)·φ(k) down towards ε), so causal linear attention *can* count.
    """
    return sp.simplify(sp.diff(ROW_MASS_CLOSED[normalizer], t)) != 0


# --- 3. the reflection lemma ------------------------------------------------------
reflection = Derivation(
    "reflection",
    statement="Bidirectional attention with a symmetric bias b(|i−j|) maps position i and n+1−i to the same output.",
    assumptions=["bidirectional mask", "b(i−j) = b(j−i)", "normaliser invariant to permuting keys",
                 "URPE: C symmetric"],
    source=SU_9105 + " (derived)",
)
_row_i = sp.Sum(g(sp.Abs(i - j)), (j, 1, n))
_row_mirror = sp.Sum(g(sp.Abs(n + 1 - i - j)), (j, 1, n)).change_index(j, n + 1 - j, j)
reflection.step("row n+1−i, re-indexed j → n+1−j, is row i (any symmetric function g of the bias)",
                _row_i, _row_mirror)
reflection.step("the best value shared by a mirror pair (i, n+1−i) is their mean (n+1)/2",
                sp.solve(sp.diff((i - x) ** 2 + (n + 1 - i - x) ** 2, x), x)[0], (n + 1) / 2)

# --- 4. the training floor ---------------------------------------------------------
floor = Derivation(
    "training-floor",
    statement="A model that cannot tell positions apart has least MSE (n²−1)/12 on targets 1..n, i.e. FVU = 1.",
    assumptions=["targets y_i = i, i = 1..n", "the model outputs one constant (or mirror pairs share one)"],
    source=SU_9105 + " (derived)",
)
_mean = sp.summation(i, (i, 1, n)) / n
_mse_of_const = sp.summation((i - x) ** 2, (i, 1, n)) / n
floor.step("the MSE-optimal constant is the mean (n+1)/2", sp.solve(sp.diff(_mse_of_const, x), x)[0], _mean)
floor.step("mean of 1..n", _mean, (n + 1) / 2)
floor.step("least MSE = (1/n)Σ(i − (n+1)/2)² = (n²−1)/12", _mse_of_const.subs(x, (n + 1) / 2), (n ** 2 - 1) / 12)
floor.step("FVU at the floor = least MSE / Var(1..n) = 1",
           _mse_of_const.subs(x, (n + 1) / 2) / (sp.summation(i ** 2, (i, 1, n)) / n - _mean ** 2), 1)
floor.prediction("floor_mse", (n ** 2 - 1) / 12, [n])
floor.prediction("floor_fvu", sp.simplify(_mse_of_const.subs(x, (n + 1) / 2) / ((n ** 2 - 1) / 12)), [n])

# --- 5. Kazemnejad et al. 2023, Theorem 1 --------------------------------------------
kazemnejad = Derivation(
    "bos-counts",
    statement="Causal NoPE with a distinct first token: uniform attention reading the BOS flag outputs 1/t.",
    assumptions=["causal mask", "keys equal, so attention is uniform over the t tokens seen",
                 "value = 1 on <bos> (position 1), 0 elsewhere"],
    source="Kazemnejad et al. 2023, arXiv 2305.19466, Theorem 1 (App. C.1)",
)
_uniform = 1 / t
_flag = sp.KroneckerDelta(j, 1)
kazemnejad.step("equal keys give uniform weights 1/t", _norm_softmax, _uniform)
kazemnejad.step("o_t = Σ_{j≤t} (1/t)·[j = 1] = 1/t", sp.summation(_uniform * _flag, (j, 1, t)), 1 / t)
kazemnejad.step("1/t is injective in t, so a wide ReLU FFN can map it back to t",
                sp.solve(sp.Eq(1 / t, 1 / sp.Symbol("u", positive=True, integer=True)), t)[0],
                sp.Symbol("u", positive=True, integer=True))
kazemnejad.prediction("kazemnejad_output", 1 / t, [t])

DERIVATIONS = [equal_rows, row_mass, reflection, floor, kazemnejad]


def floor_mse(n_: int) -> float:
    return float(floor.predict("floor_mse", n=n_))


def floor_fvu(n_: int) -> float:
    return float(floor.predict("floor_fvu", n=n_))


def kazemnejad_output(t_):
    return kazemnejad.function("kazemnejad_output")(t_)


# --- the theory row of a design ------------------------------------------------------
INPUT_POSITIONS = {"abs", "learned"}          # add a term to the input: absolute
VALUE_POSITIONS = {"shaw"}                    # reach V (Shaw et al. 2018)
WEIGHT_POSITIONS = {"urpe"}                   # multiply the weights by C (Luo et al. 2022)
LOGIT_POSITIONS = {"rope", "alibi", "t5"}     # edit only the logits
SYMMETRIC_LOGIT_POSITIONS = {"alibi"}         # b(i−j) = b(j−i) bidirectionally


@dataclass(frozen=True)
class TheoryRow:
    verdict: str
    rescued_by: tuple[str, ...]
    reason: str
    row_mass: str

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "rescued_by": list(self.rescued_by), "reason": self.reason,
                "row_mass": self.row_mass}


def predict(normalizer: str, position: str, attention: str, causal: bool, *, c_is_one: bool = False,
            input_position: str | None = None) -> TheoryRow:
    """The verdict the theory predicts for a design built from these parts.

    ``c_is_one``: URPE with C ≡ 1 (Luo et al.'s constant init), which is plain RPE.
    """
    norm = {"standard": normalizer}.get(attention, attention)
    mass = ROW_MASS_CLOSED[norm]
    varies = row_mass_depends_on_t(norm)
    offset_term = position in LOGIT_POSITIONS or position == "urpe"  # a bias that sees j − i
    rescue = ("bos", "cls-sep") if (causal or offset_term) else ()
    if position in INPUT_POSITIONS or input_position in INPUT_POSITIONS:
        return TheoryRow("can-count", (), "absolute position term added to the input", str(mass))
    if position in VALUE_POSITIONS:
        return TheoryRow("can-count", (), "position term reaches the values (o_i += Σ w_ij a^V_{j−i})", str(mass))
    if position in WEIGHT_POSITIONS and not c_is_one:
        return TheoryRow("can-count", (), "weights multiplied by a Toeplitz C: row mass Σ_j a_ij c_{j−i} varies",
                         str(mass))
    if causal:
        if varies:
            return TheoryRow("can-count", (), f"causal row mass {mass} depends on t = i", str(mass))
        return TheoryRow("cannot-count", rescue, f"row mass {mass} is constant and positions act only on logits",
                         str(mass))
    # bidirectional: t = n for every row
    if not varies or position == "nope" or (position == "urpe" and c_is_one and not varies):
        return TheoryRow("cannot-count", rescue,
                         f"bidirectional: every row sees the same multiset of logits, mass {mass.subs(t, n)}"
                         if position == "nope" else f"row-normalised ({mass}): positions act only on logits",
                         str(mass))
    if position in SYMMETRIC_LOGIT_POSITIONS:
        return TheoryRow("mirror-only", (), "symmetric bias + bidirectional: y_i = y_{n+1−i} (reflection lemma)",
                         str(mass))
    return TheoryRow("can-count", (), "row mass Σ_j N(c + b_ij) varies with i under an asymmetric bias",
                     str(mass))
