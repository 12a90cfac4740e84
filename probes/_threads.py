"""One intra-op thread for small CPU work.

The probes' models are tiny (n = 16, d = 32; depth stacks of width 64): on CPU, intra-op threads only add
synchronisation (measured 10× slower with 2 threads on a loaded 2-core machine). The setting is restored after.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["one_thread"]


@contextlib.contextmanager
def one_thread(device):
    """Run the block with one torch thread on CPU (a no-op on other devices)."""
    if torch.device(device).type != "cpu":
        yield
        return
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)
