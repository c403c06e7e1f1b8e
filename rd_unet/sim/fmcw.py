"""FMCW signal chain: beat signal -> windows -> range FFT -> Doppler FFT -> RD map.

The beat signal of a scatterer at range r and radial velocity v, on chirp m and
fast-time sample n, is

    a * exp(j 2 pi (r / range_bin_m) n / N_r) * exp(j 2 pi (2 v / lambda) T_ri m)

(the range-Doppler coupling term and range migration within one frame are
neglected). Thermal noise is complex Gaussian with unit variance per sample; the
map is divided by the noise gain of the windows so that noise has mean power 1
per RD cell. ``clean`` is the same processing of the targets alone.

Windowing and both FFTs are linear and separable, so the map is computed as the
2-D FFT of the windowed noise (and interference, which lives in the time domain)
plus the exact windowed spectra of the scatterers: a scatterer's RD response is
the outer product of its Doppler response (the DFT of the windowed slow-time tone)
and its range response (the DFT of the windowed fast-time tone). Targets and
clutter are sums of such outer products, i.e. matrix products, which is the same
arithmetic as processing their beat signals but without a second 2-D FFT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from rd_unet.config import ConfigError, ScenarioConfig
from rd_unet.maps import neighbourhood, power_to_db
from rd_unet.sim import radar as rd
from rd_unet.sim.clutter import ClutterModel
from rd_unet.sim.noise import complex_normal
from rd_unet.sim.targets import (amplitude_per_sample, scatterer_count, scatterer_draws, scatterers_from_draws,
                                target_draws, targets_from_draws)


OFFSET_STEPS = 64   # clutter cells' sub-bin positions are quantised to 1/64 of a range bin


@dataclass
class SimulatedMap:
    noisy: np.ndarray          # (D, R) float32, linear power, noise mean 1
    clean: np.ndarray          # (D, R) float32, targets only
    targets: np.ndarray        # structured, TARGET_DTYPE
    noisy_complex: np.ndarray | None = None   # (D, R) complex64 (the first receive channel's)
    clean_complex: np.ndarray | None = None
    noise: np.ndarray | None = None           # (D, R) float32, the thermal noise alone (store_noise)


def check_scenario(scenario: ScenarioConfig) -> None:
    """Reject scenarios the radar cannot represent unambiguously: targets beyond the
    maximum range or the unambiguous velocity (they would alias into the map, and the
    target table would disagree with it), clutter wholly beyond the maximum range or
    centred beyond the unambiguous velocity -- unless ``allow_aliasing = true``, when
    the target table records the aliased bins. Clutter is drawn up to the maximum range."""
    r_max, v_max = rd.max_range_m(scenario.radar), rd.max_velocity_mps(scenario.radar)
    t = scenario.targets
    drawn = t.count[1] > 0
    hi = max([f.range_m for f in t.fixed], default=t.range_m[1] if drawn else 0.0)
    if hi >= r_max:
        raise ConfigError(f"targets.range_m: targets up to {hi:g} m lie beyond the radar's maximum range "
                          f"{r_max:.2f} m (samples_per_chirp x range resolution)")
    if scenario.allow_aliasing:
        return
    speeds = [f.velocity_mps for f in t.fixed] + (list(t.velocity_mps) if drawn else [])
    if speeds and (min(speeds) < -v_max or max(speeds) >= v_max):
        raise ConfigError(f"targets.velocity_mps: targets from {min(speeds):g} to {max(speeds):g} m/s reach beyond "
                          f"the radar's unambiguous velocity [-{v_max:.2f}, {v_max:.2f}) m/s; they would alias "
                          "(set allow_aliasing = true to simulate that)")
    for name in ("ground", "drifting", "volume"):
        c = getattr(scenario.clutter, name)
        if not c.enabled:
            continue
        if c.range_m[0] >= r_max:
            raise ConfigError(f"clutter.{name}.range_m: starts at {c.range_m[0]:g} m, beyond the radar's maximum "
                              f"range {r_max:.2f} m: no clutter would be in the map")
        centres = [v - c.ego_velocity_mps for v in c.mean_velocity_mps]
        if min(centres) < -v_max or max(centres) >= v_max:
            raise ConfigError(f"clutter.{name}.mean_velocity_mps: the clutter is centred at {min(centres):g} to "
                              f"{max(centres):g} m/s (with ego_velocity_mps), beyond the radar's unambiguous "
                              f"velocity [-{v_max:.2f}, {v_max:.2f}) m/s (set allow_aliasing = true to simulate that)")


class RDSimulator:
    """Draws RD maps of one scenario; precomputes windows, axes and responses once."""

    def __init__(self, scenario: ScenarioConfig):
        check_scenario(scenario)
        self.scenario = scenario
        r = scenario.radar
        self.radar = r
        self.n_r, self.n_d = r.samples_per_chirp, r.chirps_per_frame
        self.range_window = rd.window(r.range_window, self.n_r)
        self.doppler_window = rd.window(r.doppler_window, self.n_d)
        self._scale = 1.0 / np.sqrt(rd.window_gains(self.range_window, self.doppler_window)[1])
        # Multiplying chirp m by exp(j 2 pi (D//2) m / D) shifts the Doppler spectrum by
        # D//2 bins: the FFT's output then has zero velocity at bin D//2 (no fftshift).
        m, n = np.arange(self.n_d), np.arange(self.n_r)
        self._doppler_taper = self.doppler_window * np.exp(2j * np.pi * (self.n_d // 2) * m / self.n_d)
        # the windows and the map's scale are one multiplication of the beat signal; white
        # circular noise times a unit-modulus factor is white circular noise, so for the
        # noise only the windows' magnitude matters (applied while it is drawn)
        self._beat_window = (np.outer(self._doppler_taper, self.range_window) * self._scale).astype(np.complex64)
        self._noise_scale = np.abs(self._beat_window).astype(np.float32)
        self._noise_scale_flat = self._noise_scale.reshape(-1)
        # amplitude gain per range bin (FFT order: the map's range bin k is FFT bin k)
        slope = r.noise_slope_db * (np.arange(self.n_r) / max(self.n_r - 1, 1) - 0.5)
        self._noise_slope = (10 ** (slope / 20)).astype(np.complex64) if r.noise_slope_db else None
        # Doppler response of an on-bin line at shifted Doppler bin l: column l
        # (the window's DFT moved to bin l), with the map's scale folded in
        line_tones = np.exp(2j * np.pi * np.outer(m, (np.arange(self.n_d) - self.n_d // 2) % self.n_d) / self.n_d)
        self._line_response = (scipy.fft.fft(self._doppler_taper[:, None] * line_tones, axis=0)
                               * self._scale).astype(np.complex64)
        # Cosine-sum windows (Hann, Hamming, Blackman, Taylor, rectangular) have a few
        # non-zero DFT taps: then a line's response is a few shifted copies, added in place
        taps = self._line_response[:, 0]
        nonzero = np.flatnonzero(np.abs(taps) > 1e-9 * np.abs(taps).max())
        self._line_taps = [(int(t), taps[t]) for t in nonzero] if nonzero.size <= 7 else None
        # range response of a tone at sub-bin offset u (quantised to 1/OFFSET_STEPS),
        # on bin 0; on bin k it is the same response moved by k bins (circularly)
        u = np.arange(-OFFSET_STEPS // 2, OFFSET_STEPS // 2 + 1) / OFFSET_STEPS
        self._offset_response = scipy.fft.fft(
            self.range_window * np.exp(2j * np.pi * np.outer(u, n) / self.n_r), axis=1).astype(np.complex64)
        self._columns = np.arange(self.n_r)
        self.range_m = rd.range_axis_m(r)
        self.velocity_mps = rd.velocity_axis_mps(r)
        self._dr = rd.range_bin_m(r)
        self._fd_per_mps = 2.0 / rd.wavelength_m(r) * rd.chirp_interval_s(r)   # cycles per chirp per m/s
        self._n = n
        self._m = m
        self._taper_column = (self._doppler_taper * self._scale).astype(np.complex64)[:, None]
        self._range_column = self.range_window.astype(np.float32)[:, None]
        self._amplitude_gain = float(amplitude_per_sample(1.0, self.range_window, self.doppler_window))
        self._clutter = ClutterModel(scenario.clutter, r)

    # -- RD responses (all scaled so that noise has mean power 1 per cell) ------------------
    def _targets_spectra(self, r_m, v_mps, amp, counts, out):
        """Noise-free RD maps of each map's scatterers into ``out`` (B, D, R) complex64 (zeros).

        ``r_m``, ``v_mps``, ``amp``: the scatterers of all maps concatenated, ``counts[i]``
        of them map i's. The tones and their FFTs are computed for all at once
        (elementwise and column by column, so each map's result does not depend on the
        others); each map's (D, K) @ (K, R) product is its own.
        """
        k = r_m.size
        if k == 0:
            return
        # slow-time (D, K) and fast-time (R, K) tones in one pass, phases in cycles reduced
        # to [0, 1) in float64, then float32 sin/cos (exact to float32 rounding)
        split = self.n_d * k
        cycles = np.empty(split + self.n_r * k)
        np.multiply.outer(self._m, v_mps * self._fd_per_mps, out=cycles[:split].reshape(self.n_d, k))
        np.multiply.outer(self._n / self.n_r, r_m / self._dr, out=cycles[split:].reshape(self.n_r, k))
        tones = np.exp(2j * np.pi * cycles).astype(np.complex64)
        slow = tones[:split].reshape(self.n_d, k)
        slow *= self._taper_column
        fast = tones[split:].reshape(self.n_r, k)
        fast *= self._range_column
        doppler = scipy.fft.fft(slow, axis=0, overwrite_x=True)                          # (D, K)
        doppler *= amp.astype(np.complex64)
        fast = scipy.fft.fft(fast, axis=0, overwrite_x=True)                              # (R, K)
        stop = 0
        for i, count in enumerate(counts):
            start, stop = stop, stop + count
            if count:
                # contiguous copies: the same matrix product whatever the batch holds
                out[i] = (np.ascontiguousarray(doppler[:, start:stop])
                          @ np.ascontiguousarray(fast[:, start:stop]).T)                    # (D, K) @ (K, R)

    def _add_clutter(self, spectrum, cells, range_m, lines, coeff):
        """Add the RD map of clutter given by Doppler lines (see ClutterModel.draw_coefficients) to ``spectrum``.

        One scatterer in range cell k at (k + offset_k) range bins, whose slow-time
        signal is a sum of on-bin Doppler lines: its map is
        line_response[:, lines] @ coeff @ range_response, over the cells that hold clutter.
        """
        offset = range_m / self._dr - cells                                  # in [-0.5, 0.5]
        q = np.rint(offset * OFFSET_STEPS).astype(np.int64) + OFFSET_STEPS // 2
        shifted = self._offset_response[q[:, None], (self._columns - cells[:, None]) % self.n_r]   # (C, R)
        per_line = coeff @ shifted                                           # (L, R)
        if self._line_taps is None:
            spectrum += self._line_response[:, lines] @ per_line
            return
        # distinct rows per shift; usually a run of lines that the shift keeps inside the
        # map, added as a slice (the same arithmetic as the general gather-scatter)
        run = lines.size and lines[-1] - lines[0] + 1 == lines.size
        for shift, tap in self._line_taps:
            lo = lines[0] + (shift if shift <= self.n_d // 2 else shift - self.n_d) if run else -1
            if run and 0 <= lo and lo + lines.size <= self.n_d:
                spectrum[lo:lo + lines.size] += tap * per_line
            else:
                spectrum[(lines + shift) % self.n_d] += tap * per_line

    def _interference(self, targets, rng):
        """Interfering chirps' bursts in the beat signal: (rows, (rows, R) complex) or None."""
        cfg = self.scenario.interference
        if not cfg.enabled or rng.random() >= cfg.probability:
            return None
        ref_snr_db = targets["realised_snr_db"].max() if len(targets) else self.scenario.targets.snr_db[1]
        a_ref = 10 ** (ref_snr_db / 20) * self._amplitude_gain
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
        return hit, burst * inside

    def _channel_noise(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` more channels' thermal noise maps (complex, windowed and shaped like the
        first channel's): (count, D, R) complex64."""
        z = complex_normal(rng, (count, self.n_d, self.n_r)) * self._noise_scale
        if self._noise_slope is not None:
            return scipy.fft.fft2(z, axes=(-2, -1)) * self._noise_slope
        return scipy.fft.fft2(z, axes=(-2, -1))

    # -- maps ------------------------------------------------------------------------------
    def simulate(self, rng: np.random.Generator, *, store_complex: bool = False,
                 store_noise: bool = False) -> SimulatedMap:
        """One RD map; every random draw comes from ``rng``."""
        return self.simulate_batch([rng], store_complex=store_complex, store_noise=store_noise)[0]

    def simulate_batch(self, rngs, *, store_complex: bool = False, store_noise: bool = False) -> list[SimulatedMap]:
        """One RD map per generator in ``rngs``; map i is exactly ``simulate(rngs[i])``.

        Each map draws from its own generator in the same order as alone (targets,
        scatterers, noise, clutter, interference); the arithmetic in between runs on
        all maps at once, elementwise or line by line, so no map depends on the others
        and results are bit-identical whatever the batch size. Batching removes most of
        the per-map Python overhead that dominates small maps (see BENCHMARKS.md).

        ``store_noise``: also return the map of the thermal noise alone (the same draw,
        processed without targets, clutter and interference), one more 2-D FFT per map.
        It draws nothing, so the maps are the same with or without it.
        """
        sc, clutter = self.scenario, self._clutter
        b = len(rngs)
        if b == 0:
            return []
        target_draws_, scatterer_draws_, clutter_draws = [], [], []
        beat = np.empty((b, self.n_d, self.n_r), np.complex64)
        for i, rng in enumerate(rngs):      # each map's draws up to its clutter parameters, in order
            u, fluctuation = target_draws(sc.targets, rng)
            target_draws_.append((u, fluctuation))
            scatterer_draws_.append(scatterer_draws(scatterer_count(sc.targets, u), rng))
            # thermal noise, windowed; transformed map by map, which stays in cache
            np.multiply(complex_normal(rng, self.n_d * self.n_r), self._noise_scale_flat, out=beat[i].reshape(-1))
            if self._noise_slope is not None:     # a sloped floor: the noise's range spectrum shaped
                beat[i] = scipy.fft.ifft2(scipy.fft.fft2(beat[i]) * self._noise_slope)
            if clutter.enabled:
                clutter_draws.append(clutter.draw_parameters(rng))
        channels = self.radar.noncoherent_channels
        # the first channel's noise alone: what store_noise returns, and, with several
        # channels, what is taken off the first channel's map to leave the common signal
        noise_c = scipy.fft.fft2(beat, axes=(-2, -1)) if (store_noise or channels > 1) else None
        noise = _power(noise_c) if store_noise else None
        table = targets_from_draws(sc.targets, target_draws_)
        counts = [f.size for _, f in target_draws_]
        offsets = np.cumsum(counts) - counts
        fields = clutter.fields(clutter_draws) if clutter.enabled else None
        coefficients = []
        for i, rng in enumerate(rngs):      # then its draws whose sizes depend on those
            if fields is not None:
                coefficients.append(clutter.draw_coefficients(fields, i, rng))
            burst = self._interference(table[offsets[i]:offsets[i] + counts[i]], rng)
            if burst is not None:
                rows, values = burst
                beat[i, rows] += values * self._beat_window[rows]
        # the other channels' noise, drawn last (a one-channel radar draws exactly as before)
        extra = [self._channel_noise(rng, channels - 1) for rng in rngs] if channels > 1 else None
        clean_c = np.zeros((b, self.n_d, self.n_r), np.complex64)
        r_m, v_mps, amp = scatterers_from_draws(table, np.concatenate(scatterer_draws_, axis=1),
                                                self._amplitude_gain)
        self._targets_spectra(r_m, v_mps, amp, [int(u.shape[1]) for u in scatterer_draws_], clean_c)
        noisy_c = scipy.fft.fft2(beat, axes=(-2, -1), overwrite_x=True)
        del beat
        if coefficients:
            coeff = (np.concatenate([c.unit.ravel() for c in coefficients])
                     * np.concatenate([c.std.ravel() for c in coefficients]))
            ends = np.cumsum([c.unit.size for c in coefficients])
        clean = np.empty((b, self.n_d, self.n_r), np.float32)
        noisy = np.empty((b, self.n_d, self.n_r), np.float32)
        for i in range(b):                                        # map by map: each stays in cache
            if coefficients:
                cells, range_m, lines, unit, _ = coefficients[i]         # a ClutterDraw
                self._add_clutter(noisy_c[i], cells, range_m, lines,
                                  coeff[ends[i] - unit.size:ends[i]].reshape(unit.shape))
            noisy_c[i] += clean_c[i]
            _power(clean_c[i], out=clean[i])
            _power(noisy_c[i], out=noisy[i])
            if extra is not None:       # average the channels' power maps
                signal = noisy_c[i] - noise_c[i]
                for n_k in extra[i]:
                    noisy[i] += _power(signal + n_k)
                    if store_noise:
                        noise[i] += _power(n_k)
                noisy[i] /= channels
                if store_noise:
                    noise[i] /= channels
        owner = np.repeat(np.arange(b), counts)
        table["range_bin"] = rd.range_to_bin(self.radar, table["range_m"])
        table["doppler_bin"] = rd.velocity_to_bin(self.radar, table["velocity_mps"])
        table["peak_snr_db"] = peak_db(clean, table["doppler_bin"], table["range_bin"], owner)
        return [SimulatedMap(noisy[i], clean[i], table[offsets[i]:offsets[i] + counts[i]],
                             noisy_c[i] if store_complex else None,
                             clean_c[i] if store_complex else None,
                             noise[i] if store_noise else None) for i in range(b)]


def _power(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """|x|^2 of complex64 as float32 (avoids abs's hypot)."""
    p = np.square(x.real, out=out)
    p += np.square(x.imag)
    return p


def peak_db(power: np.ndarray, doppler_bin, range_bin, map_index=None) -> np.ndarray:
    """Maximum of ``power`` within +-1 cell of each (doppler_bin, range_bin), in dB.

    ``power``: one (D, R) map, or a (B, D, R) stack with ``map_index`` naming each
    target's map. Doppler wraps around (it is periodic); range is clipped at the map's edges.
    """
    if len(doppler_bin) == 0:
        return np.zeros(0)
    rows, cols, _ = neighbourhood(doppler_bin, range_bin, power.shape)
    block = power[rows, cols] if map_index is None else power[np.asarray(map_index)[:, None, None], rows, cols]
    return power_to_db(block.reshape(len(rows), -1).max(axis=1))


def simulate_map(scenario: ScenarioConfig, rng: np.random.Generator, *, store_complex: bool = False,
                 store_noise: bool = False) -> SimulatedMap:
    """Simulate one RD map of ``scenario``; every random draw comes from ``rng``."""
    return RDSimulator(scenario).simulate(rng, store_complex=store_complex, store_noise=store_noise)
