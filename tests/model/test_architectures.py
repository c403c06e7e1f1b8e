"""The U-Net family (issue 14): every member keeps the input's shape at any size, trains
(gradients reach every parameter), round-trips through a checkpoint, and the explorer's
counts agree with hand counts."""
import pytest
import torch

from rd_unet.config import ARCHITECTURES, ConfigError, NormalizationConfig, UNetConfig
from rd_unet.model.checkpoint import load_model, save_checkpoint
from rd_unet.model.summary import describe_architecture
from rd_unet.model.unet import UNet


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(1, 1, 37, 101), (3, 1, 100, 300), (1, 1, 1, 64), (2, 1, 64, 128)])
def test_output_shape_equals_input_shape(arch, shape):
    net = UNet(UNetConfig(depth=3, base_channels=4, arch=arch)).eval()
    with torch.no_grad():
        assert net(torch.rand(shape)).shape == shape


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_gradients_reach_every_parameter(arch):
    net = UNet(UNetConfig(depth=2, base_channels=4, arch=arch))
    torch.nn.init.normal_(net.outc.weight)           # the residual output starts at zero
    net(torch.rand(2, 1, 24, 40)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_checkpoint_rebuilds_the_architecture(arch, tmp_path):
    cfg = UNetConfig(depth=2, base_channels=4, arch=arch)
    net = UNet(cfg)
    torch.nn.init.normal_(net.outc.weight)
    save_checkpoint(tmp_path / "m.pt", model=net, model_config=cfg, normalization=NormalizationConfig())
    model = load_model(tmp_path / "m.pt")
    assert model.unet.config.arch == arch
    x = torch.rand(1, 1, 20, 30) * 4
    with torch.no_grad():
        torch.testing.assert_close(model.unet(x), net.eval()(x))


def test_unknown_architecture_is_refused():
    with pytest.raises(ConfigError, match="arch: expected 'unet', 'unet-valid', 'residual-unet', 'attention-unet' or 'resnet-unet'"):
        UNetConfig(arch="transformer")


def test_explorer_counts_macs_and_parameters_by_hand():
    """Depth 1, base 2, one 8 x 8 map: inc 3x3 convs 1->2, 2->2 at 8x8 (64 x 9 x (2 + 4) MACs);
    down 2->4, 4->4 at 4x4 (16 x 9 x (8 + 16)); transposed 2x2 conv 4->2 (16 x 4 x 2 x 4);
    up 4->2, 2->2 at 8x8 (64 x 9 x (8 + 4)); 1x1 output 2->1 (64 x 2)."""
    desc = describe_architecture(UNetConfig(depth=1, base_channels=2), (8, 8))
    assert desc["macs_per_map"] == 64 * 9 * 6 + 16 * 9 * 24 + 16 * 4 * 2 * 4 + 64 * 9 * 12 + 64 * 2
    assert desc["parameters"] == sum(lv["parameters"] for lv in desc["levels"])
    assert [lv["shape"] for lv in desc["levels"]] == [(1, 2, 8, 8), (1, 4, 4, 4), (1, 2, 8, 8), (1, 1, 8, 8)]
    # receptive field by hand for depth 1: two 3x3 convs (5), a 2x2 pool (6), two 3x3 convs at
    # stride 2 (+8: 14), a 2x2 stride-2 transposed conv (+0 or +1, by parity), two 3x3 convs (+4)
    rf = describe_architecture(UNetConfig(depth=1, base_channels=2), (16, 16))["receptive_field"]
    assert rf[0] == rf[1] and 18 <= rf[0] <= 19
    deeper = describe_architecture(UNetConfig(depth=2, base_channels=2), (16, 16))["receptive_field"]
    assert deeper[0] > rf[0]


def test_arch_command_prints_and_draws(tmp_path, capsys):
    from rd_unet.cli import main
    assert main(["arch", "--arch", "resnet-unet", "--depth", "3", "--base-channels", "8", "--map-size", "37", "101",
                 "--output", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    # shapes inside the network: the map is padded to multiples of 2**depth = 8
    assert "resnet-unet: depth 3" in out and "40 x 104 inside" in out and "(1, 8, 40, 104)" in out
    assert "MACs per map" in out
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_arch_command_takes_every_model_option(capsys):
    # the mask head's 1x1 output adds base_channels + 1 parameters; the Doppler wrap none
    from rd_unet.cli import main
    counts = {}
    for extra in ([], ["--mask-head"], ["--doppler-wrap"]):
        assert main(["arch", "--depth", "2", "--base-channels", "4", "--map-size", "16", "16", *extra]) == 0
        out = capsys.readouterr().out
        counts[tuple(extra)] = int(out.split("parameters: ")[1].split()[0].replace(",", ""))
        assert ("mask head" in out) == ("--mask-head" in extra)
        assert ("wrapped around Doppler" in out) == ("--doppler-wrap" in extra)
    assert counts[("--mask-head",)] - counts[()] == 5 and counts[("--doppler-wrap",)] == counts[()]


def test_valid_unet_is_the_original_572_to_388():
    """Ronneberger et al.: depth 4, valid convolutions, 572 x 572 in, 388 x 388 out. The sizes
    do not depend on the width, so base 4 stands in for the paper's 64 (a CPU test)."""
    net = UNet(UNetConfig(depth=4, base_channels=4, arch="unet-valid")).eval()
    assert net.valid_output(572) == 388 and net.valid_output(573) is None
    with torch.no_grad():
        assert net.core(torch.rand(1, 1, 572, 572)).shape == (1, 1, 388, 388)


def test_overlap_tile_is_independent_of_the_tile_size():
    net = UNet(UNetConfig(depth=3, base_channels=4, arch="unet-valid")).eval()
    torch.nn.init.normal_(net.outc.weight)
    x = torch.rand(2, 1, 45, 101)
    with torch.no_grad():
        whole = net(x)
        for tile in (8, 24, 40):
            net.tile = tile
            assert torch.equal(net(x), whole), tile          # bit for bit
    net.tile = 12
    with pytest.raises(ValueError, match="tile: expected a multiple of 2\\*\\*depth = 8, got 12"):
        net(x)
