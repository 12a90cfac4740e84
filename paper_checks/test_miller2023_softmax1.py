"""softmax₁ (attention off by one): the null mass and the lost shift invariance."""
from __future__ import annotations

import torch

from paper_checks._entropy_sources import MILLER, SEED, run, run_sd
from paper_checks._stats import Z, over_seeds, replicate_seeds, spread
from paper_checks.claims import claim
from probes import entropy as E
from probes.designs.normalizers import Softmax, Softmax1
from theory import softmax_variants as tv

ROWS = 128


def _null(x) -> float:
    """Mean null mass 1 − Σw of softmax₁ over the rows of ``x``."""
    return float(1 - Softmax1()(x, None).sum(-1).mean())


def _two_point_logits(n: int, rows: int, seed: int) -> torch.Tensor:
    """i.i.d. ±1 logits (mean 0, variance 1, like the probe's N(0, 1) logits, but not Gaussian)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 2, (rows, n), generator=g).to(torch.float64) * 2 - 1


@claim("miller2023-softmax1-null-mass", MILLER,
       "softmax₁ lets a head put weight on nothing: the null mass 1/(1 + Σe^x) is ≈ 1/(1 + n e^{μ+σ²/2}) "
       "on Gaussian logits, so abstaining needs logits near −ln n.", attribution="derived")
def test_null_mass(claim):
    s = claim.seed(SEED)
    r = run("softmax1", s)
    # Monte Carlo: row means over rows sharing one key draw; SE = spread over replicate draws
    sd = run_sd("softmax1", s, (64, 512, 4096), "mass")
    for n in (64, 512, 4096):
        claim.close(f"null mass 1 − Σw, n = {n}", 1 - r.row_mass_by_n[str(n)],
                    tv.SOFTMAX1.predict("null_mass", n=n, mu=0.0, sigma=1.0), se=sd[n].sd, z=Z)
    low = over_seeds(lambda k: _null(E.noise_logits(64, 64, seed=k) - 8.0), (s,) + replicate_seeds(s))
    claim.close("null mass, n = 64, μ = −8", low.values[0], tv.SOFTMAX1.predict("null_mass", n=64, mu=-8.0, sigma=1.0),
                se=low.sd, z=Z)
    # premise broken: logits that are not Gaussian (±1, the same mean and variance); E e^x = cosh 1, not e^{1/2}
    two = spread(_null(_two_point_logits(512, ROWS, k)) for k in (s,) + replicate_seeds(s))
    claim.control.far("null mass 1 − Σw, n = 512, ±1 logits", two.values[0],
                      tv.SOFTMAX1.predict("null_mass", n=512, mu=0.0, sigma=1.0), se=max(sd[512].sd, two.sd), z=Z,
                      inverts="null mass 1 − Σw, n = 512")


@claim("miller2023-softmax1-not-shift-invariant", MILLER,
       "softmax₁ is not shift invariant: lowering every logit by c raises the null mass to "
       "1/(1 + e^{−c}Σe^x), while softmax ignores the shift.", attribution="derived")
def test_shift(claim):
    s = claim.seed(SEED)
    x = E.noise_logits(256, 32, seed=s)
    w0, w1 = Softmax1()(x, None), Softmax1()(x - 3.0, None)
    claim.greater("max |Δw| under a shift of −3 (softmax₁)", float((w0 - w1).abs().max()), 1e-3)
    claim.greater("least rise of a row's null mass under the shift of −3 (softmax₁)",
                  float((w0.sum(-1) - w1.sum(-1)).min()), 0.0)
    # premise broken: plain softmax has no '+1', and a common shift cancels
    s0, s1 = Softmax()(x, None), Softmax()(x - 3.0, None)
    claim.control.less("max |Δw| under a shift of −3 (softmax)", float((s0 - s1).abs().max()), 1e-3,
                       inverts="max |Δw| under a shift of −3 (softmax₁)")
