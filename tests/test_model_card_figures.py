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


def test_a_single_pass_quick_look_never_writes_the_card(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="drop --card and --readme"):
        _run(monkeypatch, "--workdir", str(tmp_path), "--suite", "none", "--no-flip-average",
             "--card", str(tmp_path / "card.md"))
    assert not (tmp_path / "card.md").exists()


def test_a_single_pass_quick_look_evaluates_a_copy_with_flip_averaging_off(tmp_path, monkeypatch):
    """The copy's figures are its own: summary.json records the copy and its hash, and the
    copy is the shipped weights with flip_average off."""
    import torch

    from rd_unet.model.checkpoint import file_sha256, read_checkpoint
    from rd_unet.model.pretrained import resolve_model
    with pytest.raises(SystemExit, match="summary.json not found"):     # nothing measured yet: no card either
        _run(monkeypatch, "--workdir", str(tmp_path), "--suite", "none", "--no-flip-average")
    (copy,) = tmp_path.glob("default_*_single_pass.pt")
    assert copy.name[8:20] == file_sha256(resolve_model(None))[:12]
    shipped, single = read_checkpoint(resolve_model(None)), read_checkpoint(copy)
    assert shipped["normalization"]["flip_average"] is True and single["normalization"]["flip_average"] is False
    for k, v in shipped["model"].items():
        assert torch.equal(v, single["model"][k]), k
    (tmp_path / "summary.json").write_text(json.dumps({"model": str(copy), "model_sha256": file_sha256(copy),
                                                       "presets": {}, "stress": {}, "noise_only": {}}))
    _run(monkeypatch, "--workdir", str(tmp_path), "--suite", "none", "--no-flip-average")   # the copy's own figures
    assert json.loads((tmp_path / "summary.json").read_text())["model_sha256"] == file_sha256(copy)


def test_the_cards_training_commands_use_flags_train_pretrained_accepts():
    # the card's "Reproduce" section: every flag it writes must exist, and a stage trained
    # with Doppler shifts must say so
    import re
    import subprocess
    from pathlib import Path
    stage = {"mixture": "broad7", "lr": 7e-5, "target_floor": 0.0, "target_noise": 0.03, "target_weight": 1.0,
             "peak_weight": 3.0, "peak_threshold_db": 7.0, "time_limit_min": 21.0, "doppler_roll": True}
    rolled = ep.train_command(stage, 15)
    plain = ep.train_command({**stage, "doppler_roll": False}, 15, last=True)
    first = ep.train_command({"mixture": "base", "lr": 2e-3, "arch": "unet", "depth": 4, "base_channels": 16}, 1)
    wrapped = ep.train_command({**stage, "doppler_wrap": True}, 16)
    weighted = ep.train_command({**stage, "clutter_weight": 12.0, "max_steps_per_epoch": 2500}, 17)
    assert "--clutter-weight 12 " in weighted and "--max-steps-per-epoch 2500 " in weighted
    gpu = ep.train_command({**stage, "batch_size": 64, "mixture_scale": 0.5}, 18)
    assert "--batch-size 64 " in gpu and "--mixture-scale 0.5 " in gpu
    assert "--batch-size" not in ep.train_command({**stage, "batch_size": 16}, 18) and "--batch-size" not in rolled
    assert "--clutter-weight" not in rolled and "--max-steps-per-epoch" not in rolled
    assert "--doppler-roll" in rolled and "--doppler-roll" not in plain
    assert "--doppler-wrap" in wrapped and "--doppler-wrap" not in rolled
    assert "--init data/pretrained/stage14.pt" in rolled and "--output data/pretrained/stage15.pt" in rolled
    assert "--output" not in plain and "--init" not in first and "--arch unet" in first
    script = str(Path(ep.__file__).with_name("train_pretrained.py"))
    helptext = subprocess.run([sys.executable, script, "--help"], capture_output=True,
                              text=True, check=True).stdout
    accepted = set(re.findall(r"--[a-z][a-z-]*", helptext))
    for command in (rolled, plain, first, wrapped, weighted, gpu):
        assert set(re.findall(r" (--[a-z][a-z-]*)", command)) <= accepted, command


