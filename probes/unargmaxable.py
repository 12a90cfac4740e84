"""Exact, certified detection of unargmaxable tokens of softmax(W x + b).

Token k is argmaxable iff some x gives z_k > z_i for all i != k (z = W x + b, strict argmax; ties count
as unargmaxable unless ``ties="tolerant"``). Criterion (theory/unargmaxable.py, CRITERION): k is
unargmaxable iff some alpha in the simplex over i != k has sum alpha_i w_i = w_k and
sum alpha_i b_i >= b_k. Every verdict carries a certificate: a witness x for argmaxable tokens,
a convex combination alpha for unargmaxable ones; :func:`verify` re-checks them in float64.
A non-finite number met on the way (row covariance, margins, LP/NNLS weights, certificate
residuals) raises :class:`probes.errors.Diverged` naming the head: no verdict is read from NaN/Inf.

Pipeline (Grivas et al. 2022, arXiv 2203.06462, do the last step per token with a box-bounded LP):

1. Affine whitening Z = (W - 1 mu^T) T (invariances W -> W A, W -> W + 1 c^T), T from a d x d eigh;
   numerically null directions are dropped (rank-deficient W).
2. rank + (bias) <= 4: qhull on the (lifted) points: witnesses from facet normals, alpha from barycentric
   coordinates in the upper facets. Otherwise a blocked GEMM self-witness pass x = z_k with the
   rigorous bound 2 gamma_r (||z||_max ||z_k|| + ||z_k||^2), gamma_r = r u / (1 - r u); with bias
   x = t z_k, t = max(1, 2 (max b - b_k) / margin_k). On a CPU the maxima come first from one symmetric int8
   product with rigorous quantisation bounds (:mod:`probes.witness_screen`, ~4x the float32 speed); only the
   rows it cannot prove get the float32 products and the bound above.
3. Survivors inside the hull, batched (:func:`_absorb_batch`): alpha = (mu on the token's top rivals, an NNLS
   fit with share lam < 1) + ((1 - lam) p on a shared random deep set R of 8r rows), p the maximum-entropy
   weights that absorb the rivals' remainder (:func:`_deep_newton_batch`), made exact by min-norm
   corrections on R (:func:`_absorb_alpha`).
4. Batched reflection heuristic (Braid-Reflect, patience 20) for the rest.
5. Per token (:func:`_hard_token`): the same rivals + deep set with pricing rounds (:func:`_rival_absorb`)
   and a least-distance witness (:func:`_ldp_witness`; first for a token few rows outbid in bias), then
   NNLS column generation for alpha on the top rivals + random rows (:func:`_nnls_colgen`), then a
   constraint-generation LP (scipy HiGHS): max s s.t. (z_i - z_k).x + s <= b_k - b_i on a growing row set;
   s* <= 0 gives alpha from the duals (already a certificate), s* > 0 a witness once no row is violated.

Float64 certificates are accepted with a relative tolerance ``cert_tol`` (1e-9): an alpha whose residual
||sum alpha_i w_i - w_k||_inf and bias shortfall are below it certifies "unargmaxable" (ties included, the
strict reading); a witness must beat every rival by more than its rounding bound.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from probes._lazy import lazy_import
from probes.errors import InputError, check_finite, require_finite
from probes.result import Result, jsonable

th = lazy_import("theory.unargmaxable")

__all__ = ["UnargmaxableResult", "VerifyResult", "CountResult", "Certificates", "detect", "verify",
           "box_detect", "expected_count", "expected_facets", "expected_vertices", "expected_argmaxable",
           "gaussian_head", "trained_like_head", "load_head"]

VERDICTS = ("certified", "uncertified")
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


# -- results -----------------------------------------------------------------------------------------
@dataclass
class Certificates:
    """Per-token certificates. kind: 0 self witness x_k = T (scale_k y_k), 1 explicit witness x (original
    coordinates), 2 alpha (unargmaxable), 3 weak witness (tie-tolerant reading), -1 none."""

    transform: np.ndarray            # d x r, x = T y
    y: np.ndarray                    # V x r float32 (or float64), self witnesses in whitened coordinates
    scale: np.ndarray                # V, t_k
    kind: np.ndarray                 # V int8
    explicit: dict = field(default_factory=dict)   # k -> x (d,) float64
    alpha: dict = field(default_factory=dict)      # k -> (idx int64, weights float64)

    def witness(self, k: int) -> np.ndarray | None:
        if self.kind[k] == 0:
            return self.transform @ (self.scale[k] * self.y[k].astype(np.float64))
        if self.kind[k] in (1, 3):
            return self.explicit[k]
        return None


def _table(obj, hidden) -> str:
    from probes.result import _short

    rows = [(f.name, _short(jsonable(getattr(obj, f.name)))) for f in obj.__dataclass_fields__.values()
            if f.name not in hidden]
    width = max(len(k) for k, _ in rows)
    title = type(obj).__name__
    return "\n".join([title, "-" * len(title)] + [f"{k.ljust(width)}  {v}" for k, v in rows])


@dataclass(frozen=True)
class UnargmaxableResult(Result):
    """Verdicts for one output head; ``certificates`` is kept out of ``to_dict`` (it is V x r)."""

    vocab_size: int
    dim: int
    rank: int
    has_bias: bool
    ties: str
    unargmaxable: tuple
    n_unargmaxable: int
    certified: bool
    verdict: str
    uncertified: tuple
    stages: dict
    stage_seconds: dict
    method: str
    box: float | None
    seconds: float
    cpu_seconds: float
    seed: int
    dtype: str
    device: str
    certificates: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {k: jsonable(getattr(self, k)) for k in self.__dataclass_fields__ if k != "certificates"}

    def __str__(self) -> str:
        return _table(self, ("certificates",))


@dataclass(frozen=True)
class VerifyResult(Result):
    """An independent float64 re-check of every certificate (or of a sample of witnesses)."""

    ok: bool
    n_witness_checked: int
    n_alpha_checked: int
    n_failed: int
    failed: tuple
    min_witness_margin: float
    max_alpha_residual: float
    min_bias_gap: float
    seconds: float


@dataclass(frozen=True)
class CountResult(Result):
    """Monte Carlo mean of the detector's argmaxable count beside the quadrature expectation."""

    n: int
    d: int
    bias: bool
    rows: str
    trials: int
    mean_argmaxable: float
    sem: float
    expected: float
    z_score: float | None   # (mean - expected) / sem; None when sem = 0 (every trial gave the same count)
    verdict: str  # "agrees" (|mean - expected| <= 4 sem) or "disagrees"
    seed: int
    dtype: str
    device: str
    seconds: float


# -- input ---------------------------------------------------------------------------------------------
def _as_array(name: str, a, keep32: bool = False) -> np.ndarray:
    """``a`` as a float64 array; with ``keep32`` a float32 array stays as it is (read only, never written:
    its values are exact in float64 and every float64 stage promotes them by row chunks; the float64 copy
    of a GPT-2-size head cost ~0.7 s of the bench's wall time)."""
    try:
        import torch

        if isinstance(a, torch.Tensor):
            a = a.detach().cpu()
            a = a.numpy() if keep32 and a.dtype == torch.float32 else a.double().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name}: dtype {arr.dtype} is not a real number type; pass a float array")
    if keep32 and arr.dtype == np.float32:
        return arr
    out = _empty(arr.shape, np.float64)
    out[...] = arr
    return out


def _row_l1_max(W, chunk: int = 4096) -> float:
    """max_i sum_j |W_ij|, by row chunks (a V x d temporary of |W| cost ~1 s of page faults at GPT-2 size)."""
    return max(float(np.abs(W[s:s + chunk]).sum(axis=1, dtype=np.float64).max()) for s in range(0, len(W), chunk))


def _rows64(W, rows=None, chunk: int = 256):
    """Yield (s, n, B): float64 copies B of W's rows rows[s:s + n] (all rows if None), ``chunk`` at a time,
    through one small buffer reused for every chunk (the caller may change B in place). A float32 W is
    promoted this way by every float64 stage: W @ X on a float32 W would copy the whole head to float64."""
    n_rows = len(W) if rows is None else len(rows)
    buf = np.empty((min(chunk, n_rows), W.shape[1]))
    for s in range(0, n_rows, chunk):
        n = min(chunk, n_rows - s)
        buf[:n] = W[s:s + n] if rows is None else W[rows[s:s + n]]
        yield s, n, buf[:n]


def _empty(shape, dtype=np.float64) -> np.ndarray:
    """np.empty for the big per-head arrays, from torch's CPU allocator (it takes transparent huge pages, where
    a fresh numpy array of a few hundred MB paid ~0.7 s of first-touch page faults on the bench machine)."""
    n = int(np.prod(shape))
    if n * np.dtype(dtype).itemsize < 1 << 23:
        return np.empty(shape, dtype)
    import torch

    tdt = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}.get(np.dtype(dtype))
    if tdt is None:
        return np.empty(shape, dtype)
    return torch.empty(tuple(shape), dtype=tdt).numpy()


