"""Regenerate the --help blocks of docs/cli.md from the parser (keeps the prose around them).

    python docs/make_cli_reference.py
"""
import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["COLUMNS"] = "100"

from rd_unet.cli import build_parser  # noqa: E402


def main():
    path = Path(__file__).resolve().parent / "cli.md"
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))

    def block(m):
        return f"## rd-unet {m.group(1)}\n\n```\n{sub.choices[m.group(1)].format_help().rstrip()}\n```"

    path.write_text(re.sub(r"## rd-unet (\w+)\n\n```\n.*?\n```", block, path.read_text(), flags=re.S))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
