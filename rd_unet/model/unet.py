"""UNet(UNetConfig): any input size, output shape equal to input shape."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from rd_unet.config import NormalizationConfig, UNetConfig
from rd_unet.data.normalize import from_network, map_floor, to_network
from rd_unet.model.parts import DoubleConv, Down, OutConv, ResBlock, ResStage, Up, center_crop


def mirror_pad(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Extend ``x`` (B, C, D, R) by ``pad`` cells at the far end of ``dim`` with its mirror image about
    the last cell, that cell not repeated (numpy's ``reflect``): the padding has the
    map's own texture. Edge replication, used until 0.10, repeats the last row or column
    ``pad`` times, a streak of identical cells the network reads as a ridge of clutter
    or a target (on the odd-size stress scenario it cost 0.014 of partial AUC). A map
    shorter than the pad is mirrored once, then its last cell repeated.

    Written with flip, narrow and cat rather than ``F.pad(mode="reflect")`` (which needs
    ``pad < size``) so that one exported graph serves every map size.
    """
    if dim not in (-1, -2, x.dim() - 1, x.dim() - 2):
        raise ValueError(f"mirror_pad pads the last two axes (Doppler, range), got dim={dim} of a {x.dim()}-d tensor")
    n = x.shape[dim]
    mirror = torch.flip(x, [dim]).narrow(dim, min(1, n - 1), min(pad, n - 1))
    y = torch.cat([x, mirror], dim=dim)
    rest = n + pad - y.shape[dim]                      # > 0 only where n <= pad
    last = dim in (-1, x.dim() - 1)
    return F.pad(y, (0, rest, 0, 0) if last else (0, 0, 0, rest), mode="replicate")


