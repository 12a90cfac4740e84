"""Attend-to-nothing on a module's own attention: the null mass a head can reach at bounded logits.

A head "attends to nothing" when its weights carry (almost) no mass: 1 − Σ_j w_ij is the mass left
to no key. Softmax cannot (rows sum to 1); softmax₁ (Miller 2023) leaves 1/(1 + Σ_j e^{x_j}), which
falls like 1/n at bounded logits; sigmoid and relu² rows can go to zero. Through the module's own
map (:class:`probes.capture.Injection`): every site's score call returns the constant −B√c (c its
contracted width, so the logits are −B under the usual 1/√c scale: every key as unattractive as a
bounded logit allows), at n = 64 … n_max, and the kept rows' mass Σ_j w_ij is read per head;
null mass = 1 − Σ_j w_ij, clipped to [0, 1] (a row mass above 1 leaves none). For a normaliser
monotone in each logit this is the largest null mass reachable with logits ≥ −B.

Verdicts per head: ``can-abstain`` (null mass ≥ ½ at n_max), ``abstention-fades`` (≥ ½ at n = 64,
< ½ at n_max: the ln n of logit it takes grows past B), ``cannot-abstain`` (< ½ at every n); the
module's is the heads' common verdict, or ``mixed``. Theory column (a zoo design named, e.g. by
``--capture-theory``): softmax₁'s null mass 1/(1 + n e^{−B}) (theory.softmax_variants.SOFTMAX1
``null_mass`` at μ = −B, σ = 0) and row-normalised normalisers' 0; other normalisers: none.
``measured_on: "module"``. Non-finite masses raise :class:`probes.errors.Diverged`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from probes._lazy import lazy_import
from probes.capture import CapturedAttentionProbe, Injection, observable
from probes.contract import Summary
from probes.errors import InputError, check_finite
from probes.result import Result

tv = lazy_import("theory.softmax_variants")

__all__ = ["JSON_KEY", "ModuleNullResult", "probe", "audit", "add_audit_arguments", "VERDICTS", "classify_null"]

JSON_KEY = "attend_to_nothing"
VERDICTS = ("can-abstain", "abstention-fades", "cannot-abstain", "mixed")
DEFAULT_BOUND = 5.0
THRESHOLD = 0.5
DEFAULT_MAX_LOG2N = 11


@dataclass(frozen=True)
class ModuleNullResult(Result):
    design: str
    measured_on: str
    verdict: str
    verdict_counts: dict
    bound: float
    ns: tuple
    heads: list                 # per (site, head): null_mass_by_n, verdict
    null_mass_by_n: dict        # the heads' mean
    theory: dict
    theory_design: str | None
    agrees_with_theory: bool | None
    seed: int
    dtype: str
    device: str
    notes: tuple = ()

    def __str__(self) -> str:
        top = str(self.ns[-1])
        lines = [f"attend-to-nothing (measured on the module {self.design}; logits ≥ −{self.bound:g}, n = {self.ns[0]}.."
                 f"{self.ns[-1]}): {self.verdict} {self.verdict_counts}; theory ({self.theory_design or 'none'}): "
                 f"{self.theory.get('verdict')}; agrees: {self.agrees_with_theory}",
                 f"  site head  null mass (n={self.ns[0]})  null mass (n={top})  verdict"]
        for h in self.heads:
            lines.append(f"  {h['site']:>4} {h['head']:>4}  {h['null_mass_by_n'][str(self.ns[0])]:18.4g}  "
                         f"{h['null_mass_by_n'][top]:17.4g}  {h['verdict']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def classify_null(null_by_n) -> str:
    """The verdict of a null-mass curve over increasing n (rules in the module docstring)."""
    v = list(null_by_n)
    if v[-1] >= THRESHOLD:
        return "can-abstain"
    if v[0] >= THRESHOLD:
        return "abstention-fades"
    return "cannot-abstain"


def _theory(zoo_name: str | None, ns, bound: float) -> dict:
    if zoo_name is None:
        return {"verdict": None, "null_mass_by_n": None, "note": "no zoo design named"}
    from probes.designs.normalizers import NORMALIZERS
    from probes.designs.zoo import parse

    spec = parse(zoo_name)
    nsf = np.asarray(ns, dtype=float)
    biased = spec.position in ("alibi", "t5", "urpe", "shaw")   # a logit bias or multiplier moves the null mass
    if spec.attention == "standard" and spec.normalizer == "softmax1" and not biased:
        p = [float(v) for v in tv.SOFTMAX1.function("null_mass")(nsf, -bound, 0.0)]
        note = "softmax₁: null mass 1/(1 + n e^{−B}) (softmax1-null-mass, μ = −B, σ = 0)"
    elif spec.attention == "standard" and NORMALIZERS[spec.normalizer].row_normalised and spec.position != "urpe":
        # a bias row cannot move a row-normalised mass; URPE's multiplier C can
        p = [0.0] * len(ns)
        note = f"{spec.normalizer}: rows sum to 1 by construction, no null mass"
    else:
        return {"verdict": None, "null_mass_by_n": None, "note": f"no null-mass theory for {zoo_name!r}"}
    return {"verdict": classify_null(p), "null_mass_by_n": p, "note": note}


def probe(subject, *, seed: int = 0, dtype=torch.float64, device="cpu", bound: float = DEFAULT_BOUND,
          n_min: int = 64, n_max: int = 1 << DEFAULT_MAX_LOG2N, rows: int = 4,
          theory: str | None = None) -> ModuleNullResult:
    """The null mass each head reaches when every logit sits at −``bound`` (see the module docstring)."""
    from probes.module_entropy import _input, _pass, _rows, detect_causal, longest_length

    if not (math.isfinite(bound) and bound > 0):
        raise InputError(f"bound={bound}: must be a positive number")
    for nm, v in (("n_min", n_min), ("n_max", n_max)):
        if v < 2 or v & (v - 1):
            raise InputError(f"{nm}={v}: use a power of two ≥ 2")
    if n_min >= n_max:
        raise InputError(f"n range [{n_min}, {n_max}]: n_min must be below n_max")
    module = getattr(subject, "module", subject)
    name = getattr(subject, "name", type(module).__name__)
    d_model = getattr(subject, "d_model", None) or getattr(module, "d_model", None)
    if not isinstance(d_model, int):
        raise InputError(f"{name}: cannot tell the input width; give the module a d_model attribute")
    notes = list(observable(module))
    module.eval()
    causal, _ = detect_causal(module, d_model, name=name, seed=seed, dtype=dtype, device=device)
    longest, why = longest_length(module, d_model, n_max, name=name, floor=2 * n_min, dtype=dtype, device=device,
                                  seed=seed)
    if longest < n_max:
        notes.append(f"n_max = {longest}, not {n_max}: {why}")
        n_max = longest
    ns = tuple(2**k for k in range(int(math.log2(n_min)), int(math.log2(n_max)) + 1))

    def make(site, lead, n_q, n_k, c, like):
        return torch.full((*lead, n_q, n_k), -bound * math.sqrt(c), dtype=like.dtype, device=like.device)

    per: dict = {}
    with torch.no_grad():
        for n in ns:
            r = _rows(n, rows, causal)
            x = _input(seed, n, d_model, dtype, device, r)
            plain = _pass(module, x, name, r, n)
            cap = _pass(module, x, name, r, n, inject=Injection(plain.injection_calls(), make), expect=plain.sites)
            for s in cap.sites:
                check_finite(name, f"attention weights (site {s.index}, logits −{bound:g}, n = {n})", s.weights)
                mass = s.weights.sum(-1).mean(-1)
                for h in range(s.heads):
                    per.setdefault((s.index, h), []).append(float(min(1.0, max(0.0, 1.0 - float(mass[h])))))
    key = lambda vals: {str(n): float(v) for n, v in zip(ns, vals)}  # noqa: E731
    heads = [{"site": si, "head": h, "null_mass_by_n": key(v), "verdict": classify_null(v)}
             for (si, h), v in per.items()]
    counts: dict = {}
    for h in heads:
        counts[h["verdict"]] = counts.get(h["verdict"], 0) + 1
    verdict = next(iter(counts)) if len(counts) == 1 else "mixed"
    th_name = theory if theory is not None else getattr(getattr(subject, "zoo_spec", None), "name", None)
    th = _theory(th_name, ns, bound)
    agrees = None if th["verdict"] is None else th["verdict"] == verdict
    mean = {str(n): float(np.mean([h["null_mass_by_n"][str(n)] for h in heads])) for n in ns}
    return ModuleNullResult(design=name, measured_on="module", verdict=verdict, verdict_counts=counts, bound=bound,
                            ns=ns, heads=heads, null_mass_by_n=mean, theory=th, theory_design=th_name,
                            agrees_with_theory=agrees, seed=seed, dtype=str(dtype).replace("torch.", ""),
                            device=str(device), notes=tuple(notes))


def add_audit_arguments(grp) -> None:
    grp.add_argument("--null-bound", type=float, default=DEFAULT_BOUND,
                     help=f"logits are bounded below by −B (default {DEFAULT_BOUND:g})")
    grp.add_argument("--null-max-log2n", type=int, default=DEFAULT_MAX_LOG2N,
                     help=f"longest input 2^k (default {DEFAULT_MAX_LOG2N})")


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> ModuleNullResult:
    o = options or {}
    return probe(subject, seed=seed, dtype=dtype, device=device, bound=float(o.get("null_bound") or DEFAULT_BOUND),
                 n_max=1 << int(o.get("null_max_log2n") or DEFAULT_MAX_LOG2N), theory=o.get("capture_theory"))


class AttendToNothingProbe(CapturedAttentionProbe):
    """Attend-to-nothing (the null mass a head reaches at bounded logits) under the probe contract."""

    name, json_key, title, verdicts = "attend-to-nothing", JSON_KEY, "attend to nothing (null mass)", VERDICTS
    example_design = "softmax1"
    smoke_options = {"null_max_log2n": 8}

    audit_fn = staticmethod(audit)
    add_options = staticmethod(add_audit_arguments)

    def plots(self, result, out_dir) -> list:
        """attend_to_nothing.png: the null mass against n per head, with the theory column."""
        from probes.plotting import pyplot, save

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ns = [int(n) for n in result.ns]
        for h in result.heads:
            ax.plot(ns, [h["null_mass_by_n"][str(n)] for n in ns], "-", color="C0", alpha=0.4, lw=1)
        ax.plot(ns, [result.null_mass_by_n[str(n)] for n in ns], "o-", color="C0", label="measured (mean over heads)")
        if result.theory.get("null_mass_by_n"):
            ax.plot(ns, result.theory["null_mass_by_n"], "k--", label=f"theory ({result.theory_design})")
        ax.set(xscale="log", xlabel="keys n", ylabel=f"null mass at logits ≥ −{result.bound:g}",
               title=f"{result.design}: {result.verdict}")
        return [str(save(fig, f"{out_dir}/attend_to_nothing.png", dpi=110, legend=ax))]

    def summary(self, result) -> Summary:
        top = str(result.ns[-1])
        key = f"null mass at n = {top}: {result.null_mass_by_n[top]:.3g}"
        theory = (f"{result.theory.get('verdict')} ({result.theory_design})" if result.theory_design else "—")
        return Summary(result.verdict, key, theory, result.agrees_with_theory)


PROBE = AttendToNothingProbe()
