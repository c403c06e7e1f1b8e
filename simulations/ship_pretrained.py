"""Ship trained stages as the default model: rd_unet/pretrained/default.pt and default.json.

    python simulations/ship_pretrained.py data/pretrained_vN/stage_b.pt [data/pretrained_vN/stage_a.pt ...]

The candidates are runs of ``train_pretrained.py``, newest first, each fine-tuned from the
next (the oldest from the model shipped now). Their records (the ``.json`` beside each
``.pt``) are chained onto the shipped record as new stages whose ``init`` is the stage
before, named ``data/pretrained/stageN.pt`` as the model card's Reproduce section
writes it. The newest candidate's weights are written with flip averaging and the noise
floor per range column on (the shipped inference settings), and the chained record travels inside the checkpoint
(``extra["model_card"]``) as well as beside it, so a copy of the ``.pt`` alone still
tells how it was trained. Both files are written to a temporary name, then renamed.

With ``--soup-with-shipped W`` the one candidate is a fine-tune of the shipped weights, and
the shipped weights become ``(1 - W) x shipped + W x candidate``: a point on the line from
the weights the fine-tune started from to where it ended (weight-space interpolation, as
in WiSE-FT, Wortsman et al. 2022; ``rd_unet.model.checkpoint.average_weights``). The
candidate's record is chained on as usual, with a ``soup`` entry naming the stage it was
averaged with and the weight.

Then regenerate the card from the shipped file (``evaluate_pretrained.py --suite all``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rd_unet.files import atomic_write_text, commit, partial_path  # noqa: E402
from rd_unet.model.checkpoint import average_states, read_checkpoint  # noqa: E402

SHIPPED = ROOT / "rd_unet" / "pretrained" / "default.pt"


def stage_count(record: dict | None) -> int:
    """Stages in a training record (itself and its ``previous_stage`` chain)."""
    n = 0
    while record:
        n, record = n + 1, record.get("previous_stage")
    return n


def chained_record(shipped: dict, candidates: list[dict]) -> dict:
    """The shipped record with ``candidates`` (newest first) chained on as new stages."""
    chain = {k: v for k, v in shipped.items() if k != "history"}
    first = stage_count(chain)
    for i, record in enumerate(reversed(candidates)):
        stage = {k: v for k, v in record.items() if k not in ("history", "previous_stage")}
        stage["init"] = f"data/pretrained/stage{first + i}.pt"
        stage["previous_stage"] = chain
        chain = stage
    if "history" in candidates[0]:
        chain["history"] = candidates[0]["history"]
    return chain


def soup_record(shipped: dict, candidate: dict, weight: float) -> dict:
    """The shipped record with ``candidate``, a fine-tune of its last stage, chained on as a
    new stage whose weights are averaged with that stage's (``weight`` on the candidate)."""
    stage = chained_record(shipped, [candidate])
    stage["soup"] = {"with": f"data/pretrained/stage{stage_count(shipped)}.pt", "weight": float(weight)}
    return stage


def ship(candidates, dest=SHIPPED, flip_average: bool = True, floor_profile: bool = True,
         soup_with_shipped: float | None = None) -> dict:
    """Write ``dest`` (.pt) and its ``.json`` from the candidate checkpoints (newest first);
    with ``soup_with_shipped`` the one candidate's weights averaged with the shipped ones."""
    if not candidates:
        raise ValueError("ship: expected at least one candidate checkpoint")
    if soup_with_shipped is not None and (len(candidates) != 1 or not 0.0 < soup_with_shipped < 1.0):
        raise ValueError(f"--soup-with-shipped: expected one candidate and a weight strictly between 0 and 1, "
                         f"got {len(candidates)} candidates and {soup_with_shipped}")
    dest = Path(dest)
    records = []
    for path in map(Path, candidates):
        side = path.with_suffix(".json")
        if not path.is_file() or not side.is_file():
            raise FileNotFoundError(f"{path}: expected a checkpoint with its training record {side.name} beside it "
                                    "(written by train_pretrained.py)")
        records.append(json.loads(side.read_text()))
    if not dest.with_suffix(".json").is_file():
        raise FileNotFoundError(f"{dest.with_suffix('.json')}: the shipped model's training record is missing; "
                                "the new stages are chained onto it")
    shipped = json.loads(dest.with_suffix(".json").read_text())
    if soup_with_shipped is None:
        record = chained_record(shipped, records)
        state = read_checkpoint(candidates[0])
    else:
        record = soup_record(shipped, records[0], soup_with_shipped)
        state = average_states([read_checkpoint(candidates[0]), read_checkpoint(dest)],
                               [soup_with_shipped, 1.0 - soup_with_shipped])
    state["normalization"] = dict(state["normalization"], flip_average=flip_average, floor_profile=floor_profile)
    _write(state, record, dest)
    return record


def embed(dest=SHIPPED) -> dict:
    """Rewrite ``dest`` with the record beside it (``.json``) inside it; the weights and
    their settings unchanged (for checkpoints shipped before this script carried it)."""
    dest = Path(dest)
    record = json.loads(dest.with_suffix(".json").read_text())
    _write(read_checkpoint(dest), record, dest)
    return record


def _write(state: dict, record: dict, dest: Path):
    state["extra"] = dict(state.get("extra") or {}, model_card=record)
    tmp = partial_path(dest)
    torch.save(state, tmp)
    atomic_write_text(dest.with_suffix(".json"), json.dumps(record, indent=2))
    commit(tmp, dest)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidates", nargs="*", help="train_pretrained.py outputs (.pt), newest first")
    p.add_argument("--dest", default=str(SHIPPED), help="the shipped checkpoint to replace (default: %(default)s)")
    p.add_argument("--soup-with-shipped", type=float, default=None, metavar="W",
                   help="average the one candidate (a fine-tune of the shipped weights) with the weights "
                        "it started from, W on the candidate")
    p.add_argument("--embed-only", action="store_true",
                   help="no new stage: write the record beside --dest into it (weights unchanged)")
    args = p.parse_args()
    if args.embed_only == bool(args.candidates):
        p.error("expected candidate checkpoints, or --embed-only without any")
    try:
        record = (embed(args.dest) if args.embed_only
                  else ship(args.candidates, args.dest, soup_with_shipped=args.soup_with_shipped))
    except (FileNotFoundError, ValueError) as err:
        p.error(str(err))
    print(f"wrote {args.dest} and its .json: {stage_count(record)} stages")


if __name__ == "__main__":
    main()
