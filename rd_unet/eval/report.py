"""``rd-unet evaluate``: every method on the same maps, thresholds calibrated out of sample.

Steps (each a function below): load the test set -> build the methods -> calibrate
each method's thresholds on calibration maps that are never scored -> score the test
maps at those thresholds -> aggregate per method -> compare with the best classical
method -> render ``report.json`` (schema in docs/metrics.md), ``report.md`` and PNGs.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rd_unet import __version__
from rd_unet.config import POSITIVE, Range, TargetConfig, Validated, replace_nested, spec, to_dict
from rd_unet.data.hdf5 import open_dataset, read_scenario, read_targets, targets_by_map
from rd_unet import plots
from rd_unet.eval import baselines, metrics
from rd_unet.files import atomic_write_text
from rd_unet.eval.cfar import ca_alpha, ca_statistic, training_cell_count
from rd_unet.model.checkpoint import file_sha256
from rd_unet.model.inference import denoise, load_denoiser, mask_probability

REPORT_FORMAT = "rd_unet.report/2"
PFA_POINTS = {"1e-6": 1e-6, "1e-5": 1e-5, "1e-4": 1e-4, "1e-3": 1e-3, "1e-2": 1e-2}
# the grid on which dominance and partial AUC are judged: 17 log-spaced points, 1e-6 .. 1e-2
PFA_GRID = np.logspace(-6, -2, 17)
ROC_PLOT_GRID = np.logspace(-6, 0, 61)
CELLS_PER_PFA = 10             # a Pfa p needs >= 10 / p calibration cells
CALIBRATION_INDEX = 10 ** 9    # calibration map i is map 1e9 + i of the test file's seed


@dataclass(frozen=True)
class EvalConfig(Validated):
    pfa: float = spec(1e-4, Range(0.0, 1.0, open_low=True, open_high=True), "the operating point's Pfa")
    guard_cells: tuple[int, int] = spec((2, 2), Range(0, integer=True))
    training_cells: tuple[int, int] = spec((4, 8), Range(0, integer=True))
    guard_ring: int = spec(3, Range(0, integer=True))     # background cells lie beyond this ring around targets
    snr_band_db: float = spec(5.0, POSITIVE)
    num_maps: int = spec(0, Range(0, integer=True))        # 0: all
    batch_size: int = spec(32, Range(1, integer=True))
    device: str = "auto"
    num_panels: int = spec(3, Range(0, integer=True))
    calibration: str = ""                # a dataset of calibration maps; "": simulate them
    calibration_maps: int = spec(0, Range(0, integer=True))   # 0: enough for Pfa 1e-6 (1e7 cells), at most 2000
    erased_drop_db: float = spec(10.0, POSITIVE)
    # a target whose input cells stand this far above its clean peak is buried (metrics.buried)
    buried_margin_db: float = spec(15.0, POSITIVE)
    # a visible target whose surroundings stand this far above the map's floor is in clutter
    # (metrics.local_clutter_db): erased_fraction_in_clutter
    clutter_band_db: float = spec(3.0, Range())


def _json_safe(x):
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


# ----------------------------------------------------------------------------- methods
def build_methods(denoiser, device, cfg: EvalConfig, extra=None) -> dict:
    """name -> function (B, D, R) float64 power -> (B, D, R) power; the oracle is added when scoring."""
    methods = {"raw": lambda x: x}
    if denoiser is not None:
        methods["unet"] = lambda x: denoise(denoiser, x, batch_size=cfg.batch_size, device=device).astype(np.float64)
        if denoiser.unet.config.mask_head:      # its probability map is a detection score itself,
            # thresholded as its logit: the same order, without float32's saturation at 1
            methods["unet_mask"] = lambda x: mask_probability(denoiser, x, batch_size=cfg.batch_size, device=device,
                                                              logits=True).astype(np.float64)
    methods.update(baselines.BASELINES)
    methods.update(extra or {})
    return methods


# methods whose output is a detection score, thresholded as it is (no CA-CFAR statistic)
SCORE_METHODS = ("unet_mask",)


def _statistic(name, output, cfg):
    if name in SCORE_METHODS:
        return output
    return ca_statistic(output, guard_cells=cfg.guard_cells, training_cells=cfg.training_cells)


def _statistics(methods, noisy, cfg):
    return {name: _statistic(name, f(noisy), cfg) for name, f in methods.items()}


# ----------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    source: str
    num_maps: int
    cells: int
    background: dict = field(default_factory=dict)     # method -> sorted float32 statistics

    def supports(self, pfa: float) -> bool:
        return self.cells >= CELLS_PER_PFA / pfa

    def threshold(self, name: str, pfa: float) -> float:
        return metrics.threshold_at_pfa(self.background[name], pfa) if self.supports(pfa) else float("nan")


def _calibration_batches(data, cfg: EvalConfig, shape):
    """Yields (noisy (B, D, R), background mask (B, D, R) or None); returns the source's description."""
    if cfg.calibration:
        with open_dataset(cfg.calibration) as f:
            n = f["noisy"].shape[0] if not cfg.calibration_maps else min(cfg.calibration_maps, f["noisy"].shape[0])
            if tuple(f["noisy"].shape[1:]) != tuple(shape):
                raise ValueError(f"--calibration {cfg.calibration}: maps of {tuple(f['noisy'].shape[1:])}, "
                                 f"but the test maps are {tuple(shape)}")
            per_map = targets_by_map(read_targets(f), int(f.attrs.get("map_index_offset", 0)), f["noisy"].shape[0])
            dr = float(f["range_m"][1] - f["range_m"][0])
            dv = float(f["velocity_mps"][1] - f["velocity_mps"][0])
            for s in range(0, n, cfg.batch_size):
                noisy = f["noisy"][s:s + cfg.batch_size].astype(np.float64)
                masks = np.stack([metrics.cell_masks(shape, per_map[s + i], dr, dv, cfg.guard_ring)[1]
                                  for i in range(len(noisy))])
                yield noisy, masks
        return
    from rd_unet.data.generate import map_rng
    from rd_unet.sim.fmcw import RDSimulator

    with open_dataset(data) as f:
        scenario, seed = read_scenario(f), int(f.attrs.get("seed", 0))
    if scenario is None:
        raise ValueError(f"{data}: the file records no scenario, so calibration maps cannot be simulated; "
                         "pass --calibration FILE (maps without the scored targets)")
    # the same scenario with the targets left out: what a deployed detector sees between targets
    sim = RDSimulator(replace_nested(scenario, targets=TargetConfig(count=(0, 0))))
    n = _calibration_count(cfg, shape)
    for s in range(0, n, cfg.batch_size):
        rngs = [map_rng(seed, CALIBRATION_INDEX + i) for i in range(s, min(n, s + cfg.batch_size))]
        yield np.stack([m.noisy for m in sim.simulate_batch(rngs)]).astype(np.float64), None


