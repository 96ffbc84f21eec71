"""The allocator setting `dpcgan train` applies to itself (issue #11, throughput)."""

import ctypes
import sys

import pytest

from dpcgan import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_sets_mallopt_once(monkeypatch):
    calls = []

    class FakeLibc:
        def __init__(self):
            self.mallopt = self

        def __call__(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    assert allocator.keep_freed_memory() and allocator.keep_freed_memory()
    assert calls == [(allocator.M_MMAP_MAX, 0), (allocator.M_TRIM_THRESHOLD, 2**31 - 1)]  # once, both settings


def test_opt_out_and_the_cli_applies_it_for_train(monkeypatch, tmp_path):
    from dpcgan.cli import main

    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setenv("DPCGAN_DEFAULT_MALLOC", "1")
    assert allocator.keep_freed_memory() is False
    applied = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: applied.append(True) or True)
    assert main(["train", "--preset", "paper", "--steps", "10", "--dry-run"]) == 0
    assert applied == [True]
