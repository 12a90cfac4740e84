"""Unit and property tests of theory/unargmaxable.py and probes/unargmaxable.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull

from probes import unargmaxable as U
from probes.cli import main
from probes.errors import Diverged, InputError
from theory import unargmaxable as T

DIAMOND = np.array(T.DIAMOND_ROWS, dtype=float)


def _oracle(W, b=None):
    """Independent oracle (qhull on the lifted points): tokens that are not (upper) hull vertices."""
    V = len(W)
    if b is None:
        verts = set(ConvexHull(W.copy()).vertices.tolist())
    else:
        hull = ConvexHull(np.hstack([W, b[:, None]]).copy())
        up = hull.equations[:, -2] > 1e-12
        verts = set(np.unique(hull.simplices[up]).tolist())
    return tuple(k for k in range(V) if k not in verts)


@pytest.mark.parametrize("d", T.DERIVATIONS, ids=lambda d: d.name)
def test_derivation_steps_check(d):
    assert all(s.ok for s in d.check())


def test_e2_n4_quadrature_matches_closed_form():
    assert U.expected_vertices(4, 2) == pytest.approx(T.GAUSSIAN.predict("e2_n4"), rel=1e-10)
    # the asymptotic formula is visibly off at small n (why the tests use quadrature)
    assert abs(T.GAUSSIAN.predict("renyi_sulanke_asymptotic", n=50) - U.expected_vertices(50, 2)) > 0.5


@pytest.mark.parametrize("n", [5, 12, 200])
def test_angle_formula_reproduces_the_facet_formulas(n):
    """Two independent quadratures: E_2 = E f_1 and E_3 = E f_2 / 2 + 2 (the Euler step's prediction)."""
    assert U.expected_vertices(n, 2) == pytest.approx(U.expected_facets(n, 2), rel=1e-9)
    e3 = T.GAUSSIAN.predict("vertices_d3_from_facets", F=U.expected_facets(n, 3))
    assert U.expected_vertices(n, 3) == pytest.approx(e3, rel=1e-9)
    assert U.expected_vertices(n, 1) == pytest.approx(2.0, rel=1e-9)   # gamma(0, n) = 1/n by quadrature


def test_vertex_prefactor_is_stable_at_vocabulary_size():
    pref = T.ANGLES.function("vertex_prefactor")
    assert float(pref(50257, 1)) == pytest.approx(50257 * 50256)
    assert math.isfinite(U.expected_vertices(50257, 2))


def test_expected_vertices_rejects_d5():
    with pytest.raises(ValueError, match="d <= 4"):
        U.expected_vertices(20, 5)


def test_e4_angle_formula_matches_qhull_monte_carlo():
    rng = np.random.default_rng(0)
    counts = [len(ConvexHull(rng.standard_normal((15, 4))).vertices) for _ in range(1500)]
    sem = np.std(counts) / np.sqrt(len(counts))
    assert abs(np.mean(counts) - U.expected_vertices(15, 4)) < 4 * sem
    # the d = 3 rule (simplicial 3-polytopes) does not carry over to d = 4
    assert abs(np.mean(counts) - T.GAUSSIAN.predict("vertices_d3_from_facets", F=U.expected_facets(15, 4))) > 4 * sem


def test_diamond_strict_and_bias_threshold():
    assert U.detect(DIAMOND).unargmaxable == (4,)
    thr = T.DIAMOND.predict("rescue_threshold", b1=0.3, b2=-0.2, b3=0.1, b4=0.4)
    for b5, expect in [(thr + 1e-3, ()), (thr - 1e-3, (4,)), (thr, (4,))]:
        b = np.array([0.3, -0.2, 0.1, 0.4, b5])
        for method in ("auto", "lp"):
            r = U.detect(DIAMOND, b, method=method)
            assert r.unargmaxable == expect, (b5, method)
            assert U.verify(r, DIAMOND, b).ok


def test_tie_tolerant_reading():
    b = np.array([1.0, 0.0, 1.0, 0.0, 1.0])  # token 5 ties with 1 and 3 at x = 0, beats 2 and 4
    assert U.detect(DIAMOND, b).unargmaxable == (4,)
    r = U.detect(DIAMOND, b, ties="tolerant")
    assert r.unargmaxable == () and U.verify(r, DIAMOND, b).ok
    assert U.detect(DIAMOND, ties="tolerant").unargmaxable == (4,)  # strictly interior: no reading rescues it


@pytest.mark.parametrize("d", [2, 6])
def test_duplicates_are_unargmaxable_and_certified(d):
    W, _ = U.gaussian_head(40, d, seed=3)
    a, c = [k for k in range(40) if k not in U.detect(W).unargmaxable][:2]
    W = np.vstack([W, W[[a, c]]])  # rows 40, 41 duplicate two argmaxable rows
    r = U.detect(W)
    assert {a, c, 40, 41} <= set(r.unargmaxable)
    assert r.certified and U.verify(r, W).ok
    rt = U.detect(W, ties="tolerant")  # a copy can tie for the max: argmaxable in the tolerant reading
    assert not ({a, c, 40, 41} & set(rt.unargmaxable)) and U.verify(rt, W).ok


def test_rank_deficient_matches_factor():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 2))
    W = A @ rng.standard_normal((2, 7))  # rank 2 in R^7
    r = U.detect(W)
    assert r.rank == 2 and r.unargmaxable == U.detect(A).unargmaxable == _oracle(A)
    assert U.verify(r, W).ok


