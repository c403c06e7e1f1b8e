"""OS-CFAR speed and memory: rd_unet's blocked OS-CFAR against sorting every window.

    python benchmarks/cfar.py [--maps 100] [--size 256] [--baseline-maps 4]

Baseline: the textbook vectorised OS-CFAR (and rd_unet 0.2's): gather every CUT's
training cells into one (N, D, R, n) float64 array and sort it. Its memory grows with
the number of maps (about 13 GB for 100 maps of 256 x 256), so it is timed on
``--baseline-maps`` maps and compared per map. Ours runs on all ``--maps`` maps; its
peak extra memory (tracemalloc, NumPy allocations) is printed against the 1 GB target.
"""
import argparse
import time
import tracemalloc

import numpy as np

from _common import machine
from rd_unet.eval.cfar import cfar_2d, default_rank, os_alpha

GUARD, TRAIN, PFA = (2, 2), (4, 8), 1e-4


def sort_every_window(power):
    """The baseline, interior cells only (no edge handling): sort all training cells."""
    od, orr = GUARD[0] + TRAIN[0], GUARD[1] + TRAIN[1]
    mask = np.ones((2 * od + 1, 2 * orr + 1), bool)
    mask[od - GUARD[0]:od + GUARD[0] + 1, orr - GUARD[1]:orr + GUARD[1] + 1] = False
    n = int(mask.sum())
    k = default_rank(n)
    padded = np.pad(power, [(0, 0), (od, od), (orr, orr)], mode="wrap")
    windows = np.lib.stride_tricks.sliding_window_view(padded, mask.shape, axis=(-2, -1))
    cells = np.sort(windows[..., mask], axis=-1)
    return os_alpha(n, k, PFA) * cells[..., k - 1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maps", type=int, default=100)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--baseline-maps", type=int, default=4)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.exponential(size=(args.maps, args.size, args.size))
    print(machine())
    sub = x[:args.baseline_maps]
    t = time.perf_counter()
    ref = sort_every_window(sub)
    t_base = (time.perf_counter() - t) / len(sub)
    _, ours_sub = cfar_2d(sub, method="os", guard_cells=GUARD, training_cells=TRAIN, pfa=PFA)
    interior = np.s_[:, :, GUARD[1] + TRAIN[1]:-(GUARD[1] + TRAIN[1])]
    assert np.allclose(ours_sub[interior], ref[interior], rtol=1e-12), "thresholds differ from the baseline"
    tracemalloc.start()
    t = time.perf_counter()
    cfar_2d(x, method="os", guard_cells=GUARD, training_cells=TRAIN, pfa=PFA)
    t_ours = (time.perf_counter() - t) / len(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"OS-CFAR on {args.maps} maps of {args.size} x {args.size}: ours {t_ours * 1e3:.0f} ms/map, "
          f"sort-every-window baseline {t_base * 1e3:.0f} ms/map ({args.baseline_maps} maps): "
          f"speed-up {t_base / t_ours:.2f}x (target >= 5x)")
    print(f"peak memory during ours, beyond the input ({x.nbytes / 1e9:.2f} GB): {peak / 1e9:.2f} GB "
          f"(target < 1 GB; the baseline's gathered cells alone: {args.maps * args.size ** 2 * 248 * 8 / 1e9:.1f} GB)")


if __name__ == "__main__":
    main()
