"""Compare trained denoisers on the same model-selection test sets; write a markdown table.

    python simulations/ablate.py --model tf0=data/ablation/tf0.pt --model tf1=data/ablation/tf1.pt \
        --scenarios default unseen stress/moving_platform --maps 100 --output docs/ablation.md

The test sets are drawn with seed 8000, not the model card's 9000: a model is picked on
these and judged on those, so the card's figures are not the winner of a selection on
its own test data. Thresholds are calibrated on 1e6 target-free cells per scenario
(Pfa down to 1e-5 is supported; the partial AUC is over Pfa 1e-5..1e-2 here, the card's
over 1e-6..1e-2). Every variant is judged against the best classical method on the
same maps (docs/metrics.md).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rd_unet.config import load_scenario  # noqa: E402
from rd_unet.data.generate import generate_dataset  # noqa: E402
from rd_unet.eval.report import EvalConfig, evaluate  # noqa: E402
from simulations.evaluate_pretrained import summarise, unseen_scenario  # noqa: E402

CALIBRATION_CELLS = 1e6


def scenario(name):
    return unseen_scenario() if name == "unseen" else load_scenario(name)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    p.add_argument("--scenarios", nargs="+", default=["default", "ground_surveillance", "unseen"])
    p.add_argument("--maps", type=int, default=100)
    p.add_argument("--seed", type=int, default=8000)
    p.add_argument("--workdir", default="data/ablation/eval")
    p.add_argument("--output", default=None, help="markdown table (default: print it)")
    p.add_argument("--title", default="Ablation")
    p.add_argument("--describe", action="append", default=[], metavar="NAME=TEXT",
                   help="what a variant is (how it was trained), for the table's legend")
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    models = {}
    for m in args.model:
        name, sep, path = m.partition("=")
        if not sep or not name or not Path(path).is_file():
            p.error(f"--model {m}: expected NAME=CHECKPOINT with an existing checkpoint file")
        models[name] = path
    described = {}
    for d in args.describe:
        name, sep, text = d.partition("=")
        if not sep or name not in models:
            p.error(f"--describe {d}: expected NAME=TEXT for one of the --model names ({', '.join(models)})")
        described[name] = text
    results = {}
    for sc_name in args.scenarios:
        sc = scenario(sc_name)
        data = work / f"{sc_name.replace('/', '_')}_test.h5"
        if not data.exists():
            generate_dataset(sc, data, num_maps=args.maps, seed=args.seed, workers=2, progress=False)
        cells = sc.radar.chirps_per_frame * sc.radar.samples_per_chirp
        cfg = EvalConfig(num_panels=0, calibration_maps=int(np.ceil(CALIBRATION_CELLS / cells)))
        for name, path in models.items():
            out = work / name / sc_name.replace("/", "_")
            cached = out / "report.json"
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            report = (json.loads(cached.read_text()) if cached.is_file() and
                      json.loads(cached.read_text())["model"]["sha256"] == digest     # the same weights
                      else evaluate(data, path, out, cfg, progress=False))
            results[(name, sc_name)] = summarise(report)
            print(name, sc_name, json.dumps({k: results[(name, sc_name)]["methods"]["unet"][k]
                                             for k in ("partial_auc", "erased_fraction")}), flush=True)
    text = table(results, models, args, described)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text)


def table(results, models, args, described=None) -> str:
    described = described or {}
    lines = [f"# {args.title}", "",
             f"Written by `simulations/ablate.py` ({args.maps} test maps per scenario, seed {args.seed}; "
             "thresholds from 1e6 target-free calibration cells, partial AUC over Pfa 1e-5..1e-2). Each "
             "variant is judged against the best classical method on the same maps.", "",
             "| variant | how it was trained | mean partial AUC (best classical) | partial AUC above the best "
             "classical | dominates it | mean erased | mean peak error, SNR >= 10 dB (dB) |",
             "|---|---|---|---|---|---|---|"]
    for name in models:
        rs = [results[(name, sc)] for sc in args.scenarios]
        u = [r["methods"]["unet"] for r in rs]
        b = [r["methods"][r["best_classical"]] for r in rs]
        above = [sc for sc, x, y in zip(args.scenarios, u, b) if x["partial_auc"] > y["partial_auc"]]
        dom = [sc for sc, r in zip(args.scenarios, rs) if r["unet_dominates_best_classical"]]
        pe = [x["peak_error_db_median_snr10"] for x in u if x.get("peak_error_db_median_snr10") is not None]
        lines.append(f"| {name} | {described.get(name, '`' + models[name] + '`')} | "
                     f"{np.mean([x['partial_auc'] for x in u]):.3f} ({np.mean([y['partial_auc'] for y in b]):.3f}) | "
                     f"{len(above)} of {len(rs)} | {len(dom)} of {len(rs)} | "
                     f"{np.mean([x['erased_fraction'] for x in u]):.1%} | "
                     + (f"{np.mean(pe):+.1f}" if pe else "n/a") + " |")
    lines += ["", "Per scenario:", "",
             "| variant | scenario | partial AUC U-Net (best classical) | Pd@1e-4 U-Net / best | loses at Pfa "
             "| peak error median / p10 (dB) | erased | lost |",
             "|---|---|---|---|---|---|---|---|"]
    for sc_name in args.scenarios:
        for name in models:
            r = results[(name, sc_name)]
            u, best = r["methods"]["unet"], r["best_classical"]
            b = r["methods"][best]
            pd_u, pd_b = u["pd_at_pfa"].get("1e-4"), b["pd_at_pfa"].get("1e-4")
            lines.append(
                f"| {name} | {sc_name} | {u['partial_auc']:.3f} ({best} {b['partial_auc']:.3f}) "
                f"| {_f(pd_u)} / {_f(pd_b)} | {len(r['unet_loses_at_pfa'])} of {len(r['pfa_grid'])} "
                f"| {_f(u['peak_error_db_median'], '{:+.1f}')} / {_f(u['peak_error_db_p10'], '{:+.1f}')} "
                f"| {u['erased_fraction']:.3f} | {u['lost_fraction']:.3f} |")
    return "\n".join(lines) + "\n"


def _f(v, fmt="{:.3f}"):
    return "n/a" if v is None else fmt.format(v)


if __name__ == "__main__":
    main()
