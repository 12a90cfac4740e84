"""Meta-tests of the int8 screen of the self-witness pass (probes/witness_screen.py): its maxima are upper
bounds of the exact ones (and the residual terms are what makes them so), the float32 re-check excludes the
diagonal at every tile boundary, and detect() gives the same verdicts with and without the screen."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probes import unargmaxable as U
from probes import witness_screen as ws
from probes.errors import InputError

pytestmark = pytest.mark.skipif(not ws.available("cpu"), reason="torch has no CPU int8 product here")


def _rows(kind: str, V: int, r: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        Y = rng.standard_normal((V, r))
    elif kind == "heavy":  # log-normal row norms and a few large coordinates, as in trained heads
        Y = rng.standard_normal((V, r)) * np.exp(rng.normal(0, 1, V))[:, None]
        Y[rng.integers(0, V, 20), rng.integers(0, r, 20)] *= 30
    elif kind == "integer":  # exactly representable codes: the residuals vanish, the float64 slack decides
        Y = rng.integers(-127, 128, (V, r)).astype(float)
    elif kind == "ties":  # duplicate rows and a zero row
        Y = rng.standard_normal((V, r))
        Y[1] = Y[0]
        Y[5] = 0
        Y[V - 1] = Y[V // 2]
    return Y.astype(np.float32)


def _exact_max(Y32: np.ndarray) -> np.ndarray:
    Y = Y32.astype(np.float64)
    G = Y @ Y.T
    np.fill_diagonal(G, -np.inf)
    return G.max(axis=1)


@pytest.mark.parametrize("kind", ["gaussian", "heavy", "integer", "ties"])
@pytest.mark.parametrize("V, block", [(700, 64), (257, 16), (130, 128)])
def test_screen_maxima_bound_the_exact_maxima(kind, V, block):
    Y = _rows(kind, V, 24, seed=V + block)
    yn = np.linalg.norm(Y.astype(np.float64), axis=1)
    U_ = ws.screen_maxima(torch.from_numpy(Y), yn, block=block, tile_blocks=3)
    exact = _exact_max(Y)
    gap = U_ - exact
    assert np.all(gap >= 0), f"screen below the exact maximum at rows {np.flatnonzero(gap < 0)[:5]}: {gap.min():.3g}"
    # and not vacuous: q_i.q_k s_I s_J is within the residual terms of y_i.y_k, so the gap is at most twice
    # the largest residual terms (a wrong scale or a block maximum over the wrong rows breaks this)
    perm, _, _, ynp, rn, tn = ws._quantize(torch.from_numpy(Y), yn, block)
    rk, tk, yk = (np.empty(V) for _ in range(3))
    rk[perm], tk[perm], yk[perm] = rn, tn, ynp
    limit = 2 * (ynp.max() * rk + rn.max() * tk + yk * rn.max() + rk * tn.max()) + 1e-9 * (1 + yn ** 2)
    assert np.all(gap <= limit), f"screen looser than its terms allow: max gap/limit {np.max(gap / limit):.3g}"

def test_the_residual_terms_are_needed():
    """Control: the bare quantised product s_I s_J q_i.q_k falls below the exact maximum for some rows — the
    bound of the main test holds because of the residual terms, not by luck."""
    Y = _rows("heavy", 700, 24, seed=1)
    yn = np.linalg.norm(Y.astype(np.float64), axis=1)
    perm, Q, s, *_ = ws._quantize(torch.from_numpy(Y), yn, 64)
    Yq = np.empty_like(Y, dtype=np.float64)
    Yq[perm] = Q.numpy().astype(np.float64) * np.repeat(s, 64)[:len(Y)][:, None]
    Gq = Yq @ Yq.T
    np.fill_diagonal(Gq, -np.inf)
    assert np.any(Gq.max(axis=1) < _exact_max(Y)), "the quantised product alone already bounds every maximum"


def test_quantisation_is_exact_and_in_range():
    Y = _rows("heavy", 300, 16, seed=2)
    yn = np.linalg.norm(Y.astype(np.float64), axis=1)
    perm, Q, s, ynp, rn, tn = ws._quantize(torch.from_numpy(Y), yn, 32)
    q = Q.numpy().astype(np.float64)
    assert np.abs(q).max() <= ws.QMAX and np.all(np.log2(s) == np.round(np.log2(s)))
    sc = np.repeat(s, 32)[:300][:, None]
    R = Y[perm].astype(np.float64) - q * sc
    assert np.all(np.abs(R) <= sc / 2)                                   # round to nearest
    assert np.all(np.linalg.norm(R, axis=1) <= rn) and np.all(np.linalg.norm(q * sc, axis=1) <= tn)


@pytest.mark.parametrize("cw", [7, 64, 4096])
def test_exact_maxima_exclude_the_diagonal_at_tile_edges(cw):
    Y = _rows("ties", 200, 12, seed=3)
    rows = np.array([0, 1, 6, 63, 64, 127, 199])
    got = ws.exact_maxima(torch.from_numpy(Y), rows, chunk=3, cw=cw).double().numpy()
    ref = _exact_max(Y)[rows]
    assert np.allclose(got, ref, rtol=1e-5, atol=1e-4), (got, ref)
    assert got[0] == pytest.approx(float(Y[0].astype(np.float64) @ Y[0]), rel=1e-5)  # row 1 duplicates row 0


@pytest.mark.parametrize("bias", [False, True])
def test_detect_verdicts_do_not_depend_on_the_screen(bias):
    W, b, planted = U.trained_like_head(2500, 40, n_planted=8, bias=bias, seed=4, rescued=4 if bias else 0)
    on = U.detect(W, b, screen="int8", block=256)
    off = U.detect(W, b, screen="none", block=256)
    assert on.certified and off.certified and on.unargmaxable == off.unargmaxable
    assert 0 < on.stages["screen_rechecked"] < 2500 and off.stages["screen_rechecked"] == 0
    assert U.verify(on, W, b).ok


def test_screen_argument_errors():
    W, _ = U.gaussian_head(200, 8, seed=0)
    with pytest.raises(InputError, match="screen="):
        U.detect(W, screen="int4")
    with pytest.raises(InputError, match="float32"):
        U.detect(W, screen="int8", dtype="float64")
