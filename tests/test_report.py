"""dpcgan report: a self-contained report.html (private section only without --public-only), a releasable
MODEL_CARD.md, the epsilon curve recomputed from the ledger, and the page rendered by a real browser."""

import base64
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpcgan.cli import main
from dpcgan.io import png_bytes
from dpcgan.privacy.accountant import PrivacyLedger
from dpcgan.report.epsilon_curve import epsilon_after, epsilon_by_step
from dpcgan.report.html import MAX_PROGRESS
from dpcgan.report.run_files import load_run

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, small_npz):
    """20 seeded D steps on 2,000 MNIST records with label names, 4 rows in private/metrics.jsonl, grids in
    progress/."""
    out = tmp_path_factory.mktemp("report") / "tiny"
    names = out.parent / "names.txt"
    names.write_text("\n".join(NAMES) + "\n")
    rc = main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--label-names", str(names), "--batch-size", "100",
               "--sigma", "1.1", "--steps", "20", "--seed", "0", "--out", str(out), "--no-progress", "--log-every", "5"])
    assert rc == 0
    return out


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A fresh copy of the tiny run, so tests that write into it do not depend on each other."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@pytest.fixture
def decorated_run(run_copy):
    """The tiny run with an evaluation on public benchmarks and an audit (made-up values with the keys `dpcgan
    evaluate` and `dpcgan audit` write: those commands take minutes)."""
    confusion = (np.eye(10, dtype=int) * 80 + 2).tolist()
    (run_copy / "evaluation.json").write_text(json.dumps({
        "format": "dpcgan-evaluation-v1", "input": "synthetic", "dataset": "mnist", "num_classes": 10,
        "n_train": 1000, "n_real_test": 10000, "label_histogram": [100] * 10,
        "paper": {"logistic_regression": {"auroc": 0.8765, "accuracy": 0.5}, "mlp": {"auroc": 0.8123, "accuracy": 0.4}},
        "cnn": {"accuracy": 0.4321, "per_class_accuracy": [0.1 * k for k in range(10)], "confusion_matrix": confusion},
        "fidelity": {"fid_like": 12.5, "fid_like_real_train_vs_test": 0.5},
        "note": "The synthetic data carries the DP guarantee; this evaluation does not.",
        "data_sources": {"train": {"kind": "public-benchmark", "name": "mnist", "split": "train"},
                         "test": {"kind": "public-benchmark", "name": "mnist", "split": "test"}},
    }))
    (run_copy / "private" / "audit.json").write_text(json.dumps({
        "note": "The audit reads the private training data: its output is NOT covered by the DP guarantee.",
        "accounted_epsilon": 2.49, "delta": 1e-5,
        "membership": {"n_per_side": 2000, "attacks": {"distance_to_closest_synthetic": {
            "auc": 0.5123, "tpr_at_fpr": {"0.01": 0.0111}, "epsilon_lower_bound": 0.0321}}},
    }))
    return run_copy


