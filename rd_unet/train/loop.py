"""The training loop: one code path for CPU, CUDA and MPS, single process or DDP.

Randomness: model initialisation from ``seed``; epoch e's shuffling, crops and
flips from a generator seeded by ``(seed, e)``. Nothing else is random, so a run
resumed from ``last.pt`` follows the same trajectory as an uninterrupted one.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from rd_unet.config import NormalizationConfig, TrainConfig, UNetConfig, from_dict, to_dict
from rd_unet.data.dataset import RDMapDataset, load_normalized
from rd_unet.data.hdf5 import open_dataset
from rd_unet.files import atomic_write_text
from rd_unet.model.inference import pick_device
from rd_unet.model.unet import UNet
from rd_unet.model.checkpoint import read_checkpoint, save_checkpoint

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}


def make_loss(cfg: TrainConfig):
    """The configured loss in the normalised domain, ``loss(out, target, x=None)``, with
    optional cell weighting; with a mask head, plus ``mask_weight`` x (BCE or focal + Dice)
    on its logits against the target mask (clean power above the noise floor).

    Weights: a target cell (clean power above the noise floor) counts
    ``1 + target_weight``; a target-free cell whose *input* ``x`` stands more than
    ``peak_threshold_db`` above the floor (a noise peak, clutter, interference) counts
    ``1 + peak_weight``; every other cell 1. A target cell inside clutter also counts
    ``clutter_weight`` per 10 dB of its input neighbourhood's mean log level over the
    floor (``TrainConfig``). Target weighting lifts the cells a weak
    target and a noise peak share (the weighted optimum moves towards the target); a
    peak weight moves it towards the noise peak, keeping noise peaks down
    (docs/normalisation.md measures both)."""
    base = LOSSES[cfg.loss]
    # a clean cell above the noise floor: clean / floor > 1, i.e. a target above
    # 10 log10(1 + target_floor + target_noise + eps) / scale_db in the normalised
    # domain (target_noise: the mean of the noise the target carries)
    norm = cfg.normalization
    above = 10 * math.log10(1 + norm.target_floor + norm.target_noise + norm.eps) / norm.scale_db
    # the input is 10 log10(p / floor + eps) / scale_db: p > 10^(T/10) floor
    peak = 10 * math.log10(10 ** (cfg.peak_threshold_db / 10) + norm.eps) / norm.scale_db

    def map_loss(out, target, x=None, reduction="mean"):
        if not cfg.target_weight and not cfg.peak_weight and not cfg.clutter_weight:
            return base(out, target, reduction=reduction)
        is_target = target > above
        w = 1.0 + cfg.target_weight * is_target.to(out.dtype)
        if (cfg.peak_weight or cfg.clutter_weight) and x is None:
            raise ValueError("peak_weight and clutter_weight need the network's input x")
        if cfg.peak_weight:
            w = w + cfg.peak_weight * (~is_target & (x > peak)).to(out.dtype)
        if cfg.clutter_weight:
            w = w + cfg.clutter_weight * is_target.to(out.dtype) * clutter_level_db(x[:, :1], norm.scale_db) / 10
        per_cell = base(out, target, reduction="none") * w
        return per_cell.mean() if reduction == "mean" else per_cell.sum()

    if not cfg.model.mask_head:
        return map_loss
    mask_term = focal_dice_loss if cfg.mask_loss == "focal_dice" else bce_dice_loss

    def with_mask(out, target, x=None, reduction="mean"):      # out: (B, 2, D, R) map and mask logits
        loss = map_loss(out[:, :1], target, x) + cfg.mask_weight * mask_term(out[:, 1:], (target > above).float())
        return loss if reduction == "mean" else loss * target.numel()

    return with_mask


def clutter_level_db(x: torch.Tensor, scale_db: float, size: int = 9) -> torch.Tensor:
    """The mean of the input's level over the noise floor (dB) in a ``size`` x ``size``
    neighbourhood of each cell of ``x`` ((B, 1, D, R), normalised: dB / ``scale_db``),
    at least 0; the Doppler axis wraps (it is periodic), the range edges average what
    the window holds."""
    h = size // 2
    wrap = x.shape[-2] >= h                      # (circular padding needs that many rows)
    xd = F.pad(x, (0, 0, h, h), mode="circular") if wrap else x
    mean = F.avg_pool2d(xd, size, stride=1, padding=(0 if wrap else h, h), count_include_pad=False)
    return (mean * scale_db).clamp(min=0)


def dice_loss(prob: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over the batch: 1 - (2 sum(p m) + s) / (sum p + sum m + s)."""
    return 1.0 - (2.0 * (prob * mask).sum() + smooth) / (prob.sum() + mask.sum() + smooth)


