import json

import numpy as np
import pytest
import torch

from rd_unet.config import ClutterSet, NormalizationConfig, UNetConfig, load_scenario, replace_nested
from rd_unet.eval import baselines, metrics
from rd_unet.eval.report import EvalConfig, evaluate
from rd_unet.model.unet import UNet
from rd_unet.sim.targets import TARGET_DTYPE
from rd_unet.model.checkpoint import save_checkpoint


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


def test_upper_quantile_of_exponential_noise():
    x = np.random.default_rng(1).exponential(size=2_000_000)
    # P(X > t) = exp(-t) for unit-mean exponential power: the 1 - q quantile is -ln q;
    # its standard error is 1 / sqrt(q n) of the mean here (0.07, about 0.03 dB)
    assert metrics.upper_quantile_db(x) == pytest.approx(10 * np.log10(np.log(1e4)), abs=0.15)
    assert metrics.upper_quantile_db(x, 1e-2) == pytest.approx(10 * np.log10(np.log(1e2)), abs=0.05)
    assert metrics.upper_quantile_db(3.0 * x) == pytest.approx(metrics.upper_quantile_db(x) + 10 * np.log10(3.0))


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


EVAL = EvalConfig(num_panels=1, calibration_maps=300)


def test_identity_scores_zero_gain_and_oracle_near_perfect(tiny_dataset, identity_checkpoint, tmp_path):
    report = evaluate(tiny_dataset, identity_checkpoint, tmp_path / "rep", EVAL, progress=False)
    m = report["methods"]
    assert set(m) == {"raw", "unet", "median", "wiener", "notch", "mti3", "notch_median1", "notch_median2",
                      "notch_median3", "oracle"}
    for key in ("mask_sinr_gain_db", "recon_sinr_gain_db", "strongest_target_gain_db"):
        assert m["raw"][key] == 0.0
        assert abs(m["unet"][key]) < 0.01, key       # identity: no gain
    # the identity has raw's statistics, so raw's calibrated thresholds and detections
    for key in ("1e-4", "1e-3", "1e-2"):
        assert m["unet"]["pd_at_pfa"][key] == pytest.approx(m["raw"]["pd_at_pfa"][key], abs=0.02)
    assert m["unet"]["detection_snr_gain_db"] in (None, pytest.approx(0.0, abs=0.5))
    assert m["raw"]["lost_fraction"] == 0.0 and m["raw"]["erased_fraction"] == 0.0
    assert m["oracle"]["auc"] > 0.98 and m["oracle"]["pd_at_pfa"]["1e-3"] > 0.95
    assert abs(m["oracle"]["peak_error_db"]) < 0.01
    for name, method in m.items():
        for key in ("mask_sinr_gain_db", "recon_sinr_gain_db", "strongest_target_gain_db", "peak_error_db",
                    "auc", "pd_at_pfa", "pd_by_snr_db", "pfa_measured", "partial_auc", "peak_error_db_p10",
                    "erased_fraction", "lost_fraction", "detection_snr_gain_db", "false_alarm_clusters_per_map",
                    "f1", "f1_vs_clean_cfar"):
            assert key in method, (name, key)
        assert set(method["pd_at_pfa"]) == set(method["pfa_measured"]) == {"1e-6", "1e-5", "1e-4", "1e-3", "1e-2"}
        band = method["pd_by_snr_db"]
        for key in ("peak_error_db_median", "erased_fraction", "lost_fraction"):
            assert len(band[key]) == len(band["pd"])
        assert method["peak_error_db_p10"] <= method["peak_error_db_median"]
    # 300 calibration maps of 32 x 64 cells (614 400) support 1e-4 and up, not 1e-5 or 1e-6
    assert report["calibration"]["cells"] == 300 * 32 * 64
    assert m["raw"]["pd_at_pfa"]["1e-6"] is None and set(report["pfa_unsupported"]) == {"1e-6", "1e-5"}
    assert report["pfa_grid"][0] >= 10 / report["calibration"]["cells"]
    # dominance is judged point by point against the classical method of highest partial AUC
    classical = ("raw", "median", "wiener", "notch", "mti3", "notch_median1", "notch_median2", "notch_median3")
    best = max(classical, key=lambda k: m[k]["partial_auc"])
    assert report["best_classical"] == best
    loses = [p for p, u, b in zip(report["pfa_grid"], m["unet"]["pd_at_pfa_grid"], m[best]["pd_at_pfa_grid"]) if u < b]
    assert report["unet_loses_at_pfa"] == loses and report["unet_dominates_best_classical"] == (not loses)
    # by how much: the largest Pd gap on the grid, found here by sorting the gaps
    gaps = sorted(((b - u, p, u, b) for p, u, b in zip(report["pfa_grid"], m["unet"]["pd_at_pfa_grid"],
                                                        m[best]["pd_at_pfa_grid"]) if u < b),
                  key=lambda g: (-g[0], g[1]))
    worst = report["unet_largest_shortfall"]
    if not gaps:
        assert worst is None
    else:
        assert (worst["pfa"], worst["pd_unet"], worst["pd_best"]) == pytest.approx(gaps[0][1:])
        assert worst["gap"] == pytest.approx(gaps[0][0]) and worst["gap"] > 0
    assert report["format"] == "rd_unet.report/2"
    # the report renders: JSON round trip, markdown with the verdict first, every figure a PNG
    on_disk = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert on_disk["methods"]["raw"]["auc"] == pytest.approx(m["raw"]["auc"])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| oracle |" in md and "calibrated on 300" in md
    assert f"best classical method ({best})" in md.splitlines()[2]
    if worst:      # the verdict says by how much
        assert f"most at Pfa {worst['pfa']:.1e}, Pd {worst['pd_unet']:.3f} against {worst['pd_best']:.3f}" in md.splitlines()[2]
    # the ceiling: a lower Pfa detects less; every method that sees the noise stays below it
    ideal = report["ideal"]["pd_at_pfa"]
    assert 0.0 < ideal["1e-4"] < ideal["1e-3"] < 1.0
    assert m["raw"]["pd_at_pfa"]["1e-3"] <= ideal["1e-3"] + 0.05
    assert "noise-limited ideal detector" in md
    for fig in report["figures"].values():
        assert (tmp_path / "rep" / fig).read_bytes()[:4] == b"\x89PNG"


