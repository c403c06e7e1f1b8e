"""torch Datasets over rd_unet HDF5 files.

``RDMapDataset`` opens its file lazily, once per DataLoader worker process, and
returns dicts ``{"noisy": (1, D, R), "clean": (1, D, R), "index": i}`` in the
network's normalised representation. ``load_normalized`` reads a whole index set
into memory for the fast path.
"""
from __future__ import annotations

import os

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from rd_unet.config import NormalizationConfig
from rd_unet.data.hdf5 import DatasetFormatError, open_dataset
from rd_unet.data.normalize import map_floor, to_network


def normalize_pair(noisy: np.ndarray, clean: np.ndarray, cfg: NormalizationConfig, noise: np.ndarray | None = None):
    """(N, D, R) noisy and clean power -> (N, 1, D, R) float32 tensors, both relative to the
    noisy floor (one per range column with ``cfg.floor_profile``, as the Denoiser
    normalises at inference); the target is the clean map plus ``cfg.target_floor`` noise
    floors plus ``cfg.target_noise`` times ``noise``, the thermal noise alone (needed
    when it is not 0)."""
    x = torch.from_numpy(np.ascontiguousarray(noisy, np.float32))
    y = torch.from_numpy(np.ascontiguousarray(clean, np.float32))
    floor = map_floor(x, cfg)
    y = y + cfg.target_floor * floor
    if cfg.target_noise:
        if noise is None:
            raise ValueError("target_noise: the training target needs the thermal noise alone (a 'noise' dataset)")
        y = y + cfg.target_noise * torch.from_numpy(np.ascontiguousarray(noise, np.float32))
    return to_network(x, floor, cfg)[:, None], to_network(y, floor, cfg)[:, None]


def check_noise(f: h5py.File, cfg: NormalizationConfig) -> None:
    """A clear error where the target needs the ``noise`` dataset and ``f`` has none."""
    if cfg.target_noise and "noise" not in f:
        raise DatasetFormatError(f"{f.filename}: no 'noise' dataset, which the training target needs (target "
                                 f"noise {cfg.target_noise:g}, from --target-noise or the --init checkpoint's; "
                                 "simulate with --store-noise)")


def load_normalized(path, indices, cfg: NormalizationConfig, chunk: int = 256):
    """Read maps ``indices`` (sorted) of ``path`` into normalised (N, 1, D, R) tensors."""
    indices = np.asarray(indices)
    xs, ys = [], []
    with open_dataset(path, need_clean=True) as f:
        check_noise(f, cfg)
        for start in range(0, len(indices), chunk):
            idx = indices[start:start + chunk]
            lo, hi = idx.min(), idx.max() + 1
            noisy, clean = f["noisy"][lo:hi][idx - lo], f["clean"][lo:hi][idx - lo]
            noise = f["noise"][lo:hi][idx - lo] if cfg.target_noise else None
            x, y = normalize_pair(noisy, clean, cfg, noise)
            xs.append(x)
            ys.append(y)
    return torch.cat(xs), torch.cat(ys)


class RDMapDataset(Dataset):
    """Maps of one HDF5 file, normalised; the file is opened lazily in each worker."""

    def __init__(self, path, indices=None, normalization: NormalizationConfig = NormalizationConfig()):
        self.path = str(path)
        with open_dataset(path, need_clean=True) as f:
            check_noise(f, normalization)
            n = f["noisy"].shape[0]
            self.map_shape = f["noisy"].shape[1:]
            # the axes, where the file has them (a file of crops from many radars has none)
            self.range_m = f["range_m"][()] if "range_m" in f else None
            self.velocity_mps = f["velocity_mps"][()] if "velocity_mps" in f else None
        self.indices = np.arange(n) if indices is None else np.asarray(indices)
        self.normalization = normalization
        self._file = None
        self._pid = None

    def __len__(self):
        return len(self.indices)

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():   # one handle per worker process
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def __getitem__(self, i):
        f = self._handle()
        j = int(self.indices[i])
        noise = f["noise"][j][None] if self.normalization.target_noise else None
        x, y = normalize_pair(f["noisy"][j][None], f["clean"][j][None], self.normalization, noise)
        return {"noisy": x[0], "clean": y[0], "index": j}

    def plot(self, i, output):
        """Draw sample i (noisy and clean, dB) to a PNG."""
        from rd_unet.plots import rd_panels
        f = self._handle()
        j = int(self.indices[i])
        rd_panels({"noisy": f["noisy"][j], "clean": f["clean"][j]}, self.range_m, self.velocity_mps, output)
