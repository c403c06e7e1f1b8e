"""The U-Net family side by side: writes docs/architectures.md's table from measurements.

    python simulations/compare_architectures.py [--depth 4] [--base-channels 16] [--output docs/architectures.md]

For every architecture (``rd_unet.config.ARCHITECTURES``) at the same depth and width:
parameters, MACs per 128 x 256 map and receptive field (``rd-unet arch``), and CPU
inference speed (maps/s, batch 8, this machine's torch threads). With
``--budget-min M`` it also trains every architecture (and the plain U-Net with the mask
head) on the same training mixture for the same wall-clock budget of M minutes each,
evaluates each on the same test set of every preset (``rd-unet evaluate``), and writes
the detection table. Slow: run it where there is time (a GPU makes the budget go far).
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
    p.add_argument("--budget-min", type=float, default=0.0, help="train and evaluate each variant for this long")
    p.add_argument("--workdir", default=str(ROOT / "data" / "architectures"))
    p.add_argument("--test-maps", type=int, default=200)
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
        "skip concatenation (the shipped model's); a map whose size is not a multiple of 2**depth is extended by "
        "its mirror image inside and cropped back |",
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
    if args.budget_min > 0:
        lines += detection_table(args)
    else:
        lines += ["", "**Not yet measured here**: detection with each architecture trained on the same data and "
                  "budget (run this script with `--budget-min M`). Until that comparison runs, the shipped "
                  "architecture (`unet`) is the default for lack of evidence, not because it won.", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


VARIANTS = [(arch, False) for arch in ARCHITECTURES] + [("unet", True)]
PRESETS = ("default", "automotive", "ground_surveillance", "maritime")


def detection_table(args) -> list[str]:
    """Train every variant on one mixture for the same wall-clock budget; evaluate each on
    the same test sets; the table's lines."""
    from rd_unet.config import TrainConfig, load_scenario, replace_nested
    from rd_unet.data.generate import generate_dataset
    from rd_unet.eval.report import EvalConfig, evaluate
    from rd_unet.train.loop import train
    from simulations.train_pretrained import build_mix

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    train_file = build_mix(work, "train", seed=1000, fraction=0.25, kind="base")
    val_file = build_mix(work, "val", seed=2000, fraction=0.05, kind="base")
    tests = {}
    for name in PRESETS:
        tests[name] = work / f"{name}_test.h5"
        if not tests[name].exists():
            generate_dataset(load_scenario(name), tests[name], num_maps=args.test_maps, seed=9000, workers=2,
                             progress=False)
    rows = []
    for arch, mask in VARIANTS:
        label = arch + (" + mask head" if mask else "")
        run = work / (arch + ("_mask" if mask else ""))
        cfg = replace_nested(TrainConfig(data=str(train_file), val=str(val_file), output=str(run), epochs=1000,
                                         batch_size=16, lr=2e-3, flip=True, time_limit_min=args.budget_min),
                             **{"model.depth": args.depth, "model.base_channels": args.base_channels,
                                "model.arch": arch, "model.mask_head": mask})
        result = train(cfg, progress=False)
        for preset, data in tests.items():
            shape = load_scenario(preset).radar
            cal = int(-(-1e6 // (shape.chirps_per_frame * shape.samples_per_chirp)))
            rep = evaluate(data, run / "best.pt", run / f"report_{preset}", EvalConfig(num_panels=0, calibration_maps=cal),
                           progress=False)
            for method in (["unet", "unet_mask"] if mask else ["unet"]):
                m = rep["methods"][method]
                best = rep["methods"][rep["best_classical"]]
                rows.append((label if method == "unet" else label + " (mask output)", preset,
                             len(result["history"]["epoch"]), m, best, rep["best_classical"]))
            print(label, preset, rep["methods"]["unet"]["partial_auc"], flush=True)

    def f(x, spec):
        return "n/a" if x is None else format(x, spec)
    lines = ["", f"## Detection, same data and same budget ({args.budget_min:g} min of training each)", "",
             f"Each variant trained on one mixture (a quarter of `simulations/train_pretrained.py`'s base mixture, "
             f"64 x 128 crops) for {args.budget_min:g} wall-clock minutes on this machine "
             f"({torch.get_num_threads()} torch threads), then evaluated on {args.test_maps} test maps of each "
             "preset (thresholds from 1e6 calibration cells, Pfa 1e-5..1e-2).", "",
             "| variant | preset | epochs | partial AUC (best classical) | Pd@1e-4 | peak error median (dB) | erased "
             "| detection SNR gain (dB) |", "|---|---|---|---|---|---|---|---|"]
    for label, preset, epochs, m, best, best_name in rows:
        lines.append(f"| {label} | {preset} | {epochs} | {f(m['partial_auc'], '.3f')} ({best_name} "
                     f"{f(best['partial_auc'], '.3f')}) | {f(m['pd_at_pfa']['1e-4'], '.3f')} | "
                     f"{f(m['peak_error_db_median'], '+.1f')} | {f(m['erased_fraction'], '.2f')} | "
                     f"{f(m['detection_snr_gain_db'], '+.1f')} |")
    return lines + [""]


if __name__ == "__main__":
    main()
