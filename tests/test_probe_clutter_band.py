"""simulations/probe_clutter_band.py: targets erased inside clutter, by how far they stood
above it (docs/normalisation.md, "Drifting clutter bands")."""
import numpy as np
import pytest

from tests.conftest import target_table as _targets
from simulations.probe_clutter_band import band_table, main


def test_band_table_splits_erased_targets_by_the_clutter_around_them():
    noisy = np.ones((1, 32, 40))
    noisy[0, 10:20, :] = 10 * np.log(2)          # a band 10 dB over the floor (median / ln 2)
    clean = np.full_like(noisy, 1e-3)
    # in the band (local mean: median / ln 2 = 10): 4 dB, 12 dB and 20 dB over it; one outside
    rows = [(0, 13, 5, 10 ** 1.4), (0, 15, 20, 10 ** 2.2), (0, 17, 33, 10 ** 3.0), (0, 27, 20, 10 ** 1.2)]
    for m, d, r, p in rows:
        clean[m, d, r] = noisy[m, d, r] = p
    out = noisy.copy()
    out[0, 12:15, 4:7] = 1e-6                    # erase the 4 dB one
    out[0, 16:19, 32:35] = 1e-6                  # and the 20 dB one
    t = band_table(noisy, out, clean, _targets([r[:3] for r in rows]))
    assert (t["visible"], t["outside"], t["outside_erased"], t["inside"], t["inside_erased"]) == (4, 1, 0, 3, 2)
    assert [(lo, n, e) for lo, _, n, e in t["bins"]] == [(-np.inf, 0, 0), (3.0, 1, 1), (6.0, 0, 0), (10.0, 1, 0),
                                                        (15.0, 1, 1)]
    # a target the clutter buries (its input 15 dB above its clean peak) is not counted
    noisy[0, 27, 20] = clean[0, 27, 20] * 10 ** 1.6
    assert band_table(noisy, out, clean, _targets([r[:3] for r in rows]))["visible"] == 3


def test_the_probe_refuses_an_unknown_model_or_scene_before_drawing_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--model", str(tmp_path / "none.pt"), "--workdir", str(tmp_path / "w")])
    assert e.value.code == 2 and "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--model", "default", "--scenes", "nosuch", "--workdir", str(tmp_path / "w")])
    assert e.value.code == 2 and "--scenes: unknown scenario 'nosuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--model", "default", "--maps", "0", "--workdir", str(tmp_path / "w")])
    assert e.value.code == 2 and "--maps: expected a number of maps of at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
