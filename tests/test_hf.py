"""Hugging Face designs: models built from a config and checkpoint directories (nothing downloaded).

transformers is the optional `hf` extra; CI installs it so these run there.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from probes.cli import main

transformers = pytest.importorskip("transformers")


def tiny_llama():
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=4, vocab_size=64, max_position_embeddings=64)
    return transformers.LlamaModel(cfg)


def test_hf_models_from_config(tmp_path, capsys):
    path = tmp_path / "hf_designs.py"
    path.write_text(textwrap.dedent('''
        import transformers
        def llama():
            return transformers.LlamaModel(transformers.LlamaConfig(hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, vocab_size=64,
                max_position_embeddings=64))
        def gpt2():
            return transformers.GPT2Model(transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=64,
                n_positions=64))
    '''))
    code, out, _ = run(capsys, "audit", f"{path}:llama", "--json", "--pc-steps", "40")
    data = json.loads(out)
    pc = data["probes"]["position_counting"]
    assert code == 0 and data["design"]["kind"] == "hf-model" and data["design"]["causal"] is True
    assert pc["verdict"] == "cannot-count" and pc["rescued_by"] == ["bos", "cls-sep"]
    assert pc["theory"]["verdict"] == "cannot-count" and pc["agrees_with_theory"] is True
    code, out, _ = run(capsys, "audit", f"{path}:gpt2", "--json", "--pc-no-train")
    pc = json.loads(out)["probes"]["position_counting"]
    assert pc["verdict"] == "can-count" and pc["agrees_with_theory"] is True


def test_hf_checkpoint_directory(tmp_path, capsys):
    """A trained checkpoint is probed as it is; the verdict follows the architecture."""
    import torch

    model = tiny_llama()
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # a few real training steps: weights are not an init
    for _ in range(3):
        opt.zero_grad()
        out = model(input_ids=torch.randint(0, 64, (2, 12))).last_hidden_state
        out.pow(2).mean().backward()
        opt.step()
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt, safe_serialization=True)
    assert (ckpt / "model.safetensors").is_file()
    code, out, _ = run(capsys, "audit", str(ckpt), "--json", "--pc-no-train")
    data = json.loads(out)
    assert code == 0 and data["design"]["kind"] == "hf-checkpoint" and data["design"]["trained_weights"] is True
    assert any("trained weights" in n for n in data["design"]["notes"])
    assert data["probes"]["position_counting"]["verdict"] == "cannot-count"
    code, out, _ = run(capsys, "audit", str(ckpt), "--json", "--pc-no-train", "--randomize")
    assert json.loads(out)["design"]["randomized"] is True


def test_checkpoint_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "audit", str(empty))
    assert code == 2 and "needs config.json" in err
    (empty / "config.json").write_text(json.dumps({"model_type": "no-such-arch"}))
    (empty / "model.safetensors").write_bytes(b"")
    code, _, err = run(capsys, "audit", str(empty))
    assert code == 2 and "unknown architecture" in err and "no-such-arch" in err
    (empty / "model.safetensors").unlink()
    (empty / "pytorch_model.bin").write_bytes(b"")
    code, _, err = run(capsys, "audit", str(empty))
    assert code == 2 and "no model.safetensors" in err and "pytorch_model.bin" in err




def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_corrupt_checkpoint_directories_give_one_line(tmp_path, capsys):
    """Truncated weights, garbage or non-object config.json, an unknown model_type: exit 2 and one line each."""
    model = tiny_llama()
    good = tmp_path / "good"
    model.save_pretrained(good, safe_serialization=True)
    weights = (good / "model.safetensors").read_bytes()
    config = (good / "config.json").read_text()
    capsys.readouterr()  # transformers' own progress output while saving
    cases = {
        "truncated": (config, weights[: len(weights) // 2]),
        "empty-weights": (config, b""),
        "header-only": (config, weights[:8]),
        "garbage-config": ("{not json", weights),
        "list-config": ("[1, 2]", weights),
        "unknown-type": (json.dumps({"model_type": "no-such-architecture"}), weights),
        "bad-values": (json.dumps({**json.loads(config), "hidden_size": "wide"}), weights),
    }
    for name, (cfg, w) in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(cfg)
        (d / "model.safetensors").write_bytes(w)
        code, _, err = run(capsys, "audit", str(d), "--probe", "position-counting", "--pc-no-train")
        assert code == 2 and err.count("\n") == 1 and err.startswith("attnprobe: error: "), (name, err[-1500:])


def _trained_checkpoint(model, path):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        model(input_ids=torch.randint(0, 64, (2, 12))).last_hidden_state.pow(2).mean().backward()
        opt.step()
    model.save_pretrained(path, safe_serialization=True)
    return path


def test_the_trainable_check_learns_on_trained_weights(tmp_path, capsys):
    """On a trained checkpoint that can count (BERT: learned absolute positions) the trainable check reaches
    FVU < 0.05 (a readout on position-standardised features, a small model lr); on one that cannot (Llama: RoPE
    + causal mask) the same check stays at the floor."""
    bert = transformers.BertModel(transformers.BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                          num_attention_heads=4, vocab_size=64,
                                                          max_position_embeddings=64))
    path = _trained_checkpoint(bert, tmp_path / "bert")
    capsys.readouterr()
    code, out, _ = run(capsys, "audit", str(path), "--probe", "position-counting", "--pc-train", "--json", "--quiet")
    pc = json.loads(out)["probes"]["position_counting"]
    assert code == 0 and pc["fvu"] < 0.05 and any("trained weights" in n for n in pc["notes"]), pc
    path = _trained_checkpoint(tiny_llama(), tmp_path / "llama")
    capsys.readouterr()
    code, out, _ = run(capsys, "audit", str(path), "--probe", "position-counting", "--pc-train", "--json", "--quiet")
    pc = json.loads(out)["probes"]["position_counting"]
    assert code == 0 and pc["verdict"] == "cannot-count" and pc["fvu"] > 0.95, pc