@pytest.mark.parametrize("d,bias", [(2, False), (2, True), (3, False), (3, True)])
def test_low_d_matches_qhull_oracle_and_lp_route(d, bias):
    W, b = U.gaussian_head(80, d, bias=bias, seed=d + 10 * bias)
    r = U.detect(W, b)
    assert r.unargmaxable == _oracle(W, b)
    assert U.detect(W, b, method="lp").unargmaxable == r.unargmaxable
    assert U.verify(r, W, b).ok


def test_gemm_route_matches_qhull_oracle_in_d5():
    W, b = U.gaussian_head(120, 5, bias=False, seed=5)
    r = U.detect(W, b)
    assert r.method == "gemm" and r.unargmaxable == _oracle(W)
    v = U.verify(r, W, b)
    assert v.ok and v.n_alpha_checked == len(r.unargmaxable) and v.n_witness_checked == 120 - len(r.unargmaxable)


def _transforms(W, b, rng):
    V, d = W.shape
    A = rng.standard_normal((d, d)) + 3 * np.eye(d)
    c, v = rng.standard_normal(d), rng.standard_normal(d)
    return {"WA": (W @ A, b), "W+1c": (W + c, b), "b+c": (W, b + 2.5), "b+Wv": (W, b + W @ v),
            "1000b": (W, 1000 * b), "s(W,b)": (7 * W, 7 * b)}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), d=st.sampled_from([2, 5]))
def test_invariances_metamorphic(seed, d):
    W, b = U.gaussian_head(50, d, bias=True, seed=seed)
    base = U.detect(W, b).unargmaxable
    rng = np.random.default_rng(seed)
    for name, (W2, b2) in _transforms(W, b, rng).items():
        assert U.detect(W2, b2).unargmaxable == base, name
    perm = rng.permutation(50)  # new row i is old row perm[i]: labels are permuted, nothing else
    assert {int(perm[i]) for i in U.detect(W[perm], b[perm]).unargmaxable} == set(base)


def test_structural_facts():
    W, _ = U.gaussian_head(6, 5, seed=1)           # V <= d + 1: all argmaxable
    assert U.detect(W).unargmaxable == ()
    W, _ = U.gaussian_head(200, 2, seed=2)
    assert U.detect(W).n_unargmaxable > 150
    assert U.detect(W, -0.5 * (W ** 2).sum(1)).unargmaxable == ()   # Voronoi bias rescues every row
    b = np.zeros(200)
    b[17] = 1.0
    assert 17 not in U.detect(W, b).unargmaxable                    # unique argmax of b


