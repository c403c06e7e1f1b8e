"""Two-dimensional CFAR detectors (CA, GO, SO, OS) with thresholds derived from Pfa.

The training region of a cell under test (CUT) is the rectangle of half-sizes
``guard_cells + training_cells`` around it minus the guard rectangle of half-sizes
``guard_cells`` (the CUT included); cell counts are per side, as ``(Doppler, range)``.

* CA: threshold ``alpha * mean(training)``, ``alpha = N (Pfa^(-1/N) - 1)``.
* GO / SO: the training region is split into a leading and a lagging half and the
  threshold is ``alpha * max / min`` of the two half means. The split runs along
  range (cells at smaller / larger range; the CUT's own range column belongs to
  neither) when there are training cells along range, and along Doppler otherwise
  (training cells along Doppler only). ``alpha`` solves the exact false-alarm
  probability for halves of ``n1`` and ``n2`` cells, equal or not (closed form,
  :func:`go_so_pfa`; root found by Brent's method).
* OS: threshold ``alpha * x_(k)``, the k-th smallest training cell;
  ``Pfa = prod_{i<k} (N - i) / (N - i + alpha)``. Processed in blocks, so memory
  does not grow with the number of maps.

Edge rule (shared with the metrics in :mod:`rd_unet.eval.metrics`): **Doppler
wraps** (the Doppler FFT is circular, so the cells beyond the last Doppler bin are
the first ones); **range does not**: training cells beyond the first or last range
bin are dropped, and alpha is recomputed for the cells that remain (for OS the
rank is scaled to ``round(k N' / N)``). All thresholds assume independent,
exponentially distributed noise power (square-law detection of complex Gaussian noise).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize, special

METHODS = ("ca", "go", "so", "os")
OS_BLOCK_BYTES = 64 * 2 ** 20      # the gathered training cells of one OS block


# ----------------------------------------------------------------------------- threshold factors
def ca_alpha(n, pfa: float):
    """CA-CFAR factor on the training mean: N (Pfa^(-1/N) - 1). Works on arrays of N."""
    n = np.asarray(n, dtype=float)
    return n * (pfa ** (-1.0 / n) - 1.0)


def _half_pfa(alpha: float, n: int) -> float:
    """P(X > alpha * A): X unit exponential, A the mean of n unit exponentials."""
    return math.exp(-n * math.log1p(alpha / n))


def go_so_pfa(alpha: float, n1: int, n2: int, method: str) -> float:
    """Exact Pfa of GO/SO-CFAR: P(X > alpha * max|min(A, B)).

    X is the CUT's unit-exponential power, A and B the means of ``n1`` and ``n2``
    independent unit exponentials. With ``c = alpha + n1 + n2``,
    ``P(X > alpha min) = E[exp(-alpha min)] = integral exp(-alpha z) (f_A S_B + f_B S_A) dz``
    with S the Gamma survival functions (finite Poisson sums for integer shapes), which
    integrates term by term to
    ``sum_{j<n2} C(n1-1+j, j) n1^n1 n2^j / c^(n1+j) + (the same with 1 <-> 2)``:
    positive terms only, accurate at any Pfa. GO follows from
    ``P(X > a max) + P(X > a min) = P(X > a A) + P(X > a B)``. An empty half leaves
    the other half's CA law.
    """
    if n1 == 0 or n2 == 0:
        return _half_pfa(alpha, max(n1, n2))
    c = alpha + n1 + n2

    def part(na, nb):
        j = np.arange(nb)
        log_terms = (special.gammaln(na + j) - special.gammaln(na) - special.gammaln(j + 1)
                     + na * math.log(na) + j * math.log(nb) - (na + j) * math.log(c))
        return float(np.exp(log_terms).sum())

    so = part(n1, n2) + part(n2, n1)
    if method == "so":
        return so
    return _half_pfa(alpha, n1) + _half_pfa(alpha, n2) - so


def _solve_alpha(log_pfa, pfa: float) -> float:
    """The alpha > 0 where the decreasing function log_pfa(alpha) equals log(pfa)."""
    target = math.log(pfa)
    hi = 1.0
    while log_pfa(hi) > target:
        hi *= 2.0
    return optimize.brentq(lambda a: log_pfa(a) - target, 0.0, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps)


@lru_cache(maxsize=4096)
def go_so_alpha(n1: int, n2: int, pfa: float, method: str) -> float:
    """GO/SO factor on the half means for halves of n1 and n2 cells (exact, any n1, n2)."""
    if method not in ("go", "so"):
        raise ValueError(f"go_so_alpha: method must be 'go' or 'so', got {method!r}")
    # far beyond the root GO's difference of probabilities can round to <= 0: clamp
    return _solve_alpha(lambda a: math.log(max(go_so_pfa(a, n1, n2, method), 1e-300)), pfa)


def os_log_pfa(alpha: float, n: int, k: int) -> float:
    """log Pfa of OS-CFAR with threshold alpha * x_(k) over n cells: log prod_{i<k} (n-i)/(n-i+alpha)."""
    i = np.arange(k)
    return float(np.sum(np.log(n - i) - np.log(n - i + alpha)))


def os_pfa(alpha: float, n: int, k: int) -> float:
    return math.exp(os_log_pfa(alpha, n, k))


@lru_cache(maxsize=4096)
def os_alpha(n: int, k: int, pfa: float) -> float:
    return _solve_alpha(lambda a: os_log_pfa(a, n, k), pfa)


def default_rank(n: int) -> int:
    return max(1, int(round(0.75 * n)))


# ----------------------------------------------------------------------------- window sums
def _shift_sum(x, d_lo, d_hi, r_lo, r_hi):
    """Sum of x over Doppler offsets [d_lo, d_hi] (circular) and range offsets [r_lo, r_hi]
    (zeros beyond the map) of each cell."""
    if d_lo > d_hi or r_lo > r_hi:
        return np.zeros_like(x)
    lead = [(0, 0)] * (x.ndim - 2)
    pd_lo, pd_hi, pr_lo, pr_hi = max(0, -d_lo), max(0, d_hi), max(0, -r_lo), max(0, r_hi)
    xp = np.pad(x, lead + [(pd_lo, pd_hi), (0, 0)], mode="wrap")
    xp = np.pad(xp, lead + [(0, 0), (pr_lo, pr_hi)])
    c = xp.cumsum(-2).cumsum(-1)
    c = np.pad(c, lead + [(1, 0), (1, 0)])
    d, r = x.shape[-2:]
    i0, i1 = slice(pd_lo + d_lo, pd_lo + d_lo + d), slice(pd_lo + d_hi + 1, pd_lo + d_hi + 1 + d)
    j0, j1 = slice(pr_lo + r_lo, pr_lo + r_lo + r), slice(pr_lo + r_hi + 1, pr_lo + r_hi + 1 + r)
    return c[..., i1, j1] - c[..., i0, j1] - c[..., i1, j0] + c[..., i0, j0]


def split_axis(training_cells) -> str:
    """Along which axis GO/SO split the training region: ``"range"`` or ``"doppler"``."""
    return "range" if training_cells[1] > 0 else "doppler"


def _region_sums(x, guard, train):
    """Sums over the whole training region, and over its leading and lagging halves."""
    gd, gr = guard
    od, orr = gd + train[0], gr + train[1]
    total = _shift_sum(x, -od, od, -orr, orr) - _shift_sum(x, -gd, gd, -gr, gr)
    if split_axis(train) == "range":
        lead = _shift_sum(x, -od, od, -orr, -1) - _shift_sum(x, -gd, gd, -gr, -1)
        lag = _shift_sum(x, -od, od, 1, orr) - _shift_sum(x, -gd, gd, 1, gr)
    else:
        lead = _shift_sum(x, -od, -1, -orr, orr) - _shift_sum(x, -gd, -1, -gr, gr)
        lag = _shift_sum(x, 1, od, -orr, orr) - _shift_sum(x, 1, gd, -gr, gr)
    return total, lead, lag


def _check_window(shape, guard_cells, training_cells):
    for name, cells in (("guard_cells", guard_cells), ("training_cells", training_cells)):
        if len(cells) != 2 or any(int(c) != c or c < 0 for c in cells):
            raise ValueError(f"cfar_2d: {name} must be two integers >= 0 (Doppler, range), got {cells!r}")
    if training_cells[0] == 0 and training_cells[1] == 0:
        raise ValueError("cfar_2d: training_cells must not both be 0")
    span = 2 * (guard_cells[0] + training_cells[0]) + 1
    if span > shape[-2]:
        raise ValueError(f"cfar_2d: the window spans {span} Doppler bins but the map has {shape[-2]} "
                         "(Doppler wraps, so the window must fit in it)")


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
    _check_window(power.shape, guard_cells, training_cells)
    if np.any(power < 0) or not np.all(np.isfinite(power)):
        raise ValueError("cfar_2d: power must be finite and >= 0 (linear power, not dB or complex)")
    return power


def cell_counts(shape, guard_cells=(2, 2), training_cells=(4, 8)):
    """(all, leading, lagging) training-cell counts of each CUT of a (D, R) map (int arrays)."""
    ones = np.ones(tuple(shape)[-2:])
    return tuple(np.rint(a).astype(int) for a in _region_sums(ones, tuple(guard_cells), tuple(training_cells)))


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

    Raises
    ------
    ValueError
        Power that is negative, not finite or not 2-D/3-D; an unknown method; a Pfa
        outside (0, 1); a window wider than the map's Doppler axis.
    """
    power = _check(power, method, guard_cells, training_cells, pfa)
    guard, train = tuple(int(c) for c in guard_cells), tuple(int(c) for c in training_cells)
    n_all, n_lead, n_lag = cell_counts(power.shape, guard, train)
    if np.any(n_all == 0):
        raise ValueError(f"cfar_2d: the map {power.shape[-2:]} is too small for the training region")
    if method == "ca":
        total = _region_sums(power, guard, train)[0]
        threshold = ca_alpha(n_all, pfa) * total / n_all
    elif method in ("go", "so"):
        _, lead, lag = _region_sums(power, guard, train)
        # with Doppler wrapping the counts depend on the range column only
        alpha = np.array([go_so_alpha(int(a), int(b), pfa, method) for a, b in zip(n_lead[0], n_lag[0])])
        m_lead = np.where(n_lead > 0, lead / np.maximum(n_lead, 1), np.nan)
        m_lag = np.where(n_lag > 0, lag / np.maximum(n_lag, 1), np.nan)
        pick = np.fmax if method == "go" else np.fmin     # an empty half (NaN) is ignored
        threshold = alpha * pick(m_lead, m_lag)
    else:
        threshold = _os_threshold(power, guard, train, pfa, rank, n_all)
    return power > threshold, threshold


