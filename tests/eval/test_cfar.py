"""CFAR against references the module does not contain: Monte Carlo Pfa, factors
solved here by numerical quadrature of the detectors' defining integrals, and a
brute-force cell-by-cell loop with its own edge handling."""
import functools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, special

from rd_unet.eval.cfar import ca_alpha, ca_statistic, cfar_2d, training_cell_count

GUARD, TRAIN = (2, 2), (4, 8)


# ----------------------------------------------------------------------------- independent references
def _pfa_by_quadrature(alpha, cdf):
    """P(X > alpha Z) = E[exp(-alpha Z)] = int_0^inf alpha exp(-alpha z) F_Z(z) dz, X unit exponential."""
    # substituting u = alpha z: int_0^inf exp(-u) F_Z(u / alpha) du; beyond u = 60 F_Z ~ 1
    with warnings.catch_warnings():     # roundoff notices at epsrel 1e-10; the tests compare at 1e-7
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        head, _ = integrate.quad(lambda u: math.exp(-u) * cdf(u / alpha), 0.0, 60.0, epsabs=0.0,
                                 epsrel=1e-10, limit=100)
    return head + math.exp(-60.0)


def _alpha_by_quadrature(cdf, pfa):
    g = lambda a: math.log(_pfa_by_quadrature(a, cdf)) - math.log(pfa)  # noqa: E731
    return optimize.brentq(g, 1e-6, 1e7, xtol=1e-12, rtol=1e-12)


@functools.lru_cache(maxsize=None)
def _reference_alpha(method, pfa, n=None, n1=None, n2=None, k=None):
    """Threshold factor of each detector, from the law of its reference statistic Z."""
    if method == "ca":      # Z = mean of n exponentials ~ Gamma(n, 1/n)
        return _alpha_by_quadrature(lambda z: special.gammainc(n, n * z), pfa)
    if method == "os":      # Z = k-th smallest of n exponentials: F(z) = I_{1-e^-z}(k, n-k+1)
        return _alpha_by_quadrature(lambda z: special.betainc(k, n - k + 1, -math.expm1(-z)), pfa)
    if n1 == 0 or n2 == 0:
        return _reference_alpha("ca", pfa, n=max(n1, n2))
    fa = lambda z: special.gammainc(n1, n1 * z)  # noqa: E731
    fb = lambda z: special.gammainc(n2, n2 * z)  # noqa: E731
    if method == "go":      # Z = max of the half means
        return _alpha_by_quadrature(lambda z: fa(z) * fb(z), pfa)
    return _alpha_by_quadrature(lambda z: 1 - (1 - fa(z)) * (1 - fb(z)), pfa)


def _brute(power, method, guard, train, pfa, rank=None):
    """Thresholds cell by cell: Doppler wraps, range cells beyond the map are dropped."""
    d_bins, r_bins = power.shape
    gd, gr = guard
    td, tr = train
    thr = np.zeros_like(power)
    full = [(i, j) for i in range(-gd - td, gd + td + 1) for j in range(-gr - tr, gr + tr + 1)
            if not (abs(i) <= gd and abs(j) <= gr)]
    k_full = rank or max(1, round(0.75 * len(full)))
    alphas = {}
    for d in range(d_bins):
        for r in range(r_bins):
            kept = [(i, j) for i, j in full if 0 <= r + j < r_bins]
            vals = np.array([power[(d + i) % d_bins, r + j] for i, j in kept])
            if method == "ca":
                key = ("ca", len(vals))
                alphas.setdefault(key, _reference_alpha("ca", pfa, n=len(vals)))
                thr[d, r] = alphas[key] * vals.mean()
            elif method in ("go", "so"):
                axis = 1 if tr > 0 else 0          # split along range, or Doppler without range training
                lead = np.array([v for (o, v) in zip(kept, vals) if o[axis] < 0])
                lag = np.array([v for (o, v) in zip(kept, vals) if o[axis] > 0])
                key = (method, lead.size, lag.size)
                alphas.setdefault(key, _reference_alpha(method, pfa, n1=lead.size, n2=lag.size))
                means = [m.mean() for m in (lead, lag) if m.size]
                thr[d, r] = alphas[key] * (max if method == "go" else min)(means)
            else:
                k = min(max(1, round(k_full * len(vals) / len(full))), len(vals))
                key = ("os", len(vals), k)
                alphas.setdefault(key, _reference_alpha("os", pfa, n=len(vals), k=k))
                thr[d, r] = alphas[key] * np.sort(vals)[k - 1]
    return thr


