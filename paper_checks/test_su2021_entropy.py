"""Su's entropy-invariant attention: the log n scale as he states it, and what it really does on noise."""
from __future__ import annotations

from paper_checks._entropy_sources import SU_8823, SU_9034, SEED, run, run_sd, slope_sd, subject
from paper_checks._stats import Z
from paper_checks.claims import claim
from probes import entropy as E
from theory import entropy as th


@claim("su2021-logn-slows-entropy-growth", SU_8823,
       "Multiplying the logits by log₅₁₂ n leaves attention at n = 512 unchanged and makes its entropy "
       "grow with n more slowly than plain softmax's.", attribution="paper")
def test_logn_slows_entropy_growth(claim):
    s = claim.seed(SEED)
    logn, std = run("logn", s), run("nope", s)
    # deterministic: at n = 512 the multiplier is exactly 1 and both see the same draw (atol = rounding)
    claim.close("H(512): logn − softmax", logn.entropy_by_n["512"] - std.entropy_by_n["512"], 0.0, atol=1e-9)
    claim.less("slope dH/d ln n, logn, n ∈ [512, 2^14]", logn.slope, 0.9)
    # premise broken: no length multiplier (plain softmax on the same draws)
    claim.control.greater("slope dH/d ln n, softmax, n ∈ [512, 2^14]", std.slope, 0.9,
                          inverts="slope dH/d ln n, logn, n ∈ [512, 2^14]")


@claim("su2021-logn-partial-not-flat", SU_9034,
       "On i.i.d. Gaussian logits the log₅₁₂ n scale does not hold entropy constant: H follows "
       "ln n − (ln n/ln 512)²/2, a partial compensation; the entropy-flat multiplier grows like √(ln n).",
       attribution="derived")
def test_logn_is_partial(claim):
    s = claim.seed(SEED)
    ns = (512, 4096, 16384)
    r = run("logn", s)
    # Monte Carlo: SE = spread over replicate draws of the row means and of the fitted slope
    sd = run_sd("logn", s, ns)
    for n in ns:
        claim.close(f"H({n}) logn vs mean field", r.entropy_by_n[str(n)],
                    th.SU_SCALE.predict("H_su", n=n, sigma=1.0), se=sd[n].sd, z=Z)
    sl = slope_sd(subject("logn"), s, main=r.slope)
    claim.close("measured slope vs theory slope", r.slope, r.theory["slope"], se=sl.sd, z=Z)
    claim.greater("|slope| (logn)", abs(r.slope), 0.1)
    claim.equal("P1 verdict (logn)", r.verdict, "partially-compensated")
    flat = run("ref:flat", s)
    claim.note(f"√-law reference: slope {flat.slope:.3f}, ΔH {flat.delta_H:.3f}")
    # premise broken: a multiplier that grows like √(ln n) instead of ln n
    claim.control.far("H(16384), √(ln n) flat law, vs the log₅₁₂ n mean field", flat.entropy_by_n["16384"],
                      th.SU_SCALE.predict("H_su", n=16384, sigma=1.0), atol=0.5, inverts="H(16384) logn vs mean field")
    claim.control.less("|slope| (√(ln n) flat law)", abs(flat.slope), 0.1, inverts="|slope| (logn)")
    claim.control.not_equal("P1 verdict (√(ln n) flat law)", flat.verdict, "partially-compensated",
                            inverts="P1 verdict (logn)")


@claim("su2021-constant-0.24", SU_8823,
       "With |q| = |k| = √d, Laplace's method gives H ≈ ln n − 0.24·λd; the 0.24 is ½ ln φ, the "
       "entropy offset per dimension at λ = 1.", attribution="paper")
def test_su_constant(claim):
    off = E.sphere_entropy_offset(1.0, 4000)
    # deterministic quadrature; 0.005 = the rounding of Su's two-digit constant
    claim.close("(H − ln n)/(λd) at λ = 1, d = 4000 (quadrature)", -off, 0.24, atol=0.005)
    # deterministic; 1e-3 covers the O(1/d) finite-d term at d = 4000
    claim.close("... against ½ ln φ", -off, th.SU_LAPLACE.predict("su_constant"), atol=1e-3)
    # premise broken: far from λ = 1 the linearised constant no longer holds
    claim.control.far("(H − ln n)/(λd) at λ = 4", -E.sphere_entropy_offset(4.0, 4000) / 4.0, 0.24, atol=0.02,
                      inverts="(H − ln n)/(λd) at λ = 1, d = 4000 (quadrature)")
    claim.note("the large-n regime needs n ≳ e^{(d/2) ln φ}: e^{15} keys already at d = 64")
