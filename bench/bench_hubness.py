"""Benchmark: exact k-occurrence (self excluded) against faiss IndexFlatL2 and scikit-learn brute force.

Not run by CI. Prints wall and CPU seconds of every method measured in the same run (so a
contended machine is visible: CPU/wall far below the thread count), the ratios, the peak
memory of attnprobe's pass, and the agreement of each method's k-NN rows with a float64
reference (a sample of rows by default; ``--reference-rows 0`` checks all).

    python bench/bench_hubness.py                 # n = 20 000, d = 768, k = 10
    python bench/bench_hubness.py --large         # n = 100 000 (the issue's target)
    python bench/bench_hubness.py --device cuda   # attnprobe on a GPU (baselines stay on CPU)

faiss-cpu and scikit-learn are optional: a missing one is skipped with a message.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes import hubness as H  # noqa: E402  (the measures of N_k)
from probes import knn as KNN  # noqa: E402  (the exact k-NN engine)


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _faiss(X: np.ndarray, k: int, threads: int):
    try:
        import faiss
    except ImportError:
        print("faiss: not installed (pip install faiss-cpu); baseline skipped")
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
        print("scikit-learn: not installed (pip install scikit-learn); baseline skipped")
        return None

    def run():
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean", n_jobs=threads).fit(X)
        return nn.kneighbors(return_distance=False)   # no X: each point's own row excludes itself

    return _timed(run)


def _reference_rows(X64: torch.Tensor, rows: np.ndarray, k: int) -> np.ndarray:
    """float64 top-k by direct squared differences, ties to the lower index (the documented rule)."""
    out = np.empty((len(rows), k), dtype=np.int64)
    sq = (X64 * X64).sum(1)
    for b in range(0, len(rows), 256):
        r = torch.from_numpy(rows[b:b + 256])
        s = 2 * X64[r] @ X64.T - sq.unsqueeze(0) - sq[r].unsqueeze(1)  # −‖x − y‖²
        s[torch.arange(len(r)), r] = -np.inf
        top = s.topk(k + 8, dim=1).indices                     # re-rank a margin exactly
        exact = -((X64[r].unsqueeze(1) - X64[top]) ** 2).sum(-1)
        order = np.lexsort((top.numpy(), -exact.numpy()), axis=1)[:, :k]
        out[b:b + 256] = np.take_along_axis(top.numpy(), order, 1)
    return out


def _agreement(idx: np.ndarray, ref: np.ndarray, rows: np.ndarray) -> float:
    got = np.sort(idx[rows], 1)
    return float((got == np.sort(ref, 1)).all(1).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--large", action="store_true", help="n = 100 000 (the issue's target size)")
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reference-rows", type=int, default=2000, help="rows checked in float64 (0 = all)")
    ap.add_argument("--skip", action="append", default=[], choices=["faiss", "sklearn"])
    args = ap.parse_args(argv)
    n = 100_000 if args.large else args.n
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((n, args.d), dtype=np.float32)
    print(f"n = {n}, d = {args.d}, k = {args.k}, float32 N(0, I) data, seed {args.seed}; "
          f"{args.threads} threads, torch {torch.__version__}, device {args.device}")
    rss0 = _rss_mb()

    Xt = torch.from_numpy(X)
    res, wall, cpu = _timed(lambda: KNN.knn(Xt, k=args.k, metric="euclidean", dtype="float32",
                                            device=args.device, block=args.block, progress=True))
    peak = _rss_mb() - rss0
    idx = res.indices.numpy()
    N = np.bincount(idx.ravel(), minlength=n)
    m = H.measures(N)
    results = {"attnprobe": (idx, wall, cpu)}
    print(f"attnprobe  wall {wall:8.1f} s  cpu {cpu:8.1f} s  (cpu/wall {cpu / wall:.2f})  "
          f"peak RSS +{peak:.0f} MiB  rows: {res.clear_rows} clear, {res.rescored_rows} re-scored, {res.fallback_rows} float64 fallback")
    print(f"           N_k: skewness {m['skewness']:.3f}, antihubs {m['antihub_occurrence']:.4f}, "
          f"Robin Hood {m['robinhood']:.4f}")
    if "faiss" not in args.skip:
        out = _faiss(X, args.k, args.threads)
        if out:
            results["faiss IndexFlatL2 (k+1, drop self)"] = out
    if "sklearn" not in args.skip:
        out = _sklearn(X, args.k, args.threads)
        if out:
            results["sklearn brute force"] = out
    rows = np.arange(n) if args.reference_rows <= 0 else np.sort(rng.choice(n, min(n, args.reference_rows), replace=False))
    ref = _reference_rows(torch.from_numpy(X).double(), rows, args.k)
    print(f"\nfloat64 reference on {len(rows)} rows; ratios are baseline time / attnprobe time")
    print(f"{'method':36s} {'wall s':>8s} {'cpu s':>8s} {'wall ×':>7s} {'cpu ×':>7s} {'rows = ref':>10s}")
    for name, (I, w, c) in results.items():
        print(f"{name:36s} {w:8.1f} {c:8.1f} {w / wall:7.2f} {c / cpu:7.2f} {100 * _agreement(I, ref, rows):9.3f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
