"""Hubness of keys in a module's own attention: N_k of its captured queries over its captured keys.

The module runs once on n i.i.d. N(0, I_{d_model}) tokens inside :class:`probes.capture.AttentionCapture`
(``keep_qk``); every attention site hands over the operands of its score, q (…, n, c) and k (…, n, c),
as the module forms them (after its projections, RoPE, QK-norm). Per site and head,
:func:`probes.hubness.probe` in query→key mode with the dot metric counts N_k(j), the number of
queries whose k largest q·k include key j, and judges it against the w = 0 null (Bin(m, q)) and the
limit law at this draw's plug-in w (theory/hubness.py, evaluated there): ``null-like``, ``hubness``,
``near-limit`` (or ``degenerate`` with ties). The ranking is of q·k: a mask and logit biases
(causal mask, ALiBi, T5 buckets) are not in it — they are position terms, not key geometry — and
the result says so. ``measured_on: "module"``; the module-level verdict is the heads' common one, or
``mixed``. Non-finite q, k or statistics raise :class:`probes.errors.Diverged` (through the hubness probe).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from probes import hubness as HB
from probes.capture import CapturedAttentionProbe, capture, observable
from probes.contract import Summary
from probes.errors import InputError, NotApplicable
from probes.result import Result

__all__ = ["JSON_KEY", "ModuleHubnessResult", "probe", "audit", "add_audit_arguments", "VERDICTS"]

JSON_KEY = "key_hubness"
VERDICTS = HB.VERDICTS + ("degenerate", "mixed")
DEFAULT_N = 1024
DEFAULT_K = 10


@dataclass(frozen=True)
class ModuleHubnessResult(Result):
    design: str
    measured_on: str
    verdict: str
    verdict_counts: dict
    n: int
    k: int
    heads: list           # per (site, head): verdict, skewness, Robin Hood, antihub, null and plug-in limit
    seed: int
    dtype: str
    device: str
    notes: tuple = ()

    def __str__(self) -> str:
        lines = [f"key hubness (measured on the module {self.design}; n = {self.n}, k = {self.k}): {self.verdict} "
                 f"{self.verdict_counts}",
                 "  site head  verdict      skew    RH     RH null  RH limit(w plug-in)  w plug-in  antihub"]
        for h in self.heads:
            lines.append(f"  {h['site']:>4} {h['head']:>4}  {h['verdict']:11s} {h['skewness']:6.3f} {h['robinhood']:6.3f} "
                         f"{h['null_robinhood']:8.3f}  {h['limit_robinhood_plug_in']:19.3f}  {h['w_plug_in']:9.3f}  "
                         f"{h['antihub_occurrence']:.3f}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def probe(subject, *, seed: int = 0, dtype=torch.float64, device="cpu", n: int = DEFAULT_N,
          k: int = DEFAULT_K) -> ModuleHubnessResult:
    """N_k of each head's captured queries over its captured keys (see the module docstring)."""
    from probes.module_entropy import _input

    module = getattr(subject, "module", subject)
    name = getattr(subject, "name", type(module).__name__)
    d_model = getattr(subject, "d_model", None) or getattr(module, "d_model", None)
    if not isinstance(d_model, int):
        raise InputError(f"{name}: cannot tell the input width; give the module a d_model attribute")
    if not 2 <= k < n:
        raise InputError(f"k={k}, n={n}: need 2 ≤ k < n")
    notes = list(observable(module))
    module.eval()
    from probes.module_entropy import longest_length

    longest, why = longest_length(module, d_model, n, name=name, floor=2 * k + 2, dtype=dtype, device=device,
                                  seed=seed)
    if longest < n:
        notes.append(f"n = {longest}, not {n}: {why}")
        n = longest
    x = _input(seed, n, d_model, dtype, device)
    try:
        cap = capture(module, x, rows=torch.tensor([n - 1]), design=name, keep_qk=True)
    except NotApplicable:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's forward refused this input
        raise NotApplicable(f"{name}: forward on input (1, {n}, {d_model}) raised {type(exc).__name__}: "
                            f"{str(exc)[:300]}") from exc
    heads = []
    for s in cap.sites:
        if s.queries is None or s.keys is None:
            notes.append(f"site {s.index}: its score call ({s.score_op}) has no plain q @ kᵀ operands; skipped")
            continue
        for h in range(s.queries.shape[0]):
            r = HB.probe(s.keys[h], s.queries[h], k=k, metric="dot", seed=seed, dtype="float64",
                         subject=f"{name} site {s.index} head {h} (captured keys)")
            heads.append({"site": s.index, "head": h, "verdict": r.verdict, "skewness": r.skewness,
                          "robinhood": r.robinhood, "antihub_occurrence": r.antihub_occurrence,
                          "hub_occurrence": r.hub_occurrence, "centrality": r.centrality,
                          "null_robinhood": r.theory["null"]["robinhood"],
                          "null_skewness": r.theory["null"]["skewness"],
                          "w_plug_in": r.theory["w_plug_in_for_this_draw"],
                          "limit_robinhood_plug_in": r.theory["limit_plug_in_for_this_draw"]["robinhood"],
                          "tie_fraction": r.tie_fraction, "notes": list(r.notes)})
    if not heads:
        raise NotApplicable(f"{name}: no site exposed its queries and keys as a plain q @ kᵀ")
    counts: dict = {}
    for h in heads:
        counts[h["verdict"]] = counts.get(h["verdict"], 0) + 1
    verdict = next(iter(counts)) if len(counts) == 1 else "mixed"
    notes.append("N_k ranks the captured q·k: the mask and any logit bias (causal, ALiBi, T5) are not in it; "
                 "'limit' is the law at this draw's plug-in w (a reading of the draw, not a prediction), 'null' "
                 "the w = 0 prediction")
    return ModuleHubnessResult(design=name, measured_on="module", verdict=verdict, verdict_counts=counts, n=n, k=k,
                               heads=heads, seed=seed, dtype=str(dtype).replace("torch.", ""), device=str(device),
                               notes=tuple(notes))


