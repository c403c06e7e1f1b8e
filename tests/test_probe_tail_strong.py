"""simulations/probe_tail_strong.py: the two cheap filters a candidate model goes through
before the model card (docs/normalisation.md, "Strong targets")."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import target_table as _targets
from simulations.probe_tail_strong import strong_figures, tail_figures

SCRIPT = Path(__file__).resolve().parents[1] / "simulations" / "probe_tail_strong.py"


def test_tail_of_unit_exponential_noise_matches_its_closed_form_quantiles():
    # noise of mean 1 left as it is: P(x > t) = exp(-t), so the 1 - q quantile is ln(1/q)
    rng = np.random.default_rng(5)
    noisy = rng.exponential(1.0, size=(400, 64, 128))
    f = tail_figures(noisy, noisy, zero_row=32)
    # the median over ln 2 estimates the mean to ~0.3 % per map; the 1e-5 quantile of
    # 3.3e6 cells is estimated from ~33 exceedances: +-0.3 dB covers it at about 3 sigma
    assert abs(f["q1e-5_db"] - 10 * np.log10(np.log(1e5))) < 0.3
    assert abs(f["q1e-4_db"] - 10 * np.log10(np.log(1e4))) < 0.15
    assert abs(f["top_change_db"]) < 1e-9
    # the top cells of white noise are spread over the rows: 7 of 64 rows within 3 of row 32
    assert f["top_within_3"] < 0.4


def test_tail_finds_spikes_left_on_the_ridge_and_how_strong_they_were():
    rng = np.random.default_rng(6)
    noisy = rng.exponential(1.0, size=(50, 64, 128))
    noisy[:, 32, :4] = 1e4                       # 40 dB spikes on zero Doppler, 200 of them
    out = noisy * 0.5                            # a denoiser that halves everything
    f = tail_figures(noisy, out, zero_row=32)
    assert f["top_offset_median"] == 0 and f["top_within_3"] == 1.0
    assert abs(f["top_input_db"] - 40.0) < 0.1  # floor (median / ln 2) within 0.1 dB of 1
    assert abs(f["top_change_db"] - 10 * np.log10(0.5)) < 1e-9


def test_strong_counts_erased_targets_by_their_doppler_distance_from_zero_wrapping():
    clean = np.ones((2, 16, 20))
    rows = [(0, 8, 5), (0, 9, 10), (1, 11, 3), (1, 3, 15), (1, 0, 7)]   # zero Doppler: row 8
    for m, d, r in rows:
        clean[m, d, r] = 1e6
    out = clean.copy()
    # erase the one on the ridge (every cell within +-1 of it 10 dB or more below its peak)
    out[0, 7:10, 4:7] = 1e4
    # and the one at row 0, 8 rows away (its +-1 neighbourhood wraps to row 15), just over 10 dB
    out[1, [15, 0, 1], 6:9] = 1e5 - 1
    # the one at row 11 only 9.9 dB down: kept
    out[1, 11, 3] = 1e6 / 10 ** 0.99
    got = strong_figures(out, clean, _targets(rows), zero_row=8)
    # rows 8 and 9 (distance 0 and 1): one erased; row 11 (3): kept; rows 3 and 0 (5 and 8): one erased
    assert got == [(0, 1, 2, 0.5), (2, 4, 1, 0.0), (5, 8, 2, 0.5)]


def test_strong_wraps_the_distance_across_the_doppler_ends():
    clean = np.ones((1, 16, 8))
    clean[0, 15, 2] = 1e6                        # zero Doppler at row 1: 2 rows away, wrapping
    got = strong_figures(clean, clean, _targets([(0, 15, 2)]), zero_row=1)
    assert got == [(2, 4, 1, 0.0)]


def test_the_probe_refuses_an_unknown_model_or_scene_before_drawing_anything(tmp_path, capsys):
    # the first case through the script itself (its exit status), the other in this process
    import pytest

    from simulations.probe_tail_strong import main
    run = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tmp_path / "none.pt"),
                          "--workdir", str(tmp_path / "w")], capture_output=True, text=True)
    assert run.returncode == 2 and "no such checkpoint" in run.stderr and "Traceback" not in run.stderr, run.stderr
    with pytest.raises(SystemExit) as e:
        main(["--model", "default", "--strong-scenes", "nosuch", "--workdir", str(tmp_path / "w")])
    assert e.value.code == 2 and "--strong-scenes: unknown scenario 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