def _calibration_count(cfg: EvalConfig, shape) -> int:
    if cfg.calibration_maps:
        return cfg.calibration_maps
    return min(2000, math.ceil(CELLS_PER_PFA / 1e-6 / (shape[0] * shape[1])))


def calibrate(methods, data, cfg: EvalConfig, shape, progress=True) -> Calibration:
    """Each method's CA statistic on calibration maps (never scored), sorted: its thresholds."""
    parts = {name: [] for name in methods}
    n = 0
    total = None if cfg.calibration else _calibration_count(cfg, shape)
    with tqdm(total=total, desc="calibrate", unit="map", disable=not progress) as bar:
        for noisy, masks in _calibration_batches(data, cfg, shape):
            for name, stat in _statistics(methods, noisy, cfg).items():
                parts[name].append((stat if masks is None else stat[masks]).astype(np.float32).ravel())
            n += len(noisy)
            bar.update(len(noisy))
    if n == 0:
        raise ValueError(f"--calibration {cfg.calibration}: the file holds no maps")
    background = {name: np.sort(np.concatenate(p)) for name, p in parts.items()}
    source = cfg.calibration or "simulated: the test scenario without targets, maps 1e9.. of the test seed"
    return Calibration(source, n, int(background["raw"].size), background)


# ----------------------------------------------------------------------------- scoring
@dataclass
class _Scores:
    """One method's per-target and per-map figures over the test set."""

    target_scores: list = field(default_factory=list)
    background: list = field(default_factory=list)      # test background statistics (float32)
    peak_error: list = field(default_factory=list)
    peak_power: list = field(default_factory=list)      # (K, 2) output and clean power at each peak cell
    erased: list = field(default_factory=list)
    buried: list = field(default_factory=list)          # (K,) per map: metrics.buried, the same for every method
    in_clutter: list = field(default_factory=list)      # (K,) per map: local clutter >= clutter_band_db, likewise
    snr: dict = field(default_factory=lambda: {k: [] for k in ("mask_sinr_db", "recon_sinr_db",
                                                               "strongest_target_snr_db", "floor_db")})
    clusters: int = 0
    op_false_cells: int = 0
    design: dict = field(default_factory=lambda: {"hits": 0, "false_alarms": 0, "tp": 0, "fp": 0, "fn": 0})


