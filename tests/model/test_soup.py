"""rd_unet.model.checkpoint.average_weights: the weight average ("model soup") the shipped
model 0.14 is, and its refusals."""
import numpy as np
import pytest
import torch

from rd_unet.config import NormalizationConfig, UNetConfig
from rd_unet.model.checkpoint import average_weights, load_model, read_checkpoint, save_checkpoint
from rd_unet.model.unet import UNet

SMALL = UNetConfig(depth=1, base_channels=2)


def _ckpt(path, seed, cfg=SMALL, **norm):
    torch.manual_seed(seed)
    net = UNet(cfg)
    with torch.no_grad():                              # a fresh network's output layer starts at zero
        for t in net.parameters():
            t.normal_(0.0, 0.3)
    save_checkpoint(path, model=net, model_config=cfg, normalization=NormalizationConfig(**norm),
                    extra={"model_card": {"name": f"s{seed}"}})
    return path


def test_the_average_lies_on_the_segment_between_the_two_at_the_given_fraction(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 0), _ckpt(tmp_path / "b.pt", 1)
    out = average_weights([a, b], [0.25, 0.75], tmp_path / "s.pt")
    ta, tb, ts = (read_checkpoint(p)["model"] for p in (a, b, out))
    moved = 0
    for name, t in ts.items():
        if not t.is_floating_point():
            assert torch.equal(t, ta[name])             # counters taken from the first
            continue
        da, db = (ts[name] - ta[name]).double(), (tb[name] - ts[name]).double()
        # three quarters of the way from a to b: the step from a is three times the rest
        torch.testing.assert_close(da, 3 * db, atol=1e-6, rtol=1e-5)
        moved += int(db.abs().sum() > 0)
    assert moved > 0
    state = read_checkpoint(out)
    assert state["optimizer"] is None and state["extra"]["model_card"] == {"name": "s0"}


def test_a_weight_of_one_reproduces_that_checkpoint_and_its_outputs(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 0), _ckpt(tmp_path / "b.pt", 1)
    out = average_weights([a, b], [0.0, 1.0], tmp_path / "s.pt")
    x = torch.from_numpy(np.random.default_rng(0).exponential(1.0, (2, 1, 16, 24)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(load_model(out).unet(x), load_model(b).unet(x))
        assert not torch.allclose(load_model(out).unet(x), load_model(a).unet(x))


def test_mismatched_networks_and_bad_weights_are_refused_and_nothing_is_written(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 0), _ckpt(tmp_path / "b.pt", 1)
    other = _ckpt(tmp_path / "c.pt", 2, UNetConfig(depth=2, base_channels=2))
    for srcs, weights, message in (([a, other], [0.5, 0.5], "checkpoint 2 is another network"),
                                   ([a, b], [0.5, 0.6], "summing to 1"),
                                   ([a, b], [1.5, -0.5], "non-negative"),
                                   ([a], [1.0], "two or more checkpoints"),
                                   ([a, b], [1.0], "one weight each")):
        with pytest.raises(ValueError, match=message):
            average_weights(srcs, weights, tmp_path / "s.pt")
    with pytest.raises(FileExistsError, match="exists"):
        average_weights([a, b], [0.5, 0.5], b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt", "c.pt"]
