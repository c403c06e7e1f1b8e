"""simulations/ship_pretrained.py: candidates chained onto the shipped record, the record
inside the shipped checkpoint as well as beside it, and the shipped files agreeing."""
import json

import pytest
import torch

from rd_unet.config import NormalizationConfig, UNetConfig
from rd_unet.model.checkpoint import read_checkpoint, save_checkpoint
from rd_unet.model.unet import UNet
from simulations.ship_pretrained import embed, ship, stage_count

SMALL = UNetConfig(depth=1, base_channels=2)


def _stage(path, name, seed, **record):
    torch.manual_seed(seed)
    save_checkpoint(path, model=UNet(SMALL), model_config=SMALL, normalization=NormalizationConfig(),
                    extra={"model_card": {"init": "somewhere/dev.pt"}})
    path.with_suffix(".json").write_text(json.dumps(dict(record, name=name)))


def test_ship_chains_the_candidates_and_carries_the_record_inside(tmp_path):
    dest = tmp_path / "default.pt"
    old = {"name": "s1", "init": None}
    _stage(dest, "s2", 0, init="data/pretrained/stage1.pt", previous_stage=old, history={"epoch": [1]})
    _stage(tmp_path / "a.pt", "a", 1, init="dev/s2.pt", lr=1e-4, history={"epoch": [1, 2]})
    _stage(tmp_path / "b.pt", "b", 2, init="dev/a.pt", lr=5e-5, history={"epoch": [1, 2, 3]})
    record = ship([tmp_path / "b.pt", tmp_path / "a.pt"], dest)
    # newest first on the command line; the chain runs newest -> oldest through previous_stage
    names, inits, r = [], [], record
    while r:
        names.append(r["name"])
        inits.append(r["init"])
        assert "history" not in r or r is record
        r = r.get("previous_stage")
    assert names == ["b", "a", "s2", "s1"] and stage_count(record) == 4
    assert inits == ["data/pretrained/stage3.pt", "data/pretrained/stage2.pt", "data/pretrained/stage1.pt", None]
    assert record["history"] == {"epoch": [1, 2, 3]}
    state = read_checkpoint(dest)
    assert state["extra"]["model_card"] == record == json.loads(dest.with_suffix(".json").read_text())
    assert state["normalization"]["flip_average"] is True and state["normalization"]["floor_profile"] is True
    newest = read_checkpoint(tmp_path / "b.pt")["model"]
    assert all(torch.equal(state["model"][k], newest[k]) for k in newest)
    assert not list(tmp_path.glob("*.partial"))


def test_embed_writes_the_record_beside_into_the_checkpoint_and_keeps_the_weights(tmp_path):
    dest = tmp_path / "default.pt"
    _stage(dest, "s1", 0, init=None)
    before = read_checkpoint(dest)
    embed(dest)
    after = read_checkpoint(dest)
    assert after["extra"]["model_card"] == {"name": "s1", "init": None}
    assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())
    assert after["normalization"] == before["normalization"]


def test_a_candidate_without_its_record_is_refused(tmp_path):
    dest = tmp_path / "default.pt"
    _stage(dest, "s1", 0, init=None)
    _stage(tmp_path / "a.pt", "a", 1)
    (tmp_path / "a.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"a\.pt: expected a checkpoint with its training record a\.json"):
        ship([tmp_path / "a.pt"], dest)
    assert read_checkpoint(dest)["extra"]["model_card"] == {"init": "somewhere/dev.pt"}    # untouched
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "default.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"default\.json: the shipped model's training record is missing"):
        ship([tmp_path / "a.pt"], dest)



def test_a_soup_with_the_shipped_stage_averages_the_weights_and_records_the_fine_tune(tmp_path):
    dest = tmp_path / "default.pt"
    old = {"name": "s1", "init": None}
    _stage(dest, "s2", 0, init="data/pretrained/stage1.pt", previous_stage=old, lr=2e-4)
    _stage(tmp_path / "b.pt", "b", 1, init="dev/s2.pt", lr=1e-4, history={"epoch": [1]})
    shipped, tuned = read_checkpoint(dest)["model"], read_checkpoint(tmp_path / "b.pt")["model"]
    record = ship([tmp_path / "b.pt"], dest, soup_with_shipped=0.25)
    # the fine-tune of stage 2 chained on as stage 3, then averaged with stage 2
    assert record["name"] == "b" and record["init"] == "data/pretrained/stage2.pt"
    assert record["soup"] == {"with": "data/pretrained/stage2.pt", "weight": 0.25}
    assert record["previous_stage"]["name"] == "s2" and stage_count(record) == 3
    state = read_checkpoint(dest)
    assert state["extra"]["model_card"] == record and state["normalization"]["flip_average"] is True
    for name, t in state["model"].items():
        if t.is_floating_point():    # a quarter of the way from the shipped weights to the fine-tune's
            torch.testing.assert_close(t - shipped[name], (tuned[name] - shipped[name]) / 4, atol=1e-6, rtol=1e-4)
    for bad in ([0.0], [1.0]):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            ship([tmp_path / "b.pt"], dest, soup_with_shipped=bad[0])
    with pytest.raises(ValueError, match="expected one candidate"):
        ship([tmp_path / "b.pt", tmp_path / "b.pt"], dest, soup_with_shipped=0.5)


def test_the_shipped_checkpoint_carries_the_record_shipped_beside_it():
    from simulations.ship_pretrained import SHIPPED
    inside = read_checkpoint(SHIPPED)["extra"]["model_card"]
    assert inside == json.loads(SHIPPED.with_suffix(".json").read_text())