def test_a_soup_stage_reproduces_as_a_fine_tune_then_a_weight_average_that_runs(tmp_path):
    # the card's "Reproduce" lines for a stage shipped by ship_pretrained.py --soup-with-shipped
    import subprocess
    import torch
    from rd_unet.config import NormalizationConfig, UNetConfig
    from rd_unet.model.checkpoint import read_checkpoint, save_checkpoint
    from rd_unet.model.unet import UNet
    stage = {"mixture": "broad9", "lr": 1e-4, "target_noise": 0.3, "time_limit_min": 21.0, "floor_profile": True,
             "soup": {"with": "data/pretrained/stage18.pt", "weight": 0.5}}
    train, average = ep.train_command(stage, 19).split("\n")
    assert "--init data/pretrained/stage18.pt" in train and "--output data/pretrained/stage19_trained.pt" in train
    cfg = UNetConfig(depth=1, base_channels=2)
    (tmp_path / "data" / "pretrained").mkdir(parents=True)
    for name, seed in (("stage19_trained", 0), ("stage18", 1)):
        torch.manual_seed(seed)
        save_checkpoint(tmp_path / "data" / "pretrained" / f"{name}.pt", model=UNet(cfg), model_config=cfg,
                        normalization=NormalizationConfig())
    assert average.startswith("python -c ")
    subprocess.run([sys.executable, "-c", average[len("python -c "):].strip('"')], cwd=tmp_path, check=True)
    a, b, c = (read_checkpoint(tmp_path / "data" / "pretrained" / f"{n}.pt")["model"]
               for n in ("stage19_trained", "stage18", "stage19"))
    k = next(n for n, t in a.items() if t.is_floating_point() and not torch.equal(t, b[n]))
    torch.testing.assert_close(c[k] - b[k], a[k] - c[k])     # the midpoint
    # the last stage with no inference settings to add writes the default output itself
    assert ep.train_command(stage, 19, last=True).endswith("'data/pretrained/default.pt')\"")


def test_partial_auc_pairs_never_print_a_tie_that_is_not_one():
    # the card prints "0.406 vs 0.406" for a U-Net below the notch (0.4056 vs 0.4065) unless
    # it shows one more digit; the printed pair must order the way the figures do
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.uniform(0.3, 0.6, 2000)
    b = a + rng.choice([-1, 1], 2000) * rng.uniform(1e-5, 2e-3, 2000)
    for x, y in zip(a, b):
        shown = [float(v) for v in ep._pair(x, y, " vs ").split(" vs ")]
        assert (shown[0] < shown[1]) == (x < y) or abs(x - y) < 1e-6, (x, y, shown)
        assert all(abs(s - t) <= 5e-4 for s, t in zip(shown, (x, y)))
        if abs(x - y) > 1e-3:          # 3 decimals cannot tie: no more are printed
            assert ep._pair(x, y, " vs ") == f"{x:.3f} vs {y:.3f}"
    assert ep._pair(0.40559, 0.40647, " vs ") == "0.4056 vs 0.4065"
    assert ep._pair(0.339, 0.342, " / ") == "0.339 / 0.342"
    assert ep._pair(None, 0.342, " / ") == "n/a / 0.342"


def test_the_card_gives_the_erased_share_of_visible_targets_beside_the_overall_one():
    """A scenario whose erased targets are mostly buried: the goals table still marks the
    overall share (the goal's figure) as not met, and both it and "Where it loses" give the
    share among visible targets and the buried share; figures measured before those keys
    existed print as before."""
    unet = {"erased_fraction": 0.076, "erased_fraction_snr10": 0.05, "erased_fraction_visible": 0.023,
            "buried_fraction": 0.112, "lost_fraction": 0.0, "peak_error_db_median": -1.7,
            "peak_error_db_p10": -11.1, "peak_error_db_median_snr10": -0.4, "partial_auc": 0.488}
    best = dict(unet, erased_fraction=0.03, erased_fraction_visible=0.0, partial_auc=0.492)
    r = {"methods": {"unet": unet, "notch_median2": best}, "best_classical": "notch_median2",
         "unet_dominates_best_classical": False, "unet_loses_at_pfa": [1e-5], "pfa_grid": [1e-5, 1e-4]}
    results = {"presets": {}, "stress": {"strong_clutter": r}, "noise_only": {}}
    row = [line for line in ep._goals(results) if line.startswith("| stress/strong_clutter")][0]
    assert "**no** (7.6%; SNR >= 10 dB: 5.0%; visible in the input: 2.3%, 11.2% buried)" in row
    loses = " ".join(ep._where_it_loses(results))
    assert "erases 8% of the targets" in loses and "2.3% of the 89% not buried" in loses
    # the share erased among visible targets inside clutter, where the summary has it
    unet.update(erased_fraction_in_clutter=0.31, in_clutter_fraction=0.08)
    row = [line for line in ep._goals(results) if line.startswith("| stress/strong_clutter")][0]
    assert "11.2% buried; visible in clutter 3 dB over the floor or more (8.0% of the targets): 31.0%)" in row
    for key in ("erased_fraction_visible", "buried_fraction", "erased_fraction_in_clutter", "in_clutter_fraction"):
        del unet[key]
    assert "visible" not in ep._goals(results)[-1] and "buried" not in " ".join(ep._where_it_loses(results))
    assert "**no** (7.6%; SNR >= 10 dB: 5.0%)" in ep._goals(results)[-1]


