"""softmax₁ (attention off by one): the null mass and the lost shift invariance."""
from __future__ import annotations

import math

import torch

from paper_checks._entropy_sources import MILLER, SEED, run
from paper_checks.claims import claim
from probes import entropy as E
from probes.designs.normalizers import Softmax, Softmax1
from theory import softmax_variants as tv


@claim("miller2023-softmax1-null-mass", MILLER,
       "softmax₁ lets a head put weight on nothing: the null mass 1/(1 + Σe^x) is ≈ 1/(1 + n e^{μ+σ²/2}) "
       "on Gaussian logits, so abstaining needs logits near −ln n.")
def test_null_mass(claim):
    claim.seed(SEED)
    r, std = run("softmax1"), run("nope")
    for n in (64, 512, 4096):
        claim.close(f"null mass 1 − Σw, n = {n}", 1 - r.row_mass_by_n[str(n)],
                    tv.SOFTMAX1.predict("null_mass", n=n, mu=0.0, sigma=1.0), rtol=0.05)
    x = E.noise_logits(64, 64, seed=SEED) - 8.0
    null = float(1 - Softmax1()(x, None).sum(-1).mean())
    claim.close("null mass, n = 64, μ = −8", null, tv.SOFTMAX1.predict("null_mass", n=64, mu=-8.0, sigma=1.0),
                rtol=0.01)
    # premise broken: no '+1' in the denominator (softmax)
    claim.control.far("null mass of softmax, n = 512", 1 - std.row_mass_by_n["512"],
                      tv.SOFTMAX1.predict("null_mass", n=512, mu=0.0, sigma=1.0), rtol=0.05)


@claim("miller2023-softmax1-not-shift-invariant", MILLER,
       "softmax₁ is not shift invariant: lowering every logit by c raises the null mass to "
       "1/(1 + e^{−c}Σe^x), while softmax ignores the shift.")
def test_shift(claim):
    x = E.noise_logits(256, 32, seed=SEED)
    w0, w1 = Softmax1()(x, None), Softmax1()(x - 3.0, None)
    claim.greater("max |Δw| under a shift of −3 (softmax₁)", float((w0 - w1).abs().max()), 1e-3)
    pred = (1 / (1 + math.exp(-3.0) * torch.exp(x).sum(-1))).mean()
    claim.close("null mass after the shift", float(1 - w1.sum(-1).mean()), float(pred), rtol=1e-10)
    s0, s1 = Softmax()(x, None), Softmax()(x - 3.0, None)
    # premise broken: plain softmax
    claim.control.less("max |Δw| under a shift of −3 (softmax)", float((s0 - s1).abs().max()), 1e-3)
