"""Cleaning RD maps with a trained denoiser: arrays (``clean_maps``) and files (``clean_files``).

Files: HDF5 (``file.h5`` or ``file.h5:/group/dataset``), ``.npy`` (memory-mapped),
``.npz`` (every map-shaped array, or ``file.npz:name``), MATLAB ``.mat`` v5 (scipy)
and v7.3 (HDF5). Each input gives one output of the same format, name and array
names under the output directory, written to a temporary name and renamed when
complete; existing outputs are skipped unless ``overwrite``. Units: ``power``
(linear), ``db`` (10 log10 power), ``magnitude`` (sqrt power) or ``complex`` (complex
amplitudes; the output is linear power, since phase cannot be restored).
"""
from __future__ import annotations

import glob
import json
import mmap
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from rd_unet import __version__
from rd_unet.files import atomic_write_text, commit, is_partial, partial_path
from rd_unet.maps import db_to_power, power_to_db
from rd_unet.model.inference import clean_maps, denoise, load_denoiser  # noqa: F401 (clean_maps: public here too)
from rd_unet.model.unet import EXTREME_DB, Denoiser, extreme_cells


# ----------------------------------------------------------------------------- files
MIN_MAP_CELLS = 8
SUFFIXES = (".h5", ".hdf5", ".he5", ".npy", ".npz", ".mat")
UNITS = ("power", "db", "magnitude", "complex")
MAX_ABS_DB = 400.0


class InputError(ValueError):
    """One input cannot be cleaned; the message names the file and the problem."""


@dataclass
class Job:
    source: Path
    selector: str | None
    output: Path


@dataclass
class _Context:
    denoiser: Denoiser
    device: torch.device
    model_path: str
    model_sha256: str
    units: str
    axes: str | None
    batch_size: int
    bar: tqdm
    maps: int = 0
    max_memory: int = 2 * 2 ** 30          # bytes one array may take when it cannot be streamed
    warned: set = field(default_factory=set)
    warnings: list = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        tqdm.write(f"rd-unet clean: warning: {message}")


def _split_selector(text: str) -> tuple[Path, str | None]:
    """'file.h5:/a/b' -> (file.h5, '/a/b'); a plain path -> (path, None)."""
    for suffix in SUFFIXES:
        marker = suffix + ":"
        if marker in text:
            head, _, tail = text.partition(marker)
            return Path(head + suffix), tail or None
    return Path(text), None


