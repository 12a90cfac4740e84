"""Unit and property tests of theory/hubness.py and probes/hubness.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import skew

from probes import hubness as H
from probes.errors import Diverged, InputError
from theory import all_derivations
from theory import hubness as T


# -- reference: explicit counting in float64 with the documented tie-break ----------
def brute_knn(X, Q=None, k=5, metric="euclidean"):
    X = np.asarray(X, dtype=np.float64)
    self_mode = Q is None
    Q = X if self_mode else np.asarray(Q, dtype=np.float64)
    if metric == "euclidean":
        S = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    elif metric == "cosine":
        S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T
    else:
        S = Q @ X.T
    if self_mode:
        np.fill_diagonal(S, -np.inf)
    idx = np.stack([np.lexsort((np.arange(len(X)), -row))[:k] for row in S])
    return idx


# -- theory -------------------------------------------------------------------------
@pytest.mark.parametrize("der", T.DERIVATIONS, ids=lambda d: d.name)
def test_every_hubness_step_checks(der):
    results = der.check()
    assert results and all(r.ok for r in results)


def test_derivations_are_discovered():
    names = {d.name for d in all_derivations()}
    assert {d.name for d in T.DERIVATIONS} <= names


def test_volume_ratio_values():
    assert math.exp(T.VOLUME_RATIO.predict("log_volume_ratio", d=2)) == pytest.approx(math.pi / 4, rel=1e-12)
    assert math.exp(T.VOLUME_RATIO.predict("log_volume_ratio", d=3)) == pytest.approx(math.pi / 6, rel=1e-12)
    # Stirling's error is O(1/d) in the ratio: relative error below 1/(5d) from d = 10
    for d in (10, 100, 1000):
        exact = T.VOLUME_RATIO.predict("log_volume_ratio", d=d)
        approx = T.VOLUME_RATIO.predict("log_volume_ratio_stirling", d=d)
        assert abs(math.expm1(approx - exact)) < 1 / (5 * d)


def test_limit_law_at_w0_is_the_null():
    m, k = 999, 10
    q = k / m
    lim, nul = H.limit_law(0.0, m, q, k), H.null_law(m, q, k)
    assert lim["skewness"] == pytest.approx(nul["skewness"], rel=1e-6)
    assert lim["antihub"] == pytest.approx(nul["antihub"], rel=1e-6)
    # Binomial(m, q) mean absolute deviation from scipy
    from scipy.stats import binom

    j = np.arange(m + 1)
    mad = float((np.abs(j - k) * binom.pmf(j, m, q)).sum())
    assert nul["robinhood"] == pytest.approx(mad / (2 * k), rel=1e-8)


@pytest.mark.parametrize("w", [0.3, 0.8])
def test_limit_law_integrals_match_simulating_the_latent_model(w):
    """Simulate scores w·a_j + e_ij directly (no geometry) and compare with the integrals."""
    g = np.random.default_rng(7)
    n, k = 3000, 10
    a = g.standard_normal(n)
    N = np.zeros(n)
    for r0 in range(0, n, 500):  # rows: rankings; lower score = nearer
        S = w * a[None, :] + g.standard_normal((500, n))
        np.put_along_axis(S, np.arange(r0, r0 + 500)[:, None], np.inf, axis=1)  # exclude self
        N += np.bincount(np.argpartition(S, k, axis=1)[:, :k].ravel(), minlength=n)
    meas = H.measures(N)
    law = H.limit_law(w, n - 1, k / (n - 1), k)
    assert law["mean_p"] == pytest.approx(k / (n - 1), rel=1e-8)
    assert meas["antihub_occurrence"] == pytest.approx(law["antihub"], abs=0.03)
    assert meas["robinhood"] == pytest.approx(law["robinhood"], abs=0.03)


def test_w_estimate_matches_kurtosis():
    for dist, kappa in (("normal", 3.0), ("uniform", 1.8), ("laplace", 6.0)):
        X = H.synthetic(dist, 4000, 50, seed=1)
        w = H.estimate_w(H._Space(X, None, "euclidean"))
        assert w == pytest.approx(T.RANKING_KEY.predict("w_from_kurtosis", kappa=kappa), rel=0.15), dist
    w_rad = H.estimate_w(H._Space(H.synthetic("rademacher", 2000, 50, seed=1), None, "euclidean"))
    assert w_rad < 0.05


# -- engine -------------------------------------------------------------------------
@pytest.mark.parametrize("metric", H.METRICS)
@pytest.mark.parametrize("mode", ["self", "query"])
def test_knn_matches_explicit_counting(metric, mode):
    X = H.synthetic("normal", 257, 17, seed=3).numpy()
    Q = None if mode == "self" else H.synthetic("normal", 131, 17, seed=4).numpy() + 0.3
    ref = brute_knn(X, Q, k=6, metric=metric)
    for dtype in ("float32", "float64"):
        got = H.knn(X, Q, k=6, metric=metric, dtype=dtype, block=50)
        assert np.array_equal(np.sort(got.indices.numpy(), 1), np.sort(ref, 1)), dtype
    N = H.k_occurrence(X, Q, k=6, metric=metric, block=64)
    assert np.array_equal(N, np.bincount(ref.ravel(), minlength=len(X)))
    if mode == "self":
        assert N.sum() == 6 * len(X) and not np.any(ref == np.arange(len(X))[:, None])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(8, 40), d=st.integers(1, 6), k=st.integers(1, 6), block=st.integers(1, 17),
       levels=st.integers(2, 4), seed=st.integers(0, 10_000))
def test_knn_with_ties_and_duplicates_is_deterministic(n, d, k, block, levels, seed):
    """Coarse integer data: many exact ties and duplicate points; lower index wins."""
    k = min(k, n - 1)
    X = np.random.default_rng(seed).integers(0, levels, size=(n, d)).astype(np.float64)
    got = H.knn(X, k=k, block=block)
    # the top-k *set* is exact, ties at the k-th place going to the lower index
    assert np.array_equal(np.sort(got.indices.numpy(), 1), np.sort(brute_knn(X, k=k), 1))


def test_block_size_does_not_change_the_answer():
    X = H.synthetic("laplace", 300, 30, seed=5)
    a = H.k_occurrence(X, k=7, block=4096)
    b = H.k_occurrence(X, k=7, block=13)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("n,block", [(2500, 1024), (1030, 1024), (700, 300)])
def test_tile_pairs_cover_the_upper_triangle_exactly_once(n, block, split):
    """Diagonal blocks split into sub-tiles (block ≥ 1024) or whole: coverage must stay exact."""
    seen = np.zeros((n, n), dtype=np.int64)           # seen[i, j]: times row i meets column j
    for i0, i1, j0, j1 in H._pairs(n, n, block, True, split):
        assert i0 <= j0
        seen[i0:i1, j0:j1] += 1
        if i0 != j0:                                  # an off-diagonal tile serves both directions
            assert i1 <= j0
            seen[j0:j1, i0:i1] += 1
        else:
            assert i1 == j1
            assert split or i1 - i0 == min(block, n - i0)   # unsplit: the diagonal tile is the whole block
    assert (seen == 1).all()
    full = np.zeros((n, 7), dtype=np.int64)
    for i0, i1, j0, j1 in H._pairs(n, 7, block, False, split):
        full[i0:i1, j0:j1] += 1
    assert (full == 1).all()


@pytest.mark.parametrize("split", [True, False])
def test_diagonal_blocks_split_or_whole_match_brute_force(split):
    """n = 4096 with block 1280 (a short last block): diagonal sub-tiles of 320 (row and column updates) or
    whole diagonal tiles (the k-NN default). Small integers and n = 2¹², so the centre, the centred rows and
    every pass score are exact and ties are everywhere: the scan's top 5 per row must be the exact top-5
    values, each at a distinct index that has it; and the certified lists equal the float64 brute force
    (ties to the lower index)."""
    X = np.random.default_rng(7).integers(0, 4, size=(4096, 16)).astype(np.float64)
    X[100] = X[4000]                      # a duplicate pair across blocks
    sp = H._Space(torch.from_numpy(X), None, "euclidean")
    A, B = sp.augmented(torch.float64, "cpu")
    v, idx = H._scan(A, B, lambda G, *a: G, 5, True, 1280, False, "t", lambda S, *a: S, split_diagonal=split)
    sq = (X * X).sum(1)
    S = 2 * X @ X.T - sq[:, None] - sq[None, :]          # exact: small integers
    np.fill_diagonal(S, -np.inf)
    assert np.array_equal(np.sort(v.numpy(), 1), np.sort(S, 1)[:, -5:])
    assert np.array_equal(np.take_along_axis(S, idx.numpy(), 1), v.numpy())
    ii = np.sort(idx.numpy(), 1)
    assert (ii[:, 1:] != ii[:, :-1]).all()                # no index twice
    ref = np.argsort(-S, axis=1, kind="stable")[:, :5]     # ties to the lower index
    assert np.array_equal(np.sort(H.knn(X, k=5, block=1280).indices.numpy(), 1), np.sort(ref, 1))


def test_default_block_and_its_validation():
    assert H.default_block("cpu") == 2048
    X = H.synthetic("laplace", 400, 12, seed=2)
    a = H.knn(X, k=4)
    assert torch.equal(a.indices, H.knn(X, k=4, block=4096).indices)
    for bad in (0, -3, 2.5, "64"):
        with pytest.raises(InputError, match="block"):
            H.knn(X, k=4, block=bad)


def _col_hits_reference(S, thr):
    hit = (S > thr.unsqueeze(0)).T.nonzero()          # column-major: (column, row), rows ascending
    return hit[:, 1], hit[:, 0], S[hit[:, 1], hit[:, 0]]


@pytest.mark.parametrize("shape", [(64, 40), (16, 1), (48, 33), (256, 256)])
def test_col_hits_equal_the_comparison_mask(shape):
    """The column segments' hits = the entries above their column's threshold, grouped by column (rows
    ascending), including entries equal to it (dropped) and thresholds of ±inf."""
    from probes import knn as K
    g = torch.Generator().manual_seed(1)
    for p in (0.0, 0.02, 0.5, 1.0):
        S = torch.randint(0, 5, shape, generator=g).float()      # many ties with the thresholds
        thr = torch.quantile(S, 1 - p, dim=0) if p > 0 else torch.full((shape[1],), math.inf)
        if shape[1] > 2:
            thr[0], thr[1] = -math.inf, 4.0                      # every entry; none (max is 4)
        got, ref = K._col_hits(S, thr), _col_hits_reference(S, thr)
        for a, b in zip(got, ref):
            assert torch.equal(a, b), (shape, p)


@pytest.mark.parametrize("shape", [(64, 64), (40, 24), (33, 13), (1, 8)])
def test_sparse_nonzero_equals_nonzero(shape):
    g = torch.Generator().manual_seed(0)
    for p in (0.0, 0.01, 0.5, 1.0):
        m = torch.rand(shape, generator=g) < p
        assert torch.equal(H._sparse_nonzero(m), m.nonzero())
    assert torch.equal(H._sparse_nonzero(m.T), m.T.nonzero())   # non-contiguous: falls back


def test_key_translation_leaves_query_key_occurrence_unchanged():
    K = H.synthetic("normal", 200, 32, seed=1)
    Q = H.synthetic("normal", 150, 32, seed=2) + 0.5
    c = torch.linspace(-3, 3, 32, dtype=torch.float64)
    a = H.k_occurrence(K, Q, k=5, metric="dot", dtype="float64")
    assert np.array_equal(a, H.k_occurrence(K + c, Q, k=5, metric="dot", dtype="float64"))
    assert not np.array_equal(a, H.k_occurrence(K, Q + c, k=5, metric="dot", dtype="float64"))


# -- measures -----------------------------------------------------------------------
def test_measures_on_the_five_point_distance_matrix():
    """scikit-hubness's 5-point example, recounted with self excluded (k = 2)."""
    from scipy.spatial.distance import squareform

    D = squareform([.2, .1, .8, .4, .3, .5, .7, 1, .6, .9])
    np.fill_diagonal(D, np.inf)
    nn = np.argsort(D, axis=1, kind="stable")[:, :2]
    N = np.bincount(nn.ravel(), minlength=5)
    # by hand: rows' 2-NN are {2,1}, {0,2}, {0,1}, {1,0}, {0,2}
    assert N.tolist() == [4, 3, 3, 0, 0]
    m = H.measures(N)
    assert m["skewness"] == pytest.approx(skew(N))
    assert m["antihub_occurrence"] == pytest.approx(0.4)
    assert m["robinhood"] == pytest.approx(np.abs(N - 2).sum() / (2 * 10))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=2, max_size=80).filter(lambda v: sum(v) > 0))
