"""The exact k-NN engine: top-k of every query at GEMM speed, float64-certified.

Used by the hubness probe (:mod:`probes.hubness`: N_k of the lists) and its benchmark
(``bench/bench_hubness.py``). Two modes: **self** (one set X; every point ranks all *other*
points, self excluded as query and as neighbour) and **query→key** (queries Q rank keys K;
nothing excluded).

Scores are ``α⟨q, y⟩ − β_y`` (higher is nearer): euclidean α = 2, β = ‖y‖² (data centred
first, which changes no distance); cosine: rows normalised, α = 1, β = 0; dot: α = 1, β = 0.
The pass is a blocked GEMM with a running top-(2k) per row (the symmetric half in self mode:
each block pair once, used for rows and columns), so memory is O(block² + n·k).

**Exactness and ties.** The pass runs in ``dtype`` (float32 by default) and keeps 2k
candidates per row. Its rows are x − c rounded once (c: the float64 centre the norm columns
β_y, ‖q − c‖² are taken about, not c rounded to ``dtype``), so tol = (d + 6)·u·(sum of the
magnitudes of the score's terms) bounds the pass's rounding (plus the float64 re-score's).
Euclidean without a key bias the bound is per row: with D bounding the distance of the k best
candidates (their pass scores plus their own rounding, plus twice the float64 rounding), a key
with ‖y − c‖ > R = ‖q − c‖ + D is farther than those k keys in exact and in float64 scores
(triangle inequality), so it can neither enter the top k nor tie the k-th whatever its pass
score, and tol need only cover the keys with ‖y − c‖ ≤ R: (d + 6)·u·(‖q − c‖ + min(R, max
‖y − c‖))² (see :func:`_row_tolerance`). Then: (1) a row whose k-th and (k+1)-th pass
scores differ by more than 2·tol already has the exact top-k set; (2) otherwise its candidates are re-scored in
float64 from the original data and sorted by (score descending, index ascending), and the
row is certified when its k-th float64 score exceeds the 2k-th pass score + tol, so no
non-candidate can reach it; (3) rows that still fail (ties across the candidate edge, many
near-duplicates) are recomputed against all keys in float64: a float64 GEMM screen (euclidean: of
the norm shell the triangle inequality leaves), then the exact scores of the keys within its
rounding of the k-th. Result: the float64 top-k set with
ties at the k-th place broken by the lower index, so duplicate points are handled
deterministically (the order *within* a row's top k is by pass score for rows of kind (1)).

A non-finite norm, pass score or float64 score raises :class:`probes.errors.Diverged` naming
the subject (e.g. a float32 pass that overflows).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from probes.dtypes import parse_dtype
from probes.errors import InputError, check_finite, require_finite
from probes.progress import progress as _progress_bar

__all__ = ["METRICS", "KNN", "Space", "as_matrix", "as_dtype", "tile_pairs", "sparse_nonzero", "scan_topk",
           "knn", "k_occurrence", "default_block"]

METRICS = ("euclidean", "cosine", "dot")


def as_dtype(dtype) -> torch.dtype:
    """The pass dtype: float32 (fast, re-checked in float64) or float64."""
    return parse_dtype(dtype, flag="dtype", hint="'float32' (fast, re-checked in float64) or 'float64'")


def as_matrix(name: str, x) -> torch.Tensor:
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


class Space:
    """Queries and keys prepared for one metric: scores α⟨q, y⟩ − β_y (+ key bias).

    Memory-lean: the data are kept as given (float32 stays float32); the centred float64
    matrices are built in row chunks, and in full only on demand (``keys64``/``queries64``).
    """

    _CHUNK = 8192
    _ROWS = 1024  # rows per chunk of the streaming passes (8192 × 384 float64 is 25 MB, past the caches)

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
        self.centre = (self._column_sum(keys) / len(keys)) if metric == "euclidean" else None
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

    def _column_sum(self, X) -> torch.Tensor:
        """Σ_i x_i in float64, a cache-sized chunk at a time (any float64 centre will do: it is only a centre)."""
        acc = torch.zeros(X.shape[1], dtype=torch.float64)
        buf = torch.empty((min(len(X), self._ROWS), X.shape[1]), dtype=torch.float64)
        for i in range(0, len(X), self._ROWS):
            x = buf[:len(X[i:i + self._ROWS])]
            x.copy_(X[i:i + self._ROWS])
            acc += x.sum(0)
        return acc

    def _stats(self, X):
        """One pass over X: (‖x − c‖², ‖x‖²) per row in float64 (in cache-sized chunks through one buffer)."""
        n = len(X)
        cen = torch.empty(n, dtype=torch.float64)
        raw = torch.empty(n, dtype=torch.float64)
        buf = torch.empty((min(n, self._ROWS), X.shape[1]), dtype=torch.float64)
        sq = torch.empty_like(buf)
        for i in range(0, n, self._ROWS):
            x = buf[:len(X[i:i + self._ROWS])]
            x.copy_(X[i:i + self._ROWS])
            t = sq[:len(x)]
            torch.mul(x, x, out=t)
            torch.sum(t, 1, out=raw[i:i + len(x)])
            if self.centre is None:
                cen[i:i + len(x)] = raw[i:i + len(x)]
            else:
                x -= self.centre
                torch.mul(x, x, out=t)
                torch.sum(t, 1, out=cen[i:i + len(x)])
        return cen, raw

    def _rowwise(self, X, f) -> torch.Tensor:
        return torch.cat([f(self._centred(X[i:i + self._CHUNK])) for i in range(0, len(X), self._CHUNK)])

    def pass_matrix(self, which: str, dtype, device) -> torch.Tensor:
        """The centred rows in the pass dtype on ``device``, converted chunk by chunk."""
        return self.pass_matrix_of(self.keys_x if which == "keys" else self.queries_x, dtype, device)

    def pass_matrix_of(self, X, dtype, device, out=None) -> torch.Tensor:
        """X − c in ``dtype``: the difference with the float64 centre c itself (the one the norms
        β, ‖q − c‖² use), rounded once per entry, so |error| ≤ u·|x − c| entrywise (plus a float64
        rounding of x − c where it is formed in float64). Written into ``out`` (an (n, d) view) if given.

        It is formed in ``dtype`` only where that is exact up to that one rounding (X already in
        ``dtype`` and c representable in it); otherwise in float64, then rounded. Rounding c (or
        a float64 X) to float32 first would be an error of order u·|c| (u·|x|), not u·|x − c|:
        with the norms taken about the float64 centre it shifts the pass score of a key by
        ≈ 2·(c₃₂ − c)·(y − c), unbounded by the tolerance when ‖c‖ ≫ ‖y − c‖."""
        if out is None:
            out = torch.empty(X.shape, dtype=dtype, device=device)
        c = self.centre
        in_dtype = c is None or (X.dtype == dtype and torch.equal(c.to(dtype).to(c.dtype), c))
        if in_dtype:
            c_dev = c.to(device, dtype) if c is not None else None
            for i in range(0, len(X), self._CHUNK):
                part = X[i:i + self._CHUNK].to(device, dtype)
                out[i:i + self._CHUNK] = part if c_dev is None else part - c_dev
            return out
        # on the CPU, in float64, a cache-sized chunk at a time through one buffer: only the result travels
        buf = torch.empty((min(len(X), self._ROWS), X.shape[1]), dtype=torch.float64)
        for i in range(0, len(X), self._ROWS):
            x = buf[:len(X[i:i + self._ROWS])]
            x.copy_(X[i:i + self._ROWS])
            x -= c
            out[i:i + len(x)].copy_(x)
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

        def build(X, beta, is_key, rows=None):
            d = X.shape[1]
            out = torch.empty((len(X), d + extra), dtype=dtype, device=device)
            if rows is None:
                self.pass_matrix_of(X, dtype, device, out=out[:, :d])
            else:
                out[:, :d] = rows
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

        A = build(self.queries_x, self.pass_offset, False)
        # self mode: the key rows are the query rows (× α, exact), not formed a second time
        return A, build(self.keys_x, self.beta64, True, A[:, :-extra] if self.self_mode else None)

    @property
    def keys64(self) -> torch.Tensor:
        return self._centred(self.keys_x)

    @property
    def queries64(self) -> torch.Tensor:
        return self._centred(self.queries_x)

    def swapped(self) -> "Space":
        """The same space with roles exchanged: keys rank queries (query→key mode only)."""
        rev = Space.__new__(Space)
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

    def exact_gemm(self, rows, keys: torch.Tensor, bias=None, key_rows=None) -> torch.Tensor:
        """float64 similarity of query ``rows`` to ``keys`` in GEMM form on the uncentred data (the fallback's
        screen): rounding ≤ (d + 6)·u·(‖q‖ + ‖y‖)² (+ u·|bias| terms), the bound of :meth:`exact`.
        ``key_rows``: those keys' rows already in float64 (else gathered and converted chunk by chunk)."""
        Q = self.queries_x[rows].to(torch.float64)
        if key_rows is not None:
            s = Q @ key_rows.T
        else:
            s = torch.cat([Q @ self.keys_x[keys[j:j + self._CHUNK]].to(torch.float64).T
                           for j in range(0, len(keys), self._CHUNK)], 1)
        if self.metric == "euclidean":   # 2s − ‖y‖² − ‖q‖², in place (the screen is rows × window float64)
            s.mul_(2).sub_(self.sq_keys[keys].unsqueeze(0)).sub_(self.sq_queries[rows].unsqueeze(1))
        return s if bias is None else s.sub_(bias[keys].unsqueeze(0))


