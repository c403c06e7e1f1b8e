"""How the U-Net pads a map whose size is not a multiple of 2**depth: its mirror image
(numpy's ``reflect``), checked against numpy and against the network run on a map
padded by hand."""
import numpy as np
import pytest
import torch

from rd_unet.config import UNetConfig
from rd_unet.model.unet import UNet, mirror_pad


@pytest.mark.parametrize("n, pad", [(37, 11), (100, 12), (16, 0), (2, 1)])
def test_mirror_pad_is_numpy_reflect_where_the_map_is_longer_than_its_pad(n, pad):
    x = np.random.default_rng(n).normal(size=(2, 1, 3, n)).astype(np.float32)
    want = np.pad(x, [(0, 0)] * 3 + [(0, pad)], mode="reflect")
    np.testing.assert_array_equal(mirror_pad(torch.from_numpy(x), pad, -1).numpy(), want)
    xd = np.swapaxes(x, -1, -2).copy()                  # the same along Doppler
    want_d = np.pad(xd, [(0, 0), (0, 0), (0, pad), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(mirror_pad(torch.from_numpy(xd), pad, -2).numpy(), want_d)


def test_a_map_shorter_than_its_pad_is_mirrored_once_then_its_last_cell_repeated():
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    assert mirror_pad(x, 6, -1).flatten().tolist() == [1, 2, 3, 2, 1, 1, 1, 1, 1]
    assert mirror_pad(torch.tensor([[[[7.0]]]]), 4, -2).flatten().tolist() == [7.0] * 5


def test_the_unet_sees_an_odd_sized_map_with_its_mirror_image_around_it():
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, base_channels=4)).eval()
    with torch.no_grad():             # a fresh U-Net is the identity (zero-initialised output)
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    x = np.random.default_rng(1).normal(size=(1, 1, 13, 22)).astype(np.float32)
    by_hand = np.pad(x, [(0, 0), (0, 0), (0, 3), (0, 2)], mode="reflect")   # to 16 x 24
    with torch.no_grad():
        want = net.core(torch.from_numpy(by_hand))[..., :13, :22]
        got = net(torch.from_numpy(x))
    torch.testing.assert_close(got, want)
    # and not the edge replication of earlier versions, which gives another answer
    replicated = np.pad(x, [(0, 0), (0, 0), (0, 3), (0, 2)], mode="edge")
    with torch.no_grad():
        other = net.core(torch.from_numpy(replicated))[..., :13, :22]
    assert (other - got).abs().max() > 1e-4


def test_the_geometry_probe_reproduces_the_shipped_padding_and_the_old_one():
    # simulations/probe_map_geometry.py swaps the padding for its measurements
    from simulations.probe_map_geometry import padded_forward
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, base_channels=4)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(1, 1, 13, 22)).astype(np.float32))
    edge = torch.from_numpy(np.pad(x.numpy(), [(0, 0), (0, 0), (0, 3), (0, 2)], mode="edge"))
    with torch.no_grad():
        torch.testing.assert_close(padded_forward("reflect")(net, x), net(x))
        torch.testing.assert_close(padded_forward("replicate")(net, x), net.core(edge)[..., :13, :22])
        # rolled by the whole Doppler extent: the same map, the same answer
        torch.testing.assert_close(padded_forward("roll13")(net, x), net(x))


def test_the_geometry_probe_refuses_an_unknown_variant_before_any_work(tmp_path, capsys):
    import pytest

    from simulations.probe_map_geometry import main
    with pytest.raises(SystemExit) as e:
        main(["--variant", "reflect", "bogus", "--workdir", str(tmp_path)])
    assert e.value.code == 2 and "unknown --variant bogus" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())                # no dataset drawn


