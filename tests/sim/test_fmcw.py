"""The simulator against closed-form answers. Tolerances are stated next to each check."""
import numpy as np
import pytest
from scipy import stats

from rd_unet.config import ClutterConfig, ClutterSet, RadarConfig, ScenarioConfig, load_scenario, replace_nested
from rd_unet.sim import RDSimulator
from rd_unet.sim import radar as rd
from rd_unet.sim.targets import TargetConfig, swerling_power
from tests.conftest import quiet_scenario

WINDOWS = ["hann", "hamming", "blackman", "rectangular", "chebyshev:60", "taylor:35"]


def random_radar(g):
    n_r = int(g.choice([16, 32, 48, 64, 100, 128]))
    n_d = int(g.choice([8, 16, 31, 32, 64]))
    fs = g.uniform(1e6, 20e6)
    return RadarConfig(carrier_frequency_hz=g.uniform(5e9, 80e9), bandwidth_hz=g.uniform(50e6, 2e9),
                       chirp_duration_s=n_r / fs * g.uniform(1.0, 1.5), idle_time_s=g.uniform(0, 20e-6),
                       samples_per_chirp=n_r, chirps_per_frame=n_d, sample_rate_hz=fs,
                       range_window=str(g.choice(WINDOWS)), doppler_window=str(g.choice(WINDOWS)))


def test_point_target_peaks_in_the_bin_the_axes_say():
    g = np.random.default_rng(1)
    for _ in range(40):
        radar = random_radar(g)
        r = g.uniform(0.05, 0.95) * rd.max_range_m(radar)
        v = g.uniform(-0.95, 0.95) * rd.max_velocity_mps(radar)
        sc = quiet_scenario(ScenarioConfig(radar=radar), [(r, v, 30.0)])
        m = RDSimulator(sc).simulate(g)
        d, k = np.unravel_index(np.argmax(m.clean), m.clean.shape)
        # half a bin, plus a hair for float rounding at the exact bin edge
        assert abs(rd.range_axis_m(radar)[k] - r) <= 0.5 * rd.range_bin_m(radar) * (1 + 1e-6), radar
        assert abs(rd.velocity_axis_mps(radar)[d] - v) <= 0.5 * rd.velocity_resolution_mps(radar) * (1 + 1e-6), radar
        assert (d, k) == (m.targets["doppler_bin"][0], m.targets["range_bin"][0])


def test_axes_closed_form():
    radar = RadarConfig(carrier_frequency_hz=77e9, bandwidth_hz=300e6, chirp_duration_s=25.6e-6,
                        idle_time_s=14.4e-6, samples_per_chirp=128, chirps_per_frame=64, sample_rate_hz=5e6)
    c = 299_792_458.0
    assert rd.range_bin_m(radar) == pytest.approx(c / (2 * 300e6), rel=1e-12)   # full sweep sampled
    assert rd.velocity_resolution_mps(radar) == pytest.approx(c / 77e9 / (2 * 64 * 40e-6), rel=1e-12)
    assert rd.max_velocity_mps(radar) == pytest.approx(c / 77e9 / (4 * 40e-6), rel=1e-12)
    v = rd.velocity_axis_mps(radar)
    assert v[32] == 0 and v[0] == pytest.approx(-rd.max_velocity_mps(radar))


@pytest.mark.parametrize("window", WINDOWS)
def test_on_bin_target_peak_snr(tiny, window):
    sc = replace_nested(tiny, **{"radar.range_window": window, "radar.doppler_window": window})
    dr, dv = rd.range_bin_m(sc.radar), rd.velocity_resolution_mps(sc.radar)
    sc = quiet_scenario(sc, [(17 * dr, -3 * dv, 12.5), (40 * dr, 5 * dv, 25.0)])
    m = RDSimulator(sc).simulate(np.random.default_rng(0))
    # spec: within 0.5 dB; an on-bin Swerling-0 target is exact up to float32 rounding
    np.testing.assert_allclose(m.targets["peak_snr_db"], [12.5, 25.0], atol=0.01)


