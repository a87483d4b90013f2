"""What a curate run needs, checked before any shard runs: a readable data root (only the default one may be
created), a writable output root of this table format, reachable endpoints, the specialists' weights present and
loadable by path, and the GPUs the specialist profile asks of the Ray cluster. Every problem is collected into one
list."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flows.ray_runtime import ray_session
from schemas.config import DEFAULT_DATA_ROOT, CurateConfig
from schemas.paths import is_uri
from schemas.specialists import SpecialistProfile, TierProfile, load_profile
from schemas.tiers import ScaleTier
from sources import registry
from sources.synthetic import scene_id_for
from specialists.catalogue import entry_for, pull_command, verify_profile
from specialists.runner import ROLE_ENTRIES, configured
from storage.commits import read_manifest
from storage.layout import OutputLayout
from storage.manifests import ManifestFormatError
from storage.tables import TABLES

ENDPOINT_TIMEOUT_S = 3.0


class PreflightError(Exception):
    """A run that cannot start; `problems` lists everything missing, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(format_problems(problems))


def format_problems(problems: list[str]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"cannot start, {count}:\n" + "\n".join(f"  - {problem}" for problem in problems)


def check(config: CurateConfig) -> list[str]:
    """Everything that stops this run from starting, one line each (empty when it can start). Checking the GPUs
    joins the run's Ray session if one is up, else starts a short one."""
    problems = [*_data_root_problems(config), *(_output_root_problems(config.output_root)
                                                 or _output_format_problems(config.output_root))]
    ray_unreachable = _ray_endpoint_problems(config.ray_address)
    problems += ray_unreachable
    if config.specialists is not None:
        profile = load_profile(config.specialists)
        problems += _weights_problems(config.specialists, profile)
        demand = gpu_demand(profile)
        if demand and not ray_unreachable:
            problems += _gpu_problems(config, demand)
    return problems


def require_ready(config: CurateConfig) -> None:
    if problems := check(config):
        raise PreflightError(problems)


def renders_default_set(config: CurateConfig) -> bool:
    """Whether the run renders the synthetic default set: asked to, and the data root is either the default one
    and absent, or holds nothing but default scenes (an interrupted rendering is completed)."""
    if not config.generate_default_data:
        return False
    root = config.data_root
    if not root.exists():
        return root.resolve() == DEFAULT_DATA_ROOT.resolve()
    default_ids = {scene_id_for(tier, seed) for tier in ScaleTier for seed in range(config.scenes_per_tier)}
    return root.is_dir() and {p.name for p in root.iterdir() if not p.name.startswith(".")} <= default_ids


def run_models(profile: SpecialistProfile) -> dict[str, TierProfile]:
    """Every model a run of the profile loads, one per single-model profile (depth alone, detector alone), keyed
    by its configuration: one Ray actor each, shared by the tiers that name the same model."""
    return {alone.model_dump_json(): alone for tier in (profile.default, *profile.tiers.values())
            for alone in single_models(tier)}


def single_models(tier: TierProfile) -> tuple[TierProfile, TierProfile]:
    return TierProfile(depth=tier.depth), TierProfile(detector=tier.detector)


def gpu_demand(profile: SpecialistProfile) -> dict[str, float]:
    """The GPUs (fractions) each model of the profile asks Ray for, by "role weights-name"; empty on CPU only."""
    demand = {}
    for alone in run_models(profile).values():
        for role, entry in ROLE_ENTRIES.items():
            model = getattr(alone, entry)
            if model is not None and model.num_gpus > 0:
                demand[f"{role} {model.weights.name}"] = model.num_gpus
    return demand


def _data_root_problems(config: CurateConfig) -> list[str]:
    root = config.data_root
    if renders_default_set(config):
        return []
    if not root.exists():
        only_default = (f"; only the default data root {DEFAULT_DATA_ROOT} is created and rendered into"
                        if config.generate_default_data else "")
        return [f"data root {root} does not exist{only_default}"]
    if not root.is_dir():
        return [f"data root {root} is not a directory"]
    if config.manifest is not None:
        manifest = root / config.manifest
        return [] if manifest.is_file() else [f"manifest {manifest} does not exist or is not a file"]
    try:
        registry.discover(root, config.source)  # finds the first item now
    except registry.NoItemsError as err:
        return [f"{err} (`spacevista sources` lists the layouts each reads)"]
    except (OSError, ValueError) as err:
        return [f"data root {root} cannot be read: {err}"]
    return []


def _output_root_problems(output_root: Path | str) -> list[str]:
    """A local output root must be a directory or creatable, and writable (probed with a temporary directory);
    an object-store URI naming an `endpoint_override` must reach it."""
    if is_uri(output_root):
        endpoint = parse_qs(urlsplit(str(output_root)).query).get("endpoint_override", [None])[0]
        return _unreachable(f"output root {output_root}: storage endpoint", endpoint) if endpoint else []
    root = Path(output_root)
    if root.exists() and not root.is_dir():
        return [f"output root {root} is not a directory"]
    nearest = next(p for p in (root, *root.parents) if p.exists())
    if not nearest.is_dir():
        return [f"output root {root} cannot be created: {nearest} is not a directory"]
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".spacevista-preflight-", dir=nearest))
    except OSError as err:
        where = "" if nearest == root else f" (nothing can be created in {nearest})"
        return [f"output root {root} is not writable: {err.strerror}{where}"]
    return []


