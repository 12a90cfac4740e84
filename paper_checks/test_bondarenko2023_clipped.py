"""Clipped softmax with a fixed γ: the length trap."""
from __future__ import annotations

from paper_checks._entropy_sources import BONDARENKO, SEED, run, run_sd, single_run_sd, small
from paper_checks._stats import Z
from paper_checks.claims import claim
from probes import entropy as E
from probes.designs.normalizers import Clipped
from theory import softmax_variants as tv

ALPHA = 3.2  # γ = −α/T: the BERT setting γ = −0.025 at T = 128


def _scaled_gamma():
    """Clipped softmax with γ = −α/n, rebuilt for each row length."""
    def fn(x):
        return Clipped(gamma=-ALPHA / x.shape[-1], zeta=1.0)(x, None)
    return E.from_callable(fn, name="clipped(γ=−α/n)")


@claim("bondarenko2023-clipped-fixed-gamma-length-trap", BONDARENKO,
       "Clipped softmax with a fixed γ zeroes a fraction Φ((ln(n a) + σ²/2)/σ), a = −γ/(ζ−γ), of the "
       "weights: about 95% at the training length 128 and all of them at long n, where rows die.",
       attribution="derived")
def test_length_trap(claim):
    s = claim.seed(SEED)
    r = run("clipped", s)
    # Monte Carlo: the zero fraction is a mean over the probe's rows, which share one key draw per n;
    # SE = its spread over replicate draws (paper_checks._stats).
    sd = run_sd("clipped", s, (128, 512), "zero")
    for n in (128, 512):
        claim.close(f"zero fraction, n = {n}", r.zero_fraction_by_n[str(n)],
                    tv.CLIPPED.predict("zero_fraction", n=n, gamma=-0.025, zeta=1.0, sigma=1.0), se=sd[n].sd, z=Z)
    claim.greater("zero fraction, n = 4096", r.zero_fraction_by_n["4096"], 0.999)
    claim.greater("dead rows, n = 4096", r.dead_rows_by_n["4096"], 0.9)
    claim.equal("P1 verdict", r.verdict, "collapsed")
    # the same law with γ = −α/n predicts a length-independent fraction Φ((ln α + σ²/2)/σ)
    scaled = _scaled_gamma()
    c = E.probe(scaled, **small(s))
    sd_c = single_run_sd(scaled, s, (4096,), quantity="zero", main=c.zero_fraction_by_n)[4096]
    claim.close("zero fraction, n = 4096, γ = −α/n, vs Φ((ln α + σ²/2)/σ)", c.zero_fraction_by_n["4096"],
                tv.CLIPPED.predict("zero_fraction", n=4096, gamma=-ALPHA / 4096, zeta=1.0, sigma=1.0),
                se=sd_c.sd, z=Z)
    # premise broken: γ = −α/n scales with the length; the rows no longer die
    claim.control.less("zero fraction, n = 4096, γ = −α/n", c.zero_fraction_by_n["4096"], 0.999,
                       inverts="zero fraction, n = 4096")
    claim.control.less("dead rows, n = 4096, γ = −α/n", c.dead_rows_by_n["4096"], 0.9, inverts="dead rows, n = 4096")
    claim.control.not_equal("P1 verdict, γ = −α/n", c.verdict, "collapsed", inverts="P1 verdict")