def expand_inputs(inputs, output_dir) -> tuple[list[Job], list[tuple[str, str]]]:
    """Jobs for files, FILE:selector, directories (recursive, mirrored) and globs; plus early failures."""
    output_dir = Path(output_dir)
    jobs, failures, taken = [], [], {}
    candidates = []
    for text in inputs:
        path, selector = _split_selector(str(text))
        if path.is_dir():
            if output_dir.resolve().is_relative_to(path.resolve()):
                failures.append((str(path), f"the output folder {output_dir} lies inside this input folder: its "
                                            "outputs would be read as inputs on the next run; choose an --output "
                                            "outside it"))
                continue
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                           and not is_partial(p))
            pairs = [(p, output_dir / p.relative_to(path)) for p in found]
            if not found:
                failures.append((str(path), "no .h5, .npy, .npz or .mat files in this directory"))
        elif any(ch in str(path) for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            pairs = [(p, output_dir / p.name) for p in found]
            if not found:
                failures.append((str(path), "the pattern matches no file"))
        elif path.is_file():
            pairs = [(path, output_dir / path.name)]
        else:
            failures.append((str(path), "no such file or directory"))
            continue
        candidates += [(src, selector, out) for src, out in pairs]
    # every input, before any output is chosen: an output may never be any input
    inputs_resolved = {src.resolve(): src for src, _, _ in candidates}
    for src, selector, out in candidates:
        if src.suffix.lower() not in SUFFIXES:
            failures.append((str(src), f"unsupported file type {src.suffix!r}; expected one of {', '.join(SUFFIXES)}"))
            continue
        if out.resolve() in inputs_resolved:
            failures.append((str(src), f"its output {out} would overwrite the input {inputs_resolved[out.resolve()]}; "
                                       "choose another --output"))
            continue
        key = out.resolve()
        if key in taken:
            failures.append((str(src), f"output {out} is already the output of {taken[key]}; clean them into "
                                       "separate --output directories"))
            continue
        taken[key] = src
        jobs.append(Job(src, selector, out))
    return jobs, failures


def _axes(ndim: int, axes: str | None, where: str) -> str:
    if ndim not in (2, 3):
        raise InputError(f"{where}: expected a 2-D map (D, R) or 3-D stack (N, D, R), got {ndim} dimensions")
    expected = "DR" if ndim == 2 else "NDR"
    given = (axes or expected).upper()
    if ndim == 2 and len(given) == 3:
        given = given.replace("N", "")          # a stack's axes also describe its single maps
    if sorted(given) != sorted(expected):
        raise InputError(f"{where}: --axes {axes!r} does not describe this {ndim}-D array: "
                         f"use the letters {' '.join(expected)} once each")
    return given


def to_power(x: np.ndarray, units: str, where: str) -> np.ndarray:
    """Stored values -> float64 linear power, validated."""
    if np.iscomplexobj(x) and units != "complex":
        raise InputError(f"{where}: complex values; use --units complex (the output is then linear power)")
    if units == "complex":
        if not np.iscomplexobj(x):
            raise InputError(f"{where}: --units complex but the array is real ({x.dtype})")
        p = x.real.astype(np.float64) ** 2 + x.imag.astype(np.float64) ** 2
    else:
        p = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        raise InputError(f"{where}: contains non-finite values (NaN or inf)")
    if units == "db":
        big = np.abs(p).max() if p.size else 0.0
        if big > MAX_ABS_DB:
            raise InputError(f"{where}: --units db but values reach {big:.3g}; decibel power lies within "
                             f"+-{MAX_ABS_DB:g} (linear power? use --units power)")
        return db_to_power(p)
    if np.any(p < 0):
        raise InputError(f"{where}: contains negative values, expected {units} >= 0 "
                         "(decibels? use --units db)")
    return p * p if units == "magnitude" else p


def from_power(p: np.ndarray, units: str) -> np.ndarray:
    if units == "db":
        return power_to_db(p)
    if units == "magnitude":
        return np.sqrt(p)
    return p


def _out_dtype(dtype, units):
    if units == "complex" or not np.issubdtype(dtype, np.floating):
        return np.dtype(np.float32)
    return np.dtype(dtype)


def _clean_array(read, write, shape, ctx: _Context, where: str, axes: str | None):
    """Stream one stored array: read(index_tuple) -> block, write(index_tuple, block)."""
    ax = _axes(len(shape), axes, where)
    n_axis = ax.index("N") if "N" in ax else None
    n = shape[n_axis] if n_axis is not None else 1
    to_ndr = [ax.index(c) for c in ("N", "D", "R") if c in ax]
    d, r = shape[ax.index("D")], shape[ax.index("R")]
    if d < MIN_MAP_CELLS or r < MIN_MAP_CELLS:
        raise InputError(f"{where}: maps of {d} x {r} cells are too small to clean (at least "
                         f"{MIN_MAP_CELLS} x {MIN_MAP_CELLS}: the noise floor and the network need a neighbourhood)")
    if n == 0:
        raise InputError(f"{where}: the stack holds no maps (shape {tuple(shape)})")
    for start in range(0, n, ctx.batch_size):
        stop = min(n, start + ctx.batch_size)
        index = [slice(None)] * len(shape)
        if n_axis is not None:
            index[n_axis] = slice(start, stop)
        block = np.asarray(read(tuple(index)))
        stack = block.transpose(to_ndr)
        if n_axis is None:
            stack = stack[None]
        power = to_power(stack, ctx.units, where)
        _warn_about(power, stack, ctx, where, start)
        cleaned = from_power(denoise(ctx.denoiser, power, batch_size=ctx.batch_size, device=ctx.device).astype(np.float64),
                             ctx.units if ctx.units != "complex" else "power")
        out = cleaned if n_axis is not None else cleaned[0]
        write(tuple(index), out.transpose(np.argsort(to_ndr)))
        ctx.maps += stop - start
        ctx.bar.update(stop - start)
    return n


def _warn_about(power, stored, ctx: _Context, where: str, start: int) -> None:
    """Warnings that name the file: maps that look like dB given as power, all-zero maps,
    and cells so far above the noise floor that they pass through unchanged."""
    if ctx.units == "power" and where not in ctx.warned and looks_like_db(stored):
        ctx.warned.add(where)
        ctx.warn(f"{where}: the values look like decibels (all positive, within a factor "
                 f"{DB_LIKE_SPREAD:g} of each other, without the spread of power); if they are, use --units db")
    zero = np.flatnonzero(~power.reshape(len(power), -1).any(axis=1))
    if zero.size:
        ctx.warn(f"{where}: map(s) {', '.join(str(start + i) for i in zero[:5])}{' ...' if zero.size > 5 else ''} "
                 "are all zero; their output is all zero")
    extreme = extreme_cells(torch.tensor(power)[:, None], ctx.denoiser.normalization).numpy()
    if extreme.any():
        ctx.warn(f"{where}: {int(extreme.sum())} cell(s) more than {EXTREME_DB:g} dB above their map's noise floor "
                 "(glitches? saturation?) passed through unchanged")


DB_LIKE_SPREAD = 10.0


def looks_like_db(values: np.ndarray) -> bool:
    """Power of noise spreads over decades (an exponential law's 1st and 99th percentiles
    are 460x apart); decibels of the same map lie within a small factor of each other."""
    v = np.asarray(values)
    if np.iscomplexobj(v) or v.size < 64:
        return False
    lo, hi = np.percentile(v, [1, 99])
    return bool(v.min() > 0 and hi < DB_LIKE_SPREAD * lo)


def _provenance(ctx: _Context, source: Path, units: str) -> dict:
    return {"rd_unet_version": __version__, "rd_unet_model": ctx.model_path, "rd_unet_model_sha256": ctx.model_sha256,
            "rd_unet_cleaned_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rd_unet_source": str(source), "rd_unet_units": "power" if units == "complex" else units,
            # whether the input's power was kept where the estimate stood passthrough_db above the floor
            "rd_unet_passthrough": bool(ctx.denoiser.normalization.passthrough),
            "rd_unet_passthrough_db": float(ctx.denoiser.normalization.passthrough_db),
            "rd_unet_passthrough_cut_db": float(ctx.denoiser.normalization.passthrough_cut_db),
            # whether the network's output was averaged over the four flips of each map
            "rd_unet_flip_average": bool(ctx.denoiser.normalization.flip_average),
            "rd_unet_doppler_shifts": int(ctx.denoiser.normalization.doppler_shifts),
            # whether each range column was normalised by its own noise floor
            "rd_unet_floor_profile": bool(ctx.denoiser.normalization.floor_profile)}


def _write_sidecar(out: Path, meta: dict) -> None:
    atomic_write_text(out.with_name(out.name + ".rd_unet.json"), json.dumps(meta, indent=2))


def _clean_npy(job: Job, tmp: Path, ctx: _Context):
    try:
        arr = np.load(job.source, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{job.source}: not a readable .npy file ({type(err).__name__}: {err or 'empty file'})") from None
    where = str(job.source)
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=_out_dtype(arr.dtype, ctx.units), shape=arr.shape)
    try:
        # reserve the whole file now: a full disk is then an error here, not a SIGBUS
        # when a mapped page is written later
        with open(tmp, "r+b") as fh:
            os.posix_fallocate(fh.fileno(), 0, os.path.getsize(tmp))
    except OSError as err:
        out._mmap.close()
        raise InputError(f"{job.output}: cannot reserve {os.path.getsize(tmp) / 1e6:.0f} MB for the output "
                         f"({err.strerror or err})") from None

    def write(index, block):
        out[index] = block
        # keep memory bounded for stacks larger than RAM: write back, then drop the
        # mapped pages of both files (they would otherwise stay resident; the kernel
        # skips pages already dropped, so this costs microseconds)
        out.flush()
        for m in (arr, out):
            mm = getattr(m, "_mmap", None)
            if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mm.madvise(mmap.MADV_DONTNEED)

    try:
        _clean_array(lambda index: arr[index], write, arr.shape, ctx, where, ctx.axes)
        out.flush()
    finally:
        out._mmap.close()   # unmapped before the rename (or the removal of a failed output)
    return {"arrays": [None]}


def _npz_members(path: Path):
    try:
        with zipfile.ZipFile(path) as z:
            compressed = any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist())
        data = np.load(path, allow_pickle=False)
        return data, compressed
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise InputError(f"{path}: not a readable .npz file ({err})") from None


