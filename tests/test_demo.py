import json

from rd_unet.cli import main


def test_quick_demo_runs_the_whole_pipeline(tmp_path, capsys):
    assert main(["demo", "--quick", "--output", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Report:" in out and "Pd at Pfa 1e-4" in out and "noise-limited ceiling" in out
    for name in ("train.h5", "val.h5", "test.h5", "run/best.pt", "report/report.json", "report/report.md",
                 "report/roc.png", "cleaned/recording.npy", "headline.json"):
        assert (tmp_path / name).is_file(), name
    headline = json.loads((tmp_path / "headline.json").read_text())
    assert headline["cleaned_maps"] == 8
    assert 0.0 < headline["pd_ceiling_1e-4"] <= 1.0
    assert "best classical method: " + headline["best_classical"] in out
    assert isinstance(headline["unet_dominates_best_classical"], bool)
    # step 5: the shipped model scored on the same test maps, its own report beside
    shipped = json.loads((tmp_path / "report_pretrained" / "report.json").read_text())
    from rd_unet.model.checkpoint import file_sha256
    from rd_unet.model.pretrained import resolve_model
    assert shipped["model"]["sha256"] == file_sha256(resolve_model("default"))
    assert shipped["dataset"] == json.loads((tmp_path / "report" / "report.json").read_text())["dataset"]
    p = headline["pretrained"]
    assert p["partial_auc"] == shipped["methods"]["unet"]["partial_auc"]
    assert p["best_classical"] == shipped["best_classical"]
    assert "the shipped model on the same maps: Pd at Pfa 1e-4 " + f"{p['pd_at_pfa_1e-4']:.2f}" in out
    # the erased share beside it among the strong targets, which an output floor cannot hide
    strong = shipped["methods"]["unet"]["erased_fraction_snr10"]
    assert p["erased_fraction_snr10"] == strong
    assert f"of the targets, {strong:.0%} of those of SNR >= 10 dB" in out      # the preset reaches 20 dB
    # a second run reuses the datasets
    assert main(["demo", "--quick", "--output", str(tmp_path), "--quiet"]) == 0
    assert "reusing" in capsys.readouterr().out
