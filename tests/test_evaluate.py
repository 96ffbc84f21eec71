"""The evaluation module: metric helpers against hand-checked values, the pixel scale, the separation of
the real test set from every fitting/selection step, the FID-like cache, and input validation."""

import inspect
import json

import numpy as np
import pytest
import torch

from dpcgan.data import LabeledImages, load_dataset
from dpcgan.errors import ConfigError, DataError
from dpcgan.evaluate import (CNNSettings, EvalSettings, FeatureNetSettings, PaperSettings, default_cache_dir,
                             evaluate_real_reference, evaluate_synthetic, format_table)
from dpcgan.evaluate import classifiers, pipeline
from dpcgan.evaluate.cnn import train_cnn
from dpcgan.evaluate.inputs import unit_pixels
from dpcgan.evaluate.metrics import (accuracy, align_proba, confusion_counts, frechet_distance, gaussian_fit,
                                     micro_auroc, per_class_accuracy)

# Tiny budgets: the whole file must run in well under a minute on one thread.
FAST = EvalSettings(
    paper=PaperSettings(lr_max_iter=50, mlp_max_iter=15, mlp_n_iter_no_change=3),
    cnn=CNNSettings(epochs=3),
    feature_net=FeatureNetSettings(training=CNNSettings(epochs=1), max_train_records=2000),
    fid_max_samples=1000,
)


@pytest.fixture(scope="module")
def real_test(shared_data) -> LabeledImages:
    test = load_dataset("mnist", "test", shared_data, download=False)
    return test.subset(torch.arange(1000))


@pytest.fixture(scope="module")
def syn(mnist_small):
    """A correctly labeled 'synthetic' set: 1,000 real training images as a uint8 numpy array (N, 28, 28)."""
    return mnist_small.x[:1000, 0].numpy(), mnist_small.y[:1000].numpy()


def run(x, y, train, test, **kw):
    kw.setdefault("metrics", ("paper", "cnn"))
    return evaluate_synthetic(x, y, train, test, num_classes=10, progress=False, settings=FAST, **kw)


# --- metric helpers ---------------------------------------------------------------------------------------

def test_perfect_probabilities_give_auroc_and_accuracy_one():
    y = np.array([0, 1, 2, 2, 1, 0, 3])
    proba = np.eye(4)[y] * 0.9 + 0.025
    assert micro_auroc(y, proba, 4) == 1.0
    assert accuracy(y, proba.argmax(1)) == 1.0


def test_micro_auroc_hand_checked_value_and_two_classes():
    # Positive pairs score 0.6 and 0.3, negative pairs 0.4 and 0.7: 1 of 4 (pos, neg) orderings is right.
    y, proba = np.array([0, 1]), np.array([[0.6, 0.4], [0.7, 0.3]])
    assert micro_auroc(y, proba, 2) == pytest.approx(0.25)
    # Scores ranking every true class first are perfect even when they are not probabilities.
    assert micro_auroc(np.array([1, 0, 1]), np.array([[0.2, 0.9], [0.8, 0.1], [0.4, 0.5]]), 2) == 1.0


def test_absent_classes_get_zero_probability_columns():
    proba = np.array([[0.2, 0.5, 0.3]])
    np.testing.assert_array_equal(align_proba(proba, np.array([0, 2, 3]), 5), [[0.2, 0.0, 0.5, 0.3, 0.0]])


def test_classifier_trained_without_some_classes_scores_aligned_columns(mnist_small, real_test):
    keep = torch.isin(mnist_small.y, torch.tensor([2, 5, 7]))   # a synthetic set with 3 of the 10 classes
    x, y = mnist_small.float_images(keep).numpy(), mnist_small.y[keep].numpy()
    model = classifiers.fit_logistic(x, y, settings=FAST.paper, seed=0)
    scores = classifiers.score(model, real_test.float_images().numpy(), real_test.y.numpy(), 10)
    # Accuracy from the aligned columns equals the model's own predictions (class labels, not column indices).
    expected = accuracy(real_test.y.numpy(), model.predict(real_test.float_images().numpy().reshape(1000, -1)))
    assert scores["accuracy"] == pytest.approx(expected)
    assert 0.2 < scores["accuracy"] < 0.4   # about 3 of 10 classes right
    assert 0.5 < scores["auroc"] <= 1.0


def test_confusion_counts_and_per_class_accuracy():
    y_true, y_pred = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 1, 1, 0, 2])
    c = confusion_counts(y_true, y_pred, 4)
    np.testing.assert_array_equal(c, [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    assert per_class_accuracy(c) == [0.5, pytest.approx(2 / 3), 1.0, None]


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + 0.1 * np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.0])
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-8)
    # Diagonal covariances: sum of (sqrt(s1) - sqrt(s2))^2 per dimension.
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), np.diag(s1), np.ones(3), np.diag(s2)) == pytest.approx(3 + 1 + 0 + 4)
    # Sample estimates of two shifted copies of the same cloud.
    f = rng.normal(size=(5000, 4))
    assert frechet_distance(*gaussian_fit(f), *gaussian_fit(f + [2.0, 0, 0, 0])) == pytest.approx(4.0, rel=1e-6)


