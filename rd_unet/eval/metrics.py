"""SNR-gain and detection metrics (definitions in docs/metrics.md).

Cells: a target's *peak cell* is the clean map's maximum within +-1 cell of its
(doppler_bin, range_bin); *background* cells lie farther than a guard ring
(``guard`` cells plus the target's extent, Chebyshev distance, Doppler wrapping)
from every target. Detection scores are the CA-CFAR statistic (power over the mean
of its training cells); a target is detected if the score exceeds the threshold in
any cell within +-1 of its bins, and false alarms are counted on background cells.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import ncx2

from rd_unet.maps import neighbourhood, neighbourhood_max, power_to_db


def peak_cells(clean, targets):
    """(K, 2) int array of each target's peak cell (doppler, range) in the clean map."""
    rows, cols, _ = neighbourhood(targets["doppler_bin"], targets["range_bin"], clean.shape)
    block = np.asarray(clean)[rows, cols].reshape(len(targets), -1)                 # (K, 9)
    best = np.argmax(block, axis=1)
    a, b = np.unravel_index(best, (rows.shape[1], cols.shape[2]))
    k = np.arange(len(targets))
    return np.stack([rows[k, a, 0], cols[k, 0, b]], -1).astype(int).reshape(-1, 2)


def cell_masks(shape, targets, range_bin_m, velocity_bin_mps, guard: int = 3):
    """(target_mask, background_mask), bool (D, R): cells near targets, and cells beyond the guard ring
    (``guard`` cells plus half the target's extent, Doppler wrapping)."""
    near = np.zeros(shape, bool)
    for t in targets:
        ext_r = int(np.ceil(t["extent_range_m"] / (2 * range_bin_m))) if range_bin_m else 0
        ext_d = int(np.ceil(t["extent_velocity_mps"] / (2 * velocity_bin_mps))) if velocity_bin_mps else 0
        rows, cols, _ = neighbourhood(t["doppler_bin"], t["range_bin"], shape, (guard + ext_d, guard + ext_r))
        near[rows[0], cols[0]] = True
    return near, ~near


db = power_to_db


def snr_metrics(power, clean, targets, peaks, background):
    """Per-map SNR figures (dB) of one map; NaN where undefined (no targets)."""
    out = {"mask_sinr_db": np.nan, "recon_sinr_db": np.nan, "strongest_target_snr_db": np.nan,
           "peak_error_db": np.array([]), "floor_db": db(power[background].mean())}
    err = np.sum((np.sqrt(power) - np.sqrt(clean)) ** 2)
    out["recon_sinr_db"] = db(clean.sum()) - db(err)
    if len(targets) == 0:
        return out
    p_peaks = power[peaks[:, 0], peaks[:, 1]]
    bg = power[background].mean()
    out["mask_sinr_db"] = db(p_peaks.mean()) - db(bg)
    strongest = int(np.argmax(targets["snr_db"]))
    out["strongest_target_snr_db"] = db(p_peaks[strongest]) - db(bg)
    out["peak_error_db"] = db(p_peaks) - db(clean[peaks[:, 0], peaks[:, 1]])
    return out


def target_scores(score_map, targets):
    """Each target's detection score: the max of the score map within +-1 cell of its bins."""
    return neighbourhood_max(score_map, targets["doppler_bin"], targets["range_bin"])


def ideal_pd(clean, targets, pfa: float) -> np.ndarray:
    """Each target's Pd for the noise-limited ideal detector: the ceiling of detection.

    The ideal detector sees the target in thermal noise alone (no clutter, no
    interference), knows the noise power exactly, and thresholds every cell at the
    level whose false-alarm probability in that noise is ``pfa``; like every method
    in the report, it detects a target if any cell within +-1 of its bins crosses.
    A cell of clean power c plus circular Gaussian noise of unit mean power, ``|s + n|^2``,
    crosses ``T = -ln(pfa)`` with probability Marcum Q1(sqrt(2 c), sqrt(2 T)), i.e. the
    survival function of a non-central chi-square with 2 degrees of freedom at 2T.
    The 3 x 3 cells are taken as independent, which slightly overstates Pd (the window
    correlates neighbouring cells' noise): the figure is a ceiling, not an estimate.

    Parameters
    ----------
    clean : array (D, R)
        The clean map in units of the thermal noise's mean power per cell (rd_unet's
        datasets: noise mean power 1).
    targets : structured array with ``doppler_bin`` and ``range_bin``
    pfa : float
        False-alarm probability per cell, in (0, 1).

    Returns
    -------
    (K,) float64, each target's probability of detection.
    """
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa: expected a probability in (0, 1), got {pfa!r}")
    if len(targets) == 0:
        return np.zeros(0)
    # range does not wrap: edge targets have 6 cells
    rows, cols, inside = neighbourhood(targets["doppler_bin"], targets["range_bin"], clean.shape)
    power = np.asarray(clean, np.float64)[rows, cols]                                               # (K, 3, 3)
    miss = np.where(inside, ncx2.cdf(-2.0 * np.log(pfa), 2, 2.0 * power), 1.0)
    return 1.0 - miss.reshape(len(targets), 9).prod(axis=1)


