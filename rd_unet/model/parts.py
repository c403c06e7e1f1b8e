"""U-Net building blocks (after MONAI's basic_unet): DoubleConv, Down, Up, OutConv."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) x 2; spatial size unchanged."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """2x2 max-pool, then DoubleConv: (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """Upsample x2 (2x2 transposed conv, or bilinear + 1x1 conv), concatenate the skip, DoubleConv.

    ``in_channels`` is the deeper feature's width; the skip has ``in_channels // 2``.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose"):
        super().__init__()
        half = in_channels // 2
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, half, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, half, 1))
        self.conv = DoubleConv(2 * half, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:   # cannot happen after UNet's padding; kept for direct use
            x = F.pad(x, (0, skip.shape[-1] - x.shape[-1], 0, skip.shape[-2] - x.shape[-2]))
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Conv2d):
    """1x1 convolution to the output channels."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)