def bce_dice_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, mask) + dice_loss(torch.sigmoid(logits), mask)


def focal_dice_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25):
    """Focal loss (Lin et al., 2017; alpha for the rare positive class) + Dice."""
    ce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * mask + (1 - p) * (1 - mask)
    alpha_t = alpha * mask + (1 - alpha) * (1 - mask)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean() + dice_loss(p, mask)


VAL_SPLIT_STREAM = 12345      # the validation split's generator is seeded (seed, this): its own stream
_clock = time.monotonic        # the training clock (a test can replace it)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def _augment(x, y, cfg: TrainConfig, g: torch.Generator):
    """Random crop (same window for the whole batch), flips and Doppler shift, drawn from g.

    The Doppler shift (``cfg.doppler_roll``) rolls the batch circularly by a random number
    of rows: for maps that span their whole Doppler axis a rolled map is a valid map with
    its zero-Doppler ridge elsewhere; for crops of taller maps it leaves a seam, parallel
    to the clutter ridges, that the target carries too."""
    cd, cr = cfg.crop
    d, r = x.shape[-2:]
    if cd and cr and (cd < d or cr < r):
        cd, cr = min(cd, d), min(cr, r)
        i = int(torch.randint(0, d - cd + 1, (1,), generator=g))
        j = int(torch.randint(0, r - cr + 1, (1,), generator=g))
        x, y = x[..., i:i + cd, j:j + cr], y[..., i:i + cd, j:j + cr]
    if cfg.flip:
        flips = torch.rand(2, generator=g)
        dims = [dim for dim, f in zip((-2, -1), flips) if f < 0.5]
        if dims:
            x, y = x.flip(dims), y.flip(dims)
    if cfg.doppler_roll:           # (drawn last: runs without it keep their random stream)
        k = int(torch.randint(0, x.shape[-2], (1,), generator=g))
        x, y = x.roll(k, -2), y.roll(k, -2)
    return x, y