def noise_maps(scenario, n, seed=0):
    sim = RDSimulator(quiet_scenario(scenario))
    g = np.random.default_rng(seed)
    return np.stack([sim.simulate(g).noisy for _ in range(n)])


@pytest.mark.parametrize("window", ["hann", "rectangular", "chebyshev:80"])
def test_noise_mean_power_is_one(tiny, window):
    sc = replace_nested(tiny, **{"radar.range_window": window, "radar.doppler_window": window})
    maps = noise_maps(sc, 60)
    # 60 maps x 2048 cells; windowing correlates neighbours, so count at most a
    # quarter of the cells as independent: sigma of the mean <= 1/sqrt(N/4). 5 sigma.
    n_eff = maps.size / 4
    assert abs(maps.mean() - 1.0) < 5 / np.sqrt(n_eff)


def test_noise_only_power_is_exponential(tiny):
    maps = noise_maps(tiny, 40, seed=3)
    cells = maps[:, ::3, ::3].ravel()   # every third cell: nearly independent
    assert stats.kstest(cells, "expon").pvalue > 1e-3
    # the tail too: P(p > t) = exp(-t)
    assert np.mean(cells > 4.6) == pytest.approx(np.exp(-4.6), abs=4 * np.sqrt(np.exp(-4.6) / cells.size))


def doppler_centroid(maps, velocity_mps):
    profile = maps.mean(axis=(0, 2)) - 1.0                     # mean over range, noise removed
    return float((profile * velocity_mps).sum() / profile.sum())


@pytest.mark.parametrize("kind,mean_v,ego", [("drifting", 6.0, 0.0), ("ground", 0.0, 8.0), ("volume", -4.0, 0.0)])
def test_clutter_centred_at_its_doppler(kind, mean_v, ego):
    from rd_unet.config import load_scenario
    base = quiet_scenario(load_scenario("default"))
    comp = ClutterConfig(enabled=True, cnr_db=(30.0, 30.0), range_m=(5.0, 50.0), mean_velocity_mps=(mean_v, mean_v),
                         spread_mps=(1.0, 1.0), ego_velocity_mps=ego, distribution="k", shape=2.0)
    sc = replace_nested(base, clutter=ClutterSet(**{kind: comp}))
    sim = RDSimulator(sc)
    g = np.random.default_rng(5)
    maps = np.stack([sim.simulate(g).noisy for _ in range(20)])
    # the power-weighted mean velocity equals the configured one within a quarter bin
    assert doppler_centroid(maps, sim.velocity_mps) == pytest.approx(mean_v - ego, abs=0.25 * rd.velocity_resolution_mps(sc.radar))
    # clutter lies inside its range interval: outside it only noise remains (mean 1 +- 10 %)
    outside = maps[:, :, sim.range_m > 56.0]
    assert outside.mean() == pytest.approx(1.0, abs=0.1)
    inside = maps[:, :, (sim.range_m > 10) & (sim.range_m < 45)]
    assert inside.mean() > 5.0


def test_clutter_power_falls_with_range(tiny):
    comp = ClutterConfig(enabled=True, cnr_db=(40.0, 40.0), range_m=(2.0, 32.0), range_exponent=3.0,
                         spread_mps=(0.5, 0.5))
    sc = replace_nested(quiet_scenario(tiny), clutter=ClutterSet(ground=comp))
    sim = RDSimulator(sc)
    g = np.random.default_rng(2)
    maps = np.stack([sim.simulate(g).noisy for _ in range(100)])
    # clutter power summed over Doppler, less the noise (mean 1 per cell)
    per_range = maps.sum(axis=1).mean(axis=0) - maps.shape[1]
    r = sim.range_m
    sel = (r >= 3.0) & (r <= 16.0)
    exponent = -np.polyfit(np.log10(r[sel]), np.log10(per_range[sel]), 1)[0]
    # power law r**-3; the fitted exponent over seeds is 3.02 +- 0.08 (Rayleigh speckle)
    assert exponent == pytest.approx(3.0, abs=0.3)