class _Page(HTMLParser):
    """Every tag with its attributes, and the visible text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def assert_self_contained(html: str) -> int:
    """No network reference, no script, every image an inline PNG Pillow decodes; returns the image count."""
    page = parse(html)
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "data", "poster", "action"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "file:")), f"<{tag} {key}={value[:60]}>"
        assert tag not in ("script", "link", "iframe", "object", "embed"), f"<{tag}> in a self-contained report"
    assert "url(" not in html.lower() and "@import" not in html.lower()
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    for attrs in images:
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix), attrs["src"][:40]
        image = Image.open(io.BytesIO(base64.b64decode(attrs["src"][len(prefix):], validate=True)))
        image.load()
        assert image.format == "PNG" and image.width > 0 and image.height > 0
        assert attrs.get("alt")
    return len(images)


def progress_grids(run: Path) -> int:
    """How many training-progress grids the report shows."""
    return min(MAX_PROGRESS, len(list((run / "progress").glob("step_*.png"))))


def report(run: Path, *extra: str) -> tuple[str, str]:
    """The report the command wrote (the full one in private/ unless --public-only) and the model card."""
    assert main(["report", str(run), *extra]) == 0
    page = run / "report.html" if "--public-only" in extra else run / "private" / "report.html"
    if "--public-only" not in extra:  # the releasable page is written too, without the private box
        releasable = (run / "report.html").read_text(encoding="utf-8")
        assert 'id="releasable"' in releasable and 'id="private"' not in releasable
    return page.read_text(encoding="utf-8"), (run / "MODEL_CARD.md").read_text(encoding="utf-8")


def private_strings(run: Path) -> list[str]:
    """Values that only the private folder holds: losses, clipped fractions, real batch sizes, the data location."""
    rows = [json.loads(line) for line in (run / "private" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    values = []
    for r in rows:
        for key in ("d_loss_real", "d_loss_fake", "g_loss", "clipped_fraction"):
            values += [f"{r[key]:.4f}", f"{r[key]:.3f}", repr(r[key])]
    record = json.loads((run / "private" / "run.json").read_text())
    return values + ["d_loss_real", "clipped_fraction", "metrics.jsonl rows", str(record["dataset"])]


def test_report_is_self_contained_with_epsilon_and_private_banner(run_copy, capsys):
    html, _ = report(run_copy)
    out = capsys.readouterr().out
    assert "contains PRIVATE content" in out and "NOT FOR RELEASE" in out
    privacy = json.loads((run_copy / "privacy.json").read_text())
    eps = privacy["report_this"]["epsilon"]
    # epsilon plot, samples, progress grids, losses, clipped fraction
    assert progress_grids(run_copy) > 1
    assert assert_self_contained(html) == 4 + progress_grids(run_copy)
    text = " ".join(parse(html).text)
    assert f"ε = {eps:.2f}, δ = {privacy['report_this']['delta']:g}" in text
    assert privacy["report_this"]["how_to_quote"] in text
    assert "PRIVATE — do not release" in text and "This report contains PRIVATE content" in text
    assert "NOT FOR RELEASE" in text and 'id="not-for-release"' in html  # seeded run
    assert "D step 20" in text and "Not evaluated" in text and "No private/audit.json" in text
    for item in privacy["not_covered"]:
        assert item in text
    assert privacy["software"]["torch"] in text and '"noise_multiplier": 1.1' in text
    assert not list(run_copy.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_public_only_report_and_model_card_hold_nothing_private(run_copy):
    secrets = private_strings(run_copy)
    html, card = report(run_copy, "--public-only")
    assert assert_self_contained(html) == 2 + progress_grids(run_copy)  # epsilon plot, samples, progress
    text = " ".join(parse(html).text)
    assert "PRIVATE — do not release" not in text and 'id="private"' not in html
    assert 'id="public-only"' in html
    privacy = json.loads((run_copy / "privacy.json").read_text())
    assert f"ε = {privacy['report_this']['epsilon']:.2f}" in text
    for secret in secrets:
        assert secret not in html, secret
        assert secret not in card, secret
    assert load_run(run_copy, private=False).metrics == []


def test_model_card_states_epsilon_delta_and_release_status(run_copy):
    secrets = private_strings(run_copy)
    shutil.rmtree(run_copy / "progress")  # a run trained without progress grids
    html, card = report(run_copy)
    assert "No progress grids" in html
    privacy = json.loads((run_copy / "privacy.json").read_text())
    quote = privacy["report_this"]
    assert f"(ε = {quote['epsilon']:.2f}, δ = {quote['delta']:g})-differential privacy" in card
    assert quote["how_to_quote"] in card and "NOT FOR RELEASE" in card
    assert "add/remove one record" in card and "2000 records" in card
    for secret in secrets:  # the full report has them; the card never does
        assert secret not in card, secret
    assert "PRIVATE" not in card.replace("private/", "")
    assert "PLD (tighter, not the headline)" in card   # this run's headline is an RDP conversion
    # with a PLD headline (auto's), PLD is the headline: never called "not the headline"
    privacy["report_this"]["conversion"] = "pld"
    (run_copy / "privacy.json").write_text(json.dumps(privacy))
    html, card = report(run_copy)
    assert "not the headline" not in card and "not the headline" not in html and "PLD accounting" in card


def test_report_with_label_names_progress_evaluation_and_audit(decorated_run):
    html, card = report(decorated_run)
    # epsilon, samples, progress grids, per-class bars, confusion matrix, label histogram, losses, clipped
    assert assert_self_contained(html) == 7 + progress_grids(decorated_run)
    text = " ".join(parse(html).text)
    assert "D step 20" in text and "zero, one, two" in text
    assert "0.4321" in text and "0.8765" in text and "12.500" in text  # headline metrics
    assert "this evaluation does not" in text
    private_part = html[html.index('id="private"'):]
    assert "distance_to_closest_synthetic" in private_part and "0.512" in private_part
    assert "Classes (10): zero, one, two" in card and "| CNN accuracy | 0.4321 |" in card
    assert "distance_to_closest_synthetic" not in card and "0.512" not in card

    public_html, _ = report(decorated_run, "--public-only")
    assert assert_self_contained(public_html) == 5 + progress_grids(decorated_run)
    assert "distance_to_closest_synthetic" not in public_html and "0.4321" in public_html


def test_report_of_a_non_private_run_says_no_guarantee(small_npz, tmp_path):
    out = tmp_path / "off"
    assert main(["--threads", "1", "train", "--preset", "paper", "--dataset", str(small_npz), "--num-classes", "10", "--batch-size", "100",
                 "--mode", "off", "--steps", "10", "--log-every", "5", "--out", str(out), "--no-progress"]) == 0
    html, card = report(out)
    # samples, progress grids and losses: no epsilon curve, no clipping in --mode off
    assert assert_self_contained(html) == 2 + progress_grids(out)
    text = " ".join(parse(html).text)
    assert "No privacy guarantee" in text and "NOT FOR RELEASE: this run is not private" in text
    assert "Rows, top to bottom: 0, 1, 2, 3" in text  # no label names: the classes by number
    assert "No privacy guarantee" in card and "NOT FOR RELEASE" in card and "ε =" not in card


def test_resumes_and_forks_are_flagged(run_copy):
    privacy = json.loads((run_copy / "privacy.json").read_text())
    privacy["resumes"] = [{"from_step": 10, "reached_step": 15, "steps_rerun_at_least": 5, "fork": False},
                          {"from_step": 10, "reached_step": 20, "steps_rerun_at_least": 10, "fork": True}]
    (run_copy / "privacy.json").write_text(json.dumps(privacy))
    html, card = report(run_copy, "--public-only")
    text = " ".join(parse(html).text)
    assert "resumed from D step 10" in text and "1 FORK(S)" in text and "a FORK" in text
    assert "**1 fork(s)**" in card and "a FORK" in card


def test_label_names_are_shown_as_literal_text(decorated_run):
    """Names are the user's strings: HTML-escaped in the page, no mathtext in the plots."""
    config = json.loads((decorated_run / "config.json").read_text())
    hostile = ["<img src=x>", "$5 & up", "a_b^c"] + NAMES[3:]
    config["config"]["label_names"] = hostile
    (decorated_run / "config.json").write_text(json.dumps(config))
    html, card = report(decorated_run)
    assert assert_self_contained(html) == 7 + progress_grids(decorated_run)
    assert "&lt;img src=x&gt;, $5 &amp; up, a_b^c" in html and "<img src=x>" not in html
    assert "&lt;img src=x&gt;, $5 &amp; up, a_b^c" in card and "<img" not in card


