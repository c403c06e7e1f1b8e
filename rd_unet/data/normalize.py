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


def noise_floor_profile(power: torch.Tensor, quantile: float = 0.25, width: int = 15) -> torch.Tensor:
    """Per-range-column noise floor of (..., D, R) power -> (..., 1, R).

    Radars' floors are seldom flat over range (an IF filter's high-pass near the radar
    and anti-alias roll-off at the far end; the recorded OpenRadar maps fall by 5 dB over
    their last eight range bins). The profile over range is each column's lower
    ``quantile`` over Doppler, smoothed by a running median over ``width`` range bins
    (the edge columns replicated: a roll-off at the map's edge is followed, at the
    precision of one column) and divided by its median over range; the floor is
    ``noise_floor`` of the map divided by that profile, times the profile. A flat floor
    gives a profile within a fraction of a dB of 1; columns whose quartile is 0 (blanked
    range bins, zero padding) take the map's floor. Cells above the noise move a column's
    quantile: where they fill a fraction c of it, the floor reads
    ln(1 - q / (1 - c)) / ln(1 - q) high (0.2 dB for a clutter ridge of 5 rows in 128,
    1.4 dB for c = 0.24): a floor per column cannot tell clutter that fills its column
    from a higher floor.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile: expected a value in (0, 1), got {quantile!r}")
    if int(width) < 1:
        raise ValueError(f"width: expected at least 1 range bin, got {width!r}")
    d, r = power.shape[-2], power.shape[-1]
    # integer arithmetic on the sizes, so that an exported graph (rd-unet export) keeps them open
    k = (d - 1) * round(quantile * 1000) // 1000
    column = torch.sort(power, dim=-2).values[..., k, :]                    # (..., R)
    h = int(width) // 2                                                     # the window: 2 h + 1 columns
    edge = column.shape[:-1] + (h,)
    padded = torch.cat([column[..., :1].expand(edge), column, column[..., -1:].expand(edge)], dim=-1)
    smooth = torch.sort(padded.unfold(-1, 2 * h + 1, 1), dim=-1).values[..., h]   # (..., R)
    middle = torch.sort(smooth, dim=-1).values[..., (r - 1) // 2, None]
    # columns whose quartile is 0 (blanked range bins, zero padding) take the map's floor
    profile = torch.where((middle > 0) & (smooth > 0), smooth / middle.clamp_min(1e-30), torch.ones_like(smooth))
    profile = profile[..., None, :].clamp_min(1e-30)                        # (..., 1, R)
    # the map's floor measured on the flattened map: a slope does not bias it, and a map
    # scaled by any monotone gain over range g(r) gets exactly g(r) times its floor
    return noise_floor(power / profile) * profile


def map_floor(power: torch.Tensor, cfg: NormalizationConfig) -> torch.Tensor:
    """The floor ``cfg`` normalises by: per range column (..., 1, R) with ``floor_profile``,
    else one per map (..., 1, 1). Training, inference and the glitch guard all use this."""
    return noise_floor_profile(power) if cfg.floor_profile else noise_floor(power)


def to_network(power: torch.Tensor, floor: torch.Tensor, cfg: NormalizationConfig) -> torch.Tensor:
    return 10.0 * torch.log10(power / floor + cfg.eps) / cfg.scale_db


def from_network(x: torch.Tensor, floor: torch.Tensor, cfg: NormalizationConfig) -> torch.Tensor:
    return floor * (10.0 ** (x * (cfg.scale_db / 10.0)) - cfg.eps).clamp_min(0.0)
