"""Fast-weight probe: linear attention as an outer-product memory (Katharopoulos 2020; Schlag et al. 2021).

Theory in :mod:`theory.fast_weights`. Three checks:

(a) **Equivalences, to rounding** (float64): the parallel masked form
    (φ(Q)φ(K)ᵀ ⊙ M)V / rowsum against the recurrence S_i = S_{i−1} + φ(k_i)v_iᵀ,
    z_i = z_{i−1} + φ(k_i) (causal and bidirectional, with and without the normaliser,
    φ = elu + 1); the delta rule W_t = W_{t−1} + β_t(v_t − W_{t−1}k_t)k_tᵀ against its closed form
    Σ_t β_t v_t k_tᵀ Π_{s>t}(I − β_s k_s k_sᵀ). ``exact``: max relative difference ≤ 1e-12
    (float64; 1e-5 in float32).
(b) **Capacity, Monte Carlo** (mean ± standard error over trials): least-squares memory error of n
    unit keys in d dims with Gaussian values against (n − min(n, d))/n; sum-rule crosstalk of random
    unit keys and values against (n − 1)/d; DPFP's feature count 2·d_key·ν and the rank of its
    features against 2·d_key·min(ν, d_key − 1).
(c) **A linear-attention module** (the zoo's ``LinearAttention``, or a module of your own exposing
    ``fast_weight_parts(x) -> (φ(q), φ(k), v)`` shaped (batch, heads, n, d), ``fast_weight_readout(o)``,
    ``causal`` and optionally ``eps``): its forward pass against the recurrence run on its own
    φ(q), φ(k), v, and its ``weights(x) @ v`` (the parallel form) against the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from probes._lazy import lazy_import
from probes.errors import InputError, NotApplicable, check_finite, require_finite
from probes.result import Result

th = lazy_import("theory.fast_weights")

__all__ = ["elu1", "parallel_attention", "recurrent_attention", "delta_recurrence", "delta_closed_form", "dpfp",
           "EquivalenceResult", "CapacityResult", "LayerCheck", "FastWeightResult", "equivalences", "capacity",
           "check_layer", "dpfp_memory_error", "find_linear_attention", "probe", "exact_tol", "VERDICTS"]

VERDICTS = ("recurrent-equivalent", "differs")


def exact_tol(dtype: torch.dtype) -> float:
    return {torch.float64: 1e-12, torch.float32: 1e-5}.get(dtype, 1e-2)


def elu1(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020, Eq. 7)."""
    return torch.nn.functional.elu(x) + 1.0


# -- the two forms ------------------------------------------------------------------------------------
def parallel_attention(q, k, v, *, causal: bool, normalised: bool = True, eps: float = 0.0) -> torch.Tensor:
    """(φq φkᵀ ⊙ M) v / (rowsum + eps) on features already mapped (…, n, d)."""
    a = q @ k.transpose(-1, -2)
    if causal:
        n = a.shape[-1]
        a = a.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=a.device).tril(), 0.0)
    out = a @ v
    return out / (a.sum(-1, keepdim=True) + eps) if normalised else out


def recurrent_attention(q, k, v, *, causal: bool, normalised: bool = True, eps: float = 0.0) -> torch.Tensor:
    """The fast-weight recurrence, one position at a time: S_i = S_{i−1} + k_i v_iᵀ, z_i = z_{i−1} + k_i."""
    n = q.shape[-2]
    S = torch.zeros(*q.shape[:-2], q.shape[-1], v.shape[-1], dtype=q.dtype, device=q.device)
    z = torch.zeros(*q.shape[:-2], q.shape[-1], dtype=q.dtype, device=q.device)
    states = []
    for i in range(n):
        S = S + k[..., i, :, None] * v[..., i, None, :]
        z = z + k[..., i, :]
        states.append((S, z))
    outs = []
    for i in range(n):
        S_i, z_i = states[i] if causal else states[-1]
        num = torch.einsum("...d,...de->...e", q[..., i, :], S_i)
        if normalised:
            num = num / ((q[..., i, :] * z_i).sum(-1, keepdim=True) + eps)
        outs.append(num)
    return torch.stack(outs, dim=-2)


def delta_recurrence(keys, values, betas) -> torch.Tensor:
    """W_t = W_{t−1} + β_t (v_t − W_{t−1} k_t) k_tᵀ from W_0 = 0; keys (n, d_k), values (n, d_v)."""
    W = torch.zeros(values.shape[-1], keys.shape[-1], dtype=keys.dtype, device=keys.device)
    for k, v, b in zip(keys, values, betas):
        W = W + b * torch.outer(v - W @ k, k)
    return W


