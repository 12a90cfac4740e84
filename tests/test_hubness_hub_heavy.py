"""The hub-heavy generator (probes.hubness.hub_heavy) and the k-NN engine's exactness on it.

The engine's lists on a hub-heavy instance (dense clusters of near-duplicates, a log-normal norm
spread, rows near the centre: the rows that take the per-row tolerance, the re-scoring and the
float64 fallback) must equal a float64 brute force by direct differences, ties to the lower index.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probes import hubness as H
from probes import knn as K
from probes.errors import InputError


def brute_knn64(X: np.ndarray, k: int, rows_per_chunk: int = 64) -> np.ndarray:
    """float64 top-k by −‖x − y‖² from direct differences, self excluded, ties to the lower index."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    out = np.empty((n, k), dtype=np.int64)
    cols = np.arange(n)
    for i0 in range(0, n, rows_per_chunk):
        q = X[i0:i0 + rows_per_chunk]
        S = -((q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        S[np.arange(len(q)), np.arange(i0, i0 + len(q))] = -np.inf
        order = np.lexsort((np.broadcast_to(cols, S.shape), -S), axis=1)
        out[i0:i0 + len(q)] = order[:, :k]
    return out


def test_hub_heavy_is_deterministic_by_seed():
    a = H.hub_heavy(500, 32, seed=7, dtype=torch.float64)
    b = H.hub_heavy(500, 32, seed=7, dtype=torch.float64)
    c = H.hub_heavy(500, 32, seed=8, dtype=torch.float64)
    assert a.shape == (500, 32) and a.dtype == torch.float64
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(H.hub_heavy(500, 32, seed=7), a.to(torch.float32))          # float32 = the float64 draw cast
    assert torch.equal(H.synthetic("hub-heavy", 500, 32, seed=7), a)


def test_hub_heavy_rejects_too_few_rows():
    with pytest.raises(InputError, match="hub_heavy"):
        H.hub_heavy(5, 8)


@pytest.mark.parametrize("d,block", [(64, 512), (128, 700)])
def test_engine_lists_equal_float64_brute_force_on_hub_heavy(d, block):
    X = H.hub_heavy(2000, d, seed=3)
    res = K.knn(X, k=10, block=block)
    # the instance exercises every certification path
    assert res.clear_rows > 0 and res.rescored_rows > 0 and res.fallback_rows > 0
    ref = brute_knn64(X.numpy(), 10)
    got = res.indices.numpy()
    assert np.array_equal(np.sort(got, 1), np.sort(ref, 1))


def test_engine_lists_equal_float64_brute_force_on_hub_heavy_cosine():
    X = H.hub_heavy(2000, 64, seed=5)
    res = K.knn(X, k=10, metric="cosine", block=512)
    assert res.fallback_rows > 0                          # the unrestricted (no norm shell) fallback
    Xn = X.double() / X.double().norm(dim=1, keepdim=True)
    S = (Xn @ Xn.T).numpy()
    np.fill_diagonal(S, -np.inf)
    ref = np.lexsort((np.broadcast_to(np.arange(2000), S.shape), -S), axis=1)[:, :10]
    assert np.array_equal(np.sort(res.indices.numpy(), 1), np.sort(ref, 1))


def test_hub_heavy_is_hub_heavy_and_the_probe_sees_it():
    X = H.hub_heavy(3000, 64, seed=1)
    r = H.probe(X, k=10, theory=False)
    # a few rows near the centre are in most lists: skewness far above the null's threshold
    assert r.skewness > 10 * r.theory["null"]["skewness_hub_threshold"]
    assert r.verdict == "hubness"


# -- the float64 fallback's norm shell ---------------------------------------------------------------
def _fallback_calls(monkeypatch):
    calls = []
    real = K._fallback

    def spy(space, rows, kth, k, bias, screen, tol64, *a, **kw):
        calls.append((rows.clone(), kth.clone(), tol64.clone()))
        return real(space, rows, kth, k, bias, screen, tol64, *a, **kw)

    monkeypatch.setattr(K, "_fallback", spy)
    return calls


def _radius_misses(calls, X64, ref, radius) -> int:
    """Fallback rows with a key of the exact top k (``ref``) farther from the query than ``radius``."""
    misses = 0
    for rows, kth, tol64 in calls:
        dist = (X64[ref[rows]] - X64[rows].unsqueeze(1)).norm(dim=2).amax(1)
        misses += int((dist > radius(kth, tol64, torch.zeros(len(rows), dtype=torch.float64))).sum())
    return misses


@pytest.fixture(scope="module")
def hub_fallback():
    """(fallback calls, X in float64, the exact top 10) of the engine on a hub-heavy instance."""
    mp = pytest.MonkeyPatch()
    calls = _fallback_calls(mp)
    X = H.hub_heavy(2000, 64, seed=3)
    res = K.knn(X, k=10, block=512)
    mp.undo()
    assert calls and res.fallback_rows == sum(len(c[0]) for c in calls) > 0
    return calls, X.double(), torch.from_numpy(brute_knn64(X.numpy(), 10))


def test_shell_radius_holds_the_exact_top_k_and_carries_no_pass_bound(hub_fallback):
    """Every key of a fallback row's exact top k lies within the shell radius D of the query, and D² exceeds
    −kth by at most 2·tol64 (with rounding): the float32 pass bound, far larger here, is not in it (it was
    until 2026-12-04 and made the shells ~20× wider at 10⁵ × 768)."""
    calls, X64, ref = hub_fallback
    assert _radius_misses(calls, X64, ref, K._shell_radius) == 0
    for rows, kth, tol64 in calls:
        D = K._shell_radius(kth, tol64, torch.zeros(len(rows), dtype=torch.float64))
        assert bool((D ** 2 <= (-kth).clamp_min(0) + 2 * tol64 + 1e-6 * (1 + kth.abs())).all())
    rows, tol64 = calls[0][0], calls[0][2]
    pass_tol = 70 * 2.0 ** -24 * (2 * K.Space(X64.float(), None, "euclidean").query_norms[rows]) ** 2
    assert bool((pass_tol > 100 * tol64).all())          # (d + 6)·u·(2‖q − c‖)², d = 64: ≫ tol64


def test_a_shrunk_shell_radius_misses_exact_neighbours(hub_fallback):
    """Control: a radius of half the k-th float64 neighbour's distance leaves true neighbours outside."""
    calls, X64, ref = hub_fallback
    assert _radius_misses(calls, X64, ref, lambda kth, tol64, qn: (-kth).clamp_min(0).sqrt() / 2) > 0


@pytest.mark.parametrize("loose", [False, True])
def test_shell_batches_cover_each_row_once_within_the_budget(loose):
    g = torch.Generator().manual_seed(0)
    n, nk, budget = 500, 10_000, 200_000
    lo = torch.randint(0, nk // 2, (n,), generator=g)
    hi = lo + torch.randint(1, nk // 2, (n,), generator=g)
    order = torch.randperm(n, generator=g)
    batches = K._shell_batches(order, lo, hi, budget, loose=loose)
    assert torch.equal(torch.cat(batches), order)                   # consecutive runs, every row once
    for b in batches:
        union = int(hi[b].max() - lo[b].min())
        assert len(b) == 1 or union * len(b) <= budget
        if not loose:
            assert len(b) == 1 or union <= 2 * int((hi[b] - lo[b]).min()) + 256
    if loose:   # wide windows: only the budget and the row cap split them, so far fewer runs
        assert len(batches) < len(K._shell_batches(order, lo, hi, budget))
