import json

import numpy as np
import pytest
import torch

from rd_unet.config import NormalizationConfig, UNetConfig
from rd_unet.eval import baselines, metrics
from rd_unet.eval.report import EvalConfig, evaluate
from rd_unet.model.unet import UNet
from rd_unet.sim.targets import TARGET_DTYPE
from rd_unet.train.checkpoint import save_checkpoint


def one_target(d, r, snr_db=20.0):
    t = np.zeros(1, TARGET_DTYPE)
    t["doppler_bin"], t["range_bin"], t["snr_db"] = d, r, snr_db
    return t


def test_mask_and_reconstruction_sinr_hand_case():
    clean = np.zeros((10, 10))
    clean[4, 6] = 100.0
    power = clean + 1.0
    t = one_target(4, 6)
    peaks = metrics.peak_cells(clean, t)
    assert peaks.tolist() == [[4, 6]]
    _, background = metrics.cell_masks(clean.shape, t, 1.0, 1.0, guard=2)
    assert background.sum() == 100 - 25
    m = metrics.snr_metrics(power, clean, t, peaks, background)
    assert m["mask_sinr_db"] == pytest.approx(10 * np.log10(101 / 1))
    err = (np.sqrt(101) - 10) ** 2 + 99 * 1.0
    assert m["recon_sinr_db"] == pytest.approx(10 * np.log10(100 / err))
    assert m["peak_error_db"][0] == pytest.approx(10 * np.log10(101 / 100))


def test_guard_ring_wraps_in_doppler():
    t = one_target(0, 5)
    near, background = metrics.cell_masks((12, 12), t, 1.0, 1.0, guard=1)
    assert near[11, 5] and near[1, 5] and not near[2, 5]


def test_roc_auc_and_threshold_hand_cases():
    bg = np.sort(np.array([1.0, 2.0, 4.0]))
    _, _, auc = metrics.roc(np.array([3.0, 5.0]), bg)
    assert auc == pytest.approx((2 / 3 + 1) / 2)
    bg = np.arange(1.0, 1001.0)
    t = metrics.threshold_at_pfa(bg, 0.01)
    assert t == 990.0 and np.mean(bg > t) == 0.01
    pd, _ = metrics.pd_at(np.array([500.0, 995.0, 2000.0]), bg, 0.01)
    assert pd == pytest.approx(2 / 3)


def test_pd_by_snr_hand_case():
    out = metrics.pd_by_snr(np.array([1.0, 5.0, 5.0, 0.5]), np.array([2.0, 7.0, 8.0, 9.0]), 2.0, [0.0, 5.0, 10.0])
    assert out["pd"] == [0.0, pytest.approx(2 / 3)] and out["num_targets"] == [1, 3]


def test_tail_ratio_of_exponential_noise():
    x = np.random.default_rng(0).exponential(size=2_000_000)
    # quantile(1 - 1e-4) / median = ln(1e4) / ln 2 for exponential power
    assert metrics.tail_ratio_db(x) == pytest.approx(10 * np.log10(np.log(1e4) / np.log(2)), abs=0.15)


def test_notch_keeps_noise_level_and_removes_zero_doppler():
    x = np.random.default_rng(0).exponential(size=(50, 64, 32))
    y = baselines.zero_doppler_notch(x)
    assert y[:, 32].max() == 0.0
    assert y.mean() == pytest.approx(x.mean(), rel=0.01)


@pytest.fixture(scope="module")
def identity_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "identity.pt"
    cfg = UNetConfig(depth=2, base_channels=4)   # residual, zero-initialised output: the identity
    # eps sets the output's pedestal (eps x noise floor): at -90 dB it cannot move a metric,
    # whereas the default -30 dB visibly lifts the rare peak cell that noise cancels
    save_checkpoint(path, model=UNet(cfg), model_config=cfg, normalization=NormalizationConfig(eps=1e-9))
    return path


def test_identity_scores_zero_gain_and_oracle_near_perfect(tiny_dataset, identity_checkpoint, tmp_path):
    report = evaluate(tiny_dataset, identity_checkpoint, tmp_path / "rep", EvalConfig(num_panels=1), progress=False)
    m = report["methods"]
    assert set(m) == {"raw", "unet", "median", "wiener", "notch", "oracle"}
    for key in ("mask_sinr_gain_db", "recon_sinr_gain_db", "strongest_target_gain_db"):
        assert m["raw"][key] == 0.0
        assert abs(m["unet"][key]) < 0.01, key       # identity: no gain
    assert abs(m["unet"]["pd_at_pfa"]["1e-3"] - m["raw"]["pd_at_pfa"]["1e-3"]) < 0.02
    assert m["oracle"]["auc"] > 0.98 and m["oracle"]["pd_at_pfa"]["1e-3"] > 0.95
    assert abs(m["oracle"]["peak_error_db"]) < 0.01
    for name, method in m.items():
        for key in ("mask_sinr_gain_db", "recon_sinr_gain_db", "strongest_target_gain_db", "peak_error_db",
                    "auc", "pd_at_pfa", "pd_by_snr_db"):
            assert key in method, (name, key)
        assert set(method["pd_at_pfa"]) == {"1e-3", "1e-4"}
    # the report renders: JSON round trip, markdown with the table, every figure a PNG
    on_disk = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert on_disk["methods"]["raw"]["auc"] == pytest.approx(m["raw"]["auc"])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| oracle |" in md and "matched empirical false-alarm" in md
    for fig in report["figures"].values():
        assert (tmp_path / "rep" / fig).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_cli(tiny_dataset, identity_checkpoint, tmp_path, capsys):
    from rd_unet.cli import main
    assert main(["evaluate", "--data", str(tiny_dataset), "--model", str(identity_checkpoint),
                 "--output", str(tmp_path / "r"), "--num-maps", "12", "--quiet"]) == 0
    assert "oracle" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(tmp_path / "none.h5"), "--model", str(identity_checkpoint),
                 "--output", str(tmp_path / "r2")]) == 2
    assert "no such file" in capsys.readouterr().err
    _ = torch


def test_strongest_target_snr_hand_case():
    clean = np.zeros((16, 16))
    clean[3, 3], clean[10, 12] = 10.0, 1000.0
    t = np.concatenate([one_target(3, 3, 10.0), one_target(10, 12, 30.0)])
    power = clean + 2.0                                   # background mean 2
    peaks = metrics.peak_cells(clean, t)
    _, background = metrics.cell_masks(clean.shape, t, 1.0, 1.0, guard=1)
    m = metrics.snr_metrics(power, clean, t, peaks, background)
    assert m["strongest_target_snr_db"] == pytest.approx(10 * np.log10(1002 / 2))
    assert m["mask_sinr_db"] == pytest.approx(10 * np.log10((12 + 1002) / 2 / 2))
