"""Optical flow with OpenCV (TV-L1, DIS, Farneback), quantised and cached as in two-stream work.

A flow field (dx, dy) in pixels is clipped to ``[-bound, bound]`` (20 px) and mapped linearly to
0..255 with 128 = no motion (Simonyan & Zisserman 2014; Feichtenhofer et al. 2016). Fields are
cached on disk as uint8, one ``.npy`` per frame pair, in a folder keyed by the video (path, size,
modification time) and every parameter that changes the result, so a second epoch reads instead
of computing.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch

FLOW_METHODS = ("tvl1", "dis", "farneback")
FLOW_BOUND = 20.0  # pixels: flow is clipped to [-FLOW_BOUND, FLOW_BOUND] before quantising


@dataclass(frozen=True)
class FlowOptions:
    """How flow is computed: `method`, clipping `bound` in pixels, whether the mean displacement
    (camera motion) is subtracted first (on by default, as in Simonyan & Zisserman 2014;
    ``subtract_mean=False`` keeps the raw displacement, as the I3D reference does), and where
    fields are cached (None: no cache)."""

    method: str = "tvl1"
    bound: float = FLOW_BOUND
    subtract_mean: bool = True
    cache_dir: Optional[str] = None

    def __post_init__(self):
        if self.method not in FLOW_METHODS:
            raise ValueError(f"flow method {self.method!r} is not one of {FLOW_METHODS}")
        if self.bound <= 0:
            raise ValueError(f"flow bound must be positive, got {self.bound}")


def flow_method_available(method: str) -> bool:
    """Whether this OpenCV build offers `method` (TV-L1 needs opencv-contrib's cv2.optflow)."""
    import cv2
    if method == "tvl1":
        return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")
    return method in FLOW_METHODS


def make_flow_fn(method: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function ``(prev_gray, next_gray) -> flow [H, W, 2] float32`` for `method`."""
    import cv2
    if not flow_method_available(method):
        raise ValueError(f"flow method {method!r} is not available in this OpenCV build "
                         f"(TV-L1 needs opencv-contrib-python)")
    if method == "tvl1":
        algorithm = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: algorithm.calc(a, b, None)
    if method == "dis":
        algorithm = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: algorithm.calc(a, b, None)
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def quantize_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Clip to ``[-bound, bound]`` and map linearly to uint8 0..255 (0 px -> 128)."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.floor(scaled + 0.5).astype(np.uint8)


def dequantize_flow(quantized: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Pixels from quantised flow (the inverse of `quantize_flow` up to a step of 40/255 px)."""
    return quantized.astype(np.float32) * (2 * bound / 255.0) - bound


def subtract_camera_motion(flow: np.ndarray) -> np.ndarray:
    """Remove the mean displacement of each component, a simple camera-motion compensation."""
    return flow - flow.reshape(-1, 2).mean(axis=0)


def to_gray(frame_rgb: np.ndarray) -> np.ndarray:
    """uint8 luma of an RGB frame ``[H, W, 3]``."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(frame_rgb.astype(np.float32) @ weights + 0.5, 0, 255).astype(np.uint8)


class FlowComputer:
    """Quantised flow between frame pairs of one video, through the disk cache when configured.

    Counts `computed` and `cached` pairs (per process). The OpenCV objects are created lazily and
    not pickled, so a computer can travel to DataLoader workers.
    """

    def __init__(self, options: FlowOptions = FlowOptions()):
        self.options = options
        self._flow_fn: Optional[Callable] = None
        self.computed = 0
        self.cached = 0

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_flow_fn"] = None
        return state

    def cache_folder(self, video: Any, frame_shape: Sequence[int]) -> Optional[Path]:
        """The cache folder of `video` at this frame size and these options, or None."""
        if self.options.cache_dir is None:
            return None
        path = Path(video).resolve()
        stat = path.stat()
        key = repr((str(path), stat.st_size, stat.st_mtime_ns, tuple(frame_shape[:2]),
                    {k: v for k, v in asdict(self.options).items() if k != "cache_dir"}))
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return Path(self.options.cache_dir) / f"{path.stem}-{digest}"

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Quantised flow ``[H, W, 2]`` uint8 from RGB frame `first` to `second`."""
        if self._flow_fn is None:
            self._flow_fn = make_flow_fn(self.options.method)
        flow = self._flow_fn(to_gray(first), to_gray(second))
        if self.options.subtract_mean:
            flow = subtract_camera_motion(flow)
        self.computed += 1
        return quantize_flow(flow, self.options.bound)

    def _entry(self, folder: Optional[Path], start: int, end: int) -> Optional[Path]:
        return folder / f"{start:06d}_{end:06d}.npy" if folder is not None else None

    @staticmethod
    def _load(file: Optional[Path]) -> Optional[np.ndarray]:
        if file is None or not file.is_file():
            return None
        try:
            return np.load(file)
        except (OSError, ValueError):
            return None  # a damaged cache entry: computed again

    def from_cache(self, video: Any, frame_shape: Sequence[int],
                   pairs: Dict[int, int]) -> Optional[Dict[int, np.ndarray]]:
        """``{start: flow}`` for `pairs` (``{start: end}``) when every one is cached, else None;
        lets a dataset skip decoding the frames of a fully cached flow stream."""
        folder = self.cache_folder(video, frame_shape)
        if folder is None or not folder.is_dir():
            return None
        out = {}
        for start, end in pairs.items():
            field = self._load(self._entry(folder, start, end))
            if field is None:
                return None
            out[start] = field
        self.cached += len(out)
        return out

    def pairs(self, video: Any, frames: Dict[int, np.ndarray],
              pairs: Dict[int, int]) -> Dict[int, np.ndarray]:
        """``{start: flow from frames[start] to frames[end]}`` for `pairs` (``{start: end}``),
        read from the cache where present, computed (and cached) otherwise."""
        folder = self.cache_folder(video, next(iter(frames.values())).shape)
        out: Dict[int, np.ndarray] = {}
        for start, end in pairs.items():
            file = self._entry(folder, start, end)
            field = self._load(file)
            if field is not None:
                self.cached += 1
            else:
                field = self.pair(frames[start], frames[end])
                if file is not None:
                    _atomic_save(file, field)
            out[start] = field
        return out


def _atomic_save(file: Path, array: np.ndarray) -> None:
    """Write through a temporary file, so that parallel workers never read half an entry."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, file)


def rgb_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """RGB difference of frames in [0, 1], mapped to [0, 1] with 0.5 = no change (TSN's cheap
    motion modality)."""
    return (second - first + 1.0) * 0.5
