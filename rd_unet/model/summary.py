"""The architecture explorer behind ``rd-unet arch``: shapes level by level, parameters,
MACs per map, receptive field and accepted input sizes of a U-Net configuration."""
from __future__ import annotations

import torch
from torch import nn

from rd_unet.config import UNetConfig
from rd_unet.model.unet import UNet


def describe_architecture(config: UNetConfig, map_size=(64, 128)) -> dict:
    """Levels ``(name, output shape (B, C, D, R), parameters)`` for one map of ``map_size``,
    the totals, MACs per map, the receptive field (cells, Doppler x range) and the sizes
    the network accepts."""
    torch.manual_seed(0)
    net = UNet(config).eval()
    stages = [("encoder 0 (" + type(net.inc).__name__ + ")", net.inc)]
    stages += [(f"encoder {i + 1} (down)", m) for i, m in enumerate(net.downs)]
    stages[-1] = (f"bottleneck {len(net.downs)} (down)", stages[-1][1])
    stages += [(f"decoder {len(net.ups) - 1 - i} (up)", m) for i, m in enumerate(net.ups)]
    stages += [("output (1x1 conv" + (" + input" if config.residual else "") + ")", net.outc)]
    shapes, macs = {}, [0]

    def record(name):
        def hook(module, args, out):        # a forward hook that returns a value replaces the output
            shapes.setdefault(name, tuple(out.shape))
        return hook

    def count(module, args, out):
        x = args[0]
        k = module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, nn.ConvTranspose2d):
            macs[0] += x[0].numel() * module.out_channels * k
        else:
            macs[0] += out[0].numel() * module.in_channels * k

    hooks = [m.register_forward_hook(record(name)) for name, m in stages]
    hooks += [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        out = net(torch.rand(1, config.in_channels, *map_size))
    for h in hooks:
        h.remove()
    multiple = 2 ** config.depth
    if config.arch == "unet-valid":
        (n_d, o_d), n_r = net.valid_plan(map_size[0]), net.valid_plan(map_size[1])[0]
        inside = (n_d, n_r)
        accepts = (f"valid-convolution inputs lose {n_d - o_d} cells per axis (e.g. "
                   f"{next(n for n in range(n_d, n_d + 64) if net.valid_output(n))} -> "
                   f"{net.valid_output(next(n for n in range(n_d, n_d + 64) if net.valid_output(n)))}); "
                   f"any map size through overlap-tile (extended by {(n_d - o_d) // 2} cells: circularly in "
                   "Doppler, mirrored in range), output of the input's size")
    else:
        inside = tuple(-(-n // multiple) * multiple for n in map_size)
        accepts = (f"any D, R >= 1: padded (mirrored) to multiples of {multiple} inside, output "
                   "cropped back to the input's size")
    levels = [{"name": name, "shape": shapes[name], "parameters": sum(p.numel() for p in m.parameters())}
              for name, m in stages]
    return {"config": config, "map_size": tuple(map_size), "levels": levels, "output_shape": tuple(out.shape),
            "parameters": sum(p.numel() for p in net.parameters()), "macs_per_map": macs[0],
            "receptive_field": receptive_field(config), "inside": inside, "accepts": accepts}


def receptive_field(config: UNetConfig) -> tuple[int, int]:
    """Input cells connected to one central output cell, (Doppler, range) extent.

    Measured by a gradient through the network made all-positive (weights |w|, input > 0,
    so no ReLU is dead) with its max-pools swapped for average pools of the same window
    (a max-pool's gradient reaches one cell of its window; the connectivity is the same)."""
    torch.manual_seed(0)
    net = UNet(config).eval()
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() + 0.01)
    size = 2 ** config.depth * 24
    x = torch.rand(1, config.in_channels, size, size) + 0.5
    x.requires_grad_(True)
    net(x)[0, 0, size // 2, size // 2].backward()
    reached = x.grad[0].abs().sum(0) > 0
    rows, cols = torch.nonzero(reached.any(1)).flatten(), torch.nonzero(reached.any(0)).flatten()
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def render(desc: dict) -> str:
    """The explorer's text table."""
    c = desc["config"]
    padded = desc["inside"]
    lines = [f"{c.arch}: depth {c.depth}, base channels {c.base_channels}, {c.upsampling} upsampling"
             f"{', residual output' if c.residual else ''}{', mask head' if c.mask_head else ''}"
             f"{', convolutions wrapped around Doppler' if c.doppler_wrap else ''}; one map of {desc['map_size'][0]} x {desc['map_size'][1]}"
             f" (Doppler x range), {padded[0]} x {padded[1]} inside", "",
             f"{'level':34s} {'output (B, C, D, R)':>24s} {'parameters':>12s}"]
    for lv in desc["levels"]:
        lines.append(f"{lv['name']:34s} {str(lv['shape']):>24s} {lv['parameters']:>12,d}")
    rf = desc["receptive_field"]
    lines += ["", f"parameters: {desc['parameters']:,d}", f"MACs per map: {desc['macs_per_map'] / 1e9:.3f} G",
              f"receptive field: {rf[0]} x {rf[1]} cells (Doppler x range)", f"input sizes: {desc['accepts']}"]
    return "\n".join(lines)
