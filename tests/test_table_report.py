"""A table run's report.html and MODEL_CARD.md, and `dpcgan evaluate` on a table (issue 23 items 3 and 4): the schema
as a table, synthetic rows instead of samples.png, the evaluation beside the independent-marginals baseline at the
same epsilon and the real-data reference, per-column TV worst first, real-vs-synthetic shares of the worst columns
(outside the guarantee), "rows" wording, and a warning for a schema category that is never generated."""

import contextlib
import html as html_lib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dpcgan.cli import main
from test_report import CHROMIUM, chromium, parse, probe_page
from test_tables import SCHEMA, table

COLUMNS = ["Status", "Age", "Home", "Income"]


def run_quiet(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A marginal-fitted table run on 1,500 rows (short fitting: post-processing only), evaluated against 300 test
    rows with the default baseline row; returns (folder, run, the evaluate command's output)."""
    tmp = tmp_path_factory.mktemp("table-report")
    (tmp / "schema.toml").write_text(SCHEMA)
    table(1500).to_csv(tmp / "records.csv", index=False)
    table(300, seed=1).to_csv(tmp / "test.csv", index=False)
    run = tmp / "run"
    run_quiet(["--threads", "1", "train", "--dataset", str(tmp / "records.csv"), "--label-column", "Status",
               "--schema", str(tmp / "schema.toml"), "--schema-is-public", "--epsilon", "3", "--out", str(run),
               "--no-progress", "--set", "marginal_fit_steps=20", "--set", "marginal_final_steps=50"])
    printed = run_quiet(["--threads", "1", "evaluate", str(run), "--test", str(tmp / "test.csv")])
    return tmp, run, printed


@pytest.fixture
def run_copy(table_run, tmp_path):
    return Path(shutil.copytree(table_run[1], tmp_path / "run"))


def sections(page: str) -> dict[str, str]:
    """{section id: its visible text after the heading} (report sections are not nested)."""
    out = {}
    for sid, body in re.findall(r'<section id="([^"]+)"[^>]*>(.*?)</section>', page, flags=re.S):
        body = re.sub(r"<h2>.*?</h2>", "", body, count=1, flags=re.S)
        out[sid] = html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).strip()
    return out


def table_cells(page: str, table_id: str) -> list[list[str]]:
    """The rows (without the head) of <table id=table_id> as visible text."""
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', page, flags=re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [[html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", r, flags=re.S)]
            for r in rows if "<td>" in r]


def visible_text(page: str) -> str:
    return " ".join(parse(re.sub(r"<style>.*?</style>", "", page, flags=re.S)).text)   # (CSS: image-rendering)


def assert_plain_words(text: str) -> None:
    """No Python None or dict repr, and rows' words, not images'."""
    assert "None" not in text
    assert "{'" not in text
    assert not re.search(r"(?i)image", text), re.search(r"(?i).{0,80}image.{0,80}", text).group(0)


def test_evaluate_prints_per_column_worst_first_and_the_baseline_at_the_runs_epsilon(table_run):
    _, run, printed = table_run
    ev = json.loads((run / "private" / "evaluation.json").read_text())
    privacy = json.loads((run / "privacy.json").read_text())
    per_column = ev["per_column"]
    assert [e["column"] for e in per_column] != [] and {e["column"] for e in per_column} == set(COLUMNS[1:])
    tvs = [e["tv"] for e in per_column]
    assert tvs == sorted(tvs, reverse=True)
    for e in per_column:   # the same discretisation as fidelity's 1-way TV
        assert e["tv"] == pytest.approx(ev["fidelity"]["tv_1way_by_column"][e["column"]], abs=1e-12)
    for e in per_column[:3]:   # the worst columns keep their shares for the report's charts
        assert len(e["levels"]) == len(e["real"]) == len(e["synthetic"])
        assert sum(e["real"]) == pytest.approx(1) and sum(e["synthetic"]) == pytest.approx(1)
        assert 0.5 * np.abs(np.subtract(e["real"], e["synthetic"])).sum() == pytest.approx(e["tv"])
    base = ev["baseline"]
    assert base["method"] == "independent marginals" and base["n_synthetic"] == ev["n_synthetic"]
    assert base["delta"] == privacy["delta"]
    assert 0.95 * privacy["epsilon"] <= base["epsilon"] <= privacy["epsilon"] + 1e-9   # the same budget, not more
    assert 0 <= base["tstr"]["hist_gradient_boosting"]["auroc"] <= 1 and 0 <= base["fidelity"]["tv_1way"] <= 1
    assert "| baseline: independent marginals, ε = " in printed and "| real training rows (reference) |" in printed
    lines = printed.split("per-column TV 1-way, worst first", 1)[1].splitlines()[1:1 + len(per_column)]
    assert [line.split()[0] for line in lines] == [e["column"] for e in per_column]
    assert [line.split()[1] for line in lines] == [f"{e['tv']:.4f}" for e in per_column]