def test_measures_agree_with_their_definitions(vals):
    N = np.array(vals, dtype=float)
    m = H.measures(N)
    if N.std() > 0:
        assert m["skewness"] == pytest.approx(skew(N), rel=1e-9, abs=1e-12)
    gini_naive = np.abs(N[:, None] - N[None, :]).sum() / (2 * len(N) ** 2 * N.mean())
    assert m["gini"] == pytest.approx(gini_naive, rel=1e-9, abs=1e-12)
    assert m["antihub_occurrence"] == pytest.approx((N == 0).mean())
    assert m["hub_occurrence"] == pytest.approx(N[N >= 2 * N.mean()].sum() / N.sum())


# -- probe --------------------------------------------------------------------------
def test_probe_verdicts_flip():
    hub = H.probe(H.synthetic("normal", 1500, 100, seed=0), k=10)
    null = H.probe(H.synthetic("rademacher", 1500, 100, seed=0), k=10)
    assert hub.verdict != "null-like" and null.verdict == "null-like"
    assert hub.centrality < -0.5
    assert (hub.theory["limit_plug_in_for_this_draw"]["antihub"] > hub.antihub_occurrence
            > hub.theory["null"]["antihub"])
    assert "limit" not in hub.theory and "w" not in hub.theory      # no w stated: no prediction at a w
    assert sum(hub.histogram) == 1500
    assert hub.clear_rows + hub.rescored_rows + hub.fallback_rows == 1500


