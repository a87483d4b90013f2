"""The curate run's configuration: typed, frozen, validated at the boundary (CLI, Prefect UI, deployments)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.paths import OutsideDataRootError, inside_root, is_uri, output_location
from schemas.specialists import load_profile

INPUT_PATH_FIELDS = ("manifest",)
"""Configuration paths that are inputs: each must lie inside the data root (symlinks followed)."""

PATH_FIELDS = ("data_root", "output_root", "specialists", *INPUT_PATH_FIELDS)

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
"""The specialist profiles that ship with the repository: `--specialists NAME` is profiles/NAME.yaml."""
DEFAULT_DATA_ROOT = Path("data/default")
"""The embedded default data (relative to the working directory): the only data root curate creates and renders the
synthetic default set into."""


def specialist_profile_path(value: Path) -> Path:
    """`value`, or the bundled profiles/<name>.yaml when `value` names no file and has no suffix (a bare name)."""
    bundled = PROFILES_DIR / f"{value.name}.yaml"
    return bundled if not value.suffix and not _exists(value) and _exists(bundled) else value


def _exists(path: Path) -> bool:
    """Whether a file is there; False also for a name the filesystem refuses (too long, say): reading it then
    fails with an error that names it."""
    try:
        return path.exists()
    except OSError:
        return False


class ConfigFileError(ValueError):
    """A run configuration that cannot be used; the message names the file (or the flags) and the field."""


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_root: Path = Field(description="videos and annotated scenes are found under here; nothing outside is read")
    output_root: Annotated[Path | str, BeforeValidator(output_location)] = Field(
        description="tables, artifacts and the DuckDB catalog are written here: a local path or a filesystem URI "
                    "(s3://…, gs://…, memory://…; see storage/filesystem.py)")
    generate_default_data: bool = Field(
        default=True, description="render the synthetic all-scale default set into data_root when it has no scenes")
    scenes_per_tier: int = Field(default=2, ge=1, le=100)
    shard_size: int = Field(default=2, ge=1, le=10_000, description="videos per Ray task")
    keyframe_stride: int = Field(default=3, ge=1, description="take every n-th frame as a keyframe")
    max_keyframes: int = Field(default=16, ge=2, le=512)
    seed: int = Field(default=0, description="phrasing and sampling seed; same seed, same QA")
    ray_address: str | None = Field(default=None, description="an existing Ray cluster; None starts a local one")
    ray_num_cpus: int | None = Field(default=None, ge=1)
    max_shards_in_flight: int = Field(default=8, ge=1)
    manifest: Path | None = Field(
        default=None, description="a JSONL, CSV or Parquet list of the videos to curate (sources/manifest.py), "
                                  "inside data_root (a relative path is taken from it); None walks data_root")
    source: str | None = Field(
        default=None, description="read data_root with this registered source only (`spacevista sources` lists "
                                  "them); None detects every source whose layout is present, per item")
    max_attempts: int = Field(
        default=2, ge=1, le=10, description="tries of a video (and of a Ray task) before an unexpected error or a "
                                            "dead worker quarantines it; bad input is never retried")
    compact_min_files: int = Field(
        default=64, ge=2, description="at the end of a run, merge the small files of each table that has at least "
                                      "this many into larger files sorted by video (storage/compaction.py)")
    specialists: Path | None = Field(
        default=None, description="a specialist profile YAML (schemas/specialists.py), or the name of one in "
                                  "profiles/ (default, cpu): fills what a source lacks (depth, detection, poses, "
                                  "scale); None leaves an item that lacks something as a `failures` row at stage "
                                  "`facts`")

    @field_validator("specialists")
    @classmethod
    def _profile_loads(cls, value: Path | None) -> Path | None:
        if value is not None:
            value = specialist_profile_path(value)
            load_profile(value)
        return value

    @model_validator(mode="after")
    def _inputs_inside_data_root(self):
        for name in INPUT_PATH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                try:
                    inside_root(self.data_root, self.data_root / value)
                except (OutsideDataRootError, OSError, RuntimeError) as err:
                    raise ValueError(f"{name}: {err}") from None
        return self


def load_curate_config(path: Path | None, overrides: dict, defaults: dict | None = None) -> CurateConfig:
    """The run configuration: `defaults`, then the YAML file at `path` (yaml.safe_load; its relative paths are
    taken from its folder), then `overrides` (command-line flags). Errors name the file, or the flags, and the field."""
    source = f"config {path}" if path is not None else "command line"
    values = {**(defaults or {}), **(_read_yaml(path) if path is not None else {}), **overrides}
    try:
        return CurateConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigFileError(f"{source}: {validation_problems(err)}") from None


def validation_problems(err: ValidationError) -> str:
    """Every problem of a validation error as `field: message`, joined by '; '."""
    messages = ((".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")) for e in err.errors())
    return "; ".join(f"{where}: {message}" if where else message for where, message in messages)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFileError(f"config {path}: cannot read it ({err})") from None
    except yaml.YAMLError as err:
        raise ConfigFileError(f"config {path}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"config {path}: expected a mapping of CurateConfig fields, got {type(data).__name__}")
    base = path.absolute().parent
    return {key: base / value if key in PATH_FIELDS and isinstance(value, str) and not is_uri(value) else value
            for key, value in data.items()}
