"""``curate predict``: retention predicted from set-level scores, before pruning.

    curate predict add runs/val --sets out/default out/igsp     # a validation's rows -> the store
    curate predict fit --out runs/predictor.json              # fit + leave-one-recipe-out rho
    curate predict rank out/cola out/zipcal --model runs/predictor.json
"""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import OutPath

STORE_HELP = "Results store folder (default: ~/.cache/curate/results)."


@click.group()
def predict():
    """Predict each set's retention per dimension before pruning it (fitted on stored validations).

    \b
    Examples:
      curate predict add runs/val --sets out/default out/igsp
      curate predict fit --out runs/predictor.json
      curate predict rank out/cola out/zipcal --model runs/predictor.json
    """


@predict.command()
@click.argument("validate_out", type=click.Path(exists=True, file_okay=False))
@click.option("--sets", "sets", multiple=True, help="The validated set folders, for their features (repeat or list).")
@click.option("--store", type=click.Path(file_okay=False), default=None, help=STORE_HELP)
@click.option("--no-model", is_flag=True, help="Skip the model features (log_ppl, min_k_pp).")
def add(validate_out, sets, store, no_model):
    """Add the rows of a ``curate validate`` output folder (its results.parquet) to the store."""

    from curate.errors import CurateError
    from curate.sets.read import load_set
    from curate.validate.predict import append_results

    path = Path(validate_out) / "results.parquet"
    if not path.exists():
        raise CurateError(f"{path} does not exist", hint="give the --out folder of a curate validate run")
    from curate.validate.predict import read_rows

    table = read_rows(path)
    loaded = {}
    for spec in sets:
        cs = load_set(spec)
        loaded[cs.name] = cs
    model = tok = None
    if loaded and not no_model:
        from curate.models import load_model

        model, tok, _ = load_model("smollm2-135m")
    rows = append_results(table, store, sets=loaded, model=model, tokenizer=tok)
    click.echo(f"stored {table.height} rows in {rows}")


@predict.command()
@click.option("--out", required=True, type=OutPath(dir_okay=False), help="Where to save the fitted predictor (one JSON file).")
@click.option("--store", type=click.Path(file_okay=False), default=None, help=STORE_HELP)
@click.option("--method", default=None, help="Pruning method label of the rows to fit (default: the most common).")
@click.option("--sparsity", type=float, default=None)
@click.option("--pattern", default=None)
def fit(out, store, method, sparsity, pattern):
    """Fit per-dimension ridge models; print leave-one-recipe-out Spearman rho per dimension."""
    from curate.validate.predict import fit_predictor, read_store

    rows, feats = read_store(store)
    pred = fit_predictor(rows, feats, method=method, sparsity=sparsity, pattern=pattern)
    pred.save(out)
    c = pred.config
    click.echo(f"trained on {pred.n_rows} (set, seed) rows of {pred.n_recipes} recipes "
               f"({c['method']} {c['sparsity']} {c['pattern']}); fingerprint {pred.fingerprint[:12]}")
    click.echo("| dimension | LORO rho (recipe means) | LORO rho (rows) | 95 % interval +- |")
    click.echo("|---|---|---|---|")
    for d in pred.dimensions:
        click.echo(f"| {d} | {pred.rho_recipe[d]:.3f} | {pred.rho_rows[d]:.3f} | {pred.halfwidth[d]:.3f} |")
    click.echo(f"saved {out}", err=True)


@predict.command()
@click.argument("sets", nargs=-1, required=True)
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False), help="A fitted predictor.")
def rank(sets, model_path):
    """Rank calibration sets by predicted retention (Total first), with 95 % intervals."""
    from curate.validate.predict import load_predictor, rank_sets

    pred = load_predictor(model_path)
    ranked = rank_sets(pred, {s: s for s in sets})
    click.echo(f"predictor trained on {pred.n_rows} rows of {pred.n_recipes} recipes")
    click.echo("| rank | set | " + " | ".join(pred.dimensions) + " |")
    click.echo("|---|---|" + "---|" * len(pred.dimensions))
    for i, r in enumerate(ranked, 1):
        cells = [f"{r[d][0]:.3f} [{r[d][1]:.3f}, {r[d][2]:.3f}]" for d in pred.dimensions]
        click.echo(f"| {i} | {r['set']} | " + " | ".join(cells) + " |")
