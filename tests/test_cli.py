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
    code, out, _ = run(capsys, "audit", "alibi-causal", "--probe", "position-counting", "--json", "--pc-train", "--pc-steps", "30")
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
    from probes.registry import PROBES

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(PROBES["entropy"], "run", interrupt)
    code, out, err = run(capsys, "audit", "urpe", "--probe", "position-counting", "--probe", "entropy",
                         "--pc-no-train", "--out", str(tmp_path / "rep"))
    assert code == 130 and "can-count" in out and "interrupted during entropy" in err
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["probes"]["position_counting"]["verdict"] == "can-count"
    assert rep["probes"]["entropy"] == {"interrupted": True}
    assert [r["status"] for r in rep["table"]] == ["ok", "interrupted"]
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
    code, _, _ = run(capsys, "audit", "abs-causal", "--probe", "position-counting", "--pc-train", "--pc-steps", "40",
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
    from probes import registry
    from probes.contract import Probe
    from probes.errors import Diverged

    class Boom(Probe):
        name, json_key, title = "boom", "boom", "a probe that diverges"

        def run(self, subject, options=None):
            raise Diverged(subject.name, "entropy H(n)", "first NaN at n = 1024")

        def summary(self, result):  # pragma: no cover - never reached
            raise AssertionError

    monkeypatch.setitem(registry.PROBES, "boom", Boom())
    code, out, err = run(capsys, "audit", "nope", "--probe", "position-counting", "--probe", "boom", "--json",
                         "--pc-no-train")
    assert code == 2 and "nope: entropy H(n) is not finite" in err and err.count("\n") == 1
    monkeypatch.setattr(registry, "PROBES", {"position-counting": registry.PROBES["position-counting"],
                                             "boom": Boom()})
    code, out, _ = run(capsys, "audit", "nope", "--json", "--pc-no-train")
    data = json.loads(out)
    assert code == 0 and data["probes"]["boom"] == {"outcome": "diverged",
                                                    "reason": "nope: entropy H(n) is not finite (first NaN at n = "
                                                              "1024); no verdict from NaN/Inf"}
    assert data["table"][1]["status"] == "diverged"


def test_full_audit_prints_one_table_and_skips_with_reasons(tmp_path, capsys):
    """No --probe: every probe that applies runs; the others are listed with the reason; one table."""
    code, out, _ = run(capsys, "audit", "urpe", "--pc-no-train", "--entropy-rows", "16", "--entropy-d", "16",
                       "--entropy-max-log2n", "10", "--out", str(tmp_path))
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("property"))
    assert all(h in header for h in ("verdict", "key figure", "theory", "agrees?"))
    import re

    assert re.search(r"position counting \(identical tokens\) +can-count +spread [0-9.e+-]+ +can-count +yes", out)
    assert "gradient-depth, update-depth, collapse: skipped — zoo attention design 'urpe' is not a depth stack" in out
    rep = json.loads((tmp_path / "report.json").read_text())
    table = {r["probe"]: r for r in rep["table"]}
    assert table["position-counting"]["status"] == "ok" and table["position-counting"]["agrees"] is True
    assert table["entropy"]["status"] == "ok" and table["collapse"]["status"] == "skipped"
    md = (tmp_path / "report.md").read_text()
    assert "| property | verdict | key figure | theory | agrees? |" in md
    assert md.count("![entropy](") == 2 and (tmp_path / "norm_invariance.png").is_file()
    code, out, _ = run(capsys, "audit", "preln", "--json", "--pc-no-train", "--probe", "collapse",
                       "--collapse-layers", "6", "--collapse-kmin", "1", "--depth-seeds", "2", "--depth-d-model", "16")
    (row,) = json.loads(out)["table"]
    assert code == 0 and row["property"] == "representation collapse (init)" and row["agrees"] in (True, False)


def test_every_registered_probe_has_its_options_on_the_command_line(capsys):
    from probes.cli import build_parser
    from probes.registry import PROBES

    args = vars(build_parser().parse_args(["audit", "rope"]))
    for p in PROBES.values():
        for k, v in p.defaults().items():
            assert args[k] == v, (p.name, k)


def test_entropy_table_command_and_python_m(capsys):
    """`attnprobe entropy-table` (also `python -m probes.entropy`) prints the zoo verdicts beside theory's."""
    code, out, _ = run(capsys, "entropy-table", "nope", "logn", "--rows", "16", "--max-log2n", "10", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["design"] for r in rows] == ["nope", "logn"] and all(r["match"] for r in rows)
    code, out, _ = run(capsys, "entropy-table", "nope", "--rows", "16", "--max-log2n", "10")
    assert code == 0 and out.startswith("| design | P1 verdict |") and "| nope | standard-like |" in out
    import subprocess
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-m", "probes.entropy", "--help"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0 and "entropy-table" in proc.stdout


