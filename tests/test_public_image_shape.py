"""Privacy review item 2: an image folder's released shape is a public input (--image-size S, --channels 1|3;
Python: image_size=, channels=), never read off the private images. Each image is converted to that mode and size
on its own, so one grey image saved as RGB, or one 32×32 image among 28×28 ones, changes only its own row."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from dpcgan.cli import main
from dpcgan.data import load_dataset
from dpcgan.data.datasets import EmptyClassWarning
from dpcgan.errors import DPCGANError

CLASSES = ["cat", "dog", "owl"]
S = 12  # tiny images: shape logic, not image quality


def grey_folder(root, *, size=S, per_class=4):
    """CLASSES subfolders of seeded grey PNGs, size×size (n >= 10: the least a DP run takes)."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), "L").save(root / name / f"{i}.png")
    return root


def quick_train(folder, out, *extra, steps=1):
    names = folder.parent / "labels.txt"
    return main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(folder), "--label-names", str(names), "--batch-size", "3", "--sigma", "1.0", "--steps", str(steps), "--seed", "0", "--delta", "1e-3",
                 "--set", "hidden=8", "--set", "progress_grids=0", "--no-progress", "--out", str(out), *extra])


def released_shapes(run):
    config = json.loads((run / "config.json").read_text())
    privacy = json.loads((run / "privacy.json").read_text())
    public = privacy["assumed_public"]
    return (config["dataset"]["image_shape"], public["image_shape"], public["architecture"]["image_shape"],
            config["model"]["image_shape"])


def test_one_rgb_image_among_grey_changes_neither_the_shape_nor_the_other_rows(tmp_path):
    without = grey_folder(tmp_path / "without")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES))
    with_rgb = tmp_path / "with"
    shutil.copytree(without, with_rgb)
    rgb = np.random.default_rng(1).integers(0, 256, (S, S, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(with_rgb / "dog" / "9.png")   # one image saved as RGB: the neighbour dataset
    flags = ["--image-size", str(S), "--channels", "1"]
    assert quick_train(without, tmp_path / "a", *flags) == 0
    assert quick_train(with_rgb, tmp_path / "b", *flags) == 0
    shapes_a, shapes_b = released_shapes(tmp_path / "a"), released_shapes(tmp_path / "b")
    assert shapes_a == shapes_b and shapes_a[0] == [1, S, S]
    public = json.loads((tmp_path / "b" / "privacy.json").read_text())["assumed_public"]
    assert (public["image_size"], public["channels"]) == (S, 1) and "given by the user" in public["image_shape_source"]
    a = load_dataset(str(without), label_names=CLASSES, image_size=S, channels=1)
    b = load_dataset(str(with_rgb), label_names=CLASSES, image_size=S, channels=1)
    extra = 8   # sorted: cat 0-3, dog 0-3, dog/9.png, owl 0-3
    keep = torch.tensor([i for i in range(len(b)) if i != extra])
    assert b.x.shape == (len(a) + 1, 1, S, S) and torch.equal(b.x[keep], a.x) and torch.equal(b.y[keep], a.y)
    expected = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))     # converted on its own, to grey
    assert torch.equal(b.x[extra, 0], torch.from_numpy(expected))


def test_one_larger_image_among_28x28_is_converted_and_trains(tmp_path):
    folder = grey_folder(tmp_path / "mixed", size=28)
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES))
    big = np.random.default_rng(2).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(big, "L").save(folder / "owl" / "9.png")
    assert quick_train(folder, tmp_path / "run", "--image-size", "28", "--channels", "1") == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"]["n"] == 13 and config["dataset"]["image_shape"] == [1, 28, 28]
    data = load_dataset(str(folder), label_names=CLASSES, image_size=28, channels=1)
    resized = np.asarray(Image.fromarray(big, "L").resize((28, 28), Image.BILINEAR))
    assert torch.equal(data.x[-1, 0], torch.from_numpy(resized))


