"""Evaluate the shipped model on each preset's own test set, on noise-only maps, and on
a scenario outside its training mixture; write the model card's numbers.

    python simulations/evaluate_pretrained.py --workdir data/pretrained/eval [--maps 300]

Targets (issue 6), at matched empirical Pfa = 1e-4 on each preset's test set:
U-Net + CA-CFAR detects >= 1.5x the targets raw CA-CFAR does, beats every classical
baseline, and loses < 1 dB of target peak power; on noise-only maps the output's tail
(1e-4 quantile over the median) is no higher than the raw map's.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rd_unet.clean import clean_maps, load_denoiser  # noqa: E402
from rd_unet.config import ClutterConfig, ClutterSet, TargetConfig, load_scenario, replace_nested  # noqa: E402
from rd_unet.data.generate import generate_dataset, map_rng  # noqa: E402
from rd_unet.eval.metrics import tail_ratio_db  # noqa: E402
from rd_unet.eval.report import EvalConfig, evaluate  # noqa: E402
from rd_unet.pretrained import resolve_model  # noqa: E402
from rd_unet.sim import RDSimulator  # noqa: E402

PRESETS = ["default", "automotive", "ground_surveillance", "maritime"]
BASELINES = ["median", "wiener", "notch"]


def unseen_scenario():
    """Outside the training mixture: another map size, Blackman / Taylor windows, K clutter
    with other parameters, a drifting component at a new speed, weaker targets."""
    base = load_scenario("default")
    return replace_nested(base, **{
        "name": "unseen",
        "radar.samples_per_chirp": 96, "radar.chirps_per_frame": 48, "radar.sample_rate_hz": 3.75e6,
        "radar.range_window": "blackman", "radar.doppler_window": "taylor:40",
        "targets.range_m": (3.0, 45.0), "targets.snr_db": (0.0, 18.0),      # max range 48 m
        "clutter": ClutterSet(
            ground=ClutterConfig(enabled=True, cnr_db=(15.0, 30.0), range_m=(1.0, 48.0), range_exponent=2.5,
                                 spread_mps=(0.1, 0.4), distribution="k", shape=0.7),
            drifting=ClutterConfig(enabled=True, cnr_db=(5.0, 12.0), range_m=(25.0, 48.0),
                                   mean_velocity_mps=(-9.0, -6.0), spread_mps=(0.8, 1.6))),
    })


def noise_only(scenario):
    return replace_nested(clutter_free(scenario), targets=TargetConfig(count=(0, 0)))


def clutter_free(scenario):
    """The scenario without clutter and interference. Targets and noise are drawn before
    clutter and interference, so a seed gives the same targets and the same noise."""
    return replace_nested(scenario, clutter=ClutterSet(), **{"interference.enabled": False})


def summarise(report):
    m = report["methods"]
    raw, unet = m["raw"]["pd_at_pfa"]["1e-4"], m["unet"]["pd_at_pfa"]["1e-4"]
    best_base = max(BASELINES, key=lambda b: m[b]["pd_at_pfa"]["1e-4"])
    return {
        "pd_raw": raw, "pd_unet": unet, "pd_ratio": unet / raw if raw else None,
        "pd_unet_1e-3": m["unet"]["pd_at_pfa"]["1e-3"], "pd_raw_1e-3": m["raw"]["pd_at_pfa"]["1e-3"],
        "best_baseline": best_base, "pd_best_baseline": m[best_base]["pd_at_pfa"]["1e-4"],
        "auc_raw": m["raw"]["auc"], "auc_unet": m["unet"]["auc"],
        "mask_sinr_gain_db": m["unet"]["mask_sinr_gain_db"], "recon_sinr_gain_db": m["unet"]["recon_sinr_gain_db"],
        "peak_error_db": m["unet"]["peak_error_db"], "peak_error_db_raw": m["raw"]["peak_error_db"],
        "peak_error_db_median": m["unet"]["peak_error_db_median"],
        "pd_ideal": report["ideal"]["pd_at_pfa"]["1e-4"],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", default="data/pretrained/eval")
    p.add_argument("--maps", type=int, default=300)
    p.add_argument("--model", default=None)
    p.add_argument("--card", default=None, help="write the model card (markdown) here")
    p.add_argument("--images", default=None,
                   help="copy the default preset's report figures here (the README's: docs/images)")
    p.add_argument("--seed", type=int, default=9000, help="test sets' seed (pick models on another one)")
    p.add_argument("--noise-maps", type=int, default=2000,
                   help="noise-only maps per preset: the output's 1e-4 quantile rests on a few let-through cells")
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = str(resolve_model(args.model))
    results = {"model": model, "presets": {}, "noise_only": {}}
    scenarios = [(name, load_scenario(name)) for name in PRESETS] + [("unseen", unseen_scenario())]
    for name, sc in scenarios:
        data = work / f"{name}_test.h5"
        if not data.exists():
            generate_dataset(sc, data, num_maps=args.maps, seed=args.seed, workers=2, progress=False)
        report = evaluate(data, model, work / name, EvalConfig(), progress=False)
        results["presets"][name] = summarise(report)
        # the same maps without clutter and interference (same seed: same targets, same
        # noise): the detection a perfect removal of both would leave each method
        free = work / f"{name}_clutter_free_test.h5"
        if not free.exists():
            generate_dataset(clutter_free(sc), free, num_maps=args.maps, seed=args.seed, workers=2, progress=False)
        m = evaluate(free, model, work / f"{name}_clutter_free", EvalConfig(), progress=False)["methods"]
        results["presets"][name].update(pd_raw_clutter_free=m["raw"]["pd_at_pfa"]["1e-4"],
                                        pd_unet_clutter_free=m["unet"]["pd_at_pfa"]["1e-4"])
        print(name, json.dumps(results["presets"][name]), flush=True)
        # noise-only maps of the same radar
        sim = RDSimulator(noise_only(sc))
        # the output's median is its pedestal, so its 1e-4 quantile rests on the few cells
        # the model lets through, which come in blobs: thousands of maps keep it stable
        raw = np.stack([sim.simulate(map_rng(args.seed + 11, i)).noisy for i in range(args.noise_maps)])
        den, _, _ = load_denoiser(model, "auto")
        out = clean_maps(raw, den)
        results["noise_only"][name] = {"tail_raw_db": tail_ratio_db(raw), "tail_unet_db": tail_ratio_db(out)}
        print(name, "noise-only", json.dumps(results["noise_only"][name]), flush=True)
    (work / "summary.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {work / 'summary.json'}")
    if args.card:
        Path(args.card).write_text(model_card(results, Path(model), args.maps, args.seed, args.noise_maps))
        print(f"wrote {args.card}")
    if args.images:
        copy_figures(work / "default", Path(args.images))


def copy_figures(report_dir: Path, images: Path) -> None:
    """The default preset's report figures and JSON, under the names the README uses."""
    images.mkdir(parents=True, exist_ok=True)
    for src, dst in (("panel_0.png", "panel.png"), ("roc.png", "roc.png"), ("pd_vs_snr.png", "pd_vs_snr.png"),
                     ("report.json", "default_report.json")):
        shutil.copyfile(report_dir / src, images / dst)
        print(f"wrote {images / dst}")


