"""Scan and Snap: the simulated 1-layer dynamics against theory.scan_snap (Lemma 1, Thm 2, Thm 3, snap time)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from probes import scan_snap as S
from probes.errors import Diverged, InputError


@settings(max_examples=10, deadline=None)
@given(K=st.integers(2, 5), M=st.integers(5, 30), nd=st.integers(1, 4), nc=st.integers(0, 3), seed=st.integers(0, 999),
       attention=st.sampled_from(["softmax", "sigmoid"]), decoder=st.sampled_from(["softmax", "mse"]))
def test_hand_gradients_equal_autograd(K, M, nd, nc, seed, attention, decoder):
    M = max(M, K)
    P = torch.tensor(S.make_data(K=K, M=M, n_distinct=nd, n_common=nc, w_common=0.3 if nc else 0.0, seed=seed).P)
    g = torch.Generator().manual_seed(seed)
    Y = torch.randn(P.shape[1], M, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randn(P.shape[1], generator=g, dtype=torch.float64, requires_grad=True)
    loss, _ = S._forward(P, Y, z, attention, decoder, K)
    gY, gz = torch.autograd.grad(loss, (Y, z))
    loss2, _, gY2, gz2 = S._grads(P, Y.detach(), z.detach(), attention, decoder, K)
    assert torch.allclose(loss, loss2, atol=1e-13) and torch.allclose(gY, gY2, atol=1e-13)
    assert torch.allclose(gz, gz2, atol=1e-13)


@settings(max_examples=6, deadline=None)
@given(K=st.integers(2, 6), seed=st.integers(0, 999), w=st.floats(0.2, 0.7))
def test_lemma1_and_thm2_hold_for_random_sequence_classes(K, seed, w):
    r = S.simulate(K=K, M=40, n_distinct=3, n_common=2, w_common=w, eta_Y=1.0, eta_Z=0.05, steps=60, seed=seed)
    assert r.lemma1 == "holds" and max(r.row_sum_Y, r.row_sum_z) < 1e-12
    assert r.thm2 == "holds" and r.z_distinct_min > 0 > r.z_common_max


def test_lemma1_needs_shift_invariant_softmaxes():
    r = S.simulate(M=40, steps=40, decoder="mse", attention="sigmoid")
    assert r.lemma1 == "fails" and r.row_sum_Y > 1e-3 and r.row_sum_z > 1e-8


def test_a_token_private_to_one_class_rises():
    base = S.simulate(M=60, steps=80)
    private = S.simulate(M=60, steps=80, exclusive=True)
    assert base.z_first_common < 0 < private.z_first_common


def test_no_shared_token_no_scan():
    r = S.simulate(M=60, steps=80, n_common=0, w_common=0.0, eta_Z=0.1)
    assert abs(r.z_distinct_min) < 1e-12 and r.thm2 == "fails" and r.t_peak is None


def test_thm3_error_shrinks_with_the_learning_rate_ratio():
    errs = [S.simulate(M=60, steps=100, eta_Y=1.0, eta_Z=ez).ratio_law_max_rel_error for ez in (0.001, 0.01, 0.1, 1.0)]
    assert errs == sorted(errs) and errs[0] < 1e-3 < 0.05 < errs[-1]


@pytest.mark.parametrize("eta", [1.0, 4.0])
def test_decoder_transition_time_matches_the_derived_half_time(eta):
    r = S.simulate(M=300, K=6, n_common=0, w_common=0.0, eta_Y=eta, eta_Z=0.0, steps=int(120 / eta))
    assert abs(r.t_half - r.t_half_theory) <= 1.0, (r.t_half, r.t_half_theory)   # one step of the GD grid
    assert r.t0_quoted == pytest.approx(2 * 6 * torch.log(torch.tensor(300.0)).item() / eta)


def test_bad_inputs_and_divergence():
    with pytest.raises(InputError):
        S.simulate(eta_Y=float("inf"))
    with pytest.raises(InputError):
        S.simulate(decoder="hinge")
    with pytest.raises(InputError):
        S.make_data(K=1)
    with pytest.raises(Diverged, match="not finite"):
        S.simulate(M=20, K=3, decoder="mse", eta_Y=1e6, steps=200)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    kw = dict(M=60, steps=60, eta_Z=0.05)
    cpu, gpu = S.simulate(device="cpu", **kw), S.simulate(device="cuda", **kw)
    assert (gpu.lemma1, gpu.thm2, gpu.thm3, gpu.t_half) == (cpu.lemma1, cpu.thm2, cpu.thm3, cpu.t_half)
    assert gpu.z_first_common == pytest.approx(cpu.z_first_common, rel=1e-9)
