import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DPCGAN_TEST_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(int(os.environ.get("DPCGAN_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.fail(f"test data not found at {SHARED_DATA}; set DPCGAN_TEST_DATA to the folder holding mnist/")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist_train(shared_data):
    from dpcgan.data import load_dataset

    return load_dataset("mnist", "train", shared_data, download=False)


@pytest.fixture(scope="session")
def mnist_small(mnist_train):
    """The first 2,000 training records (every class present)."""
    return mnist_train.subset(torch.arange(2000))


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory, mnist_small):
    """mnist_small as a user's .npz file (x (N, 28, 28) uint8, y (N,))."""
    import numpy as np

    p = tmp_path_factory.mktemp("data") / "mnist2k.npz"
    np.savez(p, x=mnist_small.x[:, 0].numpy(), y=mnist_small.y.numpy())
    return p


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or a real $DPCGAN_DATA from tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.delenv("DPCGAN_DATA", raising=False)


def assert_same_run(reference, resumed, *, log_every: int, steps: int) -> None:
    """A resumed run equals the uninterrupted one: same privacy ledger and epsilon, every step logged once,
    bit-identical generator weights (all RNG streams restored)."""
    import json

    ref = json.loads((reference / "privacy.json").read_text())
    got = json.loads((resumed / "privacy.json").read_text())
    assert got["events"] == ref["events"] and got["epsilon_by_conversion"] == ref["epsilon_by_conversion"]
    logged = [json.loads(r)["step"] for r in (resumed / "private" / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(log_every, steps + 1, log_every))  # no step logged twice or lost
    g_ref = torch.load(reference / "generator.pt", weights_only=True)["state_dict"]
    g_got = torch.load(resumed / "generator.pt", weights_only=True)["state_dict"]
    for k in g_ref:
        torch.testing.assert_close(g_got[k], g_ref[k], rtol=0, atol=0)


def interrupt_at(monkeypatch, call: int, name: str = "discriminator_step") -> None:
    """Make the training loop raise KeyboardInterrupt (as Ctrl-C would) at its `call`-th call (from 1) of the
    step function `name` of dpcgan.train.loop. `monkeypatch.undo()` restores it."""
    from dpcgan.train import loop as loop_module

    real, calls = getattr(loop_module, name), {"n": 0}

    def step_or_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, name, step_or_interrupt)


def train_interrupted(cfg, data, out, monkeypatch, call: int) -> None:
    """Start `train(cfg, data, out)` and stop it as Ctrl-C would at its `call`-th D step (see interrupt_at), leaving
    the checkpoint for a `resume=True` run."""
    from dpcgan.train import train

    interrupt_at(monkeypatch, call)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data, out, progress=False)
    monkeypatch.undo()
