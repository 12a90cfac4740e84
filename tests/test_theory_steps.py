"""Meta-tests of the derivation contract (theory/derivation.py) over every derivation.

(a) no step is settled when the module is built (``lhs − rhs`` is not already 0, a
    boolean side is not already ``True``): the check does the work;
(b) every step checks, and fails when its right side is perturbed by 1/7 (a
    boolean step: negated);
(c) every prediction a probe names is registered on the derivation it names;
(d) importing the theory modules does no symbolic work (no integrate, limit,
    simplify, solve, summation or doit at import).
"""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sympy as sp

from theory import all_derivations, modules
from theory.derivation import NUMERIC, SYMBOLIC, Derivation, DerivationError, Step

DERIVATIONS = all_derivations()
ROOT = Path(__file__).resolve().parents[1]


def test_derivations_found():
    names = [d.name for d in DERIVATIONS]
    assert "row-mass" in names and "training-floor" in names, names
    assert len(set(names)) == len(names), f"duplicate derivation names: {names}"


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_no_step_is_settled_at_build_time(derivation):
    settled = [s.name for s in derivation.steps if s.settled()]
    assert not settled, (f"{derivation.name}: these steps already hold as built (lhs − rhs is 0 or the boolean is "
                         f"True before check()), so checking them proves nothing: {settled}")


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_every_step_checks(derivation):
    results = derivation.check()
    assert results and all(r.ok for r in results)
    assert derivation.statement and derivation.steps
    assert {r.kind for r in results} <= {SYMBOLIC, NUMERIC}


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_every_step_fails_when_perturbed(derivation):
    survived = []
    for s in derivation.steps:
        chk = s.perturbed().verify()
        if chk.ok:
            survived.append(f"{s.name}: {chk.detail}")
    assert not survived, f"{derivation.name}: these steps still pass with their right side moved by 1/7: {survived}"


@pytest.mark.parametrize("derivation", DERIVATIONS, ids=lambda d: d.name)
def test_predictions_evaluate(derivation):
    for name in derivation.prediction_names:
        expr = derivation.expr(name)
        assert isinstance(expr, sp.Basic)
        assert not expr.atoms(sp.Integral, sp.Limit, sp.Derivative), (
            f"{derivation.name}.{name} is not a closed form (it still holds an unevaluated integral, limit or "
            f"derivative); register the checked right side instead")
        derivation.function(name)  # lambdify must succeed


def test_step_counts_are_reported():
    steps = [s for d in DERIVATIONS for s in d.steps]
    kinds = {k: sum(s.kind == k for s in steps) for k in (SYMBOLIC, NUMERIC)}
    assert sum(kinds.values()) == len(steps) > 0
    print(f"\n{len(DERIVATIONS)} derivations, {len(steps)} steps: {kinds[SYMBOLIC]} symbolic, {kinds[NUMERIC]} numeric")


