"""The claims registry: cite, state, check.

A claim is a pytest test decorated with :func:`claim` and taking the ``claim``
fixture (a :class:`ClaimRecorder`). Each check records the expected and the
measured value and fails with a message naming both::

    from paper_checks.claims import Source, claim

    SU_9105 = Source("Su Jianlin", 2022, "A theoretical defect of RPE ...",
                     "https://kexue.fm/archives/9105", section="§2")

    @claim("su2022-rpe-position-counting", SU_9105,
           "Identical tokens stay identical through a relative-PE Transformer.", attribution="paper")
    def test_rpe_cannot_count(claim):
        s = claim.seed(0)
        r = position_counting.probe(zoo.build("rope", seed=s), seed=s)
        claim.equal("verdict (rope)", r.verdict, "cannot-count")
        r2 = position_counting.probe(zoo.build("abs+rope", seed=s), seed=s)
        claim.control.not_equal("verdict (abs+rope)", r2.verdict, "cannot-count", inverts="verdict (rope)")

Checks made through ``claim.control`` are the *negative control*: the premise
broken, the same quantity, the opposite relation (see :class:`ClaimRecorder`).
Every claim must record at least one check and at least one control check.
Ids are stable: once published an id never changes meaning; a changed claim
gets a new id.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

__all__ = ["Source", "Check", "ClaimRecorder", "ClaimContractError", "claim", "CLAIM_ID_RE", "INVERSE", "ATTRIBUTIONS"]

CLAIM_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9.]+)+$")


@dataclass(frozen=True)
class Source:
    """Where a claim comes from: authors, year, title, arXiv id or URL, section."""

    authors: str
    year: int
    title: str
    ref: str
    section: str = ""

    def at(self, section: str) -> "Source":
        """The same source, pointing at ``section``."""
        return Source(self.authors, self.year, self.title, self.ref, section)

    def short(self) -> str:
        first = self.authors.split(",")[0].split(" and ")[0].strip()
        surname = first.split()[-1] if " " in first and not first.startswith("Su ") else first.split()[0]
        etal = " et al." if ("," in self.authors or " and " in self.authors) else ""
        sec = f", {self.section}" if self.section else ""
        return f"{surname}{etal} {self.year}{sec}"

    def cite(self) -> str:
        sec = f", {self.section}" if self.section else ""
        return f'{self.authors} ({self.year}). "{self.title}". {self.ref}{sec}'

    def to_dict(self) -> dict:
        return {"authors": self.authors, "year": self.year, "title": self.title,
                "ref": self.ref, "section": self.section, "citation": self.cite()}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value == 0 or (1e-3 <= abs(value) < 1e5):
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return _fmt(value.item())
    except ImportError:  # pragma: no cover
        pass
    return str(value)


#: relation -> the relation a negative control must assert to invert it
INVERSE = {
    "close": "far", "far": "close",
    "less": "greater", "greater": "less",
    "equal": "not_equal", "not_equal": "equal",
    "is_in": "not_in", "not_in": "is_in",
    "contains": "lacks", "lacks": "contains",
    "satisfies": "violates", "violates": "satisfies",
}
ATTRIBUTIONS = ("paper", "derived")


class ClaimContractError(AssertionError):
    """A claim broke the rules of the registry (an unpaired control, a missing tolerance, ...)."""


def _finite(value: Any) -> bool:
    """True unless ``value`` is (or holds) a NaN or an infinity; non-numbers count as finite."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    try:
        import numpy as np

        if isinstance(value, (np.ndarray, np.generic)):
            return bool(np.all(np.isfinite(value))) if np.issubdtype(np.asarray(value).dtype, np.number) else True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if type(value).__module__.startswith("torch"):
        try:
            import torch

            if isinstance(value, torch.Tensor):
                return bool(torch.isfinite(value).all()) if value.dtype.is_floating_point else True
        except ImportError:  # pragma: no cover
            pass
    return True


@dataclass(frozen=True)
class Check:
    """One recorded comparison of a measured value against an expectation.

    ``relation`` is the kind of comparison (``close``, ``less``, ...), ``target`` the
    expected value or bound and ``tol`` the tolerance of ``close``/``far``; a control
    names the main check it ``inverts``. ``margin`` is how far the check is from
    failing, in units of its tolerance or bound (negative: it failed); None for
    checks that are exact (equal, is_in, ...).
    """

    quantity: str
    expected: str
    measured: str
    passed: bool
    control: bool = False
    measured_value: Any = None
    relation: str = "check"
    target: Any = None
    tol: float | None = None
    inverts: str | None = None
    margin: float | None = None

    def to_dict(self) -> dict:
        from probes.result import jsonable

        return {"quantity": self.quantity, "expected": self.expected, "measured": self.measured,
                "passed": self.passed, "control": self.control, "relation": self.relation,
                "tol": jsonable(self.tol), "inverts": self.inverts, "margin": jsonable(self.margin),
                "measured_value": jsonable(self.measured_value)}


