"""Real recorded maps (examples/openradar): what cleaning does to movers a radar engineer
can see. No ground truth exists, so the checks are behavioural (issue 15): the strongest
movers off the zero-Doppler ridge that raw CA-CFAR detects at Pfa 1e-4 stay detected
after cleaning with the shipped model and keep their peak within 3 dB, and the floor
away from the movers does not rise. With simulated targets added to the recordings
(injected_targets.py) there is ground truth: detection in real clutter is scored against
the classical family."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "openradar"))
import clean_openradar as example  # noqa: E402
import injected_targets  # noqa: E402


@pytest.fixture(scope="module")
def assessed():
    from rd_unet.model.inference import clean_maps
    raw, _, _, sources = example.load()
    return sources, example.assess(raw, clean_maps(raw).astype(np.float64))


def test_movers_are_found_on_every_map():
    raw, range_m, velocity_mps, _ = example.load()
    for p in raw:
        cells = example.movers(p)
        assert len(cells) >= 2
        assert np.all(np.abs(velocity_mps[cells[:, 0]]) > example.RIDGE_HALF * 0.08)   # off the ridge


def test_the_floor_away_from_the_movers_does_not_rise(assessed):
    for name, a in zip(*assessed):
        assert a["floor_out"] <= a["floor_in"], name


@pytest.mark.xfail(strict=True, reason="the shipped model still erases one real mover and shrinks "
                   "others (measured with 0.14: 1 of the 8 lost by CA-CFAR after cleaning, the -0.99 m/s mover of "
                   "simple_frame_1 at -17.3 dB; kept but more than 3 dB down: the -0.58 m/s person of frame.txt at "
                   "-14.8 dB, its +1.07 m/s mover at -6.4 dB and the -2.63 m/s mover of simple_frame_1 at -5.3 dB; "
                   "0.13 and 0.12 lost 4, 0.11 2); see docs/model-card.md")
def test_movers_stay_detected_with_their_peak_within_3_db(assessed):
    for name, a in zip(*assessed):
        assert a["kept"].all(), (name, a["peak_change_db"])
        assert np.all(np.abs(a["peak_change_db"]) <= 3.0), (name, a["peak_change_db"])


# ----------------------------------------------------------------- injected targets

@pytest.fixture(scope="module")
def injected(tmp_path_factory):
    """The shipped model on the recorded backgrounds with injected targets (the model card's set)."""
    return injected_targets.injected_figures(workdir=tmp_path_factory.mktemp("injected"))


def test_injected_sets_are_real_backgrounds_with_known_targets(tmp_path):
    test, cal = injected_targets.build(tmp_path, copies=2)
    from rd_unet.data.hdf5 import open_dataset, read_targets
    maps, _, _ = injected_targets.backgrounds()
    with open_dataset(test, need_clean=True) as f, open_dataset(cal) as g:
        noisy, clean, t = f["noisy"][()], f["clean"][()], read_targets(f)
        # the background untouched, up to the float32 rounding of noisy and clean
        bg = np.repeat(maps, 2, axis=0)
        assert np.all(np.abs(noisy.astype(np.float64) - clean - bg) <= 2 ** -22 * (noisy + clean) + 1e-30)
        movers = read_targets(g)
    assert len(movers) >= 6 and 2 * 6 * 2 <= len(t) <= 2 * 6 * 6
    # no injected target within 6 cells of a recorded mover of its background
    for row in t:
        near = movers[movers["map_index"] == row["map_index"] // 2]
        assert np.all(np.maximum(np.abs(near["doppler_bin"] - row["doppler_bin"]),
                                 np.abs(near["range_bin"] - row["range_bin"])) > 6)


def test_on_recorded_backgrounds_the_unet_beats_the_best_classical_and_keeps_strong_targets(injected):
    unet, best = injected["methods"]["unet"], injected["methods"][injected["best_classical"]]
    assert unet["partial_auc"] > best["partial_auc"]
    assert abs(unet["peak_error_db_median_snr10"]) <= 1.0
    assert unet["lost_fraction"] < 0.02


@pytest.mark.xfail(strict=True, reason="0.14 detects fewer injected targets than notch_median3 at one "
                   "of the 8 Pfa points, 3.2e-4 (partial AUC 0.609 against 0.582; 0.13 dominated it at 0.624): "
                   "the price of keeping strong targets, docs/normalisation.md 'Strong targets'")
def test_on_recorded_backgrounds_the_unet_dominates_the_best_classical(injected):
    # 0.6 fell below notch_median3 at 1e-3..6e-3; 0.7 and 0.8 (target noise 0.03) did not;
    # 0.9 did at 6e-3 (Pd 0.737 against 0.739, 2 of 965 targets); 0.10-0.13 (target noise
    # 0.3) did not; 0.14 does at 3.2e-4
    assert injected["unet_dominates_best_classical"], injected["unet_loses_at_pfa"]
    assert not injected["unet_loses_at_pfa"]
