"""Schlag, Irie & Schmidhuber 2021: fast-weight memories — the delta rule, capacity, crosstalk and DPFP.

Monte-Carlo quantities are checked within z = 4 of their measured standard error; exact identities within 1e-12
(rounding, float64).
"""
from __future__ import annotations

import torch

from paper_checks._fwp_sources import SCHLAG2021
from paper_checks.claims import claim
from probes import fast_weights as F
from theory import fast_weights as T

ROUND = F.exact_tol(torch.float64)
D = 16


@claim("schlag2021-delta-rule-closed-form", SCHLAG2021.at("§4.2, closed form derived"),
       "The delta rule W_t = W_{t−1} + β_t(v_t − W_{t−1}k_t)k_tᵀ equals Σ_t β_t v_t k_tᵀ Π_{s>t}(I − β_s k_s k_sᵀ); with "
       "orthonormal keys and β = 1 it is the sum rule, with non-orthogonal keys it is not.", attribution="derived")
def test_delta_rule(claim):
    s = claim.seed(0)
    eq = F.equivalences(n=24, d_key=D, d_value=8, seed=s)
    claim.less("delta recurrence vs closed form, max rel diff", eq.max_rel_diff["delta-closed-form"], ROUND)
    claim.less("orthonormal keys, β = 1: delta vs sum rule", eq.max_rel_diff["delta-orthonormal-is-sum"], ROUND)
    g = torch.Generator().manual_seed(s)
    k = torch.nn.functional.normalize(torch.randn(D, D, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(D, 8, generator=g, dtype=torch.float64)
    W_delta = F.delta_recurrence(k, v, torch.ones(D, dtype=torch.float64))
    W_sum = F.sum_rule(k, v)
    gap = float((W_delta - W_sum).abs().max() / W_sum.abs().max())
    claim.control.greater("random unit keys, β = 1: delta vs sum rule", gap, 1e-3,
                          inverts="orthonormal keys, β = 1: delta vs sum rule")


@claim("schlag2021-sum-rule-crosstalk", SCHLAG2021.at("§4.1 (capacity), crosstalk derived"),
       "A sum-rule memory of n random unit keys and values in d dimensions retrieves with crosstalk "
       "E‖Wk_i − v_i‖² = (n − 1)/d; orthonormal keys (n ≤ d) retrieve exactly.", attribution="derived")
def test_sum_rule_crosstalk(claim):
    s = claim.seed(1)
    c = F.capacity(d=D, ns=(2 * D,), trials=150, nus=(1,), seed=s)
    row = c.sum_crosstalk[2 * D]
    claim.close(f"crosstalk, n = {2 * D} random keys, d = {D}", row["mean"], row["theory"], se=row["se"], z=4)
    claim.close("theory (n − 1)/d", row["theory"], T.CAPACITY.predict("sum_crosstalk", n=2 * D, d=D), rtol=1e-15)
    # premise broken: keys from a rank-4 subspace are not independent in d = 16 — crosstalk ≈ (n − 1)/4
    low = F.capacity(d=D, ns=(2 * D,), trials=150, nus=(1,), seed=s, key_rank=4).sum_crosstalk[2 * D]
    claim.control.far(f"crosstalk, n = {2 * D} keys from a rank-4 subspace", low["mean"], row["theory"],
                      se=max(row["se"], low["se"]), z=4, inverts=f"crosstalk, n = {2 * D} random keys, d = {D}")
    g = torch.Generator().manual_seed(s)
    Q = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0].T
    U = torch.nn.functional.normalize(torch.randn(D, 8, generator=g, dtype=torch.float64), dim=-1)
    exact = float((Q @ F.sum_rule(Q, U).T - U).pow(2).sum(-1).mean())
    claim.less("crosstalk, n = d orthonormal keys", exact, ROUND)
    # past capacity: n = 2d keys cannot all be orthogonal in d dimensions
    claim.control.greater("crosstalk, n = 2d keys (past capacity)", row["mean"], 0.5,
                          inverts="crosstalk, n = d orthonormal keys")


@claim("schlag2021-least-squares-capacity", SCHLAG2021.at("§4.1 (capacity), error derived"),
       "The best any d×d fast-weight matrix can do for n generic keys and independent Gaussian values is relative "
       "error (n − min(n, d))/n: exact up to d associations, 1 − d/n beyond.", attribution="derived")
def test_least_squares_capacity(claim):
    s = claim.seed(2)
    c = F.capacity(d=D, ns=(D, 2 * D, 4 * D), trials=150, nus=(1,), seed=s)
    claim.less(f"least-squares error, n = d = {D}", c.ls_error[D]["mean"], ROUND)
    for n in (2 * D, 4 * D):
        row = c.ls_error[n]
        claim.close(f"least-squares error, n = {n}, d = {D}", row["mean"], row["theory"], se=row["se"], z=4)
    # premise broken: values that are a linear function of the keys are stored exactly at any n
    lin = F.capacity(d=D, ns=(2 * D,), trials=30, nus=(1,), seed=s, values="linear-in-keys").ls_error[2 * D]
    claim.control.far(f"least-squares error, n = {2 * D}, values linear in keys", lin["mean"],
                      c.ls_error[2 * D]["theory"], se=c.ls_error[2 * D]["se"], z=4,
                      inverts=f"least-squares error, n = {2 * D}, d = {D}")


@claim("schlag2021-dpfp-capacity", SCHLAG2021.at("§5.1 (DPFP)"),
       "DPFP maps a d_key-dimensional key to d_dot = 2·d_key·ν features, and a memory over them stores d_dot "
       "random associations exactly; past d_dot it must err.", attribution="paper")
def test_dpfp_capacity(claim):
    s = claim.seed(3)
    c = F.capacity(d=D, ns=(4,), trials=2, nus=(1, 2, 3), seed=s)
    for nu in (1, 2, 3):
        claim.equal(f"DPFP feature count, d_key = {D}, ν = {nu}", c.dpfp[nu]["dim"], 2 * D * nu)
    d_dot = c.dpfp[1]["dim"]
    at = F.dpfp_memory_error(d_dot, D, 1, trials=10, seed=s)
    claim.less(f"DPFP memory error, n = d_dot = {d_dot}", at["mean"], ROUND)
    past = F.dpfp_memory_error(2 * d_dot, D, 1, trials=10, seed=s)
    claim.control.greater(f"DPFP memory error, n = 2·d_dot = {2 * d_dot} (past capacity)", past["mean"], 0.25,
                          inverts=f"DPFP memory error, n = d_dot = {d_dot}")


@claim("schlag2021-dpfp-rank", SCHLAG2021.at("§5.1 (DPFP), rank derived"),
       "DPFP's 2·d_key·ν features span 2·d_key·min(ν, d_key − 1) dimensions: the product r(k_a)r(−k_a) at circular "
       "distance d_key is identically 0 and larger distances repeat, so d_dot is the capacity only for ν < d_key.",
       attribution="derived")
def test_dpfp_rank(claim):
    s = claim.seed(4)
    d = 6
    c = F.capacity(d=d, ns=(4,), trials=2, nus=(1, 3, 5, 6, 9), seed=s)
    for nu in (1, 3, 5):
        claim.equal(f"DPFP feature rank − 2·d_key·ν, d_key = {d}, ν = {nu}", c.dpfp[nu]["rank"] - 2 * d * nu, 0)
    for nu in (6, 9):
        claim.equal(f"DPFP feature rank, d_key = {d}, ν = {nu}, vs theory 2·d_key·min(ν, d_key − 1)",
                    c.dpfp[nu]["rank"], c.dpfp[nu]["rank_theory"])
    # premise broken (ν < d_key): at ν = d_key the count 2·d_key·ν overstates the span
    claim.control.not_equal(f"DPFP feature rank − 2·d_key·ν, d_key = {d}, ν = {d}", c.dpfp[d]["rank"] - 2 * d * d, 0,
                            inverts=f"DPFP feature rank − 2·d_key·ν, d_key = {d}, ν = 5")
