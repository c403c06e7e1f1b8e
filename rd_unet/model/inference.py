"""Running a denoiser: pick the device, load a checkpoint or a shipped model, apply it
to maps of any size. Used by ``clean``, ``evaluate`` and the demo alike."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from rd_unet.model.checkpoint import load_model
from rd_unet.model.pretrained import resolve_model
from rd_unet.model.unet import Denoiser


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not (name in ("cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ValueError(f"--device {name}: expected auto, cpu, cuda, cuda:N or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine (use auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("--device mps: Apple MPS is not available on this machine (use auto or cpu)")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def load_denoiser(model=None, device="auto", passthrough: bool | None = None,
                  flip_average: bool | None = None,
                  doppler_shifts: int | None = None,
                  floor_profile: bool | None = None) -> tuple[Denoiser, torch.device, str]:
    """(denoiser, device, checkpoint path) from a path, a shipped model's name, a Denoiser, or None (default).

    ``passthrough``: None keeps the checkpoint's (NormalizationConfig.passthrough); False
    gives the network's estimate alone, True the input's power where the estimate stands
    ``passthrough_db`` above the noise floor. ``flip_average``: None keeps the
    checkpoint's; True averages the network's output over the four flips of the map,
    False runs it once. ``doppler_shifts``: None keeps the checkpoint's; n also averages
    over n circular Doppler shifts of the map (1: none). ``floor_profile``: None keeps the
    checkpoint's; True normalises each range column by its own noise floor, False the
    whole map by one (NormalizationConfig.floor_profile). A Denoiser passed in is left as it
    is: a changed setting goes to a shallow copy sharing its weights.
    """
    if doppler_shifts is not None and not (isinstance(doppler_shifts, int) and 1 <= doppler_shifts <= 16):
        raise ValueError(f"--doppler-shifts: expected a whole number from 1 to 16, got {doppler_shifts!r}")
    dev = pick_device(device)
    if isinstance(model, Denoiser):
        denoiser, path = model.to(dev).eval(), "<in-memory model>"
    else:
        path = str(resolve_model(model))
        denoiser = load_model(path, dev)
    changes = {k: bool(v) for k, v in (("passthrough", passthrough), ("flip_average", flip_average),
                                       ("floor_profile", floor_profile))
               if v is not None and bool(v) != getattr(denoiser.normalization, k)}
    if doppler_shifts is not None and doppler_shifts != denoiser.normalization.doppler_shifts:
        changes["doppler_shifts"] = doppler_shifts
    if changes:
        denoiser = copy.copy(denoiser)
        denoiser.normalization = dataclasses.replace(denoiser.normalization, **changes)
    return denoiser, dev, path


@torch.no_grad()
def denoise(denoiser: Denoiser, maps: np.ndarray, *, batch_size: int = 16, device=None) -> np.ndarray:
    """(N, D, R) linear power -> (N, D, R) float32 cleaned power, in batches."""
    return _batched(denoiser, maps, batch_size, device)


@torch.no_grad()
def mask_probability(denoiser: Denoiser, maps: np.ndarray, *, batch_size: int = 16, device=None,
                     logits: bool = False) -> np.ndarray:
    """(N, D, R) linear power -> (N, D, R) float32 target probability (a model with a mask
    head), or its logit (``logits``: the same order without saturation)."""
    return _batched(lambda x: denoiser.mask(x, logits=logits), maps, batch_size, device, denoiser)


def _batched(fn, maps, batch_size, device, module=None) -> np.ndarray:
    device = device or next((module or fn).parameters()).device
    out = np.empty(maps.shape, np.float32)
    for start in range(0, maps.shape[0], batch_size):
        x = torch.from_numpy(np.ascontiguousarray(maps[start:start + batch_size], np.float32))[:, None].to(device)
        out[start:start + batch_size] = fn(x)[:, 0].cpu().numpy()
    return out


def check_power(maps: np.ndarray, where: str = "maps") -> None:
    if not np.all(np.isfinite(maps)):
        raise ValueError(f"{where}: contains non-finite values (NaN or inf)")
    if np.any(maps < 0):
        raise ValueError(f"{where}: contains negative values, expected linear power >= 0 "
                         "(dB data? use --units db; complex? --units complex)")


def clean_maps(maps, model=None, *, batch_size: int = 16, device="auto") -> np.ndarray:
    """Denoise linear power maps.

    Parameters
    ----------
    maps : array (D, R) or (N, D, R)
        Linear power, Doppler first, any size.
    model : str, Path, Denoiser or None
        Checkpoint path, shipped model name, or loaded model; None: the shipped default.

    Returns
    -------
    array shaped like ``maps``, float32 linear power in the same units.
    """
    maps = np.asarray(maps)
    if maps.ndim not in (2, 3):
        raise ValueError(f"clean_maps: expected a (D, R) map or (N, D, R) stack, got shape {maps.shape}")
    check_power(maps)
    denoiser, dev, _ = load_denoiser(model, device)
    stack = maps[None] if maps.ndim == 2 else maps
    out = denoise(denoiser, stack, batch_size=batch_size, device=dev)
    return out[0] if maps.ndim == 2 else out
