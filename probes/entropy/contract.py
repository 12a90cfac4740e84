"""The entropy probe under the probe contract (:mod:`probes.contract`): options, applicability, summary."""
from __future__ import annotations

from probes.contract import Probe, Summary
from probes.entropy.core import EntropyResult, probe
from probes.entropy.report import markdown, write_plots
from probes.entropy.verdicts import FADE_DELTA, P1_VERDICTS, P2_VERDICTS
from probes.entropy.weights import weights_function
from probes.errors import NotApplicable

__all__ = ["EntropyProbe", "PROBE", "JSON_KEY", "add_audit_arguments", "audit"]

JSON_KEY = "entropy"


class EntropyProbe(Probe):
    """The entropy / needle-fading probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title = "entropy", JSON_KEY, "entropy vs length (P1) / needle fading (P2)"
    verdicts = P1_VERDICTS + P2_VERDICTS
    example_design = "logn"
    smoke_options = {"entropy_rows": 16, "entropy_d": 16, "entropy_max_log2n": 10}

    def applies_to(self, subject, options=None):
        """A design with a weights function the probe can drive (:func:`weights_function`: found by the roles
        its blocks declare)."""
        ok, why = super().applies_to(subject, options)
        if not ok:
            return ok, why
        try:
            weights_function(subject)
        except NotApplicable as exc:
            return False, str(exc)
        return True, ""

    def add_arguments(self, group) -> None:
        group.add_argument("--entropy-rows", type=int, default=512, help="query rows per length (default 512)")
        group.add_argument("--entropy-d", type=int, default=64, help="q, k width for the noise probes (default 64)")
        group.add_argument("--entropy-max-log2n", type=int, default=16, help="longest length 2^k (default 16)")
        group.add_argument("--entropy-head", type=int, default=0, help="head whose normaliser is probed (default 0)")

    def run(self, subject, options=None) -> EntropyResult:
        o = self.options(options)
        return probe(subject, seed=o["seed"], dtype=o["dtype"], device=o["device"], rows=int(o["entropy_rows"]),
                     d=int(o["entropy_d"]), n_max=1 << int(o["entropy_max_log2n"]), head=int(o["entropy_head"]))

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        r, t = result, result.theory
        key = f"slope {r.slope:.3f}, fade ratio {r.fade_ratio[str(FADE_DELTA)]:.3g}"
        theory = f"{t.get('verdict') or '—'}; needle {t.get('needle_verdict') or '—'}"
        return Summary(f"{r.verdict}; needle {r.needle_verdict}", key, theory, r.matches_theory)


PROBE = EntropyProbe()


def add_audit_arguments(parser) -> None:
    """The probe's options on ``parser`` (kept for callers of the old module-level protocol)."""
    PROBE.add_arguments(parser)


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> EntropyResult:
    """:meth:`EntropyProbe.run` with seed, dtype and device given apart (the old module-level protocol)."""
    return PROBE.run(subject, {**(options or {}), "seed": seed, "dtype": dtype, "device": device})
