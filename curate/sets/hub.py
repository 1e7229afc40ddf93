"""Publishing set versions to the Hugging Face Hub: one commit per version, tagged with it.

    curate publish out/default/v1.0.0 --repo my-org/calib-smollm2
    python -c "from curate.sets.hub import publish; print(publish('out/default/v1.0.0', 'my-org/calib').message)"

then anyone loads exactly those rows with
``datasets.load_dataset("my-org/calib", revision="v1.0.0", split="train")``.

A version is a label bound to a content fingerprint (see :mod:`curate.sets.read`). On the Hub the
label is a git tag, and the fingerprint is read back from the ``manifest.json`` at that tag:

- tag exists with the same fingerprint, or the content is already published under another tag:
  a no-op that says so;
- tag exists with another fingerprint: refused (publish the new content under a new version);
- otherwise: ``create_repo(exist_ok=True)``, then ONE ``create_commit`` with the parquet shard,
  ``manifest.json``, the card (``README.md``, whose ``configs`` point ``load_dataset`` at
  ``data/train-*.parquet``) and ``extras/*.json``; then ``create_tag`` on that commit.

Before any request the version's rows are checked against its manifest's fingerprint
(:func:`curate.sets.fingerprint.verify_version`): tampered or truncated files are refused locally.
The commit is atomic on the Hub, so an interrupted publish leaves either nothing or a complete
untagged commit; rerunning finds that commit on ``main`` (same fingerprint) and only tags it, and
LFS objects already uploaded are not sent again. Only ``huggingface_hub``'s API is used; the
token comes from ``HF_TOKEN`` or the login cache (``huggingface_hub.get_token``) and is never
printed or written.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from curate.errors import CurateError
from curate.sets.layout import CARD, EXTRAS, MANIFEST, PARQUET, is_version_dir, versions
from curate.sets.read import resolve_set_path

REPO_TYPE = "dataset"
# The Hub's rule for repo names (huggingface_hub.utils.validate_repo_id checks the rest).
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class PublishResult:
    repo_id: str
    version: str
    fingerprint: str
    status: Literal["published", "unchanged", "tagged"]  # tagged = resumed: commit existed, tag added
    commit: str | None
    url: str
    message: str


class PublishError(CurateError):
    """Publishing failed or was refused; nothing half-published, rerunning resumes."""


# --------------------------------------------------------------------------- inputs


def check_repo_id(repo_id: str) -> str:
    """``ORG/NAME`` or a one-line CurateError naming the flag."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    hint = "expected ORG/NAME: letters, digits, '-', '_' or '.', at most 96 characters, e.g. my-org/calib-smollm2"
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id):
        raise CurateError(f"--repo '{repo_id}' is not a Hub dataset id", hint=hint)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise CurateError(f"--repo '{repo_id}' is not a Hub dataset id: {str(exc).splitlines()[0]}", hint=hint) from exc
    return repo_id


def resolve_endpoint(endpoint: str | None) -> str:
    """``--endpoint``, else ``HF_ENDPOINT`` (read now, not at import), else huggingface.co."""
    from huggingface_hub import constants

    url = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise CurateError(f"--endpoint '{url}' is not an http(s) URL", hint="e.g. https://huggingface.co")
    return url