def _score_map(s: _Scores, out, stat, clean, t, peaks, background, op_threshold, design_alpha, clean_det, cfg):
    m = metrics.snr_metrics(out, clean, t, peaks, background)
    for k in s.snr:
        s.snr[k].append(m[k])
    s.peak_error.append(m["peak_error_db"])
    s.peak_power.append(np.stack([out[peaks[:, 0], peaks[:, 1]], clean[peaks[:, 0], peaks[:, 1]]], -1))
    s.erased.append(metrics.erased(out, clean, t, cfg.erased_drop_db))
    s.background.append(stat[background].astype(np.float32))
    s.target_scores.append(metrics.target_scores(stat, t))
    alarms = (stat > op_threshold) & background
    s.clusters += metrics.false_alarm_clusters(alarms)
    s.op_false_cells += int(alarms.sum())
    det = stat > design_alpha
    s.design["hits"] += int(metrics.target_scores(det, t).sum())
    s.design["false_alarms"] += int((det & background).sum())
    s.design["tp"] += int((det & clean_det).sum())
    s.design["fp"] += int((det & ~clean_det).sum())
    s.design["fn"] += int((~det & clean_det).sum())


def score(f, methods, calibration: Calibration, n: int, per_map, cfg: EvalConfig, progress=True):
    """Run every method (and the oracle) on the first n test maps and collect the figures."""
    shape = f["noisy"].shape[1:]
    dr = float(f["range_m"][1] - f["range_m"][0])
    dv = float(f["velocity_mps"][1] - f["velocity_mps"][0])
    names = list(methods) + ["oracle"]
    design_alpha = ca_alpha(training_cell_count(shape, cfg.guard_cells, cfg.training_cells), cfg.pfa)
    # the oracle is not calibrated (its maps hold no noise); its threshold is the raw one's
    op = {name: calibration.threshold(name if name in calibration.background else "raw", cfg.pfa) for name in names}
    scores = {name: _Scores() for name in names}
    panels, targets_all, ideal = [], [], {k: [] for k in list(PFA_POINTS) + ["operating"]}
    with tqdm(total=n, desc="evaluate", unit="map", disable=not progress) as bar:
        for start in range(0, n, cfg.batch_size):
            noisy = f["noisy"][start:start + cfg.batch_size][:n - start].astype(np.float64)
            clean = f["clean"][start:start + len(noisy)].astype(np.float64)
            outputs = {name: fn(noisy) for name, fn in methods.items()}
            outputs["oracle"] = baselines.oracle(clean)
            stats = {name: _statistic(name, o, cfg) for name, o in outputs.items()}
            # reference detections of the F1 the interference-mitigation literature uses:
            # CA-CFAR on the clean map over the thermal noise's mean power (1 in rd_unet's units)
            clean_det = ca_statistic(clean + 1.0, guard_cells=cfg.guard_cells,
                                     training_cells=cfg.training_cells) > design_alpha
            for i in range(len(noisy)):
                t = per_map[start + i]
                targets_all.append(t)
                peaks = metrics.peak_cells(clean[i], t)
                background = metrics.cell_masks(shape, t, dr, dv, cfg.guard_ring)[1]
                for key, p in {**PFA_POINTS, "operating": cfg.pfa}.items():
                    ideal[key].append(metrics.ideal_pd(clean[i], t, p))
                hidden = metrics.buried(noisy[i], clean[i], t, cfg.buried_margin_db)
                cluttered = metrics.local_clutter_db(noisy[i], t) >= cfg.clutter_band_db
                for name in names:
                    scores[name].buried.append(hidden)
                    scores[name].in_clutter.append(cluttered)
                    # a score method's output is no power: its power figures are null in the report
                    out = np.maximum(outputs[name][i], 0.0) if name in SCORE_METHODS else outputs[name][i]
                    _score_map(scores[name], out, stats[name][i], clean[i], t, peaks, background,
                               op[name], design_alpha, clean_det[i], cfg)
                if len(panels) < cfg.num_panels and len(t) and "unet" in outputs:
                    panels.append((start + i, {k: outputs[k][i] for k in ("raw", "unet", "oracle")}, t))
            bar.update(len(noisy))
    return scores, np.concatenate(targets_all), {k: np.concatenate(v) for k, v in ideal.items()}, panels


# ----------------------------------------------------------------------------- aggregation
def _snr_edges(snr_db, band_db):
    lo = math.floor(snr_db.min() / band_db) * band_db
    hi = math.ceil((snr_db.max() + 1e-9) / band_db) * band_db
    return np.arange(lo, hi + band_db / 2, band_db)


def _by_band(values, snr_db, edges, reduce):
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (snr_db >= lo) & (snr_db < hi)
        out.append(reduce(values[sel]) if sel.any() else None)
    return out