def _mark(ok):
    return "yes" if ok else "**no**"


def _tail_note(results: dict) -> str:
    """The noise-only bullet of the limitations, from the measured tails."""
    tails = results["noise_only"]
    held = [n for n, t in tails.items() if t["tail_unet_db"] <= t["tail_raw_db"]]
    missed = {n: t["tail_unet_db"] - t["tail_raw_db"] for n, t in tails.items() if n not in held}
    note = ("* On noise-only maps the output sits at its -30 dB pedestal except for the few cells in "
            "100 000 that the model lets through. The 1e-4 tail criterion holds on "
            + (", ".join(held) if held else "no scenario"))
    if missed:
        note += "; it misses by " + ", ".join(f"{d:.1f} dB on {n}" for n, d in missed.items())
        if "unseen" in missed:
            note += (" (the unseen scenario's Blackman/Taylor windows have wider main lobes, which make "
                     "noise blobs look more like targets)")
    return note + "."


def _ceiling_note(results: dict) -> str:
    """The detection-ratio bullet of the limitations: where 1.5 x raw is out of reach."""
    out = {n: r for n, r in results["presets"].items()
           if n != "unseen" and r["pd_ratio"] < 1.5 and 1.5 * r["pd_raw"] > r["pd_unet_clutter_free"]}
    if not out:
        return ("* Where the U-Net misses 1.5 x the raw Pd, the table shows how much of the noise-limited "
                "ceiling it reaches.")
    parts = [f"on {n}, 1.5 x raw = {1.5 * r['pd_raw']:.3f}, ceiling {r['pd_ideal']:.3f}, U-Net with clutter and "
             f"interference removed {r['pd_unet_clutter_free']:.3f} (raw CA-CFAR there "
             f"{r['pd_raw_clutter_free']:.3f})" for n, r in out.items()]
    return ("* The 1.5x detection target is out of reach where raw CA-CFAR is already close to noise-limited: "
            + "; ".join(parts) + ". Even a perfect removal of clutter and interference would not give the U-Net "
            "1.5 x the raw Pd there; it reaches " + ", ".join(
                f"{r['pd_unet'] / r['pd_ideal']:.0%} of the ceiling on {n}" for n, r in out.items()) + ".")


