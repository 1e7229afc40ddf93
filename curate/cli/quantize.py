"""``curate quantize``: quantize a model's weights with a calibration set and save it with its report.

    curate quantize --calibration out/default/v1.0.0 --method gptq --bits 4 --group-size 128 --out runs/gptq-w4
"""

from __future__ import annotations

import click

from curate.cli.options import draw_options, quant_grid_options


@click.command()
@click.option("--model", "model_name", default="smollm2-135m", show_default=True,
              help="Bundled alias, Hub id or local folder.")
@click.option("--calibration", default=None, help="A set folder written by 'curate build' (not needed by rtn).")
@click.option("--method", type=click.Choice(["gptq", "rtn"]), default="gptq", show_default=True,
              help="GPTQ (Frantar et al. 2023) or round-to-nearest.")
@quant_grid_options
@click.option("--percdamp", type=float, default=0.01, show_default=True, help="GPTQ dampening.")
@click.option("--blocksize", type=int, default=128, show_default=True, help="GPTQ columns per lazy block update.")
@draw_options
@click.option("--device", default=None, help="Compute device (default: cuda if available, else cpu).")
@click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16 or auto.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="New folder for the model.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def quantize(model_name, calibration, method, bits, group_size, sym, act_order, static_groups, percdamp, blocksize,
             nsamples, seed, retokenize, seq_len, device, dtype, batch_size, out_dir, quiet):
    """Quantize MODEL's decoder linears (fake-quantized: stored dequantized in the model's dtype); save
    safetensors + quant_report.json/.parquet + quant_config.json. The folder reloads with from_pretrained.

    \b
    Examples:
      curate quantize --calibration out/default/v1.0.0 --method gptq --bits 4 --group-size 128 --out runs/gptq-w4
      curate quantize --calibration out/default --bits 3 --act-order --static-groups --asym --out runs/gptq-w3
      curate quantize --method rtn --bits 4 --group-size 128 --out runs/rtn-w4
    """
    from curate.models import weights_bytes
    from curate.quantize import quantize_with_set
    from curate.sets.write import check_writable
    from prune_backend.quant.config import QuantConfig

    # PruneError (the base of CurateError) is one line through curate's error handler.
    cfg = QuantConfig(method=method, bits=bits, group_size=group_size, sym=sym, act_order=act_order,
                      static_groups=static_groups, percdamp=percdamp, blocksize=blocksize, device=device,
                      batch_size=batch_size)  # before anything loads
    check_writable(out_dir, need_bytes=weights_bytes(model_name))
    report = quantize_with_set(model_name, calibration, cfg, out_dir=out_dir, nsamples=nsamples, seed=seed,
                               retokenize=retokenize, seq_len=seq_len, dtype=dtype, progress=not quiet)
    errs = [r["output_rel_error"] for r in report.layers if r["output_rel_error"] is not None]
    err = f", mean output error {sum(errs) / len(errs):.4f}" if errs else ""
    tokens = f", {report.nsamples}x{report.seqlen} tokens" if report.nsamples else ""
    click.echo(f"{cfg.label}: {len(report.layers)} linears, at most {report.max_levels} values per group{err}"
               f"{tokens}, {report.seconds:.1f} s -> {out_dir}")
