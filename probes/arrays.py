"""One loading layer for every array file the CLI reads: ``.npy``, ``.npz``, ``.safetensors``, ``.pt``/``.bin``.

Nothing is ever unpickled: numpy reads with ``allow_pickle=False`` and torch with
``weights_only=True``. Every unreadable, empty, truncated, wrong-dtype, wrong-rank
or wrong-key input raises :class:`probes.errors.InputError` with one line naming the
file, what was wrong and what to do (the CLI prints it and exits with status 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from probes.errors import InputError

__all__ = ["SUFFIXES", "read_arrays", "load_array", "float_array"]

SUFFIXES = (".npy", ".npz", ".safetensors", ".pt", ".pth", ".bin")
_NPY_MAGIC = b"\x93NUMPY"
_HINT = "save it with numpy.save, safetensors or torch.save(state_dict)"


def _list(names) -> str:
    names = list(names)
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "none"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a {'/'.join(SUFFIXES)} file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{path}: is empty (0 bytes); was it fully written?")


def _npy(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        raise InputError(f"{path}: not a .npy file (no NumPy header); {_HINT}")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InputError(f"{path}: holds Python objects, which attnprobe never unpickles; save a plain "
                             "numeric array") from None
        raise InputError(f"{path}: truncated or corrupt .npy ({exc}); was it fully written?") from None
    except Exception as exc:  # EOFError, OSError, SyntaxError/TokenError from a garbled header, ...
        msg = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise InputError(f"{path}: truncated or corrupt .npy ({type(exc).__name__}{': ' + msg if msg else ''}); "
                         "was it fully written?") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: not a .npy array; {_HINT}")
    return {"array": arr}


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise InputError(f"{path}: holds a single array, not an .npz archive; rename it to .npy")
            out = {}
            for k in f.files:
                try:
                    out[k] = f[k]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                        raise InputError(f"{path}: array {k!r} holds Python objects, which attnprobe never "
                                         "unpickles; save plain numeric arrays") from None
                    raise InputError(f"{path}: array {k!r} is truncated or corrupt ({exc})") from None
                if not isinstance(out[k], np.ndarray):
                    raise InputError(f"{path}: member {k!r} is not a .npy array; {_HINT}")
    except InputError:
        raise
    except Exception as exc:  # BadZipFile, zlib errors, EOFError, a garbled member header, ...
        msg = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise InputError(f"{path}: not a readable .npz archive ({type(exc).__name__}{': ' + msg if msg else ''}); "
                         f"{_HINT}") from None
    if not out:
        raise InputError(f"{path}: the archive holds no arrays")
    return out


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - a core dependency
        raise InputError("reading .safetensors needs the safetensors package: pip install safetensors") from None
    try:
        import torch

        out = {}
        with safe_open(str(path), framework="pt") as f:
            for k in f.keys():
                t = f.get_tensor(k)
                if t.dtype in (torch.bfloat16, torch.float16):
                    t = t.float()
                out[k] = t.numpy()
    except InputError:
        raise
    except Exception as exc:  # SafetensorError (header too small, incomplete metadata, ...), OSError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable .safetensors file ({msg}); was it fully written?") from None
    if not out:
        raise InputError(f"{path}: the file holds no tensors")
    return out


def _torch(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise InputError(f"{path}: torch.load(weights_only=True) could not read it ({type(exc).__name__}"
                         f"{': ' + msg if msg else ''}); save a plain tensor or state dict") from None
    if isinstance(obj, torch.Tensor):
        items = {"weight": obj}
    elif isinstance(obj, dict):
        items = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if not items:
            raise InputError(f"{path}: the dict holds no tensors")
    else:
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a tensor or a state dict")
    out = {}
    for k, v in items.items():
        v = v.detach()
        if v.dtype in (torch.bfloat16, torch.float16):
            v = v.float()
        if v.is_complex() or v.dtype.is_floating_point or v.dtype in (torch.bool, torch.uint8, torch.int8,
                                                                        torch.int16, torch.int32, torch.int64):
            out[k] = v.numpy()
        else:
            raise InputError(f"{path}: tensor {k!r} has dtype {v.dtype}, which attnprobe does not read")
    return out


_READERS = {".npy": _npy, ".npz": _npz, ".safetensors": _safetensors, ".pt": _torch, ".pth": _torch, ".bin": _torch}


def read_arrays(path) -> dict[str, np.ndarray]:
    """Every array in ``path``, by name (a ``.npy`` file's one array is named ``"array"``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _READERS:
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    _check_file(p)
    return _READERS[suffix](p)


def float_array(name: str, arr, *, ndim: int | tuple[int, ...] | None = None, what: str = "array") -> np.ndarray:
    """``arr`` as a real float array (float32 kept, everything else float64), checked for rank, size and finiteness.

    Object, complex, boolean and integer arrays are refused: a probe that needs floats says so.
    """
    arr = np.asarray(arr)
    if arr.dtype == object or arr.dtype.kind in "OSUV":
        raise InputError(f"{name}: dtype {arr.dtype} is not numeric; pass a float {what}")
    if arr.dtype.kind == "c":
        raise InputError(f"{name}: is complex ({arr.dtype}); pass a real float {what}")
    if arr.dtype.kind in "biu":
        raise InputError(f"{name}: has integer dtype {arr.dtype}; a {what} of floats is needed "
                         "(cast it, e.g. x.astype('float32'), if the integers are meant as values)")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            shape = "a vector" if allowed == (1,) else "a 2-D matrix (rows × dimensions)" if allowed == (2,) \
                else f"{' or '.join(map(str, allowed))}-D"
            raise InputError(f"{name}: expected {shape}, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise InputError(f"{name}: is empty (shape {tuple(arr.shape)})")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{name}: contains NaN or Inf (first at index {idx}); clean the input first")
    return arr


def load_array(path, key: str | None = None, *, ndim: int | tuple[int, ...] | None = 2, what: str = "matrix",
               key_flag: str = "--key") -> np.ndarray:
    """One float array from ``path``: the only one in the file (of rank ``ndim``), or the one named ``key``."""
    arrays = read_arrays(path)
    if key is None:
        if len(arrays) == 1:
            key = next(iter(arrays))
        else:
            fit = [k for k, v in arrays.items() if ndim is None or np.ndim(v) in ((ndim,) if isinstance(ndim, int)
                                                                                 else tuple(ndim))]
            if len(fit) != 1:
                raise InputError(f"{path}: holds {len(arrays)} arrays ({_list(arrays)}); pick one with "
                                 f"{key_flag} NAME")
            key = fit[0]
    elif key not in arrays:
        if Path(path).suffix.lower() == ".npy":
            raise InputError(f"{path}: a .npy file holds one array; {key_flag} applies to .npz, .safetensors and "
                             ".pt files")
        raise InputError(f"{key_flag} {key!r}: not in {path}; it has {_list(arrays)}")
    label = f"{path}" if len(arrays) == 1 and Path(path).suffix.lower() == ".npy" else f"{path}:{key}"
    return float_array(label, arrays[key], ndim=ndim, what=what)
