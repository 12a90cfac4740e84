"""The block-pair products of ``unargmaxable`` and ``hubness`` as Dask tasks.

**unargmaxable.** The self-witness pass needs, for every row k, max_{i≠k} y_i·y_k over G = Y Yᵀ. The rows
are cut into blocks of B; one task per pair (I, J ≥ I) of the symmetric half runs
:func:`probes.unargmaxable._witness_pair` (the in-process loop's own kernel, same pass dtype, same pairs
:func:`probes.unargmaxable._witness_pairs`) and returns the row maxima for I's rows and the column maxima for
J's rows; the client merges them with ``max``, which is exact, so the maxima, the margins and the surviving
set equal the in-process pass with the same block bit for bit. The survivors' reflection runs on the client;
the tokens left after it are fanned out in chunks, one task per chunk calling
:func:`probes.unargmaxable._hard_token` (the in-process per-token function) with the head scattered once to
every worker; chunk c draws its random rows from ``default_rng((seed, c))`` (in-process: one generator for
all tokens). Certificates are assembled on the client; :func:`probes.unargmaxable.verify` checks them.

**hubness.** The k-NN pass as one task per block pair of the symmetric half (self mode) or of the full
query × key grid: a diagonal pair runs :func:`probes.knn.scan_topk` on its block, any other pair one GEMM
and the top-(2k) of each of its rows and (symmetric) columns. The client merges the candidates per row with
``topk``; the union of per-block top-(2k) lists holds every row's global top-(2k), so the float64
certification that follows (:func:`probes.knn.knn`) gives the same lists, and N_k is the in-process N_k.

B comes from a per-task memory budget (:func:`probes.distributed.cost.block_for_budget`) unless given.
Scattered blocks are held by two workers each and the head of the hard-token stage by every worker, so a
worker that dies mid-pass loses no data; the scheduler re-runs its tasks elsewhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from probes.distributed.cost import (DEFAULT_BUDGET_MIB, block_for_budget, hubness_task_bytes,
                                     unargmaxable_task_bytes)

__all__ = ["BlockPlan", "detect", "knn_scan", "unargmaxable_plan", "hubness_plan"]


@dataclass(frozen=True)
class BlockPlan:
    """How a pass is cut: block rows, tasks, the memory one task needs and the budget it was chosen under."""

    job: str
    block: int
    tasks: int
    task_memory_bytes: int
    memory_budget_bytes: int
    workers: int
    chunks: int = 0          # unargmaxable: hard-token tasks (after the pass)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        return (f"{self.job}: block {self.block:,} rows, {self.tasks:,} tasks of at most "
                f"{self.task_memory_bytes / 2**20:,.1f} MiB each (budget {self.memory_budget_bytes / 2**20:,.0f} MiB)"
                f" on {self.workers} workers" + (f"; {self.chunks} hard-token tasks" if self.chunks else ""))


def _scatter_blocks(client, blocks, workers):
    """Scatter row blocks to the workers, each held by two of them (a worker that dies loses no block)."""
    futs = client.scatter(blocks, hash=False)
    if workers > 1:
        client.replicate(futs, n=2)
    return futs


def _workers(client) -> int:
    info = getattr(client, "attnprobe_info", None)
    return info.workers if info is not None else len(client.scheduler_info()["workers"])


# -- unargmaxable ------------------------------------------------------------------------------------------
def unargmaxable_plan(V: int, r: int, *, block: int | None, memory_budget_mib: float, itemsize: int = 4,
                      workers: int = 1) -> BlockPlan:
    budget = int(memory_budget_mib * 2**20)
    B = int(block) if block else block_for_budget(budget, lambda b: unargmaxable_task_bytes(b, r, itemsize), V)
    nb = -(-V // B)
    return BlockPlan("unargmaxable self-witness pass", B, nb * (nb + 1) // 2,
                     unargmaxable_task_bytes(min(B, V), r, itemsize), budget, workers)


def _pair_task(YI, YJ, diagonal: bool):
    from probes._threads import one_thread
    from probes.unargmaxable import _witness_pair

    with one_thread(YI.device):
        return _witness_pair(YI, YJ, diagonal)


def _hard_chunk(ctx, ks, x0s, rivals, rows, seed, chunk, cert_tol, subject):
    """The in-process per-token function on a chunk of tokens; returns ([(k, out)], LP counters)."""
    from probes.unargmaxable import _hard_token, _row_l1_max

    W, b, Z, bb, T = ctx
    rng = np.random.default_rng((int(seed), int(chunk)))
    stats = {"lp_solves": 0, "lp_rows_max": 0}
    wabs = _row_l1_max(W)
    outs = [(int(k), _hard_token(int(k), W, b, Z, bb, T, x0, rv, rows, rng, cert_tol, stats, subject, wabs))
            for k, x0, rv in zip(ks, x0s, rivals)]
    return outs, stats


def _merge_stats(into: dict, part: dict) -> None:
    for key, v in part.items():
        if key in ("lp_rows_max", "nnls_rows_max"):
            into[key] = max(into.get(key, 0), v)
        elif key == "lp_stalled_min_margin":
            into[key] = min(into.get(key, math.inf), v)
        else:
            into[key] = into.get(key, 0) + v


def detect(W, b=None, *, client, block: int | None = None, memory_budget_mib: float = DEFAULT_BUDGET_MIB,
           chunk: int | None = None, progress: bool = False, report=None, **kwargs):
    """:func:`probes.unargmaxable.detect` with the self-witness pairs and the hard tokens on ``client``'s workers.

    Returns (result, :class:`BlockPlan`). ``report(text)`` receives the plan before the pass starts.
    Other keyword arguments go to :func:`probes.unargmaxable.detect` (ties, seed, dtype, ...).
    """
    import torch
    from distributed import as_completed

    from probes import unargmaxable as U
    from probes.progress import progress as bar_of

    workers = _workers(client)
    Wc, _ = U._check_input(W, b)
    tdtype = U._torch_dtype(kwargs.get("dtype", "float32"))
    itemsize = torch.finfo(tdtype).bits // 8
    r_guess = min(Wc.shape)  # the rank after whitening is at most min(V - 1, d); the plan uses d
    plan = unargmaxable_plan(Wc.shape[0], min(Wc.shape[1], r_guess), block=block,
                             memory_budget_mib=memory_budget_mib, itemsize=itemsize, workers=workers)
    state = {"plan": plan}

    def maxima(Y, blk):
        V = Y.shape[0]
        Ycpu = Y.cpu()
        starts = list(range(0, V, blk))
        futs = _scatter_blocks(client, [Ycpu[s:s + blk].clone() for s in starts], workers)
        pairs = U._witness_pairs(V, blk)
        index = {s: i for i, s in enumerate(starts)}
        p = BlockPlan(plan.job, blk, len(pairs), unargmaxable_task_bytes(min(blk, V), Y.shape[1], itemsize),
                      plan.memory_budget_bytes, workers)
        state["plan"] = p
        if report is not None:
            report(str(p))
        jobs = {client.submit(_pair_task, futs[index[s]], futs[index[t]], s == t, pure=False): (s, e, t, f)
                for s, e, t, f in pairs}
        colmax = torch.full((V,), -math.inf, dtype=Y.dtype)
        try:
            with bar_of(len(jobs), "self-witness GEMM (dask)", unit="pair", enabled=progress) as bar:
                for fut in as_completed(list(jobs)):
                    s, e, t, f = jobs.pop(fut)
                    rmax, cmax = fut.result()
                    torch.maximum(colmax[s:e], rmax, out=colmax[s:e])
                    torch.maximum(colmax[t:f], cmax, out=colmax[t:f])
                    bar.update(1)
        finally:
            if jobs:
                client.cancel(list(jobs))
            client.cancel(futs)
        return colmax

    def hard_tokens(todo, W64, b64, Z, bb, T, x_last, rivals, rows, seed, cert_tol, stages, subject):
        todo = [int(k) for k in np.asarray(todo).tolist()]
        if not todo:
            return []
        size = chunk or max(1, min(64, -(-len(todo) // (4 * workers))))
        ctx = client.scatter([(W64, b64, Z, bb, T)], broadcast=True, hash=False)[0]  # the head, once per worker
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        state["plan"] = BlockPlan(state["plan"].job, state["plan"].block, state["plan"].tasks,
                                  state["plan"].task_memory_bytes, state["plan"].memory_budget_bytes, workers,
                                  len(chunks))
        jobs = {client.submit(_hard_chunk, ctx, ks, [x_last.get(k, Z[k]).copy() for k in ks],
                              [tuple(rivals.get(k, ())) for k in ks], rows, seed, c, cert_tol, subject,
                              pure=False): c for c, ks in enumerate(chunks)}
        out = []
        try:
            with bar_of(len(todo), "hard tokens (dask)", unit="token", enabled=progress) as bar:
                for fut in as_completed(list(jobs)):
                    jobs.pop(fut)
                    part, st = fut.result()
                    _merge_stats(stages, st)
                    out += part
                    bar.update(len(part))
        finally:
            if jobs:
                client.cancel(list(jobs))
            client.cancel([ctx])
        return sorted(out, key=lambda kv: kv[0])

    res = U.detect(W, b, block=plan.block, progress=progress, maxima=maxima, hard_tokens=hard_tokens, **kwargs)
    return res, state["plan"]


# -- hubness -------------------------------------------------------------------------------------------------
def hubness_plan(n_rows: int, d_pass: int, width: int, *, block: int | None, memory_budget_mib: float,
                 itemsize: int = 4, workers: int = 1, tasks: int = 0) -> BlockPlan:
    budget = int(memory_budget_mib * 2**20)
    B = int(block) if block else block_for_budget(budget, lambda b: hubness_task_bytes(b, d_pass, width, itemsize),
                                                  n_rows)
    return BlockPlan("hubness k-NN pass", B, tasks, hubness_task_bytes(min(B, n_rows), d_pass, width, itemsize),
                     budget, workers)


class _Scores:
    """The pass's score and transposed-score functions, shipped to the workers once (scattered)."""

    def __init__(self, score, transposed):
        self.score, self.transposed = score, transposed