def resolve_token(token: str | None, endpoint: str) -> str:
    """The write token from the usual places; never printed, never written."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise CurateError(f"no Hugging Face token found to publish to {endpoint}",
                          hint="set HF_TOKEN or run 'hf auth login' with a token that can write to the repo")
    return token


def _version_files(version_dir: Path) -> tuple[dict[str, Any], list[Path]]:
    """Manifest and the files of one version that go into the commit (parquet + extras)."""
    if not is_version_dir(version_dir):
        raise CurateError(f"{version_dir} is not a curate set version",
                          hint="pass a folder such as out/default/v1.0.0 written by 'curate build'")
    from curate.sets.fingerprint import verify_version
    from curate.sets.layout import read_manifest_file

    manifest = read_manifest_file(version_dir / MANIFEST)
    for key in ("name", "version", "fingerprint"):
        if not manifest.get(key):
            raise CurateError(f"{version_dir / MANIFEST} has no '{key}'", hint="rebuild the set with 'curate build'")
    parquet = version_dir / PARQUET
    if not parquet.exists():
        raise CurateError(f"{parquet} is missing", hint="rebuild the set with 'curate build'; the Hub copy is that parquet file")
    verify_version(version_dir, manifest=manifest)  # never send rows their manifest does not describe
    extras = sorted((version_dir / EXTRAS).glob("*.json")) if (version_dir / EXTRAS).is_dir() else []
    return manifest, [parquet, *extras]


# --------------------------------------------------------------------------- error mapping


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level exception classes of whichever HTTP stack huggingface_hub uses."""
    out: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for mod, attr in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        with contextlib.suppress(ImportError, AttributeError):
            out.append(getattr(importlib.import_module(mod), attr))
    return tuple(out)


@contextlib.contextmanager
def _hub_errors(endpoint: str, repo_id: str, what: str) -> Iterator[None]:
    """Turn client exceptions into one-line PublishErrors that say what state the repo is in."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    resume = "nothing was tagged; rerun the same command to resume"
    try:
        yield
    except CurateError:
        raise
    except RepositoryNotFoundError as exc:
        raise PublishError(f"{what}: repo {repo_id} not found on {endpoint} or not writable with this token",
                           hint="check --repo and that HF_TOKEN can write to it") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        server = (exc.server_message or "").strip().splitlines()
        detail = f": {server[0]}" if server else ""
        if status in (401, 403):
            raise PublishError(f"{what}: {endpoint} refused the token ({status}{detail})",
                               hint=f"set HF_TOKEN to a token with write access to {repo_id.split('/')[0]}") from exc
        raise PublishError(f"{what}: {endpoint} answered {status}{detail}", hint=resume) from exc
    except _transport_errors() as exc:
        raise PublishError(f"{what}: cannot reach the Hub at {endpoint} ({type(exc).__name__}: {exc})",
                           hint="check --endpoint / HF_ENDPOINT and the network; " + resume) from exc


# --------------------------------------------------------------------------- remote state


def _remote_manifest(api: Any, repo_id: str, revision: str, cache_dir: str) -> dict[str, Any] | None:
    """``manifest.json`` at ``revision`` (a commit oid), or None when that commit has none."""
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = api.hf_hub_download(repo_id, MANIFEST, repo_type=REPO_TYPE, revision=revision, cache_dir=cache_dir)
    except EntryNotFoundError:
        return None
    return json.loads(Path(path).read_text())


def remote_versions(api: Any, repo_id: str, cache_dir: str) -> tuple[dict[str, str], str | None]:
    """``({tag: fingerprint}, main_head_oid)`` of a repo's curate versions."""
    refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    out: dict[str, str] = {}
    for tag in refs.tags:
        manifest = _remote_manifest(api, repo_id, tag.target_commit, cache_dir)
        if manifest and manifest.get("fingerprint"):
            out[tag.name] = manifest["fingerprint"]
    main = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    return out, main


# --------------------------------------------------------------------------- publishing


