import math

import numpy as np
import pytest

from rd_unet.eval import cfar
from rd_unet.eval.cfar import ca_alpha, cfar_2d, go_so_alpha, os_alpha, os_pfa

GUARD, TRAIN = (2, 2), (4, 8)


@pytest.mark.parametrize("method,pfa,maps", [("ca", 1e-3, 40), ("go", 1e-3, 40), ("so", 1e-3, 40),
                                             ("os", 1e-3, 12), ("ca", 1e-4, 200)])
def test_measured_pfa_matches_requested(method, pfa, maps):
    x = np.random.default_rng(1).exponential(size=(maps, 64, 128))
    det, _ = cfar_2d(x, method=method, pfa=pfa, guard_cells=GUARD, training_cells=TRAIN)
    n = det.size
    # binomial sigma; neighbouring thresholds share training cells, so allow 5 sigma
    sigma = math.sqrt(pfa * (1 - pfa) / n)
    assert abs(det.mean() - pfa) < 5 * sigma, (det.mean(), pfa)


def _brute(power, method, guard, train, pfa, rank=None):
    d_bins, r_bins = power.shape
    gd, gr = guard
    td, tr = train
    thr = np.zeros_like(power)
    full = [(i, j) for i in range(-gd - td, gd + td + 1) for j in range(-gr - tr, gr + tr + 1)
            if not (abs(i) <= gd and abs(j) <= gr)]
    k_full = rank or max(1, round(0.75 * len(full)))
    for d in range(d_bins):
        for r in range(r_bins):
            cells = [(d + i, r + j) for i, j in full if 0 <= d + i < d_bins and 0 <= r + j < r_bins]
            vals = np.array([power[c] for c in cells])
            if method == "ca":
                thr[d, r] = ca_alpha(len(vals), pfa) * vals.mean()
            elif method in ("go", "so"):
                lead = np.array([power[c] for c in cells if c[1] < r])
                lag = np.array([power[c] for c in cells if c[1] > r])
                means = [m.mean() for m in (lead, lag) if m.size]
                pick = max if method == "go" else min
                thr[d, r] = go_so_alpha(lead.size, lag.size, pfa, method) * pick(means)
            else:
                k = min(max(1, round(k_full * len(vals) / len(full))), len(vals))
                thr[d, r] = os_alpha(len(vals), k, pfa) * np.sort(vals)[k - 1]
    return thr


@pytest.mark.parametrize("method", ["ca", "go", "so", "os"])
def test_thresholds_equal_brute_force(method):
    x = np.random.default_rng(3).exponential(size=(14, 22)) * np.random.default_rng(4).uniform(0.5, 5, (14, 22))
    _, thr = cfar_2d(x, method=method, guard_cells=(1, 2), training_cells=(2, 3), pfa=1e-3)
    np.testing.assert_allclose(thr, _brute(x, method, (1, 2), (2, 3), 1e-3), rtol=1e-9)


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


def test_alpha_closed_forms():
    # CA: alpha = N (Pfa^(-1/N) - 1); for N -> inf it tends to -ln Pfa
    assert ca_alpha(16, 1e-4) == pytest.approx(16 * (1e-4 ** (-1 / 16) - 1))
    assert ca_alpha(1e6, 1e-4) == pytest.approx(-math.log(1e-4), rel=1e-4)
    # OS: the product formula holds at the solved alpha
    a = os_alpha(24, 18, 1e-4)
    assert os_pfa(a, 24, 18) == pytest.approx(1e-4, rel=1e-8)
    # GO and SO: the numerical integral (unequal halves' code path) equals the closed form for equal halves
    for method in ("go", "so"):
        a = go_so_alpha(8, 8, 1e-3, method)
        assert cfar._go_so_pfa_equal(a, 8, method) == pytest.approx(1e-3, rel=1e-8)
        z = cfar._Z_GRID
        from scipy import integrate, special
        f = special.gammainc(8, 8 * z)
        cdf = f * f if method == "go" else 1 - (1 - f) ** 2
        numeric = integrate.trapezoid(a * np.exp(-a * z) * cdf, z) + np.exp(-a * z[-1])
        assert numeric == pytest.approx(1e-3, rel=1e-4)
    # SO thresholds the smaller half-mean, so it needs the largest factor; GO the smallest
    assert go_so_alpha(8, 8, 1e-3, "go") < ca_alpha(16, 1e-3) < go_so_alpha(8, 8, 1e-3, "so")


@pytest.mark.parametrize("kwargs,message", [
    (dict(power=np.ones(10)), "expected a \\(D, R\\) map or \\(N, D, R\\) stack"),
    (dict(power=-np.ones((8, 8))), "finite and >= 0"),
    (dict(power=np.ones((8, 8)), method="xx"), "method must be one of"),
    (dict(power=np.ones((8, 8)), pfa=2.0), "pfa must lie in"),
    (dict(power=np.ones((8, 8)), training_cells=(0, 0)), "must not both be 0"),
    (dict(power=np.ones((8, 8)), guard_cells=(1.5, 1)), "two integers"),
    (dict(power=np.ones((8, 8)), method="os", rank=10_000), "rank must lie in"),
])
def test_bad_arguments_rejected(kwargs, message):
    power = kwargs.pop("power")
    with pytest.raises(ValueError, match=message):
        cfar_2d(power, **kwargs)


def test_statistic_above_alpha_is_ca_cfar():
    from rd_unet.eval.cfar import ca_statistic, training_cell_count
    x = np.random.default_rng(5).exponential(size=(3, 24, 40))
    det, _ = cfar_2d(x, method="ca", guard_cells=(1, 2), training_cells=(3, 4), pfa=1e-2)
    stat = ca_statistic(x, guard_cells=(1, 2), training_cells=(3, 4))
    n = training_cell_count(x.shape, (1, 2), (3, 4))
    assert n[10, 20] == (2 * 4 + 1) * (2 * 6 + 1) - 3 * 5 and n[0, 0] < n[10, 20]   # interior vs corner
    np.testing.assert_array_equal(stat > ca_alpha(n, 1e-2), det)
