"""``--scheduler``: parsing, the client's lifetime, and a ``LocalCluster`` of one-thread worker processes.

``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes with one thread each (closed
again when the command ends); anything else is a scheduler address (``tcp://host:8786``, ``host:8786``,
``tls://…``) that the client connects to. Without the ``dask`` extra, or with an address that cannot be
reached, the command ends with one line (:class:`probes.errors.InputError`, exit 2).

Workers need attnprobe importable (the same version as the client: the bench cache key and the results
depend on it); a ``LocalCluster`` inherits the client's environment and ``sys.path``.
"""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from typing import Iterator

from probes.errors import InputError

__all__ = ["SchedulerSpec", "ClusterInfo", "parse_scheduler", "require_distributed", "connect", "maybe_connect",
           "add_argument",
           "INSTALL_HINT", "CONNECT_TIMEOUT"]

INSTALL_HINT = 'pip install -e ".[dask]" (or pip install "dask[distributed]>=2024.1")'
CONNECT_TIMEOUT = 10.0  # seconds the client waits for a remote scheduler before giving up
_ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ucx|ws|wss)://)?([A-Za-z0-9_.\-\[\]:]+?)(?::(\d{1,5}))?$")


@dataclass(frozen=True)
class SchedulerSpec:
    """What ``--scheduler`` asked for: ``kind`` "local" (``workers`` processes) or "address"."""

    kind: str
    address: str = ""
    workers: int = 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "address": self.address, "workers": self.workers}

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.kind == "local" else self.address


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster a client is connected to: scheduler address, workers, threads, the local spec if any."""

    scheduler: str
    workers: int
    threads: int
    memory_bytes: int
    spec: str

    def to_dict(self) -> dict:
        return {"scheduler": self.scheduler, "workers": self.workers, "threads": self.threads,
                "memory_bytes": self.memory_bytes, "spec": self.spec}

    def __str__(self) -> str:
        mem = f", {self.memory_bytes / 2**30:.1f} GiB" if self.memory_bytes else ""
        return f"{self.spec} ({self.workers} workers, {self.threads} threads{mem}; scheduler {self.scheduler})"


def parse_scheduler(text: str) -> SchedulerSpec:
    """``local:N`` (N ≥ 1 worker processes) or a scheduler address; anything else is an :class:`InputError`."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("--scheduler: empty; give local:N (N worker processes here) or an address "
                         "such as tcp://host:8786")
    text = text.strip()
    if text.lower().startswith("local"):
        m = re.fullmatch(r"local:(-?\d+)", text, flags=re.IGNORECASE)
        if m is None:
            raise InputError(f"--scheduler {text!r}: malformed; write local:N with N a whole number of worker "
                             "processes, e.g. local:4")
        n = int(m.group(1))
        if n < 1:
            raise InputError(f"--scheduler {text!r}: N = {n}; a LocalCluster needs at least 1 worker process")
        if n > 1024:
            raise InputError(f"--scheduler {text!r}: N = {n} worker processes on one machine is too many "
                             f"(this machine has {os.cpu_count()} cores)")
        return SchedulerSpec("local", workers=n)
    m = _ADDRESS.match(text)
    if m is None or not m.group(2):
        raise InputError(f"--scheduler {text!r}: not a scheduler address; use tcp://host:8786 or local:N")
    if m.group(3) is not None and not 0 < int(m.group(3)) < 65536:
        raise InputError(f"--scheduler {text!r}: port {m.group(3)} is out of range 1..65535")
    return SchedulerSpec("address", address=text if m.group(1) else f"tcp://{text}")


def require_distributed():
    """The ``distributed`` module, or a one-line :class:`InputError` saying what to install."""
    try:
        import distributed  # noqa: F401
        from distributed import Client  # noqa: F401
    except ImportError:
        raise InputError(f"--scheduler needs Dask's distributed scheduler, which is not installed: {INSTALL_HINT}") \
            from None
    import distributed

    return distributed


def _info(client, spec: SchedulerSpec) -> ClusterInfo:
    workers = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) else \
        client.scheduler_info()["workers"]
    return ClusterInfo(scheduler=str(client.scheduler.address), workers=len(workers),
                       threads=sum(int(w.get("nthreads", 1)) for w in workers.values()),
                       memory_bytes=sum(int(w.get("memory_limit", 0) or 0) for w in workers.values()), spec=str(spec))


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


@contextlib.contextmanager
def connect(spec: SchedulerSpec | str, *, memory_limit: str | int = "auto", quiet: bool = True) -> Iterator:
    """A connected ``distributed.Client`` (``.attnprobe_info``: :class:`ClusterInfo`), closed on exit.

    ``local:N`` starts a ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)`` without a
    dashboard and shuts it down on exit (also on an error or Ctrl-C). An address must answer within
    :data:`CONNECT_TIMEOUT` seconds, else a one-line :class:`InputError`.
    """
    if isinstance(spec, str):
        spec = parse_scheduler(spec)
    distributed = require_distributed()
    import logging

    cluster = None
    if quiet:  # the scheduler's and workers' INFO lines would bury the command's own output
        for name in ("distributed", "distributed.scheduler", "distributed.worker", "distributed.nanny",
                     "distributed.core", "distributed.http.proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if spec.kind == "local":
        try:
            cluster = distributed.LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, memory_limit=memory_limit,
                                               silence_logs=logging.ERROR if quiet else logging.WARNING)
        except Exception as exc:  # noqa: BLE001 - a cluster that cannot start is bad input here
            raise InputError(f"--scheduler {spec}: the LocalCluster did not start ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
    else:
        try:
            client = distributed.Client(spec.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise InputError(f"--scheduler {spec}: cannot reach a Dask scheduler there within "
                             f"{CONNECT_TIMEOUT:.0f} s ({msg}); start one with `dask scheduler` or use "
                             "local:N") from None
    try:
        client.attnprobe_info = _info(client, spec)
        if client.attnprobe_info.workers == 0:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise InputError(f"--scheduler {spec}: the scheduler has no workers (none joined within "
                                 f"{CONNECT_TIMEOUT:.0f} s: {type(exc).__name__}); start some with "
                                 f"`dask worker {spec}`") from None
            client.attnprobe_info = _info(client, spec)
        yield client
    finally:
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()


@contextlib.contextmanager
def maybe_connect(scheduler: str | None, **kwargs) -> Iterator:
    """:func:`connect` when ``scheduler`` is given, else None (the command runs in-process)."""
    if scheduler is None:
        yield None
        return
    with connect(scheduler, **kwargs) as client:
        yield client


def add_argument(parser) -> None:
    """``--scheduler`` (and nothing else) on a subcommand's parser."""
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run on a Dask cluster: local:N (N one-thread worker processes here) or a "
                             "scheduler address such as tcp://host:8786 (needs the dask extra: "
                             'pip install -e ".[dask]"); default: in-process')
