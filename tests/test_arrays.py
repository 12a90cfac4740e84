"""probes.arrays: one loader for every array file; every bad file is one InputError, never a traceback.

The fuzz tests feed random bytes and truncations of valid files at every offset class to the reader.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.arrays import float_array, load_array, read_arrays
from probes.errors import InputError

X = np.arange(12, dtype=np.float32).reshape(4, 3) / 7


def _valid_files(tmp_path):
    from safetensors.numpy import save_file

    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "x.npz", emb=X, bias=X[:, 0].copy())
    save_file({"emb": X}, str(tmp_path / "x.safetensors"))
    torch.save({"emb": torch.from_numpy(X)}, tmp_path / "x.pt")
    return {s: (tmp_path / f"x{s}").read_bytes() for s in (".npy", ".npz", ".safetensors", ".pt")}


def test_valid_files_round_trip(tmp_path):
    _valid_files(tmp_path)
    for suffix, key in ((".npy", None), (".npz", "emb"), (".safetensors", None), (".pt", "emb")):
        got = load_array(tmp_path / f"x{suffix}", key)
        assert got.dtype == np.float32 and np.array_equal(got, X), suffix
    assert set(read_arrays(tmp_path / "x.npz")) == {"emb", "bias"}


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".safetensors", ".pt"])
def test_empty_files(tmp_path, suffix):
    (tmp_path / f"e{suffix}").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_arrays(tmp_path / f"e{suffix}")


def test_truncated_npy_says_truncated_not_pickle(tmp_path):
    data = _valid_files(tmp_path)[".npy"]
    (tmp_path / "t.npy").write_bytes(data[:-5])
    with pytest.raises(InputError, match="truncated or corrupt") as exc:
        read_arrays(tmp_path / "t.npy")
    assert "pickle" not in str(exc.value)


def test_pickled_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="never unpickles"):
        read_arrays(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", a=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="never unpickles"):
        read_arrays(tmp_path / "obj.npz")
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "m.pt")
    with pytest.raises(InputError, match="weights_only=True"):
        read_arrays(tmp_path / "m.pt")


@pytest.mark.parametrize("arr, message", [
    (np.ones((3, 2), dtype=np.complex128), "complex"),
    (np.ones((3, 2), dtype=np.int64), "integer dtype"),
    (np.ones((3, 2), dtype=bool), "integer dtype"),
    (np.ones(3), "expected a 2-D matrix"),
    (np.ones((0, 3)), "empty"),
    (np.array([[1.0, np.nan]]), "NaN or Inf"),
])
def test_wrong_dtype_rank_size_and_nan(arr, message):
    with pytest.raises(InputError, match=message):
        float_array("x", arr, ndim=2)


def test_keys(tmp_path):
    _valid_files(tmp_path)
    with pytest.raises(InputError, match="--key 'nope': not in"):
        load_array(tmp_path / "x.npz", "nope")
    with pytest.raises(InputError, match="applies to"):
        load_array(tmp_path / "x.npy", "emb")
    # two arrays but only one is 2-D: that one is picked
    assert load_array(tmp_path / "x.npz").shape == (4, 3)
    with pytest.raises(InputError, match="pick one with --weight-key"):
        load_array(tmp_path / "x.npz", ndim=None, key_flag="--weight-key")


def test_missing_folder_and_suffix(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_arrays(tmp_path / "none.npy")
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        read_arrays(tmp_path / "d.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="unsupported file type"):
        read_arrays(tmp_path / "x.txt")


def _outcome(path):
    """'ok' with a valid array, or the InputError's one line; anything else propagates (a bug)."""
    try:
        arrays = read_arrays(path)
    except InputError as exc:
        msg = str(exc)
        assert "\n" not in msg and str(path) in msg, msg
        return "error"
    assert arrays and all(isinstance(v, np.ndarray) for v in arrays.values())
    return "ok"


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".npy", ".npz", ".safetensors", ".pt"]))
def test_fuzz_random_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    _outcome(path)


def test_fuzz_every_truncation(tmp_path):
    """Truncate each valid file at every offset class (header, first bytes of data, near the end)."""
    files = _valid_files(tmp_path)
    tried = 0
    for suffix, data in files.items():
        cuts = sorted(set(list(range(0, min(len(data), 160))) + list(range(len(data) - 40, len(data)))
                          + list(range(0, len(data), max(1, len(data) // 50)))))
        for cut in cuts:
            path = tmp_path / f"cut{cut}{suffix}"
            path.write_bytes(data[:cut])
            _outcome(path)
            tried += 1
            path.unlink()
    assert tried > 400


def test_fuzz_corrupted_bytes(tmp_path):
    """Flip bytes of valid files: the outcome is a valid array or one InputError."""
    rng = np.random.default_rng(0)
    files = _valid_files(tmp_path)
    for suffix, data in files.items():
        for trial in range(60):
            buf = bytearray(data)
            for pos in rng.integers(0, len(buf), size=int(rng.integers(1, 6))):
                buf[pos] = int(rng.integers(0, 256))
            path = tmp_path / f"flip{trial}{suffix}"
            path.write_bytes(bytes(buf))
            _outcome(path)
            path.unlink()


def test_garbage_zip_members(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.npy", b"not an array")
    (tmp_path / "g.npz").write_bytes(buf.getvalue())
    assert _outcome(tmp_path / "g.npz") == "error"
