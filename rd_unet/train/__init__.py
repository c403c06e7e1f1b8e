"""Training: loop (AMP, DDP, logs) and checkpoints."""
