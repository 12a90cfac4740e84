"""The probe contract: one small ABC every audit probe implements (the scikit-learn estimator idea).

A probe is an object with

* ``name`` (the ``--probe`` name, e.g. ``"entropy"``), ``json_key`` (its key in ``--json`` and
  ``report.json``), ``title`` (the property, for the audit table) and ``verdicts`` (its fixed
  vocabulary);
* ``applies_to(subject) -> (bool, reason)``: decided from the subject's declared tags
  (:class:`probes.designs.tags.Tags`) and what the subject is, never by running the probe;
* ``add_arguments(group)``: its options, added to an argparse group the CLI owns (the probe
  parses nothing; :meth:`Probe.defaults` reads the same declarations with no arguments, so a
  default is written once);
* ``run(subject, options) -> Result``: ``options`` holds its own option names plus ``seed``,
  ``dtype`` (a ``torch.dtype`` or a name) and ``device``; missing ones take their defaults;
* ``markdown(result) -> str`` and ``plots(result, out_dir) -> list[Path]`` for ``--out``;
* ``summary(result) -> Summary``: the row of the one-table audit (verdict, key figure, theory
  prediction, agrees?).

The registry every caller reads (CLI, audit table, tests) is :data:`probes.registry.PROBES`.
``smoke_options`` and ``example_design`` are the tiny settings the contract meta-test
(``tests/test_probe_contract.py``) runs each probe with.
"""
from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

__all__ = ["Probe", "Summary", "COMMON_OPTIONS", "subject_of"]

# the options every probe receives; the CLI sets them from --seed/--dtype/--device
COMMON_OPTIONS: dict[str, Any] = {"seed": 0, "dtype": "float64", "device": "cpu"}


@dataclass(frozen=True)
class Summary:
    """One row of the audit table."""

    verdict: str
    key_figure: str
    theory: str          # the theory's prediction for this design ("—" where there is none)
    agrees: bool | None  # measured verdict = theory's (None: no theory row)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "key_figure": self.key_figure, "theory": self.theory,
                "agrees": self.agrees}


def subject_of(obj):
    """``obj`` if it is an audit :class:`~probes.designs.loading.Subject`, else None."""
    from probes.designs.loading import Subject

    return obj if isinstance(obj, Subject) else None


class Probe(ABC):
    """Base class of the audit probes (see the module docstring)."""

    name: ClassVar[str]
    json_key: ClassVar[str]
    title: ClassVar[str]
    verdicts: ClassVar[tuple[str, ...]] = ()
    example_design: ClassVar[str] = "rope"          # a zoo design the probe applies to
    smoke_options: ClassVar[dict] = {}              # tiny settings for the contract test

    # -- applicability ------------------------------------------------------------------------
    def applies_to(self, subject, options: Mapping | None = None) -> tuple[bool, str]:
        """(True, "") or (False, why); the default needs an audit Subject (a loaded design)."""
        if subject_of(subject) is None:
            return False, (f"{self.name} audits a loaded design (probes.designs.loading.load_design), "
                           f"not a {type(subject).__name__}")
        return True, ""

    # -- options ---------------------------------------------------------------------------------
    def add_arguments(self, group) -> None:
        """Add this probe's options to ``group`` (an argparse argument group); default: none."""

    def defaults(self) -> dict:
        """This probe's options at their defaults: :meth:`add_arguments` parsed with no arguments."""
        parser = argparse.ArgumentParser(add_help=False)
        self.add_arguments(parser.add_argument_group(self.name))
        return vars(parser.parse_args([]))

    def options(self, options: Mapping | None = None, **overrides) -> dict:
        """``options`` (e.g. the CLI's namespace as a dict) completed with the defaults, ``dtype`` parsed."""
        from probes.dtypes import parse_dtype

        out = {**COMMON_OPTIONS, **self.defaults()}
        out.update({k: v for k, v in dict(options or {}).items() if v is not None or k not in out})
        out.update(overrides)
        out["dtype"] = parse_dtype(out["dtype"])
        return out

    # -- running and reporting --------------------------------------------------------------------
    @abstractmethod
    def run(self, subject, options: Mapping | None = None):
        """The probe's :class:`~probes.result.Result` for ``subject``."""

    def markdown(self, result) -> str:
        """A Markdown section for ``report.md`` (default: the result's table in a code block)."""
        return "```\n" + str(result) + "\n```"

    def plots(self, result, out_dir) -> list[Path]:
        """PNG files written into ``out_dir`` (default: none)."""
        return []

    @abstractmethod
    def summary(self, result) -> Summary:
        """The audit-table row of ``result``."""

    def __repr__(self) -> str:
        return f"<probe {self.name}>"