# -- (c) the predictions the probes use are registered ------------------------------------
def _theory_bindings(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """name -> (theory module, attribute or None) for every way a probe module binds theory."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "theory":
            for a in node.names:
                if node.module == "theory":
                    out[a.asname or a.name] = (f"theory.{a.name}", None)
                else:
                    out[a.asname or a.name] = (node.module, a.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            fn = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
            if fn == "lazy_import" and call.args and isinstance(call.args[0], ast.Constant):
                mod = call.args[0].value
                if str(mod).startswith("theory."):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            out[t.id] = (mod, None)
    return out


def _prediction_calls(path: Path):
    tree = ast.parse(path.read_text())
    binds = _theory_bindings(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("predict", "function", "expr") and node.args):
            continue
        target, arg = node.func.value, node.args[0]
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in binds:
            mod, attr = binds[target.value.id]
            obj = (mod, target.attr if attr is None else f"{attr}.{target.attr}")
        elif isinstance(target, ast.Name) and target.id in binds:
            mod, attr = binds[target.id]
            if attr is None:
                continue  # a module-level function of a theory module, e.g. theory.predict(...)
            obj = (mod, attr)
        else:
            continue
        names = None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names = [arg.value]
        yield path.name, node.lineno, obj, names


def test_every_prediction_a_probe_names_is_registered():
    seen, bad = 0, []
    for path in sorted((ROOT / "probes").rglob("*.py")):
        text = path.read_text()
        assert "import sympy" not in text, f"{path}: probes do no symbolic work; put the formula in theory/"
        for fname, line, (mod, attr), names in _prediction_calls(path):
            obj = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part, None)
            if not isinstance(obj, Derivation):
                continue
            for name in names or []:
                seen += 1
                if name not in obj.prediction_names:
                    bad.append(f"{fname}:{line} {mod}.{attr}.{name}")
    assert seen > 20, f"found only {seen} prediction uses in probes/: the scan is broken"
    assert not bad, f"probes use predictions no derivation registers: {bad}"


# -- (d) cheap imports ----------------------------------------------------------------------
def test_importing_theory_does_no_symbolic_work():
    code = textwrap.dedent(f"""
        import sympy, sympy.core.basic
        def refuse(name):
            def f(*a, **k):
                raise RuntimeError("symbolic work at import: " + name)
            return f
        for name in ("integrate", "limit", "simplify", "solve", "summation", "nsimplify", "gammasimp",
                     "factor", "apart", "dsolve", "series", "lambdify"):
            setattr(sympy, name, refuse(name))
        sympy.core.basic.Basic.doit = refuse("doit")
        import importlib
        for m in {modules()!r}:
            importlib.import_module("theory." + m)
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


# -- the contract itself ------------------------------------------------------------------------
def test_a_wrong_step_fails():
    x = sp.Symbol("x")
    d = Derivation("wrong", statement="(x+1)² = x² + 1 (false)")
    d.step("expand", (x + 1) ** 2, x ** 2 + 1)
    with pytest.raises(DerivationError, match="expand"):
        d.check()


def test_unevaluated_sides_do_their_work_in_check():
    x = sp.Symbol("x", positive=True)
    s = Step("∫₀¹ 2x dx = 1", sp.Integral(2 * x, (x, 0, 1)), sp.Integer(1))
    assert not s.settled()
    assert s.verify().ok and not s.perturbed().verify().ok
    # the same identity written as an evaluated integral is settled: the meta-test rejects it
    assert Step("evaluated", sp.integrate(2 * x, (x, 0, 1)), sp.Integer(1)).settled()
    lazy = Step("callable sides", lambda: sp.Limit(sp.sin(x) / x, x, 0), 1)
    assert not lazy.settled() and lazy.verify().ok


def test_boolean_steps_and_their_negation():
    n = sp.Symbol("n", positive=True)
    s = Step("n² + 1 > 1", sp.Gt(n ** 2 + 1, 1, evaluate=False), how="true")
    assert s.verify().ok and not s.perturbed().verify().ok
    assert Step("already true", sp.Gt(n ** 2 + 1, 0), how="true").settled()


def test_numeric_steps_state_points_and_tolerance():
    z = sp.Symbol("z", real=True)
    phi = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    s = Step("∫φ = 1", sp.Integral(phi, (z, -sp.oo, sp.oo)), 1, "numeric", tol=1e-12)
    chk = s.verify()
    assert chk.ok and chk.kind == NUMERIC and "numeric" in chk.detail
    assert not s.perturbed().verify().ok
    with pytest.raises(ValueError, match="tolerance"):
        Step("no tol", sp.Integral(phi, (z, -sp.oo, sp.oo)), 1, "numeric")
    a = sp.Symbol("a", positive=True)
    pts = Step("∫₀^∞ e^{−az} dz = 1/a at points", sp.Integral(sp.exp(-a * z), (z, 0, sp.oo)), 1 / a, "numeric",
               at=({a: 0.5}, {a: 3.0}), tol=1e-12)
    assert pts.verify().ok and not pts.perturbed().verify().ok


def test_predictions_from_steps_and_arguments():
    n = sp.Symbol("n", positive=True, integer=True)
    i = sp.Symbol("i", positive=True, integer=True)
    d = Derivation("ok", statement="mean of 1..n")
    d.step("mean", sp.Sum(i, (i, 1, n)) / n, (n + 1) / 2)
    d.prediction("mean", None, [n], from_step="mean")
    d.prediction("square", lambda: n ** 2, [n])
    d.check()
    assert d.predict("mean", n=16) == 8.5 and d.predict("square", n=3) == 9
    with pytest.raises(TypeError, match="missing"):
        d.predict("square")
    with pytest.raises(KeyError):
        d.function("nope")
    with pytest.raises(ValueError, match="two steps"):
        d.step("mean", n, n)