def _knn_pair(AI, BJ, fns, i0, j0, width, symmetric, diagonal, sub_block):
    """One block pair of the k-NN pass: (rows: values, global indices), (columns: values, indices) or None."""
    import torch

    from probes._threads import one_thread
    from probes.knn import scan_topk

    i1, j1 = i0 + len(AI), j0 + len(BJ)
    with one_thread(AI.device):
        if diagonal:  # the in-process engine on the diagonal block (its own sub-tiles), indices shifted back
            def score(G, a, b_, c, e):
                return fns.score(G, a + i0, b_ + i0, c + j0, e + j0)

            def transposed(S, a, b_, c, e):
                return fns.transposed(S, a + i0, b_ + i0, c + j0, e + j0) if fns.transposed is not None else \
                    fns.score(S.T, c + j0, e + j0, a + i0, b_ + i0).T

            v, ix = scan_topk(AI, BJ, score, width, True, sub_block, False, "", transposed)
            return (v, torch.where(ix >= 0, ix + j0, ix)), None
        G = AI @ BJ.T
        S = fns.score(G, i0, i1, j0, j1)
        w = min(width, S.shape[1])
        rv, ri = S.topk(w, dim=1, sorted=False)
        rows = (rv, ri + j0)
        cols = None
        if symmetric:
            C = fns.transposed(S, i0, i1, j0, j1) if fns.transposed is not None else fns.score(G.T, j0, j1, i0, i1).T
            wc = min(width, C.shape[0])
            cv, ci = C.T.contiguous().topk(wc, dim=1, sorted=False)
            cols = (cv, ci + i0)
        return rows, cols


