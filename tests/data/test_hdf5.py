import h5py
import numpy as np
import pytest

from rd_unet.config import scenario_from_json
from rd_unet.data import generate as gen
from rd_unet.data.hdf5 import DatasetFormatError, DatasetWriter, merge_shards, open_dataset, partial_path
from rd_unet.sim import RDSimulator
from rd_unet.sim import radar as rd


def arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}


def test_schema_round_trip(tmp_path, tiny):
    path = gen.generate_dataset(tiny, tmp_path / "d.h5", num_maps=6, seed=11, store_complex=True, progress=False)
    with h5py.File(path, "r") as f:
        d, r = tiny.radar.chirps_per_frame, tiny.radar.samples_per_chirp
        for name in ("noisy", "clean"):
            assert f[name].shape == (6, d, r) and f[name].dtype == np.float32
            assert f[name].chunks == (1, d, r) and f[name].compression is None      # the default: none
        assert f["noisy_complex"].dtype == np.complex64
        np.testing.assert_allclose(np.abs(f["noisy_complex"][2]) ** 2, f["noisy"][2], rtol=1e-5)
        np.testing.assert_allclose(f["range_m"][()], rd.range_axis_m(tiny.radar))
        np.testing.assert_allclose(f["velocity_mps"][()], rd.velocity_axis_mps(tiny.radar))
        t = f["targets"][()]
        for col in ("map_index", "range_m", "velocity_mps", "range_bin", "doppler_bin", "snr_db"):
            assert col in t.dtype.names
        assert f.attrs["format"] == "rd_unet.rdmaps" and f.attrs["format_version"] == 1
        assert scenario_from_json(f.attrs["scenario"]) == tiny
        assert f.attrs["seed"] == 11 and f.attrs["package_version"]
    # map i is exactly what the simulator draws from default_rng([seed, i])
    sim = RDSimulator(tiny).simulate(gen.map_rng(11, 4))
    a = arrays(path)
    np.testing.assert_array_equal(a["noisy"][4], sim.noisy)
    np.testing.assert_array_equal(a["targets"][a["targets"]["map_index"] == 4]["range_m"], sim.targets["range_m"])


def test_same_content_whatever_the_worker_count(tmp_path, tiny):
    one = gen.generate_dataset(tiny, tmp_path / "w1.h5", num_maps=24, seed=5, workers=1, progress=False)
    two = gen.generate_dataset(tiny, tmp_path / "w2.h5", num_maps=24, seed=5, workers=2, progress=False)
    a, b = arrays(one), arrays(two)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("copy", [False, True])
def test_shards_merge_to_the_full_dataset(tmp_path, tiny, copy):
    full = gen.generate_dataset(tiny, tmp_path / "full.h5", num_maps=10, seed=2, progress=False)
    shards = [gen.generate_dataset(tiny, tmp_path / f"s{k}.h5", num_maps=10, seed=2, shard=f"{k}/3", progress=False)
              for k in (2, 0, 1)]
    merged = merge_shards(shards, tmp_path / "merged.h5", copy=copy)
    a, b = arrays(full), arrays(merged)
    for k in ("noisy", "clean", "targets", "range_m"):
        np.testing.assert_array_equal(a[k], b[k])
    with h5py.File(merged, "r") as f:
        assert f["noisy"].is_virtual is (not copy)


def test_merge_rejects_a_missing_shard(tmp_path, tiny):
    s0 = gen.generate_dataset(tiny, tmp_path / "s0.h5", num_maps=9, seed=2, shard="0/3", progress=False)
    s2 = gen.generate_dataset(tiny, tmp_path / "s2.h5", num_maps=9, seed=2, shard="2/3", progress=False)
    with pytest.raises(DatasetFormatError, match="a shard is missing"):
        merge_shards([s0, s2], tmp_path / "m.h5")


def test_interrupted_run_resumes_to_the_same_file(tmp_path, tiny, monkeypatch):
    ref = gen.generate_dataset(tiny, tmp_path / "ref.h5", num_maps=20, seed=9, progress=False)
    out = tmp_path / "run.h5"
    real_write = DatasetWriter.write_batch
    calls = {"n": 0}

    def dying_write(self, sims):
        calls["n"] += 1
        if calls["n"] == 4:                                     # killed while writing maps 12..15
            raise KeyboardInterrupt
        real_write(self, sims)

    monkeypatch.setattr(gen, "batch_size", lambda scenario: 4)
    monkeypatch.setattr(DatasetWriter, "write_batch", dying_write)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_dataset(tiny, out, num_maps=20, seed=9, progress=False, checkpoint_every=4)
    assert not out.exists() and partial_path(out).exists()     # never half-written under the final name
    monkeypatch.setattr(DatasetWriter, "write_batch", real_write)
    writer = DatasetWriter(out, tiny, num_maps=20, seed=9)
    assert writer.start == 12                                   # resumes after the last recorded map
    writer.close()
    gen.generate_dataset(tiny, out, num_maps=20, seed=9, progress=False)
    assert not partial_path(out).exists()
    a, b = arrays(ref), arrays(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_partial_from_another_configuration_is_not_resumed(tmp_path, tiny):
    out = tmp_path / "x.h5"
    w = DatasetWriter(out, tiny, num_maps=5, seed=1)
    w.write(RDSimulator(tiny).simulate(gen.map_rng(1, 0)))
    w.close()
    gen.generate_dataset(tiny, out, num_maps=5, seed=2, progress=False)   # another seed: start afresh
    np.testing.assert_array_equal(arrays(out)["noisy"][0], RDSimulator(tiny).simulate(gen.map_rng(2, 0)).noisy)


def test_existing_output_is_never_overwritten(tmp_path, tiny):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="already exists"):
        gen.generate_dataset(tiny, out, num_maps=2, seed=0, progress=False)
    assert out.read_bytes() == b"user data"