def test_a_category_never_generated_is_warned_about(table_run, tmp_path):
    tmp, run, _ = table_run
    synthetic = pd.read_csv(run / "synthetic.csv", dtype=str, keep_default_na=False)
    synthetic.loc[synthetic["Home"] == "owner", "Home"] = "rent"   # real rows hold owner; no synthetic row does
    synthetic.to_csv(tmp_path / "no-owner.csv", index=False)
    printed = run_quiet(["--threads", "1", "evaluate", str(run), "--test", str(tmp / "test.csv"), "--synthetic",
                         str(tmp_path / "no-owner.csv"), "--baseline", "none", "--out", str(tmp_path / "ev.json")])
    warnings = [line for line in printed.splitlines() if line.startswith("warning:")]
    assert warnings == [next(w for w in warnings if "Home = owner is never generated" in w)]
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert [(e["column"], e["category"]) for e in ev["never_generated"]] == [("Home", "owner")]
    # the run's own rows: one warning per category its evaluation.json lists as never generated, no more
    printed = run_quiet(["--threads", "1", "evaluate", str(run), "--test", str(tmp / "test.csv"), "--baseline", "none",
                         "--out", str(tmp_path / "ev2.json")])
    listed = json.loads((tmp_path / "ev2.json").read_text())["never_generated"]
    assert sum(line.startswith("warning:") for line in printed.splitlines()) == len(listed)


def test_baseline_none_and_no_training_file_leave_the_row_out_with_a_reason(table_run, run_copy, tmp_path):
    tmp, _, _ = table_run
    printed = run_quiet(["--threads", "1", "evaluate", str(run_copy), "--test", str(tmp / "test.csv"),
                         "--baseline", "none"])
    assert "(no baseline row: --baseline none)" in printed and "| baseline:" not in printed
    ev = json.loads((run_copy / "private" / "evaluation.json").read_text())
    assert "baseline" not in ev and ev["per_column"]
    run_quiet(["report", str(run_copy)])
    page = (run_copy / "private" / "report.html").read_text(encoding="utf-8")
    assert 'id="no-baseline"' in page and "baseline: independent marginals" not in visible_text(page)
    printed = run_quiet(["--threads", "1", "evaluate", str(run_copy), "--test", str(tmp / "test.csv"), "--train",
                         str(tmp_path / "absent.csv"), "--out", str(tmp_path / "ev.json")])
    assert "(no baseline row: the run's training file was not found" in printed


def test_table_report_and_model_card(table_run, run_copy):
    run = run_copy
    ev = json.loads((run / "private" / "evaluation.json").read_text())
    run_quiet(["report", str(run), "--include-private-evaluation"])
    for page in ((run / "report.html").read_text(encoding="utf-8"),
                 (run / "private" / "report.html").read_text(encoding="utf-8")):
        found = sections(page)
        assert {"privacy", "epsilon-curve", "schema", "synthetic-rows", "evaluation", "config"} <= set(found)
        assert "samples" not in found   # no samples.png or progress grids for a table
        assert all(text for text in found.values()), [k for k, v in found.items() if not v]
        assert_plain_words(visible_text(page))
        assert "{&#x27;" not in page and "{'" not in page
        schema = table_cells(page, "schema-table")
        assert [r[0] for r in schema] == COLUMNS
        assert schema[1][2:5] == ["numeric", "18 to 75, integers", "20"] and schema[2][5] == "yes"
        rows = table_cells(page, "synthetic-rows-table")
        assert len(rows) == 5 and all(len(r) == len(COLUMNS) for r in rows)
        per_column = table_cells(page, "per-column-tv")
        assert [r[0] for r in per_column] == [e["column"] for e in ev["per_column"]]
        assert [r[1] for r in per_column] == [f"{e['tv']:.4f}" for e in ev["per_column"]]
        assert [float(r[1]) for r in per_column] == sorted((float(r[1]) for r in per_column), reverse=True)
        metrics = table_cells(page, "table-metrics")
        assert [r[0].split(" at ")[0] for r in metrics] == ["this run (synthetic rows)",
                                                           "baseline: independent marginals",
                                                           "real training rows (reference)"]
        assert metrics[1][3] == f"{ev['baseline']['tstr']['hist_gradient_boosting']['auroc']:.4f}"
        shares = re.search(r'<div id="column-shares">(.*?)</div>', page, flags=re.S).group(1)
        assert shares.count("<img") == 3
        assert 'id="evaluation-on-private-data"' in page and 'id="shares-outside-guarantee"' in page
        assert "outside the DP guarantee" in found["evaluation"]
    card = (run / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert_plain_words(card)
    for name in COLUMNS:
        assert re.search(rf"^\| {name} \| (label|feature) \| ", card, flags=re.M), name
    assert "| baseline: independent marginals at ε = " in card and "rows" in card
    assert "included on request" in card


def test_public_report_leaves_the_private_evaluation_out(run_copy):
    run_quiet(["report", str(run_copy), "--public-only"])
    page = (run_copy / "report.html").read_text(encoding="utf-8")
    found = sections(page)
    assert all(found.values()) and 'id="evaluation-withheld"' in page
    assert 'id="per-column-tv"' not in page and 'id="column-shares"' not in page
    assert_plain_words(visible_text(page))
    card = (run_copy / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Left out" in card and "baseline: independent" not in card
    assert_plain_words(card)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)")
def test_table_report_renders_in_headless_chromium(run_copy, tmp_path):
    run_quiet(["report", str(run_copy), "--include-private-evaluation"])
    probe = probe_page((run_copy / "report.html").read_text(encoding="utf-8"), tmp_path)
    assert len(probe["images"]) == 3   # the shares of the 3 worst columns (no D steps: no epsilon curve)
    assert all(int(w) > 0 and int(h) > 0 for w, h in (s.split("x") for s in probe["images"]))
    privacy = json.loads((run_copy / "privacy.json").read_text())
    assert f"ε = {privacy['report_this']['epsilon']:.2f}" in probe["epsilon"]
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,2000", (run_copy / "report.html").as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (2000, 1200, 3) and image.std() > 20   # laid out, not a blank page