def _is_map(a: np.ndarray) -> bool:
    return a.ndim in (2, 3) and (np.issubdtype(a.dtype, np.number)) and not np.issubdtype(a.dtype, np.bool_)


def _clean_named(job: Job, arrays: dict, ctx: _Context, kind: str, require: bool = True):
    """Clean the map-shaped arrays of a name -> array dict (or only job.selector); others pass through."""
    names = list(arrays)
    if require and job.selector is not None and job.selector not in names:
        raise InputError(f"{job.source}: no {kind} {job.selector!r} (found: {', '.join(names) or 'none'})")
    out_arrays, cleaned = {}, []
    for name, a in arrays.items():
        if (job.selector is None and isinstance(a, np.ndarray) and _is_map(a)) or name == job.selector:
            out = np.empty(a.shape, _out_dtype(a.dtype, ctx.units))

            def write(index, block, out=out):
                out[index] = block

            _clean_array(lambda index, a=a: a[index], write, a.shape, ctx, f"{job.source}:{name}", ctx.axes)
            out_arrays[name] = out
            cleaned.append(name)
        else:
            out_arrays[name] = a
    if require and not cleaned:
        raise InputError(f"{job.source}: no 2-D or 3-D numeric {kind} to clean (found: {', '.join(names)})")
    return out_arrays, cleaned


