"""`spacevista models list | pull | verify` against a loopback stand-in for the Hugging Face hub
(tests/hub_server.py): pulled weights are recorded and load through the specialists, corrupted or truncated
downloads are refused and removed, verify names what is missing with the command that pulls it and reports weights
changed since their pull; the bundled profiles; and only `pull` ever lifts the offline switch."""

from __future__ import annotations

import ast
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from schemas.config import PROFILES_DIR, ConfigFileError, load_curate_config
from schemas.specialists import DepthModelConfig, DetectorConfig, load_profile
from schemas.tiers import ScaleTier
from specialists.catalogue import CATALOGUE, entry_for, manifest_path, read_manifest
from specialists.contract import weights_sha256
from tests.conftest import REPO, free_port
from tests.hub_server import HubServers
from tests.tiny_models import fall_detector_weights

INDOOR = CATALOGUE["depth-anything-v2-metric-indoor-small"]
RELATIVE = CATALOGUE["depth-anything-v2-small"]
NANO = CATALOGUE["yolov8n"]


@pytest.fixture(scope="module")
def hub(tiny_depth_anything):
    """The catalogue's repositories served from 127.0.0.1: tiny random-init Depth Anything models saved the way the
    real ones are, and a real YOLOv8 .pt (the offline person detector) standing in for yolov8n.pt."""
    servers = HubServers()
    servers.hub.add_repo(INDOOR.repo_id, tiny_depth_anything["metric"])
    servers.hub.add_repo(CATALOGUE["depth-anything-v2-metric-outdoor-small"].repo_id, tiny_depth_anything["metric"])
    servers.hub.add_repo(RELATIVE.repo_id, tiny_depth_anything["relative"])
    servers.hub.add_repo(NANO.repo_id, {NANO.files[0]: fall_detector_weights().read_bytes()})
    with servers:
        yield servers


