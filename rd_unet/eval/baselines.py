"""Classical denoisers for comparison; each maps (N, D, R) power to (N, D, R) power.

The family a radar engineer tries first: a 2-D median, a local Wiener filter, the
2- and 3-pulse MTI cancellers' Doppler responses (``notch``, ``mti3``), and
zero-Doppler notches that replace the rows within 1, 2 or 3 bins of zero Doppler
by their range column's median (``notch_median1..3``). Zero Doppler is row ``D // 2``
(the simulator's and ``numpy.fft.fftshift``'s convention).
"""
from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage, signal

ORACLE_PEDESTAL = 1e-3   # the U-Net's default pedestal (-30 dB re noise), so CFAR ratios stay finite


def median_filter(power, size=(3, 3)):
    """2-D median filter over Doppler x range (edges replicated)."""
    return np.stack([ndimage.median_filter(p, size=size, mode="nearest") for p in power])


def wiener_filter(power, size=(5, 5)):
    """Local adaptive Wiener filter (scipy.signal.wiener) on power, clipped at 0."""
    out = np.stack([signal.wiener(p.astype(np.float64), mysize=size) for p in power])
    return np.maximum(out, 0.0)


def _mti_gain(d: int, pulses: int) -> np.ndarray:
    """Power response of the (pulses)-pulse binomial canceller, (2 sin(pi k / D))^(2 (pulses - 1)),
    over the Doppler bins k (zero velocity at row D // 2), normalised to unit mean so
    that white noise keeps its level."""
    k = np.arange(d) - d // 2
    gain = np.sin(np.pi * k / d) ** (2 * (pulses - 1))
    return gain / gain.mean()


def zero_doppler_notch(power):
    """2-pulse MTI canceller: power response 4 sin^2(pi k / D), unit mean."""
    return power * _mti_gain(power.shape[-2], 2)[:, None]


def mti3(power):
    """3-pulse MTI canceller: power response 16 sin^4(pi k / D), unit mean (a deeper, wider notch)."""
    return power * _mti_gain(power.shape[-2], 3)[:, None]


def notch_median(power, half_width: int = 1):
    """Rows within ``half_width`` bins of zero Doppler replaced by their range column's
    median over all Doppler bins: the clutter ridge goes, the noise level stays."""
    power = np.array(power, dtype=np.float64, copy=True)
    d = power.shape[-2]
    rows = (d // 2 + np.arange(-half_width, half_width + 1)) % d
    power[..., rows, :] = np.median(power, axis=-2, keepdims=True)
    return power


def oracle(clean):
    """The clean map (upper bound) with a -30 dB pedestal."""
    return clean + ORACLE_PEDESTAL


BASELINES = {"median": median_filter, "wiener": wiener_filter, "notch": zero_doppler_notch, "mti3": mti3,
             "notch_median1": partial(notch_median, half_width=1),
             "notch_median2": partial(notch_median, half_width=2),
             "notch_median3": partial(notch_median, half_width=3)}
# the classical family the U-Net is judged against: raw CA-CFAR and every baseline
CLASSICAL = ("raw",) + tuple(BASELINES)
