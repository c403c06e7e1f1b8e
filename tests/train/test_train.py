import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rd_unet.config import TrainConfig, UNetConfig
from rd_unet.model.checkpoint import CheckpointError, load_model, read_checkpoint
from rd_unet.model.inference import pick_device
from rd_unet.train.loop import train

SMALL = UNetConfig(depth=2, base_channels=4)


def cfg_for(data, out, **kw):
    base = dict(data=str(data), output=str(out), epochs=2, batch_size=8, model=SMALL, seed=3, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_validation_loss_and_writes_everything(tiny_dataset, tmp_path):
    result = train(cfg_for(tiny_dataset, tmp_path / "run", epochs=4), progress=False)
    h = result["history"]
    assert h["val_loss"][-1] < h["val_loss"][0]
    for name in ("last.pt", "best.pt", "metrics.csv", "loss_curve.png"):
        assert (tmp_path / "run" / name).is_file(), name
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,val_loss,lr,maps_per_s" and len(rows) == 5


def test_checkpoint_round_trip_weights_only(tiny_dataset, tmp_path):
    train(cfg_for(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)   # plain tensors and containers
    for key in ("model", "optimizer", "scaler", "step", "epoch", "model_config", "normalization",
                "train_config", "package_version"):
        assert key in state
    model = load_model(tmp_path / "run" / "last.pt")          # rebuilt from the checkpoint alone
    model2 = load_model(tmp_path / "run" / "last.pt")
    x = torch.rand(2, 1, 21, 45) * 5
    with torch.no_grad():
        torch.testing.assert_close(model(x), model2(x), rtol=0, atol=0)
    assert model.unet.config == SMALL
    # a checkpoint of version 0.2 has no target_floor: it was trained on the targets alone
    del state["normalization"]["target_floor"]
    torch.save(state, tmp_path / "old.pt")
    assert read_checkpoint(tmp_path / "old.pt")["normalization"]["target_floor"] == 0.0
    # nor, before 0.6, a passthrough: such a model outputs its estimate alone
    del state["normalization"]["passthrough"], state["normalization"]["passthrough_db"]
    torch.save(state, tmp_path / "old06.pt")
    assert load_model(tmp_path / "old06.pt").normalization.passthrough is False
    # nor, before 0.8, flip averaging: such a model runs the network once
    del state["normalization"]["flip_average"]
    torch.save(state, tmp_path / "old07.pt")
    assert load_model(tmp_path / "old07.pt").normalization.flip_average is False


def test_with_normalization_changes_the_passthrough_and_nothing_else(tiny_dataset, tmp_path):
    from rd_unet.model.checkpoint import with_normalization
    train(cfg_for(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    src = tmp_path / "run" / "last.pt"
    dst = with_normalization(src, tmp_path / "pt.pt", passthrough=True, passthrough_db=3.0)
    a, b = read_checkpoint(src), read_checkpoint(dst)
    assert b["normalization"] == {**a["normalization"], "passthrough": True, "passthrough_db": 3.0}
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k])
    model = load_model(dst)
    assert model.normalization.passthrough and model.normalization.passthrough_db == 3.0
    with pytest.raises(FileExistsError, match="pt.pt: exists"):               # never overwrites
        with_normalization(src, dst, passthrough=False)
    assert read_checkpoint(dst)["normalization"]["passthrough"] is True
    with pytest.raises(ValueError, match="passthrough_db"):                   # checked like any config
        with_normalization(src, tmp_path / "bad.pt", passthrough_db=float("nan"))
    assert not (tmp_path / "bad.pt").exists()


def test_resume_equals_uninterrupted(tiny_dataset, tmp_path):
    full = train(cfg_for(tiny_dataset, tmp_path / "full", epochs=3, flip=True, crop=(16, 32)), progress=False)
    train(cfg_for(tiny_dataset, tmp_path / "part", epochs=1, flip=True, crop=(16, 32)), progress=False)
    resumed = train(cfg_for(tiny_dataset, tmp_path / "part", epochs=3, flip=True, crop=(16, 32), resume=True),
                    progress=False)
    np.testing.assert_allclose(resumed["history"]["train_loss"], full["history"]["train_loss"], rtol=1e-6)
    a = read_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = read_checkpoint(tmp_path / "part" / "last.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)


def test_streaming_equals_in_memory(tiny_dataset, tmp_path):
    a = train(cfg_for(tiny_dataset, tmp_path / "mem", epochs=1, in_memory="yes"), progress=False)
    b = train(cfg_for(tiny_dataset, tmp_path / "lazy", epochs=1, in_memory="no", num_workers=1), progress=False)
    np.testing.assert_allclose(a["history"]["train_loss"], b["history"]["train_loss"], rtol=1e-5)


def test_resume_without_checkpoint_is_an_error(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train(cfg_for(tiny_dataset, tmp_path / "none", resume=True), progress=False)


def test_bad_checkpoints_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_model(junk)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an rd_unet checkpoint"):
        load_model(tmp_path / "other.pt")


def test_device_selection():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_gloo(tiny_dataset, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}",
           "-m", "rd_unet", "train", "--data", str(tiny_dataset), "--output", str(tmp_path / "ddp"),
           "--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-channels", "4", "--device", "cpu", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = read_checkpoint(tmp_path / "ddp" / "last.pt")
    # two ranks share the epoch: each takes 43 // 2 = 21 of the training maps, in batches of 4
    assert state["step"] == -(-21 // 4)
    assert (tmp_path / "ddp" / "metrics.csv").read_text().count("\n") == 2   # only rank 0 writes


@pytest.mark.slow
def test_ddp_uneven_dataset_and_fewer_validation_maps_than_ranks(tmp_path):
    """33 maps, 2 ranks, batch 16, one validation map: was a hang (17 maps on one rank,
    16 on the other, so 2 steps against 1). Now each rank takes 33 // 2 = 16 maps."""
    from rd_unet.config import load_scenario
    from rd_unet.data.generate import generate_dataset
    data = generate_dataset(load_scenario("tiny"), tmp_path / "t.h5", num_maps=33, seed=1, progress=False)
    val = generate_dataset(load_scenario("tiny"), tmp_path / "v.h5", num_maps=1, seed=2, progress=False)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "rd_unet", "train", "--data", str(data), "--val", str(val),
           "--output", str(tmp_path / "ddp"), "--epochs", "2", "--batch-size", "16", "--depth", "2",
           "--base-channels", "4", "--device", "cpu", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = read_checkpoint(tmp_path / "ddp" / "last.pt")
    assert state["step"] == 2 and np.isfinite(state["history"]["val_loss"]).all()


def test_time_limited_resume_continues_the_schedule(tiny_dataset, tmp_path, monkeypatch):
    """A clock that advances 60 s per reading and a 3-minute budget plan 3 epochs. A run
    killed after its first epoch and resumed follows the uninterrupted run's learning
    rates and losses (the budget counts both sessions; the plan is kept in last.pt)."""
    import itertools

    from rd_unet.train import loop

    def clock():
        ticks = itertools.count()
        return lambda: 60.0 * next(ticks)

    cfg = dict(epochs=10, time_limit_min=3.0, flip=True)
    monkeypatch.setattr(loop, "_clock", clock())
    full = train(cfg_for(tiny_dataset, tmp_path / "full", **cfg), progress=False)["history"]
    assert len(full["epoch"]) == 3

    def killed(run, epoch):
        raise KeyboardInterrupt
    monkeypatch.setattr(loop, "_clock", clock())
    monkeypatch.setattr(loop, "_should_stop", killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg_for(tiny_dataset, tmp_path / "part", **cfg), progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(loop, "_clock", clock())
    resumed = train(cfg_for(tiny_dataset, tmp_path / "part", resume=True, **cfg), progress=False)["history"]
    np.testing.assert_allclose(resumed["lr"], full["lr"], rtol=1e-12)
    np.testing.assert_allclose(resumed["train_loss"], full["train_loss"], rtol=1e-6)


def test_time_limit_plans_the_schedule_to_end_in_budget(tiny_dataset, tmp_path):
    # a budget far below one epoch: the plan shrinks to the one epoch that ran
    result = train(cfg_for(tiny_dataset, tmp_path / "run", epochs=50, time_limit_min=1e-6), progress=False)
    assert len(result["history"]["epoch"]) == 1


def test_patience_stops_training(tiny_dataset, tmp_path):
    result = train(cfg_for(tiny_dataset, tmp_path / "run", epochs=30, lr=1e-9, patience=2), progress=False)
    assert len(result["history"]["epoch"]) < 30


def test_target_weight_hand_case():
    from rd_unet.train.loop import make_loss
    plain = make_loss(TrainConfig())
    weighted = make_loss(TrainConfig(target_weight=9.0))
    target = torch.tensor([[-1.5, -1.5, 0.5, 1.0]])         # two background cells, two target cells
    out = torch.tensor([[-1.0, -1.5, 0.0, 1.0]])            # errors 0.5, 0, 0.5, 0
    assert plain(out, target).item() == pytest.approx((0.25 + 0.25) / 4)
    assert weighted(out, target).item() == pytest.approx((0.25 + 10 * 0.25) / 4)
    assert weighted(out, target, reduction="sum").item() == pytest.approx(0.25 + 10 * 0.25)


def test_peak_weight_counts_target_free_cells_the_input_singles_out():
    import math

    from rd_unet.train.loop import make_loss
    # the input is 10 log10(p / floor + eps) / 20: 8 dB and 6 dB over the floor, by hand
    eight_db, six_db = math.log10(10 ** 0.8 + 1e-3) / 2, math.log10(10 ** 0.6 + 1e-3) / 2
    x = torch.tensor([[eight_db, six_db, eight_db, -0.2]])
    target = torch.tensor([[-1.5, -1.5, 0.5, 0.5]])     # two target-free cells, then two target cells
    out = target + 0.5                                  # squared error 0.25 everywhere
    both = make_loss(TrainConfig(target_weight=2.0, peak_weight=4.0, peak_threshold_db=7.0))
    # the 8 dB noise peak counts 5, the 6 dB cell 1, both target cells 3 (whatever their input)
    assert both(out, target, x, reduction="sum").item() == pytest.approx(0.25 * (5 + 1 + 3 + 3))
    assert both(out, target, x).item() == pytest.approx(0.25 * 12 / 4)
    # a threshold above 8 dB: no cell is a peak
    higher = make_loss(TrainConfig(target_weight=2.0, peak_weight=4.0, peak_threshold_db=8.5))
    assert higher(out, target, x, reduction="sum").item() == pytest.approx(0.25 * (1 + 1 + 3 + 3))
    with pytest.raises(ValueError, match="the network's input"):
        both(out, target)


def test_target_floor_puts_the_clean_map_on_the_mean_noise_floor():
    import math

    from rd_unet.config import NormalizationConfig
    from rd_unet.data.dataset import normalize_pair
    from rd_unet.data.normalize import from_network
    from rd_unet.train.loop import make_loss

    rng = np.random.default_rng(0)
    noisy = rng.exponential(3.0, size=(2, 9, 11)).astype(np.float32)       # 99 cells: median is the 50th
    clean = np.zeros_like(noisy)
    floor = np.sort(noisy.reshape(2, -1), axis=1)[:, 49] / math.log(2)     # the documented estimate, by hand
    clean[:, 4, 5] = 1.2 * floor                                           # just above the floor
    clean[:, 2, 3] = 0.8 * floor                                           # just below it
    norm = NormalizationConfig(target_floor=1.0)
    _, y = normalize_pair(noisy, clean, norm)
    f = torch.from_numpy(floor.astype(np.float32))[:, None, None, None]
    # the inverse transform gives the targets on one mean noise floor
    torch.testing.assert_close(from_network(y, f, norm)[:, 0], torch.from_numpy(clean) + f[:, 0], rtol=1e-5, atol=0)
    # an empty cell sits at 10 log10(1 + eps) / 20 (0 dB): a target the network misses costs little
    assert y[0, 0, 0, 0].item() == pytest.approx(10 * math.log10(1.001) / 20, abs=1e-6)
    # target weighting and masks count clean > floor as target, whatever the target floor
    loss = make_loss(TrainConfig(target_weight=9.0, normalization=norm))
    for cell, weight in (((4, 5), 10.0), ((2, 3), 1.0), ((0, 0), 1.0)):
        out = y.clone()
        out[0, 0, cell[0], cell[1]] += 0.5
        assert loss(out, y, reduction="sum").item() == pytest.approx(weight * 0.25, rel=1e-5)


def test_init_fine_tunes_from_a_checkpoint(tiny_dataset, tmp_path):
    train(cfg_for(tiny_dataset, tmp_path / "a", epochs=1), progress=False)
    start = read_checkpoint(tmp_path / "a" / "best.pt")
    # no model options: the architecture and normalisation come from the checkpoint;
    # a vanishing learning rate leaves the initial weights in place
    tuned = TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "b"), epochs=1, batch_size=8, seed=5,
                        lr=1e-12, init=str(tmp_path / "a" / "best.pt"))
    train(tuned, progress=False)
    end = read_checkpoint(tmp_path / "b" / "last.pt")
    assert end["model_config"] == start["model_config"]
    weights = [k for k in start["model"] if k.endswith("weight")]
    assert weights
    for k in weights:
        torch.testing.assert_close(end["model"][k], start["model"][k], rtol=1e-6, atol=1e-7)
    # the same run from scratch starts elsewhere
    train(cfg_for(tiny_dataset, tmp_path / "c", epochs=1, seed=5, lr=1e-12), progress=False)
    scratch = read_checkpoint(tmp_path / "c" / "last.pt")
    assert any(not torch.allclose(scratch["model"][k], start["model"][k]) for k in weights)
    # fine-tuning may change the training target (target_floor) but keeps the input representation
    from rd_unet.config import NormalizationConfig
    retarget = TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "d"), epochs=1, batch_size=8, lr=1e-12,
                           init=str(tmp_path / "a" / "best.pt"),
                           normalization=NormalizationConfig(eps=0.5, target_floor=1.0))
    train(retarget, progress=False)
    norm = read_checkpoint(tmp_path / "d" / "last.pt")["normalization"]
    assert norm["target_floor"] == 1.0 and norm["eps"] == start["normalization"]["eps"] == 1e-3
    # the passthrough is kept unless the run sets another value (its cut's default, 10 dB,
    # once overrode a checkpoint's 15 dB)
    from rd_unet.model.checkpoint import with_normalization
    pt = with_normalization(tmp_path / "a" / "best.pt", tmp_path / "pt.pt", passthrough=True, passthrough_cut_db=15.0)
    for out, norm_cfg, cut in [("e", NormalizationConfig(), 15.0), ("f", NormalizationConfig(passthrough_cut_db=6.0), 6.0)]:
        train(TrainConfig(data=str(tiny_dataset), output=str(tmp_path / out), epochs=1, batch_size=8, lr=1e-12,
                          init=str(pt), normalization=norm_cfg), progress=False)
        norm = read_checkpoint(tmp_path / out / "last.pt")["normalization"]
        assert norm["passthrough"] is True and norm["passthrough_cut_db"] == cut, out
    # a field the run names is set even to its default: the passthrough off, the cut back to 10 dB
    train(TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "g"), epochs=1, batch_size=8, lr=1e-12,
                      init=str(pt), init_overrides=("passthrough", "passthrough_cut_db")), progress=False)
    norm = read_checkpoint(tmp_path / "g" / "last.pt")["normalization"]
    assert norm["passthrough"] is False and norm["passthrough_cut_db"] == 10.0
    with pytest.raises(ValueError, match="'eps' cannot be changed in fine-tuning"):
        train(TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "h"), epochs=1, batch_size=8,
                          init=str(pt), init_overrides=("eps",)), progress=False)


