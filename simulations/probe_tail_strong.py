"""Probe: two cheap filters for a candidate denoiser, before the hour-long model card.

    python simulations/probe_tail_strong.py --model data/v25/b9_flip.pt [--model default ...]

* **tail**: on target-free maps (600 per scene, seed 8123, the scene's clutter kept), the
  output's 1 - 1e-5 and 1 - 1e-4 power quantiles over the input's noise floor (each map's
  median / ln 2: the mean of exponential noise). The thresholds at Pfa 1e-6..1e-5 sit here;
  a model that lets ridge clutter spikes through raises it. Also where the 50 highest output
  cells are (Doppler rows from zero Doppler) and how strong they were at the input.
* **strong**: 60-70 dB SNR point targets (40 maps per scene, seed 8124); erased as in the card
  (``rd_unet.eval.metrics.erased``: the output's maximum within +-1 cell more than 10 dB
  below the clean map's). Split by the target's distance in Doppler bins from zero Doppler, where the clutter
  ridge is.

The figures behind docs/normalisation.md ("Strong targets"). Maps are simulated once into
``--workdir`` and reused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rd_unet.config import load_scenario, replace_nested  # noqa: E402
from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.data.hdf5 import targets_by_map  # noqa: E402
from rd_unet.eval.metrics import erased, upper_quantile_db  # noqa: E402
from rd_unet.model.inference import clean_maps, load_denoiser  # noqa: E402

BANDS = ((0, 1), (2, 4), (5, 8), (9, 10 ** 6))


def _maps(workdir: Path, scene: str, kind: str) -> Path:
    # what was drawn in the name: a cache never answers for other maps
    tag = "tail_600maps_seed8123" if kind == "tail" else "strong_point60-70dB_40maps_seed8124"
    path = workdir / f"{tag}_{scene.replace('/', '_')}.h5"
    if not path.exists():
        sc = load_scenario(scene)
        if kind == "tail":
            sc = replace_nested(sc, **{"targets.count": (0, 0)})
            generate_dataset(sc, path, num_maps=600, seed=8123, progress=False)
        else:
            sc = replace_nested(sc, **{"targets.snr_db": (60.0, 70.0), "targets.extended_fraction": 0.0})
            generate_dataset(sc, path, num_maps=40, seed=8124, progress=False)
    return path


def tail_figures(noisy, out, zero_row: int, top: int = 50) -> dict:
    """The output's upper quantiles over each input map's floor (median / ln 2), in dB, and
    where its ``top`` highest cells are: Doppler rows from ``zero_row`` (wrapping), their
    level at the input over the floor and the change the denoiser made there."""
    floor = np.median(noisy, axis=(1, 2), keepdims=True) / np.log(2)
    rel = out / floor
    idx = np.argsort(rel, axis=None)[-top:]
    d = np.unravel_index(idx, rel.shape)[1]
    off = np.minimum(np.abs(d - zero_row), noisy.shape[1] - np.abs(d - zero_row))
    return {"q1e-5_db": upper_quantile_db(rel, 1e-5), "q1e-4_db": upper_quantile_db(rel, 1e-4),
            "top_offset_median": float(np.median(off)), "top_within_3": float(np.mean(off <= 3)),
            "top_input_db": float(np.median(10 * np.log10((noisy / floor).reshape(-1)[idx]))),
            "top_change_db": float(np.median(10 * np.log10(out.reshape(-1)[idx] / noisy.reshape(-1)[idx])))}


def strong_figures(out, clean, targets, zero_row: int) -> list[tuple[int, int, int, float]]:
    """(lo, hi, number of targets, erased fraction) per band of Doppler distance from
    ``zero_row`` (wrapping); erased as on the model card (``rd_unet.eval.metrics.erased``)."""
    n_d = out.shape[1]
    gone, off = [], []
    for i, t in enumerate(targets_by_map(targets, 0, len(out))):
        gone.append(erased(out[i], clean[i], t))
        dist = np.abs(t["doppler_bin"] - zero_row)
        off.append(np.minimum(dist, n_d - dist))
    gone, off = np.concatenate(gone), np.concatenate(off)
    bands = []
    for lo, hi in BANDS:
        sel = (off >= lo) & (off <= hi)
        if sel.any():
            bands.append((lo, hi, int(sel.sum()), float(gone[sel].mean())))
    return bands


def _read(path: Path):
    with h5py.File(path, "r") as f:
        return f["noisy"][()], f["clean"][()], f["targets"][()], int(np.argmin(np.abs(f["velocity_mps"][()])))


def tail(model, path: Path) -> str:
    noisy, _, _, zero = _read(path)
    f = tail_figures(noisy, clean_maps(noisy, model), zero)
    return (f"q(1-1e-5) {f['q1e-5_db']:.1f} dB, q(1-1e-4) {f['q1e-4_db']:.1f} dB; top 50 cells: |doppler off| "
            f"median {f['top_offset_median']:.0f} (<=3: {f['top_within_3']:.2f}), input level median "
            f"{f['top_input_db']:.1f} dB, out/in median {f['top_change_db']:.1f} dB")


def strong(model, path: Path) -> list[str]:
    noisy, clean, targets, zero = _read(path)
    return [f"|d| {lo}-{hi if hi < 10 ** 6 else 'end'}: n={n:3d} erased {frac:.2f}"
            for lo, hi, n, frac in strong_figures(clean_maps(noisy, model), clean, targets, zero)]


def load_models(parser: argparse.ArgumentParser, names) -> list:
    """The denoisers named by ``--model`` (checkpoints or shipped names), on the CPU; one
    that cannot be read is a usage error naming it, before anything is drawn."""
    models = []
    for name in names:
        try:
            models.append(load_denoiser(name, "cpu")[0])
        except (OSError, ValueError) as e:
            parser.error(f"--model {name}: {e}")
    return models


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", required=True, help="checkpoints or shipped model names")
    p.add_argument("--workdir", type=Path, default=ROOT / "data" / "probe_tail_strong")
    p.add_argument("--tail-scenes", nargs="+", default=["default", "ground_surveillance"])
    p.add_argument("--strong-scenes", nargs="+", default=["default", "ground_surveillance", "automotive"])
    p.add_argument("--skip", choices=("tail", "strong"), default=None)
    args = p.parse_args(argv)
    models = load_models(p, args.model)
    for flag, scenes in (("--tail-scenes", args.tail_scenes), ("--strong-scenes", args.strong_scenes)):
        for scene in scenes:
            try:
                load_scenario(scene)
            except ValueError as e:
                p.error(f"{flag}: {e}")
    for name, model in zip(args.model, models):
        print(f"== {name}", flush=True)
        if args.skip != "tail":
            for scene in args.tail_scenes:
                print(f"tail   {scene:22s} {tail(model, _maps(args.workdir, scene, 'tail'))}", flush=True)
        if args.skip != "strong":
            for scene in args.strong_scenes:
                for line in strong(model, _maps(args.workdir, scene, "strong")):
                    print(f"strong {scene:22s} {line}", flush=True)


if __name__ == "__main__":
    main()