def test_verify_rejects_tampered_certificates():
    W, b = U.gaussian_head(100, 2, bias=True, seed=4)
    r = U.detect(W, b)
    c = r.certificates
    k = r.unargmaxable[0]
    idx, w = c.alpha[k]
    c.alpha[k] = (idx, np.roll(w, 1))                                # wrong weights
    assert k in U.verify(r, W, b).failed
    c.alpha[k] = (idx, w)
    j = next(i for i in range(100) if c.kind[i] in (0, 1))
    c.explicit[j], c.kind[j] = np.zeros(2), 1                         # x = 0 is no witness here
    assert j in U.verify(r, W, b).failed


def test_box_search_breaks_under_bias_scaling():
    W, b = np.array([[0.0], [1.0]]), np.array([0.0, -1.0])           # token 1 wins only for x > -b_1
    assert U.box_detect(W, b, 100).unargmaxable == ()
    assert U.box_detect(W, 1000 * b, 100).unargmaxable == (1,)       # witness outside the box
    assert U.detect(W, 1000 * b).unargmaxable == ()


@pytest.mark.parametrize("bad,msg", [
    (dict(W=np.array([[np.nan, 1.0], [0.0, 1.0]])), "NaN"),
    (dict(W=np.ones((1, 3))), "vocab_size"),
    (dict(W=np.ones((3, 0))), "dim = 0"),
    (dict(W=np.ones((3, 2)), b=np.ones(4)), "bias"),
    (dict(W=np.ones((3, 2)), b=np.array([0, np.inf, 0])), "bias"),
    (dict(W=np.ones(3)), "2-D"),
])
def test_bad_input(bad, msg):
    with pytest.raises(InputError, match=msg):
        U.detect(bad["W"], bad.get("b"))


