"""Seeded, parallel, shardable, resumable dataset generation (``rd-unet simulate``).

Map ``i`` (global index) is drawn from ``numpy.random.default_rng([seed, i])``, so
the file's content is the same whatever the worker count or sharding.
"""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rd_unet.config import ScenarioConfig
from rd_unet.data.hdf5 import DEFAULT_COMPRESSION, DatasetWriter
from rd_unet.sim.fmcw import RDSimulator

_worker_sim: RDSimulator | None = None
_worker_complex = False


def map_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of map ``index`` of a dataset seeded with ``seed``."""
    return np.random.default_rng([int(seed), int(index)])


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), K counted from 0."""
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected K/N such as 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise ValueError(f"--shard: expected 0 <= K < N, got {text!r} (shards are numbered from 0)")
    return k, n


def shard_range(num_maps: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Global map indices [start, stop) of shard K of N: contiguous, sizes differing by at most 1."""
    k, n = shard
    return (num_maps * k) // n, (num_maps * (k + 1)) // n


def _init(scenario: ScenarioConfig, store_complex: bool, store_noise: bool = False):
    global _worker_sim, _worker_complex, _worker_noise
    _worker_sim = RDSimulator(scenario)
    _worker_complex, _worker_noise = store_complex, store_noise


def _simulate(args):
    seed, start, stop = args
    return _worker_sim.simulate_batch([map_rng(seed, i) for i in range(start, stop)], store_complex=_worker_complex,
                                      store_noise=_worker_noise)


def batch_size(scenario: ScenarioConfig) -> int:
    """Maps simulated together: enough to amortise per-map overhead, few enough that a
    batch's arrays (1 MB of complex64 each) stay in cache: 16 maps of 64 x 128, 8 of
    64 x 256 (the best of 1 to 32 on a 2-core AMD EPYC VM). Maps of 128 x 256 and
    larger are dominated by arithmetic, not overhead, and gained nothing in batches
    (benchmarks/simulate.py: 2.25-2.33x the floor in fours, 2.12-2.23x one at a time),
    so they go one by one. Results do not depend on it."""
    cells = scenario.radar.chirps_per_frame * scenario.radar.samples_per_chirp
    return 1 if cells >= 2 ** 15 else max(1, min(32, 2 ** 17 // cells))


def generate_dataset(scenario: ScenarioConfig, output, *, num_maps: int, seed: int = 0,
                     workers: int = 1, shard: str | tuple[int, int] = (0, 1),
                     store_complex: bool = False, overwrite: bool = False,
                     progress: bool = True, checkpoint_every: int = 64,
                     compression: str = DEFAULT_COMPRESSION, store_noise: bool = False) -> Path:
    """Simulate ``num_maps`` maps (or this shard's part of them) into the HDF5 file ``output``.

    ``store_noise`` adds the ``noise`` dataset (the thermal noise alone, for training
    with ``NormalizationConfig.target_noise``).

    An interrupted run leaves ``output.partial``; running the same command again
    resumes it. Returns the path written.
    """
    if num_maps < 1:
        raise ValueError(f"--num-maps: expected a positive number of maps, got {num_maps}")
    if workers < 1:
        raise ValueError(f"--workers: expected at least 1, got {workers}")
    if isinstance(shard, str):
        shard = parse_shard(shard)
    # validate here: an error inside a pool's worker initializer would make the pool
    # respawn failing workers forever instead of raising
    RDSimulator(scenario)
    start, stop = shard_range(num_maps, shard)
    if stop <= start:
        raise ValueError(f"--shard {shard[0]}/{shard[1]}: no maps fall in this shard of {num_maps}")
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    writer = DatasetWriter(output, scenario, num_maps=stop - start, seed=seed, map_index_offset=start,
                           shard=f"{shard[0]}/{shard[1]}", store_complex=store_complex, overwrite=overwrite,
                           compression=compression, store_noise=store_noise)
    step = batch_size(scenario)
    jobs = [(seed, i, min(i + step, stop)) for i in range(start + writer.start, stop, step)]
    bar = tqdm(total=stop - start, initial=writer.start, unit="map", desc=f"simulate {Path(output).name}",
               disable=not progress)
    try:
        if workers == 1:
            _init(scenario, store_complex, store_noise)
            results = map(_simulate, jobs)
            pool = None
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            pool = ctx.Pool(workers, initializer=_init, initargs=(scenario, store_complex, store_noise))
            results = pool.imap(_simulate, jobs)
        since_checkpoint = 0
        for batch in results:
            writer.write_batch(batch)
            bar.update(len(batch))
            since_checkpoint += len(batch)
            if since_checkpoint >= checkpoint_every:
                writer.checkpoint()
                since_checkpoint = 0
        if pool is not None:
            pool.close()
            pool.join()
        return writer.finish()
    except BaseException:
        if workers > 1 and pool is not None:
            pool.terminate()
        writer.close()
        raise
    finally:
        bar.close()
