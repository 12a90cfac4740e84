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
        """A zoo design with a weights function the probe can drive (:func:`weights_function`: found by the roles
        its blocks declare); any other module (a user's, a Hugging Face model) is measured through its own forward
        pass (:mod:`probes.module_entropy`), which refuses it if no attention computation is seen."""
        ok, why = super().applies_to(subject, options)
        if not ok:
            return ok, why
        if _on_module(subject):
            from probes.capture import attention_seen

            return attention_seen(subject)
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
        from probes import module_entropy  # user modules and Hugging Face models: measured through their own forward

        module_entropy.add_audit_arguments(group)

    def run(self, subject, options=None):
        o = self.options(options)
        if _on_module(subject):  # a user's module or a Hugging Face model: its own attention (measured_on: module)
            from probes import module_entropy

            return module_entropy.audit(subject, seed=o["seed"], dtype=o["dtype"], device=o["device"], options=o)
        return probe(subject, seed=o["seed"], dtype=o["dtype"], device=o["device"], rows=int(o["entropy_rows"]),
                     d=int(o["entropy_d"]), n_max=1 << int(o["entropy_max_log2n"]), head=int(o["entropy_head"]))

    def markdown(self, result) -> str:
        if getattr(result, "measured_on", None) == "module":
            from probes import module_entropy

            return module_entropy.markdown(result)
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        if getattr(result, "measured_on", None) == "module":
            from probes import module_entropy

            return module_entropy.write_plots(result, out_dir)
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        if getattr(result, "measured_on", None) == "module":
            r, t = result, result.theory or {}
            slopes = [h["slope"] for h in r.heads if h.get("slope") is not None]
            key = (f"own q·k slope {min(slopes):.3f}…{max(slopes):.3f} over {len(slopes)} heads" if slopes else "—")
            theory = (f"{t.get('verdict') or '—'}; needle {t.get('needle_verdict') or '—'} ({r.theory_design})"
                      if r.theory_design else "—")
            return Summary(f"{r.verdict} (crafted {r.crafted_verdict}); needle {r.needle_verdict}", key, theory,
                           r.agrees_with_theory)
        r, t = result, result.theory
        key = f"slope {r.slope:.3f}, fade ratio {r.fade_ratio[str(FADE_DELTA)]:.3g}"
        theory = f"{t.get('verdict') or '—'}; needle {t.get('needle_verdict') or '—'}"
        return Summary(f"{r.verdict}; needle {r.needle_verdict}", key, theory, r.matches_theory)


def _on_module(subject) -> bool:
    """A loaded subject that is not a zoo design: measured through its own forward pass."""
    return getattr(subject, "kind", "zoo") != "zoo"


PROBE = EntropyProbe()


def add_audit_arguments(parser) -> None:
    """The probe's options on ``parser`` (kept for callers of the old module-level protocol)."""
    PROBE.add_arguments(parser)


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> EntropyResult:
    """:meth:`EntropyProbe.run` with seed, dtype and device given apart (the old module-level protocol)."""
    return PROBE.run(subject, {**(options or {}), "seed": seed, "dtype": dtype, "device": device})
