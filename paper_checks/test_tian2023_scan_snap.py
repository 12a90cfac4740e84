"""Tian et al. 2023, Scan and Snap: the 1-layer dynamics simulated (population limit, float64 gradient descent).

The simulations are deterministic: tolerances are rounding bounds (row sums) or the step grid (snap time), not
standard errors.
"""
from __future__ import annotations

from paper_checks._fwp_sources import TIAN2023
from paper_checks.claims import claim
from probes import scan_snap as S
from theory import scan_snap as T

ROW_SUM = 1e-12     # rounding bound on |row sum| / max(1, max|Y|) over the run
SMALL = dict(K=10, M=100, n_distinct=5, n_common=5, w_common=0.5)


@claim("tian2023-row-sums-stay-zero", TIAN2023.at("Lemma 1"),
       "From Y(0) = Z(0) = 0 the row sums of the decoder Y and of the attention logits Z stay zero under the "
       "gradient dynamics, because both softmaxes are shift-invariant.", attribution="paper")
def test_row_sums(claim):
    s = claim.seed(0)
    r = S.simulate(eta_Y=1.0, eta_Z=0.05, steps=120, seed=s, **SMALL)
    claim.less("max |Σ_j Y_lj| over the run", r.row_sum_Y, ROW_SUM)
    claim.less("max |Σ_l z_l| over the run", r.row_sum_z, ROW_SUM)
    # premise broken: a squared-error decoder and sigmoid attention are not shift-invariant
    c = S.simulate(eta_Y=1.0, eta_Z=0.05, steps=120, seed=s, decoder="mse", attention="sigmoid", **SMALL)
    claim.control.greater("max |Σ_j Y_lj|, squared-error decoder", c.row_sum_Y, 1e-6,
                          inverts="max |Σ_j Y_lj| over the run")
    claim.control.greater("max |Σ_l z_l|, sigmoid attention", c.row_sum_z, 1e-6, inverts="max |Σ_l z_l| over the run")


@claim("tian2023-distinct-up-common-down", TIAN2023.at("Thm 2"),
       "Attention scans: the attention logit z of every token distinct to one next token grows and that of a token "
       "common to all next tokens falls.", attribution="paper")
def test_scan(claim):
    s = claim.seed(1)
    r = S.simulate(eta_Y=1.0, eta_Z=0.05, steps=150, seed=s, **SMALL)
    claim.greater("min z over distinct tokens at the end", r.z_distinct_min, 0.0)
    claim.less("max z over common tokens at the end", r.z_common_max, 0.0)
    claim.less("z of the first common token at the end", r.z_first_common, 0.0)
    # premise broken: the same token present in class 0 only is distinct, so it must rise
    c = S.simulate(eta_Y=1.0, eta_Z=0.05, steps=150, seed=s, exclusive=True, **SMALL)
    claim.control.greater("z of the first 'common' token, now in class 0 only", c.z_first_common, 0.0,
                          inverts="z of the first common token at the end")


@claim("tian2023-ratio-law-needs-fast-decoder", TIAN2023.at("Thm 3, as read by attnprobe"),
       "For two distinct tokens l, l' of one next token the attention logits move in the ratio "
       "ż_l/ż_l' = r(0)·e^{2(z_l − z_l')}, r(0) = (P(l|n)/P(l'|n))², when the decoder learns much faster than the "
       "attention (η_Y ≫ η_Z); the error grows with η_Z/η_Y and the law fails at η_Z = η_Y.", attribution="derived")
def test_ratio_law(claim):
    s = claim.seed(2)
    fast = S.simulate(eta_Y=1.0, eta_Z=1e-3, steps=150, seed=s, **SMALL)
    claim.less("max relative error of the ratio law, η_Z/η_Y = 1e-3", fast.ratio_law_max_rel_error, 0.01)
    mid = S.simulate(eta_Y=1.0, eta_Z=1e-2, steps=150, seed=s, **SMALL)
    claim.less("max relative error of the ratio law, η_Z/η_Y = 1e-2", mid.ratio_law_max_rel_error, S.RATIO_LAW_TOL)
    slow = S.simulate(eta_Y=1.0, eta_Z=1.0, steps=150, seed=s, **SMALL)
    claim.control.greater("max relative error of the ratio law, η_Z = η_Y", slow.ratio_law_max_rel_error, 0.05,
                          inverts="max relative error of the ratio law, η_Z/η_Y = 1e-3")


ETAS = (0.5, 1.0, 2.0, 5.0)


@claim("tian2023-snap-half-time", TIAN2023.at("Thm 4 (snap), decoder transition derived"),
       "For K = 10 next tokens and M = 1000 outputs, the decoder's transition (the right next token reaches "
       "probability ½) comes at t½ = K(M − 2 + (M − 1)ln(M − 1))/(η_Y M) steps for orthonormal features "
       "(158/79/39.5/15.8 at η_Y = 0.5/1/2/5), i.e. ∝ 1/η_Y like the paper's t₀, but ~0.6× the quoted "
       "t₀ = 2K ln M/η_Y (276/138/69/28) even with common tokens.", attribution="derived")
def test_snap_time(claim):
    s = claim.seed(3)
    quoted = []
    for eta in ETAS:
        r = S.simulate(K=10, M=1000, n_common=0, w_common=0.0, eta_Y=eta, eta_Z=0.0, steps=int(165 / eta) + 3, seed=s)
        # the GD step grid: t½ is the first integer step with α ≥ ½, so the bound is one step
        claim.close(f"t½ at η_Y = {eta:g}, orthonormal features", float(r.t_half), r.t_half_theory, atol=1.0)
        mixed = S.simulate(K=10, M=1000, n_common=5, w_common=0.5, eta_Y=eta, eta_Z=0.01 * eta,
                           steps=int(180 / eta) + 3, seed=s)
        quoted.append((eta, mixed.t_half, mixed.t_peak, r.t0_quoted))
        claim.less(f"t½ / quoted t₀ at η_Y = {eta:g}, 5 common tokens (w = 0.5)", mixed.t_half / r.t0_quoted, 1.0)
    # premise broken: features far from orthonormal (80 % of each class's mass on shared tokens) snap much later
    c = S.simulate(K=10, M=1000, n_common=5, w_common=0.8, eta_Y=1.0, eta_Z=0.01, steps=320, seed=s)
    late = float(c.t_half if c.t_half is not None else c.steps)  # not reached: at least the run's length
    claim.control.far("t½ at η_Y = 1, 80 % shared mass", late, T.DECODER.predict("half_time", K=10, M=1000, eta=1.0),
                      atol=1.0, inverts="t½ at η_Y = 1, orthonormal features")
    claim.note("with 5 common tokens (w = 0.5, η_Z = 0.01 η_Y): (η_Y, t½, step of fastest z, quoted t₀) = "
               + "; ".join(f"({e:g}, {h}, {p}, {q:.1f})" for e, h, p, q in quoted))
