"""Complex Gaussian noise, the simulator's elementwise hot spot.

The one optimisation of the simulator kept over plain NumPy: ``benchmarks/simulate.py
--audit`` measures it at 1.25x (64 x 128 maps) to 1.32x (128 x 256) end to end against
``rng.standard_normal``; it also fixes the order of every map's draws since version 0.2.
"""
from __future__ import annotations


import numpy as np

def complex_normal_from_bits(bits: np.ndarray, scale: np.ndarray | None = None, *,
                             out: np.ndarray | None = None) -> np.ndarray:
    """Circular complex Gaussian samples (E|z|^2 = 1) from raw 64-bit draws: uint64 (..., n) -> complex64 (..., n).

    Each word's two 32-bit halves give U = (k + 1/2) / 2^32 in (0, 1) and the phase:
    |z|^2 = -ln U is standard exponential and the phase uniform, so the real and
    imaginary parts are independent N(0, 1/2). The 32-bit U bounds |z|^2 below
    ln(2^33) = 22.9, a level a unit-mean exponential exceeds with probability 1e-10.
    Elementwise, so the bits of many maps transform in one pass with the same result
    as one map at a time. ``scale`` (float32, broadcastable to ``bits``): standard deviations.
    ``out``: a complex64 array of ``bits``'s shape to write into.
    """
    halves = bits.view(np.uint32).astype(np.float32).reshape(bits.shape + (2,))
    radius = halves[..., 0] + np.float32(0.5)         # integers below 2^32: exact where it matters,
    radius *= np.float32(2.0 ** -32)                  # near 0 (the tail of |z|^2)
    np.log(radius, out=radius)
    np.negative(radius, out=radius)
    np.sqrt(radius, out=radius)
    if scale is not None:
        radius *= scale
    phase = halves[..., 1] * np.float32(2 * np.pi / 2.0 ** 32)
    z = np.empty(bits.shape, np.complex64) if out is None else out
    np.cos(phase, out=z.real)
    z.real *= radius
    np.sin(phase, out=phase)
    np.multiply(radius, phase, out=z.imag)
    return z
