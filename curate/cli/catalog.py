"""``curate list [DIR]``, ``curate show SET``, ``curate diff SET_A SET_B`` (add ``--json`` for machines)."""

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
    from curate.catalog import format_table, list_sets

    rows = list_sets(root)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo(f"no set versions under {root} (build one with 'curate build')", err=True)
    else:
        click.echo(format_table(rows, ["name", "version", "fingerprint", "samples", "seq_len", "strategy",
                                       "model", "created_at", "extras", "path"]))


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
    from curate.catalog import format_show, show_set

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
    from curate.catalog import diff_sets, format_diff

    d = diff_sets(set_a, set_b)
    click.echo(json.dumps(d, indent=2, default=str) if as_json else format_diff(d))