def threshold_at_pfa(background_sorted, pfa: float):
    """Smallest threshold whose empirical false-alarm rate (scores > threshold) is <= pfa."""
    n = background_sorted.size
    allowed = int(np.floor(pfa * n))
    if allowed >= n:
        return -np.inf
    return background_sorted[n - allowed - 1]


def roc(target_sc, background_sorted, pfa_grid=None):
    """ROC over a log-spaced grid of empirical Pfa: (pfa (K,), pd (K,)), plus the AUC.

    AUC = P(target score > background score) + P(equal) / 2 (Mann-Whitney).
    """
    if pfa_grid is None:
        pfa_grid = np.logspace(-6, 0, 61)
    n = background_sorted.size
    thresholds = np.array([threshold_at_pfa(background_sorted, p) for p in pfa_grid])
    pd = np.array([np.mean(target_sc > t) if len(target_sc) else np.nan for t in thresholds])
    pfa = np.array([np.mean(background_sorted > t) if np.isfinite(t) else 1.0 for t in thresholds])
    if len(target_sc) and n:
        below = np.searchsorted(background_sorted, target_sc, side="left")
        below_or_eq = np.searchsorted(background_sorted, target_sc, side="right")
        auc = float(np.mean((below + below_or_eq) / 2) / n)
    else:
        auc = float("nan")
    return pfa, pd, auc


def pd_at(target_sc, background_sorted, pfa):
    t = threshold_at_pfa(background_sorted, pfa)
    return float(np.mean(target_sc > t)) if len(target_sc) else float("nan"), t


def pd_by_snr(target_sc, snr_db, threshold, edges_db):
    """Pd in SNR bands [edges[i], edges[i+1]) at a fixed threshold."""
    pd, counts = [], []
    for lo, hi in zip(edges_db[:-1], edges_db[1:]):
        sel = (snr_db >= lo) & (snr_db < hi)
        counts.append(int(sel.sum()))
        pd.append(float(np.mean(target_sc[sel] > threshold)) if sel.any() else None)
    return {"edges_db": [float(e) for e in edges_db], "pd": pd, "num_targets": counts}


def upper_quantile_db(power, q: float = 1e-4) -> float:
    """The (1 - q) power quantile of a map set in dB (re the input's mean noise power, 1 in
    simulated maps): issue 15's no-hallucination figure on noise-only maps."""
    return float(db(np.quantile(np.asarray(power, dtype=np.float64).ravel(), 1 - q)))


def tail_ratio_db(power, q: float = 1e-4):
    """The (1 - q) quantile over the median, in dB: how heavy the upper tail of a map set is."""
    return upper_quantile_db(power, q) - float(db(np.median(np.asarray(power, dtype=np.float64))))


# ----------------------------------------------------------------------------- per-target honesty
def erased(output, clean, targets, drop_db: float = 10.0) -> np.ndarray:
    """(K,) bool: the output's maximum within +-1 cell of a target is more than ``drop_db``
    below the clean map's peak there (Doppler wraps, range clips)."""
    d, r = targets["doppler_bin"], targets["range_bin"]
    return power_to_db(neighbourhood_max(output, d, r)) < power_to_db(neighbourhood_max(clean, d, r)) - drop_db


def buried(noisy, clean, targets, margin_db: float = 15.0) -> np.ndarray:
    """(K,) bool: the input's maximum within +-1 cell of a target is more than
    ``margin_db`` above the clean map's peak there: clutter or interference at least that
    much stronger than the target fills its cells, and no single-map method can give its
    power back (a method that keeps the clutter keeps the cells high; one that removes it
    "erases" the target). Noise alone rarely does it: with unit-mean exponential noise the
    nine cells pass 15 dB above a clean peak p with probability about 9 exp(-31.6 p), about
    2e-13 at p = 1 (0 dB) and 3e-3 at p = 0.25 (-6 dB)."""
    d, r = targets["doppler_bin"], targets["range_bin"]
    return power_to_db(neighbourhood_max(noisy, d, r)) > power_to_db(neighbourhood_max(clean, d, r)) + margin_db


