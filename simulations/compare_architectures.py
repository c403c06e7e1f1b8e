"""The U-Net family side by side: writes docs/architectures.md's table from measurements.

    python simulations/compare_architectures.py [--depth 4] [--base-channels 16] [--output docs/architectures.md]

For every architecture (``rd_unet.config.ARCHITECTURES``) at the same depth and width:
parameters, MACs per 128 x 256 map and receptive field (``rd-unet arch``), and CPU
inference speed (maps/s, batch 8, this machine's torch threads). The detection
comparison (each variant trained on the same mixture and budget, then ``rd-unet
evaluate``) is not part of this script yet: see the table's note.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rd_unet.config import ARCHITECTURES, UNetConfig  # noqa: E402
from rd_unet.model.summary import describe_architecture  # noqa: E402
from rd_unet.model.unet import UNet  # noqa: E402

MAP = (128, 256)


def maps_per_s(cfg: UNetConfig, batch: int = 8, rounds: int = 3) -> float:
    net = UNet(cfg).eval()
    x = torch.rand(batch, 1, *MAP)
    with torch.no_grad():
        net(x)
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - t)
    return batch / best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--output", default=str(ROOT / "docs" / "architectures.md"))
    args = p.parse_args()
    rows = []
    for arch in ARCHITECTURES:
        cfg = UNetConfig(depth=args.depth, base_channels=args.base_channels, arch=arch)
        d = describe_architecture(cfg, MAP)
        rows.append((arch, d["parameters"], d["macs_per_map"], d["receptive_field"], maps_per_s(cfg)))
        print(arch, rows[-1], flush=True)
    lines = [
        "# The U-Net family in rd_unet", "",
        "Written by `simulations/compare_architectures.py` from measurements (do not edit by hand). "
        "Pick one with `rd-unet train --arch NAME`; look inside with `rd-unet arch --arch NAME --depth N "
        "--base-channels C --map-size D R [--output arch.png]`.", "",
        "| `--arch` | what it is |", "|---|---|",
        "| `unet` | padded (same-size) U-Net: DoubleConv levels, max-pool, transposed-conv or bilinear upsampling, "
        "skip concatenation (the shipped model's) |",
        "| `residual-unet` | the same with residual blocks (two 3x3 convs + shortcut) in encoder and decoder |",
        "| `attention-unet` | U-Net with additive attention gates on the skips (Oktay et al., 2018) |",
        "| `unet-valid` | the original U-Net (Ronneberger et al., 2015): valid convolutions, cropped skips, "
        "572 x 572 -> 388 x 388 at depth 4; maps of any size through overlap-tile (circular in Doppler, mirrored "
        "in range), bit for bit independent of the tile size |",
        "| `resnet-unet` | ResNet-18-style encoder (stages of two residual blocks, the first strided; no max-pool, "
        "no pretrained weights) with a U-Net decoder |", "",
        f"Depth {args.depth}, {args.base_channels} base channels, residual output, one map of {MAP[0]} x {MAP[1]} "
        f"(Doppler x range); CPU: {torch.get_num_threads()} torch thread(s), batch 8, best of 3.", "",
        "| architecture | parameters | MACs per map | receptive field (cells) | CPU maps/s |",
        "|---|---|---|---|---|",
    ]
    for arch, params, macs, rf, speed in rows:
        lines.append(f"| `{arch}` | {params:,d} | {macs / 1e9:.2f} G | {rf[0]} x {rf[1]} | {speed:.1f} |")
    lines += ["", "**Not yet measured**: detection with each architecture trained on the same data and budget "
              "(AUC, partial AUC, Pd at 1e-4, peak error, erased fraction, detection SNR gain per preset), and "
              "the valid-convolution original (`unet-valid`) and the mask head. Until that comparison runs, "
              "the shipped architecture (`unet`) is the default for lack of evidence, not because it won.", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
