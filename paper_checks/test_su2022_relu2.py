"""Su on relu² attention: scale invariant, so no temperature can make it entropy invariant."""
from __future__ import annotations

from paper_checks._entropy_sources import SU_9019, SEED, run, run_sd
from paper_checks._stats import Z
from paper_checks.claims import claim
from probes import entropy as E
from probes.designs.normalizers import ReLU2, Softmax
from theory import softmax_variants as tv


def _normalised(w):
    return w / w.sum(-1, keepdim=True)


@claim("su2022-relu2-scale-invariant", SU_9019,
       "relu² attention is homogeneous: a temperature leaves its normalised weights unchanged, so its "
       "entropy is ln n − (2 − γ) at every scale and no log n factor can make it entropy invariant.",
       attribution="derived")
def test_relu2(claim):
    s = claim.seed(SEED)
    ns = (512, 4096, 16384)
    r = run("relu2", s)
    sd = run_sd("relu2", s, ns)  # Monte Carlo: SE = spread of the row mean over replicate draws
    for n in ns:
        claim.close(f"H({n}) vs ln n − (2 − γ)", r.entropy_by_n[str(n)], tv.RELU2.predict("H", n=n),
                    se=sd[n].sd, z=Z)
    x = E.noise_logits(1024, 32, seed=s)
    base = _normalised(ReLU2()(x, None))
    worst = max(float((_normalised(ReLU2()(lam * x, None)) - base).abs().max()) for lam in (0.3, 3.0, 11.0))
    claim.less("max |Δ normalised w| under temperatures 0.3, 3, 11", worst, 1e-12)  # float64 rounding
    # premise broken: softmax is not homogeneous
    sm = max(float((Softmax()(lam * x, None) - Softmax()(x, None)).abs().max()) for lam in (0.3, 3.0, 11.0))
    claim.control.greater("max |Δw| under the same temperatures (softmax)", sm, 1e-3,
                          inverts="max |Δ normalised w| under temperatures 0.3, 3, 11")
