"""Fuzz the command line in-process (through ``probes.cli.main``): every outcome is exit 0 with an answer or exit 2
with one line, never another exit code and never a traceback.

* file commands (``hubness``, ``unargmaxable``) on random bytes, every offset class of truncation, flipped bytes,
  wrong dtypes and shapes of valid .npy/.npz/.safetensors/.pt files;
* ``audit`` on modules that raise, return NaN, change shape, or fail only past some length.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.cli import main

CASES = {"files": 0, "audit": 0}


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), f"{argv}: exit {code}\n{err[-2000:]}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("attnprobe: error: "), f"{argv}: {err[-2000:]}"
    else:
        assert out.strip(), f"{argv}: exit 0 but no answer"
    return code


def _valid(tmp_path):
    from safetensors.numpy import save_file

    X = np.random.default_rng(0).standard_normal((24, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", X)
    np.savez(tmp_path / "v.npz", w=X, b=X[:, 0].copy())
    save_file({"w": X}, str(tmp_path / "v.safetensors"))
    torch.save({"w": torch.from_numpy(X)}, tmp_path / "v.pt")
    return {s: (tmp_path / f"v{s}").read_bytes() for s in (".npy", ".npz", ".safetensors", ".pt")}


def _commands(path):
    return [["hubness", str(path), "-k", "3", "--quiet", "--json"],
            ["unargmaxable", str(path), "--quiet", "--json"]]


def test_valid_files_answer(tmp_path, capsys):
    _valid(tmp_path)
    for s in (".npy", ".npz", ".safetensors", ".pt"):
        for argv in _commands(tmp_path / f"v{s}"):
            assert _run(capsys, argv) == 0, argv


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".npy", ".npz", ".safetensors", ".pt", ".bin"]),
       which=st.integers(0, 1))
def test_random_bytes(tmp_path_factory, capsys, data, suffix, which):
    path = tmp_path_factory.mktemp("rb") / f"f{suffix}"
    path.write_bytes(data)
    _run(capsys, _commands(path)[which])
    CASES["files"] += 1


def test_truncations_and_flipped_bytes(tmp_path, capsys):
    files = _valid(tmp_path)
    rng = np.random.default_rng(1)
    for suffix, data in files.items():
        cuts = sorted(set(list(range(0, 40, 3)) + list(range(40, len(data), max(1, len(data) // 12)))
                          + [len(data) - 1]))
        for i, cut in enumerate(cuts):
            path = tmp_path / f"cut{cut}{suffix}"
            path.write_bytes(data[:cut])
            _run(capsys, _commands(path)[i % 2])
            CASES["files"] += 1
        for trial in range(6):
            buf = bytearray(data)
            for pos in rng.integers(0, len(buf), size=3):
                buf[pos] = int(rng.integers(0, 256))
            path = tmp_path / f"flip{trial}{suffix}"
            path.write_bytes(bytes(buf))
            _run(capsys, _commands(path)[trial % 2])
            CASES["files"] += 1


@pytest.mark.parametrize("arr", [
    np.ones((5, 3), dtype=np.complex64), np.ones((5, 3), dtype=np.int32), np.ones(7), np.ones((2, 3, 4)),
    np.ones((0, 3)), np.ones((4, 0)), np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([[np.inf, 1.0], [0.0, 1.0]]),
    np.ones((2, 1)), np.ones((3, 1), dtype=np.float16)])
def test_wrong_dtypes_and_shapes(tmp_path, capsys, arr):
    np.save(tmp_path / "a.npy", arr)
    for argv in _commands(tmp_path / "a.npy"):
        _run(capsys, argv)
        CASES["files"] += 1


# -- audit on modules that misbehave ------------------------------------------------------------------
DESIGN = '''
import torch
from torch import nn

MODE, LENGTH = {mode!r}, {length}

class Bad(nn.Module):
    d_model = 8

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.pos = nn.Parameter(torch.randn(LENGTH, 8))

    def forward(self, x):
        n = x.shape[1]
        y = self.lin(x)
        if n <= LENGTH:
            return y
        if MODE == "raise":
            raise RuntimeError("unsupported length")
        if MODE == "nan":
            return y * float("nan")
        if MODE == "shape":
            return y[:, :-1]
        if MODE == "table":
            return y + self.pos[:n]
        return y

def make():
    return Bad()
'''


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["raise", "nan", "shape", "table", "none"]), length=st.integers(2, 20),
       named=st.booleans())
def test_audit_modules_that_misbehave(tmp_path_factory, capsys, mode, length, named):
    path = tmp_path_factory.mktemp("design") / "bad.py"
    path.write_text(DESIGN.format(mode=mode, length=length))
    argv = ["audit", f"{path}:make", "--pc-no-train", "--json"] + (["--probe", "position-counting"] if named else [])
    code = _run(capsys, argv)
    if mode == "none":
        assert code == 0
    CASES["audit"] += 1


def test_cases_were_tried():
    """Runs last in this file: the fuzzers above tried the cases they say."""
    assert CASES["files"] >= 100 and CASES["audit"] >= 10, CASES
    print(f"\nfuzzed the CLI: {CASES['files']} file cases, {CASES['audit']} audit cases")


# -- edge sizes: a valid answer or a clear error -------------------------------------------------------
def test_edge_sizes_of_every_probe_that_takes_them():
    from probes import entropy as E
    from probes import hubness as H
    from probes import position_counting as PC
    from probes import unargmaxable as U
    from probes.errors import InputError

    W = np.array([[1.0], [2.0]])                                   # V = 2, d = 1
    assert U.detect(W, None).unargmaxable == () and U.detect(W, np.array([0.0, -5.0])).certified
    assert U.detect(np.array([[1.0], [1.0]]), None).unargmaxable == (0, 1)   # a tie: neither is a strict argmax
    with pytest.raises(InputError, match="at least two rows"):
        U.detect(np.array([[1.0, 0.0]]), None)
    assert PC.probe("rope-causal", n=2, train=False).verdict == "cannot-count"   # n = 2
    with pytest.raises(InputError, match="at least 2 positions"):
        PC.probe("rope-causal", n=1, train=False)
    assert H.probe(np.random.default_rng(0).standard_normal((3, 1)), k=1).n == 3  # n = 3, d = 1, k = 1
    with pytest.raises(InputError, match="no spread"):
        H.probe(np.random.default_rng(0).standard_normal((2, 1)), k=1)            # k = n − 1
    assert E.probe("nope", n_max=1024, rows=2).verdict == "standard-like"          # the smallest judged range
    with pytest.raises(InputError, match="training length"):
        E.probe("nope", n_max=512)
