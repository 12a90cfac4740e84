"""An int8 screen for the GEMM self-witness pass of :mod:`probes.unargmaxable`: rigorous upper bounds

    U_k >= max_{i != k} y_i . y_k        (y = the float32 whitened rows)

from one symmetric int8 product, with exact int32 accumulation, ~4x the speed of the float32 one on CPUs with
VNNI. Rows are sorted by max |y_i| and cut into blocks; block B gets a power-of-two scale s_B >= max |y| / 127
and y_i = s_B q_i + r_i with q_i = round(y_i / s_B) in [-127, 127] (both parts exact in float32). Then

    y_i . y_k = s_I s_J (q_i . q_k) + y_i . r_k + r_i . (s_J q_k),
    |y_i . r_k + r_i . (s_J q_k)| <= ||y_i|| ||r_k|| + ||r_i|| ||s_J q_k||,

and q_i . q_k is an exact int32 (|q_i . q_k| <= 127^2 r < 2^31). Per tile (row block I, column block J) the
bound takes the block maxima of ||y_i||, ||r_i||, ||s q_i|| on the other side: tight because the sort makes
each block's rows alike in scale. A token whose margin z_k . y_k - U_k is not positive goes to an exact float32
re-check of its row (:func:`exact_maxima`; the caller applies the float32 rounding bound); nothing else is
approximated, so every certificate stays rigorous. Meta-tests: tests/test_witness_screen.py.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["available", "screen_maxima", "exact_maxima", "QMAX"]

QMAX = 127
_INT_MIN = -(1 << 30)  # the masked diagonal (i = k): below any product (|q_i . q_k| <= 127^2 r < 2^30 for r < 66k)
_OK: dict = {}


def available(device) -> bool:
    """True when torch's int8 x int8 -> int32 product runs on ``device`` (CPU only: the GPUs have fast float32)."""
    import torch

    dev = torch.device(device)
    if dev.type != "cpu":
        return False
    if "cpu" not in _OK:
        try:
            a = torch.ones((32, 64), dtype=torch.int8)
            _OK["cpu"] = bool(int(torch._int_mm(a, a.T)[0, 0]) == 64)
        except Exception:  # an old torch or a build without the kernel
            _OK["cpu"] = False
    return _OK["cpu"]


