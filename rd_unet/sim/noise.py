"""Circular complex Gaussian noise.

Plain ``Generator.standard_normal``: a hand-written sampler from raw random bits was
measured at 1.13x end to end on an idle machine (``benchmarks/simulate.py``, version
0.2's sampler), below the 1.3x that would justify keeping special code.
"""
from __future__ import annotations

import numpy as np

_HALF = np.float32(np.sqrt(0.5))


def complex_normal(rng: np.random.Generator, shape) -> np.ndarray:
    """Circular complex Gaussian samples with E|z|^2 = 1: complex64 of ``shape``; the real
    and imaginary parts are independent N(0, 1/2), drawn from ``rng`` interleaved."""
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    z = rng.standard_normal(int(np.prod(shape)) * 2, dtype=np.float32).view(np.complex64)
    z *= _HALF
    return z.reshape(shape)
