"""Su 2022: a relative-PE Transformer cannot count identical tokens (kexue.fm/archives/9105).

Probe: n = 16 copies of one token, target 1..n. Designs come from the zoo with
all parameters re-drawn (seed 0), float64, eval mode.
"""
from __future__ import annotations

import torch

from paper_checks.claims import Source, claim
from probes.position_counting import probe, thresholds, trainable_check
from probes.designs import build
from theory import position_counting as theory

SU_9105 = Source(
    "Su Jianlin", 2022,
    "相对位置编码Transformer的一个理论缺陷与对策 (A theoretical defect of relative-position Transformers, and remedies)",
    "https://kexue.fm/archives/9105")

ZERO, NONZERO = thresholds(torch.float64)
RPE = ("rope", "alibi", "t5", "rope-causal", "alibi-causal", "t5-causal")


@claim("su2022-rpe-cannot-count", SU_9105.at("§1 (the defect)"),
       "Identical tokens stay identical through a Transformer whose position encoding only edits the softmax "
       "logits (RoPE, ALiBi, T5 bias), so it cannot output their positions; an absolute PE breaks this.")
def test_rpe_cannot_count(claim):
    claim.seed(0)
    for name in RPE:
        r = probe(name, seed=0, train=False)
        claim.less(f"spread ({name})", r.spread, ZERO)
        claim.equal(f"verdict ({name})", r.verdict, "cannot-count")
    # negative control: the same designs with a sinusoidal absolute PE added to the input
    for name in ("abs+rope", "abs+alibi-causal"):
        r = probe(name, seed=0, train=False)
        claim.control.greater(f"spread ({name})", r.spread, NONZERO)
        claim.control.equal(f"verdict ({name})", r.verdict, "can-count")


@claim("su2022-rpe-training-floor",
       SU_9105.at("§1; floor derived in theory/position_counting"),
       "Trained on the identical-token probe, an RPE model cannot beat the constant predictor: its least MSE is "
       "(n²−1)/12, i.e. FVU = 1, while an absolute-PE model fits the positions.")
def test_training_floor(claim):
    n = 16
    claim.seed(0, 1)
    claim.close("theory floor MSE (n=16)", theory.floor_mse(n), (n * n - 1) / 12, atol=1e-12)
    r = probe("rope-causal", seed=0, train=True, n=n)
    claim.close("trained FVU, rope-causal (min over 2 seeds)", r.fvu, r.floor_fvu, atol=1e-6)
    claim.close("trained MSE, rope-causal", r.mse, theory.floor_mse(n), rtol=1e-6)
    r = probe("abs-causal", seed=0, train=True, n=n)
    claim.control.less("trained FVU, abs-causal", r.fvu, 0.05)


@claim("su2022-causal-mask-alone",
       SU_9105.at("§1; Kazemnejad et al. 2023 for the BOS"),
       "A causal mask alone does not let a softmax NoPE/RPE model count identical tokens (every row still sums "
       "to one); a distinct first token does.")
def test_causal_mask_alone(claim):
    claim.seed(0, 1)
    for name in ("nope-causal", "rope-causal"):
        r = probe(name, seed=0, train=False)
        claim.equal(f"verdict ({name})", r.verdict, "cannot-count")
        claim.check(f"rescued_by ({name})", list(r.rescued_by), "includes 'bos'", "bos" in r.rescued_by)
    model = build("nope-causal", seed=0)
    plain = min(trainable_check(model, 32, seeds=(0, 1), steps=300))
    claim.close("trained FVU without BOS (nope-causal)", plain, 1.0, atol=1e-6)
    bos = min(trainable_check(model, 32, seeds=(0, 1), steps=300, extra="bos"))
    claim.control.less("trained FVU with a distinct first token (nope-causal)", bos, 0.05)


@claim("su2022-remedies-without-denominator",
       SU_9105.at("§3, remedies 2 and 3"),
       "Dropping softmax's denominator (e^x) or normalising by the l2 norm makes the causal row mass depend on "
       "the position, so such a model counts; bidirectionally every row sees the same keys and it cannot.")
def test_remedies(claim):
    claim.seed(0)
    for name in ("exp-causal", "l2-causal"):
        r = probe(name, seed=0, train=True)
        claim.equal(f"verdict ({name})", r.verdict, "can-count")
        claim.less(f"trained FVU ({name})", r.fvu, 0.05)
    for name in ("exp", "l2"):
        r = probe(name, seed=0, train=False)
        claim.control.equal(f"verdict ({name}, bidirectional)", r.verdict, "cannot-count")


@claim("su2022-cls-sep-boundary",
       SU_9105.at("§3, remedy 4"),
       "Wrapping the identical tokens in [CLS] … [SEP] lets an unmodified bidirectional RPE model tell them "
       "apart (like padding in a CNN); with no position encoding at all the boundary tokens do not help.")
def test_cls_sep(claim):
    claim.seed(0)
    for name in ("rope", "t5", "alibi"):
        r = probe(name, seed=0, train=False)
        claim.equal(f"verdict ({name})", r.verdict, "cannot-count")
        claim.check(f"rescued_by ({name})", list(r.rescued_by), "includes 'cls-sep'", "cls-sep" in r.rescued_by)
        claim.greater(f"[CLS]…[SEP] interior spread ({name})", r.cls_spread, NONZERO)
    r = probe("nope", seed=0, train=False)
    claim.control.less("[CLS]…[SEP] interior spread (nope)", r.cls_spread, ZERO)
    claim.control.equal("rescued_by (nope)", list(r.rescued_by), [])


@claim("su2022-reflection-trap",
       SU_9105.at("reflection lemma derived in theory/position_counting"),
       "Bidirectional softmax₁ with the symmetric ALiBi bias breaks the identical-token symmetry but maps "
       "positions i and n+1−i to the same output, so it still cannot count: spread alone is no pass criterion.")
def test_reflection_trap(claim):
    claim.seed(0, 1)
    r = probe("softmax1+alibi", seed=0, train=True)
    claim.greater("spread (softmax1+alibi)", r.spread, NONZERO)
    claim.less("mirror spread (softmax1+alibi)", r.mirror_spread, ZERO)
    claim.equal("verdict (softmax1+alibi)", r.verdict, "mirror-only")
    claim.close("trained FVU (softmax1+alibi)", r.fvu, r.floor_fvu, atol=1e-6)
    # control: the same normaliser under an asymmetric relative encoding (RoPE) counts
    r = probe("softmax1+rope", seed=0, train=True)
    claim.control.greater("mirror spread (softmax1+rope)", r.mirror_spread, NONZERO)
    claim.control.less("trained FVU (softmax1+rope)", r.fvu, 0.05)