def tile_pairs(nq: int, nk: int, block: int, symmetric: bool, split_diagonal: bool = True):
    """Tile pairs (i0, i1, j0, j1) covering the score matrix, or its upper triangle (symmetric).

    In symmetric mode the diagonal blocks come first, so every row's running top-k is full before
    the off-diagonal tiles arrive (they then take the sparse path of :func:`_update` in both
    directions). With ``split_diagonal`` a diagonal block is itself covered by the upper triangle of
    sub-tiles a quarter its size, so only ~5/8 of its entries are computed instead of all of them
    (for a costly score, e.g. mutual proximity); without it, it is one square tile (the plain k-NN:
    one dense top-k beats the row and column updates of ten small tiles).
    """
    if not symmetric:
        for i0 in range(0, nq, block):
            for j0 in range(0, nk, block):
                yield i0, min(i0 + block, nq), j0, min(j0 + block, nk)
        return
    sub = block // 4 if block >= 1024 and split_diagonal else block
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


def sparse_nonzero(mask: torch.Tensor) -> torch.Tensor:
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
    if by_column and S.shape[0] % _CSEG == 0 and S.is_contiguous():
        i, j, v = _col_hits(S, thr)
        _merge_sparse(state_v, state_i, j + c0, i + r0, v, width)
    elif by_column:
        hit = sparse_nonzero(torch.gt(S, thr.unsqueeze(0), out=mask))
        flat = hit[:, 0] * S.shape[1] + hit[:, 1]
        flat = flat.index_select(0, hit[:, 1].argsort(stable=True))   # grouped by column, rows ascending
        v = S.view(-1).index_select(0, flat) if S.is_contiguous() else S.reshape(-1).index_select(0, flat)
        _merge_sparse(state_v, state_i, flat % S.shape[1] + c0, flat // S.shape[1] + r0, v, width)
    elif S.shape[1] % _SEG == 0 and S.is_contiguous():
        i, j, v = _row_hits(S, thr)
        _merge_sparse(state_v, state_i, i + r0, j + c0, v, width)
    else:
        hit = sparse_nonzero(torch.gt(S, thr.unsqueeze(1), out=mask))
        i, j = hit[:, 0], hit[:, 1]
        _merge_sparse(state_v, state_i, i + r0, j + c0, S[i, j], width)


_SEG = 64    # entries per row segment (_row_hits)
_CSEG = 16   # entries per column segment (_col_hits)


def _row_hits(S: torch.Tensor, thr: torch.Tensor):
    """(row, column, value) of the entries of S above their row's ``thr``, in row-major order.

    Segment maxima first (one read of S, no mask written): only the few segments of ``_SEG``
    entries whose maximum beats the threshold are gathered (by flat segment index: a 2-D gather
    costs 3–4× more) and compared entry by entry.
    """
    R, C = S.shape
    per = C // _SEG
    seg = (S.view(R, per, _SEG).amax(2) > thr.unsqueeze(1)).view(-1).nonzero().squeeze(1)
    blk = S.view(-1, _SEG).index_select(0, seg)
    rows = seg // per
    sub = (blk > thr.index_select(0, rows).unsqueeze(1)).view(-1).nonzero().squeeze(1)
    of = sub // _SEG
    return rows.index_select(0, of), (seg.index_select(0, of) % per) * _SEG + sub % _SEG, blk.view(-1).index_select(0, sub)


def _col_hits(S: torch.Tensor, thr: torch.Tensor):
    """(row, column, value) of the entries of S above their *column's* ``thr``, grouped by column (rows
    ascending): :func:`_row_hits` down the columns. The maxima of segments of ``_CSEG`` rows of one column
    are one read of S (a reduction over the middle axis of an (R/_CSEG, _CSEG, C) view); the hit segments,
    listed column-major, are gathered and compared entry by entry. Against one comparison mask of the whole
    tile, its nonzero and a sort by column: 2× faster on a hub-heavy 4096² tile (~40 000 hits)."""
    R, C = S.shape
    per = R // _CSEG
    V = S.view(per, _CSEG, C)
    ja = (V.amax(1) > thr.unsqueeze(0)).T.contiguous().view(-1).nonzero().squeeze(1)   # j·per + a
    j, a = ja // per, ja % per
    blk = V[a, :, j]                                                                    # (segments, _CSEG)
    sub = (blk > thr.index_select(0, j).unsqueeze(1)).view(-1).nonzero().squeeze(1)
    of = sub // _CSEG
    return a.index_select(0, of) * _CSEG + sub % _CSEG, j.index_select(0, of), blk.view(-1).index_select(0, sub)


class _serial:
    """One intra-op thread inside the block (CPU): the update after each tile GEMM is some 30 small,
    memory-bound ops; with two threads each is a parallel region, and on a shared machine (another job
    on one of the cores) every region waits a scheduler slice for its second thread: measured on 2 cores,
    a 20 000 × 384 scan took 8.8 s with the update on 2 threads, 5.3 s on 1 (the GEMMs keep every thread).
    On an idle machine the other way round: 4.4–5.0 s with 2 threads against 5.6–6.1 s on 1 (hub-heavy
    30 000 × 384). So :func:`scan_topk` times both on its first big tiles and keeps the faster
    (:class:`_update_threads`); the certification follows its choice (0.62 against 0.88–1.0 s there)."""

    def __init__(self, device, on: bool = True):
        self.on = on and torch.device(device).type == "cpu"

    def __enter__(self):
        if self.on:
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.on:
            torch.set_num_threads(self.n)


class _update_threads:
    """Serial or all-thread tile updates, whichever is faster here and now: the first ``trials`` tiles of the
    full size alternate the two, timed per entry; then the faster mode runs the rest. Only the speed depends
    on it (the update's arithmetic is the same either way)."""

    def __init__(self, device, size: int, trials: int = 6):
        self.cpu = torch.device(device).type == "cpu" and torch.get_num_threads() > 1
        self.size, self.trials = size, trials
        self.seen = 0
        self.cost = {True: [], False: []}
        self.choice = None if self.cpu else False

    def mode(self, n: int) -> bool:
        """True: one thread, for a tile of ``n`` entries."""
        if self.choice is not None:
            return self.choice
        if n < self.size:  # small (diagonal) tiles: the old default
            return True
        return self.seen % 2 == 0

    def record(self, serial: bool, n: int, seconds: float) -> None:
        if self.choice is not None or n < self.size:
            return
        self.cost[serial].append(seconds / n)
        self.seen += 1
        if self.seen >= self.trials and self.cost[True] and self.cost[False]:
            med = {m: sorted(v)[len(v) // 2] for m, v in self.cost.items()}
            self.choice = med[True] <= med[False]


def scan_topk(Q, K, score, width: int, symmetric: bool, block: int, progress: bool, desc: str, transposed=None,
              threads: _update_threads | None = None, split_diagonal: bool = True):
    """Running top-``width`` of ``score(G, i0, i1, j0, j1)`` over all block pairs.

    ``threads``: the :class:`_update_threads` that chooses the update mode (made here if None; a caller
    that passes one reads its ``choice`` afterwards). ``split_diagonal``: see :func:`tile_pairs`.

    In symmetric mode the column direction uses ``transposed(S, i0, i1, j0, j1)``, a matrix
    C in the tile's layout with C[i, j] = score of row j0 + j against column i0 + i (or, if
    None, ``score(G.T, j0, j1, i0, i1).T``).
    """
    nq, nk = len(Q), len(K)
    dev = Q.device
    state_v = torch.full((nq, width), -math.inf, dtype=Q.dtype, device=dev)
    state_i = torch.full((nq, width), -1, dtype=torch.int64, device=dev)
    pairs = list(tile_pairs(nq, nk, block, symmetric, split_diagonal))
    # preallocated tile and mask buffers: a fresh 4096² tile per block pair costs ~15% of the
    # GEMM in allocation and page faults on CPU
    size = min(block, nq) * min(block, nk)
    g_buf = torch.empty(size, dtype=Q.dtype, device=dev)
    m_buf = torch.empty(size, dtype=torch.bool, device=dev)
    threads = threads or _update_threads(dev, size)
    threads.size = size  # the full tile: only those are timed
    with _progress_bar(len(pairs), desc, unit="blk", enabled=progress) as bar:
        for i0, i1, j0, j1 in pairs:
            G = torch.mm(Q[i0:i1], K[j0:j1].T, out=g_buf[:(i1 - i0) * (j1 - j0)].view(i1 - i0, j1 - j0))
            S = score(G, i0, i1, j0, j1)
            one = threads.mode(S.numel())
            t0 = time.perf_counter()
            with _serial(dev, one):
                if symmetric and i0 == j0:
                    S.diagonal().fill_(-math.inf)
                _update(state_v, state_i, S, i0, j0, width, False, m_buf)
                if symmetric and i0 != j0:
                    C = score(G.T, j0, j1, i0, i1).T if transposed is None else transposed(S, i0, i1, j0, j1)
                    _update(state_v, state_i, C, i0, j0, width, True, m_buf)
            threads.record(one, S.numel(), time.perf_counter() - t0)
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

def _shell_batches(order: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, budget: int, most: int = 256,
                   loose: bool = False):
    """Consecutive runs of ``order`` (rows by norm) whose key windows [lo, hi) share one screen: a run grows
    while its union window stays within twice its narrowest row's window (plus 256 keys) and the screen
    within ``budget`` entries, so no row pays more than about twice its own window (a far outlier, whose
    window is all keys, is screened apart from the rows of narrow windows). ``loose``: for rows whose windows
    each hold over a quarter of the keys, only the budget and ``most`` bound a run (its union, at most all
    keys, is then under four times any row's own window, and a run's keys are converted once, not per row)."""
    lo_o, hi_o = lo[order].tolist(), hi[order].tolist()
    out, b0, n = [], 0, len(lo_o)
    while b0 < n:
        w0, w1, narrow, b1 = lo_o[b0], hi_o[b0], hi_o[b0] - lo_o[b0], b0 + 1
        while b1 < n and b1 - b0 < most:
            n0, n1 = min(w0, lo_o[b1]), max(w1, hi_o[b1])
            tight = min(narrow, hi_o[b1] - lo_o[b1])
            if (not loose and n1 - n0 > 2 * tight + 256) or (n1 - n0) * (b1 - b0 + 1) > budget:
                break
            w0, w1, narrow, b1 = n0, n1, tight, b1 + 1
        out.append(order[b0:b1])
        b0 = b1
    return out


def _shell_radius(kth: torch.Tensor, tol64: torch.Tensor, qn: torch.Tensor) -> torch.Tensor:
    """D ≥ the distance of every key of a row's float64 top k: √(−kth + 2·tol64), k keys having ŝ ≥ kth and
    |ŝ − S| ≤ tol64 (see :func:`_fallback`); the factors cover the float64 rounding of D and of the norms."""
    return (((-kth).clamp_min(0) + 2 * tol64).sqrt()) * (1 + 1e-9) + 1e-9 * (1 + qn)


def _fallback(space: Space, rows: torch.Tensor, kth: torch.Tensor, k: int, bias, screen: torch.Tensor,
              tol64: torch.Tensor, budget: int = 2 ** 24):
    """The float64 top-k of query ``rows`` over all keys: (indices, scores, tied), as :func:`knn` defines them.

    ``kth``: a float64 score that k keys reach (the k-th re-scored candidate); ``screen``: twice the sum
    of the float64 rounding bounds of the GEMM screen and of :meth:`Space.exact`; ``tol64``: the row's
    bound on the rounding of :meth:`Space.exact` (|ŝ − S| ≤ tol64 for every key). Euclidean without a key
    bias: k keys have ŝ ≥ kth, so the answer's keys (ŝ ≥ the k-th largest ŝ ≥ kth) have exact S ≥
    kth − tol64 and lie within D = √(−kth + 2·tol64) of the query (a key farther has ŝ < kth − tol64, below
    those k keys); so |‖y − c‖ − ‖q − c‖| ≤ D (triangle inequality) and only the keys in that norm shell
    (sorted once by norm) are screened. (The pass's own rounding plays no part: kth is a float64 score. Until
    2026-12-04 D also carried twice the float32 pass bound, √(2·tol) ≈ 0.5 on hub-heavy 10⁵ × 768 against
    distances of 0.01–0.1: shells of ~11 000 keys a row where a few hundred suffice.) The screen is one float64 GEMM
    (:meth:`Space.exact_gemm`, uncentred data, so its rounding is of the size of :meth:`Space.exact`'s
    and needs no centring pass) per run of rows (:func:`_shell_batches`; the narrow windows' keys are
    converted to float64 once, in norm order); a key survives when its screen score is within ``screen``
    of the row's k-th screen score, so every key of the exact top k, or tied with its k-th, survives,
    and the survivors are scored by :meth:`Space.exact` (the kernel of the re-scored rows: duplicate
    keys get bit-identical scores) and ordered by (score descending, index ascending).
    """
    nk, d = len(space.keys_x), space.keys_x.shape[1]
    shell = space.metric == "euclidean" and bias is None
    if shell:
        key_order = space.key_norms.argsort()
        sorted_norms = space.key_norms[key_order]
        qn = space.query_norms[rows]
        D = _shell_radius(kth, tol64, qn)
        lo = torch.searchsorted(sorted_norms, qn - D)
        hi = torch.searchsorted(sorted_norms, qn + D, right=True)
        order = qn.argsort()                        # rows of similar norm share a window
    else:
        order = torch.arange(len(rows))
    out_i = torch.empty((len(rows), k), dtype=torch.int64)
    out_s = torch.empty((len(rows), k), dtype=torch.float64)
    tied = torch.zeros(len(rows), dtype=torch.bool)
    if shell:
        wide = (hi - lo)[order] > nk // 4            # rows of wide windows (far k-th neighbours): batched apart
        batches = (_shell_batches(order[~wide], lo, hi, budget)
                   + _shell_batches(order[wide], lo, hi, budget, loose=True))
        wins = [(int(lo[sel].min()), int(hi[sel].max())) for sel in batches]
        # the keys of the narrow windows, in norm order and float64, once (a window is then a slice of it)
        narrow = [w for w in wins if w[1] - w[0] <= nk // 4]
        W0, W1 = (min(w[0] for w in narrow), max(w[1] for w in narrow)) if narrow else (0, 0)
        cache = (space.keys_x[key_order[W0:W1]].to(torch.float64)
                 if narrow and (W1 - W0) * d * 8 <= 2 ** 28 else None)
        at = torch.empty(nk, dtype=torch.int64)
        at[key_order] = torch.arange(nk)              # a key's place in norm order
    else:
        batches = order.split(max(1, min(256, budget // nk)))
        wins = [(0, nk)] * len(batches)
    for sel, (w0, w1) in zip(batches, wins):
        keys = key_order[w0:w1] if shell else torch.arange(nk)
        r = rows[sel]
        if shell and cache is not None and W0 <= w0 and w1 <= W1:
            s = space.exact_gemm(r, keys, bias, key_rows=cache[w0 - W0:w1 - W0])
        else:
            s = space.exact_gemm(r, keys, bias)
        if space.self_mode:                           # the query itself, where it falls in the window
            p = (at[r] if shell else r) - w0
            inside = ((p >= 0) & (p < w1 - w0)).nonzero().squeeze(1)
            s[inside, p[inside]] = -math.inf
        gk = s.topk(k, dim=1).values[:, -1]
        keep = s >= (gk - screen[sel]).unsqueeze(1)
        del s
        hit = keep.nonzero()
        counts = keep.sum(1)
        if int(counts.min()) < k:  # k keys reach kth: a screen that drops one is unsound, never a silent answer
            raise RuntimeError(f"k-NN fallback screen kept {int(counts.min())} < k = {k} keys for a row; "
                               "its rounding bound is wrong (please report)")
        m = int(counts.max())
        pos = torch.arange(len(hit)) - (counts.cumsum(0) - counts).repeat_interleave(counts)
        cand = torch.full((len(sel), m), -1, dtype=torch.int64)
        cand[hit[:, 0], pos] = keys[hit[:, 1]]
        pad = cand < 0
        s64 = torch.empty((len(sel), m), dtype=torch.float64)
        step = max(1, budget // 4 // max(1, m * d))
        for j in range(0, len(sel), step):
            s64[j:j + step] = space.exact(r[j:j + step], cand[j:j + step].clamp_min(0), bias)
        s64[pad] = -math.inf
        cand[pad] = nk                               # pads sort after every key
        ss, si = _order_exact(s64, cand)
        out_i[sel], out_s[sel] = si[:, :k], ss[:, :k]
        if m > k:
            tied[sel] = ss[:, k - 1] == ss[:, k]
    return out_i, out_s, tied


def _identity(G, *_):
    """The pass score of the plain k-NN: the GEMM itself."""
    return G


def _check_space(space: Space, subject: str) -> None:
    """The float64 squared norms the scores are built from must be finite (finite input can overflow)."""
    hint = "the data overflow float64 when squared; rescale them (every ranking is scale-invariant)"
    check_finite(subject, "squared norms of the keys", torch.cat([space.sq_keys, space.beta64]), hint)
    if not space.self_mode:
        check_finite(subject, "squared norms of the queries", torch.cat([space.sq_queries, space.pass_offset]), hint)


def default_block(device) -> int:
    """The pass's default block: 2048 on a CPU, 4096 on an accelerator. On a CPU a 2048² float32 tile (16 MB)
    stays in the caches between its GEMM and its updates: hub-heavy 30 000 × 384 on 2 cores, the pass took
    1.47 s in 2048² tiles against 1.72 s in 4096² (the GEMMs 0.87 s against 1.06 s); 1536 and 3072 were
    slower (2026-12-04, ``bench/RESULTS.md``)."""
    return 2048 if torch.device(device).type == "cpu" else 4096


def knn(keys, queries=None, *, k: int = 10, metric: str = "euclidean", dtype="float32",
        device="cpu", block: int | None = None, key_bias=None, progress: bool = False,
        _space: Space | None = None, subject: str = "keys", scan=None) -> KNN:
    """Exact top-k (self excluded when ``queries`` is None), float64-certified, index tie-break.

    ``key_bias`` (n_keys,) is added to β_y (used by CSLS). See the module docstring.
    ``subject`` names the data in errors: a non-finite norm, pass score or float64 score raises
    :class:`probes.errors.Diverged` (e.g. a float32 pass that overflows). ``scan`` replaces
    :func:`scan_topk` for the pass (same signature; e.g. :func:`probes.distributed.blocks.knn_scan`).
    """
    if metric not in METRICS:
        raise InputError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    dt = as_dtype(dtype)
    sp_ = _space or Space(as_matrix("keys", keys), None if queries is None else as_matrix("queries", queries), metric)
    _check_space(sp_, subject)
    nk = len(sp_.keys_x)
    avail = nk - 1 if sp_.self_mode else nk
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k = {k!r}: must be a positive integer")
    if avail < k:
        raise InputError(f"k = {k} but only {avail} candidate neighbours per query (n = {nk}"
                         f"{', self excluded' if sp_.self_mode else ''}); use k < n")
    block = default_block(device) if block is None else block
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise InputError(f"block = {block!r}: must be a positive integer")
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

    if scan is None:
        threads = _update_threads(dev, 0)
        cand_v, cand_i = scan_topk(A, B, _identity, width, sp_.self_mode, block, progress, "k-NN", transposed,
                                   threads=threads, split_diagonal=False)
        one = not (threads.cpu and threads.choice is False)  # undecided, or a GPU scan: one thread, as before
    else:
        cand_v, cand_i = scan(A, B, _identity, width, sp_.self_mode, block, progress, "k-NN", transposed)
        one = True
    del A, B
    # the certification is many small ops too (see _serial): on one thread unless the scan found all faster
    with _serial("cpu", one):
        return _certify(sp_, cand_v, cand_i, k, width, avail, dt, bias64, subject)


def _row_tolerance(sp_: Space, sv, so, k: int, u: float, tol64) -> torch.Tensor:
    """Per row, a bound on the pass rounding of every key that can matter to the row (euclidean, no bias).

    Soundness. Write S for the exact score −‖q − y‖², ŝ for the float64 re-score (|ŝ − S| ≤ tol64, every
    key) and s̃ for the pass score. The pass rows are fl(x − c) with the *same* c as the norm columns
    (:meth:`Space.pass_matrix_of`), so |s̃ − S| ≤ e(y) = (d + 6)·u·(‖q − c‖ + ‖y − c‖)². The k best pass
    candidates y_j have S_j ≥ −D0², D0² = max_j(−s̃_j + e(y_j)); let D² = D0² + 2·tol64 and
    R = ‖q − c‖ + D. A key with ‖y − c‖ > R is farther than D from q (triangle inequality), so
    S_y < −D0² − 2·tol64 and ŝ_y < −D0² − tol64 ≤ ŝ_j for all k of the y_j: it is strictly below k
    keys in both S and ŝ, so it is neither in the top k nor tied with the k-th, whatever its pass score
    (a key of large norm may have a pass error far above the row's bound; it never needs bounding).
    Rules (1) and (2) of :func:`_certify` therefore need e(y) only for ‖y − c‖ ≤ min(R, max norm):
    (d + 6)·u·(‖q − c‖ + R)². Rule (3) uses ``tol`` only as a margin ≥ tol64. The relative factors
    cover the float64 rounding of D0², D and R.
    """
    d = sp_.keys_x.shape[1]
    qn = sp_.query_norms
    s = sv[:, :k]
    e = (d + 6) * u * (qn.unsqueeze(1) + sp_.key_norms[so[:, :k]]) ** 2
    D2 = ((-s + e) + 2.0 ** -50 * (s.abs() + e)).amax(1).clamp_min(0) + 2 * tol64
    R = ((qn + D2.sqrt() * (1 + 1e-9)) * (1 + 1e-9)).clamp_max(sp_.key_norm_max)
    return (d + 6) * u * (qn + R) ** 2


def _certify(sp_: Space, cand_v, cand_i, k: int, width: int, avail: int, dt, bias64, subject: str) -> KNN:
    """The float64-certified top-k from the pass's top-``width`` candidates (see the module docstring)."""
    nk, nq, d = len(sp_.keys_x), len(sp_.queries_x), sp_.keys_x.shape[1]
    cand_v, cand_i = cand_v.cpu().to(torch.float64), cand_i.cpu()
    check_finite(subject, f"k-NN pass scores ({str(dt).replace('torch.', '')})", cand_v,
                 "the pass overflowed; use dtype='float64' or rescale the data (every ranking is scale-invariant)")

    # float64 certification of each row's candidate set: the pass score is the exact similarity
    # up to rounding, bounded by (d + 6)·u·(sum of the magnitudes of its terms)
    u = 2.0 ** -24 if dt == torch.float32 else 2.0 ** -53
    qn, kn_max = sp_.query_norms, sp_.key_norm_max
    key_terms = float((sp_.beta64 + (bias64 if bias64 is not None else 0)).abs().max())
    tol_pass = (d + 6) * u * (sp_.alpha * qn * kn_max + sp_.pass_offset.abs() + key_terms)
    # plus the float64 re-score's own rounding (it works on the uncentred data), for every key
    raw_q, raw_k = sp_.sq_queries.sqrt(), float(sp_.sq_keys.max().sqrt())
    tol64 = (d + 6) * 2.0 ** -53 * (raw_q + raw_k) ** 2 + (bias64.abs().max() * 2.0 ** -50 if bias64 is not None else 0)
    sv, so = _order_exact(cand_v, cand_i)
    if sp_.metric == "euclidean" and bias64 is None and width > k:
        tol_pass = torch.minimum(tol_pass, _row_tolerance(sp_, sv, so, k, u, tol64))
    tol = tol_pass + tol64
    check_finite(subject, "rounding bound of the k-NN pass", tol)
    out_i = torch.empty((nq, k), dtype=torch.int64)
    out_s = torch.empty((nq, k), dtype=torch.float64)
    bad_rows, bad_kth = [], []
    chunk = max(1, min(nq, 2 ** 21 // max(1, width * d)))
    # (1) a row whose pass gap between the k-th and (k+1)-th candidate exceeds 2·tol has the
    #     exact top-k set already (scores kept at pass precision, order by (score, index))
    clear = (sv[:, k - 1] - sv[:, k] > 2 * tol) if width > k else torch.ones(nq, dtype=torch.bool)
    out_i[clear], out_s[clear] = so[clear, :k], sv[clear, :k]
    # (2) the others: re-score the candidates in float64; certified when the k-th exact score
    #     beats every non-candidate's bound (the last pass score + tol). Only the candidates within 2·tol
    #     of the k-th pass score are scored: one further below scores below all k of the first, in exact
    #     and in float64 scores (|ŝ − s̃| ≤ tol for each), so it can neither enter the top k nor tie its
    #     k-th (as in rule (1)).
    todo = (~clear).nonzero().flatten()
    rescored = len(todo)
    tied = torch.zeros(nq, dtype=torch.bool)  # exact ties across the k-th place (decided by index)
    scored = (sv[todo] >= (sv[todo, k - 1] - 2 * tol[todo]).unsqueeze(1)).sum(1)   # ≥ k
    for m in scored.unique().tolist():
        group = todo[scored == m]
        for r0 in range(0, len(group), chunk):
            rows = group[r0:r0 + chunk]
            ci = so[rows, :m]
            s64 = sp_.exact(rows, ci, bias64)
            ss, si = _order_exact(s64, ci)
            out_i[rows], out_s[rows] = si[:, :k], ss[:, :k]
            if m > k:
                tied[rows] = ss[:, k - 1] == ss[:, k]
            if width < avail:
                edge = sv[rows, -1] + tol[rows]
                bad = ss[:, k - 1] <= edge
                bad_rows.extend(rows[bad].tolist())
                bad_kth.append(ss[bad, k - 1])
    # (3) uncertified rows against all keys in float64: a float64 GEMM screen of the keys that can reach
    #     the row's top k (euclidean: only the norm shell the triangle inequality leaves), then the exact
    #     scores of the survivors
    if bad_rows:
        rows = torch.tensor(bad_rows, dtype=torch.int64)
        kth = torch.cat(bad_kth)
        screen = 2 * (tol64[rows] + tol64[rows])  # the GEMM screen (exact_gemm) and exact() share the bound tol64
        fb_i, fb_s, fb_tied = _fallback(sp_, rows, kth, k, bias64, screen, tol64[rows])
        out_i[rows], out_s[rows] = fb_i, fb_s
        tied[rows] = fb_tied
    check_finite(subject, "float64 k-NN scores", out_s)
    return KNN(out_i, out_s, nk, nq - rescored, rescored - len(bad_rows), len(bad_rows), int(tied.sum()))


def k_occurrence(keys, queries=None, *, k: int = 10, metric: str = "euclidean", dtype="float32",
                 device="cpu", block: int | None = None, progress: bool = False, subject: str = "keys") -> np.ndarray:
    """N_k of every key (int64 array); self excluded in self mode. See :func:`knn`."""
    res = knn(keys, queries, k=k, metric=metric, dtype=dtype, device=device, block=block, progress=progress,
              subject=subject)
    return torch.bincount(res.indices.flatten(), minlength=res.n_keys).numpy()

