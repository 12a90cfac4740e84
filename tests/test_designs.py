"""The zoo: every design builds, maps (batch, n, d) → (batch, n, d), respects its mask,
and its normaliser's row mass matches the sympy row-mass prediction."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probes.designs import ZOO, build, parse, randomize_parameters
from probes.designs.attention import causal_mask
from probes.designs.normalizers import NORMALIZERS, make_normalizer
from probes.errors import InputError
from theory.position_counting import row_mass


@pytest.mark.parametrize("name", ZOO)
def test_shape_determinism_and_mask(name):
    model = build(name, seed=1)
    x = torch.randn(2, 12, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert torch.equal(y, build(name, seed=1)(x)), "same seed must give the same output"
        assert not torch.equal(y, build(name, seed=2)(x)), "another seed must re-draw the parameters"
        x2 = x.clone()
        x2[:, -1] += torch.randn(32, dtype=torch.float64, generator=torch.Generator().manual_seed(5))  # last token only
        y2 = model(x2)
        early_changed = (y2[:, :-1] - y[:, :-1]).abs().max().item()
    if parse(name).causal:
        assert early_changed < 1e-12, f"{name}: a causal design let a later token change earlier outputs"
    else:
        assert early_changed > 1e-6, f"{name}: a bidirectional design ignored a later token"


@pytest.mark.parametrize("name", ZOO)
def test_attention_weights_shape(name):
    model = build(name, seed=0)
    x = torch.randn(1, 10, 32, dtype=torch.float64)
    ws = model.attention_weights(x)
    assert len(ws) == model.n_layers and all(w.shape == (1, model.n_heads, 10, 10) for w in ws)
    if parse(name).causal:
        assert all(torch.all(w.triu(1) == 0) for w in ws)


def test_parse_grammar_and_errors():
    s = parse("softmax1+alibi-causal")
    assert (s.normalizer, s.position, s.attention, s.causal) == ("softmax1", "alibi", "standard", True)
    s = parse("abs+rope")
    assert (s.position, s.input_position) == ("rope", "abs")
    assert parse("learned").position == "learned" and parse("learned").input_position is None
    with pytest.raises(InputError, match="'bogus' is not a normaliser"):
        parse("rope+bogus")
    with pytest.raises(InputError, match="own normaliser"):
        parse("diff+softmax1")


def test_randomize_redraws_everything():
    model = build("urpe", seed=None)
    c = [m.c_table for m in model.modules() if type(m).__name__ == "URPE"]
    assert c and all(torch.all(t == 1) for t in c), "URPE starts at the constant init C ≡ 1"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    randomize_parameters(model, 0)
    for k, v in model.state_dict().items():
        if v.is_floating_point() and v.numel() > 1:
            assert not torch.equal(v, before[k]), f"{k} was not re-drawn"


def test_length_beyond_max_len_is_a_clear_error():
    model = build("learned", seed=0, max_len=8)
    with pytest.raises(InputError, match="exceeds max_len 8"):
        model(torch.randn(1, 9, 32, dtype=torch.float64))


@pytest.mark.parametrize("norm", ["softmax", "softmax1", "l2", "exp", "sigmoid", "relu2", "logn", "ssmax", "shiftssmax",
                                  "clipped"])
@pytest.mark.parametrize("c", [-0.7, 0.0, 0.4])
def test_row_mass_matches_theory(norm, c):
    """Measured row sums of t identical logits = the lambdified sympy row mass."""
    n = 24
    logits = torch.full((1, 1, n, n), c, dtype=torch.float64)
    w = make_normalizer(norm, 1)(logits, causal_mask(n, "cpu"))[0, 0].detach()
    t = np.arange(1, n + 1, dtype=float)
    f = row_mass.function(f"row_mass_{norm}")
    args = {"c": c, "t": t, "n": n, "gamma": -0.025, "zeta": 1.0}
    names = [str(a) for a in row_mass._predictions[f"row_mass_{norm}"][1]]
    expected = np.broadcast_to(f(*[args[a] for a in names]), t.shape)
    if norm == "clipped":  # the closed form holds while (ζ−γ)/t + γ stays inside [0, 1]
        keep = (1.025 / t - 0.025) >= 0
        t, expected, measured = t[keep], expected[keep], w.sum(-1).numpy()[keep]
    else:
        measured = w.sum(-1).numpy()
    np.testing.assert_allclose(measured, expected, rtol=1e-12, atol=1e-14)


def test_every_normaliser_has_a_row_mass():
    missing = [k for k in NORMALIZERS if f"row_mass_{k}" not in row_mass.prediction_names]
    assert not missing, f"normalisers without a sympy row mass: {missing}"


def test_design_file_imports_its_sibling_modules(tmp_path, capsys):
    """`attnprobe audit design.py:make` where design.py does `from mylib import Block` (Python puts a script's
    folder on sys.path; the loader does the same for the design file, only while it loads)."""
    import sys

    from probes.designs.loading import load_design

    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "mylib_attnprobe_test.py").write_text(
        "import torch\nfrom torch import nn\n\nclass Block(nn.Module):\n    d_model = 8\n"
        "    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(8, 8)\n"
        "    def forward(self, x):\n        return self.lin(x)\n")
    (folder / "design.py").write_text("from mylib_attnprobe_test import Block\n\ndef make():\n    return Block()\n")
    before = list(sys.path)
    subject = load_design(f"{folder / 'design.py'}:make")
    assert subject.d_model == 8 and type(subject.module).__name__ == "Block"
    assert sys.path == before, "the design's folder must leave sys.path after loading"
    sys.modules.pop("mylib_attnprobe_test", None)


def test_a_user_package_named_theory_is_refused(tmp_path):
    """A project with its own theory/ (or theory/position_counting.py) must not give a mixed tree of modules."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proj = tmp_path / "proj"
    (proj / "theory").mkdir(parents=True)
    (proj / "theory" / "__init__.py").write_text("")
    (proj / "theory" / "position_counting.py").write_text("x = 1\n")
    code = "import sys; sys.path.insert(0, %r); sys.path.insert(1, %r); import probes.position_counting" % (
        str(proj), str(root))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=proj, timeout=120)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "ShadowedPackage" in last and "a package named 'theory' at" in last and "rename yours" in last, last
    # without the user's package the same import works
    ok = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import probes.position_counting"
                         % str(root)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
