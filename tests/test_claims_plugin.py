"""The claims plugin: table, reports, seeds, the cheap listing, and the rules a claim must follow."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from paper_checks.claims import ClaimContractError, ClaimRecorder, Source, claim

ROOT = Path(__file__).resolve().parents[1]

HEADER = '''
from paper_checks.claims import Source, claim
SRC = Source("A. Author, B. Author", 2024, "A title", "arXiv:0000.00000", "§1")
'''


def _run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", *args)


# -- the table and the reports ----------------------------------------------------------------------
def test_claim_with_control_passes_and_reports(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-thing-holds", SRC, "The thing holds.", attribution="paper")
def test_thing(claim):
    claim.seed(3)
    claim.close("value", 1.0 + 1e-9, 1.0, atol=1e-6)
    claim.control.far("value without the premise", 5.0, 1.0, atol=1e-6, inverts="value")

@claim("author2024-our-law", SRC, "Our law built on it.", attribution="derived")
def test_law(claim):
    claim.less("gap", 0.1, 1.0)
    claim.control.greater("gap without the premise", 3.0, 1.0, inverts="gap")
''')
    res = _run(pytester, "--claims-report", "out.json", "--claims-report", "out.md")
    res.assert_outcomes(passed=2)
    res.stdout.fnmatch_lines(["*attnprobe claims*", "claim*attr*source*check*",
                              "*author2024-our-law*derived*gap*pass*", "*control: gap without*flips*",
                              "*author2024-thing-holds*paper*pass*", "*control: value without*flips*",
                              "*2/2 claims hold (1/1 paper, 1/1 derived)*"])
    data = json.loads((pytester.path / "out.json").read_text())
    assert data["environment"]["torch"] and data["attribution_counts"] == {"paper": 1, "derived": 1}
    rows = {r["id"]: r for r in data["claims"]}
    row = rows["author2024-thing-holds"]
    assert row["attribution"] == "paper" and rows["author2024-our-law"]["attribution"] == "derived"
    assert row["verdict"] == "pass" and row["seeds"] == [3]
    assert [c["control"] for c in row["checks"]] == [False, True]
    assert row["checks"][1]["inverts"] == "value" and row["worst_margin"]["check"] == "value"
    md = (pytester.path / "out.md").read_text()
    assert "| `author2024-thing-holds` | paper |" in md and "| `author2024-our-law` | derived |" in md
    assert "arXiv:0000.00000" in md and "(1/1 paper, 1/1 derived)" in md


def test_failed_check_names_expected_and_measured(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-thing-fails", SRC, "The thing holds.", attribution="paper")
def test_thing(claim):
    claim.less("value", 3.0, 2.0)
    claim.control.greater("never reached", 5.0, 2.0, inverts="value")
''')
    res = _run(pytester)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*value: expected < 2, measured 3*", "*author2024-thing-fails*FAIL*"])


def test_claim_without_control_is_an_error(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-no-control", SRC, "The thing holds.", attribution="paper")
def test_thing(claim):
    claim.equal("verdict", "a", "a")
''')
    res = _run(pytester)
    res.assert_outcomes(passed=1, errors=1)
    res.stdout.fnmatch_lines(["*has no negative control*", "*author2024-no-control*paper*", "*(claim did not finish)*CONTRACT"])


def test_duplicate_claim_ids_are_rejected(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-same", SRC, "One.", attribution="paper")
def test_one(claim):
    pass

@claim("author2024-same", SRC, "Two.", attribution="paper")
def test_two(claim):
    pass
''')
    res = _run(pytester)
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*used by two tests*"])


def test_bad_report_suffix(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    res = _run(pytester, "--claims-report", "out.txt")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*must end in .json or .md*"])


def test_plugin_is_silent_without_claims(pytester):
    pytester.makepyfile("def test_x():\n    assert sum([1, 2]) == 3\n")
    res = _run(pytester)
    res.assert_outcomes(passed=1)
    assert "attnprobe claims" not in res.stdout.str() and "claims hold" not in res.stdout.str()
    res = _run(pytester, "--claims-seeds", "0,1,2", "-v")  # no claim: nothing is parametrised, nothing printed
    res.assert_outcomes(passed=1)
    assert "[seed" not in res.stdout.str()
    assert "worst margin" not in res.stdout.str() and "claims hold" not in res.stdout.str()


# -- (i) a control that merely passes is rejected --------------------------------------------------
CONTROLS_THAT_MERELY_PASS = {
    "no_inverts": 'claim.control.greater("v, premise broken", 5.0, 2.0)',
    "same_relation": 'claim.control.close("v, premise broken", 1.0, 1.0, atol=0.1, inverts="v")',
    "far_with_a_smaller_tolerance": 'claim.control.far("v, premise broken", 1.5, 1.0, atol=0.01, inverts="v")',
    "far_from_another_value": 'claim.control.far("v, premise broken", 9.0, 5.0, atol=0.1, inverts="v")',
    "unknown_main_check": 'claim.control.far("v, premise broken", 9.0, 1.0, atol=0.1, inverts="no such check")',
    "bound_on_the_near_side": 'claim.control.less("w, premise broken", 0.05, 0.2, inverts="w")',
    "untyped_check": 'claim.control.check("v, premise broken", 9.0, "anything", True)',
    "other_predicate": 'claim.control.violates("p, premise broken", 3, lambda x: x > 2, "x > 2", inverts="p")',
}


@pytest.mark.parametrize("kind", sorted(CONTROLS_THAT_MERELY_PASS))
def test_a_control_that_merely_passes_is_rejected(pytester, kind):
    pytester.makepyfile(HEADER + f'''
def _positive(x):
    return x > 0

@claim("author2024-control-{kind.replace('_', '-')}", SRC, "The thing holds.", attribution="paper")
def test_thing(claim):
    claim.close("v", 1.0, 1.0, atol=0.1)
    claim.greater("w", 0.5, 0.1)
    claim.satisfies("p", 3, _positive, "x > 0")
    {CONTROLS_THAT_MERELY_PASS[kind]}
''')
    res = _run(pytester)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*ClaimContractError*", "*CONTRACT*"])


def test_a_caught_contract_error_still_fails_the_claim(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-swallowed", SRC, "The thing holds.", attribution="paper")
def test_thing(claim):
    claim.close("v", 1.0, 1.0, atol=0.1)
    try:
        claim.control.close("v, premise broken", 1.0, 1.0, atol=0.1, inverts="v")
    except AssertionError:
        pass
    claim.control.far("v, premise broken", 2.0, 1.0, atol=0.1, inverts="v")
''')
    res = _run(pytester)
    res.assert_outcomes(passed=1, errors=1)
    res.stdout.fnmatch_lines(["*broke the claims contract and the test went on*", "*CONTRACT*"])


def test_a_proper_pair_of_each_kind_is_accepted():
    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s", "paper")

    def pos(x):
        return x > 0

    rec.close("c", 1.0, 1.0, atol=0.1)
    rec.control.far("c'", 2.0, 1.0, atol=0.2, inverts="c")
    rec.less("l", 0.1, 1.0)
    rec.control.greater("l'", 3.0, 2.0, inverts="l")
    rec.greater("g", 3.0, 1.0)
    rec.control.less("g'", 0.1, 0.5, inverts="g")
    rec.equal("e", "a", "a")
    rec.control.not_equal("e'", "b", "a", inverts="e")
    rec.is_in("i", "a", ("a", "b"))
    rec.control.not_in("i'", "c", ("a", "b"), inverts="i")
    rec.contains("k", ["bos"], "bos")
    rec.control.lacks("k'", [], "bos", inverts="k")
    rec.satisfies("p", 1, pos, "x > 0")
    rec.control.violates("p'", -1, pos, "x > 0", inverts="p")
    assert sum(c.control for c in rec.checks) == 7 and not rec.violations


# -- (ii) a NaN measured value fails every check kind ----------------------------------------------
NAN_CHECKS = {
    "close": lambda r, v: r.close("q", v, 1.0, atol=1e9),
    "close_se": lambda r, v: r.close("q", v, 1.0, se=1.0, z=4),
    "far": lambda r, v: r.far("q", v, 1.0, atol=1e-9),
    "less": lambda r, v: r.less("q", v, 1e9),
    "greater": lambda r, v: r.greater("q", v, -1e9),
    "equal": lambda r, v: r.equal("q", v, v),
    "not_equal": lambda r, v: r.not_equal("q", v, 1.0),
    "is_in": lambda r, v: r.is_in("q", v, (v, 1.0)),
    "not_in": lambda r, v: r.not_in("q", v, (1.0,)),
    "contains": lambda r, v: r.contains("q", [v, 1.0], 1.0),
    "lacks": lambda r, v: r.lacks("q", [v], 1.0),
    "satisfies": lambda r, v: r.satisfies("q", v, lambda x: True, "anything"),
    "violates": lambda r, v: r.violates("q", v, lambda x: False, "nothing"),
    "check": lambda r, v: r.check("q", v, "anything", True),
}
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "numpy-nan": np.float64("nan"),
              "array": np.array([1.0, np.nan]), "tensor": torch.tensor([1.0, float("nan")]),
              "tuple": (1.0, math.nan)}


@pytest.mark.parametrize("value", sorted(NON_FINITE))
@pytest.mark.parametrize("kind", sorted(NAN_CHECKS))
def test_a_non_finite_measured_value_fails_every_check(kind, value):
    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s", "paper")
    with pytest.raises(AssertionError, match="non-finite"):
        NAN_CHECKS[kind](rec, NON_FINITE[value])
    assert not rec.checks[-1].passed and rec.checks[-1].margin is None


def test_a_non_finite_control_does_not_flip():
    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s", "paper")
    rec.close("q", 1.0, 1.0, atol=0.1)
    with pytest.raises(AssertionError, match="negative control check failed.*non-finite"):
        rec.control.far("q'", math.nan, 1.0, atol=0.1, inverts="q")
    rec.equal("v", "a", "a")
    with pytest.raises(AssertionError, match="non-finite"):
        rec.control.not_equal("v'", math.nan, "a", inverts="v")


def test_tolerances_are_stated_and_ids_are_checked():
    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s", "paper")
    with pytest.raises(ClaimContractError, match="tolerance"):
        rec.close("q", 1.0, 1.0)
    with pytest.raises(ClaimContractError, match="standard-error"):
        rec.close("q", 1.0, 1.0, se=0.1)
    rec.close("q", 1.0, 1.05, se=0.02, z=4)
    assert rec.checks[-1].tol == pytest.approx(0.08) and "4·SE" in rec.checks[-1].expected
    with pytest.raises(ValueError, match="lower-case"):
        claim("Not An Id", Source("A", 2020, "t", "r"), "s", attribution="paper")


def test_margins():
    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s", "paper")
    rec.close("c", 1.02, 1.0, atol=0.1)
    rec.less("l", 0.5, 1.0)
    rec.equal("e", 1, 1)
    assert rec.worst_margin() == (pytest.approx(0.5), "l")
    assert rec.checks[0].margin == pytest.approx(0.8) and rec.checks[2].margin is None


# -- (iii) attribution is required and reported ----------------------------------------------------
def test_attribution_is_required():
    with pytest.raises(TypeError, match="attribution"):
        claim("author2024-x", Source("A", 2020, "t", "r"), "s")
    with pytest.raises(ValueError, match="attribution must be one of"):
        claim("author2024-x", Source("A", 2020, "t", "r"), "s", attribution="folklore")


def test_a_bare_marker_without_attribution_is_rejected(pytester):
    pytester.makepyfile(HEADER + '''
import pytest

@pytest.mark.claim(id="author2024-bare", source=SRC, statement="No attribution.")
def test_thing(claim):
    claim.equal("v", 1, 1)
''')
    res = _run(pytester)
    res.assert_outcomes(errors=1)
    res.stdout.fnmatch_lines(["*attribution must be one of*"])


# -- --claims-seeds --------------------------------------------------------------------------------
def test_claims_seeds_report_the_worst_margin(pytester):
    pytester.makepyfile(HEADER + '''
import pytest

@claim("author2024-drifts", SRC, "A value below one.", attribution="derived")
def test_drifts(claim):
    s = claim.seed(0)
    claim.less("value", 0.2 * s, 0.5)
    claim.control.greater("value, premise broken", 9.0, 0.5, inverts="value")

@pytest.mark.parametrize("k", [1, 2], ids=["one", "two"])
@claim("author2024-steady", SRC, "Always fine.", attribution="paper")
def test_steady(claim, k):
    s = claim.seed(10)
    claim.close("exact", float(k), float(k), atol=0.1)
    claim.control.far("exact, premise broken", k + 1.0, float(k), atol=0.1, inverts="exact")
''')
    res = _run(pytester, "--claims-seeds", "0,1,3", "--no-claims-table", "--claims-report", "out.json", "-v")
    res.assert_outcomes(passed=8, failed=1)
    out = res.stdout.str()
    assert "test_drifts[seed3]" in out and "test_steady[seed1-one]" in out
    res.stdout.fnmatch_lines(["*worst margin over seed offsets 0,1,3*",
                              "author2024-drifts *derived*2/3*-0.200*value*3",
                              "author2024-steady[[]one[]]*paper*3/3*+1.000*exact*",
                              "author2024-steady[[]two[]]*paper*3/3*+1.000*exact*"])
    data = json.loads((pytester.path / "out.json").read_text())
    assert data["seed_offsets"] == [0, 1, 3]
    worst = {w["id"]: w for w in data["worst_margin_over_seeds"]}
    assert worst["author2024-drifts"]["failed_offsets"] == [3] and worst["author2024-drifts"]["at_offset"] == 3
    assert worst["author2024-drifts"]["worst_margin"] == pytest.approx(-0.2)
    seeds = sorted(r["seeds"][0] for r in data["claims"] if r["id"].startswith("author2024-drifts"))
    assert seeds == [0, 1, 3]


def test_claims_seeds_must_be_integers(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    res = _run(pytester, "--claims-seeds", "0,a")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*--claims-seeds*distinct integers*"])


# -- attnprobe claims: the listing reads the files, it does not run them ----------------------------
def _package(pytester) -> Path:
    pkg = pytester.mkpydir("claimpkg")
    (pkg / "_sources.py").write_text('''
from paper_checks.claims import Source

BASE = Source("C. Author and D. Author", 2021, "Base " "title", "arXiv:1111.11111", section="§2")
_PARTS = ("attnprobe", 2026, "Derived " + "law", "theory/x.py")
DERIVED = Source(*_PARTS, section="x-law")
COPY = Source(BASE.authors, 2021, BASE.title, BASE.ref, section="§3")
''')
    (pkg / "test_one.py").write_text('''
import pytest
from claimpkg._sources import BASE, COPY, DERIVED
from paper_checks.claims import Source, claim
LOCAL = Source("E. Author", 2020, "Local", "https://example.org").at("Fig. 1")

@claim("base2021-one", BASE.at("§4"), "Statement " "one.", attribution="paper")
def test_one(claim):
    pass

@pytest.mark.parametrize("k", [1, 2])
@claim("attnprobe2026-two", DERIVED, """Statement
    two.""", attribution="derived")
def test_two(claim, k):
    pass

class TestGroup:
    @claim("base2021-three", COPY, "Three.", attribution="paper")
    def test_three(self, claim):
        pass

@claim(id="local2020-four", source=LOCAL, statement="Four.", attribution="derived")
def test_four(claim):
    pass
''')
    return pkg


def test_the_ast_listing_resolves_sources_like_the_collection(pytester):
    from paper_checks.listing import list_claims

    pkg = _package(pytester)
    listed = list_claims(str(pkg))
    assert [c["id"] for c in listed] == ["attnprobe2026-two", "base2021-one", "base2021-three", "local2020-four"]
    by = {c["id"]: c for c in listed}
    assert by["base2021-one"]["source"]["section"] == "§4" and by["base2021-one"]["source"]["title"] == "Base title"
    assert by["attnprobe2026-two"]["source"]["title"] == "Derived law" and by["attnprobe2026-two"]["statement"] == \
        "Statement two."
    assert by["base2021-three"]["test"] == "claimpkg/test_one.py::TestGroup::test_three"
    assert by["local2020-four"]["source"]["section"] == "Fig. 1" and by["local2020-four"]["attribution"] == "derived"
    # the same claims as pytest collects them (importing the modules)
    pytester.syspathinsert()
    from paper_checks.plugin import collect_claims

    collected = collect_claims(str(pkg))
    key = lambda c: (c["id"], c["attribution"], c["statement"], json.dumps(c["source"], sort_keys=True))  # noqa: E731
    assert sorted(map(key, listed)) == sorted(map(key, collected))


def test_an_unresolvable_source_is_a_clear_error(pytester):
    from paper_checks.listing import ListingError, list_claims

    pkg = pytester.mkpydir("badpkg")
    (pkg / "test_bad.py").write_text('''
from paper_checks.claims import Source, claim
import random
SRC = Source("A", 2020, random.choice(["t"]), "r")

@claim("author2020-bad", SRC, "Bad.", attribution="paper")
def test_bad(claim):
    pass
''')
    with pytest.raises(ListingError, match=r"test_bad.py:4: only Source\(...\) and SOURCE.at\(...\) calls"):
        list_claims(str(pkg))
    (pkg / "test_bad.py").write_text('''
from paper_checks.claims import claim
from elsewhere import SRC

@claim("author2020-bad", SRC, "Bad.", attribution="paper")
def test_bad(claim):
    pass
''')
    with pytest.raises(ListingError, match="imported from 'elsewhere'"):
        list_claims(str(pkg))


def test_the_listing_of_paper_checks_matches_pytest_and_imports_neither_torch_nor_sympy():
    code = ("import json, sys; from paper_checks.plugin import list_claims; c = list_claims(); "
            "print(json.dumps({'claims': c, 'heavy': sorted(m for m in ('torch', 'sympy', 'numpy', 'scipy') "
            "if m in sys.modules)}))")
    env_run = dict(capture_output=True, text=True, cwd=ROOT, timeout=600,
                   env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    out = json.loads(subprocess.run([sys.executable, "-c", code], check=True, **env_run).stdout)
    assert out["heavy"] == [] and len(out["claims"]) >= 49
    collect = ("import json; from paper_checks.plugin import collect_claims; print(json.dumps(collect_claims()))")
    collected = json.loads(subprocess.run([sys.executable, "-c", collect], check=True, **env_run).stdout.splitlines()[-1])
    assert out["claims"] == collected


def test_a_refuted_claim_keeps_its_id_and_must_keep_failing(pytester):
    """A published claim that did not hold stays, marked refuted with what was measured (a finding, not a removal);
    if it starts to hold, the run fails so the finding is reviewed."""
    pytester.makepyfile(HEADER + '''
@claim("author2024-law-fails", SRC, "The law holds.", attribution="derived", refuted="measured 3 against 2")
def test_refuted(claim):
    claim.close("value", 3.0, 2.0, atol=0.1)
    claim.control.far("value without the premise", 5.0, 2.0, atol=0.1, inverts="value")

@claim("author2024-law-now-holds", SRC, "Another law.", attribution="derived", refuted="it used to fail")
def test_now_holds(claim):
    claim.close("value", 2.0, 2.0, atol=0.1)
    claim.control.far("value without the premise", 5.0, 2.0, atol=0.1, inverts="value")
''')
    res = _run(pytester, "--claims-report", "out.json")
    res.assert_outcomes(xfailed=1, failed=1)
    res.stdout.fnmatch_lines(["*author2024-law-fails*", "*1 refuted as stated*"])
    rows = {r["id"]: r for r in json.loads((pytester.path / "out.json").read_text())["claims"]}
    assert rows["author2024-law-fails"]["verdict"] == "refuted"
    assert "measured 3 against 2" in rows["author2024-law-fails"]["message"]
    assert rows["author2024-law-now-holds"]["verdict"] == "FAIL"
    assert "now holds" in rows["author2024-law-now-holds"]["message"]
