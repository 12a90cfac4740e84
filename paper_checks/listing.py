"""List the claims without running (or importing) their modules: read them with :mod:`ast`.

A claim is a module-level function (or a method of a module-level class) in a
``test_*.py`` file, decorated ``@claim(ID, SOURCE, STATEMENT, attribution=...)``. ``SOURCE``
is resolved by a small evaluator that understands exactly what the claim files use:
string and number literals (with implicit or ``+`` concatenation), tuples and lists,
names bound at module level (``NAME = Source(...)``, ``NAME = NAME.at("...")``) or
imported from a sibling module of the claims package (``from paper_checks._x_sources
import NAME``), ``Source(...)`` calls (with ``*args`` and keywords), the ``.at(section)``
method and attribute reads on a :class:`Source` (``SRC.authors``). Nothing else is
evaluated; a claim whose source cannot be resolved this way is an error naming the file,
the line and the construct. Only the standard library, :mod:`paper_checks.claims` and
:mod:`probes.errors` are imported.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from paper_checks.claims import ATTRIBUTIONS, CLAIM_ID_RE, Source
from probes.errors import InputError

__all__ = ["list_claims", "ListingError"]

_CLAIMS_MODULE = "paper_checks.claims"
_SOURCE_FIELDS = ("authors", "year", "title", "ref", "section")


class ListingError(InputError):
    """A claim whose id, source, statement or attribution cannot be read from the source text (the CLI prints
    it as one line, exit 2)."""


class _Module:
    """The module-level bindings of one file, evaluated lazily and safely."""

    def __init__(self, path: Path, package_dir: Path, package: str, cache: dict):
        self.path, self.package_dir, self.package, self.cache = path, package_dir, package, cache
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.assigned: dict[str, ast.AST] = {}
        self.imported: dict[str, tuple[str, str]] = {}   # local name -> (module, name)
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.assigned[t.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.assigned[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom):
                mod = self._absolute(node)
                for a in node.names:
                    self.imported[a.asname or a.name] = (mod, a.name)
        self.values: dict[str, Any] = {}
        self._busy: set[str] = set()

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".")
        base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        return ".".join(base + ([node.module] if node.module else []))

    def where(self, node: ast.AST) -> str:
        return f"{self.path.name}:{getattr(node, 'lineno', '?')}"

    # -- names -------------------------------------------------------------------
    def lookup(self, name: str, node: ast.AST) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.imported:
            mod, attr = self.imported[name]
            if mod == _CLAIMS_MODULE and attr == "Source":
                return Source
            sibling = self._sibling(mod)
            if sibling is None:
                raise ListingError(f"{self.where(node)}: {name!r} is imported from {mod!r}, which is not a module "
                                   f"of the claims package {self.package!r}; the listing cannot resolve it")
            value = sibling.lookup(attr, node)
        elif name in self.assigned:
            if name in self._busy:
                raise ListingError(f"{self.where(node)}: {name!r} is defined in terms of itself")
            self._busy.add(name)
            try:
                value = self.eval(self.assigned[name])
            finally:
                self._busy.discard(name)
        else:
            raise ListingError(f"{self.where(node)}: {name!r} is neither assigned at module level nor imported")
        self.values[name] = value
        return value

    def _sibling(self, module: str) -> "_Module | None":
        prefix = self.package + "."
        if not module.startswith(prefix) or "." in module[len(prefix):]:
            return None
        path = self.package_dir / (module[len(prefix):] + ".py")
        if not path.is_file():
            return None
        key = str(path.resolve())
        if key not in self.cache:
            self.cache[key] = _Module(path, self.package_dir, self.package, self.cache)
        return self.cache[key]

    # -- expressions ---------------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -self.eval(node.operand)
        if isinstance(node, (ast.Tuple, ast.List)):
            out = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    out.extend(self._iterable(e.value))
                else:
                    out.append(self.eval(e))
            return tuple(out)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            a, b = self.eval(node.left), self.eval(node.right)
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            raise ListingError(f"{self.where(node)}: '+' is only evaluated between strings")
        if isinstance(node, ast.Name):
            return self.lookup(node.id, node)
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            if isinstance(base, Source) and node.attr in _SOURCE_FIELDS:
                return getattr(base, node.attr)
            raise ListingError(f"{self.where(node)}: only the fields {_SOURCE_FIELDS} of a Source are read, "
                               f"not .{node.attr}")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ListingError(f"{self.where(node)}: cannot evaluate {type(node).__name__} "
                           f"({ast.unparse(node)[:60]!r}) without running the module")

    def _iterable(self, node: ast.AST) -> tuple:
        value = self.eval(node)
        if not isinstance(value, tuple):
            raise ListingError(f"{self.where(node)}: '*' needs a tuple or list")
        return value

    def _call(self, node: ast.Call) -> Any:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "at":
            base = self.eval(f.value)
            if not isinstance(base, Source):
                raise ListingError(f"{self.where(node)}: .at() on something that is not a Source")
            args, kwargs = self._args(node)
            return base.at(*args, **kwargs)
        if isinstance(f, ast.Name) and self.eval(f) is Source:
            args, kwargs = self._args(node)
            try:
                return Source(*args, **kwargs)
            except TypeError as e:
                raise ListingError(f"{self.where(node)}: Source(...): {e}") from None
        raise ListingError(f"{self.where(node)}: only Source(...) and SOURCE.at(...) calls are evaluated, "
                           f"not {ast.unparse(f)[:40]}(...)")

    def _args(self, node: ast.Call) -> tuple[list, dict]:
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self._iterable(a.value))
            else:
                args.append(self.eval(a))
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                raise ListingError(f"{self.where(node)}: '**' arguments are not evaluated")
            kwargs[k.arg] = self.eval(k.value)
        return args, kwargs

    # -- claims --------------------------------------------------------------------
    def _is_claim_decorator(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        if isinstance(f, ast.Name):
            return self.imported.get(f.id) == (_CLAIMS_MODULE, "claim")
        if isinstance(f, ast.Attribute) and f.attr == "claim" and isinstance(f.value, ast.Name):
            return self.imported.get(f.value.id, (None, None))[1] == "claims" or f.value.id == "claims"
        return False

    def claims(self, rel: str) -> list[dict]:
        out = []

        def visit(defs, prefix):
            for node in defs:
                if isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + "::")
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for dec in node.decorator_list:
                        if self._is_claim_decorator(dec):
                            out.append(self._claim(dec, f"{rel}::{prefix}{node.name}"))

        visit(self.tree.body, "")
        return out

    def _claim(self, dec: ast.Call, test: str) -> dict:
        names = ("id", "source", "statement")
        given = dict(zip(names, dec.args))
        for k in dec.keywords:
            if k.arg in names + ("attribution",):
                given[k.arg] = k.value
        missing = [n for n in names + ("attribution",) if n not in given]
        if missing:
            raise ListingError(f"{self.where(dec)}: @claim(...) lacks {', '.join(missing)} "
                               "(write @claim(ID, SOURCE, STATEMENT, attribution=...))")
        cid, statement, attribution = (self.eval(given[n]) for n in ("id", "statement", "attribution"))
        source = self.eval(given["source"])
        if not isinstance(cid, str) or not CLAIM_ID_RE.match(cid):
            raise ListingError(f"{self.where(dec)}: claim id {cid!r} is not a valid id")
        if not isinstance(source, Source):
            raise ListingError(f"{self.where(dec)}: claim {cid}: the source is not a Source")
        if attribution not in ATTRIBUTIONS:
            raise ListingError(f"{self.where(dec)}: claim {cid}: attribution must be one of {ATTRIBUTIONS}")
        refuted = next((self.eval(k.value) for k in dec.keywords if k.arg == "refuted"), None)
        out = {"id": cid, "attribution": attribution, "source": source.to_dict(),
               "statement": " ".join(str(statement).split()), "test": test}
        if refuted:
            out["refuted"] = " ".join(str(refuted).split())
        return out


def list_claims(path: str) -> list[dict]:
    """Every claim in the ``test_*.py`` files under ``path`` (a claims package folder), sorted by id.

    Each entry: id, attribution, source (``Source.to_dict()``), statement and test (the pytest
    node id relative to the folder above ``path``). Raises :class:`ListingError` when a claim
    cannot be resolved, or when two tests use one id.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise ListingError(f"{path}: not a folder of claims")
    package = root.name
    cache: dict = {}
    out, seen = [], {}
    for f in sorted(root.rglob("test_*.py")):
        rel_dir = f.parent.relative_to(root)
        pkg = ".".join((package,) + rel_dir.parts)
        mod = cache.setdefault(str(f), _Module(f, f.parent, pkg, cache))
        rel = "/".join((root.name,) + rel_dir.parts + (f.name,))
        for c in mod.claims(rel):
            if c["id"] in seen and seen[c["id"]] != c["test"]:
                raise ListingError(f"claim id {c['id']!r} is used by two tests: {seen[c['id']]} and {c['test']}")
            if c["id"] not in seen:
                seen[c["id"]] = c["test"]
                out.append(c)
    return sorted(out, key=lambda c: c["id"])
