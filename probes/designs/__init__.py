"""The zoo of reference attention designs (see :mod:`probes.designs.zoo`)."""
from probes.designs.attention import Attention, Design, DiffAttention, LinearAttention
from probes.designs.zoo import STACKS, ZOO, Spec, build, parse, randomize_parameters

__all__ = ["ZOO", "STACKS", "Spec", "build", "parse", "randomize_parameters", "Design", "Attention",
           "DiffAttention", "LinearAttention"]
