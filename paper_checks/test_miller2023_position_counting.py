"""Miller 2023, softmax₁ ("Attention Is Off By One"): its causal row mass grows with position."""
from __future__ import annotations

import torch

from paper_checks.claims import Source, claim
from probes.designs.normalizers import make_normalizer
from probes.designs.attention import causal_mask
from probes.position_counting import probe
from theory.position_counting import row_mass

MILLER_2023 = Source("Evan Miller", 2023, "Attention Is Off By One",
                     "https://www.evanmiller.org/attention-is-off-by-one.html", "softmax₁ definition")


@claim("miller2023-softmax1-causal-counts", MILLER_2023,
       "Under a causal mask softmax₁'s row mass t·e^c/(1 + t·e^c) depends on the number of keys seen, so a "
       "softmax₁ NoPE model can count identical tokens; bidirectionally every row has the same mass and it cannot.", attribution="derived")
def test_softmax1(claim):
    s = claim.seed(0)
    n, c = 16, 0.3
    logits = torch.full((n, n), c, dtype=torch.float64)
    law = row_mass.function("row_mass_softmax1")(c, torch.arange(1, n + 1, dtype=torch.float64).numpy())

    def err(name):
        w = make_normalizer(name, 1)(logits, causal_mask(n, "cpu"))
        return float(abs(w.sum(-1).numpy() - law).max())

    claim.less("max |row mass − t·e^c/(1+t·e^c)| (c = 0.3, causal softmax₁)", err("softmax1"), 1e-14)  # rounding
    r = probe("softmax1-causal", seed=s, train=True, train_seeds=(s, s + 1))
    claim.equal("verdict (softmax1-causal)", r.verdict, "can-count")
    claim.less("trained FVU (softmax1-causal)", r.fvu, 0.05)
    # premise broken: no '+1' (causal softmax: every row sums to 1, whatever t)
    claim.control.greater("max |row mass − t·e^c/(1+t·e^c)| (causal softmax)", err("softmax"), 1e-3,
                          inverts="max |row mass − t·e^c/(1+t·e^c)| (c = 0.3, causal softmax₁)")
    # premise broken: no causal mask (every row sees all n keys)
    b = probe("softmax1", seed=s, train=True, train_seeds=(s, s + 1))
    claim.control.not_equal("verdict (softmax1, bidirectional)", b.verdict, "can-count",
                            inverts="verdict (softmax1-causal)")
    claim.control.greater("trained FVU (softmax1, bidirectional)", b.fvu, 0.5, inverts="trained FVU (softmax1-causal)")
