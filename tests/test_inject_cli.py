"""``rd-unet inject``: recorded maps read as clean reads them, movers found and left out,
two files written (never over an existing one), scored by evaluate --calibration."""
import h5py
import numpy as np
import pytest
import scipy.io

from rd_unet.clean import InputError, read_maps
from rd_unet.cli import main
from rd_unet.data.hdf5 import open_dataset, read_targets
from rd_unet.recorded import assess_movers, movers


def _recorded(n=4, d=32, r=64, seed=0):
    """Exponential noise of a floor rising over range, a zero-Doppler ridge and one mover
    at (doppler 8, range 40) 30 dB over the floor."""
    rng = np.random.default_rng(seed)
    floor = np.geomspace(1.0, 4.0, r)
    p = rng.exponential(1.0, (n, d, r)) * floor
    p[:, d // 2] *= 1e3
    p[:, 8, 40] += 1e3 * floor[40]
    return p


@pytest.mark.parametrize("layout", ["npy", "npz", "h5", "mat_rd", "db"])
def test_read_maps_reads_what_clean_reads(tmp_path, layout):
    p = _recorded(n=3)
    if layout == "npy":
        path = tmp_path / "x.npy"
        np.save(path, p)
        spec, kwargs = str(path), {}
    elif layout == "npz":
        path = tmp_path / "x.npz"
        np.savez(path, maps=p, axis=np.arange(5))              # a 1-D array is not a map
        spec, kwargs = str(path), {}
    elif layout == "h5":
        path = tmp_path / "x.h5"
        with h5py.File(path, "w") as f:
            f["radar/power"] = p
            f["other"] = p[0]
        spec, kwargs = f"{path}:/radar/power", {}
    elif layout == "mat_rd":
        path = tmp_path / "x.mat"
        scipy.io.savemat(path, {"rd": p[0].T})                  # a (range, doppler) variable
        spec, kwargs, p = str(path), {"axes": "RD"}, p[:1]
    else:
        path = tmp_path / "x.npy"
        np.save(path, 10 * np.log10(p))
        spec, kwargs = str(path), {"units": "db"}
    np.testing.assert_allclose(read_maps(spec, **kwargs), p, rtol=1e-9)


def test_read_maps_rejects_what_it_cannot_read(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.ones((3, 16, 16)), b=np.ones((16, 16)))
    with pytest.raises(InputError, match="several arrays hold maps"):
        read_maps(tmp_path / "two.npz")
    with pytest.raises(InputError, match="no array 'c'"):
        read_maps(f"{tmp_path / 'two.npz'}:c")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="not a readable .npy file"):
        read_maps(tmp_path / "bad.npy")
    np.save(tmp_path / "neg.npy", -np.ones((16, 16)))
    with pytest.raises(InputError, match="negative values"):
        read_maps(tmp_path / "neg.npy")
    with pytest.raises(InputError, match="no such file"):
        read_maps(tmp_path / "missing.npy")


def test_movers_finds_the_strongest_detection_off_the_ridge():
    p = _recorded(n=1)[0]
    cells = movers(p, count=3)
    assert tuple(cells[0]) == (8, 40)                            # the ridge (30 dB) is left out
    assert np.all(np.abs(cells[:, 0] - 16) > 5)


