"""Probe: does the shipped model depend on how a map is padded, or on where zero Doppler is?

    python simulations/probe_map_geometry.py --scenario stress/odd_size_100x300 --variant replicate reflect
    python simulations/probe_map_geometry.py --scenario default --variant roll0 roll8 roll32

The figures behind docs/normalisation.md ("Padding by the map's mirror image" and "the
network knows where zero Doppler is"). Each variant replaces, for this process only, how
the U-Net brings a map to a multiple of 2**depth:

* ``replicate``: the far ends padded by repeating the last row and column (until 0.10);
* ``reflect``: the map's mirror image, the last cell not repeated (0.10's ``mirror_pad``);
* ``symmetric``: the mirror image with the last cell repeated;
* ``wrap_doppler``: Doppler wrapped around (periodic), range mirrored;
* ``centre``: replication split between both ends;
* ``rollK``: the map rolled circularly by K Doppler rows before the network (still a valid
  map: the Doppler axis is periodic), padded by ``mirror_pad``, the output rolled back.

Scored with ``rd-unet evaluate`` on model-selection maps (seed 8000, not the card's
9000), thresholds from 1e6 target-free cells; a scenario is a preset name, a stress
preset (``stress/NAME``) or a TOML file, ``--size D R`` redraws it with another number
of chirps and samples per chirp.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rd_unet  # noqa: E402
from rd_unet.config import load_scenario, replace_nested  # noqa: E402
from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.eval.report import EvalConfig, evaluate  # noqa: E402
from rd_unet.model import unet as unet_module  # noqa: E402
from simulations.evaluate_pretrained import summarise  # noqa: E402


VARIANTS = ("replicate", "reflect", "symmetric", "wrap_doppler", "centre")


def _sym(x, pad, dim):
    return torch.cat([x, torch.flip(x, [dim]).narrow(dim, 0, min(pad, x.shape[dim]))], dim)


def _wrap(x, pad, dim):
    return torch.cat([x, x.narrow(dim, 0, min(pad, x.shape[dim]))], dim)


def padded_forward(variant: str):
    """A replacement for ``UNet.forward`` (arch ``unet`` and its padded relatives)."""
    roll = int(variant[4:]) if variant.startswith("roll") else 0
    mirror = unet_module.mirror_pad

    def forward(self, x):
        d, r = x.shape[-2:]
        m = 2 ** self.config.depth
        pd, pr = (-d) % m, (-r) % m
        a = b = 0
        if variant == "replicate":
            x = F.pad(x, (0, pr, 0, pd), mode="replicate")
        elif variant == "symmetric":
            x = _sym(_sym(x, pd, -2), pr, -1)
        elif variant == "wrap_doppler":
            x = mirror(_wrap(x, pd, -2), pr, -1)
        elif variant == "centre":
            a, b = pd // 2, pr // 2
            x = F.pad(x, (b, pr - b, a, pd - a), mode="replicate")
        elif variant == "reflect" or variant.startswith("roll"):
            x = mirror(mirror(torch.roll(x, roll, -2), pd, -2), pr, -1)
        else:
            raise SystemExit(f"unknown variant {variant!r}")
        return torch.roll(self.core(x)[..., a:a + d, b:b + r], -roll, -2)
    return forward


def scenario(name: str, size=None):
    if name.startswith("stress/"):
        sc = load_scenario(Path(rd_unet.__file__).resolve().parent / "presets" / "stress" / f"{name[7:]}.toml")
    else:
        sc = load_scenario(name)
    if size:
        sc = replace_nested(sc, **{"name": f"{sc.name}_{size[0]}x{size[1]}", "radar.chirps_per_frame": size[0],
                                   "radar.samples_per_chirp": size[1]})
    return sc


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="stress/odd_size_100x300",
                   help="preset or stress/ preset (default: stress/odd_size_100x300)")
    p.add_argument("--size", type=int, nargs=2, metavar=("D", "R"),
                   help="chirps and samples per chirp (default: the scenario's)")
    p.add_argument("--variant", nargs="+", default=["replicate", "reflect"],
                   help=f"any of {', '.join(VARIANTS)}, or rollK (the map rolled K rows along Doppler; "
                        "default: replicate reflect)")
    p.add_argument("--model", default=str(ROOT / "rd_unet" / "pretrained" / "default.pt"))
    p.add_argument("--maps", type=int, default=100, help="maps drawn (seed 8000, the model-selection seed; default: 100)")
    p.add_argument("--workdir", default=str(ROOT / "data" / "probe_geometry"))
    args = p.parse_args(argv)
    bad = [v for v in args.variant if v not in VARIANTS and not (v.startswith("roll") and v[4:].isdigit())]
    if bad:
        p.error(f"unknown --variant {', '.join(bad)}: expected {', '.join(VARIANTS)} or rollK (K a number of rows)")
    if args.maps < 1:
        p.error(f"--maps: expected a positive number of maps, got {args.maps}")
    if not Path(args.model).is_file():
        p.error(f"--model {args.model}: no such checkpoint")
    try:
        sc = scenario(args.scenario, args.size)
    except ValueError as e:                            # ConfigError: unknown preset, size out of range
        p.error(f"--scenario {args.scenario}" + (f" --size {args.size[0]} {args.size[1]}" if args.size else "")
                + f": {e}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"{sc.name}_seed8000_{args.maps}maps.h5"   # the count in the name: a cache never answers for another
    if not data.exists():
        generate_dataset(sc, data, num_maps=args.maps, seed=8000, workers=2, progress=False)
    cells = sc.radar.chirps_per_frame * sc.radar.samples_per_chirp
    cfg = EvalConfig(num_panels=1, calibration_maps=int(np.ceil(1e6 / cells)))
    original = unet_module.UNet.forward
    print(f"{sc.name} ({sc.radar.chirps_per_frame} x {sc.radar.samples_per_chirp}), {args.maps} maps, seed 8000")
    for variant in args.variant:
        unet_module.UNet.forward = padded_forward(variant)
        try:
            report = evaluate(data, args.model, work / f"{sc.name}_{variant}", cfg, progress=False)
        finally:
            unet_module.UNet.forward = original
        s = summarise(report)
        u, best = s["methods"]["unet"], s["methods"][s["best_classical"]]
        print(f"  {variant:13s} U-Net partial AUC {u['partial_auc']:.4f}  {s['best_classical']} "
              f"{best['partial_auc']:.4f}  below it at {len(s['unet_loses_at_pfa'])} Pfa points", flush=True)


if __name__ == "__main__":
    main()
