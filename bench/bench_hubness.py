"""Benchmark: exact k-occurrence (self excluded) against a GEMM + top-k floor, a float64 numpy
reference, faiss IndexFlatL2 and scikit-learn brute force.

Not run by CI. One workload per child process (so its peak memory is its own), and within it, in
this order: attnprobe's k-NN pass (``probes.knn.knn``: the probe's k-occurrence), the *floor* (the
symmetric half of the n × n × d float32 GEMM, blocks Y_I @ Y_Jᵀ for J ≥ I, and ``torch.topk`` of
every block: what any exact GEMM-based method must at least do; timed at attnprobe's block and at 4096,
and the faster counts; attnprobe and the floor alternate ``--repeat`` times, 3 by default, 1 with
``--large``, and the medians count), the *reference* (float64 numpy:
squared distances of the centred data by row blocks, self excluded, ``np.argpartition`` for the
k nearest), then faiss and scikit-learn if installed. Every time is printed as wall and CPU
seconds (CPU/wall well below the thread count means the machine was shared: re-run). Rows equal:
neighbour sets equal to the reference's; a row that differs only by exactly tied distances
(float64, by direct differences) is counted apart.

Workloads (``--workload``, repeatable; ``--hub-heavy`` = ``--workload hub-heavy``):

* ``hub-heavy``: :func:`probes.hubness.hub_heavy` (dense clusters, near-duplicate rows, a log-normal
  norm spread and a few rows near the centre): N_k skewness > 50, as for trained word embeddings;
* ``gaussian``: N(0, I) rows (skewness of a few to ~15 from the d-dimensional concentration).

    python bench/bench_hubness.py                 # both workloads, n = 30 000, d = 384 (a few minutes)
    python bench/bench_hubness.py --large         # n = 100 000, d = 768 (the issue's size)
    python bench/bench_hubness.py --hub-heavy     # only the hub-heavy one
    python bench/bench_hubness.py --device cuda   # attnprobe and the floor on a GPU (the rest on CPU)

faiss-cpu and scikit-learn are optional: a missing one is skipped with a message.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes import hubness as H  # noqa: E402  (the measures of N_k and the hub-heavy generator)
from probes import knn as KNN  # noqa: E402  (the exact k-NN engine)

WORKLOADS = ("hub-heavy", "gaussian")


def _rss_mb(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident set size of this process, MiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Reset this process's peak RSS to its current RSS (Linux ≥ 4.0), so the next peak is attnprobe's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - w0, time.process_time() - c0


FLOOR_BLOCK = 4096   # the floor is also timed in tiles of this size (the faster of it and attnprobe's block counts)


def _floor_blocks(block: int) -> list[int]:
    return list(dict.fromkeys((block, FLOOR_BLOCK)))


def _median(runs: list[list[float]]) -> list[float]:
    """The run of median wall time (its wall and CPU seconds; of an even count, the upper middle one)."""
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def workload(name: str, n: int, d: int, seed: int) -> np.ndarray:
    """The float32 (n, d) data of a workload, drawn from ``seed``."""
    if name == "hub-heavy":
        return H.hub_heavy(n, d, seed, dtype=torch.float32).numpy()
    if name == "gaussian":
        return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    raise SystemExit(f"workload {name!r}: choose {', '.join(WORKLOADS)}")


def floor(Y: torch.Tensor, k: int, block: int) -> None:
    """The symmetric half of Y Yᵀ by blocks (J ≥ I) into one preallocated tile, and each block's top-k rows."""
    n = len(Y)
    buf = torch.empty(min(block, n) ** 2, dtype=Y.dtype, device=Y.device)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        for j0 in range(i0, n, block):
            j1 = min(j0 + block, n)
            G = torch.mm(Y[i0:i1], Y[j0:j1].T, out=buf[:(i1 - i0) * (j1 - j0)].view(i1 - i0, j1 - j0))
            G.topk(k, dim=1, sorted=False)