def test_one_key_flag_for_array_files(tmp_path, capsys):
    import numpy as np

    W = np.random.default_rng(0).standard_normal((12, 3))
    np.savez(tmp_path / "head.npz", lm=W, other=W[:, :2])
    code, out, _ = run(capsys, "unargmaxable", str(tmp_path / "head.npz"), "--key", "lm", "--json", "--quiet")
    assert code == 0 and json.loads(out)["vocab_size"] == 12
    code, _, err = run(capsys, "unargmaxable", str(tmp_path / "head.npz"), "--quiet")
    assert code == 2 and "--weight-key" in err


def test_zoo_json_lists_the_tags(capsys):
    code, out, _ = run(capsys, "zoo", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["alibi-causal"]["tags"]["position_kinds"] == ["logit"]
    assert rows["alibi-causal"]["tags"]["causal"] is True and rows["deepnorm"]["tags"]["placement"] == "deepnorm"


def test_a_design_that_fails_only_at_the_probe_length_is_named(tmp_path, capsys):
    """It passes the load-time check at n = 4 (a position table of 8) and fails at the probe's n = 16: one line
    naming the design, the probe, the length and the line of the design's code, not a traceback."""
    path = tmp_path / "short_table.py"
    path.write_text(textwrap.dedent('''
        import torch
        from torch import nn

        class Table(nn.Module):
            d_model = 8
            def __init__(self):
                super().__init__()
                self.pos = nn.Parameter(torch.randn(8, 8))
            def forward(self, x):
                return x + self.pos[: x.shape[1]]

        def make():
            return Table()
    '''))
    code, _, err = run(capsys, "audit", f"{path}:make", "--probe", "position-counting", "--pc-no-train")
    assert code == 2 and err.count("\n") == 1, err
    assert "failed during the position-counting probe at input shape (1, 16, 8) (n = 16)" in err
    assert "RuntimeError" in err and f"{path}:11" in err


def test_the_trainable_check_runs_only_when_the_exact_check_is_inconclusive(capsys):
    code, out, _ = run(capsys, "audit", "rope-causal", "--probe", "position-counting", "--json")
    pc = json.loads(out)["probes"]["position_counting"]
    assert code == 0 and pc["exact"] == "invariant" and pc["fvu"] is None      # decided exactly: no training
    code, out, _ = run(capsys, "audit", "rope-causal", "--probe", "position-counting", "--json", "--pc-train",
                       "--pc-steps", "20")
    assert json.loads(out)["probes"]["position_counting"]["fvu"] is not None
    with pytest.raises(SystemExit) as exc:
        main(["audit", "rope", "--pc-train", "--pc-no-train"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_bench_writes_table_json_and_figure(tmp_path, capsys):
    code, out, _ = run(capsys, "bench", "--only", "rope-causal", "--only", "abs", "--probe", "position-counting",
                       "--probe", "collapse", "--out", str(tmp_path), "--quiet")
    assert code == 0 and "| `rope-causal` | cannot-count (rescued by bos, cls-sep) ✓ | – |" in out
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["designs"] == ["rope-causal", "abs"] and data["counts"]["agrees"] == 2
    assert data["counts"]["not applicable"] == 2
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "bench", "--probe", "nope", "--out", str(tmp_path))
    assert code == 2 and "unknown probe" in err


def test_unargmaxable_screen_flag(tmp_path, capsys):
    import numpy as np

    from probes import unargmaxable as U
    from probes import witness_screen as ws

    W, _, planted = U.trained_like_head(600, 12, n_planted=5, seed=1)
    np.savez(tmp_path / "head.npz", lm=W)
    lists = {}
    for mode in (["none", "int8"] if ws.available("cpu") else ["none"]):
        code, out, _ = run(capsys, "unargmaxable", str(tmp_path / "head.npz"), "--key", "lm", "--json", "--quiet",
                           "--screen", mode)
        assert code == 0
        lists[mode] = json.loads(out)["unargmaxable"]
    assert set(planted.tolist()) <= set(lists["none"]) and all(v == lists["none"] for v in lists.values())
    code, _, err = run(capsys, "unargmaxable", str(tmp_path / "head.npz"), "--key", "lm", "--quiet",
                       "--screen", "int8", "--dtype", "float64")
    assert code == 2 and "screen='int8' needs dtype='float32'" in err and "Traceback" not in err
