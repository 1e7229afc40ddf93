"""``curate list [DIR]``, ``curate show SET``, ``curate diff SET_A SET_B``, ``curate verify SET|DIR``
(add ``--json`` for machines)."""

from __future__ import annotations

import json

import click

_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.command(name="list")
@click.argument("root", required=False, default="out", type=click.Path())
@_json_opt
def list_cmd(root, as_json):
    """List the set versions under ROOT (default: out), one line each.

    \b
    Examples:
      curate list
      curate list out --json
    """
    from curate.sets.catalog import format_table, list_sets
    from curate.sets.layout import DamagedSetError

    damaged: list[dict[str, str]] = []
    rows = list_sets(root, damaged)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows and not damaged:
        click.echo(f"no set versions under {root} (build one with 'curate build')", err=True)
    elif rows:
        click.echo(format_table(rows, ["name", "version", "fingerprint", "samples", "seq_len", "strategy",
                                       "model", "created_at", "extras", "path"]))
    if damaged:  # the complete versions are listed above; the damaged ones are one error line
        first = damaged[0]
        more = f" (+{len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise DamagedSetError(f"{len(damaged)} damaged version(s) left out of the list{more}: {first['error']}",
                              hint=f"run 'curate verify {root}' for every damaged version")


@click.command()
@click.argument("set_path", metavar="SET", type=click.Path(exists=True))
@_json_opt
def show(set_path, as_json):
    """Show a set version: fingerprint, recipe, model, sources, steps, scores, extras.

    \b
    Examples:
      curate show out/default/v1.0.0
      curate show out/default            # the latest version of 'default'
    """
    from curate.sets.catalog import format_show, show_set

    s = show_set(set_path)
    click.echo(json.dumps(s, indent=2) if as_json else format_show(s))


@click.command()
@click.argument("set_a", metavar="SET_A", type=click.Path(exists=True))
@click.argument("set_b", metavar="SET_B", type=click.Path(exists=True))
@_json_opt
def diff(set_a, set_b, as_json):
    """Compare two set versions: recipe, counts, score summaries, sample overlap.

    \b
    Examples:
      curate diff out/default/v1.0.0 out/default/v2.0.0
      curate diff out/default/v1.0.0 out/wiki-windows/v1.0.0 --json
    """
    from curate.sets.catalog import diff_sets, format_diff

    d = diff_sets(set_a, set_b)
    click.echo(json.dumps(d, indent=2, default=str) if as_json else format_diff(d))


@click.command()
@click.argument("target", metavar="SET|DIR", type=click.Path())
@click.option("--no-cache", is_flag=True, help="Rehash every file even when its size and mtime are unchanged.")
@_json_opt
def verify(target, no_cache, as_json):
    """Check that every row of a set version hashes to its manifest's fingerprint (both the arrow
    and the parquet copy) and that the row count matches. TARGET is one version, out/<name>, or a
    whole --out folder. Exit 0 when all are intact, 2 otherwise.

    \b
    Examples:
      curate verify out/default/v1.0.0
      curate verify out                   # every version of every set
    """
    from curate.sets.catalog import verify_sets
    from curate.sets.layout import DamagedSetError

    results = verify_sets(target, use_cache=not no_cache)
    bad = [r for r in results if not r["ok"]]
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            click.echo(f"ok       {r['fingerprint'][:16]}  {r['path']}" if r["ok"] else f"DAMAGED  {r['path']}")
    if bad:
        raise DamagedSetError(f"{len(bad)} of {len(results)} version(s) damaged: {bad[0]['error']}")
    click.echo(f"{len(results)} version(s) intact", err=True)
