"""The softmax variants of the zoo against length (logits s ~ N(μ, σ²)).

* softmax₁ (Miller 2023): w = e^{x}/(1 + Σe^{x}); null mass 1/(1 + Σe^{x}) ≈
  1/(1 + n e^{μ+σ²/2}); renormalised it is softmax; it is not shift-invariant.
* sigmoid with b = −ln n (Ramapuram et al. 2024, arXiv 2409.04431):
  n·σ(x − ln n) → e^{x}, so the row mass tends to e^{σ²/2} and the renormalised
  row to softmax (H → ln n − σ²/2).
* relu²/n (Hua et al. 2022; Su, kexue.fm/archives/9019): scale invariant,
  H = ln n − (2 − γ), row mass → σ²/2.
* clipped softmax (Bondarenko et al. 2023, arXiv 2306.12929):
  w = clip((ζ−γ)p + γ, 0, 1) is zero iff p ≤ a = −γ/(ζ−γ); with p ≈ e^{x}/(n e^{σ²/2})
  the zero fraction is Φ((ln(n a) + σ²/2)/σ) → 1 for fixed γ, and constant for γ = −α/n.
* DiffAttn (Ye et al. 2024, arXiv 2410.05258): rows of a₁ − λa₂ sum to 1 − λ;
  λ_init(l) = 0.8 − 0.6e^{−0.3 l} (0-based depth l); with a common-mode
  background the noise shrinks by |1 − p* − λ|/(1 − p*); over noise the signal
  also loses λ·e^{σ²/2−Δ}/(1 − p*) (the needle key's weight in the second map).
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["SOFTMAX1", "SIGMOID", "RELU2", "CLIPPED", "DIFF", "DERIVATIONS"]

n, sigma, alpha, a = sp.symbols("n sigma alpha a", positive=True)
mu, x, lam, gamma, zeta, c = sp.symbols("mu x lam gamma zeta c", real=True)
p, Delta = sp.symbols("p Delta", positive=True)
l = sp.Symbol("l", nonnegative=True)
x1, x2, x3 = sp.symbols("x1 x2 x3", real=True)
z = sp.Symbol("z", positive=True)
_xs = (x1, x2, x3)
_phi_std = sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)

# -- softmax1 ------------------------------------------------------------------
_den1 = 1 + sum(sp.exp(v) for v in _xs)
SOFTMAX1 = Derivation(
    "softmax1-null-mass",
    statement="softmax₁ leaves null mass 1/(1 + Σe^{x}) ≈ 1/(1 + n e^{μ+σ²/2}), which falls like 1/n; "
              "renormalised it is softmax, and a common shift of the logits changes it.",
    assumptions=["logits i.i.d. N(μ, σ²) for the mean-field null mass"],
    source="Miller 2023, 'Attention Is Off By One' (blog, 2023-07-24); mean field derived",
)
SOFTMAX1.step("null mass = 1 − Σw", 1 - sum(sp.exp(v) / _den1 for v in _xs), 1 / _den1)
SOFTMAX1.step("renormalised softmax₁ is softmax",
              (sp.exp(x1) / _den1) / sum(sp.exp(v) / _den1 for v in _xs), sp.exp(x1) / sum(sp.exp(v) for v in _xs))
SOFTMAX1.step("not shift-invariant: null mass after x → x + c",
              (1 / (1 + sum(sp.exp(v + c) for v in _xs))), 1 / (1 + sp.exp(c) * sum(sp.exp(v) for v in _xs)))
_null = 1 / (1 + n * sp.exp(mu + sigma**2 / 2))
SOFTMAX1.step("n·null mass → e^{−μ−σ²/2}", sp.limit(n * _null, n, sp.oo), sp.exp(-mu - sigma**2 / 2))
SOFTMAX1.prediction("null_mass", _null, [n, mu, sigma])

# -- sigmoid ---------------------------------------------------------------------
SIGMOID = Derivation(
    "sigmoid-minus-ln-n",
    statement="With bias b = −ln n, n·σ(x − ln n) → e^{x}: the row mass tends to e^{σ²/2} and the "
              "renormalised row to softmax, so H → ln n − σ²/2; with b = 0 the mass is about n/2.",
    assumptions=["logits i.i.d. N(0, σ²)", "n large"],
    source="Ramapuram et al. 2024, arXiv 2409.04431 (b = −ln n); limits derived",
)
_sig = 1 / (1 + sp.exp(-(x - sp.log(n))))
SIGMOID.step("n·σ(x − ln n) → e^{x}", sp.limit(n * _sig, n, sp.oo), sp.exp(x))
SIGMOID.step("σ(0) = ½, so with b = 0 the row mass is n/2 at zero logits", n / (1 + sp.exp(0)), n / 2)
SIGMOID.prediction("mass_limit", sp.exp(sigma**2 / 2), [sigma])
SIGMOID.prediction("share", _sig.subs(x, Delta) / (_sig.subs(x, Delta) + (n - 1) * _sig.subs(x, 0)), [n, Delta])

# -- relu2 -----------------------------------------------------------------------
_ex2 = sp.integrate(z**2 * _phi_std, (z, 0, sp.oo))                       # E relu(x)² for σ = 1
_ex2log = sp.integrate(z**2 * sp.log(z**2) * _phi_std, (z, 0, sp.oo))      # E relu(x)² ln relu(x)²
H_RELU2 = sp.log(n) - (2 - sp.EulerGamma)
RELU2 = Derivation(
    "relu2-entropy",
    statement="relu²/n is scale invariant (no temperature, hence no entropy-invariant version): its "
              "normalised entropy is ln n − (2 − γ) for Gaussian logits and its row mass tends to σ²/2.",
    assumptions=["logits i.i.d. N(0, σ²)", "mean field"],
    source="Su, kexue.fm/archives/9019 (scale invariance); constant derived",
)
RELU2.step("scale invariance of the normalised weights (λ > 0)",
           (a * z) ** 2 / ((a * z) ** 2 + (a * sp.Symbol("y", positive=True)) ** 2),
           z**2 / (z**2 + sp.Symbol("y", positive=True) ** 2))
RELU2.step("E relu(x)² = ½ (σ = 1)", _ex2, sp.Rational(1, 2))
RELU2.step("E relu(x)² ln relu(x)² = (2 − γ − ln 2)/2", _ex2log, (2 - sp.EulerGamma - sp.log(2)) / 2)
RELU2.step("H = ln(n E r) − E[r ln r]/E r = ln n − (2 − γ)",
           sp.expand_log(sp.log(n * _ex2), force=True) - _ex2log / _ex2, H_RELU2)
RELU2.prediction("H", H_RELU2, [n])
RELU2.prediction("mass", sigma**2 / 2, [sigma])

# -- clipped softmax -------------------------------------------------------------
_thr = -gamma / (zeta - gamma)
_zero = (1 + sp.erf(((sp.log(n * _thr) + sigma**2 / 2) / sigma) / sp.sqrt(2))) / 2
CLIPPED = Derivation(
    "clipped-softmax-length",
    statement="Clipped softmax with a fixed γ < 0 zeroes a fraction Φ((ln(n·a) + σ²/2)/σ), a = −γ/(ζ−γ), "
              "of the weights: it tends to 1 as n grows (rows die); with γ = −α/n it stays at "
              "Φ((ln α + σ²/2)/σ) at every length.",
    assumptions=["p_j ≈ e^{x_j}/(n e^{σ²/2}) (mean field)", "ζ = 1"],
    source="Bondarenko et al. 2023, arXiv 2306.12929, §4.1 (form); length behaviour derived",
)
CLIPPED.step("w = 0 iff (ζ − γ)p + γ ≤ 0 iff p ≤ −γ/(ζ − γ)",
             sp.solve(sp.Eq((zeta - gamma) * p + gamma, 0), p)[0], _thr)
CLIPPED.step("fixed γ: the Φ argument grows without bound",
             sp.Eq(sp.limit(((sp.log(n * a) + sigma**2 / 2) / sigma), n, sp.oo), sp.oo), how="true")
CLIPPED.step("γ = −α/n, ζ = 1: the Φ argument tends to (ln α + σ²/2)/σ",
             sp.limit(((sp.log(n * _thr) + sigma**2 / 2) / sigma).subs({gamma: -alpha / n, zeta: 1}), n, sp.oo),
             (sp.log(alpha) + sigma**2 / 2) / sigma, how="equals")
CLIPPED.prediction("zero_fraction", _zero, [n, gamma, zeta, sigma])
_pf = sp.exp(Delta) / (sp.exp(Delta) + n - 1)
CLIPPED.prediction("needle_weight", sp.Max(0, (zeta - gamma) * _pf + gamma), [n, Delta, gamma, zeta])
CLIPPED.prediction("background_weight", sp.Max(0, (zeta - gamma) * (1 - _pf) / (n - 1) + gamma), [n, Delta, gamma, zeta])

# -- DiffAttn --------------------------------------------------------------------
_p1 = [sp.exp(v) / sum(sp.exp(w) for w in _xs) for v in _xs]
_p2 = [sp.exp(2 * v) / sum(sp.exp(2 * w) for w in _xs) for v in _xs]
LAM_INIT = sp.Rational(8, 10) - sp.Rational(6, 10) * sp.exp(-sp.Rational(3, 10) * l)
GAIN = (1 - p) / sp.Abs(1 - p - lam)
DIFF = Derivation(
    "diff-attention",
    statement="Differential attention rows sum to 1 − λ; λ_init(l) = 0.8 − 0.6e^{−0.3l} (0-based depth) "
              "runs from 0.2 to 0.8; a background common to both maps is scaled by (1 − p* − λ)/(1 − p*), "
              "a signal-to-noise gain (1 − p*)/|1 − p* − λ| that tends to 1/|1 − λ| as the needle fades.",
    assumptions=["both maps softmax over the same keys", "common mode: the second map sees the same "
                 "background logits and the needle as background"],
    source="Ye et al. 2024, arXiv 2410.05258, Eq. 1-3 and §2.1; gain derived",
)
DIFF.step("row sum of a₁ − λa₂ is 1 − λ", sum(u - lam * v for u, v in zip(_p1, _p2)), 1 - lam)
DIFF.step("λ_init(0) = 0.2", LAM_INIT.subs(l, 0), sp.Rational(1, 5))
DIFF.step("λ_init(l) → 0.8", sp.limit(LAM_INIT, l, sp.oo), sp.Rational(4, 5))
DIFF.step("common-mode background weight ratio: (1 − p*)·u − λ·u relative to (1 − p*)·u",
          ((1 - p) - lam) / (1 - p), 1 - lam / (1 - p))
_q = sp.Symbol("q", positive=True)  # q = 1 − λ > 0 (λ below 1, as λ_init is)
DIFF.step("gain → 1/(1 − λ) as p* → 0 (λ < 1)", sp.limit(GAIN.subs(lam, 1 - _q), p, 0), 1 / _q)
_qn = sp.Symbol("q2", positive=True)  # weight of the needle key in map 2 (where it scores as noise)
_sig_ratio = 1 - lam * sp.exp(sigma**2 / 2 - Delta) / (1 - p)
DIFF.step("over noise the second map also weighs the needle key: signal ratio (p* − λq)/p* with "
          "q = p* e^{s₀−Δ}/(1 − p*) and E e^{s₀} = e^{σ²/2}",
          ((p - lam * _qn) / p).subs(_qn, p * sp.exp(sigma**2 / 2 - Delta) / (1 - p)), _sig_ratio)
GAIN_NOISE = GAIN * sp.Abs(_sig_ratio)
DIFF.prediction("gain_noise", GAIN_NOISE, [p, lam, Delta, sigma])
DIFF.prediction("lambda_init", LAM_INIT, [l])
DIFF.prediction("gain", GAIN, [p, lam])
DIFF.prediction("needle_share_flat",
                sp.Abs(_pf - lam / n) / (sp.Abs(_pf - lam / n) + (n - 1) * sp.Abs((1 - _pf) / (n - 1) - lam / n)),
                [n, Delta, lam])

DERIVATIONS = [SOFTMAX1, SIGMOID, RELU2, CLIPPED, DIFF]
