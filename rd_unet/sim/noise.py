"""Complex Gaussian noise and unit phasors, the simulator's two elementwise hot spots."""
from __future__ import annotations

import math

import numpy as np

_TWO_PI = np.float32(2 * np.pi)


def complex_normal(rng: np.random.Generator, shape, scale: np.ndarray | None = None) -> np.ndarray:
    """Circular complex Gaussian samples with E|z|^2 = 1, complex64 of ``shape``.

    ``scale`` (float32, ``shape``): per-sample standard deviations (E|z|^2 = scale^2),
    applied at no extra cost.

    Exact polar (Box-Muller) construction from one 64-bit draw of ``rng``'s bit
    generator per sample (see ``complex_normal_from_bits``). About 1.6x (AMD EPYC)
    to 2.5x (Intel Xeon) faster than two ``standard_normal`` draws per sample.
    """
    n = math.prod(shape) if isinstance(shape, tuple) else int(shape)
    shape = shape if isinstance(shape, tuple) else (n,)
    bits = rng.bit_generator.random_raw(n)
    return complex_normal_from_bits(bits, None if scale is None else scale.reshape(-1)).reshape(shape)


def complex_normal_from_bits(bits: np.ndarray, scale: np.ndarray | None = None, *,
                             out: np.ndarray | None = None) -> np.ndarray:
    """``complex_normal``'s transform of raw 64-bit draws: uint64 (..., n) -> complex64 (..., n).

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


def unit_phasors(cycles: np.ndarray) -> np.ndarray:
    """exp(j 2 pi cycles) as complex64, for float64 ``cycles`` of any size.

    The phase is reduced to [0, 1) cycle in float64 first, so float32 sin/cos keep
    full float32 accuracy however many cycles there are; several times faster than
    a complex128 exp.
    """
    frac = (cycles - np.floor(cycles)).astype(np.float32)
    frac *= _TWO_PI
    z = np.empty(frac.shape, np.complex64)
    np.cos(frac, out=z.real)
    np.sin(frac, out=frac)
    z.imag = frac
    return z
