"""Expected argmaxable counts for Gaussian heads: quadrature of the exact integrals (theory) against Monte Carlo
runs of the detector (d = 1..4; with and without an independent Gaussian bias)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from paper_checks._stats import Z
from paper_checks._unargmaxable_sources import EFRON1965
from paper_checks.claims import claim
from probes import unargmaxable as U


def _cube_count(n: int, d: int, bias: bool, trials: int, seed: int) -> tuple[float, float]:
    """(mean, SE) of the detector's argmaxable count for rows (and bias) uniform in the cube [−1, 1]."""
    rng = np.random.default_rng(seed)
    counts = np.empty(trials)
    for t in range(trials):
        W = rng.uniform(-1.0, 1.0, (n, d))
        b = rng.uniform(-1.0, 1.0, n) if bias else None
        counts[t] = n - U.detect(W, b).n_unargmaxable
    return float(counts.mean()), float(counts.std(ddof=1) / math.sqrt(trials))


@pytest.mark.parametrize("n,d,bias,trials", [(12, 2, False, 400), (12, 3, False, 400), (12, 2, True, 400),
                                            (12, 1, True, 800), (12, 3, True, 400), (12, 4, False, 400)],
                         ids=["d2", "d3", "d2-bias", "d1-bias", "d3-bias", "d4"])
@claim("efron1965-unargmaxable-expected-count", EFRON1965,
       "For n iid N(0, I_d) rows the expected number of argmaxable classes is the expected number of hull "
       "vertices E_d(n) (facet integral 2 C(n,d) int phi Phi(z/sqrt d)^(n-d) for d <= 3, regular-simplex angles for "
       "d = 4); with an independent Gaussian bias "
       "it is (E_{d+1}(n) + E_d(n))/2. The detector's Monte Carlo mean agrees within 4 standard errors.",
       attribution="derived")
def test_expected_count(claim, n, d, bias, trials):
    s = claim.seed(100 + 10 * d + bias)
    r = U.expected_count(n, d, bias=bias, trials=trials, seed=s)
    # Monte Carlo: SE = the spread of the count over the trials / √trials (the probe's sem)
    q = f"mean argmaxable (n={n}, d={d}, bias={bias}) vs quadrature"
    claim.close(q, r.mean_argmaxable, r.expected, se=r.sem, z=Z)
    # premise broken: rows (and bias) uniform in the cube instead of Gaussian; the count is affine invariant, so
    # only the shape of the law can move it, and a cube has more hull vertices
    mean, se = _cube_count(n, d, bias, trials, s + 1)
    claim.control.far(f"mean argmaxable, rows{' and bias' if bias else ''} uniform in [−1, 1], vs the Gaussian "
                      "quadrature", mean, r.expected, se=max(r.sem, se), z=Z, inverts=q)
