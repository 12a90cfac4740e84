"""The entropy probe's inputs and measurements: P1 (noise), P2 (needle over a flat row), P3 (needle over noise).

Logits q·k/√d with q on the sphere |q| = √d and k ~ N(0, I_d) are exactly i.i.d. N(0, 1) in
every row; rows are drawn from per-(seed, n, probe) CPU generators (the same draws on every
device) and processed in chunks of at most :data:`CHUNK_ELEMENTS` logits. A non-finite weight,
entropy, mass or share raises :class:`probes.errors.Diverged`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from probes._lazy import lazy_import
from probes.entropy.verdicts import FADE_DELTA, SIGMA
from probes.entropy.weights import WeightsFunction
from probes.errors import check_finite

th = lazy_import("theory.entropy")
tv = lazy_import("theory.softmax_variants")

__all__ = ["CHUNK_ELEMENTS", "measure_noise", "needle_flat", "noise_logits", "diff_noise_gain"]

CHUNK_ELEMENTS = 1 << 22  # logits held at once (32 MiB in float64)


def _gen(seed: int, n: int, tag: int) -> torch.Generator:
    """A CPU generator per (seed, n, probe): the same draws on every device."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + 7919 * tag + n)


def _randn(g: torch.Generator, *shape: int, dtype, device) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def _row_stats(w: torch.Tensor, needle: bool = False) -> dict[str, torch.Tensor]:
    a = w.abs()
    tot = a.sum(-1)
    alive = tot > 0
    p = a / torch.where(alive, tot, torch.ones_like(tot)).unsqueeze(-1)
    H = -torch.xlogy(p, p).sum(-1)
    out = {"H": H, "alive": alive, "mass": w.sum(-1), "maxw": p.amax(-1),
           "zero": (w == 0).to(w.dtype).mean(-1)}
    if needle:
        out["share"] = torch.where(alive, p[..., 0], torch.zeros_like(tot))
        out["raw"] = w[..., 0]
    return out


def _sphere(q: torch.Tensor) -> torch.Tensor:
    """Queries on the sphere |q| = √d, so that q·k/√d ~ N(0, 1) exactly for k ~ N(0, I) (Su's |q| = √d)."""
    return q * (math.sqrt(q.shape[-1]) / q.norm(dim=-1, keepdim=True))


