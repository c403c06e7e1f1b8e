"""Ground, drifting and volume clutter as slow-time processes on range cells.

Each range cell holds one clutter scatterer at a random position inside the cell
whose slow-time amplitude is a complex Gaussian process with a Gaussian Doppler
spectrum (mean, spread), scaled by a per-cell texture (compound-Gaussian model:
Rayleigh, K or Weibull-textured amplitudes) and a range power law.
"""
from __future__ import annotations

import numpy as np

from rd_unet.config import ClutterConfig, ClutterSet, RadarConfig
from rd_unet.sim import radar as rd
from rd_unet.sim.targets import amplitude_per_sample
from scipy.special import gamma as gamma_fn


def texture(cfg: ClutterConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-cell power texture, mean 1."""
    if cfg.distribution == "k":
        return rng.gamma(cfg.shape, 1.0 / cfg.shape, n)
    if cfg.distribution == "weibull":
        amp = rng.weibull(cfg.shape, n)
        return amp ** 2 / gamma_fn(1.0 + 2.0 / cfg.shape)
    return np.ones(n)


def doppler_spectrum(radar: RadarConfig, mean_velocity_mps: float, spread_mps: float) -> np.ndarray:
    """Gaussian Doppler power spectrum over the (shifted) Doppler bins, sums to 1.

    Distances wrap around the unambiguous interval; a spread below a quarter of a
    velocity bin is widened to it, so that any mean falls on some bin.
    """
    dv = rd.velocity_resolution_mps(radar)
    span = 2 * rd.max_velocity_mps(radar)
    d = rd.velocity_axis_mps(radar) - mean_velocity_mps
    d = (d + span / 2) % span - span / 2
    sigma = max(spread_mps, 0.25 * dv)
    s = np.exp(-0.5 * (d / sigma) ** 2)
    return s / s.sum()


def clutter_cells(cfgs: ClutterSet, radar: RadarConfig, rng: np.random.Generator,
                  range_window: np.ndarray, doppler_window: np.ndarray):
    """Clutter of one map, in the Doppler-line domain, or None without clutter.

    Returns ``(range_m (R,), lines (L,), coeff (L, R) complex64)``: one scatterer per
    range cell at ``range_m``, whose slow-time amplitude is a sum of on-bin Doppler
    lines; ``coeff[l, k]`` is the complex amplitude of line ``lines[l]`` (an index of
    the shifted Doppler axis) in cell ``k``. Lines not listed are zero.
    """
    components = [c for c in (cfgs.ground, cfgs.drifting, cfgs.volume) if c.enabled]
    if not components:
        return None
    n_r, n_d = radar.samples_per_chirp, radar.chirps_per_frame
    dr = rd.range_bin_m(radar)
    offset = rng.random(n_r) - 0.5
    offset[0] = abs(offset[0])
    cell_range_m = (np.arange(n_r) + offset) * dr
    # Independent complex Gaussian components sum to one whose variance is the sum of
    # theirs, so all components share a single draw with their variances added.
    variance = np.zeros((n_d, n_r))
    for cfg in components:
        lo, hi = cfg.range_m
        inside = (cell_range_m >= lo) & (cell_range_m <= hi)
        if not inside.any():
            continue
        cnr_lin = 10 ** (rng.uniform(*cfg.cnr_db) / 10)
        r0 = max(lo, dr)
        falloff = (r0 / np.maximum(cell_range_m, r0)) ** cfg.range_exponent
        power = cnr_lin * falloff * texture(cfg, rng, n_r) * inside
        amp2 = amplitude_per_sample(power, range_window, doppler_window) ** 2          # (R,)
        mean_v = rng.uniform(*cfg.mean_velocity_mps) - cfg.ego_velocity_mps
        variance += np.outer(doppler_spectrum(radar, mean_v, rng.uniform(*cfg.spread_mps)), amp2)
    # Only Doppler lines carrying more than -40 dB of the noise power in some cell are
    # drawn: the rest would add less than 1e-4 to the map's noise.
    floor = amplitude_per_sample(1e-4, range_window, doppler_window) ** 2
    lines = np.flatnonzero(variance.max(axis=1) > floor)
    variance = variance[lines]
    keep = variance > floor                                   # (L, R): draw only these entries
    white = np.zeros((lines.size, n_r), np.complex64)
    draws = rng.standard_normal((int(keep.sum()), 2), dtype=np.float32).view(np.complex64)[:, 0]
    white[keep] = draws * np.sqrt(variance[keep] / 2).astype(np.float32)
    return cell_range_m, lines, white
