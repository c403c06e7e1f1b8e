"""Simulation speed: maps/s of the default preset on one worker, and our time per map
over a floor measured in the same run (drawing the complex noise of one map and
taking its 2-D FFT at the same size and precision; for a radar that averages K receive
channels, K such draws and FFTs per map, the least its maps can cost).

The floor draws its noise with NumPy's ``standard_normal``, as the simulator itself
does since version 0.3. Ours is timed the way ``rd-unet simulate`` runs it (batches of
maps, each from its own generator); one map per call is printed for reference.

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
from rd_unet.data.generate import batch_size  # noqa: E402
from rd_unet.sim import RDSimulator  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scenario", default="default")
    p.add_argument("--maps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--end-to-end", action="store_true",
                   help="also time `rd-unet simulate` end to end (generate_dataset, one worker) per compression")
    args = p.parse_args()
    sc = load_scenario(args.scenario)
    sim = RDSimulator(sc)
    d, r = sc.radar.chirps_per_frame, sc.radar.samples_per_chirp
    rng = np.random.default_rng(0)

    step = batch_size(sc)          # as `rd-unet simulate` draws them: batches of maps
    rngs = [np.random.default_rng(i) for i in range(args.maps)]

    def ours():
        for start in range(0, args.maps, step):
            sim.simulate_batch(rngs[start:start + step])

    def one_at_a_time():
        for _ in range(args.maps):
            sim.simulate(rng)

    channels = sc.radar.noncoherent_channels

    def floor():
        for _ in range(args.maps * channels):
            x = rng.standard_normal(2 * d * r, dtype=np.float32).view(np.complex64).reshape(d, r)
            scipy.fft.fft2(x, overwrite_x=True)

    ours()  # warm-up
    # interleaved rounds, best of each: drifts of the machine hit both sides alike
    t_ours = t_floor = t_single = float("inf")
    for _ in range(args.rounds):
        t_ours, t_floor = min(t_ours, best_of(ours, 1)), min(t_floor, best_of(floor, 1))
        t_single = min(t_single, best_of(one_at_a_time, 1))
    print(f"machine: {machine()}")
    print(f"scenario {sc.name!r}: {d} x {r} maps; clutter "
          f"{[k for k in ('ground', 'drifting', 'volume') if getattr(sc.clutter, k).enabled]}, "
          f"interference {sc.interference.enabled}; {channels} receive channel(s)")
    print(f"simulate: {args.maps / t_ours:.0f} maps/s on one worker ({t_ours / args.maps * 1e3:.3f} ms/map, "
          f"batches of {step} as `rd-unet simulate` draws them)")
    print(f"floor (complex noise + 2-D FFT, per channel): {t_floor / args.maps * 1e3:.3f} ms/map")
    print(f"ratio ours / floor: {t_ours / t_floor:.2f}x (target <= 3x)")
    print(f"one map per call (RDSimulator.simulate): {t_single / args.maps * 1e3:.3f} ms/map, "
          f"ratio {t_single / t_floor:.2f}x the floor")
    if args.end_to_end:
        end_to_end(sc, min(t_ours, t_single) / args.maps, t_floor / args.maps, args.maps, args.rounds)
def end_to_end(sc, t_core, t_floor, maps, rounds):
    """The command's time per map (simulation + HDF5 writing, one worker) over the core
    simulator's (the faster of batches and one map per call), for each --compression."""
    import tempfile

    from rd_unet.data.generate import generate_dataset
    from rd_unet.data.hdf5 import COMPRESSION, DEFAULT_COMPRESSION

    with tempfile.TemporaryDirectory() as tmp:
        for name in COMPRESSION:
            def run():
                generate_dataset(sc, Path(tmp) / f"{name}.h5", num_maps=maps, seed=0, progress=False,
                                 compression=name, overwrite=True)
            t = min(best_of(run, 1) for _ in range(max(1, rounds // 2))) / maps
            size = (Path(tmp) / f"{name}.h5").stat().st_size / maps / 1e3
            print(f"end to end, --compression {name}{' (default)' if name == DEFAULT_COMPRESSION else ''}: "
                  f"{t * 1e3:.3f} ms/map, {t / t_core:.2f}x the core simulator (target <= 1.3x), "
                  f"{t / t_floor:.2f}x the floor; {size:.0f} kB/map")


if __name__ == "__main__":
    main()
