"""Training throughput: the full trainer (rd_unet.train.loop.train, data from HDF5)
against the bare forward/backward/step loop on tensors already in memory, same
model, batch and map size, in one run; fp32 vs bf16 AMP where a GPU is present.

    python benchmarks/train.py [--maps 512] [--epochs 2]
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine  # noqa: E402

from rd_unet.config import TrainConfig, UNetConfig, load_scenario  # noqa: E402
from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.model.unet import UNet  # noqa: E402
from rd_unet.model.inference import pick_device
from rd_unet.train.loop import train  # noqa: E402


def bare_loop(model_cfg, n, batch, d, r, device, amp, epochs):
    torch.manual_seed(0)
    model = UNet(model_cfg).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(n, 1, d, r, device=device)
    y = torch.randn(n, 1, d, r, device=device)
    steps = n // batch

    def epoch():
        for i in range(steps):
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = torch.nn.functional.mse_loss(model(xb).float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    epoch()  # warm-up
    t = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return steps * batch * epochs / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maps", type=int, default=512)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    sc = load_scenario("default")
    d, r = sc.radar.chirps_per_frame, sc.radar.samples_per_chirp
    device = pick_device("auto")
    model_cfg = UNetConfig()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = generate_dataset(sc, Path(tmp) / "train.h5", num_maps=args.maps, seed=0, progress=False)
        for amp in ([False, True] if device.type == "cuda" else [False]):
            bare = bare_loop(model_cfg, args.maps, args.batch_size, d, r, device, amp, args.epochs)
            cfg = TrainConfig(data=str(data), output=str(Path(tmp) / f"run{amp}"), epochs=args.epochs + 1,
                              batch_size=args.batch_size, val_fraction=0.0, amp=amp, model=model_cfg)
            hist = train(cfg, progress=False)["history"]
            full = sum(hist["maps_per_s"][1:]) / len(hist["maps_per_s"][1:])   # first epoch = warm-up
            label = "bf16 AMP" if amp else "fp32"
            print(f"{device.type} {label}: trainer {full:.1f} maps/s, bare loop {bare:.1f} maps/s, "
                  f"ratio {full / bare:.2f} (target >= 0.90); {d} x {r} maps, batch {args.batch_size}")


if __name__ == "__main__":
    main()
