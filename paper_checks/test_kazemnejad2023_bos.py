"""Kazemnejad et al. 2023, Theorem 1: causal NoPE with a <bos> token writes absolute positions (arXiv 2305.19466)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from paper_checks.claims import Source, claim
from probes.designs.attention import Attention
from probes.designs.normalizers import make_normalizer
from probes.designs.positions import make_position
from theory import position_counting as theory

KAZEMNEJAD_2023 = Source(
    "Amirhossein Kazemnejad, Inkit Padhi, Karthikeyan Natesan Ramamurthy, Payel Das, Siva Reddy", 2023,
    "The Impact of Positional Encoding on Length Generalization in Transformers", "arXiv:2305.19466 (NeurIPS 2023)",
    "Theorem 1, App. C.1")


def construction(causal: bool) -> Attention:
    """One NoPE softmax head on 2-d embeddings [1, is_bos]: W_Q = W_K = 0 (uniform), W_V reads is_bos."""
    attn = Attention(2, 1, make_normalizer("softmax", 1), make_position("nope", 2, 1, 64, causal), causal)
    attn = attn.double()
    with torch.no_grad():
        attn.qkv.weight.zero_()
        attn.qkv.bias.zero_()
        attn.qkv.weight[4, 1] = 1.0  # v[0] = is_bos
        attn.out.weight.copy_(torch.eye(2, dtype=torch.float64))
        attn.out.bias.zero_()
    return attn


def relu_inverse(n: int) -> nn.Sequential:
    """A ReLU FFN with n hidden units mapping 1/t to t exactly at t = 1..n (piecewise-linear interpolation)."""
    u = np.sort(1.0 / np.arange(1, n + 1))  # knots, ascending: 1/n … 1
    y = 1.0 / u
    slopes = np.diff(y) / np.diff(u)
    ffn = nn.Sequential(nn.Linear(1, n - 1), nn.ReLU(), nn.Linear(n - 1, 1)).double()
    with torch.no_grad():
        ffn[0].weight.fill_(1.0)
        ffn[0].bias.copy_(torch.from_numpy(-u[:-1]))
        ffn[2].weight.copy_(torch.from_numpy(np.diff(np.concatenate([[0.0], slopes])))[None])
        ffn[2].bias.fill_(float(y[0]))
    return ffn


def run(attn: Attention, n: int, with_bos: bool) -> torch.Tensor:
    x = torch.zeros(1, n, 2, dtype=torch.float64)
    x[..., 0] = 1.0
    if with_bos:
        x[0, 0, 1] = 1.0
    with torch.no_grad():
        return attn(x)[0, :, 0]


@claim("kazemnejad2023-bos-counts", KAZEMNEJAD_2023,
       "With a causal mask and a distinct first token, one NoPE attention layer outputs exactly 1/t at position "
       "t, which a ReLU FFN maps back to t; without the first token, or without the causal mask, it cannot.", attribution="paper")
def test_bos_construction(claim):
    # a deterministic construction in float64: the bounds are rounding
    n = 64
    t = np.arange(1, n + 1)
    out = run(construction(causal=True), n, with_bos=True).numpy()
    expected = theory.kazemnejad_output(t)
    claim.less("max |o_t − 1/t| (causal, with <bos>, float64)", float(np.abs(out - expected).max()), 1e-15)
    with torch.no_grad():
        recovered = relu_inverse(n)(torch.from_numpy(out)[:, None]).squeeze(-1).numpy()
    claim.less("max |FFN(o_t) − t|", float(np.abs(recovered - t).max()), 1e-9)
    claim.greater("spread of the outputs o_t (causal, with <bos>)", float(np.ptp(out)), 0.5)
    # premise broken: no first token, or no causal mask
    no_bos = run(construction(causal=True), n, with_bos=False).numpy()
    claim.control.greater("max |o_t − 1/t| without <bos>", float(np.abs(no_bos - expected).max()), 0.5,
                          inverts="max |o_t − 1/t| (causal, with <bos>, float64)")
    bidir = run(construction(causal=False), n, with_bos=True).numpy()
    claim.control.greater("max |o_t − 1/t| without the causal mask", float(np.abs(bidir - expected).max()), 0.5,
                          inverts="max |o_t − 1/t| (causal, with <bos>, float64)")
    claim.control.less("spread of the outputs without the causal mask", float(np.ptp(bidir)), 1e-15,
                       inverts="spread of the outputs o_t (causal, with <bos>)")
