"""The ``attnprobe`` command.

Subcommands: ``audit`` (every registered probe that applies to a design, in one
table; :data:`probes.registry.PROBES`), ``claims`` (list the paper claims), ``zoo``
(list reference designs), ``theory`` (list the derivations, and with ``--check``
check their steps), and the commands that take files or tables rather than a design
(``unargmaxable``, ``hubness``, ``entropy-table``; :mod:`probes.commands`). All argument
parsing happens here and there; probes only declare their options
(:meth:`probes.contract.Probe.add_arguments`). Bad input ends with a one-line
``attnprobe: error: ...`` and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from probes.errors import InputError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: exit 2, one line
        self.exit(2, f"attnprobe: error: {message}\n")


def _cmd_audit(args) -> int:
    from probes.audit import run_audit
    from probes.designs.loading import load_design
    from probes.dtypes import parse_dtype
    from probes.registry import PROBES, get

    probes = [get(p) for p in args.probe] if args.probe else list(PROBES.values())
    dtype = parse_dtype(args.dtype)
    subject = load_design(args.design, randomize=args.randomize, seed=args.seed, dtype=dtype,
                          device=args.device, d_model=args.d_model)
    options = {**vars(args), "dtype": dtype}
    audit = run_audit(subject, probes, options, names_given=bool(args.probe), show_progress=not args.quiet)
    if args.json:
        print(json.dumps(audit.report(), indent=2))
    else:
        print(subject.summary())
        print()
        print(audit.table())
        if args.details:
            for row in audit.finished:
                print()
                print(row.result)
    if args.out:
        md, js = audit.write(args.out)
        if not args.json:
            print(f"\nreport written to {md} and {js}")
    if audit.interrupted:
        print(f"attnprobe: interrupted during {audit.interrupted}; finished probes reported", file=sys.stderr)
        return 130
    return 0


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
    from probes.designs.tags import tags_of_spec
    from probes.designs.zoo import ZOO, parse

    rows = [parse(n) for n in ZOO]
    if args.json:
        print(json.dumps([{"kind": "attention", **r.__dict__, "tags": tags_of_spec(r).to_dict()} for r in rows]
                         + [{"kind": "stack", **s.__dict__, "tags": tags_of_spec(parse(s.name)).to_dict()}
                            for s in STACKS.values()], indent=2))
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
    from probes.registry import PROBES

    parser = _Parser(prog="attnprobe", description="Check theoretical properties of attention designs.")
    parser.add_argument("--version", action="version", version=f"attnprobe {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    a = sub.add_parser("audit", help="run probes on a design (zoo name, module:factory, file.py:factory, "
                                      "or a local Hugging Face checkpoint directory)")
    a.add_argument("design", help="zoo name (see `attnprobe zoo`), package.module:factory, "
                                  "path/to/file.py:factory, or a checkpoint directory")
    a.add_argument("--probe", action="append", metavar="NAME",
                   help=f"probe to run (repeatable): {', '.join(PROBES)}; default: every probe that applies")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--out", metavar="DIR", help="write report.md (the table, each probe's section, plots), "
                                                 "report.json and the PNG plots to DIR")
    a.add_argument("--details", action="store_true", help="also print every probe's full result")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    a.add_argument("--seed", type=int, default=0, help="seed for parameters and inputs (default 0)")
    a.add_argument("--dtype", default="float64", help="float64 (default, exact checks) or float32")
    a.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    a.add_argument("--d-model", type=int, default=None, help="input width, if the module does not say")
    rnd = a.add_mutually_exclusive_group()
    rnd.add_argument("--randomize", dest="randomize", action="store_true", default=None,
                     help="re-draw all parameters before probing (default for zoo names and factories)")
    rnd.add_argument("--no-randomize", dest="randomize", action="store_false",
                     help="keep the parameters as built or loaded (default for checkpoints)")
    for p in PROBES.values():  # each probe declares its options; the CLI owns the parser
        p.add_arguments(a.add_argument_group(f"{p.name}: {p.title}"))
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

    from probes.commands import add_file_commands

    add_file_commands(sub)
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