def delta_closed_form(keys, values, betas) -> torch.Tensor:
    """Σ_t β_t v_t k_tᵀ Π_{s=t+1}^{n} (I − β_s k_s k_sᵀ), products accumulated from the last write back."""
    d = keys.shape[-1]
    eye = torch.eye(d, dtype=keys.dtype, device=keys.device)
    P = eye.clone()              # Π over s > t, built right to left
    W = torch.zeros(values.shape[-1], d, dtype=keys.dtype, device=keys.device)
    for t in range(keys.shape[0] - 1, -1, -1):
        W = W + betas[t] * torch.outer(values[t], keys[t]) @ P
        P = (eye - betas[t] * torch.outer(keys[t], keys[t])) @ P
    return W


def sum_rule(keys, values) -> torch.Tensor:
    return values.T @ keys


def dpfp(k: torch.Tensor, nu: int) -> torch.Tensor:
    """DPFP features (Schlag et al. 2021, §5.1): x = [r(k), r(−k)], φ = [x ⊙ roll(x, i)]_{i=1..ν}."""
    if nu < 1:
        raise InputError(f"nu={nu}: DPFP needs ν ≥ 1")
    x = torch.cat([torch.relu(k), torch.relu(-k)], dim=-1)
    return torch.cat([x * x.roll(i, dims=-1) for i in range(1, nu + 1)], dim=-1)


def _rel(a, b) -> float:
    scale = b.abs().max()
    return float(((a - b).abs().max() / scale).item()) if scale > 0 else float((a - b).abs().max().item())


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


# -- (a) equivalences -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EquivalenceResult(Result):
    n: int
    d_key: int
    d_value: int
    max_rel_diff: dict           # form -> max relative difference
    exact: dict                  # form -> bool (≤ tol)
    tol: float
    seed: int
    dtype: str
    device: str


