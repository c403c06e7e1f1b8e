"""Pretrained models shipped inside the package (rd_unet/pretrained/*.pt)."""
from __future__ import annotations

import json
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_MODEL = "default"


def list_models() -> list[dict]:
    out = []
    for pt in sorted(PRETRAINED_DIR.glob("*.pt")):
        card = pt.with_suffix(".json")
        info = json.loads(card.read_text()) if card.is_file() else {}
        out.append({"name": pt.stem, "path": str(pt), "training": info.get("training", "unknown"), "card": info})
    return out


def resolve_model(model=None) -> Path:
    """A checkpoint path: ``model`` itself, a shipped model's name, or (None) the default model."""
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix != ".pt" and (PRETRAINED_DIR / f"{model}.pt").is_file():
        return PRETRAINED_DIR / f"{model}.pt"
    if not path.is_file():
        shipped = ", ".join(m["name"] for m in list_models()) or "none"
        raise FileNotFoundError(f"{model}: no such checkpoint file or shipped model (shipped: {shipped})")
    return path
