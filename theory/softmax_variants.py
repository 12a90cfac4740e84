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
* linear attention, φ = elu + 1 (Katharopoulos et al. 2020): a needle over zero keys
  gets r/(r + n − 1) with r ∈ [e^{−Δ}, 1 + Δ] for every query on the sphere: it fades.

Steps keep their sides unevaluated (``sp.Integral``, ``sp.Limit``, ``sp.Subs``, ...):
importing this module does no symbolic work.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["SOFTMAX1", "SIGMOID", "RELU2", "CLIPPED", "DIFF", "LINEAR", "DERIVATIONS"]

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
SOFTMAX1.step("n·null mass → e^{−μ−σ²/2}", sp.Limit(n * _null, n, sp.oo), sp.exp(-mu - sigma**2 / 2))
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
SIGMOID.step("n·σ(x − ln n) → e^{x}", sp.Limit(n * _sig, n, sp.oo), sp.exp(x))
_sig0 = 1 / (1 + sp.exp(-x))
SIGMOID.step("σ(x) + σ(−x) = 1, so for logits symmetric about 0 (N(0, σ²)) E σ(s) = ½: with b = 0 the row mass "
             "is about n/2", _sig0 + sp.Subs(_sig0, x, -x), 1)
SIGMOID.prediction("mass_limit", sp.exp(sigma**2 / 2), [sigma])
SIGMOID.prediction("share", _sig.subs(x, Delta) / (_sig.subs(x, Delta) + (n - 1) * _sig.subs(x, 0)), [n, Delta])

# -- relu2 -----------------------------------------------------------------------
_ex2 = sp.Integral(z**2 * _phi_std, (z, 0, sp.oo))                         # E relu(x)² for σ = 1
_ex2log = sp.Integral(z**2 * sp.log(z**2) * _phi_std, (z, 0, sp.oo))        # E relu(x)² ln relu(x)²
_A, _B = sp.symbols("A B", positive=True)
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
RELU2.step("H = ln(n E r) − E[r ln r]/E r = ln n − (2 − γ) (the two values above)",
           sp.Subs(sp.log(n * _A) - _B / _A, (_A, _B), (sp.Rational(1, 2), (2 - sp.EulerGamma - sp.log(2)) / 2)),
           H_RELU2)
_yv = sp.Symbol("y", real=True)
_relu2 = sp.Max(0, _yv) ** 2
RELU2.step("needle over a zero background: relu(Δ)²/(relu(Δ)² + (n − 1)relu(0)²) = 1 (Δ > 0)",
           sp.Subs(_relu2 / (_relu2 + (n - 1) * sp.Subs(_relu2, _yv, 0)), _yv, Delta), 1)
RELU2.prediction("H", None, [n], from_step="H = ln(n E r) − E[r ln r]/E r = ln n − (2 − γ) (the two values above)")
RELU2.prediction("u", _relu2, [_yv])
RELU2.prediction("needle_share_flat", None, [n, Delta],
                 from_step="needle over a zero background: relu(Δ)²/(relu(Δ)² + (n − 1)relu(0)²) = 1 (Δ > 0)")
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
CLIPPED.step("w = 0 iff (ζ − γ)p + γ ≤ 0 iff p ≤ −γ/(ζ − γ): the threshold is the root of (ζ − γ)p + γ",
             sp.Subs((zeta - gamma) * p + gamma, p, _thr), 0)
CLIPPED.step("... and (ζ − γ)p + γ increases with p (ζ > γ): ∂_p = ζ − γ",
             sp.Derivative((zeta - gamma) * p + gamma, p), zeta - gamma)
CLIPPED.step("fixed γ: the Φ argument grows without bound",
             sp.Eq(sp.Limit(((sp.log(n * a) + sigma**2 / 2) / sigma), n, sp.oo), sp.oo, evaluate=False), how="true")
CLIPPED.step("γ = −α/n, ζ = 1: the Φ argument tends to (ln α + σ²/2)/σ",
             sp.Limit(((sp.log(n * _thr) + sigma**2 / 2) / sigma).subs({gamma: -alpha / n, zeta: 1}), n, sp.oo),
             (sp.log(alpha) + sigma**2 / 2) / sigma, how="equals")
CLIPPED.prediction("zero_fraction", _zero, [n, gamma, zeta, sigma])
CLIPPED.prediction("alive_keys", n * (1 - _zero), [n, gamma, zeta, sigma])
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
DIFF.step("λ_init(0) = 0.2", sp.Subs(LAM_INIT, l, 0), sp.Rational(1, 5))
DIFF.step("λ_init(l) → 0.8", sp.Limit(LAM_INIT, l, sp.oo), sp.Rational(4, 5))
DIFF.step("λ_init increases with depth: ∂_l λ_init = 0.18 e^{−0.3l} > 0",
          sp.Gt(sp.Derivative(LAM_INIT, l), 0, evaluate=False))
DIFF.step("common-mode background weight ratio: (1 − p*)·u − λ·u relative to (1 − p*)·u",
          ((1 - p) - lam) / (1 - p), 1 - lam / (1 - p))
