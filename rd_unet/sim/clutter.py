"""Ground, drifting and volume clutter as slow-time processes on range cells.

Each range cell holds one clutter scatterer at a random position inside the cell
whose slow-time amplitude is a complex Gaussian process with a Gaussian Doppler
spectrum (mean, spread), scaled by a per-cell texture (compound-Gaussian model:
Rayleigh, K or Weibull-textured amplitudes) and a range power law.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from scipy.special import gamma as gamma_fn

from rd_unet.config import ClutterConfig, ClutterSet, RadarConfig
from rd_unet.sim import radar as rd
from rd_unet.sim.noise import complex_normal
from rd_unet.sim.targets import amplitude_per_sample


def _texture_draw(cfg: ClutterConfig, rng: np.random.Generator, n: int):
    """The draws behind a component's per-cell power texture (None for Rayleigh clutter)."""
    if cfg.distribution == "k":
        return rng.gamma(cfg.shape, 1.0 / cfg.shape, n)
    if cfg.distribution == "weibull":
        return rng.weibull(cfg.shape, n)
    return None


def _texture(cfg: ClutterConfig, drawn) -> np.ndarray:
    """Per-cell power texture, mean 1, from ``_texture_draw``'s values (K or Weibull; elementwise)."""
    if cfg.distribution == "weibull":
        return drawn ** 2 / gamma_fn(1.0 + 2.0 / cfg.shape)
    return drawn


def doppler_spectrum(radar: RadarConfig, mean_velocity_mps, spread_mps) -> np.ndarray:
    """Gaussian Doppler power spectrum over the (shifted) Doppler bins, sums to 1.

    Distances wrap around the unambiguous interval; a spread below a quarter of a
    velocity bin is widened to it, so that any mean falls on some bin. Scalars give a
    (D,) spectrum; (C,) arrays of means and spreads give (C, D), one per row.
    """
    axis, span, dv = _doppler_axis(radar)
    mean = np.asarray(mean_velocity_mps, float)[..., None]
    sigma = np.maximum(np.asarray(spread_mps, float), 0.25 * dv)[..., None]
    d = np.remainder(axis - (mean - span / 2), span)
    d -= span / 2
    d /= sigma
    s = np.exp(np.square(d) * -0.5)
    s /= s.sum(axis=-1, keepdims=True)
    return s


@functools.lru_cache(maxsize=64)
def _doppler_axis(radar: RadarConfig):
    return rd.velocity_axis_mps(radar), 2 * rd.max_velocity_mps(radar), rd.velocity_resolution_mps(radar)


@functools.lru_cache(maxsize=64)
def _power_gain(radar: RadarConfig) -> float:
    """Squared beat-sample amplitude per unit of on-bin RD power (see amplitude_per_sample)."""
    wr = rd.window(radar.range_window, radar.samples_per_chirp)
    wd = rd.window(radar.doppler_window, radar.chirps_per_frame)
    return float(amplitude_per_sample(1.0, wr, wd) ** 2)


@functools.lru_cache(maxsize=64)
def _components(cfgs: ClutterSet):
    """The enabled components and their parameters as (C, 1) columns."""
    comps = tuple(c for c in (cfgs.ground, cfgs.drifting, cfgs.volume) if c.enabled)

    def column(values):
        return np.array(values, float).reshape(-1, 1)

    return comps, {
        "lo": column([c.range_m[0] for c in comps]), "hi": column([c.range_m[1] for c in comps]),
        "exponent": column([c.range_exponent for c in comps]),
        "cnr_db": column([c.cnr_db for c in comps]).reshape(-1, 2),
        "mean": column([c.mean_velocity_mps for c in comps]).reshape(-1, 2),
        "spread": column([c.spread_mps for c in comps]).reshape(-1, 2),
        "ego": column([c.ego_velocity_mps for c in comps]).ravel(),
    }


def _uniform(u, interval):
    return interval[:, 0] + (interval[:, 1] - interval[:, 0]) * u


