"""Data pipeline benchmark: data wait while training on real videos, loader throughput,
optical-flow speed, flow-cache speed-up.

    python benchmarks/bench_data.py [--write] [--steps 200] [--clips 16] [--flow-method tvl1]

Data wait is the share of training time spent waiting for a batch, as the harness measures it
(`zoo bench --data video_folder=FOLDER`, profile cpu-small: c3d and single_frame trained side by
side in two one-thread processes, batch 16, 200 steps or the profile's 40 s), on a folder of six
real clips:
the Kinetics clip (H.264 MP4, 340x256) and the UCF101-style clip (MPEG-4 AVI, 320x240) of
../shared/data, each re-encoded at 1920x1080 and 640x480 in its own codec. "before" is the
pipeline as it was: no worker process, every frame decoded at full size then resized in torch,
nothing kept; "after" is the default: DataLoader settings from `zoo.data.loader_settings`,
frames decoded already shrunk (`Decoder.read_resized`) and kept in the dataset's frame cache;
"after, 1 worker per job" the same with one DataLoader worker forced. The first pass over the
six clips (decoding all of them) is shown apart from the rest.

Loader throughput is measured in clips/s with 0, 1 and 2 DataLoader workers for the seeking,
threaded PyAV decoder, against a baseline that decodes every frame of the video and then picks
the clip's frames. Flow speed is frame pairs/s at 224x224 for each OpenCV method. The cache
speed-up compares a first epoch of a flow-stream dataset (computing) with a second (reading).
The video is the real Kinetics clip from ../shared/data when present, else a synthetic one.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from zoo.data import (FLOW_METHODS, Decoder, FlowOptions, Frames, PyAVDecoder, VideoClipDataset,
                      VideoRecord, collate, flow_method_available, loader_settings, write_video)
from zoo.data.flow import make_flow_fn, to_gray
from zoo.inference import detect_machine
from zoo.specs import InputSpec

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT / ".." / "shared" / "data" / "videos"
SHARED_VIDEO = SHARED_VIDEOS / "kinetics400_arm_wrestling.mp4"
SHARED_AVI = SHARED_VIDEOS / "ucf101_style_mpeg4_mp3.avi"
RESULTS = ROOT / "benchmarks" / "results" / "data_benchmark.md"
WAIT_PRESETS = ("c3d", "single_frame")
RESCALED = ((1920, 1080), (640, 480))  # the sizes every source clip is re-encoded at


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


def reencode(source: Path, target: Path, width: int, height: int, codec: str) -> Path:
    """`source` scaled to `width` x `height` and encoded with `codec` into `target`."""
    import av
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = (frame.reformat(width, height, "rgb24").to_ndarray()
                  for frame in container.decode(stream))
        return write_video(target, frames, fps=fps, codec=codec, quality=23,
                           bit_rate=4 * width * height)


def clip_folder(folder: Path, mp4: Path) -> Path:
    """Six clips in the video_folder layout (a folder per class): the H.264 MP4 `mp4` and the
    shared MPEG-4 AVI (or `mp4` re-encoded as one when ../shared/data is absent), each also
    re-encoded at the `RESCALED` sizes in its own codec."""
    root = folder / "clips"
    avi = SHARED_AVI.resolve() if SHARED_AVI.is_file() else reencode(
        mp4, folder / "source.avi", 320, 240, "mpeg4")
    for name, source, codec in (("kinetics", mp4, "libx264"), ("ucf", avi, "mpeg4")):
        (root / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / name / source.name)
        for width, height in RESCALED:
            reencode(source, root / name / f"{source.stem}_{width}x{height}{source.suffix}",
                     width, height, codec)
    return root


class FullResolution(PyAVDecoder):
    """The decoder as it was: frames at full size whatever the clip needs."""

    name = "pyav-full-size"
    read_resized = Decoder.read_resized


class TimedBatches:
    """A loader whose batches record how long each took to arrive (a new epoch's start
    included), to tell the first pass over the clips from the rest."""

    def __init__(self, loader: DataLoader):
        self.loader, self.waits = loader, []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        start = time.perf_counter()
        for batch in self.loader:
            self.waits.append(time.perf_counter() - start)
            yield batch
            start = time.perf_counter()


# (name, this change's pipeline, DataLoader workers: None chooses)
PIPELINES = (("before", False, 0), ("after", True, None), ("after, 1 worker per job", True, 1))


def train_on_folder(preset: str, root: Path, pipeline: Tuple[str, bool, Optional[int]],
                    steps: int) -> Dict[str, Any]:
    """Train `preset` on the clips under `root` as the harness does (profile cpu-small), with
    one of the `PIPELINES`; the data wait of the run."""
    from zoo.bench.jobs import Job
    from zoo.bench.measure import train_for_budget
    from zoo.bench.profiles import PROFILES
    from zoo.bench.run import Subset, build_scaled, per_class_subset
    from zoo.data.protocol import prepare
    from zoo.engine.train import seed_everything
    from zoo.inference import channels_last_model
    from zoo.registry import current

    name, after, workers = pipeline
    profile = dataclasses.replace(PROFILES["cpu-small"], steps=steps, fit_accuracy=0)  # a fixed length
    torch.set_num_threads(profile.threads)
    factory = current().get("dataset", "video_folder")
    seed_everything(profile.seed)
    model, _ = build_scaled(Job(preset), len(factory(root=root, split="train").classes), profile)
    channels_last_model(model)
    options = {} if after else {"decoder": FullResolution(), "frame_cache_mb": 0}
    dataset = factory(root=root, split="train", inputs=model.spec.inputs, **options)
    train_set = Subset(dataset, per_class_subset(dataset, profile.train_clips_per_class))
    start = time.perf_counter()
    if after:
        prepare(train_set)  # as the harness does before its clock starts
    prepared = time.perf_counter() - start
    settings = loader_settings(train_set, profile.batch_size, workers, profile.device)
    loader = TimedBatches(DataLoader(train_set, batch_size=profile.batch_size, shuffle=True,
                                     collate_fn=collate, **settings.kwargs(),
                                     generator=torch.Generator().manual_seed(profile.seed)))
    stats: Dict[str, float] = {}
    done, _ = train_for_budget(model, loader, profile.budget(preset), profile.lr_for(preset),
                               profile.weight_decay, channels_last=profile.channels_last,
                               progress=False, stats=stats)
    first = sum(loader.waits[:len(loader)])
    return {"preset": preset, "pipeline": name, "workers": settings.num_workers, "steps": done,
            "prepared_s": prepared,
            "seconds": stats["seconds"], "wait": stats["data_wait_s"] / stats["seconds"],
            "first_pass_s": first, "wait_after_first": (stats["data_wait_s"] - first)
            / max(stats["seconds"] - first, 1e-9)}


def _train_job(args: Tuple[str, Path, Tuple[str, bool, Optional[int]], int]) -> Dict[str, Any]:
    return train_on_folder(*args)


def wait_rows(root: Path, steps: int) -> List[Dict[str, Any]]:
    """c3d and single_frame trained side by side (as the harness's two one-thread jobs), with
    each of the `PIPELINES` in turn."""
    rows = []
    context = multiprocessing.get_context("fork" if "fork" in
                                          multiprocessing.get_all_start_methods() else "spawn")
    for pipeline in PIPELINES:
        with ProcessPoolExecutor(len(WAIT_PRESETS), mp_context=context) as pool:
            rows += pool.map(_train_job, [(p, root, pipeline, steps) for p in WAIT_PRESETS])
    return rows


def wait_table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| preset | pipeline | workers | decoded before training | steps | training | "
             "data wait | first pass over the clips | data wait after it |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['preset']} | {r['pipeline']} | {r['workers']} | {r['prepared_s']:.1f} s | "
              f"{r['steps']} | {r['seconds']:.1f} s | **{r['wait']:.0%}** | "
              f"{r['first_pass_s']:.1f} s | "
              f"{r['wait_after_first']:.0%} |" for r in rows]
    return "\n".join(lines)


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
            dataset = VideoClipDataset(records, ["x"], spec, train=True, decoder=decoder,
                                       frame_cache_mb=0)
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


def describe_clips(root: Path) -> str:
    import av
    names = []
    for path in sorted(root.rglob("*.*")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            names.append(f"{path.parent.name}/{path.name} ({stream.codec_context.name}, "
                         f"{stream.codec_context.width}x{stream.codec_context.height}, "
                         f"{stream.frames} frames)")
    return ", ".join(names)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200,
                        help="training steps per preset in the data-wait runs (within the profile's "
                             "time limit)")
    parser.add_argument("--wait-only", action="store_true", help="measure the data wait only")
    parser.add_argument("--clips", type=int, default=16, help="clips per loader run")
    parser.add_argument("--flow-pairs", type=int, default=12, help="pairs per flow method")
    parser.add_argument("--flow-method", default="tvl1", choices=FLOW_METHODS)
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS}")
    args = parser.parse_args(argv)
    machine = (f"{detect_machine('cpu').describe()}, torch {torch.__version__}, "
               f"{os.cpu_count()} CPUs ({platform.machine()})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = source_video(folder)
        root = clip_folder(folder, video)
        waits = wait_table(wait_rows(root, args.steps))
        text = (f"## Data wait while training on real videos\n\nClips: {describe_clips(root)}. "
                f"{machine}, load average {os.getloadavg()[0]:.1f} at the end.\n\n{waits}\n")
        print(text)
        if not args.wait_only:
            rows = loader_rows(video, args.clips)
            rows += flow_rows(video, args.flow_pairs)
            method = args.flow_method if flow_method_available(args.flow_method) else "dis"
            rows += cache_rows(video, method, folder)
            width = max(len(name) for name, _ in rows)
            table = "\n".join([f"| {'measure'.ljust(width)} | value |",
                               f"|{'-' * (width + 2)}|-------|"]
                              + [f"| {name.ljust(width)} | {value} |" for name, value in rows])
            header = (f"Video: {video.name}; dense 8-frame clips (stride 2) at 112 px, batch 4, "
                      f"decoded every time (no frame cache); {machine}, load average "
                      f"{os.getloadavg()[0]:.1f} at the end.")
            part = f"## Loader and optical flow\n\n{header}\n\n{table}\n"
            print(part)
            text += f"\n{part}"
    text += ("\nSingle runs: on a shared machine the figures move by tens of percent.\n")
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(f"# Data pipeline benchmark\n\n`python benchmarks/bench_data.py "
                           f"--write`\n\n{text}")
    return text


if __name__ == "__main__":
    main()
