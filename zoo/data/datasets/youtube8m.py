"""YouTube-8M (Abu-El-Haija et al. 2016): precomputed features, 3862 classes, multi-label.

Read from TFRecord files without TensorFlow. Video level: tf.Example with ``id``, ``labels``,
``mean_rgb`` (1024 floats), ``mean_audio`` (128). Frame level: tf.SequenceExample with context
``id``, ``labels`` and feature lists ``rgb`` / ``audio`` holding one uint8 bytes string per
second, dequantised as ``x * 4/255 + 4/512 - 2``. Samples follow the stream layout
``[C, T, 1, 1]`` (T = 1 at video level) for the streams ``rgb`` and ``audio``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ZooError
from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import AnnotationError
from ..health import ON_ERROR, DataHealth
from ..sampling import uniform_indices
from ..tfrecord import decode_example, decode_sequence_example, read_record_at, record_offsets
from .common import need_root, split_names

NUM_CLASSES = 3862
FEATURES = {"rgb": 1024, "audio": 128}


def dequantize(values: np.ndarray, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """uint8 features back to floats: ``x * (high-low)/255 + (high-low)/512 + low``."""
    scale = high - low
    return values.astype(np.float32) * (scale / 255.0) + scale / 512.0 + low


def _video_id(feature: Any) -> str:
    if not feature:
        raise ValueError("no id")
    return bytes(feature[0]).decode("utf-8", "replace")


def decode_video_level(payload: bytes) -> Tuple[str, List[int], Dict[str, np.ndarray]]:
    """``(id, labels, {"rgb": [1024], "audio": [128]})`` of a video-level record."""
    example = decode_example(payload)
    features = {}
    for stream, size in FEATURES.items():
        values = example.get(f"mean_{stream}", [])
        if len(values) != size:
            raise ValueError(f"mean_{stream} has {len(values)} values, expected {size}")
        features[stream] = np.asarray(values, dtype=np.float32)
    return _video_id(example.get("id")), [int(x) for x in example.get("labels", [])], features


def decode_frame_level(payload: bytes) -> Tuple[str, List[int], Dict[str, np.ndarray]]:
    """``(id, labels, {"rgb": [T, 1024], "audio": [T, 128]})`` of a frame-level record."""
    example = decode_sequence_example(payload)
    features = {}
    for stream, size in FEATURES.items():
        steps = [np.frombuffer(f[0], dtype=np.uint8) for f in example.feature_lists.get(stream, [])
                 if isinstance(f, list) and f]
        if not steps or any(len(s) != size for s in steps):
            raise ValueError(f"feature list {stream!r} should hold {size}-byte steps")
        features[stream] = dequantize(np.stack(steps))
    labels = [int(x) for x in example.context.get("labels", [])]
    return _video_id(example.context.get("id")), labels, features


class YouTube8MDataset(Dataset):
    """Records of TFRecord `files`, read lazily by offset; `frames` steps sampled uniformly from
    frame-level records. A damaged record follows `on_error` (skip: None, counted)."""

    def __init__(self, files: List[Path], level: str = "video", frames: int = 32,
                 on_error: str = "skip", verify: bool = True):
        if level not in ("video", "frame"):
            raise ValueError(f"level should be 'video' or 'frame', got {level!r}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error {on_error!r} is not one of {ON_ERROR}")
        self.level, self.frames, self.on_error, self.verify = level, frames, on_error, verify
        self.index = [(f, o) for f in files for o in record_offsets(f)]
        self.classes = [str(i) for i in range(NUM_CLASSES)]
        self.multi_label = True
        self.health = DataHealth()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Optional[Dict[str, Any]]:
        file, offset = self.index[i]
        try:
            payload = read_record_at(file, offset, self.verify)
            decode = decode_video_level if self.level == "video" else decode_frame_level
            try:
                video_id, labels, features = decode(payload)
            except (ValueError, IndexError, TypeError) as exc:
                raise AnnotationError(file, f"@{offset}", str(exc)) from None
            if any(not 0 <= x < NUM_CLASSES for x in labels):
                raise AnnotationError(file, f"@{offset}", f"labels outside 0..{NUM_CLASSES - 1}")
        except AnnotationError as exc:
            if self.on_error == "raise":
                raise
            self.health.record_skipped(f"{file}@{offset}", str(exc))
            return None
        inputs = {}
        for stream, values in features.items():
            if values.ndim == 2:  # [T, C] -> `frames` steps
                values = values[uniform_indices(len(values), self.frames)]
            else:
                values = values[None]
            inputs[stream] = torch.from_numpy(np.ascontiguousarray(values.T))[:, :, None, None]
        target = torch.zeros(NUM_CLASSES)
        target[labels] = 1.0
        self.health.record_loaded()
        return {"inputs": inputs, "label": target, "video": video_id}


@register_dataset("youtube8m", needs_root=True, multi_label=True, meta=ModelMeta(
    paper="YouTube-8M: A Large-Scale Video Classification Benchmark", year=2016,
    url="https://arxiv.org/abs/1609.08675"))
def youtube8m(root: Any = None, split: str = "train",
              inputs: Optional[Dict[str, InputSpec]] = None, *, level: str = "video",
              frames: Optional[int] = None, **options: Any):
    """YouTube-8M `level` ("video" or "frame") features from ``root/{split}*.tfrecord``
    ("val" also finds ``validate*``); frame level samples ``frames`` steps (default: the rgb
    stream's ``InputSpec.frames``, else 32)."""
    root = need_root(root, "youtube8m")
    files = sorted({p for name in split_names(split) for p in root.glob(f"{name}*.tfrecord")})
    if not files:
        raise ZooError(f"no {split}*.tfrecord files in {root}")
    if frames is None:
        frames = inputs["rgb"].frames if inputs and "rgb" in inputs else 32
    return YouTube8MDataset(files, level, frames, **options)
