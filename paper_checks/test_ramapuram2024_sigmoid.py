"""Sigmoid attention with the −ln n bias behaves like softmax at every length."""
from __future__ import annotations

import math

import torch

from paper_checks._entropy_sources import RAMAPURAM, SEED, SMALL, run
from paper_checks.claims import claim
from probes import entropy as E
from theory import entropy as th
from theory import softmax_variants as tv


@claim("ramapuram2024-sigmoid-bias-minus-ln-n", RAMAPURAM,
       "With bias b = −ln n, sigmoid attention's row mass stays O(1) (→ e^{σ²/2}) and its normalised "
       "entropy tracks softmax's ln n − σ²/2 at every length.")
def test_sigmoid_bias(claim):
    claim.seed(SEED)
    r = run("sigmoid")
    for n in (512, 4096, 16384):
        claim.close(f"row mass, n = {n}", r.row_mass_by_n[str(n)], tv.SIGMOID.predict("mass_limit", sigma=1.0),
                    rtol=0.05)
        claim.close(f"H({n}) vs ln n − ½", r.entropy_by_n[str(n)],
                    th.MEAN_FIELD.predict("H", n=n, lam=1.0, sigma=1.0), atol=E.GATE_TOL)
    claim.equal("P1 verdict", r.verdict, "standard-like")
    # premise broken: b = 0
    nobias = E.probe(E.from_callable(torch.sigmoid, name="sigmoid(b=0)"), **SMALL)
    claim.control.far("row mass with b = 0, n = 4096", nobias.row_mass_by_n["4096"],
                      tv.SIGMOID.predict("mass_limit", sigma=1.0), rtol=0.05)
    claim.note(f"with b = 0 the mass is {nobias.row_mass_by_n['4096']:.0f} ≈ n/2 = 2048")
    assert math.isfinite(nobias.slope)
