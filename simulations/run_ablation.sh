#!/bin/bash
# the ablation behind docs/ablation.md. The checkpoints are git-ignored (data/): each was
# trained with simulations/train_pretrained.py as its legend says; rerunning this script
# with them in place rewrites the document (reports are cached by checkpoint hash).
set -e
.venv/bin/python simulations/ablate.py \
  --model v02=data/ablation/v02.pt --model tf0=data/ablation/tf0.pt --model tf1=data/ablation/tf1.pt \
  --model tf1_tw0_ft=data/ablation/tw0_e3.pt --model tf1_tw3_ft=data/ablation/tw3_e3.pt \
  --model broad=data/pretrained_v03/broad.pt \
  --describe "v02=the model shipped until now: 106 CPU minutes in two stages on the preset mixtures, target floor 0" \
  --describe "tf0=from scratch, 12 minutes on 1 CPU thread, randomised mixture (48 variants, no noise slope), target floor 0" \
  --describe "tf1=the same as tf0 with target floor 1" \
  --describe "tf1_tw0_ft=v02 fine-tuned for 3 epochs (22 minutes, 1 thread, lr 1e-3) on the randomised mixture (96 variants), target floor 1" \
  --describe "tf1_tw3_ft=the same as tf1_tw0_ft with target-cell loss weight 3" \
  --describe "broad=v02 fine-tuned on the broad mixture (presets + 96 randomised variants), target floor 0, weight 0, lr 3e-4, 66 minutes on 2 CPU threads" \
  --scenarios default ground_surveillance unseen stress/moving_platform --maps 100 \
  --title "Ablation: training target, loss weighting and mixture (model selection, seed 8000)" \
  --output docs/ablation.md
