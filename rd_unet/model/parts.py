"""U-Net building blocks (after MONAI's basic_unet): DoubleConv, Down, Up, OutConv, and the
parts of the family's other members: ResBlock and ResStage (residual and ResNet-encoder
U-Nets), AttentionGate (Attention U-Net)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WrapConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose padding wraps around the Doppler axis (-2) and is zero in range (-1).

    The Doppler axis of a range-Doppler map is periodic (row 0 and row D-1 are +-v_max,
    neighbours on the velocity circle); zero padding makes its ends a border the network
    learns to read. Same parameters and state-dict keys as ``nn.Conv2d`` (weights move
    between the two freely).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 1, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, padding=0, **kwargs)
        self.wrap = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.wrap
        if p:
            if x.shape[-2] < p:
                raise ValueError(f"WrapConv2d: a Doppler axis of {x.shape[-2]} rows cannot wrap a padding of {p}")
            x = torch.cat([x[..., -p:, :], x, x[..., :p, :]], dim=-2)
            x = F.pad(x, (p, p, 0, 0))
        return super().forward(x)


def conv3x3(in_channels: int, out_channels: int, padding: int = 1, stride: int = 1, wrap: bool = False) -> nn.Conv2d:
    """The family's 3x3 convolution (no bias: a BatchNorm follows), Doppler-wrapped with ``wrap``."""
    cls = WrapConv2d if wrap and padding else nn.Conv2d
    return cls(in_channels, out_channels, 3, padding=padding, stride=stride, bias=False)


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) x 2; spatial size unchanged, or 4 cells smaller
    with ``padding=0`` (the original U-Net's valid convolutions); ``wrap``: the
    convolutions pad the Doppler axis circularly (``WrapConv2d``)."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 1, wrap: bool = False):
        super().__init__(
            conv3x3(in_channels, out_channels, padding, wrap=wrap),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels, padding, wrap=wrap),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """2x2 max-pool, then DoubleConv (or ``block``): (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int, block=None):
        super().__init__(nn.MaxPool2d(2), (block or DoubleConv)(in_channels, out_channels))


class Up(nn.Module):
    """Upsample x2 (2x2 transposed conv, or bilinear + 1x1 conv), concatenate the skip, DoubleConv.

    ``in_channels`` is the deeper feature's width; the skip has ``in_channels // 2``.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose", block=None,
                 attention: bool = False, skip_channels: int | None = None):
        super().__init__()
        half = in_channels // 2
        skip_channels = half if skip_channels is None else skip_channels
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, half, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, half, 1))
        self.gate = AttentionGate(skip_channels, half, max(1, skip_channels // 2)) if attention else None
        self.conv = (block or DoubleConv)(skip_channels + half, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if skip.shape[-2] > x.shape[-2] or skip.shape[-1] > x.shape[-1]:
            skip = center_crop(skip, x.shape[-2:])          # valid convolutions: the skip is larger
        if x.shape[-2:] != skip.shape[-2:]:   # cannot happen after UNet's padding; kept for direct use
            x = F.pad(x, (0, skip.shape[-1] - x.shape[-1], 0, skip.shape[-2] - x.shape[-2]))
        if self.gate is not None:
            skip = self.gate(skip, x)
        return self.conv(torch.cat([skip, x], dim=1))


def center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """The central ``size`` = (h, w) of (..., H, W)."""
    top, left = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., top:top + size[0], left:left + size[1]]


class OutConv(nn.Conv2d):
    """1x1 convolution to the output channels."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)


class ResBlock(nn.Module):
    """Residual block (He et al.): (3x3 conv -> BN -> ReLU -> 3x3 conv -> BN) + shortcut, ReLU.

    ``stride`` 2 halves the size (a ResNet stage's first block); the shortcut is a 1x1
    convolution (with the stride) when the width or size changes, else the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, wrap: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(in_channels, out_channels, stride=stride, wrap=wrap),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels, wrap=wrap),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResStage(nn.Sequential):
    """A ResNet-18-style stage: ``blocks`` ResBlocks, the first with ``stride``."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int = 2, stride: int = 2, wrap: bool = False):
        super().__init__(ResBlock(in_channels, out_channels, stride, wrap=wrap),
                         *(ResBlock(out_channels, out_channels, wrap=wrap) for _ in range(blocks - 1)))


class AttentionGate(nn.Module):
    """Additive attention on a skip connection (Oktay et al., Attention U-Net, 2018).

    ``alpha = sigmoid(psi(relu(W_x skip + W_g gate)))`` per pixel; returns ``alpha * skip``.
    ``gate`` is the coarser feature, already upsampled to the skip's size.
    """

    def __init__(self, skip_channels: int, gate_channels: int, inter_channels: int):
        super().__init__()
        self.w_x = nn.Conv2d(skip_channels, inter_channels, 1, bias=False)
        self.w_g = nn.Conv2d(gate_channels, inter_channels, 1, bias=True)
        self.psi = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(inter_channels, 1, 1), nn.Sigmoid())

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip * self.psi(self.w_x(skip) + self.w_g(gate))
