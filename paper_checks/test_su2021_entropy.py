"""Su's entropy-invariant attention: the log n scale as he states it, and what it really does on noise."""
from __future__ import annotations

import math

from paper_checks._entropy_sources import SU_8823, SU_9034, SEED, run
from paper_checks.claims import claim
from probes import entropy as E
from theory import entropy as th


@claim("su2021-logn-slows-entropy-growth", SU_8823,
       "Multiplying the logits by log₅₁₂ n leaves attention at n = 512 unchanged and makes its entropy "
       "grow with n more slowly than plain softmax's.")
def test_logn_slows_entropy_growth(claim):
    claim.seed(SEED)
    logn, std, shift = run("logn"), run("nope"), run("shiftssmax")
    claim.close("H(512): logn − softmax", logn.entropy_by_n["512"] - std.entropy_by_n["512"], 0.0, atol=1e-9)
    claim.less("slope dH/d ln n, logn, n ∈ [512, 2^14]", logn.slope, 0.9)
    claim.close("slope dH/d ln n, softmax", std.slope, 1.0, atol=0.1)
    # premise broken: the length term as a shift (x − s ln n) instead of a multiplier
    claim.control.greater("slope dH/d ln n, shift form softmax(x − s ln n)", shift.slope, 0.9)


@claim("su2021-logn-partial-not-flat", SU_9034,
       "On i.i.d. Gaussian logits the log₅₁₂ n scale does not hold entropy constant: H follows "
       "ln n − (ln n/ln 512)²/2, a partial compensation; the entropy-flat multiplier grows like √(ln n).")
def test_logn_is_partial(claim):
    claim.seed(SEED)
    r = run("logn")
    for n in (512, 4096, 16384):
        claim.close(f"H({n}) logn vs mean field", r.entropy_by_n[str(n)],
                    th.SU_SCALE.predict("H_su", n=n, sigma=1.0), atol=E.GATE_TOL)
    claim.close("measured slope vs theory slope", r.slope, r.theory["slope"], atol=0.05)
    claim.equal("P1 verdict (logn)", r.verdict, "partially-compensated")
    flat = run("ref:flat")
    claim.note(f"√-law reference: slope {flat.slope:.3f}, ΔH {flat.delta_H:.3f}")
    # premise broken: a multiplier that grows like √(ln n) instead of ln n
    claim.control.not_equal("P1 verdict (√(ln n) flat law)", flat.verdict, "partially-compensated")
    claim.control.less("|slope| (√(ln n) flat law)", abs(flat.slope), 0.1)


@claim("su2021-constant-0.24", SU_8823,
       "With |q| = |k| = √d, Laplace's method gives H ≈ ln n − 0.24·λd; the 0.24 is ½ ln φ, the "
       "entropy offset per dimension at λ = 1.")
def test_su_constant(claim):
    off = E.sphere_entropy_offset(1.0, 4000)
    claim.close("(H − ln n)/(λd) at λ = 1, d = 4000 (quadrature)", -off, 0.24, atol=0.005)
    claim.close("... against ½ ln φ", -off, th.SU_LAPLACE.predict("su_constant"), atol=1e-3)
    # premise broken: far from λ = 1 the linearised constant no longer holds
    claim.control.far("(H − ln n)/(λd) at λ = 4", -E.sphere_entropy_offset(4.0, 4000) / 4.0, 0.24, atol=0.02)
    claim.note("the large-n regime needs n ≳ e^{(d/2) ln φ}: e^{15} keys already at d = 64")
    assert math.isfinite(off)
