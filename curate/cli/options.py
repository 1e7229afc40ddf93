"""The pruning knobs of ``curate prune`` and ``curate validate``, built from :class:`PruneConfig`.

    @click.command()
    @prune_options
    def cmd(prune_kw, device, batch_size): cfg = prune_config(prune_kw, device=device, batch_size=batch_size)

One click option per field of :class:`prune_backend.config.PruneConfig` (name, type, default and
help come from the field), so the two commands cannot drift apart and a new knob of the config
is a flag of both. ``device`` and ``batch_size`` are left to each command (``validate`` shares
them with evaluation).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import click

from prune_backend.config import PruneConfig

_OWN = ("device", "batch_size")  # each command declares these itself
# A list option given only '' or 'none' (``--dsnot-skip none``) means the empty list: click has no
# other way to pass one, and leaving the flag out means the config's default (e.g. ("mlp",)).
_EMPTY = ("", "none")


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """(click type, multiple) of a field annotation such as ``float | None`` or ``tuple[str, ...]``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True
    if typing.get_origin(annotation) is typing.Literal:  # e.g. mask: none|assistant
        return click.Choice([str(a) for a in typing.get_args(annotation)]), False
    return annotation, False


def _knobs() -> list[tuple[str, Any]]:
    return [(name, f) for name, f in PruneConfig.model_fields.items() if name not in _OWN]


def prune_options(command: Callable) -> Callable:
    """Add every pruning knob as an option; the command receives them as one ``prune_kw`` dict."""
    names = [name for name, _ in _knobs()]
    lists = {name for name, f in _knobs() if _click_type(f.annotation)[1]}

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        kw = {n: kwargs.pop(n) for n in names}
        kw = {n: v for n, v in kw.items() if v is not None and v != ()}  # unset: the config's default
        for n in lists & kw.keys():
            kw[n] = tuple(v for v in kw[n] if v.strip().lower() not in _EMPTY)
        return command(*args, prune_kw=kw, **kwargs)

    for name, f in reversed(_knobs()):
        flag = "--" + name.replace("_", "-")
        typ, multiple = _click_type(f.annotation)
        desc = (f.description or "").rstrip(".")
        help_text = desc[:1].upper() + desc[1:] + "."
        if typ is bool:
            wrapper = click.option(flag, name, is_flag=True, default=False, help=help_text)(wrapper)
        elif multiple:
            wrapper = click.option(flag, name, type=typ, multiple=True, default=None,
                                   help=f"{help_text} Repeat for several; 'none' for none [default: {', '.join(f.default)}]")(wrapper)
        else:
            shown = f" [default: {f.default}]" if f.default is not None else ""
            wrapper = click.option(flag, name, type=typ, default=None, help=help_text + shown)(wrapper)
    return wrapper


def prune_config(prune_kw: dict[str, Any], **extra: Any) -> PruneConfig:
    """The validated config of the command's flags: a PruneError (one line, exit 2) if they disagree."""
    return PruneConfig(**prune_kw, **{k: v for k, v in extra.items() if v is not None})


def quant_grid_options(command: Callable) -> Callable:
    """The quantization grid of ``curate quantize`` and ``curate validate --quantize``: the command
    receives ``bits``, ``group_size``, ``sym``, ``act_order`` and ``static_groups``, with the defaults,
    help and ranges of :class:`prune_backend.quant.config.QuantConfig` (which validates them)."""
    from prune_backend.quant.config import QuantConfig

    f = QuantConfig.model_fields

    def helped(name: str) -> str:
        d = (f[name].description or "").rstrip(".")
        return d[:1].upper() + d[1:] + "."

    for opt in reversed((
        click.option("--bits", type=int, default=f["bits"].default, show_default=True, help=helped("bits")),
        click.option("--group-size", type=int, default=f["group_size"].default, show_default=True,
                     help=helped("group_size")),
        click.option("--sym/--asym", default=f["sym"].default, show_default=True, help=helped("sym")),
        click.option("--act-order", is_flag=True, help=helped("act_order")),
        click.option("--static-groups", is_flag=True, help=helped("static_groups")),
    )):
        command = opt(command)
    return command


def draw_options(command: Callable) -> Callable:
    """How ``curate prune`` and ``curate quantize`` take their calibration tokens from a set
    (:meth:`curate.sets.read.CalibrationSet.draw`): ``nsamples``, ``seed``, ``retokenize``, ``seq_len``."""
    for opt in reversed((
        click.option("--nsamples", type=int, default=None, help="Draw this many rows of the set (default: all)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the row draw."),
        click.option("--retokenize", is_flag=True, help="Re-tokenize a set made for another tokenizer from its text."),
        click.option("--seq-len", type=int, default=None, help="Tokens per row when re-tokenizing (default: the set's)."),
    )):
        command = opt(command)
    return command
