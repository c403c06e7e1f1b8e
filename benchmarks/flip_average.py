"""The cost of flip averaging (test-time augmentation) with the shipped model: maps/s
with it on against the network run once, on the same maps in one run. The network runs
four times, the normalisation and its inverse once: the time ratio is 4 where the network
is all the time, below 4 by the share of the rest, and above 4 by what the flips and the
averaging cost.

    python benchmarks/flip_average.py [--maps 256] [--size 64 128] [--device auto]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import inference_setting_times  # noqa: E402


def main():
    _, _, times = inference_setting_times("flip_average", (64, 128), "flip averaging", __doc__)
    print(f"time ratio on / off {times[True] / times[False]:.2f} (4.00 if the network were all the time: "
          "four passes of it)")


if __name__ == "__main__":
    main()
