"""Each bad input, interruption or bad value found by trying `rd-unet clean` (and its
neighbours) as a user would: reproduced here, then fixed."""
import errno
import os

import h5py
import numpy as np
import pytest

from rd_unet.cli import main
from tests.test_clean import maps


def clean(args, identity, capsys):
    code = main(["clean", *map(str, args), "--model", str(identity), "--quiet"])
    return code, capsys.readouterr()


def test_an_output_never_replaces_any_input(tmp_path, identity, capsys):
    """Was data loss: o3/x.npy's output would be itself (refused), and d2/x.npy's output,
    o3/x.npy, then replaced that input."""
    (tmp_path / "o3").mkdir()
    (tmp_path / "d2").mkdir()
    np.save(tmp_path / "o3" / "x.npy", maps((8, 8)))
    np.save(tmp_path / "d2" / "x.npy", maps((8, 8), seed=1))
    before = (tmp_path / "o3" / "x.npy").read_bytes()
    code, out = clean([tmp_path / "o3" / "x.npy", tmp_path / "d2" / "x.npy", "--output", tmp_path / "o3",
                       "--overwrite"], identity, capsys)
    assert code == 1 and (tmp_path / "o3" / "x.npy").read_bytes() == before
    assert "d2/x.npy: its output" in out.out and "would overwrite the input" in out.out
    assert "0 cleaned, 0 skipped" in out.out         # not "skipped (already complete)"


def test_output_folder_inside_an_input_folder_is_refused(tmp_path, identity, capsys):
    np.save(tmp_path / "x.npy", maps((8, 8)))
    code, out = clean([tmp_path, "--output", tmp_path / "cleaned"], identity, capsys)
    assert code == 1 and "lies inside this input folder" in out.out
    assert not (tmp_path / "cleaned").exists()


def test_a_zero_byte_npy_is_one_failure_and_the_rest_is_cleaned(tmp_path, identity, capsys):
    (tmp_path / "a_empty.npy").write_bytes(b"")
    np.save(tmp_path / "b_good.npy", maps((8, 8)))
    code, out = clean([tmp_path / "a_empty.npy", tmp_path / "b_good.npy", "--output", tmp_path / "o"], identity,
                      capsys)
    assert code == 1 and "a_empty.npy: not a readable .npy file" in out.out
    assert (tmp_path / "o" / "b_good.npy").is_file() and "1 cleaned" in out.out


def test_a_full_disk_is_an_error_not_a_crash(tmp_path, identity, capsys, monkeypatch):
    """Was SIGBUS when a memory-mapped output page hit a full disk."""
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "posix_fallocate", full)
    np.save(tmp_path / "x.npy", maps((4, 8, 8)))
    code, out = clean([tmp_path / "x.npy", "--output", tmp_path / "o"], identity, capsys)
    assert code == 1 and "cannot reserve" in out.out and "No space left on device" in out.out
    assert list((tmp_path / "o").iterdir()) == []                     # nothing half-written


@pytest.mark.parametrize("command", [["clean", "x.npy", "--output", "o"], ["evaluate", "--data", "x.h5",
                                                                            "--output", "o"],
                                     ["demo", "--output", "o"]])
