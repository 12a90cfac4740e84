"""The update-depth probe (DeepNet; Su 2022): slopes of one step's ‖ΔF‖ against N, Adam's first step, the linear
regime, round-off and non-finite updates, the audit command."""
from __future__ import annotations

import json

import pytest
import torch

from paper_checks._depth_sources import SIZES
from probes import _depth as D
from probes import update_depth as U
from probes.cli import main
from probes.designs.stacks import build_stack
from probes.errors import Diverged, InputError
from theory.update_depth import SLOPES

SMALL = dict(depths=(4, 16), seeds=2, d_model=16, n_heads=2, batch=4, tokens=8)


def test_deepnorm_and_su_constants_under_both_optimisers():
    deep = U.probe("deepnorm", **SMALL)
    su = U.probe("deepnorm-su-adam", **SMALL)
    assert deep.verdict == {"sgd": "flat", "adam": "grows"}, deep.verdict_detail
    assert su.verdict == {"sgd": "shrinks", "adam": "flat"}, su.verdict_detail
    assert deep.theory_slope == {"sgd": SLOPES.predict("slope_deepnorm_sgd"), "adam": 0.5}
    assert su.theory_slope == {"sgd": -1.0, "adam": 0.0}
    d = deep.to_dict()
    json.dumps(d)
    for key in ("verdict", "slope", "theory_slope", "delta_f", "delta_f_by_seed", "lr", "init"):
        assert key in d
    assert "sgd" in d["verdict_detail"]["sgd"] and "float64" in d["verdict_detail"]["sgd"]


def test_adam_first_step_is_eta_times_sign():
    """theory.update_depth, adam-first-step: every entry moves by η·sign(g)."""
    m = build_stack("postln", n_layers=2, d_model=16, n_heads=2, seed=0)
    task = D.make_task(16, 0, batch=2, tokens=4, classes=10, dtype=torch.float64, device="cpu")
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    m.zero_grad()
    task.loss(m(task.x)).backward()
    grads = {n: p.grad.detach().clone() for n, p in m.named_parameters()}
    m2 = build_stack("postln", n_layers=2, d_model=16, n_heads=2, seed=0)
    U.one_step(m2, task, "adam", 1e-6)
    for n, p in m2.named_parameters():
        moved = (p.detach() - before[n]) / 1e-6
        keep = grads[n].abs() > 1e-9
        assert torch.allclose(moved[keep], -torch.sign(grads[n][keep]), atol=1e-6), n


def test_linear_regime_delta_f_over_eta_does_not_depend_on_eta():
    task = D.make_task(16, 0, batch=2, tokens=4, classes=10, dtype=torch.float64, device="cpu")
    for opt in ("sgd", "adam"):
        a, _ = U.one_step(build_stack("deepnorm", n_layers=4, d_model=16, n_heads=2, seed=0), task, opt, 1e-6)
        b, _ = U.one_step(build_stack("deepnorm", n_layers=4, d_model=16, n_heads=2, seed=0), task, opt, 1e-7)
        assert a == pytest.approx(b, rel=1e-3), opt


def test_float32_round_off_is_reported_and_bad_options_refused():
    r = U.probe("deepnorm-su-adam", **{**SMALL, "optimizers": ("sgd",)}, dtype=torch.float32, lr=1e-4)
    assert any("round-off" in n for n in r.notes), r.notes
    with pytest.raises(InputError, match="below the round-off"):
        U.probe("deepnorm-su-adam", **{**SMALL, "optimizers": ("sgd",)}, dtype=torch.float32, lr=1e-12)
    with pytest.raises(InputError, match="lr"):
        U.probe("deepnorm", **SMALL, lr=float("nan"))
    with pytest.raises(InputError, match="optimizers"):
        U.probe("deepnorm", **{**SMALL, "optimizers": ("lamb",)})


def test_non_finite_update_is_diverged():
    class Blows(torch.nn.Module):
        def __init__(self, n_layers):
            super().__init__()
            self.d_model = 8
            self.blocks = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(n_layers))

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x / (self.blocks[0].weight.sum() - self.blocks[0].weight.sum().detach())  # 0/0 → NaN

    with pytest.raises(Diverged, match="not finite"):
        U.probe(lambda n_layers: Blows(n_layers), **SMALL)


def test_audit_update_depth(tmp_path, capsys):
    code = main(["audit", "deepnorm-su-adam", "--probe", "update-depth", "--json", "--ud-depths", "4,16",
                 "--ud-optimizer", "adam", "--depth-seeds", "2", "--depth-d-model", "16", "--depth-tokens", "8",
                 "--out", str(tmp_path / "rep")])
    out, _ = capsys.readouterr()
    assert code == 0
    res = json.loads(out)["probes"]["update_depth"]
    assert res["verdict"] == {"adam": "flat"} and res["theory_slope"] == {"adam": 0.0} and "adam" in res["slope"]
    assert (tmp_path / "rep" / "update_depth.png").stat().st_size > 0


def test_claim_sizes_are_small():
    assert SIZES["d_model"] <= 64
