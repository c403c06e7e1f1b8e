"""The U-Net denoiser and its input/output normalisation."""
from rd_unet.model.unet import Denoiser, UNet

__all__ = ["UNet", "Denoiser"]