def test_assess_movers_reports_what_a_known_cleaning_did():
    """A constructed "cleaning" of a map with three movers 30 dB over exponential noise:
    the noise halved everywhere (floor -3.01 dB), one mover halved too (-3.01 dB, still
    detected), one set to the halved noise's mean (lost), one untouched (0 dB: kept)."""
    rng = np.random.default_rng(4)
    raw = rng.exponential(1.0, (64, 96))
    movers_at = [(10, 20), (50, 60), (20, 80)]
    for d, r in movers_at:
        raw[d, r] = 1000.0
    cleaned = 0.5 * raw
    cleaned[10, 20] = 1000.0                        # untouched
    cleaned[50, 60] = 0.5                           # erased to the floor
    (a,) = assess_movers(raw, cleaned, count=3, range_bins=(4, 92))
    assert sorted(map(tuple, a["cells"])) == sorted(movers_at)
    by_cell = {tuple(c): (k, ch) for c, k, ch in zip(a["cells"], a["kept"], a["peak_change_db"])}
    kept, change = by_cell[(10, 20)]
    assert kept and abs(change) < 1e-9
    kept, change = by_cell[(20, 80)]
    assert kept and change == pytest.approx(-10 * np.log10(2), abs=1e-9)
    kept, change = by_cell[(50, 60)]
    # the lost mover's neighbourhood keeps its halved noise: its maximum over 3 x 3 cells
    assert not kept and change == pytest.approx(
        10 * np.log10(max(0.5, 0.5 * np.delete(raw[49:52, 59:62].ravel(), 4).max()) / 1000.0))
    # the floor: means over the same cells, which the cleaning halved
    assert a["floor_out"] / a["floor_in"] == pytest.approx(0.5, rel=1e-12)
    assert 0.9 < a["floor_in"] < 1.1                                   # exponential noise of mean 1
    with pytest.raises(ValueError, match="must be equal"):
        assess_movers(raw, cleaned[:, :50])


def test_inject_cli_writes_a_set_that_evaluate_scores(tmp_path, capsys):
    np.save(tmp_path / "rec.npy", _recorded())
    out, bg = tmp_path / "inj.h5", tmp_path / "bg.h5"
    args = ["inject", str(tmp_path / "rec.npy"), "--output", str(out), "--backgrounds", str(bg), "--copies", "5",
            "--snr-db", "15", "25", "--seed", "3", "--quiet"]
    assert main(args) == 0
    with open_dataset(out, need_clean=True) as f, open_dataset(bg) as g:
        t, m = read_targets(f), read_targets(g)
        assert f["noisy"].shape == (20, 32, 64) and g["noisy"].shape == (4, 32, 64)
        np.testing.assert_allclose(f["noisy"][()] - f["clean"][()], np.repeat(g["noisy"][()], 5, axis=0),
                                   rtol=1e-4, atol=1e-3)
    assert np.any((m["doppler_bin"] == 8) & (m["range_bin"] == 40))  # the mover, masked in calibration
    assert np.all(np.maximum(np.abs(t["doppler_bin"] - 8), np.abs(t["range_bin"] - 40)) > 6)
    assert main(args) == 2                                       # never over an existing file
    assert "already exists" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(out), "--calibration", str(bg), "--output", str(tmp_path / "rep"),
                 "--model", "default", "--quiet"]) == 0
    import json
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    pd = {k: m["pd_at_pfa"]["1e-2"] for k, m in report["methods"].items()}
    # 15-25 dB steady targets once the ridge is replaced by its column's median; in the raw maps
    # the ridge (1 row in 32: 3 % of the cells, 30 dB up) sets the 1e-2 threshold
    assert pd["notch_median1"] > 0.9 and pd["raw"] < pd["notch_median1"] - 0.2


def test_inject_cli_rejects_mixed_sizes_and_unknown_windows(tmp_path, capsys):
    np.save(tmp_path / "a.npy", _recorded(n=1))
    np.save(tmp_path / "b.npy", _recorded(n=1, d=16))
    base = ["inject", "--output", str(tmp_path / "o.h5"), "--backgrounds", str(tmp_path / "g.h5")]
    assert main(base + [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]) == 2
    assert "one set holds one map size" in capsys.readouterr().err
    assert main(base + [str(tmp_path / "a.npy"), "--range-window", "kaiser"]) == 2
    assert "unknown window 'kaiser'" in capsys.readouterr().err
    assert main(base + [str(tmp_path / "a.npy"), "--range-bin-m", "-0.5"]) == 2
    assert "--range-bin-m: expected a bin size > 0, got -0.5" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "g.h5").exists()
