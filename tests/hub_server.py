"""A small in-memory server speaking the Hugging Face Hub's HTTP protocol, for tests.

    from hub_server import HubServer
    with HubServer(tokens={"hf_test"}) as hub:      # listens on 127.0.0.1:<free port>
        os.environ["HF_ENDPOINT"] = hub.url          # plus HF_HUB_DISABLE_XET=1, HF_TOKEN=hf_test
        HfApi(endpoint=hub.url, token="hf_test").create_repo("org/x", repo_type="dataset")

It implements the endpoints the real ``huggingface_hub`` 2.4 client and ``datasets`` use for
uploading and loading a dataset repo, with the Hub's response shapes and error headers (read from
``hf_api.py``, ``_commit_api.py``, ``lfs.py``, ``file_download.py``, ``utils/_http.py``):

- ``POST /api/validate-yaml``                        README front matter check
- ``POST /api/repos/create``                         409 when it exists
- ``GET  /api/{type}s/{ns}/{name}[/revision/{rev}]`` repo info (sha, siblings, cardData)
- ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``   regular vs LFS, remote oid
- ``POST /{type}s/{ns}/{name}.git/info/lfs/objects/batch`` + ``PUT /lfs/{oid}`` (+ verify)
- ``POST /api/{type}s/{ns}/{name}/commit/{rev}``      NDJSON: header, file, lfsFile, deletedFile
- ``POST /api/{type}s/{ns}/{name}/tag/{rev}``, ``GET .../refs``, ``GET .../tree/{rev}[/path]``,
  ``POST .../paths-info/{rev}``, ``GET .../commits/{rev}``
- ``GET|HEAD /{type}s/{ns}/{name}/resolve/{rev}/{path}`` with ``Range`` support

Missing repos answer 404 with ``X-Error-Code: RepoNotFound`` (private repos too, without a
valid token), missing revisions ``RevisionNotFound``, missing files ``EntryNotFound``. Writes need
``Authorization: Bearer <token>`` with a token from ``tokens``. ``fail_next(pattern, status)``
makes the next matching request fail, to test that an interrupted publish resumes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".pt", ".gguf", ".zip", ".gz")
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def entry(self, path: str) -> dict[str, Any]:
        """A tree/paths-info entry, as the Hub returns it."""
        out: dict[str, Any] = {"type": "file", "path": path, "size": len(self.data)}
        if self.lfs:
            pointer = lfs_pointer(self.sha256, len(self.data))
            out["oid"] = git_blob_sha1(pointer)
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)}
        else:
            out["oid"] = git_blob_sha1(self.data)
        return out


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    files: dict[str, Blob]
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        oid = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(oid) if oid else None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubServer:
    """The server state plus a background ``ThreadingHTTPServer``; use as a context manager."""

    def __init__(self, tokens: set[str] | frozenset[str] = frozenset({"hf_test_token"}), host: str = "127.0.0.1"):
        self.tokens = set(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_store: dict[str, bytes] = {}  # sha256 -> content, shared by all repos like the Hub's LFS
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self._failures: list[tuple[re.Pattern[str], int]] = []
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- test controls
    def fail_next(self, pattern: str, status: int = 500) -> None:
        """The next request whose ``METHOD path`` matches ``pattern`` answers ``status``."""
        with self._lock:
            self._failures.append((re.compile(pattern), status))

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def requests(self, pattern: str) -> list[tuple[str, str, int]]:
        rx = re.compile(pattern)
        return [r for r in self.log if rx.search(f"{r[0]} {r[1]}")]

    # -- helpers used by the handler
    def take_failure(self, method: str, path: str) -> int | None:
        with self._lock:
            for i, (rx, status) in enumerate(self._failures):
                if rx.search(f"{method} {path}"):
                    del self._failures[i]
                    return status
        return None

    def new_commit(self, repo: Repo, parent: str | None, title: str, files: dict[str, Blob]) -> Commit:
        seed = f"{repo.repo_id}\n{parent}\n{title}\n{time.time_ns()}\n" + "\n".join(
            f"{p}:{b.sha256}" for p, b in sorted(files.items()))
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(oid, parent, title, files, datetime.now(UTC).isoformat().replace("+00:00", "Z"))
        repo.commits[oid] = commit
        return commit


# ----------------------------------------------------------------------------------- handler


def _make_handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        server_state = hub

    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    server_state: HubServer
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test log is in hub.log
        pass

    # -- plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes | dict | list = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.server_state.log.append((self.command, self.path, status))

    def _error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, {"error": err.message}, headers)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    def _require_write(self) -> None:
        token = self._token()
        if token is None:
            raise HubError(401, "You must be authenticated to perform this action")
        if token not in self.server_state.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, type_plural: str, ns: str, name: str) -> Repo:
        repo = self.server_state.repos.get((REPO_TYPES.get(type_plural, type_plural), f"{ns}/{name}"))
        if repo is None or (repo.private and self._token() not in self.server_state.tokens):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(unquote(rev))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(rev)}", "RevisionNotFound")
        return commit

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        failure = self.server_state.take_failure(self.command, path)
        if failure is not None:
            self._body()
            raise HubError(failure, "Injected failure (test)")
        # Raw segments: revisions arrive URL-quoted ("refs%2Fconvert%2Fparquet"), so never unquote the
        # whole path before splitting it.
        seg = path.strip("/").split("/")
        m = self.command
        with self.server_state._lock:
            if path == "/api/validate-yaml" and m == "POST":
                return self._validate_yaml()
            if path == "/api/repos/create" and m == "POST":
                return self._create_repo()
            if path == "/api/whoami-v2" and m == "GET":
                self._require_write()
                return self._send(200, {"type": "user", "name": "tester", "auth": {"type": "access_token"}})
            if len(seg) >= 4 and seg[0] == "api" and seg[1] in REPO_TYPES:
                repo = self._repo(seg[1], seg[2], seg[3])
                rest = seg[4:]
                if not rest and m == "GET":
                    return self._repo_info(repo, "main")
                if rest[:1] == ["revision"] and len(rest) >= 2 and m == "GET":
                    return self._repo_info(repo, "/".join(rest[1:]))
                if rest[:1] == ["preupload"] and m == "POST":
                    return self._preupload(repo, rest[1])
                if rest[:1] == ["commit"] and m == "POST":
                    return self._commit_op(repo, rest[1])
                if rest[:1] == ["tag"] and m == "POST":
                    return self._tag(repo, rest[1])
                if rest[:1] == ["tag"] and m == "DELETE":
                    self._require_write()
                    repo.tags.pop(unquote(rest[1]), None)
                    return self._send(200, {})
                if rest == ["refs"] and m == "GET":
                    return self._refs(repo)
                if rest[:1] == ["tree"] and len(rest) >= 2 and m == "GET":
                    return self._tree(repo, rest[1], unquote("/".join(rest[2:])), query)
                if rest[:1] == ["paths-info"] and m == "POST":
                    return self._paths_info(repo, rest[1])
                if rest[:1] == ["commits"] and m == "GET":
                    return self._commits(repo, rest[1])
            if (len(seg) == 7 and seg[0] in REPO_TYPES and seg[2].endswith(".git")
                    and seg[3:] == ["info", "lfs", "objects", "batch"] and m == "POST"):
                return self._lfs_batch(self._repo(seg[0], seg[1], seg[2][:-4]))
            if len(seg) == 2 and seg[0] == "lfs" and m == "PUT":
                return self._lfs_put(seg[1])
            if len(seg) == 3 and seg[0] == "lfs" and seg[2] == "verify" and m == "POST":
                self._body()
                if seg[1] not in self.server_state.lfs_store:
                    raise HubError(404, "LFS object not found")
                return self._send(200, {})
            if len(seg) >= 6 and seg[0] in REPO_TYPES and seg[3] == "resolve" and m in {"GET", "HEAD"}:
                repo = self._repo(seg[0], seg[1], seg[2])
                return self._resolve(repo, seg[4], unquote("/".join(seg[5:])))
        raise HubError(404, f"Unknown endpoint {m} {path} (hub_server.py)")

    def _handle(self) -> None:
        try:
            self._dispatch()
        except HubError as err:
            self._error(err)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    # -- endpoints
    def _validate_yaml(self) -> None:
        payload = json.loads(self._body() or b"{}")
        content: str = payload.get("content", "")
        errors: list[dict[str, str]] = []
        warnings: list[dict[str, str]] = []
        if content.startswith("---"):
            head = content[3:].split("\n---", 1)
            try:
                meta = yaml.safe_load(head[0]) if len(head) == 2 else None
                if len(head) != 2:
                    errors.append({"message": "YAML front matter is not closed by '---'"})
                elif meta is not None and not isinstance(meta, dict):
                    errors.append({"message": "YAML metadata must be a mapping"})
                elif isinstance(meta, dict):
                    for cfg in meta.get("configs") or []:
                        if not isinstance(cfg, dict) or "config_name" not in cfg:
                            errors.append({"message": "\"configs\" items must have a \"config_name\""})
            except yaml.YAMLError as exc:
                errors.append({"message": f"Invalid YAML: {exc}"})
        else:
            warnings.append({"message": "empty or missing yaml metadata in repo card"})
        self._send(400 if errors else 200, {"errors": errors, "warnings": warnings})

    def _create_repo(self) -> None:
        self._require_write()
        payload = json.loads(self._body() or b"{}")
        name, org = payload.get("name"), payload.get("organization")
        if not name or not org:
            raise HubError(400, "repo name and organization are required")
        repo_type = payload.get("type") or "model"
        repo_id = f"{org}/{name}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.server_state.url}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.server_state.repos:
            return self._send(409, {"error": "You already created this repo", "url": url},
                              {"X-Error-Message": "You already created this repo"})
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = Repo(repo_type, repo_id, private)
        # Like the Hub: a new repo has one commit with a .gitattributes routing binaries to LFS.
        first = self.server_state.new_commit(repo, None, "initial commit",
                                             {".gitattributes": Blob(GITATTRIBUTES, lfs=False)})
        repo.branches["main"] = first.oid
        self.server_state.repos[(repo_type, repo_id)] = repo
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _repo_info(self, repo: Repo, rev: str) -> None:
        commit = self._commit(repo, rev)
        card: dict[str, Any] | None = None
        readme = commit.files.get("README.md")
        if readme and readme.data.startswith(b"---"):
            parts = readme.data.decode().split("\n---", 1)
            card = yaml.safe_load(parts[0][3:]) if len(parts) == 2 else None
        self._send(200, {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0], "sha": commit.oid, "lastModified": commit.date,
            "createdAt": repo.commits[min(repo.commits, key=lambda o: repo.commits[o].date)].date,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "cardData": card,
            "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        })

    def _preupload(self, repo: Repo, rev: str) -> None:
        self._require_write()
        payload = json.loads(self._body() or b"{}")
        commit = repo.resolve(unquote(rev))
        files = []
        for f in payload.get("files", []):
            path, size = f["path"], int(f.get("size", 0))
            lfs = path.endswith(LFS_SUFFIXES) or size > 10 * 1024 * 1024
            remote = commit.files.get(path) if commit else None
            # The oid lets the client skip unchanged files: sha256 for LFS, git sha1 for regular blobs.
            oid = (remote.sha256 if remote.lfs else git_blob_sha1(remote.data)) if remote else None
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": files, "commitOid": commit.oid if commit else None})

    def _lfs_batch(self, repo: Repo) -> None:
        self._require_write()
        payload = json.loads(self._body() or b"{}")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.server_state.lfs_store:  # already stored: no actions, the client skips it
                base = f"{self.server_state.url}/lfs/{oid}"
                entry["actions"] = {"upload": {"href": base, "header": {}},
                                    "verify": {"href": f"{base}/verify", "header": {}}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                   content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        self.server_state.lfs_store[oid] = data
        self._send(200, b"", content_type="text/plain")

    def _commit_op(self, repo: Repo, rev: str) -> None:
        self._require_write()
        branch = unquote(rev)
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "commit payload must start with a header line")
        header = lines[0]["value"]
        head = repo.branches.get(branch)
        if head is None:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        if header.get("parentCommit") and header["parentCommit"] != head:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.commits[head].files)
        for op in lines[1:]:
            key, value = op["key"], op["value"]
            if key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.server_state.lfs_store.get(value["oid"])
                if data is None:  # the Hub refuses to commit a pointer to an object it never received
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was not uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for p in [p for p in files if p.startswith(prefix)]:
                    del files[p]
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        commit = self.server_state.new_commit(repo, head, header.get("summary", ""), files)
        repo.branches[branch] = commit.oid
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._send(200, {"success": True, "commitOid": commit.oid, "pullRequestUrl": None,
                         "commitUrl": f"{self.server_state.url}/{prefix}{repo.repo_id}/commit/{commit.oid}"})

    def _tag(self, repo: Repo, rev: str) -> None:
        self._require_write()
        payload = json.loads(self._body() or b"{}")
        commit = self._commit(repo, rev)
        tag = payload.get("tag")
        if not tag:
            raise HubError(400, "tag name is required")
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        self._send(200, {})

    def _refs(self, repo: Repo) -> None:
        def ref(kind: str, name: str, oid: str) -> dict[str, str]:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        self._send(200, {"branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
                         "converts": [], "pullRequests": [],
                         "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())]})

    def _entries(self, commit: Commit, prefix: str, recursive: bool) -> list[dict[str, Any]]:
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(commit.files):
            if not path.startswith(base):
                continue
            parts = path[len(base):].split("/")
            # Folders along the way (all of them when recursive, only direct children otherwise).
            for depth in range(1, len(parts)):
                if not recursive and depth > 1:
                    break
                folder = base + "/".join(parts[:depth])
                out.setdefault(folder, {"type": "directory", "path": folder,
                                        "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(parts) == 1:
                out[path] = commit.files[path].entry(path)
        return list(out.values())

    def _tree(self, repo: Repo, rev: str, path: str, query: dict[str, list[str]]) -> None:
        commit = self._commit(repo, rev)
        recursive = (query.get("recursive") or ["false"])[0].lower() in {"1", "true"}
        if path and path in commit.files:
            raise HubError(400, f"{path} is a file, not a directory")
        entries = self._entries(commit, path, recursive)
        if path and not entries:
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
        self._send(200, entries)

    def _paths_info(self, repo: Repo, rev: str) -> None:
        commit = self._commit(repo, rev)
        form = parse_qs(self._body().decode())
        out = []
        for p in form.get("paths", []):
            p = p.strip("/")
            if p in commit.files:
                out.append(commit.files[p].entry(p))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()})
        self._send(200, out)

    def _commits(self, repo: Repo, rev: str) -> None:
        commit: Commit | None = self._commit(repo, rev)
        out = []
        while commit is not None:
            out.append({"id": commit.oid, "title": commit.title, "message": "", "date": commit.date,
                        "authors": [{"user": "tester"}]})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._send(200, out)

    def _resolve(self, repo: Repo, rev: str, path: str) -> None:
        commit = self._commit(repo, rev)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data, status = blob.data, 200
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes",
                   "ETag": f'"{blob.sha256 if blob.lfs else git_blob_sha1(blob.data)}"'}
        if blob.lfs:
            headers["X-Linked-Etag"] = f'"{blob.sha256}"'
            headers["X-Linked-Size"] = str(len(blob.data))
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            start = int(start_s or 0)
            end = int(end_s) if end_s else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}", **headers},
                                  content_type="application/octet-stream")
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        self._send(status, data, headers, content_type="application/octet-stream")
