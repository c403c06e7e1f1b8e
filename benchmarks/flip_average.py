"""The cost of flip averaging (test-time augmentation) with the shipped model: maps/s
with it on against the network run once, on the same maps in one run. The network runs
four times, the normalisation and its inverse once: the time ratio is 4 where the network
is all the time, below 4 by the share of the rest, and above 4 by what the flips and the
averaging cost.

    python benchmarks/flip_average.py [--maps 256] [--size 64 128] [--device auto]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import best_of, machine  # noqa: E402

from rd_unet.model.inference import denoise, load_denoiser  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maps", type=int, default=256)
    p.add_argument("--size", type=int, nargs=2, default=(64, 128), metavar=("D", "R"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    print(f"machine: {machine()}")
    stack = np.random.default_rng(0).exponential(size=(args.maps, *args.size)).astype(np.float32)
    times = {}
    for flip in (False, True):
        den, dev, _ = load_denoiser(None, args.device, flip_average=flip)
        denoise(den, stack[:args.batch_size], batch_size=args.batch_size)          # warm-up
        times[flip] = best_of(lambda: denoise(den, stack, batch_size=args.batch_size), repeats=3)
        print(f"{dev.type}: flip averaging {'on ' if flip else 'off'}: {args.maps / times[flip]:.1f} maps/s "
              f"({args.size[0]} x {args.size[1]}, batch {args.batch_size})")
    ratio = times[True] / times[False]
    print(f"time ratio on / off {ratio:.2f} (4.00 if the network were all the time: four passes of it)")


if __name__ == "__main__":
    main()