def test_init_may_switch_doppler_wrap_on_and_keeps_the_rest_of_the_model(tiny_dataset, tmp_path):
    train(cfg_for(tiny_dataset, tmp_path / "a", epochs=1), progress=False)
    start = read_checkpoint(tmp_path / "a" / "best.pt")
    assert start["model_config"]["doppler_wrap"] is False
    train(TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "b"), epochs=1, batch_size=8, lr=1e-12,
                      init=str(tmp_path / "a" / "best.pt"), model=UNetConfig(doppler_wrap=True)), progress=False)
    end = read_checkpoint(tmp_path / "b" / "last.pt")
    assert end["model_config"] == dict(start["model_config"], doppler_wrap=True)
    for k in (k for k in start["model"] if k.endswith("weight")):
        torch.testing.assert_close(end["model"][k], start["model"][k], rtol=1e-6, atol=1e-7)
    # and the run's other model options must still match the checkpoint's
    with pytest.raises(ValueError, match="only doppler_wrap may be switched on"):
        train(TrainConfig(data=str(tiny_dataset), output=str(tmp_path / "c"), epochs=1, batch_size=8,
                          init=str(tmp_path / "a" / "best.pt"), model=UNetConfig(depth=2, doppler_wrap=True)),
              progress=False)


def test_init_rejects_a_conflicting_model_and_a_missing_checkpoint(tiny_dataset, tmp_path):
    train(cfg_for(tiny_dataset, tmp_path / "a", epochs=1), progress=False)
    with pytest.raises(ValueError, match="leave the model options out"):
        train(cfg_for(tiny_dataset, tmp_path / "b", model=UNetConfig(depth=3, base_channels=4),
                      init=str(tmp_path / "a" / "best.pt")), progress=False)
    with pytest.raises(ValueError, match="--init: nowhere.pt: no such checkpoint file or shipped model"):
        train(cfg_for(tiny_dataset, tmp_path / "c", init="nowhere.pt"), progress=False)