def _operations(api: Any, repo_id: str, version_dir: Path, manifest: dict[str, Any], files: list[Path],
                head: str | None) -> list[Any]:
    """Additions (card, manifest, parquet, extras) + deletions of stale data/extras files at head."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    from curate.sets.card import read_extras, render_card

    card = render_card(manifest, read_extras(version_dir), repo_id=repo_id).encode()
    ops: list[Any] = [
        CommitOperationAdd(path_in_repo=CARD, path_or_fileobj=card),
        CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=(version_dir / MANIFEST).read_bytes()),
    ]
    ours = {CARD, MANIFEST}
    for f in files:
        rel = f.relative_to(version_dir).as_posix()
        ours.add(rel)
        ops.append(CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(f)))
    if head is not None:
        # A previous version's shards/extras must go, or the `data/train-*.parquet` config would mix them in.
        for rel in api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head):
            if rel.startswith(("data/", f"{EXTRAS}/")) and rel not in ours:
                ops.append(CommitOperationDelete(path_in_repo=rel))
    return ops


def publish(set_path: str | Path, repo_id: str, *, private: bool = False, endpoint: str | None = None,
            token: str | None = None) -> PublishResult:
    """Publish one set version to ``repo_id`` and tag it; idempotent and resumable."""
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    version_dir = resolve_set_path(set_path)
    manifest, files = _version_files(version_dir)
    endpoint = resolve_endpoint(endpoint)
    token = resolve_token(token, endpoint)
    version, fp = manifest["version"], manifest["fingerprint"]
    api = HfApi(endpoint=endpoint, token=token, library_name="curate")
    url = f"{endpoint}/datasets/{repo_id}/tree/{version}"

    def result(status: Literal["published", "unchanged", "tagged"], commit: str | None, message: str) -> PublishResult:
        return PublishResult(repo_id, version, fp, status, commit, url, message)

    with tempfile.TemporaryDirectory(prefix="curate-hub-") as cache_dir:
        with _hub_errors(endpoint, repo_id, f"creating dataset repo {repo_id}"):
            api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        with _hub_errors(endpoint, repo_id, f"reading the versions of {repo_id}"):
            tags, head = remote_versions(api, repo_id, cache_dir)
            head_manifest = _remote_manifest(api, repo_id, head, cache_dir) if head else None

        if version in tags:
            if tags[version] == fp:
                return result("unchanged", None, f"{repo_id}@{version} already holds this content "
                                                 f"(fingerprint {fp[:12]}); nothing to publish")
            raise PublishError(
                f"{repo_id}@{version} already holds other content (fingerprint {tags[version][:12]}, "
                f"this set is {fp[:12]})",
                hint="a version is bound to its content: rebuild or relabel this set with a new version")
        same = sorted(t for t, f in tags.items() if f == fp)
        if same:
            return result("unchanged", None, f"this content (fingerprint {fp[:12]}) is already on {repo_id} "
                                             f"as {', '.join(same)}; nothing to publish")

        if head_manifest and head_manifest.get("fingerprint") == fp and head_manifest.get("version") == version:
            # A previous run committed but did not tag (interrupted): resume by tagging that commit.
            commit, status = head, "tagged"
        else:
            with _hub_errors(endpoint, repo_id, f"committing {version} to {repo_id}"):
                ops = _operations(api, repo_id, version_dir, manifest, files, head)
                info = api.create_commit(
                    repo_id, ops, repo_type=REPO_TYPE, parent_commit=head,
                    commit_message=f"{manifest['name']} {version} (fingerprint {fp[:12]})",
                    commit_description=f"curate set {manifest['name']} {version}\n\nfingerprint: {fp}\n"
                                       f"recipe_hash: {manifest.get('recipe_hash')}",
                )
            commit, status = info.oid, "published"
        with _hub_errors(endpoint, repo_id, f"tagging {repo_id}@{version}"):
            api.create_tag(repo_id, tag=version, revision=commit, repo_type=REPO_TYPE,
                           tag_message=f"curate {manifest['name']} {version} fingerprint {fp}")
    verb = "published" if status == "published" else "tagged the commit left by an interrupted run as"
    return result(status, commit, f"{verb} {repo_id}@{version} (commit {commit[:12]}, fingerprint {fp[:12]}): "
                                  f'load_dataset("{repo_id}", revision="{version}")')


def set_versions(name_dir: str | Path) -> list[Path]:
    """Version folders of one set name, oldest first (by ``created_at``)."""
    name_dir = Path(name_dir)
    if is_version_dir(name_dir):
        name_dir = name_dir.parent
    dirs = versions(name_dir)
    if not dirs:
        raise CurateError(f"{name_dir} holds no set versions", hint="pass out/<name> as written by 'curate build'")
    return dirs


def publish_all(name_dir: str | Path, repo_id: str, **kwargs: Any) -> list[PublishResult]:
    """Publish every version of a set name, oldest first (each one commit + one tag)."""
    return [publish(d, repo_id, **kwargs) for d in set_versions(name_dir)]
