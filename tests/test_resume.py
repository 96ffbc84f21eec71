"""Checkpoint and resume: a SIGKILLed run, resumed, equals the uninterrupted run; nothing counted twice or lost."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import assert_same_run

from dpcgan.cli import main
from dpcgan.data.sampler import poisson_sample_rate
from dpcgan.train.checkpoint import CHECKPOINT_NAME

STEPS = 240


def train_args(npz, out, seed=True):
    return ["--threads", "1", "train", "--preset", "paper", "--dataset", str(npz), "--num-classes", "10", "--batch-size", "100", "--sigma", "1.1",
            "--steps", str(STEPS), "--checkpoint-every", "40", "--log-every", "20", "--out", str(out),
            "--no-progress"] + (["--seed", "5"] if seed else [])


def kill_midway(npz, out, seed=True):
    """Start training in a subprocess and SIGKILL it once a checkpoint exists and more steps have run."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "dpcgan", *train_args(npz, out, seed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out.parent / f"{out.name}.partial"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            metrics = partial / "private" / "metrics.jsonl"
            if (partial / CHECKPOINT_NAME).is_file() and metrics.is_file():
                steps = [json.loads(r)["step"] for r in metrics.read_text().splitlines() if r.strip()]
                if steps and steps[-1] >= 100:
                    break
            if proc.poll() is not None:
                pytest.fail("training finished before it could be interrupted")
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint appeared in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists() and partial.is_dir()
    return partial


def test_sigkill_then_resume_equals_an_uninterrupted_run(small_npz, tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main(train_args(small_npz, reference)) == 0
    interrupted = tmp_path / "interrupted"
    partial = kill_midway(small_npz, interrupted)
    assert main(["train", "--out", str(interrupted), "--no-progress"]) == 2  # a fresh start is refused...
    assert "--resume" in capsys.readouterr().err                           # ...and says how to resume
    assert main(["--threads", "1", "train", "--resume", str(interrupted), "--no-progress"]) == 0
    assert not partial.exists()
    said = capsys.readouterr().err   # where the run stood: "resuming from D step 120/240, epsilon 1.23 spent (classic)"
    assert "resuming from D step " in said and f"/{STEPS}, epsilon " in said and " spent (" in said

    report = json.loads((interrupted / "privacy.json").read_text())
    assert report["events"] == [{"sample_rate": poisson_sample_rate(0.05), "noise_multiplier": 1.1, "count": STEPS}]
    assert_same_run(reference, interrupted, log_every=20, steps=STEPS)  # experiment mode: the same computation
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name == CHECKPOINT_NAME]
    assert leftovers == []


def test_release_mode_resume_keeps_the_ledger_exact(small_npz, tmp_path):
    out = tmp_path / "release"
    kill_midway(small_npz, out, seed=False)
    assert main(["--threads", "1", "train", "--resume", str(out), "--no-progress"]) == 0
    report = json.loads((out / "privacy.json").read_text())
    assert report["events"] == [{"sample_rate": poisson_sample_rate(0.05), "noise_multiplier": 1.1, "count": STEPS}]
    assert report["release"] == "release"


def test_resume_refuses_a_tampered_or_foreign_checkpoint(small_npz, tmp_path, capsys):
    out = tmp_path / "t"
    partial = kill_midway(small_npz, out)
    (partial / CHECKPOINT_NAME).write_bytes(b"\x80\x04\x95cos\nsystem\n(S'echo pwned'\ntR.")
    assert main(["train", "--resume", str(out), "--no-progress"]) == 2
    assert "tampered checkpoint" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