def test_a_checkpoint_that_would_run_code_is_refused_without_torchs_advice(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code from the file ran",))
    torch.save({"format": "x", "model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "evil.pt")
    assert "refused" in str(err.value) and "weights_only" not in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "junk.pt")
    assert "not a loadable checkpoint" in str(err.value) and "weights_only" not in str(err.value)


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu"])
def test_unknown_devices_rejected_with_the_choices(name):
    with pytest.raises(ValueError, match=f"--device {name}: expected auto, cpu, cuda, cuda:N or mps"):
        pick_device(name)


def test_mask_head_trains_and_evaluate_scores_it(tiny_dataset, tmp_path):
    """--mask-head: a second output trained with BCE + Dice beside the MSE map; evaluate adds
    unet_mask, thresholded on its probability at calibrated Pfa like every method."""
    from rd_unet.config import replace_nested
    from rd_unet.eval.report import EvalConfig, evaluate
    cfg = replace_nested(cfg_for(tiny_dataset, tmp_path / "run", epochs=2), **{"model.mask_head": True})
    result = train(cfg, progress=False)
    assert np.isfinite(result["history"]["val_loss"]).all()
    model = load_model(tmp_path / "run" / "best.pt")
    x = torch.rand(2, 1, 32, 64) * 3
    with torch.no_grad():
        clean, prob = model.outputs(x)
    assert clean.shape == prob.shape == (2, 1, 32, 64) and float(prob.min()) >= 0 and float(prob.max()) <= 1
    report = evaluate(tiny_dataset, tmp_path / "run" / "best.pt", tmp_path / "rep",
                      EvalConfig(num_panels=0, calibration_maps=100), progress=False)
    m = report["methods"]["unet_mask"]
    assert m["pd_at_pfa"]["1e-2"] is not None and m["erased_fraction"] is None


def test_mask_losses_hand_cases():
    from rd_unet.train.loop import bce_dice_loss, dice_loss, focal_dice_loss
    mask = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert float(dice_loss(mask, mask)) == pytest.approx(0.0)
    assert float(dice_loss(1 - mask, mask)) == pytest.approx(1 - 1 / 5)    # (0 + 1) / (2 + 2 + 1)
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    p = torch.sigmoid(logits)
    bce = -(mask * torch.log(p) + (1 - mask) * torch.log(1 - p)).mean()
    assert float(bce_dice_loss(logits, mask)) == pytest.approx(float(bce + dice_loss(p, mask)), rel=1e-6)
    # focal weighs confident cells down: below alpha-weighted BCE
    assert float(focal_dice_loss(logits, mask)) - float(dice_loss(p, mask)) < float(bce)


def test_floor_profile_normalises_training_pairs_per_range_column():
    """With floor_profile the training pair is normalised as the Denoiser normalises at
    inference: on noise maps whose floor rises 10 dB over range, the input's medians over
    blocks of 8 range columns of 4 maps (2048 cells each: 0.13 dB of sampling error) come out
    flat (within 1 dB of each other, the profile's own error included), and a target 20 dB
    above its column's mean noise reads 20 dB in every column (within 1.5 dB: one column's
    profile error), wherever the floor is; with one floor per map the input keeps the slope."""
    from rd_unet.config import NormalizationConfig
    from rd_unet.data.dataset import normalize_pair

    rng = np.random.default_rng(7)
    gain = 10 ** (np.linspace(0.0, 10.0, 96) / 10)
    noisy = (rng.exponential(1.0, size=(4, 64, 96)) * gain).astype(np.float32)
    clean = np.zeros_like(noisy)
    clean[:, 10, :] = 100.0 * gain                                         # 20 dB over each column's mean
    for profile in (True, False):
        x, y = normalize_pair(noisy, clean, NormalizationConfig(floor_profile=profile, scale_db=10.0))
        blocks = (10 ** x[:, 0].numpy()).reshape(4, 64, 12, 8).transpose(2, 0, 1, 3).reshape(12, -1)
        block_db = 10 * np.log10(np.median(blocks, axis=1))[1:-1]               # past the edge columns
        spread = block_db.max() - block_db.min()
        if profile:
            assert spread < 1.0
            row = y[:, 0, 10].numpy() * 10                                      # dB re each column's floor
            assert np.all(np.abs(row[:, 8:-8] - 20.0) < 1.5)
        else:
            assert spread > 7.0


def test_target_noise_keeps_a_fraction_of_the_thermal_noise_alone(tmp_path, tiny):
    import math

    from rd_unet.config import NormalizationConfig
    from rd_unet.data.dataset import load_normalized, normalize_pair
    from rd_unet.data.generate import generate_dataset
    from rd_unet.data.hdf5 import DatasetFormatError
    from rd_unet.data.normalize import from_network

    rng = np.random.default_rng(1)
    noisy = rng.exponential(2.0, size=(2, 9, 11)).astype(np.float32)
    noise = rng.exponential(1.0, size=noisy.shape).astype(np.float32)
    clean = np.zeros_like(noisy)
    clean[:, 4, 5] = 7.0
    floor = np.sort(noisy.reshape(2, -1), axis=1)[:, 49] / math.log(2)     # the documented estimate, by hand
    norm = NormalizationConfig(target_noise=0.1)
    _, y = normalize_pair(noisy, clean, norm, noise)
    f = torch.from_numpy(floor.astype(np.float32))[:, None, None, None]
    torch.testing.assert_close(from_network(y, f, norm)[:, 0], torch.from_numpy(clean + 0.1 * noise),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="thermal noise alone"):
        normalize_pair(noisy, clean, norm)
    # from files: one simulated with --store-noise trains; one without is refused by name
    with_noise = generate_dataset(tiny, tmp_path / "n.h5", num_maps=8, seed=2, store_noise=True, progress=False)
    x, y = load_normalized(with_noise, np.arange(8), norm)
    assert x.shape == y.shape == (8, 1) + tuple(x.shape[2:])
    without = generate_dataset(tiny, tmp_path / "p.h5", num_maps=8, seed=2, progress=False)
    with pytest.raises(DatasetFormatError, match=r"p\.h5: no 'noise' dataset.*--store-noise"):
        load_normalized(without, np.arange(8), norm)
    run = cfg_for(with_noise, tmp_path / "run", epochs=1, normalization=norm)
    train(run, progress=False)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["normalization"]["target_noise"] == 0.1
    # fine-tuning keeps the checkpoint's target, so a file without noise is refused, naming why
    with pytest.raises(DatasetFormatError, match=r"p\.h5: no 'noise' dataset.*--init checkpoint"):
        train(TrainConfig(data=str(without), output=str(tmp_path / "ft"), epochs=1, batch_size=8,
                          init=str(tmp_path / "run" / "last.pt")), progress=False)


def test_peak_weight_trains_and_travels_in_the_checkpoint(tiny_dataset, tmp_path):
    # the loop hands the input to the loss (a peak weight without it raises)
    result = train(cfg_for(tiny_dataset, tmp_path / "run", epochs=1, target_weight=3.0, peak_weight=3.0,
                           peak_threshold_db=5.0), progress=False)
    assert np.isfinite(result["history"]["val_loss"][0])
    cfg = read_checkpoint(tmp_path / "run" / "last.pt")["train_config"]
    assert (cfg["peak_weight"], cfg["peak_threshold_db"]) == (3.0, 5.0)


def test_streaming_a_file_without_axes_matches_training_in_memory(tiny_dataset, tmp_path):
    # a file of crops from many radars (simulations/train_pretrained.py) has maps but no
    # range/velocity axes; streamed from disk it must train exactly as when loaded into RAM
    import h5py
    crops = tmp_path / "crops.h5"
    with h5py.File(tiny_dataset, "r") as f, h5py.File(crops, "w") as out:
        for name in ("noisy", "clean"):
            out.create_dataset(name, data=f[name][()], chunks=(1,) + f[name].shape[1:])
    losses = []
    for mode in ("yes", "no"):
        result = train(cfg_for(crops, tmp_path / mode, epochs=1, in_memory=mode), progress=False)
        losses.append(result["history"]["val_loss"][0])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_a_peak_threshold_that_is_not_a_number_is_rejected():
    from rd_unet.config import ConfigError
    with pytest.raises(ConfigError, match="peak_threshold_db: expected a finite number, got nan"):
        TrainConfig(peak_threshold_db=float("nan"))


def _level_by_loops(x_db, d, r, half=4):
    n_d, n_r = x_db.shape
    cells = [x_db[(d + i) % n_d, r + j] for i in range(-half, half + 1) for j in range(-half, half + 1)
             if 0 <= r + j < n_r]
    return max(0.0, float(np.mean(cells)))


def test_clutter_level_is_the_mean_db_of_the_9x9_neighbourhood_wrapping_doppler_only():
    from rd_unet.train.loop import clutter_level_db
    rng = np.random.default_rng(8)
    x_db = rng.normal(-2.0, 8.0, size=(12, 10))
    x_db[2:5, :] += 25.0                          # a band, near the top: its window wraps to the bottom rows
    got = clutter_level_db(torch.tensor(x_db / 20.0)[None, None], scale_db=20.0)[0, 0].numpy()
    want = np.array([[_level_by_loops(x_db, d, r) for r in range(10)] for d in range(12)])
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_clutter_weight_lifts_target_cells_in_proportion_to_the_clutter_around_them():
    from rd_unet.train.loop import make_loss
    x = torch.full((1, 1, 16, 16), -2.5 / 20)     # the input: noise, -2.5 dB mean log level
    x[..., :, 8:] = 20.0 / 20                     # the right half: clutter 20 dB over the floor
    target = torch.full_like(x, -1.5)
    target[..., 5, 2] = target[..., 5, 12] = target[..., 5, 8] = 0.5   # targets: in noise, in clutter, at its edge
    out = target + 0.5                            # squared error 0.25 everywhere
    loss = make_loss(TrainConfig(target_weight=1.0, clutter_weight=3.0))
    # cell by cell: in noise 1 + 1; deep in the clutter 1 + 1 + 3 x 20 / 10; at the edge, the
    # window (columns 4..12) holds 5 clutter columns of 9: 20 x 5/9 - 2.5 x 4/9 = 10 dB
    want = 0.25 * (256 - 3 + 2 + 8 + (2 + 3 * 1.0))
    assert loss(out, target, x, reduction="sum").item() == pytest.approx(want, rel=1e-5)
    assert make_loss(TrainConfig(target_weight=1.0))(out, target, x, reduction="sum").item() == pytest.approx(
        0.25 * (256 - 3 + 3 * 2), rel=1e-5)
    with pytest.raises(ValueError, match="need the network's input"):
        loss(out, target)