def _within_3_sigma(det_blocks, pfa):
    """Measured Pfa within 3 sigma of the request; sigma from independent blocks (maps),
    since neighbouring cells share training cells. Asks for >= 100 expected false alarms."""
    counts = det_blocks.reshape(det_blocks.shape[0], -1).mean(axis=1)
    assert det_blocks.size * pfa >= 100
    binomial = math.sqrt(pfa * (1 - pfa) / det_blocks.size)
    sigma = max(counts.std(ddof=1) / math.sqrt(len(counts)), binomial)
    assert abs(counts.mean() - pfa) < 3 * sigma, (counts.mean(), pfa, sigma)


# ----------------------------------------------------------------------------- measured Pfa
@pytest.mark.parametrize("method,pfa,maps", [("ca", 1e-3, 40), ("go", 1e-3, 40), ("so", 1e-3, 40),
                                             ("os", 1e-3, 20), ("ca", 1e-4, 200)])
def test_measured_pfa_matches_requested(method, pfa, maps):
    x = np.random.default_rng(1).exponential(size=(maps, 64, 128))
    det, _ = cfar_2d(x, method=method, pfa=pfa, guard_cells=GUARD, training_cells=TRAIN)
    _within_3_sigma(det, pfa)


@pytest.mark.parametrize("method", ["go", "so"])
def test_go_so_hold_pfa_with_one_and_two_cell_halves(method):
    # training (0, 2) and no guard on a 5-bin range axis: column 1 has 1 leading and 2
    # lagging cells, column 3 the reverse, column 0 none and 2; rows are independent (no
    # Doppler training): 2e6 CUTs per column, 200 expected alarms at Pfa 1e-4
    pfa = 1e-4
    x = np.random.default_rng(7).exponential(size=(2_000_000, 5))
    det, _ = cfar_2d(x, method=method, guard_cells=(0, 0), training_cells=(0, 2), pfa=pfa)
    for column, n in ((1, 3), (3, 3), (0, 2)):
        assert training_cell_count(x.shape, (0, 0), (0, 2))[0, column] == n
        _within_3_sigma(det[:, column].reshape(100, -1), pfa)


@pytest.mark.parametrize("method", ["go", "so", "ca", "os"])
@pytest.mark.parametrize("halves", [(1, 2), (2, 1), (1, 1), (3, 7)])
@pytest.mark.parametrize("pfa", [1e-4, 1e-6])
def test_factors_equal_quadrature(method, halves, pfa):
    # thresholds on a map built so that every CUT sees one known configuration: the
    # factor is threshold / reference statistic, compared with the quadrature solution
    n1, n2 = halves
    x = np.ones((3, 2 * max(n1, n2) + 1 + 4))
    _, thr = cfar_2d(x, method=method, guard_cells=(0, 0), training_cells=(0, max(n1, n2)), pfa=pfa)
    r = n1                                    # n1 cells to the left, max(n1, n2) >= n2 to the right
    n_lead, n_lag = r, min(max(n1, n2), x.shape[1] - 1 - r)
    if method in ("go", "so"):
        expected = _reference_alpha(method, pfa, n1=n_lead, n2=n_lag)
    elif method == "ca":
        expected = _reference_alpha("ca", pfa, n=n_lead + n_lag)
    else:
        n_full = 2 * max(n1, n2)
        k = min(max(1, round(round(0.75 * n_full) * (n_lead + n_lag) / n_full)), n_lead + n_lag)
        expected = _reference_alpha("os", pfa, n=n_lead + n_lag, k=k)
    assert thr[1, r] == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("method", ["ca", "go", "so", "os"])
@pytest.mark.parametrize("guard,train", [((1, 2), (2, 3)), ((1, 0), (2, 0)), ((0, 2), (3, 0)), ((2, 0), (0, 3))])
def test_thresholds_equal_brute_force_cell_by_cell(method, guard, train):
    # covers every edge cell; windows with training along one axis only, with and without guard
    rng = np.random.default_rng(3)
    x = rng.exponential(size=(14, 22)) * rng.uniform(0.5, 5, (14, 22))
    _, thr = cfar_2d(x, method=method, guard_cells=guard, training_cells=train, pfa=1e-3)
    np.testing.assert_allclose(thr, _brute(x, method, guard, train, 1e-3), rtol=1e-7)


@pytest.mark.parametrize("method", ["go", "so"])
def test_doppler_only_training_holds_pfa(method):
    # was a division by zero: no range training cells, no range guard
    x = np.random.default_rng(11).exponential(size=(60, 64, 64))
    det, thr = cfar_2d(x, method=method, guard_cells=(1, 0), training_cells=(4, 0), pfa=1e-3)
    assert np.all(np.isfinite(thr))
    _within_3_sigma(det, 1e-3)