@pytest.mark.parametrize("swerling,dist", [(1, stats.expon()), (3, stats.gamma(2, scale=0.5))])
def test_swerling_power_distribution(swerling, dist):
    p = swerling_power(np.random.default_rng(0), np.full(20000, swerling))
    assert stats.kstest(p, dist.cdf).pvalue > 1e-3
    assert p.mean() == pytest.approx(1.0, abs=5 / np.sqrt(20000) * dist.std())


def test_swerling1_peaks_in_simulated_maps_are_exponential(tiny):
    dr, dv = rd.range_bin_m(tiny.radar), rd.velocity_resolution_mps(tiny.radar)
    from rd_unet.config import FixedTarget
    sc = replace_nested(quiet_scenario(tiny), **{"targets.fixed": (FixedTarget(20 * dr, 2 * dv, 20.0, 1),)})
    sim = RDSimulator(sc)
    g = np.random.default_rng(9)
    peaks = np.array([sim.simulate(g).clean.max() for _ in range(1500)]) / 100.0
    assert stats.kstest(peaks, "expon").pvalue > 1e-3


def test_extended_target_spreads_over_cells(tiny):
    g = np.random.default_rng(4)
    point = TargetConfig(count=(1, 1), extended_fraction=0.0, range_m=(10, 20), snr_db=(30, 30))
    ext = TargetConfig(count=(1, 1), extended_fraction=1.0, range_m=(10, 20), snr_db=(30, 30),
                       extent_range_m=(5.0, 5.0), extent_velocity_mps=(12.0, 12.0), scatterers=(8, 8))

    def cells_within_10db(tcfg):
        sim = RDSimulator(replace_nested(quiet_scenario(tiny), targets=tcfg))
        return np.mean([(lambda c: (c > c.max() / 10).sum())(sim.simulate(g).clean) for _ in range(30)])

    assert cells_within_10db(ext) > 2 * cells_within_10db(point)


def test_interference_is_a_broadband_burst(tiny):
    sc = replace_nested(quiet_scenario(tiny), **{
        "interference.enabled": True, "interference.probability": 1.0, "interference.sir_db": (-20.0, -20.0),
        "interference.slope_ratio": (0.95, 0.95), "interference.chirp_fraction": (1.0, 1.0),
        "targets.snr_db": (30.0, 30.0)})
    sim = RDSimulator(sc)
    g = np.random.default_rng(0)
    maps = np.stack([sim.simulate(g).noisy for _ in range(20)])
    # closed form: bursts of L = fs^2 / |dS| samples at amplitude A on every chirp add
    # about |A|^2 L / N_r to the mean cell power (windows average out over random positions)
    radar = sc.radar
    length = radar.sample_rate_hz ** 2 / (0.05 * rd.chirp_slope_hz_per_s(radar))   # samples
    from rd_unet.sim.targets import amplitude_per_sample
    amp2 = amplitude_per_sample(10 ** 3.0, sim.range_window, sim.doppler_window) ** 2 * 100
    expected = 1 + amp2 * length / radar.samples_per_chirp
    assert maps.mean() == pytest.approx(expected, rel=0.15)   # bursts cut at the chirp edges: 15 %
    floor = np.median(maps, axis=(0, 1))          # broadband: the floor rises at every range
    assert np.all(floor > 5 * np.log(2))


def test_target_draws_respect_the_configuration():
    cfg = TargetConfig(count=(2, 5), range_m=(10, 20), velocity_mps=(-3, 1), snr_db=(5, 6), swerling=(0,))
    g = np.random.default_rng(0)
    sim = RDSimulator(ScenarioConfig(targets=cfg))
    for _ in range(50):
        t = sim.simulate(g).targets
        assert 2 <= len(t) <= 5
        assert np.all((t["range_m"] >= 10) & (t["range_m"] <= 20))
        assert np.all((t["velocity_mps"] >= -3) & (t["velocity_mps"] <= 1))
        np.testing.assert_allclose(t["realised_snr_db"], t["snr_db"])   # Swerling 0 does not fluctuate


