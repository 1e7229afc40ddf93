"""Markdown tables: the one helper behind dataset cards, ``curate validate`` and ``curate score`` reports.

    from curate.markdown import md_table, fmt
    md_table(["set", "retention"], [["default@v1.0.0", 0.912]])
    # '| set | retention |\n| --- | --- |\n| default@v1.0.0 | 0.912 |'

Every cell goes through ``cell`` (default :func:`fmt`: compact numbers, flattened lists, no
pipes or newlines, so a value can never break the table); a report whose cells are already
formatted strings passes ``cell=str``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def fmt(value: Any) -> str:
    """One table cell: compact numbers, flattened lists, no pipes or newlines."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            text = str(value)
        elif value == 0 or 1e-3 <= abs(value) < 1e6:
            text = f"{value:.4g}"
        else:
            text = f"{value:.3e}"
    elif value is None:
        text = ""
    elif isinstance(value, list | tuple):
        items = [fmt(v) for v in value[:8]]
        text = ", ".join(items) + (f", ... ({len(value)} items)" if len(value) > 8 else "")
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    else:
        text = str(value)
    return " ".join(text.replace("|", "\\|").split())


def md_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]], cell: Callable[[Any], str] = fmt) -> str:
    """A pipe table: a header row, a ``---`` row, one row per entry of ``rows``."""
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
