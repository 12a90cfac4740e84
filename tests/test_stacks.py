"""The depth stacks of the zoo (probes.designs.stacks): shapes, their own initialisation, the norm placements,
and the LayerNorm facts the depth theories rest on (ε = 0: exact norms, Lemma 3's Jacobian)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.designs import STACKS, ZOO, build, parse
from probes.designs.stacks import build_stack
from probes.errors import InputError
from theory.update_depth import DEEPNORM


def _x(b, n, d, seed=0):
    return torch.randn(b, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(STACKS))
def test_stack_builds_by_zoo_name_and_is_seeded(name):
    spec = parse(name)
    assert spec.stack == name and (spec.normalizer, spec.position, spec.attention, spec.causal) == \
        ("softmax", "nope", "standard", False)
    model = build(name, seed=1, n_layers=3)
    x = _x(2, 12, 32)
    with torch.no_grad():
        y = model(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert torch.equal(y, build(name, seed=1, n_layers=3)(x)), "same seed, same init"
        assert not torch.equal(y, build(name, seed=2, n_layers=3)(x)), "another seed, another init"
        ws = model.attention_weights(x)
    assert len(ws) == 3 and all(w.shape == (2, 4, 12, 12) for w in ws)
    assert all(torch.allclose(w.sum(-1), torch.ones((), dtype=w.dtype), atol=1e-12) for w in ws)
    assert name not in ZOO, "stacks are listed in STACKS, the attention zoo is unchanged"


def test_unknown_names_say_what_exists():
    with pytest.raises(InputError, match="not a depth stack"):
        parse("postlnn")
    with pytest.raises(InputError, match="unknown stack"):
        build_stack("nope")
    with pytest.raises(InputError, match="at least one layer"):
        build_stack("postln", n_layers=0)


@given(n=st.integers(1, 1000))
def test_deepnorm_constants_are_the_theorys(n):
    for name, row in (("deepnorm", "paper"), ("deepnorm-su-sgd", "su_sgd"), ("deepnorm-su-adam", "su_adam"),
                      ("deepnorm-su-lamb", "su_lamb")):
        from probes.designs.stacks import STACKS as S, constants

        a, g = constants(S[name], n)
        assert a == pytest.approx(DEEPNORM.predict(f"alpha_{row}", N=n), rel=1e-12)
        assert g == pytest.approx(DEEPNORM.predict(f"beta_{row}", N=n), rel=1e-12)
    a, g = constants(S["deepnorm"], n)
    assert 2 * n * (2 * g * g) / (a * a) == pytest.approx(1.0, rel=1e-12)  # DeepNet's update condition


def test_xavier_gains_match_the_design():
    d, n_layers = 64, 6
    m = build_stack("deepnorm", n_layers=n_layers, d_model=d, seed=0)
    beta = DEEPNORM.predict("beta_paper", N=n_layers)
    up = torch.cat([b.ffn.up.weight.flatten() for b in m.blocks])
    q = torch.cat([b.attn.qkv.weight[:d].flatten() for b in m.blocks])
    v = torch.cat([b.attn.qkv.weight[2 * d:].flatten() for b in m.blocks])
    up, q, v = up.detach(), q.detach(), v.detach()
    assert float(up.std()) == pytest.approx(beta * math.sqrt(2 / (d + 4 * d)), rel=0.03)
    assert float(q.std()) == pytest.approx(math.sqrt(2 / (2 * d)), rel=0.03), "Q and K keep gain 1"
    assert float(v.std()) == pytest.approx(beta * math.sqrt(2 / (2 * d)), rel=0.03)
    u = build_stack("postln", n_layers=2, d_model=16, seed=0, uniform_attention=True)
    assert torch.all(u.blocks[0].attn.qkv.weight[:32] == 0)
    w = u.attention_weights(_x(1, 7, 16))[0]
    assert torch.allclose(w, torch.full_like(w, 1 / 7), atol=1e-15), "W^Q = W^K = 0: uniform attention"


@settings(max_examples=15, deadline=None)
@given(d=st.integers(4, 48), seed=st.integers(0, 10_000), name=st.sampled_from(["postln", "deepnorm", "residual"]))
def test_renormalised_streams_have_norm_sq_d_exactly(d, seed, name):
    """ε = 0: every Post-LN / DeepNorm / ResiDual post-stream state is an LN output, ‖h‖² = d to rounding."""
    m = build_stack(name, n_layers=3, d_model=d, n_heads=1 if d % 4 else 4, seed=seed)
    with torch.no_grad():
        hs = m.hidden_states(_x(2, 5, d, seed))["h"][1:]
    for h in hs:
        assert torch.allclose(h.pow(2).sum(-1), torch.full(h.shape[:-1], float(d), dtype=h.dtype), rtol=1e-12)


def test_placements_compose_as_documented():
    x = _x(2, 6, 16)
    pre = build_stack("preln", n_layers=2, d_model=16, seed=0)
    post = build_stack("postln", n_layers=2, d_model=16, seed=0)
    res = build_stack("residual", n_layers=2, d_model=16, seed=0)
    with torch.no_grad():
        assert torch.allclose(pre(x), pre.final_norm(pre.hidden_states(x)["h"][-1]))
        assert torch.equal(post(x), post.hidden_states(x)["h"][-1])
        s = res.hidden_states(x)
        assert set(s) == {"h", "dual"} and len(s["dual"]) == 3 and torch.equal(s["dual"][0], x)
        assert torch.allclose(res(x), s["h"][-1] + res.final_norm(s["dual"][-1]))
        assert torch.equal(s["h"][-1], post.hidden_states(x)["h"][-1]), "ResiDual's blocks are Post-LN blocks"
    rms = build_stack("rmsnorm-preln", n_layers=1, d_model=16, seed=0)
    assert isinstance(rms.final_norm, torch.nn.RMSNorm)


def test_detached_branch_inputs_change_gradients_not_outputs():
    x = _x(2, 6, 16)
    a = build_stack("postln", n_layers=3, d_model=16, seed=0)
    b = build_stack("postln", n_layers=3, d_model=16, seed=0, detach_branch_input=True)
    ya, yb = a(x), b(x)
    assert torch.equal(ya, yb)
    proj = _x(1, 1, 16, seed=3)  # (the plain sum of an LN output is 0 whatever the weights)
    (ya * proj).sum().backward()
    (yb * proj).sum().backward()
    ga, gb = a.blocks[0].ffn_out.weight.grad, b.blocks[0].ffn_out.weight.grad
    assert not torch.allclose(ga, gb) and torch.equal(a.blocks[-1].ffn_out.weight.grad, b.blocks[-1].ffn_out.weight.grad)


@settings(max_examples=20, deadline=None)
@given(d=st.integers(3, 24), seed=st.integers(0, 10_000), shift=st.floats(-5, 5))
def test_layernorm_jacobian_is_lemma_3(d, seed, shift):
    """J_LN(x) = (√d/‖y‖)(I − 11ᵀ/d − ŷŷᵀ), y = x − x̄ (ε = 0): singular values √d/‖y‖ (d − 2 times) and 0, 0."""
    x = torch.randn(d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) + shift
    ln = torch.nn.LayerNorm(d, eps=0.0, elementwise_affine=False).double()
    jac = torch.autograd.functional.jacobian(ln, x)
    sv = torch.linalg.svdvals(jac)
    y = x - x.mean()
    expected = math.sqrt(d) / float(y.norm())
    np.testing.assert_allclose(sv[: d - 2].numpy(), expected, rtol=1e-9)
    assert float(sv[d - 2:].abs().max()) < 1e-9 * expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_depth_probes_on_cuda_match_cpu():
    """The three depth probes give the CPU's figures on CUDA (float64; same seeds, parameters drawn on the CPU)."""
    from probes import collapse as C
    from probes import gradient_depth as G
    from probes import update_depth as U

    kw = dict(seeds=2, d_model=16, n_heads=2, batch=4, tokens=8)
    for dev_pair in (("cpu", "cuda"),):
        g = [G.probe("preln", depths=(4, 16), reference=False, device=d, **kw) for d in dev_pair]
        assert g[1].verdict == g[0].verdict and g[1].slope == pytest.approx(g[0].slope, rel=1e-6, abs=1e-9)
        u = [U.probe("deepnorm", depths=(4, 16), device=d, **kw) for d in dev_pair]
        assert u[1].verdict == u[0].verdict
        for o in u[0].optimizers:
            assert u[1].slope[o] == pytest.approx(u[0].slope[o], rel=1e-5, abs=1e-7)
        c = [C.probe("residual", n_layers=16, k_min=3, device=d, **kw) for d in dev_pair]
        assert c[1].verdict == c[0].verdict and c[1].slope == pytest.approx(c[0].slope, rel=1e-6, abs=1e-9)
