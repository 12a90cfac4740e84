"""The k-NN engine's rounding bound (probes.knn): per-row euclidean tolerance and the pass's centring.

The per-row bound was once withdrawn: it mis-certified exact ties between duplicates (n=31, d=1, k=1,
levels=3, seed=496). The cause was not the per-row argument but the pass's rows: x − fl32(c) against
norm columns taken about the float64 centre c, a score shift ≈ 2·(fl32(c) − c)·(y − c) of order u·‖c‖
that no bound in the centred norms covers (the global bound too failed on data far from the origin).
These tests pin the fix, stress the per-row bound against a float64 brute force, and show that they
catch a bound that is too small.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from probes import hubness as H
from probes import knn as K


def brute_knn(X, Q=None, k=5):
    """float64 euclidean top-k by direct differences, self excluded, ties to the lower index."""
    X = np.asarray(X, dtype=np.float64)
    self_mode = Q is None
    Q = X if self_mode else np.asarray(Q, dtype=np.float64)
    S = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    if self_mode:
        np.fill_diagonal(S, -np.inf)
    return np.stack([np.lexsort((np.arange(len(X)), -row))[:k] for row in S])


def heavy_integer_data(n, d, seed, *, levels=3, sigma=1.0, offset=0, n_far=0, far=2 ** 10, n_dup=0, n_query=0):
    """Integer points, so every float64 score is exact and the reference has no rounding: small integer
    coordinates times a per-row log-normal integer scale (heavy-tailed norms), plus ``offset`` (data far
    from the origin), ``n_far`` rows scaled by ``far``, ``n_dup`` exact duplicates; ``n_query`` queries
    (half of them duplicates of keys) or None (self mode)."""
    rng = np.random.default_rng(seed)

    def draw(m):
        scale = np.maximum(1, np.rint(np.exp(sigma * rng.standard_normal((m, 1)))))
        return rng.integers(-(levels // 2), levels - levels // 2, size=(m, d)) * scale

    X = draw(n)
    X[rng.choice(n, size=min(n_far, n), replace=False)] *= far
    for _ in range(n_dup):
        i, j = rng.integers(0, n, 2)
        X[i] = X[j]
    X += offset
    Q = None
    if n_query:
        Q = draw(n_query) + offset
        take = rng.integers(0, n, n_query // 2)
        Q[:len(take)] = X[take]
    return X, Q


def same_sets(res, X, Q, k):
    return np.array_equal(np.sort(res.indices.numpy(), 1), np.sort(brute_knn(X, Q, k), 1))


def _rounded_centre_pass_matrix_of(self, X, dtype, device, out=None):
    """The pass rows as they were when the per-row bound was withdrawn: X and c rounded to ``dtype`` first."""
    out = torch.empty(X.shape, dtype=dtype, device=device) if out is None else out
    c = None if self.centre is None else self.centre.to(device, dtype)
    for i in range(0, len(X), self._CHUNK):
        part = X[i:i + self._CHUNK].to(device, dtype)
        out[i:i + self._CHUNK] = part if c is None else part - c
    return out


def _withdrawn_case():
    return np.random.default_rng(496).integers(0, 3, size=(31, 1)).astype(np.float64)


# -- the withdrawn case and its cause ----------------------------------------------------------------
@pytest.mark.parametrize("block", range(1, 18))
def test_withdrawn_case_n31_d1_k1_levels3_seed496(block):
    X = _withdrawn_case()
    res = K.knn(X, k=1, block=block)
    assert same_sets(res, X, None, 1)


def test_withdrawn_case_uses_the_per_row_bound():
    """The regression case runs the per-row bound (much smaller than the global one for the middle rows)."""
    X = _withdrawn_case()
    sp = K.Space(K.as_matrix("keys", X), None, "euclidean")
    A, B = sp.augmented(torch.float32, "cpu")
    cv, ci = K.scan_topk(A, B, K._identity, 2, True, 4, False, "t", lambda S, *a: S)
    sv, so = K._order_exact(cv.double(), ci)
    row = K._row_tolerance(sp, sv, so, 1, 2.0 ** -24, torch.zeros(31, dtype=torch.float64))
    glob = 7 * 2.0 ** -24 * (sp.query_norms + sp.key_norm_max) ** 2
    middle = torch.as_tensor(X[:, 0] == 1)
    assert bool((row[middle] < glob[middle] / 100).all())


@pytest.mark.parametrize("offset", [0.0, 1.0, 1000.0, 2.0 ** 16 + 0.37, -3.0e6])
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
def test_pass_rows_are_x_minus_the_float64_centre_rounded_once(offset, in_dtype):
    """|fl(x − c) − (x − c)| ≤ u·|x − c| entrywise, with c the float64 centre of the norm columns."""
    g = torch.Generator().manual_seed(3)
    X = (offset + torch.randn(200, 7, generator=g, dtype=torch.float64)).to(in_dtype)
    sp = K.Space(K.as_matrix("keys", X), None, "euclidean")
    exact = X.to(torch.float64) - sp.centre
    for dt, u in ((torch.float32, 2.0 ** -24), (torch.float64, 2.0 ** -53)):
        P = sp.pass_matrix("keys", dt, "cpu").to(torch.float64)
        assert bool(((P - exact).abs() <= u * (1 + 2.0 ** -20) * exact.abs()).all()), dt
        # the euclidean norm column is about the same centre
        A, _ = sp.augmented(dt, "cpu")
        assert torch.allclose(A[:, -2].to(torch.float64), (exact ** 2).sum(1), rtol=4 * u, atol=0)


@pytest.mark.parametrize("in_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_data_far_from_the_origin(seed, in_dtype):
    """Offset 1000: ‖c‖ ≫ ‖y − c‖. With the centre rounded to float32 the global bound failed here too."""
    rng = np.random.default_rng(seed)
    X = 1000 + rng.integers(0, 3, size=(35, 4)).astype(np.float64)
    for k, block in ((1, 3), (3, 7), (5, 64)):
        assert same_sets(K.knn(X.astype(in_dtype), k=k, block=block), X, None, k), (k, block)


def test_the_tests_catch_the_rounded_centre(monkeypatch):
    """With the pass rows of the withdrawn version, the regression case and the offset case fail again."""
    monkeypatch.setattr(K.Space, "pass_matrix_of", _rounded_centre_pass_matrix_of)
    X = _withdrawn_case()
    assert not all(same_sets(K.knn(X, k=1, block=b), X, None, 1) for b in range(1, 18))
    X = 1000 + np.random.default_rng(0).integers(0, 3, size=(35, 4)).astype(np.float64)
    assert not same_sets(K.knn(X, k=3, block=3), X, None, 3)
    # ... and even the global bound (per-row tolerance off) fails on the offset case
    monkeypatch.setattr(K, "_row_tolerance", lambda sp_, sv, so, k, u, tol64: torch.full((len(sv),), math.inf,
                                                                                       dtype=torch.float64))
    assert not same_sets(K.knn(X, k=3, block=3), X, None, 3)


# -- stress: the per-row bound against a float64 brute force ---------------------------------------
data_params = dict(
    n=st.integers(8, 48), d=st.integers(1, 6), k=st.integers(1, 6), block=st.integers(1, 17),
    levels=st.integers(2, 5), sigma=st.floats(0.0, 1.5), offset=st.sampled_from([0, 0, 7, 1000, 2 ** 16]),
    n_far=st.integers(0, 3), far=st.sampled_from([2 ** 4, 2 ** 8, 2 ** 10]), n_dup=st.integers(0, 6),
    n_query=st.sampled_from([0, 0, 9, 20]), in_dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 10_000))


def _case(n, d, k, block, levels, sigma, offset, n_far, far, n_dup, n_query, in_dtype, seed):
    X, Q = heavy_integer_data(n, d, seed, levels=levels, sigma=sigma, offset=offset, n_far=n_far, far=far,
                              n_dup=n_dup, n_query=n_query)
    k = min(k, n - 1 if Q is None else n)
    return X, Q, k


def _run(X, Q, k, block, in_dtype):
    return K.knn(X.astype(in_dtype), None if Q is None else Q.astype(in_dtype), k=k, block=block)


@settings(max_examples=150, deadline=None)
@given(**data_params)
def test_per_row_bound_matches_float64_brute_force(n, d, k, block, levels, sigma, offset, n_far, far, n_dup,
                                                   n_query, in_dtype, seed):
    """Heavy-tailed integer norms, exact duplicates (queries duplicating keys), a few far rows, offsets;
    self and query mode; k 1–6; small blocks. Every value is exact in float32 and float64."""
    X, Q, k = _case(n, d, k, block, levels, sigma, offset, n_far, far, n_dup, n_query, in_dtype, seed)
    res = _run(X, Q, k, block, in_dtype)
    assert same_sets(res, X, Q, k)
    assert res.clear_rows + res.rescored_rows + res.fallback_rows == len(X if Q is None else Q)


# -- the tests catch a bound that is too small -----------------------------------------------------
def _scaled_row_tolerance(monkeypatch, factor):
    orig = K._row_tolerance
    monkeypatch.setattr(K, "_row_tolerance", lambda *a: orig(*a) * factor)


SMALL_BOUND_CASES = [   # found by the stress strategy; each goes wrong with the per-row bound scaled by 1e-6
    dict(n=45, d=4, k=1, block=5, levels=3, sigma=0.012, offset=7, n_far=0, far=2 ** 10, n_dup=3, n_query=0,
         in_dtype=np.float32, seed=2),
    dict(n=24, d=6, k=2, block=6, levels=2, sigma=0.545, offset=7, n_far=3, far=2 ** 10, n_dup=1, n_query=0,
         in_dtype=np.float32, seed=4),
    dict(n=25, d=5, k=1, block=11, levels=5, sigma=0.545, offset=0, n_far=0, far=2 ** 10, n_dup=1, n_query=20,
         in_dtype=np.float64, seed=1),
]


@pytest.mark.parametrize("case", SMALL_BOUND_CASES, ids=lambda c: f"seed{c['seed']}")
def test_a_bound_scaled_down_by_1e6_gives_wrong_lists(case, monkeypatch):
    X, Q, k = _case(**case)
    assert same_sets(_run(X, Q, k, case["block"], case["in_dtype"]), X, Q, k)
    _scaled_row_tolerance(monkeypatch, 1e-6)
    assert not same_sets(_run(X, Q, k, case["block"], case["in_dtype"]), X, Q, k)


def test_the_stress_strategy_finds_a_counterexample_to_a_scaled_down_bound(monkeypatch):
    _scaled_row_tolerance(monkeypatch, 1e-6)

    def wrong(p):
        X, Q, k = _case(**p)
        return not same_sets(_run(X, Q, k, p["block"], p["in_dtype"]), X, Q, k)

    example = find(st.fixed_dictionaries(data_params), wrong, settings=settings(max_examples=300, database=None,
                                                                                phases=[Phase.generate]))
    assert wrong(example)


# -- what the per-row bound buys -------------------------------------------------------------------
def test_per_row_bound_cuts_the_rescored_rows_on_hub_heavy(monkeypatch):
    X = H.hub_heavy(4000, 128, seed=3)
    per_row = K.knn(X, k=10, block=512)
    monkeypatch.setattr(K, "_row_tolerance", lambda sp_, sv, so, k, u, tol64: torch.full((len(sv),), math.inf,
                                                                                       dtype=torch.float64))
    glob = K.knn(X, k=10, block=512)
    assert torch.equal(per_row.indices.sort(1).values, glob.indices.sort(1).values)
    assert per_row.clear_rows > glob.clear_rows
    assert per_row.rescored_rows + per_row.fallback_rows < 0.75 * (glob.rescored_rows + glob.fallback_rows)


def test_update_threads_times_both_modes_then_keeps_the_faster():
    t = K._update_threads("cpu", size=100, trials=4)
    if not t.cpu:
        pytest.skip("one intra-op thread here: nothing to choose")
    assert t.mode(50) is True                        # a small tile before the choice: one thread
    seen = [t.mode(100)]
    t.record(seen[-1], 100, 1.0 if seen[-1] else 0.5)
    while t.choice is None:
        m = t.mode(100)
        seen.append(m)
        t.record(m, 100, 1.0 if m else 0.5)          # all threads twice as fast per entry
    assert set(seen) == {True, False} and t.choice is False and t.mode(50) is False
    u = K._update_threads("cpu", size=100, trials=4)
    while u.choice is None:
        m = u.mode(100)
        u.record(m, 100, 0.2 if m else 0.9)          # a contended machine: one thread faster
    assert u.choice is True


@pytest.mark.parametrize("serial", [True, False])
def test_update_thread_mode_does_not_change_the_lists(monkeypatch, serial):
    X = H.hub_heavy(3000, 16, seed=5)
    ref = brute_knn(X.numpy().astype(np.float64), k=6)
    monkeypatch.setattr(K._update_threads, "mode", lambda self, n: serial)
    got = K.knn(X, k=6, block=512)
    assert np.array_equal(np.sort(got.indices.numpy(), 1), np.sort(ref, 1))
