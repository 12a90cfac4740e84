"""Hubness probe: exact k-occurrence N_k at GEMM speed, its measures and its theory.

N_k(y) = number of rankings (queries) whose k best candidates include y. Two modes:

* **self** (one set X): every point ranks all *other* points; self is excluded both as a
  query and as a neighbour, so mean N_k = k (Radovanović et al. 2010, JMLR 11, §3).
* **query→key** (queries Q, keys K): every query ranks all keys (attention: top-k logits);
  nothing is excluded; mean N_k = k·n_q/n_k.

Scores are ``α⟨q, y⟩ − β_y`` (higher is nearer): euclidean α = 2, β = ‖y‖² (data centred
first, which changes no distance); cosine: rows normalised, α = 1, β = 0; dot: α = 1, β = 0.
The pass is a blocked GEMM with a running top-(2k) per row (the symmetric half in self mode:
each block pair once, used for rows and columns), so memory is O(block² + n·k).

**Exactness and ties.** The pass runs in ``dtype`` (float32 by default) and keeps 2k
candidates per row. With tol = (d + 6)·u·(sum of the magnitudes of the score's terms), a
bound on the pass's rounding: (1) a row whose k-th and (k+1)-th pass scores differ by more
than 2·tol already has the exact top-k set; (2) otherwise its candidates are re-scored in
float64 from the original data and sorted by (score descending, index ascending), and the
row is certified when its k-th float64 score exceeds the 2k-th pass score + tol, so no
non-candidate can reach it; (3) rows that still fail (ties across the candidate edge, many
duplicates) are recomputed against all keys in float64. Result: the float64 top-k set with
ties at the k-th place broken by the lower index, so duplicate points are handled
deterministically (the order *within* a row's top k is by pass score for rows of kind (1)).

Measures: biased k-skewness (E(N−μ)³/σ³, as ``scipy.stats.skew``), antihub occurrence
#{N = 0}/n, hub occurrence Σ_{N ≥ 2N̄} N / ΣN, Robin Hood ½Σ|N−N̄|/ΣN, Gini, and the
centrality Spearman(N_k, ‖y − ȳ‖).

Theory (``theory/hubness.py``; every number below is a registered prediction evaluated
here, the 1-D integrals by quadrature):

* ``null``: the w = 0 model, N_k ~ Bin(m, q). It depends on (m, q) only: a prediction.
* ``w`` / ``limit``: the d → ∞ limit law at a *stated* w (``probe(..., w=...)``, e.g.
  ``w_from_kurtosis`` of the distribution the points were drawn from, or ‖μ_q‖/(σ_z√d)):
  a prediction under that premise.
* ``w_plug_in_for_this_draw`` / ``limit_plug_in_for_this_draw``: the same formulas with w
  from the second and fourth moments of the very draw that was measured. Not a
  prediction: a plug-in reading of this draw (it uses its moments, not its N_k).

A non-finite number met on the way (norms, pass or float64 scores, the statistics, w, the
theory's integrals) raises :class:`probes.errors.Diverged` naming the subject: no verdict
is read from NaN/Inf.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from probes._lazy import lazy_import
from probes.errors import InputError, check_finite, require_finite
from probes.result import Result

th = lazy_import("theory.hubness")

__all__ = ["METRICS", "VERDICTS", "KNN", "HubnessResult", "knn", "k_occurrence", "measures",
           "limit_law", "null_law", "estimate_w", "probe", "synthetic", "load_matrix",
           "add_subcommand", "write_plot"]

METRICS = ("euclidean", "cosine", "dot")
VERDICTS = ("null-like", "hubness", "near-limit")
REDUCTIONS = ("csls", "mp")
# more than this fraction of lists with an exact tie at the k-th place: the index tie-break, not the data,
# decides part of N_k (a note says so); if as many points also duplicate another point, the verdict is
# "degenerate" (identical or lattice points: the lists, hence the hubs, are an artefact of index order)
DEGENERATE_TIES = 0.05
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32, "double": torch.float64}


# ----------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------
def _as_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise InputError(f"dtype {dtype}: use torch.float32 or torch.float64")
        return dtype
    if str(dtype) not in _DTYPES:
        raise InputError(f"dtype {dtype!r}: use 'float32' (fast, re-checked in float64) or 'float64'")
    return _DTYPES[str(dtype)]


def _as_matrix(name: str, x) -> torch.Tensor:
    """A 2-D float tensor (float64 unless the input is float32), finite, d ≥ 1."""
    if isinstance(x, np.ndarray):
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise InputError(f"{name}: dtype {x.dtype} is not numeric; pass a float matrix")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if x.ndim != 2:
        raise InputError(f"{name}: expected a 2-D matrix (points × dimensions), got shape {tuple(x.shape)}; "
                         "reshape it, e.g. x.reshape(-1, x.shape[-1])")
    if x.shape[1] == 0:
        raise InputError(f"{name}: has d = 0 dimensions; hubness needs at least one coordinate")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else torch.float64)
    x = x.detach().cpu()
    require_finite(name, x)
    return x


# ----------------------------------------------------------------------------------
# the exact k-NN engine
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KNN:
    """Top-k of every query: ``indices`` (n_q, k) int64 and ``scores`` (float64), best first.

    ``clear_rows``: certified from the pass alone (gap > 2·tol; scores at pass precision);
    ``rescored_rows``: candidates re-scored and certified in float64; ``fallback_rows``:
    recomputed against all keys in float64. ``tied_rows``: rows whose k-th and (k+1)-th
    float64 scores are exactly equal, so the lower index decided which one is in the list.
    """

    indices: torch.Tensor
    scores: torch.Tensor
    n_keys: int
    clear_rows: int
    rescored_rows: int
    fallback_rows: int
    tied_rows: int = 0


class _Space:
    """Queries and keys prepared for one metric: scores α⟨q, y⟩ − β_y (+ key bias).

    Memory-lean: the data are kept as given (float32 stays float32); the centred float64
    matrices are built in row chunks, and in full only on demand (``keys64``/``queries64``).
    """

    _CHUNK = 8192

    def __init__(self, keys: torch.Tensor, queries: torch.Tensor | None, metric: str):
        self.self_mode = queries is None
        self.metric = metric
        self.alpha = 2.0 if metric == "euclidean" else 1.0
        if metric == "cosine":
            normed = []
            for nm, x in (("keys", keys), ("queries", queries)):
                if x is None:
                    continue
                norms = x.to(torch.float64).norm(dim=1)
                if bool((norms == 0).any()):
                    i = int((norms == 0).nonzero()[0])
                    raise InputError(f"{nm}: row {i} has zero norm, so its cosine is undefined; "
                                     "drop zero rows or use --metric euclidean")
                normed.append(x.to(torch.float64) / norms.unsqueeze(1))
            keys, queries = normed[0], (normed[1] if len(normed) > 1 else None)
        # exact scoring uses these (uncentred) rows: −‖q − y‖² by direct differences, so exact
        # ties (duplicates, integer data) stay ties
        self.keys_x = keys
        self.queries_x = keys if queries is None else queries
        # distances are translation invariant: the pass centres the data for accuracy
        self.centre = (keys.sum(0, dtype=torch.float64) / len(keys)) if metric == "euclidean" else None
        kst = self._stats(self.keys_x)
        qst = kst if self.self_mode else self._stats(self.queries_x)
        # β_y = ‖y − c‖² (euclidean), and the same for queries (the pass's per-query term)
        self.beta64 = kst[0] if metric == "euclidean" else torch.zeros(len(keys), dtype=torch.float64)
        self.pass_offset = qst[0] if metric == "euclidean" else torch.zeros(len(self.queries_x), dtype=torch.float64)
        self.key_norms, self.query_norms = kst[0].sqrt(), qst[0].sqrt()   # of the pass's rows
        self.key_norm_max = float(self.key_norms.max())
        # uncentred squared norms for the exact float64 score 2⟨q, y⟩ − ‖y‖² − ‖q‖² (computed
        # row by row with one kernel, so duplicate rows give bit-identical scores)
        self.sq_keys, self.sq_queries = kst[1], qst[1]

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        return x - self.centre if self.centre is not None else x

    def _stats(self, X):
        """One pass over X: (‖x − c‖², ‖x‖²) per row in float64."""
        cen, raw = [], []
        for i in range(0, len(X), self._CHUNK):
            x = X[i:i + self._CHUNK].to(torch.float64)
            raw.append((x * x).sum(1))
            cen.append(raw[-1] if self.centre is None else ((x - self.centre) ** 2).sum(1))
        return torch.cat(cen), torch.cat(raw)

    def _rowwise(self, X, f) -> torch.Tensor:
        return torch.cat([f(self._centred(X[i:i + self._CHUNK])) for i in range(0, len(X), self._CHUNK)])

    def pass_matrix(self, which: str, dtype, device) -> torch.Tensor:
        """The centred rows in the pass dtype on ``device``, converted chunk by chunk."""
        return self.pass_matrix_of(self.keys_x if which == "keys" else self.queries_x, dtype, device)

    def pass_matrix_of(self, X, dtype, device) -> torch.Tensor:
        """X − c in ``dtype``. With c rounded to ``dtype`` first this is an exact common
        translation followed by one rounding per entry, so it can run in ``dtype`` itself."""
        out = torch.empty(X.shape, dtype=dtype, device=device)
        c = None if self.centre is None else self.centre.to(device, dtype)
        for i in range(0, len(X), self._CHUNK):
            part = X[i:i + self._CHUNK].to(device, dtype)
            out[i:i + self._CHUNK] = part if c is None else part - c
        return out

    def augmented(self, dtype, device, bias=None):
        """(A, B) with A_i·B_j = the similarity minus the key bias (euclidean: −‖q − y‖²).

        euclidean: A = [q − c, ‖q − c‖², 1], B = [2(y − c), −1, −‖y − c‖² − bias_y];
        cosine/dot: A = q, B = y (with a bias: A = [q, 1], B = [y, −bias_y]). In self mode
        without bias A_I·B_J = (A_J·B_I)ᵀ, so the symmetric half suffices.
        """
        eu = self.metric == "euclidean"
        extra = 2 if eu else (1 if bias is not None else 0)
        if extra == 0:
            B = self.pass_matrix("keys", dtype, device)
            return (B if self.self_mode else self.pass_matrix("queries", dtype, device)), B

        def build(X, beta, is_key):
            d = X.shape[1]
            out = torch.empty((len(X), d + extra), dtype=dtype, device=device)
            out[:, :d] = self.pass_matrix_of(X, dtype, device)
            if is_key:
                out[:, :d] *= self.alpha     # ×2 is exact
                b = (beta if eu else 0) + (bias if bias is not None else 0)
                if eu:
                    out[:, d] = -1
                out[:, -1] = (-b).to(device, dtype)
            else:
                if eu:
                    out[:, d] = beta.to(device, dtype)
                out[:, -1] = 1
            return out

        return build(self.queries_x, self.pass_offset, False), build(self.keys_x, self.beta64, True)

    @property
    def keys64(self) -> torch.Tensor:
        return self._centred(self.keys_x)

    @property
    def queries64(self) -> torch.Tensor:
        return self._centred(self.queries_x)

    def swapped(self) -> "_Space":
        """The same space with roles exchanged: keys rank queries (query→key mode only)."""
        rev = _Space.__new__(_Space)
        rev.__dict__.update(self.__dict__)
        rev.keys_x, rev.queries_x = self.queries_x, self.keys_x
        rev.sq_keys, rev.sq_queries = self.sq_queries, self.sq_keys
        rev.beta64, rev.pass_offset = self.pass_offset, self.beta64
        rev.key_norms, rev.query_norms = self.query_norms, self.key_norms
        rev.key_norm_max = float(self.query_norms.max())
        return rev

    def exact(self, rows, cand: torch.Tensor, bias=None) -> torch.Tensor:
        """float64 similarity (−‖q−y‖², cos or dot, minus key bias) of query ``rows`` to ``cand``."""
        Q = self.queries_x[rows].to(torch.float64)
        Kc = self.keys_x[cand].to(torch.float64)
        s = torch.bmm(Kc, Q.unsqueeze(2)).squeeze(2)
        if self.metric == "euclidean":
            s = 2 * s - self.sq_keys[cand] - (Q * Q).sum(1, keepdim=True)
        return s if bias is None else s - bias[cand]

    def exact_all(self, rows, bias=None) -> torch.Tensor:
        """float64 similarity of query ``rows`` to every key (GEMM form; duplicates tie exactly)."""
        Q = self.queries_x[rows].to(torch.float64)
        parts = []
        for j in range(0, len(self.keys_x), self._CHUNK):
            Kj = self.keys_x[j:j + self._CHUNK].to(torch.float64)
            parts.append(torch.bmm(Kj.expand(len(Q), -1, -1), Q.unsqueeze(2)).squeeze(2))
        s = torch.cat(parts, 1)
        if self.metric == "euclidean":
            s = 2 * s - self.sq_keys.unsqueeze(0) - (Q * Q).sum(1, keepdim=True)
        return s if bias is None else s - bias.unsqueeze(0)


def _pairs(nq: int, nk: int, block: int, symmetric: bool):
    """Tile pairs (i0, i1, j0, j1) covering the score matrix, or its upper triangle (symmetric).

    In symmetric mode a diagonal block is itself covered by the upper triangle of sub-tiles a
    quarter its size, so only ~5/8 of its entries are computed instead of all of them; and
    the diagonal sub-tiles come first, so every row's running top-k is full before the big
    tiles arrive (they then take the sparse path of :func:`_update` in both directions).
    """
    if not symmetric:
        for i0 in range(0, nq, block):
            for j0 in range(0, nk, block):
                yield i0, min(i0 + block, nq), j0, min(j0 + block, nk)
        return
    sub = block // 4 if block >= 1024 else block
    blocks = [(i0, min(i0 + block, nq)) for i0 in range(0, nq, block)]
    for i0, i1 in blocks:                                   # diagonal sub-tiles
        for a0 in range(i0, i1, sub):
            yield a0, min(a0 + sub, i1), a0, min(a0 + sub, i1)
    for i0, i1 in blocks:                                   # the rest of each diagonal block
        for a0 in range(i0, i1, sub):
            for b0 in range(a0 + sub, i1, sub):
                yield a0, min(a0 + sub, i1), b0, min(b0 + sub, i1)
    for i0, i1 in blocks:                                   # off-diagonal blocks
        for j0 in range(i1, nk, block):
            yield i0, i1, j0, min(j0 + block, nk)


def _merge(state_v, state_i, rows: slice, v, i, width: int):
    cv = torch.cat([state_v[rows], v], 1)
    ci = torch.cat([state_i[rows], i], 1)
    top_v, pos = cv.topk(width, dim=1, sorted=False)
    state_v[rows] = top_v
    state_i[rows] = ci.gather(1, pos)


def _merge_sparse(state_v, state_i, r, c, v, width: int):
    """Merge new entries (row ``r`` grouped ascending, column ``c``, value ``v``) into the state."""
    if len(r) == 0:
        return
    rows, counts = torch.unique_consecutive(r, return_counts=True)
    starts = counts.cumsum(0) - counts
    slot = torch.repeat_interleave(torch.arange(len(rows), device=r.device), counts)
    pos = torch.arange(len(r), device=r.device) - starts[slot] + width
    m = width + int(counts.max())
    pv = torch.full((len(rows), m), -math.inf, dtype=state_v.dtype, device=state_v.device)
    pi = torch.full((len(rows), m), -1, dtype=torch.int64, device=state_v.device)
    pv[:, :width] = state_v[rows]
    pi[:, :width] = state_i[rows]
    pv[slot, pos] = v
    pi[slot, pos] = c
    top_v, p = pv.topk(width, dim=1, sorted=False)
    state_v[rows] = top_v
    state_i[rows] = pi.gather(1, p)


def _sparse_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """``mask.nonzero()`` (row-major order) for a sparse contiguous bool matrix.

    Scans the mask as 64-bit words (8 entries each) and expands only the words that hold a
    hit: about 5× faster than ``nonzero`` on a 4096² tile with a few thousand hits.
    """
    r, c = mask.shape
    if c % 8 or not mask.is_contiguous():
        return mask.nonzero()
    words = mask.view(torch.int64).nonzero()
    sub = mask.view(r, c // 8, 8)[words[:, 0], words[:, 1]].nonzero()
    return torch.stack([words[sub[:, 0], 0], words[sub[:, 0], 1] * 8 + sub[:, 1]], 1)


def _update(state_v, state_i, S, r0: int, c0: int, width: int, by_column: bool, mask_buf=None):
    """Fold tile ``S`` (rows r0…, columns c0…) into the running top-``width`` of its rows, or
    with ``by_column`` of its columns (column j then holds row c0 + j's scores of r0…).

    Once every row of the block holds ``width`` candidates, only entries above the row's
    current ``width``-th best can enter, and after the first few blocks these are a handful
    per row: they are found with one comparison pass and merged sparsely. Entries equal to
    the threshold are dropped, so every dropped entry scores ≤ the final ``width``-th best
    (what the certification in :func:`knn` relies on).
    """
    n_own = S.shape[1] if by_column else S.shape[0]
    own = slice(c0, c0 + n_own) if by_column else slice(r0, r0 + n_own)
    thr = state_v[own].amin(1)
    if bool(torch.isneginf(thr).any()):          # the block's state is not yet full: dense
        T = S.T.contiguous() if by_column else S
        w = min(width, T.shape[1])
        v, ix = T.topk(w, dim=1, sorted=False)
        _merge(state_v, state_i, own, v, ix + (r0 if by_column else c0), width)
        return
    mask = None if mask_buf is None else mask_buf[:S.numel()].view(S.shape)
    if by_column:
        hit = _sparse_nonzero(torch.gt(S, thr.unsqueeze(0), out=mask))
        order = hit[:, 1].argsort(stable=True)
        i, j = hit[order, 0], hit[order, 1]
        _merge_sparse(state_v, state_i, j + c0, i + r0, S[i, j], width)
    else:
        hit = _sparse_nonzero(torch.gt(S, thr.unsqueeze(1), out=mask))
        i, j = hit[:, 0], hit[:, 1]
        _merge_sparse(state_v, state_i, i + r0, j + c0, S[i, j], width)


def _progress(total: int, progress: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="blk", file=sys.stderr, leave=False,
                disable=not (progress and sys.stderr.isatty()))


def _scan(Q, K, score, width: int, symmetric: bool, block: int, progress: bool, desc: str, transposed=None):
    """Running top-``width`` of ``score(G, i0, i1, j0, j1)`` over all block pairs.

    In symmetric mode the column direction uses ``transposed(S, i0, i1, j0, j1)``, a matrix
    C in the tile's layout with C[i, j] = score of row j0 + j against column i0 + i (or, if
    None, ``score(G.T, j0, j1, i0, i1).T``).
    """
    nq, nk = len(Q), len(K)
    dev = Q.device
    state_v = torch.full((nq, width), -math.inf, dtype=Q.dtype, device=dev)
    state_i = torch.full((nq, width), -1, dtype=torch.int64, device=dev)
    pairs = list(_pairs(nq, nk, block, symmetric))
    # preallocated tile and mask buffers: a fresh 4096² tile per block pair costs ~15% of the
    # GEMM in allocation and page faults on CPU
    size = min(block, nq) * min(block, nk)
    g_buf = torch.empty(size, dtype=Q.dtype, device=dev)
    m_buf = torch.empty(size, dtype=torch.bool, device=dev)
    with _progress(len(pairs), progress, desc) as bar:
        for i0, i1, j0, j1 in pairs:
            G = torch.mm(Q[i0:i1], K[j0:j1].T, out=g_buf[:(i1 - i0) * (j1 - j0)].view(i1 - i0, j1 - j0))
            S = score(G, i0, i1, j0, j1)
            if symmetric and i0 == j0:
                S.diagonal().fill_(-math.inf)
            _update(state_v, state_i, S, i0, j0, width, False, m_buf)
            if symmetric and i0 != j0:
                C = score(G.T, j0, j1, i0, i1).T if transposed is None else transposed(S, i0, i1, j0, j1)
                _update(state_v, state_i, C, i0, j0, width, True, m_buf)
            bar.update(1)
    return state_v, state_i


def _order_exact(s64: torch.Tensor, idx: torch.Tensor):
    """Sort each row by score descending, ties by lower index (stable two-key sort)."""
    o1 = idx.argsort(dim=1, stable=True)
    s1, i1 = s64.gather(1, o1), idx.gather(1, o1)
    o2 = (-s1).argsort(dim=1, stable=True)
    return s1.gather(1, o2), i1.gather(1, o2)


def _select_topk(s: torch.Tensor, k: int) -> torch.Tensor:
    """Column indices of each row's k largest entries, ties at the k-th value to lower indices."""
    kth = s.topk(k, dim=1).values[:, -1:]
    gt = s > kth
    eq = s == kth
    need = k - gt.sum(1, keepdim=True)
    take = gt | (eq & (eq.cumsum(1) <= need))
    return take.nonzero()[:, 1].reshape(len(s), k)


