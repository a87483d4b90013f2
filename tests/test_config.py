"""`spacevista curate --config run.yaml`: a YAML run configuration under command-line flags; errors name the file
and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import EXIT_USAGE, main
from schemas.config import ConfigFileError, load_curate_config

DEFAULTS = {"data_root": Path("/nonexistent/default-data"), "output_root": Path("/nonexistent/default-output")}


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    (tmp_path / "data").mkdir()
    config = tmp_path / "conf" / "run.yaml"
    config.parent.mkdir()
    config.write_text("data_root: ../data\nshard_size: 16\nseed: 3\nray_address: 127.0.0.1:6379\n"
                      "manifest: ../data/videos.jsonl\n")
    loaded = load_curate_config(config, {"seed": 9}, DEFAULTS)
    assert (loaded.shard_size, loaded.seed, loaded.ray_address) == (16, 9, "127.0.0.1:6379")
    assert loaded.data_root == tmp_path / "conf" / ".." / "data"
    assert loaded.manifest == tmp_path / "conf" / ".." / "data" / "videos.jsonl"
    assert loaded.output_root == DEFAULTS["output_root"]


@pytest.mark.parametrize("text, problem", [
    ("shard_size: 0\n", "shard_size: Input should be greater than or equal to 1"),
    ("shard_sise: 4\n", "shard_sise: Extra inputs are not permitted"),
    ("- a\n- b\n", "expected a mapping of CurateConfig fields, got list"),
    ("seed: [1\n", "not valid YAML"),
    ("seed: !!python/object/apply:os.getpid []\n", "not valid YAML"),
])
def test_a_bad_file_names_itself_and_the_field(tmp_path, text, problem):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    with pytest.raises(ConfigFileError, match=f"^config {config}: .*{problem}"):
        load_curate_config(config, {}, DEFAULTS)


def test_the_command_line_reports_a_bad_config_as_a_usage_error(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"data_root: {tmp_path}\nmax_keyframes: 1\n")
    assert main(["curate", "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"config {config}: max_keyframes: Input should be greater than or equal to 2" in err
    assert main(["curate", "--config", str(tmp_path / "missing.yaml")]) == EXIT_USAGE
    assert "missing.yaml: cannot read it" in capsys.readouterr().err
