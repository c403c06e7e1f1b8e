"""Non-coherent integration over receive channels (``radar.noncoherent_channels``): the
power maps of K channels averaged, each with its own thermal noise, the signal common."""
import numpy as np
import pytest
from scipy import stats

from rd_unet.config import ClutterConfig, ClutterSet, ConfigError, RadarConfig, ScenarioConfig, replace_nested
from rd_unet.sim import RDSimulator
from rd_unet.sim import radar as rd
from tests.conftest import quiet_scenario

# rectangular windows: the FFT of white noise is white, so every cell is an independent sample
RADAR = RadarConfig(samples_per_chirp=32, chirps_per_frame=16, sample_rate_hz=2e6, chirp_duration_s=20e-6,
                    range_window="rectangular", doppler_window="rectangular")


def _noise_maps(channels, maps=60, seed=0, **radar):
    sc = quiet_scenario(ScenarioConfig(radar=replace_nested(RADAR, noncoherent_channels=channels, **radar)))
    sim, g = RDSimulator(sc), np.random.default_rng(seed)
    return [sim.simulate(g, store_noise=True) for _ in range(maps)]


@pytest.mark.parametrize("channels", [1, 4])
def test_noise_power_of_k_channels_is_gamma_of_shape_k(channels):
    """Averaged over K independent unit-power complex Gaussians, a cell's power is
    Gamma(K, 1/K): mean 1, variance 1/K (K = 1: exponential). 30 720 independent cells;
    each test is also run against the other shape, which it must reject."""
    cells = np.concatenate([m.noisy.ravel() for m in _noise_maps(channels)])
    assert stats.kstest(cells, stats.gamma(channels, scale=1 / channels).cdf).pvalue > 1e-3
    other = 4 if channels == 1 else 1
    assert stats.kstest(cells, stats.gamma(other, scale=1 / other).cdf).pvalue < 1e-6
    assert cells.mean() == pytest.approx(1.0, abs=5 / np.sqrt(cells.size * channels))


def test_stored_noise_is_the_noise_only_map_and_keeps_a_sloped_floor():
    """Without targets the map is its noise; with a 12 dB slope over the 32 range bins the
    mean floor of the last four columns stands 12 x 28 / 31 dB above that of the first four
    (means over 80 maps of 3 channels), as the slope's straight line in dB puts them."""
    maps = _noise_maps(3, maps=80, seed=1, noise_slope_db=12.0)
    for m in maps[:5]:
        np.testing.assert_allclose(m.noisy, m.noise, rtol=1e-4, atol=1e-5)
    cols = np.stack([m.noisy for m in maps]).mean(axis=(0, 1))
    rise = 10 * np.log10(cols[-4:].mean() / cols[:4].mean())
    assert rise == pytest.approx(12.0 * (28 + 31) / 2 / 31 - 12.0 * (0 + 3) / 2 / 31, abs=0.6)


def test_a_target_is_common_to_the_channels_and_the_noise_is_not():
    """At a steady (Swerling 0) on-bin target of power S = 100 over unit noise, one
    channel's power |s + n|^2 has mean S + 1 and variance 2 S + 1; averaged over K
    channels with independent noise the variance is (2 S + 1) / K (a signal drawn per
    channel would add its own spread, a noise shared by the channels would leave
    2 S + 1). 600 maps: the variance estimate's relative error is about 6 %."""
    dr, dv = rd.range_bin_m(RADAR), rd.velocity_resolution_mps(RADAR)
    for channels in (1, 4):
        sc = quiet_scenario(ScenarioConfig(radar=replace_nested(RADAR, noncoherent_channels=channels)),
                            [(10 * dr, 3 * dv, 20.0, 0)])
        sim, g = RDSimulator(sc), np.random.default_rng(2)
        peaks = []
        for _ in range(600):
            m = sim.simulate(g)
            t = m.targets[0]
            assert m.clean[t["doppler_bin"], t["range_bin"]] == pytest.approx(100.0, rel=1e-3)
            peaks.append(m.noisy[t["doppler_bin"], t["range_bin"]])
        peaks = np.array(peaks)
        assert peaks.mean() == pytest.approx(101.0, abs=4 * np.sqrt(201 / channels / 600))
        assert peaks.var() == pytest.approx(201.0 / channels, rel=0.2)


def test_one_channel_maps_and_targets_do_not_depend_on_the_extra_channels():
    """The other channels' noise is drawn after everything else: the targets and the
    clutter of a seed are the same for K = 1 and K = 4 (the clean map identical; the
    clutter ridge of strong clutter in the same place with the same power to within the
    noise's share)."""
    ground = ClutterConfig(enabled=True, cnr_db=(45.0, 45.0), spread_mps=(0.2, 0.2))
    base = replace_nested(quiet_scenario(ScenarioConfig(radar=replace_nested(RADAR, range_window="hann",
                                                                             doppler_window="hann"))),
                          **{"targets.count": (2, 4), "targets.range_m": (2.0, 18.0),
                             "targets.velocity_mps": (-5.0, 5.0), "clutter": ClutterSet(ground=ground)})
    one = RDSimulator(base).simulate(np.random.default_rng(5))
    four = RDSimulator(replace_nested(base, **{"radar.noncoherent_channels": 4})).simulate(np.random.default_rng(5))
    np.testing.assert_array_equal(one.clean, four.clean)
    np.testing.assert_array_equal(one.targets, four.targets)
    ridge = np.argmax(one.noisy.sum(axis=1))
    assert ridge == np.argmax(four.noisy.sum(axis=1))
    assert four.noisy[ridge].sum() == pytest.approx(one.noisy[ridge].sum(), rel=0.05)


def test_channel_count_is_validated():
    with pytest.raises(ConfigError, match="noncoherent_channels"):
        RadarConfig(noncoherent_channels=0)
