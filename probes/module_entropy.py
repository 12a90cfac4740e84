"""Entropy against length and needle fading, measured on a module's own attention (``measured_on: module``).

The module runs on inputs attnprobe crafts, inside :class:`probes.capture.AttentionCapture`,
at n = 2⁶ … 2¹² keys (one forward per n and pass, batch 1; n_max is lowered, not below 2¹¹,
when heads × n² would pass :data:`COST_BUDGET`); per attention site (layer) and head, the kept
query rows are the last ones for a causal module (row i sees i + 1 keys) and a centred block
for a bidirectional one (as the zoo probe's position rows). The mask is read from the captured
weights (causal iff nothing above the diagonal at n = 16).

* **P1 forward** — the design's own q·k: inputs x ~ N(0, I_{d_model}), i.i.d. over tokens
  (seeded per n), the kept query rows the same tokens at every n (common random numbers, so the
  slope's noise is the keys', not the queries' norms); the weights the module multiplies its values with, per head. H(n) of each
  row of |w|/Σ|w|, the slope b over n ≥ 512 and the verdict of
  :func:`probes.entropy.classify_entropy` (the zoo probe's rules). The logits' standard
  deviation σ̂ (of the normaliser's input, mask fills below −10⁴ left out) is reported: the
  mean-field laws depend on it.
* **Crafted scores through the module's own map** (:class:`probes.capture.Injection`): the score
  call of every site returns q·k for unit q, k of its contracted width c (|q| = √c on the
  sphere, k ~ N(0, I_c), so q·k/√c ~ N(0, 1), the zoo probe's P1 logits) and the module's scale,
  bias, mask and normaliser run as written. **P1 crafted** is that noise; **P2** the flat needle
  (key 0 scores Δ√c, every other key 0; Δ = 3 by default, any of {2, 3, 5} on request; ``no-fading`` iff the fade ratio
  p*(n_max)/p*(512) at Δ = 3 is ≥ ½, :func:`probes.entropy.classify_needle`); **P3** the noise
  with key 0 at Δ√c (on request). What the map does before the score (a multiplier on q or k, RoPE) is not
  in the crafted passes: the P1 forward pass sees it.

The module-level verdicts are the heads' common verdict, or ``mixed`` (the counts say how).
Theory: the row of the zoo design the module resembles (:func:`probes.entropy.theory_row`, at
σ = 1), a *theory column* beside the measurement, never a substitute; ``agrees_with_theory``
compares it with the crafted passes (the same σ = 1 logits the theory assumes) and says so.
Non-finite weights or entropies raise :class:`probes.errors.Diverged` naming the site.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from probes import entropy as E
from probes.capture import Injection, capture, observable
from probes.errors import InputError, NotApplicable, check_finite
from probes.result import Result

__all__ = ["JSON_KEY", "ModuleEntropyResult", "probe", "audit", "add_audit_arguments", "markdown", "write_plots",
           "P1_VERDICTS", "P2_VERDICTS", "detect_causal", "auto_max_log2n"]

JSON_KEY = "entropy"
P1_VERDICTS = E.P1_VERDICTS + ("mixed",)
P2_VERDICTS = E.P2_VERDICTS + ("mixed",)
MASK_FLOOR = -1.0e4       # logits below this are mask fills (−inf, finfo.min, −1e9), not scores
DEFAULT_ROWS = 32
DEFAULT_MAX_LOG2N = 12
MIN_MAX_LOG2N = 11         # P2's rule (fade ratio p*(n_max)/p*(512) ≥ ½) needs n_max ≥ 2048: at 1024 softmax's is 0.51
COST_BUDGET = 1 << 26      # heads × n² weights entries one forward may materialise when n_max is chosen for you


@dataclass(frozen=True)
class ModuleEntropyResult(Result):
    design: str
    measured_on: str                 # always "module"
    verdict: str                     # P1 on the module's own q·k (forward pass), heads' common verdict or "mixed"
    crafted_verdict: str | None      # P1 on crafted scores through the module's map
    needle_verdict: str | None       # P2 at Δ = 3 on crafted scores
    agrees_with_theory: bool | None
    verdict_counts: dict
    crafted_verdict_counts: dict
    needle_verdict_counts: dict
    ns: tuple
    causal: bool
    sites: list                      # per site: kind, score op, normaliser, heads, head width
    heads: list                      # per (site, head): curves and verdicts
    entropy_by_n: dict               # mean over heads (forward pass), for the table and plot
    crafted_entropy_by_n: dict | None
    needle_by_n: dict | None         # mean over heads, Δ = 3
    theory: dict
    theory_design: str | None
    rows: int
    seed: int
    dtype: str
    device: str
    notes: tuple = ()

    def __str__(self) -> str:
        top = str(self.ns[-1])
        th = self.theory
        lines = [f"entropy (measured on the module {self.design}; {len(self.sites)} sites, "
                 f"{'causal' if self.causal else 'bidirectional'}, n = {self.ns[0]}..{self.ns[-1]}, {self.rows} rows)",
                 f"  P1 own q·k      {self.verdict}  {self.verdict_counts}",
                 f"  P1 crafted      {self.crafted_verdict}  {self.crafted_verdict_counts}",
                 f"  P2 needle Δ={E.FADE_DELTA:g}  {self.needle_verdict}  {self.needle_verdict_counts}",
                 f"  theory ({self.theory_design or 'none'}): P1 {th.get('verdict')}, P2 {th.get('needle_verdict')}; "
                 f"agrees: {self.agrees_with_theory}",
                 "  site head  P1 own q·k              slope  σ̂(n_max)  P1 crafted              P2"]
        for r in self.heads:
            lines.append(f"  {r['site']:>4} {r['head']:>4}  {r['verdict']:22s} {r['slope']:6.3f}  "
                         f"{r['logit_sd_by_n'][top]:8.3g}  {str(r.get('crafted_verdict')):22s}  {r.get('needle_verdict')}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- crafted inputs ------------------------------------------------------------------
def _gen(seed: int, n: int, tag: int, site: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + 7919 * tag + 104_729 * site + n)


def _noise_scores(seed, n, tag, site, lead, n_q, n_k, c, like) -> torch.Tensor:
    """q·k for q on the sphere |q| = √c and k ~ N(0, I_c), per head: q·k/√c ~ N(0, 1) i.i.d. along a row."""
    g = _gen(seed, n, tag, site)
    G = int(math.prod(lead)) if lead else 1
    q = torch.randn(G, n_q, c, generator=g, dtype=torch.float64)
    q = q * (math.sqrt(c) / q.norm(dim=-1, keepdim=True))
    k = torch.randn(G, n_k, c, generator=g, dtype=torch.float64)
    q, k = q.to(dtype=like.dtype, device=like.device), k.to(dtype=like.dtype, device=like.device)
    return (q @ k.transpose(-1, -2)).reshape(*lead, n_q, n_k)


def _maker(kind: str, seed: int, n: int, delta: float | None):
    def make(site, lead, n_q, n_k, c, like):
        if kind == "flat":
            s = torch.zeros(*lead, n_q, n_k, dtype=like.dtype, device=like.device)
        else:
            s = _noise_scores(seed, n, 1 if kind == "noise" else 3, site, lead, n_q, n_k, c, like)
        if delta is not None:
            s[..., 0] = delta * math.sqrt(c)
        return s

    return make


def _rows(n: int, rows: int, causal: bool) -> torch.Tensor:
    """At most ``rows`` and n/16 rows: causal rows then see n − n/16 + 1 … n keys (ln of that ratio < 0.065)."""
    r = max(1, min(rows, n // 16))
    start = n - r if causal else max(0, n // 2 - r // 2)
    return torch.arange(start, start + r)


def _input(seed: int, n: int, d_model: int, dtype, device, rows: torch.Tensor | None = None) -> torch.Tensor:
    """(1, n, d_model) i.i.d. N(0, 1) tokens; the kept query rows take the same tokens at every n (a fixed bank),
    so that H(n) is compared across n on the same queries (common random numbers: the slope's noise is the keys')."""
    x = torch.randn(1, n, d_model, generator=_gen(seed, n, 0), dtype=torch.float64)
    if rows is not None:
        bank = torch.randn(len(rows), d_model, generator=_gen(seed, 0, 5), dtype=torch.float64)
        x[0, rows] = bank
    return x.to(dtype=dtype, device=device)


def _run(module, x, name, **kw):
    try:
        return capture(module, x, design=name, **kw)
    except NotApplicable:
        raise
    except Exception as exc:  # the user's forward refused this input: say which n and why
        raise NotApplicable(f"{name}: forward on input (1, {x.shape[1]}, {x.shape[2]}) raised "
                            f"{type(exc).__name__}: {str(exc)[:300]}; the module must take lengths up to the "
                            "probe's n_max (lower it with --capture-max-log2n)") from exc


def longest_length(module, d_model: int, n_max: int, *, name: str = "module", floor: int = 2, dtype=torch.float64,
                   device="cpu", seed: int = 0) -> tuple[int, str]:
    """(the largest power-of-two length ≤ ``n_max`` the module's forward accepts, why longer ones failed).

    A model with a position table (BERT's 512 learned positions) refuses longer inputs; the module probes then
    run up to the length it takes, or refuse it (:class:`NotApplicable`) when that is below ``floor``.
    """
    n, why = n_max, ""
    while n >= max(2, floor):
        try:
            with torch.no_grad():
                module(_input(seed, n, d_model, dtype, device))
            return n, why
        except Exception as exc:  # its forward refused this length: try half
            why = why or f"forward at n = {n} raised {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            n //= 2
    raise NotApplicable(f"{name}: takes no input of length ≥ {floor} ({why})")


def detect_causal(module, d_model: int, *, name: str = "module", seed: int = 0, dtype=torch.float64,
                  device="cpu", n: int = 16) -> tuple[bool, int]:
    """(causal, heads over all sites): causal iff every captured site puts exactly zero weight above the
    diagonal at length ``n`` (all rows kept)."""
    cap = _run(module, _input(seed, n, d_model, dtype, device), name)
    causal = all(bool((torch.triu(s.weights, diagonal=1) == 0).all()) for s in cap.sites)
    return causal, sum(s.heads for s in cap.sites)


def auto_max_log2n(heads: int, budget: int = COST_BUDGET) -> int:
    """The largest k ≤ 12 (at least 10) with heads·(2^k)² ≤ ``budget``: one forward's weights stay bounded."""
    k = DEFAULT_MAX_LOG2N
    while k > MIN_MAX_LOG2N and heads * (1 << k) ** 2 > budget:
        k -= 1
    return k


# -- measurement ---------------------------------------------------------------------
def _stats(name: str, what: str, w: torch.Tensor, needle: bool = False) -> dict:
    """Mean row statistics per head of (G, R, n) weights (probes.entropy's row rules)."""
    check_finite(name, f"attention weights ({what})", w, "try float64")
    st = E._row_stats(w, needle=needle)
    alive = st["alive"]
    check_finite(name, f"row entropies ({what})", st["H"][alive])
    out = {}
    for key in ("H", "maxw"):
        v = torch.where(alive, st[key], torch.zeros_like(st[key])).sum(-1) / alive.sum(-1).clamp(min=1)
        out[key] = torch.where(alive.any(-1), v, torch.full_like(v, float("nan"))).tolist()
    out["mass"] = st["mass"].mean(-1).tolist()
    out["dead"] = (1.0 - alive.to(torch.float64).mean(-1)).tolist()
    if needle:
        out["share"] = st["share"].mean(-1).tolist()
    return out


def _logit_sd(logits: torch.Tensor | None) -> list:
    if logits is None:
        return None
    x = torch.where(torch.isfinite(logits) & (logits > MASK_FLOOR), logits, torch.full_like(logits, float("nan")))
    mean = torch.nanmean(x, dim=-1, keepdim=True)
    var = torch.nanmean((x - mean) ** 2, dim=-1)
    return torch.sqrt(torch.nanmean(var, dim=-1)).tolist()


def _pass(module, x, name, rows, n, *, inject=None, expect=None, what="forward"):
    cap = _run(module, x, name, rows=rows, inject=inject)
    if expect is not None:
        got = [(s.index, s.heads, s.n_k) for s in cap.sites]
        want = [(s.index, s.heads, s.n_k) for s in expect]
        if got != want or not all(s.injected for s in cap.sites):
            raise NotApplicable(f"{name}: with crafted scores the forward pass at n = {n} took another path "
                                f"(sites {got} instead of {want}); the crafted passes need a data-independent "
                                "call sequence")
    return cap


def _verdict_of(counts: dict) -> str | None:
    vs = [v for v in counts if v is not None]
    if not vs:
        return None
    return vs[0] if len(vs) == 1 else "mixed"


def _counts(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def probe(subject, *, seed: int = 0, dtype=torch.float64, device="cpu", rows: int = DEFAULT_ROWS, n_min: int = 64,
          n_max: int | None = None, crafted: bool = True, noise_needle: bool = False,
          deltas: tuple = (E.FADE_DELTA,), theory: str | None = None) -> ModuleEntropyResult:
    """Measure entropy (P1) and needle fading (P2, P3) on ``subject``'s own attention.

    ``subject``: a :class:`probes.designs.loading.Subject` or an ``nn.Module`` taking
    (batch, n, d_model) (it needs a ``d_model`` attribute then). ``theory``: the zoo design
    whose theory row is shown (default: the one the loader names, e.g. ``rope-causal`` for a
    Llama; none for a user's module). ``n_max`` None: 2^12, or less (not below 2^10) where
    heads × n² would pass :data:`COST_BUDGET` (:func:`auto_max_log2n`). ``deltas``: the P2 margins
    (Δ = 3, the verdict's, always included); ``noise_needle``: also P3.
    """
    if rows < 1:
        raise InputError(f"rows={rows}: must be positive")
    module = getattr(subject, "module", subject)
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"the module entropy probe needs an nn.Module, got {type(module).__name__}")
    name = getattr(subject, "name", type(module).__name__)
    d_model = getattr(subject, "d_model", None) or getattr(module, "d_model", None)
    if not isinstance(d_model, int):
        raise InputError(f"{name}: cannot tell the input width; give the module a d_model attribute")
    deltas = tuple(sorted(set(float(D) for D in deltas) | {E.FADE_DELTA}))
    notes = list(observable(module))
    module.eval()
    causal = getattr(subject, "causal", None)
    detected, total_heads = detect_causal(module, d_model, name=name, seed=seed, dtype=dtype, device=device)
    if n_max is None:
        k = auto_max_log2n(total_heads)
        n_max = 1 << k
        if k < DEFAULT_MAX_LOG2N:
            notes.append(f"n_max = {n_max}, not {1 << DEFAULT_MAX_LOG2N}: {total_heads} heads × n² would pass the cost "
                         f"budget of {COST_BUDGET:.3g} weights per forward (ask for more with --capture-max-log2n)")
    if n_max < 1 << MIN_MAX_LOG2N:
        raise InputError(f"n_max={n_max}: the module probe needs n_max ≥ {1 << MIN_MAX_LOG2N} (at 1024 a softmax "
                         "needle's fade ratio p*(1024)/p*(512) is 0.51, on the P2 threshold ½)")
    longest, why = longest_length(module, d_model, n_max, name=name, floor=2, dtype=dtype, device=device, seed=seed)
    if longest < n_max:
        if longest < 1 << MIN_MAX_LOG2N:
            raise NotApplicable(f"{name}: takes inputs only up to n = {longest} ({why}); the entropy and needle "
                                f"verdicts need n up to {1 << MIN_MAX_LOG2N} (P2 compares p*(n_max) with p*(512))")
        notes.append(f"n_max = {longest}, not {n_max}: {why}")
        n_max = longest
    ns = E._ns(n_min, n_max)
    if causal is None:
        causal = detected
        notes.append(f"mask detected from the captured weights: {'causal' if causal else 'bidirectional'}")
    elif bool(causal) != detected:
        notes.append(f"the loader says {'causal' if causal else 'bidirectional'} but the captured weights are "
                     f"{'causal' if detected else 'bidirectional'}: the captured mask is used")
        causal = detected
    per: dict = {}  # (site, head) -> curves
    sites_info = None
    with torch.no_grad():
        for n in ns:
            r = _rows(n, rows, causal)
            x = _input(seed, n, d_model, dtype, device, r)
            plain = _pass(module, x, name, r, n)
            if sites_info is None:
                sites_info = [{"site": s.index, "kind": s.kind, "score_op": s.score_op, "normaliser": s.normaliser,
                               "heads": s.heads, "lead": list(s.lead), "head_width": s.contracted}
                              for s in plain.sites]
            elif len(plain.sites) != len(sites_info):
                raise NotApplicable(f"{name}: {len(plain.sites)} attention sites at n = {n} but "
                                    f"{len(sites_info)} at n = {ns[0]}")
            calls = plain.injection_calls()
            for s in plain.sites:
                st = _stats(name, f"site {s.index}, forward pass, n = {n}", s.weights)
                sd = _logit_sd(s.logits)
                for h in range(s.heads):
                    c = per.setdefault((s.index, h), {k: [] for k in ("H", "maxw", "mass", "dead", "sd", "cH",
                                                                     "cmaxw", "cdead", "cmass", "p3")}
                                       | {f"p2_{D:g}": [] for D in deltas})
                    c["H"].append(st["H"][h])
                    c["maxw"].append(st["maxw"][h])
                    c["mass"].append(st["mass"][h])
                    c["dead"].append(st["dead"][h])
                    c["sd"].append(sd[h] if sd is not None and h < len(sd) else float("nan"))
            if not crafted:
                continue
            passes = [("noise", None, "cH")] + [("flat", D, f"p2_{D:g}") for D in deltas]
            if noise_needle:
                passes.append(("noise-needle", E.FADE_DELTA, "p3"))
            for kind, D, key in passes:
                inj = Injection(calls, _maker(kind, seed, n, D))
                cap = _pass(module, x, name, r, n, inject=inj, expect=plain.sites)
                for s in cap.sites:
                    what = f"site {s.index}, crafted {kind}{'' if D is None else f' Δ = {D:g}'}, n = {n}"
                    st = _stats(name, what, s.weights, needle=D is not None)
                    for h in range(s.heads):
                        c = per[(s.index, h)]
                        if key == "cH":
                            c["cH"].append(st["H"][h])
                            c["cmaxw"].append(st["maxw"][h])
                            c["cdead"].append(st["dead"][h])
                            c["cmass"].append(st["mass"][h])
                        else:
                            c[key].append(st["share"][h])
    key = lambda vals: {str(n): float(v) for n, v in zip(ns, vals)}  # noqa: E731
    heads = []
    for (si, h), c in per.items():
        label = f"site {si} head {h}"
        if not c["dead"][-1] > 0.5:
            check_finite(name, f"entropy H(n) ({label}, forward pass)", c["H"])
        row = {"site": si, "head": h, "entropy_by_n": key(c["H"]), "max_weight_by_n": key(c["maxw"]),
               "row_mass_by_n": key(c["mass"]), "dead_rows_by_n": key(c["dead"]), "logit_sd_by_n": key(c["sd"]),
               "verdict": E.classify_entropy(ns, c["H"], max_weight=c["maxw"][-1], dead=c["dead"][-1])}
        b, local, dH, _, _ = E._fit(ns, c["H"])
        row.update(slope=b, local_slope=local, delta_H=dH)
        if crafted:
            if not c["cdead"][-1] > 0.5:
                check_finite(name, f"entropy H(n) ({label}, crafted noise)", c["cH"])
            fades = {}
            for D in deltas:
                check_finite(name, f"needle share ({label}, Δ = {D:g})", c[f"p2_{D:g}"])
                fades[f"{D:g}"] = E.classify_needle(ns, c[f"p2_{D:g}"])[1]
            nv, _ = E.classify_needle(ns, c[f"p2_{E.FADE_DELTA:g}"])
            row.update(crafted_entropy_by_n=key(c["cH"]), crafted_row_mass_by_n=key(c["cmass"]),
                       crafted_max_weight_by_n=key(c["cmaxw"]),
                       crafted_verdict=E.classify_entropy(ns, c["cH"], max_weight=c["cmaxw"][-1], dead=c["cdead"][-1]),
                       crafted_slope=E._fit(ns, c["cH"])[0],
                       needle_by_n={f"{D:g}": key(c[f"p2_{D:g}"]) for D in deltas}, fade_ratio=fades,
                       needle_verdict=nv)
            if noise_needle:
                row["needle_noise_by_n"] = key(c["p3"])
        heads.append(row)
    vc = _counts(r["verdict"] for r in heads)
    cc = _counts(r["crafted_verdict"] for r in heads) if crafted else {}
    nc = _counts(r["needle_verdict"] for r in heads) if crafted else {}
    def mean(field):
        vals = {str(n): [r[field][str(n)] for r in heads] for n in ns}
        return {k: (float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")) for k, v in vals.items()}
    th_name = theory if theory is not None else (getattr(getattr(subject, "zoo_spec", None), "name", None))
    th_row = _theory(th_name, ns)
    verdict, cverdict, nverdict = _verdict_of(vc), _verdict_of(cc), _verdict_of(nc)
    pairs = [(t, v) for t, v in ((th_row.get("verdict"), cverdict), (th_row.get("needle_verdict"), nverdict))
             if t is not None and v is not None]
    agrees = None if not pairs else all(t == v for t, v in pairs)
    if th_name is None:
        notes.append("no zoo design named for the theory column (pass --capture-theory ZOO): measured verdicts only")
    return ModuleEntropyResult(
        design=name, measured_on="module", verdict=verdict, crafted_verdict=cverdict, needle_verdict=nverdict,
        agrees_with_theory=agrees, verdict_counts=vc, crafted_verdict_counts=cc, needle_verdict_counts=nc, ns=ns,
        causal=bool(causal), sites=sites_info, heads=heads, entropy_by_n=mean("entropy_by_n"),
        crafted_entropy_by_n=mean("crafted_entropy_by_n") if crafted else None,
        needle_by_n=({str(n): float(np.mean([r["needle_by_n"][f"{E.FADE_DELTA:g}"][str(n)] for r in heads]))
                      for n in ns} if crafted else None),
        theory=th_row, theory_design=th_name, rows=rows, seed=seed, dtype=str(dtype).replace("torch.", ""),
        device=str(device), notes=tuple(notes))


def _theory(zoo_name: str | None, ns) -> dict:
    """The theory row of zoo design ``zoo_name`` (head 0, σ = 1; probes.entropy.theory_row), or an empty row."""
    if zoo_name is None:
        return {"verdict": None, "needle_verdict": None, "entropy_by_n": None, "needle_by_n": None,
                "note": "no zoo design named"}
    wf = E.weights_function(E._zoo_with_longer_tables(zoo_name, ns[-1]), head=0)
    row = E.theory_row(wf, ns)
    row["note"] = (f"theory of zoo design {zoo_name!r} (head 0, logits σ = 1): a theory column, not a measurement; "
                   + str(row.get("note", "")))
    return row


# -- audit surface ---------------------------------------------------------------------
def add_audit_arguments(grp) -> None:
    """The module measurement's options on ``grp`` (an argparse parser or argument group)."""
    grp.add_argument("--capture-rows", type=int, default=DEFAULT_ROWS,
                     help=f"query rows kept per head and length (default {DEFAULT_ROWS})")
    grp.add_argument("--capture-max-log2n", type=int, default=None,
                     help=f"longest input 2^k the module is run on (default {DEFAULT_MAX_LOG2N}, lowered to no less "
                          f"than {MIN_MAX_LOG2N} when heads × n² would pass {COST_BUDGET:.3g})")
    grp.add_argument("--capture-theory", metavar="ZOO", default=None,
                     help="zoo design whose theory row is shown beside the measurement (default: the loader's match)")


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> ModuleEntropyResult:
    o = options or {}
    return probe(subject, seed=seed, dtype=dtype, device=device, rows=int(o.get("capture_rows") or DEFAULT_ROWS),
                 n_max=(1 << int(o["capture_max_log2n"])) if o.get("capture_max_log2n") else None,
                 theory=o.get("capture_theory"))


def markdown(result: ModuleEntropyResult) -> str:
    th_row = result.theory
    lines = [f"**Entropy, measured on the module** ({len(result.sites)} attention sites × "
             f"{result.sites[0]['heads'] if result.sites else 0} heads, {'causal' if result.causal else 'bidirectional'}): "
             f"P1 on its own q·k `{result.verdict}` {result.verdict_counts}; on crafted σ = 1 scores through its map "
             f"`{result.crafted_verdict}`; needle (P2, Δ = {E.FADE_DELTA:g}) `{result.needle_verdict}`. Theory "
             f"({result.theory_design or 'none'}): P1 `{th_row.get('verdict')}`, P2 `{th_row.get('needle_verdict')}`.",
             "", *[f"Note: {n}." for n in result.notes], *([""] if result.notes else []),
             "| site | head | P1 (own q·k) | slope | σ̂ at n_max | P1 (crafted) | P2 | fade ratio |",
             "|---|---|---|---|---|---|---|---|"]
    top = str(result.ns[-1])
    for r in result.heads:
        lines.append(f"| {r['site']} | {r['head']} | {r['verdict']} | {r['slope']:.3f} | {r['logit_sd_by_n'][top]:.3g} | "
                     f"{r.get('crafted_verdict')} | {r.get('needle_verdict')} | "
                     f"{(r.get('fade_ratio') or {}).get(f'{E.FADE_DELTA:g}', float('nan')):.3g} |")
    lines += ["", "| n | H (own q·k, mean over heads) | H (crafted) | H theory | p* (Δ=3) | p* theory |",
              "|---|---|---|---|---|---|"]
    the = th_row.get("entropy_by_n") or [float("nan")] * len(result.ns)
    thp = th_row.get("needle_by_n") or [float("nan")] * len(result.ns)
    for i, n in enumerate(result.ns):
        k = str(n)
        ch = (result.crafted_entropy_by_n or {}).get(k, float("nan"))
        p = (result.needle_by_n or {}).get(k, float("nan"))
        lines.append(f"| {n} | {result.entropy_by_n[k]:.4g} | {ch:.4g} | {the[i]:.4g} | {p:.3g} | {thp[i]:.3g} |")
    return "\n".join(lines)


def write_plots(result: ModuleEntropyResult, out_dir) -> list[str]:
    """entropy_vs_n_module_<design>.png: H(n) per head (own q·k), the crafted mean and the theory column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ns = np.asarray(result.ns, dtype=float)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in result.design)[-60:]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for r in result.heads:
        ax.plot(ns, [r["entropy_by_n"][str(int(n))] for n in ns], "-", color="C0", alpha=0.35, lw=1)
    ax.plot(ns, [result.entropy_by_n[str(int(n))] for n in ns], "o-", color="C0", label="own q·k (mean over heads)")
    if result.crafted_entropy_by_n:
        ax.plot(ns, [result.crafted_entropy_by_n[str(int(n))] for n in ns], "s-", color="C1", ms=3,
                label="crafted σ = 1 scores")
    if result.theory.get("entropy_by_n"):
        ax.plot(ns, result.theory["entropy_by_n"], "k--", label=f"theory ({result.theory_design})")
    ax.plot(ns, np.log(ns), color="0.7", lw=1, label="ln n")
    ax.set(xscale="log", xlabel="keys n", ylabel="entropy H (nats)", title=f"{result.design}: {result.verdict}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / f"entropy_vs_n_module_{safe}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]
