"""Xie et al. 2023 (ResiDual, arXiv 2304.14802): Pre-LN's representation collapse, and the Post-LN stream that
ResiDual keeps. Zoo stacks with their own initialisation, Gaussian inputs, float64; gap_k = 1 − cos(h_k, h_{k+1})
over k = 4…23 of a 24-layer stack (theory.collapse: slope −1 for Pre-LN, 0 for a renormalised stream)."""
from __future__ import annotations

from functools import lru_cache

from paper_checks._depth_sources import RESIDUAL, RESOLUTION, SIZES
from paper_checks.claims import claim
from probes import collapse as C

LAYERS, SEEDS = 24, 3


@lru_cache(maxsize=None)
def _run(stack, s):
    return C.probe(stack, n_layers=LAYERS, seeds=SEEDS, seed=s, **SIZES)


@claim("xie2023-preln-representation-collapse", RESIDUAL.at("§1 and §3 (Pre-LN collapse); 1/k law derived in "
                                                            "theory.collapse"),
       "In a Pre-LN Transformer consecutive layers' representations converge: 1 − cos(h_k, h_{k+1}) decays like 1/k "
       "(independent increments on a growing stream); a Post-LN stream keeps a constant cosine.", attribution="derived")
def test_preln_collapse(claim):
    s = claim.seed(0)
    pre, post = _run("preln", s), _run("postln", s)
    t = pre.theory_slope
    claim.note(f"slope of 1 − cos: preln {pre.slope:+.3f} ± {pre.slope_se:.3f} (theory {t:g}; finite-range band "
               f"{pre.theory_band}), postln {post.slope:+.3f} ± {post.slope_se:.3f}")
    claim.less("d ln(1 − cos)/d ln k (preln)", pre.slope, t + 2 * RESOLUTION)
    claim.greater("d ln(1 − cos)/d ln k (preln), lower side", pre.slope, t - 2 * RESOLUTION)
    claim.equal("verdict (preln)", pre.verdict, "shrinks")
    # control: Post-LN renormalises the stream every layer
    claim.control.greater("d ln(1 − cos)/d ln k (postln)", post.slope, t + 2 * RESOLUTION,
                          inverts="d ln(1 − cos)/d ln k (preln)")
    claim.control.not_equal("verdict (postln)", post.verdict, "shrinks", inverts="verdict (preln)")


@claim("xie2023-residual-post-stream-does-not-collapse", RESIDUAL.at("§3, ResiDual (Pre-Post-LN)"),
       "ResiDual's blocks read a Post-LN stream, whose consecutive layers do not converge; its dual stream of raw "
       "branch outputs is a Pre-LN-type sum and does.", attribution="paper")
def test_residual_keeps_a_post_ln_stream(claim):
    s = claim.seed(0)
    res, pre = _run("residual", s), _run("preln", s)
    h, dual = res.streams["h"], res.streams["dual"]
    claim.note(f"slopes of 1 − cos: residual h {h['slope']:+.3f} ± {h['slope_se']:.3f}, dual {dual['slope']:+.3f} ± "
               f"{dual['slope_se']:.3f}; preln {pre.slope:+.3f}")
    claim.less("|d ln(1 − cos)/d ln k| (residual, the stream the blocks read)", abs(h["slope"]), RESOLUTION)
    claim.equal("verdict (residual)", res.verdict, "flat")
    claim.less("d ln(1 − cos)/d ln k (residual, dual stream)", dual["slope"], -2 * RESOLUTION)
    # control: a Pre-LN stack's blocks read the collapsing stream
    claim.control.greater("|d ln(1 − cos)/d ln k| (preln)", abs(pre.slope), RESOLUTION,
                          inverts="|d ln(1 − cos)/d ln k| (residual, the stream the blocks read)")
    claim.control.not_equal("verdict (preln)", pre.verdict, "flat", inverts="verdict (residual)")
