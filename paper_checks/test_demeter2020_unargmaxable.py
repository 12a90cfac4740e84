"""Demeter et al. 2020, Theorem 1: without bias, a word embedded inside the convex hull can never be the argmax."""
from __future__ import annotations

import numpy as np

from paper_checks._unargmaxable_sources import DEMETER2020
from paper_checks.claims import claim
from probes import unargmaxable as U


@claim("demeter2020-unargmaxable-interior-never-argmax", DEMETER2020,
       "Without bias, embeddings planted strictly inside the hull of the others (p = 0.8 mean of 3 rows + 0.2 "
       "centroid, 'trained-like' 2000 x 32 head) are all unargmaxable, certified; a large enough bias on them "
       "makes them argmaxable again (the theorem needs b = 0).", attribution="paper")
def test_interior_points_unargmaxable(claim):
    s = claim.seed(5)
    W, _, planted = U.trained_like_head(2000, 32, n_planted=6, seed=s)
    r = U.detect(W)
    found = len(set(planted.tolist()) & set(r.unargmaxable))
    claim.equal(f"planted rows found unargmaxable (of {len(planted)})", found, len(planted))
    claim.equal("verify accepts every certificate", U.verify(r, W).ok, True)
    # premise broken: a bias that puts every planted row far above its rivals at x = 0 (the theorem needs b = 0)
    b = np.zeros(len(W))
    b[planted] = 10.0 + np.arange(len(planted)) * 1e-3
    rb = U.detect(W, b)
    claim.control.not_equal(f"planted rows found unargmaxable, with bias 10 on them (of {len(planted)})",
                            len(set(planted.tolist()) & set(rb.unargmaxable)), len(planted),
                            inverts=f"planted rows found unargmaxable (of {len(planted)})")