_q = sp.Symbol("q", positive=True)  # q = 1 − λ > 0 (λ below 1, as λ_init is)
DIFF.step("gain → 1/(1 − λ) as p* → 0 (λ < 1)", sp.Limit(GAIN.subs(lam, 1 - _q), p, 0), 1 / _q)
_qn = sp.Symbol("q2", positive=True)  # weight of the needle key in map 2 (where it scores as noise)
_sig_ratio = 1 - lam * sp.exp(sigma**2 / 2 - Delta) / (1 - p)
DIFF.step("over noise the second map also weighs the needle key: signal ratio (p* − λq)/p* with "
          "q = p* e^{s₀−Δ}/(1 − p*) and E e^{s₀} = e^{σ²/2}",
          sp.Subs((p - lam * _qn) / p, _qn, p * sp.exp(sigma**2 / 2 - Delta) / (1 - p)), _sig_ratio)
GAIN_NOISE = GAIN * sp.Abs(_sig_ratio)
DIFF.prediction("gain_noise", GAIN_NOISE, [p, lam, Delta, sigma])
DIFF.prediction("lambda_init", LAM_INIT, [l])
DIFF.prediction("gain", GAIN, [p, lam])
DIFF.prediction("needle_share_flat",
                sp.Abs(_pf - lam / n) / (sp.Abs(_pf - lam / n) + (n - 1) * sp.Abs((1 - _pf) / (n - 1) - lam / n)),
                [n, Delta, lam])

_A1, _A2 = sp.symbols("A1 A2", real=True)
DIFF.prediction("weights", _A1 - lam * _A2, [_A1, _A2, lam])   # a₁ − λa₂ (the row-sum step's map)

# -- linear attention with φ = elu + 1 ------------------------------------------------
_xe = sp.Symbol("x", real=True)
_r, _T, _Nn = sp.symbols("r T N", positive=True)
_aw, _bw, _Sw, _epsw = sp.symbols("a b S eps", positive=True)
PHI_ELU = sp.Piecewise((_xe + 1, _xe >= 0), (sp.exp(_xe), True))
SHARE_LIN = _r / (_r + n - 1)
LINEAR = Derivation(
    "linear-attention-needle",
    statement="Normalised linear attention w_j = φ(q)·φ(k_j)/(Σ_l φ(q)·φ(k_l) + ε), φ = elu + 1, gives a needle "
              "key k* = Δ√d q/|q|² (so q·k*/√d = Δ) over n − 1 zero keys the share r/(r + n − 1), r = a/b with "
              "a = φ(q)·φ(k*), b = φ(q)·φ(0) = Σ_i φ(q_i). On the sphere |q| = √d every k*_i = Δq_i/√d lies in "
              "[−Δ, Δ], and φ is increasing with φ(−Δ) = e^{−Δ}, φ(Δ) = 1 + Δ, so r (a φ(q)-weighted mean of "
              "φ(k*_i)) lies in [e^{−Δ}, 1 + Δ] for every query. The fade ratio p*(N)/p*(T) = (r + T − 1)/(r + N − 1) "
              "increases with r, so p*(n) ≤ (1 + Δ)/(Δ + n) and the needle fades like 1/n whatever the query.",
    assumptions=["φ = elu + 1 (Katharopoulos et al. 2020)", "query on the sphere |q| = √d",
                 "background keys zero, the needle key k* = Δ√d q/|q|²", "ε cancels in |w|/Σ|w|"],
    source="derived (Katharopoulos et al. 2020, arXiv 2006.16236, feature map; the bounds are attnprobe's)",
)
LINEAR.step("φ(0) = 1, φ(Δ) = 1 + Δ, φ(−Δ) = e^{−Δ} (Δ > 0)",
            sp.Matrix([sp.Subs(PHI_ELU, _xe, 0), sp.Subs(PHI_ELU, _xe, Delta), sp.Subs(PHI_ELU, _xe, -Delta)]),
            sp.Matrix([1, 1 + Delta, sp.exp(-Delta)]))
LINEAR.step("φ is increasing: φ' = 1 on x ≥ 0 and e^x on x < 0, both positive",
            sp.Derivative(PHI_ELU, _xe), sp.Piecewise((1, _xe >= 0), (sp.exp(_xe), True)))
LINEAR.step("share over a zero background a/(a + (n − 1)b) = r/(r + n − 1), r = a/b",
            sp.Subs(_aw / (_aw + (n - 1) * _bw), _aw, _r * _bw), SHARE_LIN)
LINEAR.step("fade ratio p*(N)/p*(T) = (r + T − 1)/(r + N − 1)",
            sp.Subs(SHARE_LIN, n, _Nn) / sp.Subs(SHARE_LIN, n, _T), (_r + _T - 1) / (_r + _Nn - 1))
LINEAR.step("... increases with r for N > T: ∂_r = (N − T)/(r + N − 1)²",
            sp.Derivative((_r + _T - 1) / (_r + _Nn - 1), _r), (_Nn - _T) / (_r + _Nn - 1) ** 2)
LINEAR.prediction("share", SHARE_LIN, [n, _r])
LINEAR.prediction("share_max", lambda: SHARE_LIN.subs(_r, 1 + Delta), [n, Delta])
LINEAR.prediction("share_min", lambda: SHARE_LIN.subs(_r, sp.exp(-Delta)), [n, Delta])
LINEAR.prediction("weights", _aw / (_Sw + _epsw), [_aw, _Sw, _epsw])

DERIVATIONS = [SOFTMAX1, SIGMOID, RELU2, CLIPPED, DIFF, LINEAR]