def test_same_generator_state_same_map(tiny):
    sim = RDSimulator(tiny)
    a = sim.simulate(np.random.default_rng([3, 14]))
    b = sim.simulate(np.random.default_rng([3, 14]))
    c = sim.simulate(np.random.default_rng([3, 15]))
    np.testing.assert_array_equal(a.noisy, b.noisy)
    assert not np.array_equal(a.noisy, c.noisy)


def test_poisson_target_count():
    from rd_unet.sim.targets import draw_count
    cfg = TargetConfig(count=(0, 40), count_distribution="poisson", count_mean=4.0)
    g = np.random.default_rng(0)
    n = np.array([draw_count(cfg, g) for _ in range(20000)])
    assert n.mean() == pytest.approx(4.0, abs=5 * 2 / np.sqrt(20000))     # Poisson: sd = 2
    assert n.var() == pytest.approx(4.0, rel=0.05)
    clipped = TargetConfig(count=(2, 3), count_distribution="poisson", count_mean=10.0)
    assert {draw_count(clipped, g) for _ in range(200)} <= {2, 3}


def test_noise_floor_slope_follows_the_configuration():
    """noise_slope_db = 8: the mean noise power per range bin runs linearly in dB from -4 dB
    at the first bin to +4 dB at the last (0 at the middle). 200 maps of 64 Doppler bins:
    12 800 cells per range bin, so each bin's mean is within 0.1 dB (3 sigma); 0.25 dB allowed."""
    sc = replace_nested(quiet_scenario(load_scenario("default")), **{"radar.noise_slope_db": 8.0})
    sim = RDSimulator(sc)
    maps = np.stack([sim.simulate(np.random.default_rng(i)).noisy for i in range(200)])
    profile = 10 * np.log10(maps.mean(axis=(0, 1)))
    expected = 8.0 * (np.arange(maps.shape[-1]) / (maps.shape[-1] - 1) - 0.5)
    np.testing.assert_allclose(profile, expected, atol=0.25)


def test_noise_map_is_the_thermal_noise_alone(tiny):
    """store_noise returns the thermal noise without targets, clutter and interference,
    from the same draw. Targets only: the noisy complex map minus the clean one is exactly
    that noise (float32 rounding: 1e-4 relative). With strong clutter and interference the
    noise map still has mean power 1 (50 maps of 32 x 64: the mean is within 2 % at 3 sigma;
    5 % allowed), while the noisy map's floor is far above it. Asking for it draws nothing."""
    sc = replace_nested(quiet_scenario(tiny, [(12.0, 3.0, 25.0), (25.0, -5.0, 10.0)]),
                        **{"radar.noise_slope_db": 6.0})
    sim = RDSimulator(sc)
    m = sim.simulate(np.random.default_rng(3), store_complex=True, store_noise=True)
    residual = np.abs(m.noisy_complex - m.clean_complex) ** 2
    np.testing.assert_allclose(m.noise, residual, rtol=1e-4, atol=1e-5 * residual.mean())
    busy = replace_nested(tiny, **{     # the broadband burst of test_interference_is_a_broadband_burst
        "interference.enabled": True, "interference.probability": 1.0, "interference.sir_db": (-20.0, -20.0),
        "interference.slope_ratio": (0.95, 0.95), "interference.chirp_fraction": (1.0, 1.0),
        "targets.snr_db": (30.0, 30.0)})
    sim = RDSimulator(busy)
    plain = sim.simulate_batch([np.random.default_rng(i) for i in range(50)])
    maps = sim.simulate_batch([np.random.default_rng(i) for i in range(50)], store_noise=True)
    assert all(np.array_equal(a.noisy, b.noisy) and a.noise is None for a, b in zip(plain, maps))
    noise = np.stack([m.noise for m in maps])
    assert noise.mean() == pytest.approx(1.0, rel=0.05)
    assert np.median(np.stack([m.noisy for m in maps])) > 5 * np.median(noise)
