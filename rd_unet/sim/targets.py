"""Target sampling: count, range, velocity, SNR, Swerling fluctuation, extent.

Amplitudes are per beat-signal sample, in units where the thermal noise has unit
variance per sample. ``snr_db`` is defined in the RD map: the peak power of an
on-bin point target in the noise-free map over the mean noise power of one cell.
"""
from __future__ import annotations

import numpy as np

from rd_unet.config import TargetConfig
from rd_unet.sim.radar import window_gains

TARGET_DTYPE = np.dtype([
    ("map_index", np.int64),
    ("target_id", np.int32),
    ("range_m", np.float64),
    ("velocity_mps", np.float64),
    ("range_bin", np.int32),
    ("doppler_bin", np.int32),
    ("snr_db", np.float64),          # mean SNR of the draw (an on-bin point target's peak)
    ("realised_snr_db", np.float64),  # after Swerling fluctuation, on-bin
    ("peak_snr_db", np.float64),      # measured: clean-map maximum within +-1 cell
    ("swerling", np.int8),
    ("extended", np.int8),
    ("num_scatterers", np.int32),
    ("extent_range_m", np.float64),
    ("extent_velocity_mps", np.float64),
])


def amplitude_per_sample(snr_lin, range_window: np.ndarray, doppler_window: np.ndarray) -> np.ndarray:
    """Beat-sample amplitude whose on-bin RD peak has power ``snr_lin`` over unit cell noise.

    With windows w_r, w_d the peak is |a|^2 (sum w_r)^2 (sum w_d)^2 and the cell noise
    sum(w_r^2) sum(w_d^2); the map is divided by the square root of the latter.
    """
    coherent, noise = window_gains(range_window, doppler_window)
    return np.sqrt(snr_lin) * np.sqrt(noise) / coherent


def swerling_power(rng: np.random.Generator, swerling: np.ndarray) -> np.ndarray:
    """Power multipliers (mean 1): 1 for Swerling 0, exponential for 1, chi-square(4)/4 for 3."""
    out = np.ones(swerling.shape)
    one = swerling == 1
    three = swerling == 3
    n_one, n_three = np.count_nonzero(one), np.count_nonzero(three)
    if n_one:
        out[one] = rng.exponential(1.0, n_one)
    if n_three:
        out[three] = rng.gamma(2.0, 0.5, n_three)
    return out


def draw_count(cfg: TargetConfig, rng: np.random.Generator) -> int:
    lo, hi = cfg.count
    if cfg.count_distribution == "poisson":
        mean = cfg.count_mean or 0.5 * (lo + hi)
        return int(np.clip(rng.poisson(mean), lo, hi))
    return int(rng.integers(lo, hi + 1))


def _scaled(u: np.ndarray, interval) -> np.ndarray:
    """Uniform [0, 1) draws mapped onto [low, high)."""
    lo, hi = interval
    return lo + (hi - lo) * u


def target_draws(cfg: TargetConfig, rng: np.random.Generator) -> tuple:
    """Every random draw of one map's targets, in order: ``(u (8, n) or None, fluctuation (n,))``.

    ``u`` holds a block of uniforms, a row per quantity (range, velocity, SNR, Swerling
    case, extended or not, scatterer count, extent in range and in velocity), and
    ``fluctuation`` the Swerling power multipliers. ``targets_from_draws`` turns the
    draws of many maps into their tables in one pass.
    """
    if cfg.fixed:
        return None, swerling_power(rng, np.array([f.swerling for f in cfg.fixed]))
    n = draw_count(cfg, rng)
    u = rng.random((8, n))
    return u, swerling_power(rng, np.asarray(cfg.swerling)[(u[3] * len(cfg.swerling)).astype(np.int64)])


def targets_from_draws(cfg: TargetConfig, draws) -> np.ndarray:
    """The target table of maps whose ``target_draws`` are ``draws``, concatenated in map order."""
    counts = [f.size for _, f in draws]
    n = sum(counts)
    t = np.zeros(n, TARGET_DTYPE)
    t["target_id"] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    fluctuation = np.concatenate([f for _, f in draws]) if len(draws) > 1 else draws[0][1]
    if cfg.fixed:
        t["range_m"] = np.tile([f.range_m for f in cfg.fixed], len(draws))
        t["velocity_mps"] = np.tile([f.velocity_mps for f in cfg.fixed], len(draws))
        t["snr_db"] = np.tile([f.snr_db for f in cfg.fixed], len(draws))
        t["swerling"] = np.tile([f.swerling for f in cfg.fixed], len(draws))
        t["num_scatterers"] = 1
    else:
        u = np.concatenate([x for x, _ in draws], axis=1) if len(draws) > 1 else draws[0][0]
        t["range_m"] = _scaled(u[0], cfg.range_m)
        t["velocity_mps"] = _scaled(u[1], cfg.velocity_mps)
        t["snr_db"] = _scaled(u[2], cfg.snr_db)
        t["swerling"] = np.asarray(cfg.swerling)[(u[3] * len(cfg.swerling)).astype(np.int64)]
        extended = u[4] < cfg.extended_fraction
        t["extended"] = extended
        t["num_scatterers"] = _num_scatterers(cfg, u)
        t["extent_range_m"] = np.where(extended, _scaled(u[6], cfg.extent_range_m), 0.0)
        t["extent_velocity_mps"] = np.where(extended, _scaled(u[7], cfg.extent_velocity_mps), 0.0)
    t["realised_snr_db"] = t["snr_db"] + 10 * np.log10(fluctuation)
    return t


def scatterer_draws(count: int, rng: np.random.Generator) -> np.ndarray:
    """One map's scatterer draws: uniforms (3, count) for range and velocity offsets and phase."""
    # three rows in one call: the same numbers as three calls of ``count``
    return rng.random(3 * count).reshape(3, count)


def scatterer_count(cfg: TargetConfig, u) -> int:
    """Number of scatterers of one map's targets, from its ``target_draws``."""
    return len(cfg.fixed) if u is None else int(_num_scatterers(cfg, u).sum())


def _num_scatterers(cfg: TargetConfig, u: np.ndarray) -> np.ndarray:
    """Scatterers per target: a count drawn in ``cfg.scatterers`` for extended targets, else 1."""
    lo, hi = cfg.scatterers
    return np.where(u[4] < cfg.extended_fraction, lo + (u[5] * (hi - lo + 1)).astype(np.int64), 1)


def scatterers_from_draws(targets: np.ndarray, u: np.ndarray, amplitude_gain: float):
    """``scatterers`` from ``scatterer_draws`` (of one map, or of many maps concatenated in order)."""
    n_sc = targets["num_scatterers"].astype(int)
    owner = np.repeat(np.arange(len(targets)), n_sc)
    rng_m = targets["range_m"][owner] + (u[0] - 0.5) * targets["extent_range_m"][owner]
    vel = targets["velocity_mps"][owner] + (u[1] - 0.5) * targets["extent_velocity_mps"][owner]
    power = 10 ** (targets["realised_snr_db"][owner] / 10) / n_sc[owner]
    phase = np.exp(2j * np.pi * u[2])
    amp = np.sqrt(power) * amplitude_gain * phase
    return np.maximum(rng_m, 0.0), vel, amp