def test_report_refuses_what_is_not_a_finished_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished dpcgan run" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_epsilon_curve_ends_at_the_reported_epsilon(tiny_run):
    privacy = json.loads((tiny_run / "privacy.json").read_text())
    for conversion, eps in privacy["epsilon_by_conversion"].items():
        steps, curve = epsilon_by_step(privacy["events"], privacy["delta"], conversion)
        assert steps[0] == 0 and steps[-1] == privacy["d_steps"] == 20 and len(steps) == 21
        assert curve[0] == 0.0 and curve[-1] == pytest.approx(eps, rel=1e-6)
        assert all(b >= a for a, b in zip(curve, curve[1:]))


def test_epsilon_after_a_prefix_matches_a_ledger_of_that_prefix():
    """A ledger with a DP label histogram (sample rate 1) and two noise levels, cut anywhere."""
    events = [{"sample_rate": 1.0, "noise_multiplier": 100.0, "count": 1},
              {"sample_rate": 0.01, "noise_multiplier": 1.2, "count": 300},
              {"sample_rate": 0.01, "noise_multiplier": 0.9, "count": 200}]
    for t, prefix in [(0, events[:1]), (120, events[:1] + [dict(events[1], count=120)]),
                      (300, events[:2]), (450, events[:2] + [dict(events[2], count=150)]), (500, events)]:
        ledger = PrivacyLedger.from_events(prefix)
        for conversion in ("classic", "opacus"):
            assert epsilon_after(events, t, 1e-5, conversion) == pytest.approx(ledger.epsilon(1e-5, conversion),
                                                                               rel=1e-6)