def add_audit_arguments(grp) -> None:
    grp.add_argument("--hub-n", type=int, default=DEFAULT_N, help=f"tokens in the forward pass (default {DEFAULT_N})")
    grp.add_argument("--hub-k", type=int, default=DEFAULT_K, help=f"top-k per query (default {DEFAULT_K})")


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> ModuleHubnessResult:
    o = options or {}
    return probe(subject, seed=seed, dtype=dtype, device=device, n=int(o.get("hub_n") or DEFAULT_N),
                 k=int(o.get("hub_k") or DEFAULT_K))


class KeyHubnessProbe(CapturedAttentionProbe):
    """Key hubness of a design's own attention under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "key-hubness", JSON_KEY, "key hubness (captured q over k)", VERDICTS
    example_design = "rope"
    smoke_options = {"hub_n": 48, "hub_k": 4}

    audit_fn = staticmethod(audit)
    add_options = staticmethod(add_audit_arguments)

    def plots(self, result, out_dir) -> list:
        """key_hubness.png: each head's Robin Hood index beside its w = 0 null and the plug-in law."""
        from probes.plotting import pyplot, save

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.6))
        xs = range(len(result.heads))
        ax.plot(xs, [h["robinhood"] for h in result.heads], "o", label="measured")
        ax.plot(xs, [h["null_robinhood"] for h in result.heads], "k_", ms=12, label="null (w = 0)")
        ax.plot(xs, [h["limit_robinhood_plug_in"] for h in result.heads], "x", color="C1",
                label="limit law at this draw's plug-in w")
        ax.set(xlabel="head (site-major)", ylabel="Robin Hood index", title=f"{result.design}: {result.verdict}")
        return [str(save(fig, f"{out_dir}/key_hubness.png", dpi=110, legend=ax))]

    def summary(self, result) -> Summary:
        rh = [h["robinhood"] for h in result.heads]
        null = [h["null_robinhood"] for h in result.heads]
        key = f"Robin Hood {min(rh):.3f}…{max(rh):.3f} over {len(rh)} heads" if rh else "—"
        theory = f"null RH {min(null):.3f} (w = 0); plug-in law per head" if null else "—"
        return Summary(result.verdict, key, theory, None)


PROBE = KeyHubnessProbe()
