"""simulations/ablate.py keeps the rows of variants whose checkpoints are gone, verbatim."""
import sys
from pathlib import Path

import pytest

import simulations.ablate as ab

DOC = Path(__file__).resolve().parent.parent / "docs" / "ablation.md"


def _table_rows(text):
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| variant |")]


def _run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["ablate.py", *args])
    ab.main()


def _doc_variants_and_scenarios():
    rows = ab.kept_rows(DOC)
    scenarios = [k for k in next(iter(rows.values())) if k != "summary"]
    return rows, scenarios


def test_kept_rows_reads_both_tables_of_the_shipped_document():
    rows, scenarios = _doc_variants_and_scenarios()
    n_rows = len(_table_rows(DOC.read_text()))
    assert len(rows) >= 2 and len(scenarios) >= 2
    assert n_rows == len(rows) * (1 + len(scenarios))     # one summary row and one per scenario, each variant
    for name, r in rows.items():
        assert r["summary"].startswith(f"| {name} |")
        assert set(r) == {"summary", *scenarios}


def test_every_checkpoint_missing_rewrites_the_same_rows(tmp_path, monkeypatch):
    rows, scenarios = _doc_variants_and_scenarios()
    out = tmp_path / "ablation.md"
    out.write_text(DOC.read_text())
    models = [a for name in rows for a in ("--model", f"{name}={tmp_path / 'gone' / name}.pt")]
    _run(monkeypatch, "--keep-missing", *models, "--scenarios", *scenarios, "--workdir", str(tmp_path / "eval"),
         "--output", str(out), "--title", "t")
    text = out.read_text()
    assert _table_rows(text) == _table_rows(DOC.read_text())
    assert "are kept from the previous version" in text
    assert not list((tmp_path / "eval").glob("*.h5"))     # nothing simulated: no variant to measure


def test_missing_checkpoint_is_refused_without_keep_missing_or_a_row(tmp_path, monkeypatch, capsys):
    rows, scenarios = _doc_variants_and_scenarios()
    out = tmp_path / "ablation.md"
    out.write_text(DOC.read_text())
    name = next(iter(rows))
    with pytest.raises(SystemExit):
        _run(monkeypatch, "--model", f"{name}={tmp_path}/gone.pt", "--output", str(out))
    assert "with an existing checkpoint file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(monkeypatch, "--keep-missing", "--model", f"never_trained={tmp_path}/gone.pt", "--output", str(out))
    assert f"or a variant named in {out}" in capsys.readouterr().err
    assert out.read_text() == DOC.read_text()                       # untouched


def test_a_scenario_the_document_lacks_is_refused(tmp_path, monkeypatch):
    rows, _ = _doc_variants_and_scenarios()
    out = tmp_path / "ablation.md"
    out.write_text(DOC.read_text())
    name = next(iter(rows))
    with pytest.raises(SystemExit, match="has no maritime row"):
        _run(monkeypatch, "--keep-missing", "--model", f"{name}={tmp_path}/gone.pt", "--scenarios", "maritime",
             "--workdir", str(tmp_path / "eval"), "--output", str(out))
    assert out.read_text() == DOC.read_text()
