"""Simulated point targets added to recorded range-Doppler maps.

A recorded map has no ground truth; adding targets of known position and SNR to it
gives one, with the recording's real clutter, interference and noise around them
(``rd-unet evaluate`` scores such a set like a simulated one: docs/metrics.md,
examples/openradar/injected_targets.py).

A point target at fractional bin ``f0`` of an ``n``-point windowed DFT has the power
response

    |sum_m w[m] exp(2j pi (f0 - k) m / n)|^2 / (sum_m w[m])^2

in bin ``k`` (1 in its own bin when on-bin); a map's response is the outer product of
the Doppler and the range responses. Its ``snr_db`` is the on-bin peak over the local
noise floor: the range column's median power over Doppler divided by ln 2 (the mean
of exponentially distributed noise power; the median ignores a zero-Doppler ridge and
targets that hold less than half of the column). The target is added in power: the
expected power of a target added with a random phase to the recorded field, which a
power map no longer holds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rd_unet.sim.radar import window
from rd_unet.sim.targets import TARGET_DTYPE

LN2 = float(np.log(2.0))


def window_response(spec: str, n: int, offset_bins: float) -> np.ndarray:
    """(n,) power response, in bins 0..n-1, of a tone at fractional bin ``offset_bins``
    through an ``n``-point ``spec`` window (rd_unet.sim.radar.window) and DFT; 1 at an
    on-bin tone's own bin."""
    w = window(spec, n)
    m = np.arange(n)
    phase = np.exp(2j * np.pi * (float(offset_bins) - m[:, None]) * m[None, :] / n)     # (bin k, sample m)
    return np.abs(phase @ w) ** 2 / w.sum() ** 2


def column_floor(power: np.ndarray) -> np.ndarray:
    """(..., D, R) power -> (..., 1, R): each range column's noise floor, median over
    Doppler / ln 2 (the mean of exponentially distributed noise power)."""
    return np.median(power, axis=-2, keepdims=True) / LN2


@dataclass(frozen=True)
class InjectedMaps:
    """Recorded maps with targets: ``noisy`` = background + ``clean`` (N, D, R) linear
    power; ``targets`` one TARGET_DTYPE row per target (``map_index`` 0..N-1)."""

    noisy: np.ndarray
    clean: np.ndarray
    targets: np.ndarray


def inject_targets(background, rng: np.random.Generator, *, count=(2, 6), snr_db=(0.0, 25.0),
                   range_window: str = "hann", doppler_window: str = "hann", allowed=None,
                   separation_bins: int = 6, range_m=None, velocity_mps=None) -> InjectedMaps:
    """Add point targets to recorded maps.

    Parameters
    ----------
    background : array (N, D, R)
        Recorded linear power, Doppler first.
    rng : numpy.random.Generator
        Every draw comes from it.
    count : (int, int)
        Targets per map, drawn uniformly from ``count[0]..count[1]``.
    snr_db : (float, float)
        On-bin peak over the local noise floor (``column_floor``), drawn uniformly in dB.
    range_window, doppler_window : str
        The windows the recording was processed with (rd_unet.sim.radar.window).
    allowed : bool array (D, R) or (N, D, R), optional
        Cells a target may sit in (e.g. away from the recording's own movers); default all.
        Range columns whose floor is zero (zero padding) are never used: no SNR is defined there.
    separation_bins : int
        Targets of a map are at least this many bins apart in Doppler or in range.
    range_m, velocity_mps : arrays (R,), (D,), optional
        The map's axes, for the table's ``range_m`` and ``velocity_mps`` (NaN without them).
    """
    background = np.asarray(background)
    if background.ndim != 3 or min(background.shape) == 0:
        raise ValueError(f"background: expected a non-empty (maps, doppler, range) array, got shape {background.shape}")
    if not np.all(np.isfinite(background)) or background.min() < 0:
        raise ValueError("background: expected finite linear power >= 0 (convert dB or complex maps to power first)")
    lo, hi = (int(c) for c in count)
    if not 0 <= lo <= hi:
        raise ValueError(f"count: expected 0 <= low <= high, got {tuple(count)}")
    s_lo, s_hi = (float(s) for s in snr_db)
    if not s_lo <= s_hi:
        raise ValueError(f"snr_db: expected low <= high, got {tuple(snr_db)}")
    n, d, r = background.shape
    allowed = np.ones((d, r), bool) if allowed is None else np.asarray(allowed, bool)
    if allowed.shape not in ((d, r), (n, d, r)):
        raise ValueError(f"allowed: expected shape {(d, r)} or {(n, d, r)}, got {allowed.shape}")
    allowed = np.broadcast_to(allowed, (n, d, r))
    for axis, length in (("range_m", r), ("velocity_mps", d)):
        values = range_m if axis == "range_m" else velocity_mps
        if values is not None and np.shape(values) != (length,):
            raise ValueError(f"{axis}: expected {length} values (one per bin), got shape {np.shape(values)}")
    floor = column_floor(background.astype(np.float64))[:, 0]                          # (N, R)
    # a column whose floor is zero (zero padding, a blanked range gate) has no SNR to set
    allowed = allowed & (floor > 0)[:, None, :]
    clean = np.zeros((n, d, r))
    rows = []
    for i in range(n):
        cells = np.argwhere(allowed[i])
        want = int(rng.integers(lo, hi + 1))
        placed = []
        for cell in rng.permutation(cells)[:max(64 * want, 256)] if want else ():
            if len(placed) == want:
                break
            if any(abs(cell[0] - a) < separation_bins and abs(cell[1] - b) < separation_bins for a, b, *_ in placed):
                continue
            f_d, f_r = cell + rng.uniform(-0.5, 0.5, 2)
            snr = float(rng.uniform(s_lo, s_hi))
            placed.append((int(cell[0]), int(cell[1]), f_d, f_r, snr))
        if len(placed) < want:
            raise ValueError(f"background map {i}: room for {len(placed)} targets {separation_bins} bins apart in "
                             f"the allowed cells (range columns whose noise floor is zero left out), {want} asked; "
                             "allow more cells or lower count/separation_bins")
        for k, (db, rb, f_d, f_r, snr) in enumerate(placed):
            peak = floor[i, rb] * 10.0 ** (snr / 10.0)
            clean[i] += peak * np.outer(window_response(doppler_window, d, f_d), window_response(range_window, r, f_r))
            rows.append((i, k, db, rb, f_d, f_r, snr))
    targets = np.zeros(len(rows), TARGET_DTYPE)
    for j, (i, k, db, rb, f_d, f_r, snr) in enumerate(rows):
        near = clean[i, max(db - 1, 0):db + 2, max(rb - 1, 0):rb + 2].max()
        t = targets[j]
        t["map_index"], t["target_id"], t["doppler_bin"], t["range_bin"] = i, k, db, rb
        t["snr_db"] = t["realised_snr_db"] = snr
        t["peak_snr_db"] = 10.0 * np.log10(near / floor[i, rb])
        t["range_m"] = np.interp(f_r, np.arange(r), range_m) if range_m is not None else np.nan
        t["velocity_mps"] = np.interp(f_d, np.arange(d), velocity_mps) if velocity_mps is not None else np.nan
        t["swerling"], t["extended"], t["num_scatterers"] = 0, 0, 1
    return InjectedMaps(background + clean, clean, targets)