class UNet(nn.Module):
    """U-Net: ``depth`` levels of DoubleConv + max-pool, a bottleneck, and mirrored
    up-sampling with skip concatenation; widths ``base_channels * 2**level``.

    ``config.arch`` picks the family member: ``unet`` (padded, as above),
    ``residual-unet`` (residual blocks in encoder and decoder), ``attention-unet``
    (additive attention gates on the skips), ``resnet-unet`` (a ResNet-18-style encoder:
    stages of two residual blocks, the first strided, no max-pool; a U-Net decoder).

    forward: (B, C_in, D, R) -> (B, C_out, D, R) for any D, R >= 1. Inputs whose
    sizes are not multiples of 2**depth are extended at the far ends by their mirror
    image (``mirror_pad``) and the output is cropped back.
    """

    def __init__(self, config: UNetConfig = UNetConfig(), tile: int = 0):
        super().__init__()
        self.config = config
        self.tile = tile          # unet-valid: output cells per tile of the overlap-tile inference (0: whole map)
        widths = [config.base_channels * 2 ** level for level in range(config.depth + 1)]
        arch = config.arch
        block = partial(ResBlock if arch in ("residual-unet", "resnet-unet") else DoubleConv,
                        wrap=config.doppler_wrap)
        if arch == "unet-valid":
            block = partial(DoubleConv, padding=0)
        self.inc = block(config.in_channels, widths[0])
        if arch == "resnet-unet":       # ResNet-18-style encoder: stages of two residual blocks, stride 2
            self.downs = nn.ModuleList(ResStage(widths[i], widths[i + 1], wrap=config.doppler_wrap)
                                       for i in range(config.depth))
        else:
            self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], block) for i in range(config.depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], config.upsampling, block=block,
                                    attention=arch == "attention-unet") for i in reversed(range(config.depth)))
        # Residual: no output bias. In the log domain a constant offset is a global power
        # gain; trained with MSE it settles where noise cells (most of the loss) want it
        # and then scales down every target whose features are silent (about -2 dB).
        # Without it, power passes through unchanged where the network has nothing to say.
        self.outc = OutConv(widths[0], config.out_channels, bias=not config.residual)
        if config.residual:   # start as the identity map
            nn.init.zeros_(self.outc.weight)
        # the mask head: target-mask logits beside the map, the last output channel
        self.maskc = OutConv(widths[0], 1) if config.mask_head else None

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """The network itself, no padding: for ``unet-valid`` the output is smaller than the
        input (572 x 572 -> 388 x 388 at depth 4); the other members keep the size of
        inputs whose sides are multiples of 2**depth."""
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        features = y
        y = self.outc(features)
        if self.config.residual:
            y = y + center_crop(x, y.shape[-2:])
        if self.maskc is not None:
            y = torch.cat([y, self.maskc(features)], dim=1)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.arch == "unet-valid":
            return self._overlap_tile(x)
        d, r = x.shape[-2:]
        m = 2 ** self.config.depth
        # always padded (by zero cells when the size divides): one graph for every size, so an
        # exported model (rd-unet export) is not specialised to the size it was traced with
        x = mirror_pad(mirror_pad(x, (-d) % m, -2), (-r) % m, -1)
        return self.core(x)[..., :d, :r]                # (B, C_out (+1 mask), D, R)

    # ----------------------------------------------------------------------------- unet-valid
    def valid_output(self, n: int) -> int | None:
        """Output size of the valid network for input size ``n``; None where a pooling
        would meet an odd size or a size would vanish."""
        for _ in range(self.config.depth):
            n -= 4
            if n <= 0 or n % 2:
                return None
            n //= 2
        n -= 4
        for _ in range(self.config.depth):
            n = 2 * n - 4
        return n if n > 0 else None

    def valid_plan(self, size: int) -> tuple[int, int]:
        """(input size, output size) of the smallest valid input whose output covers ``size``."""
        n = 1
        while True:
            out = self.valid_output(n)
            if out is not None and out >= size:
                return n, out
            n += 1

    def _overlap_tile(self, x: torch.Tensor) -> torch.Tensor:
        """Same-size output from the valid network (Ronneberger et al.'s overlap-tile):
        the map is extended by the network's margin -- circularly in Doppler (the FFT's
        own periodicity), mirrored in range -- and cut into tiles of ``self.tile`` output
        cells (whole map when 0), each fed with its margins. Tiles start at multiples of
        2**depth, so every tile sees the pooling grid of the whole map."""
        d, r = x.shape[-2:]
        (n_d, o_d), o_r = self.valid_plan(d), self.valid_plan(r)[1]
        margin = (n_d - o_d) // 2                       # the same on both axes: a property of depth
        rows = torch.arange(-margin, o_d + margin, device=x.device) % d
        cols = torch.arange(-margin, o_r + margin, device=x.device)
        cols = _mirror(cols, r)
        xp = x[..., rows, :][..., cols]                 # (B, C, o_d + 2 margin, o_r + 2 margin)
        if not self.tile:
            return self.core(xp)[..., :d, :r]
        step = self.tile
        if step % 2 ** self.config.depth:
            raise ValueError(f"tile: expected a multiple of 2**depth = {2 ** self.config.depth}, got {step}")
        channels = self.config.out_channels + int(self.config.mask_head)
        out = torch.empty(x.shape[:-3] + (channels, o_d, o_r), dtype=x.dtype, device=x.device)
        for i in range(0, o_d, step):
            for j in range(0, o_r, step):
                hi, hj = min(step, o_d - i), min(step, o_r - j)
                # tiles whose input would not be a valid size use the next valid one and crop
                ti, tj = self.valid_plan(hi)[0], self.valid_plan(hj)[0]
                block = xp[..., i:i + ti, j:j + tj]
                if block.shape[-2] < ti or block.shape[-1] < tj:        # the last tiles: shift back
                    i0, j0 = max(0, min(i, xp.shape[-2] - ti)), max(0, min(j, xp.shape[-1] - tj))
                    y = self.core(xp[..., i0:i0 + ti, j0:j0 + tj])
                    out[..., i:i + hi, j:j + hj] = y[..., i - i0:i - i0 + hi, j - j0:j - j0 + hj]
                else:
                    out[..., i:i + hi, j:j + hj] = self.core(block)[..., :hi, :hj]
        return out[..., :d, :r]


def _mirror(index: torch.Tensor, n: int) -> torch.Tensor:
    """Indices reflected into [0, n) (mirror without repeating the edge), for any offset."""
    if n == 1:
        return torch.zeros_like(index)
    period = 2 * (n - 1)
    k = index % period
    return torch.where(k < n, k, period - k)


EXTREME_DB = 100.0     # cells this far above the map's noise floor are outliers, not signal
EXTREME_LOGIT = 1e4    # such a cell's mask logit: certain, and still finite


def extreme_cells(power: torch.Tensor, normalization: NormalizationConfig = NormalizationConfig()) -> torch.Tensor:
    """(B,) number of cells of each (B, 1, D, R) map more than EXTREME_DB above its noise floor,
    measured as a Denoiser with ``normalization`` measures it (per range column with
    ``floor_profile``)."""
    floor = map_floor(power, normalization)
    return (power > floor * 10 ** (EXTREME_DB / 10)).flatten(1).sum(1)


