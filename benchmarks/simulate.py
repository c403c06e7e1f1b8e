"""Simulation speed: maps/s of the default preset on one worker, and our time per map
over a floor measured in the same run (drawing the complex noise of one map and
taking its 2-D FFT at the same size and precision).

    python benchmarks/simulate.py [--scenario default] [--maps 400]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.fft

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import best_of, machine  # noqa: E402

from rd_unet.config import load_scenario  # noqa: E402
from rd_unet.sim import RDSimulator  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scenario", default="default")
    p.add_argument("--maps", type=int, default=400)
    args = p.parse_args()
    sc = load_scenario(args.scenario)
    sim = RDSimulator(sc)
    d, r = sc.radar.chirps_per_frame, sc.radar.samples_per_chirp
    rng = np.random.default_rng(0)

    def ours():
        for _ in range(args.maps):
            sim.simulate(rng)

    def floor():
        for _ in range(args.maps):
            x = rng.standard_normal(2 * d * r, dtype=np.float32).view(np.complex64).reshape(d, r)
            scipy.fft.fft2(x, overwrite_x=True)

    ours()  # warm-up
    t_ours, t_floor = best_of(ours), best_of(floor)
    print(f"machine: {machine()}")
    print(f"scenario {sc.name!r}: {d} x {r} maps; clutter "
          f"{[k for k in ('ground', 'drifting', 'volume') if getattr(sc.clutter, k).enabled]}, "
          f"interference {sc.interference.enabled}")
    print(f"simulate: {args.maps / t_ours:.0f} maps/s on one worker ({t_ours / args.maps * 1e3:.3f} ms/map)")
    print(f"floor (complex noise + 2-D FFT): {t_floor / args.maps * 1e3:.3f} ms/map")
    print(f"ratio ours / floor: {t_ours / t_floor:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
