"""The largest tensor an operation produces while some code runs: how tests and benchmarks check that ghost
clipping never materialises per-example gradients (peak memory independent of B x parameter count)."""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class _LargestOutput(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def largest_tensor_elements(fn: Callable[[], object]) -> int:
    """Run fn() and return the most elements of any tensor an aten operation produced meanwhile."""
    with _LargestOutput() as census:
        fn()
    return census.largest
