"""Designs declare what they are (tags); probes read the tags, not isinstance chains or class names."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch import nn

from probes.designs.loading import load_design
from probes.designs.stacks import STACKS
from probes.designs.tags import Tags, find_role, first_role, tags_of, tags_of_spec
from probes.designs.zoo import ZOO, build, parse


@pytest.mark.parametrize("name", ZOO)
def test_built_designs_declare_the_tags_their_name_gives(name):
    built = build(name, seed=None).tags
    declared = tags_of_spec(parse(name))
    assert built.family == "attention" and built.zoo == name
    for field in ("attention", "normalizer", "row_normalised", "position", "input_position", "position_kinds",
                  "position_symmetric", "causal"):
        assert getattr(built, field) == getattr(declared, field), field


def test_tags_read_the_parts_of_a_design():
    t = build("softmax1+alibi", seed=0).tags
    assert (t.normalizer, t.position, t.position_kinds, t.causal) == ("softmax1", "alibi", ("logit",), False)
    t = build("abs+rope-causal", seed=0).tags
    assert t.input_position == "abs" and t.position_kinds == ("input", "logit") and t.causal
    assert build("diff", seed=0).tags.attention == "diff" and build("diff", seed=0).tags.normalizer is None
    assert build("linear-causal", seed=0).tags.attention == "linear"


def test_urpe_declares_whether_c_is_one():
    """C ≡ 1 at construction (then URPE is an RPE); the audit's randomiser re-draws it."""
    assert build("urpe", seed=None).tags.c_is_one is True
    assert build("urpe", seed=0).tags.c_is_one is False
    assert build("rope", seed=0).tags.c_is_one is None       # no multiplier at all


@pytest.mark.parametrize("name", sorted(STACKS))
def test_stacks_declare_placement_and_norm(name):
    t = build(name, n_layers=2, d_model=16, n_heads=2, seed=0).tags
    assert t.family == "stack" and t.stack == name and t.placement == STACKS[name].placement
    assert t.norm == STACKS[name].norm and t.attention == "standard" and t.normalizer == "softmax"


def test_subjects_carry_tags():
    assert load_design("rope-causal").tags.zoo == "rope-causal"
    assert load_design("preln").tags.family == "stack"

    class Mine(nn.Module):
        d_model = 8

        def forward(self, x):
            return x

    t = load_design(Mine()).tags
    assert t == Tags(causal=None) and t.family == "module" and t.zoo is None
    assert load_design(build("alibi", seed=0)).tags.family == "attention"   # a zoo module given directly


def test_a_hugging_face_model_resembles_a_zoo_design_as_a_theory_column():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                                   num_key_value_heads=4, vocab_size=16, max_position_embeddings=64)
    model = transformers.LlamaModel(cfg)
    t = load_design(model).tags
    assert t.family == "module" and t.resembles and t.zoo == "rope-causal" and t.causal is True


def test_roles_find_blocks_in_module_order():
    d = build("t5-causal", seed=0)
    assert [m.role for m in find_role(d, "normalizer")] == ["normalizer"] * d.n_layers
    assert first_role(d, "position", lambda m: m.name == "t5").name == "t5"
    assert first_role(d, "position", lambda m: m.name == "alibi") is None
    assert list(find_role(object(), "position")) == [] and tags_of(object()) == Tags()
    with pytest.raises(ValueError):
        list(find_role(d, "no-such-role"))


ZOO_CLASSES = r"(ALiBi|T5Bias|URPE|Shaw|RoPE|NoPE|Learned|Sinusoidal|Position|Normalizer|Softmax1?|ReLU2|Sigmoid|LogN|" \
              r"SSMax|Clipped|DiffAttention|LinearAttention|Attention|Design|Stack)\b"


def test_probes_read_tags_not_zoo_classes_or_class_names():
    """No probe tells zoo designs apart by isinstance or by a class-name string."""
    root = Path(__file__).resolve().parents[1] / "probes"
    bad = []
    for path in root.rglob("*.py"):
        if path.parent.name == "designs":
            continue  # the zoo itself builds its classes
        text = path.read_text()
        for m in re.finditer(r"isinstance\([^)]*?" + ZOO_CLASSES, text):
            bad.append(f"{path.name}: {m.group(0)}")
        for m in re.finditer(r"type\([^)]*\)\.__name__\s*(==|in\b|!=)", text):
            bad.append(f"{path.name}: {m.group(0)}")
    assert not bad, bad
