"""Checkpoints: plain tensors and containers, safe for ``torch.load(weights_only=True)``.

A checkpoint is a dict with ``model`` (state dict), ``optimizer``, ``scaler``,
``step``, ``epoch``, ``best_val_loss``, ``model_config`` and ``normalization``
(dicts of the dataclasses), ``train_config``, ``history``, ``package_version`` and
``format``; the model is rebuilt from the checkpoint alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from rd_unet import __version__
from rd_unet.files import commit, partial_path
from rd_unet.config import NormalizationConfig, UNetConfig, from_dict, to_dict
from rd_unet.model.unet import Denoiser, UNet

CHECKPOINT_FORMAT = "rd_unet.checkpoint/1"


class CheckpointError(ValueError):
    """A file is not a loadable rd_unet checkpoint; the message names it."""


def save_checkpoint(path, *, model, model_config: UNetConfig, normalization: NormalizationConfig,
                    optimizer=None, scaler=None, step=0, epoch=-1, best_val_loss=float("inf"),
                    train_config=None, history=None, extra=None) -> Path:
    """Write atomically (rd_unet.files: ``path.partial``, then rename)."""
    path = Path(path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "package_version": __version__,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": to_dict(model_config),
        "normalization": to_dict(normalization),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "step": int(step),
        "epoch": int(epoch),
        "best_val_loss": float(best_val_loss),
        "train_config": to_dict(train_config) if train_config is not None else None,
        "history": history or {},
        "extra": extra or {},
    }
    tmp = partial_path(path)
    torch.save(state, tmp)
    return commit(tmp, path)


def read_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        # torch's own message advises weights_only=False, which would run code from the file: never
        text = " ".join(str(err).split())
        if "Unsupported global" in text:
            raise CheckpointError(f"{path}: refused: the file holds objects other than tensors and plain "
                                  "containers, and loading them would run code from the file. rd_unet "
                                  "checkpoints never do; re-save the model with rd_unet.") from None
        detail = text.split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0].strip()
        if "weights_only" in detail:
            detail = "unreadable"
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(err).__name__}: {detail[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an rd_unet checkpoint (no format {CHECKPOINT_FORMAT!r})")
    if isinstance(state.get("normalization"), dict):
        # checkpoints before target_floor existed (version 0.2) were trained on the targets alone
        state["normalization"].setdefault("target_floor", 0.0)
        state["normalization"].setdefault("target_noise", 0.0)
        # and before passthrough (version 0.6): none
        state["normalization"].setdefault("passthrough", False)
        state["normalization"].setdefault("passthrough_db", 0.0)
        state["normalization"].setdefault("passthrough_cut_db", 10.0)
    return state


def load_model(path, device="cpu") -> Denoiser:
    """Rebuild the denoiser (UNet + normalisation) from a checkpoint, in eval mode."""
    state = read_checkpoint(path)
    unet = UNet(from_dict(UNetConfig, state["model_config"]))
    unet.load_state_dict(state["model"])
    model = Denoiser(unet, from_dict(NormalizationConfig, state["normalization"]))
    return model.to(device).eval()


def with_normalization(src, dst, **changes) -> Path:
    """Copy the checkpoint ``src`` to ``dst`` with fields of its normalisation changed
    (e.g. ``passthrough=True``): the weights and everything else stay as they were.
    ``dst`` must not exist (no file is overwritten); written atomically."""
    dst = Path(dst)
    if dst.exists():
        raise FileExistsError(f"{dst}: exists; choose another output path")
    state = read_checkpoint(src)
    norm = dataclasses.replace(from_dict(NormalizationConfig, state["normalization"]), **changes)
    state["normalization"] = to_dict(norm)
    tmp = partial_path(dst)
    torch.save(state, tmp)
    return commit(tmp, dst)


def average_states(states, weights) -> dict:
    """A weighted average of checkpoints' weights (a "model soup", Wortsman et al. 2022):
    every floating-point tensor of their state dicts is ``sum(w_i * t_i)``, the others are
    taken from the first. Meant for a model and its fine-tunes (or fine-tunes of one set of
    weights; WiSE-FT), whose average stays in the same basin; the networks' configuration
    must agree. The first state supplies
    everything else (normalisation, record); optimizer state is dropped."""
    states, weights = list(states), [float(w) for w in weights]
    if len(states) < 2 or len(weights) != len(states):
        raise ValueError(f"average: expected two or more checkpoints and one weight each, "
                         f"got {len(states)} and {len(weights)}")
    if any(not w >= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"average: expected non-negative weights summing to 1, got {weights}")
    first = states[0]
    for k, st in enumerate(states[1:], start=2):
        if st["model_config"] != first["model_config"]:
            raise ValueError(f"average: checkpoint {k} is another network ({st['model_config']}) than "
                             f"checkpoint 1 ({first['model_config']})")
        if st["model"].keys() != first["model"].keys() or any(
                st["model"][n].shape != t.shape for n, t in first["model"].items()):
            raise ValueError(f"average: checkpoint {k}'s tensors do not match checkpoint 1's")
    model = {}
    for name, t in first["model"].items():
        if t.is_floating_point():
            acc = torch.zeros_like(t, dtype=torch.float64)
            for w, st in zip(weights, states):
                acc += w * st["model"][name].double()
            model[name] = acc.to(t.dtype)
        else:
            model[name] = t.clone()
    return dict(first, model=model, optimizer=None, scaler=None)


def average_weights(srcs, weights, dst) -> Path:
    """Write to ``dst`` the weighted average of the checkpoints ``srcs`` (``average_states``).
    ``dst`` must not exist; written atomically."""
    dst = Path(dst)
    if dst.exists():
        raise FileExistsError(f"{dst}: exists; choose another output path")
    state = average_states([read_checkpoint(s) for s in srcs], weights)
    tmp = partial_path(dst)
    torch.save(state, tmp)
    return commit(tmp, dst)


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
