"""``curate prune``: prune a model with a calibration set and save it with its sparsity report.

    curate prune --model smollm2-135m --calibration out/default/v1.0.0 --method wanda \\
        --sparsity 0.5 --out runs/wanda50
"""

from __future__ import annotations

import click

from curate.cli.options import draw_options, prune_config, prune_options


@click.command()
@click.option("--model", "model_name", default="smollm2-135m", show_default=True,
              help="Bundled alias, Hub id or local folder.")
@click.option("--calibration", required=True, help="A set folder written by 'curate build' (or any HF dataset folder/file).")
@prune_options
@draw_options
@click.option("--device", default=None, help="Compute device (default: cuda if available, else cpu).")
@click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16 or auto.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Calibration sequences per forward.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="New folder for the pruned model.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prune(model_name, calibration, prune_kw, nsamples, seed, retokenize, seq_len, device, dtype, batch_size,
          out_dir, quiet):
    """Prune MODEL layer by layer on a calibration set; save safetensors + sparsity_report.json/.parquet.

    N:M keeps N of every M consecutive weights (2:4 = 50 %, 1:4 = 75 %); the sparsity follows
    from the pattern.

    \b
    Examples:
      curate prune --calibration out/default/v1.0.0 --method wanda --sparsity 0.5 --out runs/wanda50
      curate prune --calibration out/default --method sparsegpt --pattern 2:4 --out runs/sgpt24
      curate prune --calibration out/default --method wanda --owl --dsnot --sparsity 0.7 --out runs/owl70
    """
    cfg = prune_config(prune_kw, device=device, batch_size=batch_size)  # before anything loads

    from curate.models import weights_bytes
    from curate.prune import prune_with_set
    from curate.sets.write import check_writable

    check_writable(out_dir, need_bytes=weights_bytes(model_name))  # before loading anything
    report = prune_with_set(model_name, calibration, cfg, out_dir=out_dir, nsamples=nsamples, seed=seed,
                            retokenize=retokenize, seq_len=seq_len, dtype=dtype, progress=not quiet)
    click.echo(f"{cfg.method} {cfg.pattern}{' +owl' if cfg.owl else ''}{' +dsnot' if cfg.dsnot else ''}: "
               f"{report.total_sparsity:.4f} zeros over {len(report.layers)} linears, "
               f"{report.nsamples}x{report.seqlen} tokens, {report.seconds:.1f} s -> {out_dir}")
