"""The pruning flags shared by ``curate prune`` and ``curate validate`` (curate/cli/options.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from curate.cli.options import prune_config, prune_options


@click.command()
@prune_options
def _echo(prune_kw):
    click.echo(repr(prune_config(prune_kw).dsnot_skip))


@pytest.mark.parametrize("args, skip", [
    ([], ("mlp",)),  # flag left out: the config's default, as DSnoT's reference code
    (["--dsnot-skip", "none"], ()),
    (["--dsnot-skip", ""], ()),
    (["--dsnot-skip", "None"], ()),
    (["--dsnot-skip", "self_attn"], ("self_attn",)),
    (["--dsnot-skip", "mlp", "--dsnot-skip", "self_attn"], ("mlp", "self_attn")),
    (["--dsnot-skip", "none", "--dsnot-skip", "self_attn"], ("self_attn",)),
])
def test_dsnot_skip_can_be_emptied(args, skip):
    r = CliRunner().invoke(_echo, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == repr(skip)


def test_prune_cli_hands_an_empty_skip_list_to_the_pruner(tmp_path, monkeypatch):
    """Through the real ``curate prune`` command: the config it prunes with skips nothing."""
    import curate.prune
    from curate.cli.prune import prune

    seen = []

    class Stop(Exception):
        pass

    def fake(model_name, calibration, cfg, **kw):
        seen.append(cfg)
        raise Stop

    monkeypatch.setattr(curate.prune, "prune_with_set", fake)
    monkeypatch.setattr("curate.sets.write.check_writable", lambda *a, **k: None)
    r = CliRunner().invoke(prune, ["--calibration", str(tmp_path), "--method", "wanda", "--dsnot", "--dsnot-skip",
                                   "none", "--out", str(tmp_path / "o"), "--quiet"])
    assert isinstance(r.exception, Stop), r.output
    (cfg,) = seen
    assert cfg.dsnot and cfg.dsnot_skip == ()
