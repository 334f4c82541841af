"""Clip sampling: which frame indices a clip reads.

All functions return frame indices into ``[0, num_frames)``; a video shorter than the clip is
padded (`pad_indices`): ``"repeat"`` repeats the last frame, ``"loop"`` starts over.
`span` > 1 asks for `span` consecutive frames at each step (flow stacks, RGB differences); the
result then has ``len * span`` entries, step-major.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

PAD_MODES = ("repeat", "loop")


def pad_indices(indices: Sequence[int], num_frames: int, pad: str = "repeat") -> List[int]:
    """Map indices past the end back into the video: repeat the last frame, or loop."""
    if pad not in PAD_MODES:
        raise ValueError(f"pad {pad!r} is not one of {PAD_MODES}")
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if pad == "loop":
        return [i % num_frames for i in indices]
    return [min(max(i, 0), num_frames - 1) for i in indices]


def _expand(starts: Sequence[int], span: int) -> List[int]:
    return [s + k for s in starts for k in range(span)]


def _dense_from(first: int, num_frames: int, frames: int, stride: int, span: int,
                pad: str) -> List[int]:
    return pad_indices(_expand([first + i * stride for i in range(frames)], span), num_frames, pad)


def _randint(high: int, generator: Optional[torch.Generator]) -> int:
    """Uniform in ``[0, high]``."""
    return int(torch.randint(high + 1, (1,), generator=generator)) if high > 0 else 0


def clip_length(sampling: str, frames: int, stride: int = 1, span: int = 1) -> int:
    """The fewest frames a video needs for a clip without padding."""
    return (frames - 1) * stride + span if sampling == "dense" else frames * span


def uniform_indices(num_frames: int, frames: int, span: int = 1, pad: str = "repeat",
                    offset: float = 0.5) -> List[int]:
    """`frames` steps spread evenly over the whole video, at `offset` (0..1) into each equal
    part (the centre by default)."""
    usable = max(num_frames - span + 1, 1)
    starts = [min(int((i + offset) * usable / frames), usable - 1) for i in range(frames)]
    return pad_indices(_expand(starts, span), num_frames, pad)


def segment_indices(num_frames: int, frames: int, train: bool, span: int = 1,
                    generator: Optional[torch.Generator] = None, pad: str = "repeat") -> List[int]:
    """TSN: the video cut into `frames` equal segments, one step per segment, at a random
    position when training and at the segment's centre when testing."""
    if not train:
        return uniform_indices(num_frames, frames, span, pad)
    usable = max(num_frames - span + 1, 1)
    starts = []
    for i in range(frames):
        lo, hi = i * usable // frames, max((i + 1) * usable // frames - 1, i * usable // frames)
        starts.append(lo + _randint(hi - lo, generator))
    return pad_indices(_expand(starts, span), num_frames, pad)


def dense_indices(num_frames: int, frames: int, stride: int, train: bool, span: int = 1,
                  generator: Optional[torch.Generator] = None, pad: str = "repeat",
                  start: Optional[float] = None) -> List[int]:
    """C3D / I3D: `frames` consecutive steps `stride` apart, starting at random when training
    (or at fraction `start` in [0, 1] of the room left, when given) and centred when testing."""
    room = num_frames - clip_length("dense", frames, stride, span)
    if room <= 0:
        first = 0
    elif start is not None:
        first = min(int(start * (room + 1)), room)
    else:
        first = _randint(room, generator) if train else room // 2
    return _dense_from(first, num_frames, frames, stride, span, pad)


def multiview_indices(sampling: str, num_frames: int, frames: int, stride: int, views: int,
                      span: int = 1, pad: str = "repeat") -> List[List[int]]:
    """Test-time temporal views: `views` clips spread evenly over the video. Dense clips start at
    evenly spaced points; uniform / segment clips shift their position inside each segment."""
    if sampling != "dense":
        return [uniform_indices(num_frames, frames, span, pad, offset=(v + 0.5) / views)
                for v in range(views)]
    room = max(num_frames - clip_length(sampling, frames, stride, span), 0)
    starts = [int(round(room * (v + 0.5) / views)) for v in range(views)] if views > 1 else [room // 2]
    return [_dense_from(start, num_frames, frames, stride, span, pad) for start in starts]


def slowfast_indices(num_frames: int, frames: int, alpha: int, stride: int, train: bool,
                     generator: Optional[torch.Generator] = None,
                     pad: str = "repeat") -> Tuple[List[int], List[int]]:
    """SlowFast: one window read at two rates. The fast pathway takes `frames` frames `stride`
    apart; the slow pathway every `alpha`-th of those (``frames // alpha`` frames)."""
    if frames % alpha:
        raise ValueError(f"frames ({frames}) must be a multiple of alpha ({alpha})")
    fast = dense_indices(num_frames, frames, stride, train, generator=generator, pad=pad)
    return fast[::alpha], fast


def sample_indices(sampling: str, num_frames: int, frames: int, stride: int, train: bool,
                   span: int = 1, generator: Optional[torch.Generator] = None,
                   pad: str = "repeat", start: Optional[float] = None) -> List[int]:
    """Dispatch on `InputSpec.sampling`: ``uniform``, ``dense`` or ``segments`` (`start` is the
    dense clip's position, see `dense_indices`)."""
    if sampling == "uniform":
        return uniform_indices(num_frames, frames, span, pad)
    if sampling == "segments":
        return segment_indices(num_frames, frames, train, span, generator, pad)
    if sampling == "dense":
        return dense_indices(num_frames, frames, stride, train, span, generator, pad, start)
    raise ValueError(f"unknown sampling {sampling!r}")
