"""Run the benchmark harness: ``python benchmarks/run_leaderboard.py [--presets ...]``
(the same as ``python -m zoo.bench``; ``--help`` lists the options)."""
from zoo.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
