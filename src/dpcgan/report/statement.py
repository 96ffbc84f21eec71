"""The privacy statement of a run in plain words, from its privacy.json (shared by report.html and MODEL_CARD.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Statement:
    private: bool                 # a DP run (mode split/joint), not --mode off
    releasable: bool              # privacy.json's release == "release"
    release_note: str             # "" when releasable, else why not (shown prominently)
    epsilon: float | None         # the epsilon to quote (report_this)
    delta: float | None
    conversion: str | None
    how_to_quote: str
    guarantee: str
    adjacency: str
    protected: str
    assumed_public: list[tuple[str, str]]
    not_covered: list[str]
    resumes: list[str]
    forks: int                    # resumes that were forks (each costs another epsilon)
    epsilon_cap: float | None
    epsilon_pld: float | None
    d_steps: int | None
    other_releases: list[str] = field(default_factory=list)   # full-data releases composed into epsilon, in words


RELEASE_WORDS = {   # ledger release kind -> (what it is, the setting that turns it off)
    "warm-start": ("the DP warm start (per-class means and counts)", "--set warm_start_noise=0"),
    "warm-start-embedding": ("the DP warm start's mean embeddings (random Fourier features)",
                             "--set warm_start_rff_noise=0"),
    "label-histogram": ("the DP label histogram (class counts)", "--label-prior uniform"),
    "schema-draft": ("the DP schema draft (category and bin counts)", "a schema written from public knowledge"),
    "marginals": ("DP count tables", "a GAN table preset"),
    "marginal-selection": ("DP scores of the column pairs", "a GAN table preset"),
}


def mechanism_summary(privacy: dict[str, Any], other_releases: list[str]) -> str:
    """The mechanism in one sentence with its parameters (report.html and MODEL_CARD.md)."""
    if privacy.get("marginals"):   # a marginal-fitted table: releases only, no D steps
        return f"{privacy.get('mechanism')}: {privacy['marginals'].get('summary', '')}"
    def fmt(v, spec: str) -> str:
        return "?" if v is None else format(v, spec)
    return (f"{privacy.get('mechanism')}; sample rate q = {fmt(privacy.get('sample_rate'), '.6g')}, noise multiplier "
            f"σ = {fmt(privacy.get('noise_multiplier'), '.4g')}, clipping norm C = "
            f"{fmt(privacy.get('max_grad_norm'), 'g')}, {privacy.get('d_steps')} D steps"
            + (f", plus {len(other_releases)} release(s) over the whole data before the first D step, composed into "
               f"the same ε: {'; '.join(other_releases)}" if other_releases else ""))


def other_releases(privacy: dict[str, Any]) -> list[str]:
    """Each release over the whole data set (sample rate 1) in the ledger, in words: what it is, its noise
    multiplier and how to turn it off; all are composed into the epsilon quoted (issue 24 item 2)."""
    out = []
    for e in privacy.get("events", []) or []:
        if e.get("sample_rate") != 1.0 or str(e.get("release", "")).startswith("marginal"):
            continue   # (a marginal-fitted table's own releases are its mechanism: mechanism_summary)
        what, off = RELEASE_WORDS.get(e.get("release"), (f"a full-data release ({e.get('release')})", "-"))
        out.append(f"{what}, noise multiplier {float(e.get('noise_multiplier', 0)):g} (off: {off})")
    return out


def _architecture(arch: Any, table: bool) -> str:
    if not isinstance(arch, dict):
        return str(arch)
    # a table's schema is listed column by column elsewhere (report.html's Schema section, MODEL_CARD.md's table) and
    # its encoded width is the "table schema" entry
    skip = {"schema", "image_shape"} if table else set()
    return ", ".join(f"{k} {v}" for k, v in arch.items() if v is not None and k not in skip)


def privacy_statement(privacy: dict[str, Any], label_names: list[str]) -> Statement:
    report = privacy.get("report_this")
    private = report is not None
    releasable = privacy.get("release") == "release"
    if releasable:
        release_note = ""
    elif not private:
        release_note = "NOT FOR RELEASE: this run is not private (--mode off); nothing from it may be shared."
    else:
        why = []
        if privacy.get("schema_read_without_dp"):
            why.append("its table schema was read from the private rows without DP (`dpcgan schema draft` without "
                       "--epsilon), so its categories and bounds may reveal records. Draft the schema with --epsilon "
                       "or write it from public knowledge, or train with --schema-is-public if it is public.")
        if str(privacy.get("randomness", "")).startswith("seeded") or not why:  # (older files: seeded is the reason)
            why.insert(0, "this run was seeded (--seed), so its noise and sampling can be replayed; it is an "
                          "experiment. Train again without --seed for a release.")
        release_note = "NOT FOR RELEASE: " + " Also, ".join(why)
    public = privacy.get("assumed_public", {})
    names = ", ".join(label_names)
    table = "table_schema" in public
    shape = public.get("image_shape", [])
    assumed = [
        ("dataset size n", str(public.get("n", "?"))),
        ("label set", f"{len(label_names)} classes: {names}"),
        ("table schema", f"{len((public['table_schema'] or {}).get('columns', {}))} columns with their types, "
                         "categories or bounds and empty cells (listed column by column with the schema); each row "
                         f"encoded as {shape[-1] if shape else '?'} values") if table else
        ("image shape", " x ".join(str(s) for s in shape)),
        ("dataset (by name only)", str(public.get("dataset", "?"))),
        ("architecture", _architecture(public.get("architecture"), table)),
        ("hyperparameters", "all of them, as recorded in config.json"),
        ("preprocessing", str(public.get("preprocessing", ""))),
        ("fake-label prior", str(privacy.get("fake_samples", {}).get("label_prior_source", "uniform"))),
    ]
    resumes = []
    forks = 0
    for r in privacy.get("resumes", []) or []:
        fork = bool(r.get("fork"))
        forks += fork
        # reached_step / steps_rerun_at_least: only in an older privacy.json (now in the private record: timing)
        reached = (f" (last step logged before the interruption: {r.get('reached_step')}; at least "
                   f"{r.get('steps_rerun_at_least', 0)} steps run twice)" if "reached_step" in r else "")
        resumes.append(f"resumed from D step {r.get('from_step')}{reached}"
                       + (" - a FORK: it resumed a checkpoint its run had already continued past, so two "
                          "releasable runs exist and together they cost more than one epsilon" if fork else ""))
    if private:
        record = "row (all its cells and its label)" if table else "record (image and label)"
        # a marginal-fitted table has no discriminator: generator.pt is the whole release
        released = "generator.pt" if privacy.get("marginals") else "generator.pt and discriminator.pt"
        protected = (f"each single {record} of the {public.get('n', '?')} training records: any "
                     f"outcome of the released {released}, and of everything sampled from "
                     f"them, is at most e^{report['epsilon']:.2f} times more likely with that record than without "
                     f"it, except with probability {report['delta']:g}. This is per record, not per person: someone "
                     f"with k records in the data is protected at about k times epsilon (group privacy); for "
                     f"per-person protection keep one record per person")
    else:
        protected = "nothing: the run is not differentially private"
    return Statement(
        private=private, releasable=releasable, release_note=release_note,
        epsilon=report["epsilon"] if private else None, delta=report["delta"] if private else None,
        conversion=report["conversion"] if private else None,
        how_to_quote=report["how_to_quote"] if private else "no guarantee (non-private run)",
        guarantee=str(privacy.get("guarantee", "")), adjacency=str(privacy.get("adjacency", "")),
        protected=protected, assumed_public=assumed, not_covered=[str(s) for s in privacy.get("not_covered", [])],
        resumes=resumes, forks=forks, epsilon_cap=privacy.get("epsilon_cap"), epsilon_pld=privacy.get("epsilon_pld"),
        d_steps=privacy.get("d_steps"), other_releases=other_releases(privacy) if private else [],
    )


def label_prior_sentence(config: dict[str, Any], privacy: dict[str, Any], label_names: list[str]) -> str:
    """Which label distribution `dpcgan sample` draws from by default (the prior the run trained with), in words,
    from config.json and privacy.json (both public). A DP label histogram's weights are shown: they are released."""
    source = (config.get("config") or config).get("label_prior") or \
        (privacy.get("fake_samples") or {}).get("label_prior_source") or "uniform"
    weights = (privacy.get("fake_samples") or {}).get("label_prior") or []
    shares = ", ".join(f"{name} {100 * float(w):.1f} %" for name, w in zip(label_names, weights))
    if source == "uniform":
        return ("Sampling: labels drawn uniformly (public prior), every class equally often whatever the class "
                "proportions of the training data; train with --label-prior dp-histogram to learn the class "
                "proportions (a DP release, covered by the run's ε).")
    if source == "dp-histogram":
        return ("Sampling: labels drawn from the run's DP label histogram (released with noise, covered by the run's "
                f"ε){': ' + shares if shares else ''}.")
    if source == "warm-start-counts":
        return ("Sampling: labels drawn in the class proportions of the DP warm start's noisy counts (released with "
                f"its per-class means, covered by the run's ε){': ' + shares if shares else ''}.")
    return (f"Sampling: labels drawn from the public prior weights the run trained with ({source.rsplit('/', 1)[-1]})"
            f"{': ' + shares if shares else ''}.")
