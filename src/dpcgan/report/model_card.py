"""MODEL_CARD.md: the releasable summary of a run. Built from public files only (config.json, privacy.json, and
evaluation.json when its real data were public benchmarks); it never reads private/ (metrics, the audit, an
evaluation on private data unless --include-private-evaluation asks for it), so nothing private ends up in it."""

from __future__ import annotations

from typing import Any

from ..evaluate.report import ROWS as EVAL_ROWS
from ..evaluate.sources import describe as describe_sources
from . import table_card
from .run_files import RunFiles
from .statement import Statement, label_prior_sentence, mechanism_summary


def _text(s: object) -> str:
    """A user-given string (label name, file name) as literal Markdown text: no inline HTML."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bullets(items: list[str]) -> list[str]:
    return [f"- {s}" for s in items]


def render_model_card(run: RunFiles, st: Statement) -> str:
    p = run.privacy
    name = run.path.resolve().name
    out = [f"# Model card: {name}", ""]
    if st.release_note:
        out += [f"> **{st.release_note}**", ""]
    if run.schema:
        out += table_card.intro_lines(run, st)
    else:
        how = ("DP-CGAN: the discriminator trained with DP-SGD, the generator only through it" if st.private else
               "a non-private CGAN, --mode off")
        out += ["A conditional GAN generator (`generator.pt`, with its discriminator `discriminator.pt`) trained with "
                f"dpcgan ({how}). It draws labeled synthetic images: `dpcgan sample RUN -n N`.", "",
                _text(label_prior_sentence(run.config, p, run.label_names)), ""]
    out += ["## Privacy", ""]
    if st.private:
        out += [f"**(ε = {st.epsilon:.2f}, δ = {st.delta:g})-differential privacy** ({'PLD accounting' if st.conversion == 'pld' else f'{st.conversion} RDP conversion'}).",
                "", f"How to quote it: {st.how_to_quote}.", ""]
    else:
        out += ["**No privacy guarantee** (non-private run).", ""]
    out += [f"- Guarantee: {st.guarantee}", f"- What is protected: {st.protected}.", f"- Adjacency: {st.adjacency}."]
    if st.private:
        out += [f"- Mechanism: {mechanism_summary(p, st.other_releases)}.",
                "- ε under each conversion: " + ", ".join(f"{c} {e:.4f}" for c, e in
                                                         (p.get("epsilon_by_conversion") or {}).items() if e is not None)
                + (f"; PLD (tighter, not the headline) {st.epsilon_pld:.4f}" if st.epsilon_pld is not None and st.conversion != "pld" else "")
                + (f"; cap {st.epsilon_cap:g}" if st.epsilon_cap is not None else "") + "."]
    out += ["", "Assumed public:", ""] + _bullets([f"{k}: {_text(v)}" for k, v in st.assumed_public])
    out += ["", "Not covered by the guarantee:", ""] + _bullets(st.not_covered)
    out += ["", "Resumes: none (never interrupted and resumed)."] if not st.resumes else ["", "Resumes:", ""] + _bullets(st.resumes)
    if st.forks:
        out += ["", f"**{st.forks} fork(s)**: several runs on the same data were released; together they cost "
                "more than the ε above."]
    out += ["", "The ledger of every D step and every release over the whole data is in `privacy.json` (`events`): "
            "anyone can recompute ε from it.", ""]
    if run.schema:   # a table run: schema, model, rows, its evaluation and uses in rows' words (table_card.py)
        out += table_card.body_lines(run, st)
    else:
        out += _image_body(run, st)
    software = p.get("software", {})
    out += ["", "## Software", "", ", ".join(f"{k} {v}" for k, v in software.items()) + ".", ""]
    return "\n".join(out)


def _image_body(run: RunFiles, st: Statement) -> list[str]:
    cfg: dict[str, Any] = run.config.get("config", {})
    model: dict[str, Any] = run.config.get("model", {})
    p = run.privacy
    out = ["## Model and data", ""]
    out += _bullets([
        f"Architecture: {model.get('arch', cfg.get('arch'))}, latent dimension {model.get('latent_dim')}, "
        f"image shape {' x '.join(str(s) for s in run.image_shape)}" + (
            f" (G and D work at {model['model_side']} x {model['model_side']}: D average-pools each image to it, G's "
            "samples are upsampled bilinearly, so detail finer than that is not modelled)."
            if model.get("model_side") else "."),
        f"Classes ({run.num_classes}): {_text(', '.join(run.label_names))}.",
        f"Training data: {_text(cfg.get('dataset'))} ({p.get('assumed_public', {}).get('n')} records; named, not located).",
        f"Training: mode {cfg.get('mode')}, expected batch size {cfg.get('batch_size')}, "
        f"D optimiser {cfg.get('d_optimizer')} (lr {cfg.get('d_lr')}), G lr {cfg.get('g_lr')}, "
        f"fake-label prior {cfg.get('label_prior')}. The full configuration is in `config.json`.",
    ])
    ev = run.evaluation
    out += ["", "## Evaluation", ""]
    if ev is None and run.evaluation_withheld:
        out += [f"Left out: the evaluation in `{run.evaluation_withheld}` read private data, or does not record what "
                "it read (its numbers describe that data, outside the DP guarantee)."]
    elif ev is None:
        out += ["Not evaluated (`dpcgan evaluate RUN` writes evaluation.json)."]
    else:
        if run.evaluation_private:
            out += [f"> **Computed on private data ({_text(describe_sources(ev))}), included on request: these numbers "
                    "describe that data and are not covered by the DP guarantee.**", ""]
        out += [f"{ev.get('n_train')} synthetic records, tested on {ev.get('n_real_test')} real test records of "
                f"{ev.get('dataset')}.", "", "| metric | value |", "|---|---|"]
        out += [f"| {label} | {fmt.format(get(ev))} |" for label, get, fmt in EVAL_ROWS if get(ev) is not None]
        out += ["", f"Note: {ev.get('note', '')}"]
    out += ["", "## Intended use and limits", ""]
    out += _bullets([
        "Synthetic labeled images for exploration, prototyping and training downstream models, shared in place "
        "of the private data" + (" (once trained in release mode: this run is not for release)." if st.release_note
                                  else "."),
        "DP bounds what the model reveals about any single record; it does not make the synthetic data accurate. "
        "Check the evaluation before relying on it.",
        "Each further training on the same data costs its own ε; keeping the best of several runs is not covered.",
    ])
    return out
