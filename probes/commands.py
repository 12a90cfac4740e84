"""The subcommands that take files or tables rather than one design: ``unargmaxable``, ``hubness``, ``entropy-table``.

Argument parsing for them lives here (:func:`add_file_commands`, called by :mod:`probes.cli`),
so the probes themselves parse nothing: each command reads its flags and calls the library
(``probes.unargmaxable.detect``, ``probes.hubness.probe``, ``probes.entropy.verdict_table``).
Every array file goes through :mod:`probes.arrays` (one loader, one ``--key`` flag).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from probes.errors import InputError

__all__ = ["add_file_commands", "COMMANDS"]

COMMANDS = ("unargmaxable", "hubness", "entropy-table", "bench")
DEFAULT_CACHE = Path("out") / ".cache" / "bench"   # = probes.distributed.cache.DEFAULT_DIR


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# -- unargmaxable --------------------------------------------------------------------------
def _say(args, text: str) -> None:
    """A line for the log (stderr), unless --quiet: the cluster, the plan, the cost model, the cache."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def _distributed_flags(args) -> None:
    """Validate --scheduler and the cost flags before any file is read (one-line errors, exit 2)."""
    from probes.distributed import cluster, cost

    if args.scheduler is not None:
        cluster.parse_scheduler(args.scheduler)
        cluster.require_distributed()
    cost.check_arguments(args)


def _print_estimate(args, est) -> None:
    print(json.dumps(est.to_dict(), indent=2) if args.json else est)


def _cmd_unargmaxable(args) -> int:
    from probes import unargmaxable as U

    _distributed_flags(args)
    if args.box is not None and (args.scheduler or args.dry_run):
        raise InputError("--box: the reference tool's bounded search runs in-process only; drop --scheduler/--dry-run")
    if args.block is not None and args.block < 1:
        raise InputError(f"--block {args.block}: must be at least 1 row")
    W, b = U.load_head(args.file, args.weight_key, args.bias_key)
    if args.box is not None:
        res = U.box_detect(W, b, args.box, progress=not args.quiet)
    elif args.scheduler is None and not args.dry_run:
        res = U.detect(W, b, ties=args.ties, seed=args.seed, dtype=args.dtype, device=args.device,
                       progress=not args.quiet, subject=args.file, block=args.block or 1024, screen=args.screen)
    else:
        from probes.distributed import blocks, cost
        from probes.distributed.cluster import maybe_connect

        itemsize = 8 if str(args.dtype).replace("torch.", "") in ("float64", "double") else 4
        with maybe_connect(args.scheduler) as client:
            workers = client.attnprobe_info.workers if client is not None else 1
            if client is not None:
                _say(args, f"cluster: {client.attnprobe_info}")
            est = cost.unargmaxable_cost(W.shape[0], W.shape[1], workers=args.plan_workers or workers,
                                         calibration=cost.calibrate(client, k=W.shape[1]), block=args.block,
                                         memory_budget_mib=args.memory_budget, itemsize=itemsize,
                                         bandwidth=None if args.bandwidth is None else args.bandwidth * 1e9)
            if args.dry_run:
                _print_estimate(args, est)
                return 0
            _say(args, str(est))
            res, _plan = blocks.detect(W, b, client=client, block=args.block, memory_budget_mib=args.memory_budget,
                                       report=lambda text: _say(args, text), ties=args.ties, seed=args.seed,
                                       dtype=args.dtype, device=args.device, progress=not args.quiet,
                                       subject=args.file)
    print(json.dumps(res.to_dict(), indent=2) if args.json else res)
    return 0


