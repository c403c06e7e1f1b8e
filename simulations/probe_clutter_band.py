"""Probe: which targets a candidate denoiser erases inside clutter, and how far they stood above it.

    python simulations/probe_clutter_band.py --model default data/v27/cw4_flip.pt

On each scene's maps (200 per scene, seed 8125, simulated once into ``--workdir``) every
target not buried (``rd_unet.eval.metrics.buried``: the input there is not more than 15 dB
above its clean peak) is placed by the clutter around it (``rd_unet.eval.metrics.local_clutter_db``:
the median of the 7 x 7 input cells around it less the 3 x 3 at its centre, over the map's
median). Targets where that is at least ``--band-db`` (3 dB) are *in clutter*; for them the
table splits the erased ones (``rd_unet.eval.metrics.erased``, as on the model card) by
their clean peak over that local mean. The figures behind docs/normalisation.md
("Drifting clutter bands").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rd_unet.config import load_scenario  # noqa: E402
from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.data.hdf5 import targets_by_map  # noqa: E402
from rd_unet.eval.metrics import buried, erased, local_clutter_db  # noqa: E402
from rd_unet.model.inference import clean_maps  # noqa: E402
from simulations.probe_tail_strong import load_models  # noqa: E402

SCR_BINS_DB = ((-np.inf, 3.0), (3.0, 6.0), (6.0, 10.0), (10.0, 15.0), (15.0, np.inf))


def band_table(noisy, out, clean, targets, band_db: float = 3.0) -> dict:
    """Counts over a set of maps: ``visible`` (targets not buried), ``outside`` and
    ``outside_erased`` (local clutter under ``band_db`` over the floor), and per bin of
    ``SCR_BINS_DB`` (clean peak over the local mean) the targets in clutter and the erased."""
    gone, scr, level = [], [], []
    for i, t in enumerate(targets_by_map(targets, 0, len(noisy))):
        keep = ~buried(noisy[i], clean[i], t)
        t = t[keep]
        floor_db = 10 * np.log10(np.median(noisy[i]) / np.log(2))
        local = local_clutter_db(noisy[i], t)            # over the floor
        peak = 10 * np.log10(clean[i][t["doppler_bin"], t["range_bin"]])
        gone.append(erased(out[i], clean[i], t))
        scr.append(peak - floor_db - local)
        level.append(local)
    gone, scr, level = np.concatenate(gone), np.concatenate(scr), np.concatenate(level)
    inside = level >= band_db
    rows = [(lo, hi, int((sel := inside & (scr >= lo) & (scr < hi)).sum()), int(gone[sel].sum()))
            for lo, hi in SCR_BINS_DB]
    return {"visible": len(gone), "outside": int((~inside).sum()), "outside_erased": int(gone[~inside].sum()),
            "inside": int(inside.sum()), "inside_erased": int(gone[inside].sum()), "bins": rows}


def _maps(workdir: Path, scene: str, n: int) -> Path:
    path = workdir / f"band_{n}maps_seed8125_{scene.replace('/', '_')}.h5"     # what was drawn, in the name
    if not path.exists():
        generate_dataset(load_scenario(scene), path, num_maps=n, seed=8125, progress=False)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", required=True, help="checkpoints or shipped model names")
    p.add_argument("--workdir", type=Path, default=ROOT / "data" / "probe_clutter_band")
    p.add_argument("--scenes", nargs="+", default=["stress/drifting_rain", "stress/moving_platform"])
    p.add_argument("--maps", type=int, default=200)
    p.add_argument("--band-db", type=float, default=3.0, help="local clutter over the floor that counts as a band")
    args = p.parse_args(argv)
    if args.maps < 1:
        p.error(f"--maps: expected a number of maps of at least 1, got {args.maps}")
    models = load_models(p, args.model)
    for scene in args.scenes:
        try:
            load_scenario(scene)
        except ValueError as e:
            p.error(f"--scenes: {e}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    for scene in args.scenes:
        with h5py.File(_maps(args.workdir, scene, args.maps), "r") as f:
            noisy, clean, targets = f["noisy"][()], f["clean"][()], f["targets"][()]
        for name, model in zip(args.model, models):
            t = band_table(noisy, clean_maps(noisy, model), clean, targets, args.band_db)
            bins = ", ".join(f"{lo:g}..{hi:g} dB {e}/{n}" for lo, hi, n, e in t["bins"] if n)
            print(f"{scene:24s} {name:28s} visible {t['visible']}: outside clutter {t['outside_erased']}/"
                  f"{t['outside']} erased; inside {t['inside_erased']}/{t['inside']} ({bins})", flush=True)


if __name__ == "__main__":
    main()