def _check_space(space: _Space, subject: str) -> None:
    """The float64 squared norms the scores are built from must be finite (finite input can overflow)."""
    hint = "the data overflow float64 when squared; rescale them (every ranking is scale-invariant)"
    check_finite(subject, "squared norms of the keys", torch.cat([space.sq_keys, space.beta64]), hint)
    if not space.self_mode:
        check_finite(subject, "squared norms of the queries", torch.cat([space.sq_queries, space.pass_offset]), hint)


def knn(keys, queries=None, *, k: int = 10, metric: str = "euclidean", dtype="float32",
        device="cpu", block: int = 4096, key_bias=None, progress: bool = False,
        _space: _Space | None = None, subject: str = "keys") -> KNN:
    """Exact top-k (self excluded when ``queries`` is None), float64-certified, index tie-break.

    ``key_bias`` (n_keys,) is added to β_y (used by CSLS). See the module docstring.
    ``subject`` names the data in errors: a non-finite norm, pass score or float64 score raises
    :class:`probes.errors.Diverged` (e.g. a float32 pass that overflows).
    """
    if metric not in METRICS:
        raise InputError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    dt = _as_dtype(dtype)
    sp_ = _space or _Space(_as_matrix("keys", keys), None if queries is None else _as_matrix("queries", queries), metric)
    _check_space(sp_, subject)
    nk, nq, d = len(sp_.keys_x), len(sp_.queries_x), sp_.keys_x.shape[1]
    avail = nk - 1 if sp_.self_mode else nk
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k = {k!r}: must be a positive integer")
    if avail < k:
        raise InputError(f"k = {k} but only {avail} candidate neighbours per query (n = {nk}"
                         f"{', self excluded' if sp_.self_mode else ''}); use k < n")
    if block < 1:
        raise InputError(f"block = {block}: must be ≥ 1")
    bias64 = torch.as_tensor(key_bias, dtype=torch.float64) if key_bias is not None else None
    if bias64 is not None:
        check_finite(subject, "key bias of the ranking", bias64)
    dev = torch.device(device)
    A, B = sp_.augmented(dt, dev, bias64)
    width = min(2 * k, avail)
    if bias64 is not None and sp_.self_mode:
        bw = bias64.to(dev, dt)

        def transposed(S, i0, i1, j0, j1):  # row j's score of column i: S[i, j] + b_j − b_i
            return S + bw[j0:j1].unsqueeze(0) - bw[i0:i1].unsqueeze(1)
    else:
        def transposed(S, i0, i1, j0, j1):  # the pass score is symmetric
            return S

    cand_v, cand_i = _scan(A, B, lambda G, *_: G, width, sp_.self_mode, block, progress, "k-NN", transposed)
    del A, B
    cand_v, cand_i = cand_v.cpu().to(torch.float64), cand_i.cpu()
    check_finite(subject, f"k-NN pass scores ({str(dt).replace('torch.', '')})", cand_v,
                 "the pass overflowed; use dtype='float64' or rescale the data (every ranking is scale-invariant)")

    # float64 certification of each row's candidate set: the pass score is the exact similarity
    # up to rounding, bounded by (d + 6)·u·(sum of the magnitudes of its terms)
    u = 2.0 ** -24 if dt == torch.float32 else 2.0 ** -53
    qn, kn_max = sp_.query_norms, sp_.key_norm_max
    key_terms = float((sp_.beta64 + (bias64 if bias64 is not None else 0)).abs().max())
    tol = (d + 6) * u * (sp_.alpha * qn * kn_max + sp_.pass_offset.abs() + key_terms)
    # plus the float64 re-score's own rounding (it works on the uncentred data)
    raw_q, raw_k = sp_.sq_queries.sqrt(), float(sp_.sq_keys.max().sqrt())
    tol = tol + (d + 6) * 2.0 ** -53 * (raw_q + raw_k) ** 2 + (bias64.abs().max() * 2.0 ** -50 if bias64 is not None else 0)
    check_finite(subject, "rounding bound of the k-NN pass", tol)
    out_i = torch.empty((nq, k), dtype=torch.int64)
    out_s = torch.empty((nq, k), dtype=torch.float64)
    bad_rows = []
    chunk = max(1, min(nq, 2 ** 21 // max(1, width * d)))
    # (1) a row whose pass gap between the k-th and (k+1)-th candidate exceeds 2·tol has the
    #     exact top-k set already (scores kept at pass precision, order by (score, index))
    sv, so = _order_exact(cand_v, cand_i)
    clear = (sv[:, k - 1] - sv[:, k] > 2 * tol) if width > k else torch.ones(nq, dtype=torch.bool)
    out_i[clear], out_s[clear] = so[clear, :k], sv[clear, :k]
    # (2) the others: re-score the candidates in float64; certified when the k-th exact score
    #     beats every non-candidate's bound (the last pass score + tol)
    todo = (~clear).nonzero().flatten()
    rescored = len(todo)
    tied = torch.zeros(nq, dtype=torch.bool)  # exact ties across the k-th place (decided by index)
    for r0 in range(0, len(todo), chunk):
        rows = todo[r0:r0 + chunk]
        ci = cand_i[rows]
        s64 = sp_.exact(rows, ci, bias64)
        ss, si = _order_exact(s64, ci)
        out_i[rows], out_s[rows] = si[:, :k], ss[:, :k]
        if width > k:
            tied[rows] = ss[:, k - 1] == ss[:, k]
        if width < avail:
            edge = cand_v[rows].min(dim=1).values + tol[rows]
            bad_rows.extend(rows[ss[:, k - 1] <= edge].tolist())
    # full float64 recomputation for uncertified rows (batched, chunked over keys: bounded memory)
    rb = max(1, min(256, 2 ** 24 // max(1, nk)))
    for b0 in range(0, len(bad_rows), rb):
        rows = torch.tensor(bad_rows[b0:b0 + rb], dtype=torch.int64)
        s64 = sp_.exact_all(rows, bias64)
        if sp_.self_mode:
            s64[torch.arange(len(rows)), rows] = -math.inf
        sel = _select_topk(s64, k)
        ss, si = _order_exact(s64.gather(1, sel), sel)
        out_i[rows], out_s[rows] = si, ss
        if avail > k:  # the best score left outside the list: a tie with the k-th is decided by index
            rest = s64.scatter(1, sel, -math.inf).max(dim=1).values
            tied[rows] = ss[:, k - 1] == rest
    check_finite(subject, "float64 k-NN scores", out_s)
    return KNN(out_i, out_s, nk, nq - rescored, rescored - len(bad_rows), len(bad_rows), int(tied.sum()))


def k_occurrence(keys, queries=None, *, k: int = 10, metric: str = "euclidean", dtype="float32",
                 device="cpu", block: int = 4096, progress: bool = False, subject: str = "keys") -> np.ndarray:
    """N_k of every key (int64 array); self excluded in self mode. See :func:`knn`."""
    res = knn(keys, queries, k=k, metric=metric, dtype=dtype, device=device, block=block, progress=progress,
              subject=subject)
    return torch.bincount(res.indices.flatten(), minlength=res.n_keys).numpy()


# ----------------------------------------------------------------------------------
# measures
# ----------------------------------------------------------------------------------
def measures(N, *, hub_size: float = 2.0) -> dict:
    """Biased skewness, antihub/hub occurrence, Robin Hood and Gini of k-occurrences ``N``."""
    N = np.asarray(N, dtype=np.float64)
    n, mean = len(N), float(N.mean())
    dev = N - mean
    m2, m3 = float((dev**2).mean()), float((dev**3).mean())
    total = float(N.sum())
    srt = np.sort(N)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return {
        "skewness": m3 / m2**1.5 if m2 > 0 else 0.0,
        "antihub_occurrence": float((N == 0).mean()),
        "hub_occurrence": float(N[N >= hub_size * mean].sum() / total) if total else 0.0,
        "robinhood": float(np.abs(dev).sum() / (2 * total)) if total else 0.0,
        "gini": float(((2 * ranks - n - 1) * srt).sum() / (n * total)) if total else 0.0,
    }


# ----------------------------------------------------------------------------------
# theory: limit law and null model (formulas from theory/hubness.py)
# ----------------------------------------------------------------------------------
def _integrate(f, lo=-10.0, hi=10.0) -> float:
    from scipy.integrate import quad

    val, _ = quad(lambda a: float(f(a)), lo, hi, limit=400, epsabs=1e-13, epsrel=1e-10, points=[0.0])
    return val


def _centre(centre) -> tuple[float, int]:
    """(N̄, ⌊N̄⌋) for the Robin Hood integral; exact for an integer or a Fraction."""
    c = Fraction(centre) if isinstance(centre, (int, np.integer, Fraction)) else centre
    if not (c > 0 and math.isfinite(float(c))):
        raise InputError(f"centre N̄ = {centre!r}: must be a positive finite number")
    return float(c), int(math.floor(c))


def limit_law(w: float, m: int, q: float, centre=None) -> dict:
    """The d → ∞ law (theory ``hubness-limit-law``) at w: skewness, antihub, Robin Hood.

    1-D integrals over a ~ N(0, 1) of the lambdified integrands; ``centre`` (the mean
    occurrence N̄ = m·q: k in self mode, k·n_q/n_k query→key; an int or Fraction keeps ⌊N̄⌋
    exact) enables the Robin Hood integral.
    """
    P = [_integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_1", a=a, w=w, q=q)),
         _integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_2", a=a, w=w, q=q)),
         _integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_3", a=a, w=w, q=q))]
    out = {
        "w": float(w),
        "mean_p": P[0],
        "skewness": float(th.LIMIT_LAW.predict("skewness_from_moments", m=m, P1=P[0], P2=P[1], P3=P[2])),
        "antihub": _integrate(lambda a: th.LIMIT_LAW.predict("antihub_integrand", a=a, w=w, q=q, m=m)),
        "robinhood": None,
    }
    if centre is not None:
        c, kk = _centre(centre)
        f = th.LIMIT_LAW.function("robinhood_integrand")
        out["robinhood"] = _integrate(lambda a: f(a, w, q, m, c, kk))
    check_finite(f"limit law at w = {float(w):.4g}", "its integrals",
                 [v for v in out.values() if v is not None])
    return out


def null_law(m: int, q: float, centre=None) -> dict:
    """The w = 0 null (theory ``hubness-null-model``); Robin Hood via the limit law at w = 0; the
    skewness verdict threshold (twice the null skewness, → 2/√k)."""
    out = {"w": 0.0, "skewness": float(th.NULL_MODEL.predict("skewness", m=m, q=q)),
           "antihub": float(th.NULL_MODEL.predict("antihub", m=m, q=q)), "robinhood": None,
           "skewness_hub_threshold": float(th.NULL_MODEL.predict("skewness_hub_threshold", m=m, q=q))}
    if centre is not None:
        out["robinhood"] = limit_law(0.0, m, q, centre)["robinhood"]
    check_finite("null model", "its values", [v for v in out.values() if v is not None])
    return out


def estimate_w(space: _Space) -> float:
    """w² = Var_y(per-key term) / Var(per-pair term) from the moments of *these* points (a plug-in
    estimate for this draw, not a prediction: theory's w is a parameter of the distribution).

    Per-key term α⟨μ_q, y⟩ − β_y, per-pair term α⟨q − μ_q, y − ȳ⟩ with variance
    α² tr(Σ_q Σ_k) (theory ``hubness-ranking-key`` / ``hubness-query-key``, ``w_from_moments``).
    """
    K, Q = space.keys64, space.queries64
    mu_q = Q.mean(0)
    c = space.alpha * (K @ mu_q) - space.beta64
    Kc, Qc = K - K.mean(0), Q - mu_q
    if space.self_mode or len(Q) + len(K) > 2 * K.shape[1]:
        Sk = Kc.T @ Kc / len(K)
        Sq = Sk if space.self_mode else Qc.T @ Qc / len(Q)
        tr = float((Sq * Sk).sum())
    else:
        tr = float(((Qc @ Kc.T) ** 2).mean())
    if tr <= 0:
        return 0.0
    return float(th.QUERY_KEY.predict("w_from_moments", offset_var=float(c.var(unbiased=False)) / space.alpha**2,
                                   trace_sq_sk=tr))


# ----------------------------------------------------------------------------------
# hubness reduction
# ----------------------------------------------------------------------------------
def _csls_bias(space: _Space, base: KNN, k: int, dtype, device, block, progress, subject="keys") -> torch.Tensor:
    """CSLS (Conneau et al. 2018) generalised to the metric: rank by 2 sim(x,y) − r(y).

    r(y) = mean similarity of y to its k nearest of the other side; as a per-key term it
    adds r(y)/2 to β_y.
    """
    if space.self_mode:
        r = base.scores.mean(1)
    else:  # the same space with the roles swapped: keys rank queries
        rev = space.swapped()
        back = knn(None, None, k=min(k, len(rev.keys_x)), metric=space.metric, dtype=dtype, device=device,
                   block=block, progress=progress, _space=rev, subject=f"{subject} (queries ranked by the keys)")
        r = back.scores.mean(1)
    return r / 2


def _mp_occurrence(space: _Space, k: int, dtype, device, block, progress, subject="keys") -> np.ndarray:
    """Mutual proximity, Gaussian (Schnitzer et al. 2012): rank by log P(D_x > d) + log P(D_y > d).

    d = ‖x − y‖ (euclidean), 1 − cos (cosine) or −⟨x, y⟩ (dot); μ, σ of each point's
    distances to the other side. Ranked in ``dtype`` without the float64 re-check.
    """
    dt = _as_dtype(dtype)
    dev = torch.device(device)
    K = space.keys64.to(dev, dt)
    Q = K if space.self_mode else space.queries64.to(dev, dt)
    bk = space.beta64.to(dev, dt)
    bq = bk if space.self_mode else (space.queries64 ** 2).sum(1).to(dev, dt)

    def dist(G, qn, kn):
        if space.metric == "euclidean":
            return (qn.unsqueeze(1) + kn.unsqueeze(0) - 2 * G).clamp_min_(0).sqrt_()
        return (1 - G) if space.metric == "cosine" else -G

    sym = space.self_mode
    s1q = torch.zeros(len(Q), dtype=dt, device=dev); s2q = torch.zeros_like(s1q)  # noqa: E702
    s1k = torch.zeros(len(K), dtype=dt, device=dev); s2k = torch.zeros_like(s1k)  # noqa: E702
    for i0, i1, j0, j1 in _pairs(len(Q), len(K), block, sym):
        D = dist(Q[i0:i1] @ K[j0:j1].T, bq[i0:i1], bk[j0:j1])
        if sym and i0 == j0:
            D.diagonal().zero_()
        s1q[i0:i1] += D.sum(1); s2q[i0:i1] += (D * D).sum(1)  # noqa: E702
        if not sym or i0 != j0:
            s1k[j0:j1] += D.sum(0); s2k[j0:j1] += (D * D).sum(0)  # noqa: E702
    if sym:
        s1q, s2q = s1q + s1k, s2q + s2k
        s1k, s2k = s1q, s2q
    nq_other = len(K) - 1 if sym else len(K)
    nk_other = len(Q) - 1 if sym else len(Q)
    mu_q, mu_k = s1q / nq_other, s1k / nk_other
    sd_q = (s2q / nq_other - mu_q**2).clamp_min(1e-30).sqrt()
    sd_k = (s2k / nk_other - mu_k**2).clamp_min(1e-30).sqrt()
    check_finite(subject, f"mutual-proximity distance moments ({str(dt).replace('torch.', '')})",
                 torch.cat([mu_q, sd_q, mu_k, sd_k]), "use dtype='float64' or rescale the data")
    from torch.special import log_ndtr

    def score(G, i0, i1, j0, j1):  # rows are queries (in self mode mu_q is mu_k)
        D = dist(G, bq[i0:i1], bk[j0:j1])
        return log_ndtr(-(D - mu_q[i0:i1].unsqueeze(1)) / sd_q[i0:i1].unsqueeze(1)) + \
            log_ndtr(-(D - mu_k[j0:j1].unsqueeze(0)) / sd_k[j0:j1].unsqueeze(0))

    _, idx = _scan(Q, K, score, k, sym, block, progress, "mutual proximity")
    return torch.bincount(idx.flatten().cpu(), minlength=len(K)).numpy()


# ----------------------------------------------------------------------------------
# the probe
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubnessResult(Result):
    """k-occurrence statistics beside the limit law and the null model."""

    n: int
    n_queries: int
    d: int
    k: int
    metric: str
    mode: str
    skewness: float
    skewness_estimator: str
    antihub_occurrence: float
    hub_occurrence: float
    robinhood: float
    gini: float
    centrality: float
    theory: dict
    verdict: str
    reductions: dict
    histogram: tuple
    clear_rows: int
    rescored_rows: int
    fallback_rows: int
    tie_fraction: float
    duplicate_fraction: float | None
    notes: tuple
    seed: int
    dtype: str
    device: str
    seconds: float = field(default=0.0)


def _duplicate_fraction(x: torch.Tensor) -> float:
    """The fraction of rows of ``x`` that equal another row exactly."""
    _, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).double().mean())


def _verdict(rh: float, null_rh: float, lim_rh: float, w: float) -> str:
    """null-like: RH within 15% of the null's; near-limit: w ≥ 0.1 and RH ≥ 90% of the law's."""
    if rh <= 1.15 * null_rh:
        return "null-like"
    if w >= 0.1 and rh >= 0.9 * lim_rh:
        return "near-limit"
    return "hubness"


def probe(keys, queries=None, *, k: int = 10, metric: str = "euclidean", seed: int = 0,
          dtype="float32", device="cpu", block: int = 4096, reduce=(), theory: bool = True,
          w: float | None = None, progress: bool = False, subject: str = "keys") -> HubnessResult:
    """Measure hubness of ``keys`` (self mode) or of keys ranked by ``queries``.

    ``seed`` is recorded (the probe itself is deterministic; :func:`synthetic` uses it).
    ``reduce``: any of ``"csls"``, ``"mp"``; each reports skewness/antihub/RH after.
    ``w``: the population w of the premise (e.g. theory ``w_from_kurtosis`` or ``w_isotropic``);
    with it ``theory["limit"]`` is the limit law's prediction. Without it only the plug-in law of
    this draw is reported (``limit_plug_in_for_this_draw``, see the module docstring).
    ``theory=False`` skips the plug-in w and the limit law (the null model is always computed).

    Verdict: with ``theory``, "null-like" when Robin Hood ≤ 1.15 × the null's, "near-limit" when
    w ≥ 0.1 and Robin Hood ≥ 0.9 × the limit law's (at the stated w, else the plug-in w), else
    "hubness"; without, "hubness" when the skewness exceeds theory ``skewness_hub_threshold``
    (twice the null skewness, → 2/√k), else "null-like". Either way "degenerate" when more than
    :data:`DEGENERATE_TIES` of the lists have an exact tie at the k-th place (``tie_fraction``): the index
    tie-break, not the data, then decides N_k. ``subject`` names the data in errors.
    """
    t0 = time.perf_counter()
    if metric not in METRICS:
        raise InputError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    for r in reduce:
        if r not in REDUCTIONS:
            raise InputError(f"reduce {r!r}: choose from {', '.join(REDUCTIONS)}")
    if w is not None and not (theory and math.isfinite(w) and w >= 0):
        raise InputError(f"w = {w!r}: a stated w must be finite and >= 0, and needs theory=True")
    K = _as_matrix("keys", keys)
    Q = None if queries is None else _as_matrix("queries", queries)
    if Q is not None and Q.shape[1] != K.shape[1]:
        raise InputError(f"queries have d = {Q.shape[1]} but keys have d = {K.shape[1]}; "
                         "both must live in the same space (project them first)")
    space = _Space(K, Q, metric)
    avail = len(K) - 1 if space.self_mode else len(K)
    if isinstance(k, (int, np.integer)) and k >= 1 and k == avail:
        raise InputError(f"k = {k} = {'n − 1' if space.self_mode else 'the number of keys'}: every point is in every "
                         f"list, so N_k ≡ {k if space.self_mode else f'k·n_q/n_k'} has no spread and no skewness; "
                         + (f"use k < {avail}" if avail > 1 else "hubness needs at least 3 points"))
    base = knn(None, k=k, metric=metric, dtype=dtype, device=device, block=block, progress=progress, _space=space,
               subject=subject)
    N = torch.bincount(base.indices.flatten(), minlength=len(K)).numpy()
    meas = measures(N)
    from scipy.stats import spearmanr

    K64 = space.keys64
    dist_mean = (K64 - K64.mean(0)).norm(dim=1).numpy()
    del K64
    cen = float(spearmanr(N, dist_mean).statistic) if np.ptp(N) > 0 and np.ptp(dist_mean) > 0 else 0.0
    check_finite(subject, "k-occurrence statistics (skewness, antihub, hub, Robin Hood, Gini, centrality)",
                 [*meas.values(), cen])
    nq, nk = len(space.queries_x), len(K)
    m = nq - 1 if space.self_mode else nq
    q = k / (nk - 1 if space.self_mode else nk)
    centre = Fraction(k) if space.self_mode else Fraction(k * nq, nk)   # N̄ = m q
    null = null_law(m, q, centre)
    out: dict = {"m": m, "q": q, "centre": float(centre), "null": null}
    if theory:
        w_hat = estimate_w(space)
        check_finite(subject, "w from the moments of this draw", w_hat)
        out["w_plug_in_for_this_draw"] = w_hat
        out["limit_plug_in_for_this_draw"] = limit_law(w_hat, m, q, centre)
        if w is not None:
            out["w"] = float(w)
            out["limit"] = limit_law(float(w), m, q, centre)
        law, w_used = (out["limit"], float(w)) if w is not None else (out["limit_plug_in_for_this_draw"], w_hat)
        verdict = _verdict(meas["robinhood"], null["robinhood"], law["robinhood"], w_used)
    else:
        verdict = "hubness" if meas["skewness"] > null["skewness_hub_threshold"] else "null-like"
    tie_fraction = base.tied_rows / nq
    notes: list[str] = []
    dup_fraction = None
    if tie_fraction > DEGENERATE_TIES:
        dup_fraction = _duplicate_fraction(space.keys_x if metric != "cosine" else
                                           torch.nn.functional.normalize(space.keys_x.to(torch.float64), dim=1))
        notes.append(f"{tie_fraction:.1%} of the k-NN lists have an exact tie at the k-th place, broken by the lower "
                     f"index: there N_k reflects index order, not the data ({dup_fraction:.1%} of the points "
                     "duplicate another point)")
        if dup_fraction > DEGENERATE_TIES:
            verdict = "degenerate"
    reds = {}
    for r in reduce:
        if r == "csls":
            bias = _csls_bias(space, base, k, dtype, device, block, progress, subject)
            Nr = torch.bincount(knn(None, k=k, metric=metric, dtype=dtype, device=device, block=block,
                                    key_bias=bias, progress=progress, _space=space, subject=subject).indices.flatten(),
                                minlength=len(K)).numpy()
        else:
            Nr = _mp_occurrence(space, k, dtype, device, block, progress, subject)
        mr = measures(Nr)
        check_finite(subject, f"k-occurrence statistics after {r}", list(mr.values()))
        reds[r] = {"skewness_before": meas["skewness"], "skewness_after": mr["skewness"],
                   "antihub_after": mr["antihub_occurrence"], "robinhood_after": mr["robinhood"]}
    return HubnessResult(
        n=len(K), n_queries=nq, d=K.shape[1], k=k, metric=metric,
        mode="self" if space.self_mode else "query→key",
        skewness=meas["skewness"], skewness_estimator="biased (m3/m2^1.5, scipy.stats.skew default)",
        antihub_occurrence=meas["antihub_occurrence"], hub_occurrence=meas["hub_occurrence"],
        robinhood=meas["robinhood"], gini=meas["gini"], centrality=cen, theory=out, verdict=verdict,
        reductions=reds, histogram=tuple(int(c) for c in np.bincount(N)),
        clear_rows=base.clear_rows, rescored_rows=base.rescored_rows, fallback_rows=base.fallback_rows,
        tie_fraction=tie_fraction, duplicate_fraction=dup_fraction, notes=tuple(notes), seed=int(seed),
        dtype=str(_as_dtype(dtype)).replace("torch.", ""), device=str(device),
        seconds=time.perf_counter() - t0)


def synthetic(distribution: str, n: int, d: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """i.i.d. coordinates: ``uniform`` [0,1], ``normal``, ``laplace``, ``rademacher`` (±1)."""
    g = torch.Generator().manual_seed(int(seed))
    if distribution == "uniform":
        x = torch.rand(n, d, generator=g, dtype=torch.float64)
    elif distribution == "normal":
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
    elif distribution == "laplace":
        u = torch.rand(n, d, generator=g, dtype=torch.float64) - 0.5
        x = -torch.sign(u) * torch.log1p(-2 * u.abs())
    elif distribution == "rademacher":
        x = torch.randint(0, 2, (n, d), generator=g).to(torch.float64) * 2 - 1
    else:
        raise InputError(f"distribution {distribution!r}: choose uniform, normal, laplace or rademacher")
    return x.to(dtype)


# ----------------------------------------------------------------------------------
# files, plot, CLI
# ----------------------------------------------------------------------------------
def load_matrix(path, key: str | None = None) -> torch.Tensor:
    """A 2-D float matrix (points × dimensions) from any file :mod:`probes.arrays` reads; ``key`` picks the array."""
    from probes.arrays import load_array

    arr = load_array(path, key, ndim=2, what="matrix (points × dimensions)")
    return _as_matrix(f"{path}" if key is None else f"{path}:{key}", arr)


def write_plot(result: HubnessResult, path) -> str:
    """Histogram of N_k (log count axis), titled with the skewness and antihub fraction."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError("--plot needs matplotlib: pip install 'attnprobe[plot]'") from exc
    counts = np.asarray(result.histogram)
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.nonzero(counts)[0]
    ax.bar(xs, counts[xs], width=1.0, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel(f"N_{result.k} (k-occurrence)")
    ax.set_ylabel("number of points")
    ax.set_title(f"{result.metric}, n={result.n}, d={result.d}: skewness {result.skewness:.2f}, "
                 f"antihubs {result.antihub_occurrence:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _cmd(args) -> int:
    import json

    from probes.result import jsonable

    keys = load_matrix(args.file, args.key)
    queries = load_matrix(args.queries, args.queries_key) if args.queries else None
    res = probe(keys, queries, k=args.k, metric=args.metric, seed=args.seed, dtype=args.dtype,
                device=args.device, block=args.block, reduce=tuple(args.reduce or ()),
                w=args.w, progress=not args.quiet, subject=args.file)
    if args.json:
        print(json.dumps(jsonable(res.to_dict()), indent=2))
    else:
        print(res)
    if args.plot:
        out = write_plot(res, args.plot)
        if not args.json:
            print(f"histogram written to {out}")
    return 0


def add_subcommand(subparsers) -> None:
    """``attnprobe hubness FILE [--key NAME] [--queries FILE] -k 10 --metric ... [--json] [--plot PATH]``."""
    h = subparsers.add_parser("hubness", help="exact k-occurrence hubness of an embedding matrix "
                                               "(.npy or .safetensors), or of keys ranked by queries")
    h.add_argument("file", help="matrix of points (rows) or keys: .npy or .safetensors")
    h.add_argument("--key", help="tensor name inside a .safetensors FILE")
    h.add_argument("--queries", metavar="FILE", help="queries ranking the keys (query→key mode)")
    h.add_argument("--queries-key", metavar="NAME", help="tensor name inside the queries .safetensors")
    h.add_argument("-k", type=int, default=10, help="neighbourhood size (default 10)")
    h.add_argument("--metric", choices=METRICS, default="euclidean",
                   help="euclidean (default), cosine, or dot (inner product, e.g. attention logits)")
    h.add_argument("--w", type=float, default=None, metavar="W",
                   help="the population w of the premise (e.g. √(κ−1)/2, or ‖μ_q‖/(σ_z√d) for attention): "
                        "adds the limit law's prediction at W (without it only this draw's plug-in law is shown)")
    h.add_argument("--reduce", action="append", choices=REDUCTIONS,
                   help="also report hubness after CSLS or mutual proximity (repeatable)")
    h.add_argument("--dtype", default="float32", help="pass dtype: float32 (default; float64 re-check) or float64")
    h.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="torch device (default cuda when available, else cpu)")
    h.add_argument("--block", type=int, default=4096, help="block size of the GEMM pass (memory ~ block²)")
    h.add_argument("--seed", type=int, default=0, help="recorded seed (the probe is deterministic)")
    h.add_argument("--json", action="store_true", help="print one JSON object")
    h.add_argument("--plot", metavar="PATH", help="write the N_k histogram (PNG) to PATH")
    h.add_argument("--quiet", action="store_true", help="no progress bar")
    h.set_defaults(func=_cmd)