def _output_format_problems(output_root: Path | str) -> list[str]:
    """An output root that holds tables must hold them in this version's format (storage.layout.FORMAT_VERSION):
    rows of another format are never read as if they were of this one."""
    layout = OutputLayout(output_root)
    try:
        for table in TABLES:
            read_manifest(layout, table)
    except ManifestFormatError as err:
        return [str(err)]
    return []


def _ray_endpoint_problems(address: str | None) -> list[str]:
    """An existing cluster's address (host:port or ray://host:port) must accept a connection; "auto" and a local
    Ray are not probed."""
    if not address or ":" not in address.removeprefix("ray://"):
        return []
    return _unreachable("Ray cluster", address)


def _unreachable(what: str, endpoint: str) -> list[str]:
    split = urlsplit(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    try:
        host, port = split.hostname, split.port or {"http": 80, "https": 443}.get(split.scheme)
    except ValueError as err:
        return [f"{what} {endpoint}: not host:port ({err})"]
    if not host or port is None:
        return [f"{what} {endpoint}: not host:port"]
    try:
        socket.create_connection((host, port), timeout=ENDPOINT_TIMEOUT_S).close()
    except OSError as err:
        return [f"{what} {endpoint} is not reachable: {err.strerror or err}"]
    return []


def _weights_problems(profile_path: Path, profile: SpecialistProfile) -> list[str]:
    """`spacevista models verify`'s check (missing weights with the command that pulls them, weights changed
    since their pull), then every model whose weights are there must be loadable by path (a Depth Anything
    directory of the profile's kind, a detector file)."""
    verified = verify_profile(profile_path)
    problems, absent = [], set()
    for weights in verified.checks:
        shown = f"{os.path.normpath(weights.path)} ({', '.join(verified.users.get(weights.path, []))})"
        if weights.status == "missing":
            absent.add(weights.path)
            entry = entry_for(weights.path)
            fix = (f"`{pull_command(entry, weights.path.parent)}`" if entry is not None
                   else "not in the catalogue (`spacevista models list`): put the weights there yourself")
            problems.append(f"specialist weights missing: {shown}; {fix}")
        elif weights.status == "tampered":
            problems.append(f"specialist weights changed since their pull: {shown}: {weights.detail}")
    for alone in run_models(profile).values():
        models = {role: getattr(alone, entry) for role, entry in ROLE_ENTRIES.items() if getattr(alone, entry)}
        paths = {p for model in models.values() for p in (model.weights, getattr(model, "temporal_reference", None))}
        if not models or paths & absent:
            continue
        try:
            problems += [f"specialist {role} cannot be loaded: {reason}"
                         for role, reason in configured(alone)[1].items() if role in models]
        except ValueError as err:
            problems.append(f"specialist profile {profile_path}: {err}")
    return problems


def _gpu_problems(config: CurateConfig, demand: dict[str, float]) -> list[str]:
    """The profile's GPU shares must fit the Ray cluster's GPUs: in all, and the largest on one node."""
    per_node = _cluster_gpus(config.ray_address) if config.ray_address else [_local_gpus()]
    where = f"the Ray cluster at {config.ray_address}" if config.ray_address else "the local Ray (this machine)"
    asked = sum(demand.values())
    if asked <= sum(per_node) and max(demand.values()) <= max(per_node, default=0.0):
        return []
    shares = ", ".join(f"{model} {gpus:g}" for model, gpus in demand.items())
    return [f"the specialist profile {config.specialists} asks Ray for {asked:g} GPU ({shares}) but {where} has "
            f"{sum(per_node):g}: its actors would wait forever; use `--specialists cpu` (profiles/cpu.yaml) or a "
            f"cluster with GPUs"]


def _local_gpus() -> float:
    """The GPUs a local Ray started by this run would have, found the way `ray.init` finds them (the devices
    present, limited to CUDA_VISIBLE_DEVICES), without starting it."""
    from ray._private.accelerators import get_accelerator_manager_for_resource  # noqa: PLC0415 (Ray 2.60)

    manager = get_accelerator_manager_for_resource("GPU")
    present = manager.get_current_node_num_accelerators()
    visible = manager.get_current_process_visible_accelerator_ids()
    return float(present if visible is None else min(present, len(visible)))


def _cluster_gpus(address: str) -> list[float]:
    """The GPUs of each live node of an existing cluster (joined for the count, or the run's session if up)."""
    import ray  # noqa: PLC0415 (after quiet_environment, via ray_session)

    with ray_session(address, None):
        return [node["Resources"].get("GPU", 0.0) for node in ray.nodes() if node["Alive"]]
