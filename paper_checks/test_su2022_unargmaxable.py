"""Su 2022 (kexue.fm/archives/9046): the bounded minimax test, with the correction where the bias decides."""
from __future__ import annotations

import numpy as np

from paper_checks._unargmaxable_sources import SU2022
from paper_checks.claims import claim
from probes import unargmaxable as U
from theory import unargmaxable as T

D = np.array(T.DIAMOND_ROWS, float)


@claim("su2022-unargmaxable-bias-decides-inside-hull", SU2022,
       "Corrected: for w_5 inside the others' hull the r -> infinity limit is min over representing alpha of "
       "sum alpha_i (b_5 - b_i), so the bias decides (diamond: argmaxable iff b_5 > max((b_1+b_3)/2, (b_2+b_4)/2)); "
       "'equivalent to no bias' holds only for w_5 outside the hull.")
def test_bias_decides_inside(claim):
    claim.seed(6)
    rng = np.random.default_rng(6)
    agree, trials = 0, 40
    for _ in range(trials):
        b = rng.standard_normal(5)
        lim = T.SU2022.predict("diamond_limit_value", **{f"b{i + 1}": b[i] for i in range(5)})
        agree += (4 not in U.detect(D, b).unargmaxable) == (lim > 0)
    claim.equal(f"detector verdict == sign of the limit value ({trials} random biases)", agree, trials)
    b = np.array([0.0, 0.0, 0.0, 0.0, 0.5])
    claim.equal("w_5 inside, b_5 above threshold: argmaxable (not 'as without bias')",
                4 in U.detect(D, b).unargmaxable, False)
    # premise broken: w_5 outside the hull -> the limit is +inf, the bias is irrelevant, even a very low b_5
    D2 = D.copy()
    D2[4] = (2.0, 2.0)
    b_low = np.array([0.0, 0.0, 0.0, 0.0, -50.0])
    lim = T.SU2022.predict("diamond_limit_value", **{f"b{i + 1}": b_low[i] for i in range(5)})
    claim.control.equal("w_5 outside, b_5 = -50: verdict == sign of the inside-hull limit value",
                        (4 not in U.detect(D2, b_low).unargmaxable) == (lim > 0), False)


@claim("su2022-unargmaxable-equal-norms-none", SU2022,
       "Distinct rows of equal norm without bias are all argmaxable (each is a vertex of its hull): 3000 unit rows "
       "in d = 3 have none; the same directions with log-normal norms have many.")
def test_equal_norms(claim):
    claim.seed(7)
    W, _ = U.gaussian_head(3000, 3, seed=7)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    r = U.detect(W)
    claim.equal("unargmaxable, unit rows", r.n_unargmaxable, 0)
    s = np.random.default_rng(7).lognormal(0, 0.35, 3000)
    claim.control.greater("unargmaxable, log-normal norms", U.detect(W * s[:, None]).n_unargmaxable, 100)
