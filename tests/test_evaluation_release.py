"""Privacy review item 4: an evaluation on private data (the run's own training data, --test FILE) is not in the
releasable report.html and MODEL_CARD.md unless asked for; one on public benchmarks is; and no releasable file of a
run holds a path of this machine."""

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from dpcgan.cli import main
from dpcgan.evaluate.report import ROWS


@pytest.fixture(scope="module")
def own_run(tmp_path_factory, small_npz):
    out = tmp_path_factory.mktemp("own") / "run"
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "10", "--log-every", "5", "--seed", "0", "--out", str(out),
                 "--no-progress"]) == 0
    return out


@pytest.fixture
def run_copy(own_run, tmp_path):
    return Path(shutil.copytree(own_run, tmp_path / "run"))


def machine_paths(tmp_path_factory) -> list[str]:
    """Where this machine keeps things: the temporary base (runs, data), the home and the cache."""
    paths = [str(tmp_path_factory.getbasetemp()), str(Path.home()), os.environ["XDG_CACHE_HOME"]]
    return [p for p in paths if len(p) > 4]


def releasable_files(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.is_file() and "private" not in p.relative_to(run).parts]


def assert_no_machine_path(run: Path, tmp_path_factory) -> None:
    files = releasable_files(run)
    assert files
    for f in files:
        data = f.read_bytes()
        for path in machine_paths(tmp_path_factory):
            assert path.encode() not in data, f"{f.relative_to(run)} holds {path}"


def headline_numbers(ev: dict) -> list[str]:
    """The evaluation's numbers as the report and card would print them."""
    return [fmt.format(get(ev)) for _, get, fmt in ROWS if get(ev) is not None]


def report(run: Path, capsys, *extra: str) -> tuple[str, str, str]:
    capsys.readouterr()
    assert main(["report", str(run), *extra]) == 0
    out = capsys.readouterr().out
    return (run / "report.html").read_text(encoding="utf-8"), (run / "MODEL_CARD.md").read_text(encoding="utf-8"), out


def test_an_evaluation_on_own_data_is_private_and_left_out_of_the_releasable_files(
        run_copy, mnist_train, tmp_path, tmp_path_factory, capsys):
    before_html, before_card, _ = report(run_copy, capsys)
    test = tmp_path / "test.npz"
    np.savez(test, x=mnist_train.x[50000:50300, 0].numpy(), y=mnist_train.y[50000:50300].numpy())
    # --train defaults to the run's own training data: the FID-like floor and P/R floor describe it
    assert main(["evaluate", str(run_copy), "--test", str(test), "--metrics", "paper,fid", "-n", "300"]) == 0
    printed = capsys.readouterr().out
    assert not (run_copy / "evaluation.json").exists()
    private = run_copy / "private" / "evaluation.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and "PRIVATE" in printed
    ev = json.loads(private.read_text())
    assert ev["data_sources"] == {"train": {"kind": "private", "name": "mnist2k.npz"},
                                  "test": {"kind": "private", "name": "test.npz"}}
    floors = [f"{ev['fidelity']['fid_like_real_train_vs_test']:.3f}", f"{ev['fidelity']['fid_like']:.3f}"]
    numbers = [n for n in headline_numbers(ev) if n not in before_html and n not in before_card]
    assert set(floors) <= set(numbers)

    html, card, out = report(run_copy, capsys)
    assert "no private content" not in out
    assert "the evaluation on private data is in" in out and "not included" in out
    for n in numbers:
        assert n not in html and n not in card, n
    assert 'id="headline-metrics"' not in html and "FID-like floor" not in html + card
    assert 'id="evaluation-withheld"' in html and "private/evaluation.json" in card
    full = (run_copy / "private" / "report.html").read_text(encoding="utf-8")
    assert all(f in full for f in floors)  # the private report holds it
    assert_no_machine_path(run_copy, tmp_path_factory)

    html, card, out = report(run_copy, capsys, "--include-private-evaluation")
    assert "INCLUDED on request" in out and "real-train floor" in out
    assert all(f in html and f in card for f in floors)
    assert 'id="evaluation-on-private-data"' in html and "Computed on private data" in card
    assert_no_machine_path(run_copy, tmp_path_factory)


def test_an_old_evaluation_json_without_data_sources_counts_as_private(run_copy, capsys):
    (run_copy / "evaluation.json").write_text(json.dumps({
        "format": "dpcgan-evaluation-v1", "input": "synthetic", "dataset": "mnist2k.npz", "num_classes": 10,
        "n_train": 100, "n_real_test": 50, "label_histogram": [10] * 10,
        "fidelity": {"fid_like": 71.8234, "fid_like_real_train_vs_test": 3.1416}, "note": "outside the guarantee"}))
    html, card, out = report(run_copy, capsys)
    assert "71.823" not in html + card and "3.142" not in html + card
    assert "treated as private and not included" in out and "no private content" not in out
    html, card, out = report(run_copy, capsys, "--include-private-evaluation")
    assert "3.142" in html and "3.142" in card


def test_an_evaluation_on_public_benchmarks_is_embedded(shared_data, tmp_path, tmp_path_factory, capsys):
    run = tmp_path / "mnist-run"
    assert main(["--threads", "1", "train", "--dataset", "mnist", "--data-dir", str(shared_data), "--batch-size", "100",
                 "--sigma", "1.1", "--steps", "5", "--log-every", "5", "--seed", "0", "--out", str(run),
                 "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--data-dir", str(shared_data), "--metrics", "paper", "-n", "300"]) == 0
    ev = json.loads((run / "evaluation.json").read_text())
    assert not (run / "private" / "evaluation.json").exists()
    assert ev["data_sources"] == {"train": {"kind": "public-benchmark", "name": "mnist", "split": "train"},
                                  "test": {"kind": "public-benchmark", "name": "mnist", "split": "test"}}
    html, card, out = report(run, capsys)
    auroc = f"{ev['paper']['logistic_regression']['auroc']:.4f}"
    assert auroc in html and f"| LR one-vs-rest: AUROC (micro) | {auroc} |" in card
    assert "evaluation on public benchmark data" in out and "not included" not in out
    assert_no_machine_path(run, tmp_path_factory)
    for f in releasable_files(run):
        assert str(shared_data).encode() not in f.read_bytes(), f


def test_own_data_evaluation_defaults(run_copy, mnist_train, tmp_path, capsys, monkeypatch):
    """Issue 24 item 8: with --test the real-data reference row is on by default; the sample count is
    min(60,000, 10 n); the feature network trained on the private images is cached in RUN/private/ (0700), not in
    the shared user cache."""
    user_cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))
    test = tmp_path / "test.npz"
    np.savez(test, x=mnist_train.x[50000:50200, 0].numpy(), y=mnist_train.y[50000:50200].numpy())
    (run_copy / "synthetic.npz").unlink(missing_ok=True)
    assert main(["evaluate", str(run_copy), "--test", str(test), "--metrics", "paper,fid"]) == 0
    out = capsys.readouterr().out
    n = json.loads((run_copy / "privacy.json").read_text())["assumed_public"]["n"]
    assert f"sampled {min(60000, 10 * n)} records" in out
    ev = json.loads((run_copy / "private" / "evaluation.json").read_text())
    assert "real_reference" in ev
    cache = run_copy / "private" / "eval-cache"
    assert cache.is_dir() and stat.S_IMODE(cache.stat().st_mode) == 0o700 and any(cache.iterdir())
    assert not user_cache.exists() or not any(user_cache.rglob("*.pt"))