@pytest.fixture
def endpoint(hub, monkeypatch) -> HubServers:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    hub.hub.faults.clear()
    return hub


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`spacevista …` in a fresh process, as a user types it."""
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(scope="module")
def clean_checkout_run(hub, tmp_path_factory):
    """From nothing pulled: verify (fails, listing the pull commands), run exactly those commands, verify again;
    every process audited for the addresses it contacts (tests/netguard)."""
    root = tmp_path_factory.mktemp("clean-checkout")
    profile = root / "profile.yaml"
    profile.write_text("default:\n"
                       "  depth: {weights: models/depth-anything-v2-metric-indoor-small, kind: metric, "
                       "input_size: 28, temporal_reference: models/depth-anything-v2-small}\n"
                       "  detector: {weights: models/yolov8n.pt, image_size: 256}\n")
    netlog = root / "net.jsonl"
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(root / "hf-home"), SPACEVISTA_NETLOG=str(netlog),
               HF_HUB_DISABLE_PROGRESS_BARS="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent / "netguard"), env.get("PYTHONPATH", "")]))
    before = _cli("models", "verify", "--specialists", str(profile), env=env)
    commands = [shlex.split(line.split("#")[0])[1:] for line in before.stdout.splitlines()
                if line.strip().startswith("spacevista models pull")]
    pulls = [_cli(*command, env=env) for command in commands]
    after = _cli("models", "verify", "--specialists", str(profile), env=env)
    return {"root": root, "models": root / "models", "before": before, "pulls": pulls, "after": after,
            "commands": commands, "net": [json.loads(line) for line in netlog.read_text().splitlines()]}


def test_verify_lists_what_is_missing_with_the_command_that_pulls_it(clean_checkout_run):
    before, models = clean_checkout_run["before"], clean_checkout_run["models"]
    assert before.returncode == 1, before.stderr
    assert before.stdout.count("MISSING") == 3
    assert "3 of 3 weights missing or changed" in before.stdout
    assert clean_checkout_run["commands"] == [
        ["models", "pull", name, "--models-dir", str(models)]
        for name in ("depth-anything-v2-metric-indoor-small", "depth-anything-v2-small", "yolov8n")]
    assert "GPUs" not in before.stdout                           # this profile asks for none


def test_pull_records_sha256_and_source_then_verify_passes(clean_checkout_run, hub):
    for pulled in clean_checkout_run["pulls"]:
        assert pulled.returncode == 0, pulled.stderr
        assert "each file matches the hub's size and hash" in pulled.stdout
    after = clean_checkout_run["after"]
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.count("  ok  ") == 3 and "all 3 weights present" in after.stdout
    models = clean_checkout_run["models"]
    manifest = read_manifest(models / INDOOR.local_name)
    repo = hub.hub.repos[INDOOR.repo_id]
    assert (manifest.repo_id, manifest.revision, manifest.commit, manifest.endpoint) == (
        INDOOR.repo_id, "main", repo.commit, hub.endpoint)
    assert manifest.sha256 == weights_sha256(models / INDOOR.local_name)
    assert sorted(p.name for p in (models / INDOOR.local_name).iterdir()) == sorted(INDOOR.files)  # no .cache
    assert sorted(p.name for p in models.iterdir()) == sorted(
        [INDOOR.local_name, RELATIVE.local_name, NANO.local_name]
        + [manifest_path(models / e.local_name).name for e in (INDOOR, RELATIVE, NANO)])   # no staging left


def test_every_process_contacted_only_loopback_and_only_pull_contacted_anything(clean_checkout_run):
    records = clean_checkout_run["net"]
    assert sum(r["event"] == "audited" for r in records) == 5     # verify, three pulls, verify
    contacts = [r for r in records if r["event"] != "audited"]
    assert contacts and all(_loopback(r["host"]) for r in contacts), {r["host"] for r in contacts}
    assert len({r["pid"] for r in contacts}) == 3                 # the pulls; the verifies opened no socket
    assert not (clean_checkout_run["root"] / "hf-home").exists()  # nothing written outside the models directory


def test_pulled_models_load_through_the_specialists(clean_checkout_run):
    from specialists.depth import DepthSpecialist  # noqa: PLC0415
    from specialists.detection import DetectionSpecialist  # noqa: PLC0415

    models = clean_checkout_run["models"]
    frames = np.random.default_rng(0).integers(0, 255, (3, 42, 56, 3), dtype=np.uint8)
    depth = DepthSpecialist(DepthModelConfig(weights=models / INDOOR.local_name, kind="metric", input_size=28),
                            device="cpu")
    assert depth.spec.weights_sha256 == read_manifest(models / INDOOR.local_name).sha256
    out = depth.run(frames)
    assert out.shape == (3, 42, 56) and out.dtype == np.float32 and np.isfinite(out).all() and (out > 0).all()
    fused = DepthSpecialist(DepthModelConfig(weights=models / INDOOR.local_name, kind="metric", input_size=28,
                                             temporal_reference=models / RELATIVE.local_name), device="cpu")
    assert fused.run(frames).shape == (3, 42, 56)

    from skimage import data  # noqa: PLC0415

    clip = np.stack([data.astronaut()] * 2)
    tracks = DetectionSpecialist(DetectorConfig(weights=models / NANO.local_name), device="cpu").run(clip)
    assert "Normal" in tracks.categories.values()                # the real detector, pulled through the hub


@pytest.mark.parametrize(("fault", "why"), [
    ("corrupt", r"model\.safetensors: sha256 \w+…, the hub's LFS record says"),
    ("truncate", r"model\.safetensors: \d+ bytes, the hub has \d+ \(truncated"),
    ("short_body", r"OSError: Consistency check failed: file should be of size"),
])
def test_a_corrupted_or_truncated_download_is_refused_and_removed(endpoint, tmp_path, capsys, fault, why):
    endpoint.hub.faults[(INDOOR.repo_id, "model.safetensors")] = fault
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path / "models")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spacevista models pull: ") and re.search(why, err), err
    assert list((tmp_path / "models").iterdir()) == []          # nothing kept, no staging folder, no manifest


def test_a_regular_file_is_checked_against_its_git_blob_id(endpoint, tmp_path, capsys):
    endpoint.hub.faults[(INDOOR.repo_id, "config.json")] = "corrupt"
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path)]) == 1
    assert "config.json: git blob id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unreachable_hub_unknown_repository_revision_or_file_fail_clearly(endpoint, tmp_path, capsys, monkeypatch):
    assert main(["models", "pull", "yolov8m", "--models-dir", str(tmp_path)]) == 1
    assert "Ultralytics/YOLOv8@main from http://127.0.0.1:" in (err := capsys.readouterr().err)
    assert "the repository has no yolov8m.pt at commit" in err
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path), "--revision", "v9"]) == 1
    assert "RevisionNotFoundError" in capsys.readouterr().err
    monkeypatch.delitem(endpoint.hub.repos, RELATIVE.repo_id)
    assert main(["models", "pull", RELATIVE.name, "--models-dir", str(tmp_path)]) == 1
    assert "RepositoryNotFoundError" in capsys.readouterr().err
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot pull {INDOOR.name} ({INDOOR.repo_id}@main from http://127.0.0.1:" in err and "Connect" in err
    assert main(["models", "pull", "no-such-model"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_pull_lifts_the_offline_switch_only_while_it_runs(endpoint, tmp_path, monkeypatch):
    from huggingface_hub import constants  # noqa: PLC0415

    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path)]) == 0
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")     # a pull that fails
    assert main(["models", "pull", RELATIVE.name, "--models-dir", str(tmp_path)]) == 1
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True


def test_only_the_pull_module_touches_the_hub_switches():
    """HF_HUB_OFFLINE is set in runtime/offline.py and lifted in specialists/hub.py only; no other module imports
    huggingface_hub (transformers may use it, offline, to read local folders)."""
    packages = ("flows", "pipeline", "training", "report", "specialists", "sources", "facts", "qa_templates",
                "storage", "schemas", "runtime")
    mentions = set()
    for path in (p for package in packages for p in (REPO / package).rglob("*.py")):
        text = path.read_text()
        imports = {alias.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Import)
                   for alias in node.names} | {node.module for node in ast.walk(ast.parse(text))
                                               if isinstance(node, ast.ImportFrom) and node.module}
        if "HF_HUB_OFFLINE" in text or any(name.split(".")[0] == "huggingface_hub" for name in imports):
            mentions.add(path.relative_to(REPO).as_posix())
    assert mentions == {"runtime/offline.py", "specialists/hub.py"}
    hub_importers = set()
    for path in (p for package in packages for p in (REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        owners = {id(node): function.name for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
                  for node in ast.walk(function)}
        hub_importers |= {(path.relative_to(REPO).as_posix(), owners.get(id(node), "<module>"))
                          for node in ast.walk(tree)
                          if isinstance(node, ast.ImportFrom) and node.module == "specialists.hub"}
    assert hub_importers == {("flows/cli.py", "_models")}  # the download code loads only for `models pull`


def test_verify_reports_weights_changed_since_their_pull_and_pull_repairs_them(endpoint, tmp_path, capsys):
    models = tmp_path / "models"
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(models)]) == 0
    profile = tmp_path / "p.yaml"
    profile.write_text(f"default:\n  depth: {{weights: models/{INDOOR.local_name}, kind: metric}}\n")
    weights = models / INDOOR.local_name / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 3] ^= 1
    weights.write_bytes(bytes(data))
    (models / INDOOR.local_name / "preprocessor_config.json").unlink()
    capsys.readouterr()
    assert main(["models", "verify", "--specialists", str(profile)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "changed: model.safetensors; deleted: preprocessor_config.json" in out
    assert f"spacevista models pull {INDOOR.name} --models-dir {models}" in out
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(models)]) == 0
    assert main(["models", "verify", "--specialists", str(profile)]) == 0
    assert "  ok  " in capsys.readouterr().out


def test_a_second_pull_downloads_nothing_and_hand_placed_weights_are_not_replaced(endpoint, tmp_path, capsys):
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path)]) == 0
    seen = len(endpoint.hub.requests)
    assert main(["models", "pull", INDOOR.name, "--models-dir", str(tmp_path)]) == 0
    assert "already pulled" in capsys.readouterr().out and len(endpoint.hub.requests) == seen
    (tmp_path / NANO.local_name).write_bytes(b"my own weights")
    assert main(["models", "pull", NANO.name, "--models-dir", str(tmp_path)]) == 1
    assert "was not pulled by spacevista" in capsys.readouterr().err
    assert (tmp_path / NANO.local_name).read_bytes() == b"my own weights"
    assert main(["models", "pull", NANO.name, "--models-dir", str(tmp_path), "--force"]) == 0
    assert read_manifest(tmp_path / NANO.local_name).sha256 == weights_sha256(fall_detector_weights())


def test_list_shows_each_model_with_licence_size_and_whether_it_is_here(endpoint, tmp_path, capsys):
    assert main(["models", "pull", NANO.name, "--models-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--models-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:1].strip()}
    for entry in CATALOGUE.values():
        assert entry.repo_id in rows[entry.name] and entry.licence in rows[entry.name]
        assert f"{entry.approx_mb:g} MB" in rows[entry.name]
    assert " pulled " in rows["yolov8n"] and " pulled " not in rows["yolov8m"]


def test_bundled_profiles_name_catalogue_models_per_tier():
    default, cpu = load_profile(PROFILES_DIR / "default.yaml"), load_profile(PROFILES_DIR / "cpu.yaml")
    for profile in (default, cpu):
        assert all(entry_for(path) is not None and path.resolve().parent == REPO / "models"
                   for path in profile.weights_paths())
        for tier in ScaleTier:
            chosen = profile.for_tier(tier)
            expected = "outdoor" if tier in (ScaleTier.OUTDOOR, ScaleTier.DRONE) else "indoor"
            assert chosen.depth.kind == "metric" and chosen.depth.weights.name == \
                f"depth-anything-v2-metric-{expected}-small"
            assert chosen.detector is not None and chosen.sfm.enabled
    assert default.for_tier(ScaleTier.INDOOR).depth.temporal_reference.name == RELATIVE.local_name
    assert all(p.depth.num_gpus == 0 and p.detector.num_gpus == 0 for p in (cpu.default, *cpu.tiers.values()))
    assert default.default.depth.num_gpus > 0 and default.default.detector.num_gpus > 0


def test_specialists_by_name_resolves_to_the_bundled_profile(tmp_path):
    def config(value):
        return load_curate_config(None, {"data_root": tmp_path, "output_root": tmp_path / "out",
                                         "specialists": value})

    assert config(Path("default").absolute()).specialists == PROFILES_DIR / "default.yaml"
    assert config(Path("cpu")).specialists == PROFILES_DIR / "cpu.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text((PROFILES_DIR / "cpu.yaml").read_text().replace("../models", str(REPO / "models")))
    assert config(own).specialists == own
    with pytest.raises(ConfigFileError, match="cannot read"):
        config(Path("no-such-profile").absolute())
