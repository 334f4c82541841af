"""Run the benchmark harness: ``python benchmarks/run_leaderboard.py [--presets ...]``
(the same as ``python -m zoo.bench``; ``--help`` lists the options).

Examples:
  python benchmarks/run_leaderboard.py                          # every preset, cpu-small
  python benchmarks/run_leaderboard.py --presets single_frame --steps 2   # a quick check
  python benchmarks/run_leaderboard.py --presets '' --max-combos 50 \\
      --combos 'backbone=r3d_18,c3d;head=*;streams=1'          # component combinations
  python benchmarks/run_leaderboard.py --shard 0/2 --results out/a   # machine 1 of 2
  python benchmarks/run_leaderboard.py --shard 1/2 --results out/b   # machine 2 of 2
  python -m zoo.bench.leaderboard --merge out/a/leaderboard.jsonl out/b/leaderboard.jsonl
  python benchmarks/run_leaderboard.py --profile gpu-full       # on a CUDA machine
"""
from zoo.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
