"""Hostile and broken input, table-driven: each case exits with status 2, prints one clear error line, and
leaves no run directory (complete or partial) behind."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from dpcgan.cli import main
from dpcgan.models import ModelSpec, build_models
from dpcgan.privacy.accountant import PrivacyLedger
from dpcgan.rng import make_generators
from dpcgan.train.checkpoint import save_checkpoint


def npz(tmp, x, y, name="d.npz"):
    p = tmp / name
    np.savez(p, x=x, y=y)
    return str(p)


def digits(n=300):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def mnist_copy(tmp, shared, mutate):
    d = tmp / "data" / "mnist"
    d.mkdir(parents=True)
    for f in (shared / "mnist").iterdir():
        shutil.copy(f, d / f.name)
    mutate(d)
    return str(tmp / "data")


def truncate_images(d):
    p = d / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:100_000])


def wrong_magic(d):
    p = d / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[2] = 0x0C
    p.write_bytes(gzip.compress(bytes(raw)))


def fewer_labels(d):
    p = d / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw[:4] + (59_000).to_bytes(4, "big") + raw[8:8 + 59_000]))


def bad_npz(kind):
    def make(tmp):
        x, y = digits()
        if kind == "nan":
            x = x.astype(np.float32) / 255
            x[3, 4, 5] = np.nan
        elif kind == "inf":
            x = x.astype(np.float32) / 255
            x[0, 0, 0] = np.inf
        elif kind == "range":
            x = x.astype(np.float32)  # 0-255 floats: out of [0, 1]
        elif kind == "label_range":
            y = y.copy()
            y[7] = 10
        elif kind == "missing_class":
            y = np.where(y == 9, 8, y)
        return ["--dataset", npz(tmp, x, y), "--num-classes", "10"]
    return make


def other_architecture_checkpoint(tmp):
    """An interrupted run whose checkpoint was written for another architecture (hidden=64, not 128)."""
    x, y = digits()
    data = npz(tmp, x, y)
    assert main(["train", "--preset", "paper", "--dataset", data, "--num-classes", "10", "--batch-size", "10", "--sigma", "1", "--steps", "3", "--seed", "0",
                 "--out", str(tmp / "donor"), "--no-progress"]) == 0
    partial = tmp / "victim.partial"
    (partial / "private").mkdir(parents=True)
    shutil.copy(tmp / "donor" / "config.json", partial / "config.json")
    spec = ModelSpec("paper-fc", (1, 28, 28), 10, hidden=64)
    G, D = build_models(spec)
    save_checkpoint(partial, step=1, G=G, D=D, d_opt=torch.optim.SGD(D.parameters(), lr=0.1),
                    g_opt=torch.optim.Adam(G.parameters()), ledger=PrivacyLedger(), gens=make_generators(0), spec=spec,
                    fingerprint="x")
    return ["--resume", str(tmp / "victim")]


def tampered_checkpoint(tmp):
    args = other_architecture_checkpoint(tmp)
    # a pickle that would run a shell command if loaded without weights_only
    (tmp / "victim.partial" / "private" / "checkpoint.pt").write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00touch pwnedq\x01\x85q\x02Rq\x03.")
    return args


def parent_is_a_file(tmp):
    (tmp / "afile").write_text("x")
    x, y = digits()
    return ["--dataset", npz(tmp, x, y), "--out", str(tmp / "afile" / "run")]


def existing_output(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "config.json").write_text("{}")
    x, y = digits()
    return ["--dataset", npz(tmp, x, y)]


NO_LABEL_SET = ["<no --num-classes>"]

CASES = {
    "truncated .gz": (lambda tmp, shared: ["--data-dir", mnist_copy(tmp, shared, truncate_images)], "corrupt or truncated gzip"),
    "wrong IDX magic": (lambda tmp, shared: ["--data-dir", mnist_copy(tmp, shared, wrong_magic)], "not supported"),
    "image/label counts differ": (lambda tmp, shared: ["--data-dir", mnist_copy(tmp, shared, fewer_labels)], "60000 images but 59000 labels"),
    "NaN pixels": (lambda tmp, s: bad_npz("nan")(tmp), "NaN or infinite"),
    "inf pixels": (lambda tmp, s: bad_npz("inf")(tmp), "NaN or infinite"),
    "out-of-range pixels": (lambda tmp, s: bad_npz("range")(tmp), "must lie in [0, 1]"),
    "label out of range": (lambda tmp, s: bad_npz("label_range")(tmp), "labels must lie in [0, 9]"),
    "label set not given for own data": (lambda tmp, s: ["--dataset", npz(tmp, *digits())] + NO_LABEL_SET,
                                         "is required for your own data"),
    "too few records for q": (lambda tmp, s: ["--preset", "paper", "--dataset", npz(tmp, *digits(50)), "--batch-size", "600"], "must be smaller than the dataset size"),
    "epsilon <= 0": (lambda tmp, s: ["--dataset", npz(tmp, *digits()), "--epsilon", "0"], "--epsilon must be a positive"),
    "delta >= 1/n": (lambda tmp, s: ["--dataset", npz(tmp, *digits()), "--batch-size", "10", "--delta", "0.01"], "--delta must be < 1/n"),
    "unknown dataset": (lambda tmp, s: ["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    "unwritable output": (lambda tmp, s: parent_is_a_file(tmp), "cannot create the parent"),
    "existing output": (lambda tmp, s: existing_output(tmp), "already exists"),
    "checkpoint of another architecture": (lambda tmp, s: other_architecture_checkpoint(tmp), "checkpoint is for architecture"),
    "tampered checkpoint": (lambda tmp, s: tampered_checkpoint(tmp), "tampered checkpoint"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input(case, tmp_path, shared_data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make, message = CASES[case]
    args = make(tmp_path, shared_data)
    capsys.readouterr()
    before = {p for p in tmp_path.rglob("*")}
    if "--out" not in args and "--resume" not in args:
        args += ["--out", str(tmp_path / "run")]
    if NO_LABEL_SET[0] in args:
        args.remove(NO_LABEL_SET[0])
    elif "--resume" not in args:
        args += ["--num-classes", "10"]  # the public label set of the digits
    rc = main(["train", *args, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dpcgan train: error: ") and message in lines[0], err
    created = {p for p in tmp_path.rglob("*")} - before
    assert not [p for p in created if p.name.startswith("run") or ".partial" in p.name], created
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("flag,value", [("--preset", "nope"), ("--mode", "nope")])
def test_unknown_preset_or_mode(flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", flag, value])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_generator_of_another_architecture_is_refused(tmp_path, capsys):
    spec = ModelSpec("paper-fc", (1, 28, 28), 10)
    G, _ = build_models(ModelSpec("paper-fc", (1, 28, 28), 10, hidden=64))
    torch.save({"format": "dpcgan-generator-v1", "spec": spec.to_dict(), "label_prior": [0.1] * 10,
                "state_dict": G.state_dict()}, tmp_path / "g.pt")
    assert main(["sample", str(tmp_path / "g.pt"), "-n", "3"]) == 2
    assert "weights do not match" in capsys.readouterr().err
