"""``curate doctor [--no-device]``: one line per check of this installation (no model load)."""

from __future__ import annotations

import click


@click.command()
@click.option("--no-device", is_flag=True, help="Skip importing torch to probe devices and dtypes.")
def doctor(no_device: bool):
    """Versions of curate and its dependencies and extras, devices and dtypes, the cache folder
    and its free space, the offline data packages, and what is missing for which command.

    Exits 1 when something every command needs is absent (a FAIL line), 0 otherwise.

    \b
    Examples:
      curate doctor
      curate doctor --no-device        # no torch import: a second faster
    """
    from curate.doctor import run_checks

    checks = run_checks(device=not no_device)
    for c in checks:
        click.echo(c.line())
    if any(c.status == "FAIL" for c in checks):
        raise click.exceptions.Exit(1)
