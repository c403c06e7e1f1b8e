"""Cleaning throughput and memory: file-to-file maps/s (rd-unet clean on a .npy stack)
against bare model inference on the same maps in memory, in one run; then the peak
memory of a child process cleaning a stack 4x larger than the memory budget set here.

    python benchmarks/clean.py [--maps 256] [--budget-mb 128]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine  # noqa: E402

from rd_unet.clean import clean_files
from rd_unet.model.inference import denoise, load_denoiser  # noqa: E402
from rd_unet.config import NormalizationConfig, UNetConfig  # noqa: E402
from rd_unet.model.unet import UNet  # noqa: E402
from rd_unet.model.checkpoint import save_checkpoint  # noqa: E402

CHILD = r"""
import json, sys, resource
from rd_unet.clean import clean_files
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
import torch; from rd_unet.model.inference import load_denoiser; load_denoiser(sys.argv[1], "cpu")
base = peak_mb()
s = clean_files([sys.argv[2]], sys.argv[3], model=sys.argv[1], device="cpu", batch_size=16, progress=False)
print(json.dumps({"base_mb": base, "peak_mb": peak_mb(), "maps": s["maps"], "failed": s["failed"]}))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maps", type=int, default=256)
    p.add_argument("--budget-mb", type=float, default=128.0)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "model.pt"
        cfg = UNetConfig()
        save_checkpoint(ckpt, model=UNet(cfg), model_config=cfg, normalization=NormalizationConfig())
        g = np.random.default_rng(0)
        stack = g.exponential(size=(args.maps, 64, 128)).astype(np.float32)
        np.save(tmp / "stack.npy", stack)
        den, dev, _ = load_denoiser(ckpt, "auto")
        denoise(den, stack[:32], batch_size=16)              # warm-up
        t = time.perf_counter()
        denoise(den, stack, batch_size=16)
        bare = args.maps / (time.perf_counter() - t)
        s = clean_files([tmp / "stack.npy"], tmp / "out", model=ckpt, batch_size=16, progress=False, overwrite=True)
        print(f"{dev.type}: clean file-to-file {s['maps_per_s']:.1f} maps/s, bare inference {bare:.1f} maps/s, "
              f"ratio {s['maps_per_s'] / bare:.2f} (target >= 0.80); 64 x 128 maps, batch 16")
        # memory: stacks 1x and 4x the budget, each cleaned by a fresh process with a small
        # model; bounded memory means the same growth for both, within the budget
        small = tmp / "small.pt"
        scfg = UNetConfig(depth=2, base_channels=4)
        save_checkpoint(small, model=UNet(scfg), model_config=scfg, normalization=NormalizationConfig())
        growth = {}
        for factor in (1, 4):
            n_maps = int(factor * args.budget_mb * 2 ** 20 / (64 * 128 * 4))
            path = tmp / f"stack{factor}.npy"
            big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_maps, 64, 128))
            for i in range(0, n_maps, 1024):
                big[i:i + 1024] = g.exponential(size=big[i:i + 1024].shape).astype(np.float32)
            big.flush()
            del big
            size_mb = path.stat().st_size / 2 ** 20
            proc = subprocess.run([sys.executable, "-c", CHILD, str(small), str(path), str(tmp / f"out{factor}")],
                                  capture_output=True, text=True, check=True)
            m = json.loads(proc.stdout.strip().splitlines()[-1])
            growth[factor] = m["peak_mb"] - m["base_mb"]
            print(f"memory: cleaning a {size_mb:.0f} MB stack ({m['maps']} maps of 64 x 128) raised peak RSS by "
                  f"{growth[factor]:.0f} MB")
            path.unlink()
        print(f"memory budget {args.budget_mb:.0f} MB: the stack 4x the budget stayed "
              f"{'within' if growth[4] <= args.budget_mb else 'OVER'} it; growth ratio 4x/1x stack = "
              f"{growth[4] / max(growth[1], 1e-9):.2f} (1.0 = independent of the stack's size)")

if __name__ == "__main__":
    main()