def _quantize(Y, ynorm, block: int):
    """(perm, Q, s, yn, rn, tn): rows sorted by max |y|, their int8 codes, one power-of-two scale per block,
    and per sorted row ||y||, ||r|| and ||s q|| as float64 upper bounds."""
    import torch

    V, r = Y.shape
    amax = Y.abs().amax(dim=1)
    perm = torch.argsort(amax, stable=True)
    am = amax[perm].double().numpy()
    nb = -(-V // block)
    ends = np.minimum(np.arange(1, nb + 1) * block, V) - 1
    top = am[ends]  # the sorted order: each block's largest |y| is its last row's
    s = np.exp2(np.ceil(np.log2(np.maximum(top, 2.0 ** -90) / QMAX)))
    s = np.where(top > QMAX * s, 2 * s, s)  # log2 rounded down at a power of two: |q| <= 127 must hold exactly
    if np.any(top > QMAX * s):
        raise ValueError("int8 screen: a block scale does not cover its rows")
    Q = torch.empty((V, r), dtype=torch.int8)
    rn, tn = np.empty(V), np.empty(V)
    infl = 1 + 2 * (r + 4) * np.finfo(np.float64).eps  # float64 norms of exact float32 parts, rounded up
    for j in range(nb):
        a, e = j * block, min((j + 1) * block, V)
        Yb = Y[perm[a:e]]
        q = torch.round(Yb / float(s[j]))                   # exact: a power-of-two scale, |q| <= 127
        Q[a:e] = q.to(torch.int8)
        R = (Yb - q * float(s[j])).double()                 # exact in float32 (|r| <= s / 2 <= |y| when q != 0)
        rn[a:e] = torch.linalg.vector_norm(R, dim=1).numpy() * infl
        tn[a:e] = torch.linalg.vector_norm(q.double(), dim=1).numpy() * (float(s[j]) * infl)
    yn = ynorm[perm.numpy()] * infl
    return perm.numpy(), Q, s, yn, rn, tn


def screen_maxima(Y, ynorm: np.ndarray, block: int = 1024, tile_blocks: int = 4, progress=None) -> np.ndarray:
    """U (float64, length V): U_k >= max_{i != k} y_i . y_k for the float32 rows Y (a CPU torch tensor) with
    float64 row norms ``ynorm``; -inf where V = 1. ``progress(iterable, total, desc)`` wraps the block loop."""
    import torch

    V, r = Y.shape
    if r * QMAX * QMAX >= -_INT_MIN:
        raise ValueError(f"int8 screen: rank {r} too large for exact int32 sums")
    if V < 2:
        return np.full(V, -math.inf)
    perm, Q, s, yn, rn, tn = _quantize(Y, ynorm, block)
    nb = len(s)
    bmax = lambda x: np.maximum.reduceat(x, np.arange(0, V, block))  # noqa: E731  (per block maxima)
    yB, rB, tB = bmax(yn), bmax(rn), bmax(tn)
    colmax = np.full(V, -math.inf)  # sorted order
    cw = tile_blocks * block
    starts = range(0, nb)
    it = progress(starts, nb, "self-witness int8 screen") if progress is not None else starts
    for I in it:
        a, e = I * block, min((I + 1) * block, V)
        rowub = np.full(e - a, -math.inf)
        for c0 in range(a, V, cw):
            c1 = min(c0 + cw, V)
            G = torch._int_mm(Q[a:e], Q[c0:c1].T)
            if c0 == a:
                n = torch.arange(e - a)
                G[n, n] = _INT_MIN
            Js = np.arange(c0 // block, -(-c1 // block))                 # the column blocks in this tile
            widths = np.minimum((Js + 1) * block, c1) - Js * block
            # columns k in J: max over rows i in I
            cm = G.amax(dim=0).double().numpy()
            sk = np.repeat(s[Js], widths)
            ubc = (s[I] * sk) * cm + yB[I] * rn[c0:c1] + rB[I] * tn[c0:c1]
            np.maximum(colmax[c0:c1], ubc, out=colmax[c0:c1])
            # rows i in I: max over the columns of each block J (one scale per block)
            if (c1 - c0) % block == 0:
                sub = G.view(e - a, len(Js), block).amax(dim=2)
            else:
                sub = torch.stack([G[:, int(j * block - c0):int(min((j + 1) * block, c1) - c0)].amax(dim=1)
                                   for j in Js], dim=1)
            sub = sub.double().numpy()
            ubr = (sub * (s[I] * s[Js])[None, :] + yn[a:e, None] * rB[Js][None, :]
                   + rn[a:e, None] * tB[Js][None, :]).max(axis=1)
            np.maximum(rowub, ubr, out=rowub)
        np.maximum(colmax[a:e], rowub, out=colmax[a:e])
    U = np.empty(V)
    U[perm] = colmax  # a masked diagonal entry only ever raises a maximum: still an upper bound
    return U


def exact_maxima(Y, rows: np.ndarray, chunk: int = 512, cw: int = 4096):
    """max_{i != k} fl(y_i . y_k) for k in ``rows``, from float32 products of those rows with every row (in
    column tiles; the caller adds the float32 rounding bound). A float32 torch tensor on any device."""
    import torch

    V = Y.shape[0]
    out = torch.full((len(rows),), -math.inf, dtype=Y.dtype, device=Y.device)
    rows_t = torch.as_tensor(np.asarray(rows, np.int64), device=Y.device)
    for a in range(0, len(rows), chunk):
        kk = rows_t[a:a + chunk]
        Yk = Y[kk]
        best = torch.full((len(kk),), -math.inf, dtype=Y.dtype, device=Y.device)
        for c0 in range(0, V, cw):
            c1 = min(c0 + cw, V)
            G = Yk @ Y[c0:c1].T
            inside = (kk >= c0) & (kk < c1)
            if bool(inside.any()):
                j = inside.nonzero().squeeze(1)
                G[j, kk[j] - c0] = -math.inf
            torch.maximum(best, G.amax(dim=1), out=best)
        out[a:a + chunk] = best
    return out