@pytest.mark.parametrize("given", [[], ["--image-size", str(S)], ["--channels", "1"]])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_folder_run_without_the_public_shape_stops_before_any_image_is_opened(tmp_path, monkeypatch, capsys,
                                                                                 given, dry_run):
    folder = grey_folder(tmp_path / "pets")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES))
    Image.fromarray(np.zeros((S, S, 3), np.uint8), "RGB").save(folder / "cat" / "9.png")

    def opened(*a, **k):
        raise AssertionError("an image was opened before the public image shape was checked")

    monkeypatch.setattr(Image, "open", opened)
    out = tmp_path / "run"
    rc = quick_train(folder, out, *given, *(["--dry-run"] if dry_run else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("dpcgan train: error: --image-size S and --channels 1|3 are required for an image folder")
    assert not out.exists() and not out.with_name("run.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "pets"]   # nothing written anywhere
    with pytest.raises(DPCGANError, match="image_size=S, channels=1 or 3"):   # the Python loader, too
        load_dataset(str(folder), label_names=CLASSES, image_size=None if "--image-size" not in given else S,
                     channels=1 if "--channels" in given else None)


@pytest.mark.parametrize("channels", [1, 3])
def test_each_row_is_the_image_converted_alone(tmp_path, channels):
    rng = np.random.default_rng(3)
    images = {  # every mode and size a user's folder might mix
        "cat/0.png": Image.fromarray(rng.integers(0, 256, (S, S), dtype=np.uint8), "L"),
        "cat/1.png": Image.fromarray(rng.integers(0, 256, (S, S, 3), dtype=np.uint8), "RGB"),
        "dog/0.png": Image.fromarray(rng.integers(0, 256, (20, 16, 4), dtype=np.uint8), "RGBA"),
        "dog/1.png": Image.fromarray(rng.integers(0, 256, (7, 9), dtype=np.uint8), "L").convert("P"),
        "owl/0.bmp": Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB"),
        "owl/1.png": Image.fromarray(rng.integers(0, 2, (S, S), dtype=np.uint8) * 255, "L").convert("1"),
    }
    everything = tmp_path / "all"
    for rel, im in images.items():
        (everything / rel).parent.mkdir(parents=True, exist_ok=True)
        im.save(everything / rel)
    data = load_dataset(str(everything), label_names=CLASSES, image_size=S, channels=channels)
    assert data.x.shape == (len(images), channels, S, S)
    for i, rel in enumerate(sorted(images)):
        alone = tmp_path / f"alone{i}"
        (alone / rel).parent.mkdir(parents=True)
        shutil.copy(everything / rel, alone / rel)
        with pytest.warns(EmptyClassWarning):              # the other classes are empty here: fine, they are public
            one = load_dataset(str(alone), label_names=CLASSES, image_size=S, channels=channels)
        assert one.x.shape == (1, channels, S, S) and torch.equal(data.x[i], one.x[0]), rel
        assert int(data.y[i]) == int(one.y[0]) == CLASSES.index(rel.split("/")[0])


def test_resume_converts_the_folder_to_the_saved_public_shape(tmp_path, monkeypatch):
    from conftest import interrupt_at

    folder = grey_folder(tmp_path / "pets")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES))
    Image.fromarray(np.zeros((S + 4, S + 4, 3), np.uint8), "RGB").save(folder / "owl" / "9.png")
    interrupt_at(monkeypatch, 3)
    out = tmp_path / "run"
    extra = ["--image-size", str(S), "--channels", "1", "--checkpoint-every", "2"]
    assert quick_train(folder, out, *extra, steps=4) == 130
    monkeypatch.undo()
    assert main(["--threads", "1", "train", "--resume", str(out), "--no-progress"]) == 0   # shape from config.json
    public = json.loads((out / "privacy.json").read_text())["assumed_public"]
    assert public["image_shape"] == [1, S, S] and (public["image_size"], public["channels"]) == (S, 1)
    assert main(["train", "--resume", str(out), "--channels", "3"]) == 2   # the shape cannot change on resume
