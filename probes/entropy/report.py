"""The entropy probe's report: Markdown, the H(n) and p*(n) plots, and the zoo verdict table."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from probes.entropy.core import EntropyResult, probe
from probes.entropy.verdicts import FADE_DELTA, TRAIN_N

__all__ = ["markdown", "write_plots", "verdict_table", "verdict_table_markdown"]


def markdown(result: EntropyResult) -> str:
    th_row = result.theory
    lines = [f"**Entropy (P1):** `{result.verdict}` (theory: `{th_row.get('verdict')}`), slope {result.slope:.3f}, "
             f"ΔH from {TRAIN_N} = {result.delta_H:.3f}. **Needle (P2, Δ = {FADE_DELTA:g}):** "
             f"`{result.needle_verdict}` (theory: `{th_row.get('needle_verdict')}`), fade ratio "
             f"{result.fade_ratio[str(FADE_DELTA)]:.3g}. Gate (softmax vs mean field): "
             f"{'passed' if result.gate['passed'] else 'FAILED'} (max error {result.gate['max_abs_error']:.3g}).", "",
             *[f"Note: {n}." for n in result.notes], *([""] if result.notes else []),
             "| n | H | H theory | row mass | max share | p* (Δ=3) | p* theory |", "|---|---|---|---|---|---|---|"]
    the = th_row.get("entropy_by_n") or [float("nan")] * len(result.ns)
    thp = th_row.get("needle_by_n") or [float("nan")] * len(result.ns)
    for i, n in enumerate(result.ns):
        k = str(n)
        lines.append(f"| {n} | {result.entropy_by_n[k]:.4g} | {the[i]:.4g} | {result.row_mass_by_n[k]:.4g} | "
                     f"{result.max_weight_by_n[k]:.3g} | {result.needle_by_n[str(FADE_DELTA)][k]:.3g} | {thp[i]:.3g} |")
    return "\n".join(lines)


def write_plots(result: EntropyResult, out_dir) -> list[str]:
    """entropy_vs_n.png (H(n) with the theory curve) and needle_vs_n.png (p*(n) with theory)."""
    from probes import plotting

    plt = plotting.pyplot()
    out = Path(out_dir)
    ns = np.asarray(result.ns, dtype=float)
    paths = []

    def save(fig, ax, name):
        paths.append(str(plotting.save(fig, out / name, dpi=110, legend=ax)))

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(ns, [result.entropy_by_n[str(int(n))] for n in ns], "o-", label=f"{result.design} (measured)")
    ax.plot(ns, [result.gate["softmax_entropy_by_n"][str(int(n))] for n in ns], "s:", ms=3, label="softmax (gate)")
    if result.theory.get("entropy_by_n"):
        ax.plot(ns, result.theory["entropy_by_n"], "k--",
                label=f"theory ({result.theory.get('p1_theory') or 'mean field'})")
    ax.plot(ns, np.log(ns), color="0.7", lw=1, label="ln n (uniform)")
    ax.set(xscale="log", xlabel="keys n", ylabel="entropy H (nats)", title=f"{result.design}: {result.verdict}")
    save(fig, ax, f"entropy_vs_n_{result.design}.png")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for D, curve in result.needle_by_n.items():
        ax.plot(ns, [curve[str(int(n))] for n in ns], "o-", ms=3, label=f"P2 Δ = {float(D):g}")
    ax.plot(ns, [result.needle_noise_by_n[str(int(n))] for n in ns], "^-", ms=3, label=f"P3 noise, Δ = {FADE_DELTA:g}")
    if result.theory.get("needle_by_n"):
        ax.plot(ns, result.theory["needle_by_n"], "k--", label=f"theory Δ = {FADE_DELTA:g}")
    ax.set(xscale="log", yscale="log", xlabel="keys n", ylabel="needle share p*",
           title=f"{result.design}: {result.needle_verdict}")
    save(fig, ax, f"needle_vs_n_{result.design}.png")
    return paths


# -- the verdict table ---------------------------------------------------------------
def verdict_table(names, **kw) -> list[dict]:
    """One row per design: measured and theory verdicts for P1 and P2 (``kw`` as :func:`probe`)."""
    rows = []
    for name in names:
        r = probe(name, **kw)
        top = str(r.ns[-1])
        rows.append({"design": r.design, "p1": r.verdict, "p1_theory": r.theory["verdict"],
                     "p2": r.needle_verdict, "p2_theory": r.theory["needle_verdict"],
                     "match": r.matches_theory, "slope": r.slope, "H_top": r.entropy_by_n[top],
                     "max_share_top": r.max_weight_by_n[top], "dead_top": r.dead_rows_by_n[top],
                     "fade_ratio": r.fade_ratio[str(FADE_DELTA)], "params": r.params})
    return rows


def verdict_table_markdown(table: list[dict]) -> str:
    """The rows of :func:`verdict_table` as a Markdown table."""
    lines = ["| design | P1 verdict | P1 theory | P2 verdict | P2 theory | match | slope | H(n_max) | max share "
             "| fade ratio (Δ=3) | params |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in table:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items()
                           if k not in ("head",))
        lines.append(f"| {t['design']} | {t['p1']} | {t['p1_theory']} | {t['p2']} | {t['p2_theory']} | "
                     f"{'yes' if t['match'] else 'NO'} | {t['slope']:.3f} | {t['H_top']:.3f} | "
                     f"{t['max_share_top']:.3g} | {t['fade_ratio']:.3g} | {params} |")
    return "\n".join(lines)
