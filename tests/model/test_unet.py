import math

import numpy as np
import pytest
import torch

from rd_unet.config import ConfigError, NormalizationConfig, UNetConfig
from rd_unet.data.normalize import from_network, noise_floor, to_network
from rd_unet.model.unet import Denoiser, UNet

SHAPES = [
    (UNetConfig(depth=1, base_channels=4), (2, 1, 8, 8)),
    (UNetConfig(depth=2, base_channels=4), (2, 1, 33, 63)),
    (UNetConfig(depth=3, base_channels=4), (1, 1, 17, 129)),
    (UNetConfig(depth=3, base_channels=4, upsampling="bilinear"), (2, 1, 31, 65)),
    (UNetConfig(depth=4, base_channels=2), (1, 1, 5, 7)),      # smaller than 2**depth
    (UNetConfig(depth=2, base_channels=4, residual=False), (3, 1, 64, 128)),
    (UNetConfig(depth=2, base_channels=4, in_channels=2, out_channels=2), (1, 2, 20, 30)),
]


@pytest.mark.parametrize("cfg,shape", SHAPES)
def test_output_shape_equals_input_shape(cfg, shape):
    model = UNet(cfg).eval()
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == shape


def test_widths_double_per_level():
    model = UNet(UNetConfig(depth=3, base_channels=8))
    assert model.inc[0].out_channels == 8
    assert [d[1][0].out_channels for d in model.downs] == [16, 32, 64]
    assert isinstance(model.ups[0].up, torch.nn.ConvTranspose2d)


def test_residual_model_starts_as_identity():
    model = UNet(UNetConfig(depth=2, base_channels=4)).eval()
    x = torch.randn(2, 1, 20, 36)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x)


def test_bad_config_rejected():
    with pytest.raises(ConfigError, match="depth"):
        UNetConfig(depth=0)
    with pytest.raises(ConfigError, match="upsampling"):
        UNetConfig(upsampling="nearest")


def test_normalisation_inverts_exactly():
    cfg = NormalizationConfig()
    g = torch.Generator().manual_seed(0)
    p = torch.distributions.Exponential(1.0).sample((4, 32, 48)) * 3.0
    p[:, 5, 7] = 1e4                                   # 40 dB targets
    p[:, 0, 0] = 0.0
    floor = noise_floor(p)
    torch.testing.assert_close(floor[:, 0, 0], torch.median(p.flatten(1), 1).values / math.log(2))
    back = from_network(to_network(p, floor, cfg), floor, cfg)
    torch.testing.assert_close(back, p, rtol=1e-4, atol=1e-5)
    _ = g


def test_noise_floor_estimates_the_noise_mean():
    p = torch.distributions.Exponential(1 / 7.0).sample((1, 256, 256))
    # median of exponential noise = ln2 * mean: within 2 % for 65k cells
    assert float(noise_floor(p)) == pytest.approx(7.0, rel=0.02)


def test_denoiser_power_in_power_out_scale_equivariant():
    torch.manual_seed(0)
    model = Denoiser(UNet(UNetConfig(depth=2, base_channels=4)), NormalizationConfig()).eval()
    p = torch.distributions.Exponential(1.0).sample((2, 1, 16, 24))
    with torch.no_grad():
        a = model(p)
        b = model(p * 1000.0)                          # units change: output scales with them
    torch.testing.assert_close(b, a * 1000.0, rtol=1e-3, atol=1e-3)
    assert torch.all(a > 0)                            # pedestal keeps every cell positive
    model.pedestal = False
    with torch.no_grad():                              # identity network: output = input
        np.testing.assert_allclose(model(p).numpy(), p.numpy(), rtol=1e-4, atol=1e-5)


def test_overfit_one_batch():
    torch.manual_seed(0)
    model = UNet(UNetConfig(depth=2, base_channels=8, residual=False))
    x = torch.randn(4, 1, 16, 32)
    y = torch.tanh(x) * 0.5 + x.roll(1, dims=-1) * 0.2
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 10


def test_residual_output_has_no_bias_so_silent_features_pass_power_through():
    model = UNet(UNetConfig(depth=2, base_channels=4))
    assert model.outc.bias is None
    assert UNet(UNetConfig(depth=2, base_channels=4, residual=False)).outc.bias is not None
