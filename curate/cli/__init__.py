"""The ``curate`` command line: a thin click layer over the library.

    curate --help
    curate build                      # the embedded default recipe
    curate build recipes/c4-baseline.yaml --set n_samples=16 --seed 1

Each command lives in its own module and is imported only when invoked, so ``curate --help``
never imports torch. User errors (:class:`curate.errors.CurateError`) print one line and exit 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from curate import __version__

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
}


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
@click.version_option(__version__, prog_name="curate")
def cli():
    """curate: calibration data for post-training pruning of LLMs.

    \b
    Examples:
      curate build                                  # embedded default (self-generated, SmolLM2-135M)
      curate build recipes/wiki-windows.yaml --seed 1
      curate validate out/default/v1.0.0 out/wiki-windows/v1.0.0 --method wanda --sparsity 0.5 --seeds 3
    """


def main(argv: list[str] | None = None) -> int:
    from curate.errors import CurateError

    try:
        cli.main(args=argv, prog_name="curate", standalone_mode=False)
    except CurateError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; nothing was published", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
