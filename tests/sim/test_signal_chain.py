"""The RD-domain signal chain against plain time-domain processing, and its samplers.

The simulator never forms the targets' and clutter's beat signals: it adds their
exact windowed spectra to the FFT of the windowed noise. These tests rebuild the
beat signals from the same random draws (replaying the generator in the order
``simulate`` draws: targets, scatterers, noise, clutter) and process them the
textbook way: window, 2-D FFT, scale.
"""
import numpy as np
import pytest
import scipy.fft
from scipy import stats

from rd_unet.config import ClutterConfig, ClutterSet, ScenarioConfig, TargetConfig, replace_nested
from rd_unet.sim import RDSimulator
from rd_unet.sim import radar as rd
from rd_unet.sim.clutter import ClutterModel
from rd_unet.sim.fmcw import OFFSET_STEPS
from rd_unet.sim.noise import complex_normal
from rd_unet.sim.targets import (scatterer_draws, scatterers_from_draws, target_draws, targets_from_draws)
from tests.sim.test_fmcw import random_radar


def _process(sim, beat):
    """Textbook processing: Doppler-shifted window, 2-D FFT, noise-normalising scale."""
    m = np.arange(sim.n_d)
    taper = sim.doppler_window * np.exp(2j * np.pi * (sim.n_d // 2) * m / sim.n_d)
    return scipy.fft.fft2(beat * np.outer(taper, sim.range_window)) / np.sqrt(
        (sim.range_window ** 2).sum() * (sim.doppler_window ** 2).sum())


def _replay(sc, sim, rng):
    """The simulator's draws of one map, in its order: targets, scatterers, noise, clutter."""
    targets = targets_from_draws(sc.targets, [target_draws(sc.targets, rng)])
    draws = scatterer_draws(int(targets["num_scatterers"].sum()), rng)
    r_m, v_mps, amp = scatterers_from_draws(targets, draws, sim._amplitude_gain)
    noise = complex_normal(rng, (sim.n_d, sim.n_r))
    model = ClutterModel(sc.clutter, sc.radar)
    fields = model.fields([model.draw_parameters(rng)])
    draw = model.draw_coefficients(fields, 0, rng)
    return r_m, v_mps, amp, noise, (draw.cells, draw.range_m, draw.lines, draw.unit * draw.std)


def _scenario(radar, g):
    r_max, v_max = rd.max_range_m(radar), rd.max_velocity_mps(radar)
    clutter = ClutterConfig(enabled=True, cnr_db=(20.0, 35.0), range_m=(0.0, 0.9 * r_max), range_exponent=2.0,
                            mean_velocity_mps=(-0.3 * v_max, 0.3 * v_max), spread_mps=(0.02 * v_max, 0.1 * v_max),
                            distribution=str(g.choice(["rayleigh", "k", "weibull"])), shape=1.5)
    targets = TargetConfig(count=(1, 6), range_m=(0.05 * r_max, 0.9 * r_max), velocity_mps=(-0.9 * v_max, 0.9 * v_max),
                           snr_db=(0.0, 30.0), extended_fraction=0.5, extent_range_m=(0.0, 0.05 * r_max),
                           extent_velocity_mps=(0.0, 0.05 * v_max))
    return ScenarioConfig(radar=radar, targets=targets, clutter=ClutterSet(ground=clutter))


def test_maps_equal_time_domain_processing():
    g = np.random.default_rng(4)
    dense_doppler_windows = set()
    for trial in range(12):
        radar = random_radar(g)
        sc = replace_nested(_scenario(radar, g), **{"interference.enabled": False})
        sim = RDSimulator(sc)
        dense_doppler_windows.add(sim._line_taps is None)   # matrix product or a few shifted adds
        m = sim.simulate(np.random.default_rng([trial, 1]), store_complex=True)

        r_m, v_mps, amp, noise, (cells, range_m, lines, coeff) = _replay(sc, sim, np.random.default_rng([trial, 1]))

        n, mm = np.arange(sim.n_r), np.arange(sim.n_d)
        fd = 2 * v_mps / rd.wavelength_m(radar) * rd.chirp_interval_s(radar)          # cycles per chirp
        beat = (np.exp(2j * np.pi * np.outer(mm, fd)) * amp) @ np.exp(
            2j * np.pi * np.outer(r_m / rd.range_bin_m(radar), n) / sim.n_r)
        clean_ref = _process(sim, beat)
        scale = np.abs(clean_ref).max()
        # float32 arithmetic on maps of <= 64 x 128: 1e-5 of the strongest cell
        np.testing.assert_allclose(m.clean_complex, clean_ref, atol=1e-5 * scale)

        # clutter: one scatterer per cell at its (quantised) sub-bin position, its slow time
        # a sum of on-bin Doppler lines (shifted index l is frequency l - D//2)
        position = cells + np.rint((range_m / rd.range_bin_m(radar) - cells) * OFFSET_STEPS) / OFFSET_STEPS
        slow = np.exp(2j * np.pi * np.outer(mm, lines - sim.n_d // 2) / sim.n_d) @ coeff     # (D, C)
        clutter_ref = _process(sim, slow @ np.exp(2j * np.pi * np.outer(position, n) / sim.n_r))
        # white circular noise: the simulator windows it by magnitude (same distribution)
        noise_rd = scipy.fft.fft2(noise * sim._noise_scale)
        rest = m.noisy_complex - m.clean_complex - noise_rd
        scale = max(scale, np.abs(clutter_ref).max())
        np.testing.assert_allclose(rest, clutter_ref, atol=2e-5 * scale)
    assert dense_doppler_windows == {True, False}      # both ways of adding clutter lines were checked


def test_complex_normal_statistics():
    z = complex_normal(np.random.default_rng(0), (400, 1000))
    n = z.size
    power = np.abs(z.astype(np.complex128)) ** 2
    # E|z|^2 = 1 and var |z|^2 = 1 (exponential): 5 sigma of the sample mean
    assert abs(power.mean() - 1) < 5 / np.sqrt(n)
    assert abs(z.real.var() - 0.5) < 5 * np.sqrt(0.5 / n) and abs(z.imag.var() - 0.5) < 5 * np.sqrt(0.5 / n)
    assert abs(np.mean(z.real * z.imag)) < 5 * 0.5 / np.sqrt(n)
    # power is standard exponential (KS), and the 1e-4 tail holds within 5 binomial sigma
    assert stats.kstest(power[:20000].ravel(), "expon").pvalue > 1e-3
    tail = (power > np.log(1e4)).mean()
    assert abs(tail - 1e-4) < 5 * np.sqrt(1e-4 / n)


def test_complex_normal_is_reproducible_and_sized():
    a = complex_normal(np.random.default_rng(3), (7, 5))
    b = complex_normal(np.random.default_rng(3), (7, 5))
    assert a.shape == (7, 5) and a.dtype == np.complex64
    np.testing.assert_array_equal(a, b)
    assert complex_normal(np.random.default_rng(3), 11).shape == (11,)


@pytest.mark.parametrize("name", ["default", "automotive", "maritime", "ground_surveillance"])
def test_a_batch_is_bit_identical_to_maps_one_at_a_time(name):
    """simulate_batch draws each map from its own generator in simulate's order and
    computes it elementwise or line by line: the same bits whatever the batch, so a
    dataset's content cannot depend on how the generator groups maps. Some maps have
    no targets (count from 0) and the automotive ones interference in some frames."""
    from rd_unet.config import load_scenario
    from rd_unet.data.generate import map_rng

    sc = load_scenario(name)
    sc = replace_nested(sc, **{"targets.count": (0, sc.targets.count[1])})
    sim = RDSimulator(sc)
    batch = sim.simulate_batch([map_rng(8, i) for i in range(11)], store_complex=True)
    assert any(len(m.targets) == 0 for m in batch)
    for i, m in enumerate(batch):
        alone = sim.simulate(map_rng(8, i), store_complex=True)
        for key in ("noisy", "clean", "noisy_complex", "clean_complex"):
            np.testing.assert_array_equal(getattr(m, key), getattr(alone, key), err_msg=f"map {i}: {key}")
        assert m.targets.tobytes() == alone.targets.tobytes()
    assert sim.simulate_batch([]) == []


def test_fixed_targets_batch_like_single_maps():
    from rd_unet.config import FixedTarget, load_scenario

    sc = replace_nested(load_scenario("tiny"), targets=TargetConfig(
        count=(0, 0), fixed=(FixedTarget(10.0, 3.0, 20.0, 1), FixedTarget(20.0, -5.0, 15.0, 3))))
    sim = RDSimulator(sc)
    batch = sim.simulate_batch([np.random.default_rng([4, i]) for i in range(3)])
    for i, m in enumerate(batch):
        alone = sim.simulate(np.random.default_rng([4, i]))
        np.testing.assert_array_equal(m.noisy, alone.noisy)
        assert m.targets["target_id"].tolist() == [0, 1] and m.targets.tobytes() == alone.targets.tobytes()