def test_png_bytes_round_trips_through_pillow():
    gray = (np.arange(30 * 17) % 256).astype(np.uint8).reshape(30, 17)
    rgb = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    for image in (gray, rgb):
        decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image))))
        assert decoded.shape == image.shape and (decoded == image).all()
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(gray.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        png_bytes(np.zeros((4, 4, 2), np.uint8))


def _img_tags(html: str, alt_prefix: str) -> list[tuple[dict, dict | None]]:
    """(img attributes, attributes of the <a> it sits in or None) for every <img> whose alt starts with alt_prefix."""
    class Finder(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[dict] = []   # the open <a> elements
            self.found: list[tuple[dict, dict | None]] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "a":
                self.links.append(attrs)
            elif tag == "img" and (attrs.get("alt") or "").startswith(alt_prefix):
                self.found.append((attrs, self.links[-1] if self.links else None))

        def handle_endtag(self, tag):
            if tag == "a" and self.links:
                self.links.pop()

    finder = Finder()
    finder.feed(html)
    return finder.found


def _png_width(src: str) -> int:
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).width


def test_public_banner_only_with_public_only(run_copy):
    """Issue 24 item 16: the banner naming --public-only appears only when the flag was given; without it the
    releasable report says what it is and where the private one went."""
    assert main(["report", str(run_copy)]) == 0
    releasable = (run_copy / "report.html").read_text(encoding="utf-8")
    private = (run_copy / "private" / "report.html").read_text(encoding="utf-8")
    for page in (releasable, private):
        assert 'id="public-only"' not in page and "(--public-only)" not in " ".join(parse(page).text)
    assert 'id="releasable"' in releasable and "private/report.html" in releasable
    assert 'id="contains-private"' in private
    (run_copy / "private" / "report.html").unlink()
    assert main(["report", str(run_copy), "--public-only"]) == 0
    public = (run_copy / "report.html").read_text(encoding="utf-8")
    assert 'id="public-only"' in public and "Public report (--public-only)" in " ".join(parse(public).text)
    assert 'id="releasable"' not in public and not (run_copy / "private" / "report.html").exists()


def test_samples_are_magnified_linked_and_say_their_label_prior(run_copy):
    """Issue 24 item 16: samples.png and the progress grids at >= 2x their pixel size (width attribute), pixelated,
    each in a link that enlarges it (an in-page :target view, no script); the label prior is said in words."""
    html, card = report(run_copy, "--public-only")
    assert "image-rendering:pixelated" in html.replace(" ", "")
    samples = _img_tags(html, "samples: one row per class")
    progress = _img_tags(html, "samples at D step")
    assert len(samples) == 1 and len(progress) == progress_grids(run_copy)
    for attrs, link in samples + progress:
        native = _png_width(attrs["src"])
        assert int(attrs["width"]) >= 2 * native, (attrs["alt"], attrs["width"], native)
        assert "pixels" in attrs["class"].split()
        assert link is not None and link["href"].startswith("#")
        assert f'id="{link["href"][1:]}"' in html   # the element the link enlarges (CSS :target)
    # a 28-pixel MNIST grid (302 px) is shown 3x: 84-pixel samples
    assert int(samples[0][0]["width"]) == 3 * _png_width(samples[0][0]["src"])
    text = " ".join(parse(html).text)
    for name in NAMES:   # the row labels are HTML text beside the grid
        assert name in text
    assert "D step 20 · ε = " in text   # progress captions: the step and the epsilon spent by then
    sentence = ("labels drawn uniformly (public prior), every class equally often whatever the class proportions of "
                "the training data; train with --label-prior dp-histogram to learn the class proportions")
    assert sentence in " ".join(text.split()) and sentence in card


def test_label_prior_sentence_for_each_prior():
    from dpcgan.report.statement import label_prior_sentence

    hist = {"fake_samples": {"label_prior": [0.25, 0.75], "label_prior_source": "dp-histogram"}}
    said = label_prior_sentence({"config": {"label_prior": "dp-histogram"}}, hist, ["cat", "dog"])
    assert "DP label histogram" in said and "cat 25.0 %, dog 75.0 %" in said and "covered by the run's ε" in said
    weights = {"fake_samples": {"label_prior": [0.5, 0.5], "label_prior_source": "/home/me/prior.json"}}
    said = label_prior_sentence({"config": {"label_prior": "/home/me/prior.json"}}, weights, ["cat", "dog"])
    assert "public prior weights" in said and "(prior.json)" in said and "/home/me" not in said
    assert "drawn uniformly (public prior)" in label_prior_sentence({"config": {}}, {}, ["cat", "dog"])


def test_charts_are_titled_outside_the_figures(decorated_run):
    """Issue 24 item 16: each evaluation chart is its own figure with its title in HTML above it (a title drawn
    inside ran into the next chart's label)."""
    html, _ = report(decorated_run)
    charts = [attrs["alt"] for tag, attrs in parse(html).tags
              if tag == "img" and attrs.get("alt") in ("per-class accuracy", "confusion matrix", "label histogram")]
    assert charts == ["per-class accuracy", "confusion matrix", "label histogram"]
    for caption in ("CNN trained on synthetic data: accuracy per class on the real test set",
                    "Confusion matrix of that CNN on the real test set"):
        assert f'<figure class="chart"><figcaption>{caption}' in html


# ---------------------------------------------------------------------------------------------- real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--mute-audio", "--hide-scrollbars"]
# Appended to a copy of the report only (the report itself has no script): after the load event, write each
# image's decoded size and the quoted epsilon, as the browser laid them out, into the DOM for --dump-dom.
PROBE = """<script>window.addEventListener("load", function () {
  var sizes = Array.prototype.map.call(document.images, function (i) { return i.naturalWidth + "x" + i.naturalHeight; });
  var shown = Array.prototype.map.call(document.images, function (i) {
    return [i.alt, i.naturalWidth, i.getBoundingClientRect().width, getComputedStyle(i).imageRendering]; });
  var out = document.createElement("pre"); out.id = "probe";
  out.textContent = JSON.stringify({images: sizes, shown: shown,
                                    epsilon: document.getElementById("epsilon-to-quote").innerText});
  document.body.appendChild(out);
});</script>"""


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, env=os.environ | {"HOME": profile})


