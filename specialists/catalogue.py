"""The model catalogue: the specialists' weights the bundled profiles (profiles/) name, where each comes from on the
Hugging Face hub, its licence and size; the manifest a pull records beside the weights; and the check of what a
profile needs against the disk (missing weights with the command that pulls them, weights changed since the pull).

Nothing here touches the network: downloading is specialists/hub.py's one job (`spacevista models pull`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.config import PROFILES_DIR
from schemas.specialists import SpecialistProfile, load_profile
from specialists.contract import weights_sha256

DEFAULT_MODELS_DIR = Path("models")
"""Where `spacevista models pull` puts weights (relative to the working directory); the bundled profiles name
`../models/…` relative to profiles/, i.e. this folder at the repository root."""

_DEPTH_ANYTHING_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    """`spacevista models pull NAME`; also the folder name under the models directory (a file keeps its own)."""
    role: Literal["depth", "detection"]
    repo_id: str
    files: tuple[str, ...]
    """The repository files a specialist loads; nothing else is fetched."""
    layout: Literal["directory", "file"]
    """directory: the files in models/NAME/ (a transformers model); file: the one file as models/FILE."""
    licence: str
    approx_mb: float
    description: str
    revision: str = "main"

    @property
    def local_name(self) -> str:
        return self.files[0] if self.layout == "file" else self.name

    def local_path(self, models_dir: Path) -> Path:
        return Path(models_dir) / self.local_name


CATALOGUE: dict[str, CatalogueEntry] = {entry.name: entry for entry in (
    CatalogueEntry("depth-anything-v2-metric-indoor-small", "depth",
                   "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", _DEPTH_ANYTHING_FILES, "directory",
                   "Apache-2.0", 99, "metric depth (m) for indoor and tabletop scenes; fine-tuned on Hypersim, "
                                     "max 20 m"),
    CatalogueEntry("depth-anything-v2-metric-outdoor-small", "depth",
                   "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf", _DEPTH_ANYTHING_FILES, "directory",
                   "Apache-2.0", 99, "metric depth (m) for outdoor and drone scenes; fine-tuned on Virtual KITTI 2, "
                                     "max 80 m"),
    CatalogueEntry("depth-anything-v2-small", "depth", "depth-anything/Depth-Anything-V2-Small-hf",
                   _DEPTH_ANYTHING_FILES, "directory", "Apache-2.0", 99,
                   "relative depth: the temporally consistent reference of the depth fusion"),
    CatalogueEntry("yolov8m", "detection", "Ultralytics/YOLOv8", ("yolov8m.pt",), "file", "AGPL-3.0", 52,
                   "COCO 80-class detector (boxes; instance masks are drawn from the boxes)"),
    CatalogueEntry("yolov8n", "detection", "Ultralytics/YOLOv8", ("yolov8n.pt",), "file", "AGPL-3.0", 6.5,
                   "COCO 80-class detector, nano: the CPU profile's"),
)}


class PulledFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int
    sha256: str


class PullManifest(BaseModel):
    """What `pull` records beside the weights (`<weights>.manifest.json`): where they came from and their hashes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    repo_id: str
    revision: str
    commit: str
    endpoint: str
    pulled_at: datetime
    licence: str
    files: dict[str, PulledFile]
    """Per repository file (relative to the weights folder; the file's own name for a one-file model)."""
    sha256: str
    """specialists.contract.weights_sha256 of the weights, the hash every specialist's spec carries."""


def manifest_path(weights: Path) -> Path:
    return weights.with_name(f"{weights.name}.manifest.json")


def read_manifest(weights: Path) -> PullManifest | None:
    """The weights' pull manifest; None when there is none; ValueError naming the file when it is unreadable."""
    path = manifest_path(weights)
    if not path.exists():
        return None
    try:
        return PullManifest.model_validate_json(path.read_text())
    except (OSError, ValidationError) as err:
        raise ValueError(f"{path}: not a readable pull manifest ({str(err).splitlines()[0]})") from None


