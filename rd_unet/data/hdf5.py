"""The rd_unet HDF5 dataset format (documented in docs/hdf5-format.md).

Root datasets: ``noisy`` and ``clean`` (N, D, R) float32 linear power, optional
``noisy_complex`` / ``clean_complex`` (N, D, R) complex64, optional ``noise`` (N, D, R)
float32 (the thermal noise alone), ``targets`` (a compound
table), ``range_m`` (R,) and ``velocity_mps`` (D,). Root attributes: ``format``,
``format_version``, ``scenario`` and ``radar`` (JSON), ``seed``, ``package_version``,
``num_maps``, ``map_index_offset`` and ``shard``. Maps are chunked one per chunk
and gzip-compressed, which any HDF5 reader (MATLAB, h5py, HDFView) decodes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from rd_unet import __version__
from rd_unet.config import ScenarioConfig, to_json
from rd_unet.files import commit, partial_path
from rd_unet.sim import radar as rd
from rd_unet.sim.targets import TARGET_DTYPE

FORMAT_NAME = "rd_unet.rdmaps"
FORMAT_VERSION = 1
MAP_DATASETS = ("noisy", "clean", "noisy_complex", "clean_complex", "noise")


class DatasetFormatError(ValueError):
    """A file is not a readable rd_unet dataset; the message names the file and the problem."""


# HDF5 filters of ``--compression``: none and lzf need no plugin (h5py and MATLAB's
# h5read read both; lzf only through h5py/PyTables); gzip is everywhere but several
# times slower to write than simulating (benchmarks/simulate.py --end-to-end)
COMPRESSION = {"none": {}, "lzf": {"compression": "lzf", "shuffle": True},
               "gzip": {"compression": "gzip", "compression_opts": 4, "shuffle": True}}
DEFAULT_COMPRESSION = "none"


class DatasetWriter:
    """Writes maps in order into ``PATH.partial``; ``finish`` renames it to ``PATH``.

    Opening a writer on a ``.partial`` left by an interrupted run with the same
    scenario, seed and map range resumes after the last map it recorded.
    """

    def __init__(self, path, scenario: ScenarioConfig, *, num_maps: int, seed: int,
                 map_index_offset: int = 0, shard: str = "0/1", store_complex: bool = False,
                 overwrite: bool = False, compression: str = DEFAULT_COMPRESSION, store_noise: bool = False):
        if compression not in COMPRESSION:
            raise ValueError(f"--compression: expected one of {', '.join(COMPRESSION)}, got {compression!r}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path}: already exists; choose another --output or pass --overwrite")
        self.tmp = partial_path(self.path)
        d, r = scenario.radar.chirps_per_frame, scenario.radar.samples_per_chirp
        identity = {
            "format": FORMAT_NAME, "scenario": to_json(scenario), "seed": int(seed),
            "num_maps": int(num_maps), "map_index_offset": int(map_index_offset),
            "store_complex": bool(store_complex), "store_noise": bool(store_noise),
        }
        self.start = 0
        if self.tmp.exists():
            f = None
            try:
                f = h5py.File(self.tmp, "a")
                same = all(_attr(f.attrs.get(k)) == v for k, v in identity.items())
            except OSError:
                same = False
            if same:
                self.file = f
                self.start = int(f.attrs["maps_written"])
                keep = int(np.searchsorted(f["targets"]["map_index"], map_index_offset + self.start))
                f["targets"].resize((keep,))
            else:
                if f is not None:
                    f.close()
                self.tmp.unlink()
        if self.start == 0 and not hasattr(self, "file"):
            self.file = h5py.File(self.tmp, "w")
            f = self.file
            for key, value in identity.items():
                f.attrs[key] = value
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["radar"] = to_json(scenario.radar)
            f.attrs["radar_derived"] = json.dumps(rd.describe(scenario.radar))
            f.attrs["package_version"] = __version__
            f.attrs["shard"] = shard
            f.attrs["axes"] = "(map, doppler, range)"
            f.attrs["units"] = "linear power, thermal noise mean 1 per cell"
            f.attrs["maps_written"] = 0
            f.attrs["compression"] = compression
            names = (["noisy", "clean"] + (["noisy_complex", "clean_complex"] if store_complex else [])
                     + (["noise"] if store_noise else []))
            for name in names:
                dtype = np.complex64 if name.endswith("complex") else np.float32
                # one map per chunk: a reader of map i touches one chunk
                f.create_dataset(name, (num_maps, d, r), dtype=dtype, chunks=(1, d, r), **COMPRESSION[compression])
            f.create_dataset("targets", (0,), dtype=TARGET_DTYPE, maxshape=(None,), chunks=(1024,))
            f.create_dataset("range_m", data=rd.range_axis_m(scenario.radar)).attrs["units"] = "m"
            f.create_dataset("velocity_mps", data=rd.velocity_axis_mps(scenario.radar)).attrs["units"] = "m/s"
        self.count = self.start
        self.pending = []
        self.offset = map_index_offset
        self.num_maps = num_maps

    def write(self, sim) -> None:
        """Append the next map (a SimulatedMap)."""
        self.write_batch([sim])

    def write_batch(self, sims) -> None:
        """Append the next maps (SimulatedMaps) with one HDF5 write per dataset."""
        if not sims:
            return
        f, i, b = self.file, self.count, len(sims)
        f["noisy"][i:i + b] = np.stack([s.noisy for s in sims])
        f["clean"][i:i + b] = np.stack([s.clean for s in sims])
        if "noisy_complex" in f:
            f["noisy_complex"][i:i + b] = np.stack([s.noisy_complex for s in sims])
            f["clean_complex"][i:i + b] = np.stack([s.clean_complex for s in sims])
        if "noise" in f:
            f["noise"][i:i + b] = np.stack([s.noise for s in sims])
        t = np.concatenate([s.targets for s in sims])
        t["map_index"] = np.repeat(self.offset + i + np.arange(b), [len(s.targets) for s in sims])
        self.pending.append(t)          # written at the next checkpoint: one resize, not one per batch
        self.count += b

    def _flush_targets(self) -> None:
        if not self.pending:
            return
        t = np.concatenate(self.pending)
        table = self.file["targets"]
        n = table.shape[0]
        table.resize((n + len(t),))
        table[n:] = t
        self.pending = []

    def checkpoint(self) -> None:
        """Record progress so that an interrupted run resumes from here."""
        self._flush_targets()
        self.file.attrs["maps_written"] = self.count
        self.file.flush()

    def finish(self) -> Path:
        if self.count != self.num_maps:
            raise RuntimeError(f"{self.path}: wrote {self.count} of {self.num_maps} maps")
        self.checkpoint()
        self.file.close()
        commit(self.tmp, self.path)
        return self.path

    def close(self) -> None:
        """Leave the partial file for a later resume (after an error or interruption)."""
        if self.file.id.valid:
            self.checkpoint()
            self.file.close()


def write_maps(path, noisy, *, clean=None, targets=None, range_m, velocity_mps, source: str = "",
               overwrite: bool = False, compression: str = DEFAULT_COMPRESSION) -> Path:
    """Write maps that no scenario produced (recorded maps, recorded maps with injected
    targets: rd_unet.sim.inject) as an rd_unet dataset, through ``PATH.partial``.

    ``noisy`` and ``clean`` (N, D, R) linear power; ``targets`` a TARGET_DTYPE table
    (``map_index`` 0..N-1); ``range_m`` (R,) and ``velocity_mps`` (D,) the axes;
    ``source`` what the maps are (the ``source`` attribute). The file records no
    scenario, so ``rd-unet evaluate`` needs ``--calibration`` for it.
    """
    path = Path(path)
    noisy = np.asarray(noisy)
    if noisy.ndim != 3:
        raise ValueError(f"{path}: noisy must be (maps, doppler, range), got shape {noisy.shape}")
    n, d, r = noisy.shape
    if clean is not None and np.shape(clean) != noisy.shape:
        raise ValueError(f"{path}: clean has shape {np.shape(clean)}, noisy {noisy.shape}; expected the same")
    if np.shape(range_m) != (r,) or np.shape(velocity_mps) != (d,):
        raise ValueError(f"{path}: expected range_m of {r} and velocity_mps of {d} values (the maps are "
                         f"{d} x {r}), got {np.shape(range_m)} and {np.shape(velocity_mps)}")
    targets = np.zeros(0, TARGET_DTYPE) if targets is None else np.asarray(targets)
    if targets.dtype != TARGET_DTYPE:
        raise ValueError(f"{path}: targets must be a TARGET_DTYPE table (rd_unet.sim.targets)")
    if len(targets) and not (0 <= targets["map_index"].min() and targets["map_index"].max() < n):
        raise ValueError(f"{path}: targets' map_index must lie in 0..{n - 1}")
    if compression not in COMPRESSION:
        raise ValueError(f"compression: expected one of {', '.join(COMPRESSION)}, got {compression!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; choose another output or pass overwrite")
    tmp = partial_path(path)
    try:
        _write_maps_file(tmp, noisy, clean, targets, range_m, velocity_mps, source, compression)
    except BaseException:
        tmp.unlink(missing_ok=True)                  # nothing half-written is left behind
        raise
    return commit(tmp, path)


def _write_maps_file(tmp, noisy, clean, targets, range_m, velocity_mps, source, compression):
    n, d, r = noisy.shape
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "seed": 0, "num_maps": n,
                        "map_index_offset": 0, "maps_written": n, "package_version": __version__, "shard": "0/1",
                        "axes": "(map, doppler, range)", "units": "linear power", "compression": compression,
                        "store_complex": False, "store_noise": False, "source": source})
        for name, maps in (("noisy", noisy), ("clean", clean)):
            if maps is not None:
                f.create_dataset(name, data=np.asarray(maps, np.float32), chunks=(1, d, r), **COMPRESSION[compression])
        order = np.argsort(targets["map_index"], kind="stable")
        f.create_dataset("targets", data=targets[order], dtype=TARGET_DTYPE, maxshape=(None,), chunks=(1024,))
        f.create_dataset("range_m", data=np.asarray(range_m, np.float64)).attrs["units"] = "m"
        f.create_dataset("velocity_mps", data=np.asarray(velocity_mps, np.float64)).attrs["units"] = "m/s"


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_dataset(path, *, need_clean: bool = False) -> h5py.File:
    """Open an rd_unet dataset for reading, with a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DatasetFormatError(f"{path}: not a readable HDF5 file ({err})") from None
    missing = [n for n in (("noisy", "clean") if need_clean else ("noisy",)) if n not in f]
    if missing:
        found = ", ".join(sorted(f.keys())) or "nothing"
        f.close()
        raise DatasetFormatError(f"{path}: not an rd_unet dataset: no {missing[0]!r} dataset (found: {found})")
    noisy = f["noisy"]
    if noisy.ndim != 3:
        f.close()
        raise DatasetFormatError(f"{path}: 'noisy' must be (N, D, R), got shape {noisy.shape}")
    return f


