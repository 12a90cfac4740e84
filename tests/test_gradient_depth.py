"""The gradient-depth probe (Xiong et al. 2020): verdicts on the zoo stacks, Lemma 2 and the App. F cancellation as
property tests against the theory, user factories, non-finite gradients, the audit command."""
from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import gradient_depth as G
from probes.cli import main
from probes.designs.loading import load_design
from probes.designs.stacks import build_stack
from probes.errors import Diverged, InputError, NotApplicable
from theory.gradient_depth import CANCELLATION, DEPTH_SLOPE, LEMMA1, LEMMA2

SMALL = dict(depths=(4, 16), seeds=2, d_model=16, n_heads=2, batch=4, tokens=8, reference=False)


def test_postln_flat_preln_shrinks():
    post = G.probe("postln", **SMALL)
    pre = G.probe("preln", **SMALL)
    assert post.verdict == "flat" and pre.verdict == "shrinks", (post.verdict_detail, pre.verdict_detail)
    assert post.theory_slope == DEPTH_SLOPE.predict("slope_postln") == 0
    assert pre.theory_slope == DEPTH_SLOPE.predict("slope_preln") == -0.5
    assert pre.theory_band[0] < pre.theory_band[1] <= 0
    assert post.ffn_residual_sq_theory == pytest.approx(1 + 2 * 4 / 25)
    assert set(post.profiles) == {"4", "16"} and len(post.profiles["16"]) == 16
    d = post.to_dict()
    json.dumps(d)
    for key in ("verdict", "slope", "theory_slope", "last_layer_grad", "profiles", "profile_ratio", "init"):
        assert key in d
    assert "not applied" in d["init"]
    assert all(math.isfinite(v) for v in post.last_layer_grad.values())


def test_reference_profile_ratio_and_xiong_setting():
    r = G.probe("postln", **{**SMALL, "reference": True})
    assert set(r.profile_ratio_vs_preln) == {"4", "16"}
    assert r.profile_ratio_vs_preln["16"] == pytest.approx(r.profile_ratio["16"] / r.reference_profile_ratio["16"])
    x = G.probe("postln", **{**SMALL, "d_model": 8}, setting="xiong")
    assert x.setting["n_heads"] == 1 and x.setting["d_ff"] == 8 and x.ffn_residual_sq_theory == pytest.approx(1.5)


@settings(max_examples=12, deadline=None)
@given(d=st.sampled_from([16, 32, 64]), r=st.sampled_from([1, 2, 4]), seed=st.integers(0, 10_000))
def test_lemma2_forward_and_backward_gain_match_theory(d, r, seed):
    """For Xavier W¹ (d×rd), W² (rd×d) and an LN output x: E‖x + FFN(x)‖²/d and E‖(I + W²DW¹)ᵀv‖²/‖v‖² are both
    1 + 2r/(1+r)² (xiong-lemma2, xiong-appF-cancellation); Monte Carlo over 200 weight draws, 5 standard errors."""
    gen = torch.Generator().manual_seed(seed)
    draws, fwd, bwd = 200, [], []
    ln = torch.nn.LayerNorm(d, eps=0.0, elementwise_affine=False).double()
    for _ in range(draws):
        x = ln(torch.randn(d, dtype=torch.float64, generator=gen))
        w1 = torch.randn(d, r * d, dtype=torch.float64, generator=gen) * math.sqrt(2 / (d + r * d))
        w2 = torch.randn(r * d, d, dtype=torch.float64, generator=gen) * math.sqrt(2 / (d + r * d))
        pre = x @ w1
        fwd.append(float((x + torch.relu(pre) @ w2).pow(2).sum()) / d)
        v = torch.randn(d, dtype=torch.float64, generator=gen)
        back = v + ((v @ w2.T) * (pre > 0)) @ w1.T
        bwd.append(float(back.pow(2).sum() / v.pow(2).sum()))
    expected = LEMMA2.predict("post5_norm_ratio", r=r)
    assert expected == pytest.approx(CANCELLATION.predict("branch_gain", r=r))
    for name, vals in (("forward", fwd), ("backward", bwd)):
        se = np.std(vals, ddof=1) / math.sqrt(draws)
        assert abs(np.mean(vals) - expected) < 5 * se, f"{name} gain {np.mean(vals):.4f} vs theory {expected:.4f}"


def test_lemma1_relu_norm():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(200_000, dtype=torch.float64, generator=gen) * 1.7
    got = float(torch.relu(z).pow(2).mean())
    assert got == pytest.approx(LEMMA1.predict("relu_norm_sq", sigma=1.7, d=1), rel=0.02)