def lr_at(step: int, total: int, base_lr: float, warmup: int = 50) -> float:
    """Linear warm-up, then cosine decay to 5 % of the base rate."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


class _Data:
    """Train or validation maps: in memory (tensors) or streamed (a Dataset)."""

    def __init__(self, path, indices, cfg: TrainConfig, device, in_memory: bool):
        self.n = len(indices)
        self.indices = indices
        self.tensors = None
        self.dataset = None
        if in_memory:
            x, y = load_normalized(path, np.sort(indices), cfg.normalization)
            if cfg.in_memory == "gpu":
                x, y = x.to(device), y.to(device)
            self.tensors = (x, y)
        else:
            self.dataset = RDMapDataset(path, np.sort(indices), cfg.normalization)

    def batches(self, order: torch.Tensor, batch_size: int, num_workers: int):
        """Yield (x, y) batches in the given order of local indices."""
        if self.tensors is not None:
            x, y = self.tensors
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size].to(x.device)
                yield x[idx], y[idx]
        else:
            loader = torch.utils.data.DataLoader(self.dataset, batch_size=batch_size, sampler=order.tolist(),
                                                 num_workers=num_workers, persistent_workers=False,
                                                 pin_memory=torch.cuda.is_available())
            for batch in loader:
                yield batch["noisy"], batch["clean"]


def _split(cfg: TrainConfig):
    with open_dataset(cfg.data, need_clean=True) as f:
        n = f["noisy"].shape[0]
        nbytes = f["noisy"][0].nbytes * n * 2
    if cfg.val:
        with open_dataset(cfg.val, need_clean=True) as f:
            n_val = f["noisy"].shape[0]
            nbytes += f["noisy"][0].nbytes * n_val * 2
        return np.arange(n), (cfg.val, np.arange(n_val)), nbytes
    perm = np.random.default_rng([cfg.seed, VAL_SPLIT_STREAM]).permutation(n)
    k = int(round(n * cfg.val_fraction))
    if n - k < 1:
        raise ValueError(f"{cfg.data}: {n} maps leave none for training with val_fraction {cfg.val_fraction}")
    return perm[k:], ((cfg.data, perm[:k]) if k else None), nbytes


def _available_ram() -> int:
    """Memory a new allocation can have: Linux's MemAvailable (free memory plus the page
    cache it may reclaim; free pages alone are few after reading a large file), else free
    pages, else 4 GiB."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 4 << 30


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    """Train a U-Net as configured; write checkpoints and logs to ``cfg.output``.

    Returns ``{"best_val_loss", "best_epoch", "history", "run_dir", "rank"}``.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world, local_rank = 0, 1, 0
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = pick_device(cfg.device, local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        device = pick_device(cfg.device)
    init_state = None
    if cfg.init and not cfg.resume:
        cfg, init_state = _init_from(cfg)
    try:
        result = _train(cfg, device, rank, world, progress and rank == 0, init_state)
        if distributed:
            # rank 0 writes the last checkpoint and plots while the others are done: a rank
            # that tears down gloo before its peers can abort ("terminate called without an
            # active exception", about one run in ten on 2 CPU ranks), so all leave together
            dist.barrier()
        return result
    finally:
        if distributed:
            dist.destroy_process_group()


def _init_from(cfg: TrainConfig) -> tuple[TrainConfig, dict]:
    """Fine-tuning: the checkpoint's weights, and its model and normalisation configuration."""
    from rd_unet.model.pretrained import resolve_model

    try:
        path = resolve_model(cfg.init)
    except FileNotFoundError as err:
        raise ValueError(f"--init: {err}") from None
    state = read_checkpoint(path)
    model_cfg = from_dict(UNetConfig, state["model_config"])
    norm_cfg = from_dict(NormalizationConfig, state["normalization"])
    # doppler_wrap changes the padding, not the weights: a run may switch it on in fine-tuning
    wrap = cfg.model.doppler_wrap or model_cfg.doppler_wrap
    asked = dataclasses.replace(cfg.model, doppler_wrap=False)
    if asked not in (UNetConfig(), dataclasses.replace(model_cfg, doppler_wrap=False)):
        raise ValueError(f"--init {cfg.init}: its model is {to_dict(model_cfg)}, but the run asks for "
                         f"{to_dict(cfg.model)}; leave the model options out to fine-tune it "
                         f"(only doppler_wrap may be switched on)")
    model_cfg = dataclasses.replace(model_cfg, doppler_wrap=wrap)
    default = NormalizationConfig()
    # the training target and the inference settings may be changed in fine-tuning; the input
    # representation (eps, scale_db) always stays the checkpoint's
    settable = ("target_floor", "target_noise", "passthrough", "passthrough_db", "passthrough_cut_db", "flip_average",
                "doppler_shifts", "floor_profile")
    fixed = sorted(set(cfg.init_overrides) - set(settable))
    if fixed:
        raise ValueError(f"--init {cfg.init}: {fixed[0]!r} cannot be changed in fine-tuning (the network was trained "
                         f"on the checkpoint's input representation); settable: {', '.join(settable)}")
    for name in settable:
        # set by the run (named, or off its default: a library caller's config), else the checkpoint's
        if name in cfg.init_overrides or getattr(cfg.normalization, name) != getattr(default, name):
            norm_cfg = dataclasses.replace(norm_cfg, **{name: getattr(cfg.normalization, name)})
    return dataclasses.replace(cfg, init=str(path), model=model_cfg, normalization=norm_cfg), state