def _margin_close(measured, expected, tol):
    return (tol - abs(measured - expected)) / tol if tol > 0 else None


def _margin_bound(gap, bound):
    scale = abs(bound) if bound else 1.0
    return gap / scale


@dataclass
class ClaimRecorder:
    """Records the checks of one claim; every check asserts immediately.

    Checks made through :attr:`control` are the negative control. Each control check
    names the main check it inverts (``inverts="quantity of that check"``) and asserts
    the opposite relation on the same quantity: ``close`` ↔ ``far`` (tolerance at
    least the main one's), ``less`` ↔ ``greater`` (bound on the far side of the main
    bound), ``equal`` ↔ ``not_equal``, ``is_in`` ↔ ``not_in``, ``contains`` ↔ ``lacks``,
    ``satisfies`` ↔ ``violates`` (the same predicate). A control that merely passes is
    a :class:`ClaimContractError`. Every check fails on a non-finite measured value
    unless ``allow_nonfinite=True`` says the expectation itself is non-finite.
    """

    id: str
    source: Source
    statement: str
    attribution: str = "paper"
    checks: list[Check] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    dtype: str = "float64"
    notes: list[str] = field(default_factory=list)
    seed_offset: int = 0
    violations: list[str] = field(default_factory=list)
    _is_control: bool = False

    @property
    def control(self) -> "ClaimRecorder":
        """The same recorder, marking its checks as the negative control."""
        view = ClaimRecorder.__new__(ClaimRecorder)
        view.__dict__.update(self.__dict__)
        view._is_control = True
        return view

    # -- bookkeeping --------------------------------------------------------
    def seed(self, *seeds: int) -> int | tuple[int, ...]:
        """Declare the seeds this claim uses and get the ones to use.

        ``s = claim.seed(0)`` returns 0 in a plain run and 0 + k under
        ``--claims-seeds ...,k,...``; pass the returned seeds to the probes.
        """
        out = tuple(int(s) + self.seed_offset for s in seeds)
        for s in out:
            if s not in self.seeds:
                self.seeds.append(s)
        return out[0] if len(out) == 1 else out

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _violation(self, message: str) -> ClaimContractError:
        """Record a broken rule (so that a test catching AssertionError cannot hide it) and return the error."""
        self.violations.append(message)
        return ClaimContractError(message)

    def _main(self, name: str) -> Check:
        for c in self.checks:
            if not c.control and c.quantity == name:
                return c
        mains = [c.quantity for c in self.checks if not c.control]
        raise self._violation(f"[{self.id}] control inverts {name!r}, but no main check has that quantity "
                                 f"(main checks so far: {mains})")

    def _pair(self, relation: str, target: Any, tol: float | None, inverts: str | None) -> None:
        """Enforce that a control check inverts a named main check on the same quantity."""
        if not self._is_control:
            if inverts is not None:
                raise self._violation(f"[{self.id}] only a control check names the check it inverts")
            return
        if inverts is None:
            raise self._violation(f"[{self.id}] control check ({relation}) must name the main check it inverts: "
                                     f"claim.control.{relation}(..., inverts='quantity of the main check')")
        main = self._main(inverts)
        if INVERSE.get(main.relation) != relation:
            raise self._violation(
                f"[{self.id}] control on {inverts!r} asserts '{relation}', which does not invert the main check's "
                f"'{main.relation}' (the inverse is '{INVERSE.get(main.relation, 'none: use a typed check')}')")
        ok = True
        if relation in ("far", "close"):
            ok = _same(target, main.target) and (tol is not None and main.tol is not None
                                                 and (tol >= main.tol if relation == "far" else tol <= main.tol))
        elif relation == "greater":       # main: measured < b; control: measured > b' with b' >= b
            ok = target >= main.target
        elif relation == "less":          # main: measured > b; control: measured < b' with b' <= b
            ok = target <= main.target
        elif relation in ("satisfies", "violates"):
            ok = target is main.target
        else:
            ok = _same(target, main.target)
        if not ok:
            raise self._violation(
                f"[{self.id}] control on {inverts!r} ({relation} {_fmt(target)}"
                f"{'' if tol is None else f' ± {_fmt(tol)}'}) does not assert the opposite of the main check "
                f"({main.relation} {_fmt(main.target)}{'' if main.tol is None else f' ± {_fmt(main.tol)}'})")

    def _record(self, quantity: str, expected: str, measured: Any, passed: bool, *, relation: str = "check",
                target: Any = None, tol: float | None = None, inverts: str | None = None,
                margin: float | None = None, allow_nonfinite: bool = False) -> None:
        self._pair(relation, target, tol, inverts)
        nonfinite = not _finite(measured)
        if nonfinite and not allow_nonfinite:
            passed, margin = False, None
            expected = f"{expected} (a finite value)"
        chk = Check(quantity, expected, _fmt(measured), bool(passed), self._is_control, measured, relation, target,
                    tol, inverts, margin)
        self.checks.append(chk)
        if not passed:
            role = "negative control" if self._is_control else "claim"
            why = " (non-finite: no verdict from NaN/Inf)" if nonfinite and not allow_nonfinite else ""
            raise AssertionError(
                f"[{self.id}] {role} check failed: {quantity}: expected {expected}, measured {chk.measured}{why}")

    # -- checks ---------------------------------------------------------------
    def check(self, quantity: str, measured: Any, expected: str, passed: bool) -> None:
        """General form for a main check: ``passed`` decided by the caller, ``expected`` in words.

        It has no inverse, so no control can name it; prefer a typed check.
        """
        if self._is_control:
            raise self._violation(f"[{self.id}] a control must use a typed check that inverts a main check, "
                                     f"not check(); see ClaimRecorder")
        self._record(quantity, expected, measured, passed)

    def _tolerance(self, expected: float, rtol: float, atol: float, se: float | None, z: float | None) -> tuple[float, str]:
        if se is not None or z is not None:
            if se is None or z is None or not (se >= 0 and math.isfinite(se)) or z <= 0:
                raise self._violation(f"[{self.id}] a standard-error tolerance needs a finite se >= 0 and a stated multiple z > 0")
            tol = z * se + atol
            return tol, f"{_fmt(z)}·SE (SE {_fmt(se)}){f' + {_fmt(atol)}' if atol else ''}"
        if rtol == 0 and atol == 0:
            raise self._violation(f"[{self.id}] close()/far() need a stated tolerance (rtol, atol, or se with z)")
        tol = atol + rtol * abs(expected)
        return tol, _fmt(tol)

    def close(self, quantity: str, measured: float, expected: float, *, rtol: float = 0.0, atol: float = 0.0,
              se: float | None = None, z: float | None = None, inverts: str | None = None) -> None:
        """|measured − expected| ≤ tol; tol = atol + rtol·|expected|, or z·SE for a Monte-Carlo quantity."""
        tol, desc = self._tolerance(expected, rtol, atol, se, z)
        ok = _finite(measured) and abs(measured - expected) <= tol
        self._record(quantity, f"{_fmt(expected)} ± {desc}", measured, ok, relation="close", target=expected,
                     tol=tol, inverts=inverts,
                     margin=_margin_close(measured, expected, tol) if _finite(measured) else None)

    def far(self, quantity: str, measured: float, expected: float, *, rtol: float = 0.0, atol: float = 0.0,
            se: float | None = None, z: float | None = None, inverts: str | None = None) -> None:
        """|measured − expected| > tol (the inverse of :meth:`close`); NaN is not far, it fails."""
        tol, desc = self._tolerance(expected, rtol, atol, se, z)
        ok = _finite(measured) and abs(measured - expected) > tol
        self._record(quantity, f"not {_fmt(expected)} ± {desc}", measured, ok, relation="far", target=expected,
                     tol=tol, inverts=inverts,
                     margin=-_margin_close(measured, expected, tol) if _finite(measured) and tol > 0 else None)

    def less(self, quantity: str, measured: float, bound: float, *, inverts: str | None = None) -> None:
        ok = _finite(measured) and measured < bound
        self._record(quantity, f"< {_fmt(bound)}", measured, ok, relation="less", target=bound, inverts=inverts,
                     margin=_margin_bound(bound - measured, bound) if _finite(measured) else None)

    def greater(self, quantity: str, measured: float, bound: float, *, inverts: str | None = None) -> None:
        ok = _finite(measured) and measured > bound
        self._record(quantity, f"> {_fmt(bound)}", measured, ok, relation="greater", target=bound, inverts=inverts,
                     margin=_margin_bound(measured - bound, bound) if _finite(measured) else None)

    def equal(self, quantity: str, measured: Any, expected: Any, *, inverts: str | None = None) -> None:
        self._record(quantity, _fmt(expected), measured, _finite(measured) and measured == expected,
                     relation="equal", target=expected, inverts=inverts)

    def not_equal(self, quantity: str, measured: Any, expected: Any, *, inverts: str | None = None) -> None:
        self._record(quantity, f"not {_fmt(expected)}", measured, _finite(measured) and measured != expected,
                     relation="not_equal", target=expected, inverts=inverts)

    def is_in(self, quantity: str, measured: Any, allowed, *, inverts: str | None = None) -> None:
        allowed = tuple(allowed)
        self._record(quantity, f"one of {_fmt(list(allowed))}", measured, _finite(measured) and measured in allowed,
                     relation="is_in", target=allowed, inverts=inverts)

    def not_in(self, quantity: str, measured: Any, excluded, *, inverts: str | None = None) -> None:
        excluded = tuple(excluded)
        self._record(quantity, f"none of {_fmt(list(excluded))}", measured,
                     _finite(measured) and measured not in excluded, relation="not_in", target=excluded,
                     inverts=inverts)

    def contains(self, quantity: str, measured, item: Any, *, inverts: str | None = None) -> None:
        """``item`` is among the measured values (e.g. the rescues a verdict lists)."""
        measured = list(measured)
        self._record(quantity, f"includes {_fmt(item)}", measured, _finite(measured) and item in measured,
                     relation="contains", target=item, inverts=inverts)

    def lacks(self, quantity: str, measured, item: Any, *, inverts: str | None = None) -> None:
        measured = list(measured)
        self._record(quantity, f"excludes {_fmt(item)}", measured, _finite(measured) and item not in measured,
                     relation="lacks", target=item, inverts=inverts)

    def satisfies(self, quantity: str, measured: Any, predicate: Callable[[Any], bool], expected: str, *,
                  inverts: str | None = None) -> None:
        self._record(quantity, expected, measured, _finite(measured) and bool(predicate(measured)),
                     relation="satisfies", target=predicate, inverts=inverts)

    def violates(self, quantity: str, measured: Any, predicate: Callable[[Any], bool], expected: str, *,
                 inverts: str | None = None) -> None:
        """The inverse of :meth:`satisfies`, with the same predicate object."""
        self._record(quantity, f"not ({expected})", measured, _finite(measured) and not bool(predicate(measured)),
                     relation="violates", target=predicate, inverts=inverts)

    # -- summary ----------------------------------------------------------------
    def worst_margin(self) -> tuple[float | None, str | None]:
        """The smallest margin over the checks that have one, and the quantity it belongs to."""
        rows = [(c.margin, c.quantity) for c in self.checks if c.margin is not None]
        if not rows:
            return None, None
        return min(rows, key=lambda r: r[0])


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and the like
        return a is b


