"""Su 2022 (kexue.fm/archives/9147): the ball/cube volume ratio (eq. 1) and centrality (eq. 2)."""
import math

import numpy as np
import torch

from paper_checks._hubness_sources import SU2022_EQ1, SU2022_EQ2
from paper_checks._stats import Z
from paper_checks.claims import claim
from probes import hubness as H
from theory.hubness import CENTRALITY, VOLUME_RATIO

N_MC = 200_000


@claim("su2022-volume-ratio", SU2022_EQ1,
       "The unit ball fills V_d/2^d = π^{d/2}/(Γ(d/2+1)2^d) of the cube [−1,1]^d, collapsing like (πe/2d)^{d/2}/√(πd).", attribution="paper")
def test_volume_ratio(claim):
    s = claim.seed(0)
    g = torch.Generator().manual_seed(s)
    for d in (2, 3, 5, 8):
        x = torch.rand(N_MC, d, generator=g, dtype=torch.float64) * 2 - 1
        frac = float(((x * x).sum(1) <= 1).double().mean())
        pred = math.exp(VOLUME_RATIO.predict("log_volume_ratio", d=d))
        se = math.sqrt(pred * (1 - pred) / N_MC)  # Monte Carlo: the binomial SE of a fraction of N_MC points
        claim.close(f"fraction of the cube inside the ball, d = {d} (Monte Carlo)", frac, pred, se=se, z=Z)
        if d == 8:  # control: points uniform in a cube 5% too wide break the premise (uniform in [−1, 1]^d)
            z = (torch.rand(N_MC, d, generator=g, dtype=torch.float64) * 2 - 1) * 1.05
            wide = float(((z * z).sum(1) <= 1).double().mean())
            se_w = math.sqrt(wide * (1 - wide) / N_MC)
            claim.control.far("fraction inside the ball for points uniform in [−1.05, 1.05]^8", wide, pred,
                              se=max(se, se_w), z=Z, inverts=f"fraction of the cube inside the ball, d = {d} (Monte Carlo)")
    for d in (10, 100, 1000):
        rel = math.expm1(VOLUME_RATIO.predict("log_volume_ratio_stirling", d=d) - VOLUME_RATIO.predict("log_volume_ratio", d=d))
        claim.less(f"5d·|Stirling / exact − 1|, d = {d} (Stirling's error below 1/(5d))", abs(rel) * 5 * d, 1.0)


@claim("su2022-centrality", SU2022_EQ2,
       "A point's mean squared distance to the data is ‖y − x̄‖² + tr Σ̂, so points near the mean are near everyone and become hubs.", attribution="paper")
def test_centrality(claim):
    s = claim.seed(0)
    claim.dtype = "float64 (identity); float32 pass, float64-certified k-NN"
    X = H.synthetic("normal", 2000, 100, seed=s)
    xbar = X.mean(0)
    tr = float(((X - xbar) ** 2).sum(1).mean())
    sq = (X * X).sum(1)
    mean_sq = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * X @ X.T).mean(1)   # (1/n) Σ_i ‖y − x_i‖²
    pred = CENTRALITY.function("mean_sq_distance")(((X - xbar) ** 2).sum(1), tr)
    q = "max relative error of (1/n)Σ‖y − x_i‖² = ‖y − x̄‖² + tr Σ̂"
    claim.close(q, float(((mean_sq - pred).abs() / pred).max()), 0.0, atol=1e-9)  # an identity: float64 rounding
    N = H.k_occurrence(X, k=10)
    hubs, anti = N >= np.quantile(N, 0.99), N == 0
    claim.less("mean ‖y − x̄‖² of the top-1% hubs minus that of antihubs",
               float(pred[torch.from_numpy(hubs)].mean() - pred[torch.from_numpy(anti)].mean()), 0.0)
    # control: the identity needs the mean; with the coordinate-wise median as centre it fails
    med = X.median(0).values
    alt = CENTRALITY.function("mean_sq_distance")(((X - med) ** 2).sum(1), float(((X - med) ** 2).sum(1).mean()))
    claim.control.far("max relative error with the median in place of the mean",
                      float(((mean_sq - alt).abs() / mean_sq).max()), 0.0, atol=1e-9, inverts=q)