def write_manifest(weights: Path, manifest: PullManifest) -> Path:
    path = manifest_path(weights)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(manifest.model_dump_json(indent=1) + "\n")
    os.replace(partial, path)
    return path


def weights_files(weights: Path) -> dict[str, Path]:
    """The files of a weights folder by relative name, or a one-file model by its name."""
    if weights.is_dir():
        return {p.relative_to(weights).as_posix(): p for p in sorted(weights.rglob("*")) if p.is_file()}
    return {weights.name: weights}


@dataclass(frozen=True)
class WeightsCheck:
    path: Path
    status: Literal["ok", "missing", "unrecorded", "tampered"]
    detail: str = ""
    manifest: PullManifest | None = None


def check_weights(weights: Path) -> WeightsCheck:
    """Present and as pulled (every file's sha256 is the one recorded at the pull, nothing added), missing, changed
    since the pull, or present without a pull manifest (weights provided by hand: nothing to check them against).
    Hashes are computed afresh, never remembered."""
    if not weights.exists():
        return WeightsCheck(weights, "missing")
    try:
        manifest = read_manifest(weights)
    except ValueError as err:
        return WeightsCheck(weights, "tampered", str(err))
    if manifest is None:
        return WeightsCheck(weights, "unrecorded", "no pull manifest beside it: not checked")
    present = weights_files(weights)
    changed = [name for name, record in manifest.files.items()
               if name in present and weights_sha256(present[name]) != record.sha256]  # hashed once a process
    gone = [name for name in manifest.files if name not in present]
    extra = [name for name in present if name not in manifest.files]
    if not (changed or gone or extra):
        return WeightsCheck(weights, "ok", manifest=manifest)
    problems = [f"{what}: {', '.join(names)}" for what, names in
                (("changed", changed), ("deleted", gone), ("added", extra)) if names]
    return WeightsCheck(weights, "tampered", f"not the files recorded at the pull (sha256 {manifest.sha256[:12]}…); "
                                             + "; ".join(problems), manifest)


def entry_for(weights: Path) -> CatalogueEntry | None:
    """The catalogue entry whose local name a profile's weights path ends in."""
    return next((entry for entry in CATALOGUE.values() if entry.local_name == weights.name), None)


def pull_command(entry: CatalogueEntry, models_dir: Path) -> str:
    command = f"spacevista models pull {entry.name}"
    if Path(models_dir).resolve() != DEFAULT_MODELS_DIR.resolve():
        command += f" --models-dir {_shown(Path(models_dir))}"
    return command


def bundled_profiles() -> dict[str, SpecialistProfile]:
    return {path.stem: load_profile(path) for path in sorted(PROFILES_DIR.glob("*.yaml"))}


def _users(profile: SpecialistProfile) -> dict[Path, list[str]]:
    """Which tier entries name each weights path ("default.depth", "outdoor.depth.temporal_reference", …)."""
    users: dict[Path, list[str]] = {}
    tiers = {"default": profile.default, **{tier.value: entry for tier, entry in profile.tiers.items()}}
    for label, entry in tiers.items():
        for role, path in (("depth", entry.depth and entry.depth.weights),
                           ("depth.temporal_reference", entry.depth and entry.depth.temporal_reference),
                           ("detector", entry.detector and entry.detector.weights)):
            if path is not None:
                users.setdefault(path, []).append(f"{label}.{role}")
    return users


@dataclass(frozen=True)
class ProfileCheck:
    profile: Path
    checks: list[WeightsCheck]
    users: dict[Path, list[str]]
    gpus: dict[str, float]
    """The most GPUs (fractions) one model of each role asks for; empty when the profile runs on CPU only."""

    @property
    def ok(self) -> bool:
        return all(check.status in ("ok", "unrecorded") for check in self.checks)


