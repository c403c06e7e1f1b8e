"""Shared helpers for the benchmark scripts."""
import os
import platform
import time

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def best_of(fn, repeats=5):
    """Minimum wall time of fn() over repeats (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def inference_setting_times(setting: str, default_size, label: str, description: str):
    """Parse the inference benchmarks' flags, then time ``denoise`` with the shipped model
    and the inference ``setting`` (a load_denoiser keyword) off and on, on the same maps in
    one run; prints maps/s for both and returns (args, the maps, {False: s, True: s})."""
    import argparse

    import numpy as np

    from rd_unet.model.inference import denoise, load_denoiser

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--maps", type=int, default=256)
    p.add_argument("--size", type=int, nargs=2, default=default_size, metavar=("D", "R"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    print(f"machine: {machine()}")
    stack = np.random.default_rng(0).exponential(size=(args.maps, *args.size)).astype(np.float32)
    times = {}
    for on in (False, True):
        den, dev, _ = load_denoiser(None, args.device, **{setting: on})
        denoise(den, stack[:args.batch_size], batch_size=args.batch_size)          # warm-up
        times[on] = best_of(lambda: denoise(den, stack, batch_size=args.batch_size), repeats=3)
        norm = den.normalization
        print(f"{dev.type}: {label} {'on ' if on else 'off'}: {args.maps / times[on]:.1f} maps/s "
              f"({args.size[0]} x {args.size[1]}, batch {args.batch_size}; flip averaging "
              f"{'on' if norm.flip_average else 'off'}, floor per range column {'on' if norm.floor_profile else 'off'})")
    return args, stack, times
