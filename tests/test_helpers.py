"""The shared helpers every probe uses: the dtype parser, the progress reporter, the plot-saving step."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from probes import plotting, progress
from probes.dtypes import dtype_name, parse_dtype
from probes.errors import InputError


# -- dtype ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, dtype", [("float64", torch.float64), ("double", torch.float64),
                                         ("float32", torch.float32), ("float", torch.float32),
                                         ("torch.float64", torch.float64), (" Float32 ", torch.float32),
                                         (torch.float32, torch.float32)])
def test_parse_dtype_accepts_names_and_dtypes(name, dtype):
    assert parse_dtype(name) is dtype
    assert dtype_name(dtype) in ("float64", "float32")


@pytest.mark.parametrize("bad", ["int8", "float16", "", torch.int64, torch.bfloat16])
def test_parse_dtype_refuses_with_the_flag_and_choices(bad):
    with pytest.raises(InputError, match=r"--dtype .*float64 or float32"):
        parse_dtype(bad)
    with pytest.raises(InputError, match=r"^dtype .*: use x$"):
        parse_dtype(bad, flag="dtype", hint="x")


# -- progress -----------------------------------------------------------------------------
class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_off_a_terminal_writes_one_line_per_interval(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    with progress.progress(10, "work", unit="blk", stream=out, interval=5.0) as bar:
        for i in range(10):
            clock.t += 1.2          # 12 s in all: lines at ≥ 5 s and ≥ 10 s, then the closing line
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("work: 5/10 blk (50%)") and lines[-1].startswith("work: 10/10 blk")
    assert "done" in lines[-1] and bar.lines_written == 3


def test_progress_with_rate_says_what_is_left_and_the_seconds_per_unit(monkeypatch):
    """The hard-token stage of the unargmaxable detector logs tokens done / left and s/token off a terminal."""
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    with progress.progress(8, "hard tokens", unit="token", stream=out, interval=5.0, rate=True) as bar:
        for i in range(8):
            clock.t += 2.5
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("hard tokens: 2/8 token (25%), 6 left, 2.50 s/token"), lines
    assert lines[-1].startswith("hard tokens: 8/8 token (100%), 0 left, 2.50 s/token, done"), lines


def test_progress_is_silent_for_short_work_and_when_disabled(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    with progress.progress(3, "quick", stream=out) as bar:
        for _ in range(3):
            clock.t += 0.1
            bar.update()
    assert out.getvalue() == ""
    out = io.StringIO()
    with progress.progress(3, "off", stream=out, enabled=False) as bar:
        clock.t += 100
        bar.update(3)
    assert out.getvalue() == ""


def test_progress_status_and_track(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    seen = []
    for x in progress.track(range(4), desc="items", stream=out, interval=1.0):
        clock.t += 2.0
        seen.append(x)
    assert seen == [0, 1, 2, 3] and out.getvalue().count("\n") >= 2
    out = io.StringIO()
    with progress.progress(2, "audit", unit="probe", stream=out, interval=1.0) as bar:
        clock.t += 3.0
        bar.set_status("running entropy")
    assert "0/2 probe (0%), running entropy" in out.getvalue()


def test_progress_on_a_terminal_uses_tqdm():
    out = io.StringIO()
    with progress.progress(5, "bar", stream=out, tty=True) as bar:
        bar.update(5)
    assert bar.lines_written == 0 and "bar" in out.getvalue()   # tqdm drew (and cleared) its bar


# -- plotting -------------------------------------------------------------------------------
def test_save_writes_a_png_and_creates_folders(tmp_path):
    pytest.importorskip("matplotlib")
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    path = plotting.save(fig, tmp_path / "a" / "b.png", dpi=50, legend=ax)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_one_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(InputError, match=r"plots need matplotlib: pip install 'attnprobe\[plot\]'"):
        plotting.pyplot()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "pair"])
def test_finite_checks_on_large_arrays_use_the_sum_but_never_miss_a_non_finite_entry(bad):
    """The fast path (one float64 sum) must still catch every NaN/Inf, including +Inf and -Inf together (their sum
    is NaN), and an overflowing sum of finite entries must not be reported (it falls back to the entrywise check)."""
    from probes.errors import Diverged, InputError, check_finite, require_finite

    Z = np.random.default_rng(0).random((300, 300))
    check_finite("h", "z", Z)  # finite: no error
    big = Z.copy()
    big[0, 0] = big[1, 1] = 1e308  # the sum overflows, every entry finite
    check_finite("h", "z", big)
    require_finite("w", big)
    if bad == "pair":
        Z[3, 4], Z[200, 1] = np.inf, -np.inf
    else:
        Z[3, 4] = bad
    with pytest.raises(Diverged, match=r"index \(3, 4\)"):
        check_finite("h", "z", Z)
    with pytest.raises(InputError, match=r"index \(3, 4\)"):
        require_finite("w", Z)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "pair"])
@pytest.mark.parametrize("at", [(0, 0), (3, 4), (299, 299)])
def test_require_finite_on_tensors_uses_min_max_but_never_misses_a_non_finite_entry(bad, dtype, at):
    """The torch fast path (one min/max read) catches a NaN or Inf anywhere, names its first index, and passes
    finite tensors, integer tensors and empty ones."""
    import torch

    from probes.errors import InputError, require_finite

    dt = getattr(torch, dtype)
    Z = torch.rand(300, 300, generator=torch.Generator().manual_seed(0)).to(dt)
    require_finite("w", Z)
    require_finite("w", torch.zeros((0, 5), dtype=dt))
    require_finite("w", torch.arange(10))
    if bad == "pair":
        Z[at], Z[299 - at[0], 299 - at[1]] = math.inf, -math.inf
        first = min(at, (299 - at[0], 299 - at[1]))
    else:
        Z[at] = bad
        first = at
    with pytest.raises(InputError, match=rf"index \({first[0]}, {first[1]}\)"):
        require_finite("w", Z)