def probe_page(html: str, tmp_path) -> dict:
    """What PROBE reads from the page as headless Chromium lays it out (image sizes, the epsilon shown, ...)."""
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    marker = '<pre id="probe">'
    assert marker in dom.stdout, dom.stdout[-2000:]
    return json.loads(dom.stdout.split(marker, 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)")
def test_report_renders_in_headless_chromium(decorated_run, tmp_path):
    html, _ = report(decorated_run)
    privacy = json.loads((decorated_run / "privacy.json").read_text())
    eps = f"{privacy['report_this']['epsilon']:.2f}"

    probe = probe_page(html, tmp_path)
    assert len(probe["images"]) == 7 + progress_grids(decorated_run)
    for size in probe["images"]:
        width, height = map(int, size.split("x"))
        assert width > 0 and height > 0, probe
    assert f"ε = {eps}" in probe["epsilon"]
    # issue 24 item 16: as laid out, the sample grid and every progress grid are at least twice their pixel size,
    # with crisp pixels
    grids = [s for s in probe["shown"] if s[0].startswith("samples")]
    assert len(grids) == 1 + progress_grids(decorated_run)
    for alt, natural, rendered, rendering in grids:
        assert rendered >= 2 * natural and rendering == "pixelated", (alt, natural, rendered, rendering)

    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,2000",
                      (decorated_run / "private" / "report.html").as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (2000, 1200, 3)
    assert image.std() > 20  # not a blank page
    # the NOT FOR RELEASE / PRIVATE banners (#b00020) were laid out with their CSS
    red = (abs(image[..., 0] - 0xB0) < 8) & (image[..., 1] < 16) & (abs(image[..., 2] - 0x20) < 12)
    assert red.sum() > 10_000
    assert not math.isnan(float(image.mean()))


def test_statement_says_per_record_not_per_person_and_names_rows_for_tables():
    """Issue 24 item 17 (and issue 23's "each single record (image and label)" on a table run)."""
    from dpcgan.report.statement import privacy_statement

    base = {"report_this": {"epsilon": 1.0, "delta": 1e-5, "conversion": "opacus", "how_to_quote": "-"}, "release": True,
            "assumed_public": {"n": 100}}
    image = privacy_statement(base, ["a", "b"]).protected
    table = privacy_statement(base | {"assumed_public": {"n": 100, "table_schema": {"label": "y"}}}, ["a", "b"]).protected
    assert "record (image and label)" in image and "row (all its cells and its label)" in table
    for text in (image, table):
        assert "not per person" in text and "k times epsilon" in text
