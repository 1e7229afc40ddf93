"""``curate score SET_OR_SOURCE [SET_OR_SOURCE ...] --out DIR``: score sets and sources side by side.

    curate score wikipedia shakespeare out/default --out runs/scores
    curate score out/default/v1.0.0 --reference wikipedia --scores ppl,min_k_pp --out runs/s
"""

from __future__ import annotations

import click


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="SET_OR_SOURCE...")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for scores.parquet, summary.json/.md and plots/.")
@click.option("--model", default="smollm2-135m", show_default=True, help="Model for ppl / Min-K% / Min-K%++ / entropy.")
@click.option("--reference", default=None,
              help="Reference corpus for minhash_jaccard: a bundled source (wikipedia, wikipedia:heldout) or a folder of jsonl/parquet.")
@click.option("--scores", "scores", default=",".join(("ppl", "min_k", "min_k_pp", "entropy", "ngram_aggregation", "diversity")),
              show_default=True, help="Comma-separated: ppl, min_k, min_k_pp, entropy, minhash_jaccard, ngram_aggregation, diversity.")
@click.option("--k", type=float, default=0.5, show_default=True, help="Fraction of lowest positions for Min-K% / Min-K%++.")
@click.option("--n", "n", type=int, default=32, show_default=True, help="Sequences drawn from each source.")
@click.option("--seq-len", type=int, default=256, show_default=True, help="Tokens per sequence drawn from a source.")
@click.option("--split", type=click.Choice(["calibration", "heldout", "all"]), default="calibration", show_default=True,
              help="Split of sources to draw from.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--ngram", type=int, default=3, show_default=True, help="Word n for MinHash and near-duplicates.")
@click.option("--num-perm", type=int, default=128, show_default=True, help="MinHash permutations.")
@click.option("--device", default=None, help="cuda or cpu (default: cuda if available).")
@click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16 or auto.")
@click.option("--store/--no-store", default=True, show_default=True,
              help="Also write a versioned set's scores into its extras/scores/ (fingerprint unchanged).")
@click.option("--retokenize", is_flag=True, help="Re-tokenize a set made for another tokenizer from its text.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def score(inputs, out_dir, model, reference, scores, k, n, seq_len, split, seed, batch_size, ngram, num_perm,
          device, dtype, store, retokenize, quiet):
    """Score calibration sets or bundled sources: perplexity, Min-K%, Min-K%++, entropy, MinHash
    similarity to a reference, 4-gram aggregation, diversity. Several inputs are compared side
    by side (one table, overlaid plots).

    \b
    Examples:
      curate score wikipedia shakespeare python-stdlib --out runs/scores
      curate score out/default --reference wikipedia --out runs/default-scores
      curate score out/default/v1.0.0 wikipedia --scores ppl,min_k_pp --k 0.2 --out runs/s
    """
    from curate.scoring.compare import ScoreConfig, score_inputs, store_beside, write_report
    from curate.sets.write import check_writable

    check_writable(out_dir)

    cfg = ScoreConfig(model=model, scores=tuple(s.strip() for s in scores.split(",") if s.strip()),
                      reference=reference, k=k, n=n, seq_len=seq_len, seed=seed, split=split,
                      batch_size=batch_size, device=device, dtype=dtype, ngram=ngram, num_perm=num_perm,
                      retokenize=retokenize, progress=not quiet)
    scored = score_inputs(list(inputs), cfg)
    paths = write_report(scored, out_dir, cfg)
    if store:
        for s in scored:
            if s.path is not None:
                click.echo(f"stored scores of {s.name} in {store_beside(s, cfg)}", err=True)
    click.echo(open(paths["summary_md"]).read())
    click.echo(f"wrote {paths['parquet']}, {paths['summary_json']}, {len(paths['plots'])} plots in "
               f"{out_dir}/plots", err=True)
