"""How much one optimiser step moves the model, against depth (DeepNet; Su 2022).

DeepNorm (Wang et al. 2022, arXiv 2203.00555, §3–4): x_{l+1} = LN(α x_l + G_l(x_l)), with Xavier gain
β on the FFN, V and O matrices (Q, K gain 1). Theorem 4.2 bounds one step's change of the output,
‖ΔF‖ ≤ Σ_{i ≤ 2N} √(v_i² + w_i²)/α · ‖θ_i* − θ_i‖, and asks for ‖ΔF‖ = Θ(η) under SGD, which holds when
2N (v² + w²)/α² = 1 (v = w = β). Su (2022, kexue.fm/archives/8978) redoes the scale analysis per
optimiser: with W = λU (U near-orthogonal) every branch's sensitivity ∂F/∂W is O(λ/α), and one step
changes the loss by ΔL ≈ −η‖∇L‖² (SGD), −η‖∇L‖₁ (Adam: Δθ ≈ −η sign g), −η‖θ‖‖∇L‖₁ (LAMB); asking
ΔL = Θ(η) gives (with λ = 1/α for SGD and Adam) the constants below.

``deepnorm-constants``   the table (encoder-only or decoder-only; encoder–decoder) and Su's per-optimiser
                         constants satisfy their update conditions exactly; every DeepNet row has αβ = 1/√2;
                         the encoder–decoder 0.81 and 0.87 are 27^{−1/16} and 27^{1/16}/√2 rounded to two
                         digits (derived for attnprobe).
``adam-first-step``      Adam's bias-corrected first step is −η g/(|g| + ε) → −η sign(g).
``update-depth-slopes``  ‖ΔF‖ ∝ 2N·s^p, s = the per-branch sensitivity (λ/α for DeepNorm rows; 1 for
                         Post-LN; (1 + cN)^{−1/2} for Pre-LN, whose final LN divides by ‖x_N‖, see
                         theory.gradient_depth), p = 2 under SGD (Δθ = −η∂L/∂θ ∝ s) and p = 1 under Adam
                         (Δθ = −η sign). The slope d ln‖ΔF‖/d ln N: Post-LN 1 (both), Pre-LN 0 (SGD) and 1/2
                         (Adam), DeepNet's constants 0 (SGD) and 1/2 (Adam), Su's Adam constants −1 (SGD) and 0
                         (Adam). Derived for attnprobe from Theorem 4.2 and Su's scale argument; the sum over
                         layers is taken coherent (each term −η J_i J_iᵀ∇_F L points the same way under SGD).
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "DEEPNORM", "ADAM", "SLOPES", "TABLE", "SENSITIVITY", "DESIGNS", "OPTIMIZERS"]

DEEPNET = "Wang et al. 2022, DeepNet: Scaling Transformers to 1,000 Layers, arXiv 2203.00555"
SU_8978 = "Su Jianlin 2022, kexue.fm/archives/8978"

N, M = sp.symbols("N M", positive=True)
alpha, v, w, lam = sp.symbols("alpha v w lambda", positive=True)
c = sp.Symbol("c", positive=True)
q = sp.Rational(1, 4)

# (α, β or λ) per row, as the sources give them
TABLE = {
    "paper": ((2 * N) ** q, (8 * N) ** -q),                       # DeepNet, encoder-only / decoder-only
    "paper_decoder": ((3 * M) ** q, (12 * M) ** -q),              # DeepNet, enc-dec decoder (M layers)
    "paper_encdec_encoder": (sp.Rational(81, 100) * (N ** 4 * M) ** sp.Rational(1, 16),
                             sp.Rational(87, 100) * (N ** 4 * M) ** sp.Rational(-1, 16)),  # as printed
    "su_sgd": ((2 * N) ** q, (2 * N) ** -q),
    "su_adam": ((2 * N) ** sp.Rational(1, 2), (2 * N) ** sp.Rational(-1, 2)),
    "su_lamb": (sp.Integer(1), (2 * N) ** sp.Rational(-1, 2)),
}
# the encoder–decoder encoder row with the two printed decimals replaced by 27^{∓1/16}-forms
_ENC_EXACT = ((N ** 4 * M / 27) ** sp.Rational(1, 16),
              27 ** sp.Rational(1, 16) / sp.sqrt(2) * (N ** 4 * M) ** sp.Rational(-1, 16))


def _at(expr, row):
    """``expr`` in α and v = w (or λ) at a row's constants, left unevaluated (sp.Subs)."""
    a_, b_ = row
    return sp.Subs(expr, (alpha, v, w, lam), (a_, b_, b_, b_))