def verify_profile(profile_path: Path) -> ProfileCheck:
    """Check every weights path the profile names (each once); ValueError when the profile itself is invalid."""
    profile = load_profile(profile_path)
    gpus: dict[str, float] = {}
    for entry in (profile.default, *profile.tiers.values()):
        for role, config in (("depth", entry.depth), ("detector", entry.detector)):
            if config is not None and config.num_gpus > 0:
                gpus[role] = max(gpus.get(role, 0.0), config.num_gpus)
    return ProfileCheck(profile_path, [check_weights(path) for path in profile.weights_paths()], _users(profile),
                        gpus)


def format_verification(result: ProfileCheck, gpus_visible: int | None = None) -> str:
    """What is there, what is missing (with the pull command for each) and what changed since its pull."""
    lines = [f"profile {_shown(result.profile)}"]
    for check in result.checks:
        entry = entry_for(check.path)
        used = ", ".join(result.users.get(check.path, []))
        if check.status == "ok":
            m = check.manifest
            lines.append(f"  ok        {_shown(check.path)}  {m.repo_id}@{m.commit[:12]} from {m.endpoint}, "
                         f"pulled {m.pulled_at:%Y-%m-%d %H:%M} UTC, sha256 {m.sha256[:12]}…  ({used})")
        elif check.status == "unrecorded":
            lines.append(f"  present   {_shown(check.path)}  {check.detail}  ({used})")
        else:
            what = "MISSING " if check.status == "missing" else "TAMPERED"
            lines.append(f"  {what}  {_shown(check.path)}  ({used})" + (f": {check.detail}" if check.detail else ""))
            if entry is None:
                lines.append("            not in the catalogue (`spacevista models list`): put the weights there "
                             "yourself")
            else:
                lines.append(f"            {pull_command(entry, check.path.parent)}"
                             f"   # {entry.repo_id}, {entry.licence}, ~{entry.approx_mb:g} MB")
    bad = [check for check in result.checks if check.status in ("missing", "tampered")]
    if bad:
        lines.append(f"{len(bad)} of {len(result.checks)} weights missing or changed: run the commands above, then "
                     f"`spacevista models verify` again")
    else:
        lines.append(f"all {len(result.checks)} weights present" + (
            "" if all(c.status == "ok" for c in result.checks) else " (hand-provided ones unchecked)"))
    if result.gpus:
        asked = ", ".join(f"{role} {amount:g}" for role, amount in result.gpus.items())
        lines.append(f"GPUs: each model asks for a share of a GPU ({asked})" + (
            "; none is visible here, so its Ray actors would wait for one: use `--specialists cpu` on this machine"
            if gpus_visible == 0 else ""))
    return "\n".join(lines)


def format_catalogue(models_dir: Path) -> str:
    """The catalogue as a table: what each model is for, its source, licence, size, whether it is pulled here and
    which bundled profiles use it."""
    users: dict[str, list[str]] = {}
    for profile_name, profile in bundled_profiles().items():
        for path in profile.weights_paths():
            if (entry := entry_for(path)) is not None:
                users.setdefault(entry.name, []).append(profile_name)
    lines = [f"{'name':<40}{'role':<11}{'size':>8}  {'licence':<11}{'here':<10}{'profiles':<13}source"]
    for entry in CATALOGUE.values():
        status = check_weights(entry.local_path(models_dir)).status
        here = {"ok": "pulled", "missing": "-", "unrecorded": "present", "tampered": "CHANGED"}[status]
        lines.append(f"{entry.name:<40}{entry.role:<11}{entry.approx_mb:>5g} MB  {entry.licence:<11}{here:<10}"
                     f"{','.join(users.get(entry.name, [])) or '-':<13}{entry.repo_id} {' '.join(entry.files)}")
        lines.append(f"{'':<40}{entry.description}")
    lines.append(f"\nmodels directory: {_shown(Path(models_dir))}; `spacevista models pull NAME` fetches one, "
                 "`spacevista models verify [--specialists NAME|PATH]` checks what a profile needs")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