def claim(id: str, source: Source, statement: str, *, attribution: str, refuted: str | None = None,
          **extra) -> Callable:
    """Mark a test as a paper claim with a stable ``id``, its ``source``, a one-line ``statement`` and its
    ``attribution``: ``"paper"`` (it reproduces the source's own statement) or ``"derived"`` (attnprobe's own
    law, building on the source).

    ``refuted="what was measured"``: the claim as stated was published but does not hold; it keeps its id
    and statement, still runs, and must keep failing (a strict xfail): the claims table shows it as
    ``refuted`` with the reason, a finding rather than a silent removal. A corrected claim gets a new id.
    """
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"claim {id}: attribution must be one of {ATTRIBUTIONS} ('paper': the source's own "
                         f"statement; 'derived': attnprobe's law built on it), got {attribution!r}")
    if not CLAIM_ID_RE.match(id):
        raise ValueError(f"claim id {id!r} must be lower-case words joined by '-' (e.g. su2022-rpe-position-counting)")
    if not isinstance(source, Source):
        raise TypeError(f"claim {id}: source must be a paper_checks.claims.Source, got {type(source).__name__}")
    statement = " ".join(statement.split())
    mark = pytest.mark.claim(id=id, source=source, statement=statement, attribution=attribution,
                             refuted=refuted, **extra)
    if refuted is None:
        return mark
    if not str(refuted).strip():
        raise ValueError(f"claim {id}: refuted= must say what was measured")

    def decorate(test):
        return pytest.mark.xfail(strict=True, reason=f"refuted: {refuted}")(mark(test))

    return decorate