def test_reductions_lower_skewness_on_gaussian_data():
    r = H.probe(H.synthetic("normal", 1500, 100, seed=2), k=10, reduce=("csls", "mp"), theory=False)
    for name in ("csls", "mp"):
        red = r.reductions[name]
        assert red["skewness_after"] < 0.7 * red["skewness_before"], name
        assert red["robinhood_after"] < r.robinhood, name


def test_reductions_in_query_mode_run_and_lower_hubness():
    K = H.synthetic("normal", 600, 64, seed=1)
    Q = H.synthetic("normal", 500, 64, seed=2) + 0.6
    r = H.probe(K, Q, k=5, metric="dot", reduce=("csls", "mp"), theory=False)
    assert r.mode == "query→key"
    for name in ("csls", "mp"):
        assert r.reductions[name]["robinhood_after"] < r.robinhood, name


# -- bad input ----------------------------------------------------------------------
def test_bad_inputs_raise_input_errors():
    X = np.random.default_rng(0).standard_normal((20, 4))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        H.probe(Xn, k=3)
    with pytest.raises(InputError, match="k = 20"):
        H.probe(X, k=20)
    with pytest.raises(InputError, match="d = 0"):
        H.probe(np.zeros((5, 0)), k=2)
    with pytest.raises(InputError, match="queries have d = 5"):
        H.probe(X, np.ones((3, 5)), k=2)
    with pytest.raises(InputError, match="zero norm"):
        H.probe(np.vstack([X, np.zeros((1, 4))]), k=2, metric="cosine")
    with pytest.raises(InputError, match="2-D"):
        H.probe(np.ones(7), k=2)
    with pytest.raises(InputError, match="metric"):
        H.probe(X, k=2, metric="manhattan")
    with pytest.raises(InputError, match="dtype"):
        H.probe(X, k=2, dtype="float16")
    assert issubclass(InputError, ValueError)