def _detection(name, s: _Scores, calibration: Calibration, cfg):
    """Pd, measured Pfa and thresholds at the report's points and over the dominance grid."""
    ts = np.concatenate(s.target_scores)
    bg = np.sort(np.concatenate(s.background))
    cal = name if name in calibration.background else "raw"
    thr = {k: calibration.threshold(cal, p) for k, p in PFA_POINTS.items()}
    pd = {k: float(np.mean(ts > t)) if math.isfinite(t) else None for k, t in thr.items()}
    pfa_measured = {k: float(np.mean(bg > t)) if math.isfinite(t) else None for k, t in thr.items()}
    grid = [calibration.threshold(cal, p) for p in PFA_GRID]
    pd_grid = np.array([np.mean(ts > t) if math.isfinite(t) else np.nan for t in grid])
    plot = [calibration.threshold(cal, p) for p in ROC_PLOT_GRID]
    roc = (np.array([np.mean(bg > t) if math.isfinite(t) else np.nan for t in plot]),
           np.array([np.mean(ts > t) if math.isfinite(t) else np.nan for t in plot]))
    auc = metrics.roc(ts, bg)[2]
    return ts, bg, thr, pd, pfa_measured, pd_grid, roc, auc


@dataclass(frozen=True)
class _Reference:
    """What every method is compared with: raw CA-CFAR's figures over the same targets."""

    snr_db: np.ndarray           # (K,) the target table's SNR
    edges: np.ndarray            # SNR band edges
    snr: dict                    # raw's per-map SNR figures
    hits_1e4: np.ndarray         # (K,) raw detects the target at its calibrated 1e-4 threshold
    snr50: float                 # raw's SNR at Pd 0.5, Pfa 1e-4


def aggregate(scores, calibration: Calibration, targets, cfg: EvalConfig):
    """Per-method report entries, plus the curves the figures need."""
    snr_db = targets["snr_db"]
    raw_hits = np.concatenate(scores["raw"].target_scores) > calibration.threshold("raw", 1e-4)
    ref = _Reference(snr_db, _snr_edges(snr_db, cfg.snr_band_db),
                     {k: np.asarray(v) for k, v in scores["raw"].snr.items()}, raw_hits,
                     metrics.snr_at_pd(raw_hits, snr_db))
    entries, curves = {}, {"roc": {}, "pd_vs_snr": {}, "gains": {}, "pd_grid": {}}
    for name, s in scores.items():
        entries[name], method_curves = _method_entry(name, s, calibration, ref, cfg)
        for key, value in method_curves.items():
            curves[key][name] = value
    return entries, curves, ref.edges