def test_files_and_cli(tmp_path, capsys):
    import torch

    from safetensors.numpy import save_file

    W, b = U.gaussian_head(30, 2, bias=True, seed=0)
    np.save(tmp_path / "w.npy", W)
    np.savez(tmp_path / "h.npz", weight=W, bias=b)
    save_file({"lm_head.weight": W.astype(np.float32), "lm_head.bias": b.astype(np.float32)},
              str(tmp_path / "h.safetensors"))
    torch.save({"weight": torch.from_numpy(W), "bias": torch.from_numpy(b)}, tmp_path / "h.pt")
    expect = U.detect(W, b).unargmaxable
    for f, wk, bk in [("h.npz", "weight", "bias"), ("h.safetensors", "lm_head.weight", "lm_head.bias"),
                      ("h.pt", "weight", "bias")]:
        assert main(["unargmaxable", str(tmp_path / f), "--weight-key", wk, "--bias-key", bk, "--json",
                     "--quiet"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert {"vocab_size", "dim", "has_bias", "unargmaxable", "n_unargmaxable", "certified", "seconds"} <= set(out)
        assert tuple(out["unargmaxable"]) == expect and out["certified"] and out["has_bias"]
    assert main(["unargmaxable", str(tmp_path / "w.npy"), "--quiet"]) == 0
    assert main(["unargmaxable", str(tmp_path / "h.npz"), "--weight-key", "nope", "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["unargmaxable", str(tmp_path / "h.npz"), "--weight-key", "weight", "--bias-key", "x"]) == 2
    assert main(["unargmaxable", str(tmp_path / "missing.npy")]) == 2
    from fractions import Fraction

    torch.save({"obj": Fraction(1, 3)}, tmp_path / "evil.pt")  # not loadable with weights_only=True
    assert main(["unargmaxable", str(tmp_path / "evil.pt")]) == 2
    assert "weights_only" in capsys.readouterr().err
    assert main(["unargmaxable", str(tmp_path / "h.npz"), "--weight-key", "weight", "--box", "100", "--json",
                 "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["certified"] is False


def test_trained_like_planted_rows_found_small():
    W, b, planted = U.trained_like_head(1500, 24, n_planted=4, seed=1)
    r = U.detect(W, b)
    assert set(planted.tolist()) <= set(r.unargmaxable) and r.certified
    assert U.verify(r, W, b).ok


# -- no verdict from non-finite numbers -------------------------------------------------------------------
def test_overflowing_weights_diverge_with_the_subject_named():
    W, _ = U.gaussian_head(40, 6, seed=0)
    with pytest.raises(Diverged, match="my-head: row covariance"):
        U.detect(W * 1e160, subject="my-head")            # finite input, squares overflow float64
    assert U.detect(W * 1e150).unargmaxable == U.detect(W).unargmaxable   # scale invariance below the limit


@pytest.mark.parametrize("d", [2, 6])
def test_verify_refuses_non_finite_certificates(d):
    W, b = U.gaussian_head(60, d, bias=True, seed=1)
    r = U.detect(W, b)
    c = r.certificates
    j = next(i for i in range(60) if c.kind[i] in (0, 1))
    keep = (c.kind[j], c.explicit.get(j))
    c.explicit[j], c.kind[j] = np.full(d, np.nan), 1         # a NaN witness: NaN <= bound is False, so
    with pytest.raises(Diverged, match="head: witness"):    # without the check it would pass verify
        U.verify(r, W, b)
    c.kind[j] = keep[0]
    if keep[1] is not None:
        c.explicit[j] = keep[1]
    if r.unargmaxable:
        k = r.unargmaxable[0]
        idx, w = c.alpha[k]
        c.alpha[k] = (idx, np.full_like(w, np.nan))
        with pytest.raises(Diverged, match=f"convex-combination weights of token {k}"):
            U.verify(r, W, b)


def test_non_finite_lp_solution_diverges(monkeypatch):
    import scipy.optimize

    real = scipy.optimize.linprog

    def nan_linprog(*args, **kwargs):
        res = real(*args, **kwargs)
        res.x = np.full_like(res.x, np.nan)
        return res

    monkeypatch.setattr(scipy.optimize, "linprog", nan_linprog)
    monkeypatch.setattr(U, "_nnls_colgen", lambda *a, **k: None)  # the LP fallback is what is tested here
    W, _ = U.gaussian_head(50, 3, seed=2)
    with pytest.raises(Diverged, match="LP solution for token"):
        U.detect(W, method="lp", patience=0)


def test_non_finite_nnls_solution_diverges(monkeypatch):
    import scipy.optimize

    real = scipy.optimize.nnls

    def nan_nnls(*args, **kwargs):
        a, rn = real(*args, **kwargs)
        return np.full_like(a, np.nan), rn

    monkeypatch.setattr(scipy.optimize, "nnls", nan_nnls)
    W, _ = U.gaussian_head(50, 3, seed=2)
    with pytest.raises(Diverged, match="NNLS solution for token"):
        U.detect(W, method="lp", patience=0)


@pytest.mark.parametrize("bias", [False, True])
def test_hard_tokens_by_nnls_column_generation(bias, monkeypatch):
    """Planted interior rows (and, with a bias, rows the bias may rescue) are settled by the NNLS column
    generation, with no LP; every certificate verifies, and the planted rows are found."""
    W, b, planted = U.trained_like_head(1200, 12, n_planted=8, bias=bias, seed=5, rescued=4 if bias else 0)
    monkeypatch.setattr(U, "_absorb_batch", lambda *a, **k: {})  # the fast paths off: NNLS is tested here
    monkeypatch.setattr(U, "_rival_absorb", lambda *a, **k: None)
    monkeypatch.setattr(U, "_ldp_witness", lambda *a, **k: None)
    monkeypatch.setattr(U, "_ldp_batch", lambda *a, **k: {})
    r = U.detect(W, b, seed=0)
    assert r.certified and U.verify(r, W, b).ok
    assert set(planted.tolist()) <= set(r.unargmaxable)
    assert r.stages["nnls"] >= len(planted) and r.stages["lp_solves"] == 0, r.stages
    # the constraint-generation LP alone (the column generation switched off) finds the same set
    monkeypatch.setattr(U, "_nnls_colgen", lambda *a, **k: None)
    r_lp = U.detect(W, b, seed=0)
    assert r_lp.certified and r_lp.stages["nnls"] == 0 and r_lp.unargmaxable == r.unargmaxable


def test_cli_reports_divergence_in_one_line(tmp_path, capsys):
    W, _ = U.gaussian_head(30, 4, seed=0)
    np.save(tmp_path / "big.npy", W * 1e160)
    assert main(["unargmaxable", str(tmp_path / "big.npy"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "big.npy" in err[0] and "not finite" in err[0]


def test_count_verdict_uses_a_finite_rule():
    r = U.expected_count(4, 3, bias=False, trials=3, seed=0)     # V <= d + 1: every trial gives 4
    assert r.sem == 0 and r.z_score is None and r.expected == 4 and r.verdict == "agrees"


# -- the hard-token fast paths: rivals + deep set, least-distance witness ---------------------------------------
@pytest.mark.parametrize("bias", [False, True])
def test_hard_tokens_by_rivals_and_the_deep_set(bias, monkeypatch):
    """Planted interior rows get their alpha from the rival NNLS + deep-set weights (batched, else per token; no
    Lawson-Hanson on the whole problem, no LP); with a bias the rescued rows get a least-distance witness. Every certificate
    verifies, and switching both fast paths off (NNLS column generation and the LP decide) gives the same set."""
    W, b, planted = U.trained_like_head(4000, 24, n_planted=12, bias=bias, seed=3, rescued=6 if bias else 0)
    r = U.detect(W, b, seed=0)
    assert r.certified and U.verify(r, W, b).ok
    assert set(planted.tolist()) <= set(r.unargmaxable)
    assert r.stages["absorb"] >= len(planted) and r.stages["lp_solves"] == 0, r.stages
    if bias:
        assert r.stages["ldp"] >= 1, r.stages
    monkeypatch.setattr(U, "_absorb_batch", lambda *a, **k: {})
    monkeypatch.setattr(U, "_rival_absorb", lambda *a, **k: None)
    monkeypatch.setattr(U, "_ldp_witness", lambda *a, **k: None)
    monkeypatch.setattr(U, "_ldp_batch", lambda *a, **k: {})
    r_slow = U.detect(W, b, seed=0)
    assert r_slow.certified and r_slow.stages["absorb"] == r_slow.stages["ldp"] == 0
    assert r_slow.unargmaxable == r.unargmaxable


def _whitened(W):
    Z, T, _ = U._whiten(np.asarray(W, np.float64))
    return Z, T


def test_rival_absorb_alpha_is_exact_also_when_the_token_is_in_the_deep_set():
    """V <= 8r: every row is in the deep set, so each token's own column is removed from the shared factor
    (Sherman-Morrison). The alpha must leave the token out and reproduce w_k to rounding, in W's coordinates."""
    W, _, planted = U.trained_like_head(90, 12, n_planted=6, seed=1)
    W = W.astype(np.float64)
    Z, T = _whitened(W)
    deep = U._deep_set(Z)
    assert deep is not None and len(deep.rows) == len(W)
    tops = U._top_rivals(Z, planted, U._n_rivals(Z.shape[1]))
    n_ok = 0
    for k, top in zip(planted.tolist(), tops):
        got = U._rival_absorb(k, Z, None, deep, top)
        if got is None:
            continue
        idx, w = got
        assert k not in set(idx.tolist()) and w.min() >= 0 and abs(w.sum() - 1) < 1e-12
        scale = np.abs(W - W.mean(0)).max()
        assert np.abs(W[idx].T @ w - W[k]).max() <= 1e-12 * scale
        n_ok += 1
    assert n_ok >= len(planted) // 2, f"only {n_ok} of {len(planted)} planted rows absorbed"


def test_rival_absorb_gives_nothing_for_a_hull_vertex():
    """Negative control: a row that is a vertex (the largest-norm row of a Gaussian cloud, argmaxable by its own
    direction) has no convex combination, so the fast path must return None, not an approximate alpha."""
    W, _ = U.gaussian_head(3000, 16, seed=4)
    W = np.asarray(W, np.float64)
    Z, T = _whitened(W)
    deep = U._deep_set(Z)
    ks = np.argsort(-np.linalg.norm(Z, axis=1))[:5]
    tops = U._top_rivals(Z, ks, U._n_rivals(Z.shape[1]))
    for k, top in zip(ks.tolist(), tops):
        assert U._rival_absorb(k, Z, None, deep, top) is None
        # and the same token moved to the centroid of its rivals is absorbed (the premise restored)
    k = int(ks[0])
    W2 = W.copy()
    W2[k] = W[tops[0][:3]].mean(0) * 0.8 + W.mean(0) * 0.2
    Z2, _ = _whitened(W2)
    deep2 = U._deep_set(Z2)
    got = U._rival_absorb(k, Z2, None, deep2, U._top_rivals(Z2, [k], U._n_rivals(Z2.shape[1]))[0])
    assert got is not None


def test_deep_newton_matches_the_target_moment_with_positive_weights():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((2000, 8))
    deep = U._deep_set(Z)
    target = deep.c + 0.3 * rng.standard_normal(8) / np.sqrt(8)
    p, _ = U._deep_newton(deep, target, np.array([], np.int64), 1e-12)
    assert p is not None and p.min() > 0 and abs(p.sum() - 1) < 1e-12
    assert np.abs(p @ deep.ZR - target).max() < 1e-10
    # a target outside the deep set's hull has no such weights: no convergence, no p
    far = deep.c + 100.0 * np.ones(8)
    p_far, _ = U._deep_newton(deep, far, np.array([], np.int64), 1e-12)
    assert p_far is None


def test_ldp_witness_for_a_bias_rescued_token_is_a_proven_witness():
    """A planted interior row given nearly the top bias (one row above it) is rescued by it: the least-distance
    witness must beat every row in float64 on (W, b). Control: the same row with the lowest bias (its
    premise, a high bias, broken) is unargmaxable, and the least-distance search must find nothing."""
    W, b, planted = U.trained_like_head(3000, 16, n_planted=4, bias=True, seed=2)
    W, b = W.astype(np.float64), b.astype(np.float64)
    Z, T = _whitened(W)
    k = int(planted[0])
    top = U._top_rivals(Z, [k], U._n_rivals(Z.shape[1]))[0]
    lifted = b.copy()
    lifted[k] = np.sort(b)[-2] + 1e-3
    y = U._ldp_witness(k, Z, lifted - lifted.max(), top)
    assert y is not None
    logits = W @ (T @ y) + lifted
    assert logits[k] > np.delete(logits, k).max()
    assert U._ldp_witness(k, Z, b - b.max(), top) is None


def test_ldp_batch_agrees_with_the_per_token_least_distance_witness():
    """The lockstep batch (one GEMM per round for every token's check, one screened product for the acceptance)
    proves the same tokens as :func:`_ldp_witness` + :func:`_accept_witness` one at a time, with the same
    witnesses up to rounding, each a proven witness on (W, b). Control: with every token given the lowest bias
    (the premise, a bias that rescues them, broken) neither path proves any."""
    W, b, planted = U.trained_like_head(3000, 16, n_planted=8, bias=True, seed=2)
    W64, b64 = W.astype(np.float64), b.astype(np.float64)
    Z, T = _whitened(W64)
    ks = [int(k) for k in planted]
    lifted = b64.copy()
    top_b = np.sort(b64)[-2]
    for i, k in enumerate(ks):
        lifted[k] = top_b + 1e-3 * (i + 1) if i % 2 == 0 else b64.min() - 1.0   # half rescued, half not
    bb = lifted - lifted.max()
    tops = U._top_rivals(Z, np.asarray(ks), U._n_rivals(Z.shape[1]))
    one = {}
    for k, top in zip(ks, tops):
        y = U._ldp_witness(k, Z, bb, top)
        x = None if y is None else U._accept_witness(W, lifted, T, k, y, "ldp", "head")
        if x is not None:
            one[k] = x
    got = U._ldp_batch(ks, W, lifted, Z, bb, T, list(tops), {}, "head")
    assert set(got) == set(one) and len(got) >= 2, (sorted(got), sorted(one))
    for k, x in got.items():
        assert np.allclose(x, one[k], rtol=1e-9, atol=1e-12)
        logits = W64 @ x + lifted
        assert logits[k] > np.delete(logits, k).max()
    low = b64.copy()
    low[ks] = b64.min() - 1.0
    assert U._ldp_batch(ks, W, low, Z, low - low.max(), T, list(tops), {}, "head") == {}


def test_batched_deep_newton_agrees_with_the_per_token_one():
    """The batched float32 L-BFGS (:func:`_deep_newton_batch`) must reach the same moments as the per-token
    solver for reachable targets, and give None for a target outside the deep set's hull."""
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((3000, 10))
    deep = U._deep_set(Z)
    targets = deep.c + 0.3 * rng.standard_normal((6, 10)) / np.sqrt(10)
    targets[-1] = deep.c + 50.0
    drops = [np.array([], np.int64)] * 5 + [np.array([0], np.int64)]
    ps = U._deep_newton_batch(deep, targets, drops, 1e-4)
    assert ps[-1] is None
    for t, p in zip(targets[:-1], ps[:-1]):
        assert p is not None and p.min() > 0 and abs(p.sum() - 1) < 1e-9
        assert np.linalg.norm(p @ deep.ZR - t) < 1e-3


@pytest.mark.parametrize("bias", [False, True])
def test_float32_weights_are_kept_and_give_the_verdicts_of_their_float64_values(bias):
    """detect() keeps a float32 W as it is (no float64 copy of the head) and promotes it by row chunks in
    every float64 stage: the same tokens, every certificate valid on the float64 values, and the caller's
    array untouched."""
    W, b, planted = U.trained_like_head(3000, 24, n_planted=12, bias=bias, seed=3, dtype=np.float32,
                                        rescued=6 if bias else 0)
    assert W.dtype == np.float32
    assert U._check_input(W, None, keep32=True)[0] is W
    assert U._check_input(W, None)[0].dtype == np.float64
    before = W.copy()
    r32 = U.detect(W, b, seed=0)
    r64 = U.detect(W.astype(np.float64), b, seed=0)
    assert np.array_equal(W, before)
    assert r32.certified and r64.certified
    assert r32.unargmaxable == r64.unargmaxable, (r32.unargmaxable, r64.unargmaxable)
    if not bias:
        assert set(planted.tolist()) <= set(r32.unargmaxable)
    assert U.verify(r32, W.astype(np.float64), b).ok


def test_single_witness_screen_decides_near_ties_in_float64():
    """One witness at a time (the hard-token stages): the float32 screen leaves the near rows to float64
    logits, so a witness a hair inside k's cell is proven (margin = the float64 one up to its rounding bound)
    and, control, the same hair outside it (the rival wins) is not; a far witness is proven by the screen."""
    rng = np.random.default_rng(6)
    W = rng.standard_normal((3000, 16)).astype(np.float32)
    W64 = W.astype(np.float64)
    wabs = np.abs(W64).sum(1).max()
    for k in rng.choice(3000, 8, replace=False):
        x = 3.0 * W64[k]
        L = W64 @ x
        L[k] = -np.inf
        if L.max() >= (W64 @ x)[k]:
            continue                      # not a hull vertex along its own direction
        assert U._witness_margin(W, None, int(k), x) > 0
        j = int(L.argmax())
        dv = W64[k] - W64[j]
        xb = x - ((dv @ x) / (dv @ dv)) * dv            # on the bisector of k and its nearest rival
        bound64 = 4 * 18 * 2.0 ** -53 * wabs * np.abs(xb).max()
        for sign in (1.0, -1.0):
            xs = xb + sign * 1e-9 * dv
            m32, m64 = U._witness_margin(W, None, int(k), xs), U._witness_margin(W64, None, int(k), xs)
            assert (m32 > 0) == (m64 > 0) == (sign > 0), (sign, m32, m64)
            assert abs(m32 - m64) <= bound64, (m32, m64, bound64)


def test_float32_witness_screen_proves_only_true_witnesses_and_defers_the_close_ones():
    """The float32 screen of witness margins (a float32 W) proves a witness only above its rounding bound:
    every margin it reports positive is positive in exact float64 arithmetic, it agrees with the float64
    margins' signs, and a witness whose float64 margin is below the float32 bound (a near-tie) is not lost:
    the float64 product decides it. Control: x = 0 (every logit tied) is never a witness."""
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3000, 16)).astype(np.float32)
    W64 = W.astype(np.float64)
    ks = rng.choice(3000, 40, replace=False)
    X = W64[ks].T * 3.0  # each row's own direction: a witness for a hull vertex
    # near-ties: x on the bisector of k and its nearest rival, pushed by a hair towards k
    k2 = ks[:10]
    L = W64[k2] @ W64.T
    L[np.arange(10), k2] = -np.inf
    j = L.argmax(axis=1)
    Xn = X[:, :10].copy()
    for c in range(10):
        dv = W64[k2[c]] - W64[j[c]]
        Xn[:, c] -= ((dv @ Xn[:, c]) / (dv @ dv)) * dv
        Xn[:, c] += 1e-9 * dv
    ks_all, X_all = np.concatenate([ks, k2]), np.hstack([X, Xn])
    m32 = U._witness_margins(W, None, ks_all, X_all)
    m64 = U._witness_margins(W64, None, ks_all, X_all)
    assert np.array_equal(m32 > 0, m64 > 0), (m32, m64)
    own = (W64 @ X_all)[ks_all, np.arange(len(ks_all))]
    Lg = W64 @ X_all
    Lg[ks_all, np.arange(len(ks_all))] = -np.inf
    assert np.all((own - Lg.max(axis=0))[m32 > 0] > 0)
    assert (m64 > 0).sum() >= 30  # most own directions are witnesses (the premise of the check)
    # the screen itself proved the far witnesses (its bound is the larger: m32 < m64), and the near-ties were
    # decided by float64 logits (m32 = m64 up to the float64 rounding bound, far below the float32 one; only the
    # rows the screen leaves near get them, so the summation order may differ from the full product's): neither
    # path is bypassed
    far, near = np.arange(40)[m64[:40] > 0], 40 + np.arange(10)
    assert np.all(m32[far] < m64[far]), (m32[far], m64[far])
    u, wabs = 2.0 ** -53, np.abs(W64).sum(1).max()
    bound64 = 4 * 18 * u * wabs * np.abs(X_all[:, near]).max(axis=0)
    e32 = wabs * 16 * 2.0 ** -24 * np.abs(X_all[:, near]).max(axis=0)
    assert np.all(np.abs(m32[near] - m64[near]) <= bound64), (m32[near] - m64[near], bound64)
    assert np.all(bound64 < e32 / 1000)
    z = U._witness_margins(W, None, ks[:5], np.zeros((16, 5)))
    assert np.all(z <= 0)
