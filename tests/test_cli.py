"""The command line end to end on a small MNIST subset, and its errors (exit status 2, nothing left behind)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dpcgan.cli import main
from dpcgan.config import PRESETS
from dpcgan.privacy import accountant


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, small_npz):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    rc = main(["--threads", "2", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100", "--sigma", "1.1",
               "--steps", "40", "--seed", "1", "--out", str(out), "--no-progress", "--log-every", "10"])
    assert rc == 0
    return out


def test_train_writes_a_complete_run_directory(trained_run):
    files = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "generator.pt", "discriminator.pt", "privacy.json", "samples.png"} <= files
    assert not [f for f in trained_run.parent.iterdir() if ".partial-" in f.name]
    report = json.loads((trained_run / "privacy.json").read_text())
    assert report["d_steps"] == 40 and report["sampling"].startswith("Poisson")
    assert report["adjacency"].startswith("add/remove one record") and report["mode"] == "split"
    assert report["noise_multiplier"] == 1.1 and report["max_grad_norm"] == 1.1
    assert report["assumed_public"]["n"] == 2000 and report["assumed_public"]["label_set"] == list(range(10))
    assert report["fake_samples"]["label_prior"] == [0.1] * 10
    assert report["epsilon"] == pytest.approx(accountant.epsilon(0.05, 1.1, 40, 1e-5, "classic"), rel=1e-9)
    rows = [json.loads(line) for line in (trained_run / "private" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    assert rows[-1]["epsilon"] == pytest.approx(report["epsilon"], rel=1e-9)
    config = json.loads((trained_run / "config.json").read_text())
    assert config["plan"]["steps"] == 40 and config["config"]["batch_size"] == 100
    ckpt = torch.load(trained_run / "generator.pt", weights_only=True)
    assert ckpt["format"] == "dpcgan-generator-v1"
    png = (trained_run / "samples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (10 * 30 + 2, 10 * 30 + 2)  # 10 x 10 grid of 28-pixel images, 2-pixel gaps


def test_sample_writes_labeled_synthetic_data(trained_run, tmp_path):
    assert main(["sample", str(trained_run), "-n", "1000", "--seed", "0"]) == 0
    with np.load(trained_run / "synthetic.npz") as f:
        x, y = f["x"], f["y"]
    assert x.shape == (1000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == [100] * 10
    prior = tmp_path / "prior.txt"
    prior.write_text("1 1 0 0 0 0 0 0 0 2")
    assert main(["sample", str(trained_run), "-n", "400", "--labels", str(prior), "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert np.bincount(f["y"], minlength=10).tolist() == [100, 100, 0, 0, 0, 0, 0, 0, 0, 200]


def test_privacy_calculator(capsys):
    assert main(["privacy", "--q", "0.01", "--sigma", "1.12", "--steps", "22978"]) == 0
    out = capsys.readouterr().out
    assert "epsilon (classic) = 9.6002" in out and "epsilon (opacus ) = 8.7927" in out
    assert main(["privacy", "--batch-size", "600", "--n", "60000", "--sigma", "1.12", "--epsilon", "9.6"]) == 0
    assert "steps    (classic) = 22977" in capsys.readouterr().out
    assert main(["privacy", "--q", "0.01", "--steps", "1000", "--epsilon", "1.0"]) == 0
    assert "sigma" in capsys.readouterr().out


def corrupt_gz_dir(tmp_path, shared_data):
    d = tmp_path / "broken" / "mnist"
    d.mkdir(parents=True)
    for f in (shared_data / "mnist").iterdir():
        blob = f.read_bytes()
        (d / f.name).write_bytes(blob[: len(blob) // 3] if f.name.startswith("train-images") else blob)
    return d.parent


@pytest.mark.parametrize("args,match", [
    (["--epsilon", "0"], "--epsilon must be a positive"),
    (["--epsilon", "-1"], "--epsilon must be a positive"),
    (["--delta", "0.001"], "--delta must be < 1/n"),
    (["--batch-size", "5000"], "must be smaller than the dataset size"),
    (["--sigma", "0.3", "--epsilon", "0.01"], "already exceeds"),
    (["--sigma", "1.1", "--steps", "400", "--epsilon", "1.0"], "lower --steps or raise --sigma"),
    (["--label-prior", "/nonexistent/prior"], "neither 'uniform' nor a readable file"),
])
def test_bad_training_inputs_exit_2_with_a_clear_message(args, match, small_npz, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100", "--out", str(out), "--no-progress", *args])
    err = capsys.readouterr().err
    assert rc == 2 and match in err, err
    assert not out.exists() and not list(tmp_path.glob("run.partial-*"))


def test_bad_data_and_output_errors(tmp_path, shared_data, trained_run, capsys):
    assert main(["train", "--dataset", "cifar", "--out", str(tmp_path / "a")]) == 2
    assert "unknown dataset 'cifar'" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(corrupt_gz_dir(tmp_path, shared_data)), "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2
    assert "corrupt or truncated gzip" in capsys.readouterr().err
    assert main(["train", "--out", str(trained_run)]) == 2  # existing run directory, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["sample", str(tmp_path), "-n", "5"]) == 2
    assert "no generator found" in capsys.readouterr().err
    (tmp_path / "evil.pt").write_bytes(b"\x80\x04garbage")
    assert main(["sample", str(tmp_path / "evil.pt"), "-n", "5"]) == 2
    assert "not a loadable dpcgan generator" in capsys.readouterr().err


def test_unknown_preset_and_mode_are_refused(capsys):
    for args in (["train", "--preset", "nope"], ["train", "--mode", "nope"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_overwrite_replaces_a_run_but_never_a_foreign_directory(small_npz, tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    rc = main(["train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100", "--sigma", "1.1", "--steps", "3",
               "--out", str(foreign), "--overwrite", "--no-progress"])
    assert rc == 2 and "not a dpcgan run" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "dpcgan", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "train" in out.stdout and "privacy" in out.stdout


def test_sota_preset_from_the_command_line_with_a_dp_label_histogram(tmp_path, small_npz):
    out = tmp_path / "preset"
    # the preset's architecture and optimisers on the user's data; a few steps, sigma calibrated to spend
    # epsilon = 1 in them (--epsilon with --steps)
    rc = main(["--threads", "2", "train", "--preset", "mnist-eps1", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "64",
               "--epsilon", "1", "--steps", "4", "--seed", "0", "--label-prior", "dp-histogram", "--label-histogram-noise", "20",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    report = json.loads((out / "privacy.json").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["arch"] == "conv" and config["d_optimizer"] == "adam" and config["d_steps_per_g"] == PRESETS["mnist-eps1"].d_steps_per_g
    assert report["d_steps"] == 4 and report["headline_conversion"] == "opacus"
    assert report["epsilon"] <= 1.0 and report["epsilon"] > 0.99  # sigma calibrated to spend the budget exactly
    assert report["label_histogram"]["noise_multiplier"] == 20.0
    rc = main(["sample", str(out), "-n", "300", "--labels", "trained", "--seed", "0"])
    assert rc == 0
    with np.load(out / "synthetic.npz") as z:
        counts = np.bincount(z["y"], minlength=10)
    expected = np.asarray(report["fake_samples"]["label_prior"]) * 300
    assert np.abs(counts - expected).max() <= 1  # the released DP prior, as closely as integers allow
