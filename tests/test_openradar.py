"""Real recorded maps (examples/openradar): what cleaning does to movers a radar engineer
can see. No ground truth exists, so the checks are behavioural (issue 15): the strongest
movers off the zero-Doppler ridge that raw CA-CFAR detects at Pfa 1e-4 stay detected
after cleaning with the shipped model and keep their peak within 3 dB, and the floor
away from the movers does not rise."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "openradar"))
import clean_openradar as example  # noqa: E402


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


@pytest.mark.xfail(strict=True, reason="the shipped model still erases a real mover and shrinks "
                   "others (measured: 1 of the 8 lost by CA-CFAR after cleaning, the -0.99 m/s mover of simple_frame_1 "
                   "at -32 dB; four kept ones lose 4-14 dB, among them the -0.58 m/s person of frame.txt at -14 dB); "
                   "see docs/model-card.md")
def test_movers_stay_detected_with_their_peak_within_3_db(assessed):
    for name, a in zip(*assessed):
        assert a["kept"].all(), (name, a["peak_change_db"])
        assert np.all(np.abs(a["peak_change_db"]) <= 3.0), (name, a["peak_change_db"])
