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
