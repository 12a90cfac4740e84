"""Every registered probe against the probe contract (scikit-learn's ``check_estimator`` idea, for our probes).

For each entry of :data:`probes.registry.PROBES`: the required attributes, options that all
have defaults and parse from the command line, ``applies_to`` on its zoo design and on subjects
it cannot take, and a tiny run (``smoke_options``) whose result is a frozen
:class:`probes.result.Result` with JSON-serialisable ``to_dict()``, a ``summary()`` of the right
shape, Markdown and PNG plots — the same for the same seed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from probes.contract import COMMON_OPTIONS, Probe, Summary
from probes.designs.loading import load_design
from probes.designs.zoo import parse
from probes.registry import PROBES
from probes.result import Result

ALL = sorted(PROBES)


@pytest.fixture(scope="module")
def smoke_runs():
    """One tiny run per probe, shared by the checks below (built lazily, once)."""
    cache: dict = {}

    def get(name):
        if name not in cache:
            p = PROBES[name]
            subject = load_design(p.example_design, seed=0)
            cache[name] = (subject, p.run(subject, p.options(p.smoke_options)))
        return cache[name]

    return get


class _Plain(nn.Module):
    """A user's module with no attention, no norm and no depth: what most probes must refuse."""

    d_model = 8

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(x)


# -- attributes and options -----------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_required_attributes(name):
    p = PROBES[name]
    assert isinstance(p, Probe) and p.name == name
    assert isinstance(p.json_key, str) and p.json_key.isidentifier()
    assert isinstance(p.title, str) and p.title
    assert p.verdicts and all(isinstance(v, str) and v for v in p.verdicts)
    parse(p.example_design)  # a zoo name
    for meth in ("applies_to", "add_arguments", "run", "markdown", "plots", "summary"):
        assert callable(getattr(p, meth)), meth
    assert len({q.json_key for q in PROBES.values()}) == len(PROBES)


@pytest.mark.parametrize("name", ALL)
def test_options_all_have_defaults_and_are_flags(name):
    p = PROBES[name]
    parser = argparse.ArgumentParser(add_help=False)
    p.add_arguments(parser.add_argument_group(name))
    actions = [a for a in parser._actions]
    assert all(a.option_strings and all(s.startswith("--") for s in a.option_strings) for a in actions), \
        "options are --flags (no positionals)"
    assert not any(a.required for a in actions)
    d = p.defaults()
    assert set(d) == {a.dest for a in actions}
    assert set(p.smoke_options) <= set(d), "smoke options must be the probe's own"
    assert not set(d) & set(COMMON_OPTIONS), "seed/dtype/device come from the audit, not the probe"
    full = p.options()
    assert full["dtype"].is_floating_point and full["seed"] == 0 and {**d, **COMMON_OPTIONS}.keys() <= full.keys()


def test_no_two_probes_claim_one_option_differently():
    seen: dict[str, tuple[str, object]] = {}
    for p in PROBES.values():
        for k, v in p.defaults().items():
            if k in seen:
                assert seen[k][1] == v, f"{k}: {seen[k][0]} and {p.name} disagree on the default"
            seen[k] = (p.name, v)


# -- applicability ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_applies_to_its_zoo_design_and_refuses_what_is_not_a_design(name):
    p = PROBES[name]
    ok, why = p.applies_to(load_design(p.example_design, seed=0))
    assert ok is True and why == ""
    for other in (object(), "rope", nn.Linear(4, 4)):
        ok, why = p.applies_to(other)
        assert ok is False and isinstance(why, str) and why


REFUSES = {  # a loaded design each probe must refuse, and a word of its reason
    "entropy": (_Plain, "no attention computation was seen"),
    "key-hubness": (_Plain, "no attention computation was seen"),
    "attend-to-nothing": (_Plain, "no attention computation was seen"),
    "norm-invariance": (_Plain, "no normalisation module"),
    "gradient-depth": ("rope", "not a depth stack"),
    "update-depth": ("rope", "not a depth stack"),
    "collapse": ("rope", "not a depth stack"),
}


@pytest.mark.parametrize("name", sorted(REFUSES))
def test_refuses_a_design_outside_its_premise_with_the_reason(name):
    design, word = REFUSES[name]
    subject = load_design(design() if isinstance(design, type) else design, seed=0)
    ok, why = PROBES[name].applies_to(subject)
    assert ok is False and word in why


def test_every_probe_but_position_counting_refuses_something():
    assert set(REFUSES) | {"position-counting"} == set(PROBES)
    assert PROBES["position-counting"].applies_to(load_design(_Plain()))[0]   # any (b, n, d) → (b, n, d) map


# -- a tiny run -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_run_gives_a_frozen_result_with_json(name, smoke_runs):
    _, res = smoke_runs(name)
    assert isinstance(res, Result) and dataclasses.is_dataclass(res)
    assert type(res).__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(res, dataclasses.fields(res)[0].name, None)
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)  # plain JSON: no NaN/Inf tokens, no numpy/torch objects
    assert json.loads(text) == d
    for key in ("dtype", "device"):
        assert key in d, f"a result records its {key}"
    assert "seed" in d or "seeds" in d, "a result records its seed(s)"
    assert str(res)


@pytest.mark.parametrize("name", ALL)
def test_summary_markdown_and_plots(name, smoke_runs, tmp_path):
    p = PROBES[name]
    _, res = smoke_runs(name)
    s = p.summary(res)
    assert isinstance(s, Summary)
    assert all(isinstance(x, str) and x for x in (s.verdict, s.key_figure, s.theory))
    assert s.agrees in (True, False, None)
    assert any(v in s.verdict for v in p.verdicts), f"{s.verdict!r} uses none of {p.verdicts}"
    assert any(ch.isdigit() for ch in s.key_figure), "the key figure is a number"
    md = p.markdown(res)
    assert isinstance(md, str) and md.strip()
    pytest.importorskip("matplotlib")
    paths = p.plots(res, tmp_path)
    assert paths, "every probe has at least one plot"
    for path in paths:
        path = Path(path)
        assert path.parent == tmp_path and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_result(name, smoke_runs):
    p = PROBES[name]
    subject, first = smoke_runs(name)
    again = p.run(load_design(p.example_design, seed=0), p.options(p.smoke_options))

    def close(a, b):
        if isinstance(a, float) and isinstance(b, float):
            return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12 * max(1.0, abs(a))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
        return a == b

    assert close(first.to_dict(), again.to_dict())


def test_the_cli_reads_the_registry_and_its_help_does_no_symbolic_work():
    code = ("import sys; from probes.cli import build_parser; p = build_parser(); "
            "print(sorted(a for a in ('sympy', 'scipy', 'matplotlib') if a in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