def test_frechet_distance_of_singular_covariances_is_finite():
    f = np.random.default_rng(1).normal(size=(50, 8))
    f[:, 3] = 0.0   # a dead ReLU unit
    mu, sigma = gaussian_fit(f)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


# --- utility metrics on real data ------------------------------------------------------------------------

def test_shuffled_labels_give_chance_accuracy_and_true_labels_do_not(syn, mnist_small, real_test):
    x, y = syn
    good = run(x, y, mnist_small, real_test)
    bad = run(x, np.random.default_rng(0).permutation(y), mnist_small, real_test)
    for r in (good, bad):
        assert set(r["paper"]) == {"logistic_regression", "mlp"}
    for name in ("logistic_regression", "mlp"):
        assert bad["paper"][name]["accuracy"] < 0.25 and good["paper"][name]["accuracy"] > 0.75
        assert bad["paper"][name]["auroc"] < 0.65 and good["paper"][name]["auroc"] > 0.95
    assert bad["cnn"]["accuracy"] < 0.25 and good["cnn"]["accuracy"] > 0.6
    cm = np.array(good["cnn"]["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == len(real_test)
    assert good["label_histogram"] == np.bincount(y, minlength=10).tolist()
    assert good["cnn"]["n_fit"] + good["cnn"]["n_holdout"] == len(y) and good["cnn"]["n_holdout"] == 100


def test_pixel_scale_is_the_same_for_uint8_and_float_inputs(syn, mnist_small, real_test):
    """The original DP-CGAN code trained on [0, 1] and tested on 0-255 pixels. Every combination of
    uint8 / float synthetic and real test data must give exactly the same numbers."""
    x, y = syn
    float_test = LabeledImages(real_test.float_images(), real_test.y, 10, real_test.name)
    reference = run(x.astype(np.float32) / 255, y, mnist_small, float_test)
    for xs, test in ((x, float_test), (x, real_test), (torch.from_numpy(x).float() / 255, real_test)):
        r = run(xs, y, mnist_small, test)
        assert r["paper"] == reference["paper"]
        assert r["cnn"]["accuracy"] == reference["cnn"]["accuracy"]
    assert reference["paper"]["logistic_regression"]["accuracy"] > 0.75
    assert unit_pixels(np.array([0, 255], np.uint8), source="t").tolist() == [0.0, 1.0]


def test_real_test_images_on_the_0_255_scale_are_refused(syn, mnist_small, real_test):
    x, y = syn
    wrong = LabeledImages(real_test.x.float(), real_test.y, 10, "mnist")   # float but 0-255
    with pytest.raises(DataError, match=r"float pixels must lie in \[0, 1\]"):
        run(x, y, mnist_small, wrong)


# --- the real test set never steers fitting or selection -------------------------------------------------

def test_fit_functions_have_no_test_data_parameters():
    for fn in (train_cnn, classifiers.fit_logistic, classifiers.fit_mlp):
        params = set(inspect.signature(fn).parameters)
        assert params <= {"x", "y", "num_classes", "settings", "seed", "progress", "label"}, (fn.__name__, params)


def test_fitting_sees_only_synthetic_arrays(syn, mnist_small, real_test, monkeypatch):
    x, y = syn
    x, y = x[:700], y[:700]   # a size no real split has
    seen = []

    def spy(fn):
        def wrapped(*args, **kwargs):
            arrays = [a for a in (*args, *kwargs.values()) if isinstance(a, (np.ndarray, torch.Tensor))]
            seen.append((fn.__name__, arrays))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(pipeline, "train_cnn", spy(train_cnn))
    monkeypatch.setattr(classifiers, "fit_logistic", spy(classifiers.fit_logistic))
    monkeypatch.setattr(classifiers, "fit_mlp", spy(classifiers.fit_mlp))
    run(x, y, mnist_small, real_test)
    assert sorted(name for name, _ in seen) == ["fit_logistic", "fit_mlp", "train_cnn"]
    for name, arrays in seen:
        assert arrays and all(len(a) == 700 for a in arrays), name


def test_real_test_set_does_not_change_model_selection(syn, mnist_small, real_test):
    """Scrambling the real test set changes the scores but not which epoch / weights were selected."""
    x, y = syn
    perm = torch.randperm(len(real_test), generator=torch.Generator().manual_seed(0))
    scrambled = LabeledImages(real_test.x.flip(-1), real_test.y[perm], 10, real_test.name)
    a, b = run(x, y, mnist_small, real_test), run(x, y, mnist_small, scrambled)
    for key in ("selected_epoch", "synthetic_holdout_accuracy", "n_fit", "n_holdout"):
        assert a["cnn"][key] == b["cnn"][key]
    assert a["paper"]["mlp"]["synthetic_holdout_accuracy"] == b["paper"]["mlp"]["synthetic_holdout_accuracy"]
    assert a["paper"]["mlp"]["epochs"] == b["paper"]["mlp"]["epochs"]
    assert a["cnn"]["accuracy"] != b["cnn"]["accuracy"]


# --- FID-like metric and its cache -------------------------------------------------------------------------

def test_fid_like_cache_and_floor(syn, mnist_small, real_test, tmp_path):
    x, y = syn
    first = run(x, y, mnist_small, real_test, metrics=("fid",), cache_dir=tmp_path)
    fid = first["fidelity"]
    assert fid["feature_net"]["from_cache"] is False and len(list(tmp_path.glob("mnist-*.pt"))) == 1
    assert "mnist" in fid["feature_net"]["cache_file"] and fid["n_samples"] == 1000
    cached = torch.load(fid["feature_net"]["cache_file"], weights_only=True)
    assert cached["format"] == "dpcgan-eval-feature-net-v1"
    # Real training images are about as close to the test set as other real training images.
    assert fid["fid_like"] < 3 * fid["fid_like_real_train_vs_test"] + 1e-3
    noise = np.random.default_rng(0).integers(0, 256, size=x.shape, dtype=np.uint8)
    second = run(noise, y, mnist_small, real_test, metrics=("fid",), cache_dir=tmp_path)
    assert second["fidelity"]["feature_net"]["from_cache"] is True
    assert second["fidelity"]["fid_like_real_train_vs_test"] == fid["fid_like_real_train_vs_test"]
    assert second["fidelity"]["fid_like"] > 10 * fid["fid_like_real_train_vs_test"]
    assert first["inception_fid"] is None and "Inception" in first["inception_fid_note"]
    # A corrupt cache file is replaced, not trusted.
    path = tmp_path / fid["feature_net"]["cache_file"].split("/")[-1]
    path.write_bytes(b"garbage")
    third = run(x, y, mnist_small, real_test, metrics=("fid",), cache_dir=tmp_path)
    assert third["fidelity"]["feature_net"]["from_cache"] is False
    assert third["fidelity"]["fid_like"] == pytest.approx(fid["fid_like"])


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "dpcgan" / "eval"


# --- the result and the table ------------------------------------------------------------------------------

def test_reference_row_table_and_note(mnist_small, real_test, tmp_path):
    ref = evaluate_real_reference(mnist_small, real_test, max_records=800, metrics=("paper",), progress=False,
                                  settings=FAST, cache_dir=tmp_path)
    assert ref["input"].startswith("real training data") and ref["n_train"] == 800
    syn = evaluate_synthetic(mnist_small.x[:500], mnist_small.y[:500], mnist_small, real_test, num_classes=10,
                             metrics=("paper",), progress=False, settings=FAST)
    json.dumps(syn)   # JSON-serialisable as is
    assert "not differentially private" in syn["note"] and "outside the DP guarantee" in syn["note"]
    assert syn["settings"]["paper"]["mlp_alpha"] == 1.0
    table = format_table(syn, ref)
    assert "LR one-vs-rest: AUROC (micro)" in table and "real (reference)" in table
    assert f"{ref['paper']['mlp']['accuracy']:.4f}" in table and "CNN accuracy" not in table
    assert "not differentially private" in table.replace("\n", " ")


# --- validation ----------------------------------------------------------------------------------------------

def _bad_inputs():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 10
    nan = x.astype(np.float32) / 255
    nan[3, 4, 5] = np.nan
    return [
        ("image size", rng.integers(0, 256, size=(20, 32, 32), dtype=np.uint8), y,
         r"shape \(20, 32, 32\).*\(N, 1, 28, 28\)"),
        ("channels", rng.integers(0, 256, size=(20, 3, 28, 28), dtype=np.uint8), y, r"real test images need"),
        ("flat vectors", x.reshape(20, -1), y, "shape"),
        ("label too big", x, np.where(y == 9, 10, y), r"labels must lie in \[0, 9\].*found \[0, 10\]"),
        ("negative label", x, y - 1, r"found \[-1, 8\]"),
        ("float labels", x, y + 0.5, "labels must be integers"),
        ("2-D labels", x, y[:, None], "1-D"),
        ("length", x, y[:19], "20 images but 19 labels"),
        ("NaN", nan, y, "NaN"),
        ("0-255 floats", x.astype(np.float32), y, r"float pixels must lie in \[0, 1\]"),
        ("int32 pixels", x.astype(np.int32), y, "uint8"),
        ("one class", x, np.zeros(20, np.int64), "at least 2 classes"),
        ("empty", x[:0], y[:0], "no images"),
    ]


@pytest.mark.parametrize("case,x,y,match", _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_bad_synthetic_data_is_a_clear_data_error(case, x, y, match, mnist_small, real_test):
    with pytest.raises(DataError, match=match):
        run(x, y, mnist_small, real_test)


def test_bad_metric_names_and_class_counts(syn, mnist_small, real_test):
    x, y = syn
    with pytest.raises(ConfigError, match="unknown metric"):
        run(x, y, mnist_small, real_test, metrics=("paper", "inception"))
    with pytest.raises(DataError, match="num_classes=5"):
        evaluate_synthetic(x, y % 5, mnist_small, real_test, num_classes=5, progress=False)