def test_thresholds_are_calibrated_out_of_sample(tiny_dataset, tmp_path):
    """Thresholds come from maps that are not scored: on the test maps' background the
    measured Pfa of raw CA-CFAR is near the request, within 4 binomial sigma over the
    background cells (the test maps are another draw of the same scenario)."""
    report = evaluate(tiny_dataset, False, tmp_path / "r", EVAL, progress=False)
    raw = report["methods"]["raw"]
    n = report["dataset"]["background_cells"]
    for key, p in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        assert abs(raw["pfa_measured"][key] - p) < 4 * np.sqrt(p / n) + 1 / n, key
    assert "unet" not in report["methods"] and "unet_dominates_best_classical" not in report


def test_calibration_file_and_lost_and_erased_of_a_flat_output(tiny_dataset, tmp_path):
    """A method that outputs a flat map detects nothing: every target raw detects at 1e-4
    is lost, and every target whose clean peak is above 10 (10 dB over the unit noise)
    is erased."""
    from rd_unet.data.generate import generate_dataset
    cal = generate_dataset(load_scenario("tiny"), tmp_path / "cal.h5", num_maps=100, seed=99, progress=False)
    flat = {"flat": lambda x: np.ones_like(x)}
    report = evaluate(tiny_dataset, False, tmp_path / "r",
                      EvalConfig(num_panels=0, calibration=str(cal)), progress=False, extra_methods=flat)
    assert report["calibration"]["source"] == str(cal) and report["calibration"]["num_maps"] == 100
    m = report["methods"]
    assert m["flat"]["pd_at_pfa"]["1e-4"] == 0.0
    assert m["flat"]["lost_fraction"] == pytest.approx(m["raw"]["pd_at_pfa"]["1e-4"])
    import h5py
    with h5py.File(tiny_dataset, "r") as f:
        clean = f["clean"][()]
        targets = f["targets"][()]
    peaks = [metrics.neighbourhood_max(clean[t["map_index"]], int(t["doppler_bin"]), int(t["range_bin"]))[0]
             for t in targets]
    assert m["flat"]["erased_fraction"] == pytest.approx(np.mean(np.array(peaks) > 10.0))
    # a flat output of 1 puts each target's peak cell at 1: its error is -10 log10(clean peak)
    strong = targets["snr_db"] >= 10.0
    assert strong.any()
    assert m["flat"]["peak_error_db_median_snr10"] == pytest.approx(
        float(np.median(-10 * np.log10(np.array(peaks)[strong]))), abs=1e-6)
    assert m["flat"]["erased_fraction_snr10"] == pytest.approx(np.mean(np.array(peaks)[strong] > 10.0))
    assert 0.0 < m["flat"]["erased_fraction_snr10"] and m["raw"]["erased_fraction_snr10"] == 0.0


