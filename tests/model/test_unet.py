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


class _StandIn(torch.nn.Module):
    """A stand-in for the U-Net inside a Denoiser: ``fn`` of the network-domain input."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.config = UNetConfig(depth=1, base_channels=2)

    def forward(self, x):
        return self.fn(x)


def _Fixed(y):
    """A stand-in network whose output (network domain) is set by the test."""
    return _StandIn(lambda x: y)


def test_passthrough_keeps_the_input_power_where_the_network_calls_signal():
    """NormalizationConfig.passthrough: a cell whose estimate stands passthrough_db above
    the noise floor, and at most passthrough_cut_db below the input, takes max(input,
    estimate); every other cell keeps the estimate."""
    from rd_unet.data.normalize import to_network
    rng = np.random.default_rng(3)
    p = rng.exponential(4.0, (1, 1, 16, 24))
    for (d, r), level in {(3, 5): 100, (8, 9): 10, (12, 2): 40, (1, 20): 30, (6, 6): 1000}.items():
        p[0, 0, d, r] = 4.0 * level
    floor = np.sort(p.ravel())[(p.size - 1) // 2] / np.log(2)       # the lower median / ln 2, by hand
    est = 0.01 * p                                                   # noise: 20 dB down
    est[0, 0, 3, 5] = 0.5 * p[0, 0, 3, 5]                            # a target shrunk by 3 dB
    est[0, 0, 8, 9] = 2.0 * p[0, 0, 8, 9]                            # an estimate above its input
    est[0, 0, 12, 2] = 4 * floor                                     # 6 dB above the floor only
    est[0, 0, 1, 20] = 0.5 * floor                                   # below the floor: not signal
    est[0, 0, 6, 6] = 20 * floor                                     # clutter cut by ~23 dB: not passed
    norm = NormalizationConfig(passthrough=True, passthrough_db=0.0)
    fl = torch.full((1, 1, 1, 1), floor)
    y = to_network(torch.from_numpy(est), fl, norm).float()
    model = Denoiser(_Fixed(y), norm, pedestal=False).eval()
    with torch.no_grad():
        out = model(torch.from_numpy(p).float()).double().numpy()[0, 0]
        model.normalization = NormalizationConfig(passthrough=True, passthrough_db=10.0)
        out10 = model(torch.from_numpy(p).float()).double().numpy()[0, 0]
        model.normalization = NormalizationConfig()
        off = model(torch.from_numpy(p).float()).double().numpy()[0, 0]
    np.testing.assert_allclose(off, est[0, 0], rtol=1e-4)            # off: the estimate alone
    expect = est[0, 0].copy()
    for d, r in [(3, 5), (12, 2)]:
        expect[d, r] = p[0, 0, d, r]
    expect[8, 9] = 2.0 * p[0, 0, 8, 9]
    np.testing.assert_allclose(out, expect, rtol=1e-4)
    expect[12, 2] = 4 * floor                                        # 6 dB < 10 dB: not passed at 10
    np.testing.assert_allclose(out10, expect, rtol=1e-4)
    # load_denoiser turns it on for a model passed in without changing that model
    from rd_unet.model.inference import load_denoiser
    on, _, _ = load_denoiser(model, "cpu", passthrough=True)
    assert on.normalization.passthrough and not model.normalization.passthrough and on.unet is model.unet


def _Conv(kernel):
    """A stand-in network: one 3 x 5 convolution with zero 'same' padding."""
    return _StandIn(lambda x: torch.nn.functional.conv2d(x, kernel, padding=(1, 2)))


def test_flip_average_equals_the_convolution_with_the_flip_symmetrised_kernel():
    """NormalizationConfig.flip_average on a linear network: averaging the outputs over the
    four flips of the map, each flipped back, is the convolution whose kernel is the mean of
    the kernel's four flips (zero padding is symmetric), computed here directly."""
    g = torch.Generator().manual_seed(5)
    kernel = torch.rand((1, 1, 3, 5), generator=g, dtype=torch.float64)
    x = torch.randn((2, 1, 12, 17), generator=g, dtype=torch.float64)
    sym = (kernel + kernel.flip(-2) + kernel.flip(-1) + kernel.flip((-2, -1))) / 4
    model = Denoiser(_Conv(kernel), NormalizationConfig(flip_average=True))
    expect = torch.nn.functional.conv2d(x, sym, padding=(1, 2))
    np.testing.assert_allclose(model.network(x).numpy(), expect.numpy(), rtol=1e-6, atol=1e-6)
    model.normalization = NormalizationConfig()
    plain = torch.nn.functional.conv2d(x, kernel, padding=(1, 2))
    np.testing.assert_allclose(model.network(x).numpy(), plain.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mask_head", [False, True])
def test_flip_average_makes_the_denoiser_flip_equivariant(mask_head):
    """A U-Net with random weights (not residual: that one starts as the identity) is not
    flip-equivariant (cleaning a flipped map is not the flipped cleaned map); with
    flip_average it is, in power and in the mask, at an odd map size (the U-Net pads it)."""
    torch.manual_seed(0)
    unet = UNet(UNetConfig(depth=2, base_channels=4, mask_head=mask_head, residual=False)).eval()
    p = torch.from_numpy(np.random.default_rng(1).exponential(1.0, (2, 1, 19, 37))).float()
    for flip_average, equivariant in ((False, False), (True, True)):
        model = Denoiser(unet, NormalizationConfig(flip_average=flip_average)).eval()
        with torch.no_grad():
            out, mask = model.outputs(p)
            for dims in ((-2,), (-1,), (-2, -1)):
                out_f, mask_f = model.outputs(p.flip(dims))
                same = torch.allclose(out_f, out.flip(dims), rtol=1e-4, atol=1e-6)
                assert same == equivariant, (flip_average, dims)
                if mask_head:
                    assert torch.allclose(mask_f, mask.flip(dims), rtol=1e-4, atol=1e-6) == equivariant


@pytest.mark.parametrize("rows, shifts, period", [(12, 4, 3), (12, 12, 1), (3, 4, 1)])
def test_doppler_shift_averaging_makes_the_denoiser_equivariant_to_shifts_of_its_period(rows, shifts, period):
    """NormalizationConfig.doppler_shifts = n averages over the shifts by multiples of D/n
    rows: a group average when n divides D, so cleaning a map shifted by D/n rows gives the
    cleaned map shifted; with n >= D it is equivariant to every shift (a map of 3 rows asked
    for 4 shifts averages its 3 distinct ones, each once). A U-Net with random weights is not
    equivariant without it."""
    torch.manual_seed(0)
    unet = UNet(UNetConfig(depth=1, base_channels=4, residual=False)).eval()
    p = torch.from_numpy(np.random.default_rng(2).exponential(1.0, (2, 1, rows, 10))).float()
    for n, equivariant in ((1, False), (shifts, True)):
        for flip in (False, True):
            model = Denoiser(unet, NormalizationConfig(doppler_shifts=n, flip_average=flip)).eval()
            with torch.no_grad():
                out = model(p)
                same = torch.allclose(model(p.roll(period, -2)), out.roll(period, -2), rtol=1e-4, atol=1e-6)
                assert same == equivariant, (n, flip)
                if flip and equivariant:      # and still flip-equivariant (the shifts are closed under negation)
                    for dims in ((-2,), (-1,)):
                        assert torch.allclose(model(p.flip(dims)), out.flip(dims), rtol=1e-4, atol=1e-6), dims


# ------------------------------------------------------------- a floor per range column
def _profile_db(p):
    from rd_unet.data.normalize import noise_floor_profile
    return 10 * torch.log10(noise_floor_profile(p)[..., 0, :] / noise_floor(p)[..., 0, :])


def test_floor_profile_of_a_flat_floor_is_flat():
    """Exponential noise of one mean: a column's lower quartile over 128 Doppler cells has a
    relative spread of 17.5 % (order statistics: sqrt(q (1 - q) / n) / (f(x_q) x_q)), the
    running median over 15 columns cuts it to about 6 % (0.25 dB) inside the map; the edge
    columns (replicated) keep their own 0.7 dB. Over 20 maps every inner column within
    1 dB of the map's floor, every edge column within 2.5 dB (3.5 sigma), the mean within
    0.2 dB, and the floor itself within 2 % of the true mean."""
    from rd_unet.data.normalize import noise_floor_profile
    p = torch.from_numpy(np.random.default_rng(3).exponential(5.0, (20, 1, 128, 96)))
    prof = _profile_db(p)
    assert prof[..., 7:-7].abs().max() < 1.0
    assert prof.abs().max() < 2.5
    assert abs(float(prof.mean())) < 0.2
    assert float(noise_floor_profile(p).mean()) == pytest.approx(5.0, rel=0.02)


def test_floor_profile_follows_a_sloped_floor_past_a_ridge_targets_and_clutter():
    """A floor rising 10 dB over range (linear in dB), a ground-clutter ridge of 5 rows 30 dB
    up, strong targets, and a clutter band 20 dB up filling a fraction c = 0.2 of the rows
    over 32 range bins. Outside the band the floor's shape is the true one within 1 dB
    (2.5 at the edge columns). Inside, a column's lower quartile is the noise's quantile
    q / (1 - c) of the remaining cells: the floor reads 10 log10(ln(1 - q / (1 - c)) /
    ln(1 - q)) dB high (order statistics; 1.4 dB here with the ridge's rows, 1.2 dB above
    the columns outside the band, which hold the ridge alone), which the band's inner columns show
    within 1 dB: a floor per column cannot tell a clutter band that fills its columns from
    a higher floor."""
    from rd_unet.data.normalize import noise_floor_profile
    rng = np.random.default_rng(4)
    d, r, q, c = 128, 128, 0.25, 0.2
    true_db = np.linspace(0.0, 10.0, r)
    p = rng.exponential(1.0, (d, r)) * 10 ** (true_db / 10)
    p[62:67] *= 1e3                                       # the zero-Doppler ridge
    rows = rng.choice(np.setdiff1d(np.arange(d), np.arange(62, 67)), int(c * d), replace=False)
    p[np.ix_(rows, np.arange(40, 72))] *= 100.0           # the clutter band
    for dd, rr in ((10, 5), (90, 60), (30, 120)):
        p[dd - 1:dd + 2, rr - 1:rr + 2] *= 1e4
    floor_db = 10 * np.log10(noise_floor_profile(torch.from_numpy(p)[None, None])[0, 0, 0].numpy())
    # every column holds the ridge's 5 rows too: the fraction of cells above the noise
    c_col = 5 / d + np.where((np.arange(r) >= 40) & (np.arange(r) < 72), c, 0.0)
    expected = true_db + 10 * np.log10(np.log(1 - q / (1 - c_col)) / np.log(1 - q))
    err = floor_db - expected
    err -= np.median(err)                                 # the shape; the level is the map floor's
    inner = np.r_[7:33, 48:64, 80:r - 7]                  # past the edges and the band's borders
    assert np.abs(err[inner]).max() < 1.0
    assert np.abs(err[np.r_[0:7, r - 7:r]]).max() < 2.5


def test_floor_profile_makes_the_denoiser_equivariant_to_a_gain_over_range():
    """With floor_profile, a map multiplied by a monotone gain over range g(r) is cleaned to
    g(r) times the cleaned map: the network sees the same normalised map (exactly, for a map
    whose columns hold the same values: their quartiles scale by g, and a running median of a
    monotone sequence is its centre). A U-Net with random weights is not equivariant without."""
    torch.manual_seed(0)
    unet = UNet(UNetConfig(depth=2, base_channels=4, residual=False)).eval()
    rng = np.random.default_rng(5)
    column = rng.exponential(1.0, 40)
    p = np.stack([rng.permutation(column) for _ in range(48)], axis=1)          # (40 Doppler, 48 range)
    g = 10 ** (np.linspace(-6.0, 8.0, 48) ** 3 / 400.0 / 10)                     # monotone, 14 dB
    p, g = torch.from_numpy(p)[None, None].float(), torch.from_numpy(g).float()
    for profile, equivariant in ((False, False), (True, True)):
        model = Denoiser(unet, NormalizationConfig(floor_profile=profile)).eval()
        with torch.no_grad():
            same = torch.allclose(model(p * g), model(p) * g, rtol=1e-4, atol=1e-7)
        assert same == equivariant, profile


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.5])
def test_floor_profile_rejects_a_quantile_outside_0_1(quantile):
    from rd_unet.data.normalize import noise_floor_profile
    with pytest.raises(ValueError, match="quantile: expected a value in"):
        noise_floor_profile(torch.ones(1, 1, 8, 8), quantile=quantile)
    with pytest.raises(ValueError, match="width: expected at least 1"):
        noise_floor_profile(torch.ones(1, 1, 8, 8), width=0)


