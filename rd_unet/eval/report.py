"""``rd-unet evaluate``: every method on the same maps, compared at matched empirical Pfa.

Writes ``report.json`` (schema in docs/metrics.md), ``report.md`` and PNG figures.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rd_unet import __version__
from rd_unet.config import to_dict
from rd_unet.data.hdf5 import open_dataset, read_scenario, read_targets, targets_by_map
from rd_unet.eval import baselines, metrics, plots
from rd_unet.eval.cfar import ca_alpha, ca_statistic, training_cell_count

REPORT_FORMAT = "rd_unet.report/1"
PFA_POINTS = {"1e-3": 1e-3, "1e-4": 1e-4}


@dataclass(frozen=True)
class EvalConfig:
    pfa: float = 1e-4                    # design Pfa of the operating point (CA-CFAR)
    guard_cells: tuple[int, int] = (2, 2)
    training_cells: tuple[int, int] = (4, 8)
    guard_ring: int = 3                  # background cells lie beyond this ring around targets
    snr_band_db: float = 5.0
    num_maps: int = 0                    # 0: all
    batch_size: int = 32
    device: str = "auto"
    num_panels: int = 3

    def __post_init__(self):
        # checked before any output is written; a bad Pfa would otherwise surface as a
        # division warning in the CFAR factors and an error halfway through
        if not 0.0 < self.pfa < 1.0:
            raise ValueError(f"--pfa: expected a false-alarm probability in (0, 1), got {self.pfa!r}")
        if self.num_maps < 0:
            raise ValueError(f"--num-maps: expected 0 (all) or a positive number, got {self.num_maps}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size: expected at least 1, got {self.batch_size}")


def _json_safe(x):
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


class _Accumulator:
    """Per-method running lists over all maps."""

    def __init__(self):
        self.background = []      # CA statistic on background cells
        self.target_scores = []
        self.snr = {k: [] for k in ("mask_sinr_db", "recon_sinr_db", "strongest_target_snr_db", "floor_db")}
        self.peak_error = []
        self.peak_power = []      # (K, 2): output and clean power at each target's peak cell
        self.design = {"hits": 0, "targets": 0, "false_alarms": 0, "background_cells": 0}


def evaluate(data, model, output, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict:
    """Evaluate raw maps, the baselines, the U-Net (``model``: checkpoint path, shipped
    name, or None for the shipped default) and the oracle on the test dataset ``data``."""
    from rd_unet.clean import denoise, load_denoiser
    from rd_unet.train.checkpoint import file_sha256

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    denoiser, device, model_path = load_denoiser(model, cfg.device)
    with open_dataset(data, need_clean=True) as f:
        n_total = f["noisy"].shape[0]
        n = min(n_total, cfg.num_maps) if cfg.num_maps else n_total
        range_m, velocity_mps = f["range_m"][()], f["velocity_mps"][()]
        offset = int(f.attrs.get("map_index_offset", 0))
        per_map = targets_by_map(read_targets(f), offset, n_total)[:n]
        scenario = read_scenario(f)
        if sum(len(t) for t in per_map) == 0:
            raise ValueError(f"{data}: the first {n} maps hold no targets; detection metrics need targets")
        dr = float(range_m[1] - range_m[0])
        dv = float(velocity_mps[1] - velocity_mps[0])
        names = ["raw", "unet", "median", "wiener", "notch", "oracle"]
        design_alpha = ca_alpha(training_cell_count(f["noisy"].shape, cfg.guard_cells, cfg.training_cells), cfg.pfa)
        acc = {m: _Accumulator() for m in names}
        # the noise-limited ideal detector's per-target Pd at each reported Pfa and at cfg.pfa
        ideal_points = {**PFA_POINTS, "operating": cfg.pfa}
        ideal = {k: [] for k in ideal_points}
        all_targets = []
        panels = []
        bar = tqdm(total=n, desc="evaluate", unit="map", disable=not progress)
        for start in range(0, n, cfg.batch_size):
            stop = min(n, start + cfg.batch_size)
            noisy = f["noisy"][start:stop].astype(np.float64)
            clean = f["clean"][start:stop].astype(np.float64)
            outputs = {
                "raw": noisy,
                "unet": denoise(denoiser, noisy, batch_size=cfg.batch_size, device=device).astype(np.float64),
                "median": baselines.median_filter(noisy),
                "wiener": baselines.wiener_filter(noisy),
                "notch": baselines.zero_doppler_notch(noisy),
                "oracle": baselines.oracle(clean),
            }
            # the CA statistic once per method and batch; CA-CFAR designed for cfg.pfa is
            # the statistic above ca_alpha of each cell's training-cell count
            stats = {name: ca_statistic(outputs[name], guard_cells=cfg.guard_cells,
                                        training_cells=cfg.training_cells) for name in names}
            for i in range(stop - start):
                t = per_map[start + i]
                all_targets.append(t)
                peaks = metrics.peak_cells(clean[i], t)
                for key, p in ideal_points.items():
                    ideal[key].append(metrics.ideal_pd(clean[i], t, p))
                _, background = metrics.cell_masks(clean[i].shape, t, dr, dv, cfg.guard_ring)
                for name in names:
                    p = outputs[name][i]
                    a = acc[name]
                    m = metrics.snr_metrics(p, clean[i], t, peaks, background)
                    for k in a.snr:
                        a.snr[k].append(m[k])
                    a.peak_error.append(m["peak_error_db"])
                    a.peak_power.append(np.stack([p[peaks[:, 0], peaks[:, 1]], clean[i][peaks[:, 0], peaks[:, 1]]], -1))
                    stat = stats[name][i]
                    a.background.append(stat[background].astype(np.float32))
                    a.target_scores.append(metrics.target_scores(stat, t))
                    det = stat > design_alpha
                    a.design["hits"] += int(sum(metrics.neighbourhood_max(det, int(x["doppler_bin"]),
                                                                          int(x["range_bin"]))[0] for x in t))
                    a.design["targets"] += len(t)
                    a.design["false_alarms"] += int((det & background).sum())
                    a.design["background_cells"] += int(background.sum())
                if len(panels) < cfg.num_panels and len(t):
                    panels.append((start + i, {k: outputs[k][i] for k in ("raw", "unet", "oracle")}, t))
            bar.update(stop - start)
        bar.close()

    targets = np.concatenate(all_targets)
    snr_db = targets["snr_db"]
    lo = math.floor(snr_db.min() / cfg.snr_band_db) * cfg.snr_band_db
    hi = math.ceil((snr_db.max() + 1e-9) / cfg.snr_band_db) * cfg.snr_band_db
    edges = np.arange(lo, hi + cfg.snr_band_db / 2, cfg.snr_band_db)
    raw_snr = {k: np.asarray(acc["raw"].snr[k]) for k in acc["raw"].snr}
    report_methods, rocs, pd_curves, gains = {}, {}, {}, {}
    for name in names:
        a = acc[name]
        bg = np.sort(np.concatenate(a.background))
        ts = np.concatenate(a.target_scores)
        pfa, pd, auc = metrics.roc(ts, bg)
        rocs[name] = (pfa, pd)
        pd_at = {}
        thresholds = {}
        for key, p in PFA_POINTS.items():
            pd_at[key], thresholds[key] = metrics.pd_at(ts, bg, p)
        op_threshold = metrics.threshold_at_pfa(bg, cfg.pfa)
        by_snr = metrics.pd_by_snr(ts, snr_db, op_threshold, edges)
        pd_curves[name] = [np.nan if v is None else v for v in by_snr["pd"]]
        snr = {k: np.asarray(v) for k, v in a.snr.items()}
        gain = {k: snr[k] - raw_snr[k] for k in ("mask_sinr_db", "recon_sinr_db", "strongest_target_snr_db")}
        gains[name] = gain["mask_sinr_db"]
        peak_err = np.concatenate(a.peak_error)
        clean_peak_ok = peak_err[np.isfinite(peak_err)]
        power_ratio = np.concatenate(a.peak_power)
        # F1 at the matched operating point (threshold at the empirical Pfa = cfg.pfa)
        hits = ts > op_threshold
        fa = int(np.sum(bg > op_threshold))
        precision = hits.sum() / (hits.sum() + fa) if hits.sum() + fa else 0.0
        recall = float(hits.mean())
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report_methods[name] = {
            "mask_sinr_gain_db": float(np.nanmean(gain["mask_sinr_db"])),
            "recon_sinr_gain_db": float(np.nanmean(gain["recon_sinr_db"])),
            "strongest_target_gain_db": float(np.nanmean(gain["strongest_target_snr_db"])),
            "mask_sinr_gain_db_median": float(np.nanmedian(gain["mask_sinr_db"])),
            # target peak power kept: summed output over summed clean power at the peak cells
            "peak_error_db": float(metrics.db(power_ratio[:, 0].sum()) - metrics.db(power_ratio[:, 1].sum())),
            "peak_error_db_median": float(np.median(clean_peak_ok)) if clean_peak_ok.size else None,
            "peak_abs_error_db": float(np.mean(np.abs(clean_peak_ok))) if clean_peak_ok.size else None,
            "auc": auc,
            "pd_at_pfa": pd_at,
            "threshold_at_pfa": thresholds,
            "pd_by_snr_db": by_snr,
            "operating_point": {
                "pfa": cfg.pfa, "threshold": op_threshold, "pd": recall,
                "empirical_pfa": float(np.mean(bg > op_threshold)), "f1": f1, "precision": float(precision),
                "false_alarms": fa,
            },
            "design_cfar": {
                "pfa_requested": cfg.pfa,
                "pd": a.design["hits"] / max(1, a.design["targets"]),
                "empirical_pfa": a.design["false_alarms"] / max(1, a.design["background_cells"]),
            },
            "mean_floor_db": float(np.mean(snr["floor_db"])),
        }
    ideal = {k: np.concatenate(v) for k, v in ideal.items()}
    ideal_by_snr = [float(ideal["operating"][(snr_db >= lo) & (snr_db < hi)].mean())
                    if np.any((snr_db >= lo) & (snr_db < hi)) else None for lo, hi in zip(edges[:-1], edges[1:])]
    num_bg = int(np.concatenate(acc["raw"].background).size)
    report = {
        "format": REPORT_FORMAT,
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"path": str(data), "num_maps": n, "num_targets": int(len(targets)),
                    "map_shape": list(noisy.shape[1:]), "scenario": scenario.name if scenario else None,
                    "background_cells": num_bg},
        "model": {"path": model_path, "sha256": file_sha256(model_path) if os.path.isfile(model_path) else None},
        "config": to_dict(cfg),
        "pfa_resolution": 1.0 / max(1, num_bg),
        "methods": report_methods,
        # the ceiling: what a detector that sees no clutter or interference and knows the
        # noise power would detect (metrics.ideal_pd); no denoiser of power maps can beat it
        "ideal": {
            "pd_at_pfa": {k: float(ideal[k].mean()) for k in PFA_POINTS},
            "pd_by_snr_db": {"edges_db": [float(e) for e in edges], "pd": ideal_by_snr,
                             "num_targets": report_methods["raw"]["pd_by_snr_db"]["num_targets"]},
            "pd": float(ideal["operating"].mean()),
        },
        "figures": {},
        "seconds": round(time.time() - t_start, 1),
    }
    figures = {}
    for k, (idx, maps, t) in enumerate(panels):
        name = f"panel_{k}.png"
        plots.rd_panels({"noisy": maps["raw"], "U-Net denoised": maps["unet"], "clean (oracle)": maps["oracle"]},
                        range_m, velocity_mps, output / name, targets=t, title=f"test map {idx}", vmin_db=-30)
        figures[f"panel_{k}"] = name
    plots.roc_plot(rocs, output / "roc.png")
    plots.pd_vs_snr_plot(pd_curves, edges, output / "pd_vs_snr.png", cfg.pfa,
                         ceiling=[np.nan if v is None else v for v in ideal_by_snr])
    plots.gain_hist_plot({k: v for k, v in gains.items() if k != "raw"}, output / "snr_gain.png")
    figures.update({"roc": "roc.png", "pd_vs_snr": "pd_vs_snr.png", "snr_gain": "snr_gain.png"})
    report["figures"] = figures
    report = _json_safe(report)
    _atomic_write(output / "report.json", json.dumps(report, indent=2))
    _atomic_write(output / "report.md", render_markdown(report))
    return report


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fmt(x, spec="{:.2f}"):
    return "n/a" if x is None else spec.format(x)


def render_markdown(report: dict) -> str:
    ds = report["dataset"]
    pfa = report["config"]["pfa"]
    lines = [
        "# rd_unet evaluation report", "",
        f"Dataset `{ds['path']}` ({ds['scenario']}): {ds['num_maps']} maps of {ds['map_shape'][0]} x "
        f"{ds['map_shape'][1]} (Doppler x range), {ds['num_targets']} targets, {ds['background_cells']} "
        f"background cells (the smallest measurable Pfa is {report['pfa_resolution']:.1e}).",
        f"Model `{report['model']['path']}`.", "",
        "Every method is followed by CA-CFAR; detection is compared at a **matched empirical false-alarm "
        "rate**: each method's threshold is set so that the measured Pfa on its own background cells is "
        "the stated value (a denoiser changes the noise statistics, so a threshold designed for raw noise "
        "would not be comparable). Gains are output minus input (raw), averaged over maps. "
        "Definitions: docs/metrics.md.", "",
        "| method | mask SINR gain (dB) | recon. SINR gain (dB) | strongest-target gain (dB) | peak error (dB) "
        "| AUC | Pd @ Pfa 1e-3 | Pd @ Pfa 1e-4 | F1 @ Pfa {:g} |".format(pfa),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["methods"].items():
        lines.append(f"| {name} | {_fmt(m['mask_sinr_gain_db'])} | {_fmt(m['recon_sinr_gain_db'])} | "
                     f"{_fmt(m['strongest_target_gain_db'])} | {_fmt(m['peak_error_db'])} | {_fmt(m['auc'], '{:.4f}')} | "
                     f"{_fmt(m['pd_at_pfa']['1e-3'], '{:.3f}')} | {_fmt(m['pd_at_pfa']['1e-4'], '{:.3f}')} | "
                     f"{_fmt(m['operating_point']['f1'], '{:.3f}')} |")
    ideal = report.get("ideal")
    if ideal:
        lines += ["", "Ceiling: the noise-limited ideal detector (no clutter or interference, known noise power; "
                  "docs/metrics.md) would detect "
                  f"Pd = {_fmt(ideal['pd_at_pfa']['1e-3'], '{:.3f}')} at Pfa 1e-3 and "
                  f"{_fmt(ideal['pd_at_pfa']['1e-4'], '{:.3f}')} at Pfa 1e-4: the detection the maps' thermal "
                  "noise leaves possible once clutter and interference were removed perfectly."]
    lines += ["", f"CA-CFAR with its threshold designed for Pfa = {pfa:g} on exponential noise (what a "
              "deployed detector would do without re-calibration):", "",
              "| method | Pd | measured Pfa |", "|---|---|---|"]
    for name, m in report["methods"].items():
        lines.append(f"| {name} | {m['design_cfar']['pd']:.3f} | {m['design_cfar']['empirical_pfa']:.2e} |")
    figs = report["figures"]
    lines += ["", "## Figures", "", "![ROC](roc.png)", "", "![Pd vs SNR](pd_vs_snr.png)", "",
              "![SNR-gain distribution](snr_gain.png)", ""]
    for k in sorted(x for x in figs if x.startswith("panel_")):
        lines += [f"![{k}]({figs[k]})", ""]
    return "\n".join(lines)
