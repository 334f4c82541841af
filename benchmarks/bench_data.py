"""Data pipeline benchmark: loader throughput, optical-flow speed, flow-cache speed-up.

    python benchmarks/bench_data.py [--write] [--clips 16] [--flow-method tvl1]

Loader throughput is measured in clips/s with 0, 1 and 2 DataLoader workers for the seeking,
threaded PyAV decoder, against a baseline that decodes every frame of the video and then picks
the clip's frames. Flow speed is frame pairs/s at 224x224 for each OpenCV method. The cache
speed-up compares a first epoch of a flow-stream dataset (computing) with a second (reading).
The video is the real Kinetics clip from ../shared/data when present, else a synthetic one.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from zoo.data import (FLOW_METHODS, Decoder, FlowOptions, Frames, PyAVDecoder, VideoClipDataset,
                      VideoRecord, collate, flow_method_available, write_video)
from zoo.data.flow import make_flow_fn, to_gray
from zoo.specs import InputSpec

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEO = ROOT / ".." / "shared" / "data" / "videos" / "kinetics400_arm_wrestling.mp4"
RESULTS = ROOT / "benchmarks" / "results" / "data_benchmark.md"


class DecodeEveryFrame(Decoder):
    """Baseline: decode the whole video (no seeking, no threads), then pick the frames."""

    name = "decode-every-frame"

    def __init__(self):
        self.pyav = PyAVDecoder(threads=False, seek=False)

    def probe(self, path: Any):
        return self.pyav.probe(path)

    def read(self, path: Any, indices: Sequence[int]) -> Frames:
        every = self.pyav.read(path, range(self.probe(path).num_frames))
        return Frames(every.data[list(indices)], every.padded)


def source_video(folder: Path) -> Path:
    if SHARED_VIDEO.is_file():
        return SHARED_VIDEO.resolve()
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, 256, 340, 3), dtype=np.uint8), 280, axis=0)
    for t in range(len(frames)):
        frames[t] = np.roll(frames[t], 2 * t, axis=1)
    return write_video(folder / "synthetic.mp4", frames, fps=28)


def timed(fn: Callable[[], int]) -> Tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def run_loader(dataset, workers: int) -> int:
    loader = DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate)
    return sum(len(batch["video"]) for batch in loader if batch is not None)


def loader_rows(video: Path, clips: int) -> List[Tuple[str, str]]:
    spec = {"rgb": InputSpec(frames=8, size=112, sampling="dense", frame_stride=2)}
    records = [VideoRecord(str(video), 0, f"clip{i}") for i in range(clips)]
    rows = []
    for decoder, worker_counts in ((PyAVDecoder(), (0, 1, 2)), (DecodeEveryFrame(), (0, 2))):
        for workers in worker_counts:
            dataset = VideoClipDataset(records, ["x"], spec, train=True, decoder=decoder)
            seconds, count = timed(lambda: run_loader(dataset, workers))
            rows.append((f"loader, {decoder.name}, {workers} workers",
                         f"{count / seconds:.1f} clips/s"))
    return rows


def flow_rows(video: Path, pairs: int) -> List[Tuple[str, str]]:
    import cv2
    frames = PyAVDecoder().read(video, [100, 101]).data.numpy()
    first, second = (to_gray(cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA))
                     for f in frames)
    rows = []
    for method in FLOW_METHODS:
        if not flow_method_available(method):
            rows.append((f"flow {method}, 224x224", "not available"))
            continue
        flow = make_flow_fn(method)
        flow(first, second)  # warm-up
        n = max(2, pairs // 4) if method == "tvl1" else pairs
        start = time.perf_counter()
        for _ in range(n):
            flow(first, second)
        seconds = time.perf_counter() - start
        rows.append((f"flow {method}, 224x224", f"{n / seconds:.2f} pairs/s"))
    return rows


def cache_rows(video: Path, method: str, folder: Path) -> List[Tuple[str, str]]:
    spec = {"flow": InputSpec(modality="flow", frames=1, size=112, flow_stack=5)}
    records = [VideoRecord(str(video), 0, f"clip{i}") for i in range(4)]
    dataset = VideoClipDataset(records, ["x"], spec, train=False,
                               flow=FlowOptions(method, cache_dir=str(folder / "flow-cache")))
    first, _ = timed(lambda: run_loader(dataset, 0))
    second, _ = timed(lambda: run_loader(dataset, 0))
    return [(f"flow-stream epoch 1 ({method}, computing, 4 clips x 5 pairs)", f"{first:.2f} s"),
            ("flow-stream epoch 2 (reading the cache)", f"{second:.2f} s"),
            ("flow-cache speed-up", f"{first / second:.1f}x")]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16, help="clips per loader run")
    parser.add_argument("--flow-pairs", type=int, default=12, help="pairs per flow method")
    parser.add_argument("--flow-method", default="tvl1", choices=FLOW_METHODS)
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = source_video(folder)
        rows = loader_rows(video, args.clips)
        rows += flow_rows(video, args.flow_pairs)
        method = args.flow_method if flow_method_available(args.flow_method) else "dis"
        rows += cache_rows(video, method, folder)
    width = max(len(name) for name, _ in rows)
    table = "\n".join([f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
                      + [f"| {name.ljust(width)} | {value} |" for name, value in rows])
    header = (f"Video: {video.name}; dense 8-frame clips (stride 2) at 112 px, batch 4; "
              f"torch {torch.__version__}, {os.cpu_count()} CPUs "
              f"({platform.machine()}), load average {os.getloadavg()[0]:.1f} at the end. "
              f"Single runs: on a shared machine the figures move by tens of percent.")
    text = f"{header}\n\n{table}\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(f"# Data pipeline benchmark\n\n`python benchmarks/bench_data.py "
                           f"--write`\n\n{text}")
    return text


if __name__ == "__main__":
    main()