def test_unknown_device_is_a_clear_error_before_any_work(tmp_path, capsys, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", maps((8, 8)))
    assert main([*command, "--device", "tpu", "--quiet"] if command[0] != "demo" else
                [*command, "--device", "tpu"]) == 2
    assert "--device tpu: expected auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_one_extreme_cell_does_not_change_the_rest(tmp_path, capsys):
    """Was: one cell at 1e38 turned the strongest real target from 35.9 into 0.7 (shipped
    model). Now the network sees the noise floor there, the cell passes through unchanged
    and is reported, and every cell away from it is within 0.5 dB of the output without it."""
    from rd_unet.model.inference import clean_maps
    m = maps((64, 128), seed=3)
    m[20, 40] += 3000.0                          # a 35 dB target
    glitch = m.copy()
    glitch[50, 100] = 1e38
    a, b = clean_maps(m), clean_maps(glitch)
    assert b[50, 100] == np.float32(1e38)
    keep = np.ones(m.shape, bool)
    keep[44:57, 92:109] = False                  # the glitch's own neighbourhood
    assert np.abs(10 * np.log10(b[keep].astype(float) / a[keep])).max() < 0.5     # measured: 0.16 dB
    assert 10 * np.log10(b[20, 40] / a[20, 40]) == pytest.approx(0.0, abs=0.1)
    np.save(tmp_path / "g.npy", glitch[None].astype(np.float32))
    assert main(["clean", str(tmp_path / "g.npy"), "--output", str(tmp_path / "o"), "--quiet"]) == 0
    assert "1 cell(s) more than 100 dB above their map's noise floor" in capsys.readouterr().out


def test_the_glitch_warning_counts_what_the_model_passes_through_on_a_sloped_floor(tmp_path, capsys):
    """The shipped model measures the floor per range column: on a map whose floor rises
    30 dB over range, a cell 95 dB above the map's floor in the lowest columns is about
    110 dB above its own column's, so the model passes it through unchanged, and the
    warning counts it (with one floor per map it would not)."""
    from rd_unet.model.inference import clean_maps
    m = maps((64, 128), seed=4) * 10 ** (np.linspace(0.0, 30.0, 128) / 10)
    floor = np.median(m) / np.log(2)
    m[30, 3] = floor * 10 ** 9.5
    out = clean_maps(m)
    assert out[30, 3] == np.float32(m[30, 3])                                  # passed through
    np.save(tmp_path / "s.npy", m[None].astype(np.float32))
    assert main(["clean", str(tmp_path / "s.npy"), "--output", str(tmp_path / "o"), "--quiet"]) == 0
    assert "1 cell(s) more than 100 dB above their map's noise floor" in capsys.readouterr().out


def test_maps_that_look_like_db_or_are_empty_get_a_warning(tmp_path, identity, capsys):
    db = 10 * np.log10(maps((4, 16, 32))) + 40.0          # all positive, a narrow range
    np.save(tmp_path / "db.npy", db)
    zero = maps((2, 16, 32))
    zero[1] = 0.0
    np.save(tmp_path / "zero.npy", zero)
    code, out = clean([tmp_path / "db.npy", tmp_path / "zero.npy", "--output", tmp_path / "o"], identity, capsys)
    assert code == 0
    assert "db.npy: the values look like decibels" in out.out and "--units db" in out.out
    assert "zero.npy: map(s) 1 are all zero" in out.out
    code, out = clean([tmp_path / "db.npy", "--units", "db", "--output", tmp_path / "o2"], identity, capsys)
    assert "look like decibels" not in out.out


@pytest.mark.parametrize("shape,message", [((3, 3), "maps of 3 x 3 cells are too small"),
                                           ((0, 32, 64), "the stack holds no maps")])
def test_tiny_maps_and_empty_stacks_are_refused(tmp_path, identity, capsys, shape, message):
    np.save(tmp_path / "x.npy", np.ones(shape, np.float32))
    code, out = clean([tmp_path / "x.npy", "--output", tmp_path / "o"], identity, capsys)
    assert code == 1 and message in out.out and "0 cleaned" in out.out


def test_a_merged_virtual_dataset_is_cleaned_into_real_datasets(tmp_path, identity, capsys):
    """Was: "write requested to unmapped portion of virtual dataset" (and a write through
    the copy's mappings would have reached the shards)."""
    from rd_unet.config import load_scenario
    from rd_unet.data.generate import generate_dataset
    from rd_unet.data.hdf5 import merge_shards
    sc = load_scenario("tiny")
    shards = [generate_dataset(sc, tmp_path / f"s{k}.h5", num_maps=6, seed=1, shard=(k, 2), progress=False)
              for k in range(2)]
    before = [s.read_bytes() for s in shards]
    merged = merge_shards(shards, tmp_path / "merged.h5")
    with h5py.File(merged) as f:
        assert f["noisy"].is_virtual
        noisy = f["noisy"][()]
    code, out = clean([merged, "--output", tmp_path / "o"], identity, capsys)
    assert code == 0, out.out
    with h5py.File(tmp_path / "o" / "merged.h5") as f:
        assert not f["noisy"].is_virtual and not f["clean"].is_virtual
        assert f["noisy"].shape == noisy.shape and np.all(f["noisy"][()] >= noisy)   # identity + pedestal
    assert [s.read_bytes() for s in shards] == before


def test_train_config_with_a_toml_error_names_the_file(tmp_path, capsys):
    bad = tmp_path / "run.toml"
    bad.write_text("[train\nepochs = 3\n")
    assert main(["train", "--config", str(bad), "--data", "x.h5"]) == 2
    assert f"{bad}: not valid TOML" in capsys.readouterr().err


def test_npz_and_mat_arrays_over_the_memory_budget_are_refused_by_name(tmp_path, identity, capsys):
    import scipy.io
    np.savez(tmp_path / "z.npz", small=maps((2, 16, 16)), big=maps((40, 64, 64)))
    scipy.io.savemat(tmp_path / "m.mat", {"big": maps((64, 64, 40))})
    code, out = clean([tmp_path / "z.npz", tmp_path / "m.mat", "--output", tmp_path / "o", "--max-memory", "0.5"],
                      identity, capsys)
    assert code == 1
    assert "z.npz:big: one array of 1 MB exceeds --max-memory 0 MB" in out.out
    assert "m.mat:big: one array of 1 MB exceeds --max-memory" in out.out
    code, out = clean([tmp_path / "z.npz", "--output", tmp_path / "o2"], identity, capsys)
    assert code == 0
    with np.load(tmp_path / "o2" / "z.npz") as z:
        assert z["big"].shape == (40, 64, 64) and z["small"].shape == (2, 16, 16)


def test_shards_split_the_file_list(tmp_path, identity, capsys):
    (tmp_path / "in").mkdir()
    for i in range(5):
        np.save(tmp_path / "in" / f"f{i}.npy", maps((8, 8), seed=i))
    done = []
    for k in range(2):
        code, out = clean([tmp_path / "in", "--output", tmp_path / "o", "--shard", f"{k}/2"], identity, capsys)
        assert code == 0
        done.append(sorted(p.name for p in (tmp_path / "o").glob("*.npy")))
    assert len(done[0]) in (2, 3) and done[1] == [f"f{i}.npy" for i in range(5)]
    code, out = clean([tmp_path / "in", "--output", tmp_path / "o", "--shard", "2/2"], identity, capsys)
    assert code == 2 and "--shard: expected 0 <= K < N, got '2/2'" in out.err


def test_two_inputs_of_one_name_never_share_an_output(tmp_path, identity, capsys):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        np.save(tmp_path / d / "x.npy", maps((8, 8), seed=ord(d)))
    code, out = clean([tmp_path / "a" / "x.npy", tmp_path / "b" / "x.npy", "--output", tmp_path / "o",
                       "--overwrite"], identity, capsys)
    assert code == 1 and "b/x.npy" in out.out and "is already the output of" in out.out
    assert "1 cleaned" in out.out


def test_a_failed_evaluation_leaves_no_output_folder(tmp_path, capsys):
    from rd_unet.config import TargetConfig, load_scenario, replace_nested
    from rd_unet.data.generate import generate_dataset
    empty = generate_dataset(replace_nested(load_scenario("tiny"), targets=TargetConfig(count=(0, 0))),
                             tmp_path / "e.h5", num_maps=3, progress=False)
    assert main(["evaluate", "--data", str(empty), "--output", str(tmp_path / "r"), "--quiet"]) == 2
    assert "hold no targets" in capsys.readouterr().err and not (tmp_path / "r").exists()