def _method_entry(name, s: _Scores, calibration: Calibration, ref: _Reference, cfg: EvalConfig):
    ts, bg, thr, pd, pfa_measured, pd_grid, roc, auc = _detection(name, s, calibration, cfg)
    op_thr = calibration.threshold(name if name in calibration.background else "raw", cfg.pfa)
    hits, hits_1e4 = ts > op_thr, ts > thr["1e-4"]
    lost = ref.hits_1e4 & ~hits_1e4
    peak_err, erased = np.concatenate(s.peak_error), np.concatenate(s.erased)
    hidden = np.concatenate(s.buried)
    cluttered = np.concatenate(s.in_clutter) & ~hidden
    snr = {k: np.asarray(v) for k, v in s.snr.items()}
    gain = {k: snr[k] - ref.snr[k] for k in ("mask_sinr_db", "recon_sinr_db", "strongest_target_snr_db")}
    power = np.concatenate(s.peak_power)
    snr50 = metrics.snr_at_pd(hits_1e4, ref.snr_db)
    entry = {
        "mask_sinr_gain_db": float(np.nanmean(gain["mask_sinr_db"])),
        "recon_sinr_gain_db": float(np.nanmean(gain["recon_sinr_db"])),
        "strongest_target_gain_db": float(np.nanmean(gain["strongest_target_snr_db"])),
        "mask_sinr_gain_db_median": float(np.nanmedian(gain["mask_sinr_db"])),
        "peak_error_db": float(metrics.db(power[:, 0].sum()) - metrics.db(power[:, 1].sum())),
        "peak_error_db_median": float(np.median(peak_err)),
        "peak_error_db_p10": float(np.percentile(peak_err, 10)),
        # the targets a denoiser must keep at full power: table SNR >= 10 dB
        "peak_error_db_median_snr10": (float(np.median(peak_err[ref.snr_db >= 10.0]))
                                       if np.any(ref.snr_db >= 10.0) else None),
        "peak_abs_error_db": float(np.mean(np.abs(peak_err))),
        "erased_fraction": float(erased.mean()),
        "erased_fraction_snr10": (float(erased[ref.snr_db >= 10.0].mean()) if np.any(ref.snr_db >= 10.0) else None),
        # the same among the targets the input shows (not buried under clutter or interference
        # 15 dB above them, metrics.buried), and the buried share: erasing a buried target is
        # what removing its clutter does, and keeping the clutter is what "keeps" it
        "erased_fraction_visible": (float(erased[~hidden].mean()) if (~hidden).any() else None),
        "buried_fraction": float(hidden.mean()),
        # visible targets inside clutter (their 7 x 7 surroundings' median clutter_band_db or
        # more above the map's: a clutter band, a ridge's skirt), where a denoiser that removes
        # the clutter can take a target with it; the share of the targets there
        "erased_fraction_in_clutter": float(erased[cluttered].mean()) if cluttered.any() else None,
        "in_clutter_fraction": float(cluttered.mean()),
        "lost_fraction": float(lost.mean()),
        "detection_snr_gain_db": ref.snr50 - snr50,
        "snr_db_at_pd_0.5": snr50,
        "auc": auc,
        "partial_auc": metrics.partial_auc(PFA_GRID, pd_grid),
        "pd_at_pfa": pd,
        "pfa_measured": pfa_measured,
        # parallel to the report's pfa_grid (the supported points of PFA_GRID)
        "pd_at_pfa_grid": [float(v) for p, v in zip(PFA_GRID, pd_grid) if calibration.supports(p)],
        "threshold_at_pfa": thr,
        "pd_by_snr_db": _by_snr(hits, peak_err, erased, lost, ref),
        "false_alarm_clusters_per_map": s.clusters / len(s.target_scores),
        "f1": metrics.detection_f1(int(hits.sum()), s.clusters, int((~hits).sum())),
        "f1_vs_clean_cfar": metrics.detection_f1(s.design["tp"], s.design["fp"], s.design["fn"]),
        "operating_point": _operating_point(hits, bg, op_thr, s, cfg),
        "design_cfar": {"pfa_requested": cfg.pfa, "pd": s.design["hits"] / max(1, len(ts)),
                        "empirical_pfa": s.design["false_alarms"] / max(1, bg.size)},
        "mean_floor_db": float(np.mean(snr["floor_db"])),
    }
    if name in SCORE_METHODS:      # a probability map has no power: only its detection figures mean something
        for key in ("mask_sinr_gain_db", "recon_sinr_gain_db", "strongest_target_gain_db", "mask_sinr_gain_db_median",
                    "peak_error_db", "peak_error_db_median", "peak_error_db_p10", "peak_error_db_median_snr10",
                    "peak_abs_error_db",
                    "erased_fraction", "erased_fraction_snr10", "erased_fraction_visible",
                    "erased_fraction_in_clutter", "mean_floor_db", "f1_vs_clean_cfar", "design_cfar"):
            entry[key] = None
    by_band_pd = entry["pd_by_snr_db"]["pd"]
    curves = {"roc": roc, "pd_vs_snr": [np.nan if v is None else v for v in by_band_pd],
              "gains": gain["mask_sinr_db"], "pd_grid": pd_grid}
    return entry, curves


def _by_snr(hits, peak_err, erased, lost, ref: _Reference) -> dict:
    snr_db, edges = ref.snr_db, ref.edges
    return {"edges_db": [float(e) for e in edges],
            "pd": _by_band(hits.astype(float), snr_db, edges, lambda v: float(v.mean())),
            "num_targets": _by_band(hits, snr_db, edges, lambda v: int(v.size)),
            "peak_error_db_median": _by_band(peak_err, snr_db, edges, lambda v: float(np.median(v))),
            "erased_fraction": _by_band(erased.astype(float), snr_db, edges, lambda v: float(v.mean())),
            "lost_fraction": _by_band(lost.astype(float), snr_db, edges, lambda v: float(v.mean()))}


def _operating_point(hits, bg, op_thr, s: _Scores, cfg: EvalConfig) -> dict:
    """Format 1's operating point: cell-counted false alarms at the calibrated ``cfg.pfa``."""
    fa_cells = int(np.sum(bg > op_thr)) if math.isfinite(op_thr) else None
    n_hits = int(hits.sum())
    precision = n_hits / (n_hits + fa_cells) if fa_cells is not None and n_hits + fa_cells else 0.0
    recall = float(hits.mean())
    return {"pfa": cfg.pfa, "threshold": op_thr, "pd": recall,
            "empirical_pfa": float(np.mean(bg > op_thr)) if fa_cells is not None else None,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "precision": float(precision), "false_alarms": fa_cells, "false_alarm_clusters": s.clusters}


