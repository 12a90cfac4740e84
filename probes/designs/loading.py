"""Turn a DESIGN string into a probe subject.

DESIGN is one of
* a zoo name (``rope``, ``alibi-causal``, ``softmax1+alibi``; see :mod:`probes.designs.zoo`);
* ``package.module:factory`` or ``path/to/file.py:factory`` — a callable returning an
  ``nn.Module`` mapping (batch, n, d_model) → (batch, n, d_model), or a Hugging Face
  ``PreTrainedModel`` (driven through ``inputs_embeds``);
* a local Hugging Face checkpoint directory (``config.json`` + ``model.safetensors``);
  nothing is downloaded. Its trained weights are probed as they are unless
  ``randomize=True``.

Every failure raises :class:`probes.errors.InputError` naming the problem.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from probes.designs.zoo import Spec, build, parse, randomize_parameters
from probes.errors import InputError

__all__ = ["Subject", "load_design", "import_factory", "HFAdapter", "HF_EQUIVALENT"]

# Hugging Face architectures whose attention matches a zoo row (for the theory column).
HF_EQUIVALENT = {
    "llama": "rope-causal", "mistral": "rope-causal", "qwen2": "rope-causal", "gemma": "rope-causal",
    "gpt_neox": "rope-causal", "gpt2": "learned-causal", "bert": "learned", "roberta": "learned",
    "bloom": "alibi-causal",
}


@dataclass
class Subject:
    """What a probe audits: the module plus what is known about it."""

    name: str
    kind: str  # "zoo" | "factory" | "hf-model" | "hf-checkpoint" | "module"
    module: nn.Module
    d_model: int
    causal: bool | None = None
    zoo_spec: Spec | None = None
    trained: bool = False
    randomized: bool = False
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    last_input_shape: tuple | None = None

    @property
    def tags(self):
        """What the design declares (:class:`probes.designs.tags.Tags`): the module's own tags, or, for a module
        that declares none, its mask and the zoo design it resembles (``resembles``: a theory column only)."""
        from probes.designs.tags import Tags, tags_of_spec

        own = getattr(self.module, "tags", None)
        if isinstance(own, Tags):
            return own
        if self.zoo_spec is not None:
            return tags_of_spec(self.zoo_spec).as_resemblance(causal=self.causal)
        return Tags(causal=self.causal)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "d_model": self.d_model, "causal": self.causal,
                "tags": self.tags.to_dict(),
                "zoo_equivalent": self.zoo_spec.name if self.zoo_spec else None,
                "trained_weights": self.trained and not self.randomized,
                "randomized": self.randomized, "seed": self.seed, "notes": list(self.notes)}

    def design_failure(self, exc: BaseException, during: str = "") -> str | None:
        """A one-line message when ``exc`` was raised inside the design's own code, else None (an attnprobe bug).

        The design's code is every source file defining a class of its modules, outside attnprobe and torch;
        the message names the design, the input shape (hence the length n) it failed at, and the frame.
        """
        files = _design_files(self.module)
        tb, frame = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename in files:
                frame = tb
            tb = tb.tb_next
        if frame is None:
            return None
        shape = self.last_input_shape
        at = f" at input shape {shape} (n = {shape[1]})" if shape and len(shape) > 1 else ""
        where = f" during {during}" if during else ""
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return (f"design {self.name!r} failed{where}{at}: {type(exc).__name__}{': ' + msg if msg else ''} "
                f"({frame.tb_frame.f_code.co_filename}:{frame.tb_lineno})")

    def summary(self) -> str:
        mask = {True: "causal", False: "bidirectional", None: "mask unknown"}[self.causal]
        w = ("trained weights as loaded" if self.trained and not self.randomized
             else f"parameters re-drawn from seed {self.seed}" if self.randomized else "parameters as built")
        lines = [f"design: {self.name} ({self.kind}, d_model={self.d_model}, {mask}; {w})"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class HFAdapter(nn.Module):
    """(batch, n, d) → (batch, n, d) through a Hugging Face model's ``inputs_embeds``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        cfg = model.config
        self.d_model = int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None) or getattr(cfg, "d_model"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        out = self.model(inputs_embeds=x, attention_mask=mask, output_hidden_states=True, use_cache=False)
        hidden = getattr(out, "last_hidden_state", None)
        return hidden if hidden is not None else out.hidden_states[-1]


def _is_hf_model(obj) -> bool:
    mod = sys.modules.get("transformers")
    return mod is not None and isinstance(obj, mod.PreTrainedModel)


def _hf_causal(model) -> bool | None:
    cfg = model.config
    if getattr(cfg, "is_decoder", False) or type(model).__name__.endswith("ForCausalLM"):
        return True
    if cfg.model_type in HF_EQUIVALENT:
        return HF_EQUIVALENT[cfg.model_type].endswith("-causal")
    return None


def _infer_d_model(module: nn.Module, given: int | None) -> int:
    if given is not None:
        return int(given)
    for attr in ("d_model", "embed_dim", "hidden_size", "dim"):
        val = getattr(module, attr, None)
        if isinstance(val, int) and val > 0:
            return val
    cfg = getattr(module, "config", None)
    if cfg is not None and getattr(cfg, "hidden_size", None):
        return int(cfg.hidden_size)
    raise InputError(f"cannot tell the input width of {type(module).__name__}: give the module a `d_model` "
                     "attribute or pass --d-model")


@contextlib.contextmanager
def _folder_on_path(folder: Path | None):
    """Put a design file's folder first on ``sys.path`` while it loads, as Python does for a script."""
    if folder is None:
        yield
        return
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        try:
            sys.path.remove(entry)
        except ValueError:  # the user's code removed it itself
            pass


def _import_factory(spec: str):
    factory = import_factory(spec)
    try:
        return factory()
    except Exception as exc:
        raise InputError(f"design {spec!r}: the factory raised {type(exc).__name__}: {exc}") from exc


def import_factory(spec: str):
    """The callable named by ``package.module:factory`` or ``path/to/file.py:factory`` (not called)."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise InputError(f"design {spec!r}: expected package.module:factory or path/to/file.py:factory")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise InputError(f"design {spec!r}: no such file {path}")
        name = f"attnprobe_user_{abs(hash(str(path.resolve())))}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        folder = path.resolve().parent
        try:
            with _folder_on_path(folder):
                mod_spec.loader.exec_module(module)
        except Exception as exc:
            raise InputError(f"design {spec!r}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
    else:
        folder = None
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise InputError(f"design {spec!r}: no module named {exc.name!r} (is it installed or on PYTHONPATH?)") from exc
        except Exception as exc:
            raise InputError(f"design {spec!r}: importing {target} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise InputError(f"design {spec!r}: module {target} has no attribute {attr!r}")
    factory = getattr(module, attr)
    if not callable(factory):
        raise InputError(f"design {spec!r}: {attr!r} is not callable")
    if folder is None:
        return factory

    @functools.wraps(factory)
    def on_path(*args, **kwargs):  # a design file's lazy sibling imports work inside the factory too
        with _folder_on_path(folder):
            return factory(*args, **kwargs)

    return on_path


def _load_checkpoint(path: Path):
    if not (path / "config.json").is_file():
        raise InputError(f"design {str(path)!r}: a checkpoint directory needs config.json")
    weights = path / "model.safetensors"
    if not weights.is_file():
        others = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth"))
        hint = f" (found {others}; convert them to safetensors)" if others else ""
        raise InputError(f"design {str(path)!r}: no model.safetensors{hint}")
    try:
        import transformers
    except ImportError as exc:
        raise InputError("auditing a Hugging Face checkpoint needs transformers: pip install 'attnprobe[hf]'") from exc
    def first_line(exc):
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__

    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"design {str(path)!r}: config.json is not valid JSON ({first_line(exc)})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"design {str(path)!r}: config.json holds a {type(cfg).__name__}, not a JSON object")
    model_type = cfg.get("model_type")
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (ValueError, KeyError) as exc:
        raise InputError(f"design {str(path)!r}: unknown architecture model_type={model_type!r} "
                         f"for transformers {transformers.__version__}") from None
    except Exception as exc:  # OSError, TypeError on odd values, ...
        raise InputError(f"design {str(path)!r}: config.json is not a usable config for model_type={model_type!r} "
                         f"(transformers {transformers.__version__}: {first_line(exc)})") from None
    try:
        model = transformers.AutoModel.from_pretrained(str(path), config=config, local_files_only=True,
                                                       use_safetensors=True, attn_implementation="eager")
    except Exception as exc:
        raise InputError(f"design {str(path)!r}: loading the checkpoint failed ({first_line(exc)}); was "
                         "model.safetensors fully written?") from None
    return model


_OWN = (str(Path(__file__).resolve().parents[2]), str(Path(torch.__file__).resolve().parent))


def _design_files(module: nn.Module) -> set[str]:
    """Source files of the classes that make up ``module`` (read from their methods' code), outside attnprobe
    and torch."""
    files = set()
    for m in module.modules():
        for cls in type(m).__mro__:
            for attr in vars(cls).values():
                code = getattr(getattr(attr, "__func__", attr), "__code__", None)
                if code is not None:
                    files.add(code.co_filename)
    return {f for f in files if not str(Path(f).resolve()).startswith(_OWN)}


def _guard(subject: Subject) -> None:
    """Hooks on the design: remember the last input shape, and refuse an output that changes (batch, n, d_model).

    A design that passes the load-time check at n = 4 but changes shape at a probe's length then fails with
    one line naming it and the length, instead of a traceback from inside a probe.
    """

    def pre(mod, args):
        x = args[0] if args else None
        subject.last_input_shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None

    def post(mod, args, out):
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor):
            return
        if not isinstance(out, torch.Tensor):
            raise InputError(f"design {subject.name!r}: returned {type(out).__name__} for input shape "
                             f"{tuple(x.shape)} (n = {x.shape[1]}); a design returns one (batch, n, d_model) tensor")
        if out.shape != x.shape:
            raise InputError(f"design {subject.name!r}: maps input shape {tuple(x.shape)} to {tuple(out.shape)} "
                             f"at n = {x.shape[1]}; a design must keep (batch, n, d_model)")

    subject.module.register_forward_pre_hook(pre)
    subject.module.register_forward_hook(post)


def _check_module(subject: Subject, dtype, device) -> None:
    x = torch.randn(1, 4, subject.d_model, dtype=dtype, device=device, generator=None)
    try:
        with torch.no_grad():
            y = subject.module(x)
    except Exception as exc:
        raise InputError(f"design {subject.name!r}: forward on input (1, 4, {subject.d_model}) raised "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (1, 4, subject.d_model):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise InputError(f"design {subject.name!r}: expected output shape (1, 4, {subject.d_model}) "
                         f"(batch, n, d_model), got {shape}")


def load_design(spec, *, randomize: bool | None = None, seed: int = 0, dtype: torch.dtype = torch.float64,
                device: str | torch.device = "cpu", d_model: int | None = None) -> Subject:
    """Resolve DESIGN (a string, or an ``nn.Module`` given directly) to a :class:`Subject`.

    ``randomize`` defaults to True for zoo names, factories and modules (an audit must
    not trust a symmetric init) and to False for checkpoint directories.
    The module is put in eval mode (dropout off) and cast to ``dtype`` on ``device``.
    """
    if isinstance(spec, nn.Module):
        from probes.designs.tags import tags_of

        module, name, kind = spec, getattr(spec, "name", type(spec).__name__), "module"
        declared = tags_of(spec)
        zoo_spec = parse(declared.zoo) if declared.family in ("attention", "stack") and declared.zoo else None
        trained = False
    elif not isinstance(spec, (str, Path)) or not str(spec):
        raise InputError(f"design must be a zoo name, an import path or a directory, got {spec!r}")
    else:
        spec = str(spec)
        path = Path(spec)
        if path.is_dir():
            module, name, kind, zoo_spec, trained = _load_checkpoint(path), spec, "hf-checkpoint", None, True
        elif ":" in spec:
            module, name, kind, zoo_spec, trained = _import_factory(spec), spec, "factory", None, False
            if not isinstance(module, nn.Module):
                raise InputError(f"design {spec!r}: the factory returned {type(module).__name__}, not a torch.nn.Module")
        else:
            zoo_spec = parse(spec)  # raises InputError for unknown names
            if zoo_spec.stack is not None:  # a depth stack: its own initialisation is part of the design
                module, name, kind, trained = build(spec, seed=seed, dtype=dtype), spec, "zoo", False
            else:
                module, name, kind, trained = build(spec, seed=None, dtype=dtype), spec, "zoo", False
    notes: list[str] = []
    causal = zoo_spec.causal if zoo_spec else None
    if _is_hf_model(module):
        if kind == "factory":
            kind = "hf-model"
        causal = _hf_causal(module)
        eq = HF_EQUIVALENT.get(module.config.model_type)
        zoo_spec = parse(eq) if eq else None
        if eq:
            notes.append(f"attention of model_type={module.config.model_type!r} matches zoo design {eq!r} "
                         "(theory column)")
        module = HFAdapter(module)
    is_stack = zoo_spec is not None and getattr(zoo_spec, "stack", None) is not None and kind == "zoo"
    if randomize is None:
        randomize = not trained and not is_stack
    if is_stack and not randomize:
        notes.append(f"depth stack built with its own initialisation from seed {seed} (not re-drawn: for the depth "
                     "probes the initialisation is the design)")
    if trained and not randomize:
        notes.append("trained weights probed as they are (pass --randomize to re-draw them)")
    module = module.to(device=device, dtype=dtype)
    if randomize:
        randomize_parameters(module, seed)
    module.eval()
    for m in module.modules():  # dropout off even if a module ignores eval()
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    d = _infer_d_model(module, d_model)
    subject = Subject(name, kind, module, d, causal, zoo_spec, trained, bool(randomize),
                      seed if (randomize or is_stack) else None, notes)
    _check_module(subject, dtype, device)
    _guard(subject)
    return subject
