"""Norm invariance: the Zhang & Sennrich 2019 table measured exactly (float64, ε = 0) on any norm module,
the input-gradient orthogonality, and the ε break scale against theory.norm_invariance."""
from __future__ import annotations

import json
import math
import textwrap

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from probes import norm_invariance as NI
from probes.cli import main
from probes.errors import Diverged, InputError, NotApplicable
from theory import norm_invariance as T

LN_ROW = {"weight-scale": True, "weight-recentre": True, "row-scale": False, "data-scale": True,
          "data-recentre": False, "single-case-scale": True}
RMS_ROW = dict(LN_ROW, **{"weight-recentre": False})
# Zhang & Sennrich's README row for BatchNorm (no theory row here: a user's own norm, measured only)
BN_ROW = {"weight-scale": True, "weight-recentre": False, "row-scale": True, "data-scale": True,
          "data-recentre": True, "single-case-scale": False}


def measured(row) -> dict:
    assert all(v != "inconclusive" for v in row.cells.values()), row.cells
    return {c: v == "invariant" for c, v in row.cells.items()}


def test_theory_table_is_read_from_the_checked_steps():
    assert T.theory_row("layernorm") == LN_ROW and T.theory_row("rmsnorm") == RMS_ROW
    step_names = {s.name for s in T.CELL_STEPS.steps}
    for cell in T.CELLS:
        for kind in T.KINDS:
            inv, name = T.TABLE[cell][kind]
            assert name in step_names and name.startswith(f"{kind} {cell}:")
            assert ("unchanged" in name) == inv


@settings(max_examples=12, deadline=None)
@given(d=st.integers(3, 48), seed=st.integers(0, 10_000), affine=st.booleans())
def test_layernorm_and_rmsnorm_rows_hold_for_every_width_and_seed(d, seed, affine):
    for module, row in ((nn.LayerNorm(d, elementwise_affine=affine), LN_ROW),
                        (nn.RMSNorm(d, elementwise_affine=affine), RMS_ROW)):
        if affine:
            with torch.no_grad():
                for p in module.parameters():
                    p.normal_(generator=torch.Generator().manual_seed(seed))
        r = NI.probe_norm(module, seed=seed)
        assert measured(r) == row and r.agrees_with_theory, (type(module).__name__, r.deviation)
        zero, nonzero = NI.thresholds(torch.float64)
        for cell, inv in row.items():
            assert (r.deviation[cell] <= zero) if inv else (r.deviation[cell] >= nonzero), (cell, r.deviation[cell])
        assert r.grad_perp_x == "orthogonal"
        assert r.grad_perp_1 == ("orthogonal" if isinstance(module, nn.LayerNorm) else "not-orthogonal")


def test_swapping_layernorm_for_rmsnorm_fails_the_recentring_cell():
    ln, rms = NI.probe_norm(nn.LayerNorm(16)), NI.probe_norm(nn.RMSNorm(16))
    assert ln.cells["weight-recentre"] == "invariant" and rms.cells["weight-recentre"] == "not-invariant"
    assert measured(rms) != T.theory_row("layernorm") and measured(ln) != T.theory_row("rmsnorm")


def test_a_users_own_norms_are_measured_and_matched_to_a_theory_row():
    class ScaleNorm(nn.Module):  # g·x/‖x‖ (no ε attribute)
        def __init__(self, d):
            super().__init__()
            self.d_model = d
            self.g = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.g * x / x.norm(dim=-1, keepdim=True)

    r = NI.probe(ScaleNorm(12))
    assert r.verdict == "measured-only" and r.rows[0].behaves_like == ("rmsnorm",)
    bn = NI.probe(nn.BatchNorm1d(12, affine=False, track_running_stats=False)).rows[0]
    assert measured(bn) == BN_ROW and bn.behaves_like == ()  # ε could not be zeroed: cells at a large scale
    assert any("could not be set to 0" in n for n in bn.notes)


@pytest.mark.parametrize("kind,module,eps", [("layernorm", nn.LayerNorm(16), 1e-5), ("rmsnorm", nn.RMSNorm(16, eps=1e-6), 1e-6),
                                             ("rmsnorm", nn.RMSNorm(16), None)])
