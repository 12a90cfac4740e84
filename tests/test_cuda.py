"""Every probe on a CUDA device gives the CPU's answer (skipped where no CUDA device is present).

CI has no GPU; these run on a lent GPU machine with ``python -m pytest tests/test_cuda.py``.
"""
import numpy as np
import pytest
import torch

from probes import entropy as E
from probes import hubness as H
from probes import position_counting as PC
from probes import unargmaxable as U
from probes.designs.zoo import ZOO

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("design", sorted(ZOO))
def test_position_counting_exact_check_on_cuda(design):
    cpu = PC.probe(design, train=False, device="cpu")
    gpu = PC.probe(design, train=False, device="cuda")
    assert (gpu.verdict, gpu.rescued_by, gpu.exact) == (cpu.verdict, cpu.rescued_by, cpu.exact)
    assert gpu.spread == pytest.approx(cpu.spread, rel=1e-6, abs=1e-12)


def test_position_counting_training_on_cuda():
    gpu = PC.probe("abs", train=True, device="cuda")
    assert gpu.verdict == "can-count" and gpu.fvu < 0.05


@pytest.mark.parametrize("bias", [False, True])
def test_unargmaxable_on_cuda_matches_cpu(bias):
    W, b, planted = U.trained_like_head(3000, 8, n_planted=7, bias=bias, seed=3)
    cpu = U.detect(W, b, device="cpu")
    gpu = U.detect(W, b, device="cuda")
    assert gpu.unargmaxable == cpu.unargmaxable and gpu.certified
    assert set(planted.tolist()) <= set(gpu.unargmaxable)
    assert U.verify(gpu, W, b).ok


@pytest.mark.parametrize("metric", H.METRICS)
def test_hubness_knn_on_cuda_matches_cpu(metric):
    X = H.synthetic("normal", 5000, 64, seed=2)
    Q = H.synthetic("normal", 700, 64, seed=3) + 0.2
    for queries in (None, Q):
        a = H.knn(X, queries, k=10, metric=metric, block=1024, device="cpu")
        g = H.knn(X, queries, k=10, metric=metric, block=1024, device="cuda")
        assert torch.equal(a.indices, g.indices), (metric, queries is None)


def test_hubness_probe_on_cuda_matches_cpu():
    X = H.synthetic("normal", 3000, 50, seed=4)
    a = H.probe(X, k=10, device="cpu").to_dict()
    g = H.probe(X, k=10, device="cuda").to_dict()
    assert a["skewness"] == g["skewness"] and a["robinhood"] == g["robinhood"]


@pytest.mark.parametrize("design", sorted(ZOO))
def test_entropy_probe_on_cuda_matches_cpu(design):
    kw = dict(rows=64, n_max=1 << 10)
    cpu = E.probe(design, device="cpu", **kw)
    gpu = E.probe(design, device="cuda", **kw)
    assert (gpu.verdict, gpu.needle_verdict) == (cpu.verdict, cpu.needle_verdict)
    for n, h in cpu.entropy_by_n.items():
        assert gpu.entropy_by_n[n] == pytest.approx(h, rel=1e-9, abs=1e-12), n
    for delta, by_n in cpu.needle_by_n.items():
        for n, p in by_n.items():
            assert gpu.needle_by_n[delta][n] == pytest.approx(p, rel=1e-9, abs=1e-12), (delta, n)