def test_a_constant_pedestal_cannot_buy_detection_snr_gain(tmp_path):
    """Adding the noise's own mean power to every output cell lowers the map-averaged
    mask SINR (a floor-sensitive figure) but leaves the detection SNR gain, a shift of
    the Pd-vs-SNR curve at calibrated thresholds, within 0.5 dB of zero."""
    from rd_unet.data.generate import generate_dataset
    sc = replace_nested(load_scenario("tiny"), clutter=ClutterSet(), **{
        "targets.count": (4, 6), "targets.snr_db": (-2.0, 22.0), "targets.extended_fraction": 0.0})
    data = generate_dataset(sc, tmp_path / "t.h5", num_maps=150, seed=5, progress=False)
    report = evaluate(data, False, tmp_path / "r", EvalConfig(num_panels=0, calibration_maps=300), progress=False,
                      extra_methods={"pedestal": lambda x: x + 1.0})
    m = report["methods"]
    assert m["raw"]["detection_snr_gain_db"] == 0.0
    assert abs(m["pedestal"]["detection_snr_gain_db"]) < 0.5
    assert m["pedestal"]["mask_sinr_gain_db"] < -1.0


def test_erased_hand_case():
    clean = np.zeros((16, 20))
    t = np.concatenate([one_target(2, 3), one_target(8, 10), one_target(15, 17)])
    for d, r in ((2, 3), (8, 10), (15, 17)):
        clean[d, r] = 100.0
    out = clean + 1.0
    out[7:10, 9:12] = 5.0                        # the middle target: 101 -> 5, 13 dB down
    out[0, 17] = 100.0                           # the last one's peak moved one Doppler bin, across the wrap
    out[15, 17] = 1.0
    assert metrics.erased(out, clean, t).tolist() == [False, True, False]


def test_false_alarm_clusters_hand_case():
    a = np.zeros((10, 12), bool)
    a[2, 2] = a[3, 3] = True                    # diagonal neighbours: one cluster
    a[6, 6:9] = True                            # a run: one cluster
    a[0, 10] = a[9, 11] = True                  # across the Doppler wrap, diagonally: one cluster
    a[5, 0] = a[5, 11] = True                   # range does not wrap: two clusters
    assert metrics.false_alarm_clusters(a) == 5
    assert metrics.false_alarm_clusters(np.zeros((4, 4), bool)) == 0


def test_snr_at_pd_recovers_a_known_curve():
    """Hits drawn from a logistic Pd(SNR) with Pd = 0.5 at 7 dB: 20 000 targets give
    the crossing within 0.3 dB; a curve that stays below 0.5 gives NaN."""
    r = np.random.default_rng(0)
    snr = r.uniform(-5, 25, 20_000)
    hits = r.random(snr.size) < 1 / (1 + np.exp(-(snr - 7.0) / 1.5))
    assert metrics.snr_at_pd(hits, snr) == pytest.approx(7.0, abs=0.3)
    assert np.isnan(metrics.snr_at_pd(hits & (r.random(snr.size) < 0.4), snr))


