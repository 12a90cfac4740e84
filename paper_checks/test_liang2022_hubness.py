"""Liang et al. 2022 (ICML): hubs among Gaussian latents sit closer to the centre (the link to truncation)."""
import numpy as np
from scipy.stats import spearmanr

from paper_checks._hubness_sources import LIANG2022
from paper_checks.claims import claim
from probes import hubness as H


def _norm_link(d: int, seed: int) -> tuple[float, float]:
    """(Spearman(N_5, ‖z‖), mean ‖z‖ of the top-1% hubs − mean ‖z‖) for 2000 z ~ N(0, I_d)."""
    Z = H.synthetic("normal", 2000, d, seed=seed)   # the paper: 10 000 latents, k = 5
    norms = Z.norm(dim=1).numpy()
    N = H.k_occurrence(Z, k=5)
    hubs = N >= np.quantile(N, 0.99)
    return float(spearmanr(N, norms).statistic), float(norms[hubs].mean() - norms.mean())


@claim("liang2022-hub-latents-are-central", LIANG2022,
       "For z ~ N(0, I_512) the 5-NN hubs have small norm: N_5 is strongly anti-correlated with ‖z‖, "
       "which is what truncating ‖z‖ approximates.", attribution="paper")
def test_hub_latents_are_central(claim):
    s = claim.seed(0)
    claim.dtype = "float32 pass, float64-certified k-NN"
    rho, gap = _norm_link(512, s)
    claim.less("Spearman(N_5, ‖z‖), ℓ2, d = 512", rho, -0.7)
    claim.less("mean ‖z‖ of the top-1% hubs minus mean ‖z‖ of all, d = 512", gap, -1.0)
    # control: a low-dimensional latent (d = 3) breaks the premise; hubness there follows density, not the norm
    rho3, gap3 = _norm_link(3, s)
    claim.control.greater("Spearman(N_5, ‖z‖), ℓ2, d = 3", rho3, -0.7, inverts="Spearman(N_5, ‖z‖), ℓ2, d = 512")
    claim.control.greater("mean ‖z‖ of the top-1% hubs minus mean ‖z‖ of all, d = 3", gap3, -1.0,
                          inverts="mean ‖z‖ of the top-1% hubs minus mean ‖z‖ of all, d = 512")
