"""Radar parameters -> resolutions, limits and the RD map's axes, in m and m/s.

Range: complex baseband sampling at ``sample_rate_hz`` of ``samples_per_chirp``
samples keeps beat frequencies in ``[0, sample_rate_hz)``, so range bin ``k`` is
at ``k * range_bin_m`` and the FFT is not shifted along range. Doppler: the slow-time
FFT is shifted so that zero velocity is at bin ``num_doppler_bins // 2``.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import windows as sw

from rd_unet.config import SPEED_OF_LIGHT_MPS, RadarConfig


def chirp_slope_hz_per_s(radar: RadarConfig) -> float:
    return radar.bandwidth_hz / radar.chirp_duration_s


def wavelength_m(radar: RadarConfig) -> float:
    return SPEED_OF_LIGHT_MPS / radar.carrier_frequency_hz


def chirp_interval_s(radar: RadarConfig) -> float:
    """Chirp repetition interval: chirp duration plus idle time."""
    return radar.chirp_duration_s + radar.idle_time_s


def range_bin_m(radar: RadarConfig) -> float:
    """Range bin spacing, c / (2 * bandwidth swept while sampling): the range resolution."""
    sampled_bandwidth_hz = chirp_slope_hz_per_s(radar) * radar.samples_per_chirp / radar.sample_rate_hz
    return SPEED_OF_LIGHT_MPS / (2.0 * sampled_bandwidth_hz)


range_resolution_m = range_bin_m


def max_range_m(radar: RadarConfig) -> float:
    """Largest unambiguous range: beat frequency equal to the sample rate."""
    return radar.samples_per_chirp * range_bin_m(radar)


def velocity_resolution_mps(radar: RadarConfig) -> float:
    return wavelength_m(radar) / (2.0 * radar.chirps_per_frame * chirp_interval_s(radar))


def max_velocity_mps(radar: RadarConfig) -> float:
    """Largest unambiguous radial speed: the axis spans [-max, +max)."""
    return wavelength_m(radar) / (4.0 * chirp_interval_s(radar))


def range_axis_m(radar: RadarConfig) -> np.ndarray:
    """Range of each bin centre, shape (num_range_bins,), float64, metres."""
    return np.arange(radar.samples_per_chirp) * range_bin_m(radar)


def velocity_axis_mps(radar: RadarConfig) -> np.ndarray:
    """Radial velocity of each Doppler bin centre, shape (num_doppler_bins,), m/s (positive: approaching)."""
    n = radar.chirps_per_frame
    return (np.arange(n) - n // 2) * velocity_resolution_mps(radar)


def range_to_bin(radar: RadarConfig, range_m) -> np.ndarray:
    """Nearest range bin (int), with aliasing beyond the maximum range."""
    return np.mod(np.rint(np.asarray(range_m) / range_bin_m(radar)).astype(np.int64), radar.samples_per_chirp)


def velocity_to_bin(radar: RadarConfig, velocity_mps) -> np.ndarray:
    """Nearest Doppler bin (int), with aliasing beyond the unambiguous velocity."""
    n = radar.chirps_per_frame
    k = np.rint(np.asarray(velocity_mps) / velocity_resolution_mps(radar)).astype(np.int64)
    return np.mod(k + n // 2, n)


def window(spec: str, n: int) -> np.ndarray:
    """A DFT-even (periodic) window, shape (n,), float64.

    ``spec`` is ``hann``, ``hamming``, ``blackman``, ``rectangular``,
    ``chebyshev[:sidelobe_db]`` (default 80) or ``taylor[:sidelobe_db]`` (default 35).
    """
    name, _, arg = spec.partition(":")
    if name == "hann":
        return sw.hann(n, sym=False)
    if name == "hamming":
        return sw.hamming(n, sym=False)
    if name == "blackman":
        return sw.blackman(n, sym=False)
    if name == "rectangular":
        return np.ones(n)
    if name == "chebyshev":
        return sw.chebwin(n, at=float(arg or 80.0), sym=False)
    if name == "taylor":
        return sw.taylor(n, nbar=4, sll=float(arg or 35.0), sym=False)
    raise ValueError(f"unknown window {spec!r}")


def window_gains(range_window: np.ndarray, doppler_window: np.ndarray) -> tuple[float, float]:
    """(coherent amplitude gain, noise power gain) of the 2-D windowed FFT:
    ``sum(w_r) sum(w_d)`` for an on-bin tone, ``sum(w_r^2) sum(w_d^2)`` for white noise."""
    return (float(range_window.sum() * doppler_window.sum()),
            float((range_window ** 2).sum() * (doppler_window ** 2).sum()))


def describe(radar: RadarConfig) -> dict:
    """The derived quantities users check first, in SI units."""
    return {
        "wavelength_m": wavelength_m(radar),
        "chirp_slope_hz_per_s": chirp_slope_hz_per_s(radar),
        "range_resolution_m": range_bin_m(radar),
        "max_range_m": max_range_m(radar),
        "velocity_resolution_mps": velocity_resolution_mps(radar),
        "max_velocity_mps": max_velocity_mps(radar),
        "num_range_bins": radar.samples_per_chirp,
        "num_doppler_bins": radar.chirps_per_frame,
    }
