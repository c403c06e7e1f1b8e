"""TrainConfig.doppler_roll: random circular Doppler shifts of the training batches, the
input and its target shifted together (rd_unet.train.loop._augment)."""
import torch

from rd_unet.config import TrainConfig
from rd_unet.train.loop import _augment


def _shift_of(a, b):
    """The circular Doppler shift taking a to b, found by trying every one (None if none)."""
    hits = [k for k in range(a.shape[-2]) if torch.equal(a.roll(k, -2), b)]
    return hits[0] if len(hits) == 1 else None


def test_input_and_target_are_shifted_by_the_same_rows_and_the_shift_varies():
    x = torch.rand(4, 1, 16, 8)
    y = torch.rand(4, 1, 16, 8)
    cfg = TrainConfig(data="unused.h5", doppler_roll=True)
    shifts = set()
    for seed in range(40):
        xa, ya = _augment(x, y, cfg, torch.Generator().manual_seed(seed))
        k = _shift_of(x, xa)
        assert k is not None and _shift_of(y, ya) == k
        shifts.add(k)
    # 40 draws of 16 equally likely shifts: fewer than 8 distinct has probability < 1e-6
    assert len(shifts) >= 8


def test_without_it_the_batches_are_not_shifted():
    x, y = torch.rand(2, 1, 16, 8), torch.rand(2, 1, 16, 8)
    cfg = TrainConfig(data="unused.h5")
    for seed in range(10):
        xa, ya = _augment(x, y, cfg, torch.Generator().manual_seed(seed))
        assert torch.equal(xa, x) and torch.equal(ya, y)
