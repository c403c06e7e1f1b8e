"""simulations/probe_flip_domain.py: the flip average as a power mean (docs/normalisation.md,
"Flip averaging")."""
from functools import partial

import numpy as np
import pytest
import torch

from rd_unet.model.unet import Denoiser, NormalizationConfig, UNet, UNetConfig
from simulations.probe_flip_domain import FLIPS, FlipsReduced, main, median_of, power_mean


def test_power_mean_in_the_normalised_domain_matches_numpy_on_linear_power():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.normal(0.0, 1.0, (4, 2, 1, 5, 6)), dtype=torch.float64)
    s = 20.0
    p = 10 ** (y.numpy() * s / 10)                       # the four estimates, power over the floor
    for k in (1.0, 0.5, 2.0):
        want = np.mean(p ** k, axis=0) ** (1 / k)
        got = 10 ** (power_mean(y, k, s).numpy() * s / 10)
        np.testing.assert_allclose(got, want, rtol=1e-9)
    # order -> 0 is the geometric mean, the shipped log-domain average
    np.testing.assert_allclose(power_mean(y, 1e-6, s).numpy(), y.mean(0).numpy(), atol=1e-4)
    # a cell one view keeps at +20 dB and three remove (-10 dB): the power mean keeps it
    # 6 dB under the view that keeps it, the log mean 22.5 dB under
    one = torch.tensor([1.0, -0.5, -0.5, -0.5]).reshape(4, 1)
    assert 10 * np.log10(float(10 ** (power_mean(one, 1.0, s) * s / 10))) == pytest.approx(
        10 * np.log10((100 + 3 * 0.1) / 4), abs=1e-5)     # float32


def test_the_variant_averages_the_four_flipped_outputs_as_a_power_mean():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(depth=2, base_channels=4)).eval()
    den = Denoiser(unet, NormalizationConfig(flip_average=True))
    x = torch.randn(1, 1, 16, 24)
    with torch.no_grad():
        # brute force: run the network on each flip, flip the output back, average power
        views = [unet(x.flip(d)).flip(d) if d else unet(x) for d in FLIPS]
        p = torch.stack([10 ** (v.double() * 2.0) for v in views])            # scale_db 20: 10^(y 20 / 10)
        want = torch.log10(p.mean(0)) / 2.0
        got = FlipsReduced(den, partial(power_mean, order=1.0, scale_db=20.0)).network(x)
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
        # the shipped average is the log-domain mean of the same four views
        torch.testing.assert_close(den.network(x), torch.stack(views).mean(0))
        # the median: numpy's median of four is the mean of the middle two
        want = np.median(torch.stack(views).numpy(), axis=0)
        np.testing.assert_allclose(FlipsReduced(den, median_of).network(x).numpy(), want, rtol=1e-6, atol=1e-6)


def test_the_probe_refuses_bad_arguments_before_drawing_anything(tmp_path, capsys):
    for argv, message in ((["--model", str(tmp_path / "none.pt")], "--model: "),
                          (["--scenarios", "nosuch"], "--scenarios: unknown scenario 'nosuch'"),
                          (["--maps", "0"], "--maps: expected a number of maps of at least 1, got 0"),
                          (["--orders", "0"], "expected a positive order, got 0")):
        with pytest.raises(SystemExit) as e:
            main(argv + ["--workdir", str(tmp_path / "w")])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