def _check_budget(nbytes: int, ctx: _Context, where: str) -> None:
    if nbytes > ctx.max_memory:
        raise InputError(f"{where}: one array of {nbytes / 2 ** 20:.0f} MB exceeds --max-memory "
                         f"{ctx.max_memory / 2 ** 20:.0f} MB (.npz and .mat arrays are read whole; store large stacks "
                         "as .npy or HDF5, which are streamed, or raise --max-memory)")


def _clean_npz(job: Job, tmp: Path, ctx: _Context):
    """One member at a time: read, clean, write into the output archive, forget."""
    data, compressed = _npz_members(job.source)
    names, cleaned = list(data.files), []
    if job.selector is not None and job.selector not in names:
        raise InputError(f"{job.source}: no array {job.selector!r} (found: {', '.join(names) or 'none'})")
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with data, zipfile.ZipFile(tmp, "w", compression=mode, allowZip64=True) as out:
        for name in names:
            _check_budget(_npz_member_bytes(data, name), ctx, f"{job.source}:{name}")
            arrays, done = _clean_named(job, {name: data[name]}, ctx, "array", require=False)
            cleaned += done
            with out.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arrays[name]), allow_pickle=False)
    if not cleaned:
        raise InputError(f"{job.source}: no 2-D or 3-D numeric array to clean (found: {', '.join(names)})")
    return {"arrays": cleaned}


def _npz_member_bytes(data, name: str) -> int:
    """The size of a member once loaded, from its .npy header (nothing is read beyond it)."""
    with data.zip.open(name + ".npy") as fh:
        version = np.lib.format.read_magic(fh)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)(fh)
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _h5_candidates(f: h5py.File):
    found = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3)
                 and (obj.dtype.kind in "fiuc" or obj.dtype.names == ("real", "imag")) else None)
    return found


def _pick_h5_dataset(f: h5py.File, selector, where):
    if selector is not None:
        name = selector.lstrip("/")
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise InputError(f"{where}: no dataset {selector!r} (datasets with maps: {', '.join(_h5_candidates(f)) or 'none'})")
        return [name]
    cands = _h5_candidates(f)
    if "noisy" in cands:
        return ["noisy"]                      # an rd_unet dataset: its measured maps
    if len(cands) == 1:
        return cands
    if not cands:
        raise InputError(f"{where}: no 2-D or 3-D numeric dataset to clean")
    raise InputError(f"{where}: several datasets hold maps ({', '.join(cands)}); choose one as {where}:/NAME")


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({str(err).split(chr(10))[0]})") from None


