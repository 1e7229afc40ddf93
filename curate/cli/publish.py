"""``curate publish SET --repo ORG/NAME [--private] [--endpoint URL] [--all-versions]``."""

from __future__ import annotations

import click


@click.command()
@click.argument("set_path", metavar="SET", type=click.Path(exists=True))
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME", help="Hub dataset repo (created if needed).")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co).")
@click.option("--all-versions", is_flag=True,
              help="Publish every version under SET's name folder (out/<name>), oldest first.")
def publish(set_path, repo_id, private, endpoint, all_versions):
    """Publish a set version to the Hub: one commit (parquet + manifest + card), tagged with its version.

    Publishing the same content again is a no-op; a version that already holds other content on
    the repo is refused. The token comes from HF_TOKEN or 'hf auth login' and is never printed.

    \b
    Examples:
      curate publish out/default/v1.0.0 --repo my-org/calib-smollm2
      curate publish out/default --repo my-org/calib-smollm2 --all-versions --private
      python -c 'import datasets; print(datasets.load_dataset("my-org/calib-smollm2", revision="v1.0.0"))'
    """
    from curate.sets.hub import check_repo_id, set_versions
    from curate.sets.hub import publish as publish_one

    check_repo_id(repo_id)
    targets = set_versions(set_path) if all_versions else [set_path]
    if all_versions:
        click.echo(f"publishing {len(targets)} versions of {targets[0].parent.name} to {repo_id}", err=True)
    # One at a time, reporting each: if one fails, those before it are published and a rerun resumes.
    for target in targets:
        res = publish_one(target, repo_id, private=private, endpoint=endpoint)
        click.echo(f"{res.status:<9} {res.message}", err=True)
        click.echo(res.url)
