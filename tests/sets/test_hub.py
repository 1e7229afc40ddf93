"""`curate publish` against the local Hub protocol server (tests/hub_server.py), real client.

Round trip: a set version -> publish -> ``datasets.load_dataset(repo, revision=tag)`` in a fresh
process (as a user elsewhere would) returns exactly the built rows; refusals leave the repo as it was.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest_hub import make_rows, make_version
from hub_server import HubServer

from curate.errors import CurateError
from curate.sets.hub import PublishError, publish, publish_all

pytestmark = pytest.mark.hub
TOKEN = "hf_test_write_token"
REPO = "curate-test/calib"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running local Hub, the client pointed at it with a fake token and isolated caches."""
    import huggingface_hub.constants as hf_constants

    with HubServer(tokens={TOKEN}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
        # Constants are read when huggingface_hub is imported; this process imported it already.
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
        yield server


def load_from_hub(hub: HubServer, tmp_path: Path, revisions: list[str], repo: str = REPO) -> dict[str, list[dict]]:
    """``load_dataset(repo, revision=r)`` for each r, in a fresh process with a fresh cache."""
    code = (
        "import json, sys, datasets\n"
        "out = {r: datasets.load_dataset(sys.argv[1], revision=r, split='train').to_list() for r in sys.argv[2:]}\n"
        "print(json.dumps(out))\n"
    )
    cache = tmp_path / f"load_{len(list(tmp_path.glob('load_*')))}"
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(cache / "home"), "HF_DATASETS_CACHE": str(cache / "datasets"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, repo, *revisions], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def built_rows(vdir: Path) -> list[dict]:
    import datasets

    return datasets.load_from_disk(str(vdir)).to_list()


def cli_publish(*args: str):
    from curate.cli.publish import publish as publish_cmd

    return CliRunner().invoke(publish_cmd, list(args), catch_exceptions=True)


def test_round_trip_two_versions_each_tagged_and_loadable(hub, tmp_path):
    out = tmp_path / "out"
    v1 = make_version(out, "default", "v1.0.0", rows=make_rows(8, 16, seed=0), created_at="2026-11-27T03:00:00Z")
    res = cli_publish(str(v1), "--repo", REPO)
    assert res.exit_code == 0, res.output
    assert f"{hub.url}/datasets/{REPO}/tree/v1.0.0" in res.stdout

    repo = hub.repo(REPO)
    assert repo is not None and not repo.private
    c1 = repo.tags["v1.0.0"]
    # Data, manifest and card arrived in ONE commit, the one the tag points at.
    assert len(hub.requests(r"POST /api/datasets/.*/commit/")) == 1
    assert {"README.md", "manifest.json", "data/train-00000-of-00001.parquet"} <= set(repo.commits[c1].files)
    card = repo.commits[c1].files["README.md"].data.decode()
    assert f'load_dataset("{REPO}", revision="v1.0.0"' in card

    v2 = make_version(out, "default", "v2.0.0", rows=make_rows(8, 16, seed=1), created_at="2026-11-27T04:00:00Z")
    res = cli_publish(str(v2), "--repo", REPO)
    assert res.exit_code == 0, res.output
    c2 = repo.tags["v2.0.0"]
    assert c2 != c1 and repo.tags["v1.0.0"] == c1 and repo.branches["main"] == c2

    loaded = load_from_hub(hub, tmp_path, ["v1.0.0", "v2.0.0"])
    assert loaded["v1.0.0"] == built_rows(v1)  # exactly the built rows, first version unchanged
    assert loaded["v2.0.0"] == built_rows(v2)
    assert loaded["v1.0.0"] != loaded["v2.0.0"]


def test_same_content_twice_is_a_noop_that_says_so(hub, tmp_path):
    v1 = make_version(tmp_path / "out")
    first = publish(v1, REPO)
    assert first.status == "published"
    commits, puts = len(hub.repo(REPO).commits), len(hub.requests(r"PUT /lfs/"))
    again = cli_publish(str(v1), "--repo", REPO)
    assert again.exit_code == 0 and "already holds this content" in again.stderr
    # The same rows under another label are the same set: still a no-op, naming the existing tag.
    relabelled = make_version(tmp_path / "other", "default", "v9.0.0")
    res = publish(relabelled, REPO)
    assert res.status == "unchanged" and "already on" in res.message and "v1.0.0" in res.message
    assert len(hub.repo(REPO).commits) == commits and len(hub.requests(r"PUT /lfs/")) == puts
    assert set(hub.repo(REPO).tags) == {"v1.0.0"}


def test_same_version_with_other_content_is_refused(hub, tmp_path):
    publish(make_version(tmp_path / "a", rows=make_rows(seed=0)), REPO)
    before = (dict(hub.repo(REPO).tags), dict(hub.repo(REPO).branches))
    other = make_version(tmp_path / "b", rows=make_rows(seed=5))
    res = cli_publish(str(other), "--repo", REPO)
    assert isinstance(res.exception, PublishError)
    msg = str(res.exception)
    assert "already holds other content" in msg and "new version" in msg and "\n" not in msg
    assert (hub.repo(REPO).tags, hub.repo(REPO).branches) == before


def test_missing_token_is_refused_before_any_request(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(CurateError, match="no Hugging Face token found") as err:
        publish(make_version(tmp_path / "out"), REPO)
    assert "HF_TOKEN" in str(err.value) and hub.log == []


def test_wrong_token_is_a_clear_error_and_never_printed(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_valid_secret")
    res = cli_publish(str(make_version(tmp_path / "out")), "--repo", REPO)
    assert isinstance(res.exception, PublishError) and "refused the token (401" in str(res.exception)
    assert "hf_not_valid_secret" not in str(res.exception) + res.output
    assert hub.repo(REPO) is None


def test_unreachable_endpoint_is_one_line_and_publishes_nothing(hub, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    res = cli_publish(str(make_version(tmp_path / "out")), "--repo", REPO, "--endpoint", dead)
    assert isinstance(res.exception, PublishError)
    msg = str(res.exception)
    assert f"cannot reach the Hub at {dead}" in msg and "rerun" in msg and "\n" not in msg
    assert hub.log == []


@pytest.mark.parametrize("bad", ["noslash", "org/name/extra", "org/bad name", "-org/x", "org/" + "x" * 100])
def test_malformed_repo_id(hub, tmp_path, bad):
    vdir = make_version(tmp_path / "out")
    res = cli_publish(str(vdir), "--repo", bad)
    assert isinstance(res.exception, CurateError) and "is not a Hub dataset id" in str(res.exception)
    assert "ORG/NAME" in str(res.exception) and hub.log == []


def test_failed_commit_publishes_nothing_and_rerun_resumes(hub, tmp_path):
    vdir = make_version(tmp_path / "out")
    hub.fail_next(r"POST /api/datasets/.*/commit/", 500)
    with pytest.raises(PublishError, match="committing v1.0.0.*answered 500.*rerun") as err:
        publish(vdir, REPO)
    assert "\n" not in str(err.value)
    repo = hub.repo(REPO)
    assert repo.tags == {} and len(repo.commits) == 1  # only the repo's initial commit
    puts = hub.requests(r"PUT /lfs/")
    assert len(puts) == 1  # the parquet reached LFS storage before the commit failed

    res = publish(vdir, REPO)
    assert res.status == "published" and set(repo.tags) == {"v1.0.0"}
    assert hub.requests(r"PUT /lfs/") == puts  # resumed: the stored LFS object is not uploaded again


def test_failed_tag_is_resumed_by_tagging_the_existing_commit(hub, tmp_path):
    vdir = make_version(tmp_path / "out")
    hub.fail_next(r"POST /api/datasets/.*/tag/", 503)
    with pytest.raises(PublishError, match="tagging .*@v1.0.0"):
        publish(vdir, REPO)
    repo = hub.repo(REPO)
    head = repo.branches["main"]
    assert repo.tags == {}
    res = publish(vdir, REPO)
    assert res.status == "tagged" and repo.tags == {"v1.0.0": head} and repo.branches["main"] == head
    assert len(hub.requests(r"POST /api/datasets/.*/commit/")) == 1


def test_all_versions_and_stale_files(hub, tmp_path):
    out = tmp_path / "out"
    v1 = make_version(out, "default", "v1.0.0", rows=make_rows(seed=0), created_at="2026-11-27T03:00:00Z")
    (v1 / "extras").mkdir()
    (v1 / "extras" / "validation.json").write_text(json.dumps({"wanda_50": {"ppl": 35.6}}))
    make_version(out, "default", "v2.0.0", rows=make_rows(seed=1), created_at="2026-11-27T04:00:00Z")
    res = cli_publish(str(out / "default"), "--repo", REPO, "--all-versions", "--private")
    assert res.exit_code == 0, res.output
    repo = hub.repo(REPO)
    assert repo.private and set(repo.tags) == {"v1.0.0", "v2.0.0"}
    files_v1 = repo.commits[repo.tags["v1.0.0"]].files
    files_v2 = repo.commits[repo.tags["v2.0.0"]].files
    assert "extras/validation.json" in files_v1 and "## Validation results" in files_v1["README.md"].data.decode()
    assert "extras/validation.json" not in files_v2  # v1's extras do not leak into v2
    again = publish_all(out / "default", REPO)
    assert [r.status for r in again] == ["unchanged", "unchanged"]


@pytest.mark.slow
def test_curate_build_then_publish_then_load(hub, tmp_path):
    """The issue's round trip with the real builder: build_recipe (files source, bundled tokenizer)."""
    import random

    from curate.build import build_recipe
    from curate.recipe import parse_recipe

    rng = random.Random(0)
    words = "the of calibration pruning sparse weight layer token model data set wanda".split()
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps({"text": " ".join(rng.choice(words) for _ in range(120)), "id": f"d{i}"})
                              for i in range(12)))
    recipe = parse_recipe({
        "name": "tiny", "seed": 0, "seq_len": 16, "n_samples": 6, "model": {"name": "smollm2-135m"},
        "strategy": {"name": "random-windows"},
        "components": [{"source": {"type": "files", "paths": [str(docs)], "id_field": "id", "license": "mit"},
                        "steps": [{"type": "sample", "method": "random_windows"}]}]})
    v1 = build_recipe(recipe, tmp_path / "out", seed=0, version="v1.0.0", progress=False).path
    v2 = build_recipe(recipe, tmp_path / "out", seed=1, version="v2.0.0", progress=False).path
    assert publish(v1, REPO).status == "published"
    assert publish(v2, REPO).status == "published"
    card = hub.repo(REPO).commits[hub.repo(REPO).tags["v1.0.0"]].files["README.md"].data.decode()
    assert "license: mit" in card
    loaded = load_from_hub(hub, tmp_path, ["v1.0.0", "v2.0.0"])
    assert loaded["v1.0.0"] == built_rows(v1) and loaded["v2.0.0"] == built_rows(v2)
    assert loaded["v1.0.0"] != loaded["v2.0.0"]