def equivalences(*, n: int = 16, d_key: int = 8, d_value: int = 4, seed: int = 0, dtype: torch.dtype = torch.float64,
                 device="cpu", q=None, k=None, v=None) -> EquivalenceResult:
    """Parallel ≡ recurrent (causal/bidirectional, normalised or not) and delta ≡ closed form, on random inputs
    (or on the given pre-feature q, k, v of shape (…, n, d))."""
    gen = torch.Generator().manual_seed(40_000 + int(seed))
    if q is None:
        q, k = (torch.randn(2, n, d_key, generator=gen, dtype=torch.float64) for _ in range(2))
        v = torch.randn(2, n, d_value, generator=gen, dtype=torch.float64)
    for name_, t in (("q", q), ("k", k), ("v", v)):
        require_finite(name_, t)
    q, k, v = (t.to(device=device, dtype=dtype) for t in (q, k, v))
    fq, fk = elu1(q), elu1(k)
    diffs = {}
    for causal in (True, False):
        for normalised in (True, False):
            key = f"{'causal' if causal else 'bidirectional'}-{'normalised' if normalised else 'unnormalised'}"
            diffs[key] = _rel(parallel_attention(fq, fk, v, causal=causal, normalised=normalised),
                              recurrent_attention(fq, fk, v, causal=causal, normalised=normalised))
    keys = _unit(torch.randn(n, d_key, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)
    vals = torch.randn(n, d_value, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
    betas = torch.sigmoid(torch.randn(n, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)
    diffs["delta-closed-form"] = _rel(delta_closed_form(keys, vals, betas), delta_recurrence(keys, vals, betas))
    ortho = torch.linalg.qr(torch.randn(d_key, d_key, generator=gen, dtype=torch.float64))[0].T
    ortho = ortho.to(device=device, dtype=dtype)
    vo = vals[:d_key] if n >= d_key else torch.randn(d_key, d_value, dtype=dtype, device=device)
    diffs["delta-orthonormal-is-sum"] = _rel(delta_recurrence(ortho, vo, torch.ones(d_key, dtype=dtype, device=device)),
                                             sum_rule(ortho, vo))
    check_finite("fast-weights", "equivalence differences", list(diffs.values()))
    tol = exact_tol(dtype)
    return EquivalenceResult(n, d_key, d_value, diffs, {k_: v_ <= tol for k_, v_ in diffs.items()}, tol, seed,
                             str(dtype).replace("torch.", ""), str(device))


# -- (b) capacity -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CapacityResult(Result):
    d: int
    d_value: int
    trials: int
    ls_error: dict          # n -> {"mean", "se", "theory"}
    sum_crosstalk: dict     # n -> {"mean", "se", "theory"}
    dpfp: dict              # ν -> {"dim", "dim_theory", "rank", "rank_theory"}
    dpfp_ls_error: dict     # {"n", "nu", "rank_theory", "mean", "se", "theory"}
    key_rank: int | None    # keys drawn from a subspace of this rank (None: isotropic)
    values: str             # "gaussian" | "linear-in-keys"
    seed: int
    dtype: str
    device: str


def _mean_se(x: torch.Tensor) -> tuple[float, float]:
    x = x.to(torch.float64)
    return float(x.mean().item()), float(x.std(unbiased=True).item() / math.sqrt(x.numel())) if x.numel() > 1 else 0.0


def _keys(n, d, gen, key_rank, dtype, device):
    if key_rank is None:
        K = torch.randn(n, d, generator=gen, dtype=torch.float64)
    else:
        basis = torch.linalg.qr(torch.randn(d, key_rank, generator=gen, dtype=torch.float64))[0]
        K = torch.randn(n, key_rank, generator=gen, dtype=torch.float64) @ basis.T
    return _unit(K).to(device=device, dtype=dtype)


def ls_memory_error(K, V) -> float:
    """min_W ‖K Wᵀ − V‖² / ‖V‖² (the best a fast-weight matrix can store): the residual of V off the keys' span.

    Through the pseudo-inverse (SVD), so rank-deficient and under-determined key sets work on every device.
    """
    R = V - K @ (torch.linalg.pinv(K) @ V)
    return float((R.pow(2).sum() / V.pow(2).sum()).item())


def capacity(*, d: int = 16, d_value: int = 8, ns=(8, 16, 32, 64), trials: int = 200, nus=(1, 2, 3), seed: int = 0,
             dtype: torch.dtype = torch.float64, device="cpu", key_rank: int | None = None,
             values: str = "gaussian") -> CapacityResult:
    """Monte-Carlo capacity figures beside theory.fast_weights' predictions (mean ± SE over ``trials``).

    ``key_rank``: draw keys from a random subspace of that rank (breaks "keys in general position");
    ``values="linear-in-keys"``: V = K·A (breaks "values independent of the keys").
    """
    if values not in ("gaussian", "linear-in-keys"):
        raise InputError(f"values={values!r}: use 'gaussian' or 'linear-in-keys'")
    if trials < 2:
        raise InputError("trials must be ≥ 2 to estimate a standard error")
    gen = torch.Generator().manual_seed(50_000 + int(seed))
    ls, ct = {}, {}
    for n in ns:
        errs, cross = [], []
        for _ in range(trials):
            K = _keys(n, d, gen, key_rank, dtype, device)
            if values == "gaussian":
                V = torch.randn(n, d_value, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
            else:
                V = K @ torch.randn(d, d_value, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
            errs.append(ls_memory_error(K, V))
            U = _unit(torch.randn(n, d_value, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)
            R = K @ sum_rule(K, U).T                         # retrieval W k_i, W = Σ u_j k_jᵀ
            cross.append(float((R - U).pow(2).sum(-1).mean().item()))
        mean, se = _mean_se(torch.tensor(errs))
        ls[n] = {"mean": mean, "se": se, "theory": float(th.CAPACITY.predict("ls_error", n=n, d=d))}
        mean, se = _mean_se(torch.tensor(cross))
        ct[n] = {"mean": mean, "se": se, "theory": float(th.CAPACITY.predict("sum_crosstalk", n=n, d=d))}
        check_finite("fast-weights", f"capacity figures at n={n}", [ls[n]["mean"], ct[n]["mean"]])
    dp = {}
    for nu in nus:
        k = torch.randn(8 * 2 * d * nu, d, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        F = dpfp(k, nu)
        dp[nu] = {"dim": int(F.shape[-1]), "dim_theory": int(th.CAPACITY.predict("dpfp_dim", d=d, nu=nu)),
                  "rank": int(torch.linalg.matrix_rank(F.to(torch.float64)).item()),
                  "rank_theory": int(th.CAPACITY.predict("dpfp_rank", d=d, nu=nu))}
    nu0 = nus[0]
    R = dp[nu0]["rank"]
    dpls = dpfp_memory_error(2 * R, d, nu0, d_value=d_value, trials=max(2, trials // 10), seed=seed, dtype=dtype,
                             device=device)
    return CapacityResult(d, d_value, trials, ls, ct, dp, dpls, key_rank, values, seed,
                          str(dtype).replace("torch.", ""), str(device))


def dpfp_memory_error(n: int, d: int, nu: int, *, d_value: int = 8, trials: int = 20, seed: int = 0,
                      dtype: torch.dtype = torch.float64, device="cpu") -> dict:
    """Least-squares memory error of n random keys through DPFP features, beside (n − min(n, rank))/n."""
    gen = torch.Generator().manual_seed(55_000 + int(seed))
    rank = int(th.CAPACITY.predict("dpfp_rank", d=d, nu=nu))
    errs = []
    for _ in range(trials):
        Fk = dpfp(torch.randn(n, d, generator=gen, dtype=torch.float64), nu).to(device=device, dtype=dtype)
        V = torch.randn(n, d_value, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        errs.append(ls_memory_error(Fk, V))
    mean, se = _mean_se(torch.tensor(errs))
    check_finite("fast-weights", "DPFP memory error", mean)
    return {"n": n, "nu": nu, "rank_theory": rank, "mean": mean, "se": se,
            "theory": float(th.CAPACITY.predict("ls_error", n=n, d=rank))}


# -- (c) a linear-attention module ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCheck(Result):
    module: str
    causal: bool
    eps: float
    forward_vs_recurrent: float          # max relative difference of the module's output
    parallel_vs_recurrent: float | None  # its weights(x) @ v against the recurrence (None: no weights())
    exact: bool


@dataclass(frozen=True)
class FastWeightResult(Result):
    design: str
    verdict: str
    layers: tuple[LayerCheck, ...]
    tol: float
    n: int
    seed: int
    dtype: str
    device: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def _parts(module: nn.Module):
    """(parts(x) -> (φq, φk, v), readout(o) -> y, causal, eps) for the zoo's LinearAttention or a module
    implementing the fast-weight protocol."""
    if getattr(module, "role", None) == "attention" and getattr(module, "attention_kind", None) == "linear":
        return module._qkv, (lambda o: module.out(module.merge(o))), bool(module.causal), float(module.eps)
    if hasattr(module, "fast_weight_parts") and hasattr(module, "fast_weight_readout"):
        return (module.fast_weight_parts, module.fast_weight_readout, bool(getattr(module, "causal", True)),
                float(getattr(module, "eps", 0.0) or 0.0))
    raise NotApplicable(f"{type(module).__name__}: not a linear-attention module (needs fast_weight_parts(x) and "
                        "fast_weight_readout(o), or the zoo's LinearAttention)")


def find_linear_attention(module: nn.Module) -> list[tuple[str, nn.Module]]:
    found = []
    for name, m in module.named_modules():
        try:
            _parts(m)
        except NotApplicable:
            continue
        found.append((name or "(root)", m))
    return found


def check_layer(module: nn.Module, x: torch.Tensor, *, name: str = "layer", dtype=torch.float64,
                causal: bool | None = None) -> LayerCheck:
    """The module's own output and parallel weights against the recurrence on its own φ(q), φ(k), v.

    ``causal`` overrides the mask the module declares (a negative control: the wrong recurrence must differ).
    """
    require_finite(f"{name}: input", x)
    parts, readout, declared, eps = _parts(module)
    causal = declared if causal is None else bool(causal)
    with torch.no_grad():
        fq, fk, v = parts(x)
        rec = recurrent_attention(fq, fk, v, causal=causal, normalised=True, eps=eps)
        fwd = _rel(module(x), readout(rec))
        par = None
        if hasattr(module, "weights"):
            par = _rel(module.weights(x) @ v, rec)
    check_finite(name, "linear-attention differences", [fwd] + ([par] if par is not None else []))
    tol = exact_tol(dtype)
    return LayerCheck(name, causal, eps, fwd, par, fwd <= tol and (par is None or par <= tol))


def probe(design, *, n: int = 24, seed: int = 0, dtype: torch.dtype = torch.float64, device="cpu",
          d_model: int | None = None, randomize: bool | None = None) -> FastWeightResult:
    """Check every linear-attention layer of ``design`` (zoo ``linear``/``linear-causal``, a factory, or a module)."""
    from probes.designs.loading import Subject, load_design

    subject = design if isinstance(design, Subject) else load_design(
        design, randomize=randomize, seed=seed, dtype=dtype, device=device, d_model=d_model)
    layers = find_linear_attention(subject.module)
    if not layers:
        raise NotApplicable(f"{subject.name}: no linear-attention layer (the zoo's LinearAttention, or a module "
                            "with fast_weight_parts/fast_weight_readout)")
    gen = torch.Generator().manual_seed(60_000 + int(seed))
    x = torch.randn(2, n, subject.d_model, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
    checks = tuple(check_layer(m, x, name=name, dtype=dtype) for name, m in layers)
    verdict = "recurrent-equivalent" if all(c.exact for c in checks) else "differs"
    return FastWeightResult(subject.name, verdict, checks, exact_tol(dtype), n, seed,
                            str(dtype).replace("torch.", ""), str(device))
