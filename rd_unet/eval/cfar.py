"""Two-dimensional CFAR detectors (CA, GO, SO, OS) with thresholds derived from Pfa.

The training region of a cell under test (CUT) is the rectangle of half-sizes
``guard_cells + training_cells`` around it minus the guard rectangle of half-sizes
``guard_cells`` (the CUT included); cell counts are per side, as ``(Doppler, range)``.

* CA: threshold ``alpha * mean(training)``, ``alpha = N (Pfa^(-1/N) - 1)``.
* GO / SO: the training region is split into its leading (smaller range) and
  lagging (larger range) halves; the column of the CUT's own range belongs to
  neither. Threshold ``alpha * max / min`` of the two half means; alpha solves the
  closed-form Pfa for exponential noise.
* OS: threshold ``alpha * x_(k)``, the k-th smallest training cell;
  ``Pfa = prod_{i<k} (N - i) / (N - i + alpha)``.

Edge policy: training cells outside the map are dropped and alpha is recomputed
for the cells that remain (for OS the rank is scaled to ``round(k N' / N)``);
nothing wraps around. All thresholds assume independent, exponentially
distributed noise power (square-law detection of complex Gaussian noise).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, optimize, special

METHODS = ("ca", "go", "so", "os")


# ----------------------------------------------------------------------------- threshold factors
def ca_alpha(n, pfa: float):
    """CA-CFAR factor on the training mean: N (Pfa^(-1/N) - 1). Works on arrays of N."""
    n = np.asarray(n, dtype=float)
    return n * (pfa ** (-1.0 / n) - 1.0)


def _go_so_pfa_equal(alpha: float, n: int, method: str) -> float:
    """Closed form (Gandhi & Kassam) for two halves of n cells, threshold alpha * half-mean."""
    t = alpha / n           # factor on the half sums
    s = sum(special.comb(n + k - 1, k) * (2 + t) ** (-(n + k)) for k in range(n))
    so = 2 * s
    return (2 * (1 + t) ** (-n) - so) if method == "go" else so


def _go_so_pfa(alpha: float, n1: int, n2: int, method: str) -> float:
    """P(X > alpha * max|min(A, B)), A, B half means of n1, n2 unit exponentials, X unit exponential.

    E[exp(-alpha Z)] = integral alpha exp(-alpha z) F_Z(z) dz with F_Z the CDF of
    max or min of the two (independent, Gamma-distributed) half means.
    """
    if n1 == n2:
        return _go_so_pfa_equal(alpha, n1, method)
    if min(n1, n2) == 0:
        n = max(n1, n2)
        return (1 + alpha / n) ** (-n)
    z = _Z_GRID
    fa, fb = special.gammainc(n1, n1 * z), special.gammainc(n2, n2 * z)
    cdf = fa * fb if method == "go" else 1 - (1 - fa) * (1 - fb)
    # the integrand varies on scales >= min(1/alpha, 1/sqrt(n)) >> the grid step
    # beyond the grid F_Z = 1, whose part integrates to exp(-alpha z_max)
    return float(integrate.trapezoid(alpha * np.exp(-alpha * z) * cdf, z) + np.exp(-alpha * z[-1]))


_Z_GRID = np.linspace(0.0, 40.0, 20001)


@lru_cache(maxsize=4096)
def go_so_alpha(n1: int, n2: int, pfa: float, method: str) -> float:
    """GO/SO factor on the half means for halves of n1 and n2 cells."""
    # clamped: the closed form cancels to <= 0 far beyond the root
    f = lambda a: math.log(max(_go_so_pfa(a, n1, n2, method), 1e-300)) - math.log(pfa)  # noqa: E731
    hi = float(ca_alpha(max(1, min(n1, n2) if method == "go" else max(n1, n2)), pfa)) * 4 + 10
    while f(hi) > 0:
        hi *= 2
    return optimize.brentq(f, 1e-9, hi, xtol=1e-12, rtol=1e-13)


def os_log_pfa(alpha: float, n: int, k: int) -> float:
    """log Pfa of OS-CFAR with threshold alpha * x_(k) over n cells: log prod_{i<k} (n-i)/(n-i+alpha)."""
    i = np.arange(k)
    return float(np.sum(np.log(n - i) - np.log(n - i + alpha)))


def os_pfa(alpha: float, n: int, k: int) -> float:
    return math.exp(os_log_pfa(alpha, n, k))


@lru_cache(maxsize=4096)
def os_alpha(n: int, k: int, pfa: float) -> float:
    f = lambda a: os_log_pfa(a, n, k) - math.log(pfa)  # noqa: E731
    return optimize.brentq(f, 1e-9, 1e12, xtol=1e-12, rtol=1e-13)


def default_rank(n: int) -> int:
    return max(1, int(round(0.75 * n)))


# ----------------------------------------------------------------------------- window sums
def _shift_sum(x, d_lo, d_hi, r_lo, r_hi):
    """Sum of x over Doppler offsets [d_lo, d_hi] and range offsets [r_lo, r_hi] of each cell (zeros outside)."""
    if d_lo > d_hi or r_lo > r_hi:
        return np.zeros_like(x)
    pad = [(0, 0)] * (x.ndim - 2) + [(max(0, -d_lo), max(0, d_hi)), (max(0, -r_lo), max(0, r_hi))]
    xp = np.pad(x, pad)
    c = xp.cumsum(-2).cumsum(-1)
    c = np.pad(c, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)])
    d, r = x.shape[-2:]
    o_d, o_r = max(0, -d_lo), max(0, -r_lo)
    i0, i1 = slice(o_d + d_lo, o_d + d_lo + d), slice(o_d + d_hi + 1, o_d + d_hi + 1 + d)
    j0, j1 = slice(o_r + r_lo, o_r + r_lo + r), slice(o_r + r_hi + 1, o_r + r_hi + 1 + r)
    return c[..., i1, j1] - c[..., i0, j1] - c[..., i1, j0] + c[..., i0, j0]


def _region_sums(x, guard, train):
    """Sums over the whole training region, and over its leading and lagging halves."""
    gd, gr = guard
    td, tr = train
    od, orr = gd + td, gr + tr
    # leading half: range offsets [-or, -1] minus the guard block [-gd..gd] x [-gr..-1]
    lead = _shift_sum(x, -od, od, -orr, -1) - _shift_sum(x, -gd, gd, -gr, -1)
    lag = _shift_sum(x, -od, od, 1, orr) - _shift_sum(x, -gd, gd, 1, gr)
    column = _shift_sum(x, -od, od, 0, 0) - _shift_sum(x, -gd, gd, 0, 0)
    return lead + lag + column, lead, lag


def _check(power, method, guard_cells, training_cells, pfa):
    power = np.asarray(power)
    if power.ndim not in (2, 3):
        raise ValueError(f"cfar_2d: expected a (D, R) map or (N, D, R) stack of power, got shape {power.shape}")
    # float64 throughout: the window sums are differences of cumulative sums, and a
    # map spans 60+ dB
    power = power.astype(np.float64, copy=False)
    if method not in METHODS:
        raise ValueError(f"cfar_2d: method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0 < pfa < 1:
        raise ValueError(f"cfar_2d: pfa must lie in (0, 1), got {pfa!r}")
    for name, cells in (("guard_cells", guard_cells), ("training_cells", training_cells)):
        if len(cells) != 2 or any(int(c) != c or c < 0 for c in cells):
            raise ValueError(f"cfar_2d: {name} must be two integers >= 0 (Doppler, range), got {cells!r}")
    if training_cells[0] == 0 and training_cells[1] == 0:
        raise ValueError("cfar_2d: training_cells must not both be 0")
    if np.any(power < 0) or not np.all(np.isfinite(power)):
        raise ValueError("cfar_2d: power must be finite and >= 0 (linear power, not dB or complex)")
    return power


def cfar_2d(power, *, method: str = "ca", guard_cells=(2, 2), training_cells=(4, 8), pfa: float = 1e-4,
            rank: int | None = None):
    """Two-dimensional CFAR detection on linear power.

    Parameters
    ----------
    power : array (D, R) or (N, D, R)
        Linear power (square-law), Doppler first.
    method : {"ca", "go", "so", "os"}
    guard_cells, training_cells : (int, int)
        Cells per side, as (Doppler, range).
    pfa : float
        Requested probability of false alarm per cell.
    rank : int, optional
        OS order statistic k (1-based) for the full training region; default
        ``round(0.75 N)``.

    Returns
    -------
    detections : bool array, shaped like ``power``
    threshold : float array, shaped like ``power``
    """
    power = _check(power, method, guard_cells, training_cells, pfa)
    guard, train = tuple(int(c) for c in guard_cells), tuple(int(c) for c in training_cells)
    ones = np.ones(power.shape[-2:])
    n_all, n_lead, n_lag = (np.rint(a).astype(int) for a in _region_sums(ones, guard, train))
    if np.any(n_all == 0):
        raise ValueError(f"cfar_2d: the map {power.shape[-2:]} is too small for the training region")
    if method == "ca":
        total = _region_sums(power, guard, train)[0]
        threshold = ca_alpha(n_all, pfa) * total / n_all
    elif method in ("go", "so"):
        _, lead, lag = _region_sums(power, guard, train)
        pairs = np.stack([n_lead, n_lag], -1).reshape(-1, 2)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        alphas = np.array([go_so_alpha(int(a), int(b), pfa, method) for a, b in uniq])[inverse.ravel()]
        alpha = alphas.reshape(n_all.shape)
        m_lead = np.where(n_lead > 0, lead / np.maximum(n_lead, 1), np.nan)
        m_lag = np.where(n_lag > 0, lag / np.maximum(n_lag, 1), np.nan)
        pick = np.fmax if method == "go" else np.fmin
        threshold = alpha * pick(m_lead, m_lag)
    else:
        threshold = _os_threshold(power, guard, train, pfa, rank, n_all)
    return power > threshold, threshold


def _os_threshold(power, guard, train, pfa, rank, n_all):
    gd, gr = guard
    td, tr = train
    od, orr = gd + td, gr + tr
    offsets = [(i, j) for i in range(-od, od + 1) for j in range(-orr, orr + 1) if not (abs(i) <= gd and abs(j) <= gr)]
    n_full = len(offsets)
    k_full = rank if rank is not None else default_rank(n_full)
    if not 1 <= k_full <= n_full:
        raise ValueError(f"cfar_2d: rank must lie in [1, {n_full}], got {rank}")
    stack = power if power.ndim == 3 else power[None]
    padded = np.pad(stack, [(0, 0), (od, od), (orr, orr)], constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * od + 1, 2 * orr + 1), axis=(-2, -1))
    mask = np.ones((2 * od + 1, 2 * orr + 1), bool)
    mask[od - gd:od + gd + 1, orr - gr:orr + gr + 1] = False
    cells = np.sort(windows[..., mask], axis=-1)        # (N, D, R, n_full); NaNs (outside the map) last
    k_eff = np.clip(np.rint(k_full * n_all / n_full).astype(int), 1, n_all)   # (D, R)
    kth = np.take_along_axis(cells, np.broadcast_to((k_eff - 1)[None, ..., None], cells.shape[:-1] + (1,)), -1)[..., 0]
    pairs = np.stack([n_all, k_eff], -1).reshape(-1, 2)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    alpha = np.array([os_alpha(int(n), int(k), pfa) for n, k in uniq])[inverse.ravel()].reshape(n_all.shape)
    threshold = alpha * kth
    return threshold if power.ndim == 3 else threshold[0]


def training_cell_count(shape, guard_cells=(2, 2), training_cells=(4, 8)) -> np.ndarray:
    """Training cells of each CUT of a (D, R) map after the edge policy (int array (D, R))."""
    ones = np.ones(tuple(shape)[-2:])
    return np.rint(_region_sums(ones, tuple(guard_cells), tuple(training_cells))[0]).astype(int)


def ca_statistic(power, *, guard_cells=(2, 2), training_cells=(4, 8)):
    """The CA-CFAR test statistic: power over the mean of its training cells (same edge policy).

    ``ca_statistic(p) > ca_alpha(training_cell_count(p.shape), pfa)`` is exactly
    CA-CFAR at ``pfa``; sweeping the threshold gives ROC curves at any measured
    false-alarm rate. Works on (D, R) maps and (N, D, R) stacks.
    """
    power = np.asarray(power, dtype=np.float64)
    n_all = training_cell_count(power.shape, guard_cells, training_cells)
    mean = _region_sums(power, tuple(guard_cells), tuple(training_cells))[0] / n_all
    return power / np.maximum(mean, 1e-300)