def _clean_h5(job: Job, tmp: Path, ctx: _Context, *, matlab: bool = False):
    """HDF5 and MATLAB v7.3: copy the file, then replace the chosen datasets' values in the copy."""
    where = str(job.source)
    with _open_h5(job.source) as src:
        if matlab:
            names = [job.selector.lstrip("/")] if job.selector else [
                n for n in _h5_candidates(src) if "MATLAB_class" in src[n].attrs]
            if job.selector and names[0] not in src:
                raise InputError(f"{where}: no variable {job.selector!r} (found: {', '.join(_h5_candidates(src))})")
            if not names:
                raise InputError(f"{where}: no 2-D or 3-D numeric MATLAB variable to clean")
        else:
            names = _pick_h5_dataset(src, job.selector, where)
        shutil.copyfile(job.source, tmp)
        with h5py.File(tmp, "r+") as dst:
            _materialise_virtual(src, dst)
            for name in names:
                dset = src[name]
                is_compound_complex = dset.dtype.names == ("real", "imag")
                shape = dset.shape
                # MATLAB stores column-major: h5py sees the axes reversed
                axes = ctx.axes
                if matlab:
                    axes = _axes(len(shape), axes, f"{where}:{name}")[::-1]

                def read(index, dset=dset, cc=is_compound_complex):
                    block = dset[index]
                    return block["real"] + 1j * block["imag"] if cc else block

                stored_dtype = np.dtype(np.complex64) if is_compound_complex else dset.dtype
                dtype = _out_dtype(stored_dtype, ctx.units)
                if dtype == dset.dtype and not is_compound_complex:
                    target = dst[name]
                else:                               # complex or integer: a new float dataset
                    attrs = dict(dst[name].attrs)
                    del dst[name]
                    target = dst.create_dataset(name, shape, dtype=dtype, chunks=dset.chunks,
                                                compression=dset.compression, compression_opts=dset.compression_opts)
                    for k, v in attrs.items():
                        target.attrs[k] = v
                    if matlab:
                        target.attrs["MATLAB_class"] = np.bytes_("double" if dtype == np.float64 else "single")

                def write(index, block, target=target):
                    target[index] = block

                _clean_array(read, write, shape, ctx, f"{where}:{name}", axes)
                for k, v in _provenance(ctx, job.source, ctx.units).items():
                    target.attrs[k] = v
    return {"arrays": names}


def _materialise_virtual(src: h5py.File, dst: h5py.File) -> None:
    """Replace the copy's virtual datasets (e.g. of ``rd-unet merge``) by real ones: the
    output must stand alone, and a write through a mapping would reach the source files."""
    virtual = []
    src.visititems(lambda name, obj: virtual.append(name) if isinstance(obj, h5py.Dataset) and obj.is_virtual
                   else None)
    for name in virtual:
        s = src[name]
        attrs = dict(s.attrs)
        del dst[name]
        chunks = (1,) + s.shape[1:] if s.ndim >= 2 and s.shape[0] else None
        d = dst.create_dataset(name, s.shape, dtype=s.dtype, chunks=chunks, maxshape=s.maxshape if chunks else None)
        for start in range(0, s.shape[0] if s.ndim else 0, 64):
            d[start:start + 64] = s[start:start + 64]
        if s.ndim == 0:
            d[()] = s[()]
        for k, v in attrs.items():
            d.attrs[k] = v


