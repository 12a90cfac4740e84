"""Katharopoulos et al. 2020: causal linear attention is an RNN with an outer-product state."""
from __future__ import annotations

import torch

from paper_checks._fwp_sources import KATHAROPOULOS2020
from paper_checks.claims import claim
from probes import fast_weights as F
from probes.designs import zoo

ROUND = F.exact_tol(torch.float64)  # 1e-12: a rounding bound (the identities are exact)


@claim("katharopoulos2020-linear-attention-is-rnn", KATHAROPOULOS2020,
       "Causal linear attention with φ = elu + 1 and its normaliser, computed in parallel with a mask, equals the "
       "recurrence S_i = S_{i−1} + φ(k_i)v_iᵀ, z_i = z_{i−1} + φ(k_i), out_i = φ(q_i)ᵀS_i/φ(q_i)ᵀz_i; the zoo's "
       "LinearAttention computes exactly that.", attribution="paper")
def test_linear_attention_is_an_rnn(claim):
    s = claim.seed(0)
    eq = F.equivalences(n=32, d_key=16, d_value=8, seed=s)
    claim.less("max rel diff, causal masked parallel vs recurrent (normalised)", eq.max_rel_diff["causal-normalised"],
               ROUND)
    claim.less("max rel diff, causal, unnormalised", eq.max_rel_diff["causal-unnormalised"], ROUND)
    design = zoo.build("linear-causal", seed=s)
    x = torch.randn(2, 24, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(s))
    layer = F.find_linear_attention(design)[0][1]
    chk = F.check_layer(layer, x, name="linear-causal layer 0")
    claim.less("zoo linear-causal: forward vs causal recurrence", chk.forward_vs_recurrent, ROUND)
    claim.less("zoo linear-causal: weights(x)·v vs causal recurrence", chk.parallel_vs_recurrent, ROUND)
    # premise broken: the bidirectional zoo design sees future keys, so the causal recurrence must not reproduce it
    bi = F.find_linear_attention(zoo.build("linear", seed=s))[0][1]
    wrong = F.check_layer(bi, x, name="linear layer 0", causal=True)
    claim.control.greater("zoo linear (bidirectional): forward vs causal recurrence", wrong.forward_vs_recurrent,
                          1e-3, inverts="zoo linear-causal: forward vs causal recurrence")