def test_loading_npy_and_safetensors(tmp_path):
    from safetensors.numpy import save_file

    X = np.random.default_rng(0).standard_normal((30, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    save_file({"emb": X, "other": X[:3]}, str(tmp_path / "x.safetensors"))
    assert torch.equal(H.load_matrix(tmp_path / "x.npy"), torch.from_numpy(X))
    assert torch.equal(H.load_matrix(tmp_path / "x.safetensors", "emb"), torch.from_numpy(X))
    with pytest.raises(InputError, match="--key"):
        H.load_matrix(tmp_path / "x.safetensors")
    with pytest.raises(InputError, match="not in"):
        H.load_matrix(tmp_path / "x.safetensors", "nope")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickle"):
        H.load_matrix(tmp_path / "obj.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="unsupported"):
        H.load_matrix(tmp_path / "x.txt")


# -- CLI ----------------------------------------------------------------------------
def _cli(monkeypatch, argv):
    import probes.cli as cli

    return cli.main(argv)


def test_cli_json_plot_and_errors(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from safetensors.numpy import save_file

    X = H.synthetic("normal", 400, 48, seed=0).numpy().astype(np.float32)
    save_file({"emb": X}, str(tmp_path / "emb.safetensors"))
    png = tmp_path / "h.png"
    code = _cli(monkeypatch, ["hubness", str(tmp_path / "emb.safetensors"), "-k", "10", "--metric", "cosine",
                              "--json", "--quiet", "--plot", str(png)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("n", "d", "k", "metric", "skewness", "antihub_occurrence", "hub_occurrence", "robinhood", "theory"):
        assert key in out
    assert (out["n"], out["d"], out["k"], out["metric"]) == (400, 48, 10, "cosine")
    assert "w_plug_in_for_this_draw" in out["theory"] and "limit" not in out["theory"]
    code = _cli(monkeypatch, ["hubness", str(tmp_path / "emb.safetensors"), "-k", "10", "--w", "0.0", "--json",
                              "--quiet"])
    assert code == 0 and json.loads(capsys.readouterr().out)["theory"]["limit"]["w"] == 0.0
    assert png.stat().st_size > 1000
    code = _cli(monkeypatch, ["hubness", str(tmp_path / "emb.safetensors"), "-k", "400", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("attnprobe: error: k = 400") and len(err.strip().splitlines()) == 1


def test_data_far_from_the_origin_stays_exact():
    """The pass centres the data; the float64 re-score and its bound cover the offset."""
    X = H.synthetic("normal", 400, 64, seed=9).numpy() + 1000.0
    ref = np.sort(brute_knn(X, k=10), 1)
    for dtype in ("float32", "float64"):
        assert np.array_equal(np.sort(H.knn(X, k=10, dtype=dtype).indices.numpy(), 1), ref), dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    X = H.synthetic("normal", 3000, 128, seed=4)
    assert np.array_equal(H.k_occurrence(X, k=10, device="cuda"), H.k_occurrence(X, k=10, device="cpu"))


def test_euclidean_data_approach_the_limit_law_from_below():
    """For ℓ2 on i.i.d. normal data the law (at the population w = √(κ−1)/2 = 1/√2) is an asymptote:
    antihubs grow with d, below it."""
    w = T.RANKING_KEY.predict("w_from_kurtosis", kappa=3)
    a = {d: H.probe(H.synthetic("normal", 1500, d, seed=0), k=10, w=w) for d in (10, 100)}
    assert a[100].theory["w"] == w and abs(a[100].theory["w_plug_in_for_this_draw"] - w) < 0.1
    assert a[10].antihub_occurrence < a[100].antihub_occurrence < a[100].theory["limit"]["antihub"]
    assert a[10].robinhood < a[100].robinhood < a[100].theory["limit"]["robinhood"]


# -- the verdict threshold and the null in query→key mode ----------------------------------------
def test_skewness_threshold_is_twice_the_null_skewness():
    """1/√k is the null's skewness itself (a null draw exceeds it about half the time); the verdict
    threshold is twice it, 2(1−2q)/√(mq(1−q)) → 2/√k (theory hubness-null-model)."""
    m, k = 99_999, 10
    nul = H.null_law(m, k / m)
    assert nul["skewness"] == pytest.approx(1 / math.sqrt(k), rel=1e-3)
    assert nul["skewness_hub_threshold"] == pytest.approx(2 * nul["skewness"], rel=1e-12)
    assert nul["skewness_hub_threshold"] == pytest.approx(2 / math.sqrt(k), rel=1e-3)
    # Rademacher ℓ2 (w = 0) draws sit near the null's S, below the threshold; normal data above it
    for dist, verdict in (("rademacher", "null-like"), ("normal", "hubness")):
        r = H.probe(H.synthetic(dist, 1500, 100, seed=3), k=10, theory=False)
        assert r.verdict == verdict, (dist, r.skewness, r.theory["null"])


def test_robin_hood_with_a_fractional_centre_matches_the_binomial():
    """n_q ≠ n_k: N̄ = k n_q / n_k is not an integer; the Robin Hood integral still holds."""
    from fractions import Fraction

    from scipy.stats import binom

    m, nk, k = 500, 333, 7
    q = k / nk
    centre = Fraction(k * m, nk)
    j = np.arange(m + 1)
    mad = float((np.abs(j - float(centre)) * binom.pmf(j, m, q)).sum())
    assert H.null_law(m, q, centre)["robinhood"] == pytest.approx(mad / (2 * float(centre)), rel=1e-8)


def test_centred_queries_read_null_like_when_there_are_more_queries_than_keys():
    g = torch.Generator().manual_seed(0)
    K = torch.randn(700, 128, generator=g, dtype=torch.float64)
    K = K / K.norm(dim=1, keepdim=True)
    Q = torch.randn(1500, 128, generator=g, dtype=torch.float64)
    r = H.probe(K, Q, k=5, metric="dot")
    assert r.theory["centre"] == pytest.approx(5 * 1500 / 700) and r.theory["null"]["robinhood"] > 0
    assert r.verdict == "null-like"
    mu = torch.randn(128, generator=g, dtype=torch.float64)
    u = H.probe(K, Q + mu / mu.norm() * 0.8 * 128 ** 0.5, k=5, metric="dot", w=0.8)
    assert u.verdict != "null-like" and u.theory["limit"]["w"] == 0.8


def test_stated_w_needs_theory():
    X = H.synthetic("normal", 50, 4, seed=0)
    with pytest.raises(InputError, match="w = "):
        H.probe(X, k=3, w=0.5, theory=False)
    with pytest.raises(InputError, match="w = "):
        H.probe(X, k=3, w=float("nan"))


# -- no verdict from non-finite numbers ----------------------------------------------------------
def test_overflowing_data_diverge_with_the_subject_named():
    X = H.synthetic("normal", 200, 16, seed=1)
    with pytest.raises(Diverged, match="emb: squared norms"):
        H.probe(X * 1e160, k=5, subject="emb")             # finite input, squares overflow float64


def test_float32_pass_overflow_diverges_and_float64_is_exact():
    X = H.synthetic("normal", 300, 16, seed=2)
    with pytest.raises(Diverged, match=r"k-NN pass scores \(float32\)"):
        H.k_occurrence(X * 1e19, k=5, dtype="float32")
    # rankings are scale-invariant: in float64 the scaled data give the same k-occurrence
    assert np.array_equal(H.k_occurrence(X * 1e19, k=5, dtype="float64"), H.k_occurrence(X, k=5, dtype="float64"))


def test_cli_reports_divergence_in_one_line(tmp_path, capsys):
    np.save(tmp_path / "big.npy", H.synthetic("normal", 100, 8, seed=0).numpy() * 1e160)
    import probes.cli as cli

    assert cli.main(["hubness", str(tmp_path / "big.npy"), "-k", "5", "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "big.npy" in err[0] and "not finite" in err[0]


@pytest.mark.parametrize("n", [2, 10, 50])
def test_k_equal_to_n_minus_one_is_a_clear_error(n):
    X = np.random.default_rng(0).standard_normal((n, 5))
    with pytest.raises(InputError, match="no spread"):
        H.probe(X, k=n - 1)


def test_edge_sizes_give_an_answer():
    r = H.probe(np.random.default_rng(0).standard_normal((3, 1)), k=1)   # n = 3, d = 1
    assert r.n == 3 and r.d == 1 and r.verdict in ("null-like", "near-limit", "hubness", "degenerate")


def test_identical_rows_are_degenerate_not_hubness():
    """200 identical rows: every list is a tie broken by index, so the 'hubs' are an artefact."""
    r = H.probe(np.ones((200, 4)), k=10)
    assert r.verdict == "degenerate" and r.tie_fraction == 1.0
    lattice = np.random.default_rng(0).integers(0, 3, (300, 2)).astype(float)
    assert H.probe(lattice, k=5).verdict == "degenerate"
    clean = H.probe(np.random.default_rng(0).standard_normal((300, 8)), k=10)
    assert clean.tie_fraction == 0.0 and clean.verdict != "degenerate" and not clean.notes
    # discrete distances (±1 coordinates) tie often but no point repeats: a note, not a verdict change
    rad = H.probe(H.synthetic("rademacher", 600, 50, seed=0), k=10)
    assert rad.tie_fraction > 0.05 and rad.duplicate_fraction == 0.0 and rad.verdict != "degenerate"
    assert "exact tie at the k-th place" in rad.notes[0]