@dataclasses.dataclass
class _Run:
    """Everything one training run carries from epoch to epoch."""

    cfg: TrainConfig
    device: torch.device
    rank: int
    world: int
    progress: bool
    dir: Path
    train_data: _Data
    val_data: _Data | None
    model: torch.nn.Module
    net: torch.nn.Module                 # the model as trained: DDP and/or compiled
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: object
    autocast: object
    memory_format: torch.memory_format
    per_rank: int                        # maps each rank takes per epoch (the same on every rank)
    steps_per_epoch: int
    planned_epochs: int                  # shortened by a time limit; the schedule ends with it
    writer: object = None
    started: float = 0.0                 # _clock() at the start, less the time of earlier sessions
    elapsed_s: float | None = None       # training time so far, across --resume
    timed_from_start: bool = True        # False: resumed from a checkpoint that did not record it
    start_epoch: int = 0
    step: int = 0
    best: float = float("inf")
    best_epoch: int = -1
    history: dict = dataclasses.field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.planned_epochs


HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "lr", "maps_per_s")


def _train(cfg: TrainConfig, device, rank, world, progress, init_state=None) -> dict:
    run = _setup(cfg, device, rank, world, progress, init_state)
    if cfg.resume:
        _resume(run)
    run.started = _clock() - (run.elapsed_s or 0.0)
    for epoch in range(run.start_epoch, cfg.epochs):
        if epoch >= run.planned_epochs:          # a time limit shortened the plan
            break
        train_loss, maps_per_s = _train_epoch(run, epoch)
        # the model itself, not its DDP wrapper: ranks may hold different numbers of
        # validation maps, and a wrapper's forward could wait for its peers
        val_loss = (evaluate_loss(run.model, run.val_data, cfg, device, rank, world, run.memory_format, run.autocast)
                    if run.val_data else float("nan"))
        run.elapsed_s = _clock() - run.started
        _record_epoch(run, epoch, train_loss, val_loss, maps_per_s)
        if _should_stop(run, epoch):
            break
    return _finish(run)