def test_epsilon_break_scale_matches_theory(kind, module, eps):
    r = NI.probe_norm(module, tau=1e-3)
    eps_eff = eps if eps is not None else torch.finfo(torch.float64).eps   # torch: eps=None is finfo.eps
    assert r.eps_effective == pytest.approx(eps_eff, rel=1e-15)
    want = T.EPSILON.predict("break_scale", epsilon=eps_eff, tau=1e-3)
    assert r.break_scale == pytest.approx(want, rel=1e-8)
    assert r.eps_fitted == pytest.approx(eps_eff, rel=1e-6)
    assert r.max_rel_error_vs_theory < 1e-6
    # the approximation s_τ ≈ √(ε/2τ)
    assert r.break_scale == pytest.approx(math.sqrt(eps_eff / 2e-3), rel=2e-3)


def test_zeroed_epsilon_never_breaks_scale_invariance():
    ln = nn.LayerNorm(16, eps=0.0)
    r = NI.probe_norm(ln)
    assert r.break_scale is None and max(r.relative_deviation) < 1e-12


def test_float32_cells():
    r = NI.probe_norm(nn.LayerNorm(16), dtype=torch.float32)
    assert measured(r) == LN_ROW and r.agrees_with_theory


def test_zoo_design_norms_are_found_generically():
    r = NI.probe("diff-causal")
    kinds = {row.class_name: row for row in r.rows}
    assert set(kinds) == {"LayerNorm", "RMSNorm"} and r.verdict == "matches-theory"
    assert len(kinds["LayerNorm"].modules) == 5 and len(kinds["RMSNorm"].modules) == 2
    json.dumps(r.to_dict())
    assert "✓✓✗✓✗✓" in str(r)


def test_non_finite_outputs_are_diverged_and_bad_inputs_rejected():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(8))

        def forward(self, x):
            return x / 0.0 * 0.0  # NaN

    with pytest.raises(Diverged, match="not finite"):
        NI.probe_norm(Broken(), name="broken")
    nan_ln = nn.LayerNorm(8)
    with torch.no_grad():
        nan_ln.weight[3] = float("nan")
    with pytest.raises(InputError, match="parameter weight"):
        NI.probe_norm(nan_ln, name="ln")
    with pytest.raises(InputError, match="tau"):
        NI.probe_norm(nn.LayerNorm(8), tau=2.0)
    with pytest.raises(NotApplicable, match="no normalisation module"):
        NI.probe(nn.Sequential(nn.Linear(4, 4)), d_model=4)


FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    class MyNormalizer(nn.Module):          # a user's RMSNorm under a name the probe does not recognise
        def __init__(self, d=12):
            super().__init__()
            self.d_model = d
            self.eps = 1e-6
            self.weight = nn.Parameter(torch.ones(d))
        def forward(self, x):
            return self.weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def make():
        return MyNormalizer()

    def ln():
        return nn.LayerNorm(12)
''')


def test_cli_audits_zoo_designs_and_user_norms(tmp_path, capsys):
    code = main(["audit", "rope", "--probe", "norm-invariance", "--json"])
    out = json.loads(capsys.readouterr().out)["probes"]["norm_invariance"]
    assert code == 0 and out["verdict"] == "matches-theory" and out["rows"][0]["class_name"] == "LayerNorm"
    f = tmp_path / "my_norm.py"
    f.write_text(FACTORY)
    code = main(["audit", f"{f}:make", "--probe", "norm-invariance"])
    _, err = capsys.readouterr()
    assert code == 2 and "--ni-whole" in err            # its class name is not ...Norm: say how to test it
    code = main(["audit", f"{f}:make", "--probe", "norm-invariance", "--ni-whole", "--json"])
    row = json.loads(capsys.readouterr().out)["probes"]["norm_invariance"]["rows"][0]
    assert code == 0 and row["behaves_like"] == ["rmsnorm"] and row["break_scale_theory"] is not None
    code = main(["audit", f"{f}:ln", "--probe", "norm-invariance", "--d-model", "12", "--out", str(tmp_path / "rep")])
    assert code == 0 and (tmp_path / "rep" / "norm_invariance.png").is_file()
    assert "weight-recentre" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    for design in ("rope", "diff-causal"):
        cpu, gpu = NI.probe(design, device="cpu"), NI.probe(design, device="cuda")
        assert gpu.verdict == cpu.verdict and gpu.table == cpu.table
        for a, b in zip(cpu.rows, gpu.rows):
            assert b.break_scale == pytest.approx(a.break_scale, rel=1e-6)