def _is_mat73(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(128)
    return b"MATLAB 7.3" in head


def _clean_mat(job: Job, tmp: Path, ctx: _Context):
    import scipy.io
    if _is_mat73(job.source):
        return _clean_h5(job, tmp, ctx, matlab=True)
    try:
        listing = scipy.io.whosmat(job.source)
        out_vars, cleaned = {}, []
        for name, shape, mclass in listing:         # one variable in memory at a time while reading
            itemsize = {"double": 8, "int64": 8, "uint64": 8, "single": 4, "int32": 4, "uint32": 4}.get(mclass, 2)
            _check_budget(int(np.prod(shape, dtype=np.int64)) * itemsize, ctx, f"{job.source}:{name}")
            var = scipy.io.loadmat(job.source, squeeze_me=False, variable_names=[name])[name]
            done_vars, done = _clean_named(job, {name: var}, ctx, "variable", require=False)
            out_vars.update(done_vars)
            cleaned += done
    except InputError:
        raise
    except Exception as err:  # scipy raises several types for broken files
        raise InputError(f"{job.source}: not a readable MATLAB file ({type(err).__name__}: {err})") from None
    names = [n for n, _, _ in listing]
    if job.selector is not None and job.selector not in names:
        raise InputError(f"{job.source}: no variable {job.selector!r} (found: {', '.join(names) or 'none'})")
    if not cleaned:
        raise InputError(f"{job.source}: no 2-D or 3-D numeric variable to clean (found: {', '.join(names)})")
    scipy.io.savemat(tmp, out_vars, do_compression=True, appendmat=False)
    return {"arrays": cleaned}


def read_maps(spec, units: str = "power", axes: str | None = None) -> np.ndarray:
    """Read recorded maps whole, as ``rd-unet clean`` finds them: ``spec`` is a .npy,
    .npz, HDF5 or .mat file, optionally ``FILE:NAME`` (the array, dataset or variable;
    without it the one map-shaped array, or an rd_unet dataset's ``noisy``). Returns
    (N, D, R) float64 linear power; a clear InputError for anything else."""
    path, selector = _split_selector(str(spec))
    where = str(path)
    if not path.is_file():
        raise InputError(f"{where}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{where}: unsupported file type {suffix!r}; expected one of {', '.join(SUFFIXES)}")
    if suffix in (".h5", ".hdf5", ".he5") or (suffix == ".mat" and _is_mat73(path)):
        with _open_h5(path) as f:
            name = _pick_h5_dataset(f, selector, where)[0]
            arr = f[name][()]
            if arr.dtype.names == ("real", "imag"):            # MATLAB v7.3 complex
                arr = arr["real"] + 1j * arr["imag"]
            where = f"{path}:{name}"
            if suffix == ".mat":                               # MATLAB stores arrays transposed
                arr = arr.T
    else:
        if suffix == ".npy":
            try:
                arrays = {None: np.load(path, allow_pickle=False)}
            except (ValueError, OSError, EOFError) as err:
                raise InputError(f"{where}: not a readable .npy file ({type(err).__name__}: {err or 'empty file'})") from None
        elif suffix == ".npz":
            data, _ = _npz_members(path)
            with data:
                arrays = {k: data[k] for k in data.files}
        else:
            import scipy.io
            try:
                arrays = {k: v for k, v in scipy.io.loadmat(path, squeeze_me=False).items() if not k.startswith("__")}
            except Exception as err:  # scipy raises several types for broken files
                raise InputError(f"{where}: not a readable MATLAB file ({type(err).__name__}: {err})") from None
        if None in arrays:
            name = None
        elif selector is not None:
            if selector not in arrays:
                raise InputError(f"{where}: no array {selector!r} (found: {', '.join(arrays) or 'none'})")
            name = selector
        else:
            maps = [k for k, a in arrays.items() if isinstance(a, np.ndarray) and _is_map(a)]
            if len(maps) != 1:
                raise InputError(f"{where}: " + (f"several arrays hold maps ({', '.join(maps)}); choose one as "
                                                 f"{where}:NAME" if maps else "no 2-D or 3-D numeric array"))
            name = maps[0]
        arr = arrays[name]
        where = where if name is None else f"{where}:{name}"
    arr = np.asarray(arr)
    ax = _axes(arr.ndim, axes, where)
    stack = arr.transpose([ax.index(c) for c in ("N", "D", "R") if c in ax])
    stack = stack if "N" in ax else stack[None]
    if min(stack.shape[1:]) < MIN_MAP_CELLS or stack.shape[0] == 0:
        raise InputError(f"{where}: expected maps of at least {MIN_MAP_CELLS} x {MIN_MAP_CELLS} cells, got shape "
                         f"{tuple(arr.shape)}")
    return to_power(stack, units, where)


HANDLERS = {".npy": _clean_npy, ".npz": _clean_npz, ".mat": _clean_mat,
            ".h5": _clean_h5, ".hdf5": _clean_h5, ".he5": _clean_h5}


def clean_file(job: Job, ctx: _Context) -> dict:
    """Clean one input into job.output (atomically). Raises InputError on bad input."""
    job.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(job.output)
    tmp.unlink(missing_ok=True)                  # a stale leftover of a killed run
    try:
        info = HANDLERS[job.source.suffix.lower()](job, tmp, ctx)
        if job.output.suffix.lower() in (".npy", ".npz") or (job.output.suffix.lower() == ".mat" and not _is_mat73(job.source)):
            meta = _provenance(ctx, job.source, ctx.units)
            meta["arrays"] = info["arrays"]
            _write_sidecar(job.output, meta)      # before the rename: a complete output has its sidecar
        commit(tmp, job.output)
        return info
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def clean_files(inputs, output, *, model=None, units: str = "power", axes: str | None = None, batch_size: int = 16,
                device="auto", overwrite: bool = False, progress: bool = True, max_memory_mb: float = 2048.0,
                shard: str | tuple[int, int] = (0, 1), passthrough: bool | None = None,
                flip_average: bool | None = None, doppler_shifts: int | None = None,
                floor_profile: bool | None = None) -> dict:
    """Clean files into the directory ``output``; returns a summary and prints it.

    Never writes into an input; outputs that exist already are skipped unless
    ``overwrite``; a file that fails is reported and the others are still cleaned.
    ``shard`` ``"K/N"``: only the K-th of N contiguous parts of the sorted file list (for
    a cluster array job; each shard resumes like a whole run). ``max_memory_mb``: the
    largest single .npz/.mat array read whole (.npy and HDF5 are streamed).
    ``passthrough``: None keeps the model's; False, the network's estimate alone; True,
    the input's power at the cells the network keeps. ``flip_average``: None keeps the
    model's; True/False turns the test-time flip averaging on/off; ``doppler_shifts``: None
    keeps the model's, n averages over n circular Doppler shifts; ``floor_profile``: None
    keeps the model's, True/False a noise floor per range column or one per map (see
    ``load_denoiser``).
    """
    from rd_unet.data.generate import parse_shard, shard_range
    from rd_unet.model.checkpoint import file_sha256
    if units not in UNITS:
        raise ValueError(f"--units: expected one of {', '.join(UNITS)}, got {units!r}")
    if batch_size < 1:
        raise ValueError(f"--batch-size: expected at least 1, got {batch_size}")
    if not max_memory_mb > 0:
        raise ValueError(f"--max-memory: expected a positive number of MB, got {max_memory_mb}")
    k, n = parse_shard(shard) if isinstance(shard, str) else shard
    output = Path(output)
    jobs, failures = expand_inputs(inputs, output)
    if n > 1:
        jobs = sorted(jobs, key=lambda j: (str(j.source), j.selector or ""))
        start, stop = shard_range(len(jobs), (k, n))
        jobs = jobs[start:stop]
    early_failures = len(failures)
    denoiser, dev, model_path = load_denoiser(model, device, passthrough, flip_average, doppler_shifts, floor_profile)
    sha = file_sha256(model_path) if os.path.isfile(model_path) else ""
    t0 = time.perf_counter()
    bar = tqdm(desc="clean", unit="map", disable=not progress)
    ctx = _Context(denoiser, dev, model_path, sha, units, axes, batch_size, bar,
                   max_memory=int(max_memory_mb * 2 ** 20))
    cleaned, skipped = [], []
    for job in jobs:
        if job.output.exists() and not overwrite:
            skipped.append(str(job.source))
            continue
        try:
            clean_file(job, ctx)
            cleaned.append(str(job.source))
        except InputError as err:
            failures.append((str(job.source), str(err)))
        except Exception as err:         # one bad file never stops the others
            failures.append((str(job.source), f"{job.source}: {type(err).__name__}: {err}"))
    bar.close()
    seconds = time.perf_counter() - t0
    summary = {"files": len(jobs) + early_failures,
               "cleaned": len(cleaned), "skipped": len(skipped), "failed": len(failures), "maps": ctx.maps,
               "seconds": seconds, "maps_per_s": ctx.maps / seconds if seconds > 0 else 0.0,
               "failures": failures, "model": model_path, "warnings": ctx.warnings}
    for src, msg in failures:
        print(f"rd-unet clean: error: {msg if msg.startswith(src) else f'{src}: {msg}'}", flush=True)
    print(f"{summary['files']} files: {len(cleaned)} cleaned, {len(skipped)} skipped (already complete), "
          f"{len(failures)} failed; {ctx.maps} maps at {summary['maps_per_s']:.1f} maps/s; outputs in {output}")
    return summary
