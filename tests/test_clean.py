"""rd-unet clean: formats, units, sizes, resumability, and bad input."""
import json
import math

import h5py
import numpy as np
import pytest
import scipy.io

from rd_unet import clean as cl
from rd_unet.cli import main
from rd_unet.config import NormalizationConfig

EPS = NormalizationConfig().eps


def expected_power(p):
    """What the identity denoiser returns: p plus eps times each map's noise floor (lower median / ln 2)."""
    p = np.asarray(p, np.float64)
    flat = np.sort(p.reshape(-1, p.shape[-2] * p.shape[-1]), axis=-1)
    floor = flat[:, (flat.shape[-1] - 1) // 2] / math.log(2)
    return p + EPS * floor.reshape(p.shape[:-2] + (1, 1))


def maps(shape, seed=0):
    g = np.random.default_rng(seed)
    m = g.exponential(size=shape)
    m[..., 3, 5] += 300.0
    return m


def test_clean_maps_api_single_and_stack(identity):
    x = maps((3, 37, 61))                                     # odd sizes
    out = cl.clean_maps(x, identity)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected_power(x), rtol=1e-4)
    np.testing.assert_allclose(cl.clean_maps(x[1], identity), out[1], rtol=1e-5)
    with pytest.raises(ValueError, match="expected a \\(D, R\\) map"):
        cl.clean_maps(np.ones(5), identity)
    with pytest.raises(ValueError, match="negative values"):
        cl.clean_maps(-x, identity)


def run(inputs, out, model, **kw):
    return cl.clean_files([str(i) for i in inputs], out, model=model, progress=False, **kw)


@pytest.mark.parametrize("units", ["power", "db", "magnitude"])
@pytest.mark.parametrize("shape", [(2, 24, 40), (31, 45)])
def test_npy_round_trip_every_unit(tmp_path, identity, units, shape):
    p = maps(shape)
    stored = {"power": p, "db": 10 * np.log10(p), "magnitude": np.sqrt(p)}[units].astype(np.float32)
    np.save(tmp_path / "x.npy", stored)
    s = run([tmp_path / "x.npy"], tmp_path / "out", identity, units=units)
    assert s["cleaned"] == 1 and s["failed"] == 0 and s["maps"] == (shape[0] if len(shape) == 3 else 1)
    out = np.load(tmp_path / "out" / "x.npy")
    assert out.dtype == np.float32 and out.shape == shape
    exp = cl.from_power(expected_power(cl.to_power(stored, units, "x")), units)
    np.testing.assert_allclose(out, exp, rtol=2e-4, atol=1e-4)
    meta = json.loads((tmp_path / "out" / "x.npy.rd_unet.json").read_text())
    assert meta["rd_unet_units"] == units and len(meta["rd_unet_model_sha256"]) == 64


def test_complex_maps_become_power(tmp_path, identity):
    g = np.random.default_rng(1)
    z = (g.standard_normal((2, 16, 24)) + 1j * g.standard_normal((2, 16, 24))).astype(np.complex64)
    np.save(tmp_path / "z.npy", z)
    run([tmp_path / "z.npy"], tmp_path / "out", identity, units="complex")
    out = np.load(tmp_path / "out" / "z.npy")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected_power(np.abs(z) ** 2), rtol=2e-4, atol=1e-5)  # float32 log/exp


def test_range_first_axes(tmp_path, identity):
    p = maps((2, 20, 36))
    np.save(tmp_path / "rd.npy", p.transpose(0, 2, 1))        # stored (N, R, D)
    run([tmp_path / "rd.npy"], tmp_path / "out", identity, axes="NRD")
    out = np.load(tmp_path / "out" / "rd.npy")
    np.testing.assert_allclose(out.transpose(0, 2, 1), expected_power(p), rtol=2e-4)