def test_the_geometry_probe_refuses_bad_arguments_with_a_message_and_draws_nothing(tmp_path, capsys):
    """The first case through the script itself (its entry point and exit status), the
    others in this process (each subprocess spends seconds importing torch)."""
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    from simulations.probe_map_geometry import main
    script = Path(__file__).resolve().parents[2] / "simulations" / "probe_map_geometry.py"
    run = subprocess.run([sys.executable, str(script), "--scenario", "nosuch", "--workdir", str(tmp_path / "w")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "unknown scenario 'nosuch'" in run.stderr and "Traceback" not in run.stderr, \
        run.stderr
    for args, message in ((["--size", "0", "10"], "chirps_per_frame: expected an integer in [8, 8192], got 0"),
                          (["--maps", "0"], "--maps: expected a positive number of maps, got 0"),
                          (["--model", str(tmp_path / "none.pt")], "no such checkpoint")):
        with pytest.raises(SystemExit) as e:
            main([*args, "--workdir", str(tmp_path / "w")])
        assert e.value.code == 2 and message in capsys.readouterr().err, args
    assert not (tmp_path / "w").exists()


def test_mirror_pad_refuses_an_axis_other_than_doppler_or_range():
    import pytest
    import torch
    from rd_unet.model.unet import mirror_pad
    x = torch.rand(2, 1, 5, 7)
    for dim in (0, 1, -3):
        with pytest.raises(ValueError, match="last two axes"):
            mirror_pad(x, 2, dim)
    assert mirror_pad(x, 2, 2).shape == (2, 1, 7, 7) and mirror_pad(x, 2, 3).shape == (2, 1, 5, 9)


# ------------------------------------------------------------------ Doppler wrap (UNetConfig.doppler_wrap)

def _random_weights(net):
    with torch.no_grad():             # a fresh U-Net is the identity (zero-initialised output)
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    return net.eval()


def test_wrap_conv_is_a_convolution_on_the_doppler_circle_by_brute_force():
    from rd_unet.model.parts import WrapConv2d
    torch.manual_seed(3)
    conv = WrapConv2d(2, 3, 3, padding=1, bias=False)
    x = np.random.default_rng(4).normal(size=(1, 2, 5, 7))
    w = conv.weight.detach().double().numpy()
    want = np.zeros((1, 3, 5, 7))
    for o in range(3):
        for d in range(5):
            for r in range(7):
                for c in range(2):
                    for i in range(3):
                        for j in range(3):
                            rr = r + j - 1
                            if 0 <= rr < 7:         # range: zero padding; Doppler: around the circle
                                want[0, o, d, r] += w[o, c, i, j] * x[0, c, (d + i - 1) % 5, rr]
    with torch.no_grad():
        got = conv(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("arch", ["unet", "residual-unet", "attention-unet", "resnet-unet"])
def test_doppler_wrap_makes_the_unet_equivariant_to_shifts_of_its_pooling_grid(arch):
    torch.manual_seed(0)
    x = torch.from_numpy(np.random.default_rng(5).normal(size=(2, 1, 16, 12)).astype(np.float32))
    for wrap in (True, False):
        net = _random_weights(UNet(UNetConfig(depth=2, base_channels=4, arch=arch, doppler_wrap=wrap)))
        with torch.no_grad():
            y = net(x)
            errors = [(net(x.roll(k, -2)).roll(-k, -2) - y).abs().max().item() for k in (4, 8, 12)]
        if wrap:      # a shift by a multiple of 2**depth rows: the same output, shifted
            assert max(errors) < 1e-4 * y.abs().max().item(), (arch, errors)
        else:         # zero padding: the map's Doppler ends are a border the network sees
            assert min(errors) > 1e-2 * y.abs().max().item(), (arch, errors)


def test_doppler_wrap_keeps_the_weights_of_the_zero_padded_network():
    plain = UNet(UNetConfig(depth=2, base_channels=4))
    wrapped = UNet(UNetConfig(depth=2, base_channels=4, doppler_wrap=True))
    assert plain.state_dict().keys() == wrapped.state_dict().keys()
    wrapped.load_state_dict(_random_weights(plain).state_dict())
    x = torch.from_numpy(np.random.default_rng(6).normal(size=(1, 1, 16, 12)).astype(np.float32))
    with torch.no_grad():          # the same weights, another padding: another answer
        assert not torch.allclose(plain.eval()(x), wrapped.eval()(x))
    from rd_unet.config import ConfigError
    with pytest.raises(ConfigError, match="doppler_wrap: unet-valid has no padding to wrap"):
        UNetConfig(arch="unet-valid", doppler_wrap=True)
