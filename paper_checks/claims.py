"""The claims registry: cite, state, check.

A claim is a pytest test decorated with :func:`claim` and taking the ``claim``
fixture (a :class:`ClaimRecorder`). Each check records the expected and the
measured value and fails with a message naming both::

    from paper_checks.claims import Source, claim

    SU_9105 = Source("Su Jianlin", 2022, "A theoretical defect of RPE ...",
                     "https://kexue.fm/archives/9105", section="§2")

    @claim("su2022-rpe-position-counting", SU_9105,
           "Identical tokens stay identical through a relative-PE Transformer.")
    def test_rpe_cannot_count(claim):
        r = position_counting.probe(zoo.build("rope"), seed=0)
        claim.equal("verdict (rope)", r.verdict, "cannot-count")
        claim.control.not_equal("verdict (rope + absolute PE)", r2.verdict, "cannot-count")

Checks made through ``claim.control`` are the *negative control*: the same
check where the theorem's premise is broken, which must come out the other way.
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

__all__ = ["Source", "Check", "ClaimRecorder", "claim", "CLAIM_ID_RE"]

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


@dataclass(frozen=True)
class Check:
    """One recorded comparison of a measured value against an expectation."""

    quantity: str
    expected: str
    measured: str
    passed: bool
    control: bool = False
    measured_value: Any = None

    def to_dict(self) -> dict:
        from probes.result import jsonable

        return {"quantity": self.quantity, "expected": self.expected, "measured": self.measured,
                "passed": self.passed, "control": self.control,
                "measured_value": jsonable(self.measured_value)}


@dataclass
class ClaimRecorder:
    """Records the checks of one claim; every check asserts immediately."""

    id: str
    source: Source
    statement: str
    checks: list[Check] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    dtype: str = "float64"
    notes: list[str] = field(default_factory=list)
    _is_control: bool = False

    @property
    def control(self) -> "ClaimRecorder":
        """The same recorder, marking its checks as the negative control."""
        view = ClaimRecorder.__new__(ClaimRecorder)
        view.__dict__.update(self.__dict__)
        view._is_control = True
        return view

    # -- bookkeeping --------------------------------------------------------
    def seed(self, *seeds: int) -> None:
        for s in seeds:
            if s not in self.seeds:
                self.seeds.append(int(s))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _record(self, quantity: str, expected: str, measured: Any, passed: bool) -> None:
        chk = Check(quantity, expected, _fmt(measured), bool(passed), self._is_control, measured)
        self.checks.append(chk)
        if not passed:
            role = "negative control" if self._is_control else "claim"
            raise AssertionError(
                f"[{self.id}] {role} check failed: {quantity}: expected {expected}, measured {chk.measured}")

    # -- checks ---------------------------------------------------------------
    def check(self, quantity: str, measured: Any, expected: str, passed: bool) -> None:
        """General form: ``passed`` decided by the caller, ``expected`` described in words."""
        self._record(quantity, expected, measured, passed)

    def close(self, quantity: str, measured: float, expected: float, *, rtol: float = 0.0,
              atol: float = 0.0) -> None:
        if rtol == 0 and atol == 0:
            raise ValueError("close() needs a stated tolerance (rtol or atol)")
        tol = atol + rtol * abs(expected)
        ok = math.isfinite(measured) and abs(measured - expected) <= tol
        desc = f"{_fmt(expected)} ± {_fmt(tol)}"
        self._record(quantity, desc, measured, ok)

    def far(self, quantity: str, measured: float, expected: float, *, rtol: float = 0.0,
            atol: float = 0.0) -> None:
        """The negation of :meth:`close` (for controls): outside the tolerance."""
        tol = atol + rtol * abs(expected)
        ok = (not math.isfinite(measured)) or abs(measured - expected) > tol
        self._record(quantity, f"not {_fmt(expected)} ± {_fmt(tol)}", measured, ok)

    def less(self, quantity: str, measured: float, bound: float) -> None:
        self._record(quantity, f"< {_fmt(bound)}", measured, measured < bound)

    def greater(self, quantity: str, measured: float, bound: float) -> None:
        self._record(quantity, f"> {_fmt(bound)}", measured, measured > bound)

    def equal(self, quantity: str, measured: Any, expected: Any) -> None:
        self._record(quantity, _fmt(expected), measured, measured == expected)

    def not_equal(self, quantity: str, measured: Any, expected: Any) -> None:
        self._record(quantity, f"not {_fmt(expected)}", measured, measured != expected)

    def is_in(self, quantity: str, measured: Any, allowed) -> None:
        self._record(quantity, f"one of {_fmt(list(allowed))}", measured, measured in allowed)

    def satisfies(self, quantity: str, measured: Any, predicate: Callable[[Any], bool], expected: str) -> None:
        self._record(quantity, expected, measured, bool(predicate(measured)))


def claim(id: str, source: Source, statement: str, **extra) -> Callable:
    """Mark a test as a paper claim with a stable ``id``, its ``source`` and a one-line ``statement``."""
    if not CLAIM_ID_RE.match(id):
        raise ValueError(f"claim id {id!r} must be lower-case words joined by '-' (e.g. su2022-rpe-position-counting)")
    if not isinstance(source, Source):
        raise TypeError(f"claim {id}: source must be a paper_checks.claims.Source, got {type(source).__name__}")
    statement = " ".join(statement.split())
    return pytest.mark.claim(id=id, source=source, statement=statement, **extra)
