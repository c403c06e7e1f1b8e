"""The whole pipeline on the default scenario: simulate -> train -> evaluate -> clean,
then the shipped pretrained model scored on the same test maps.

``make demo`` runs ``rd-unet demo`` (about 10 minutes on a 2-core CPU; a GPU is
used when present); ``--quick`` is a one-minute smoke run of the same steps.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from rd_unet.config import TrainConfig, UNetConfig, load_scenario


@dataclass(frozen=True)
class DemoPlan:
    train_maps: int
    val_maps: int
    test_maps: int
    epochs: int
    time_limit_min: float
    max_steps_per_epoch: int
    model: UNetConfig
    calibration_maps: int = 0       # 0: enough for Pfa 1e-6



FULL = DemoPlan(train_maps=2400, val_maps=200, test_maps=400, epochs=40, time_limit_min=8.0,
                max_steps_per_epoch=0, model=UNetConfig(depth=3, base_channels=16))
QUICK = DemoPlan(train_maps=48, val_maps=12, test_maps=24, epochs=1, time_limit_min=0.0,
                 max_steps_per_epoch=3, model=UNetConfig(depth=2, base_channels=4), calibration_maps=40)


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def run_demo(output="data/demo", *, quick: bool = False, device: str = "auto", progress: bool = True) -> dict:
    """Run the pipeline into ``output``; returns the evaluation report."""
    from rd_unet.clean import clean_files
    from rd_unet.data.generate import generate_dataset
    from rd_unet.data.hdf5 import DatasetFormatError, open_dataset
    from rd_unet.eval.report import EvalConfig, evaluate, verdict
    from rd_unet.train.loop import train

    from rd_unet.model.inference import pick_device

    pick_device(device)             # a bad --device fails now, not after the simulation
    plan = QUICK if quick else FULL
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    scenario = load_scenario("default")
    t0 = time.time()

    _say(f"1/5 simulate: {plan.train_maps} train, {plan.val_maps} validation, {plan.test_maps} test maps "
         f"of the '{scenario.name}' scenario")
    files = {}
    for split, n, seed in (("train", plan.train_maps, 1), ("val", plan.val_maps, 2), ("test", plan.test_maps, 3)):
        path = out / f"{split}.h5"
        if path.exists():
            try:
                with open_dataset(path, need_clean=True) as f:
                    reusable = f["noisy"].shape[0] == n and int(f.attrs.get("seed", -1)) == seed
            except DatasetFormatError:
                reusable = False
            if reusable:
                _say(f"   reusing {path}")
                files[split] = path
                continue
            path.unlink()
        files[split] = generate_dataset(scenario, path, num_maps=n, seed=seed, workers=2, progress=progress)

    _say("2/5 train the U-Net" + ("" if quick else f" (up to {plan.time_limit_min:g} min on this machine)"))
    cfg = TrainConfig(data=str(files["train"]), val=str(files["val"]), output=str(out / "run"), epochs=plan.epochs,
                      batch_size=16, lr=2e-3, seed=0, device=device, flip=True, patience=6,
                      time_limit_min=plan.time_limit_min, max_steps_per_epoch=plan.max_steps_per_epoch,
                      model=plan.model)
    result = train(cfg, progress=progress)
    checkpoint = out / "run" / "best.pt"

    _say("3/5 evaluate raw CA-CFAR, classical baselines, the U-Net and the oracle "
         "(thresholds calibrated on maps that are not scored)")
    report = evaluate(files["test"], checkpoint, out / "report", EvalConfig(device=device, calibration_maps=plan.calibration_maps), progress=progress)

    _say("4/5 clean a sample of recorded maps (.npy) with the trained model")
    sample = out / "sample"
    sample.mkdir(exist_ok=True)
    with h5py.File(files["test"], "r") as f:
        np.save(sample / "recording.npy", f["noisy"][:8])
    summary = clean_files([sample / "recording.npy"], out / "cleaned", model=checkpoint, device=device,
                          overwrite=True, progress=False)

    _say("5/5 evaluate the shipped pretrained model (rd_unet/pretrained/default.pt, trained for hours on a "
         "broad mixture) on the same test maps")
    shipped = evaluate(files["test"], None, out / "report_pretrained",
                       EvalConfig(device=device, calibration_maps=plan.calibration_maps), progress=progress)

    m = report["methods"]
    headline = {
        "minutes": round((time.time() - t0) / 60, 1),
        "epochs": len(result["history"]["epoch"]),
        "mask_sinr_gain_db": m["unet"]["mask_sinr_gain_db"],
        "pd_at_pfa_1e-4": {"raw": m["raw"]["pd_at_pfa"]["1e-4"], "unet": m["unet"]["pd_at_pfa"]["1e-4"]},
        "pd_at_pfa_1e-3": {"raw": m["raw"]["pd_at_pfa"]["1e-3"], "unet": m["unet"]["pd_at_pfa"]["1e-3"]},
        # the noise-limited ideal detector: what perfect removal of clutter would allow
        "pd_ceiling_1e-4": report["ideal"]["pd_at_pfa"]["1e-4"],
        "best_classical": report["best_classical"],
        "pd_best_classical_1e-4": m[report["best_classical"]]["pd_at_pfa"]["1e-4"],
        "partial_auc": {"unet": m["unet"]["partial_auc"], report["best_classical"]:
                        m[report["best_classical"]]["partial_auc"]},
        "unet_dominates_best_classical": report["unet_dominates_best_classical"],
        "unet_loses_at_pfa": report["unet_loses_at_pfa"],
        "unet_largest_shortfall": report.get("unet_largest_shortfall"),
        "unet_erased_fraction": m["unet"]["erased_fraction"],
        "unet_erased_fraction_snr10": m["unet"].get("erased_fraction_snr10"),
        "cleaned_maps": summary["maps"],
        "pretrained": _headline(shipped),
    }
    (out / "headline.json").write_text(json.dumps(headline, indent=2))
    _say(f"done in {headline['minutes']} min. Report: {out / 'report' / 'report.md'}")
    _say(f"   U-Net mask SINR gain {headline['mask_sinr_gain_db']:+.1f} dB; "
         f"Pd at Pfa 1e-4: raw CA-CFAR {headline['pd_at_pfa_1e-4']['raw']:.2f} -> U-Net + CA-CFAR "
         f"{headline['pd_at_pfa_1e-4']['unet']:.2f}, noise-limited ceiling {headline['pd_ceiling_1e-4']:.2f} "
         f"(at 1e-3: {headline['pd_at_pfa_1e-3']['raw']:.2f} -> {headline['pd_at_pfa_1e-3']['unet']:.2f})")
    _say(f"   best classical method: {headline['best_classical']} (Pd at 1e-4 "
         f"{headline['pd_best_classical_1e-4']:.2f}); {verdict(report)}")
    _say(f"   U-Net erases {headline['unet_erased_fraction']:.0%} of the targets (output peak > 10 dB below the clean "
         f"one){_strong(headline['unet_erased_fraction_snr10'])}")
    _say(f"   cleaned sample: {out / 'cleaned' / 'recording.npy'}")
    p = headline["pretrained"]
    _say(f"   the shipped model on the same maps: Pd at Pfa 1e-4 {p['pd_at_pfa_1e-4']:.2f} (best classical, "
         f"{p['best_classical']}: {p['pd_best_classical_1e-4']:.2f}); partial AUC {p['partial_auc']:.3f} against "
         f"{p['partial_auc_best_classical']:.3f}; erases {p['erased_fraction']:.0%} of the targets"
         f"{_strong(p['erased_fraction_snr10'])}. "
         f"{verdict(shipped)} Report: {out / 'report_pretrained' / 'report.md'}")
    return report


def _strong(fraction) -> str:
    """The erased share among the targets of SNR >= 10 dB: an output floor k times the input's
    noise seldom erases weaker targets whatever the network decides (docs/metrics.md)."""
    return "" if fraction is None else f", {fraction:.0%} of those of SNR >= 10 dB"


def _headline(report: dict) -> dict:
    """The U-Net's figures of an evaluation report beside its best classical method's."""
    m, best = report["methods"], report["best_classical"]
    return {"model": report["model"].get("path", ""),
            "pd_at_pfa_1e-4": m["unet"]["pd_at_pfa"]["1e-4"], "best_classical": best,
            "pd_best_classical_1e-4": m[best]["pd_at_pfa"]["1e-4"],
            "partial_auc": m["unet"]["partial_auc"], "partial_auc_best_classical": m[best]["partial_auc"],
            "unet_dominates_best_classical": report["unet_dominates_best_classical"],
            "unet_loses_at_pfa": report["unet_loses_at_pfa"],
            "unet_largest_shortfall": report.get("unet_largest_shortfall"), "erased_fraction": m["unet"]["erased_fraction"],
            "erased_fraction_snr10": m["unet"].get("erased_fraction_snr10")}
