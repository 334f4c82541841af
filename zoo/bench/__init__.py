"""The benchmark harness (`zoo bench`, `python -m zoo.bench`), its leaderboard and the model
cards (`python -m zoo.bench.cards`). Importing this package loads nothing heavy.

Modules: `profiles` (budgets), `jobs` (presets, combinations, shards, real datasets), `run`
(training and scoring a job), `measure` (what is measured), `rows` (the typed row and the
leaderboard's columns), `cost` (paper-scale cost), `store`, `leaderboard`, `cards`, `cli`."""
from __future__ import annotations

from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark harness with command-line arguments `argv` (see `--help`)."""
    from .cli import main as cli_main

    return cli_main(argv)