def test_isotonic_fit_and_partial_auc_closed_forms():
    np.testing.assert_allclose(metrics.isotonic_increasing([1, 3, 2, 4], [1, 1, 1, 1]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(metrics.isotonic_increasing([1, 3, 2], [1, 3, 1]), [1, 2.75, 2.75])
    pfa = np.logspace(-6, -2, 9)
    assert metrics.partial_auc(pfa, np.full(9, 0.3)) == pytest.approx(0.3)
    # Pd rising linearly in log10 Pfa from 0 to 1: area 1/2
    assert metrics.partial_auc(pfa, np.linspace(0, 1, 9)) == pytest.approx(0.5)


@pytest.mark.parametrize("flags, message", [
    (["--pfa", "0"], "--pfa: expected a number in (0, 1), got 0.0"),
    (["--pfa", "1.5"], "--pfa: expected a number in (0, 1), got 1.5"),
    (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0"),
])
def test_evaluate_rejects_bad_settings_before_writing(tiny_dataset, identity_checkpoint, tmp_path, capsys,
                                                      flags, message):
    from rd_unet.cli import main
    out = tmp_path / "r"
    assert main(["evaluate", "--data", str(tiny_dataset), "--model", str(identity_checkpoint),
                 "--output", str(out), "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_cli(tiny_dataset, identity_checkpoint, tmp_path, capsys):
    from rd_unet.cli import main
    assert main(["evaluate", "--data", str(tiny_dataset), "--model", str(identity_checkpoint),
                 "--output", str(tmp_path / "r"), "--num-maps", "12", "--calibration-maps", "100", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "oracle" in out and "best classical method" in out and "notch_median2" in out
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


def test_ideal_pd_closed_forms():
    """No signal: each cell crosses with probability pfa, so 1 - (1 - pfa)^cells; at the
    range edge the neighbourhood has 6 cells, not 9. A huge target is always detected."""
    clean = np.zeros((8, 10))
    pfa = 1e-2
    assert metrics.ideal_pd(clean, one_target(3, 4), pfa)[0] == pytest.approx(1 - (1 - pfa) ** 9, rel=1e-9)
    assert metrics.ideal_pd(clean, one_target(0, 0), pfa)[0] == pytest.approx(1 - (1 - pfa) ** 6, rel=1e-9)
    clean[3, 4] = 1e4
    assert metrics.ideal_pd(clean, one_target(3, 4), pfa)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("c", [3.0, 10.0, 30.0])
def test_ideal_pd_matches_monte_carlo(c):
    """One cell of clean power c in unit circular Gaussian noise, 8 noise-only
    neighbours: 400 000 draws of the detector agree with the Marcum-Q formula
    within 5 binomial standard deviations."""
    r = np.random.default_rng(int(c))
    pfa, n = 1e-2, 400_000
    noise = (r.standard_normal((n, 9)) + 1j * r.standard_normal((n, 9))) / np.sqrt(2)
    noise[:, 4] += np.sqrt(c)
    measured = np.mean((np.abs(noise) ** 2 > -np.log(pfa)).any(axis=1))
    clean = np.zeros((5, 5))
    clean[2, 2] = c
    expected = metrics.ideal_pd(clean, one_target(2, 2), pfa)[0]
    assert abs(measured - expected) < 5 * np.sqrt(expected * (1 - expected) / n)


def test_ideal_pd_is_a_ceiling_for_the_simulators_own_noise():
    """The clairvoyant detector run on simulated maps (targets in thermal noise only,
    threshold -ln(pfa) on the known unit noise power, any of the 3 x 3 cells) detects
    no more than ideal_pd says, and not much less: the windows correlate neighbouring
    cells, which the formula ignores (measured: 0.379 against 0.407 at Pfa 1e-4).
    400 maps of the default radar, 1359 targets: the binomial standard deviation of
    the measured Pd is about 0.013."""
    from rd_unet.config import ClutterSet, replace_nested
    from rd_unet.data.generate import map_rng
    from rd_unet.sim import RDSimulator

    sc = replace_nested(load_scenario("default"), clutter=ClutterSet(), **{"interference.enabled": False})
    sim = RDSimulator(sc)
    pfa, hits, expected = 1e-4, [], []
    for i in range(400):
        m = sim.simulate(map_rng(3, i))
        hits.append(metrics.target_scores(m.noisy, m.targets) > -np.log(pfa))
        expected.append(metrics.ideal_pd(m.clean, m.targets, pfa))
    hits, expected = np.concatenate(hits), np.concatenate(expected)
    sigma = np.sqrt(expected.mean() * (1 - expected.mean()) / hits.size)
    assert hits.mean() <= expected.mean() + 3 * sigma
    assert expected.mean() - hits.mean() < 0.05


def test_ideal_pd_rejects_a_bad_pfa():
    with pytest.raises(ValueError, match="pfa: expected a probability in"):
        metrics.ideal_pd(np.zeros((4, 4)), one_target(1, 1), 0.0)


def test_buried_hand_case():
    """A target under a clutter cell 20 dB above its clean peak is buried, one 10 dB
    under is not, one on plain noise is not; the +-1 neighbourhood wraps in Doppler."""
    clean = np.zeros((16, 20))
    t = np.concatenate([one_target(2, 3), one_target(8, 10), one_target(15, 17), one_target(12, 5)])
    for d, r in ((2, 3), (8, 10), (15, 17), (12, 5)):
        clean[d, r] = 10.0
    noisy = clean + 1.0
    noisy[3, 4] = 1000.0          # 20 dB above the first target's peak, a diagonal neighbour
    noisy[8, 11] = 100.0          # 10 dB above the second's: not buried at 15 dB
    noisy[0, 17] = 1000.0         # the third's neighbour across the Doppler wrap
    assert metrics.buried(noisy, clean, t).tolist() == [True, False, True, False]
    assert metrics.buried(noisy, clean, t, margin_db=5.0).tolist() == [True, True, True, False]


def test_erased_among_visible_targets_and_the_buried_share_against_a_brute_force_count(tmp_path):
    """Under ground clutter 45-60 dB above the noise, with targets within 4 Doppler bins of
    zero Doppler, some targets are buried (and some not). The report's buried_fraction and, for a flat output, its
    erased_fraction_visible match a count written out cell by cell over each target's 3 x 3
    neighbourhood, and its in_clutter_fraction and erased_fraction_in_clutter a median of each
    target's surroundings written out likewise; raw CA-CFAR (the input itself) erases no visible target."""
    from rd_unet.data.generate import generate_dataset
    import h5py
    sc = replace_nested(load_scenario("tiny"), **{
        "clutter.ground.cnr_db": (45.0, 60.0), "clutter.ground.range_exponent": 0.0,
        "targets.velocity_mps": (-12.0, 12.0), "targets.count": (3, 5), "targets.snr_db": (5.0, 30.0)})
    data = generate_dataset(sc, tmp_path / "t.h5", num_maps=40, seed=3, progress=False)
    report = evaluate(data, False, tmp_path / "r", EvalConfig(num_panels=0, calibration_maps=100), progress=False,
                      extra_methods={"flat": lambda x: np.ones_like(x)})
    with h5py.File(data, "r") as f:
        noisy, clean, targets = f["noisy"][()], f["clean"][()], f["targets"][()]
    hidden, peak, level = [], [], []
    for t in targets:
        i, d0, r0 = int(t["map_index"]), int(t["doppler_bin"]), int(t["range_bin"])
        cells = [((d0 + a) % clean.shape[1], r0 + b) for a in (-1, 0, 1) for b in (-1, 0, 1)
                 if 0 <= r0 + b < clean.shape[2]]
        top_in = max(noisy[i][c] for c in cells)
        top_clean = max(clean[i][c] for c in cells)
        hidden.append(top_in > top_clean * 10 ** 1.5)
        peak.append(top_clean)
        level.append(_ring_by_loops(noisy[i], d0, r0))
    hidden, peak, level = np.array(hidden), np.array(peak), np.array(level)
    assert 0.05 < hidden.mean() < 0.95, hidden.mean()
    m = report["methods"]
    for name in ("raw", "flat", "median"):                  # the same share whatever the method
        assert m[name]["buried_fraction"] == pytest.approx(hidden.mean())
    assert m["flat"]["erased_fraction_visible"] == pytest.approx(np.mean(peak[~hidden] > 10.0))
    assert m["raw"]["erased_fraction_visible"] == 0.0
    # visible targets whose 7 x 7 surroundings stand 3 dB or more above the map: in clutter
    cluttered = ~hidden & (level >= 3.0)
    assert 0 < cluttered.sum() < (~hidden).sum()
    assert m["raw"]["in_clutter_fraction"] == pytest.approx(cluttered.mean())
    assert m["flat"]["erased_fraction_in_clutter"] == pytest.approx(np.mean(peak[cluttered] > 10.0))
    assert m["raw"]["erased_fraction_in_clutter"] == 0.0


def _ring_by_loops(power, d, r, half=3, guard=1):
    n_d, n_r = power.shape
    cells = [power[(d + i) % n_d, r + j] for i in range(-half, half + 1) for j in range(-half, half + 1)
             if not (abs(i) <= guard and abs(j) <= guard) and 0 <= r + j < n_r]
    return 10 * np.log10(np.median(cells) / np.median(power))


def _table(rows):
    t = np.zeros(len(rows), [("doppler_bin", int), ("range_bin", int)])
    t["doppler_bin"], t["range_bin"] = np.array(rows).T
    return t


def test_local_clutter_matches_a_cell_by_cell_loop_at_the_edges_and_across_the_doppler_wrap():
    from rd_unet.eval.metrics import local_clutter_db
    rng = np.random.default_rng(3)
    power = rng.exponential(1.0, size=(16, 12)) * rng.uniform(0.5, 50, size=(16, 12))
    rows = [(0, 0), (1, 11), (15, 5), (8, 6), (5, 2), (14, 10)]
    want = [_ring_by_loops(power, d, r) for d, r in rows]
    np.testing.assert_allclose(local_clutter_db(power, _table(rows)), want, rtol=0, atol=1e-12)


def test_local_clutter_ignores_the_target_and_reads_noise_as_0_db():
    from rd_unet.eval.metrics import local_clutter_db
    power = np.ones((16, 20))
    power[3:6, 8:11] = 1e6                       # a strong target's 3 x 3 cells: not counted
    power[11:16, :] = 100.0                      # a 20 dB band five rows high
    assert local_clutter_db(power, _table([(4, 9)]))[0] == 0.0
    assert local_clutter_db(power, _table([(14, 9)]))[0] == pytest.approx(20.0)     # rows 11..15, 0, 1: 26 of 40 in it
    import warnings
    with warnings.catch_warnings():                # a map of zeros has no floor: nan (in no clutter), quietly
        warnings.simplefilter("error")
        assert np.isnan(local_clutter_db(np.zeros((8, 8)), _table([(2, 2)]))).all()
    # unit exponential noise: one 40-cell median over the map's scatters by about 1 dB and
    # sits about 0.1 dB low (the log of a noisy estimate); the mean of 2000 lies within 0.3 dB of 0
    rng = np.random.default_rng(4)
    levels = [local_clutter_db(m, _table([(8, 8)]))[0] for m in rng.exponential(1.0, size=(2000, 16, 16))]
    assert abs(np.mean(levels)) < 0.3