def test_user_factories_seeded_and_not_applicable_cases(tmp_path):
    def make(n_layers=4):
        return build_stack("preln", n_layers=n_layers, d_model=16, n_heads=2, seed=int(torch.randint(0, 1000, ())))

    a = G.probe(make, **SMALL)
    assert a.placement == "pre" and a.verdict == "shrinks" and a.theory_slope == -0.5
    assert a.theory_band is None, "a user factory's d_ff is unknown: no Lemma-2 band"
    assert G.probe(make, **SMALL).slope == a.slope, "the probe seeds torch's RNG around the factory"
    with pytest.raises(NotApplicable, match="n_layers"):
        G.probe(lambda: build_stack("preln"), **SMALL)
    with pytest.raises(NotApplicable, match="one depth"):
        G.probe(build_stack("preln"), **SMALL)
    with pytest.raises(NotApplicable, match="not a depth stack"):
        G.probe("rope", **SMALL)
    with pytest.raises(NotApplicable, match="not a depth stack"):
        G.probe(load_design("rope"), **SMALL)
    with pytest.raises(InputError, match="unknown zoo design"):
        G.probe("ropee", **SMALL)
    with pytest.raises(InputError, match="two distinct"):
        G.probe("postln", **{**SMALL, "depths": (6,)})
    with pytest.raises(InputError, match="2 seeds"):
        G.probe("postln", **{**SMALL, "seeds": 1})


class _NaNAfter(torch.nn.Module):
    """A stack whose blocks blow up once the depth passes a threshold."""

    def __init__(self, n_layers, limit=4, d=8):
        super().__init__()
        self.d_model = d
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(d, d, bias=False) for _ in range(n_layers))
        self.limit = limit

    def forward(self, x):
        for k, b in enumerate(self.blocks):
            x = x + b(x)
            if k >= self.limit:
                x = x * float("inf")
        return x


def test_non_finite_gradients_are_diverged_not_a_verdict():
    with pytest.raises(Diverged, match="not finite"):
        G.probe(lambda n_layers: _NaNAfter(n_layers), **{**SMALL, "depths": (2, 8)})


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.norm = nn.LayerNorm(d, elementwise_affine=False)
            self.up, self.down = nn.Linear(d, 2 * d, bias=False), nn.Linear(2 * d, d, bias=False)
            for m in (self.up, self.down):
                nn.init.xavier_normal_(m.weight)   # (torch's default init: smaller branches, slower growth)
        def forward(self, x):
            return x + self.down(torch.relu(self.up(self.norm(x))))

    class Stack(nn.Module):
        placement = "pre"
        def __init__(self, n_layers, d=16):
            super().__init__()
            self.d_model = d
            self.blocks = nn.ModuleList(Block(d) for _ in range(n_layers))
            self.final = nn.LayerNorm(d, elementwise_affine=False)
        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return self.final(x)

    def make(n_layers=4):
        return Stack(n_layers)

    def fixed():
        return Stack(3)
''')


def test_audit_zoo_stack_json_and_plots(tmp_path, capsys):
    code, out, _ = _cli(capsys, "audit", "postln", "--probe", "gradient-depth", "--json", "--gd-depths", "4,16",
                        "--depth-seeds", "2", "--depth-d-model", "16", "--depth-tokens", "8", "--gd-no-reference")
    assert code == 0
    res = json.loads(out)["probes"]["gradient_depth"]
    assert res["verdict"] == "flat" and res["theory_slope"] == 0 and "slope" in res
    code, _, _ = _cli(capsys, "audit", "preln", "--probe", "gradient-depth", "--gd-depths", "4,16", "--depth-seeds", "2",
                      "--depth-d-model", "16", "--depth-tokens", "8", "--out", str(tmp_path / "rep"))
    assert code == 0 and (tmp_path / "rep" / "gradient_depth.png").stat().st_size > 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "last-layer slope vs L" in md and "gradient_profile.png" in md


def test_audit_user_factory_file_and_refusals(tmp_path, capsys):
    path = tmp_path / "stack.py"
    path.write_text(FACTORY)
    code, out, _ = _cli(capsys, "audit", f"{path}:make", "--probe", "gradient-depth", "--json", "--gd-depths", "4,16",
                        "--depth-seeds", "2", "--depth-tokens", "8")
    assert code == 0
    res = json.loads(out)["probes"]["gradient_depth"]
    assert res["placement"] == "pre" and res["verdict"] == "shrinks" and res["theory_slope"] == -0.5
    assert res["gradient_of"].startswith("block.down.weight")
    code, _, err = _cli(capsys, "audit", f"{path}:fixed", "--probe", "gradient-depth")
    assert code == 2 and "n_layers" in err and err.count("\n") == 1
    code, _, err = _cli(capsys, "audit", "alibi", "--probe", "gradient-depth")
    assert code == 2 and "not a depth stack" in err
