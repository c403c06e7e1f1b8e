"""Conventions of an RD map, stated once: axes, decibels, neighbourhoods.

A map is a ``(num_doppler_bins, num_range_bins)`` array of linear power (a batch
``(B, C, D, R)`` for the network). Zero velocity is Doppler row ``D // 2``. The
Doppler axis is periodic (the Doppler FFT is circular), so neighbourhoods **wrap** in
Doppler; range is not, so they are **clipped** at the first and last range bin.
"""
from __future__ import annotations

import numpy as np

POWER_FLOOR = 1e-30          # the smallest power taken to dB (0 W would be -inf dB)


def power_to_db(power, floor: float = POWER_FLOOR):
    """10 log10 of linear power, floored at ``floor`` (so that 0 gives a finite value)."""
    return 10.0 * np.log10(np.maximum(power, floor))


def db_to_power(db):
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 10.0)


def neighbourhood(doppler_bin, range_bin, shape, half=(1, 1)):
    """Cells within ``half = (hd, hr)`` of each (doppler_bin, range_bin), as index arrays.

    Returns ``rows (K, 2hd+1, 1)``, ``cols (K, 1, 2hr+1)`` (columns clipped into the map)
    and ``inside (K, 1, 2hr+1)`` (False where the column fell beyond the range edge), so
    that ``x[rows, cols]`` is each target's ``(K, 2hd+1, 2hr+1)`` block.
    """
    d_bins, r_bins = shape[-2:]
    hd, hr = half
    rows = (np.asarray(doppler_bin, np.int64).reshape(-1, 1, 1) + np.arange(-hd, hd + 1)[:, None]) % d_bins
    cols = np.asarray(range_bin, np.int64).reshape(-1, 1, 1) + np.arange(-hr, hr + 1)
    inside = (cols >= 0) & (cols < r_bins)
    return rows, np.clip(cols, 0, r_bins - 1), inside


def neighbourhood_max(x, doppler_bin, range_bin, half=(1, 1)) -> np.ndarray:
    """(K,) maximum of the (D, R) map ``x`` within ``half`` of each cell (clipping at the
    range edge repeats the edge cell, which cannot change a maximum)."""
    rows, cols, _ = neighbourhood(doppler_bin, range_bin, np.shape(x), half)
    block = (2 * half[0] + 1) * (2 * half[1] + 1)
    if rows.shape[0] == 0:                   # no targets: an empty result, not a reshape error
        return np.zeros(0, np.asarray(x).dtype)
    return np.asarray(x)[rows, cols].reshape(rows.shape[0], block).max(axis=1)