def test_floor_profile_of_columns_zero_in_a_third_of_their_cells_is_the_maps_floor():
    """Range bins 0-39 of a 96-bin map have a third of their Doppler cells zero (blanked
    upstream), the rest noise: their lower quartile is 0. Those columns take the map's floor
    (positive), so the Denoiser's guard sees no noise cell there as a glitch 100 dB above a
    vanishing floor (which it would pass through unchanged and report). The map's level
    is the median of the whole (flattened) map, zeros included, as with one floor per map:
    with a fraction z of zeros the median is the noise's quantile u = (1/2 - z) / (1 - z),
    so the floor reads -ln(1 - u) / ln 2 of the mean, within 0.5 dB on average over the
    columns past the blanked ones' window."""
    from rd_unet.data.normalize import noise_floor_profile
    from rd_unet.model.unet import extreme_cells
    rng = np.random.default_rng(8)
    p = torch.from_numpy(rng.exponential(2.0, (1, 1, 66, 96)))
    p[..., ::3, :40] = 0.0                                       # 22 of 66 rows in bins 0-39
    floor = noise_floor_profile(p)[0, 0, 0].numpy()
    assert np.all(floor > 0)
    assert int(extreme_cells(p, NormalizationConfig(floor_profile=True))[0]) == 0
    z = 22 * 40 / (66 * 96)
    u = (0.5 - z) / (1 - z)
    expected = 2.0 * -np.log(1 - u) / np.log(2)
    assert abs(10 * np.log10(floor[48:].mean() / expected)) < 0.5