def compare(entries, curves, calibration: Calibration) -> dict:
    """The best classical method by partial AUC, and where the U-Net does not reach it."""
    classical = [m for m in baselines.CLASSICAL if m in entries]
    best = max(classical, key=lambda m: -1.0 if not math.isfinite(entries[m]["partial_auc"])
               else entries[m]["partial_auc"])
    supported = [i for i, p in enumerate(PFA_GRID) if calibration.supports(p)]
    out = {"best_classical": best, "pfa_grid": [float(PFA_GRID[i]) for i in supported]}
    if "unet" in entries:
        u, b = curves["pd_grid"]["unet"], curves["pd_grid"][best]
        loses = [float(PFA_GRID[i]) for i in supported if u[i] < b[i]]
        out.update(unet_dominates_best_classical=bool(supported) and not loses, unet_loses_at_pfa=loses,
                   unet_largest_shortfall=largest_shortfall([PFA_GRID[i] for i in supported],
                                                            [u[i] for i in supported], [b[i] for i in supported]))
    return out


def largest_shortfall(pfa, pd_unet, pd_best) -> dict | None:
    """Where the U-Net's Pd falls furthest below the best classical method's on the grid:
    ``{"pfa", "pd_unet", "pd_best", "gap"}`` (gap = pd_best - pd_unet > 0; the lowest Pfa
    among equal gaps), or None where it is nowhere below."""
    worst = None
    for p, u, b in zip(pfa, pd_unet, pd_best):
        if u < b and (worst is None or b - u > worst["gap"]):
            worst = {"pfa": float(p), "pd_unet": float(u), "pd_best": float(b), "gap": float(b - u)}
    return worst


# ----------------------------------------------------------------------------- the whole evaluation
def evaluate(data, model, output, cfg: EvalConfig = EvalConfig(), progress: bool = True, *,
             extra_methods: dict | None = None, passthrough: bool | None = None,
             flip_average: bool | None = None, doppler_shifts: int | None = None,
             floor_profile: bool | None = None) -> dict:
    """Evaluate raw maps, the classical baselines, the U-Net (``model``: checkpoint path,
    shipped name, or None for the shipped default; ``False``: no U-Net) and the oracle on
    the test dataset ``data``. ``extra_methods``: more denoisers to score beside them,
    name -> function of a (B, D, R) float64 power stack. ``passthrough``: None keeps the
    model's; False scores the network's estimate alone, True with the passthrough on;
    ``flip_average``: None keeps the model's, True/False turns the test-time flip
    averaging on/off, ``doppler_shifts`` the number of circular Doppler shifts averaged
    over, ``floor_profile`` None/True/False the noise floor per range column (see
    ``load_denoiser``)."""

    output = Path(output)
    t_start = time.time()
    denoiser, device, model_path = (load_denoiser(model, cfg.device, passthrough, flip_average,
                                                  doppler_shifts, floor_profile) if model is not False
                                    else (None, None, ""))
    with open_dataset(data, need_clean=True) as f:
        n_total = f["noisy"].shape[0]
        n = min(n_total, cfg.num_maps) if cfg.num_maps else n_total
        shape = tuple(f["noisy"].shape[1:])
        per_map = targets_by_map(read_targets(f), int(f.attrs.get("map_index_offset", 0)), n_total)[:n]
        if sum(len(t) for t in per_map) == 0:
            raise ValueError(f"{data}: the first {n} maps hold no targets; detection metrics need targets")
        scenario = read_scenario(f)
        range_m, velocity_mps = f["range_m"][()], f["velocity_mps"][()]
        methods = build_methods(denoiser, device, cfg, extra_methods)
        calibration = calibrate(methods, data, cfg, shape, progress)
        scores, targets, ideal, panels = score(f, methods, calibration, n, per_map, cfg, progress)
    entries, curves, edges = aggregate(scores, calibration, targets, cfg)
    report = _report(data, n, shape, scenario, model_path, cfg, entries, curves, calibration, targets, ideal, edges,
                     scores)
    output.mkdir(parents=True, exist_ok=True)
    if denoiser is not None:       # the passthrough travels in the checkpoint and may be turned off here
        report["model"]["passthrough"] = bool(denoiser.normalization.passthrough)
        report["model"]["passthrough_db"] = float(denoiser.normalization.passthrough_db)
        report["model"]["passthrough_cut_db"] = float(denoiser.normalization.passthrough_cut_db)
        report["model"]["flip_average"] = bool(denoiser.normalization.flip_average)
        report["model"]["doppler_shifts"] = int(denoiser.normalization.doppler_shifts)
        report["model"]["floor_profile"] = bool(denoiser.normalization.floor_profile)
    report["figures"] = render_figures(report, curves, edges, panels, range_m, velocity_mps, output)
    report["seconds"] = round(time.time() - t_start, 1)
    report = _json_safe(report)
    atomic_write_text(output / "report.json", json.dumps(report, indent=2))
    atomic_write_text(output / "report.md", render_markdown(report))
    return report


