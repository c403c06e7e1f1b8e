"""FMCW signal chain: beat signal -> windows -> range FFT -> Doppler FFT -> RD map.

The beat signal of a scatterer at range r and radial velocity v, on chirp m and
fast-time sample n, is

    a * exp(j 2 pi (r / range_bin_m) n / N_r) * exp(j 2 pi (2 v / lambda) T_ri m)

(the range-Doppler coupling term and range migration within one frame are
neglected). Thermal noise is complex Gaussian with unit variance per sample; the
map is divided by the noise gain of the windows so that noise has mean power 1
per RD cell. ``clean`` is the same processing of the targets alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from rd_unet.config import ConfigError, ScenarioConfig
from rd_unet.sim import radar as rd
from rd_unet.sim.clutter import clutter_cells
from rd_unet.sim.targets import amplitude_per_sample, draw_targets, scatterers


OFFSET_STEPS = 64   # clutter cells' sub-bin positions are quantised to 1/64 of a range bin


@dataclass
class SimulatedMap:
    noisy: np.ndarray          # (D, R) float32, linear power, noise mean 1
    clean: np.ndarray          # (D, R) float32, targets only
    targets: np.ndarray        # structured, TARGET_DTYPE
    noisy_complex: np.ndarray | None = None   # (D, R) complex64
    clean_complex: np.ndarray | None = None


def check_scenario(scenario: ScenarioConfig) -> None:
    """Reject scenarios whose targets cannot be represented by the radar."""
    r_max = rd.max_range_m(scenario.radar)
    t = scenario.targets
    hi = max([f.range_m for f in t.fixed], default=t.range_m[1] if t.count[1] > 0 else 0.0)
    if hi >= r_max:
        raise ConfigError(f"targets.range_m: targets up to {hi:g} m lie beyond the radar's maximum range "
                          f"{r_max:.2f} m (samples_per_chirp x range resolution)")


class RDSimulator:
    """Draws RD maps of one scenario; precomputes windows and axes once."""

    def __init__(self, scenario: ScenarioConfig):
        check_scenario(scenario)
        self.scenario = scenario
        r = scenario.radar
        self.radar = r
        self.n_r, self.n_d = r.samples_per_chirp, r.chirps_per_frame
        self.range_window = rd.window(r.range_window, self.n_r)
        self.doppler_window = rd.window(r.doppler_window, self.n_d)
        # Multiplying chirp m by exp(j 2 pi (D//2) m / D) shifts the Doppler spectrum by
        # D//2 bins: the FFT's output then has zero velocity at bin D//2 (no fftshift).
        shift = np.exp(2j * np.pi * (self.n_d // 2) * np.arange(self.n_d) / self.n_d)
        self._window_2d = np.outer(self.doppler_window * shift, self.range_window).astype(np.complex64)
        # fast-time tone of each range bin, and ramps exp(j 2 pi u n / R) for sub-bin
        # offsets u quantised to 1/OFFSET_STEPS of a bin (clutter cells only)
        self._bin_tones = np.exp(2j * np.pi * np.outer(np.arange(self.n_r), np.arange(self.n_r)) / self.n_r
                                 ).astype(np.complex64)
        u = np.arange(-OFFSET_STEPS // 2, OFFSET_STEPS // 2 + 1) / OFFSET_STEPS
        self._offset_ramps = np.exp(2j * np.pi * np.outer(u, np.arange(self.n_r)) / self.n_r).astype(np.complex64)
        noise_gain = (self.range_window ** 2).sum() * (self.doppler_window ** 2).sum()
        self._scale = np.float32(1.0 / np.sqrt(noise_gain))
        self.range_m = rd.range_axis_m(r)
        self.velocity_mps = rd.velocity_axis_mps(r)
        self._dr = rd.range_bin_m(r)
        self._fd_per_mps = 2.0 / rd.wavelength_m(r) * rd.chirp_interval_s(r)   # cycles per chirp per m/s
        self._n = np.arange(self.n_r)
        self._m = np.arange(self.n_d)

    # -- pieces of the beat signal (all (D, R) complex64) --------------------------------
    def _tones(self, range_m, slow_amplitude):
        """Sum of scatterers: slow_amplitude (D, K) times the fast-time tones of range_m (K,)."""
        fast = np.exp((2j * np.pi / self.n_r) * np.outer(range_m / self._dr, self._n)).astype(np.complex64)
        return slow_amplitude.astype(np.complex64) @ fast

    def _clutter_signal(self, range_m, lines, coeff):
        """Beat signal of clutter given by Doppler lines (see clutter_cells), (D, R) complex64.

        One scatterer per range bin at range_m = (k + offset_k) * dr; the fast-time
        tones are applied in the Doppler-line domain (only the lines present), then an
        inverse FFT over lines gives the slow-time signal.
        """
        offset = range_m / self._dr - np.arange(self.n_r)                  # (R,) in [-0.5, 0.5]
        q = np.rint(offset * OFFSET_STEPS).astype(np.int64) + OFFSET_STEPS // 2
        ramp = self._offset_ramps[q]                                        # exp(j 2 pi offset n / R)
        ramp *= self._bin_tones
        spectrum = np.zeros((self.n_d, self.n_r), np.complex64)
        spectrum[lines] = coeff @ ramp
        out = scipy.fft.ifft(np.fft.ifftshift(spectrum, axes=0), axis=0, overwrite_x=True)
        out *= np.float32(self.n_d)
        return out

    def _targets_signal(self, targets, rng):
        r_m, v_mps, amp = scatterers(targets, rng, self.range_window, self.doppler_window)
        if r_m.size == 0:
            return np.zeros((self.n_d, self.n_r), np.complex64)
        slow = amp[None, :] * np.exp(2j * np.pi * np.outer(self._m, v_mps * self._fd_per_mps))
        return self._tones(r_m, slow)

    def _interference(self, targets, rng):
        cfg = self.scenario.interference
        if not cfg.enabled or rng.random() >= cfg.probability:
            return None
        ref_snr_db = targets["realised_snr_db"].max() if len(targets) else self.scenario.targets.snr_db[1]
        a_ref = amplitude_per_sample(10 ** (ref_snr_db / 10), self.range_window, self.doppler_window)
        amp = a_ref / 10 ** (rng.uniform(*cfg.sir_db) / 20)
        r = self.radar
        fs = r.sample_rate_hz
        d_slope = rd.chirp_slope_hz_per_s(r) * (rng.uniform(*cfg.slope_ratio) - 1.0)
        hit = np.flatnonzero(rng.random(self.n_d) < rng.uniform(*cfg.chirp_fraction))
        t = self._n / fs                                        # (R,)
        t0 = rng.uniform(0, self.n_r / fs, hit.size)[:, None]   # crossing time per hit chirp
        dt = t[None, :] - t0
        inside = np.abs(d_slope * dt) < fs / 2                  # the IF filter's passband
        burst = amp * np.exp(1j * (np.pi * d_slope * dt ** 2 + 2 * np.pi * rng.random((hit.size, 1))))
        out = np.zeros((self.n_d, self.n_r), np.complex64)
        out[hit] = burst * inside
        return out

    def _process(self, beat):
        """Window, range FFT, Doppler FFT, centre zero velocity, normalise noise to 1."""
        spec = scipy.fft.fft2(beat * self._window_2d, overwrite_x=True)
        spec *= self._scale
        return spec

    # -- one map ---------------------------------------------------------------------------
    def simulate(self, rng: np.random.Generator, *, store_complex: bool = False) -> SimulatedMap:
        sc = self.scenario
        targets = draw_targets(sc.targets, rng)
        targets["range_bin"] = rd.range_to_bin(self.radar, targets["range_m"])
        targets["doppler_bin"] = rd.velocity_to_bin(self.radar, targets["velocity_mps"])
        target_beat = self._targets_signal(targets, rng)
        # complex Gaussian noise, unit variance per sample (contiguous complex64)
        rest = rng.standard_normal(2 * self.n_d * self.n_r, dtype=np.float32).view(np.complex64)
        rest = rest.reshape(self.n_d, self.n_r)
        rest *= np.float32(np.sqrt(0.5))
        clutter = clutter_cells(sc.clutter, self.radar, rng, self.range_window, self.doppler_window)
        if clutter is not None:
            rest += self._clutter_signal(*clutter)
        interference = self._interference(targets, rng)
        if interference is not None:
            rest += interference
        clean_c = self._process(target_beat)
        noisy_c = self._process(rest) + clean_c
        clean, noisy = _power(clean_c), _power(noisy_c)
        targets["peak_snr_db"] = peak_db(clean, targets["doppler_bin"], targets["range_bin"])
        return SimulatedMap(noisy, clean, targets,
                            noisy_c.astype(np.complex64) if store_complex else None,
                            clean_c.astype(np.complex64) if store_complex else None)


def _power(x: np.ndarray) -> np.ndarray:
    """|x|^2 of complex64 as float32 (avoids abs's hypot)."""
    p = np.square(x.real)
    p += np.square(x.imag)
    return p


def peak_db(power: np.ndarray, doppler_bin, range_bin) -> np.ndarray:
    """Maximum of ``power`` (D, R) within +-1 cell of each (doppler_bin, range_bin), in dB.

    Doppler wraps around (it is periodic); range is clipped at the map's edges.
    """
    d_bins, r_bins = power.shape
    if len(doppler_bin) == 0:
        return np.zeros(0)
    offsets = np.arange(-1, 2)
    rows = np.mod(np.asarray(doppler_bin)[:, None, None] + offsets[None, :, None], d_bins)   # (K, 3, 1)
    cols = np.asarray(range_bin)[:, None, None] + offsets[None, None, :]                     # (K, 1, 3)
    # clipping at the range edges repeats the edge cell, which cannot change a maximum
    block = power[rows, np.clip(cols, 0, r_bins - 1)]                                       # (K, 3, 3)
    return 10 * np.log10(np.maximum(block.reshape(len(block), -1).max(axis=1, initial=0.0), 1e-30))


def simulate_map(scenario: ScenarioConfig, rng: np.random.Generator, *, store_complex: bool = False) -> SimulatedMap:
    """Simulate one RD map of ``scenario``; every random draw comes from ``rng``."""
    return RDSimulator(scenario).simulate(rng, store_complex=store_complex)
