"""Wang et al. 2022 (DeepNet, arXiv 2203.00555) and Su 2022 (kexue.fm/archives/8978): one optimiser step's
change of the output, ‖ΔF‖, against depth N.

Zoo stacks (probes.designs.stacks) with their own initialisation (DeepNorm's α and β from
theory.update_depth), Gaussian inputs, cross-entropy on random labels, one SGD or Adam step at lr 1e−6
(the linear regime), float64 (float32 round-off at this lr would distort the slopes).
"""
from __future__ import annotations

from functools import lru_cache

from paper_checks._depth_sources import DEEPNET, DEPTHS, RESOLUTION, SIZES, SU_8978
from paper_checks.claims import claim
from probes import update_depth as U

SEEDS = 3


@lru_cache(maxsize=None)
def _run(stack, s):
    return U.probe(stack, depths=DEPTHS, optimizers=("sgd", "adam"), seeds=SEEDS, seed=s, **SIZES)


@claim("wang2022-deepnorm-update-depth-free-sgd", DEEPNET.at("§4, Theorem 4.2 and the DeepNorm table"),
       "With DeepNorm's α = (2N)^{1/4} and β = (8N)^{−1/4}, one SGD step changes the model's output by Θ(η) whatever "
       "the depth N; a Post-LN stack's change grows with N, and constants made for Adam shrink it.", attribution="paper")
def test_deepnorm_update_is_depth_free_under_sgd(claim):
    s = claim.seed(0)
    deep, post, su = _run("deepnorm", s), _run("postln", s), _run("deepnorm-su-adam", s)
    claim.note(f"N ∈ {DEPTHS}; slopes of ‖ΔF‖: deepnorm {deep.slope['sgd']:+.3f} ± {deep.slope_se['sgd']:.3f}, postln "
               f"{post.slope['sgd']:+.3f} ± {post.slope_se['sgd']:.3f} (SGD)")
    claim.less("|d ln‖ΔF‖/d ln N| (deepnorm, SGD)", abs(deep.slope["sgd"]), RESOLUTION)
    claim.equal("verdict (deepnorm, SGD)", deep.verdict["sgd"], "flat")
    # controls: Post-LN (α = β = 1), where every layer's update adds to the output change (its slope varies a lot
    # between seeds, so its verdict can be `flat` within 3 SE: the slope bound is the control); and constants derived
    # for another optimiser (Su's Adam constants) under SGD
    claim.control.greater("|d ln‖ΔF‖/d ln N| (postln, SGD)", abs(post.slope["sgd"]), RESOLUTION,
                          inverts="|d ln‖ΔF‖/d ln N| (deepnorm, SGD)")
    claim.control.not_equal("verdict (deepnorm-su-adam, SGD)", su.verdict["sgd"], "flat", inverts="verdict (deepnorm, SGD)")


@claim("su2022-deepnorm-update-grows-under-adam", SU_8978.at("§Adam: Δθ ≈ −η sign g"),
       "DeepNet's constants are derived for SGD; under Adam, whose first step moves every entry by η, one step's "
       "change of the output grows like √N with them.", attribution="paper")
def test_deepnorm_update_grows_under_adam(claim):
    s = claim.seed(0)
    deep, su = _run("deepnorm", s), _run("deepnorm-su-adam", s)
    half = deep.theory_slope["adam"]
    claim.note(f"theory slope {half:g}; measured {deep.slope['adam']:+.3f} ± {deep.slope_se['adam']:.3f}")
    claim.greater("d ln‖ΔF‖/d ln N (deepnorm, Adam)", deep.slope["adam"], half - RESOLUTION)
    claim.less("d ln‖ΔF‖/d ln N (deepnorm, Adam), upper side", deep.slope["adam"], half + RESOLUTION)
    # control: Su's Adam constants α = (2N)^{1/2}, λ = (2N)^{−1/2} are matched to Adam's sign step
    claim.control.less("d ln‖ΔF‖/d ln N (deepnorm-su-adam, Adam)", su.slope["adam"], half - RESOLUTION,
                       inverts="d ln‖ΔF‖/d ln N (deepnorm, Adam)")


@claim("su2022-adam-constants-update-depth-free", SU_8978.at("§Adam and §SGD: the constants depend on the optimiser"),
       "With α = (2N)^{1/2} and λ = (2N)^{−1/2} (Su's constants for Adam) one Adam step changes the output by Θ(η) "
       "whatever N; the same constants under SGD shrink the change like 1/N.", attribution="paper")
def test_su_adam_constants(claim):
    s = claim.seed(0)
    su = _run("deepnorm-su-adam", s)
    claim.note(f"slopes of ‖ΔF‖: Adam {su.slope['adam']:+.3f} ± {su.slope_se['adam']:.3f}, SGD {su.slope['sgd']:+.3f} ± "
               f"{su.slope_se['sgd']:.3f} (theory {su.theory_slope['adam']:g} and {su.theory_slope['sgd']:g})")
    claim.less("|d ln‖ΔF‖/d ln N| (deepnorm-su-adam, Adam)", abs(su.slope["adam"]), RESOLUTION)
    claim.less("|d ln‖ΔF‖/d ln N + 1| (deepnorm-su-adam, SGD; theory −1)", abs(su.slope["sgd"] - su.theory_slope["sgd"]),
               RESOLUTION)
    # control: the premise (Adam's sign step) broken: the same constants under SGD
    claim.control.greater("|d ln‖ΔF‖/d ln N| (deepnorm-su-adam, SGD)", abs(su.slope["sgd"]), RESOLUTION,
                          inverts="|d ln‖ΔF‖/d ln N| (deepnorm-su-adam, Adam)")
