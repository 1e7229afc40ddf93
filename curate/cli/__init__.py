"""The ``curate`` command line: a thin click layer over the library.

    curate --help
    curate build                      # the embedded default recipe
    curate build recipes/c4-baseline.yaml --set n_samples=16 --seed 1

Each command lives in its own module and is imported only when invoked, so ``curate --help``
never imports torch. Every error of every command goes through :func:`main`: user errors
(:class:`curate.errors.CurateError`, bad flags, a full or read-only disk) print one line
``error: ...`` and exit 2 with nothing written; only bugs show a traceback.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

import click

from curate import DISTRIBUTION, __version__

# command name -> "module:attr"
COMMANDS: dict[str, str] = {
    "build": "curate.cli.build:build",
    "recipes": "curate.cli.build:recipes",
    "score": "curate.cli.score:score",
    "prune": "curate.cli.prune:prune",
    "quantize": "curate.cli.quantize:quantize",
    "validate": "curate.cli.validate:validate",
    "publish": "curate.cli.publish:publish",
    "list": "curate.cli.catalog:list_cmd",
    "show": "curate.cli.catalog:show",
    "diff": "curate.cli.catalog:diff",
    "verify": "curate.cli.catalog:verify",
    "predict": "curate.cli.predict:predict",
    "doctor": "curate.cli.doctor:doctor",
}
SHORT_HELP = {
    "build": "Build a versioned calibration set from a recipe.",
    "recipes": "List the bundled recipes.",
    "score": "Score calibration sets or sources (perplexity, Min-K%++, similarity, n-grams).",
    "prune": "Prune a model with a calibration set (Wanda, SparseGPT, OWL, magnitude, DSnoT).",
    "quantize": "Quantize a model's weights with a calibration set (GPTQ, round-to-nearest).",
    "validate": "Prune and evaluate with several sets side by side, over seeds.",
    "publish": "Publish a set version to the Hugging Face Hub.",
    "list": "List set versions in a folder.",
    "show": "Show a set version's manifest summary.",
    "diff": "Compare two set versions.",
    "verify": "Check set versions against their manifests' fingerprints.",
    "predict": "Predict sets' retention before pruning, from stored validations.",
    "doctor": "Check this installation: versions, devices, cache, data packages, what is missing.",
}
# OSErrors that are the user's environment (full, read-only, wrong kind of path), not a bug.
USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
               errno.EISDIR, errno.ENAMETOOLONG, errno.EFBIG, errno.EEXIST, errno.ENOENT}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            @click.command(name=name, help=SHORT_HELP.get(name))
            def _missing():
                raise click.ClickException(f"the '{name}' command is not available in this installation")

            return _missing

    def format_commands(self, ctx, formatter):
        # Short help from the table above: listing commands must not import them.
        rows = [(n, SHORT_HELP.get(n, "")) for n in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="curate", message=f"%(prog)s %(version)s (distribution {DISTRIBUTION})")
def cli():
    """curate: calibration data for post-training pruning of LLMs.

    \b
    Examples:
      curate build                                  # embedded default (self-generated, SmolLM2-135M)
      curate build recipes/wiki-windows.yaml --seed 1
      curate validate out/default/v1.0.0 out/wiki-windows/v1.0.0 --method wanda --sparsity 0.5 --seeds 3
    """


def quiet_progress() -> None:
    """``--quiet``: no progress bars from transformers ("Loading weights"), datasets, the Hub
    client or lm-eval (any tqdm). Set before they are imported (they read these at import) and
    again if they were."""
    os.environ["TQDM_DISABLE"] = "1"  # tqdm >= 4.66 reads TQDM_* as defaults
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()


def _in_cache(filename) -> str | None:
    """The cache folder when ``filename`` is inside it (its errors are not about --out)."""
    from curate.models import cache_dir

    try:
        cache = os.path.realpath(cache_dir())
        real = os.path.realpath(os.fsdecode(filename))
        return cache if os.path.commonpath([cache, real]) == cache else None
    except (TypeError, ValueError, OSError):
        return None


def os_error_line(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    cache = _in_cache(exc.filename) if exc.filename else None
    if cache is not None:
        return (f"{exc.strerror or exc}:{where} (the curate cache {cache} must be writable: "
                "fix its permissions or set CURATE_CACHE to a writable folder)")
    hint = {errno.ENOSPC: "free some space or choose another --out", errno.EDQUOT: "free some space or choose another --out",
            errno.EROFS: "choose a writable --out", errno.EACCES: "check the permissions or choose another path",
            errno.EPERM: "check the permissions or choose another path"}.get(exc.errno or 0, "check the path")
    return f"{exc.strerror or exc}:{where} ({hint})"


def main(argv: list[str] | None = None) -> int:
    """The one error handler of every command: ``error: <one line>`` + exit code."""
    from prune_backend.errors import PruneError  # the base of CurateError: one handler for both

    args = list(sys.argv[1:] if argv is None else argv)
    if "--quiet" in args:
        quiet_progress()
    try:
        cli.main(args=args, prog_name="curate", standalone_mode=False)
    except PruneError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx is not None else "curate"
        click.echo(f"error: {' '.join(exc.format_message().split())} (see '{cmd} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted; no partial output was kept", err=True)
        return 130
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        click.echo(f"error: {os_error_line(exc)}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
