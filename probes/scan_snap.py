"""Scan-and-snap probe: simulate the 1-layer Transformer dynamics of Tian et al. 2023 and test its laws.

Tian, Wang, Chen & Du 2023, arXiv 2305.16380; theory in :mod:`theory.scan_snap`. The model is the
paper's reparametrisation in the long-sequence limit: K classes (next tokens 0..K−1 among M
outputs), one query token, contextual tokens l with P(l|n) — each class has its own *distinct*
tokens and shares *common* tokens with the others. Attention c_{l|n} ∝ P(l|n)e^{z_l}, feature
f_n = c_n/‖c_n‖, logits o_n = Yᵀf_n, loss (1/K)Σ_n −log softmax(o_n)_n; gradient descent with
step sizes η_Y (decoder) and η_Z (attention) from Y = 0, z = 0 (float64, autograd).

Measured beside theory:

* Lemma 1: max |Σ_j Y_lj| and |Σ_l z_l| over the run (0 to rounding);
* Thm 2: the final z of every distinct token > 0, of every common token < 0;
* Thm 3: for class 0's two most likely distinct tokens, the step ratio Δz_l/Δz_l' against
  ρ²e^{2(z_l − z_l')} (ρ = P(l|0)/P(l'|0)), max relative error over the run;
* Thm 4 / snap: the step at which the mean probability of the right next token reaches ½
  (t½) and the step at which the leading distinct token's z moves fastest (t_peak), beside the
  derived t½ = K(M − 2 + (M − 1)ln(M − 1))/(η_Y M) (exact for orthonormal features) and the
  quoted t₀ = 2K ln M/η_Y.

Options that break a premise, for negative controls: ``decoder="mse"`` (squared error on one-hot
targets: not shift-invariant), ``attention="sigmoid"`` (c_l ∝ P(l|n)σ(z_l): not shift-invariant),
``common_in`` (the classes that contain the common tokens; one class makes them distinct).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from probes._lazy import lazy_import
from probes.errors import InputError, check_finite
from probes.result import Result

th = lazy_import("theory.scan_snap")

__all__ = ["SnapData", "make_data", "SnapResult", "simulate", "RATIO_LAW_TOL", "ROW_SUM_TOL", "VERDICTS"]

RATIO_LAW_TOL = 0.05     # Thm 3 "holds" when the ratio law's max relative error stays below 5 %
ROW_SUM_TOL = 1e-10      # Lemma 1: |row sum| / max|Y| in float64
VERDICTS = ("holds", "fails")


@dataclass(frozen=True)
class SnapData(Result):
    """P(l|n) over the support tokens: distinct tokens of class n, then the common tokens."""

    K: int
    M: int
    n_distinct: int
    n_common: int
    w_common: float
    P: tuple                     # K rows of S probabilities
    distinct: tuple              # per class, the support indices of its distinct tokens
    common: tuple                # support indices of the common tokens
    common_in: tuple             # classes that contain the common tokens


def make_data(*, K: int = 10, M: int = 1000, n_distinct: int = 5, n_common: int = 5, w_common: float = 0.5,
              common_in=None, exclusive: bool = False, seed: int = 0) -> SnapData:
    """Sequence classes: class n puts mass 1 − w on its distinct tokens (random weights) and w on the common ones.

    ``exclusive``: the first "common" token appears in class 0 only (the others share the rest): it is then a
    distinct token of class 0, which breaks Thm 2's premise for it.
    """
    if K < 2 or M < K or n_distinct < 1 or n_common < 0:
        raise InputError(f"K={K}, M={M}, n_distinct={n_distinct}, n_common={n_common}: need K ≥ 2, M ≥ K, "
                         "n_distinct ≥ 1, n_common ≥ 0")
    if not (0 <= w_common < 1) or (n_common == 0 and w_common > 0):
        raise InputError(f"w_common={w_common}: use 0 ≤ w < 1 (and 0 when there are no common tokens)")
    common_in = tuple(range(K)) if common_in is None else tuple(int(c) for c in common_in)
    gen = torch.Generator().manual_seed(70_000 + int(seed))
    S = K * n_distinct + n_common
    P = torch.zeros(K, S, dtype=torch.float64)
    for n in range(K):
        w = torch.rand(n_distinct, generator=gen, dtype=torch.float64) + 0.5
        shared = w_common if n in common_in else 0.0
        P[n, n * n_distinct:(n + 1) * n_distinct] = w / w.sum() * (1 - shared)
        if n_common:
            if exclusive and n_common > 1 and n != 0:
                P[n, K * n_distinct + 1:] = shared / (n_common - 1)
            else:
                P[n, K * n_distinct:] = shared / n_common
    where = (P > 0).sum(0)
    distinct = tuple(tuple(int(i) for i in torch.nonzero((P[n] > 0) & (where == 1)).flatten()) for n in range(K))
    common = tuple(int(i) for i in torch.nonzero(where > 1).flatten())
    return SnapData(K, M, n_distinct, n_common, w_common, tuple(map(tuple, P.tolist())), distinct, common, common_in)


@dataclass(frozen=True)
class SnapResult(Result):
    eta_Y: float
    eta_Z: float
    steps: int
    decoder: str
    attention: str
    K: int
    M: int
    w_common: float
    common_in: tuple
    row_sum_Y: float             # max over steps of max_l |Σ_j Y_lj| / max(1, max|Y|)
    row_sum_z: float             # max over steps of |Σ_l z_l| / max(1, max|z|)
    lemma1: str
    z_distinct_min: float        # the smallest final z over distinct tokens (of the classes with common tokens)
    z_common_max: float | None   # the largest final z over common tokens (in ≥ 2 classes)
    z_first_common: float | None # the final z of the first token of the common group (exclusive: class 0 only)
    thm2: str
    ratio_pair: tuple            # (l, l') support indices in class 0
    ratio_law_max_rel_error: float
    thm3: str
    t_half: int | None           # first step with mean α_n ≥ ½
    t_peak: int | None           # step of the fastest z of class 0's leading distinct token
    t_half_theory: float         # K(M − 2 + (M − 1)ln(M − 1))/(η_Y M), orthonormal features
    t0_quoted: float             # 2K ln M/η_Y
    final_loss: float
    final_alpha: float
    seed: int
    dtype: str
    device: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def _forward(P, Y, z, attention: str, decoder: str, K: int):
    """(loss, mean α_n) with autograd-friendly ops (used to check :func:`_grads`)."""
    e = P * (torch.exp(z) if attention == "softmax" else torch.sigmoid(z))[None, :]
    c = e / e.sum(1, keepdim=True)
    f = c / c.norm(dim=1, keepdim=True)
    o = f @ Y                                          # (K, M) logits
    tgt = torch.arange(K, device=Y.device)
    if decoder == "softmax":
        logp = torch.log_softmax(o, dim=1)
        return -logp[tgt, tgt].mean(), logp.exp()[tgt, tgt].mean()
    onehot = torch.zeros_like(o)
    onehot[tgt, tgt] = 1.0
    return 0.5 * (o - onehot).pow(2).sum(1).mean(), torch.softmax(o, dim=1)[tgt, tgt].mean()


def _grads(P, Y, z, attention: str, decoder: str, K: int):
    """Closed-form (loss, α, ∂L/∂Y, ∂L/∂z), back-propagated by hand through o = fᵀY, f = c/‖c‖,
    c = e/Σe, e = P ⊙ h(z) (tests compare it with autograd)."""
    h = torch.exp(z) if attention == "softmax" else torch.sigmoid(z)
    dh = h if attention == "softmax" else h * (1 - h)
    e = P * h[None, :]
    se = e.sum(1, keepdim=True)
    c = e / se
    nc = c.norm(dim=1, keepdim=True)
    f = c / nc
    o = f @ Y
    tgt = torch.arange(K, device=Y.device)
    a = torch.softmax(o, dim=1)
    alpha = a[tgt, tgt].mean()
    onehot = torch.zeros_like(o)
    onehot[tgt, tgt] = 1.0
    if decoder == "softmax":
        loss = -torch.log(a[tgt, tgt]).mean()
        g_o = (a - onehot) / K
    else:
        loss = 0.5 * (o - onehot).pow(2).sum(1).mean()
        g_o = (o - onehot) / K
    g_Y = f.T @ g_o
    g_f = g_o @ Y.T
    g_c = (g_f - (g_f * f).sum(1, keepdim=True) * f) / nc
    g_e = (g_c - (g_c * c).sum(1, keepdim=True)) / se
    g_z = (g_e * P).sum(0) * dh
    return loss, alpha, g_Y, g_z


def simulate(data: SnapData | None = None, *, eta_Y: float = 1.0, eta_Z: float = 0.01, steps: int = 300,
             decoder: str = "softmax", attention: str = "softmax", seed: int = 0, dtype: torch.dtype = torch.float64,
             device="cpu", **data_kw) -> SnapResult:
    """Run the dynamics for ``steps`` gradient steps and measure Lemma 1, Thm 2, Thm 3 and the snap time."""
    if decoder not in ("softmax", "mse") or attention not in ("softmax", "sigmoid"):
        raise InputError(f"decoder={decoder!r} / attention={attention!r}: use softmax|mse and softmax|sigmoid")
    if not (eta_Y > 0 and eta_Z >= 0 and steps >= 2) or not all(map(math.isfinite, (eta_Y, eta_Z))):
        raise InputError(f"eta_Y={eta_Y}, eta_Z={eta_Z}, steps={steps}: need finite η_Y > 0, η_Z ≥ 0, steps ≥ 2")
    data = data or make_data(seed=seed, **data_kw)
    K, M = data.K, data.M
    P = torch.tensor(data.P, dtype=dtype, device=device)
    S = P.shape[1]
    Y = torch.zeros(S, M, dtype=dtype, device=device)
    z = torch.zeros(S, dtype=dtype, device=device)
    own = list(data.distinct[0][:data.n_distinct])   # class 0's own distinct tokens
    if len(own) < 2:
        raise InputError("the ratio law needs at least two distinct tokens in class 0 (n_distinct ≥ 2)")
    top2 = torch.argsort(P[0, own], descending=True)[:2].tolist()
    l1, l2 = own[top2[0]], own[top2[1]]
    rho = float(P[0, l1] / P[0, l2])
    rs_Y = rs_z = 0.0
    t_half = None
    rates, ratio_err = [], 0.0
    tiny = 1e3 * torch.finfo(dtype).tiny
    for step in range(steps):
        loss, alpha, gY, gz = _grads(P, Y, z, attention, decoder, K)
        if True:
            if t_half is None and float(alpha) >= 0.5:
                t_half = step
            dzs = -eta_Z * gz
            rates.append(float(dzs[l1]))
            if abs(float(dzs[l2])) > tiny and abs(float(dzs[l1])) > tiny:
                pred = float(th.Z_RATE.predict("rate_ratio", rho=rho, dz=float(z[l1] - z[l2])))
                ratio_err = max(ratio_err, abs(float(dzs[l1] / dzs[l2]) / pred - 1))
            Y -= eta_Y * gY
            z += dzs
            rs_Y = max(rs_Y, float(Y.sum(1).abs().max() / max(1.0, float(Y.abs().max()))))
            rs_z = max(rs_z, float(z.sum().abs() / max(1.0, float(z.abs().max()))))
    loss, alpha, _, _ = _grads(P, Y, z, attention, decoder, K)
    zf = z
    check_finite("scan-snap", "final z, loss and row sums", [float(zf.abs().max()), float(loss), rs_Y, rs_z])
    with_common = [n for n in range(K) if n in data.common_in] if data.common else []
    dist_idx = [i for n in (with_common or range(K)) for i in data.distinct[n]]
    z_dist_min = float(zf[dist_idx].min())
    z_com_max = float(zf[list(data.common)].max()) if data.common else None
    first = K * data.n_distinct
    z_com0 = float(zf[first]) if data.n_common else None
    lemma1 = "holds" if max(rs_Y, rs_z) <= ROW_SUM_TOL else "fails"
    thm2 = "holds" if (z_com_max is not None and z_dist_min > 0 > z_com_max) else "fails"
    thm3 = "holds" if ratio_err <= RATIO_LAW_TOL else "fails"
    t_peak = max(range(len(rates)), key=lambda i: rates[i]) if max(rates) > 1e-12 else None  # not rounding noise
    notes = []
    if t_half is None:
        notes.append(f"α_n never reached ½ in {steps} steps: run longer for the snap time")
    elif t_peak is not None and t_peak >= steps - 1:
        notes.append("the distinct token's z was still accelerating at the last step")
    if not data.common:
        notes.append("no common tokens: f_n are orthonormal and z stays 0 (theory: g ∝ f gives no motion)")
    return SnapResult(
        eta_Y=eta_Y, eta_Z=eta_Z, steps=steps, decoder=decoder, attention=attention, K=K, M=M, w_common=data.w_common,
        common_in=data.common_in, row_sum_Y=rs_Y, row_sum_z=rs_z, lemma1=lemma1, z_distinct_min=z_dist_min,
        z_common_max=z_com_max, z_first_common=z_com0, thm2=thm2, ratio_pair=(l1, l2),
        ratio_law_max_rel_error=ratio_err, thm3=thm3, t_half=t_half, t_peak=t_peak,
        t_half_theory=float(th.DECODER.predict("half_time", K=K, M=M, eta=eta_Y)),
        t0_quoted=float(th.DECODER.predict("t0_quoted", K=K, M=M, eta=eta_Y)), final_loss=float(loss),
        final_alpha=float(alpha), seed=seed, dtype=str(dtype).replace("torch.", ""), device=str(device),
        notes=tuple(notes))