def reference(X: np.ndarray, k: int, budget_bytes: int = 2 ** 28) -> np.ndarray:
    """float64 numpy k-NN (self excluded): centred squared distances by row blocks, ``np.argpartition``."""
    X64 = X.astype(np.float64)
    X64 -= X64.mean(0)
    sq = np.einsum("ij,ij->i", X64, X64)
    n = len(X64)
    b = max(1, min(n, budget_bytes // (8 * n)))
    out = np.empty((n, k), dtype=np.int64)
    for i0 in range(0, n, b):
        i1 = min(i0 + b, n)
        D = X64[i0:i1] @ X64.T
        D *= -2
        D += sq[i0:i1, None]
        D += sq[None, :]
        D[np.arange(i1 - i0), np.arange(i0, i1)] = np.inf
        out[i0:i1] = np.argpartition(D, k - 1, axis=1)[:, :k]
    return out


def agreement(idx: np.ndarray, ref: np.ndarray, X: np.ndarray) -> tuple[int, int]:
    """(rows whose neighbour set equals the reference's, rows that differ only by exactly tied distances)."""
    a, b = np.sort(idx, 1), np.sort(ref, 1)
    diff = np.nonzero((a != b).any(1))[0]
    ties = 0
    if len(diff):
        X64 = X.astype(np.float64)
        q = X64[diff][:, None, :]
        da = np.sort(((X64[idx[diff]] - q) ** 2).sum(-1), 1)
        db = np.sort(((X64[ref[diff]] - q) ** 2).sum(-1), 1)
        ties = int((da == db).all(1).sum())
    return len(idx) - len(diff), ties


def _faiss(X: np.ndarray, k: int, threads: int):
    try:
        import faiss
    except ImportError:
        print("faiss: not installed (pip install faiss-cpu); baseline skipped", file=sys.stderr)
        return None
    faiss.omp_set_num_threads(threads)

    def run():
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(X)
        _, I = index.search(X, k + 1)
        # drop self; if a duplicate displaced self from the list, drop the last column instead
        rows = np.arange(len(X))[:, None]
        is_self = I == rows
        keep = ~is_self
        keep[~is_self.any(1), -1] = False
        return I[keep].reshape(len(X), k)

    return _timed(run)


def _sklearn(X: np.ndarray, k: int, threads: int):
    try:
        from sklearn.neighbors import NearestNeighbors
    except ImportError:
        print("scikit-learn: not installed (pip install scikit-learn); baseline skipped", file=sys.stderr)
        return None

    def run():
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean", n_jobs=threads).fit(X)
        return nn.kneighbors(return_distance=False)   # no X: each point's own row excludes itself

    return _timed(run)


def run_workload(name: str, args) -> dict:
    """Every measurement of one workload, in this process (see the module docstring)."""
    torch.set_num_threads(args.threads)
    X = workload(name, args.n, args.d, args.seed)
    n, d, k = len(X), X.shape[1], args.k
    Xt = torch.from_numpy(X)
    Y = Xt.to(args.device)
    fblocks = _floor_blocks(args.block)
    runs, floors = [], {b: [] for b in fblocks}
    # attnprobe and the floor alternate, --repeat times (the medians count: a 2-core VM swings ±10 % minute
    # to minute); the floor at attnprobe's block and at FLOOR_BLOCK, and the ratio is to the faster, so no block
    # choice of attnprobe's makes the floor slower than it could be. The peak is the first run's.
    for r in range(args.repeat):
        if r == 0:
            _reset_peak()
            rss0 = _rss_mb("VmRSS")
        res, wall, cpu = _timed(lambda: KNN.knn(Xt, k=k, metric="euclidean", dtype="float32", device=args.device,
                                                block=args.block, progress=args.progress))
        if r == 0:
            peak = _rss_mb() - rss0
        runs.append([wall, cpu])
        for b in fblocks:
            floors[b].append(list(_timed(lambda b=b, Y=Y: floor(Y, k, b))[1:]))
    del Y
    idx = res.indices.numpy()
    N = np.bincount(idx.ravel(), minlength=n)
    m = H.measures(N)
    out = {"workload": name, "n": n, "d": d, "k": k, "seed": args.seed, "threads": args.threads,
           "skewness": m["skewness"], "antihub": m["antihub_occurrence"], "max_nk": int(N.max()),
           "attnprobe": _median(runs), "attnprobe_runs": runs, "peak_mib": peak,
           "rows": {"clear": res.clear_rows, "rescored": res.rescored_rows, "fallback": res.fallback_rows,
                    "tied": res.tied_rows}}
    out["floor_by_block"] = {str(b): _median(v) for b, v in floors.items()}
    out["floor_runs"] = {str(b): v for b, v in floors.items()}
    fb = min(out["floor_by_block"], key=lambda b: out["floor_by_block"][b][0])
    out["floor"], out["floor_block"] = out["floor_by_block"][fb], int(fb)
    if "reference" not in args.skip:
        ref, rw, rc = _timed(lambda: reference(X, k))
        out["reference"] = [rw, rc]
        out["rows_equal"], out["rows_tie_only"] = agreement(idx, ref, X)
    for base, fn in (("faiss", _faiss), ("sklearn", _sklearn)):
        if base in args.skip:
            continue
        got = fn(X, k, args.threads)
        if got is not None:
            I, bw, bc = got
            out[base] = [bw, bc]
            if "reference" not in args.skip:
                out[f"{base}_rows_equal"] = agreement(I, ref, X)[0]
    return out


def _print(results: list[dict], args) -> None:
    fblocks = " and ".join(map(str, _floor_blocks(args.block)))
    print(f"\nk = {args.k}, euclidean, seed {args.seed}, {args.threads} threads, torch {torch.__version__}, "
          f"device {args.device}, block {args.block}; times wall s / CPU s; floor: the faster of blocks {fblocks} "
          "(each below); ratio = attnprobe wall / floor wall; "
          "speed-up = reference wall / attnprobe wall; peak = attnprobe's RSS over the input")
    print("| workload | n | d | skewness N_k | attnprobe s (CPU) | floor s (CPU) | ratio to floor | "
          "reference s (CPU) | speed-up | rows equal | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        a, f = r["attnprobe"], r["floor"]
        ref = r.get("reference")
        eq = (f"{r['rows_equal']}/{r['n']}" + (f" (+{r['rows_tie_only']} tie-only)" if r["rows_tie_only"] else "")
              if ref else "—")
        print(f"| {r['workload']} | {r['n']} | {r['d']} | {r['skewness']:.1f} | {a[0]:.1f} ({a[1]:.1f}) | "
              f"{f[0]:.1f} ({f[1]:.1f}) | {a[0] / f[0]:.2f}× | "
              + (f"{ref[0]:.1f} ({ref[1]:.1f}) | {ref[0] / a[0]:.2f}× | " if ref else "— | — | ")
              + f"{eq} | {r['peak_mib']:.0f} |")
    print(f"\nruns (wall s; median of {args.repeat}): " + "; ".join(
        f"{r['workload']}: attnprobe " + ", ".join(f"{w:.2f}" for w, _c in r["attnprobe_runs"]) + "; "
        + "; ".join(f"floor at {b}: " + ", ".join(f"{w:.2f}" for w, _c in v) for b, v in r["floor_runs"].items())
        for r in results))
    print("rows: " + "; ".join(f"{r['workload']}: {r['rows']['clear']} clear, {r['rows']['rescored']} re-scored, "
                                 f"{r['rows']['fallback']} float64 fallback, max N_k {r['max_nk']}, antihubs "
                                 f"{r['antihub']:.3f}" for r in results))
    bases = [(r, b) for r in results for b in ("faiss", "sklearn") if b in r]
    if bases:
        print("\n| workload | method | wall s (CPU) | × attnprobe wall | rows equal |")
        print("|---|---|---|---|---|")
        for r, b in bases:
            w, c = r[b]
            eq = r.get(f"{b}_rows_equal")
            print(f"| {r['workload']} | {b} | {w:.1f} ({c:.1f}) | {w / r['attnprobe'][0]:.2f}× | "
                  + (f"{eq}/{r['n']} |" if eq is not None else "— |"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", action="append", choices=WORKLOADS, help="repeatable; default: all")
    ap.add_argument("--hub-heavy", action="store_true", help="= --workload hub-heavy")
    ap.add_argument("--n", type=int, default=None, help="rows (default 30 000; --large: 100 000)")
    ap.add_argument("--d", type=int, default=None, help="dimensions (default 384; --large: 768)")
    ap.add_argument("--large", action="store_true", help="n = 100 000, d = 768 (the issue's target size)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=None,
                    help="attnprobe's tile rows (default probes.knn.default_block: 2048 on CPU, 4096 on GPU)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=None,
                    help="attnprobe/floor alternations per workload, medians reported (default 3; --large: 1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--skip", action="append", default=[], choices=["faiss", "sklearn", "reference"])
    ap.add_argument("--progress", action="store_true", help="attnprobe's progress bar")
    ap.add_argument("--json", type=Path, help="also write the measurements to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.n = args.n or (100_000 if args.large else 30_000)
    args.d = args.d or (768 if args.large else 384)
    args.block = args.block or KNN.default_block(args.device)
    args.repeat = args.repeat or (1 if args.large else 3)
    if args.child:
        print("RESULT " + json.dumps(run_workload(args.child, args)), flush=True)
        return 0
    names = list(dict.fromkeys((args.workload or []) + (["hub-heavy"] if args.hub_heavy else []))) or list(WORKLOADS)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    results = []
    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--n", str(args.n), "--d", str(args.d), "-k", str(args.k),
               "--seed", str(args.seed), "--block", str(args.block), "--device", args.device,
               "--repeat", str(args.repeat),
               "--threads", str(args.threads)] + [f"--skip={s}" for s in args.skip] + \
            (["--progress"] if args.progress else [])
        print(f"{name}: n = {args.n}, d = {args.d} …", flush=True)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode:
            print(proc.stdout)
            return proc.returncode
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT "):]))
        r = results[-1]
        print(f"  skewness {r['skewness']:.1f}; attnprobe {r['attnprobe'][0]:.1f} s wall / {r['attnprobe'][1]:.1f} s "
              f"CPU, floor {r['floor'][0]:.1f} s", flush=True)
    _print(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
