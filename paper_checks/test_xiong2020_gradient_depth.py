"""Xiong et al. 2020 (arXiv 2002.04745): gradients at initialisation, Post-LN against Pre-LN.

Stacks from the zoo (``postln``, ``preln``; probes.designs.stacks) built with their own Xavier
initialisation, Gaussian inputs, cross-entropy on random labels through a Xavier readout, float64.
``setting="xiong"`` is the paper's analysed model (one head, W^Q = W^K = 0, no W^O, d_ff = d).
"""
from __future__ import annotations

from functools import lru_cache

from paper_checks._depth_sources import DEPTHS, RESOLUTION, SEEDS, SIZES, XIONG
from paper_checks.claims import claim
from probes import gradient_depth as G
from probes.designs.stacks import build_stack


@lru_cache(maxsize=None)
def _run(stack, s, setting="standard"):
    """One probe run per (stack, seed, setting), shared by the claims below (Post-LN runs the Pre-LN reference)."""
    return G.probe(stack, depths=DEPTHS, seeds=SEEDS, seed=s, setting=setting, reference=(stack == "postln" and setting == "standard"), **SIZES)


@claim("xiong2020-postln-last-layer-gradient-depth-free", XIONG.at("Theorem 1"),
       "At initialisation the gradient of the last layer's FFN matrix W^{2,L} does not depend on the depth L in a "
       "Post-LN Transformer, and shrinks with L in a Pre-LN one.", attribution="paper")
def test_postln_last_layer_gradient_is_depth_free(claim):
    s = claim.seed(0)
    post, pre = _run("postln", s), _run("preln", s)
    claim.note(f"L ∈ {DEPTHS}, {SEEDS} seeds, d = {SIZES['d_model']}; Post-LN slope {post.slope:+.3f} ± "
               f"{post.slope_se:.3f}, Pre-LN {pre.slope:+.3f} ± {pre.slope_se:.3f}")
    claim.less("|d ln‖∇W^{2,L}‖/d ln L| (postln)", abs(post.slope), RESOLUTION)
    claim.equal("verdict (postln)", post.verdict, "flat")
    # control: Pre-LN's final LN divides the last layer's gradient by ‖x_L‖, which grows with L
    claim.control.greater("|d ln‖∇W^{2,L}‖/d ln L| (preln)", abs(pre.slope), RESOLUTION,
                          inverts="|d ln‖∇W^{2,L}‖/d ln L| (postln)")
    claim.control.not_equal("verdict (preln)", pre.verdict, "flat", inverts="verdict (postln)")


@claim("xiong2020-preln-last-layer-gradient-shrinks", XIONG.at("Theorem 1, Lemma 3"),
       "In a Pre-LN Transformer the last layer's FFN gradient shrinks like L^{−1/2}: the final LayerNorm's Jacobian "
       "is √d/‖x_L − x̄_L‖ (Lemma 3) and ‖x_L‖² grows linearly in L.", attribution="paper")
def test_preln_last_layer_gradient_shrinks(claim):
    s = claim.seed(0)
    pre, post = _run("preln", s), _run("postln", s)
    claim.note(f"theory slope {pre.theory_slope:g} (asymptote); measured {pre.slope:+.3f} ± {pre.slope_se:.3f}; "
               f"Lemma-2 band between L = {DEPTHS[0]} and {DEPTHS[-1]}: {pre.theory_band}")
    claim.less("d ln‖∇W^{2,L}‖/d ln L (preln)", pre.slope, pre.theory_slope + RESOLUTION)
    claim.greater("d ln‖∇W^{2,L}‖/d ln L (preln), lower side", pre.slope, pre.theory_slope - RESOLUTION)
    claim.less("|slope of ‖∇W^{2,L}‖ × ‖x_L − x̄_L‖/√d| (preln; Lemma 3 accounts for the slope)",
               abs(pre.compensated_slope), RESOLUTION)
    # control: Post-LN's final LN input is renormalised every layer, so nothing grows with L
    claim.control.greater("d ln‖∇W^{2,L}‖/d ln L (postln)", post.slope, pre.theory_slope + RESOLUTION,
                          inverts="d ln‖∇W^{2,L}‖/d ln L (preln)")


