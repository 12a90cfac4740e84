"""The collapse probe (ResiDual, Xie et al. 2023): Pre-LN's consecutive layers converge like 1/k, Post-LN's and
ResiDual's post stream do not; the independent-increment law as a property test; non-finite cosines; the audit."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import collapse as C
from probes.cli import main
from probes.errors import Diverged, InputError
from theory.collapse import COLLAPSE

SMALL = dict(n_layers=16, k_min=3, seeds=2, d_model=16, n_heads=2, batch=4, tokens=8)


def test_preln_collapses_postln_and_residual_do_not():
    pre = C.probe("preln", **SMALL)
    post = C.probe("postln", **SMALL)
    res = C.probe("residual", **SMALL)
    assert pre.verdict == "shrinks" and post.verdict == "flat" and res.verdict == "flat"
    assert pre.theory_slope == COLLAPSE.predict("slope_preln") == -1
    assert post.theory_slope == 0 and res.streams["dual"]["theory_slope"] == -1
    assert res.streams["dual"]["verdict"] == "shrinks"
    assert pre.theory_band[0] < pre.theory_band[1] < 0
    assert len(pre.gap) == 16 and all(c > 0 for c in pre.independent_increment_cos)
    d = pre.to_dict()
    json.dumps(d)
    for key in ("verdict", "slope", "theory_slope", "gap", "streams", "init"):
        assert key in d


@settings(max_examples=8, deadline=None)
@given(a=st.floats(0.3, 4.0), seed=st.integers(0, 10_000))
def test_independent_increments_give_the_theory_gap(a, seed):
    """A stream h_{k+1} = h_k + u_k with independent u_k, E‖u‖² = v and V₀ = a·v: 1 − cos follows gap_preln(k, a)."""
    d, rows, v = 256, 64, 1.0
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, d, dtype=torch.float64, generator=gen) * math.sqrt(a * v / d)
    f = COLLAPSE.function("gap_preln")
    for k in range(12):
        u = torch.randn(rows, d, dtype=torch.float64, generator=gen) * math.sqrt(v / d)
        nxt = h + u
        gap = 1 - float(torch.nn.functional.cosine_similarity(h, nxt, dim=-1).mean())
        want = float(f(k, a))
        assert gap == pytest.approx(want, rel=0.25, abs=2e-3), (k, a)
        h = nxt


def test_nan_cosines_are_diverged_and_bad_sizes_refused():
    class Zeroes(torch.nn.Module):
        def __init__(self, n_layers):
            super().__init__()
            self.d_model = 8
            self.blocks = torch.nn.ModuleList(torch.nn.Identity() for _ in range(n_layers))

        def forward(self, x):
            for b in self.blocks:
                x = b(x) * 0.0
            return x

    with pytest.raises(Diverged, match="cos"):
        C.probe(lambda n_layers: Zeroes(n_layers), **SMALL)
    with pytest.raises(InputError, match="k_min"):
        C.probe("preln", **{**SMALL, "k_min": 15})


def test_audit_collapse_out_dir(tmp_path, capsys):
    code = main(["audit", "rmsnorm-preln", "--probe", "collapse", "--json", "--collapse-layers", "16", "--collapse-kmin",
                 "3", "--depth-seeds", "2", "--depth-d-model", "16", "--depth-tokens", "8", "--out", str(tmp_path / "r")])
    out, _ = capsys.readouterr()
    assert code == 0
    res = json.loads(out)["probes"]["collapse"]
    assert res["verdict"] == "shrinks" and res["theory_slope"] == -1 and "slope" in res
    assert (tmp_path / "r" / "collapse.png").stat().st_size > 0
    assert np.isfinite(res["gap"]).all()
