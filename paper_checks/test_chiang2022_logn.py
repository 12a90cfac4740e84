"""Chiang & Cholak's ln n scaled attention: the needle survives, noise rows collapse."""
from __future__ import annotations

from paper_checks._entropy_sources import CHIANG, SEED, run
from paper_checks.claims import claim
from theory import entropy as th


@claim("chiang2022-logn-needle-survives", CHIANG,
       "Scaling the logits by ln n keeps a fixed-margin key's attention from vanishing as n grows "
       "(p* = 1/(1 + (n−1)n^{−Δ}) → 1 for Δ > 1), where plain softmax's falls like 1/n.", attribution="paper")
def test_needle(claim):
    s = claim.seed(SEED)
    r, std = run("ref:chiang", s), run("nope", s)
    p = th.NEEDLE.predict("p_ssmax", n=16384, s=1.0, Delta=3.0)
    # deterministic: one needle over a constant background, float64 (rtol = rounding)
    claim.close("p*(2^14), Δ = 3", r.needle_by_n["3.0"]["16384"], p, rtol=1e-9)
    claim.equal("P2 verdict (ln n)", r.needle_verdict, "no-fading")
    # premise broken: no ln n factor (plain softmax)
    claim.control.far("p*(2^14), Δ = 3, softmax", std.needle_by_n["3.0"]["16384"], p, rtol=1e-9,
                      inverts="p*(2^14), Δ = 3")
    claim.control.not_equal("P2 verdict (softmax)", std.needle_verdict, "no-fading", inverts="P2 verdict (ln n)")


def _collapsed(h_and_max) -> bool:
    h, top = h_and_max
    return h < 2 or top > 0.5


@claim("chiang2022-logn-collapses-noise", CHIANG,
       "The ln n multiplier is past the freezing line √(2 ln n) for n > e², so on i.i.d. Gaussian "
       "logits attention collapses onto a few keys (H < 2 nats or a key holds over half the row).",
       attribution="derived")
def test_noise_collapse(claim):
    s = claim.seed(SEED)
    r, flat = run("ref:chiang", s), run("ref:flat", s)
    top = str(r.ns[-1])
    claim.equal("P1 verdict (ln n)", r.verdict, "collapsed")
    claim.satisfies("(H, max share) at n = 2^14", (r.entropy_by_n[top], r.max_weight_by_n[top]), _collapsed,
                    "H < 2 or max share > 0.5")
    claim.equal("theory P1 verdict (frozen over the judged range)", r.theory["verdict"], "collapsed")
    # premise broken: a multiplier below the validity line (√-law)
    claim.control.violates("(H, max share) at n = 2^14, √(ln n) flat law",
                           (flat.entropy_by_n[top], flat.max_weight_by_n[top]), _collapsed,
                           "H < 2 or max share > 0.5", inverts="(H, max share) at n = 2^14")
    claim.control.not_equal("P1 verdict (√(ln n) flat law)", flat.verdict, "collapsed", inverts="P1 verdict (ln n)")