DEEPNORM = Derivation(
    "deepnorm-constants",
    statement="DeepNet's α, β and Su's per-optimiser α, λ satisfy their one-step update conditions exactly; "
              "the encoder–decoder 0.81 and 0.87 are 27^{−1/16} and 27^{1/16}/√2 rounded.",
    assumptions=["v = w = β (FFN, V, O gains)", "2N sub-layers for N encoder layers, 3M for M decoder layers",
                 "Su: ∂L/∂W = O(λ/α) per matrix, λ = 1/α for SGD and Adam"],
    source=DEEPNET + ", §3 Table and Theorems 4.2–4.3; " + SU_8978,
)
_SGD_CONDITION = 2 * N * (v ** 2 + w ** 2) / alpha ** 2
DEEPNORM.step("DeepNet encoder-only: 2N(v² + w²)/α² = 1 at α = (2N)^{1/4}, v = w = (8N)^{−1/4}",
              _at(_SGD_CONDITION, TABLE["paper"]), 1)
DEEPNORM.step("DeepNet decoder (M layers, 3 sub-layers each): 3M(v² + w²)/α² = 1 at α = (3M)^{1/4}, v = w = (12M)^{−1/4}",
              _at(3 * M * (v ** 2 + w ** 2) / alpha ** 2, TABLE["paper_decoder"]), 1)
DEEPNORM.step("every DeepNet row has αβ = 1/√2 (encoder-only, decoder, enc-dec encoder in 27-form)",
              sp.Matrix([[_at(alpha * v, TABLE["paper"]), _at(alpha * v, TABLE["paper_decoder"]),
                          _at(alpha * v, _ENC_EXACT)]]),
              sp.Matrix([[1 / sp.sqrt(2)] * 3]))
DEEPNORM.step("enc-dec encoder (27-form): 2N(v² + w²)/α² = 2(27/M)^{1/4}, so the encoder's update sum shrinks "
              "with decoder depth", _at(_SGD_CONDITION, _ENC_EXACT), 2 * (27 / M) ** q)
DEEPNORM.step("0.81 is 27^{−1/16} = 0.8139… to two digits (|27^{−1/16} − 0.81| < 0.005)",
              sp.StrictLessThan(sp.Abs(27 ** sp.Rational(-1, 16) - sp.Rational(81, 100)), sp.Rational(1, 200),
                                evaluate=False))
DEEPNORM.step("0.87 is 27^{1/16}/√2 = 0.8688… to two digits (|27^{1/16}/√2 − 0.87| < 0.005)",
              sp.StrictLessThan(sp.Abs(27 ** sp.Rational(1, 16) / sp.sqrt(2) - sp.Rational(87, 100)),
                                sp.Rational(1, 200), evaluate=False))
DEEPNORM.step("Su, SGD: 2N(λ/α)² = 1 and λα = 1 at α = (2N)^{1/4}, λ = (2N)^{−1/4}",
              sp.Matrix([[_at(2 * N * (lam / alpha) ** 2, TABLE["su_sgd"]), _at(lam * alpha, TABLE["su_sgd"])]]),
              sp.Matrix([[1, 1]]))
DEEPNORM.step("Su, Adam (Δθ ≈ −η sign g): 2N·λ/α = 1 and λα = 1 at α = (2N)^{1/2}, λ = (2N)^{−1/2}",
              sp.Matrix([[_at(2 * N * lam / alpha, TABLE["su_adam"]), _at(lam * alpha, TABLE["su_adam"])]]),
              sp.Matrix([[1, 1]]))
DEEPNORM.step("Su, LAMB (step ∝ ‖θ‖ ∝ λ): 2N·λ·λ/α = 1 at α = 1, λ = (2N)^{−1/2}",
              _at(2 * N * lam * lam / alpha, TABLE["su_lamb"]), 1)
DEEPNORM.step("Su's SGD gain is √2 × DeepNet's: (2N)^{−1/4} / (8N)^{−1/4} = √2 (same order, same slopes)",
              sp.Subs(v / w, (v, w), (TABLE["su_sgd"][1], TABLE["paper"][1])), sp.sqrt(2))
for _row, (_a, _b) in TABLE.items():
    _args = sorted((_a + _b).free_symbols, key=str) or [N]
    DEEPNORM.prediction(f"alpha_{_row}", _a, _args)
    DEEPNORM.prediction(f"beta_{_row}", _b, _args)

