"""Clip transforms in plain torch on ``[C, T, H, W]`` tensors.

Crops take a position in ``[0, 1]`` (0 = top / left, 1 = bottom / right) rather than pixels,
so that streams of different sizes (RGB and flow of a two-stream model) can share one random
crop and one flip.
"""
from __future__ import annotations

import functools
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..specs import InputSpec


def short_side_shape(height: int, width: int, size: int) -> Tuple[int, int]:
    """``(H, W)`` after resizing the shorter side to `size`, keeping the aspect ratio."""
    scale = size / min(height, width)
    return max(int(round(height * scale)), size), max(int(round(width * scale)), size)


def resize_short_side(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so that the shorter of H and W is `size`, keeping the aspect ratio (bilinear,
    antialiased when shrinking). Returns float, or `clip` itself when it has that size."""
    c, t, h, w = clip.shape
    new_h, new_w = short_side_shape(h, w, size)
    scale = new_h / h
    if (new_h, new_w) == (h, w):
        return clip
    frames = clip.permute(1, 0, 2, 3).float()  # [T, C, H, W]
    frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False,
                           antialias=scale < 1)
    return frames.permute(1, 0, 2, 3)


def crop(clip: torch.Tensor, size: int, position: Tuple[float, float] = (0.5, 0.5)) -> torch.Tensor:
    """A `size` x `size` crop at `position` = (vertical, horizontal) in [0, 1]."""
    h, w = clip.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w}; resize first")
    top = int(round((h - size) * position[0]))
    left = int(round((w - size) * position[1]))
    return clip[..., top:top + size, left:left + size]


def center_crop(clip: torch.Tensor, size: int) -> torch.Tensor:
    return crop(clip, size, (0.5, 0.5))


def random_position(generator: Optional[torch.Generator] = None) -> Tuple[float, float]:
    """A uniformly random crop position."""
    u = torch.rand(2, generator=generator)
    return float(u[0]), float(u[1])


def random_crop(clip: torch.Tensor, size: int,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    return crop(clip, size, random_position(generator))


THREE_CROP_POSITIONS = ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0))


def three_crops(clip: torch.Tensor, size: int) -> List[torch.Tensor]:
    """The three test crops along the longer side: start, centre, end (ordinary "3 crops")."""
    return [crop(clip, size, p) for p in THREE_CROP_POSITIONS]


def _full_scale(clip: torch.Tensor) -> float:
    """The value of a full-scale pixel: 255 for uint8 clips, 1 for float clips in [0, 1]."""
    return 255 if clip.dtype == torch.uint8 else 1.0


def hflip(clip: torch.Tensor, flow: bool = False) -> torch.Tensor:
    """Mirror left-right. For quantised flow (channels dx, dy, dx, dy, ... in [0, 1] or uint8,
    the middle = no motion) the horizontal components are negated as well: dx -> 1 - dx."""
    out = clip.flip(-1)
    if flow:
        out[0::2] = _full_scale(out) - out[0::2]
    return out


@functools.lru_cache(maxsize=64)
def _affine(mean: Tuple[float, ...], std: Tuple[float, ...], channels: int, dims: int,
            full_scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``x * scale + shift == (x / full_scale - mean) / std``, shaped to
    broadcast over a clip of `dims` dimensions."""
    shape = (channels,) + (1,) * (dims - 1)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).expand(channels)
    std_t = torch.as_tensor(std, dtype=torch.float32).expand(channels)
    return (1.0 / (full_scale * std_t)).reshape(shape), (-mean_t / std_t).reshape(shape)


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(clip - mean) / std`` per channel in float32, for a float clip in [0, 1] or a uint8 clip
    (read as ``clip / 255``), contiguous; a single mean or std applies to every channel."""
    scale, shift = _affine(tuple(mean), tuple(std), clip.shape[0], clip.dim(),
                           _full_scale(clip))
    out = clip.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    return out.mul_(scale).add_(shift)


def default_short_side(spec: InputSpec, crops: int = 1) -> int:
    """The usual short side before cropping: ``size * 8/7`` (128 for 112, 256 for 224), or the
    crop size itself for three-crop testing, whose crops cover the short side."""
    return spec.size if crops == 3 else int(round(spec.size * 8 / 7))


def spatial_views(clip: torch.Tensor, spec: InputSpec, train: bool, crops: int = 1,
                  position: Optional[Tuple[float, float]] = None, flip: bool = False
                  ) -> List[torch.Tensor]:
    """Crop, flip and normalise a resized clip (float in [0, 1], or uint8).

    Training gives one crop at `position` (random if None), mirrored when `flip`; testing gives
    the centre crop, or the three crops when ``crops == 3``.
    """
    if train:
        views = [crop(clip, spec.size, position or random_position())]
        if flip:
            views = [hflip(views[0], flow=spec.modality == "flow")]
    elif crops == 3:
        views = three_crops(clip, spec.size)
    elif crops == 1:
        views = [center_crop(clip, spec.size)]
    else:
        raise ValueError(f"test crops must be 1 or 3, got {crops}")
    return [normalize(v, spec.mean, spec.std) for v in views]