def _setup(cfg: TrainConfig, device, rank, world, progress, init_state) -> _Run:
    """Data, model, optimiser and the step plan; every rank gets the same number of steps."""
    run_dir = Path(cfg.output)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    train_idx, val_spec, nbytes = _split(cfg)
    if len(train_idx) < world:
        raise ValueError(f"{cfg.data}: {len(train_idx)} training maps for {world} processes; need one per process")
    in_memory = cfg.in_memory in ("yes", "gpu") or (cfg.in_memory == "auto" and nbytes < 0.3 * _available_ram())
    train_data = _Data(cfg.data, train_idx, cfg, device, in_memory)
    val_data = _Data(val_spec[0], val_spec[1], cfg, device, in_memory) if val_spec is not None else None
    torch.manual_seed(cfg.seed)
    model = UNet(cfg.model)
    if init_state is not None:
        model.load_state_dict(init_state["model"])
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if (cuda and cfg.channels_last) else torch.contiguous_format
    model = model.to(device).to(memory_format=memory_format)
    use_amp = cfg.amp and cuda
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    if cfg.compile:
        net = torch.compile(net)
    # like DistributedSampler(drop_last=True): the maps that do not divide among the ranks
    # sit out this epoch (the permutation changes every epoch, so none is left out for good)
    per_rank = len(train_idx) // world
    steps = math.ceil(per_rank / cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    return _Run(cfg=cfg, device=device, rank=rank, world=world, progress=progress, dir=run_dir,
                train_data=train_data, val_data=val_data, model=model, net=net,
                optimizer=torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
                scaler=torch.amp.GradScaler(device.type, enabled=False),     # bf16 autocast needs no scaling
                loss_fn=make_loss(cfg),
                autocast=(lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_amp else nullcontext,
                memory_format=memory_format, per_rank=per_rank, steps_per_epoch=steps, planned_epochs=cfg.epochs,
                writer=_tensorboard(run_dir) if rank == 0 else None)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:   # tensorboard is an optional dependency
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _resume(run: _Run) -> None:
    """Continue from last.pt: weights, optimiser, step, history and the planned schedule."""
    last = run.dir / "last.pt"
    if not last.is_file():
        raise ValueError(f"--resume: {last} does not exist (nothing to resume)")
    state = read_checkpoint(last, map_location=run.device)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.start_epoch, run.step = state["epoch"] + 1, state["step"]
    run.best, run.history = state["best_val_loss"], state["history"]
    run.best_epoch = state["extra"].get("best_epoch", -1)
    # a time-limited run planned fewer epochs: the learning-rate schedule continues that plan
    planned = state["extra"].get("planned_epochs")
    if planned:
        run.planned_epochs = min(run.cfg.epochs, planned)
    run.elapsed_s = state["extra"].get("elapsed_s")
    run.timed_from_start = run.elapsed_s is not None


def _train_epoch(run: _Run, epoch: int) -> tuple[float, float]:
    """One pass over this rank's share of a fresh permutation; (mean loss, maps/s) over all ranks."""
    cfg, device = run.cfg, run.device
    g = _epoch_generator(cfg.seed, epoch)
    perm = torch.randperm(len(run.train_data.indices), generator=g)[:run.per_rank * run.world]
    order = perm[run.rank::run.world][:run.steps_per_epoch * cfg.batch_size]
    run.net.train()
    t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step",
               disable=not run.progress, leave=False)
    for x, y in run.train_data.batches(order, cfg.batch_size, cfg.num_workers):
        x, y = _augment(x, y, cfg, g)
        x = x.to(device, non_blocking=True).contiguous(memory_format=run.memory_format)   # (B, 1, D, R)
        y = y.to(device, non_blocking=True)
        for group in run.optimizer.param_groups:
            group["lr"] = lr_at(run.step, run.total_steps, cfg.lr)
        with run.autocast():
            loss = run.loss_fn(run.net(x).float(), y, x)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.step += 1
        seen += x.shape[0]
        loss_sum += loss.detach() * x.shape[0]
        if run.progress and run.step % 5 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", maps_s=f"{seen * run.world / (time.perf_counter() - t0):.0f}")
        bar.update()
    bar.close()
    stats = torch.stack([loss_sum, torch.tensor(float(seen), device=device)])
    if run.world > 1:
        dist.all_reduce(stats)
    return float(stats[0] / stats[1]), float(stats[1]) / (time.perf_counter() - t0)


def _record_epoch(run: _Run, epoch: int, train_loss: float, val_loss: float, maps_per_s: float) -> None:
    """History on every rank; checkpoints, metrics.csv and TensorBoard from rank 0."""
    for k, v in zip(HISTORY_KEYS, (epoch, train_loss, val_loss, run.optimizer.param_groups[0]["lr"], maps_per_s)):
        run.history[k].append(v)
    if run.rank != 0:
        return
    monitor = val_loss if math.isfinite(val_loss) else train_loss
    improved = monitor < run.best
    if improved:
        run.best, run.best_epoch = monitor, epoch
    cfg = run.cfg
    common = dict(model=run.model, model_config=cfg.model, normalization=cfg.normalization, optimizer=run.optimizer,
                  scaler=run.scaler, step=run.step, epoch=epoch, best_val_loss=run.best, train_config=cfg,
                  history=run.history, extra={"best_epoch": run.best_epoch,
                                              # the plan a time limit made, for --resume to continue
                                              "planned_epochs": run.planned_epochs if cfg.time_limit_min else None,
                                              "elapsed_s": run.elapsed_s})
    save_checkpoint(run.dir / "last.pt", **common)
    if improved:
        save_checkpoint(run.dir / "best.pt", **common)
    _write_csv(run.dir / "metrics.csv", run.history)
    if run.writer is not None:
        for tag, v in (("loss/train", train_loss), ("loss/val", val_loss), ("lr", run.history["lr"][-1]),
                       ("maps_per_s", maps_per_s)):
            run.writer.add_scalar(tag, v, epoch)
    if run.progress:
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: train {train_loss:.4f}  val {val_loss:.4f}  "
                   f"{maps_per_s:.0f} maps/s" + ("  (best)" if improved else ""))


