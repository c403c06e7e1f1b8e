"""simulations/evaluate_pretrained.py writes the model card from one model's figures only."""
import json
import sys

import pytest

import simulations.evaluate_pretrained as ep


def _run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["evaluate_pretrained.py", *args])
    ep.main()


def test_card_only_run_needs_measured_figures(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="summary.json not found"):
        _run(monkeypatch, "--workdir", str(tmp_path), "--suite", "none", "--card", str(tmp_path / "card.md"))
    assert not (tmp_path / "card.md").exists()


def test_card_only_run_refuses_another_models_figures(tmp_path, monkeypatch):
    (tmp_path / "summary.json").write_text(json.dumps({"model": "old.pt", "model_sha256": "0" * 64,
                                                       "presets": {}, "stress": {}, "noise_only": {}}))
    with pytest.raises(SystemExit, match="another model"):
        _run(monkeypatch, "--workdir", str(tmp_path), "--suite", "none", "--card", str(tmp_path / "card.md"))
    assert not (tmp_path / "card.md").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "old.pt"     # untouched
