"""Writing files so that a reader never sees half of one.

One rule for the whole package: a file is written under ``NAME.partial`` beside its
final path and renamed (``os.replace``, atomic on one file system) when complete. A
leftover ``.partial`` is what an interrupted run left: writers that can resume
(datasets, cleaned files) pick it up; others overwrite it.
"""
from __future__ import annotations

import os
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_path(path) -> Path:
    """Where ``path`` is written before it is complete: ``path.partial``."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def is_partial(path) -> bool:
    return Path(path).name.endswith(PARTIAL_SUFFIX)


def commit(tmp, path) -> Path:
    """Rename the complete ``tmp`` to ``path`` (atomic; replaces an existing ``path``)."""
    os.replace(tmp, path)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    tmp = partial_path(path)
    tmp.write_text(text)
    return commit(tmp, path)
