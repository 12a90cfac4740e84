"""The bench grid as Dask tasks: one task per (design, property) cell at the sweep's sizes and seed.

Each task is :func:`probes.bench.run_cell`, the very function the in-process loop calls, so a cell's
outcome does not depend on where it ran. Finished cells come back as they finish (``as_completed``) and
are handed to ``finished`` (which caches them and drives the progress line); if the client is interrupted
(Ctrl-C, or an exception raised by ``finished``) the tasks not yet finished are cancelled, and what
finished stays cached. A worker that dies mid-cell has its task re-run elsewhere by the scheduler.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

__all__ = ["run_cells"]


def run_cells(client, cells: Sequence[tuple[str, str]], options: Mapping,
              finished: Callable[[str, str, object], None], bar=None, *, task=None,
              timeout: float | None = None) -> None:
    """Run ``cells`` ((design, probe) pairs) on ``client``'s workers; ``finished(design, probe, cell)`` on each.

    ``task`` replaces :func:`probes.bench.run_cell` (same signature; tests use it to kill a worker);
    ``timeout`` bounds the whole wait (``TimeoutError``; the unfinished tasks are cancelled).
    """
    from distributed import as_completed

    from probes.bench import run_cell

    fn = task or run_cell
    opts = dict(options)
    import uuid

    run = uuid.uuid4().hex[:12]
    futures = {}
    for d, p in cells:
        fut = client.submit(fn, d, p, opts, pure=False, key=f"attnprobe-cell-{run}-{len(futures)}")
        futures[fut] = (d, p)
    if bar is not None:
        bar.set_status(f"{len(futures)} cells on {client.attnprobe_info.workers if hasattr(client, 'attnprobe_info') else '?'} workers")
    try:
        for fut in as_completed(list(futures), timeout=timeout):
            d, p = futures[fut]
            cell = fut.result()
            if bar is not None:
                bar.set_status(f"{d} × {p}")
            finished(d, p, cell)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
