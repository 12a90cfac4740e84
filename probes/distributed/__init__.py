"""Running attnprobe's big work on a Dask cluster (the optional ``dask`` extra: ``pip install -e ".[dask]"``).

One module per concern, none of which imports dask at import time (``attnprobe --help`` stays cheap):

* :mod:`probes.distributed.cluster`: ``--scheduler`` parsing (``local:N`` or an address), the client's
  lifetime, a ``LocalCluster`` of N one-thread worker processes;
* :mod:`probes.distributed.cache`: the on-disk cache of finished bench cells (JSON, one file a cell);
* :mod:`probes.distributed.grid`: the bench grid as tasks, one per (design, property) cell, each the same
  :func:`probes.bench.run_cell` the in-process loop calls;
* :mod:`probes.distributed.blocks`: the block-pair products of ``unargmaxable`` (the self-witness row/column
  maxima, the hard tokens fanned out in chunks) and ``hubness`` (per-block-pair top-k merged exactly);
* :mod:`probes.distributed.cost`: the cost model printed before a big run (multiply-adds, bytes moved,
  estimated time from a calibration GEMM on the workers; ``--dry-run`` prints only it).

Without ``--scheduler`` nothing here runs: the commands compute in-process as before.
"""
