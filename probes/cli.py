"""The ``attnprobe`` command.

Subcommands: ``audit`` (run probes on a design), ``claims`` (list the paper
claims), ``zoo`` (list reference designs), ``theory`` (list the derivations, and
with ``--check`` check their steps), and one per probe that takes files
rather than designs (registered in :data:`FILE_COMMANDS`). Bad input ends with a
one-line ``attnprobe: error: ...`` and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from probes.errors import Diverged, InputError, NotApplicable

__all__ = ["main", "AUDIT_PROBES", "FILE_COMMANDS"]

# --probe name -> module with ``audit(subject, *, seed, dtype, device, options) -> Result``
# and ``JSON_KEY``; optional ``add_audit_arguments(parser)`` and ``write_plots(result, out_dir)``.
AUDIT_PROBES: dict[str, str] = {
    "position-counting": "probes.position_counting",
    "entropy": "probes.entropy",
    "norm-invariance": "probes.norm_invariance",
    # depth probes: zoo stacks (probes.designs.stacks) or a factory file.py:make taking n_layers
    "gradient-depth": "probes.gradient_depth",
    "update-depth": "probes.update_depth",
    "collapse": "probes.collapse",
    # measured on the module's own attention through probes.capture
    "key-hubness": "probes.module_hubness",
    "attend-to-nothing": "probes.module_null",
}

# Modules defining ``add_subcommand(subparsers)``; the parser they add sets ``func``.
FILE_COMMANDS: tuple[str, ...] = ("probes.unargmaxable", "probes.hubness")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: exit 2, one line
        self.exit(2, f"attnprobe: error: {message}\n")


def _dtype(name: str):
    import torch

    table = {"float64": torch.float64, "float32": torch.float32, "double": torch.float64, "float": torch.float32}
    if name not in table:
        raise InputError(f"--dtype {name!r}: use float64 or float32")
    return table[name]


def _cmd_audit(args) -> int:
    from probes.designs.loading import load_design
    from probes.result import jsonable

    probes = args.probe or list(AUDIT_PROBES)
    for p in probes:
        if p not in AUDIT_PROBES:
            raise InputError(f"--probe {p!r}: unknown probe; choose from {', '.join(AUDIT_PROBES)}")
    dtype = _dtype(args.dtype)
    subject = load_design(args.design, randomize=args.randomize, seed=args.seed, dtype=dtype,
                          device=args.device, d_model=args.d_model)
    results, report = {}, {"design": subject.describe(), "probes": {}}
    skipped: dict[str, str] = {}
    interrupted = None
    for p in probes:
        mod = importlib.import_module(AUDIT_PROBES[p])
        try:
            res = mod.audit(subject, seed=args.seed, dtype=dtype, device=args.device, options=vars(args))
        except NotApplicable as exc:
            if args.probe:  # asked for by name: its refusal is the answer
                raise
            skipped[p] = str(exc)
            report["probes"][mod.JSON_KEY] = {"skipped": str(exc)}
            continue
        except Diverged as exc:
            if args.probe:
                raise
            skipped[p] = f"diverged: {exc}"
            report["probes"][mod.JSON_KEY] = {"outcome": "diverged", "reason": str(exc)}
            continue
        except KeyboardInterrupt:
            if not results:
                raise
            interrupted = p        # keep what finished: report it, then exit 130
            skipped[p] = "interrupted (Ctrl-C); the probes before it are reported"
            report["probes"][mod.JSON_KEY] = {"interrupted": True}
            break
        results[p] = (mod, res)
        report["probes"][mod.JSON_KEY] = res.to_dict()
    if not results:
        raise InputError(f"no probe applies to {subject.name}: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    _emit_audit(args, subject, results, skipped, report)
    if interrupted:
        print(f"attnprobe: interrupted during {interrupted}; finished probes reported", file=sys.stderr)
        return 130
    return 0


def _emit_audit(args, subject, results, skipped, report) -> None:
    from probes.result import jsonable

    if args.json:
        print(json.dumps(jsonable(report), indent=2))
    else:
        print(subject.summary())
        for p, (mod, res) in results.items():
            print()
            print(res)
        for p, why in skipped.items():
            print(f"\n{p}: skipped ({why})")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
        md = [f"# attnprobe audit: {subject.name}", "", subject.summary(), ""]
        md += [f"- {p}: skipped ({why})" for p, why in skipped.items()] + ([""] if skipped else [])
        for p, (mod, res) in results.items():
            md += [f"## {p}", "", "```", str(res), "```", ""]
            if hasattr(mod, "markdown"):
                md += [mod.markdown(res), ""]
            if hasattr(mod, "write_plots"):
                for png in mod.write_plots(res, out):
                    md += [f"![{p}]({Path(png).name})", ""]
        (out / "report.md").write_text("\n".join(md))
        if not args.json:
            print(f"\nreport written to {out / 'report.md'} and {out / 'report.json'}")


def _cmd_claims(args) -> int:
    from paper_checks.plugin import list_claims

    claims = list_claims(args.path)
    if args.json:
        print(json.dumps(claims, indent=2))
        return 0
    for c in claims:
        src = c["source"]
        print(f"{c['id']}  [{c['attribution']}{', refuted' if c.get('refuted') else ''}]\n    {c['statement']}\n"
              f"    source: {src['citation']}\n    test:   {c['test']}")
        if c.get("refuted"):
            print(f"    refuted: {c['refuted']}")
    print(f"\n{len(claims)} claims; run them with `pytest paper_checks/`")
    return 0


def _cmd_zoo(args) -> int:
    from probes.designs.stacks import STACKS
    from probes.designs.zoo import ZOO, parse

    rows = [parse(n) for n in ZOO]
    if args.json:
        print(json.dumps([{"kind": "attention", **r.__dict__} for r in rows]
                         + [{"kind": "stack", **s.__dict__} for s in STACKS.values()], indent=2))
        return 0
    print(f"{'name':20s} {'attention':9s} {'normaliser':10s} {'position':8s} mask")
    for r in rows:
        print(f"{r.name:20s} {r.attention:9s} {r.normalizer:10s} {r.position:8s} {'causal' if r.causal else 'bidirectional'}")
    print("\nAny '[normaliser+]position[-causal]' combination can be built; see probes/designs/zoo.py.")
    print(f"\n{'depth stack':20s} {'placement':9s} {'norm':10s} source")
    for s in STACKS.values():
        print(f"{s.name:20s} {s.placement:9s} {s.norm:10s} {s.source}")
    print("\nStacks keep their own initialisation; the depth probes (gradient-depth, update-depth, collapse) "
          "build them at several depths.")
    return 0


def _cmd_theory(args) -> int:
    import theory

    names = theory.modules()
    if args.module:
        unknown = [m for m in args.module if m not in names]
        if unknown:
            raise InputError(f"--module {', '.join(unknown)}: unknown; choose from {', '.join(names)}")
        names = [m for m in names if m in args.module]
    derivations = []
    for m in names:
        mod = importlib.import_module(f"theory.{m}")
        derivations += [(m, d) for d in getattr(mod, "DERIVATIONS", [])]
    if args.name:
        known = {d.name for _, d in derivations}
        unknown = [n for n in args.name if n not in known]
        if unknown:
            raise InputError(f"--name {', '.join(unknown)}: no such derivation; `attnprobe theory` lists them")
        derivations = [(m, d) for m, d in derivations if d.name in args.name]
    rows, failed, total = [], 0, {"symbolic": 0, "numeric": 0}
    for i, (m, d) in enumerate(derivations, 1):
        checks = None
        if args.check:
            if not args.json:
                print(f"[{i}/{len(derivations)}] checking {d.name} ...", file=sys.stderr, flush=True)
            checks = [s.verify() for s in d.steps]
            failed += sum(not c.ok for c in checks)
        for s in d.steps:
            total[s.kind] += 1
        rows.append((m, d, checks))
    if args.json:
        print(json.dumps([{"module": f"theory.{m}", **d.to_dict(checks=c)} for m, d, c in rows], indent=2))
    else:
        for m, d, checks in rows:
            print(f"{d.name}  (theory.{m})")
            print(f"    {d.statement}")
            if d.source:
                print(f"    source: {d.source}")
            for a in d.assumptions:
                print(f"    assumes: {a}")
            for k, s in enumerate(d.steps):
                mark = ""
                if checks is not None:
                    c = checks[k]
                    mark = f"{'ok' if c.ok else 'FAIL'} {c.seconds:6.2f}s  "
                tag = "" if s.kind == "symbolic" else " [numeric]"
                print(f"    {mark}step: {s.name}{tag}")
                if checks is not None and not checks[k].ok:
                    print(f"        {checks[k].detail}")
            if d.prediction_names:
                print(f"    predicts: {', '.join(d.prediction_names)}")
            print()
        n_steps = sum(total.values())
        summary = (f"{len(rows)} derivations, {n_steps} steps ({total['symbolic']} symbolic, "
                   f"{total['numeric']} numeric)")
        if args.check:
            summary += f": {n_steps - failed} checked, {failed} failed"
        else:
            summary += "; run with --check to check them"
        print(summary)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from probes import __version__

    parser = _Parser(prog="attnprobe", description="Check theoretical properties of attention designs.")
    parser.add_argument("--version", action="version", version=f"attnprobe {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    a = sub.add_parser("audit", help="run probes on a design (zoo name, module:factory, file.py:factory, "
                                      "or a local Hugging Face checkpoint directory)")
    a.add_argument("design", help="zoo name (see `attnprobe zoo`), package.module:factory, "
                                  "path/to/file.py:factory, or a checkpoint directory")
    a.add_argument("--probe", action="append", help=f"probe to run (repeatable): {', '.join(AUDIT_PROBES)}; "
                                                      "default all")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--out", metavar="DIR", help="write report.md, report.json and plots to DIR")
    a.add_argument("--seed", type=int, default=0, help="seed for parameters and inputs (default 0)")
    a.add_argument("--dtype", default="float64", help="float64 (default, exact checks) or float32")
    a.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    a.add_argument("--d-model", type=int, default=None, help="input width, if the module does not say")
    rnd = a.add_mutually_exclusive_group()
    rnd.add_argument("--randomize", dest="randomize", action="store_true", default=None,
                     help="re-draw all parameters before probing (default for zoo names and factories)")
    rnd.add_argument("--no-randomize", dest="randomize", action="store_false",
                     help="keep the parameters as built or loaded (default for checkpoints)")
    for name, modname in AUDIT_PROBES.items():
        mod = importlib.import_module(modname)
        if hasattr(mod, "add_audit_arguments"):
            mod.add_audit_arguments(a)
    a.set_defaults(func=_cmd_audit)

    c = sub.add_parser("claims", help="list the registered paper claims")
    c.add_argument("--json", action="store_true")
    c.add_argument("--path", default=None, help="folder of claims (default: the installed paper_checks)")
    c.set_defaults(func=_cmd_claims)

    z = sub.add_parser("zoo", help="list the reference designs")
    z.add_argument("--json", action="store_true")
    z.set_defaults(func=_cmd_zoo)

    t = sub.add_parser("theory", help="list the derivations behind the probes (statement, assumptions, source, "
                                       "steps); --check checks every step")
    t.add_argument("--check", action="store_true", help="check every step (symbolic work; per-step seconds)")
    t.add_argument("--json", action="store_true", help="print one JSON array")
    t.add_argument("--module", action="append", metavar="NAME", help="only theory/NAME.py (repeatable)")
    t.add_argument("--name", action="append", metavar="DERIVATION", help="only this derivation (repeatable)")
    t.set_defaults(func=_cmd_theory)

    for modname in FILE_COMMANDS:
        importlib.import_module(modname).add_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"attnprobe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnprobe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