# --- Adam's first step ---------------------------------------------------------------------------------
g, eps = sp.symbols("g epsilon", real=True)
b1, b2 = sp.symbols("beta1 beta2", positive=True)
ADAM = Derivation(
    "adam-first-step",
    statement="Adam's first bias-corrected step is −η·g/(|g| + ε), i.e. −η·sign(g) as ε → 0: every entry moves by η "
              "whatever its gradient's size.",
    assumptions=["m₀ = v₀ = 0", "0 < β₁, β₂ < 1", "g ≠ 0"],
    source="Kingma & Ba 2015, Algorithm 1; " + SU_8978,
)
_m_hat = ((1 - b1) * g) / (1 - b1)
_v_hat = ((1 - b2) * g ** 2) / (1 - b2)
ADAM.step("first step / η = m̂/(√v̂ + ε) → sign(g) as ε → 0 (g > 0)",
          sp.Limit((_m_hat / (sp.sqrt(_v_hat) + eps)).subs(g, sp.Symbol("gp", positive=True)), eps, 0), 1)
ADAM.step("first step / η = m̂/(√v̂ + ε) → sign(g) as ε → 0 (g < 0)",
          sp.Limit((_m_hat / (sp.sqrt(_v_hat) + eps)).subs(g, -sp.Symbol("gp", positive=True)), eps, 0), -1)

# --- slopes of ‖ΔF‖ against N ----------------------------------------------------------------------------
OPTIMIZERS = {"sgd": 2, "adam": 1}  # power p of the sensitivity in ‖ΔF‖ ∝ N·s^p
SENSITIVITY = {
    "postln": sp.Integer(1),
    "preln": (1 + c * N) ** sp.Rational(-1, 2),
    "deepnorm": TABLE["paper"][1] / TABLE["paper"][0],
    "deepnorm-su-sgd": TABLE["su_sgd"][1] / TABLE["su_sgd"][0],
    "deepnorm-su-adam": TABLE["su_adam"][1] / TABLE["su_adam"][0],
    "deepnorm-su-lamb": TABLE["su_lamb"][1] / TABLE["su_lamb"][0],
}
SENSITIVITY["rmsnorm-preln"] = SENSITIVITY["preln"]
DESIGNS = tuple(SENSITIVITY)

SLOPES = Derivation(
    "update-depth-slopes",
    statement="One step moves the output by ‖ΔF‖ ∝ N·s^p (p = 2 SGD, 1 Adam); its depth slope is 1 for Post-LN, "
              "0/½ for Pre-LN and DeepNet's constants (SGD/Adam), −1/0 for Su's Adam constants.",
    assumptions=["sensitivity s = λ/α per branch (DeepNorm), 1 (Post-LN), (1 + cN)^{−1/2} (Pre-LN)",
                 "the 2N branch terms add coherently", "linear regime: η small"],
    source=DEEPNET + ", Theorem 4.2; " + SU_8978 + " (slopes derived for attnprobe)",
)


def _slope(design: str, opt: str):
    s = SENSITIVITY[design]
    return sp.Limit(N * sp.Derivative(sp.log(2 * N * s ** OPTIMIZERS[opt]), N), N, sp.oo)


_EXPECTED = {("postln", "sgd"): 1, ("postln", "adam"): 1, ("preln", "sgd"): 0, ("preln", "adam"): sp.Rational(1, 2),
             ("rmsnorm-preln", "sgd"): 0, ("rmsnorm-preln", "adam"): sp.Rational(1, 2),
             ("deepnorm", "sgd"): 0, ("deepnorm", "adam"): sp.Rational(1, 2),
             ("deepnorm-su-sgd", "sgd"): 0, ("deepnorm-su-sgd", "adam"): sp.Rational(1, 2),
             ("deepnorm-su-adam", "sgd"): -1, ("deepnorm-su-adam", "adam"): 0,
             ("deepnorm-su-lamb", "sgd"): 0, ("deepnorm-su-lamb", "adam"): sp.Rational(1, 2)}
for (_d, _o), _val in _EXPECTED.items():
    _name = f"{_d} under {_o}: d ln‖ΔF‖ / d ln N = {_val}"
    SLOPES.step(_name, _slope(_d, _o), _val)
    SLOPES.prediction(f"slope_{_d.replace('-', '_')}_{_o}", None, [], from_step=_name)

DERIVATIONS = [DEEPNORM, ADAM, SLOPES]
