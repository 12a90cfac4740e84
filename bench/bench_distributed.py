"""Benchmark: the zoo bench grid in-process vs on a Dask LocalCluster, and the cost model for a big head.

1. The grid of ``attnprobe bench`` with its defaults (every zoo design and depth stack × every registered
   property at probes.testing.QUICK, seed 0, no cache) in this process, then on ``local:N`` (N one-thread
   worker processes). Prints both wall times (the cluster's start-up separately), the ratio, and whether the
   two grids give the same cells (outcome, verdict, theory, key figure).
2. The cost model (``--dry-run``'s) for a V = 128,256, d = 4,096 head's self-witness pass on 8 and 64
   workers, from the float32 GEMM rate calibrated on this cluster's workers; network not modelled and at a
   stated bandwidth.

    python bench/bench_distributed.py                 # both (about 5 minutes on 2 cores)
    python bench/bench_distributed.py --cost-only     # only the cost model
    OMP_NUM_THREADS=1 python bench/bench_distributed.py --workers 2
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes.bench import run_bench  # noqa: E402
from probes.distributed import cost  # noqa: E402
from probes.distributed.cluster import connect  # noqa: E402


def _cells(res):
    return [(c.design, c.probe, c.outcome, c.verdict, c.theory, c.key_figure) for c in res.cells]


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    ap.add_argument("--cost-only", action="store_true", help="skip the grid; only the cost model")
    ap.add_argument("--V", type=int, default=128_256)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--plan", type=int, nargs="+", default=[8, 64], help="worker counts to estimate for")
    ap.add_argument("--bandwidth", type=float, default=1.25, help="GB/s per worker for the modelled network")
    ap.add_argument("--budget", type=float, default=cost.DEFAULT_BUDGET_MIB, help="per-task memory budget, MiB")
    a = ap.parse_args()

    print(f"# {datetime.date.today()} | {platform.node()} | {os.cpu_count()} cores | "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} | python {platform.python_version()}")
    if not a.cost_only:
        t0, c0 = time.perf_counter(), time.process_time()
        ref = run_bench(progress=True)
        t_in, c_in = time.perf_counter() - t0, time.process_time() - c0
        print(f"in-process: {len(ref.designs)} designs × {len(ref.probes)} properties = {len(ref.cells)} cells "
              f"in {t_in:.1f} s wall, {c_in:.1f} s CPU; load average after {_load()}; {ref.counts()}", flush=True)
    t0 = time.perf_counter()
    with connect(f"local:{a.workers}") as client:
        t_start = time.perf_counter() - t0
        print(f"cluster: {client.attnprobe_info}; started in {t_start:.1f} s", flush=True)
        if not a.cost_only:
            w0 = sum(client.run(time.process_time).values())
            t0, c0 = time.perf_counter(), time.process_time()
            dist = run_bench(progress=True, client=client)
            t_dist, c_client = time.perf_counter() - t0, time.process_time() - c0
            c_workers = sum(client.run(time.process_time).values()) - w0
            same = _cells(dist) == _cells(ref)
            print(f"local:{a.workers}: {len(dist.cells)} cells in {t_dist:.1f} s wall (+ {t_start:.1f} s cluster "
                  f"start), CPU {c_workers:.1f} s on the workers + {c_client:.1f} s client; load average after "
                  f"{_load()}; same cells as in-process: {same}")
            print(f"ratio in-process / local:{a.workers}: {t_in / t_dist:.2f}× (grid only), "
                  f"{t_in / (t_dist + t_start):.2f}× (with the cluster's start)")
            slow = sorted(ref.cells, key=lambda c: -c.seconds)[:3]
            print("slowest cells in-process: " + ", ".join(f"{c.design} × {c.probe} {c.seconds:.1f} s" for c in slow))
        cal = cost.calibrate(client, k=min(a.d, 2048))
    print(f"calibration: {cal.to_dict()}")
    for n in a.plan:
        for bw in (None, a.bandwidth * 1e9):
            est = cost.unargmaxable_cost(a.V, a.d, workers=n, calibration=cal, memory_budget_mib=a.budget,
                                         bandwidth=bw)
            print()
            print(est)
    return 0


if __name__ == "__main__":
    sys.exit(main())
