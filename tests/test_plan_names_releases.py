"""The printed plan names every release its epsilon includes (privacy review 2, item 6): the DP warm start as well
as the DP label histogram and schema draft, each with its noise multiplier, its share of epsilon and the setting
that turns it off; a budget that the releases alone exhaust says which they are."""

import pytest

from dpcgan.config import describe_plan, preset, resolve_plan
from dpcgan.errors import PrivacyBudgetError


def test_the_plan_line_names_the_dp_warm_start_and_the_label_histogram():
    cfg = preset("mnist-eps10")
    assert cfg.warm_start_noise > 0
    line, _ = describe_plan(cfg, resolve_plan(cfg, 60000, 10))
    assert "DP warm start" in line and "noise multiplier 20" in line and "warm_start_noise=0" in line
    cfg = cfg.replace(label_prior="dp-histogram")
    line, _ = describe_plan(cfg, resolve_plan(cfg, 60000, 10))
    assert "DP warm start" in line and "DP label histogram" in line and "--label-prior uniform" in line
    without = preset("mnist-eps1")   # no warm start: not named
    line, _ = describe_plan(without, resolve_plan(without, 60000, 10))
    assert "warm start" not in line


def test_a_budget_spent_by_the_releases_alone_names_them():
    cfg = preset("mnist-eps10").replace(target_epsilon=0.1)
    with pytest.raises(PrivacyBudgetError, match=r"already spend.*DP warm start.*noise multiplier 20.*warm_start_noise=0"):
        resolve_plan(cfg, 60000, 10)
