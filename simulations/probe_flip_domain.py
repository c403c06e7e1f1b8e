"""Probe: the test-time flip average taken in another domain than log power (inference only).

    python simulations/probe_flip_domain.py [--model default] [--scenarios default unseen ...] \
        [--maps 100] [--workdir data/flip_domain] [--output table.md]

The shipped model averages the network's outputs over the four flips of a map in its
normalised, log-power domain (``Denoiser.network``): the geometric mean of the four power
estimates. A cell that one or two of the four views keep and the others remove comes out
far below the views that keep it, which is how a weak target is erased. The power mean
of order k, (mean p_i^k)^(1/k) of the four estimates (k = 1: power, k = 0.5: amplitude),
lets such a cell through, and with it whatever clutter residue one view lets through.

Each scenario is scored in one report (``rd_unet.eval.report.evaluate`` with
``extra_methods``): the shipped averaging as ``unet``, each power mean as ``unet_k<k>``,
with ``--median`` the median of the four as ``unet_median``, and the classical family, on
the same maps with thresholds from the same calibration maps. The maps are the model-selection ones of ``simulations/ablate.py`` (seed 8000,
thresholds from 1e6 target-free cells, Pfa 1e-5..1e-2), so ``--workdir data/v27/ablate``
reuses its test files. The figures behind docs/normalisation.md ("Flip averaging").
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.eval.report import EvalConfig, evaluate, largest_shortfall  # noqa: E402
from rd_unet.files import atomic_write_text  # noqa: E402
from rd_unet.model.inference import denoise, load_denoiser  # noqa: E402
from rd_unet.model.pretrained import resolve_model  # noqa: E402
from rd_unet.model.unet import Denoiser  # noqa: E402
from simulations.ablate import CALIBRATION_CELLS, scenario  # noqa: E402

FLIPS = ((), (-2,), (-1,), (-2, -1))


def power_mean(views: torch.Tensor, order: float, scale_db: float) -> torch.Tensor:
    """The power mean of order ``order`` over the first axis of ``views``, network outputs in
    the normalised domain (``y = 10 log10(p / floor + eps) / scale_db``), returned in it."""
    k = order * scale_db / 10.0
    return torch.log10(torch.mean(10.0 ** (views * k), dim=0)) / k


def median_of(views: torch.Tensor) -> torch.Tensor:
    """The median over the first axis of four ``views`` (the mean of the middle two): a
    cell that one view alone keeps, or one view alone removes, does not move it."""
    v = views.sort(dim=0).values
    return (v[1] + v[2]) / 2


class FlipsReduced(Denoiser):
    """``denoiser`` with its four flipped outputs combined by ``reduce`` ((4, ...) -> (...),
    in the normalised domain) instead of their mean."""

    def __init__(self, denoiser: Denoiser, reduce):
        super().__init__(denoiser.unet, denoiser.normalization, denoiser.pedestal)
        self.reduce = reduce

    def network(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(torch.stack([self._view(x, dims, 0) for dims in FLIPS]))


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive order, got {text}")
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="checkpoint or shipped name (default: the shipped model)")
    p.add_argument("--orders", nargs="*", type=_positive, default=[1.0, 0.5],
                   help="power-mean orders: 1 averages power, 0.5 amplitude (none: --orders alone)")
    p.add_argument("--median", action="store_true", help="also the median of the four outputs")
    p.add_argument("--scenarios", nargs="+", default=["default", "unseen", "stress/dense_scene",
                                                       "stress/noise_slope", "stress/extended_targets",
                                                       "stress/drifting_rain"])
    p.add_argument("--maps", type=int, default=100)
    p.add_argument("--seed", type=int, default=8000)
    p.add_argument("--workdir", default="data/flip_domain")
    p.add_argument("--output", default=None, help="markdown table (default: print it)")
    args = p.parse_args(argv)
    if args.maps < 1:
        p.error(f"--maps: expected a number of maps of at least 1, got {args.maps}")
    try:
        model = resolve_model(args.model)
    except FileNotFoundError as e:
        p.error(f"--model: {e}")
    try:
        scenes = {name: scenario(name) for name in args.scenarios}
    except ValueError as e:
        p.error(f"--scenarios: {e}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    den, device, _ = load_denoiser(model, "auto", flip_average=True)
    cfg0 = EvalConfig(num_panels=0)
    scale_db = den.normalization.scale_db
    variants = {f"unet_k{k:g}": FlipsReduced(den, partial(power_mean, order=k, scale_db=scale_db))
                for k in args.orders}
    if args.median:
        variants["unet_median"] = FlipsReduced(den, median_of)
    extra = {name: (lambda x, v=v: denoise(v, x, batch_size=cfg0.batch_size, device=device).astype(np.float64))
             for name, v in variants.items()}
    rows = []
    for name, sc in scenes.items():
        data = work / f"{name.replace('/', '_')}_test.h5"
        if not data.exists():
            generate_dataset(sc, data, num_maps=args.maps, seed=args.seed, workers=2, progress=False)
        cells = sc.radar.chirps_per_frame * sc.radar.samples_per_chirp
        cfg = EvalConfig(num_panels=0, calibration_maps=int(np.ceil(CALIBRATION_CELLS / cells)))
        report = evaluate(data, model, work / "reports" / name.replace("/", "_"), cfg, progress=False,
                          extra_methods=extra, flip_average=True)
        best = report["best_classical"]
        b = report["methods"][best]
        for method in ["unet", *extra]:
            m = report["methods"][method]
            gap = largest_shortfall(report["pfa_grid"], m["pd_at_pfa_grid"], b["pd_at_pfa_grid"])
            rows.append((name, method, m["partial_auc"], best, b["partial_auc"], gap, m["erased_fraction"]))
            print(json.dumps({"scenario": name, "method": method, "partial_auc": m["partial_auc"],
                              "erased_fraction": m["erased_fraction"]}), flush=True)
    text = table(rows, args)
    if args.output:
        atomic_write_text(args.output, text)
    print(text)


def table(rows, args) -> str:
    lines = [f"Flip average by domain ({args.maps} maps per scenario, seed {args.seed}; `unet`: the log-power "
             "mean, as shipped; `unet_k<k>`: the power mean of order k; `unet_median`: the median of the four)", "",
             "| scenario | averaging | partial AUC (best classical) | largest Pd shortfall | erased |",
             "|---|---|---|---|---|"]
    for name, method, pauc, best, bpauc, gap, erased in rows:
        short = "none" if gap is None else f"{gap['gap']:.3f} at Pfa {gap['pfa']:.0e}"
        lines.append(f"| {name} | {method} | {pauc:.3f} ({best} {bpauc:.3f}) | {short} | {erased:.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
