"""Frictions a newcomer hit on their own data (issue: a newcomer's first hour, items 11 and 13): hidden folders are
not classes, label names can be given inline, and a missing path says so."""

import numpy as np
import pytest
from PIL import Image

from dpcgan.data import load_dataset
from dpcgan.data.arrays import read_label_names
from dpcgan.data.datasets import dataset_size
from dpcgan.errors import DataError


def make_folder(root, classes=("cat", "dog"), per_class=3):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_hidden_folders_and_files_are_not_classes_or_images(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(root / ".ipynb_checkpoints" / "x.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(root / "cat" / "._0.png")   # macOS resource fork
    data = load_dataset(str(root), label_names=["cat", "dog"], image_size=8, channels=1)
    assert len(data) == 6 and data.num_classes == 2
    inferred = load_dataset(str(root), image_size=8, channels=1)
    assert inferred.num_classes == 2
    assert dataset_size(str(root)) == 6


def test_label_names_inline_or_from_a_file(tmp_path):
    assert read_label_names("shirt, sneaker,bag") == ["shirt", "sneaker", "bag"]
    f = tmp_path / "labels.txt"
    f.write_text("shirt\nsneaker\n")
    assert read_label_names(str(f)) == ["shirt", "sneaker"]
    with pytest.raises(DataError, match="duplicate"):
        read_label_names("a,a")


def test_a_missing_path_says_no_such_file_or_directory(tmp_path):
    for spec in (str(tmp_path / "my_images"), "data/train.npz", "images/"):
        with pytest.raises(DataError, match="no such file"):
            load_dataset(spec, image_size=8, channels=1)
    with pytest.raises(DataError, match="no such file"):
        dataset_size(str(tmp_path / "my_images"))
    with pytest.raises(DataError, match="unknown dataset 'minst'"):
        load_dataset("minst")


def test_a_fit_without_out_leaves_no_private_folder_behind(mnist_small):
    """Item 7: DPCGAN.fit() without out= trained in a temporary folder (with private files) that stayed in the
    system temp folder after save() and after the process ended; it goes when the model object goes."""
    import gc
    import os
    import stat

    from dpcgan import DPCGAN

    model = DPCGAN(preset="paper", batch_size=50, noise_multiplier=1.0, steps=3, target_epsilon=None, seed=0,
                   progress_grids=0).fit(mnist_small.x[:300, 0].numpy(), mnist_small.y[:300].numpy(), num_classes=10,
                                         progress=False)
    temporary = model.run_dir.parent
    assert (model.run_dir / "privacy.json").is_file() and (model.run_dir / "private").is_dir()
    assert stat.S_IMODE(os.stat(temporary).st_mode) == 0o700
    del model
    gc.collect()
    assert not temporary.exists()


def test_threads_after_the_subcommand_and_in_the_api(monkeypatch):
    """Item 12: `--threads` only worked before the subcommand; the API had no threads setting."""
    import torch

    from dpcgan import DPCGAN
    from dpcgan.cli import build_parser, main

    assert build_parser().parse_args(["privacy", "--threads", "2", "--q", "0.01", "--sigma", "1", "--steps", "10"]).threads == 2
    assert build_parser().parse_args(["--threads", "3", "privacy", "--q", "0.01"]).threads == 3
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert main(["privacy", "--threads", "2", "--q", "0.01", "--sigma", "1.0", "--steps", "10"]) == 0
    assert seen == [2]
    assert DPCGAN("paper", threads=1).threads == 1
    with pytest.raises(Exception, match="threads"):
        DPCGAN("paper", threads=0)


def test_a_huge_n_is_refused_up_front_with_a_clear_error(mnist_small, tmp_path, monkeypatch, capsys):
    """Item 6: a huge -n gave a raw RuntimeError (or an OOM kill after minutes of swapping)."""
    from dpcgan import DPCGAN, DPCGANError
    from dpcgan import sample as sample_module
    from dpcgan.cli import main

    run = tmp_path / "run"
    model = DPCGAN(preset="paper", batch_size=50, noise_multiplier=1.0, steps=2, target_epsilon=None, seed=0,
                   progress_grids=0).fit(mnist_small.x[:300, 0].numpy(), mnist_small.y[:300].numpy(), num_classes=10,
                                         out=run, progress=False)
    with pytest.raises(DPCGANError, match="GiB of memory"):
        model.sample(1e12)
    with pytest.raises(DPCGANError, match="whole number"):
        model.sample(2.5)
    monkeypatch.setattr(sample_module, "available_memory", lambda: 10_000_000)   # 10 MB free
    assert main(["sample", str(run), "-n", "100000", "--out", str(tmp_path / "big.npz")]) == 2
    assert "GiB of memory" in capsys.readouterr().err and not (tmp_path / "big.npz").exists()
    x, y = model.sample(100)   # a small n still works
    assert len(x) == len(y) == 100


def test_sample_refuses_to_overwrite_without_the_flag(mnist_small, tmp_path, capsys):
    """Item 5: `dpcgan sample` silently replaced CSV/.npz outputs, even RUN/synthetic.npz that evaluation.json was
    computed on. One rule now: an existing output is replaced only with --overwrite (npz, png folder, table)."""
    from dpcgan import DPCGAN
    from dpcgan.cli import main

    run = tmp_path / "run"
    DPCGAN(preset="paper", batch_size=50, noise_multiplier=1.0, steps=2, target_epsilon=None, seed=0,
           progress_grids=0).fit(mnist_small.x[:300, 0].numpy(), mnist_small.y[:300].numpy(), num_classes=10,
                                 out=run, progress=False)
    assert main(["sample", str(run), "-n", "20", "--seed", "1"]) == 0
    first = (run / "synthetic.npz").read_bytes()
    assert main(["sample", str(run), "-n", "30", "--seed", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err and (run / "synthetic.npz").read_bytes() == first
    assert main(["sample", str(run), "-n", "30", "--seed", "2", "--overwrite"]) == 0
    assert (run / "synthetic.npz").read_bytes() != first
    folder = tmp_path / "pngs"
    assert main(["sample", str(run), "-n", "20", "--format", "png", "--out", str(folder)]) == 0
    assert main(["sample", str(run), "-n", "20", "--format", "png", "--out", str(folder)]) == 2
    assert main(["sample", str(run), "-n", "10", "--format", "png", "--out", str(folder), "--overwrite"]) == 0
    assert sum(1 for _ in folder.rglob("*.png")) == 10 and not list(tmp_path.glob(".pngs.replaced"))


def test_no_silent_phases(tmp_path, capsys):
    """Issue 24 item 15: reading a folder, the warm start and the BatchNorm re-estimation each say what they do, and
    the final line gives the whole command's time beside the training time."""
    from dpcgan.cli import main

    root = make_folder(tmp_path / "pets", per_class=6)
    assert main(["--threads", "1", "train", "--preset", "mnist-eps10", "--dataset", str(root), "--label-names",
                 "cat,dog", "--image-size", "8", "--channels", "1", "--batch-size", "3", "--sigma", "1", "--steps",
                 "2", "--delta", "1e-2", "--seed", "0", "--set", "warm_start_steps=2", "--set", "bn_recalibrate=1",
                 "--set", "progress_grids=0", "--out", str(tmp_path / "run")]) == 0
    cap = capsys.readouterr()
    said = cap.out + cap.err
    assert "reading 12 images from pets/ (2 classes)" in said and "read 12 images from pets/ in " in said
    assert "DP warm start: releasing per-class means" in said and "DP warm start done in " in said
    assert "re-estimating the released G's BatchNorm statistics" in said
    assert "BatchNorm statistics re-estimated in " in said
    assert "s for the whole command" in said
    # issue 24 item 2: the warm start is named where humans read the mechanism: report.html and MODEL_CARD.md
    assert main(["report", str(tmp_path / "run")]) == 0
    for name in ("report.html", "MODEL_CARD.md"):
        text = (tmp_path / "run" / name).read_text(encoding="utf-8")
        assert "the DP warm start (per-class means and counts), noise multiplier 20" in text, name
        assert "warm_start_noise=0" in text, name


def test_whole_command_time_includes_reading_the_folder(tmp_path, capsys, monkeypatch):
    """Issue 24 item 15: "20 D steps in 13 s" came from a 56 s command. With reading made slow (0.25 s an image),
    the read's own line and the final line's whole-command time include it, the training time does not; the
    whole-command clock starts with this main() call, not when dpcgan was imported; --no-progress silences the
    read's lines (the final line stays)."""
    import re
    import time

    import dpcgan.data.arrays as arrays
    from dpcgan.cli import main

    read = arrays.image_as_array

    def slow(*a, **k):
        time.sleep(0.25)
        return read(*a, **k)

    monkeypatch.setattr(arrays, "image_as_array", slow)
    root = make_folder(tmp_path / "pets", per_class=6)
    args = ["--threads", "1", "train", "--preset", "paper", "--dataset", str(root), "--label-names", "cat,dog",
            "--image-size", "8", "--channels", "1", "--batch-size", "3", "--sigma", "1", "--steps", "2", "--delta",
            "1e-2", "--seed", "0", "--set", "progress_grids=0"]
    time.sleep(1.0)   # time before the command: not part of it
    t0 = time.perf_counter()
    assert main(args + ["--out", str(tmp_path / "run")]) == 0
    elapsed = time.perf_counter() - t0
    cap = capsys.readouterr()
    said = cap.out + cap.err
    seconds = float(re.search(r"read 12 images from pets/ in ([\d.]+) s", said).group(1))
    assert 3.0 <= seconds <= elapsed
    train_s, whole_s = map(int, re.search(r"2 D steps in (\d+) s \(cpu; (\d+) s for the whole command", said).groups())
    assert whole_s >= train_s + 2 and whole_s >= 3 and whole_s <= elapsed + 1, (train_s, whole_s, elapsed)

    assert main(args + ["--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "images from pets/" not in cap.err and "s for the whole command" in cap.out


def test_empty_class_warning_is_one_line_with_the_class_name(tmp_path, capsys):
    """Issue 24 item 13: an empty class is named, in one plain 'warning:' line (not Python's file:line form)."""
    from dpcgan.cli import main

    root = make_folder(tmp_path / "pets", per_class=6)
    assert main(["train", "--dataset", str(root), "--label-names", "cat,dog,bird", "--image-size", "8",
                 "--channels", "1", "--preset", "paper", "--batch-size", "3", "--sigma", "1", "--steps", "1",
                 "--delta", "1e-2", "--seed", "0", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "have no record" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "'bird'" in lines[0]
    assert "EmptyClassWarning" not in err and "warnings.warn" not in err
