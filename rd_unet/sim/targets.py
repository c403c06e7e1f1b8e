"""Target sampling: count, range, velocity, SNR, Swerling fluctuation, extent.

Amplitudes are per beat-signal sample, in units where the thermal noise has unit
variance per sample. ``snr_db`` is defined in the RD map: the peak power of an
on-bin point target in the noise-free map over the mean noise power of one cell.
"""
from __future__ import annotations

import numpy as np

from rd_unet.config import TargetConfig

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
    coherent = range_window.sum() * doppler_window.sum()
    noise = np.sqrt((range_window ** 2).sum() * (doppler_window ** 2).sum())
    return np.sqrt(snr_lin) * noise / coherent


def swerling_power(rng: np.random.Generator, swerling: np.ndarray) -> np.ndarray:
    """Power multipliers (mean 1): 1 for Swerling 0, exponential for 1, chi-square(4)/4 for 3."""
    out = np.ones(swerling.shape)
    one = swerling == 1
    three = swerling == 3
    out[one] = rng.exponential(1.0, one.sum())
    out[three] = rng.gamma(2.0, 0.5, three.sum())
    return out


def draw_count(cfg: TargetConfig, rng: np.random.Generator) -> int:
    lo, hi = cfg.count
    if cfg.count_distribution == "poisson":
        mean = cfg.count_mean or 0.5 * (lo + hi)
        return int(np.clip(rng.poisson(mean), lo, hi))
    return int(rng.integers(lo, hi + 1))


def draw_targets(cfg: TargetConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw one map's targets: a structured array with TARGET_DTYPE (bins and peaks unfilled)."""
    if cfg.fixed:
        n = len(cfg.fixed)
        t = np.zeros(n, TARGET_DTYPE)
        t["range_m"] = [f.range_m for f in cfg.fixed]
        t["velocity_mps"] = [f.velocity_mps for f in cfg.fixed]
        t["snr_db"] = [f.snr_db for f in cfg.fixed]
        t["swerling"] = [f.swerling for f in cfg.fixed]
        t["num_scatterers"] = 1
    else:
        n = draw_count(cfg, rng)
        t = np.zeros(n, TARGET_DTYPE)
        t["range_m"] = rng.uniform(*cfg.range_m, n)
        t["velocity_mps"] = rng.uniform(*cfg.velocity_mps, n)
        t["snr_db"] = rng.uniform(*cfg.snr_db, n)
        t["swerling"] = rng.choice(np.asarray(cfg.swerling), n)
        extended = rng.random(n) < cfg.extended_fraction
        t["extended"] = extended
        t["num_scatterers"] = np.where(extended, rng.integers(cfg.scatterers[0], cfg.scatterers[1] + 1, n), 1)
        t["extent_range_m"] = np.where(extended, rng.uniform(*cfg.extent_range_m, n), 0.0)
        t["extent_velocity_mps"] = np.where(extended, rng.uniform(*cfg.extent_velocity_mps, n), 0.0)
    t["target_id"] = np.arange(n)
    t["realised_snr_db"] = t["snr_db"] + 10 * np.log10(swerling_power(rng, t["swerling"]))
    return t


def scatterers(targets: np.ndarray, rng: np.random.Generator, range_window, doppler_window):
    """Point scatterers of the targets: (range_m (K,), velocity_mps (K,), amplitude (K,) complex).

    An extended target of n scatterers spreads its realised power equally over
    scatterers placed uniformly in its extent box, each with a random phase.
    """
    n_sc = targets["num_scatterers"].astype(int)
    owner = np.repeat(np.arange(len(targets)), n_sc)
    k = owner.size
    rng_m = targets["range_m"][owner] + (rng.random(k) - 0.5) * targets["extent_range_m"][owner]
    vel = targets["velocity_mps"][owner] + (rng.random(k) - 0.5) * targets["extent_velocity_mps"][owner]
    power = 10 ** (targets["realised_snr_db"][owner] / 10) / n_sc[owner]
    phase = np.exp(2j * np.pi * rng.random(k))
    amp = amplitude_per_sample(power, range_window, doppler_window) * phase
    return np.maximum(rng_m, 0.0), vel, amp
