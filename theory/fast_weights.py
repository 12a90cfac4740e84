"""Linear attention is a fast-weight programmer: recurrent form, delta rule, capacity.

Katharopoulos et al. 2020, "Transformers are RNNs", ICML, arXiv 2006.16236 (Eqs. 6–12, 16–20):
with a positive feature map φ (φ = elu + 1, Eq. 7), causal linear attention

    V′_i = φ(Q_i)ᵀ Σ_{j≤i} φ(K_j) V_jᵀ / φ(Q_i)ᵀ Σ_{j≤i} φ(K_j)                (parallel, masked)
         = φ(Q_i)ᵀ S_i / φ(Q_i)ᵀ z_i,  S_i = S_{i−1} + φ(K_i)V_iᵀ,  z_i = z_{i−1} + φ(K_i)   (recurrent)

Schlag, Irie & Schmidhuber 2021, "Linear Transformers Are Secretly Fast Weight Programmers",
ICML, arXiv 2102.11174: S_i is a fast weight matrix written by the sum rule; the delta rule
W_t = W_{t−1} + β_t (v_t − W_{t−1} k_t) k_tᵀ replaces the value stored under k_t; DPFP features
have d_dot = 2·d_key·ν dimensions; at most d_dot orthogonal keys fit without crosstalk.

Derived here (attnprobe; sympy): the parallel ≡ recurrent identity at n = 3 (causal, with and
without the normaliser; bidirectional); the delta rule's closed form
W_n = Σ_t β_t v_t k_tᵀ Π_{s>t}(I − β_s k_s k_sᵀ); orthonormal keys make it the sum rule; a
repeated key overwrites. Capacity: the least-squares memory of n generic keys in d dims leaves
relative error (n − min(n, d))/n = max(0, 1 − d/n) for isotropic values (tr of the projection
onto the keys' orthogonal complement is n − d; E[u₁²] = 1/N on the sphere); the sum rule with
random unit keys has crosstalk Σ_{j≠i} E(k_j·k_i)² = (n − 1)/d; DPFP's 2·d_key·ν features are
distinct products of two ReLU'd coordinates, so their span has dimension 2·d_key·min(ν, d_key − 1):
the product r(k_a)·r(−k_a) at circular distance d_key is identically 0 and distances past d_key repeat.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation

__all__ = ["DERIVATIONS", "RECURRENT", "DELTA", "CAPACITY"]

KATHAROPOULOS = "Katharopoulos et al. 2020, Transformers are RNNs, ICML, arXiv 2006.16236, Eqs. 6-12, 16-20"
SCHLAG = "Schlag, Irie & Schmidhuber 2021, Linear Transformers Are Secretly Fast Weight Programmers, arXiv 2102.11174"

# --- parallel ≡ recurrent ------------------------------------------------------------------
RECURRENT = Derivation(
    "fwp-parallel-is-recurrent",
    statement="Masked linear attention φ(Q)φ(K)ᵀ ⊙ M · V (row-normalised or not) equals the outer-product recurrence "
              "S_i = S_{i−1} + φ(k_i)v_iᵀ, z_i = z_{i−1} + φ(k_i), out_i = φ(q_i)ᵀS_i / φ(q_i)ᵀz_i; without a mask "
              "one state S_n serves every row.",
    assumptions=["n = 3 positions, d_key = 2, d_value = 1 (each value column is separate), symbolic features q = φ(Q), k = φ(K) (any feature map)",
                 "causal mask M_ij = [j ≤ i]", "normaliser φ(q_i)ᵀz_i ≠ 0 (φ = elu + 1 > 0 makes it positive)"],
    source=KATHAROPOULOS,
)
N_POS, DK, DV = 3, 2, 1
_j = sp.Symbol("j", integer=True, positive=True)
_Q, _K, _V = sp.IndexedBase("q"), sp.IndexedBase("k"), sp.IndexedBase("v")


def _dot(i, jj):
    return sp.Add(*[_Q[i, c] * _K[jj, c] for c in range(DK)])


def _parallel(normalised: bool, causal: bool = True) -> sp.Matrix:
    """Rows i = 1..n of the masked parallel form, each an unevaluated Sum over j = 1..n."""
    rows = []
    for i in range(1, N_POS + 1):
        mask = sp.Piecewise((1, sp.Le(_j, i)), (0, True)) if causal else 1
        num = [sp.Sum(mask * _dot(i, _j) * _V[_j, e], (_j, 1, N_POS)) for e in range(DV)]
        den = sp.Sum(mask * _dot(i, _j), (_j, 1, N_POS)) if normalised else 1
        rows.append([x / den for x in num])
    return sp.Matrix(rows)


def _recurrent(normalised: bool, causal: bool = True) -> sp.Matrix:
    """The same rows from the outer-product state, written position by position."""
    S, z = sp.zeros(DK, DV), sp.zeros(DK, 1)
    states = []
    for i in range(1, N_POS + 1):
        k = sp.Matrix([_K[i, c] for c in range(DK)])
        v = sp.Matrix([_V[i, e] for e in range(DV)])
        S, z = S + k * v.T, z + k
        states.append((S, z))
    rows = []
    for i in range(1, N_POS + 1):
        S, z = states[i - 1] if causal else states[-1]
        q = sp.Matrix([_Q[i, c] for c in range(DK)])
        num = q.T * S
        rows.append(list(num / (q.T * z)[0] if normalised else num))
    return sp.Matrix(rows)


RECURRENT.step("causal, normalised: parallel masked form = recurrent S_i, z_i",
               lambda: _parallel(True), lambda: _recurrent(True))
RECURRENT.step("causal, unnormalised: Σ_{j≤i}(q_i·k_j)v_j = q_iᵀS_i",
               lambda: _parallel(False), lambda: _recurrent(False))
RECURRENT.step("bidirectional, normalised: (φ(Q)φ(K)ᵀ)V row-normalised = φ(Q)(φ(K)ᵀV) / φ(Q)z_n",
               lambda: _parallel(True, causal=False), lambda: _recurrent(True, causal=False))

# --- the delta rule ----------------------------------------------------------------------------
DELTA = Derivation(
    "fwp-delta-rule-closed-form",
    statement="The delta rule W_t = W_{t−1} + β_t(v_t − W_{t−1}k_t)k_tᵀ from W_0 = 0 is "
              "W_n = Σ_t β_t v_t k_tᵀ Π_{s=t+1}^{n}(I − β_s k_s k_sᵀ); with orthonormal keys and β = 1 it is the "
              "sum rule; a repeated unit key with β = 1 stores the new value (the sum rule stores their sum).",
    assumptions=["n = 3 writes, d = 2, symbolic keys, values and β_t > 0", "W_0 = 0"],
    source=SCHLAG + ", §4.2 (delta rule); closed form derived for attnprobe",
)
_kd = [sp.Matrix(sp.symbols(f"k{t}_1:3", real=True)) for t in range(1, 4)]
_vd = [sp.Matrix(sp.symbols(f"v{t}_1:3", real=True)) for t in range(1, 4)]
_beta = sp.symbols("beta1:4", positive=True)
_theta = sp.Symbol("theta", real=True)


def delta_recurrence(keys, values, betas):
    W = sp.zeros(len(values[0]), len(keys[0]))
    for k, v, b in zip(keys, values, betas):
        W = W + b * (v - W * k) * k.T
    return W


def delta_closed(keys, values, betas):
    d = len(keys[0])
    total = sp.zeros(len(values[0]), d)
    for t, (k, v, b) in enumerate(zip(keys, values, betas)):
        P = sp.eye(d)
        for ks, bs in zip(keys[t + 1:], betas[t + 1:]):
            P = P * (sp.eye(d) - bs * ks * ks.T)
        total = total + b * v * k.T * P
    return total


DELTA.step("delta recurrence = Σ_t β_t v_t k_tᵀ Π_{s>t}(I − β_s k_s k_sᵀ) (n = 3)",
           lambda: delta_recurrence(_kd, _vd, _beta), lambda: delta_closed(_kd, _vd, _beta))
_ortho = [sp.Matrix([sp.cos(_theta), sp.sin(_theta)]), sp.Matrix([-sp.sin(_theta), sp.cos(_theta)])]
DELTA.step("orthonormal keys (a rotation by θ), β = 1: the delta memory retrieves every value, [W k₁, W k₂] = "
           "[v₁, v₂], as the sum rule does",
           lambda: delta_recurrence(_ortho, _vd[:2], (1, 1)) * sp.Matrix.hstack(*_ortho), lambda: sp.Matrix.hstack(*_vd[:2]))
_unit = sp.Matrix([sp.cos(_theta), sp.sin(_theta)])
DELTA.step("repeated unit key, β = 1: the delta memory retrieves the new value, W k = v₂",
           lambda: delta_recurrence([_unit, _unit], _vd[:2], (1, 1)) * _unit, lambda: _vd[1])
DELTA.step("repeated unit key: the sum rule retrieves v₁ + v₂ (the old value is not removed)",
           lambda: (_vd[0] * _unit.T + _vd[1] * _unit.T) * _unit, lambda: _vd[0] + _vd[1])

# --- capacity ----------------------------------------------------------------------------------
CAPACITY = Derivation(
    "fwp-capacity",
    statement="A d×d fast-weight memory of n generic keys: least-squares relative error (n − min(n, d))/n for "
              "isotropic values; sum rule with random unit keys and values: crosstalk E‖W k_i − v_i‖² = (n − 1)/d; "
              "DPFP has 2·d_key·ν features spanning 2·d_key·min(ν, d_key − 1) dimensions.",
    assumptions=["keys in general position (rank min(n, d)); values V ∈ R^{n×m} with i.i.d. N(0, 1) entries, "
                 "independent of the keys", "sum rule: keys and values i.i.d. uniform on their unit spheres",
                 "DPFP φ(k) = [r(x) ⊙ roll(r(x), i)]_{i=1..ν}, x = [k, −k], r = ReLU; 1 ≤ ν ≤ 2·d_key − 1"],
    source=SCHLAG + ", §4.1 and §5.1 (capacity, DPFP); errors derived for attnprobe",
)
n, d, m, N, nu, t_ = sp.symbols("n d m N nu t", positive=True, integer=True)
_i, _delta = sp.symbols("i delta", positive=True, integer=True)
_Kg = sp.Matrix(3, 2, lambda r_, c_: sp.Symbol(f"K{r_ + 1}{c_ + 1}", real=True))
CAPACITY.step("n = 3 generic keys (rows of K) in d = 2: the residual projector I − K(KᵀK)⁻¹Kᵀ has trace n − d = 1",
              lambda: (sp.eye(3) - _Kg * (_Kg.T * _Kg).inv() * _Kg.T).trace(), 1)
_th, _ph = sp.symbols("theta phi", real=True)
CAPACITY.step("E[u₁²] = 1/3 for u uniform on the sphere S² (surface integral)",
              lambda: sp.Integral(sp.cos(_th) ** 2 * sp.sin(_th), (_th, 0, sp.pi), (_ph, 0, 2 * sp.pi)) / (4 * sp.pi),
              sp.Rational(1, 3))
CAPACITY.step("E[u₁²] = 1/N on S^{N−1}: N equal terms sum to E‖u‖² = 1",
              lambda: sp.Sum(1 / N, (_i, 1, N)), 1)
# E[ tr-weighted ratio ] = m·tr(P⊥)·E[u₁²] with N = n·m coordinates: (n − rank)/n
_ls = (n - sp.Min(n, d)) / n
CAPACITY.step("least-squares memory error E‖P⊥V‖²/‖V‖² = m·tr(P⊥)/(n·m) with tr(P⊥) = n − min(n, d)",
              lambda: sp.Subs(m * t_ / (n * m), t_, n - sp.Min(n, d)), _ls)
_ct = (n - 1) / d
CAPACITY.step("sum-rule crosstalk Σ_{j≠i} E(k_j·k_i)²·E‖v_j‖² = (n − 1)·E[u₁²] at N = d",
              lambda: sp.Sum(sp.Subs(1 / N, N, d), (_i, 1, n - 1)), _ct)
CAPACITY.step("DPFP feature count Σ_{i=1}^{ν} Σ_{j=1}^{2·d_key} 1 = 2·d_key·ν",
              lambda: sp.Sum(sp.Sum(1, (_j, 1, 2 * d)), (_i, 1, nu)), 2 * d * nu)
CAPACITY.step("DPFP span: 2·d_key distinct non-vanishing products per circular distance 1..min(ν, d_key − 1)",
              lambda: sp.Sum(2 * d, (_delta, 1, sp.Min(nu, d - 1))), 2 * d * sp.Min(nu, d - 1))
CAPACITY.prediction("ls_error", None, [n, d],
                    from_step="least-squares memory error E‖P⊥V‖²/‖V‖² = m·tr(P⊥)/(n·m) with tr(P⊥) = n − min(n, d)")
CAPACITY.prediction("sum_crosstalk", None, [n, d],
                    from_step="sum-rule crosstalk Σ_{j≠i} E(k_j·k_i)²·E‖v_j‖² = (n − 1)·E[u₁²] at N = d")
CAPACITY.prediction("dpfp_dim", None, [d, nu], from_step="DPFP feature count Σ_{i=1}^{ν} Σ_{j=1}^{2·d_key} 1 = 2·d_key·ν")
CAPACITY.prediction("dpfp_rank", None, [d, nu],
                    from_step="DPFP span: 2·d_key distinct non-vanishing products per circular distance 1..min(ν, d_key − 1)")

DERIVATIONS = [RECURRENT, DELTA, CAPACITY]