def _stage(card: dict) -> str:
    return (f"{card.get('epochs_run', '?')} epochs ({card.get('steps', '?')} steps, {card.get('train_minutes', '?')} "
            f"minutes on {card.get('device', 'cpu')}; best validation loss {card.get('best_val_loss', float('nan')):.5f} "
            f"at epoch {card.get('best_epoch', '?')})")


def model_card(results: dict, model: Path, maps: int, seed: int = 9000, noise_maps: int = 2000) -> str:
    """docs/model-card.md from the measured results and the model's training record."""
    card = json.loads(model.with_suffix(".json").read_text()) if model.with_suffix(".json").is_file() else {}
    from rd_unet.train.checkpoint import read_checkpoint
    state = read_checkpoint(model)
    cfg = state["model_config"]
    lines = [
        "# Model card: `default` (shipped in `rd_unet/pretrained/default.pt`)", "",
        "The model `rd-unet clean` and `rd-unet evaluate` use when no `--model` is given. This page is "
        "written by `simulations/evaluate_pretrained.py` from measured results.", "",
        "## Model", "",
        f"Residual U-Net, depth {cfg['depth']}, {cfg['base_channels']} base channels (widths double per level), "
        f"{cfg['upsampling']} upsampling, no output bias; input and output in the log-floor representation "
        f"(`eps` = {state['normalization']['eps']:g}, `scale_db` = {state['normalization']['scale_db']:g}; "
        "see [normalisation.md](normalisation.md)). Works on maps of any size.", "",
        "## Training data", "",
        f"{card.get('training', 'see simulations/train_pretrained.py')}. Each map is cut into 64 x 128 crops "
        "(one per 64 x 128 of its area), mixed and shuffled; validation is a separate draw (seed 2000) at "
        "15 % of the size. So the mixture holds ground, drifting and volume clutter, FMCW interference, "
        "Hann and Hamming windows, SNRs from -3 to 30 dB, 0 to 10 targets per map, noise-only maps, and "
        "maps from 64 x 128 to 128 x 256.", "",
        "## Training", "",
    ]
    prev = card.get("previous_stage")
    recipe = ("MSE in the normalised domain, AdamW (weight decay 1e-4), batch 16, random flips, warm-up then "
              "cosine decay planned to end with the time budget, early stopping on validation loss")
    if prev:
        lines += [
            "Two stages on the CPU of a 2-core machine (no GPU was available), with "
            f"`simulations/train_pretrained.py` ({recipe}):", "",
            f"1. From scratch on the base mixture ({prev.get('training', '?')}), lr {prev.get('lr', 2e-3):g}: "
            f"{_stage(prev)}.",
            f"2. Fine-tuned from stage 1 (`--init`) on the full mixture, lr {card.get('lr', '?'):g}"
            + (f", target-cell weight {card['target_weight']:g}" if card.get("target_weight") else "")
            + f": {_stage(card)}.", "",
            "The training maps of both stages were drawn by rd_unet 0.1, whose noise sampler differs from "
            "0.2's (same statistics); the script regenerates them with the installed version.", "",
        ]
    else:
        lines += [f"`python simulations/train_pretrained.py` ({recipe}): {_stage(card)}.", ""]
    lines += [
        f"## Evaluation ({maps} test maps per scenario, seed {seed}; `rd-unet evaluate`)", "",
        "Detection at matched empirical Pfa = 1e-4 (each method's own threshold), CA-CFAR after each method. "
        "Targets of issue 6: U-Net >= 1.5x raw CA-CFAR's detections, better than every classical baseline, "
        "less than 1 dB of target peak power lost; on noise-only maps an output tail (1e-4 quantile over the "
        f"median, over {noise_maps} maps of each radar) no higher than the raw map's.", "",
        "How much is there to win? `ceiling` is the noise-limited ideal detector's Pd on the same targets "
        "(no clutter, no interference, known noise power, cells independent; "
        "[metrics.md](metrics.md#the-ceiling-the-noise-limited-ideal-detector-ideal)), a slight overestimate. "
        "`U-Net, no clutter` is the U-Net's Pd on the same test set re-simulated without clutter and "
        "interference (same seed: the same targets and the same noise): what it would detect if it removed "
        "both perfectly. Where 1.5 x raw Pd lies above these, no denoiser of power maps can reach the ratio "
        "target; the U-Net's share of the ceiling is the fairer figure there.", "",
        "| scenario | Pd raw | Pd U-Net | ratio (>= 1.5) | 1.5 x raw | ceiling | U-Net, no clutter | U-Net / ceiling "
        "| best baseline (Pd) | beats baselines | Pd raw / U-Net at 1e-3 "
        "| mask SINR gain | peak power (> -1 dB) | noise tail raw / U-Net (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["presets"].items():
        tail = results["noise_only"].get(name, {})
        ratio = r["pd_ratio"] or 0.0
        lines.append(
            f"| {name}{' (not in training)' if name == 'unseen' else ''} | {r['pd_raw']:.3f} | {r['pd_unet']:.3f} | "
            f"{ratio:.2f} ({_mark(ratio >= 1.5)}) | {1.5 * r['pd_raw']:.3f} | {r['pd_ideal']:.3f} | "
            f"{r['pd_unet_clutter_free']:.3f} | {r['pd_unet'] / r['pd_ideal']:.0%} | "
            f"{r['best_baseline']} ({r['pd_best_baseline']:.3f}) | "
            f"{_mark(r['pd_unet'] > r['pd_best_baseline'])} | {r['pd_raw_1e-3']:.3f} / {r['pd_unet_1e-3']:.3f} | "
            f"{r['mask_sinr_gain_db']:+.1f} dB | {r['peak_error_db']:+.2f} dB ({_mark(r['peak_error_db'] > -1)}) | "
            f"{tail.get('tail_raw_db', float('nan')):.1f} / {tail.get('tail_unet_db', float('nan')):.1f} "
            f"({_mark(tail.get('tail_unet_db', 99) <= tail.get('tail_raw_db', 0))}) |")
    lines += [
        "", "`unseen` is outside the training mixture: 48 x 96 maps, Blackman (range) and Taylor (Doppler) "
        "windows, K-distributed ground clutter of shape 0.7 and a drifting component at -6 to -9 m/s.", "",
        "## Limitations", "",
        "* Trained on simulated maps only; recorded data with other artefacts (phase noise, multipath, "
        "ADC effects) may need fine-tuning: `rd-unet train --init default --data your_maps.h5 ...`.",
        "* The U-Net is conservative. At Pfa = 1e-4 and below it finds far more targets than raw CA-CFAR, "
        "but it suppresses the weakest targets entirely. Near Pfa = 1e-3 and above, raw CA-CFAR catches "
        "more of them (see the ROC in each report and the 1e-3 column).",
        "* Peak power is preserved for targets the model is sure of. Targets it half-suppresses lose power, "
        "which the power-weighted peak error averages in.",
        _tail_note(results),
        _ceiling_note(results),
        "",
        "## Reproduce", "",
        "```",
        "python simulations/train_pretrained.py --mixture base --time-limit-min 42 --output data/pretrained/stage1.pt"
        if prev else "python simulations/train_pretrained.py --workdir data/pretrained",
    ]
    if prev:
        lines.append(f"python simulations/train_pretrained.py --init data/pretrained/stage1.pt --lr {card.get('lr'):g}"
                     + (f" --target-weight {card['target_weight']:g}" if card.get("target_weight") else "")
                     + f" --time-limit-min {card.get('time_limit_min', round(card.get('train_minutes', 70))):g}")
    lines += [
        "python simulations/evaluate_pretrained.py --workdir data/pretrained/eval --card docs/model-card.md "
        "--images docs/images", "```",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
