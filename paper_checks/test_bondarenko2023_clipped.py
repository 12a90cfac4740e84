"""Clipped softmax with a fixed γ: the length trap."""
from __future__ import annotations

from paper_checks._entropy_sources import BONDARENKO, SEED, SMALL, run
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
       "weights: about 95% at the training length 128 and all of them at long n, where rows die.")
def test_length_trap(claim):
    claim.seed(SEED)
    r = run("clipped")
    for n in (128, 512):
        claim.close(f"zero fraction, n = {n}", r.zero_fraction_by_n[str(n)],
                    tv.CLIPPED.predict("zero_fraction", n=n, gamma=-0.025, zeta=1.0, sigma=1.0), atol=0.01)
    claim.greater("zero fraction, n = 4096", r.zero_fraction_by_n["4096"], 0.999)
    claim.greater("dead rows, n = 4096", r.dead_rows_by_n["4096"], 0.9)
    claim.equal("P1 verdict", r.verdict, "collapsed")
    # premise broken: γ = −α/n scales with the length
    s = E.probe(_scaled_gamma(), **SMALL)
    claim.control.less("zero fraction, n = 4096, γ = −α/n", s.zero_fraction_by_n["4096"], 0.999)
    claim.control.close("zero fraction, n = 4096, γ = −α/n, vs Φ((ln α + σ²/2)/σ)", s.zero_fraction_by_n["4096"],
                        tv.CLIPPED.predict("zero_fraction", n=4096, gamma=-ALPHA / 4096, zeta=1.0, sigma=1.0),
                        atol=0.01)
