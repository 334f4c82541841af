"""Time `zoo.build` of a few presets at a small input (4 frames of 32x32, 3 classes).

    python benchmarks/bench_build.py [--presets single_frame,c3d] [--repeats 3]

Build time is a benchmark, not a unit test: on a loaded machine it varies several-fold.
Prints a Markdown table of the median build time per preset, after one warm-up build.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import List, Optional

import zoo

PRESETS = "single_frame,cnn_lstm,c3d,two_stream,r3d_18,x3d_xs"
SMALL = dict(num_classes=3, frames=4, size=32)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=PRESETS, help="comma-separated preset names")
    parser.add_argument("--repeats", type=int, default=3, help="builds per preset")
    args = parser.parse_args(argv)
    zoo.build("single_frame", **SMALL)  # imports and first-use costs
    print(f"| preset | build time, median of {args.repeats} (s) |\n|---|---|")
    for name in args.presets.split(","):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            zoo.build(name, **SMALL)
            times.append(time.perf_counter() - start)
        print(f"| `{name}` | {statistics.median(times):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