def _report(data, n, shape, scenario, model_path, cfg, entries, curves, calibration, targets, ideal, edges,
            scores) -> dict:
    unsupported = {k: f"needs >= {CELLS_PER_PFA / p:.0e} calibration cells, have {calibration.cells}"
                   for k, p in PFA_POINTS.items() if not calibration.supports(p)}
    report = {
        "format": REPORT_FORMAT,
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"path": str(data), "num_maps": n, "num_targets": int(len(targets)), "map_shape": list(shape),
                    "scenario": scenario.name if scenario else None,
                    "background_cells": int(sum(b.size for b in scores["raw"].background))},
        "model": {"path": model_path, "sha256": file_sha256(model_path) if os.path.isfile(model_path) else None},
        "config": to_dict(cfg),
        **compare(entries, curves, calibration),
        "calibration": {"source": calibration.source, "num_maps": calibration.num_maps, "cells": calibration.cells,
                        "smallest_supported_pfa": CELLS_PER_PFA / calibration.cells},
        "pfa_resolution": 1.0 / calibration.cells,
        "pfa_unsupported": unsupported,
        "methods": entries,
        # the ceiling: a detector that sees no clutter or interference and knows the noise power
        "ideal": {
            "pd_at_pfa": {k: float(ideal[k].mean()) for k in PFA_POINTS},
            "pd_by_snr_db": {"edges_db": [float(e) for e in edges],
                             "pd": _by_band(ideal["operating"], targets["snr_db"], edges, lambda v: float(v.mean())),
                             "num_targets": entries["raw"]["pd_by_snr_db"]["num_targets"]},
            "pd": float(ideal["operating"].mean()),
        },
        "figures": {},
        "seconds": 0.0,
    }
    return report


def render_figures(report, curves, edges, panels, range_m, velocity_mps, output: Path) -> dict:
    figures = {}
    for k, (idx, maps, t) in enumerate(panels):
        name = f"panel_{k}.png"
        plots.rd_panels({"noisy": maps["raw"], "U-Net denoised": maps["unet"], "clean (oracle)": maps["oracle"]},
                        range_m, velocity_mps, output / name, targets=t, title=f"test map {idx}", vmin_db=-30)
        figures[f"panel_{k}"] = name
    shown = ["raw", "unet", report["best_classical"], "oracle"]
    shown += [m for m in curves["roc"] if m not in shown and m in ("median", "notch")]
    plots.roc_plot({m: curves["roc"][m] for m in shown if m in curves["roc"]}, output / "roc.png")
    plots.pd_vs_snr_plot({m: curves["pd_vs_snr"][m] for m in shown if m in curves["pd_vs_snr"]}, edges,
                         output / "pd_vs_snr.png", report["config"]["pfa"],
                         ceiling=[np.nan if v is None else v for v in report["ideal"]["pd_by_snr_db"]["pd"]])
    plots.gain_hist_plot({k: v for k, v in curves["gains"].items() if k in shown and k != "raw"},
                         output / "snr_gain.png")
    figures.update({"roc": "roc.png", "pd_vs_snr": "pd_vs_snr.png", "snr_gain": "snr_gain.png"})
    return figures


def _fmt(x, spec="{:.2f}"):
    return "n/a" if x is None else spec.format(x)


def verdict(report: dict) -> str:
    """One sentence: the best classical method and whether the U-Net dominates it."""
    best = report["best_classical"]
    if "unet_dominates_best_classical" not in report:
        return f"Best classical method (partial AUC, Pfa 1e-6..1e-2): {best}."
    if report["unet_dominates_best_classical"]:
        return (f"The U-Net dominates the best classical method ({best}): Pd at least as high at every "
                f"Pfa of the grid {report['pfa_grid'][0]:.0e}..{report['pfa_grid'][-1]:.0e}.")
    loses = report["unet_loses_at_pfa"]
    worst = report.get("unet_largest_shortfall")
    return (f"The U-Net does NOT dominate the best classical method ({best}): it detects less at "
            f"{len(loses)} of {len(report['pfa_grid'])} Pfa points ({', '.join(f'{p:.1e}' for p in loses)})"
            + ("" if not worst else f"; most at Pfa {worst['pfa']:.1e}, Pd {worst['pd_unet']:.3f} against "
               f"{worst['pd_best']:.3f}") + ".")


