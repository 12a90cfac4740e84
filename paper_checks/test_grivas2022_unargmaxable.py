"""Grivas et al. 2022: unargmaxable tokens exist in low rank, are rare at realistic d; exact search vs the
reference tool's bounded box; the prevention bias; the invariances as metamorphic checks."""
from __future__ import annotations

import numpy as np

from paper_checks._unargmaxable_sources import GRIVAS2022
from paper_checks.claims import claim
from probes import unargmaxable as U
from theory import unargmaxable as T


def _changed(a, b) -> int:
    """How many ids are in one set and not the other."""
    return len(set(a) ^ set(b))


@claim("grivas2022-unargmaxable-low-rank-exists", GRIVAS2022,
       "A softmax layer with many more classes than dimensions has unargmaxable classes (V = 300 iid Gaussian "
       "rows in d = 3, with bias); with V <= d + 1 rows in general position it has none.", attribution="paper")
def test_low_rank_has_unargmaxable(claim):
    s = claim.seed(0)
    W, b = U.gaussian_head(300, 3, bias=True, seed=s)
    r = U.detect(W, b)
    claim.equal("every verdict certified (verify)", U.verify(r, W, b).ok, True)
    claim.greater("unargmaxable tokens, V=300, d=3", r.n_unargmaxable, 0.5)
    W2, b2 = U.gaussian_head(4, 3, bias=True, seed=s)
    claim.less("unargmaxable tokens, V=4 <= d+1", U.detect(W2, b2).n_unargmaxable, 0.5)  # a simplex: a theorem
    # premise broken: the same 300 classes at d = 32, no longer low rank (E count ≈ 0, not 0 by construction)
    W3, b3 = U.gaussian_head(300, 32, bias=True, seed=s)
    claim.control.less("unargmaxable tokens, V=300, d=32", U.detect(W3, b3).n_unargmaxable, 0.5,
                       inverts="unargmaxable tokens, V=300, d=3")


@claim("grivas2022-unargmaxable-rare-at-realistic-d", GRIVAS2022,
       "At realistic width (iid Gaussian head, V = 4000, d = 64, with and without bias) no class is unargmaxable; "
       "the same vocabulary squeezed to d = 3 has thousands.", attribution="paper")
def test_rare_at_realistic_d(claim):
    s = claim.seed(1)
    for bias in (False, True):
        W, b = U.gaussian_head(4000, 64, bias=bias, seed=s, dtype=np.float32)
        r = U.detect(W, b)
        claim.equal(f"certified (bias={bias})", r.certified, True)
        claim.less(f"unargmaxable tokens, d=64, bias={bias}", r.n_unargmaxable, 1)
    # premise broken: the same vocabulary squeezed to d = 3
    W, b = U.gaussian_head(4000, 3, bias=True, seed=s)
    claim.control.greater("unargmaxable tokens, d=3, bias=True", U.detect(W, b).n_unargmaxable, 1000,
                          inverts="unargmaxable tokens, d=64, bias=True")


@claim("grivas2022-unargmaxable-diamond", GRIVAS2022,
       "Four classes around a fifth (the diamond (1,2), (2,1), (1,0), (0,1) and (1,1)): without bias the centre "
       "class is unargmaxable and certified by a convex combination; moved outside, it is argmaxable.",
       attribution="derived")
def test_diamond(claim):
    D = np.array(T.DIAMOND_ROWS, float)
    r = U.detect(D)
    claim.equal("unargmaxable ids", list(r.unargmaxable), [4])
    claim.contains("unargmaxable ids include the centre (id 4)", r.unargmaxable, 4)
    idx, w = r.certificates.alpha[4]
    # deterministic: the certificate is exact up to float64 rounding
    claim.close("certificate residual ||sum a_i w_i - w_5||", float(np.abs(D[idx].T @ w - D[4]).max()), 0.0,
                atol=1e-12)
    # premise broken: the centre moved outside the hull of the others
    D2 = D.copy()
    D2[4] = (2.0, 2.0)
    claim.control.lacks("unargmaxable ids, centre moved to (2,2)", U.detect(D2).unargmaxable, 4,
                        inverts="unargmaxable ids include the centre (id 4)")


@claim("grivas2022-unargmaxable-box-search-not-scale-invariant", GRIVAS2022,
       "The exact detector's answer is invariant under b -> 1000 b; the reference tool's search over the box "
       "[-100, 100]^d is not (a class whose witnesses lie outside the box is reported bounded).",
       attribution="derived")
def test_box_breaks_under_bias_scaling(claim):
    s = claim.seed(2)
    W, b = U.gaussian_head(60, 2, bias=True, seed=s)
    exact = U.detect(W, b).unargmaxable
    claim.equal("ids changed under b -> 1000 b (exact search)", _changed(U.detect(W, 1000 * b).unargmaxable, exact), 0)
    box1, box1000 = U.box_detect(W, b, 100.0).unargmaxable, U.box_detect(W, 1000 * b, 100.0).unargmaxable
    claim.equal("ids where the box search disagrees with the exact one, scale 1", _changed(box1, exact), 0)
    # premise broken: the search bounded to the box [-100, 100]^d
    claim.control.not_equal("ids changed under b -> 1000 b (box search)", _changed(box1000, box1), 0,
                            inverts="ids changed under b -> 1000 b (exact search)")


@claim("grivas2022-unargmaxable-prevention-bias", GRIVAS2022,
       "A bias b = -||w||^2 / 2 (Appendix D's prevention) makes every distinct class argmaxable: the logits "
       "become -||x - w||^2/2 + const (Voronoi cells).", attribution="paper")
def test_prevention_bias(claim):
    s = claim.seed(3)
    W, _ = U.gaussian_head(500, 3, seed=s)
    claim.less("unargmaxable with b = -||w||^2/2", U.detect(W, -0.5 * (W ** 2).sum(1)).n_unargmaxable, 1)
    # premise broken: no bias
    claim.control.greater("unargmaxable with b = 0", U.detect(W).n_unargmaxable, 1,
                          inverts="unargmaxable with b = -||w||^2/2")


@claim("grivas2022-unargmaxable-invariances", GRIVAS2022,
       "The unargmaxable set is invariant under W -> W A, W -> W + 1c^T, b -> b + c, b -> b + W v, b -> 1000 b and "
       "(W, b) -> s (W, b) (metamorphic checks of the detector); b -> -b is not an invariance.",
       attribution="derived")
def test_invariances(claim):
    s = claim.seed(4)
    rng = np.random.default_rng(s)
    for d in (2, 6):
        W, b = U.gaussian_head(200, d, bias=True, seed=s + d)
        base = U.detect(W, b).unargmaxable
        A = rng.standard_normal((d, d)) + 3 * np.eye(d)
        c, v = rng.standard_normal(d), rng.standard_normal(d)
        for name, (W2, b2) in {"W A": (W @ A, b), "W + 1c": (W + c, b), "b + c": (W, b + 3.0),
                               "b + W v": (W, b + W @ v), "1000 b": (W, 1000 * b), "7 (W, b)": (7 * W, 7 * b)}.items():
            claim.equal(f"d={d}: ids changed under {name}", _changed(U.detect(W2, b2).unargmaxable, base), 0)
        # premise broken: a negative factor on b (positive scalings are invariances, −1 is not)
        claim.control.not_equal(f"d={d}: ids changed under b -> -b", _changed(U.detect(W, -b).unargmaxable, base), 0,
                                inverts=f"d={d}: ids changed under 1000 b")
