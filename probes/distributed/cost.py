"""The cost model printed before a big distributed run (and alone with ``--dry-run``).

For the block-pair products of ``unargmaxable`` (the self-witness pass, G = Y Yᵀ over the symmetric half)
and ``hubness`` (the k-NN pass), with row blocks of B rows:

* **multiply-adds**: Σ over the block pairs of |I|·|J|·r (symmetric: the upper half with the diagonal
  blocks, ≈ V(V + B)/2 · r; query→key: n_q·n_k·(d + extra));
* **bytes moved**: the client's one scatter of the row blocks, plus per task its two input blocks and its
  outputs (an upper bound: a worker that already holds a block does not fetch it again);
* **task memory**: the B × B score tile (and, for hubness, its mask and transposed copy), the two input
  blocks and the outputs, in the pass dtype; B is the largest multiple of 256 whose task fits the
  per-task memory budget (``--memory-budget``);
* **estimated time**: multiply-adds / (workers × the per-worker float32 GEMM rate measured by
  :func:`calibrate`, a short GEMM on every worker), plus bytes / (workers × ``bandwidth``) when a
  bandwidth is stated (otherwise the network is not modelled), plus a per-task scheduling overhead.

Not modelled: the hard-token NNLS/LP stage of ``unargmaxable`` (it depends on the head: on Gaussian and
trained-like heads almost every token is settled by the self-witness pass) and the float64 re-check of
``hubness`` (O(n·k·d), small beside the pass).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

__all__ = ["Calibration", "CostEstimate", "calibrate", "measure_gemm_rate", "unargmaxable_cost", "hubness_cost",
           "unargmaxable_task_bytes", "hubness_task_bytes", "block_for_budget", "DEFAULT_BUDGET_MIB",
           "TASK_OVERHEAD_S", "add_arguments", "check_arguments"]

DEFAULT_BUDGET_MIB = 256
TASK_OVERHEAD_S = 0.002   # scheduler + worker overhead per task (Dask documents ~1 ms; doubled for the transfer setup)
_GRAIN = 256


@dataclass(frozen=True)
class Calibration:
    """Per-worker float32 GEMM rates (multiply-adds per second) from a short GEMM on every worker."""

    workers: int
    rates: tuple            # MAC/s per worker
    shape: tuple            # (m, k, n) of the calibration GEMM
    seconds: float          # wall time of the calibration itself
    where: str              # "workers" (on the cluster) or "this process"

    @property
    def rate(self) -> float:
        """The median per-worker rate (robust to one busy worker)."""
        s = sorted(self.rates)
        n = len(s)
        return float(s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2]))

    def to_dict(self) -> dict:
        return {"workers": self.workers, "rates": list(self.rates), "rate": self.rate, "shape": list(self.shape),
                "seconds": round(self.seconds, 3), "where": self.where}


def measure_gemm_rate(m: int = 1024, k: int = 768, n: int = 1024, min_seconds: float = 0.3, dtype="float32") -> float:
    """Multiply-adds per second of an (m × k)(k × n) GEMM in ``dtype`` on one thread of this process."""
    import torch

    from probes._threads import one_thread
    from probes.dtypes import parse_dtype

    dt = parse_dtype(dtype)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(m, k, generator=g, dtype=dt)
    B = torch.randn(n, k, generator=g, dtype=dt)
    with one_thread("cpu"):
        A @ B.T  # warm-up
        reps, t0 = 0, time.perf_counter()
        while True:
            A @ B.T
            reps += 1
            el = time.perf_counter() - t0
            if el >= min_seconds and reps >= 2:
                break
    return reps * m * k * n / el


def calibrate(client=None, *, k: int = 768, min_seconds: float = 0.3) -> Calibration:
    """:func:`measure_gemm_rate` on every worker of ``client`` (``client.run``), or here when ``client`` is None."""
    t0 = time.perf_counter()
    k = int(max(64, min(k, 2048)))
    if client is None:
        rates = (measure_gemm_rate(k=k, min_seconds=min_seconds),)
        where = "this process"
    else:
        out = client.run(measure_gemm_rate, 1024, k, 1024, min_seconds)
        rates = tuple(float(out[w]) for w in sorted(out))
        where = "workers"
    return Calibration(workers=len(rates), rates=rates, shape=(1024, k, 1024), seconds=time.perf_counter() - t0,
                       where=where)


# -- memory per task and the block it allows --------------------------------------------------------------
def unargmaxable_task_bytes(B: int, r: int, itemsize: int = 4) -> int:
    """The self-witness task: tile B × B, blocks I and J (B × r each), row and column maxima."""
    return itemsize * (B * B + 2 * B * r + 2 * B)


def hubness_task_bytes(B: int, d: int, width: int, itemsize: int = 4) -> int:
    """The k-NN task: tile B × B plus a transposed/score copy and a bool mask, blocks I and J (B × (d + 2)),
    and the top-width values (itemsize) and indices (int64) for rows and columns."""
    return itemsize * (2 * B * B + 2 * B * (d + 2)) + B * B + 2 * B * width * (itemsize + 8)


def block_for_budget(budget_bytes: int, task_bytes, n_rows: int) -> int:
    """The largest multiple of 256 (at least 256; no more than ``n_rows`` rounded up) with task_bytes(B) <= budget."""
    B = max(_GRAIN, int(math.ceil(n_rows / _GRAIN)) * _GRAIN)
    while B > _GRAIN and task_bytes(B) > budget_bytes:
        B -= _GRAIN
    return B


# -- the estimate ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostEstimate:
    """What a distributed run will cost, before it runs."""

    job: str
    shape: dict
    block: int
    tasks: int
    multiply_adds: float
    bytes_moved: float
    task_memory_bytes: int
    memory_budget_bytes: int
    workers: int
    rate_per_worker: float
    bandwidth_bytes_per_s: float | None
    compute_seconds: float
    transfer_seconds: float | None
    overhead_seconds: float
    estimated_seconds: float
    calibration: dict = field(default_factory=dict)
    assumptions: tuple = ()

    def to_dict(self) -> dict:
        from probes.result import jsonable

        return {k: jsonable(getattr(self, k)) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        shape = ", ".join(f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v}" for k, v in self.shape.items())
        net = (f"{self.transfer_seconds:.1f} s at {self.bandwidth_bytes_per_s / 1e9:.2f} GB/s per worker"
               if self.transfer_seconds is not None else "not modelled")
        lines = [
            f"cost model: {self.job} ({shape})",
            f"  block {self.block:,} rows: {self.tasks:,} tasks, {self.task_memory_bytes / 2**20:,.1f} MiB per task "
            f"(budget {self.memory_budget_bytes / 2**20:,.0f} MiB)",
            f"  multiply-adds {self.multiply_adds:.3e}; bytes moved <= {_bytes(self.bytes_moved)}",
            f"  {self.workers} workers × {self.rate_per_worker / 1e9:.2f} G multiply-adds/s each "
            f"(calibration: {self.calibration.get('where', '?')}, {self.calibration.get('workers', '?')} measured)",
            f"  estimated {_secs(self.estimated_seconds)}: compute {_secs(self.compute_seconds)}, network {net}, "
            f"task overhead {_secs(self.overhead_seconds)}",
        ]
        lines += [f"  assumes: {a}" for a in self.assumptions]
        return "\n".join(lines)


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def _secs(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.2f} s"


def _finish(job, shape, block, tasks, macs, moved, task_mem, budget, workers, cal: Calibration, bandwidth,
            extra_assumptions) -> CostEstimate:
    workers = max(1, int(workers))
    compute = macs / (workers * cal.rate)
    transfer = None if not bandwidth else moved / (workers * float(bandwidth))
    overhead = tasks * TASK_OVERHEAD_S / workers + tasks * 0.0002   # parallel worker side + serial scheduler side
    total = compute + (transfer or 0.0) + overhead
    assumptions = (
        f"per-worker float32 GEMM rate {cal.rate / 1e9:.2f} G multiply-adds/s, measured by a "
        f"{cal.shape[0]}×{cal.shape[1]}×{cal.shape[2]} GEMM on {cal.workers} {cal.where} (one thread each), "
        "the same on every worker",
        (f"network: {float(bandwidth) / 1e9:.2f} GB/s per worker, transfers not overlapped with compute"
         if bandwidth else "network not modelled (no --bandwidth stated); bytes moved is an upper bound"),
        f"{TASK_OVERHEAD_S * 1e3:.0f} ms worker-side and 0.2 ms scheduler-side overhead per task",
        *extra_assumptions,
    )
    return CostEstimate(job=job, shape=shape, block=int(block), tasks=int(tasks), multiply_adds=float(macs),
                        bytes_moved=float(moved), task_memory_bytes=int(task_mem), memory_budget_bytes=int(budget),
                        workers=workers, rate_per_worker=cal.rate,
                        bandwidth_bytes_per_s=None if not bandwidth else float(bandwidth), compute_seconds=compute,
                        transfer_seconds=transfer, overhead_seconds=overhead, estimated_seconds=total,
                        calibration=cal.to_dict(), assumptions=assumptions)


def _blocks(n: int, B: int) -> list[int]:
    return [min(B, n - s) for s in range(0, n, B)]


def unargmaxable_cost(V: int, r: int, *, workers: int, calibration: Calibration, block: int | None = None,
                      memory_budget_mib: float = DEFAULT_BUDGET_MIB, itemsize: int = 4,
                      bandwidth: float | None = None, d: int | None = None) -> CostEstimate:
    """The self-witness pass of a V × d head of rank r (r = d for a generic head)."""
    budget = int(memory_budget_mib * 2**20)
    B = int(block) if block else block_for_budget(budget, lambda b: unargmaxable_task_bytes(b, r, itemsize), V)
    sizes = _blocks(V, B)
    nb = len(sizes)
    tasks = nb * (nb + 1) // 2
    tot = sum(sizes)
    macs = r * (tot * tot + sum(s * s for s in sizes)) / 2
    per_in = sum(sizes[i] * r * itemsize * (1 if i == j else 2) for i in range(nb) for j in range(i, nb)) \
        if nb <= 2048 else tasks * 2 * B * r * itemsize
    moved = V * r * itemsize + per_in + tasks * 2 * B * itemsize
    shape = {"V": V, "d": d if d is not None else r, "r": r}
    return _finish("unargmaxable self-witness pass (G = Y Yᵀ, symmetric half)", shape, B, tasks, macs, moved,
                   unargmaxable_task_bytes(min(B, V), r, itemsize), budget, workers, calibration, bandwidth,
                   ("the hard-token NNLS/LP stage is not modelled (head-dependent; "
                    "a few tokens on Gaussian and trained-like heads)",))


def hubness_cost(n: int, d: int, k: int, *, workers: int, calibration: Calibration, n_queries: int | None = None,
                 block: int | None = None, memory_budget_mib: float = DEFAULT_BUDGET_MIB, itemsize: int = 4,
                 bandwidth: float | None = None, metric: str = "euclidean") -> CostEstimate:
    """The k-NN pass of ``n`` keys (self mode) or ``n_queries`` queries × ``n`` keys, top-2k candidates."""
    budget = int(memory_budget_mib * 2**20)
    width = 2 * k
    extra = 2 if metric == "euclidean" else 0
    D = d + extra
    sym = n_queries is None
    rows = n if sym else max(n, n_queries)
    B = int(block) if block else block_for_budget(budget, lambda b: hubness_task_bytes(b, D, width, itemsize), rows)
    ks = _blocks(n, B)
    if sym:
        nb = len(ks)
        tasks = nb * (nb + 1) // 2
        macs = D * (n * n + sum(s * s for s in ks)) / 2
        moved = 2 * n * D * itemsize + tasks * (2 * B * D * itemsize + 2 * B * width * (itemsize + 8))
        shape = {"n": n, "d": d, "k": k}
    else:
        qs = _blocks(n_queries, B)
        tasks = len(qs) * len(ks)
        macs = D * n * n_queries
        moved = (n + n_queries) * D * itemsize + tasks * (2 * B * D * itemsize + B * width * (itemsize + 8))
        shape = {"n_queries": n_queries, "n_keys": n, "d": d, "k": k}
    return _finish(f"hubness k-NN pass ({'self, symmetric half' if sym else 'query→key'}, {metric})", shape, B,
                   tasks, macs, moved, hubness_task_bytes(min(B, rows), D, width, itemsize), budget, workers,
                   calibration, bandwidth, ("the float64 re-check of uncertain rows is not modelled (O(n·k·d))",))


# -- command-line flags (the CLI owns the parser; these are the declarations) ---------------------------------
def add_arguments(parser) -> None:
    """``--dry-run``, ``--memory-budget``, ``--plan-workers``, ``--bandwidth`` on a subcommand's parser."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print the cost model (multiply-adds, bytes moved, estimated time from a calibration "
                             "GEMM on the workers, or here without --scheduler) and do no work")
    parser.add_argument("--memory-budget", type=float, default=DEFAULT_BUDGET_MIB, metavar="MIB",
                        help=f"per-task memory budget in MiB that picks the block size with --scheduler "
                             f"(default {DEFAULT_BUDGET_MIB})")
    parser.add_argument("--plan-workers", type=int, default=None, metavar="N",
                        help="with --dry-run: estimate for N workers (each as fast as the calibrated ones)")
    parser.add_argument("--bandwidth", type=float, default=None, metavar="GB/S",
                        help="network bandwidth per worker in GB/s for the estimate (default: not modelled)")


def check_arguments(args) -> None:
    """One-line errors for bad cost flags."""
    from probes.errors import InputError

    if not (args.memory_budget > 0 and math.isfinite(args.memory_budget)):
        raise InputError(f"--memory-budget {args.memory_budget}: must be a positive number of MiB")
    if args.plan_workers is not None and args.plan_workers < 1:
        raise InputError(f"--plan-workers {args.plan_workers}: must be at least 1")
    if args.plan_workers is not None and not args.dry_run:
        raise InputError("--plan-workers: only with --dry-run (a real run uses the cluster's workers)")
    if args.bandwidth is not None and not (args.bandwidth > 0 and math.isfinite(args.bandwidth)):
        raise InputError(f"--bandwidth {args.bandwidth}: must be a positive number of GB/s")
