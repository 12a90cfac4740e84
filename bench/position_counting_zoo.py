"""Position-counting verdicts for the whole zoo, beside the theory row, with timings.

    python bench/position_counting_zoo.py            # exact check (+ training where inconclusive)
    python bench/position_counting_zoo.py --train    # trainable check for every design (slower)
    python bench/position_counting_zoo.py --markdown # a table to paste in a report

Prints a ratio against a baseline measured in the same run: the exact check's cost
relative to one forward pass of the same design, and the training's cost per step.
"""
from __future__ import annotations

import argparse
import time

import torch

from probes.designs import ZOO, build
from probes.position_counting import probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="store_true", help="run the trainable check for every design")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows, total, agree = [], time.perf_counter(), 0
    for name in ZOO:
        model = build(name, seed=args.seed)
        x = torch.randn(1, 16, 32, dtype=torch.float64)
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(10):
                model(x)
        fwd = (time.perf_counter() - t0) / 10
        t0 = time.perf_counter()
        r = probe(name, seed=args.seed, train=True if args.train else "auto")
        dt = time.perf_counter() - t0
        agree += bool(r.agrees_with_theory)
        rows.append((name, r, dt, dt / fwd))
    wall = time.perf_counter() - total
    if args.markdown:
        print("| design | verdict | rescued by | spread | mirror | FVU | theory | agrees |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r, dt, _ in rows:
            fvu = "—" if r.fvu is None else f"{r.fvu:.3g}"
            print(f"| `{name}` | {r.verdict} | {', '.join(r.rescued_by) or '—'} | {r.spread:.1e} | "
                  f"{r.mirror_spread:.1e} | {fvu} | {r.theory['verdict']} | {'yes' if r.agrees_with_theory else 'NO'} |")
    else:
        print(f"{'design':20s} {'verdict':13s} {'rescued_by':18s} {'spread':>9s} {'FVU':>7s} {'theory':13s} "
              f"{'agree':5s} {'s':>5s} {'×fwd':>6s}")
        for name, r, dt, ratio in rows:
            fvu = "—" if r.fvu is None else f"{r.fvu:.3f}"
            print(f"{name:20s} {r.verdict:13s} {','.join(r.rescued_by) or '-':18s} {r.spread:9.1e} {fvu:>7s} "
                  f"{r.theory['verdict']:13s} {'yes' if r.agrees_with_theory else 'NO':5s} {dt:5.2f} {ratio:6.0f}")
    print(f"\n{agree}/{len(rows)} designs agree with their theory row; {wall:.1f} s wall, "
          f"{time.process_time():.1f} s CPU, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
