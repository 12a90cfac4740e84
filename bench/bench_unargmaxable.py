"""Benchmark: certified unargmaxable detection vs the reference formulation (per-token box LP, HiGHS).

Workloads: iid Gaussian head and a "trained-like" head (anisotropic, log-normal norms, offset mean, planted
interior rows that must all be found), each with and without bias. The baseline is the reference tool's
per-token Chebyshev LP over [-100, 100]^d solved with scipy HiGHS, timed on a sample of tokens and
extrapolated to the vocabulary; the ratio is measured in the same run. Prints wall and CPU seconds (the
machine may be shared: CPU time shows contention), peak RSS, and a sampled float64 re-check (verify).

    python bench/bench_unargmaxable.py              # 8192 x 256, a couple of minutes
    python bench/bench_unargmaxable.py --full       # GPT-2 head, 50257 x 768, float32
    python bench/bench_unargmaxable.py --device cuda
"""
from __future__ import annotations

import argparse
import resource
import sys
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


def _make(wl, V, d, a):
    bias = wl.endswith("+bias")
    if wl.startswith("gaussian"):
        W, b = U.gaussian_head(V, d, bias=bias, seed=a.seed, dtype=np.float32)
        return W, b, np.array([], int)
    return U.trained_like_head(V, d, n_planted=a.planted, bias=bias, seed=a.seed)


def _detect_child(wl, V, d, a, q):
    """Runs in a fresh process so that its peak RSS is the detector's own (plus the float32 input)."""
    W, b, planted = _make(wl, V, d, a)
    r = U.detect(W, b, seed=a.seed, dtype=a.dtype, device=a.device, progress=not a.quiet)
    v = U.verify(r, W, b, sample=a.verify_sample, seed=a.seed)
    q.put((r.to_dict(), v.to_dict(), bool(set(planted.tolist()) <= set(r.unargmaxable)),
           rss_gb()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--full", action="store_true", help="GPT-2 size: 50257 x 768")
    ap.add_argument("--planted", type=int, default=10, help="interior rows planted in the trained-like head")
    ap.add_argument("--baseline-tokens", type=int, default=8, help="tokens timed with the per-token box LP")
    ap.add_argument("--verify-sample", type=int, default=2000, help="witnesses re-checked in float64 (all alphas)")
    ap.add_argument("--workloads", default="gaussian,gaussian+bias,trained,trained+bias")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    V, d = (50257, 768) if a.full else (a.vocab, a.dim)
    import torch

    print(f"unargmaxable bench: V={V} d={d} dtype={a.dtype} device={a.device} torch threads={torch.get_num_threads()}")
    print(f"{'workload':14s} {'wall s':>8s} {'cpu s':>8s} {'unarg':>6s} {'planted ok':>10s} {'certified':>9s} "
          f"{'verify':>7s} {'baseline s (extrap.)':>20s} {'ratio':>8s}  stages")
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    for wl in a.workloads.split(","):
        q = ctx.Queue()
        p = ctx.Process(target=_detect_child, args=(wl, V, d, a, q))
        p.start()
        r, v, ok_planted, child_rss = q.get()
        p.join()
        W, b, planted = _make(wl, V, d, a)
        # baseline: the reference formulation on a sample (planted rows included when present), extrapolated
        rng = np.random.default_rng(a.seed)
        sample = rng.choice(V, a.baseline_tokens, replace=False)
        if planted.size:
            sample[: min(1, planted.size)] = planted[:1]
        base = U.box_detect(W, b, 100.0, tokens=sample)
        per_tok = base.seconds / len(sample)
        extrap = per_tok * V
        print(f"{wl:14s} {r['seconds']:8.1f} {r['cpu_seconds']:8.1f} {r['n_unargmaxable']:6d} {str(ok_planted):>10s} "
              f"{str(r['certified']):>9s} {str(v['ok']):>7s} {extrap:20.0f} {extrap / r['seconds']:8.1f}  "
              f"{r['stages']} {r['stage_seconds']}", flush=True)
        print(f"{'':14s} detector peak RSS {child_rss:.2f} GB; verify: {v['n_witness_checked']} witnesses + "
              f"{v['n_alpha_checked']} alphas in {v['seconds']:.1f} s, max alpha residual {v['max_alpha_residual']:.2e}; "
              f"baseline {per_tok:.1f} s/token (wall; cpu {base.cpu_seconds / len(sample):.1f}) on {len(sample)} "
              f"token(s), box verdicts on them: {len(base.unargmaxable)} bounded", flush=True)
    print(f"bench process peak RSS (includes the baseline LPs) {rss_gb():.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