def test_npz_every_array_and_one_by_name(tmp_path, identity):
    a, b = maps((2, 16, 24)), maps((16, 24), seed=1)
    np.savez_compressed(tmp_path / "m.npz", a=a, b=b, range_m=np.arange(24.0))
    run([tmp_path / "m.npz"], tmp_path / "all", identity)
    with np.load(tmp_path / "all" / "m.npz") as z:
        assert sorted(z.files) == ["a", "b", "range_m"]
        np.testing.assert_allclose(z["a"], expected_power(a), rtol=2e-4)
        np.testing.assert_allclose(z["b"], expected_power(b), rtol=2e-4)
        np.testing.assert_array_equal(z["range_m"], np.arange(24.0))   # not a map: copied unchanged
    run([f"{tmp_path / 'm.npz'}:b"], tmp_path / "one", identity)
    with np.load(tmp_path / "one" / "m.npz") as z:
        np.testing.assert_array_equal(z["a"], a)
        np.testing.assert_allclose(z["b"], expected_power(b), rtol=2e-4)


def test_hdf5_dataset_path_attributes_and_provenance(tmp_path, identity):
    p = maps((3, 20, 30)).astype(np.float32)
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        d = f.create_dataset("radar/rd", data=p, chunks=(1, 20, 30), compression="gzip")
        d.attrs["units"] = "W"
        f["radar/other"] = np.ones((4, 4))
        f.attrs["site"] = "test range"
    before = (tmp_path / "rec.h5").read_bytes()
    run([f"{tmp_path / 'rec.h5'}:/radar/rd"], tmp_path / "out", identity)
    assert (tmp_path / "rec.h5").read_bytes() == before          # the input is never written
    with h5py.File(tmp_path / "out" / "rec.h5") as f:
        np.testing.assert_allclose(f["radar/rd"][()], expected_power(p), rtol=2e-4)
        assert f["radar/rd"].attrs["units"] == "W" and f.attrs["site"] == "test range"
        assert f["radar/rd"].attrs["rd_unet_model_sha256"] and f["radar/rd"].attrs["rd_unet_version"]
        np.testing.assert_array_equal(f["radar/other"][()], np.ones((4, 4)))


def test_rd_unet_dataset_cleans_noisy(tmp_path, identity, tiny_dataset):
    run([tiny_dataset], tmp_path / "out", identity)
    with h5py.File(tiny_dataset) as src, h5py.File(tmp_path / "out" / tiny_dataset.name) as f:
        np.testing.assert_allclose(f["noisy"][:4], expected_power(src["noisy"][:4]), rtol=2e-4)
        np.testing.assert_array_equal(f["clean"][()], src["clean"][()])


def test_mat_v5_and_v73(tmp_path, identity):
    p = maps((18, 26))
    scipy.io.savemat(tmp_path / "v5.mat", {"rd": p, "label": "run 3"})
    # MATLAB v7.3: HDF5 with a 512-byte header; arrays stored column-major (h5py sees them transposed)
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        f.create_dataset("rd", data=p.T).attrs["MATLAB_class"] = np.bytes_("double")
    with open(tmp_path / "v73.mat", "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Sat Nov 21 2026 HDF5 schema 1.00 .")
    run([tmp_path / "v5.mat", tmp_path / "v73.mat"], tmp_path / "out", identity)
    out5 = scipy.io.loadmat(tmp_path / "out" / "v5.mat")
    np.testing.assert_allclose(out5["rd"], expected_power(p), rtol=2e-4)
    assert str(out5["label"][0]) == "run 3"
    with h5py.File(tmp_path / "out" / "v73.mat") as f:
        np.testing.assert_allclose(f["rd"][()].T, expected_power(p), rtol=2e-4)
        assert f["rd"].attrs["MATLAB_class"] == b"double"
    assert (tmp_path / "out" / "v73.mat").read_bytes()[:10] == b"MATLAB 7.3"


