"""The Dask path (probes.distributed): on a 2-worker LocalCluster (processes, one thread each) every result
equals the in-process one exactly (bench verdicts, the unargmaxable set and certificates, the N_k vector);
a worker killed mid-run changes nothing; an interrupted sweep resumes from the cache and recomputes only the
missing cells; without Dask, and with a bad --scheduler, the command ends with one line and exit 2."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time

import numpy as np
import pytest
import torch

from probes.cli import main

distributed = pytest.importorskip("distributed")

from probes import hubness as H  # noqa: E402
from probes import unargmaxable as U  # noqa: E402
from probes.bench import run_bench, run_cell  # noqa: E402
from probes.distributed import blocks, cluster, cost  # noqa: E402
from probes.distributed.cache import CellCache  # noqa: E402

DESIGNS = ["rope-causal", "alibi", "ssmax", "postln"]
PROBES = ["norm-invariance", "position-counting", "collapse"]
DEADLINE = 60.0  # seconds any one distributed wait may take before the test fails


@pytest.fixture(scope="module")
def client():
    with cluster.connect("local:2") as c:
        assert c.attnprobe_info.workers == 2 and c.attnprobe_info.threads == 2
        yield c


def _cells(res):
    return [(c.design, c.probe, c.outcome, c.verdict, c.theory, c.key_figure) for c in res.cells]


@pytest.fixture(scope="module")
def in_process():
    return run_bench(DESIGNS, probes=PROBES, progress=False)


# -- equal results -------------------------------------------------------------------------------------------
def test_bench_grid_equals_in_process(client, in_process):
    dist = run_bench(DESIGNS, probes=PROBES, progress=False, client=client, timeout=DEADLINE)
    assert _cells(dist) == _cells(in_process)
    assert in_process.counts()["agrees"] >= 4 and in_process.counts()["not applicable"] >= 1  # a real grid


def test_unargmaxable_on_the_cluster_equals_in_process(client):
    W, b, planted = U.trained_like_head(900, 12, n_planted=12, bias=True, seed=3)
    ref = U.detect(W, b, block=128, screen="none")  # the cluster's pass: float32 products of every pair
    plans = []
    res, plan = blocks.detect(W, b, client=client, block=128, report=plans.append)
    assert plan.block == 128 and plan.tasks == 8 * 9 // 2 and plans and "budget" in plans[0]
    assert plan.chunks >= 1                                   # some tokens did go to the hard-token tasks
    assert res.unargmaxable == ref.unargmaxable and set(planted.tolist()) <= set(res.unargmaxable)
    assert res.certified and ref.certified
    # the self-witness pass is the same float32 arithmetic: same survivors, same scales, same pass rows
    c0, c1 = ref.certificates, res.certificates
    assert np.array_equal(c0.kind == 0, c1.kind == 0) and np.array_equal(c0.scale, c1.scale)
    assert np.array_equal(c0.y, c1.y) and res.stages["self_witness"] == ref.stages["self_witness"]
    v = U.verify(res, W, b)
    assert v.ok and v.n_alpha_checked == res.n_unargmaxable and v.n_witness_checked + v.n_alpha_checked \
        + int((c1.kind == 3).sum()) == 900


def test_self_witness_pairs_cover_the_symmetric_half():
    pairs = U._witness_pairs(1000, 256)
    assert len(pairs) == 10 and all(t >= s for s, _, t, _ in pairs)
    cover = np.zeros((1000, 1000), bool)
    for s, e, t, f in pairs:
        cover[s:e, t:f] = True
    assert np.all(cover | cover.T)


def test_hubness_nk_on_the_cluster_equals_in_process(client):
    X = H.synthetic("normal", 1500, 16, seed=0)
    ref = H.probe(X, k=10, block=256)
    plans = []
    res = H.probe(X, k=10, block=256, scan=blocks.knn_scan(client, block=256, plans=plans))
    assert plans and plans[0].tasks == 6 * 7 // 2 and plans[0].block == 256
    assert res.histogram == ref.histogram and res.skewness == ref.skewness and res.robinhood == ref.robinhood
    from probes.knn import knn

    for metric, queries in (("euclidean", None), ("cosine", None), ("dot", H.synthetic("normal", 700, 16, seed=1))):
        a = knn(X, queries, k=7, metric=metric, block=256)
        b = knn(X, queries, k=7, metric=metric, block=256, scan=blocks.knn_scan(client, block=256))
        na = torch.bincount(a.indices.flatten(), minlength=1500)
        nb = torch.bincount(b.indices.flatten(), minlength=1500)
        assert torch.equal(na, nb), metric                   # the N_k vector, exactly
        assert torch.equal(a.indices.sort(1).values, b.indices.sort(1).values)


# -- the cost model ------------------------------------------------------------------------------------------
def test_cost_model_counts_and_budget(client):
    cal = cost.calibrate(client, k=64, min_seconds=0.05)
    assert cal.workers == 2 and all(r > 1e7 for r in cal.rates) and cal.where == "workers"
    est = cost.unargmaxable_cost(1000, 10, workers=2, calibration=cal, block=256)
    sizes = [256, 256, 256, 232]
    assert est.tasks == 10 and est.multiply_adds == 10 * (1000 ** 2 + sum(s * s for s in sizes)) / 2
    assert est.estimated_seconds == pytest.approx(est.compute_seconds + est.overhead_seconds)
    assert est.compute_seconds == pytest.approx(est.multiply_adds / (2 * cal.rate))
    wide = cost.unargmaxable_cost(1000, 10, workers=64, calibration=cal, block=256, bandwidth=1e9)
    assert wide.compute_seconds == pytest.approx(est.compute_seconds * 2 / 64) and wide.transfer_seconds > 0
    for budget in (8, 64, 256):  # the block is the largest multiple of 256 whose task fits the budget
        e = cost.unargmaxable_cost(128_256, 4096, workers=8, calibration=cal, memory_budget_mib=budget)
        assert e.task_memory_bytes <= budget * 2**20 or e.block == 256
        assert cost.unargmaxable_task_bytes(e.block + 256, 4096) > budget * 2**20
    text = str(est)
    assert "multiply-adds" in text and "assumes:" in text and "network not modelled" in text


def test_dry_run_prints_the_estimate_only(tmp_path, capsys):
    W, _ = U.gaussian_head(300, 8, seed=0)
    np.save(tmp_path / "w.npy", W)
    code = main(["unargmaxable", str(tmp_path / "w.npy"), "--dry-run", "--json", "--plan-workers", "64",
                 "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["workers"] == 64 and out["shape"] == {"V": 300, "d": 8, "r": 8}
    assert "unargmaxable" not in out and out["calibration"]["where"] == "this process"
    code = main(["hubness", str(tmp_path / "w.npy"), "-k", "5", "--dry-run", "--quiet"])
    assert code == 0 and "hubness k-NN pass" in capsys.readouterr().out


# -- the cache, and an interrupted sweep -----------------------------------------------------------------------
def test_interrupted_sweep_resumes_from_the_cache(client, in_process, tmp_path):
    cache_dir = tmp_path / "cache"
    seen = []

    def stop_after_three(cell, from_cache):
        seen.append((cell.design, cell.probe, from_cache))
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_bench(DESIGNS, probes=PROBES, progress=False, client=client, cache=CellCache(cache_dir),
                  on_cell=stop_after_three, timeout=DEADLINE)
    stored = sorted(cache_dir.rglob("*.json"))
    done_before = {(d, p) for d, p, _ in seen}
    cache = CellCache(cache_dir)
    resumed = []
    res = run_bench(DESIGNS, probes=PROBES, progress=False, client=client, cache=cache,
                    on_cell=lambda c, hit: resumed.append((c.design, c.probe, hit)), timeout=DEADLINE)
    total = len(DESIGNS) * len(PROBES)
    assert len(stored) == 3 and cache.hits == 3 and cache.misses == total - 3
    assert {(d, p) for d, p, hit in resumed if hit} == done_before          # exactly the finished cells
    assert {(d, p) for d, p, hit in resumed if not hit} == {(d, p) for d in DESIGNS for p in PROBES} - done_before
    assert _cells(res) == _cells(in_process)
    again = CellCache(cache_dir)
    run_bench(DESIGNS, probes=PROBES, progress=False, cache=again)             # in-process: nothing left to do
    assert (again.hits, again.misses) == (total, 0)
    fresh = CellCache(cache_dir, fresh=True)
    run_bench(DESIGNS[:1], probes=PROBES[:1], progress=False, cache=fresh)
    assert (fresh.hits, fresh.misses) == (0, 1)


def test_cache_key_follows_design_probe_and_options(tmp_path):
    from probes.bench import cell_options
    from probes.registry import get

    (tmp_path / "mine.py").write_text("from probes.designs.zoo import build, parse\n"
                                      "def make():\n    return build(parse('rope'), d_model=16)\n")
    c = CellCache(tmp_path / "c")
    p = get("norm-invariance")
    k0 = c.key("rope", p, cell_options(p.name, {"seed": 0}))
    assert k0 == c.key("rope", p, cell_options(p.name, {"seed": 0}))
    assert k0 != c.key("rope", p, cell_options(p.name, {"seed": 1}))
    assert k0 != c.key("alibi", p, cell_options(p.name, {"seed": 0}))
    assert k0 != c.key("rope", get("collapse"), cell_options("collapse", {"seed": 0}))
    design = f"{tmp_path / 'mine.py'}:make"
    k1 = c.key(design, p, cell_options(p.name))
    (tmp_path / "mine.py").write_text((tmp_path / "mine.py").read_text() + "# edited\n")
    assert c.key(design, p, cell_options(p.name)) != k1                     # the design's source is in the key


def test_bench_cli_reports_cache_hits(tmp_path, capsys):
    argv = ["bench", "--only", "rope-causal", "--probe", "norm-invariance", "--probe", "collapse", "--out",
            str(tmp_path / "o"), "--cache", str(tmp_path / "c"), "--quiet"]
    assert main(argv) == 0
    assert "0 of 2 cells from the cache" in capsys.readouterr().err
    assert main(argv) == 0
    assert "2 of 2 cells from the cache" in capsys.readouterr().err
    assert main(argv + ["--fresh"]) == 0
    assert "0 of 2 cells from the cache" in capsys.readouterr().err


def test_cli_scheduler_path(client, tmp_path, capsys, monkeypatch):
    """The commands' --scheduler wiring, on the module's cluster (connect() is pointed at it)."""
    @contextlib.contextmanager
    def fixture_cluster(spec, **_):
        yield client

    monkeypatch.setattr(cluster, "connect", fixture_cluster)
    argv = ["bench", "--only", "alibi", "--probe", "norm-invariance", "--out", str(tmp_path / "o"), "--no-cache",
            "--scheduler", "local:2", "--json", "--quiet"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in data["cells"]] == ["agrees"]
    X = H.synthetic("normal", 400, 8, seed=2).numpy()
    np.save(tmp_path / "x.npy", X)
    assert main(["hubness", str(tmp_path / "x.npy"), "-k", "5", "--json", "--scheduler", "local:2",
                 "--memory-budget", "1"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["histogram"] == list(H.probe(X, k=5).histogram)
    assert "cost model" in err and "block 256 rows" in err and "budget 1 MiB" in err
    W, b, _ = U.trained_like_head(300, 10, n_planted=5, bias=True, seed=0)
    np.savez(tmp_path / "h.npz", w=W, b=b)
    assert main(["unargmaxable", str(tmp_path / "h.npz"), "--key", "w", "--bias-key", "b", "--json", "--quiet",
                 "--scheduler", "local:2", "--block", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["unargmaxable"] == list(U.detect(W, b, block=64).unargmaxable)


def test_a_scheduler_address_gives_the_in_process_cells(client, in_process, tmp_path, capsys):
    """--scheduler tcp://host:port (the module's running scheduler, reached by its address as a user's cluster
    would be, no monkeypatching) gives the same cells as the in-process run."""
    address = client.scheduler.address
    assert address.startswith("tcp://")
    argv = ["bench", "--only", "alibi", "--probe", "norm-invariance", "--out", str(tmp_path / "o"), "--no-cache",
            "--scheduler", address, "--json", "--quiet"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    ref = in_process.cell("alibi", "norm-invariance")
    assert [(c["outcome"], c["verdict"]) for c in data["cells"]] == [(ref.outcome, ref.verdict)]


# -- one-line errors -------------------------------------------------------------------------------------------
def _one_line(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("attnprobe: error: "), (argv, err)
    for n in needles:
        assert n in err[0], (n, err[0])


def test_without_dask_the_flag_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    W, _ = U.gaussian_head(20, 3, seed=0)
    np.save(tmp_path / "w.npy", W)
    _one_line(capsys, ["bench", "--scheduler", "local:2", "--only", "rope", "--out", str(tmp_path)],
              "pip install", "[dask]")
    _one_line(capsys, ["unargmaxable", str(tmp_path / "w.npy"), "--scheduler", "local:2"], "pip install")
    _one_line(capsys, ["hubness", str(tmp_path / "w.npy"), "-k", "3", "--scheduler", "local:2"], "pip install")
    assert main(["unargmaxable", str(tmp_path / "w.npy"), "--quiet", "--json"]) == 0  # in-process still works
    capsys.readouterr()


def test_bad_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    for spec, needle in (("local:0", "at least 1"), ("local:-3", "at least 1"), ("local:four", "malformed"),
                         ("local:", "malformed"), ("", "empty"), ("tcp://host:99999", "out of range")):
        _one_line(capsys, ["bench", "--scheduler", spec, "--only", "rope", "--out", str(tmp_path)], needle)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    t0 = time.perf_counter()
    _one_line(capsys, ["bench", "--scheduler", "tcp://127.0.0.1:9", "--only", "rope", "--probe", "collapse",
                       "--out", str(tmp_path), "--no-cache"], "cannot reach")
    assert time.perf_counter() - t0 < 20
    W, _ = U.gaussian_head(20, 3, seed=0)
    np.save(tmp_path / "w.npy", W)
    _one_line(capsys, ["unargmaxable", str(tmp_path / "w.npy"), "--memory-budget", "0", "--dry-run"], "budget")
    _one_line(capsys, ["unargmaxable", str(tmp_path / "w.npy"), "--plan-workers", "8"], "--dry-run")
    _one_line(capsys, ["unargmaxable", str(tmp_path / "w.npy"), "--box", "10", "--dry-run"], "in-process")


def test_help_does_not_import_dask():
    import subprocess

    code = ("import sys; from probes.cli import build_parser; build_parser().format_help(); "
            "print(any(m == 'distributed' or m.startswith(('distributed.', 'dask')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


# -- a worker killed mid-run (last: the nanny restarts it) --------------------------------------------------------
def test_a_killed_worker_changes_nothing(client, in_process, tmp_path):
    marker = tmp_path / "killed-once"
    victim = (DESIGNS[1], PROBES[0])

    def dying_cell(design, probe, options):
        if (design, probe) == victim and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-task; the scheduler re-runs the task elsewhere
        return run_cell(design, probe, options)

    before = set(client.scheduler_info()["workers"])
    res = run_bench(DESIGNS, probes=PROBES, progress=False, client=client, task=dying_cell, timeout=DEADLINE)
    assert marker.exists()                                # the victim's first attempt ran (and exited)
    assert _cells(res) == _cells(in_process)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < DEADLINE:            # the nanny brings a new worker process back
        now = set(client.scheduler_info()["workers"])
        if len(now) == 2 and now != before:
            break
        time.sleep(0.2)
    assert len(now) == 2 and len(now - before) == 1, (before, now)   # one worker died and was replaced
