"""Fast weights: parallel ≡ recurrent linear attention, the delta rule's closed form, capacity figures
against theory.fast_weights, and the zoo's LinearAttention checked against the recurrence."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from probes import fast_weights as F
from probes.errors import InputError, NotApplicable
from theory import fast_weights as T


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 24), dk=st.integers(1, 8), dv=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_parallel_equals_recurrent_and_delta_equals_closed_form(n, dk, dv, seed):
    r = F.equivalences(n=n, d_key=dk, d_value=dv, seed=seed)
    assert all(r.exact.values()), r.max_rel_diff


def test_the_mask_matters():
    g = torch.Generator().manual_seed(0)
    q, k, v = (F.elu1(torch.randn(10, 4, generator=g, dtype=torch.float64)) for _ in range(3))
    causal = F.recurrent_attention(q, k, v, causal=True)
    assert (F.parallel_attention(q, k, v, causal=False) - causal).abs().max() > 1e-2
    assert (F.parallel_attention(q, k, v, causal=True) - causal).abs().max() < 1e-14


def test_delta_rule_overwrites_a_repeated_key_and_sum_rule_adds():
    k = torch.tensor([[0.6, 0.8], [0.6, 0.8]], dtype=torch.float64)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    W = F.delta_recurrence(k, v, torch.ones(2, dtype=torch.float64))
    assert torch.allclose(W @ k[0], v[1]) and torch.allclose(F.sum_rule(k, v) @ k[0], v[0] + v[1])


@settings(max_examples=15, deadline=None)
@given(d=st.integers(2, 6), nu=st.integers(1, 11), seed=st.integers(0, 1000))
def test_dpfp_dimension_and_rank_formulas(d, nu, seed):
    if nu > 2 * d - 1:
        nu = 2 * d - 1
    g = torch.Generator().manual_seed(seed)
    phi = F.dpfp(torch.randn(20 * d * nu, d, generator=g, dtype=torch.float64), nu)
    assert phi.shape[-1] == T.CAPACITY.predict("dpfp_dim", d=d, nu=nu) == 2 * d * nu
    assert int(torch.linalg.matrix_rank(phi)) == T.CAPACITY.predict("dpfp_rank", d=d, nu=nu)


def test_capacity_figures_agree_with_theory_within_their_standard_errors():
    c = F.capacity(d=8, d_value=4, ns=(4, 8, 16, 32), trials=120, nus=(1, 2))
    for n, row in c.ls_error.items():
        assert row["theory"] == pytest.approx(max(0.0, 1 - 8 / n))
        assert abs(row["mean"] - row["theory"]) <= 4 * row["se"] + 1e-12, (n, row)
    for n, row in c.sum_crosstalk.items():
        assert row["theory"] == pytest.approx((n - 1) / 8)
        assert abs(row["mean"] - row["theory"]) <= 4 * row["se"], (n, row)
    assert all(row["rank"] == row["rank_theory"] == row["dim"] for row in c.dpfp.values())
    dp = c.dpfp_ls_error
    assert abs(dp["mean"] - dp["theory"]) <= 4 * dp["se"]
    # premises broken: low-rank keys crowd the sum rule; values linear in the keys are stored exactly
    low = F.capacity(d=8, ns=(16,), trials=60, nus=(1,), key_rank=2).sum_crosstalk[16]
    assert low["mean"] - low["theory"] > 10 * low["se"]
    lin = F.capacity(d=8, ns=(32,), trials=20, nus=(1,), values="linear-in-keys").ls_error[32]
    assert lin["mean"] < 1e-20 < lin["theory"]


@pytest.mark.parametrize("name", ["linear", "linear-causal", "linear+rope-causal"])
def test_zoo_linear_attention_is_the_recurrence(name):
    r = F.probe(name)
    assert r.verdict == "recurrent-equivalent" and len(r.layers) == 2
    assert all(c.causal == name.endswith("-causal") for c in r.layers)


def test_a_users_module_through_the_protocol_and_non_linear_designs():
    class MyLinear(nn.Module):
        causal, eps = True, 0.0

        def __init__(self, d=8):
            super().__init__()
            self.d_model = d
            self.qkv = nn.Linear(d, 3 * d)

        def fast_weight_parts(self, x):
            q, k, v = self.qkv(x).chunk(3, -1)
            return F.elu1(q)[:, None], F.elu1(k)[:, None], v[:, None]

        def fast_weight_readout(self, o):
            return o[:, 0]

        def forward(self, x):
            q, k, v = self.fast_weight_parts(x)
            return self.fast_weight_readout(F.parallel_attention(q, k, v, causal=True))

    r = F.probe(MyLinear().double())
    assert r.verdict == "recurrent-equivalent"
    with pytest.raises(NotApplicable, match="no linear-attention layer"):
        F.probe("rope")


def test_non_finite_inputs_are_rejected():
    q = torch.full((4, 2), float("nan"), dtype=torch.float64)
    with pytest.raises(InputError, match="NaN"):
        F.equivalences(q=q, k=q, v=q)
    with pytest.raises(InputError):
        F.capacity(trials=1)
    layer = F.find_linear_attention(__import__("probes.designs", fromlist=["build"]).build("linear"))[0][1]
    with pytest.raises(InputError, match="NaN"):
        F.check_layer(layer, torch.full((1, 4, 32), float("inf"), dtype=torch.float64))


def test_a_module_whose_output_goes_nan_is_diverged_not_a_verdict():
    """A linear-attention module that returns NaN (finite input) gets Diverged naming it, never 'differs'."""
    from probes.errors import Diverged

    class NaNOut(nn.Module):
        causal, eps, d_model = True, 0.0, 8

        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(8, 24)

        def fast_weight_parts(self, x):
            q, k, v = self.qkv(x).chunk(3, -1)
            return F.elu1(q)[:, None], F.elu1(k)[:, None], v[:, None]

        def fast_weight_readout(self, o):
            return o[:, 0]

        def forward(self, x):
            q, k, v = self.fast_weight_parts(x)
            out = self.fast_weight_readout(F.parallel_attention(q, k, v, causal=True))
            return out + float("nan") if x.shape[1] > 16 else out

    x = torch.randn(1, 24, 8, dtype=torch.float64)
    with pytest.raises(Diverged, match="mine: linear-attention differences is not finite"):
        F.check_layer(NaNOut().double(), x, name="mine")
    assert F.check_layer(NaNOut().double(), x[:, :16], name="mine").exact


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    assert all(F.equivalences(device="cuda").exact.values())
    assert F.probe("linear-causal", device="cuda").verdict == "recurrent-equivalent"
    c = F.capacity(d=8, ns=(4, 16), trials=20, nus=(1, 8), device="cuda")
    assert c.ls_error[4]["mean"] < 1e-20 and all(r["rank"] == r["rank_theory"] for r in c.dpfp.values())
