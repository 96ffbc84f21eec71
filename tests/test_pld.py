"""PLD accounting of a ledger with each event's exact mechanism (privacy/pld.py), checked against dp-accounting's
own PLD accountant and PLD constructors. The count releases are discrete Gaussians, whose PLD epsilon differs from
the continuous Gaussian's (above it at s = 20): reporting them as continuous (as before) could understate it."""

import math

import pytest

from dpcgan.privacy.accountant import PrivacyLedger
from dpcgan.privacy.pld import event_pld, ledger_epsilon

dp_event = pytest.importorskip("dp_accounting.dp_event")
pld_accountant = pytest.importorskip("dp_accounting.pld.pld_privacy_accountant")
pld = pytest.importorskip("dp_accounting.pld.privacy_loss_distribution")


def test_d_steps_alone_match_dp_accountings_pld_accountant():
    ledger = PrivacyLedger()
    for _ in range(800):
        ledger.record_step(sample_rate=0.01, noise_multiplier=1.1)
    acc = pld_accountant.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.1)), 800))
    assert ledger_epsilon(ledger, 1e-5) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)


def test_each_release_is_accounted_as_the_mechanism_that_ran():
    d = 1e-3
    ledger = PrivacyLedger()
    ledger.record_step(sample_rate=1.0, noise_multiplier=3.0, release="label-histogram")
    assert ledger_epsilon(ledger, 1e-5) == pytest.approx(
        pld.from_discrete_gaussian_mechanism(3.0, value_discretization_interval=d).get_epsilon_for_delta(1e-5), rel=1e-12)
    # ... which is not the continuous Gaussian of the same s (what the old cross-check assumed); at s = 20, the
    # presets' warm-start noise, it costs more
    for s, sign in ((3.0, 0), (20.0, 1)):
        discrete, continuous = PrivacyLedger(), PrivacyLedger()
        discrete.record_step(sample_rate=1.0, noise_multiplier=s, release="label-histogram")
        continuous.record_step(sample_rate=1.0, noise_multiplier=s)
        gap = ledger_epsilon(discrete, 1e-5) - ledger_epsilon(continuous, 1e-5)
        assert abs(gap) > 1e-5 and (gap > 0 if sign else True)
    warm = PrivacyLedger()
    warm.record_step(sample_rate=1.0, noise_multiplier=2.0, release="warm-start")
    want = pld.from_gaussian_mechanism(2.0 * math.sqrt(2), value_discretization_interval=d).compose(
        pld.from_discrete_gaussian_mechanism(2.0 * math.sqrt(2), value_discretization_interval=d))
    assert ledger_epsilon(warm, 1e-5) == pytest.approx(want.get_epsilon_for_delta(1e-5), rel=1e-12)
    draft = PrivacyLedger()
    draft.record_step(sample_rate=1.0, noise_multiplier=2.0, release="schema-draft", coordinates=5)
    want = pld.from_discrete_gaussian_mechanism(2.0 * math.sqrt(5), value_discretization_interval=d).self_compose(5)
    assert ledger_epsilon(draft, 1e-5) == pytest.approx(want.get_epsilon_for_delta(1e-5), rel=1e-12)
    with pytest.raises(ValueError):
        PrivacyLedger().record_step(sample_rate=0.5, noise_multiplier=2.0, release="label-histogram")


def test_the_ledger_keeps_releases_through_its_dict_and_reads_old_events_as_continuous():
    ledger = PrivacyLedger()
    ledger.record_step(sample_rate=1.0, noise_multiplier=20.0, release="warm-start")
    ledger.record_step(sample_rate=1.0, noise_multiplier=20.0)   # same s, another mechanism: not merged
    for _ in range(3):
        ledger.record_step(sample_rate=0.01, noise_multiplier=1.0)
    events = ledger.to_dict()
    assert [e.get("release") for e in events] == ["warm-start", None, None] and events[2]["count"] == 3
    assert set(events[2]) == {"sample_rate", "noise_multiplier", "count"}
    again = PrivacyLedger.from_events(events)
    assert again.events == ledger.events and again.epsilon(1e-5) == pytest.approx(ledger.epsilon(1e-5), rel=1e-12)
    old = PrivacyLedger.from_events([{"sample_rate": 1.0, "noise_multiplier": 20.0, "count": 1}])
    assert old.events[0].release is None and event_pld(old.events[0]) is not None
