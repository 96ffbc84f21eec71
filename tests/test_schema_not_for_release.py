"""A run whose table schema was drafted from the private rows without DP is NOT FOR RELEASE everywhere (privacy
review item 7): privacy.json (release, guarantee, report_this, not_covered), report.html and MODEL_CARD.md, unless
--schema-is-public (Python: schema_is_public=True) declares the schema public. A hand-written schema stays
releasable. The runs are unseeded (release mode), so that only the schema decides."""

import json

import pytest

from dpcgan.cli import main
from test_tables import SCHEMA, table

FROM_ROWS = "the schema was read from the private rows without DP"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema_release")
    csv = tmp / "t.csv"
    table().to_csv(csv, index=False)
    draft = tmp / "draft.toml"
    assert main(["schema", "draft", str(csv), "--label-column", "Status", "--out", str(draft)]) == 0
    hand = tmp / "hand.toml"
    hand.write_text(SCHEMA)
    return tmp, csv, draft, hand


def train_and_report(data, schema, name, *extra):
    tmp, csv, _, _ = data
    out = tmp / name
    assert main(["--threads", "1", "train", "--preset", "table-eps1", "--dataset", str(csv), "--label-column",
                 "Status", "--schema", str(schema), "--batch-size", "64", "--steps", "6", "--epsilon", "3", "--out", str(out),
                 "--no-progress", "--log-every", "3", *extra]) == 0
    assert main(["report", str(out)]) == 0
    privacy = json.loads((out / "privacy.json").read_text())
    pages = [(out / "report.html").read_text(encoding="utf-8"),
             (out / "private" / "report.html").read_text(encoding="utf-8")]
    return privacy, pages, (out / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_a_non_dp_drafted_schema_marks_the_run_not_for_release_everywhere(data, capsys):
    _, _, draft, _ = data
    privacy, pages, card = train_and_report(data, draft, "draft")
    assert privacy["release"] == "not for release"
    err = capsys.readouterr().err
    assert "NOT FOR RELEASE" in err and "--schema-is-public" in err
    assert privacy["guarantee"].startswith("NOT FOR RELEASE") and FROM_ROWS in privacy["guarantee"]
    assert "NOT FOR RELEASE" in privacy["report_this"]["how_to_quote"]
    assert any(FROM_ROWS in item for item in privacy["not_covered"])
    assert privacy["schema_read_without_dp"] is True and privacy["schema_is_public"] is False
    assert any("without DP" in r for r in privacy["not_for_release_reasons"])
    for html in pages:
        assert 'id="not-for-release"' in html and "NOT FOR RELEASE" in html and "without DP" in html
    assert "> **NOT FOR RELEASE" in card and "without DP" in card and FROM_ROWS in card
    from dpcgan.sample import release_warning  # what `dpcgan sample` prints

    assert FROM_ROWS in release_warning(data[0] / "draft")


def test_schema_is_public_declares_the_drafted_schema_public(data):
    _, _, draft, _ = data
    privacy, pages, card = train_and_report(data, draft, "draft-public", "--schema-is-public")
    assert privacy["release"] == "release" and privacy["not_for_release_reasons"] == []
    assert privacy["schema_is_public"] is True and privacy["schema_read_without_dp"] is False
    assert privacy["assumed_public"]["table_schema"]["provenance"]["schema_is_public"] is True
    assert "NOT FOR RELEASE" not in privacy["guarantee"] + privacy["report_this"]["how_to_quote"]
    assert not any(FROM_ROWS in item for item in privacy["not_covered"])
    for html in pages:
        assert 'id="not-for-release"' not in html and "NOT FOR RELEASE" not in html
    assert "NOT FOR RELEASE" not in card


def test_a_hand_written_schema_stays_releasable(data):
    _, _, _, hand = data
    privacy, pages, card = train_and_report(data, hand, "hand")
    assert privacy["release"] == "release" and privacy["schema_read_without_dp"] is False
    assert privacy["schema_is_public"] is False
    assert "NOT FOR RELEASE" not in privacy["guarantee"] and "NOT FOR RELEASE" not in card
    assert all('id="not-for-release"' not in html for html in pages)


def test_the_python_api_takes_schema_is_public(data):
    from dpcgan import DPCGAN

    _, csv, draft, _ = data
    for public, release in ((False, "not for release"), (True, "release")):
        m = DPCGAN("table-eps1", epsilon=3.0, batch_size=64, steps=6, log_every=3)
        m.fit(str(csv), schema=draft, label_column="Status", progress=False, schema_is_public=public)
        report = m.privacy_report()
        assert report["release"] == release and report["schema_is_public"] is public


def test_schema_is_public_is_for_tables_only(capsys):
    assert main(["train", "--dataset", "mnist", "--schema-is-public", "--dry-run"]) == 2
    assert "tables" in capsys.readouterr().err
