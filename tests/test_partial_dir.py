"""OUT.partial/ (privacy review item 8): a run that fails while writing its final files cannot be resumed into a
second generator; nothing in OUT.partial/ is releasable; how far a run had got before an interruption (a function
of its timing) stays in private/run.json."""

import json

import pytest
from conftest import interrupt_at

from dpcgan.cli import main
from dpcgan.train.checkpoint import CHECKPOINT_NAME


def train_args(npz, out):
    return ["--threads", "1", "train", "--preset", "paper", "--dataset", str(npz), "--num-classes", "10", "--batch-size", "100",
            "--sigma", "1.1", "--steps", "30", "--checkpoint-every", "10", "--log-every", "5", "--seed", "0",
            "--out", str(out), "--no-progress"]


def test_a_failure_after_generator_pt_is_written_cannot_be_resumed(small_npz, tmp_path, monkeypatch, capsys):
    from dpcgan.train import loop

    real_save = loop.save_torch_atomic

    def fail_after_generator(path, obj):  # generator.pt is written, then the next final file fails
        if str(path).endswith("discriminator.pt"):
            raise OSError(28, "No space left on device")
        return real_save(path, obj)

    monkeypatch.setattr(loop, "save_torch_atomic", fail_after_generator)
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    with pytest.raises(OSError, match="No space left"):
        main(train_args(small_npz, out))
    monkeypatch.undo()
    assert (partial / "generator.pt").is_file() and not out.exists()
    capsys.readouterr()

    assert main(["--threads", "1", "train", "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot be resumed" in err and "second generator" in err and len(err.strip().splitlines()) == 1
    assert not (partial / CHECKPOINT_NAME).exists()  # superseded (deleted) before the final files
    assert not out.exists() and not (partial / "privacy.json").exists()  # no second generator, nothing finished
    assert main(train_args(small_npz, out)) == 2  # a fresh start without --overwrite says why
    assert "cannot be resumed" in capsys.readouterr().err
    assert main(train_args(small_npz, out) + ["--overwrite"]) == 0  # training afresh works
    assert not partial.exists() and not (out / "private" / "finished.json").exists()


def test_resumes_in_privacy_json_hold_no_interruption_timing(small_npz, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 25)  # after the checkpoint at step 20 and the row logged at step 20
    out = tmp_path / "run"
    assert main(train_args(small_npz, out)) == 130
    monkeypatch.undo()
    assert (tmp_path / "run.partial" / CHECKPOINT_NAME).is_file()  # kept, with its checkpoint
    assert main(["--threads", "1", "train", "--resume", str(out), "--no-progress"]) == 0

    text = (out / "privacy.json").read_text()
    privacy = json.loads(text)
    assert privacy["resumes"] == [{"from_step": 20, "fork": False}]
    assert "reached_step" not in text and "steps_rerun_at_least" not in text
    assert "nothing in OUT.partial/" in privacy["partial_dir"] and "releasable" in privacy["partial_dir"]
    record = json.loads((out / "private" / "run.json").read_text())
    assert record["resumes"] == [{"from_step": 20, "reached_step": 20, "steps_rerun_at_least": 0, "fork": False}]
