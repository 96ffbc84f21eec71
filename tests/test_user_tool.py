"""Issue #12: the tool people use on their own data — the Python API, image folders, label names, config files,
evaluation on their own test records, samples as image folders with a sidecar, resume hygiene."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import interrupt_at
from dpcgan.cli import main
from dpcgan.errors import DPCGANError

DIGITS = [f"digit-{k}" for k in range(10)]
FAST = dict(batch_size=50, noise_multiplier=1.0, steps=6, target_epsilon=None, seed=0, progress_grids=2)


@pytest.fixture(scope="module")
def fitted(mnist_small, tmp_path_factory):
    from dpcgan import DPCGAN

    x = mnist_small.x[:1000, 0].numpy()                       # N×H×W uint8
    y = np.asarray(DIGITS, dtype=object)[mnist_small.y[:1000].numpy()]   # label names
    out = tmp_path_factory.mktemp("api") / "run"
    return DPCGAN(preset="paper", **FAST).fit(x, y, labels=DIGITS, out=out, progress=False)


def test_api_fit_sample_save_load(fitted, tmp_path):
    from dpcgan import DPCGAN

    x, y = fitted.sample(40, seed=1)
    assert x.shape == (40, 28, 28) and x.dtype == np.uint8
    assert set(y) <= set(DIGITS)                                # sampled labels map back to the given names
    report = fitted.privacy_report()
    assert fitted.epsilon == report["epsilon"] == report["report_this"]["epsilon"] and report["d_steps"] == 6
    assert report["assumed_public"]["label_set"] == DIGITS
    saved = fitted.save(tmp_path / "copy")
    again = DPCGAN.load(saved)
    x2, y2 = again.sample(40, seed=1)
    assert np.array_equal(x, x2) and list(y) == list(y2)        # the same generator, the same labels
    assert (saved / "progress").is_dir() and len(list((saved / "progress").glob("step_*.png"))) == 2
    with pytest.raises(DPCGANError, match="already exists"):
        fitted.save(saved)


def test_api_fit_resumes_an_interrupted_run(mnist_small, tmp_path, monkeypatch):
    from dpcgan import DPCGAN
    x, y = mnist_small.x[:600, 0].numpy(), mnist_small.y[:600].numpy()
    interrupt_at(monkeypatch, 9)
    settings = dict(FAST, steps=12, checkpoint_every=4)
    with pytest.raises(KeyboardInterrupt, match="resume"):
        DPCGAN(preset="paper", **settings).fit(x, y, num_classes=10, out=tmp_path / "r", progress=False)
    monkeypatch.undo()
    m = DPCGAN(preset="paper", **settings).fit(x, y, num_classes=10, out=tmp_path / "r", resume=True, progress=False)
    assert m.privacy_report()["resumes"][0]["from_step"] == 8 and m.privacy_report()["d_steps"] == 12


def test_api_input_layouts_and_errors(mnist_small):
    from dpcgan import DPCGAN
    from dpcgan.data.arrays import images_from_arrays

    x = mnist_small.x[:100, 0].numpy()
    nhwc = images_from_arrays(x[..., None], mnist_small.y[:100], num_classes=10, announce=None)
    nchw = images_from_arrays(torch.from_numpy(x[:, None]), mnist_small.y[:100].numpy(), num_classes=10)
    assert nhwc.x.shape == nchw.x.shape == (100, 1, 28, 28) and torch.equal(nhwc.x, nchw.x)
    as_float = images_from_arrays(x.astype(np.float32) / 255, mnist_small.y[:100], num_classes=10)
    assert as_float.x.dtype == torch.float32
    with pytest.raises(DPCGANError, match="label set"):
        images_from_arrays(x, mnist_small.y[:100])              # K is never read off the labels
    with pytest.raises(DPCGANError, match="not among the label names"):
        images_from_arrays(x, np.asarray(["a"] * 100), label_names=["b", "c"])
    with pytest.raises(DPCGANError, match="unknown setting"):
        DPCGAN(preset="paper", batchsize=5)
    with pytest.raises(DPCGANError, match="not fitted"):
        DPCGAN(preset="paper").sample(3)


# --- image folders and label names ------------------------------------------------------------------------------

def make_folder(root, mnist_small, classes=("cat", "dog", "owl"), per_class=30, size=None):
    from PIL import Image

    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        images = mnist_small.x[mnist_small.y == k][:per_class, 0].numpy()
        for i, a in enumerate(images):
            im = Image.fromarray(a)
            if size is not None and i % 2:
                im = im.resize((size, size))
            im.save(root / name / f"{i}.png")
    return root


def test_image_folder_trains_with_public_label_names(mnist_small, tmp_path, capsys):
    folder = make_folder(tmp_path / "pets", mnist_small)
    names = tmp_path / "labels.txt"
    names.write_text("cat\ndog\nowl\nfox\n")                  # fox: a public class with no images
    out = tmp_path / "run"
    args = ["--threads", "1", "train", "--preset", "paper", "--dataset", str(folder), "--batch-size", "10", "--sigma", "1.0",
            "--steps", "4", "--seed", "0", "--out", str(out), "--no-progress", "--delta", "1e-3",
            "--image-size", "28", "--channels", "1"]
    assert main(args) == 2
    assert "--label-names FILE" in capsys.readouterr().err   # the folder names are not taken as the label set
    assert main(args + ["--label-names", str(names)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["label_names"] == ["cat", "dog", "owl", "fox"] and config["dataset"]["n"] == 90
    assert config["config"]["dataset"] == "pets"              # the folder by name, not by location
    assert main(["sample", str(out), "-n", "20", "--format", "png", "--out", str(tmp_path / "syn")]) == 0
    tree = sorted(p.name for p in (tmp_path / "syn").iterdir())
    assert tree == ["cat", "dog", "fox", "owl", "synthetic.json"]
    assert sum(len(list((tmp_path / "syn" / c).glob("*.png"))) for c in ("cat", "dog", "fox", "owl")) == 20
    meta = json.loads((tmp_path / "syn" / "synthetic.json").read_text())
    report = json.loads((out / "privacy.json").read_text())
    assert meta["report_this"] == report["report_this"] and meta["labels"] == ["cat", "dog", "owl", "fox"]
    assert meta["release"] == "not for release" and len(meta["generator_sha256"]) == 64


def test_image_folder_sizes_and_architectures(mnist_small, tmp_path, capsys):
    folder = make_folder(tmp_path / "mixed", mnist_small, size=30)
    names = tmp_path / "labels.json"
    names.write_text(json.dumps(["cat", "dog", "owl"]))
    base = ["train", "--preset", "paper", "--dataset", str(folder), "--label-names", str(names), "--batch-size", "10", "--sigma", "1",
            "--steps", "2", "--seed", "0", "--no-progress", "--delta", "1e-3", "--channels", "1"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 2
    assert "--image-size" in capsys.readouterr().err         # the public shape is required, never read off
    assert main(base + ["--preset", "mnist-eps10", "--image-size", "30", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "side is a multiple of 4" in err and "30×30" in err and not (tmp_path / "b").exists()
    assert main(base + ["--image-size", "28", "--out", str(tmp_path / "c")]) == 0
    # a model side below the images' takes any side: D pools each image to 28, G's samples come out at 30 x 30
    conv = base[:2] + ["mnist-eps10"] + base[3:] + ["--image-size", "30", "--set", "model_side=28"]
    assert main(conv + ["--out", str(tmp_path / "d")]) == 0
    spec = json.loads((tmp_path / "d" / "config.json").read_text())
    assert spec["config"]["model_side"] == 28
    assert main(["sample", str(tmp_path / "d"), "-n", "6", "--out", str(tmp_path / "d.npz")]) == 0
    with np.load(tmp_path / "d.npz") as f:
        assert f["x"].shape == (6, 30, 30)
    assert main(["report", str(tmp_path / "d")]) == 0       # the model card says what the samples are
    assert "G and D work at 28 x 28" in (tmp_path / "d" / "MODEL_CARD.md").read_text()
    assert main(conv[:-1] + ["model_side=36", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "at least model_side = 36 px a side, got 30×30" in err and not (tmp_path / "e").exists()


# --- config files ---------------------------------------------------------------------------------------------------

def test_config_file_toml_and_a_runs_config_json_round_trip(small_npz, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "paper"\nbatch_size = 50\nnoise_multiplier = 1.0\nsteps = 5\ntarget_epsilon = 8.0\n'
                    'hidden = 32\nlog_every = 1\n')
    first = tmp_path / "first"
    assert main(["--threads", "1", "train", "--config", str(toml), "--dataset", str(small_npz), "--num-classes", "10",
                 "--seed", "0", "--out", str(first), "--no-progress"]) == 0
    cfg = json.loads((first / "config.json").read_text())["config"]
    assert (cfg["batch_size"], cfg["hidden"], cfg["steps"], cfg["log_every"]) == (50, 32, 5, 1)
    second = tmp_path / "second"  # a run's config.json is valid input; flags override it
    assert main(["--threads", "1", "train", "--config", str(first / "config.json"), "--dataset", str(small_npz),
                 "--steps", "3", "--out", str(second), "--no-progress"]) == 0
    cfg2 = json.loads((second / "config.json").read_text())["config"]
    assert cfg2 == cfg | {"steps": 3}
    bad = tmp_path / "bad.json"
    bad.write_text('{"batch_sise": 3}')
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2


def test_presets_command_lists_every_preset(capsys):
    from dpcgan.config import PRESETS

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS) and "noise_multiplier=calibrated" in out


# --- evaluation on the user's own test records ------------------------------------------------------------------

def test_evaluate_a_run_on_own_data_with_test_and_train_files(fitted, mnist_train, tmp_path, capsys):
    test = tmp_path / "test.npz"
    ids = torch.arange(50000, 50400)
    names = np.asarray(DIGITS)[mnist_train.y[ids].numpy()]
    np.savez(test, x=mnist_train.x[ids, 0].numpy(), y=names)   # labels by name, mapped by the run's label names
    assert main(["evaluate", str(fitted.run_dir)]) == 2
    assert "--test FILE" in capsys.readouterr().err
    train = tmp_path / "train.npz"
    np.savez(train, x=mnist_train.x[:500, 0].numpy(), y=mnist_train.y[:500].numpy())
    assert main(["evaluate", str(fitted.run_dir), "--test", str(test), "--train", str(train), "--metrics", "paper",
                 "-n", "500", "--out", str(tmp_path / "evaluation.json")]) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["n_real_test"] == 400 and result["n_train"] == 500  # the user's test records, the run's samples
    assert 0.0 <= result["paper"]["logistic_regression"]["auroc"] <= 1.0


# --- samples: format and suffix ---------------------------------------------------------------------------------

def test_sample_format_suffix_rules_and_npz_sidecar(fitted, tmp_path, capsys):
    run = str(fitted.run_dir)
    assert main(["sample", run, "-n", "5", "--format", "npz", "--out", str(tmp_path / "s.png")]) == 2
    assert main(["sample", run, "-n", "5", "--format", "png", "--out", str(tmp_path / "s.npz")]) == 2
    assert main(["sample", run, "-n", "5", "--out", str(tmp_path / "s.npz"), "--label-prior", "uniform"]) == 0
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["n"] == 5 and meta["format"] == "npz" and meta["labels"] == DIGITS


# --- resume hygiene -----------------------------------------------------------------------------------------------

def test_resume_refuses_flags_it_would_ignore(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps", "5", "--batch-size", "3"]) == 2
    err = capsys.readouterr().err
    assert "drop --steps, --batch-size" in err


def test_interrupt_message_and_resume_hint_agree(mnist_small, small_npz, tmp_path, monkeypatch, capsys):
    interrupt_at(monkeypatch, 30)
    data_dir = tmp_path / "elsewhere"
    data_dir.mkdir()
    npz = data_dir / "d.npz"
    npz.write_bytes(small_npz.read_bytes())
    monkeypatch.chdir(data_dir)
    out = tmp_path / "run"
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", "d.npz", "--num-classes", "10", "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "40", "--checkpoint-every", "20", "--seed", "0", "--out", str(out),
                 "--no-progress"]) == 130
    err = capsys.readouterr().err
    hint = f"`dpcgan train --resume {out}`"
    assert hint in err and "nothing was written" not in err
    assert "(last checkpoint, at D step 20/40, epsilon " in err and "spent (classic)" in err   # issue 24 item 14
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)  # elsewhere: the data's location was remembered (privately)
    assert main(["--threads", "1", "train", "--resume", str(out), "--no-progress"]) == 0
    assert json.loads((out / "privacy.json").read_text())["resumes"][0]["from_step"] == 20


def test_off_a_terminal_progress_is_plain_lines(small_npz, tmp_path, capsys):
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "20", "--log-every", "10", "--seed", "0",
                 "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["10/20", "20/20"] and "\r" not in err
