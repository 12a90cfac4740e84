"""What a design declares about itself: tags that probes read instead of ``isinstance`` chains and class names.

Every zoo building block declares a ``role`` (``"normalizer"``, ``"position"``, ``"attention"``)
and its own descriptors (a normaliser's ``name``; a position's ``name``, ``kind`` — where it
acts: ``none``/``input``/``logit``/``value``/``weight`` — and ``symmetric``; an attention
layer's ``attention_kind``: ``standard``/``diff``/``linear``). A zoo design (:class:`~probes.
designs.attention.Design`) and a depth stack (:class:`~probes.designs.stacks.Stack`) expose
``tags``, a :class:`Tags` built from those; an audit :class:`~probes.designs.loading.Subject`
has ``tags`` too: the module's own, or — for a module that declares none (a user's module, a
Hugging Face model) — what is known from outside (the mask, the zoo design it resembles, kept
apart as ``resembles`` because it is a theory column, never a measurement).

Probes ask :func:`find_role` for the blocks they need (the first normaliser, the applied
position term) and read :class:`Tags` for applicability and the theory row.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

__all__ = ["Tags", "ROLES", "FAMILIES", "find_role", "first_role", "tags_of", "tags_of_spec"]

ROLES = ("normalizer", "position", "attention")
FAMILIES = ("attention", "stack", "module")


@dataclass(frozen=True)
class Tags:
    """A design's declared kind.

    ``family``: ``attention`` (a zoo attention design), ``stack`` (a zoo depth stack) or ``module``
    (anything else: a user's module, a Hugging Face model). ``zoo``: the zoo name the design *is*
    (families attention and stack), or, with ``resembles=True``, the zoo design whose theory
    applies to it (a theory column only). ``None`` everywhere means "not declared".
    """

    family: str = "module"
    zoo: str | None = None
    resembles: bool = False
    attention: str | None = None            # standard | diff | linear
    normalizer: str | None = None           # a name in probes.designs.normalizers.NORMALIZERS
    row_normalised: bool | None = None      # rows sum to one by construction
    position: str | None = None             # a name in probes.designs.positions.POSITIONS (the layers' term)
    input_position: str | None = None       # an absolute encoding added to the input as well
    position_kinds: tuple[str, ...] = ()    # where the position terms act (input / logit / value / weight)
    position_symmetric: bool | None = None  # does the layers' term treat offsets δ and −δ alike?
    causal: bool | None = None
    c_is_one: bool | None = None            # URPE: the multiplier C is identically 1 (then it is an RPE)
    stack: str | None = None                # depth stacks: the stack's name
    placement: str | None = None            # depth stacks: post | pre | deepnorm | residual
    norm: str | None = None                 # depth stacks: layer | rms

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v, tuple) else v)
                for f in dataclasses.fields(self) for v in (getattr(self, f.name),)}

    def as_resemblance(self, **changes) -> "Tags":
        """These tags as the theory column of another module (family ``module``, ``resembles``)."""
        return dataclasses.replace(self, family="module", resembles=True, c_is_one=None, **changes)


def find_role(module, role: str) -> Iterator:
    """The submodules of ``module`` (itself included, in ``modules()`` order) that declare ``role``."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
    modules = getattr(module, "modules", None)
    if modules is None:
        return iter(())
    return (m for m in modules() if getattr(m, "role", None) == role)


def first_role(module, role: str, where=None):
    """The first submodule declaring ``role`` (and satisfying ``where``), or None."""
    for m in find_role(module, role):
        if where is None or where(m):
            return m
    return None


def tags_of(obj) -> Tags:
    """``obj.tags`` when it declares them (a zoo design, a stack, a Subject), else bare ``module`` tags."""
    t = getattr(obj, "tags", None)
    return t if isinstance(t, Tags) else Tags()


def tags_of_spec(spec) -> Tags:
    """The tags a zoo :class:`~probes.designs.zoo.Spec` declares, without building the design.

    ``c_is_one`` is left undeclared (None): it is a property of a built design's parameters
    (URPE's C starts at 1 and is re-drawn by an audit), which the design itself reports.
    """
    from probes.designs.normalizers import NORMALIZERS
    from probes.designs.positions import POSITIONS
    from probes.designs.stacks import STACKS

    if spec.stack is not None:
        st = STACKS[spec.stack]
        return Tags(family="stack", zoo=spec.name, attention="standard", normalizer="softmax", row_normalised=True,
                    position="nope", position_kinds=("none",), position_symmetric=True, causal=False,
                    stack=st.name, placement=st.placement, norm=st.norm)
    pos = POSITIONS[spec.position]
    kinds = {pos.kind} | ({POSITIONS[spec.input_position].kind} if spec.input_position else set())
    norm = spec.normalizer if spec.attention == "standard" else None
    return Tags(family="attention", zoo=spec.name, attention=spec.attention, normalizer=norm,
                row_normalised=None if norm is None else bool(NORMALIZERS[norm].row_normalised),
                position=spec.position, input_position=spec.input_position, position_kinds=tuple(sorted(kinds)),
                position_symmetric=bool(pos.symmetric), causal=bool(spec.causal),
                c_is_one=None)