@pytest.mark.parametrize("text", ["3", "2/2", "a/b", "-1/3"])
def test_bad_shard_rejected(text):
    with pytest.raises(ValueError, match="--shard"):
        gen.parse_shard(text)


def test_shard_ranges_cover_exactly():
    for n_maps in (1, 7, 100):
        for n in (1, 3, 8):
            covered = []
            for k in range(n):
                a, b = gen.shard_range(n_maps, (k, n))
                covered += list(range(a, b))
            assert covered == list(range(n_maps))


def test_open_dataset_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="no such file"):
        open_dataset(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(DatasetFormatError, match="not a readable HDF5 file"):
        open_dataset(bad)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["maps"] = np.zeros((2, 4, 4))
    with pytest.raises(DatasetFormatError, match="no 'noisy' dataset \\(found: maps\\)"):
        open_dataset(other)


def test_invalid_scenario_fails_fast_with_workers(tmp_path, tiny):
    from rd_unet.config import ConfigError, replace_nested
    bad = replace_nested(tiny, **{"targets.range_m": (3.0, 500.0)})
    with pytest.raises(ConfigError, match="beyond the radar's maximum range"):
        gen.generate_dataset(bad, tmp_path / "x.h5", num_maps=4, seed=0, workers=2, progress=False)
    assert not (tmp_path / "x.h5").exists() and not partial_path(tmp_path / "x.h5").exists()


def test_torch_dataset_returns_normalised_dicts_and_plots(tiny_dataset, tmp_path):
    import torch

    from rd_unet.data.dataset import RDMapDataset
    from rd_unet.data.normalize import from_network, noise_floor
    ds = RDMapDataset(tiny_dataset, indices=[3, 5])
    item = ds[1]
    assert set(item) == {"noisy", "clean", "index"} and item["index"] == 5
    assert item["noisy"].shape == (1, 32, 64) and item["noisy"].dtype == torch.float32
    with h5py.File(tiny_dataset) as f:
        raw = torch.from_numpy(f["noisy"][5])
    back = from_network(item["noisy"][0], noise_floor(raw), ds.normalization)
    torch.testing.assert_close(back, raw, rtol=1e-4, atol=1e-4)
    ds.plot(0, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_compression_choices_write_the_same_maps(tmp_path, tiny):
    """Every --compression gives the same maps and targets; the filter is the one asked
    for, one map per chunk; an unknown choice is refused before anything is written."""
    import h5py

    from rd_unet.data.generate import generate_dataset
    files = {c: generate_dataset(tiny, tmp_path / f"{c}.h5", num_maps=5, seed=3, progress=False, compression=c)
             for c in ("none", "lzf", "gzip")}
    with h5py.File(files["none"], "r") as a, h5py.File(files["lzf"], "r") as b, h5py.File(files["gzip"], "r") as c:
        assert a["noisy"].compression is None and b["noisy"].compression == "lzf" and c["noisy"].compression == "gzip"
        assert a["noisy"].chunks == (1, 32, 64) and a.attrs["compression"] == "none"
        for name in ("noisy", "clean", "targets"):
            assert np.array_equal(a[name][()], b[name][()]) and np.array_equal(a[name][()], c[name][()])
    with pytest.raises(ValueError, match="--compression: expected one of none, lzf, gzip, got 'zstd'"):
        generate_dataset(tiny, tmp_path / "z.h5", num_maps=2, progress=False, compression="zstd")
    assert not (tmp_path / "z.h5").exists()


def test_noise_dataset_round_trips_and_merges(tmp_path, tiny):
    """--store-noise: the file's 'noise' holds each map's thermal noise exactly as the
    simulator draws it for that map's generator; shards merge with it; its maps are the
    same as a file's without it."""
    path = gen.generate_dataset(tiny, tmp_path / "n.h5", num_maps=6, seed=4, store_noise=True, progress=False)
    plain = gen.generate_dataset(tiny, tmp_path / "p.h5", num_maps=6, seed=4, progress=False)
    a, b = arrays(path), arrays(plain)
    assert "noise" not in b
    np.testing.assert_array_equal(a["noisy"], b["noisy"])
    sim = RDSimulator(tiny)
    for i in (0, 5):
        np.testing.assert_array_equal(a["noise"][i], sim.simulate(gen.map_rng(4, i), store_noise=True).noise)
    shards = [gen.generate_dataset(tiny, tmp_path / f"s{k}.h5", num_maps=6, seed=4, shard=f"{k}/2",
                                   store_noise=True, progress=False) for k in (0, 1)]
    np.testing.assert_array_equal(arrays(merge_shards(shards, tmp_path / "m.h5"))["noise"], a["noise"])
    with pytest.raises(DatasetFormatError, match="store_noise differs"):
        merge_shards([shards[0], gen.generate_dataset(tiny, tmp_path / "x.h5", num_maps=6, seed=4, shard="1/2",
                                                      progress=False)], tmp_path / "bad.h5")


def test_shards_from_before_store_noise_merge_with_new_ones(tmp_path, tiny):
    """A shard written before --store-noise existed has no store_noise attribute; it merges
    with a new shard of the same dataset (neither has noise maps)."""
    shards = [gen.generate_dataset(tiny, tmp_path / f"s{k}.h5", num_maps=6, seed=4, shard=f"{k}/2", progress=False)
              for k in (0, 1)]
    with h5py.File(shards[0], "a") as f:
        del f.attrs["store_noise"]
    merged = arrays(merge_shards(shards, tmp_path / "m.h5"))
    assert merged["noisy"].shape[0] == 6 and "noise" not in merged