def _add_unargmaxable(sub) -> None:
    p = sub.add_parser("unargmaxable", help="certify which tokens of an output head can never be the argmax")
    p.add_argument("file", help=".npy, .npz, .safetensors, or .pt/.bin (read with torch weights_only=True)")
    p.add_argument("--key", "--weight-key", dest="weight_key", default=None, metavar="NAME",
                   help="array name of the V x d weight (default: the only 2-D one)")
    p.add_argument("--bias-key", default=None, metavar="NAME",
                   help="array name of the length-V bias (default: no bias)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--box", type=float, default=None, metavar="R",
                   help="reproduce the reference tool's bounded search over [-R, R]^d (uncertified)")
    p.add_argument("--ties", default="strict", choices=("strict", "tolerant"),
                   help="strict: a token that can only tie is unargmaxable (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", help="GEMM pass precision: float32 (default) or float64")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--screen", default="auto", choices=("auto", "int8", "none"),
                   help="self-witness maxima: an int8 screen + float32 re-check (auto: on a CPU, float32) or "
                        "float32 products only (none)")
    p.add_argument("--block", type=int, default=None, metavar="ROWS",
                   help="row block of the self-witness GEMM (default 1024 in-process; with --scheduler chosen "
                        "from --memory-budget)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_distributed(p)
    p.set_defaults(func=_cmd_unargmaxable)


# -- hubness -----------------------------------------------------------------------------------
def _cmd_hubness(args) -> int:
    from probes import hubness as H
    from probes.result import jsonable

    _distributed_flags(args)
    keys = H.load_matrix(args.file, args.key)
    queries = H.load_matrix(args.queries, args.queries_key) if args.queries else None
    kwargs = dict(k=args.k, metric=args.metric, seed=args.seed, dtype=args.dtype,
                  device=args.device or _default_device(), block=args.block, reduce=tuple(args.reduce or ()),
                  w=args.w, progress=not args.quiet, subject=args.file)
    if args.scheduler is None and not args.dry_run:
        res = H.probe(keys, queries, **kwargs)
    else:
        from probes.distributed import blocks, cost
        from probes.distributed.cluster import maybe_connect

        if not isinstance(args.k, int) or args.k < 1:
            raise InputError(f"k = {args.k}: must be a positive integer")
        itemsize = 8 if str(args.dtype).replace("torch.", "") in ("float64", "double") else 4
        with maybe_connect(args.scheduler) as client:
            workers = client.attnprobe_info.workers if client is not None else 1
            if client is not None:
                _say(args, f"cluster: {client.attnprobe_info}")
            est = cost.hubness_cost(len(keys), keys.shape[1], args.k, workers=args.plan_workers or workers,
                                    calibration=cost.calibrate(client, k=keys.shape[1]),
                                    n_queries=None if queries is None else len(queries),
                                    memory_budget_mib=args.memory_budget, itemsize=itemsize,
                                    bandwidth=None if args.bandwidth is None else args.bandwidth * 1e9,
                                    metric=args.metric)
            if args.dry_run:
                _print_estimate(args, est)
                return 0
            _say(args, str(est))
            if "mp" in (args.reduce or ()):
                _say(args, "note: the mutual-proximity reduction (--reduce mp) runs in this process")
            scan = blocks.knn_scan(client, memory_budget_mib=args.memory_budget, report=lambda text: _say(args, text))
            res = H.probe(keys, queries, scan=scan, **kwargs)
    print(json.dumps(jsonable(res.to_dict()), indent=2) if args.json else res)
    if args.plot:
        out = H.write_plot(res, args.plot)
        if not args.json:
            print(f"histogram written to {out}")
    return 0


def _add_hubness(sub) -> None:
    """``attnprobe hubness FILE [--key NAME] [--queries FILE] -k 10 --metric ... [--json] [--plot PATH]``."""
    from probes.hubness import METRICS, REDUCTIONS

    h = sub.add_parser("hubness", help="exact k-occurrence hubness of an embedding matrix "
                                       "(.npy, .npz, .safetensors, .pt), or of keys ranked by queries")
    h.add_argument("file", help="matrix of points (rows) or keys: .npy, .npz, .safetensors or .pt/.bin")
    h.add_argument("--key", metavar="NAME", help="array name inside FILE (default: the only 2-D one)")
    h.add_argument("--queries", metavar="FILE", help="queries ranking the keys (query→key mode)")
    h.add_argument("--queries-key", metavar="NAME", help="array name inside the queries file")
    h.add_argument("-k", type=int, default=10, help="neighbourhood size (default 10)")
    h.add_argument("--metric", choices=METRICS, default="euclidean",
                   help="euclidean (default), cosine, or dot (inner product, e.g. attention logits)")
    h.add_argument("--w", type=float, default=None, metavar="W",
                   help="the population w of the premise (e.g. √(κ−1)/2, or ‖μ_q‖/(σ_z√d) for attention): "
                        "adds the limit law's prediction at W (without it only this draw's plug-in law is shown)")
    h.add_argument("--reduce", action="append", choices=REDUCTIONS,
                   help="also report hubness after CSLS or mutual proximity (repeatable)")
    h.add_argument("--dtype", default="float32", help="pass dtype: float32 (default; float64 re-check) or float64")
    h.add_argument("--device", default=None, help="torch device (default cuda when available, else cpu)")
    h.add_argument("--block", type=int, default=None,
                   help="block size of the GEMM pass (memory ~ block²; default 2048 on CPU, 4096 on GPU)")
    h.add_argument("--seed", type=int, default=0, help="recorded seed (the probe is deterministic)")
    h.add_argument("--json", action="store_true", help="print one JSON object")
    h.add_argument("--plot", metavar="PATH", help="write the N_k histogram (PNG) to PATH")
    h.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_distributed(h)
    h.set_defaults(func=_cmd_hubness)


# -- entropy-table ---------------------------------------------------------------------------------
def _cmd_entropy_table(args) -> int:
    from probes.designs.zoo import ZOO
    from probes.entropy import verdict_table, verdict_table_markdown

    table = verdict_table(args.names or ZOO, rows=args.rows, n_max=1 << args.max_log2n, seed=args.seed,
                          noise_needle=False, head=args.head)
    if args.json:
        from probes.result import jsonable

        print(json.dumps(jsonable(table), indent=2))
    else:
        print(verdict_table_markdown(table))
    return 0 if all(t["match"] for t in table) else 1


def _add_entropy_table(sub) -> None:
    t = sub.add_parser("entropy-table", help="entropy/needle verdicts of zoo designs beside theory's (Markdown; "
                                             "exit 1 if any disagrees); also `python -m probes.entropy`")
    t.add_argument("names", nargs="*", help="zoo names (default: the whole zoo)")
    t.add_argument("--rows", type=int, default=512, help="query rows per length (default 512)")
    t.add_argument("--max-log2n", type=int, default=16, help="longest length 2^k (default 16)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--head", type=int, default=0, help="head whose normaliser and position term are probed")
    t.add_argument("--json", action="store_true", help="print one JSON array")
    t.set_defaults(func=_cmd_entropy_table)


# -- bench --------------------------------------------------------------------------------------
def _cmd_bench(args) -> int:
    from probes.bench import run_bench
    from probes.distributed.cache import CellCache
    from probes.registry import get

    for name in args.probe or []:
        get(name)
    if args.scheduler is not None:
        from probes.distributed import cluster

        cluster.parse_scheduler(args.scheduler)
        cluster.require_distributed()
    if args.fresh and args.no_cache:
        raise InputError("--fresh and --no-cache: pick one (--fresh recomputes and rewrites the cache, "
                         "--no-cache neither reads nor writes it)")
    cache = None if args.no_cache else CellCache(args.cache, fresh=args.fresh)
    from probes.distributed.cluster import maybe_connect

    with maybe_connect(args.scheduler) as client:
        if client is not None:
            _say(args, f"cluster: {client.attnprobe_info}")
        res = run_bench(args.only or None, extra=args.design or [], probes=args.probe or None,
                        options={"seed": args.seed}, progress=not args.quiet, cache=cache, client=client)
    if cache is not None:
        print(f"cache: {cache.stats()}", file=sys.stderr)
    paths = res.write(args.out)
    print(json.dumps(res.to_dict(), indent=2) if args.json else res.markdown())
    if not args.json:
        print("written: " + ", ".join(str(p) for p in paths))
    return 0


def _add_bench(sub) -> None:
    b = sub.add_parser("bench", help="every zoo design and stack × every property at small sizes: a Markdown table, "
                                     "JSON and a figure (designs × properties, coloured by agreement with theory)")
    b.add_argument("--design", action="append", metavar="DESIGN",
                   help="also bench this design (file.py:make, package.module:factory; repeatable)")
    b.add_argument("--only", action="append", metavar="DESIGN", help="bench only these designs (repeatable)")
    b.add_argument("--probe", action="append", metavar="NAME", help="only these properties (repeatable)")
    b.add_argument("--out", default="bench-out", metavar="DIR", help="where bench.md/json/png go (default bench-out)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    b.add_argument("--quiet", action="store_true", help="no progress")
    b.add_argument("--cache", default=str(DEFAULT_CACHE), metavar="DIR",
                   help=f"where finished cells are kept (JSON; default {DEFAULT_CACHE}); a repeated or "
                        "interrupted sweep recomputes only the cells not there")
    b.add_argument("--fresh", action="store_true", help="ignore the cache: recompute every cell (and rewrite it)")
    b.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    from probes.distributed.cluster import add_argument as add_scheduler

    add_scheduler(b)
    b.set_defaults(func=_cmd_bench)


def _add_distributed(p) -> None:
    """--scheduler and the cost-model flags (declared in probes.distributed; nothing of dask is imported)."""
    from probes.distributed import cluster, cost

    cluster.add_argument(p)
    cost.add_arguments(p)


def add_file_commands(sub) -> None:
    """Add every subcommand of this module to ``sub`` (an argparse subparsers object)."""
    _add_unargmaxable(sub)
    _add_hubness(sub)
    _add_entropy_table(sub)
    _add_bench(sub)
