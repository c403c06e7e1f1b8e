"""Classical denoisers for comparison; each maps (N, D, R) power to (N, D, R) power."""
from __future__ import annotations

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


def zero_doppler_notch(power):
    """MTI-style clutter canceller: the two-pulse canceller's power response
    4 sin^2(pi k / D) across the Doppler bins k (zero velocity at k = 0), normalised
    to unit mean so that white noise keeps its level."""
    d = power.shape[-2]
    k = np.arange(d) - d // 2
    gain = np.sin(np.pi * k / d) ** 2
    gain = gain / gain.mean()
    return power * gain[:, None]


def oracle(clean):
    """The clean map (upper bound) with a -30 dB pedestal."""
    return clean + ORACLE_PEDESTAL


BASELINES = {"median": median_filter, "wiener": wiener_filter, "notch": zero_doppler_notch}
