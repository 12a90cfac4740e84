"""The one registry of audit probes: ``PROBES`` maps each ``--probe`` name to its :class:`probes.contract.Probe`.

The CLI, the one-table audit and the contract meta-test all read it; a new probe is added by
implementing the contract and listing its instance here. Importing this module imports the
probe modules (torch, numpy), not their theory: every theory module is bound lazily.
"""
from __future__ import annotations

from probes.collapse import PROBE as _collapse
from probes.contract import Probe
from probes.entropy import PROBE as _entropy
from probes.gradient_depth import PROBE as _gradient_depth
from probes.module_hubness import PROBE as _key_hubness
from probes.module_null import PROBE as _attend_to_nothing
from probes.norm_invariance import PROBE as _norm_invariance
from probes.position_counting import PROBE as _position_counting
from probes.update_depth import PROBE as _update_depth

__all__ = ["PROBES", "get"]

PROBES: dict[str, Probe] = {p.name: p for p in (
    _position_counting,
    _entropy,
    _norm_invariance,
    # depth probes: zoo stacks (probes.designs.stacks) or a factory file.py:make taking n_layers
    _gradient_depth,
    _update_depth,
    _collapse,
    # measured on the module's own attention through probes.capture
    _key_hubness,
    _attend_to_nothing,
)}


def get(name: str) -> Probe:
    """The registered probe ``name``, or :class:`probes.errors.InputError` listing the names."""
    from probes.errors import InputError

    if name not in PROBES:
        raise InputError(f"--probe {name!r}: unknown probe; choose from {', '.join(PROBES)}")
    return PROBES[name]
