import numpy as np
import pytest

from rd_unet.files import atomic_write_text, is_partial, partial_path
from rd_unet.maps import db_to_power, neighbourhood, neighbourhood_max, power_to_db


def test_neighbourhood_wraps_doppler_and_clips_range_cell_by_cell():
    rng = np.random.default_rng(0)
    x = rng.random((7, 9))
    for d in range(7):
        for r in range(9):
            expected = max(x[(d + i) % 7, r + j] for i in (-1, 0, 1) for j in (-1, 0, 1) if 0 <= r + j < 9)
            assert neighbourhood_max(x, d, r)[0] == expected
    rows, cols, inside = neighbourhood([0], [8], x.shape, half=(2, 1))
    assert rows[0, :, 0].tolist() == [5, 6, 0, 1, 2] and cols[0, 0].tolist() == [7, 8, 8]
    assert inside[0, 0].tolist() == [True, True, False]
    assert neighbourhood_max(x, [], []).shape == (0,)           # a map without targets
    assert neighbourhood_max(x, [3, 3], [4, 4], half=(2, 2)).tolist() == [x[1:6, 2:7].max()] * 2


def test_decibels():
    assert power_to_db(100.0) == pytest.approx(20.0)
    assert power_to_db(0.0) == pytest.approx(-300.0)              # floored at 1e-30, finite
    np.testing.assert_allclose(db_to_power(power_to_db(np.array([1e-3, 2.0, 5e4]))), [1e-3, 2.0, 5e4])


def test_atomic_write_leaves_no_partial_and_replaces(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and not partial_path(path).exists()
    assert partial_path(path).name == "a.json.partial" and is_partial(partial_path(path)) and not is_partial(path)
