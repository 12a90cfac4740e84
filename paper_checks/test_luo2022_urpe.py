"""Luo et al. 2022: URPE's Toeplitz C restores what softmax RPE loses (arXiv 2205.13401)."""
from __future__ import annotations

import torch

from paper_checks.claims import Source, claim
from probes.designs import build
from probes.designs.loading import load_design
from probes.position_counting import probe

LUO_2022 = Source(
    "Shengjie Luo, Shanda Li, Shuxin Zheng, Tie-Yan Liu, Liwei Wang, Di He", 2022,
    "Your Transformer May Not be as Powerful as You Expect", "arXiv:2205.13401 (NeurIPS 2022)",
    "§4, Eq. 8 (URPE attention)")


def _urpe_with_c_one(name: str, seed: int = 0):
    """All parameters re-drawn, then C ≡ 1 (the constant init of the URPE code): exactly an RPE."""
    model = build(name, seed=seed)
    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__ == "URPE":
                m.c_table.fill_(1.0)
    return load_design(model, randomize=False)


@claim("luo2022-urpe-restores-counting", LUO_2022,
       "Multiplying the softmax weights by a learnable Toeplitz matrix C (URPE) lets a relative-PE Transformer "
       "output the positions of identical tokens; with C ≡ 1 it is a plain RPE again and cannot.", attribution="paper")
def test_urpe(claim):
    s = claim.seed(0)
    for name in ("urpe", "urpe-causal"):
        r = probe(name, seed=s, train=True, train_seeds=(s, s + 1))
        claim.equal(f"verdict ({name}, random C)", r.verdict, "can-count")
        claim.less(f"trained FVU ({name}, random C)", r.fvu, 0.05)
    # premise broken: C ≡ 1, the same model is a plain RPE. Exact check only: C is learnable, so training
    # would move it off 1 (a trained "C ≡ 1" model reaches FVU ≈ 0: the premise does not survive training)
    for name in ("urpe", "urpe-causal"):
        subject = _urpe_with_c_one(name, seed=s)
        subject.name = f"{name} (C ≡ 1)"
        r = probe(subject, seed=s, train=False)
        claim.control.not_equal(f"verdict ({name}, C ≡ 1)", r.verdict, "can-count", inverts=f"verdict ({name}, random C)")
        claim.control.not_equal(f"theory verdict ({name}, C ≡ 1)", r.theory["verdict"], "can-count",
                                inverts=f"verdict ({name}, random C)")
