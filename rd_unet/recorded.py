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
