"""Expected argmaxable counts for Gaussian heads: quadrature of the exact integrals (theory) against Monte Carlo
runs of the detector (d = 1..4; with and without an independent Gaussian bias)."""
from __future__ import annotations

import pytest

from paper_checks._unargmaxable_sources import EFRON1965
from paper_checks.claims import claim
from probes import unargmaxable as U


@pytest.mark.parametrize("n,d,bias", [(12, 2, False), (12, 3, False), (12, 2, True), (12, 1, True), (12, 3, True),
                                     (12, 4, False)],
                         ids=["d2", "d3", "d2-bias", "d1-bias", "d3-bias", "d4"])
@claim("efron1965-unargmaxable-expected-count", EFRON1965,
       "For n iid N(0, I_d) rows the expected number of argmaxable classes is the expected number of hull "
       "vertices E_d(n) (facet integral 2 C(n,d) int phi Phi(z/sqrt d)^(n-d) for d <= 3, regular-simplex angles for "
       "d = 4); with an independent Gaussian bias "
       "it is (E_{d+1}(n) + E_d(n))/2. The detector's Monte Carlo mean agrees within 4 standard errors.")
def test_expected_count(claim, n, d, bias):
    seed = 100 + 10 * d + bias
    claim.seed(seed)
    r = U.expected_count(n, d, bias=bias, trials=400, seed=seed)
    claim.close(f"mean argmaxable (n={n}, d={d}, bias={bias}) vs quadrature", r.mean_argmaxable, r.expected,
                atol=4 * r.sem)
    c = U.expected_count(n, d, bias=bias, trials=400, seed=seed, rows="normalized")
    claim.control.far("mean argmaxable, rows on the unit sphere (not Gaussian)", c.mean_argmaxable, c.expected,
                      atol=4 * c.sem)
