"""The benchmark harness (`python -m zoo.bench`), its leaderboard and the model cards
(`python -m zoo.bench.cards`). Importing this package loads nothing heavy."""
from __future__ import annotations

from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark harness with command-line arguments `argv` (see `--help`)."""
    from .harness import main as harness_main

    return harness_main(argv)
