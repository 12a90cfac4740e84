"""probes.testing.parametrize_with_checks: a user's three-line test file gets one test per (design, property);
a known failure is a strict xfail with its reason; the claims plugin stays out of such a run."""
from __future__ import annotations

USER_TESTS = '''
import torch
from probes.designs import build
from probes.designs.normalizers import make_normalizer
from probes.testing import parametrize_with_checks


def counting_rope():
    """rope-causal with its softmax swapped for e^x (Su's remedy): it now counts, so the rope-causal theory row
    (cannot-count) no longer describes it."""
    d = build("rope-causal", seed=0)
    for m in d.modules():
        if hasattr(m, "normalizer"):
            m.normalizer = make_normalizer("exp", 4)
    return d


MINE = counting_rope()


@parametrize_with_checks(["rope-causal", "abs", MINE], probes=["position-counting", "gradient-depth"],
                         expected_failures={(MINE, "position-counting"): "the e^x swap counts, by design"})
def test_attention(design, check):
    check(design)
'''


def test_three_lines_give_one_test_per_design_and_property(pytester):
    pytester.makepyfile(USER_TESTS)
    res = pytester.runpytest("-p", "no:cacheprovider", "-rsx", "-v")
    # position counting: rope-causal and abs agree with theory (pass); the swapped design is the known failure
    # (xfail); gradient-depth does not apply to attention designs (skip, with the reason)
    res.assert_outcomes(passed=2, xfailed=1, skipped=3)
    res.stdout.fnmatch_lines(["*test_attention?rope-causal-position-counting? PASSED*", "*rope-causal-module-position-counting? XFAIL*",
                              "*gradient-depth does not apply to rope-causal*not a depth stack*",
                              "*the e^x swap counts, by design*"])
    assert "attnprobe claims" not in res.stdout.str()


def test_an_unexpected_disagreement_fails_with_expected_and_measured(pytester):
    pytester.makepyfile(USER_TESTS.replace(
        'expected_failures={(MINE, "position-counting"): "the e^x swap counts, by design"}', 'expected_failures={}'))
    res = pytester.runpytest("-p", "no:cacheprovider", "-k", "position")
    res.assert_outcomes(passed=2, failed=1)
    res.stdout.fnmatch_lines(["*theory (cannot-count*) predicts a different verdict than the one measured "
                              "(can-count*"])


def test_unknown_probe_names_are_refused_at_collection(pytester):
    pytester.makepyfile('''
from probes.testing import parametrize_with_checks

@parametrize_with_checks(["rope"], probes=["position-counting"], expected_failures={"entropy": "x"})
def test_attention(design, check):
    check(design)
''')
    res = pytester.runpytest("-p", "no:cacheprovider")
    assert res.ret != 0
    res.stdout.fnmatch_lines(["*expected_failures names probes that are not checked*"])