def test_doppler_wraps_and_range_does_not():
    x = np.random.default_rng(4).exponential(size=(16, 40))
    _, thr = cfar_2d(x, method="ca", guard_cells=(1, 1), training_cells=(2, 2), pfa=1e-3)
    # a Doppler-edge CUT equals the same CUT after rolling the map along Doppler
    _, rolled = cfar_2d(np.roll(x, 5, axis=0), method="ca", guard_cells=(1, 1), training_cells=(2, 2), pfa=1e-3)
    np.testing.assert_allclose(np.roll(thr, 5, axis=0), rolled, rtol=1e-12)
    n = training_cell_count(x.shape, (1, 1), (2, 2))
    assert np.all(n[:, 10] == n[0, 10]) and n[0, 0] < n[0, 10]      # only range edges lose cells


def test_batches_equal_single_maps():
    x = np.random.default_rng(0).exponential(size=(3, 20, 30))
    for method in ("ca", "go", "so", "os"):
        _, batch = cfar_2d(x, method=method, guard_cells=(1, 1), training_cells=(2, 4))
        for i in range(3):
            np.testing.assert_allclose(batch[i], cfar_2d(x[i], method=method, guard_cells=(1, 1),
                                                         training_cells=(2, 4))[1], rtol=1e-12)


@pytest.mark.parametrize("method", ["ca", "go", "so", "os"])
def test_strong_target_detected_and_masked_by_guard_cells(method):
    x = np.random.default_rng(2).exponential(size=(32, 64))
    y = x.copy()
    y[16, 30] = 1e6
    det, thr = cfar_2d(y, method=method, guard_cells=(2, 2), training_cells=(3, 5), pfa=1e-4)
    _, thr0 = cfar_2d(x, method=method, guard_cells=(2, 2), training_cells=(3, 5), pfa=1e-4)
    assert det[16, 30]
    # a neighbour within the guard ring never sees the target in its training cells
    # (up to the rounding of float64 cumulative sums holding a 60 dB value: 1e-9)
    for d, r in [(16, 31), (17, 32), (14, 28)]:
        assert thr[d, r] == pytest.approx(thr0[d, r], rel=1e-9)
    if method in ("ca", "go"):   # just outside the guard ring the target enters the training cells
        assert thr[16, 33] > 10 * thr0[16, 33]


def test_ca_factor_limits():
    # N -> inf: the training mean is the noise power and alpha -> -ln Pfa
    assert ca_alpha(1e6, 1e-4) == pytest.approx(-math.log(1e-4), rel=1e-4)
    # N = 1: P(X > a Y) = 1 / (1 + a) for two unit exponentials
    assert ca_alpha(1, 1e-3) == pytest.approx(1 / 1e-3 - 1)


@pytest.mark.parametrize("kwargs,message", [
    (dict(power=np.ones(10)), "expected a \\(D, R\\) map or \\(N, D, R\\) stack"),
    (dict(power=-np.ones((16, 16))), "finite and >= 0"),
    (dict(power=np.ones((16, 16)), method="xx"), "method must be one of"),
    (dict(power=np.ones((16, 16)), pfa=2.0), "pfa must lie in"),
    (dict(power=np.ones((16, 16)), training_cells=(0, 0)), "must not both be 0"),
    (dict(power=np.ones((16, 16)), guard_cells=(1.5, 1)), "two integers"),
    (dict(power=np.ones((16, 16)), method="os", rank=10_000), "rank must lie in"),
    (dict(power=np.ones((8, 64)), guard_cells=(2, 2), training_cells=(4, 4)), "spans 13 Doppler bins"),
])
def test_bad_arguments_rejected(kwargs, message):
    power = kwargs.pop("power")
    with pytest.raises(ValueError, match=message):
        cfar_2d(power, **kwargs)


def test_statistic_above_alpha_is_ca_cfar():
    x = np.random.default_rng(5).exponential(size=(3, 24, 40))
    det, _ = cfar_2d(x, method="ca", guard_cells=(1, 2), training_cells=(3, 4), pfa=1e-2)
    stat = ca_statistic(x, guard_cells=(1, 2), training_cells=(3, 4))
    n = training_cell_count(x.shape, (1, 2), (3, 4))
    assert n[10, 20] == (2 * 4 + 1) * (2 * 6 + 1) - 3 * 5 and n[0, 0] < n[10, 20]   # interior vs range edge
    np.testing.assert_array_equal(stat > ca_alpha(n, 1e-2), det)
