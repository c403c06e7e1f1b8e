"""The cost of the noise floor per range column (``floor_profile``) with the shipped model:
maps/s of ``denoise`` with it on against one floor per map, on the same maps in one run
(flip averaging as shipped). The profile sorts each column over Doppler and a window of
15 columns per range bin; the network's passes dominate, so the ratio should sit within a
few per cent of 1. Also: the floor estimates alone, per map.

    python benchmarks/floor_profile.py [--maps 256] [--size 128 128] [--device auto]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import best_of, inference_setting_times  # noqa: E402

from rd_unet.data.normalize import noise_floor, noise_floor_profile  # noqa: E402


def main():
    args, stack, times = inference_setting_times("floor_profile", (128, 128), "floor per range column", __doc__)
    print(f"time ratio on / off {times[True] / times[False]:.3f} (1 if the profile cost nothing)")
    x = torch.from_numpy(stack)[:, None]
    t_one = best_of(lambda: noise_floor(x), repeats=5)
    t_col = best_of(lambda: noise_floor_profile(x), repeats=5)
    print(f"the floor estimates alone: one per map {1e6 * t_one / args.maps:.1f} us/map, per range column "
          f"{1e6 * t_col / args.maps:.1f} us/map (ratio {t_col / t_one:.2f})")


if __name__ == "__main__":
    main()