def _should_stop(run: _Run, epoch: int) -> bool:
    """Patience and the time limit, decided identically on every rank (the history is all-reduced).

    A time limit plans the learning-rate schedule to end with the budget: the number of
    epochs that fit, from the slowest rank's measured epoch time. The budget counts the
    training time of every session of the run (``--resume`` continues it)."""
    cfg, h = run.cfg, run.history
    best_so_far = int(np.nanargmin([v if math.isfinite(v) else t for v, t in zip(h["val_loss"], h["train_loss"])]))
    if cfg.patience and len(h["epoch"]) - 1 - best_so_far >= cfg.patience:
        if run.progress:
            tqdm.write(f"stopping: no improvement for {cfg.patience} epochs")
        return True
    if not cfg.time_limit_min:
        return False
    elapsed = torch.tensor(run.elapsed_s)
    if run.world > 1:
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    # the epochs timed: all of them when earlier sessions' time is known, else this session's
    first = 0 if run.timed_from_start else run.start_epoch
    fit = first + int(cfg.time_limit_min * 60 / (float(elapsed) / (epoch + 1 - first)))
    run.planned_epochs = max(epoch + 1, min(cfg.epochs, fit))
    if epoch + 1 >= run.planned_epochs and epoch + 1 < cfg.epochs:
        if run.progress:
            tqdm.write(f"stopping: time limit of {cfg.time_limit_min:g} min reached")
        return True
    return False


def _finish(run: _Run) -> dict:
    if run.rank == 0:
        if run.writer is not None:
            run.writer.close()
        if run.history["epoch"]:
            from rd_unet.plots import loss_curve_plot
            loss_curve_plot(np.asarray(run.history["epoch"]) + 1, run.history["train_loss"],
                            np.asarray(run.history["val_loss"]), run.dir / "loss_curve.png")
    return {"best_val_loss": run.best, "best_epoch": run.best_epoch + 1, "history": run.history,
            "run_dir": str(run.dir), "rank": run.rank}


@torch.no_grad()
def evaluate_loss(net, data: _Data, cfg: TrainConfig, device, rank, world, memory_format, autocast) -> float:
    """Mean validation loss over this rank's share, all-reduced across ranks."""
    net.eval()
    loss_fn = make_loss(cfg)
    order = torch.arange(data.n)[rank::world]
    total = torch.zeros(2, device=device)
    for x, y in data.batches(order, cfg.batch_size, cfg.num_workers):
        x = x.to(device).contiguous(memory_format=memory_format)
        y = y.to(device)
        with autocast():
            out = net(x).float()
        total[0] += loss_fn(out, y, x, reduction="sum") / y[0].numel()
        total[1] += x.shape[0]
    if world > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


def _write_csv(path: Path, history: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(history)
    w.writerow(keys)
    for row in zip(*(history[k] for k in keys)):
        w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    atomic_write_text(path, buf.getvalue())