class ClutterDraw(NamedTuple):
    """One map's clutter draws in the Doppler-line domain (see ClutterModel.draw_coefficients)."""

    cells: np.ndarray        # (C,) range cells holding clutter
    range_m: np.ndarray      # (C,) each cell's scatterer range
    lines: np.ndarray        # (L,) Doppler lines (indices of the shifted Doppler axis)
    unit: np.ndarray         # (L, C) complex64 unit-variance draws of the lines' complex amplitudes
    std: np.ndarray          # (L, C) float32 their standard deviations (the amplitude is unit * std)


class ClutterModel:
    """``clutter_cells`` in three steps, so that a batch of maps shares the arithmetic:

    1. ``draw_parameters(rng)``, per map: cell positions, CNR, Doppler mean and
       spread, textures;
    2. ``fields(parameters)``, for a batch: each map's per-cell power and Doppler
       spectrum per component;
    3. ``draw_coefficients(fields, i, rng)``, per map: the lines and cells above the
       floor and unit-variance draws of their complex amplitudes (the amplitude is
       ``unit * std``, multiplied for a whole batch at once).

    Each map draws from its own generator in ``clutter_cells``'s order, and steps 2
    and 3 compute each map's values exactly as for a map alone.
    """

    def __init__(self, cfgs: ClutterSet, radar: RadarConfig):
        self.comps, self.p = _components(cfgs)
        self.enabled = bool(self.comps)
        self.radar = radar
        self.n_r = radar.samples_per_chirp
        self.dr = rd.range_bin_m(radar)
        self.gain = _power_gain(radar)
        self.r0 = np.maximum(self.p["lo"], self.dr) if self.enabled else None

    def draw_parameters(self, rng: np.random.Generator):
        offset = rng.random(self.n_r)
        u = rng.random((3, len(self.comps)))
        textures = [_texture_draw(cfg, rng, self.n_r) for cfg in self.comps]
        return offset, u, textures

    def fields(self, parameters):
        """(cell_range_m (B, R), amp2 (B, C, R), spectra (B, C, D)) of a batch's parameters."""
        p = self.p
        offset = np.stack([x[0] for x in parameters]) - 0.5
        offset[:, 0] = np.abs(offset[:, 0])
        u = np.stack([x[1] for x in parameters])                                      # (B, 3, C)
        cell_range_m = (np.arange(self.n_r) + offset) * self.dr                       # (B, R)
        cnr_lin = 10 ** (_uniform(u[:, 0], p["cnr_db"]) / 10)                          # (B, C)
        rng_m = cell_range_m[:, None, :]
        amp2 = (self.r0 / np.maximum(rng_m, self.r0)) ** p["exponent"]                # (B, C, R) range law
        amp2 *= (rng_m >= p["lo"]) & (rng_m <= p["hi"])
        amp2 *= (cnr_lin * self.gain)[..., None]
        for c, cfg in enumerate(self.comps):
            if cfg.distribution != "rayleigh":
                amp2[:, c] *= _texture(cfg, np.stack([x[2][c] for x in parameters]))
        spectra = doppler_spectrum(self.radar, _uniform(u[:, 1], p["mean"]) - p["ego"],
                                   _uniform(u[:, 2], p["spread"]))                     # (B, C, D)
        return cell_range_m, amp2, spectra

    def draw_coefficients(self, fields, i: int, rng: np.random.Generator):
        """Map ``i`` of ``fields``: a ClutterDraw (cells, range_m, lines, unit draws, std)."""
        cell_range_m, amp2, spectra = fields[0][i], fields[1][i], fields[2][i]
        # Independent complex Gaussian components sum to one whose variance is the sum of
        # theirs, so all components share a single draw with their variances added:
        # variance[l, k] = sum over components of spectra[c, l] * amp2[c, k]. Doppler lines
        # and range cells whose every entry is below -40 dB of the noise power are left
        # out: they would add less than 1e-4 to the map's noise.
        floor = 1e-4 * self.gain
        lines = np.flatnonzero(spectra.T @ amp2.max(axis=1) > floor)   # a line's largest possible entry
        variance = spectra[:, lines].T @ amp2                           # (L, R)
        cells = np.flatnonzero(variance.max(axis=0, initial=0.0) > floor)
        variance = variance[:, cells]
        return ClutterDraw(cells, cell_range_m[cells], lines, complex_normal(rng, variance.shape),
                           np.sqrt(variance, dtype=np.float32))
