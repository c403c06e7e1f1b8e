"""The network's representation of power maps (see docs/normalisation.md).

Raw power spans 60+ dB, so the network sees

    x = 10 log10(p / floor + eps) / scale_db

where ``floor`` is the map's noise floor, estimated as median(p) / ln 2 (for
exponentially distributed noise power the median is ln 2 times the mean; for an
even number of cells the lower of the two middle values is taken). The
network predicts the clean map in the same representation, relative to the same
floor, and

    p = floor * max(10 ** (x * scale_db / 10) - eps, 0)

recovers linear power in the input's units exactly (the forward transform of any
p >= 0 inverts to p, up to float rounding).
"""
from __future__ import annotations

import math

import torch

from rd_unet.config import NormalizationConfig

LN2 = math.log(2.0)


def noise_floor(power: torch.Tensor) -> torch.Tensor:
    """Per-map noise floor of (..., D, R) power -> (..., 1, 1), never below a tiny positive value."""
    flat = power.flatten(-2)
    # the lower median by sorting (torch.median's definition): ONNX has no median operator,
    # and a sort exports (TopK), so the exported model computes the same floor
    n = flat.shape[-1]
    med = torch.sort(flat, dim=-1).values[..., (n - 1) // 2] if n else flat.sum(-1)
    floor = med / LN2
    # a map whose median is 0 (e.g. a clean, mostly empty map): fall back to its mean
    floor = torch.where(floor > 0, floor, flat.mean(dim=-1).clamp_min(1e-30))
    return floor[..., None, None]


def to_network(power: torch.Tensor, floor: torch.Tensor, cfg: NormalizationConfig) -> torch.Tensor:
    return 10.0 * torch.log10(power / floor + cfg.eps) / cfg.scale_db


def from_network(x: torch.Tensor, floor: torch.Tensor, cfg: NormalizationConfig) -> torch.Tensor:
    return floor * (10.0 ** (x * (cfg.scale_db / 10.0)) - cfg.eps).clamp_min(0.0)
