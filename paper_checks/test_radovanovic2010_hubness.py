"""Radovanović et al. 2010 ("Hubs in Space"): skewness grows with d; hubs are central; cosine on
normal data is the exception. n = 2000 (the paper uses 10 000), k = 5, exact k-NN, self excluded."""
from functools import lru_cache

import numpy as np
import pytest

from paper_checks._hubness_sources import RADOVANOVIC2010_FIG1, RADOVANOVIC2010_FIG3
from paper_checks.claims import claim
from probes import hubness as H

N_POINTS, K, SEEDS = 2000, 5, (0, 1)


@lru_cache(maxsize=None)  # the controls are shared between the parametrised claims
def _mean_probe(dist, d, metric="euclidean"):
    rs = [H.probe(H.synthetic(dist, N_POINTS, d, seed=s), k=K, metric=metric, seed=s, theory=False) for s in SEEDS]
    return {f: float(np.mean([getattr(r, f) for r in rs])) for f in ("skewness", "antihub_occurrence", "robinhood", "centrality")}


@claim("radovanovic2010-skewness-grows-with-d", RADOVANOVIC2010_FIG1,
       "For i.i.d. uniform and normal data under ℓ2 the skewness of N_5 grows with dimension (d = 3 < 20 < 100).")
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_skewness_grows_with_d(claim, dist):
    claim.seed(*SEEDS)
    claim.dtype = "float32 pass, float64-certified k-NN"
    m = {d: _mean_probe(dist, d) for d in (3, 20, 100)}
    claim.greater(f"S(d=20) − S(d=3), {dist}, mean of 2 seeds", m[20]["skewness"] - m[3]["skewness"], 0.5)
    claim.greater(f"S(d=100) − S(d=20), {dist}", m[100]["skewness"] - m[20]["skewness"], 0.5)
    claim.greater(f"antihub(d=100) − antihub(d=20), {dist} (stable measure)",
                  m[100]["antihub_occurrence"] - m[20]["antihub_occurrence"], 0.03)
    # control: Rademacher coordinates (kurtosis 1, constant norm) break the premise; no growth
    r = {d: _mean_probe("rademacher", d) for d in (20, 100)}
    claim.control.less("RH(d=100) − RH(d=20), Rademacher ℓ2 (no growth)", r[100]["robinhood"] - r[20]["robinhood"], 0.02)
    claim.control.less("S(d=100) − S(d=20), Rademacher ℓ2", r[100]["skewness"] - r[20]["skewness"], 0.5)


@claim("radovanovic2010-hubs-are-central", RADOVANOVIC2010_FIG3,
       "From moderate d, N_5 correlates strongly negatively with distance to the data mean; at d = 3 hardly.")
def test_hubs_are_central(claim):
    claim.seed(*SEEDS)
    claim.dtype = "float32 pass, float64-certified k-NN"
    for dist in ("uniform", "normal"):
        claim.less(f"Spearman(N_5, ‖x − x̄‖), {dist}, d = 100", _mean_probe(dist, 100)["centrality"], -0.7)
        claim.greater(f"Spearman(N_5, ‖x − x̄‖), {dist}, d = 3", _mean_probe(dist, 3)["centrality"], -0.3)
    # control: constant norms (Rademacher, ℓ2): no point is nearer the centre, no correlation
    claim.control.greater("Spearman(N_5, ‖x − x̄‖), Rademacher, d = 100", _mean_probe("rademacher", 100)["centrality"], -0.3)


@claim("radovanovic2010-cosine-normal-exception", RADOVANOVIC2010_FIG1,
       "Cosine similarity on i.i.d. normal data shows no hubness (normalised Gaussians have constant norm), "
       "unlike cosine on uniform [0,1]^d data.")
def test_cosine_on_normal_is_null_like(claim):
    claim.seed(0)
    claim.dtype = "float32 pass, float64-certified k-NN"
    r = H.probe(H.synthetic("normal", N_POINTS, 100, seed=0), k=K, metric="cosine", seed=0)
    claim.equal("verdict, cosine, normal, d = 100", r.verdict, "null-like")
    claim.close("RH vs null model RH", r.robinhood, r.theory["null"]["robinhood"], rtol=0.15)
    c = H.probe(H.synthetic("uniform", N_POINTS, 100, seed=0), k=K, metric="cosine", seed=0)
    claim.control.not_equal("verdict, cosine, uniform [0,1], d = 100 (non-zero mean direction)", c.verdict, "null-like")
