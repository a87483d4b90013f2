"""A loopback stand-in for the Hugging Face Hub: the routes huggingface_hub 2.4 calls for `snapshot_download`.

Two HTTP servers on 127.0.0.1, like the real hub and its LFS CDN (different origins, so huggingface_hub stops at the
hub's redirect and takes the file metadata from it, as it does with huggingface.co):

- `GET /api/models/{repo}/revision/{rev}`: model info, `sha` = the commit (`HfApi.model_info` / `repo_info`).
- `GET /api/models/{repo}/tree/{rev}`: the recursive listing (`HfApi.list_repo_tree`): size, git blob oid, and for
  LFS files `lfs: {oid: sha256, size, pointerSize}`.
- `HEAD|GET /{repo}/resolve/{rev}/{path}`: a regular file is served with `ETag` (its git blob sha1) and
  `X-Repo-Commit`; an LFS file (.safetensors, .pt, .bin) answers 302 to the CDN with `X-Linked-Etag` (sha256),
  `X-Linked-Size` and `X-Repo-Commit`. Errors carry `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound).

Faults, per (repo, path), for the refusal tests: "corrupt" serves the right size with one byte flipped; "truncate"
serves half the file and every header says that half is the file (only the tree listing knows better);
"short_body" announces the full size on HEAD, then sends half.

`python -m tests.hub_server --port 8765 REPO_ID=PATH ...` serves local folders or files until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".pt", ".bin", ".pth", ".onnx")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str

    def entry(self, path: str) -> dict:
        data = self.files[path]
        if not path.endswith(LFS_SUFFIXES):
            return {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        pointer = lfs_pointer(data)
        return {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(pointer),
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)}}


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    faults: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    hub_url: str = ""
    cdn_url: str = ""

    def add_repo(self, repo_id: str, source: Path | dict[str, bytes]) -> Repo:
        """Serve a folder's files (or one file, or {path: bytes}) as `repo_id` at a commit derived from them."""
        if isinstance(source, dict):
            files = dict(source)
        elif Path(source).is_file():
            files = {Path(source).name: Path(source).read_bytes()}
        else:
            files = {p.relative_to(source).as_posix(): p.read_bytes()
                     for p in sorted(Path(source).rglob("*")) if p.is_file()}
        listing = "".join(f"{path}\0{git_blob_sha1(data)}\n" for path, data in sorted(files.items()))
        repo = Repo(files, hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest())
        self.repos[repo_id] = repo
        return repo

    def served(self, repo_id: str, path: str) -> bytes:
        data = self.repos[repo_id].files[path]
        fault = self.faults.get((repo_id, path))
        if fault == "corrupt":
            middle = len(data) // 2
            return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        if fault in ("truncate", "short_body"):
            return data[:len(data) // 2]
        return data

    def announced_size(self, repo_id: str, path: str) -> int:
        if self.faults.get((repo_id, path)) == "short_body":
            return len(self.repos[repo_id].files[path])
        return len(self.served(repo_id, path))


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    role: str  # "hub" or "cdn"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (quiet)
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.requests.append((self.command, f"{self.role}:{path}"))
        if self.role == "cdn":
            return self._cdn(path, body)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            return self._api(f"{parts[2]}/{parts[3]}", parts[4], parts[5], body)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), body)
        self._send(404, b"not found", {"X-Error-Code": "EntryNotFound"}, body)

    def _repo(self, repo_id: str, revision: str, body: bool) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._send(404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body)
            return None
        if revision not in ("main", repo.commit):
            self._send(404, b'{"error":"Revision not found"}', {"X-Error-Code": "RevisionNotFound"}, body)
            return None
        return repo

    def _api(self, repo_id: str, route: str, revision: str, body: bool) -> None:
        repo = self._repo(repo_id, revision, body)
        if repo is None:
            return
        if route == "revision":
            payload = {"_id": repo.commit[:24], "id": repo_id, "modelId": repo_id, "sha": repo.commit,
                       "private": False, "gated": False, "disabled": False,
                       "siblings": [{"rfilename": path} for path in sorted(repo.files)]}
        else:
            payload = [repo.entry(path) for path in sorted(repo.files)]
        self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"}, body)

    def _resolve(self, repo_id: str, revision: str, filename: str, body: bool) -> None:
        repo = self._repo(repo_id, revision, body)
        if repo is None:
            return
        if filename not in repo.files:
            self._send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit},
                       body)
            return
        entry = repo.entry(filename)
        headers = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if "lfs" in entry:
            pointer = lfs_pointer(repo.files[filename])
            headers.update({"Location": f"{self.hub.cdn_url}/blobs/{repo_id}/{entry['lfs']['oid']}/{filename}",
                            "X-Linked-Etag": f'"{entry["lfs"]["oid"]}"',
                            "X-Linked-Size": str(self.hub.announced_size(repo_id, filename)),
                            "ETag": f'"{git_blob_sha1(pointer)}"'})
            self._send(302, b"", headers, body)
            return
        headers["ETag"] = f'"{entry["oid"]}"'
        self._send_file(repo_id, filename, headers, body)

    def _cdn(self, path: str, body: bool) -> None:
        parts = path.strip("/").split("/")
        repo_id, filename = "/".join(parts[1:3]), "/".join(parts[4:])
        repo = self.hub.repos.get(repo_id)
        if parts[0] != "blobs" or repo is None or filename not in repo.files:
            self._send(404, b"no such blob", {}, body)
            return
        self._send_file(repo_id, filename, {"ETag": f'"{parts[3]}"'}, body)

    def _send_file(self, repo_id: str, filename: str, headers: dict, body: bool) -> None:
        data = self.hub.served(repo_id, filename)
        if not body:  # HEAD: the size the hub announces
            self._send(200, b"", {**headers, "Content-Length": str(self.hub.announced_size(repo_id, filename))},
                       False)
            return
        self._send(200, data, {**headers, "Content-Type": "application/octet-stream"}, True)

    def _send(self, status: int, data: bytes, headers: dict, body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


class HubServers:
    """The fake hub and its CDN on two loopback ports; a context manager."""

    def __init__(self, hub: FakeHub | None = None, port: int = 0):
        self.hub = hub or FakeHub()
        self._servers = []
        for role, role_port in (("hub", port), ("cdn", 0)):
            handler = type(f"{role.title()}Handler", (_Handler,), {"hub": self.hub, "role": role})
            server = ThreadingHTTPServer(("127.0.0.1", role_port), handler)
            server.daemon_threads = True
            self._servers.append(server)
            setattr(self.hub, f"{role}_url", f"http://127.0.0.1:{server.server_address[1]}")

    @property
    def endpoint(self) -> str:
        return self.hub.hub_url

    def __enter__(self) -> HubServers:
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="the hub's port (the CDN takes any free one)")
    parser.add_argument("repos", nargs="+", metavar="REPO_ID=PATH")
    args = parser.parse_args()
    servers = HubServers(port=args.port)
    for spec in args.repos:
        repo_id, _, path = spec.partition("=")
        repo = servers.hub.add_repo(repo_id, Path(path))
        print(f"serving {repo_id}@{repo.commit[:12]}: {', '.join(sorted(repo.files))}", flush=True)
    with servers:
        print(f"HF_ENDPOINT={servers.endpoint}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
