"""The claims plugin: table, reports, and the rules a claim must follow."""
from __future__ import annotations

import json

import pytest

HEADER = '''
from paper_checks.claims import Source, claim
SRC = Source("A. Author, B. Author", 2024, "A title", "arXiv:0000.00000", "§1")
'''


def test_claim_with_control_passes_and_reports(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-thing-holds", SRC, "The thing holds.")
def test_thing(claim):
    claim.seed(3)
    claim.close("value", 1.0 + 1e-9, 1.0, atol=1e-6)
    claim.control.greater("value without the premise", 5.0, 2.0)
''')
    res = pytester.runpytest("-p", "no:cacheprovider", "--claims-report", "out.json", "--claims-report", "out.md")
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*attnprobe claims*", "*author2024-thing-holds*pass*", "*control: value without*flips*",
                              "*1/1 claims hold*"])
    data = json.loads((pytester.path / "out.json").read_text())
    assert data["environment"]["torch"]
    (row,) = data["claims"]
    assert row["id"] == "author2024-thing-holds" and row["verdict"] == "pass" and row["seeds"] == [3]
    assert [c["control"] for c in row["checks"]] == [False, True]
    md = (pytester.path / "out.md").read_text()
    assert "| `author2024-thing-holds` |" in md and "arXiv:0000.00000" in md


def test_failed_check_names_expected_and_measured(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-thing-fails", SRC, "The thing holds.")
def test_thing(claim):
    claim.less("value", 3.0, 2.0)
    claim.control.greater("never reached", 5.0, 2.0)
''')
    res = pytester.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*value: expected < 2, measured 3*", "*author2024-thing-fails*FAIL*"])


def test_claim_without_control_is_an_error(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-no-control", SRC, "The thing holds.")
def test_thing(claim):
    claim.equal("verdict", "a", "a")
''')
    res = pytester.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, errors=1)
    res.stdout.fnmatch_lines(["*has no negative control*"])


def test_duplicate_claim_ids_are_rejected(pytester):
    pytester.makepyfile(HEADER + '''
@claim("author2024-same", SRC, "One.")
def test_one(claim):
    pass

@claim("author2024-same", SRC, "Two.")
def test_two(claim):
    pass
''')
    res = pytester.runpytest("-p", "no:cacheprovider")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*used by two tests*"])


def test_bad_report_suffix(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    res = pytester.runpytest("-p", "no:cacheprovider", "--claims-report", "out.txt")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*must end in .json or .md*"])


def test_close_needs_a_tolerance_and_ids_are_checked():
    from paper_checks.claims import ClaimRecorder, Source, claim

    rec = ClaimRecorder("x-y", Source("A", 2020, "t", "r"), "s")
    with pytest.raises(ValueError, match="tolerance"):
        rec.close("q", 1.0, 1.0)
    with pytest.raises(ValueError, match="lower-case"):
        claim("Not An Id", Source("A", 2020, "t", "r"), "s")


def test_no_table_without_claims(pytester):
    pytester.makepyfile("def test_x():\n    assert sum([1, 2]) == 3\n")
    res = pytester.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    assert "attnprobe claims" not in res.stdout.str()
