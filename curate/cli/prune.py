"""``curate prune``: prune a model with a calibration set and save it with its sparsity report.

    curate prune --model smollm2-135m --calibration out/default/v1.0.0 --method wanda \\
        --sparsity 0.5 --pattern unstructured --out runs/wanda50
"""

from __future__ import annotations

import click


@click.command()
@click.option("--model", "model_name", default="smollm2-135m", show_default=True,
              help="Bundled alias, Hub id or local folder.")
@click.option("--calibration", required=True, help="A set folder written by 'curate build' (or any HF dataset folder/file).")
@click.option("--method", required=True, help="magnitude, wanda, sparsegpt, llmcompressor-wanda, llmcompressor-sparsegpt, or a registered one.")
@click.option("--sparsity", type=float, required=True, help="Fraction of zeros in (0, 1); N/M for an N:M pattern.")
@click.option("--pattern", default="unstructured", show_default=True, help="'unstructured' or N:M such as 2:4.")
@click.option("--owl", is_flag=True, help="OWL layerwise ratios (Yin et al. 2024).")
@click.option("--owl-m", type=float, default=5.0, show_default=True, help="OWL outlier threshold M.")
@click.option("--owl-lambda", type=float, default=0.08, show_default=True, help="OWL ratio spread lambda.")
@click.option("--dsnot", is_flag=True, help="DSnoT prune-and-grow on top of the method's mask (Zhang et al. 2024).")
@click.option("--nsamples", type=int, default=None, help="Draw this many rows of the set (default: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the row draw.")
@click.option("--retokenize", is_flag=True, help="Re-tokenize a set made for another tokenizer from its text.")
@click.option("--seq-len", type=int, default=None, help="Tokens per row when re-tokenizing (default: the set's).")
@click.option("--device", default=None, help="Compute device (default: cuda if available, else cpu).")
@click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16 or auto.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--blocksize", type=int, default=128, show_default=True, help="SparseGPT block size.")
@click.option("--percdamp", type=float, default=0.01, show_default=True, help="SparseGPT dampening.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="New folder for the pruned model.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prune(model_name, calibration, method, sparsity, pattern, owl, owl_m, owl_lambda, dsnot, nsamples, seed,
          retokenize, seq_len, device, dtype, batch_size, blocksize, percdamp, out_dir, quiet):
    """Prune MODEL layer by layer on a calibration set; save safetensors + sparsity_report.json/.parquet.

    \b
    Examples:
      curate prune --calibration out/default/v1.0.0 --method wanda --sparsity 0.5 --out runs/wanda50
      curate prune --calibration out/default --method sparsegpt --sparsity 0.5 --pattern 2:4 --out runs/sgpt24
      curate prune --calibration out/default --method wanda --owl --dsnot --sparsity 0.7 --out runs/owl70
    """
    from curate.models import weights_bytes
    from curate.writer import check_writable
    from prune_backend.config import PruneConfig
    from prune_backend.pipeline import prune_with_set

    check_writable(out_dir, need_bytes=weights_bytes(model_name))  # before loading anything

    cfg = PruneConfig(method=method, sparsity=sparsity, pattern=pattern, owl=owl, owl_m=owl_m,
                      owl_lambda=owl_lambda, dsnot=dsnot, device=device, batch_size=batch_size,
                      blocksize=blocksize, percdamp=percdamp)
    report = prune_with_set(model_name, calibration, cfg, out_dir=out_dir, nsamples=nsamples, seed=seed,
                            retokenize=retokenize, seq_len=seq_len, dtype=dtype, progress=not quiet)
    click.echo(f"{cfg.method} {cfg.pattern}{' +owl' if owl else ''}{' +dsnot' if dsnot else ''}: "
               f"{report.total_sparsity:.4f} zeros over {len(report.layers)} linears, "
               f"{report.nsamples}x{report.seqlen} tokens, {report.seconds:.1f} s -> {out_dir}")