def _check_input(W, b, keep32: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(W, b) as float64 arrays (W float32 kept as it is with ``keep32``), shapes and finiteness checked."""
    W = _as_array("weight", W, keep32)
    if W.ndim != 2:
        raise InputError(f"weight: expected a 2-D (vocab_size x dim) matrix, got shape {W.shape}; "
                         "pass the output embedding / lm_head weight")
    V, d = W.shape
    if V < 2:
        raise InputError(f"weight: vocab_size = {V} < 2: a softmax needs at least two rows")
    if d == 0:
        raise InputError("weight: dim = 0: the rows are empty; pass a V x d matrix with d >= 1")
    require_finite("weight", W)
    if b is not None:
        b = _as_array("bias", b)
        if b.ndim != 1 or b.shape[0] != V:
            raise InputError(f"bias: expected shape ({V},) to match the weight's {V} rows, got {b.shape}; "
                             "pass the bias of the same layer or none")
        require_finite("bias", b)
    return W, b


def _torch_dtype(dtype):
    from probes.dtypes import parse_dtype

    return parse_dtype(dtype, flag="dtype", hint="float32 (fast GEMM pass) or float64")


def _progress(iterable, total, desc, enabled, **kw):
    from probes.progress import track

    return track(iterable, total=total, desc=desc, enabled=enabled, **kw)


# -- whitening -----------------------------------------------------------------------------------------
def _whiten(W: np.ndarray, subject: str = "head", chunk: int = 4096):
    """Z = (W - mu) T with T = U diag(lambda^-1/2) over the non-null eigen-directions of the covariance.
    The covariance and Z are built by row chunks through one small centred buffer (no V x d centred copy:
    on the 2-core bench machine a fresh 309 MB array costs ~0.5 s of first-touch page faults)."""
    V, d = W.shape
    mu = W.mean(axis=0, dtype=np.float64)
    C = np.zeros((d, d))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, by name
        for _s, _n, Wc in _rows64(W, chunk=chunk):
            Wc -= mu
            C += Wc.T @ Wc  # a SYRK
        C /= V
    check_finite(subject, "row covariance (whitening)", C,
                 "the weights overflow float64 when squared; rescale W and b (the verdicts are scale-invariant)")
    evals, evecs = np.linalg.eigh(C)
    top = float(evals.max()) if evals.size else 0.0
    keep = evals > max(top, 0.0) * (d * 4 * np.finfo(np.float64).eps) if top > 0 else np.zeros(d, bool)
    T = evecs[:, keep] / np.sqrt(evals[keep])
    Z = _empty((V, T.shape[1]))
    for s, n, Wc in _rows64(W, chunk=chunk):
        Wc -= mu
        np.matmul(Wc, T, out=Z[s:s + n])
    check_finite(subject, "whitened rows", Z)
    return Z, T, None


# -- stage: GEMM self-witness --------------------------------------------------------------------------
def _witness_pair(YI, YJ, diagonal: bool, out=None):
    """The block-pair kernel of the self-witness pass: G = Y_I Y_J^T in the pass dtype (the diagonal of a
    diagonal pair excluded: J starts at I's first row), into ``out`` if given; returns (row maxima for I's
    rows, column maxima for J's). The in-process loop (on column tiles of the pairs) and the Dask tasks
    (probes.distributed.blocks) both call this."""
    import torch

    G = YI @ YJ.T if out is None else torch.mm(YI, YJ.T, out=out)
    if diagonal:
        n = torch.arange(G.shape[0], device=G.device)
        G[n, n] = -math.inf
    return G.amax(dim=1), G.amax(dim=0)


def _witness_pairs(V: int, block: int):
    """The symmetric half of G = Y Y^T in row blocks: (s, e, t, f) for block I = [s, e) against J = [t, f), t >= s."""
    starts = range(0, V, block)
    return [(s, min(s + block, V), t, min(t + block, V)) for s in starts for t in starts if t >= s]


def _witness_scales(low, bb):
    """(ok, scale): the tokens whose margin lower bound is positive, and t_k = max(1, 2 (max b - b_k) / margin_k)
    (1 without a bias), so that x = t_k T y_k also beats every bias difference."""
    ok = low > 0
    scale = np.ones(len(low))
    if bb is not None:
        need = bb.max() - bb
        scale[ok] = np.maximum(1.0, 2 * need[ok] / low[ok])
    return ok, scale


def _gemm_bound(gamma, ymax, yn):
    """The rigorous rounding bound of fl(y_i . y_k) against the exact products, for every i: 2 gamma_r
    (||y||_max ||y_k|| + ||y_k||^2) (module docstring, step 2)."""
    return 2 * gamma * (ymax * yn + yn ** 2)


def _self_witness(Z, bb, tdtype, device, block, progress, subject="head", maxima=None, screen="auto", stats=None):
    """margin_k = z_k.y_k - max_{i!=k} y_i.y_k with y = fl(Z), certified when above the rigorous bound.
    ``maxima(Y, block) -> colmax`` computes the row maxima elsewhere (a Dask cluster) from the same
    :func:`_witness_pair` products over the same :func:`_witness_pairs`; default: in this process.
    ``screen``: "int8" bounds the maxima from one symmetric int8 product (:mod:`probes.witness_screen`) and
    re-checks in float32 only the rows it cannot prove; "auto" takes it for a float32 pass on a CPU with
    torch's int8 kernel and no ``maxima``; "none" is the float32 product of every pair."""
    import torch

    from probes import witness_screen as ws

    V, r = Z.shape
    # Y = fl(Z) with float64 row norms and self products z_k.y_k, by row chunks through one small float64
    # buffer (no V x r float64 temporaries), on the host; then moved to the device once
    ndt = np.float32 if tdtype == torch.float32 else np.float64
    Yh = _empty((V, r), ndt) if ndt is np.float32 else Z
    ynorm_h, self_dot_h = np.empty(V), np.empty(V)
    chunk = 2048
    yb = np.empty((min(chunk, V), r))
    for s in range(0, V, chunk):
        e = min(s + chunk, V)
        if ndt is np.float32:
            np.copyto(Yh[s:e], Z[s:e], casting="same_kind")
            Yc = yb[:e - s]
            np.copyto(Yc, Yh[s:e])
        else:
            Yc = Z[s:e]
        ynorm_h[s:e] = np.sqrt(np.einsum("ij,ij->i", Yc, Yc))
        self_dot_h[s:e] = np.einsum("ij,ij->i", Z[s:e], Yc)
    Y = torch.from_numpy(Yh).to(device=device)
    ynorm = torch.from_numpy(ynorm_h).to(device=device)
    self_dot = torch.from_numpy(self_dot_h).to(device=device)
    ymax = float(ynorm.max())
    u = float(torch.finfo(tdtype).eps) / 2
    gamma = r * u / (1 - r * u)
    use_screen = (screen == "int8" or (screen == "auto" and maxima is None and tdtype == torch.float32
                                       and ws.available(device))) and r * ws.QMAX ** 2 < 1 << 30
    if use_screen:
        # rigorous upper bounds of the maxima from one int8 product; margins from them, then the float32
        # products (with their rounding bound) for the rows whose screened margin is not positive
        try:
            Ub = ws.screen_maxima(Y.cpu(), ynorm_h, block,
                                  progress=(lambda it, n, desc: _progress(it, n, desc, progress)))
        except RuntimeError:  # an int8 kernel that rejects these shapes on this CPU: the float32 pass below
            Ub = None
        use_screen = Ub is not None
    if use_screen:
        eps64 = np.finfo(np.float64).eps
        low = self_dot_h - Ub - 4 * (r + 8) * eps64 * ynorm_h * (ynorm_h + ymax)
        redo = np.flatnonzero(~(low > 0))
        if redo.size:
            mx = ws.exact_maxima(Y, redo).double().cpu().numpy()
            low[redo] = self_dot_h[redo] - mx - _gemm_bound(gamma, ymax, ynorm_h[redo])
        if stats is not None:
            stats["screen_rechecked"] = int(redo.size)
        check_finite(subject, "self-witness margins (int8 screen)", low, "try screen='none' or dtype='float64'")
        return _witness_scales(low, bb) + (Y.cpu().numpy(),)
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        if maxima is not None:
            colmax = maxima(Y, block).to(device=device, dtype=tdtype)
        else:
            # G = Y Y^T is symmetric: block I against blocks J >= I only (half the multiply-adds);
            # the row maxima update I's entries, the column maxima J's.
            # In this process the pairs are whole panels (block I against every column >= start(I)): one wide
            # GEMM per block runs at the speed of the bare product (bench/bench_unargmaxable.py: the floor).
            # Each panel is computed in column tiles into one preallocated buffer (a few MB: the maxima read it
            # from cache; a fresh 200 MB panel per block cost more than the multiply-adds' share).
            colmax = torch.full((V,), -math.inf, dtype=tdtype, device=device)
            cw = max(4096, block)
            buf = torch.empty((block, cw), dtype=tdtype, device=device)
            starts = range(0, V, block)
            for s in _progress(starts, len(starts), "self-witness GEMM", progress):
                e = min(s + block, V)
                rmax = torch.full((e - s,), -math.inf, dtype=tdtype, device=device)
                for c0 in range(s, V, cw):  # the first tile holds the diagonal (cw >= block)
                    c1 = min(c0 + cw, V)
                    tr, tc = _witness_pair(Y[s:e], Y[c0:c1], c0 == s, out=buf[:e - s, :c1 - c0])
                    torch.maximum(rmax, tr, out=rmax)
                    torch.maximum(colmax[c0:c1], tc, out=colmax[c0:c1])
                torch.maximum(colmax[s:e], rmax, out=colmax[s:e])
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    colmax = colmax.double()
    low = (self_dot - colmax - _gemm_bound(gamma, ymax, ynorm)).cpu().numpy()           # rigorous lower bound of min_i (z_k - z_i).y_k
    check_finite(subject, f"self-witness margins ({str(tdtype).replace('torch.', '')} GEMM)", low,
                 "try dtype='float64'")
    return _witness_scales(low, bb) + (Y.cpu().numpy(),)


# -- stage: batched reflection (Braid-Reflect) ---------------------------------------------------------
def _braid_numpy(Z, bb, idx, patience, batch, progress, Zf=None):
    """CPU version of :func:`_braid`: float32, logits laid out m x V (contiguous per-token argmax). The
    reflections are a heuristic search; every witness it finds is re-checked in float64 on (W, b) by the
    caller, and a token it cannot settle goes on to the hard-token stage. ``Zf``: Z in float32 if the
    caller has it (the self-witness pass's copy)."""
    V, r = Z.shape
    Zf = np.ascontiguousarray(Z, dtype=np.float32) if Zf is None else Zf
    bd = np.zeros(V, np.float32) if bb is None else np.asarray(bb, np.float32)
    found: dict[int, np.ndarray] = {}
    last = np.empty((len(idx), r))
    rivals: dict[int, set] = {}
    chunks = range(0, len(idx), batch)
    for s in _progress(chunks, len(chunks), "reflection", progress):
        ks = np.asarray(idx[s:s + batch])
        X = Zf[ks].copy()                                      # m x r
        alive = np.arange(len(ks))
        for _ in range(patience):
            if alive.size == 0:
                break
            L = X[alive] @ Zf.T                                # m x V
            L += bd
            kk = ks[alive]
            rows = np.arange(alive.size)
            selfv = L[rows, kk].copy()
            L[rows, kk] = -np.inf
            rival = L.argmax(axis=1)
            rival_v = L[rows, rival]
            win = selfv > rival_v  # a float32 win: the caller's float64 check decides (a failed one goes on)
            for c in alive[win].tolist():
                found[int(ks[c])] = X[c].astype(np.float64)
            lose = ~win
            if not lose.any():
                alive = alive[:0]
                continue
            al, j, kl = alive[lose], rival[lose], kk[lose]
            for kq, jq in zip(kl.tolist(), j.tolist()):
                rivals.setdefault(kq, set()).add(jq)
            dv = Zf[kl] - Zf[j]
            nn = (dv * dv).sum(axis=1)
            stuck = nn == 0
            h = (dv * X[al]).sum(axis=1) + bd[kl] - bd[j]
            X[al] -= np.where(stuck, 0.0, 2 * h / np.where(stuck, 1.0, nn)).astype(np.float32)[:, None] * dv
            alive = al[~stuck]
        last[s:s + batch] = X
    return found, last, rivals


def _braid(Z, bb, idx, patience, device, batch, progress, Zf=None):
    """Reflect x across the hyperplane between k and the current winner j until k wins (one GEMM per step)."""
    import torch

    if torch.device(device).type == "cpu":
        return _braid_numpy(Z, bb, idx, patience, batch, progress, Zf)

    V, r = Z.shape
    Zd = torch.from_numpy(Z).to(device=device, dtype=torch.float64)
    bd = torch.from_numpy(bb if bb is not None else np.zeros(V)).to(device=device, dtype=torch.float64)
    zmax = float(Zd.norm(dim=1).max())
    bmax = float(bd.abs().max())
    u = np.finfo(np.float64).eps / 2
    found: dict[int, np.ndarray] = {}
    last = np.empty((len(idx), r))
    chunks = range(0, len(idx), batch)
    for s in _progress(chunks, len(chunks), "reflection", progress):
        ks = torch.as_tensor(idx[s:s + batch], device=device)
        X = Zd[ks].T.clone()                                   # r x m
        alive = torch.ones(len(ks), dtype=torch.bool, device=device)
        for _ in range(patience):
            if not bool(alive.any()):
                break
            a = alive.nonzero().squeeze(1)
            L = Zd @ X[:, a] + bd[:, None]                     # V x m
            kk = ks[a]
            selfv = L[kk, torch.arange(len(a), device=device)]
            L[kk, torch.arange(len(a), device=device)] = -math.inf
            rival_v, rival = L.max(dim=0)
            xn = X[:, a].norm(dim=0)
            tol = 8 * (r + 2) * u * (zmax * xn + bmax)
            win = (selfv - rival_v) > tol
            for c in a[win].tolist():
                found[int(ks[c])] = X[:, c].cpu().numpy().copy()
            alive[a[win]] = False
            lose = ~win
            if not bool(lose.any()):
                continue
            al, j, kl = a[lose], rival[lose], kk[lose]
            dv = Zd[kl] - Zd[j]                                # m x r
            nn = (dv * dv).sum(dim=1)
            stuck = nn == 0
            h = (dv * X[:, al].T).sum(dim=1) + bd[kl] - bd[j]
            step = torch.where(stuck, torch.zeros_like(h), 2 * h / torch.where(stuck, torch.ones_like(nn), nn))
            X[:, al] -= (step[:, None] * dv).T
            alive[al[stuck]] = False
            del L
        last[s:s + batch] = X.T.cpu().numpy()
    return found, last, {}


# -- stage: constraint-generation LP ---------------------------------------------------------------------
def _lp_token(k, Z, bb, x0, rows, rng, max_rounds=40, stats=None, seed_rows=None, subject="head"):
    """max s s.t. (z_i - z_k).x + s <= b_k - b_i (i in S), s <= 1; grow S with violated rows.
    S starts with the top rows at x0 plus as many random rows: in whitened coordinates a random set of
    a few r rows surrounds the centroid, so an interior token's alpha is usually found in the first round.
    Returns ("witness", x) | ("alpha", idx, weights) | None."""
    from scipy.optimize import linprog

    V, r = Z.shape
    zk = Z[k]
    bvec = bb if bb is not None else np.zeros(V)
    L = Z @ x0 + bvec
    L[k] = -np.inf
    m0 = min(V - 1, rows)
    if m0 < V - 1:
        S = np.argpartition(-L, m0 - 1)[:m0]
        extra = rng.choice(V, min(V, rows), replace=False)
        S = np.union1d(S, extra[extra != k])
        if seed_rows is not None and seed_rows.size:  # the rivals met while reflecting
            S = np.union1d(S, seed_rows[seed_rows != k])
    else:
        S = np.delete(np.arange(V), k)
    zmax = float(np.linalg.norm(Z, axis=1).max())
    bmax = float(np.abs(bvec).max())
    u = np.finfo(np.float64).eps / 2
    c = np.zeros(r + 1)
    c[-1] = -1.0
    bounds = [(None, None)] * r + [(None, 1.0)]
    for rnd in range(max_rounds + 1):
        if rnd == max_rounds:  # last resort: every row (the full LP; rare)
            S = np.delete(np.arange(V), k)
        A = np.hstack([Z[S] - zk, np.ones((len(S), 1))])
        ub = bvec[k] - bvec[S]
        res = linprog(c, A_ub=A, b_ub=ub, bounds=bounds, method="highs", options=_LP_OPTIONS)
        for retry in ("highs-ds", "highs-ipm"):  # HiGHS status 4 (numerical difficulties): other solvers
            if res.status != 4:
                break
            res = linprog(c, A_ub=A, b_ub=ub, bounds=bounds, method=retry)
        if stats is not None:
            stats["lp_solves"] += 1
            stats["lp_rows_max"] = max(stats["lp_rows_max"], len(S))
        if res.status != 0:
            if stats is not None:
                stats[f"lp_status_{res.status}"] = stats.get(f"lp_status_{res.status}", 0) + 1
            return None
        check_finite(subject, f"LP solution for token {k}", np.append(res.x, res.ineqlin.marginals))
        s_opt = -res.fun
        if s_opt <= 1e-9:
            alpha = -np.asarray(res.ineqlin.marginals)
            return ("alpha", S.copy(), alpha)
        x = res.x[:r]
        m = (zk - Z) @ x + bvec[k] - bvec
        m[k] = np.inf
        tol = 8 * (r + 2) * u * (zmax * np.linalg.norm(x) + bmax)
        if m.min() > tol:
            return ("witness", x)
        inS = np.zeros(V, bool)
        inS[S] = True
        viol = np.where((m < s_opt * (1 - 1e-12)) & ~inS)[0]
        if viol.size == 0:
            if stats is not None:
                stats["lp_stalled"] = stats.get("lp_stalled", 0) + 1
                stats["lp_stalled_min_margin"] = float(m.min())
            return None
        add = viol[np.argsort(m[viol])[: rows * 2 ** (rnd // 4)]]  # grow the batch geometrically
        S = np.concatenate([S, add])
    return None


def _initial_rows(k, Z, bb, x0, rows, rng, n_random=None):
    """The top ``rows`` rivals at x0 plus ``n_random`` random rows (default ``rows``). Whitened, m random rows
    in R^r surround the centroid unless Binomial(m - 1, 1/2) < r (Wendel), so m = 3r almost always does."""
    V = Z.shape[0]
    L = Z @ x0 + (bb if bb is not None else 0.0)
    L[k] = -np.inf
    m0 = min(V - 1, rows)
    if m0 >= V - 1:
        return np.delete(np.arange(V), k)
    S = np.union1d(np.argpartition(-L, m0 - 1)[:m0], rng.choice(V, min(V, n_random or rows), replace=False))
    return S[S != k]


def _nnls_colgen(k, Z, bb, x0, rng, n_top, n_random, n_add, max_rounds=30, stats=None, subject="head"):
    """Column generation on non-negative least squares, bias included (Lawson-Hanson on a growing row set S).

    Find alpha >= 0 on S and gamma >= 0 with sum alpha_i (z_i, s b_i, lam) - gamma (0, s, 0) = (z_k, s b_k, lam):
    a zero residual is an unargmaxable certificate (sum alpha = 1, sum alpha_i z_i = z_k, sum alpha_i b_i >= b_k).
    Otherwise the residual rho = (rho_z, rho_b, rho_1) separates the target from every column of S (KKT:
    m_j . rho <= 0 < (z_k, s b_k, lam) . rho = |rho|^2), and -gamma's column gives rho_b >= 0, so
    x = rho_z / (s rho_b) (or t rho_z when rho_b = 0) beats every row of S. One matvec prices all V rows
    (m_j . rho); a witness that also beats the rest is returned, else the best-priced rows join S (each strictly
    lowers |rho|) and NNLS runs again. Returns ("alpha", idx, weights) | ("witness", y) | None (no positive
    price left, or max_rounds: the caller falls back to the LP)."""
    from scipy.optimize import nnls

    V, r = Z.shape
    S = _initial_rows(k, Z, bb, x0, n_top, rng, n_random)
    zk = Z[k]
    lam = float(np.linalg.norm(zk)) + 1.0
    has_b = bb is not None
    sb = 1.0 / (float(bb.std()) or 1.0) if has_b else 0.0
    db = float(np.abs(bb[k] - bb).max()) if has_b else 0.0
    for rnd in range(max_rounds):
        n = len(S)
        M = np.zeros((r + 1 + has_b, n + has_b))
        M[:r, :n] = Z[S].T
        M[-1, :n] = lam
        y = np.empty(M.shape[0])
        y[:r], y[-1] = zk, lam
        if has_b:
            M[r, :n], M[r, n] = sb * bb[S], -sb
            y[r] = sb * bb[k]
        try:
            a, rnorm = nnls(M, y, maxiter=50 * M.shape[1])
        except RuntimeError:  # iteration limit (rare): let the LP decide
            return None
        check_finite(subject, f"NNLS solution for token {k}", np.append(a, rnorm))
        if stats is not None:
            stats["nnls_solves"] = stats.get("nnls_solves", 0) + 1
            stats["nnls_rows_max"] = max(stats.get("nnls_rows_max", 0), n)
        if rnorm <= 1e-9 * lam:
            return ("alpha", S.copy(), a[:n])
        rho = y - M @ a
        rz, rb = rho[:r], (rho[r] if has_b else 0.0)
        nr2 = float(rho @ rho)
        if has_b:
            s = sb * rb
            if s <= 1e-12 * float(np.linalg.norm(rz)):  # rho_b = 0: scale rho_z until it outweighs the bias
                s = nr2 / (2 * db + 1e-300)
            x = rz / s
            m = (zk @ x + bb[k]) - (Z @ x + bb)
        else:
            x = rz
            m = zk @ x - Z @ x
        m[k] = np.inf
        if m.min() > 0:
            return ("witness", x)
        price = Z @ rz + lam * rho[-1]
        if has_b:
            price += sb * rb * bb
        price[k] = -np.inf
        price[S] = -np.inf
        pos = np.flatnonzero(price > 1e-12 * nr2)
        if pos.size == 0:
            return None
        S = np.concatenate([S, pos[np.argsort(-price[pos])[:n_add]]])
    return None


# -- stage: hard tokens, fast path (rival NNLS + a deep random set) ------------------------------------
@dataclass(frozen=True)
class _Deep:
    """A random set R of whitened rows shared by every hard token of one head: its rows Z_R (float64 and a
    float32 copy), centroid c, the inverse of its covariance (the Hessian at x = 0 of :func:`_deep_newton`),
    the Cholesky factor of G = A A^T, A = [Z_R^T; 1^T] (the exact min-norm correction) and max |Z_R| (the
    corrections' stop). Whitened, 8r rows surround c with a margin (their hull holds a ball about c), so
    the small remainder a token's rivals leave is a convex combination of them."""
    rows: np.ndarray
    ZR: np.ndarray
    c: np.ndarray
    Hinv: np.ndarray
    G: tuple
    scale: float
    ZR32: np.ndarray


_DEEP: list = [None]  # (weakref to Z, _Deep): one head at a time


def _deep_set(Z) -> _Deep | None:
    import weakref

    import scipy.linalg as sl

    c0 = _DEEP[0]
    if c0 is not None and c0[0]() is Z:
        return c0[1]
    V, r = Z.shape
    n = min(V, 8 * r)
    if n < 2 * r + 2:  # too few rows for a deep set: the general path decides
        return None
    rows = np.sort(np.random.default_rng(0x5EED).choice(V, n, replace=False))
    ZR = np.take(Z, rows, axis=0, out=_empty((n, r)))
    c = ZR.mean(axis=0)
    AA = np.empty((r + 1, r + 1))      # A A^T for A = [Z_R^T; 1^T]: [[Z_R^T Z_R, n c], [n c^T, n]]
    AA[:r, :r] = ZR.T @ ZR
    AA[:r, r] = AA[r, :r] = n * c
    AA[r, r] = n
    try:
        Hinv = sl.cho_solve(sl.cho_factor(AA[:r, :r] / n - np.outer(c, c)), np.eye(r))
        G = sl.cho_factor(AA)
    except np.linalg.LinAlgError:
        return None
    ZR32 = _empty((n, r), np.float32)
    ZR32[...] = ZR
    deep = _Deep(rows, ZR, c, Hinv, G, float(np.abs(ZR).max()), ZR32)
    _DEEP[0] = (weakref.ref(Z), deep)
    return deep


def _one_blas_thread():
    """BLAS on one thread for the per-token stages: their matrix-vector products and rank-2 updates are too
    small to share, and two OpenBLAS threads made them about 3x slower on the 2-core bench machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _few_above(bb, k: int, r: int) -> bool:
    """Few rows (<= max(r/4, 16)) have a bias not below b_k: the token is likely rescued by its bias, and a
    short witness (:func:`_ldp_witness`) is tried before an alpha."""
    return bb is not None and int(np.count_nonzero(bb >= bb[k])) <= _ldp_rows(r)


def _ldp_rows(r: int) -> int:
    return max(r // 4, 16)


def _absorb_target(k, bb, deep: "_Deep", S, mu, lam, e):
    """The point c + e / (1 - lam) the deep set must reach for the rivals' fit (mu on S, share lam, remainder
    e) to give an alpha, or None when it cannot: the rivals' share too close to 1, a bias no weights on R can
    make up, or the point provably outside conv(R) (:func:`_deep_reach`)."""
    if lam >= 1 - _ABSORB_EPS / 2:
        return None
    if bb is not None and float(mu @ bb[S]) + (1 - lam) * float(bb[deep.rows].max()) < bb[k]:
        return None
    o = e / (1 - lam)
    return deep.c + o if _deep_reach(deep, o) else None


def _bias_short(k, bb, deep: "_Deep", S, mu, lam, p) -> bool:
    """With a bias: the alpha (mu on S, (1 - lam) p on R) falls short of b_k (no certificate from these rows)."""
    return bb is not None and (float(mu @ bb[S] + (1 - lam) * (p @ bb[deep.rows]))
                               < bb[k] - 1e-9 * (1 + abs(bb[k])))


def _n_rivals(r: int) -> int:
    """How many top rivals :func:`_rival_absorb` starts from (pricing adds more when they fall short)."""
    return max(r // _RIVAL_DIV, 32)


_RIVAL_DIV = 4
_ABSORB_EPS = 0.02  # the rivals' share stays <= 1 - eps: the deep set keeps a share eps or more


def _top_rivals(Z, ks, n_top: int, block: int = 256) -> np.ndarray:
    """The n_top rows of largest z_i . z_k for each k in ks (k excluded), batched as GEMMs: (len(ks), n_top)."""
    V = Z.shape[0]
    n_top = min(n_top, V - 1)
    out = np.empty((len(ks), n_top), np.int64)
    for s in range(0, len(ks), block):
        kb = np.asarray(ks[s:s + block])
        L = Z[kb] @ Z.T
        L[np.arange(len(kb)), kb] = -np.inf
        out[s:s + block] = np.argpartition(-L, n_top - 1, axis=1)[:, :n_top]
    return out


def _deep_reach(deep: _Deep, o) -> bool:
    """False when c + o is provably outside the deep set's hull: no row of R reaches past it along o
    (max_j (z_j - c).o < |o|^2, a separating direction). True does not prove it inside."""
    n2 = float(o @ o)
    return n2 == 0.0 or float((deep.ZR32 @ o.astype(np.float32)).max() - deep.c @ o) >= n2 * (1 - 1e-5)


def _deep_newton(deep: _Deep, target, drop, tol: float, state=None, iters: int = 100, stats=None):
    """p in the simplex over R (minus ``drop``) with sum p_j z_j = target: the maximum-entropy weights
    p ~ exp(Z_R x), minimising f(x) = logsumexp(Z_R x) - target . x by quasi-Newton steps (BFGS from the
    exact Hessian at x = 0, Cov(Z_R)^-1, with backtracking) until |gradient| = |sum p_j z_j - target| <= tol.
    Every p_j > 0. ``state`` (x, inverse Hessian) resumes an earlier call for a tighter tol. Returns
    (p, state), p None if it does not converge."""
    r = deep.ZR.shape[1]
    # a loose tol needs no float64 products: Z_R in float32 halves the memory traffic of each step (the
    # min-norm corrections of _absorb_alpha, in float64, make the final alpha exact either way)
    ZR = deep.ZR32 if tol >= 1e-6 * math.sqrt(r) else deep.ZR

    def fg(x):
        s = (ZR @ x.astype(ZR.dtype)).astype(np.float64)
        s[drop] = -np.inf
        mx = s.max()
        e = np.exp(s - mx)
        tot = e.sum()
        p = e / tot
        return mx + math.log(tot) - target @ x, p, (p.astype(ZR.dtype) @ ZR).astype(np.float64) - target

    from scipy.linalg.blas import dsymv, dsyr, dsyr2

    # B: the inverse-Hessian estimate, symmetric, kept in its lower triangle (Fortran order: in-place BLAS updates)
    x, B = (np.zeros(r), np.array(deep.Hinv, order="F")) if state is None else state
    f, p, g = fg(x)
    nf = 1
    for _ in range(iters):
        if not np.isfinite(f):
            return None, None
        if float(np.linalg.norm(g)) <= tol:
            break
        step = -dsymv(1.0, B, g, lower=1)
        dg = float(g @ step)
        if dg >= 0:  # lost descent (rounding): restart from the exact Hessian at 0
            B = np.array(deep.Hinv, order="F")
            step = -dsymv(1.0, B, g, lower=1)
            dg = float(g @ step)
        t = 1.0
        for _ls in range(30):
            fn, pn, gn = fg(x + t * step)
            nf += 1
            if fn <= f + 1e-4 * t * dg:
                break
            t *= 0.5
        else:
            return None, None
        sv, yv = t * step, gn - g
        sy = float(sv @ yv)
        if sy > 1e-300:  # inverse BFGS update: B + (rho^2 y.By + rho) s s^T - rho (By s^T + s By^T)
            By = dsymv(1.0, B, yv, lower=1)
            rho = 1.0 / sy
            B = dsyr(rho * rho * float(yv @ By) + rho, sv, a=B, lower=1, overwrite_a=1)
            B = dsyr2(-rho, By, sv, a=B, lower=1, overwrite_a=1)
        x, f, p, g = x + sv, fn, pn, gn
    if stats is not None:
        stats["absorb_evals"] = stats.get("absorb_evals", 0) + nf
    return (p if float(np.linalg.norm(g)) <= tol else None), (x, B)


def _rival_absorb(k, Z, bb, deep: _Deep, top, rounds: int = 3, stats=None, subject="head"):
    """Certificate alpha for a hard token from its rivals and the deep set, or None.

    NNLS on the rivals t_i (shifted by the deep centroid c; bias lifted as in :func:`_nnls_colgen`):
    mu >= 0, lam = sum mu <= 1 - eps, leaving e = (z_k - c) - sum mu_i (t_i - c). If the remainder point
    c + e / (1 - lam) lies inside the deep set's hull, its maximum-entropy weights p (:func:`_deep_newton`)
    give alpha = (mu on the rivals, (1 - lam) p on R): sum alpha_i z_i = z_k and sum alpha = 1 exactly in
    exact arithmetic; two min-norm corrections on R in float64 (the shared factor G) remove the rounding,
    then :func:`_accept_alpha` checks it on (W, b). The rivals grow by NNLS pricing over all rows while the
    remainder is too far out. Cost per token: small NNLS solves plus O(|R| r) Newton steps, against
    Lawson-Hanson's r + 1 steps on the whole problem (:func:`_nnls_colgen`, the fallback)."""
    V, r = Z.shape
    has_b = bb is not None
    c = deep.c
    in_R = np.flatnonzero(deep.rows == k)
    S = np.asarray(top, np.int64)
    S = S[S != k]
    n_add = max(r // 4, 16)
    for rnd in range(rounds):
        fit = _rival_fit(k, Z, bb, deep, S, subject)
        if fit is None:
            return None
        if stats is not None:
            stats["absorb_solves"] = stats.get("absorb_solves", 0) + 1
        mu, lam, rho, omega, bR, sb = fit
        e = rho[:r]
        target = _absorb_target(k, bb, deep, S, mu, lam, e)
        if target is not None:  # else grow the rivals
            # loose first: the min-norm corrections of _absorb_alpha remove a small remainder while p > 0
            # keeps a margin; tighter only if they do not
            state = None
            for tol in (1e-4, 1e-8, 1e-12):
                p, state = _deep_newton(deep, target, in_R, tol * math.sqrt(r), state, stats=stats)
                if p is None or _bias_short(k, bb, deep, S, mu, lam, p):
                    break  # (a bias short of b_k: a witness may exist)
                out = _absorb_alpha(k, Z, deep, S, mu, lam, p, in_R)
                if out is not None:
                    return out
        if rnd == rounds - 1:
            return None
        price = Z @ e - float(c @ e) + omega * rho[-1]
        if has_b:
            price += sb * rho[r] * (bb - bR)
        price[k] = -np.inf
        price[S] = -np.inf
        pos = np.flatnonzero(price > 0)
        if pos.size == 0:
            return None
        S = np.concatenate([S, pos[np.argsort(-price[pos])[:n_add]]])
    return None


def _rival_fit(k, Z, bb, deep: _Deep, S, subject="head"):
    """One rival NNLS of :func:`_rival_absorb`: (mu, lam, rho, omega, bR, sb) or None (NNLS failed)."""
    from scipy.optimize import nnls

    r = Z.shape[1]
    has_b = bb is not None
    zk, c = Z[k], deep.c
    omega = float(np.linalg.norm(zk - c)) + 1.0
    bR = float(bb[deep.rows].mean()) if has_b else 0.0
    sb = 1.0 / (float(bb.std()) or 1.0) if has_b else 0.0
    n = len(S)
    M = np.zeros((r + has_b + 1, n + 1 + has_b))
    M[:r, :n] = (Z[S] - c).T
    M[-1, :n + 1] = omega  # sum mu + slack = 1 - eps
    y = np.empty(M.shape[0])
    y[:r], y[-1] = zk - c, omega * (1 - _ABSORB_EPS)
    if has_b:  # sum mu (b_i - bR) - gamma = b_k - bR, gamma >= 0
        M[r, :n], M[r, n + 1] = sb * (bb[S] - bR), -sb
        y[r] = sb * (bb[k] - bR)
    try:
        a, _ = nnls(M, y, maxiter=20 * M.shape[1])
    except RuntimeError:
        return None
    check_finite(subject, f"NNLS solution for token {k}", a)
    mu = a[:n]
    return mu, float(mu.sum()), y - M @ a, omega, bR, sb


def _deep_newton_batch(deep: _Deep, targets, drops, tol: float, iters: int = 60, hist: int = 8):
    """:func:`_deep_newton` for many targets at once, at a loose tol, in float32 GEMMs: logits X Z_R^T for all
    tokens in one product, L-BFGS per token from the shared exact Hessian at x = 0 (Cov(Z_R)^-1), Armijo
    backtracking per token. Returns a list of p (None where it did not converge)."""
    ZR = deep.ZR32
    m, r = targets.shape
    H0 = deep.Hinv.astype(np.float32)
    drop_mask = np.zeros((m, ZR.shape[0]), bool)
    for j, dj in enumerate(drops):
        drop_mask[j, dj] = True

    def fg(X, rows):
        # a line-search trial point beyond float32 range gives a non-finite f: the Armijo test rejects it
        with np.errstate(over="ignore", invalid="ignore"):
            L = (X[rows].astype(np.float32) @ ZR.T).astype(np.float64)
            L[drop_mask[rows]] = -np.inf
            mx = L.max(axis=1, keepdims=True)
            E = np.exp(L - mx)
            tot = E.sum(axis=1, keepdims=True)
            P = E / tot
            f = (mx + np.log(tot)).ravel() - np.einsum("ij,ij->i", targets[rows], X[rows])
            G = (P.astype(np.float32) @ ZR).astype(np.float64) - targets[rows]
        return f, P, G

    X = np.zeros((m, r))
    all_rows = np.arange(m)
    f, P, G = fg(X, all_rows)
    Sh = np.zeros((hist, m, r))
    Yh = np.zeros((hist, m, r))
    Rh = np.zeros((hist, m))
    n_h = np.zeros(m, np.int64)
    done = np.linalg.norm(G, axis=1) <= tol
    bad = ~np.isfinite(f)
    for _ in range(iters):
        act = np.flatnonzero(~done & ~bad)
        if act.size == 0:
            break
        # two-loop recursion, batched over the active tokens (histories in a ring; unused slots have rho = 0)
        q = G[act].copy()
        al = np.zeros((hist, act.size))
        for h in range(hist - 1, -1, -1):
            al[h] = Rh[h, act] * np.einsum("ij,ij->i", Sh[h, act], q)
            q -= al[h][:, None] * Yh[h, act]
        q = q @ H0
        for h in range(hist):
            be = Rh[h, act] * np.einsum("ij,ij->i", Yh[h, act], q)
            q += (al[h] - be)[:, None] * Sh[h, act]
        step = -q
        dg = np.einsum("ij,ij->i", G[act], step)
        lost = dg >= 0  # lost descent: the plain preconditioned step, history dropped
        if lost.any():
            step[lost] = -(G[act[lost]] @ H0)
            dg[lost] = np.einsum("ij,ij->i", G[act[lost]], step[lost])
            Rh[:, act[lost]] = 0.0
        t = np.ones(act.size)
        pend = np.arange(act.size)
        fn, Pn, Gn = f.copy(), P.copy(), G.copy()
        Xn = X.copy()
        for _ls in range(30):
            rows = act[pend]
            Xn[rows] = X[rows] + t[pend, None] * step[pend]
            fr, Pr, Gr = fg(Xn, rows)
            ok = fr <= f[rows] + 1e-4 * t[pend] * dg[pend]
            fn[rows[ok]], Pn[rows[ok]], Gn[rows[ok]] = fr[ok], Pr[ok], Gr[ok]
            pend = pend[~ok]
            if pend.size == 0:
                break
            t[pend] *= 0.5
        bad[act[pend]] = True
        acc = np.setdiff1d(act, act[pend])
        slot = n_h[acc] % hist
        sv, yv = Xn[acc] - X[acc], Gn[acc] - G[acc]
        sy = np.einsum("ij,ij->i", sv, yv)
        keep = sy > 1e-300
        Sh[slot[keep], acc[keep]] = sv[keep]
        Yh[slot[keep], acc[keep]] = yv[keep]
        Rh[slot[keep], acc[keep]] = 1.0 / sy[keep]
        n_h[acc[keep]] += 1
        X[acc], f[acc], P[acc], G[acc] = Xn[acc], fn[acc], Pn[acc], Gn[acc]
        done[acc] = np.linalg.norm(G[acc], axis=1) <= tol
    return [P[j].copy() if done[j] and not bad[j] else None for j in range(m)]


def _absorb_batch(ks, W, b, Z, bb, deep: _Deep, tops, cert_tol, stats, subject="head", chunk: int = 64,
                  progress: bool = False):
    """The first round of :func:`_rival_absorb` for many tokens, the deep-set Newton batched
    (:func:`_deep_newton_batch`): {k: (idx, w)} for the tokens it certifies (checked by :func:`_accept_alpha`);
    the others go through :func:`_hard_token` one by one."""
    r = Z.shape[1]
    out = {}
    cand = []
    with _one_blas_thread():  # small per-token solves: one BLAS thread (see _one_blas_thread)
        for k, top in _progress(list(zip(ks.tolist(), tops)), len(ks), "hard tokens: rival fits", progress,
                                unit="token", rate=True):
            if _few_above(bb, k, r):
                continue  # likely bias-rescued: the per-token path tries a witness first
            S = np.asarray(top, np.int64)
            S = S[S != k]
            fit = _rival_fit(k, Z, bb, deep, S, subject)
            stats["absorb_solves"] = stats.get("absorb_solves", 0) + 1
            if fit is None:
                continue
            mu, lam, rho = fit[:3]
            target = _absorb_target(k, bb, deep, S, mu, lam, rho[:r])
            if target is not None:  # else the per-token path grows the rivals
                cand.append((k, S, mu, lam, target, np.flatnonzero(deep.rows == k)))
    for s in range(0, len(cand), chunk):
        part = cand[s:s + chunk]
        ps = _deep_newton_batch(deep, np.stack([c[4] for c in part]), [c[5] for c in part], 1e-4 * math.sqrt(r))
        with _one_blas_thread():
            for (k, S, mu, lam, _t, in_R), p in zip(part, ps):
                if p is None or _bias_short(k, bb, deep, S, mu, lam, p):
                    continue
                got = _absorb_alpha(k, Z, deep, S, mu, lam, p, in_R)
                acc = None if got is None else _accept_alpha(W, b, k, got[0], got[1], "absorb", cert_tol, subject)
                if acc is not None:
                    out[k] = acc
    return out

def _ldp_witness(k, Z, bb, top, rounds: int = 8, stats=None, subject="head"):
    """A short witness for a hard token: the least-norm x with (z_k - z_i).x >= b_i - b_k + eps on a small row
    set S (least-distance programming by NNLS, Lawson and Hanson 1974, ch. 23: NNLS on E = [G^T; h^T] against
    e_{r+1}; a residual rho gives x = -rho_z / rho_h, a zero residual means S alone admits no such x). S
    starts with the rows whose bias is not below b_k and the top rivals; rows the candidate loses to are
    added (the most violated first) and it is solved again. Small x keeps the margin b_k - b_i of the many
    lower-bias rows: that is why a bias-rescued token has a short witness. Returns y (whitened) or None.
    :func:`_ldp_batch` runs the same rounds for many tokens at once."""
    st = _LDP(k, Z, bb, top)
    for _ in range(rounds):
        y = st.solve(Z, stats, subject)
        if y is None:
            return None
        if not st.extend(st.margins(Z @ y)):
            return y if st.won else None
    return None


class _LDP:
    """One token's least-distance rounds (:func:`_ldp_witness`): the row set S, the bias gaps and eps."""

    def __init__(self, k, Z, bb, top):
        V, r = Z.shape
        self.k, self.r = k, r
        self.bvec = bb if bb is not None else np.zeros(V)
        self.gap = self.bvec - self.bvec[k]
        spread = float(np.abs(self.gap).max()) or 1.0
        self.eps = 1e-3 * (float(self.bvec.std()) or spread) if bb is not None else 1.0
        up = np.flatnonzero(self.gap >= 0)
        if up.size > _ldp_rows(r):  # many rows above b_k: the closest to it (x = 0 is far from a witness)
            up = up[np.argpartition(self.gap[up], _ldp_rows(r) - 1)[: _ldp_rows(r)]]
        S = np.union1d(up, np.asarray(top, np.int64)[: max(r // 8, 8)])
        self.S = S[S != k]
        self.n_add = max(r // 8, 16)
        self.won, self.y = False, None

    def solve(self, Z, stats, subject):
        """The least-norm candidate y on S, or None (S empty, NNLS failed, or S admits no witness)."""
        from scipy.optimize import nnls

        if self.S.size == 0:
            return None
        r, k, S = self.r, self.k, self.S
        G = Z[k] - Z[S]
        E = np.vstack([G.T, self.gap[S] + self.eps])
        f = np.zeros(r + 1)
        f[-1] = 1.0
        try:
            u, _ = nnls(E, f, maxiter=20 * E.shape[1])
        except RuntimeError:
            return None
        check_finite(subject, f"least-distance NNLS solution for token {k}", u)
        if stats is not None:
            stats["ldp_solves"] = stats.get("ldp_solves", 0) + 1
        rho = E @ u - f
        if abs(rho[-1]) <= 1e-12:  # S admits no witness of this form: leave it to the exact stages
            return None
        self.y = -rho[:r] / rho[-1]
        return self.y

    def margins(self, zy):
        """Margins of the candidate against every row, from zy = Z @ y (the token's own: +inf)."""
        m = (zy[self.k] + self.bvec[self.k]) - (zy + self.bvec)
        m[self.k] = np.inf
        return m

    def extend(self, m) -> bool:
        """After the margins m: True when S grew (solve again); False when done (``won``: y wins everywhere)."""
        if m.min() > 0:
            self.won = True
            return False
        bad = np.flatnonzero(m <= 0.5 * self.eps)
        bad = bad[~np.isin(bad, self.S)]
        if bad.size == 0:
            return False
        self.S = np.concatenate([self.S, bad[np.argsort(m[bad])[:self.n_add]]])
        return True


def _ldp_batch(ks, W, b, Z, bb, T, tops, stats, subject="head", wabs=None, rounds: int = 8,
               progress: bool = False) -> dict:
    """:func:`_ldp_witness` for many tokens in lockstep, then their witnesses proven at once: each round one
    small NNLS per token, but the check of every candidate against all V rows is one GEMM Z Y (V × r × m)
    instead of m matrix-vector products, and the float64 acceptance (:func:`_witness_margins`) one screened
    product. {token: x} for the witnesses proven on (W, b); the other tokens go on to the per-token stages.
    (Per token these passes over Z and W were 35 of the 40 ms each bias-rescued token cost at 50257 × 768.)
    ``progress``: a line per round's solves (tokens done / left, rate; every ~5 s in a log)."""
    live = {int(k): _LDP(int(k), Z, bb, top) for k, top in zip(ks, tops)}
    won = {}
    for rnd in range(rounds):
        with _one_blas_thread():   # small solves (see _one_blas_thread); the GEMMs below take every thread
            todo = list(live.items())
            ys = {k: st.solve(Z, stats, subject)
                  for k, st in _progress(todo, len(todo), f"least-distance witnesses, round {rnd + 1}", progress,
                                         unit="token", rate=True)}
        live = {k: live[k] for k, y in ys.items() if y is not None}
        if not live:
            break
        keys = list(live)
        ZY = Z @ np.stack([live[k].y for k in keys], axis=1)          # V × m
        for j, k in enumerate(keys):
            st = live[k]
            if not st.extend(st.margins(ZY[:, j])):
                del live[k]
                if st.won:
                    won[k] = st.y
    if not won:
        return {}
    keys = np.fromiter(won, dtype=np.int64, count=len(won))
    X = T @ np.stack([won[int(k)] for k in keys], axis=1)
    marg = _witness_margins(W, b, keys, X, wabs)
    check_finite(subject, "ldp witness margins", marg)
    return {int(k): X[:, j].copy() for j, k in enumerate(keys) if marg[j] > 0}


def _absorb_alpha(k, Z, deep: _Deep, S, mu, lam, p, in_R):
    """Merge mu (on S) and (1 - lam) p (on R) into one alpha, correct it on R by the min-norm solution of
    A delta = (residual in whitened coordinates, 1 - sum alpha), A without token k's column (Sherman-Morrison
    on the shared factor), and return (idx, w) if it stays non-negative. The caller checks it on (W, b)."""
    import scipy.linalg as sl

    R = deep.rows
    wR = (1 - lam) * p
    if in_R.size:
        wR[in_R] = 0.0
        a_k = np.append(deep.ZR[in_R[0]], 1.0)  # token k's column of A = [Z_R^T; 1^T]
        Ga = sl.cho_solve(deep.G, a_k)
        denom = 1.0 - float(a_k @ Ga)
        if abs(denom) < 1e-12:
            return None
    for _ in range(2):
        rz = Z[k] - (Z[S].T @ mu + deep.ZR.T @ wR)
        rhs = np.append(rz, 1.0 - (mu.sum() + wR.sum()))
        if float(np.abs(rhs).max()) <= 1e-15 * deep.scale:
            break
        y = sl.cho_solve(deep.G, rhs)
        if in_R.size:  # (G - a a^T)^-1 rhs by Sherman-Morrison
            y = y + Ga * (float(a_k @ y) / denom)
        wR = wR + (deep.ZR @ y[:-1] + y[-1])  # + A^T y
        if in_R.size:
            wR[in_R] = 0.0
    if min(float(wR.min()), float(mu.min())) < 0:
        return None
    dense = np.zeros(Z.shape[0])
    np.add.at(dense, S, mu)
    dense[R] += wR
    dense[k] = 0.0
    idx = np.flatnonzero(dense > 0)
    return idx, dense[idx]


def _tolerant_lp(k, Z, bb, subject="head"):
    """Tie-tolerant reading: max min(1, sum_i m_i) over {m_i = (z_k - z_i).x + b_k - b_i >= 0}.
    A positive optimum is a weak witness: k is a maximiser and beats at least one row strictly."""
    from scipy.optimize import linprog

    V, r = Z.shape
    bvec = bb if bb is not None else np.zeros(V)
    others = np.delete(np.arange(V), k)
    D = Z[k] - Z[others]                                       # (V-1) x r
    g = bvec[k] - bvec[others]
    A = np.vstack([np.hstack([-D, np.zeros((len(D), 1))]), np.append(-D.sum(axis=0), 1.0)[None, :]])
    ub = np.append(g, g.sum())
    c = np.zeros(r + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=A, b_ub=ub, bounds=[(None, None)] * r + [(None, 1.0)], method="highs",
                  options=_LP_OPTIONS)
    if res.status != 0:
        return None
    check_finite(subject, f"tie-tolerant LP solution for token {k}", res.x)
    x = res.x[:r]
    val = float(D.sum(axis=0) @ x + g.sum())
    return x if val > 1e-9 else None


# -- stage: low dimension via qhull --------------------------------------------------------------------
def _hull_route(Z, bb):
    """Witnesses from facet normals of the (upper) hull and alphas from barycentric coordinates.
    Returns (witness dict k -> y, alpha dict k -> (idx, weights)); anything unresolved is left out."""
    from scipy.spatial import ConvexHull, Delaunay

    V, r = Z.shape
    wit: dict[int, np.ndarray] = {}
    alph: dict[int, tuple] = {}
    if bb is None and r == 1:
        z = Z[:, 0]
        lo, hi = int(np.argmin(z)), int(np.argmax(z))
        wit[lo], wit[hi] = np.array([-1.0]), np.array([1.0])
        simplices = np.array([[lo, hi]])
        cand = np.array([lo, hi])
    else:
        if bb is not None:
            sig = float(bb.std()) or 1.0
            P = np.hstack([Z, (bb / sig)[:, None]])
        else:
            sig, P = 1.0, Z
        # a copy: with "Qbb" qhull rescales the caller's array in place (seen with scipy's ConvexHull)
        hull = ConvexHull(np.array(P, dtype=np.float64, copy=True), qhull_options="Qt Qc")
        nrm = hull.equations[:, :-1]
        nrm = nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
        sim = hull.simplices
        sum_all = np.zeros((V, P.shape[1]))
        np.add.at(sum_all, sim.ravel(), np.repeat(nrm, sim.shape[1], axis=0))
        if bb is not None:
            upper = nrm[:, -1] > 1e-12
            sum_up = np.zeros((V, P.shape[1]))
            np.add.at(sum_up, sim[upper].ravel(), np.repeat(nrm[upper], sim.shape[1], axis=0))
            cand = np.unique(sim[upper])
            for k in cand:
                nu, na = sum_up[k], sum_all[k]
                eta = 1.0 if na[-1] >= 0 else min(1.0, 0.5 * nu[-1] / (-na[-1]))
                n = nu + eta * na
                if n[-1] > 0:
                    wit[int(k)] = sig * n[:-1] / n[-1]
            simplices = sim[upper]
        else:
            cand = np.unique(sim)
            for k in cand:
                wit[int(k)] = sum_all[k].copy()
            simplices = Delaunay(np.array(Z[cand], copy=True)).simplices
            simplices = cand[simplices]
    # barycentric coordinates of every non-candidate point in the projected simplices
    rest = np.setdiff1d(np.arange(V), cand)
    if rest.size and simplices.size:
        Pv = Z[simplices]                                      # F x (r+1) x r
        M = np.concatenate([np.transpose(Pv, (0, 2, 1)), np.ones((len(simplices), 1, r + 1))], axis=1)
        try:
            Minv = np.linalg.inv(M)
        except np.linalg.LinAlgError:
            Minv = np.linalg.pinv(M)
        for s in range(0, rest.size, 2048):
            pts = rest[s:s + 2048]
            rhs = np.hstack([Z[pts], np.ones((len(pts), 1))])
            lam = np.einsum("fij,pj->pfi", Minv, rhs)          # p x F x (r+1)
            f = lam.min(axis=2).argmax(axis=1)
            for j, (p, fi) in enumerate(zip(pts.tolist(), f.tolist())):
                w = lam[j, fi]
                if w.min() >= -1e-9:
                    w = np.clip(w, 0, None)
                    alph[p] = (simplices[fi].astype(np.int64), w / w.sum())
    return wit, alph


# -- certificates --------------------------------------------------------------------------------------
def _polish_alpha(W, k, idx, w):
    """Re-solve sum alpha_i w_i = w_k, sum alpha = 1 on alpha's support (float64 least squares)."""
    keep = (w > 1e-12 * max(w.max(), 0)) & (idx != k)
    idx, w = idx[keep], w[keep]
    if idx.size == 0:
        return None
    w = w / w.sum()
    if idx.size == 1:
        return idx, np.ones(1)
    Wi, wk = W[idx].astype(np.float64), W[k].astype(np.float64)  # (W may be float32: exact in float64)
    scale = max(float(np.abs(Wi).max()), float(np.abs(wk).max()), 1e-300)
    if np.abs(Wi.T @ w - wk).max() <= 1e-13 * scale:
        return idx, w  # already exact to rounding: nothing to polish
    D = (Wi[:-1] - Wi[-1]).T
    beta, *_ = np.linalg.lstsq(D, wk - Wi[-1], rcond=None)
    a2 = np.append(beta, 1 - beta.sum())
    if a2.min() >= 0:
        r1 = np.abs(Wi.T @ w - wk).max()
        r2 = np.abs(Wi.T @ a2 - wk).max()
        if r2 <= r1:
            return idx, a2
    return idx, w


_SCALES: list = [None]  # (weakref to W, weakref to b or None, scale_w, scale_b): one head at a time


def _scales(W, b) -> tuple[float, float]:
    """max |W - mean| and max |b - mean| (the scales of the certificate residuals), computed once per head:
    recomputing them per token was an O(V d) pass per hard token."""
    import weakref

    c = _SCALES[0]
    if c is not None and c[0]() is W and (c[1] is None and b is None or c[1] is not None and c[1]() is b):
        return c[2], c[3]
    mw = W.mean(0, dtype=np.float64)  # max |W - mean| from the column extremes: no V x d temporaries
    sw = max(float(np.maximum(W.max(0) - mw, mw - W.min(0)).max()), 1e-300)
    sbv = max(float(np.abs(b - b.mean()).max()), 1e-300) if b is not None else 1.0
    _SCALES[0] = (weakref.ref(W), None if b is None else weakref.ref(b), sw, sbv)
    return sw, sbv


def _combination(W, idx, w) -> np.ndarray:
    """sum_i w_i W[idx_i] in float64; a long combination as a sparse row times W (no gathered copy of the rows),
    or, for a float32 W (which the sparse product would copy whole to float64), by chunks of gathered rows."""
    if len(idx) <= 512:
        return W[idx].T @ np.asarray(w, np.float64)
    if W.dtype != np.float64:  # the rows gathered and promoted 512 at a time (_rows64)
        w, idx = np.asarray(w, np.float64), np.asarray(idx, np.int64)
        out = np.zeros(W.shape[1])
        for s, n, B in _rows64(W, idx, chunk=512):
            out += w[s:s + n] @ B
        return out
    from scipy.sparse import csr_matrix

    row = csr_matrix((np.asarray(w, np.float64), np.asarray(idx, np.int64), [0, len(idx)]), shape=(1, W.shape[0]))
    return np.asarray(row @ W).ravel()


def _alpha_ok(W, b, k, idx, w, tol):
    scale_w, scale_b = _scales(W, b)
    res = float(np.abs(_combination(W, idx, w) - W[k]).max()) / scale_w
    gap = 0.0
    if b is not None:
        gap = float(w @ b[idx] - b[k]) / scale_b
    ok = (w.min() >= 0) and abs(w.sum() - 1) <= 1e-9 and (k not in set(idx.tolist())) and res <= tol and gap >= -tol
    return ok, res, gap


def _accept_alpha(W, b, k, idx, w, stage, cert_tol, subject):
    """alpha checked (:func:`_alpha_ok`), polished on its support first if it does not pass as it is:
    (idx int64, weights) or None."""
    w = np.asarray(w, float)
    check_finite(subject, f"{stage} convex-combination weights of token {k}", w)
    idx = np.asarray(idx)
    if idx.size and w.min() >= 0 and abs(w.sum() - 1) <= 1e-12:
        ok, res, gap = _alpha_ok(W, b, k, idx, w, cert_tol)
        check_finite(subject, f"{stage} certificate residual of token {k}", [res, gap])
        if ok:
            return idx.astype(np.int64), w
    pol = _polish_alpha(W, k, idx, w)
    if pol is None:
        return None
    ok, res, gap = _alpha_ok(W, b, k, pol[0], pol[1], cert_tol)
    check_finite(subject, f"{stage} certificate residual of token {k}", [res, gap])
    return (pol[0].astype(np.int64), pol[1]) if ok else None


def _accept_witness(W, b, T, k, y, stage, subject, wabs=None):
    """x = T y if its float64 margin beats the rounding bound (a proven witness), else None."""
    x = T @ y
    margin = _witness_margin(W, b, k, x, wabs)
    check_finite(subject, f"{stage} witness margin of token {k}", margin)
    return x if margin > 0 else None


def _hard_token(k, W, b, Z, bb, T, x0, rivals, rows, rng, cert_tol, stats, subject="head", wabs=None, top=None,
                ldp_tried=False):
    """One token the cheap stages left: first its rivals plus the shared deep set (:func:`_rival_absorb`, an
    alpha in a few small solves when the token is inside the hull with some depth), then NNLS column
    generation (:func:`_nnls_colgen`) from the top r/2 rivals at x_k + 2r random rows, growing by r rows a
    round, else the constraint-generation LP from x0. ``top``: the token's top rivals (:func:`_top_rivals`,
    batched by the caller; computed here if None). Returns ("alpha", idx, weights, stage) |
    ("witness", x, stage) | None, every certificate already checked (float64, original coordinates).
    ``stats`` collects the counters; ``rng`` draws the random rows. ``ldp_tried``: :func:`_ldp_batch` already
    tried the least-distance witness (it is not tried again)."""
    r = Z.shape[1]
    deep = _deep_set(Z) if r > 3 else None
    if deep is not None:
        if top is None:
            top = _top_rivals(Z, [k], _n_rivals(r))[0]
        def absorb():
            got = _rival_absorb(k, Z, bb, deep, top, stats=stats, subject=subject)
            acc = None if got is None else _accept_alpha(W, b, k, got[0], got[1], "absorb", cert_tol, subject)
            return None if acc is None else ("alpha", acc[0], acc[1], "absorb")

        def ldp():
            y = _ldp_witness(k, Z, bb, top, stats=stats, subject=subject)
            x = None if y is None else _accept_witness(W, b, T, k, y, "ldp", subject, wabs)
            return None if x is None else ("witness", x, "ldp")

        order = (ldp, absorb) if _few_above(bb, k, r) else (absorb, ldp)
        for attempt in (a for a in order if not (ldp_tried and a is ldp)):
            got = attempt()
            if got is not None:
                return got
    out = _nnls_colgen(k, Z, bb, Z[k], rng, max(r // 2, 32), max(2 * r, 96), max(r, 32), stats=stats,
                       subject=subject)
    if out is not None:
        if out[0] == "alpha":
            acc = _accept_alpha(W, b, k, out[1], out[2], "nnls", cert_tol, subject)
            if acc is not None:
                return ("alpha", acc[0], acc[1], "nnls")
        else:
            x = _accept_witness(W, b, T, k, out[1], "nnls", subject, wabs)
            if x is not None:
                return ("witness", x, "nnls")
    out = _lp_token(k, Z, bb, x0, rows, rng, stats=stats, seed_rows=np.fromiter(rivals, dtype=np.int64),
                    subject=subject)
    if out is None:
        return None
    if out[0] == "witness":
        x = _accept_witness(W, b, T, k, out[1], "lp", subject, wabs)
        return None if x is None else ("witness", x, "lp")
    acc = _accept_alpha(W, b, k, out[1], out[2], "lp", cert_tol, subject)
    return None if acc is None else ("alpha", acc[0], acc[1], "lp")


# -- the detector --------------------------------------------------------------------------------------
def detect(W, b=None, *, ties: str = "strict", method: str = "auto", seed: int = 0, dtype="float32",
           device: str = "cpu", block: int = 1024, patience: int = 20, lp_rows: int | None = None,
           cert_tol: float = 1e-9, progress: bool = False, subject: str = "head", maxima=None,
           hard_tokens=None, screen: str = "auto") -> UnargmaxableResult:
    """Find every unargmaxable token of softmax(W x + b), with a certificate for each verdict.

    ``dtype`` is the precision of the GEMM self-witness pass (its error bound follows it); all other
    stages and every certificate are float64. ``method``: auto | hull (qhull, rank + bias <= 4) | lp (no qhull).
    ``ties``: strict (ties are unargmaxable) | tolerant (a token that can tie for the max, beating at
    least one row, counts as argmaxable). ``subject`` names the head in errors: a non-finite covariance,
    margin or certificate residual raises :class:`probes.errors.Diverged` (no verdict from NaN/Inf).
    ``maxima`` and ``hard_tokens`` move the self-witness products and the hard tokens elsewhere (a Dask
    cluster: :func:`probes.distributed.blocks.detect`); the arithmetic is the same kernels'. ``screen``: auto |
    int8 | none, how the self-witness pass bounds its maxima (:func:`_self_witness`; "auto" takes the int8 screen
    for the float32 pass on a CPU, in this process)."""
    import torch

    t0, c0 = time.perf_counter(), time.process_time()
    W, b = _check_input(W, b, keep32=True)
    if ties not in ("strict", "tolerant"):
        raise InputError(f"ties={ties!r}: use 'strict' (ties are unargmaxable) or 'tolerant'")
    if method not in ("auto", "hull", "lp"):
        raise InputError(f"method={method!r}: use auto, hull or lp")
    tdtype = _torch_dtype(dtype)
    dev = torch.device(device)
    if screen not in ("auto", "int8", "none"):
        raise InputError(f"screen={screen!r}: use auto, int8 or none")
    if screen == "int8":
        from probes import witness_screen as ws

        if tdtype != torch.float32 or not ws.available(dev) or maxima is not None:
            raise InputError("screen='int8' needs dtype='float32', a CPU device with torch's int8 product, "
                             "and the pass in this process (no maxima=)")
    V, d = W.shape
    has_bias = b is not None and float(np.ptp(b)) > 0
    bb = (b - b.max()) if has_bias else None
    tick0 = time.perf_counter()
    Z, T, _Wc = _whiten(W, subject)
    r = Z.shape[1]
    kind = np.full(V, -1, np.int8)
    scale = np.ones(V)
    explicit: dict[int, np.ndarray] = {}
    alphas: dict[int, tuple] = {}
    stages = {"self_witness": 0, "hull": 0, "reflection": 0, "lp": 0, "tolerant": 0, "absorb": 0, "absorb_solves": 0,
              "screen_rechecked": 0}
    clock = {"whiten": 0.0, "hull": 0.0, "self_witness": 0.0, "reflection": 0.0, "lp": 0.0, "tolerant": 0.0}
    clock["whiten"] = time.perf_counter() - tick0
    tick = time.perf_counter()

    def lap(name):
        nonlocal tick
        now = time.perf_counter()
        clock[name] += now - tick
        tick = now
    Y = np.zeros((V, r), np.float32)

    def take_alpha(k, idx, w, stage):
        acc = _accept_alpha(W, b, k, idx, w, stage, cert_tol, subject)
        if acc is not None:
            kind[k] = 2
            alphas[k] = acc
            stages[stage] += 1
        return acc is not None

    wabs = _row_l1_max(W)

    def take_witness(k, y, stage):
        x = _accept_witness(W, b, T, k, y, stage, subject, wabs)
        if x is not None:
            kind[k] = 1
            explicit[k] = x
            stages[stage] += 1
        return x is not None

    route = "trivial"
    x_last: dict = {}    # the reflection's last point and rivals met, per token
    rivals: dict = {}
    top_of: dict = {}    # the top rivals, per token (_top_rivals)
    if r == 0:  # all rows equal: the bias alone decides
        bvec = b if b is not None else np.zeros(V)
        top = np.flatnonzero(bvec == bvec.max())
        for k in range(V):
            if len(top) == 1 and k == top[0]:
                kind[k], explicit[k] = 1, np.zeros(d)
            else:
                j = int(top[0] if top[0] != k else top[1])
                kind[k], alphas[k] = 2, (np.array([j]), np.ones(1))
        stages["lp"] = V
    else:
        todo = np.arange(V)
        use_hull = method == "hull" or (method == "auto" and r + (bb is not None) <= 4)  # qhull in <= 4-D
        route = "hull" if use_hull else ("lp" if method == "lp" else "gemm")
        if use_hull:
            try:
                wit, alph = _hull_route(Z, bb)
            except Exception:  # qhull on degenerate input: fall back to the LP route
                wit, alph = {}, {}
            for k, y in wit.items():
                take_witness(k, y, "hull")
            for k, (idx, w) in alph.items():
                if kind[k] < 0:
                    take_alpha(k, idx, w, "hull")
            todo = np.flatnonzero(kind < 0)
            lap("hull")
        else:
            if method == "lp":
                ok, sc = np.zeros(V, bool), np.ones(V)
            else:
                ok, sc, Y = _self_witness(Z, bb, tdtype, dev, block, progress, subject, maxima, screen, stages)
            kind[ok], scale[ok] = 0, sc[ok]
            stages["self_witness"] = int(ok.sum())
            todo = np.flatnonzero(~ok)
            lap("self_witness")
            def reflect(pat):
                """Braid-Reflect on todo for ``pat`` steps; its witnesses re-checked in float64 on (W, b)."""
                found, last, riv = _braid(Z, bb, todo, pat, dev, 512, progress, Y if Y.dtype == np.float32 else None)
                x_last.update(zip(todo.tolist(), last))
                for kq, rq in riv.items():
                    rivals.setdefault(kq, set()).update(rq)
                if found:  # batched GEMMs
                    fk = np.fromiter(found, dtype=np.int64, count=len(found))
                    FX = T @ np.stack([found[int(k)] for k in fk], axis=1)
                    marg = _witness_margins(W, b, fk, FX, wabs)
                    check_finite(subject, "reflection witness margins", marg)
                    for j in np.flatnonzero(marg > 0).tolist():
                        kind[fk[j]], explicit[int(fk[j])] = 1, FX[:, j].copy()
                    stages["reflection"] += int((marg > 0).sum())
                return np.flatnonzero(kind < 0)

            quick = min(patience, 4)
            if todo.size and r > 3 and quick > 0:  # a few reflections settle most argmaxable survivors
                todo = reflect(quick)
            lap("reflection")
            if todo.size and r > 3 and hard_tokens is None:
                # then the interior survivors, batched (they would run the reflection's whole patience):
                # certified from their rivals + the shared deep set; the rest go on to the reflection
                tops = _top_rivals(Z, todo, _n_rivals(r))
                top_of = dict(zip(todo.tolist(), tops))
                deep = _deep_set(Z)  # built here, with every BLAS thread
                if deep is not None:
                    got = _absorb_batch(todo, W, b, Z, bb, deep, tops, cert_tol, stages, subject, progress=progress)
                    for k, (idx, w) in got.items():
                        kind[k], alphas[k] = 2, (idx, w)
                    stages["absorb"] += len(got)
                    todo = np.flatnonzero(kind < 0)
                lap("lp")
            if todo.size and r > 3 and patience > quick:
                todo = reflect(patience)
            lap("reflection")
        rows = lp_rows or max(2 * r, 64)
        rng = np.random.default_rng(seed)
        stages.update(lp_solves=0, lp_rows_max=0)
        stages.update(ldp=0, nnls=0, nnls_solves=0, nnls_rows_max=0)
        if todo.size and r > 3 and hard_tokens is None:
            missing = [k for k in todo.tolist() if k not in top_of]
            if missing:
                top_of.update(zip(missing, _top_rivals(Z, np.asarray(missing), _n_rivals(r))))
            _deep_set(Z)  # built here (if not yet), with every BLAS thread
        tops = [top_of.get(k) for k in todo.tolist()]
        tried = set()
        if hard_tokens is None and bb is not None and r > 3:
            # the tokens few rows outbid in bias (likely rescued by it): their least-distance witnesses in one batch
            few = [j for j, k in enumerate(todo.tolist()) if _few_above(bb, k, r)]
            if len(few) > 1:
                got = _ldp_batch(todo[few], W, b, Z, bb, T, [tops[j] for j in few], stages, subject, wabs,
                                 progress=progress)
                for k, x in got.items():
                    kind[k], explicit[k] = 1, x
                stages["ldp"] += len(got)
                tried = set(todo[few].tolist())
                keep = [j for j, k in enumerate(todo.tolist()) if k not in got]
                todo, tops = todo[keep], [tops[j] for j in keep]
        if hard_tokens is not None:  # elsewhere (a Dask cluster), chunk by chunk, with the same _hard_token
            outs = hard_tokens(todo, W, b, Z, bb, T, x_last, rivals, rows, seed, cert_tol, stages, subject)
        else:
            outs = ((k, _hard_token(k, W, b, Z, bb, T, x_last.get(k, Z[k]).copy(), rivals.get(k, ()), rows, rng,
                                    cert_tol, stages, subject, wabs, tops[j], k in tried))
                    for j, k in enumerate(_progress(todo.tolist(), len(todo), "hard tokens", progress,
                                                    unit="token", rate=True)))
        with _one_blas_thread():
            outs = list(outs)
        for k, out in outs:
            if out is None:
                continue
            if out[0] == "witness":
                kind[k], explicit[k] = 1, out[1]
            else:
                kind[k], alphas[k] = 2, (out[1], out[2])
            stages[out[-1]] += 1
        lap("lp")
    if ties == "tolerant":
        for k in np.flatnonzero(kind == 2).tolist():
            y = _tolerant_lp(k, Z, bb, subject)
            if y is not None:
                kind[k] = 3
                explicit[k] = T @ y
                alphas.pop(k, None)
                stages["tolerant"] += 1
        lap("tolerant")
    unarg = tuple(int(k) for k in np.flatnonzero(kind == 2))
    unc = tuple(int(k) for k in np.flatnonzero(kind < 0))
    certs = Certificates(T, Y, scale, kind, explicit, alphas)
    return UnargmaxableResult(
        vocab_size=V, dim=d, rank=r, has_bias=b is not None, ties=ties, unargmaxable=unarg,
        n_unargmaxable=len(unarg), certified=not unc, verdict="certified" if not unc else "uncertified",
        uncertified=unc, stages=stages, stage_seconds={k: round(v, 3) for k, v in clock.items()}, method=route,
        box=None, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, seed=seed,
        dtype=str(tdtype).replace("torch.", ""), device=str(dev), certificates=certs)


def _witness_margins(W, b, ks, X, wabs: float | None = None, block: int = 512) -> np.ndarray:
    """Float64 margins of witnesses X[:, j] for tokens ks[j] minus their rounding bound (> 0 means
    z_k > z_i for all i, proven), in blocks of columns (one GEMM each). ``wabs`` = max_i ||w_i||_1 (computed
    when not given)."""
    ks = np.asarray(ks, dtype=np.int64)
    X = np.asarray(X, dtype=np.float64).reshape(W.shape[1], -1)
    if wabs is None:
        wabs = _row_l1_max(W)
    babs = float(np.abs(b).max()) if b is not None else 0.0
    u = np.finfo(np.float64).eps / 2
    d = W.shape[1]
    out = np.empty(len(ks))
    for s in range(0, len(ks), block):
        kb, Xb = ks[s:s + block], X[:, s:s + block]
        bound = 4 * (d + 2) * u * (wabs * np.abs(Xb).max(axis=0) + babs)
        if W.dtype == np.float32:
            # against a float32 W: a float32 screen with its rigorous bound, |W x - fl(W fl(x))| <=
            # ||W||_1,max (gamma_d max|fl(x)| + u_32 max|x|) = e32 per logit (the float64 bound still covers
            # adding b). A column whose rivals all lie 2·e32 below its own logit is proven; otherwise only the
            # rows the screen leaves within 2·e32 (near-ties: a few) get float64 logits, and every other row
            # counts at its screen logit + e32. A column with many such rows (or a non-finite screen) gets
            # the float64 product of all rows. (Until 2026-12-04 a single witness, as the hard-token stages
            # accept them, always took that product: 25 ms a token at 50257 × 768, half the hard-token stage.)
            u32 = np.finfo(np.float32).eps / 2
            g32 = d * u32 / (1 - d * u32)
            X32 = Xb.astype(np.float32)
            with np.errstate(over="ignore", invalid="ignore"):
                Lg = (W @ X32).astype(np.float64)
                e32 = wabs * (g32 * np.abs(X32).max(axis=0).astype(np.float64) + u32 * np.abs(Xb).max(axis=0)
                              + 2.0 ** -149)
                zk, rival = _own_rival(Lg, b, kb)       # Lg: b added, own logits set to -inf
                m32 = zk - rival - 2 * e32 - 2 * bound
            ok = m32 > 0
            out[s:s + block] = np.where(ok, m32, 0.0)
            full = []
            for j in np.flatnonzero(~ok):
                near = np.flatnonzero(~(Lg[:, j] < zk[j] - 2 * e32[j]))   # NaN-safe: a NaN row is near
                if not (np.isfinite(zk[j]) and np.isfinite(e32[j])) or near.size > max(64, W.shape[0] // 64):
                    full.append(j)
                    continue
                k = int(kb[j])
                rows = np.append(near, k)
                z = W[rows].astype(np.float64) @ Xb[:, j]
                if b is not None:
                    z += b[rows]
                far = Lg[:, j].copy()
                far[near] = -np.inf
                riv = max(float(z[:-1].max()) if near.size else -math.inf, float(far.max()) + e32[j])
                out[s + j] = z[-1] - riv - 2 * bound[j]
            if full:
                redo = np.asarray(full)
                zk, rival = _own_and_rival_logits(W, b, kb[redo], Xb[:, redo])
                out[s + redo] = zk - rival - 2 * bound[redo]
            continue
        zk, rival = _own_and_rival_logits(W, b, kb, Xb)
        out[s:s + block] = zk - rival - 2 * bound
    return out


def _own_rival(Lg, b, ks):
    """(own, largest other) logits from the V x B logits Lg at witnesses for tokens ks (b added in place)."""
    if b is not None:
        Lg += b[:, None]
    cols = np.arange(len(ks))
    own = Lg[ks, cols].copy()
    Lg[ks, cols] = -np.inf
    return own, Lg.max(axis=0)


def _own_and_rival_logits(W, b, ks, X):
    """Float64 logits at witnesses X[:, j]: token ks[j]'s own and the largest of the others'."""
    if W.dtype == np.float64:
        Lg = W @ X
    else:  # float32 W: promoted by row chunks (_rows64)
        Lg = np.empty((W.shape[0], X.shape[1]))
        for s, n, B in _rows64(W):
            np.matmul(B, X, out=Lg[s:s + n])
    return _own_rival(Lg, b, ks)


def _witness_margin(W, b, k, x, wabs: float | None = None) -> float:
    """:func:`_witness_margins` for one token."""
    return float(_witness_margins(W, b, [k], np.asarray(x)[:, None], wabs)[0])


# -- verification ----------------------------------------------------------------------------------------
def verify(result: UnargmaxableResult, W, b=None, *, sample: int | None = None, seed: int = 0,
           tol: float = 1e-9, block: int = 512, subject: str = "head") -> VerifyResult:
    """Re-check certificates on the original (W, b) in float64: witness margins with a rounding bound,
    alpha >= 0, sum alpha = 1, ||sum alpha_i w_i - w_k||_inf and sum alpha_i b_i - b_k (relative to the scale
    of W and b). ``sample`` checks that many random witnesses (all alphas are always checked).
    A non-finite witness, margin, weight or residual raises :class:`probes.errors.Diverged` naming
    ``subject`` and the token (a NaN comparison would otherwise pass silently)."""
    t0 = time.perf_counter()
    W, b = _check_input(W, b)
    c = result.certificates
    if c is None:
        raise InputError("result: has no certificates (a --box run); certificates come from detect()")
    V, d = W.shape
    failed = []
    wit = np.flatnonzero(np.isin(c.kind, (0, 1)))
    if sample is not None and sample < wit.size:
        wit = np.sort(np.random.default_rng(seed).choice(wit, sample, replace=False))
    u = np.finfo(np.float64).eps / 2
    wabs = np.abs(W).sum(axis=1).max()
    babs = np.abs(b).max() if b is not None else 0.0
    min_margin = math.inf
    for s in range(0, wit.size, block):
        ks = wit[s:s + block]
        X = np.stack([c.witness(int(k)) for k in ks], axis=1)  # d x B
        check_finite(subject, f"witnesses of tokens {int(ks[0])}..{int(ks[-1])}", X)
        selfv, rival = _own_and_rival_logits(W, b, ks, X)
        marg = selfv - rival
        bound = 8 * (d + 2) * u * (wabs * np.abs(X).max(axis=0) + babs)
        check_finite(subject, f"witness margins of tokens {int(ks[0])}..{int(ks[-1])}", np.stack([marg, bound]))
        bad = marg <= bound
        failed += ks[bad].tolist()
        min_margin = min(min_margin, float((marg / np.maximum(np.abs(selfv), 1e-300)).min()))
    for k in np.flatnonzero(c.kind == 3).tolist():  # weak witnesses: a maximiser that beats some row
        z = W @ c.explicit[k] + (b if b is not None else 0)
        check_finite(subject, f"logits at the weak witness of token {k}", z)
        zk = z[k]
        z[k] = -np.inf
        sc = max(np.abs(z[np.isfinite(z)]).max(), abs(zk), 1e-300)
        if not (z.max() <= zk + tol * sc and z.min() < zk - tol * sc):
            failed.append(k)
    max_res, min_gap = 0.0, math.inf
    n_alpha = 0
    for k in np.flatnonzero(c.kind == 2).tolist():
        idx, w = c.alpha[k]
        check_finite(subject, f"convex-combination weights of token {k}", w)
        ok, res, gap = _alpha_ok(W, b, k, idx, w, tol)
        check_finite(subject, f"certificate residual of token {k}", [res, gap])
        n_alpha += 1
        max_res, min_gap = max(max_res, res), min(min_gap, gap)
        if not ok:
            failed.append(k)
    return VerifyResult(ok=not failed and result.certified, n_witness_checked=int(wit.size),
                        n_alpha_checked=n_alpha, n_failed=len(failed), failed=tuple(sorted(failed)),
                        min_witness_margin=min_margin, max_alpha_residual=max_res,
                        min_bias_gap=min_gap if n_alpha else math.nan, seconds=time.perf_counter() - t0)


# -- the reference tool's bounded search ------------------------------------------------------------------
def box_detect(W, b=None, box: float = 100.0, *, tokens=None, radius_floor: float = 1e-8,
               progress: bool = False) -> UnargmaxableResult:
    """Grivas et al.'s exact step as a per-token Chebyshev LP over x in [-box, box]^d (HiGHS):
    max r s.t. (w_i - w_k).x + ||w_i - w_k|| r <= b_k - b_i, r >= radius_floor; infeasible -> "bounded".
    Not scale-invariant (b -> 1000 b breaks it); kept for comparison and as the bench baseline."""
    from scipy.optimize import linprog

    t0, c0 = time.perf_counter(), time.process_time()
    W, b = _check_input(W, b)
    if not (box > 0 and math.isfinite(box)):
        raise InputError(f"--box {box}: the half-width must be a positive finite number")
    V, d = W.shape
    bvec = b if b is not None else np.zeros(V)
    ks = np.arange(V) if tokens is None else np.asarray(tokens)
    bounded = []
    for k in _progress(ks.tolist(), len(ks), "box LP", progress):
        D = np.delete(W, k, axis=0) - W[k]
        A = np.hstack([D, np.linalg.norm(D, axis=1, keepdims=True)])
        ub = bvec[k] - np.delete(bvec, k)
        c = np.zeros(d + 1)
        c[-1] = -1
        res = linprog(c, A_ub=A, b_ub=ub, bounds=[(-box, box)] * d + [(radius_floor, None)], method="highs",
                      options=_LP_OPTIONS)
        if res.status != 0:
            bounded.append(int(k))
    return UnargmaxableResult(
        vocab_size=V, dim=d, rank=int(np.linalg.matrix_rank(W - W.mean(0))), has_bias=b is not None,
        ties="strict", unargmaxable=tuple(bounded), n_unargmaxable=len(bounded), certified=False,
        verdict="uncertified", uncertified=(), stages={"box_lp": int(len(ks))},
        stage_seconds={"box_lp": round(time.perf_counter() - t0, 3)}, method="box", box=float(box),
        seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, seed=0, dtype="float64",
        device="cpu", certificates=None)


# -- workloads -----------------------------------------------------------------------------------------------
def gaussian_head(V: int, d: int, *, bias: bool = False, seed: int = 0, dtype=np.float64):
    """iid N(0, 1) weights (and an independent N(0, 1) bias)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, d)).astype(dtype)
    b = rng.standard_normal(V).astype(dtype) if bias else None
    return W, b


def trained_like_head(V: int, d: int, *, n_planted: int = 20, bias: bool = False, seed: int = 0,
                      dtype=np.float32, rescued: int = 0):
    """W = mu + s_i u_i: u_i ~ N(0, diag(1/(1+j))) normalised, s_i log-normal (sigma 0.35), ||mu|| ~ 0.3 sqrt(d);
    plus rows planted strictly inside the hull: p = 0.8 mean(3 rows) + 0.2 centroid(others).
    With a bias (N(0, 0.1^2)) the planted rows get the lowest bias, so they stay unargmaxable, except
    ``rescued`` of them, which get a bias near the top (the 99.9 % quantile plus a jitter): whether the bias
    rescues them is not known in advance (the certificates decide), and they are the hard tokens with a bias.
    Returns (W, b, planted): ``planted`` lists the rows that must be unargmaxable (the rescued ones excluded)."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((V, d)) / np.sqrt(1.0 + np.arange(d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    s = rng.lognormal(0.0, 0.35, V)
    mu = rng.standard_normal(d)
    mu *= 0.3 * np.sqrt(d) / np.linalg.norm(mu)
    W = mu + s[:, None] * U
    planted = np.sort(rng.choice(V, n_planted, replace=False))
    total = W.sum(axis=0)
    for p in planted:
        src = rng.choice(np.setdiff1d(np.arange(V), planted), 3, replace=False)
        centroid = (total - W[p]) / (V - 1)
        W[p] = 0.8 * W[src].mean(axis=0) + 0.2 * centroid
    b = rng.standard_normal(V) * 0.1 if bias else None
    if bias:  # a bias must not rescue the planted rows: give them the lowest bias
        top = float(np.quantile(b, 0.999))
        b[planted] = b.min() - 1.0
        if rescued:
            if not 0 <= rescued <= n_planted:
                raise InputError(f"rescued={rescued}: must be between 0 and n_planted={n_planted}")
            lift = planted[:rescued]
            b[lift] = top + 0.05 * rng.random(rescued)
            planted = planted[rescued:]
    elif rescued:
        raise InputError("rescued: only meaningful with bias=True")
    return W.astype(dtype), (b.astype(dtype) if b is not None else None), planted


# -- expected counts: the theory's integrands and prefactors, integrated here ---------------------------
def _quad(f, *args) -> float:
    """int_R f(z, *args) dz by scipy quadrature (the integrand is a lambdified theory prediction)."""
    from scipy import integrate

    val, _err = integrate.quad(lambda z: float(f(z, *args)), -math.inf, math.inf, limit=200, epsabs=1e-13,
                               epsrel=1e-11)
    check_finite(f"iid Gaussian rows, arguments {args}", "expected-count quadrature", val)
    return float(val)


def expected_facets(n: int, d: int) -> float:
    """E f_{d-1} of the hull of n iid N(0, I_d) points (d <= 4): theory GAUSSIAN ``facet_prefactor`` (2 C(n,d))
    times the quadrature of ``facet_integrand`` (phi(z) Phi(z/sqrt d)^(n-d))."""
    if d < 1 or n < d + 1 or d > th.MAX_VERTEX_DIM:
        raise InputError(f"expected_facets: need 1 <= d <= {th.MAX_VERTEX_DIM} and n >= d + 1, got n={n}, d={d}")
    prefactor = float(th.GAUSSIAN.predict("facet_prefactor", n=n, d=d))
    return prefactor * _quad(th.GAUSSIAN.function("facet_integrand"), n, d)


def expected_vertices(n: int, d: int) -> float:
    """E_d(n), expected hull vertices of n iid N(0, I_d) points (d <= 4): theory ANGLES
    sum_{j = d-1, d-3, ...} vertex_prefactor(n, j) * int angle_integrand(z, n, j) dz, the integrals by quadrature.
    n <= d + 1 points are affinely independent almost surely: all n are vertices."""
    if d < 1 or n < 1:
        raise InputError(f"expected_vertices: need n >= 1 and d >= 1, got n={n}, d={d}")
    if d > th.MAX_VERTEX_DIM:
        raise InputError(f"expected_vertices: d={d}: implemented for d <= {th.MAX_VERTEX_DIM} "
                         "(internal angles of regular simplices)")
    if n <= d + 1:
        return float(n)
    prefactor, integrand = th.ANGLES.function("vertex_prefactor"), th.ANGLES.function("angle_integrand")
    return float(sum(float(prefactor(n, j)) * _quad(integrand, n, j) for j in range(d - 1, -1, -2)))


def expected_argmaxable(n: int, d: int, bias: bool) -> float:
    """Expected argmaxable tokens among n iid Gaussian rows in R^d: E_d(n) without bias; with an independent
    Gaussian bias theory GAUSSIAN ``argmaxable_with_bias`` (E_{d+1}(n) + E_d(n)) / 2 (lifted upper-hull vertices)."""
    if not bias:
        return expected_vertices(n, d)
    return float(th.GAUSSIAN.predict("argmaxable_with_bias", E_up=expected_vertices(n, d + 1),
                                     E_d=expected_vertices(n, d)))


# -- Monte Carlo against the quadrature --------------------------------------------------------------------
def expected_count(n: int, d: int, *, bias: bool, trials: int = 200, seed: int = 0, rows: str = "gaussian",
                   dtype="float64", device: str = "cpu") -> CountResult:
    """Mean argmaxable count of the detector over ``trials`` heads of n iid N(0, I_d) rows (optionally an
    N(0, 1) bias) beside :func:`expected_argmaxable` (n, d, bias), a prediction for the distribution the heads
    are drawn from (not computed from the draws). ``rows="normalized"`` puts the rows on the unit sphere (breaks
    the Gaussian premise; used as a negative control). Verdict: "agrees" iff |mean - expected| <= 4 sem."""
    if rows not in ("gaussian", "normalized"):
        raise InputError(f"rows={rows!r}: use gaussian or normalized")
    if n < 2 or d < 1 or trials < 2:
        raise InputError(f"n={n}, d={d}, trials={trials}: need n >= 2, d >= 1, trials >= 2")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = np.empty(trials)
    subject = f"iid {'unit-norm' if rows == 'normalized' else 'Gaussian'} heads n={n}, d={d}"
    for t in range(trials):
        W = rng.standard_normal((n, d))
        if rows == "normalized":
            W /= np.linalg.norm(W, axis=1, keepdims=True)
        b = rng.standard_normal(n) if bias else None
        res = detect(W, b, seed=seed, dtype=dtype, device=device, subject=f"{subject}, trial {t}")
        if not res.certified:
            raise RuntimeError(f"trial {t}: detector left tokens {res.uncertified} uncertified")
        counts[t] = n - res.n_unargmaxable
    exp = expected_argmaxable(n, d, bias)
    check_finite(subject, "expected argmaxable count (quadrature)", exp)
    mean, sem = float(counts.mean()), float(counts.std(ddof=1) / math.sqrt(trials))
    z = (mean - exp) / sem if sem > 0 else None
    return CountResult(n=n, d=d, bias=bias, rows=rows, trials=trials, mean_argmaxable=mean, sem=sem,
                       expected=exp, z_score=None if z is None else float(z),
                       verdict="agrees" if abs(mean - exp) <= 4 * sem else "disagrees",
                       seed=seed, dtype=str(dtype), device=str(device), seconds=time.perf_counter() - t0)


# -- files (the `attnprobe unargmaxable` command is in probes/commands.py) ------------------------------------
def load_head(path: str, weight_key: str | None = None, bias_key: str | None = None):
    """Read (W, b) from .npy, .npz, .safetensors or .pt/.bin through :mod:`probes.arrays` (never unpickled).

    W must be a V × d float matrix (the only 2-D array, or ``weight_key``); b, if named, a length-V vector.
    """
    from probes.arrays import float_array, read_arrays

    if bias_key and Path(path).suffix.lower() == ".npy":
        raise InputError(f"--bias-key {bias_key!r}: a .npy file holds one array; use .npz for weight + bias")
    tensors = read_arrays(path)
    keys = sorted(tensors)
    if weight_key is None:
        twod = [k for k in keys if np.ndim(tensors[k]) == 2]
        if len(twod) != 1:
            raise InputError(f"{path}: {len(twod)} 2-D arrays ({', '.join(twod) or 'none'}); name one with --weight-key")
        weight_key = twod[0]
    if weight_key not in tensors:
        raise InputError(f"--weight-key {weight_key!r}: not in {path}; it has {', '.join(keys)}")
    if bias_key is not None and bias_key not in tensors:
        raise InputError(f"--bias-key {bias_key!r}: not in {path}; it has {', '.join(keys)}")
    W = float_array(f"{path}:{weight_key}", tensors[weight_key], ndim=2, what="weight matrix (V × d)")
    b = None
    if bias_key:
        b = float_array(f"{path}:{bias_key}", tensors[bias_key], ndim=1, what="bias vector")
        if len(b) != len(W):
            raise InputError(f"--bias-key {bias_key!r}: has {len(b)} entries but the weight has {len(W)} rows")
    return W, b
