"""The on-disk cache of finished bench cells: one JSON file per (design, property, parameters) cell.

The key hashes (1) the source of what defines the design (the zoo package ``probes/designs`` for a zoo
name or depth stack; the file for ``file.py:make``; the module's file for ``package.module:factory``;
a checkpoint directory's ``config.json`` and its files' sizes and times), (2) the property's name and the
source of the module (or package) that implements it, (3) the probe's full options as the probe sees them
(sizes, seed, dtype, device), and (4) the attnprobe version. An interrupted or repeated sweep therefore
recomputes nothing it finished, and an edit to a design or a probe recomputes exactly the cells it touches.
``--fresh`` ignores what is cached (and overwrites it). Cells that ``failed`` are not cached (a failure
may be transient); every other outcome is.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

__all__ = ["CellCache", "CacheStats", "cell_key", "design_source_hash", "probe_source_hash", "DEFAULT_DIR"]

DEFAULT_DIR = Path("out") / ".cache" / "bench"
_FORMAT = 1  # bump when the cached record's layout changes


def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(set(Path(x) for x in paths)):
        h.update(str(p.name).encode())
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


def _package_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


@functools.lru_cache(maxsize=None)
def _zoo_hash() -> str:  # once per process: a sweep does not edit the zoo while it runs
    return _hash_files(_package_files(Path(__file__).resolve().parent.parent / "designs"))


def design_source_hash(design: str) -> str:
    """sha256 of the source that defines ``design`` (see the module docstring)."""
    from probes.designs.stacks import STACKS
    from probes.designs.zoo import ZOO

    name = str(design)
    if name in ZOO or name in STACKS or (":" not in name and not Path(name).exists()):
        # zoo names, stacks and any '[normaliser+]position[-causal]' combination: the zoo package builds them
        return "zoo:" + _zoo_hash()
    path = Path(name)
    if path.is_dir():  # a Hugging Face checkpoint: config + (size, mtime) of every file (no multi-GB hashing)
        h = hashlib.sha256()
        for p in sorted(path.iterdir()):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
                if p.name == "config.json":
                    h.update(p.read_bytes())
        return "dir:" + h.hexdigest()
    target, _, _factory = name.rpartition(":")
    if target.endswith(".py") or os.sep in target or "/" in target:
        return "file:" + _hash_files([target])
    import importlib.util

    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and Path(spec.origin).exists():
        return "module:" + _hash_files([spec.origin])
    return "unresolved:" + hashlib.sha256(name.encode()).hexdigest()  # load_design will fail; not cached


def probe_source_hash(probe) -> str:
    return _module_hash(type(probe).__module__)


@functools.lru_cache(maxsize=None)
def _module_hash(module: str) -> str:
    """sha256 of the module defining ``probe``'s class; for a probe inside a subpackage of ``probes``
    (``probes/entropy/``), of every module of that subpackage."""
    mod = sys.modules.get(module)
    path = Path(getattr(mod, "__file__", "") or "")
    if not path.is_file():
        return "unknown"
    probes_dir = Path(__file__).resolve().parent.parent
    pkg = path.resolve().parent
    in_subpackage = pkg != probes_dir and (pkg / "__init__.py").exists()
    return _hash_files(_package_files(pkg) if in_subpackage else [path])


def _canonical(value):
    """Options as stable JSON: torch dtypes/devices as strings, tuples as lists, keys sorted."""
    from probes.result import jsonable

    return json.loads(json.dumps(jsonable(value), sort_keys=True, default=str))


def cell_key(design: str, probe, options: Mapping) -> str:
    """The cache key of one cell: sha256 over design source, probe name and source, options, version."""
    from probes import __version__

    record = {"format": _FORMAT, "attnprobe": __version__, "design": str(design),
              "design_source": design_source_hash(design), "probe": probe.name,
              "probe_source": probe_source_hash(probe), "options": _canonical(dict(options))}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """How many cells came from the cache (``hits``) and how many were computed (``misses``)."""

    directory: str
    hits: int
    misses: int
    fresh: bool

    def to_dict(self) -> dict:
        return {"directory": self.directory, "hits": self.hits, "misses": self.misses, "fresh": self.fresh}

    def __str__(self) -> str:
        total = self.hits + self.misses
        return (f"{self.hits} of {total} cells from the cache ({self.directory}), {self.misses} computed"
                + (" (--fresh: cache ignored)" if self.fresh else ""))


class CellCache:
    """JSON files ``<dir>/<key[:2]>/<key>.json`` holding a finished :class:`probes.bench.BenchCell`."""

    def __init__(self, directory=DEFAULT_DIR, *, fresh: bool = False):
        self.directory = Path(directory)
        self.fresh = bool(fresh)
        self.hits = 0
        self.misses = 0
        self._keys: dict[tuple, str] = {}

    def key(self, design: str, probe, options: Mapping) -> str:
        return cell_key(design, probe, options)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str):
        """The cached :class:`~probes.bench.BenchCell` for ``key``, or None (also under ``fresh``)."""
        from probes.bench import BenchCell

        if self.fresh:
            return None
        p = self._path(key)
        try:
            data = json.loads(p.read_text())
            cell = BenchCell(**data["cell"])
        except (OSError, ValueError, KeyError, TypeError):  # missing, half-written or foreign: recompute
            return None
        return cell

    def put(self, key: str, cell) -> None:
        """Write ``cell`` atomically (a temporary file renamed into place); ``failed`` cells are not kept."""
        if cell.outcome == "failed":
            return
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "cell": cell.to_dict()}, indent=1) + "\n")
        os.replace(tmp, p)

    def count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def stats(self) -> CacheStats:
        return CacheStats(str(self.directory), self.hits, self.misses, self.fresh)
