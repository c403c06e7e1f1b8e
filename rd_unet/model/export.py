"""Deployment: a denoiser as an ONNX model with dynamic batch and map size.

    rd-unet export --model CKPT --output model.onnx

The exported graph is the whole ``Denoiser``: linear power ``(B, 1, D, R)`` in, cleaned
linear power out, the normalisation included. It needs ``onnx`` and ``onnxscript`` (the
``export`` extra); ONNX Runtime runs it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from rd_unet.files import commit, partial_path
from rd_unet.model.inference import load_denoiser

EXAMPLE_SHAPE = (1, 1, 64, 128)     # the trace's example; batch and map size stay dynamic


def export_onnx(model, output) -> Path:
    """Export ``model`` (a checkpoint path, a shipped name, or None for the default) to ``output``."""
    output = Path(output)
    if output.suffix != ".onnx":
        raise ValueError(f"--output {output}: expected a file name ending in .onnx")
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise ValueError("export needs the onnx and onnxscript packages: pip install 'rd_unet[export]'") from None
    denoiser, _, _ = load_denoiser(model, "cpu")
    if denoiser.normalization.doppler_shifts > 1:
        raise ValueError(f"export: the model averages over {denoiser.normalization.doppler_shifts} Doppler shifts, "
                         "whose rows depend on the map's size, which an exported graph leaves open; export a copy "
                         "with doppler_shifts 1 (rd_unet.model.checkpoint.with_normalization(src, dst, "
                         "doppler_shifts=1))")
    example = torch.rand(EXAMPLE_SHAPE) * 3.0
    dims = {"power": {0: torch.export.Dim("batch"), 2: torch.export.Dim("doppler", min=8),
                      3: torch.export.Dim("range", min=8)}}
    tmp = partial_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(denoiser, (example,), str(tmp), dynamo=True, dynamic_shapes=dims,
                      input_names=["power"], output_names=["cleaned"], verbose=False)
    return commit(tmp, output)