def _os_threshold(power, guard, train, pfa, rank, n_all):
    gd, gr = guard
    od, orr = gd + train[0], gr + train[1]
    mask = np.ones((2 * od + 1, 2 * orr + 1), bool)
    mask[od - gd:od + gd + 1, orr - gr:orr + gr + 1] = False
    n_full = int(mask.sum())
    k_full = rank if rank is not None else default_rank(n_full)
    if not 1 <= k_full <= n_full:
        raise ValueError(f"cfar_2d: rank must lie in [1, {n_full}], got {rank}")
    # with Doppler wrapping, the count and so the rank depend on the range column only
    k_col = np.clip(np.rint(k_full * n_all[0] / n_full).astype(int), 1, n_all[0])       # (R,)
    alpha_col = np.array([os_alpha(int(n), int(k), pfa) for n, k in zip(n_all[0], k_col)])
    stack = power if power.ndim == 3 else power[None]
    d_bins, r_bins = stack.shape[-2:]
    offsets = np.argwhere(mask)                       # (n_full, 2) offsets into the padded map
    # rows per block: the gathered (rows, R, n_full) float64 buffer stays within OS_BLOCK_BYTES
    rows = max(1, min(d_bins, OS_BLOCK_BYTES // (8 * r_bins * n_full)))
    buf = np.empty((rows, r_bins, n_full))
    groups = [(int(k) - 1, np.flatnonzero(k_col == k)) for k in np.unique(k_col)]
    threshold = np.empty_like(stack)
    for m in range(stack.shape[0]):
        # NaN beyond the range edges: partitioned last, so the k-th smallest is among real cells
        padded = np.pad(np.pad(stack[m], [(od, od), (0, 0)], mode="wrap"), [(0, 0), (orr, orr)],
                        constant_values=np.nan)
        for d0 in range(0, d_bins, rows):
            b = buf[:min(rows, d_bins - d0)]
            # a contiguous (rows, R, n) gather, one slice per offset, is several times faster
            # than fancy-indexing a sliding-window view, and partitions fast along its last axis
            for c, (i, j) in enumerate(offsets):
                b[..., c] = padded[d0 + i:d0 + i + b.shape[0], j:j + r_bins]
            for k, cols in groups:
                part = b[:, cols] if len(groups) > 1 else b
                part.partition(k, axis=-1)
                threshold[m][d0:d0 + b.shape[0], cols] = alpha_col[cols] * part[..., k]
    return threshold if power.ndim == 3 else threshold[0]


def training_cell_count(shape, guard_cells=(2, 2), training_cells=(4, 8)) -> np.ndarray:
    """Training cells of each CUT of a (D, R) map after the edge rule (int array (D, R))."""
    return cell_counts(shape, guard_cells, training_cells)[0]


def ca_statistic(power, *, guard_cells=(2, 2), training_cells=(4, 8)):
    """The CA-CFAR test statistic: power over the mean of its training cells (same edge rule).

    ``ca_statistic(p) > ca_alpha(training_cell_count(p.shape), pfa)`` is exactly
    CA-CFAR at ``pfa``; sweeping the threshold gives ROC curves at any measured
    false-alarm rate. Works on (D, R) maps and (N, D, R) stacks.
    """
    power = np.asarray(power, dtype=np.float64)
    _check_window(power.shape, guard_cells, training_cells)
    n_all = training_cell_count(power.shape, guard_cells, training_cells)
    mean = _region_sums(power, tuple(guard_cells), tuple(training_cells))[0] / n_all
    return power / np.maximum(mean, 1e-300)
