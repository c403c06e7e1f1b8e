"""Point targets added to recorded maps (rd_unet.sim.inject), and the scenario-less
dataset writer that makes them an evaluation set (rd_unet.data.hdf5.write_maps)."""
import numpy as np
import pytest

from rd_unet.data.hdf5 import open_dataset, read_scenario, read_targets, write_maps
from rd_unet.sim.inject import column_floor, inject_targets, window_response
from rd_unet.sim.radar import window


@pytest.mark.parametrize("spec", ["hann", "rectangular", "chebyshev:60", "taylor"])
@pytest.mark.parametrize("offset", [0.0, 5.0, 7.3, 12.5, 31.9])
def test_window_response_is_the_fft_of_a_windowed_tone(spec, offset):
    n = 32
    w = window(spec, n)
    tone = w * np.exp(2j * np.pi * offset * np.arange(n) / n)          # brute force: numpy's FFT
    expected = np.abs(np.fft.fft(tone)) ** 2 / w.sum() ** 2
    np.testing.assert_allclose(window_response(spec, n, offset), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("spec", ["hann", "blackman", "hamming"])
def test_window_response_energy_follows_parseval(spec):
    # sum_k |X_k|^2 = n sum_m |x_m|^2, so the responses sum to n sum(w^2) / sum(w)^2 at any offset
    n = 64
    w = window(spec, n)
    for offset in (0.0, 0.25, 0.5, 17.75):
        assert window_response(spec, n, offset).sum() == pytest.approx(n * (w ** 2).sum() / w.sum() ** 2, rel=1e-10)
    assert window_response(spec, n, 9.0)[9] == pytest.approx(1.0)          # on-bin: 1 in its own bin
    # Hann's scalloping loss half-way between bins, from its continuous spectrum
    # sinc(f) / (1 - f^2) at f = 1/2: 20 log10(8 / (3 pi)) = -1.42 dB
    if spec == "hann":
        assert 10 * np.log10(window_response(spec, n, 9.5)[9]) == pytest.approx(20 * np.log10(8 / (3 * np.pi)), abs=0.01)


def test_column_floor_is_the_noise_mean_of_each_range_column():
    rng = np.random.default_rng(0)
    mean = np.geomspace(1.0, 100.0, 8)
    power = rng.exponential(mean, size=(20000, 8))                     # (doppler, range)
    power[:200] = 1e6                                                  # a 1 % clutter ridge does not move it much
    np.testing.assert_allclose(column_floor(power)[0], mean, rtol=0.04)  # 1 % contamination: +1.5 %


def _noise(rng, n=20, d=32, r=64):
    return rng.exponential(1.0, size=(n, d, r))


def test_injected_targets_have_their_snr_over_the_floor_and_their_energy():
    rng = np.random.default_rng(1)
    bg = np.full((10, 32, 64), 3.0)                                    # floor 3 / ln 2
    out = inject_targets(bg, rng, count=(1, 4), snr_db=(5.0, 25.0))
    t = out.targets
    assert len(t) >= 10 and np.all(t["snr_db"] >= 5.0) and np.all(t["snr_db"] <= 25.0)
    np.testing.assert_array_equal(out.noisy, bg + out.clean)
    # peaks: at most the on-bin value, at least it less Hann's worst scalloping (1.42 dB per axis)
    assert np.all(t["peak_snr_db"] <= t["snr_db"] + 0.2)               # + a neighbour's sidelobes
    assert np.all(t["peak_snr_db"] >= t["snr_db"] - 2 * 1.43)
    # energy (Parseval): each target adds floor * snr * n sum(w^2) / sum(w)^2 per axis
    w_d, w_r = window("hann", 32), window("hann", 64)
    per_unit = 32 * (w_d ** 2).sum() / w_d.sum() ** 2 * 64 * (w_r ** 2).sum() / w_r.sum() ** 2
    for i in range(10):
        mine = t[t["map_index"] == i]
        expected = (3.0 / np.log(2) * 10 ** (mine["snr_db"] / 10)).sum() * per_unit
        assert out.clean[i].sum() == pytest.approx(expected, rel=1e-9)


def test_injection_respects_allowed_cells_separation_and_seed():
    bg = _noise(np.random.default_rng(2))
    allowed = np.zeros(bg.shape[1:], bool)
    allowed[4:28, 10:50] = True
    a = inject_targets(bg, np.random.default_rng(3), count=(3, 5), allowed=allowed, separation_bins=6,
                       range_m=np.arange(64) * 0.5, velocity_mps=np.linspace(-8, 7.5, 32))
    b = inject_targets(bg, np.random.default_rng(3), count=(3, 5), allowed=allowed, separation_bins=6,
                       range_m=np.arange(64) * 0.5, velocity_mps=np.linspace(-8, 7.5, 32))
    np.testing.assert_array_equal(a.noisy, b.noisy)                    # one seed, one draw
    t = a.targets
    assert np.all(allowed[t["doppler_bin"], t["range_bin"]])
    for i in range(len(bg)):
        m = t[t["map_index"] == i]
        assert 3 <= len(m) <= 5
        for j in range(len(m)):
            for k in range(j):
                assert max(abs(m["doppler_bin"][j] - m["doppler_bin"][k]), abs(m["range_bin"][j] - m["range_bin"][k])) >= 6
    # the table's positions on the axes: within half a bin of the cell's
    assert np.all(np.abs(t["range_m"] - t["range_bin"] * 0.5) <= 0.25 + 1e-9)


@pytest.mark.parametrize("kwargs,message", [
    ({"background": np.ones((4, 4))}, "expected a non-empty (maps, doppler, range) array"),
    ({"background": -np.ones((1, 8, 8))}, "expected finite linear power >= 0"),
    ({"count": (3, 1)}, "count: expected 0 <= low <= high"),
    ({"snr_db": (10, 0)}, "snr_db: expected low <= high"),
    ({"allowed": np.ones((3, 3), bool)}, "allowed: expected shape (16, 16)"),
    ({"count": (30, 30)}, "room for"),
    ({"range_m": np.arange(5)}, "range_m: expected 16 values"),
])
def test_bad_injection_input_is_rejected(kwargs, message):
    args = {"background": np.ones((2, 16, 16)), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inject_targets(args.pop("background"), np.random.default_rng(0), **args)


def test_write_maps_round_trips_and_never_overwrites(tmp_path):
    bg = _noise(np.random.default_rng(4), n=6)
    inj = inject_targets(bg, np.random.default_rng(5), count=(1, 3))
    r, v = np.arange(64) * 0.1, np.arange(-16, 16) * 0.2
    path = write_maps(tmp_path / "set.h5", inj.noisy, clean=inj.clean, targets=inj.targets, range_m=r, velocity_mps=v,
                      source="test")
    assert not list(tmp_path.glob("*.partial"))
    with open_dataset(path, need_clean=True) as f:
        np.testing.assert_allclose(f["noisy"][()], inj.noisy.astype(np.float32))
        np.testing.assert_allclose(f["clean"][()], inj.clean.astype(np.float32))
        stored = read_targets(f)
        for name in inj.targets.dtype.names:                           # NaN axes compare equal per field
            np.testing.assert_array_equal(stored[name], inj.targets[name])
        np.testing.assert_array_equal(f["range_m"][()], r)
        assert read_scenario(f) is None and f.attrs["source"] == "test"
    with pytest.raises(FileExistsError, match="already exists"):
        write_maps(path, bg, range_m=r, velocity_mps=v)
    with pytest.raises(ValueError, match="expected range_m of 64 and velocity_mps of 32 values"):
        write_maps(tmp_path / "other.h5", bg, range_m=r[:10], velocity_mps=v)
    assert not (tmp_path / "other.h5").exists()
    with pytest.raises(ValueError):                    # fails after 'noisy' is written: nothing is left
        write_maps(tmp_path / "broken.h5", bg, clean=np.full(bg.shape, "x"), range_m=r, velocity_mps=v)
    assert not (tmp_path / "broken.h5").exists() and not list(tmp_path.glob("*.partial"))


def test_an_injected_set_is_evaluated_with_held_out_backgrounds(tmp_path):
    """End to end: rd-unet evaluate's scoring of injected targets on exponential noise.
    Steady targets of 20-25 dB over unit noise are detected by CA-CFAR (16 x 8 cells,
    Pfa 1e-2) with probability > 0.99 by the closed form; half of a 15 dB margin covers
    the scalloping loss and the finite training window."""
    from rd_unet.eval.report import EvalConfig, evaluate
    rng = np.random.default_rng(6)
    r, v = np.arange(64) * 0.1, np.arange(-16, 16) * 0.2
    inj = inject_targets(_noise(rng, n=30), rng, count=(2, 3), snr_db=(20.0, 25.0))
    test = write_maps(tmp_path / "test.h5", inj.noisy, clean=inj.clean, targets=inj.targets, range_m=r, velocity_mps=v)
    cal = write_maps(tmp_path / "cal.h5", _noise(rng, n=60), range_m=r, velocity_mps=v)
    with pytest.raises(ValueError, match="records no scenario.*--calibration"):
        evaluate(test, False, tmp_path / "no_cal", EvalConfig(num_panels=0), progress=False)
    report = evaluate(test, False, tmp_path / "rep", EvalConfig(calibration=str(cal), num_panels=0), progress=False)
    raw = report["methods"]["raw"]
    assert raw["pd_at_pfa"]["1e-2"] > 0.95
    assert abs(raw["peak_error_db_median"]) < 1.5          # the raw map holds the target plus noise


def test_zero_padded_columns_get_no_target():
    """Range columns of zeros (zero padding) have no floor to set an SNR over: targets go
    elsewhere, every table SNR is finite, and a map with nothing but such columns is refused."""
    rng = np.random.default_rng(3)
    bg = rng.exponential(1.0, (3, 32, 48))
    bg[:, :, :20] = 0.0
    inj = inject_targets(bg, np.random.default_rng(4), count=(3, 3), separation_bins=4)
    assert len(inj.targets) == 9
    assert np.all(inj.targets["range_bin"] >= 20)
    assert np.all(np.isfinite(inj.targets["peak_snr_db"]))
    with pytest.raises(ValueError, match="noise floor is zero left out"):
        inject_targets(np.zeros((1, 16, 16)), np.random.default_rng(0), count=(1, 1))