def test_killed_run_resumes_to_the_same_files(tmp_path, identity, monkeypatch):
    for k in range(3):
        np.save(tmp_path / f"in/f{k}.npy" if (tmp_path / "in").exists() else tmp_path / "tmp.npy", maps((4, 16, 24), k))
        if k == 0:
            (tmp_path / "in").mkdir()
            (tmp_path / "tmp.npy").rename(tmp_path / "in" / "f0.npy")
    run([tmp_path / "in"], tmp_path / "ref", identity, batch_size=2)
    real = cl.denoise
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:                     # second file, second batch
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cl, "denoise", dying)
    with pytest.raises(KeyboardInterrupt):
        run([tmp_path / "in"], tmp_path / "out", identity, batch_size=2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0.npy", "f0.npy.rd_unet.json"]
    monkeypatch.setattr(cl, "denoise", real)
    s = run([tmp_path / "in"], tmp_path / "out", identity, batch_size=2)
    assert s["skipped"] == 1 and s["cleaned"] == 2
    ref = sorted(p.name for p in (tmp_path / "ref").iterdir())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ref
    for name in ref:
        if name.endswith(".npy"):
            assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


def test_bad_inputs_named_and_others_still_cleaned(tmp_path, identity, capsys):
    d = tmp_path / "in"
    d.mkdir()
    good = maps((2, 16, 24))
    np.save(d / "good.npy", good)
    nan = good.copy()
    nan[0, 1, 1] = np.nan
    np.save(d / "nan.npy", nan)
    np.save(d / "neg.npy", -good)
    np.save(d / "flat.npy", np.ones(10))
    np.save(d / "fourd.npy", np.ones((2, 2, 8, 8)))
    np.save(d / "trunc.npy", good)
    (d / "trunc.npy").write_bytes((d / "trunc.npy").read_bytes()[:200])
    (d / "garbage.h5").write_bytes(b"\x00" * 100)
    with h5py.File(d / "two.h5", "w") as f:
        f["a"] = good
        f["b"] = good
    np.save(d / "huge_db.npy", np.full((8, 8), 3000.0))
    exit_code = main(["clean", str(d), "--model", str(identity), "--output", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().out
    assert exit_code == 1
    expected = {
        "nan.npy": "non-finite values", "neg.npy": "negative values", "flat.npy": "got 1 dimensions",
        "fourd.npy": "got 4 dimensions", "trunc.npy": "not a readable .npy file",
        "garbage.h5": "not a readable HDF5 file", "two.h5": "several datasets hold maps",
    }
    for name, message in expected.items():
        assert any(name in line and message in line for line in err.splitlines()), (name, err)
    assert (tmp_path / "out" / "good.npy").is_file()
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    # nothing half-written left behind (3000 is valid linear power: huge_db.npy is cleaned here)
    assert outs == ["good.npy", "good.npy.rd_unet.json", "huge_db.npy", "huge_db.npy.rd_unet.json"]
    # unknown dataset and array names
    np.savez(tmp_path / "z.npz", maps=good)
    assert main(["clean", f"{d / 'two.h5'}:/nope", f"{tmp_path / 'z.npz'}:other", "--model", str(identity),
                 "--output", str(tmp_path / "o3"), "--quiet"]) == 1
    err = capsys.readouterr().out
    assert "two.h5: no dataset '/nope' (datasets with maps: a, b)" in err
    assert "z.npz: no array 'other' (found: maps)" in err
    # dB values in the thousands are not decibels
    assert main(["clean", str(d / "huge_db.npy"), "--units", "db", "--model", str(identity), "--output",
                 str(tmp_path / "o2"), "--quiet"]) == 1
    assert "values reach 3e+03" in capsys.readouterr().out


def test_never_writes_into_an_input(tmp_path, identity, capsys):
    np.save(tmp_path / "x.npy", maps((8, 8)))
    before = (tmp_path / "x.npy").read_bytes()
    assert main(["clean", str(tmp_path / "x.npy"), "--model", str(identity), "--output", str(tmp_path), "--quiet"]) == 1
    assert "would overwrite the input" in capsys.readouterr().out
    assert (tmp_path / "x.npy").read_bytes() == before


def test_overwrite_redoes(tmp_path, identity):
    np.save(tmp_path / "x.npy", maps((8, 8)))
    run([tmp_path / "x.npy"], tmp_path / "o", identity)
    assert run([tmp_path / "x.npy"], tmp_path / "o", identity)["skipped"] == 1
    assert run([tmp_path / "x.npy"], tmp_path / "o", identity, overwrite=True)["cleaned"] == 1


def test_passthrough_travels_in_the_model_and_the_flags_turn_it_off_and_on(tmp_path):
    """A network that outputs 0 (network domain) estimates the noise floor everywhere; with
    the passthrough at -1 dB every cell is "signal", and cells up to 10 dB above the floor
    (the default passthrough_cut_db) are passed: max(input, floor) there; ``--no-passthrough``
    gives the estimate alone, and ``--passthrough`` turns it on for a model saved without
    it. The sidecar records which."""
    import torch
    from rd_unet.config import UNetConfig
    from rd_unet.model.checkpoint import save_checkpoint
    from rd_unet.model.unet import UNet
    cfg = UNetConfig(depth=1, base_channels=2, residual=False)
    net = UNet(cfg)
    with torch.no_grad():
        for prm in net.parameters():
            prm.zero_()
    model = tmp_path / "zero.pt"
    save_checkpoint(model, model=net, model_config=cfg,
                    normalization=NormalizationConfig(passthrough=True, passthrough_db=-1.0))
    p = maps((2, 16, 20))
    np.save(tmp_path / "x.npy", p)
    floor = expected_power(p) - p                       # eps * floor, per map
    floor = floor / EPS
    assert main(["clean", str(tmp_path / "x.npy"), "--output", str(tmp_path / "on"), "--model", str(model),
                 "--quiet"]) == 0
    assert main(["clean", str(tmp_path / "x.npy"), "--output", str(tmp_path / "off"), "--model", str(model),
                 "--no-passthrough", "--quiet"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "on" / "x.npy"), np.where(p < 10 * floor, np.maximum(p, floor), floor),
                               rtol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "off" / "x.npy"), np.broadcast_to(floor, p.shape), rtol=1e-4)
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, model=net, model_config=cfg, normalization=NormalizationConfig(passthrough_db=-1.0))
    assert main(["clean", str(tmp_path / "x.npy"), "--output", str(tmp_path / "on2"), "--model", str(plain),
                 "--passthrough", "--quiet"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "on2" / "x.npy"), np.load(tmp_path / "on" / "x.npy"), rtol=1e-6)
    on = json.loads((tmp_path / "on" / "x.npy.rd_unet.json").read_text())
    off = json.loads((tmp_path / "off" / "x.npy.rd_unet.json").read_text())
    assert (on["rd_unet_passthrough"], on["rd_unet_passthrough_db"]) == (True, -1.0)
    assert off["rd_unet_passthrough"] is False
    assert json.loads((tmp_path / "on2" / "x.npy.rd_unet.json").read_text())["rd_unet_passthrough"] is True


def test_flip_average_travels_in_the_model_and_the_flags_turn_it_off_and_on(tmp_path):
    """A model saved with flip_average cleans a flipped map into the flipped cleaned map
    (a U-Net with random weights does not: ``--no-flip-average``); ``--flip-average``
    turns it on for a model saved without it. The sidecar records which."""
    import torch
    from rd_unet.config import UNetConfig
    from rd_unet.model.checkpoint import save_checkpoint
    from rd_unet.model.unet import UNet
    cfg = UNetConfig(depth=2, base_channels=4, residual=False)
    torch.manual_seed(3)
    net = UNet(cfg)
    p = maps((2, 16, 20))
    np.save(tmp_path / "x.npy", p)
    np.save(tmp_path / "f.npy", p[:, ::-1, ::-1])                # both axes flipped
    runs = {"on": ("flip.pt", True, []), "off": ("flip.pt", True, ["--no-flip-average"]),
            "on2": ("plain.pt", False, ["--flip-average"])}
    for name, (ckpt, stored, flags) in runs.items():
        if not (tmp_path / ckpt).exists():
            save_checkpoint(tmp_path / ckpt, model=net, model_config=cfg,
                            normalization=NormalizationConfig(flip_average=stored))
        assert main(["clean", str(tmp_path / "x.npy"), str(tmp_path / "f.npy"), "--output", str(tmp_path / name),
                     "--model", str(tmp_path / ckpt), *flags, "--quiet"]) == 0
    for name, equivariant in (("on", True), ("off", False), ("on2", True)):
        out, out_f = np.load(tmp_path / name / "x.npy"), np.load(tmp_path / name / "f.npy")
        assert np.allclose(out_f, out[:, ::-1, ::-1], rtol=1e-4) == equivariant, name
        sidecar = json.loads((tmp_path / name / "x.npy.rd_unet.json").read_text())
        assert sidecar["rd_unet_flip_average"] is equivariant
    np.testing.assert_allclose(np.load(tmp_path / "on2" / "x.npy"), np.load(tmp_path / "on" / "x.npy"), rtol=1e-6)


def test_floor_profile_travels_in_the_model_and_the_flags_turn_it_off_and_on(tmp_path):
    """A model saved with floor_profile cleans a map times a monotone gain over range into
    the cleaned map times that gain (its columns hold one set of values, so their floors
    scale exactly with the gain); a U-Net with random weights does not with
    ``--no-floor-profile``; ``--floor-profile`` turns it on for a model saved without it.
    The sidecar records which."""
    import torch
    from rd_unet.config import UNetConfig
    from rd_unet.model.checkpoint import save_checkpoint
    from rd_unet.model.unet import UNet
    cfg = UNetConfig(depth=2, base_channels=4, residual=False)
    torch.manual_seed(4)
    net = UNet(cfg)
    rng = np.random.default_rng(6)
    column = rng.exponential(1.0, (2, 16))
    p = np.stack([rng.permutation(column, axis=1) for _ in range(24)], axis=-1)     # (2, 16, 24)
    gain = 10 ** (np.linspace(0.0, 12.0, 24) / 10)
    np.save(tmp_path / "x.npy", p)
    np.save(tmp_path / "g.npy", p * gain)
    runs = {"on": ("prof.pt", True, []), "off": ("prof.pt", True, ["--no-floor-profile"]),
            "on2": ("plain.pt", False, ["--floor-profile"])}
    for name, (ckpt, stored, flags) in runs.items():
        if not (tmp_path / ckpt).exists():
            save_checkpoint(tmp_path / ckpt, model=net, model_config=cfg,
                            normalization=NormalizationConfig(floor_profile=stored))
        assert main(["clean", str(tmp_path / "x.npy"), str(tmp_path / "g.npy"), "--output", str(tmp_path / name),
                     "--model", str(tmp_path / ckpt), *flags, "--quiet"]) == 0
    for name, equivariant in (("on", True), ("off", False), ("on2", True)):
        out, out_g = np.load(tmp_path / name / "x.npy"), np.load(tmp_path / name / "g.npy")
        assert np.allclose(out_g, out * gain, rtol=1e-4) == equivariant, name
        sidecar = json.loads((tmp_path / name / "x.npy.rd_unet.json").read_text())
        assert sidecar["rd_unet_floor_profile"] is equivariant


def test_doppler_shifts_flag_makes_cleaning_commute_with_circular_doppler_shifts(tmp_path, capsys):
    """``--doppler-shifts 4`` on 16-row maps averages over the shifts by 0, 4, 8, 12 rows:
    cleaning a map rolled by 4 rows gives the cleaned map rolled (a U-Net with random
    weights alone does not); the sidecar records the setting; 0 is refused."""
    import torch
    from rd_unet.config import UNetConfig
    from rd_unet.model.checkpoint import save_checkpoint
    from rd_unet.model.unet import UNet
    cfg = UNetConfig(depth=2, base_channels=4, residual=False)
    torch.manual_seed(4)
    save_checkpoint(tmp_path / "m.pt", model=UNet(cfg), model_config=cfg, normalization=NormalizationConfig())
    p = maps((2, 16, 20))
    np.save(tmp_path / "x.npy", p)
    np.save(tmp_path / "r.npy", np.roll(p, 4, axis=1))
    for name, flags, commutes in (("one", [], False), ("four", ["--doppler-shifts", "4"], True)):
        assert main(["clean", str(tmp_path / "x.npy"), str(tmp_path / "r.npy"), "--output", str(tmp_path / name),
                     "--model", str(tmp_path / "m.pt"), *flags, "--quiet"]) == 0
        out, out_r = np.load(tmp_path / name / "x.npy"), np.load(tmp_path / name / "r.npy")
        assert np.allclose(out_r, np.roll(out, 4, axis=1), rtol=1e-4) == commutes, name
        sidecar = json.loads((tmp_path / name / "x.npy.rd_unet.json").read_text())
        assert sidecar["rd_unet_doppler_shifts"] == (4 if commutes else 1)
    capsys.readouterr()
    assert main(["clean", str(tmp_path / "x.npy"), "--output", str(tmp_path / "bad"), "--model",
                 str(tmp_path / "m.pt"), "--doppler-shifts", "0", "--quiet"]) == 2
    assert "--doppler-shifts: expected a whole number from 1 to 16, got 0" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "x.npy").exists()
