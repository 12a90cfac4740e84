"""Put attnprobe's checks in your own pytest suite (scikit-learn's ``parametrize_with_checks``, for attention).

Three lines in a test file give one test per (design, property)::

    from probes.testing import parametrize_with_checks

    @parametrize_with_checks(["my_design.py:make", "rope-causal"], expected_failures={"entropy": "log n scaling"})
    def test_attention(design, check):
        check(design)

A check loads the design once (as ``attnprobe audit`` would: parameters re-drawn from ``seed``,
eval mode, float64), runs one registered probe (:data:`probes.registry.PROBES`) and

* **skips** when the probe does not apply to the design (the reason is the skip message);
* **fails** when the measurement diverges (NaN/Inf), the design's own code fails, or the measured
  verdict disagrees with the theory row of the zoo design it resembles (the message says what was
  expected and what was measured);
* **passes** otherwise (a design with no theory row passes on a finite, valid verdict).

``expected_failures`` maps a probe name, or a ``(design, probe)`` pair, to the reason: that test is
an ``xfail`` with the reason, strict (it must keep failing, so a fixed design is noticed).
Options default to :data:`QUICK` (small sizes that keep a check to seconds); pass ``options`` to
change them (any ``attnprobe audit`` option, with ``-`` written ``_``).
"""
from __future__ import annotations

import functools
from typing import Callable, Iterable, Mapping

__all__ = ["parametrize_with_checks", "Check", "QUICK", "check_design"]

#: small sizes for checks in a test suite and for ``attnprobe bench`` (each probe's defaults otherwise)
QUICK: dict = {
    "entropy_rows": 128, "entropy_max_log2n": 14,
    "capture_rows": 16, "capture_max_log2n": 11,
    "depth_seeds": 2, "depth_d_model": 32,
    "gd_depths": "6,12,24", "ud_depths": "6,12,24", "collapse_layers": 24,
    "hub_n": 256, "null_max_log2n": 10,
}


@functools.lru_cache(maxsize=32)
def _subject(design, seed: int, dtype: str, device: str):
    from probes.designs.loading import load_design
    from probes.dtypes import parse_dtype

    return load_design(design, seed=seed, dtype=parse_dtype(dtype), device=device)


class Check:
    """One property check: ``check(design)`` runs the probe ``name`` on ``design`` and asserts (see the module)."""

    def __init__(self, name: str, options: Mapping | None = None):
        from probes.registry import get

        self.probe = get(name)
        self.name = name
        self.options = {**QUICK, **dict(options or {})}

    def __repr__(self) -> str:
        return self.name

    def __call__(self, design):
        import pytest

        from probes.designs.loading import Subject
        from probes.errors import InputError, NotApplicable

        o = self.probe.options(self.options)
        dtype = str(o["dtype"]).replace("torch.", "")
        try:
            subject = design if isinstance(design, Subject) else _subject(design, int(o["seed"]), dtype,
                                                                          str(o["device"]))
        except InputError as exc:
            pytest.fail(f"{design}: cannot be loaded: {exc}", pytrace=False)
        ok, why = self.probe.applies_to(subject, o)
        if not ok:
            pytest.skip(f"{self.name} does not apply to {subject.name}: {why}")
        try:
            result = self.probe.run(subject, o)
        except NotApplicable as exc:
            pytest.skip(f"{self.name} does not apply to {subject.name}: {exc}")
        except InputError as exc:  # Diverged included: no verdict from NaN
            pytest.fail(f"{self.name} on {subject.name}: {exc}", pytrace=False)
        except Exception as exc:
            msg = subject.design_failure(exc, f"the {self.name} check")
            if msg is None:
                raise
            pytest.fail(msg, pytrace=False)
        s = self.probe.summary(result)
        if s.agrees is False:
            pytest.fail(f"{self.name} on {subject.name}: theory ({s.theory}) predicts a different verdict than the "
                        f"one measured ({s.verdict}; {s.key_figure})", pytrace=False)
        return result


def check_design(design, name: str, options: Mapping | None = None):
    """Run one check outside the decorator (raises pytest's outcomes like a test would)."""
    return Check(name, options)(design)


def _design_id(design) -> str:
    if isinstance(design, str):
        return design.rsplit("/", 1)[-1]
    return f"{getattr(design, 'name', None) or type(design).__name__}-module"


def parametrize_with_checks(designs: Iterable, *, probes: Iterable[str] | None = None,
                            expected_failures: Mapping | None = None,
                            options: Mapping | None = None) -> Callable:
    """A decorator parametrizing ``test(design, check)`` over designs × registered probes (see the module)."""
    import pytest

    from probes.registry import PROBES, get

    names = list(probes) if probes is not None else list(PROBES)
    for n in names:
        get(n)  # an unknown probe name is a clear error at collection
    expected = dict(expected_failures or {})
    unknown = [k for k in expected if (k if isinstance(k, str) else k[1]) not in names]
    if unknown:
        raise ValueError(f"expected_failures names probes that are not checked: {unknown}; checked: {names}")
    params = []
    for design in list(designs):
        for n in names:
            try:
                reason = expected.get((design, n), expected.get(n))
            except TypeError:  # an unhashable design: only probe-wide expectations apply
                reason = expected.get(n)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            params.append(pytest.param(design, Check(n, options), marks=marks, id=f"{_design_id(design)}-{n}"))
    return pytest.mark.parametrize("design, check", params)