def read_scenario(f: h5py.File) -> ScenarioConfig | None:
    from rd_unet.config import scenario_from_json
    text = f.attrs.get("scenario")
    return scenario_from_json(_attr(text)) if text is not None else None


def read_targets(f: h5py.File) -> np.ndarray:
    if "targets" not in f:
        return np.zeros(0, TARGET_DTYPE)
    return f["targets"][()]


def targets_by_map(targets: np.ndarray, map_index_offset: int, num_maps: int) -> list[np.ndarray]:
    """Split the target table into one array per map (local index 0..num_maps-1)."""
    idx = targets["map_index"] - map_index_offset
    order = np.argsort(idx, kind="stable")
    targets, idx = targets[order], idx[order]
    bounds = np.searchsorted(idx, np.arange(num_maps + 1))
    return [targets[bounds[i]:bounds[i + 1]] for i in range(num_maps)]


def merge_shards(shards, output, *, copy: bool = False, overwrite: bool = False) -> Path:
    """Join shard files into one dataset.

    By default the map datasets are HDF5 virtual datasets that refer to the shards
    by relative path (keep the shards beside the merged file); ``copy=True`` writes a
    self-contained file. The target table and axes are always copied.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output}: already exists; pass --overwrite to replace it")
    infos = []
    for p in shards:
        with open_dataset(p, need_clean=True) as f:
            a = {k: _attr(f.attrs.get(k)) for k in ("format", "scenario", "seed", "map_index_offset", "store_complex")}
            a["store_noise"] = "noise" in f          # files from before --store-noise have no such attribute
            if a["format"] != FORMAT_NAME:
                raise DatasetFormatError(f"{p}: not an rd_unet dataset (format {a['format']!r})")
            infos.append((a, Path(p), f["noisy"].shape, {k: f[k].dtype for k in MAP_DATASETS if k in f}))
    infos.sort(key=lambda x: x[0]["map_index_offset"])
    first = infos[0][0]
    expected = first["map_index_offset"]
    for a, p, shape, _ in infos:
        for key in ("scenario", "seed", "store_complex", "store_noise"):
            if a[key] != first[key]:
                raise DatasetFormatError(f"{p}: {key} differs from {infos[0][1]}; shards of one dataset must share it")
        if a["map_index_offset"] != expected:
            raise DatasetFormatError(f"{p}: starts at map {a['map_index_offset']}, expected {expected} "
                                     "(a shard is missing or repeated)")
        expected += shape[0]
    total = expected - first["map_index_offset"]
    _, d, r = infos[0][2]
    tmp = partial_path(output)
    with h5py.File(tmp, "w") as out:
        with h5py.File(infos[0][1], "r") as f0:
            for key, value in f0.attrs.items():
                out.attrs[key] = value
            for axis in ("range_m", "velocity_mps"):
                f0.copy(axis, out)
        out.attrs["num_maps"] = total
        out.attrs["maps_written"] = total
        out.attrs["shard"] = "0/1"
        out.attrs["merged_from"] = json.dumps([str(p) for _, p, _, _ in infos])
        for name, dtype in infos[0][3].items():
            if copy:
                dset = out.create_dataset(name, (total, d, r), dtype=dtype, chunks=(1, d, r),
                                          compression="gzip", compression_opts=4, shuffle=True)
                start = 0
                for _, p, shape, _ in infos:
                    with h5py.File(p, "r") as f:
                        for i in range(shape[0]):
                            dset[start + i] = f[name][i]
                    start += shape[0]
            else:
                layout = h5py.VirtualLayout(shape=(total, d, r), dtype=dtype)
                start = 0
                for _, p, shape, _ in infos:
                    rel = os.path.relpath(p.resolve(), output.resolve().parent)
                    layout[start:start + shape[0]] = h5py.VirtualSource(rel, name, shape=shape)
                    start += shape[0]
                out.create_virtual_dataset(name, layout)
        tables = []
        for _, p, _, _ in infos:
            with h5py.File(p, "r") as f:
                tables.append(read_targets(f))
        out.create_dataset("targets", data=np.concatenate(tables), maxshape=(None,), chunks=(1024,))
    commit(tmp, output)
    return output
