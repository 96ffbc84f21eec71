"""Presets are data (issue 24 item 4): one TOML file each beside the code, with what it is for and the results
file that justifies it, read by `dpcgan presets`, by --preset and by --config."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpcgan.cli import build_parser, main
from dpcgan.commands import train as train_cmd
from dpcgan.config import PRESET_DIR, PRESET_FILES, PRESETS, TrainConfig, read_preset_file
from dpcgan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_every_preset_is_a_file_with_its_use_and_its_results():
    files = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
    assert files == sorted(PRESETS) and {"paper", "mnist-eps10", "table-marginals"} <= set(files)
    for name, f in PRESET_FILES.items():
        assert f.use_for and (REPO / f.results).is_file(), name
    assert PRESETS["paper"] == TrainConfig()                               # the paper's setting: the defaults
    assert PRESETS["mnist-eps10"].noise_multiplier is None                 # `unset`: sigma calibrated to the cap
    assert PRESETS["mnist-eps10"].g_betas == (0.5, 0.999) and PRESETS["table-marginals"].conversion == "pld"


def test_config_with_a_preset_file_is_that_preset(tmp_path):
    def cfg(argv):
        return train_cmd.config_from_args(build_parser().parse_args(["train", *argv]))

    for name in ("mnist-eps1", "table-eps1"):
        by_file = cfg(["--config", str(PRESET_DIR / f"{name}.toml")])
        assert by_file == cfg(["--preset", name]) == PRESETS[name]
    edited = tmp_path / "mine.toml"   # a copy with one change is a new recipe
    edited.write_text((PRESET_DIR / "mnist-eps1.toml").read_text().replace("steps = 1000", "steps = 1500"))
    assert cfg(["--config", str(edited)]) == PRESETS["mnist-eps1"].replace(steps=1500)


def test_a_bad_preset_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('use_for = "x"\nresults = "y"\nsurprise = 1\n[config]\n')
    with pytest.raises(ConfigError, match="unknown keys \\['surprise'\\]"):
        read_preset_file(bad)
    bad.write_text('use_for = "x"\n[config]\nno_such_field = 1\n')
    with pytest.raises(ConfigError, match="no_such_field"):
        read_preset_file(bad)


def test_presets_command_prints_use_and_file(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name, f in PRESET_FILES.items():
        assert f"{name}  -- for {f.use_for}: {f.results}" in out and f"{name}.toml" in out