def render_markdown(report: dict) -> str:
    ds = report["dataset"]
    cal = report["calibration"]
    lines = [
        "# rd_unet evaluation report", "",
        f"**{verdict(report)}**", "",
        f"Dataset `{ds['path']}` ({ds['scenario']}): {ds['num_maps']} maps of {ds['map_shape'][0]} x "
        f"{ds['map_shape'][1]} (Doppler x range), {ds['num_targets']} targets. Model `{report['model']['path']}`.", "",
        f"Every method is followed by CA-CFAR. Its threshold for each Pfa is calibrated on {cal['num_maps']} "
        f"maps that are not scored ({cal['source']}; {cal['cells']} cells, so Pfa down to "
        f"{cal['smallest_supported_pfa']:.0e} is supported), then applied to the test maps; the false-alarm "
        "rate measured on the test maps' background is reported beside the requested one. "
        "Definitions: docs/metrics.md.", "",
        "| method | partial AUC | AUC | Pd 1e-6 | Pd 1e-4 | Pd 1e-2 | measured Pfa @1e-4 | peak err. median / p10 (dB) "
        "| erased (all / SNR >= 10 dB / visible in the input) | lost | det. SNR gain (dB) | FA clusters/map | F1 | F1 vs clean CFAR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["methods"].items():
        pd = m["pd_at_pfa"]
        lines.append(
            f"| {name} | {_fmt(m['partial_auc'], '{:.3f}')} | {_fmt(m['auc'], '{:.3f}')} | {_fmt(pd['1e-6'], '{:.3f}')} "
            f"| {_fmt(pd['1e-4'], '{:.3f}')} | {_fmt(pd['1e-2'], '{:.3f}')} | {_fmt(m['pfa_measured']['1e-4'], '{:.1e}')} "
            f"| {_fmt(m['peak_error_db_median'], '{:.1f}')} / {_fmt(m['peak_error_db_p10'], '{:.1f}')} "
            f"| {_fmt(m['erased_fraction'], '{:.3f}')} / {_fmt(m.get('erased_fraction_snr10'), '{:.3f}')} "
            f"/ {_fmt(m.get('erased_fraction_visible'), '{:.3f}')} "
            f"| {_fmt(m['lost_fraction'], '{:.3f}')} "
            f"| {_fmt(m['detection_snr_gain_db'], '{:+.1f}')} | {_fmt(m['false_alarm_clusters_per_map'], '{:.2f}')} "
            f"| {_fmt(m['f1'], '{:.3f}')} | {_fmt(m['f1_vs_clean_cfar'], '{:.3f}')} |")
    if report["pfa_unsupported"]:
        lines += ["", "Not supported by the calibration set (reported as null): " + "; ".join(
            f"Pfa {k}: {why}" for k, why in report["pfa_unsupported"].items()) + "."]
    ideal = report["ideal"]
    lines += ["", "Ceiling: the noise-limited ideal detector (no clutter or interference, known noise power) "
              f"would detect Pd = {_fmt(ideal['pd_at_pfa']['1e-4'], '{:.3f}')} at Pfa 1e-4.", "",
              "Map-averaged SINR gains (a constant output floor can move these; they are not detection figures):", "",
              "| method | mask SINR gain (dB) | recon. SINR gain (dB) | strongest-target gain (dB) | power-weighted peak error (dB) |",
              "|---|---|---|---|---|"]
    for name, m in report["methods"].items():
        lines.append(f"| {name} | {_fmt(m['mask_sinr_gain_db'])} | {_fmt(m['recon_sinr_gain_db'])} | "
                     f"{_fmt(m['strongest_target_gain_db'])} | {_fmt(m['peak_error_db'])} |")
    pfa = report["config"]["pfa"]
    lines += ["", f"CA-CFAR with its threshold designed for Pfa = {pfa:g} on exponential noise (no calibration):", "",
              "| method | Pd | measured Pfa |", "|---|---|---|"]
    for name, m in report["methods"].items():
        if m["design_cfar"] is not None:
            lines.append(f"| {name} | {m['design_cfar']['pd']:.3f} | {m['design_cfar']['empirical_pfa']:.2e} |")
    figs = report["figures"]
    lines += ["", "## Figures", "", "![ROC](roc.png)", "", "![Pd vs SNR](pd_vs_snr.png)", "",
              "![SNR-gain distribution](snr_gain.png)", ""]
    for k in sorted(x for x in figs if x.startswith("panel_")):
        lines += [f"![{k}]({figs[k]})", ""]
    return "\n".join(lines)