def test_the_card_says_by_how_much_the_unet_falls_short_where_it_does_not_dominate():
    """The goals table, "Where it loses" and the README row give the largest Pd gap and its
    Pfa from the report's unet_largest_shortfall; a summary written before that key existed
    prints as before."""
    from rd_unet.eval.report import largest_shortfall
    pfa, u, b = [1e-6, 1e-5, 1e-4, 1e-3], [0.10, 0.30, 0.40, 0.52], [0.25, 0.28, 0.40, 0.55]
    worst = largest_shortfall(pfa, u, b)
    # brute force: every point where the U-Net is below, the widest gap
    assert worst == pytest.approx({"pfa": 1e-6, "pd_unet": 0.10, "pd_best": 0.25, "gap": 0.15})
    assert largest_shortfall(pfa, b, b) is None and largest_shortfall(pfa, b, u) is not None
    m = {"partial_auc": 0.4, "erased_fraction": 0.01, "lost_fraction": 0.0, "peak_error_db_median": 0.0,
         "peak_error_db_p10": -1.0, "pd_at_pfa": {"1e-4": 0.4}}
    r = {"methods": {"unet": m, "notch_median1": dict(m, partial_auc=0.39)}, "best_classical": "notch_median1",
         "unet_dominates_best_classical": False, "unet_loses_at_pfa": [1e-6, 1e-3], "pfa_grid": pfa,
         "unet_largest_shortfall": worst}
    results = {"presets": {"default": r}, "stress": {}, "noise_only": {}}
    row = [line for line in ep._goals(results) if line.startswith("| default")][0]
    assert "| **no** (Pd 0.150 short at Pfa 1e-06) |" in row
    assert "(1e-06 to 1e-03; most at Pfa 1e-06: Pd 0.100 against 0.250 (0.150 short))" in " ".join(
        ep._where_it_loses(results))
    assert "below it at 2 of 4 Pfa points; most at Pfa 1e-06" in ep.readme_summary(results)
    del r["unet_largest_shortfall"]
    assert "| **no** |" in [line for line in ep._goals(results) if line.startswith("| default")][0]
    assert "most at" not in " ".join(ep._where_it_loses(results))


def test_a_card_only_run_rereads_each_scenarios_report_of_the_same_weights(tmp_path):
    """--suite none re-summarises a scenario from its report.json when the same weights
    wrote it (a figure the summary did not keep then reaches the card), and leaves one
    whose report another model wrote, or that has none, as it was."""
    def report(sha, visible):
        unet = {k: 0.5 for k in ep.KEYS}
        unet.update(erased_fraction_visible=visible, pd_at_pfa={"1e-4": 0.3}, pfa_measured={"1e-4": 1e-4})
        return {"model": {"sha256": sha}, "methods": {"unet": unet, "oracle": unet}, "best_classical": "raw",
                "unet_dominates_best_classical": False, "unet_loses_at_pfa": [1e-4], "pfa_grid": [1e-4],
                "ideal": {"pd_at_pfa": {"1e-4": 0.9}}, "dataset": {"num_targets": 10},
                "calibration": {"num_maps": 5}}
    old = {"methods": {"unet": {"erased_fraction": 0.5}}}
    results = {"presets": {"default": dict(old), "maritime": dict(old), "automotive": dict(old)},
               "stress": {"dense_scene": dict(old)}}
    for folder, name, sha in ((tmp_path, "default", "a"), (tmp_path, "maritime", "b"),
                              (tmp_path / "stress", "dense_scene", "a")):
        (folder / name).mkdir(parents=True)
        (folder / name / "report.json").write_text(json.dumps(report(sha, 0.01)))
    assert sorted(ep.refresh_from_reports(tmp_path, results, "a")) == ["default", "dense_scene"]
    assert results["presets"]["default"]["methods"]["unet"]["erased_fraction_visible"] == 0.01
    assert "oracle" not in results["presets"]["default"]["methods"]
    assert results["stress"]["dense_scene"]["methods"]["unet"]["erased_fraction_visible"] == 0.01
    assert results["presets"]["maritime"] == old and results["presets"]["automotive"] == old
