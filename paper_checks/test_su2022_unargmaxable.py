"""Su 2022 (kexue.fm/archives/9046): the bounded minimax test, with the correction where the bias decides."""
from __future__ import annotations

import numpy as np

from paper_checks._unargmaxable_sources import SU2022
from paper_checks.claims import claim
from probes import unargmaxable as U
from theory import unargmaxable as T

D = np.array(T.DIAMOND_ROWS, float)
TRIALS = 40


def _agreements(rows, biases) -> int:
    """How often the detector's verdict on w_5 matches the sign of the inside-hull limit value."""
    agree = 0
    for b in biases:
        lim = T.SU2022.predict("diamond_limit_value", **{f"b{i + 1}": b[i] for i in range(5)})
        agree += (4 not in U.detect(rows, b).unargmaxable) == (lim > 0)
    return agree


@claim("su2022-unargmaxable-bias-decides-inside-hull", SU2022,
       "Corrected: for w_5 inside the others' hull the r -> infinity limit is min over representing alpha of "
       "sum alpha_i (b_5 - b_i), so the bias decides (diamond: argmaxable iff b_5 > max((b_1+b_3)/2, (b_2+b_4)/2)); "
       "'equivalent to no bias' holds only for w_5 outside the hull.", attribution="derived")
def test_bias_decides_inside(claim):
    s = claim.seed(6)
    biases = np.random.default_rng(s).standard_normal((TRIALS, 5))
    q = f"detector verdict == sign of the limit value ({TRIALS} random biases)"
    claim.equal(q, _agreements(D, biases), TRIALS)
    b = np.array([0.0, 0.0, 0.0, 0.0, 0.5])
    claim.equal("w_5 inside, b_5 above threshold: argmaxable (not 'as without bias')",
                4 in U.detect(D, b).unargmaxable, False)
    # premise broken: w_5 outside the hull -> argmaxable whatever the bias; the inside-hull rule no longer decides
    D2 = D.copy()
    D2[4] = (2.0, 2.0)
    claim.control.not_equal(f"w_5 outside the hull: detector verdict == sign of the inside-hull limit value "
                            f"({TRIALS} random biases)", _agreements(D2, biases), TRIALS, inverts=q)


@claim("su2022-unargmaxable-equal-norms-none", SU2022,
       "Distinct rows of equal norm without bias are all argmaxable (each is a vertex of its hull): 3000 unit rows "
       "in d = 3 have none; the same directions with log-normal norms have many.", attribution="paper")
def test_equal_norms(claim):
    s = claim.seed(7)
    W, _ = U.gaussian_head(3000, 3, seed=s)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    claim.less("unargmaxable, unit rows", U.detect(W).n_unargmaxable, 1)
    # premise broken: unequal norms
    scale = np.random.default_rng(s).lognormal(0, 0.35, 3000)
    claim.control.greater("unargmaxable, log-normal norms", U.detect(W * scale[:, None]).n_unargmaxable, 100,
                          inverts="unargmaxable, unit rows")
