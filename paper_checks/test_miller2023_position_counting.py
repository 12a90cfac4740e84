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
       "softmax₁ NoPE model can count identical tokens; bidirectionally every row has the same mass and it cannot.")
def test_softmax1(claim):
    claim.seed(0)
    n, c = 16, 0.3
    logits = torch.full((n, n), c, dtype=torch.float64)
    w = make_normalizer("softmax1", 1)(logits, causal_mask(n, "cpu"))
    predicted = row_mass.function("row_mass_softmax1")(c, torch.arange(1, n + 1, dtype=torch.float64).numpy())
    err = float((w.sum(-1).numpy() - predicted).__abs__().max())
    claim.less("max |row mass − t·e^c/(1+t·e^c)| (c = 0.3)", err, 1e-14)
    r = probe("softmax1-causal", seed=0, train=True)
    claim.equal("verdict (softmax1-causal)", r.verdict, "can-count")
    claim.less("trained FVU (softmax1-causal)", r.fvu, 0.05)
    r = probe("softmax1", seed=0, train=False)
    claim.control.equal("verdict (softmax1, bidirectional)", r.verdict, "cannot-count")
    wb = make_normalizer("softmax1", 1)(logits, None).sum(-1)
    claim.control.less("row-mass spread, bidirectional", float(wb.max() - wb.min()), 1e-15)
    claim.control.close("bidirectional row mass vs t·e^c/(1+t·e^c) at t = n", float(wb[0]),
                        float(row_mass.function("row_mass_softmax1")(c, n)), atol=1e-14)
