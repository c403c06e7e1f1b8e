"""Recorded maps as an evaluation set: simulated targets added to them (``rd-unet inject``).

    rd-unet inject recorded.npy --output injected.h5 --backgrounds backgrounds.h5
    rd-unet evaluate injected.h5 --calibration backgrounds.h5

``backgrounds.h5`` holds the recorded maps as they are (thresholds are calibrated on
them), ``injected.h5`` copies of them with point targets of known position and SNR
added (rd_unet.sim.inject), the ground truth a recording lacks. Movers already in
the recording (the strongest CA-CFAR detections away from zero Doppler) are listed as
the backgrounds' targets, so calibration leaves their neighbourhoods out, and no
target is added on top of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rd_unet.data.hdf5 import write_maps
from rd_unet.eval.cfar import cfar_2d
from rd_unet.sim.inject import inject_targets
from rd_unet.sim.targets import TARGET_DTYPE


def movers(power, *, count: int = 10, pfa: float = 1e-4, ridge_half: int = 5, exclusion: int = 4,
           range_bins=None) -> np.ndarray:
    """The ``count`` strongest CA-CFAR detections (``pfa``) of a (D, R) map more than
    ``ridge_half`` Doppler bins from zero Doppler (bin D // 2), within ``range_bins``
    (first, past-the-end; default all), at least ``exclusion`` cells apart: (K, 2)
    (doppler, range) cells, strongest first."""
    power = np.asarray(power, dtype=np.float64)
    d_bins, r_bins = power.shape
    det, _ = cfar_2d(power, method="ca", pfa=pfa)
    lo, hi = range_bins if range_bins is not None else (0, r_bins)
    allowed = (np.abs(np.arange(d_bins) - d_bins // 2)[:, None] > ridge_half) & (
        (np.arange(r_bins) >= lo) & (np.arange(r_bins) < hi))[None, :]
    cells = np.argwhere(det & allowed)
    cells = cells[np.argsort(power[det & allowed], kind="stable")[::-1]]
    chosen = []
    for d, r in cells:
        if len(chosen) == count:
            break
        if all(max(abs(d - a), abs(r - b)) > exclusion for a, b in chosen):
            chosen.append((int(d), int(r)))
    return np.array(chosen, dtype=int).reshape(-1, 2)


def assess_movers(raw, cleaned, *, count: int = 3, pfa: float = 1e-4, ridge_half: int = 5, exclusion: int = 4,
                  range_bins=None, margin: int = 8) -> list[dict]:
    """What cleaning did to the movers of recorded maps, which have no ground truth.

    For each (D, R) map of ``raw`` and ``cleaned`` (same shape, linear power): its
    ``count`` strongest ``movers`` (CA-CFAR at ``pfa`` on the raw map, off the zero-Doppler
    ridge, within ``range_bins``), whether CA-CFAR at ``pfa`` still detects each within
    +-1 cell of the cleaned map (``kept``), the change of its peak there in dB
    (``peak_change_db``, cleaned over raw), and the mean power of the cells away from the
    movers (more than ``margin`` cells), the ridge and the excluded range bins, before and
    after (``floor_in``, ``floor_out``): a mean, not a median, which would compare the
    exponential input's typical cell with a smoothed output's. Returns one dict per map
    with ``cells`` ((K, 2) doppler, range), ``kept``, ``peak_change_db``, ``floor_in``,
    ``floor_out``."""
    from rd_unet.maps import neighbourhood_max, power_to_db
    raw, cleaned = np.asarray(raw, dtype=np.float64), np.asarray(cleaned, dtype=np.float64)
    if raw.ndim == 2:
        raw, cleaned = raw[None], cleaned[None]
    if raw.ndim != 3 or raw.shape != cleaned.shape:
        raise ValueError(f"assess_movers: raw {raw.shape} and cleaned {cleaned.shape} must be equal (N, D, R) "
                         "or (D, R) stacks of maps")
    out = []
    for p_in, p_out in zip(raw, cleaned):
        d_bins, r_bins = p_in.shape
        lo, hi = range_bins if range_bins is not None else (0, r_bins)
        cells = movers(p_in, count=count, pfa=pfa, ridge_half=ridge_half, exclusion=exclusion, range_bins=(lo, hi))
        det_out, _ = cfar_2d(p_out, method="ca", pfa=pfa)
        kept = neighbourhood_max(det_out, cells[:, 0], cells[:, 1]).astype(bool)
        change = power_to_db(neighbourhood_max(p_out, cells[:, 0], cells[:, 1])) - power_to_db(
            neighbourhood_max(p_in, cells[:, 0], cells[:, 1]))
        away = np.ones(p_in.shape, bool)
        away[np.abs(np.arange(d_bins) - d_bins // 2) <= ridge_half] = False
        for d, r in cells:
            away[max(d - margin, 0):d + margin + 1, max(r - margin, 0):r + margin + 1] = False
        away[:, :lo] = away[:, hi:] = False
        out.append({"cells": cells, "kept": kept, "peak_change_db": np.asarray(change, dtype=float),
                    "floor_in": float(np.mean(p_in[away])), "floor_out": float(np.mean(p_out[away]))})
    return out


def mover_table(maps, range_m, velocity_mps, **kwargs) -> np.ndarray:
    """Every map's ``movers`` as a TARGET_DTYPE table (SNR unknown: NaN)."""
    rows = [(i, k, d, r) for i, p in enumerate(maps) for k, (d, r) in enumerate(movers(p, **kwargs))]
    t = np.zeros(len(rows), TARGET_DTYPE)
    for j, (i, k, d, r) in enumerate(rows):
        t[j]["map_index"], t[j]["target_id"], t[j]["doppler_bin"], t[j]["range_bin"] = i, k, d, r
        t[j]["range_m"], t[j]["velocity_mps"] = range_m[r], velocity_mps[d]
        t[j]["snr_db"] = t[j]["realised_snr_db"] = t[j]["peak_snr_db"] = np.nan
        t[j]["num_scatterers"] = 1
    return t


def injected_sets(maps, output, backgrounds, rng: np.random.Generator, *, copies: int = 10, count=(2, 6),
                  snr_db=(0.0, 25.0), range_window: str = "hann", doppler_window: str = "hann",
                  range_m=None, velocity_mps=None, mover_guard: int = 6, source: str = "recorded maps",
                  **mover_kwargs) -> tuple[Path, Path]:
    """Write ``backgrounds`` (the maps, their movers as targets) and ``output`` (``copies``
    of each map with targets added, none within ``mover_guard`` cells of a mover).
    ``range_m``/``velocity_mps``: the axes (default: bin indices, zero Doppler at D // 2)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps: expected (N, D, R) power, got shape {maps.shape}")
    if copies < 1:
        raise ValueError(f"copies: expected at least 1, got {copies}")
    output, backgrounds = Path(output), Path(backgrounds)
    if output.resolve() == backgrounds.resolve():
        raise ValueError(f"{output}: the injected set and the backgrounds need two different files")
    for path in (output, backgrounds):
        if path.exists():
            raise FileExistsError(f"{path}: already exists; choose another name (nothing is overwritten)")
    n, d, r = maps.shape
    range_m = np.arange(r, dtype=np.float64) if range_m is None else np.asarray(range_m, np.float64)
    velocity_mps = (np.arange(d, dtype=np.float64) - d // 2) if velocity_mps is None else np.asarray(velocity_mps, np.float64)
    found = mover_table(maps, range_m, velocity_mps, **mover_kwargs)
    allowed = np.ones(maps.shape, bool)
    for t in found:
        i, dd, rr = t["map_index"], t["doppler_bin"], t["range_bin"]
        allowed[i, max(dd - mover_guard, 0):dd + mover_guard + 1, max(rr - mover_guard, 0):rr + mover_guard + 1] = False
    idx = np.repeat(np.arange(n), copies)
    inj = inject_targets(maps[idx], rng, count=count, snr_db=snr_db, range_window=range_window,
                         doppler_window=doppler_window, allowed=allowed[idx], range_m=range_m, velocity_mps=velocity_mps)
    # both files are complete before either is in place (each goes through PATH.partial)
    write_maps(backgrounds, maps, targets=found, range_m=range_m, velocity_mps=velocity_mps,
               source=f"{source}; the targets table lists the recorded movers (calibration leaves them out)")
    try:
        write_maps(output, inj.noisy, clean=inj.clean, targets=inj.targets, range_m=range_m, velocity_mps=velocity_mps,
                   source=f"{source}, {copies} copies of each map with {count[0]}-{count[1]} added point targets "
                          f"(SNR {snr_db[0]:g}-{snr_db[1]:g} dB over the range column's floor)")
    except BaseException:
        backgrounds.unlink(missing_ok=True)
        raise
    return output, backgrounds
