"""`spacevista models pull`: the one place that reaches the network. It lifts the offline switch runtime/offline.py
sets only around one download, fetches a catalogue entry's files through huggingface_hub (endpoint from
HF_ENDPOINT), and keeps them only if each matches what the hub reports for that commit: its size, and the sha256
of an LFS file or the git blob id of a regular one. A corrupted or truncated download is removed and refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from runtime.offline import quiet_environment
from specialists.catalogue import (
    CatalogueEntry,
    PulledFile,
    PullManifest,
    check_weights,
    manifest_path,
    write_manifest,
)
from specialists.contract import file_sha256, weights_sha256

DEFAULT_ENDPOINT = "https://huggingface.co"


class PullError(RuntimeError):
    """A model could not be pulled, or its download did not match the hub and was removed; the message says which."""


@dataclass(frozen=True)
class PullResult:
    path: Path
    manifest: PullManifest
    fetched: bool
    """False when intact weights of the same repository were already there (nothing was downloaded)."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


@contextmanager
def hub_online() -> Iterator[None]:
    """Lift HF_HUB_OFFLINE for one pull, then put it back. huggingface_hub reads the variable once, at import, into
    `constants.HF_HUB_OFFLINE`, which every request checks, so both are switched."""
    quiet_environment()
    from huggingface_hub import constants  # noqa: PLC0415 (after the offline switches)

    saved_env, saved_constant = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "0", False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_constant
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


def pull(entry: CatalogueEntry, models_dir: Path, revision: str | None = None, force: bool = False) -> PullResult:
    """Fetch `entry` into `models_dir` and record its manifest; intact weights already pulled from the same
    repository are kept unless `force`. PullError when the hub cannot be reached, lacks a file, or the download
    does not match it (nothing is left behind then)."""
    models_dir = Path(models_dir)
    target = entry.local_path(models_dir)
    present = check_weights(target)
    if present.status == "ok" and present.manifest.repo_id == entry.repo_id and not force:
        return PullResult(target, present.manifest, fetched=False)
    if present.status == "unrecorded" and not force:
        raise PullError(f"{target} exists and was not pulled by spacevista (no {manifest_path(target).name}); "
                        f"move it away or pass --force to replace it")
    endpoint, revision = hub_endpoint(), revision or entry.revision
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".pull-{entry.name}-", dir=models_dir))
    try:
        commit, expected = _download(entry, revision, endpoint, staging)
        downloaded = staging / "files"
        problems = [problem for name in entry.files if (problem := _mismatch(downloaded / name, expected[name]))]
        if problems:
            raise PullError(f"{entry.repo_id}@{commit[:12]} from {endpoint}: the download does not match what the hub "
                            f"reports, so it was removed: {'; '.join(problems)}")
        files = {name: PulledFile(size=(downloaded / name).stat().st_size, sha256=file_sha256(downloaded / name))
                 for name in entry.files}
        _install(entry, downloaded, target, staging)
        manifest = PullManifest(name=entry.name, repo_id=entry.repo_id, revision=revision, commit=commit,
                                endpoint=endpoint, pulled_at=datetime.now(timezone.utc).replace(microsecond=0),
                                licence=entry.licence, files=files, sha256=weights_sha256(target))
        write_manifest(target, manifest)
        return PullResult(target, manifest, fetched=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(entry: CatalogueEntry, revision: str, endpoint: str, staging: Path) -> tuple[str, dict]:
    """The commit `revision` resolves to, with the hub's record (RepoFile) of each of the entry's files, and those
    files downloaded into staging/files."""
    with hub_online():
        import httpx2  # noqa: PLC0415 (huggingface_hub's HTTP client)
        from huggingface_hub import HfApi, snapshot_download  # noqa: PLC0415
        from huggingface_hub.hf_api import RepoFile  # noqa: PLC0415

        where = f"{entry.repo_id}@{revision} from {endpoint}"
        try:
            api = HfApi(endpoint=endpoint)
            commit = api.model_info(entry.repo_id, revision=revision).sha
            tree = {item.path: item for item in api.list_repo_tree(entry.repo_id, revision=commit, recursive=True)
                    if isinstance(item, RepoFile)}
            lacking = [name for name in entry.files if name not in tree]
            if lacking:
                raise PullError(f"{where}: the repository has no {', '.join(lacking)} at commit {commit[:12]}")
            snapshot_download(entry.repo_id, revision=commit, endpoint=endpoint, local_dir=staging / "files",
                              cache_dir=staging / "cache", allow_patterns=list(entry.files), max_workers=4)
        except (OSError, ValueError, httpx2.HTTPError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise PullError(f"cannot pull {entry.name} ({where}): {type(err).__name__}: {message}") from None
    return commit, {name: tree[name] for name in entry.files}


def _mismatch(path: Path, expected) -> str | None:
    """Why a downloaded file is not the hub's (RepoFile `expected`), or None when it is."""
    if not path.is_file():
        return f"{path.name}: not downloaded"
    size = path.stat().st_size
    want = expected.lfs.size if expected.lfs is not None else expected.size
    if size != want:
        return f"{path.name}: {size} bytes, the hub has {want} (truncated or padded)"
    if expected.lfs is not None:
        found = file_sha256(path)
        if found != expected.lfs.sha256:
            return f"{path.name}: sha256 {found[:12]}…, the hub's LFS record says {expected.lfs.sha256[:12]}…"
        return None
    blob = hashlib.sha1(b"blob %d\0" % size + path.read_bytes()).hexdigest()
    if blob != expected.blob_id:
        return f"{path.name}: git blob id {blob[:12]}…, the hub has {expected.blob_id[:12]}…"
    return None


def _install(entry: CatalogueEntry, downloaded: Path, target: Path, staging: Path) -> None:
    """Move the checked files into place (replacing an earlier pull as a whole); nothing but the entry's files."""
    if entry.layout == "file":
        os.replace(downloaded / entry.files[0], target)
        return
    ready = staging / "ready"
    for name in entry.files:
        (ready / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(downloaded / name, ready / name)
    if target.exists():
        os.replace(target, staging / "replaced")
    os.replace(ready, target)


def describe(result: PullResult) -> str:
    m = result.manifest
    size = sum(f.size for f in m.files.values()) / 1e6
    if not result.fetched:
        return (f"{m.name}: already pulled ({m.repo_id}@{m.commit[:12]}, sha256 {m.sha256[:12]}…, intact) at "
                f"{result.path}; --force fetches it again")
    return (f"pulled {m.name}: {m.repo_id}@{m.commit[:12]} from {m.endpoint} → {result.path} "
            f"({len(m.files)} file{'s' if len(m.files) != 1 else ''}, {size:.1f} MB, {m.licence}); each file matches "
            f"the hub's size and hash; sha256 {m.sha256[:12]}… recorded in {manifest_path(result.path).name}")

