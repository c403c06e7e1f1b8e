"""A fine-tune's record of the stage it started from (simulations/train_pretrained.py):
the chain of stages is the shipped model's provenance (the model card's "Reproduce")."""
import json

from rd_unet.config import NormalizationConfig, UNetConfig
from rd_unet.model.checkpoint import save_checkpoint
from rd_unet.model.unet import UNet
from simulations.train_pretrained import previous_stage


def _checkpoint(path, card=None):
    cfg = UNetConfig(depth=1, base_channels=2)
    save_checkpoint(path, model=UNet(cfg), model_config=cfg, normalization=NormalizationConfig(),
                    extra={"model_card": card} if card is not None else None)
    return path


def test_the_record_inside_the_checkpoint_is_used_when_no_json_sits_beside_it(tmp_path):
    older = {"init": None, "mixture": "base", "lr": 2e-3}
    card = {"init": "stage1.pt", "mixture": "broad7", "lr": 1e-4, "history": {"epoch": [0]},
            "previous_stage": older}
    init = _checkpoint(tmp_path / "stage2.pt", card)
    record = previous_stage(str(init))
    assert record["mixture"] == "broad7" and record["lr"] == 1e-4
    assert record["previous_stage"] == older           # the whole chain comes along
    assert "history" not in record                     # per-epoch losses stay with their stage


def test_a_json_beside_the_checkpoint_wins_over_the_record_inside(tmp_path):
    # the json is where a chain was attached by hand (0.8's stage 12); it is the fuller record
    init = _checkpoint(tmp_path / "stage2.pt", {"mixture": "inside", "lr": 1e-4})
    (tmp_path / "stage2.json").write_text(json.dumps({"mixture": "beside", "history": {"epoch": [0, 1]}}))
    assert previous_stage(str(init)) == {"mixture": "beside"}


def test_a_checkpoint_without_a_record_has_no_previous_stage(tmp_path):
    # trained by `rd-unet train`, not by train_pretrained.py: nothing to chain to
    assert previous_stage(str(_checkpoint(tmp_path / "plain.pt"))) is None
