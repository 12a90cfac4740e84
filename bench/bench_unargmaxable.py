"""Benchmark: certified unargmaxable detection against the hardware floor and the reference formulation.

Workloads (each with and without bias):
- ``gaussian``: iid N(0, 1) rows (no token is unargmaxable at vocabulary size, all are certified);
- ``trained``: a trained-like head (anisotropic, log-normal row norms, offset mean) with m rows planted
  strictly inside the hull (``--planted 20,100``). With a bias, half of the planted rows get a bias near
  the top, so that the bias may rescue them: those are the hard tokens with a bias (the certificates decide;
  the other half keep the lowest bias and must come out unargmaxable: ``planted ok``).

The **floor** is one symmetric V × V × d float32 product (the self-witness pass can do no less: each token's
witness needs every logit), timed in the same process right before each detection: the faster of row panels
Y[s:e] @ Y[s:]^T (the symmetric half) and the same panels in cache-sized column tiles into one buffer. Every workload's wall time is printed as a multiple of it, beside
the seconds per hard token (the tokens neither the GEMM self-witness nor the reflection stage settled).
The baseline is the reference tool's per-token Chebyshev LP over [-100, 100]^d solved with scipy HiGHS,
timed on ``--baseline-tokens`` tokens and extrapolated (off by default at real-head sizes: minutes per token).

    python bench/bench_unargmaxable.py                      # 8192 x 256, a couple of minutes
    python bench/bench_unargmaxable.py --real               # 30522 x 384 and 50257 x 768, m in {20, 100}
    python bench/bench_unargmaxable.py --sizes 50257x768 --workloads trained+bias --planted 100
    python bench/bench_unargmaxable.py --device cuda

Each detection runs in a fresh process, so its peak RSS is its own. Prints wall and CPU seconds (CPU far
below threads × wall means the machine was shared) and a float64 re-check of every alpha and a sample of
witnesses (``verify``).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes import unargmaxable as U  # noqa: E402


def rss_gb() -> float:
    """Peak RSS of this process: VmHWM (ru_maxrss survives exec on Linux, so a spawned child would report
    its parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _make(wl, V, d, m, seed):
    bias = wl.endswith("+bias")
    if wl.startswith("gaussian"):
        W, b = U.gaussian_head(V, d, bias=bias, seed=seed, dtype=np.float32)
        return W, b, np.array([], int)
    return U.trained_like_head(V, d, n_planted=m, bias=bias, seed=seed, rescued=m // 2 if bias else 0)


def floor_seconds(V: int, d: int, *, device: str = "cpu", block: int = 1024, seed: int = 0, reps: int = 2) -> float:
    """Wall seconds of one symmetric V x V x d float32 product: the least work any per-token witness check
    over all logits must do. Two layouts, the best of ``reps`` runs of each, the faster one counts: row panels
    Y[s:e] @ Y[s:]^T (a fresh panel each), and the same panels in column tiles of 4096 written into one
    preallocated buffer (on the 2-core bench machine the tiles are ~20 % faster: the panels do not fit in cache)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    Y = torch.randn(V, d, generator=g, dtype=torch.float32).to(device)
    cw = max(4096, block)
    buf = torch.empty((block, cw), dtype=torch.float32, device=Y.device)

    def panels():
        for s in range(0, V, block):
            G = Y[s:s + block] @ Y[s:].T
            del G

    def tiles():
        for s in range(0, V, block):
            e = min(s + block, V)
            for c0 in range(s, V, cw):
                c1 = min(c0 + cw, V)
                torch.mm(Y[s:e], Y[c0:c1].T, out=buf[:e - s, :c1 - c0])

    best = float("inf")
    for layout in (panels, tiles):
        for _ in range(reps):
            if Y.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            layout()
            if Y.device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return best


def int8_floor_seconds(V: int, d: int, *, block: int = 1024, seed: int = 0, reps: int = 2) -> float | None:
    """Wall seconds of one symmetric V x V x d int8 product with int32 sums (the int8 screen's own floor: the
    same column tiles as :func:`floor_seconds`), best of ``reps``; None where torch has no CPU int8 kernel."""
    import torch

    from probes import witness_screen as ws

    if not ws.available("cpu"):
        return None
    g = torch.Generator().manual_seed(seed)
    Q = torch.randint(-127, 128, (V, d), generator=g, dtype=torch.int8)
    cw = max(4096, block)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for s in range(0, V, block):
            e = min(s + block, V)
            for c0 in range(s, V, cw):
                torch._int_mm(Q[s:e], Q[c0:min(c0 + cw, V)].T)
        best = min(best, time.perf_counter() - t0)
    return best


def _detect_child(wl, V, d, m, a, q):
    """Runs in a fresh process: the floor, then the detector and its float64 re-check."""
    import scipy.linalg  # noqa: F401  (one-time imports outside the timed call, as torch is for the floor)
    import scipy.optimize  # noqa: F401
    import scipy.sparse  # noqa: F401
    import threadpoolctl  # noqa: F401

    W, b, planted = _make(wl, V, d, m, a.seed)
    floor = floor_seconds(V, d, device=a.device, seed=a.seed)
    floor8 = int8_floor_seconds(V, d, seed=a.seed) if a.device == "cpu" else None
    r = U.detect(W, b, seed=a.seed, dtype=a.dtype, device=a.device, progress=not a.quiet, screen=a.screen)
    v = U.verify(r, W, b, sample=a.verify_sample, seed=a.seed)
    q.put((r.to_dict(), v.to_dict(), bool(set(planted.tolist()) <= set(r.unargmaxable)), (floor, floor8), rss_gb()))


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            V, d = (int(x) for x in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--sizes {text!r}: expected VxD[,VxD...], e.g. 30522x384,50257x768")
        out.append((V, d))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="8192x256", help="VxD[,VxD...]")
    ap.add_argument("--real", action="store_true", help="real-head sizes: 30522x384,50257x768 with --planted 20,100")
    ap.add_argument("--full", action="store_true", help="GPT-2 size only: 50257x768")
    ap.add_argument("--planted", default="10", help="interior rows planted in the trained-like head (a list)")
    ap.add_argument("--baseline-tokens", type=int, default=None,
                    help="tokens timed with the per-token box LP (default 8 below V = 20000, else 0)")
    ap.add_argument("--verify-sample", type=int, default=2000, help="witnesses re-checked in float64 (all alphas)")
    ap.add_argument("--workloads", default="gaussian,gaussian+bias,trained,trained+bias")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--screen", default="auto", choices=["auto", "int8", "none"],
                    help="the self-witness maxima: int8 screen + float32 re-check (auto on CPU) or float32 only")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.real:
        a.sizes, a.planted = "30522x384,50257x768", "20,100" if a.planted == "10" else a.planted
    if a.full:
        a.sizes = "50257x768"
    sizes = _sizes(a.sizes)
    planted_list = [int(x) for x in str(a.planted).split(",")]
    import multiprocessing as mp

    import torch

    print(f"unargmaxable bench: sizes={a.sizes} dtype={a.dtype} device={a.device} "
          f"torch threads={torch.get_num_threads()} date={time.strftime('%Y-%m-%d')}", flush=True)
    head = (f"{'workload':14s} {'V x d':>10s} {'m':>4s} {'wall s':>7s} {'cpu s':>7s} {'floor s':>7s} {'× floor':>7s} "
            f"{'i8 fl s':>7s} {'× i8 fl':>7s} {'rechk':>5s} {'surv':>5s} {'hard':>4s} {'hard s':>6s} {'s/hard':>6s} {'unarg':>5s} {'planted':>7s} {'cert':>5s} "
            f"{'verify':>6s} {'RSS GB':>6s} {'baseline':>9s}")
    print(head)
    print("-" * len(head), flush=True)
    ctx = mp.get_context("spawn")
    rows = []
    for V, d in sizes:
        for wl in a.workloads.split(","):
            for m in (planted_list if wl.startswith("trained") else [0]):
                q = ctx.Queue()
                p = ctx.Process(target=_detect_child, args=(wl, V, d, m, a, q))
                p.start()
                r, v, ok_planted, (floor, floor8), child_rss = q.get()
                p.join()
                st = r["stages"]
                survivors = V - st["self_witness"] - st["hull"]
                hard = survivors - st["reflection"]
                hard_s = r["stage_seconds"]["lp"]
                per_hard = hard_s / hard if hard else 0.0
                nb = a.baseline_tokens if a.baseline_tokens is not None else (8 if V < 20000 else 0)
                base = ""
                if nb:
                    W, b, planted = _make(wl, V, d, m, a.seed)
                    rng = np.random.default_rng(a.seed)
                    sample = rng.choice(V, nb, replace=False)
                    if planted.size:
                        sample[:1] = planted[:1]
                    bl = U.box_detect(W, b, 100.0, tokens=sample)
                    extrap = bl.seconds / len(sample) * V
                    base = f"{extrap / r['seconds']:8.0f}×"
                rows.append(dict(workload=wl, V=V, d=d, m=m, wall=r["seconds"], cpu=r["cpu_seconds"], floor=floor,
                                 ratio=r["seconds"] / floor, floor8=floor8,
                                 ratio8=r["seconds"] / floor8 if floor8 else None,
                                 rechecked=st.get("screen_rechecked", 0), survivors=survivors, hard=hard, hard_s=hard_s,
                                 per_hard=per_hard, unarg=r["n_unargmaxable"], planted_ok=ok_planted,
                                 certified=r["certified"], verify=v["ok"], rss=child_rss))
                f8s, f8r = (f"{floor8:.1f}", f"{r['seconds'] / floor8:.2f}") if floor8 else ("–", "–")
                print(f"{wl:14s} {f'{V}x{d}':>10s} {m:4d} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f} {floor:7.1f} "
                      f"{r['seconds'] / floor:7.2f} {f8s:>7s} {f8r:>7s} "
                      f"{st.get('screen_rechecked', 0):5d} {survivors:5d} {hard:4d} {hard_s:6.1f} {per_hard:6.2f} "
                      f"{r['n_unargmaxable']:5d} {str(ok_planted):>7s} {str(r['certified']):>5s} {str(v['ok']):>6s} "
                      f"{child_rss:6.2f} {base:>9s}", flush=True)
                if not a.quiet:
                    print(f"{'':14s} stages {st}; seconds {r['stage_seconds']}; verify {v['n_witness_checked']} "
                          f"witnesses + {v['n_alpha_checked']} alphas, max alpha residual "
                          f"{v['max_alpha_residual']:.1e}", flush=True)
    bad = [x for x in rows if not (x["certified"] and x["verify"] and x["planted_ok"])]
    print(f"all certified, verified and planted rows found: {not bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