def knn_scan(client, *, memory_budget_mib: float = DEFAULT_BUDGET_MIB, block: int | None = None, report=None,
             plans: list | None = None):
    """A drop-in for :func:`probes.knn.scan_topk` that runs the block pairs on ``client``'s workers.

    Pass it as ``scan=`` to :func:`probes.knn.knn` or :func:`probes.hubness.probe`. ``block`` fixes the
    block (else the budget decides, capped by the block the caller passes); each pass's :class:`BlockPlan`
    goes to ``report(text)`` and is appended to ``plans``.
    """
    from probes.knn import _merge

    workers = _workers(client)

    def scan(Q, K, score, width, symmetric, blk, progress, desc, transposed=None):
        import torch
        from distributed import as_completed

        from probes.progress import progress as bar_of

        nq, nk = len(Q), len(K)
        itemsize = Q.element_size()
        base = hubness_plan(max(nq, nk), Q.shape[1], width, block=block, memory_budget_mib=memory_budget_mib,
                            itemsize=itemsize, workers=workers)
        B = base.block if block else min(base.block, max(256, int(blk)))
        qs = list(range(0, nq, B))
        ks = list(range(0, nk, B))
        pairs = [(i, j) for i in qs for j in ks if not symmetric or j >= i]
        plan = BlockPlan(f"{desc} pass", B, len(pairs), hubness_task_bytes(min(B, max(nq, nk)), Q.shape[1], width,
                                                                            itemsize), base.memory_budget_bytes,
                         workers)
        if report is not None:
            report(str(plan))
        if plans is not None:
            plans.append(plan)
        Qc, Kc = Q.cpu(), K.cpu()
        fq = _scatter_blocks(client, [Qc[s:s + B].clone() for s in qs], workers)
        fk = fq if (symmetric and Q is K) else _scatter_blocks(client, [Kc[s:s + B].clone() for s in ks], workers)
        fns = client.scatter([_Scores(score, transposed)], broadcast=False, hash=False)[0]
        iq = {s: n for n, s in enumerate(qs)}
        ik = {s: n for n, s in enumerate(ks)}
        state_v = torch.full((nq, width), -math.inf, dtype=Q.dtype)
        state_i = torch.full((nq, width), -1, dtype=torch.int64)
        sub = B // 4 if B >= 1024 else B
        jobs = {client.submit(_knn_pair, fq[iq[i]], fk[ik[j]], fns, i, j, width, symmetric,
                              symmetric and i == j, sub, pure=False): (i, j) for i, j in pairs}
        try:
            with bar_of(len(jobs), f"{desc} (dask)", unit="blk", enabled=progress) as bar:
                for fut in as_completed(list(jobs)):
                    i, j = jobs.pop(fut)
                    rows, cols = fut.result()
                    _merge(state_v, state_i, slice(i, min(i + B, nq)), rows[0], rows[1], width)
                    if cols is not None:
                        _merge(state_v, state_i, slice(j, min(j + B, nk)), cols[0], cols[1], width)
                    bar.update(1)
        finally:
            if jobs:
                client.cancel(list(jobs))
            client.cancel([*fq, *(fk if fk is not fq else []), fns])
        dev = Q.device
        return state_v.to(dev), state_i.to(dev)

    return scan
