"""The empirical privacy audit: the bound arithmetic, the attacks' power, and a small end-to-end audit."""

import json
import math

import numpy as np
import pytest
import torch

from dpcgan.audit import attack_summary, canary_experiment, epsilon_lower_bound, roc_auc
from dpcgan.audit.bounds import clopper_pearson, tpr_at_fpr
from dpcgan.audit.membership import dcr_scores
from dpcgan.cli import main
from dpcgan.config import preset


def test_auc_and_tpr_by_hand():
    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert roc_auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert roc_auc(np.array([1.0]), np.array([1.0])) == 0.5  # ties count half
    # non-members 0..9, members 5..14: at FPR 10% only non-member 9 may pass, so members 9..14 are caught
    assert tpr_at_fpr(np.arange(10.0) + 5, np.arange(10.0), 0.1) == 0.6


def test_clopper_pearson_known_values():
    lo, hi = clopper_pearson(0, 10, 0.95)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)  # closed form for k = 0
    lo, hi = clopper_pearson(10, 10, 0.95)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10), rel=1e-9)


def test_epsilon_lower_bound_perfect_and_useless_attacks():
    n = 1000
    perfect = epsilon_lower_bound(np.ones(n), np.zeros(n), delta=0.0)
    # TPR >= 0.025^(1/n) and FPR <= 1 - 0.025^(1/n) at 95%: eps >= log(TPR_lo / FPR_hi)
    expected = math.log(0.025 ** (1 / n) / (1 - 0.025 ** (1 / n)))
    assert perfect["epsilon_lower_bound"] == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(0)
    assert epsilon_lower_bound(rng.normal(size=n), rng.normal(size=n), delta=1e-5)["epsilon_lower_bound"] < 0.3


def test_dcr_attack_catches_a_memorising_generator(mnist_small, shared_data):
    """Not vacuous: if the 'synthetic' data were the training records, the attack must see it."""
    from dpcgan.data import load_dataset

    test = load_dataset("mnist", "test", shared_data).subset(torch.arange(500))
    members = mnist_small.subset(torch.arange(500))
    synth_x, synth_y = members.x, members.y  # a generator that copies its training data
    summary = attack_summary(dcr_scores(members, synth_x, synth_y), dcr_scores(test, synth_x, synth_y), 1e-5)
    assert summary["auc"] > 0.99 and summary["epsilon_lower_bound"] > 3


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory, mnist_small):
    p = tmp_path_factory.mktemp("data") / "train.npz"
    np.savez(p, x=mnist_small.x[:, 0].numpy(), y=mnist_small.y.numpy())
    out = tmp_path_factory.mktemp("runs") / "a"
    assert main(["train", "--preset", "paper", "--dataset", str(p), "--num-classes", "10", "--batch-size", "100", "--sigma", "1.1", "--steps", "60",
                 "--seed", "0", "--out", str(out), "--no-progress"]) == 0
    return out


def test_audit_end_to_end(audited_run, shared_data, tmp_path, capsys):
    from dpcgan.data import load_dataset

    test = load_dataset("mnist", "test", shared_data)
    holdout = tmp_path / "holdout.npz"
    np.savez(holdout, x=test.x[:2000, 0].numpy(), y=test.y[:2000].numpy())
    assert main(["audit", str(audited_run), "--holdout", str(holdout), "-n", "500", "--canary",
                 "--canary-trials", "3", "--canary-records", "500", "--canary-steps", "30"]) == 0
    report = json.loads((audited_run / "private" / "audit.json").read_text())
    eps = report["accounted_epsilon"]
    for name in ("distance_to_closest_synthetic", "discriminator_score"):
        attack = report["membership"]["attacks"][name]
        assert 0.0 <= attack["auc"] <= 1.0 and attack["n_members"] == 500
        assert attack["epsilon_lower_bound"] <= eps  # the accounted bound is not beaten
    canary = report["canary"]
    assert len(canary["scores_with"]) == len(canary["scores_without"]) == 3
    assert canary["within_bound"] is True and canary["attack"]["epsilon_lower_bound"] <= canary["bound"]
    assert "NOT covered" in report["note"]


def test_audit_needs_a_holdout_for_npz_runs(audited_run, capsys):
    assert main(["audit", str(audited_run)]) == 2
    assert "--holdout" in capsys.readouterr().err


def test_canary_is_detectable_without_dp_and_not_beyond_the_bound_with_it(mnist_small):
    """The control arm gives the attack its power; the DP arm must stay within its accounted bound."""
    data = mnist_small.subset(torch.arange(500))
    base = preset("paper").replace(batch_size=50, steps=80, target_epsilon=None, noise_multiplier=1.0, d_lr=0.1)
    off = canary_experiment(data, base.replace(mode="off"), copies=1, trials=4)
    dp = canary_experiment(data, base, copies=1, trials=4)
    assert off["attack"]["auc"] >= 0.9  # non-private D recognises the record it trained on
    assert dp["within_bound"] is True