class Denoiser(nn.Module):
    """Power in, power out: normalisation -> UNet -> inverse normalisation.

    forward: (B, 1, D, R) linear power -> (B, 1, D, R) linear power, same units.

    With ``pedestal=True`` (the default) the output is the clean-power estimate plus
    a flat floor of ``eps`` times the input's noise floor (-30 dB by default): every
    cell stays positive, so dB displays and CFAR detectors work on the cleaned map.
    ``pedestal=False`` returns the clean-power estimate alone (the exact inverse).
    """

    def __init__(self, unet: UNet, normalization: NormalizationConfig = NormalizationConfig(), pedestal: bool = True):
        super().__init__()
        self.unet = unet
        self.normalization = normalization
        self.pedestal = pedestal

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """(B, 1, D, R) linear power -> (B, 1, D, R) cleaned power."""
        return self.outputs(power)[0]

    def mask(self, power: torch.Tensor, logits: bool = False) -> torch.Tensor:
        """(B, 1, D, R) linear power -> (B, 1, D, R) target probability (models with a mask head);
        ``logits``: the logit instead (the same order; no float32 saturation at 1, which
        detection thresholds need)."""
        if not self.unet.config.mask_head:
            raise ValueError("this model has no mask head (train with --mask-head)")
        return self.outputs(power, logits=logits)[1]

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net on the normalised map, in float32; with ``flip_average`` the mean of its
        outputs over the four flips of the map, each flipped back (every channel: the
        map and, with a mask head, its logits), and with ``doppler_shifts`` > 1 over as many
        circular Doppler shifts of each, each shifted back."""
        flips = ((), (-2,), (-1,), (-2, -1)) if self.normalization.flip_average else ((),)
        n, d = self.normalization.doppler_shifts, x.shape[-2]
        # fewer shifts where the map has fewer rows; none computed from the size when off, so
        # that an exported graph (rd-unet export) does not depend on the traced map's size
        shifts = sorted({round(i * d / n) % d for i in range(n)}) if n > 1 else [0]
        if len(flips) == len(shifts) == 1:
            return self.unet(x).float()
        return sum(self._view(x, dims, k) for dims in flips for k in shifts) / (len(flips) * len(shifts))

    def _view(self, x: torch.Tensor, dims: tuple, k: int) -> torch.Tensor:
        """The U-Net on ``x`` flipped along ``dims`` and rolled ``k`` rows, its output rolled and flipped back."""
        x = x.flip(dims)
        if k:
            return self.unet(x.roll(k, -2)).float().roll(-k, -2).flip(dims)
        return self.unet(x).float().flip(dims)

    def outputs(self, power: torch.Tensor, logits: bool = False):
        """(cleaned power, target probability or None), from one ``network`` call (one pass
        of the U-Net, or four with ``flip_average``)."""
        # (B, 1, 1, 1), or (B, 1, 1, R) with a floor per range column
        floor = map_floor(power, self.normalization)
        x = to_network(power, floor, self.normalization)
        # a cell far above anything a radar map holds (a glitch, a saturated ADC word) must
        # not steer the network's output elsewhere: the network sees the noise floor there,
        # and the cell itself passes through unchanged (rd_unet.clean reports such cells)
        limit = EXTREME_DB / self.normalization.scale_db
        extreme = x > limit
        y = self.network(torch.where(extreme, to_network(floor, floor, self.normalization), x))
        clean = from_network(y[:, :1], floor, self.normalization)
        if self.pedestal:
            clean = clean + self.normalization.eps * floor
        if self.normalization.passthrough:
            # cells the network calls signal keep their measured power (NormalizationConfig)
            norm = self.normalization
            signal = (clean > floor * 10.0 ** (norm.passthrough_db / 10.0)) & (
                clean * 10.0 ** (norm.passthrough_cut_db / 10.0) > power)
            clean = torch.where(signal, torch.maximum(power, clean), clean)
        clean = torch.where(extreme, power, clean)
        if not self.unet.config.mask_head:
            return clean, None
        if logits:
            return clean, torch.where(extreme, EXTREME_LOGIT, y[:, 1:])
        return clean, torch.where(extreme, 1.0, torch.sigmoid(y[:, 1:]))    # sigmoid once, here
