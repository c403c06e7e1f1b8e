"""Training: the loop (AMP, DDP, logs) and checkpoints."""
from rd_unet.model.checkpoint import load_model, save_checkpoint
from rd_unet.train.loop import train

__all__ = ["train", "load_model", "save_checkpoint"]
