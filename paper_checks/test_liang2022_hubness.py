"""Liang et al. 2022 (ICML): hubs among Gaussian latents sit closer to the centre (the link to truncation)."""
import numpy as np
from scipy.stats import spearmanr

from paper_checks._hubness_sources import LIANG2022
from paper_checks.claims import claim
from probes import hubness as H


@claim("liang2022-hub-latents-are-central", LIANG2022,
       "For z ~ N(0, I_512) the 5-NN hubs have small norm: N_5 is strongly anti-correlated with ‖z‖, "
       "which is what truncating ‖z‖ approximates.")
def test_hub_latents_are_central(claim):
    claim.seed(0)
    claim.dtype = "float32 pass, float64-certified k-NN"
    Z = H.synthetic("normal", 2000, 512, seed=0)   # the paper: 10 000 latents, k = 5
    norms = Z.norm(dim=1).numpy()
    N = H.k_occurrence(Z, k=5)
    claim.less("Spearman(N_5, ‖z‖), ℓ2", float(spearmanr(N, norms).statistic), -0.7)
    hubs = N >= np.quantile(N, 0.99)
    claim.less("mean ‖z‖ of the top-1% hubs minus mean ‖z‖ of all", float(norms[hubs].mean() - norms.mean()), -1.0)
    # control: cosine similarity ignores the norm, so the premise (norm-sensitive ranking) is gone
    Nc = H.k_occurrence(Z, k=5, metric="cosine")
    claim.control.greater("Spearman(N_5, ‖z‖), cosine", float(spearmanr(Nc, norms).statistic), -0.2)
