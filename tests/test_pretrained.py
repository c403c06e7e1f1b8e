"""The shipped model: present, loadable, and it generalises beyond its training mixture."""
import numpy as np
import pytest

from rd_unet.model.inference import clean_maps, load_denoiser
from rd_unet.config import load_scenario
from rd_unet.data.generate import map_rng
from rd_unet.eval import metrics
from rd_unet.model.pretrained import list_models, resolve_model
from rd_unet.sim import RDSimulator
from rd_unet.model.checkpoint import read_checkpoint
from simulations.evaluate_pretrained import noise_only, unseen_scenario


def test_default_model_is_shipped_small_and_self_describing():
    path = resolve_model(None)
    assert path.stat().st_size <= 10 * 2 ** 20
    state = read_checkpoint(path)
    assert state["optimizer"] is None and state["model_config"]["depth"] >= 1
    assert any(m["name"] == "default" and "mixture" in m["training"] for m in list_models())


def test_generalises_to_an_unseen_scenario(tmp_path):
    """Other map size (48 x 96), Blackman/Taylor windows, K clutter and drifting clutter
    outside the training mixture: at thresholds calibrated on unscored maps, the U-Net's
    partial AUC (Pfa 1e-5..1e-2 here) is above raw CA-CFAR's. A detection figure, which a
    constant output floor cannot move (the SNR gains could)."""
    from rd_unet.data.generate import generate_dataset
    from rd_unet.eval.report import EvalConfig, evaluate
    data = generate_dataset(unseen_scenario(), tmp_path / "u.h5", num_maps=60, seed=5, progress=False)
    report = evaluate(data, None, tmp_path / "r", EvalConfig(num_panels=0, calibration_maps=220), progress=False)
    m = report["methods"]
    assert m["unet"]["partial_auc"] > m["raw"]["partial_auc"] + 0.02
    assert report["model"]["passthrough"] is False      # what was scored: the shipped model has no passthrough
    assert report["model"]["flip_average"] is True      # and averages over the map's flips (0.8)
    assert report["model"]["floor_profile"] is True     # with a noise floor per range column (0.13)


def test_passthrough_keeps_strong_targets_at_their_power():
    """Issue 15's "targets kept at full power", with the shipped weights and the passthrough
    turned on (``--passthrough``): on default-preset maps, the targets of table SNR >= 15 dB
    come out with their peak (max within +-1 cell) within 1 dB of the clean map's (the
    simulator's ground truth) in the median, closer than the network's estimate alone,
    which shrinks what it is unsure of."""
    sim = RDSimulator(load_scenario("default"))
    maps = [sim.simulate(map_rng(21, i)) for i in range(40)]
    noisy = np.stack([m.noisy for m in maps])
    on = clean_maps(noisy, load_denoiser(None, "cpu", passthrough=True)[0])
    off = clean_maps(noisy, load_denoiser(None, "cpu", passthrough=False)[0])
    err_on, err_off = [], []
    for m, a, b in zip(maps, on, off):
        t = m.targets[m.targets["snr_db"] >= 15.0]
        d, r = t["doppler_bin"], t["range_bin"]
        ref = metrics.power_to_db(metrics.neighbourhood_max(m.clean, d, r))
        err_on += list(metrics.power_to_db(metrics.neighbourhood_max(a, d, r)) - ref)
        err_off += list(metrics.power_to_db(metrics.neighbourhood_max(b, d, r)) - ref)
    assert len(err_on) >= 30
    assert abs(np.median(err_on)) <= 1.0
    assert np.median(err_on) > np.median(err_off)


@pytest.mark.slow
def test_adds_no_structure_to_noise():
    """On noise-only maps of the default preset (2000 maps, 16 M cells):

    * issue 15: the output's 1e-4 power quantile is not above the input's;
    * issue 6: the output's tail (1e-4 quantile over the median) is no heavier than the
      input's. A model trained to keep the noise's texture (``target_noise``) has the
      input's tail by design, so the two estimates differ by sampling error only: for
      exponential noise the quantile's standard error is 1 / sqrt(q n) of the mean, about
      0.01 dB here, twice that for the windows' correlated cells; 0.1 dB (5 sigma) allowed.
      A model that let noise peaks through in blobs would exceed it by decibels."""
    sim = RDSimulator(noise_only(load_scenario("default")))
    raw = np.stack([sim.simulate(map_rng(11, i)).noisy for i in range(2000)])
    den, _, _ = load_denoiser(None, "cpu")
    out = clean_maps(raw, den)
    assert metrics.upper_quantile_db(out) <= metrics.upper_quantile_db(raw)
    assert metrics.tail_ratio_db(out) <= metrics.tail_ratio_db(raw) + 0.1
