"""``curate build [RECIPE] [--out DIR] [--seed N] [--set key=value ...]``."""

from __future__ import annotations

import click


def display_path(path) -> str:
    """Recipe path as recorded in the manifest: relative to the curate checkout when inside it."""
    from pathlib import Path

    from curate.recipe import recipes_dir

    p = Path(path).resolve()
    try:
        return str(p.relative_to(recipes_dir().parent))
    except ValueError:
        return str(path)


@click.command()
@click.argument("recipe", required=False, default="default")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Root folder; the set goes to OUT/<name>/<version>/.")
@click.option("--seed", type=int, default=None, help="Override the recipe's seed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe field (dotted path, YAML value), e.g. --set n_samples=16.")
@click.option("--version", "version", default=None, help="Version label (default: next vN.0.0).")
@click.option("--device", default=None, help="Compute device (default: cuda if available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(recipe, out_dir, seed, overrides, version, device, quiet):
    """Build a versioned calibration set from RECIPE (a YAML path or a bundled recipe name).

    \b
    Examples:
      curate build                                   # recipes/default.yaml: self-generated, minutes on CPU
      curate build wiki-windows --seed 1 --out out
      curate build recipes/beware-selfgen.yaml --set model.name=meta-llama/Llama-2-7b-hf
    """
    from curate.build import build_recipe
    from curate.recipe import find_recipe, load_recipe
    from curate.sets.write import check_label, check_writable, estimate_set_bytes

    if version is not None:
        check_label(version, "--version")
    if device:
        overrides = (*overrides, f"model.device={device}")
    path = find_recipe(recipe)
    rec = load_recipe(path, list(overrides))
    check_writable(out_dir, need_bytes=estimate_set_bytes(rec.n_samples, rec.seq_len))
    click.echo(f"building '{rec.name}' ({rec.n_samples} x {rec.seq_len} tokens, seed "
               f"{seed if seed is not None else rec.seed}, model {rec.model.name}) from {path}", err=True)
    if quiet:
        import datasets

        datasets.disable_progress_bars()
    res = build_recipe(rec, out_dir, seed=seed, version=version, progress=not quiet, recipe_file=display_path(path))
    m = res.manifest
    click.echo("", err=True)
    click.echo(f"{'unchanged: identical content already at' if res.existed else 'built'} "
               f"{m['name']} {m['version']}", err=True)
    click.echo(f"  fingerprint  {m['fingerprint'][:16]}", err=True)
    click.echo(f"  samples      {m['n_samples']} x {m['seq_len']} tokens  {m.get('source_counts', {})}", err=True)
    for st in m["steps"]:
        reasons = ", ".join(f"{k}={v}" for k, v in st.get("reasons", {}).items())
        click.echo(f"  {st['name']:<34} kept {st['kept']:>6}/{st['seen']:<6} {st['seconds']:>7.1f}s"
                   f"{'  dropped: ' + reasons if reasons else ''}", err=True)
    for k, v in (m.get("score_summary") or {}).items():
        click.echo(f"  score {k:<12} mean {v['mean']:.3f}  std {v['std']:.3f}", err=True)
    click.echo(f"  total        {m['timings']['total_s']:.1f}s", err=True)
    click.echo(str(res.path))


@click.command()
def recipes():
    """List the bundled recipes with their strategy and size."""
    import yaml

    from curate.recipe import recipes_dir

    for f in sorted(recipes_dir().glob("*.yaml")):
        data = yaml.safe_load(f.read_text()) or {}
        strat = (data.get("strategy") or {}).get("name", "")
        click.echo(f"{f.stem:<28} {strat:<24} {data.get('n_samples', '?')} x {data.get('seq_len', '?')}  "
                   f"{(data.get('description') or '').splitlines()[0] if data.get('description') else ''}")