def local_clutter_db(noisy, targets, half: int = 3, guard: int = 1) -> np.ndarray:
    """(K,) the mean level of the clutter and noise around each target of one (D, R) map,
    in dB over the map's noise floor: the median of the (2 half + 1)^2 cells around it
    less the (2 guard + 1)^2 at its centre, over the map's median (both medians over
    ln 2 estimate the mean of exponential power, so thermal noise alone gives about
    0 dB). Doppler wraps, range clips (cells past the range edges are left out)."""
    noisy = np.asarray(noisy)
    n_d, n_r = noisy.shape
    offsets = np.arange(-half, half + 1)
    ring = ~((np.abs(offsets)[:, None] <= guard) & (np.abs(offsets)[None, :] <= guard))
    out = np.empty(len(targets))
    for k, (d, r) in enumerate(zip(targets["doppler_bin"], targets["range_bin"])):
        cols = r + offsets
        inside = (cols >= 0) & (cols < n_r)
        block = noisy[np.ix_((d + offsets) % n_d, cols[inside])]
        out[k] = np.median(block[ring[:, inside]])
    with np.errstate(divide="ignore", invalid="ignore"):      # a map of zeros: nan, in no clutter
        return 10 * np.log10(out / np.median(noisy))


def false_alarm_clusters(alarms) -> int:
    """Number of 8-connected groups of True cells in a (D, R) map; Doppler wraps, range does not."""
    labels, n = ndimage.label(alarms, structure=np.ones((3, 3), bool))
    if n == 0:
        return 0
    parent = np.arange(n + 1)

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    top, bottom = labels[0], labels[-1]
    r_bins = labels.shape[1]
    for shift in (-1, 0, 1):       # the last row touches the first, diagonals included
        lo, hi = max(0, -shift), r_bins - max(0, shift)
        for a, b in zip(bottom[lo:hi], top[lo + shift:hi + shift]):
            if a and b:
                parent[root(a)] = root(b)
    return len({root(a) for a in range(1, n + 1)})


def isotonic_increasing(y, w) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of y (pool adjacent violators)."""
    blocks = []        # [value, weight, count]
    for yi, wi in zip(np.asarray(y, float), np.asarray(w, float)):
        blocks.append([yi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(n, v) for v, _, n in blocks]) if blocks else np.zeros(0)


def snr_at_pd(hits, snr_db, pd: float = 0.5, band_db: float = 1.0, min_targets: int = 5) -> float:
    """The target SNR (dB) at which the Pd-vs-SNR curve reaches ``pd``; NaN if it never does.

    Targets are grouped in ``band_db`` bands (bands with fewer than ``min_targets``
    targets are left out), the bands' Pd made non-decreasing in SNR by isotonic
    regression (weights: targets per band), and the first crossing of ``pd`` is
    interpolated linearly between band centres (the mean SNR of each band's targets).
    """
    hits, snr_db = np.asarray(hits, float), np.asarray(snr_db, float)
    if hits.size == 0:
        return float("nan")
    band = np.floor(snr_db / band_db).astype(np.int64)
    centres, rates, weights = [], [], []
    for b in np.unique(band):
        sel = band == b
        if sel.sum() >= min_targets:
            centres.append(snr_db[sel].mean())
            rates.append(hits[sel].mean())
            weights.append(sel.sum())
    if not centres:
        return float("nan")
    fit = isotonic_increasing(rates, weights)
    above = np.flatnonzero(fit >= pd)
    if above.size == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(centres[0]) if fit[0] == pd else float("nan")   # already above at the lowest band
    x0, x1, y0, y1 = centres[i - 1], centres[i], fit[i - 1], fit[i]
    return float(x0 + (pd - y0) * (x1 - x0) / (y1 - y0))


def partial_auc(pfa, pd, lo: float = 1e-6, hi: float = 1e-2) -> float:
    """Area under Pd over log10(Pfa) between ``lo`` and ``hi``, normalised to [0, 1]
    (trapezoid over the given points, which must cover [lo, hi] in increasing order)."""
    x, y = np.log10(np.asarray(pfa, float)), np.asarray(pd, float)
    sel = (x >= np.log10(lo) - 1e-12) & (x <= np.log10(hi) + 1e-12) & np.isfinite(y)
    x, y = x[sel], y[sel]
    if x.size < 2:
        return float("nan")
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def detection_f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
