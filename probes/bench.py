"""The probe benchmark: every registered design × every registered property, at small stated sizes.

``attnprobe bench`` loads each zoo design and depth stack (and each ``--design`` you register),
runs every probe of :data:`probes.registry.PROBES` that applies, at the sizes of
:data:`probes.testing.QUICK`, and writes ``bench.md`` (designs × properties: the measured
verdict, ✓ where it agrees with the theory row, ✗ where it does not), ``bench.json`` and
``bench.png`` (the same grid coloured by outcome). A new design joins by being registered in the
zoo (or passed with ``--design``), a new property by being registered in ``PROBES``: nothing else.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = ["BenchCell", "BenchResult", "run_bench", "run_cell", "cell_options", "default_designs"]

OUTCOMES = ("agrees", "disagrees", "no theory", "not applicable", "diverged", "failed")


@dataclass(frozen=True)
class BenchCell:
    design: str
    probe: str
    outcome: str            # one of OUTCOMES
    verdict: str = ""
    theory: str = ""
    key_figure: str = ""
    reason: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class BenchResult:
    designs: list[str]
    probes: list[str]
    cells: list[BenchCell] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    seconds: float = 0.0

    def cell(self, design: str, probe: str) -> BenchCell | None:
        return next((c for c in self.cells if c.design == design and c.probe == probe), None)

    def counts(self) -> dict:
        return {o: sum(c.outcome == o for c in self.cells) for o in OUTCOMES}

    def to_dict(self) -> dict:
        from probes import __version__

        return {"attnprobe": __version__, "designs": self.designs, "probes": self.probes, "options": self.options,
                "seconds": round(self.seconds, 1), "counts": self.counts(), "cells": [c.to_dict() for c in self.cells]}

    def markdown(self) -> str:
        mark = {"agrees": " ✓", "disagrees": " ✗", "no theory": "", "not applicable": "", "diverged": "", "failed": ""}
        lines = ["| design | " + " | ".join(self.probes) + " |", "|---|" + "---|" * len(self.probes)]
        for d in self.designs:
            row = []
            for p in self.probes:
                c = self.cell(d, p)
                if c is None or c.outcome == "not applicable":
                    row.append("–")
                elif c.outcome in ("diverged", "failed"):
                    row.append(f"**{c.outcome}**")
                else:
                    row.append(c.verdict.replace("|", "\\|") + mark[c.outcome])
            lines.append(f"| `{d}` | " + " | ".join(row) + " |")
        n = self.counts()
        lines += ["", f"{len(self.designs)} designs × {len(self.probes)} properties in {self.seconds:.0f} s: "
                      + ", ".join(f"{v} {k}" for k, v in n.items() if v) + ". ✓: the measured verdict equals the "
                      "theory row's; ✗: it does not (a finding); –: the property does not apply."]
        return "\n".join(lines) + "\n"

    def plot(self, path) -> Path:
        """The grid, coloured by outcome, the verdict written in each cell."""
        from probes.plotting import pyplot, save

        plt = pyplot()
        colours = {"agrees": "#4caf50", "disagrees": "#e53935", "no theory": "#90a4ae", "not applicable": "#ffffff",
                   "diverged": "#212121", "failed": "#6d4c41"}
        fig, ax = plt.subplots(figsize=(1.6 + 1.45 * len(self.probes), 0.8 + 0.26 * len(self.designs)))
        for i, d in enumerate(self.designs):
            for j, p in enumerate(self.probes):
                c = self.cell(d, p)
                out = c.outcome if c else "not applicable"
                ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=colours[out], edgecolor="#cfd8dc", lw=0.5))
                if c and c.verdict and out != "not applicable":
                    text = c.verdict.split(";")[0].split(" (")[0]
                    ax.text(j + 0.5, i + 0.5, text[:22], ha="center", va="center", fontsize=5.5,
                            color="white" if out in ("diverged", "failed", "disagrees") else "black")
        ax.set_xlim(0, len(self.probes))
        ax.set_ylim(len(self.designs), 0)
        ax.set_xticks([j + 0.5 for j in range(len(self.probes))], self.probes, rotation=30, ha="right", fontsize=7)
        ax.set_yticks([i + 0.5 for i in range(len(self.designs))], self.designs, fontsize=6)
        handles = [plt.Rectangle((0, 0), 1, 1, facecolor=colours[o], edgecolor="#cfd8dc") for o in OUTCOMES]
        ax.legend(handles, OUTCOMES, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("attnprobe bench: verdict per design and property (colour: against theory)", fontsize=8)
        return save(fig, path, dpi=130)

    def write(self, out_dir) -> list[Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text(self.markdown())
        (out / "bench.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        paths = [out / "bench.md", out / "bench.json"]
        from probes.plotting import available

        if available():
            paths.append(self.plot(out / "bench.png"))
        return paths


def default_designs() -> list[str]:
    """Every zoo design and depth stack, by name."""
    from probes.designs.stacks import STACKS
    from probes.designs.zoo import ZOO

    return list(ZOO) + list(STACKS)


def run_cell(design: str, probe: str, options: Mapping | None = None) -> BenchCell:
    """One cell of the grid: load ``design`` (seed ``options["seed"]``), run property ``probe`` on it at
    ``options`` (completed with :data:`probes.testing.QUICK` and the probe's defaults) and classify the outcome.

    A pure function of its arguments (the design is loaded afresh), so the in-process loop and a Dask worker
    (:mod:`probes.distributed.grid`) give the same cell. Bad input in the design is a ``failed`` cell, a
    non-finite measurement a ``diverged`` one; ``seconds`` is the cell's own wall time.
    """
    from probes.designs.loading import load_design
    from probes.errors import Diverged, InputError, NotApplicable
    from probes.registry import get
    from probes.testing import QUICK

    p = get(probe)
    opts = {**QUICK, **dict(options or {})}
    t1 = time.perf_counter()
    try:
        subject = load_design(design, seed=int(opts.get("seed", 0)))
    except InputError as exc:
        return BenchCell(design, p.name, "failed", reason=str(exc), seconds=round(time.perf_counter() - t1, 2))
    o = p.options(opts)
    ok, why = p.applies_to(subject, o)
    if not ok:
        return BenchCell(design, p.name, "not applicable", reason=why)
    try:
        res = p.run(subject, o)
    except NotApplicable as exc:
        cell = BenchCell(design, p.name, "not applicable", reason=str(exc))
    except InputError as exc:  # Diverged is an InputError: no verdict from NaN
        cell = BenchCell(design, p.name, "diverged" if isinstance(exc, Diverged) else "failed", reason=str(exc))
    else:
        s = p.summary(res)
        outcome = {True: "agrees", False: "disagrees", None: "no theory"}[s.agrees]
        cell = BenchCell(design, p.name, outcome, s.verdict, s.theory, s.key_figure)
    return BenchCell(**{**cell.to_dict(), "seconds": round(time.perf_counter() - t1, 2)})


def cell_options(probe: str, options: Mapping | None = None) -> dict:
    """The options ``probe`` runs a cell with (what the cache key hashes): QUICK, ``options``, its defaults."""
    from probes.registry import get
    from probes.testing import QUICK

    return get(probe).options({**QUICK, **dict(options or {})})


def run_bench(designs: Iterable[str] | None = None, *, extra: Iterable[str] = (), probes: Iterable[str] | None = None,
              options: Mapping | None = None, progress: bool = True, cache=None, client=None,
              on_cell: Callable[[BenchCell, bool], None] | None = None, **grid_options) -> BenchResult:
    """Run the grid (see the module docstring); ``extra``: user designs (``file.py:make``) appended.

    Every cell is :func:`run_cell`. ``cache``: a :class:`probes.distributed.cache.CellCache` (cells found
    there are not recomputed; finished ones are written as they finish). ``client``: a ``distributed.Client``;
    the cells not cached then run as one task each on its workers (:mod:`probes.distributed.grid`), else
    in this process, in grid order. ``on_cell(cell, from_cache)`` is called on every finished cell, in the
    order they finish (an exception raised there, e.g. KeyboardInterrupt, stops the sweep; what finished
    stays cached). The result's cells are in grid order either way. ``grid_options`` go to
    :func:`probes.distributed.grid.run_cells` (``timeout``; ``task`` for tests).
    """
    from probes.progress import progress as bar_of
    from probes.registry import PROBES, get
    from probes.testing import QUICK

    names = list(probes) if probes is not None else list(PROBES)
    for n in names:
        get(n)
    designs = list(designs) if designs is not None else default_designs()
    designs += [d for d in extra if d not in designs]
    opts = {**QUICK, **dict(options or {})}
    result = BenchResult(designs, names, options=opts)
    grid = [(d, p) for d in designs for p in names]
    done: dict[tuple, BenchCell] = {}
    keys: dict[tuple, str] = {}
    t0 = time.perf_counter()
    with bar_of(len(grid), "bench", unit="cell", enabled=progress) as bar:
        if cache is not None:
            for d, p in grid:
                keys[d, p] = cache.key(d, get(p), cell_options(p, opts))
                hit = cache.get(keys[d, p])
                if hit is not None:
                    done[d, p] = hit
                    cache.count(True)
                    bar.update(1)
                    if on_cell is not None:
                        on_cell(hit, True)
            if done:
                bar.set_status(f"{len(done)} cells from the cache")

        def finished(d, p, cell):
            done[d, p] = cell
            if cache is not None:
                cache.count(False)
                cache.put(keys[d, p], cell)
            bar.update(1)
            if on_cell is not None:
                on_cell(cell, False)

        todo = [(d, p) for d, p in grid if (d, p) not in done]
        if client is not None and todo:
            from probes.distributed.grid import run_cells

            run_cells(client, todo, opts, finished, bar, **grid_options)
        else:
            for d, p in todo:
                bar.set_status(f"{d} × {p}")
                finished(d, p, run_cell(d, p, opts))
    result.cells = [done[d, p] for d, p in grid]
    result.seconds = time.perf_counter() - t0
    return result
