"""The `attnprobe` command: audit (zoo, factories in files, Hugging Face models and checkpoints),
claims, zoo, and one-line errors with exit status 2."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from probes.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_zoo_json(capsys):
    code, out, _ = run(capsys, "audit", "alibi-causal", "--probe", "position-counting", "--json", "--pc-steps", "30")
    assert code == 0
    data = json.loads(out)
    pc = data["probes"]["position_counting"]
    assert data["design"]["name"] == "alibi-causal"
    assert pc["verdict"] == "cannot-count" and pc["rescued_by"] == ["bos", "cls-sep"]
    assert pc["theory"]["verdict"] == "cannot-count" and pc["fvu"] >= pc["floor_fvu"] - 1e-6
    for key in ("spread", "mirror_spread", "fvu", "floor_fvu"):
        assert key in pc


def test_audit_out_dir(tmp_path, capsys):
    code, out, _ = run(capsys, "audit", "urpe", "--probe", "position-counting", "--pc-no-train",
                       "--out", str(tmp_path / "rep"))
    assert code == 0 and "can-count" in out
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "# attnprobe audit: urpe" in md and "| verdict | **can-count** |" in md
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["probes"]["position_counting"]["verdict"] == "can-count"


def test_audit_interrupted_keeps_finished_probes(tmp_path, capsys, monkeypatch):
    """Ctrl-C during the second probe: the first is still printed and written, exit 130."""
    import probes.entropy

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(probes.entropy, "audit", interrupt)
    code, out, err = run(capsys, "audit", "urpe", "--probe", "position-counting", "--probe", "entropy",
                         "--pc-no-train", "--out", str(tmp_path / "rep"))
    assert code == 130 and "can-count" in out and "interrupted during entropy" in err
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["probes"]["position_counting"]["verdict"] == "can-count"
    assert rep["probes"]["entropy"] == {"interrupted": True}
    monkeypatch.setattr(probes.entropy, "audit", interrupt)
    code, _, err = run(capsys, "audit", "urpe", "--probe", "entropy")
    assert code == 130 and "interrupted" in err       # nothing finished: plain interruption


FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    class Block(nn.Module):
        """A user's design: absolute positions added, then a GRU-free mixing layer."""
        def __init__(self, d=16, n_max=64):
            super().__init__()
            self.d_model = d
            self.pos = nn.Parameter(torch.randn(n_max, d))
            self.mix = nn.Linear(d, d)
        def forward(self, x):
            return self.mix(x + self.pos[: x.shape[1]])

    class Blind(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(16, 16)
        def forward(self, x):
            return self.lin(x)

    def make():
        return Block()

    def blind():
        return Blind()

    def broken():
        raise RuntimeError("cannot build")

    def wrong_shape():
        return nn.Linear(16, 3)

    def not_a_module():
        return 42
''')


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "elsewhere" / "my_design.py"
    path.parent.mkdir()
    path.write_text(FACTORY)
    return path


def test_user_factory_outside_the_package(factory_file, capsys):
    code, out, _ = run(capsys, "audit", f"{factory_file}:make", "--json", "--pc-steps", "50")
    assert code == 0
    pc = json.loads(out)["probes"]["position_counting"]
    assert pc["verdict"] == "can-count" and pc["theory"] is None
    code, out, _ = run(capsys, "audit", f"{factory_file}:blind", "--json", "--d-model", "16", "--pc-no-train")
    assert code == 0 and json.loads(out)["probes"]["position_counting"]["verdict"] == "cannot-count"


@pytest.mark.parametrize("suffix, message", [
    (":broken", "the factory raised RuntimeError: cannot build"),
    (":wrong_shape", "expected output shape"),
    (":not_a_module", "not a torch.nn.Module"),
    (":missing", "has no attribute 'missing'"),
])
def test_bad_factories_give_one_line_errors(factory_file, capsys, suffix, message):
    code, out, err = run(capsys, "audit", f"{factory_file}{suffix}", "--d-model", "16")
    assert code == 2 and out == ""
    assert err.startswith("attnprobe: error:") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("design, message", [
    ("no_such_package.mod:make", "no module named 'no_such_package'"),
    ("rope+bogus", "'bogus' is not a normaliser"),
    ("missing/file.py:make", "no such file"),
])
def test_bad_design_names(capsys, design, message):
    code, _, err = run(capsys, "audit", design)
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_probe_and_dtype(capsys):
    assert run(capsys, "audit", "rope", "--probe", "nope")[0] == 2
    assert run(capsys, "audit", "rope", "--dtype", "int8")[0] == 2


def test_zoo_and_claims_listing(capsys):
    code, out, _ = run(capsys, "zoo", "--json")
    rows = json.loads(out)
    assert code == 0 and any(r["name"] == "rope-causal" and r["kind"] == "attention" for r in rows)
    assert any(r["name"] == "deepnorm" and r["kind"] == "stack" and r["placement"] == "deepnorm" for r in rows)
    code, out, _ = run(capsys, "claims", "--json")
    ids = [c["id"] for c in json.loads(out)]
    assert code == 0 and "su2022-rpe-cannot-count" in ids and "luo2022-urpe-restores-counting" in ids
    assert all(c["source"]["citation"] and c["statement"] for c in json.loads(out))


def test_audit_out_dir_writes_the_fit_plot(tmp_path, capsys):
    code, _, _ = run(capsys, "audit", "abs-causal", "--probe", "position-counting", "--pc-steps", "40",
                     "--out", str(tmp_path))
    assert code == 0
    png = tmp_path / "position_counting.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![position-counting](position_counting.png)" in (tmp_path / "report.md").read_text()


def test_inapplicable_probes_are_skipped_by_default_but_fail_when_named(factory_file, capsys):
    """A plain user module computes no attention weights its forward pass shows: the entropy probe does not apply."""
    code, out, _ = run(capsys, "audit", f"{factory_file}:make", "--json", "--pc-no-train")
    data = json.loads(out)
    assert code == 0 and data["probes"]["position_counting"]["verdict"] == "can-count"
    assert "no attention computation was seen" in data["probes"]["entropy"]["skipped"]
    code, _, err = run(capsys, "audit", f"{factory_file}:make", "--probe", "entropy")
    assert code == 2 and "no attention computation was seen" in err


def test_theory_listing_and_check(capsys):
    code, out, _ = run(capsys, "theory", "--module", "position_counting")
    assert code == 0 and "training-floor" in out and "step:" in out and "run with --check" in out
    code, out, err = run(capsys, "theory", "--name", "training-floor", "--check", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["name"] == "training-floor" and row["module"] == "theory.position_counting"
    assert row["steps"] and all(s["ok"] and s["seconds"] >= 0 and s["kind"] in ("symbolic", "numeric")
                                for s in row["steps"])
    assert "floor_mse" in row["predictions"]


def test_theory_bad_names(capsys):
    code, _, err = run(capsys, "theory", "--name", "no-such-derivation")
    assert code == 2 and err.count("\n") == 1 and "no such derivation" in err
    code, _, err = run(capsys, "theory", "--module", "nope")
    assert code == 2 and "unknown" in err


def test_diverged_probe_is_reported_not_a_verdict(capsys, monkeypatch):
    from probes import cli
    from probes.errors import Diverged

    class Boom:
        JSON_KEY = "boom"

        @staticmethod
        def audit(subject, **kw):
            raise Diverged(subject.name, "entropy H(n)", "first NaN at n = 1024")

    monkeypatch.setitem(sys.modules, "probes._boom", Boom)
    monkeypatch.setitem(cli.AUDIT_PROBES, "boom", "probes._boom")
    code, out, err = run(capsys, "audit", "nope", "--probe", "position-counting", "--probe", "boom", "--json",
                         "--pc-no-train")
    assert code == 2 and "nope: entropy H(n) is not finite" in err and err.count("\n") == 1
    monkeypatch.setattr(cli, "AUDIT_PROBES", {"position-counting": "probes.position_counting", "boom": "probes._boom"})
    code, out, _ = run(capsys, "audit", "nope", "--json", "--pc-no-train")
    data = json.loads(out)
    assert code == 0 and data["probes"]["boom"] == {"outcome": "diverged",
                                                    "reason": "nope: entropy H(n) is not finite (first NaN at n = "
                                                              "1024); no verdict from NaN/Inf"}