@claim("xiong2020-lemma2-postln-ffn-norm", XIONG.at("Lemma 2 (r = 1); general r derived in theory.gradient_depth"),
       "At initialisation a Post-LN FFN residual sum has E‖x^{post,5}‖² = (1 + 2r/(1+r)²)·d, i.e. 3d/2 at "
       "d_ff = d, at every layer.", attribution="paper")
def test_lemma2_postln_ffn_norm(claim):
    s = claim.seed(0)
    for setting, label in (("xiong", "r = 1, Xiong's setting"), ("standard", "r = 4")):
        r = _run("postln", s, setting=setting)
        # Monte-Carlo: the seed mean of the per-seed layer-and-token averages, 4 standard errors
        claim.close(f"E‖x^(post,5)‖²/d ({label})", r.ffn_residual_sq, r.ffn_residual_sq_theory,
                    se=r.ffn_residual_sq_se, z=4)
        theory = r.ffn_residual_sq_theory
    # control: in Pre-LN the FFN reads LN(x) but its residual sum keeps the un-normalised stream, which grows with l
    pre = _run("preln", s)
    claim.control.far("E‖FFN residual sum‖²/d (preln, r = 4)", pre.ffn_residual_sq, theory, se=r.ffn_residual_sq_se,
                      z=4, inverts="E‖x^(post,5)‖²/d (r = 4)")


def _detached_postln(n_layers, seed):
    """Post-LN with every branch reading a detached input: the LN factor without the branch gain (App. F's bound)."""
    return build_stack("postln", n_layers=n_layers, seed=seed, d_model=SIZES["d_model"], n_heads=SIZES["n_heads"],
                       detach_branch_input=True)


@claim("xiong2020-postln-no-decay-at-init", XIONG.at("App. F; the cancellation is derived in theory.gradient_depth"),
       "At initialisation Post-LN's per-layer W² gradients do not decay toward the input at App. F's rate "
       "(2/3)^{(L−l)/2}: the LN factor √(2/3) is cancelled by the branch gain √(3/2). Only the comparison with Pre-LN "
       "survives: Post-LN's last/first gradient ratio exceeds Pre-LN's, more so at larger L.", attribution="derived")
def test_postln_no_decay_at_init(claim):
    s = claim.seed(0)
    post = _run("postln", s)
    bound = post.profile_rate_appF / 2
    claim.note(f"per-layer log-rate at L = {DEPTHS[-1]}: {post.profile_rate:+.4f} ± {post.profile_rate_se:.4f}; App. F's "
               f"{post.profile_rate_appF:.4f}; Post/Pre profile ratio {post.profile_ratio_vs_preln}")
    claim.less("per-layer log-rate of ‖∇W^{2,l}‖ in l (postln)", post.profile_rate, bound)
    lo, hi = (post.profile_ratio_vs_preln[str(L)] for L in DEPTHS)
    claim.greater(f"(last/first)_postln ÷ (last/first)_preln at L = {DEPTHS[0]}", lo, 1.0)
    claim.greater(f"growth of that ratio from L = {DEPTHS[0]} to {DEPTHS[-1]}", hi / lo, 1.0)
    # control: the same Post-LN forward pass with the branch gain removed from the backward pass (detached branch
    # inputs) decays toward the input at least at App. F's LN-factor rate
    det = G.probe(_detached_postln, depths=DEPTHS, seeds=SEEDS, seed=s, batch=SIZES["batch"], tokens=SIZES["tokens"],
                  reference=False)
    claim.control.greater("per-layer log-rate of ‖∇W^{2,l}‖ in l (postln, branch inputs detached)", det.profile_rate,
                          bound, inverts="per-layer log-rate of ‖∇W^{2,l}‖ in l (postln)")