def _weights_chunks(wf: WeightsFunction, n: int, rows: int, d: int, seed: int, tag: int, dtype, device,
                    needle: float | None):
    """Yield (rows_chunk, n) weights on Gaussian inputs (P1; P3 when ``needle`` is a margin)."""
    g = _gen(seed, n, tag)
    kw = dict(dtype=dtype, device=device)
    chunk = max(1, min(rows, CHUNK_ELEMENTS // n))
    if wf.form == "logits" or wf.form == "two-map":
        k = _randn(g, n, d, **kw)
        q = _sphere(_randn(g, rows, d, **kw))
        if wf.form == "two-map":
            k2, q2 = _randn(g, n, d, **kw), _sphere(_randn(g, rows, d, **kw))
        for i in range(0, rows, chunk):
            x = q[i: i + chunk] @ k.T / math.sqrt(d)
            if wf.form == "two-map":
                if needle is None:  # independent noise in the second map
                    x2 = q2[i: i + chunk] @ k2.T / math.sqrt(d)
                else:  # common mode: the same background, the needle key scored as background
                    x2 = x.clone()
                    x[:, 0] = needle
                yield wf.fn(x, x2)
            else:
                if needle is not None:
                    x[:, 0] = needle
                yield wf.fn(x)
    else:  # feature-map: the needle key k* = Δ√d q/|q|² scores exactly Δ against its own query
        k = _randn(g, n, d, **kw)
        q = _sphere(_randn(g, rows, d, **kw))
        if needle is None:
            for i in range(0, rows, chunk):
                yield wf.fn(q[i: i + chunk], k)
        else:
            for i in range(rows):  # one key set per row (rows is small for P3)
                kr = k.clone()
                kr[0] = needle * math.sqrt(d) * q[i] / (q[i] @ q[i])
                yield wf.fn(q[i: i + 1], kr)


def needle_flat(wf: WeightsFunction, n: int, delta: float, d: int, seed: int, dtype, device) -> tuple[float, float]:
    """(share, raw weight) of key 0 with logit Δ over n − 1 zero logits."""
    if wf.form == "logits":
        x = torch.zeros(1, n, dtype=dtype, device=device)
        x[0, 0] = delta
        w = wf.fn(x)
    elif wf.form == "two-map":
        x = torch.zeros(1, n, dtype=dtype, device=device)
        x2 = x.clone()
        x[0, 0] = delta
        w = wf.fn(x, x2)
    else:  # the query on the sphere |q| = √d, as in P1 and P3 (linear-attention-needle's premise)
        q = _needle_query(d, seed, dtype, device)
        k = torch.zeros(n, d, dtype=dtype, device=device)
        k[0] = delta * math.sqrt(d) * q[0] / (q[0] @ q[0])
        w = wf.fn(q, k)
    check_finite(wf.name, f"attention weights (P2 needle, n = {n}, Δ = {delta:g})", w)
    st = _row_stats(w, needle=True)
    share, raw = float(st["share"][0]), float(st["raw"][0])
    check_finite(wf.name, f"needle share (P2, n = {n}, Δ = {delta:g})", share)
    return share, raw


def _needle_query(d: int, seed: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The P2 query of a feature-map design, (1, d), on the sphere |q| = √d."""
    return _sphere(_randn(_gen(seed, 0, 99), 1, d, dtype=dtype, device=device))


def _mean(xs: list[torch.Tensor], mask: list[torch.Tensor] | None = None) -> float:
    x = torch.cat(xs)
    if mask is not None:
        m = torch.cat(mask)
        if not bool(m.any()):
            return float("nan")
        x = x[m]
    return float(x.mean())


def measure_noise(wf, ns, rows, d, seed, dtype, device, needle=None) -> dict[str, list[float]]:
    out = {k: [] for k in ("H", "mass", "maxw", "dead", "share", "zero")}
    for n in ns:
        acc = {k: [] for k in ("H", "alive", "mass", "maxw", "share", "zero")}
        probe_name = "P1 noise" if needle is None else f"P3 needle over noise, Δ = {needle:g}"
        for w in _weights_chunks(wf, n, rows, d, seed, 1 if needle is None else 3, dtype, device, needle):
            check_finite(wf.name, f"attention weights ({probe_name}, n = {n})", w, "try float64")
            st = _row_stats(w, needle=needle is not None)
            check_finite(wf.name, f"row entropies ({probe_name}, n = {n})", st["H"][st["alive"]])
            for k in acc:
                if k in st:
                    acc[k].append(st[k].detach())
        out["H"].append(_mean(acc["H"], acc["alive"]))
        out["mass"].append(_mean(acc["mass"]))
        out["maxw"].append(_mean(acc["maxw"], acc["alive"]))
        out["dead"].append(1.0 - _mean([a.to(torch.float64) for a in acc["alive"]]))
        out["zero"].append(_mean(acc["zero"]))
        if needle is not None:
            out["share"].append(_mean(acc["share"]))
    for k in ("mass", "dead", "zero") + (("share",) if needle is not None else ()):
        check_finite(wf.name, f"{k} by n ({'P1' if needle is None else 'P3'})", out[k])
    return out


def noise_logits(n: int, rows: int, *, d: int = 64, seed: int = 0, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The P1 logits, (rows, n), i.i.d. N(0, 1): q on the sphere |q| = √d, k ~ N(0, I_d), q·k/√d."""
    g = _gen(seed, n, 1)
    k = _randn(g, n, d, dtype=dtype, device=device)
    q = _sphere(_randn(g, rows, d, dtype=dtype, device=device))
    return q @ k.T / math.sqrt(d)


def diff_noise_gain(lam: float, n: int, *, rows: int = 64, delta: float = FADE_DELTA, common_mode: bool = True,
                    d: int = 64, seed: int = 0, dtype=torch.float64, device="cpu") -> dict:
    """Signal-to-noise gain of a₁ − λa₂ over a₁ alone, for a needle over N(0, 1) noise (Ye et al. 2024).

    Map 1 sees the noise with key 0 set to Δ; map 2 sees the same noise (``common_mode``)
    or an independent draw; the maps are softmax rows combined by theory's a₁ − λa₂
    (theory.softmax_variants.DIFF "weights"). With unit i.i.d. values the noise of a map w is
    √(Σ_{j≠0} w_j²), the signal w₀. Returns the mean measured gain; ``theory``: DIFF
    "gain_noise" (1 − p*)/|1 − p* − λ|·|1 − λe^{σ²/2−Δ}/(1 − p*)| at the mean-field p*
    (theory.entropy.NEEDLE "p_noise"), and the same without the signal-loss factor; and,
    for comparison only, ``theory_at_measured_p``: gain_noise averaged over the measured
    per-row p* of this draw (a conditional value, not a prediction).
    """
    x = noise_logits(n, rows, d=d, seed=seed, dtype=dtype, device=device)
    x2 = x.clone() if common_mode else noise_logits(n, rows, d=d, seed=seed + 7777, dtype=dtype, device=device)
    x[:, 0] = delta
    a1, a2 = torch.softmax(x, -1), torch.softmax(x2, -1)
    w = tv.DIFF.function("weights")(a1, a2, lam)
    design = f"diff (λ = {lam:g})"
    check_finite(design, f"attention weights (n = {n})", w)

    def snr(m):
        return m[:, 0] / m[:, 1:].pow(2).sum(-1).sqrt()

    gain = (snr(w) / snr(a1)).abs()
    check_finite(design, f"SNR gain (n = {n})", gain)
    p = a1[:, 0].cpu().numpy()
    p_mf = float(th.NEEDLE.predict("p_noise", n=n, Delta=delta, m=1.0, sigma=SIGMA))
    G = tv.DIFF.function("gain_noise")
    return {"gain": float(gain.mean()), "theory": float(G(p_mf, lam, delta, SIGMA)),
            "theory_without_signal_loss": float(tv.DIFF.function("gain")(p_mf, lam)),
            "theory_at_measured_p": float(np.mean(G(p, lam, delta, SIGMA))), "p_star": float(p.mean()),
            "p_star_theory": p_mf, "n": n, "lam": lam, "common_mode": common_mode}


_needle_flat = needle_flat  # the old private name
