"""Clip transforms in plain torch on ``[C, T, H, W]`` tensors.

Crops take a position in ``[0, 1]`` (0 = top / left, 1 = bottom / right) rather than pixels,
so that streams of different sizes (RGB and flow of a two-stream model) can share one random
crop and one flip.
"""
from __future__ import annotations

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
    antialiased when shrinking). Returns float."""
    c, t, h, w = clip.shape
    new_h, new_w = short_side_shape(h, w, size)
    scale = new_h / h
    if (new_h, new_w) == (h, w):
        return clip.float()
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


def hflip(clip: torch.Tensor, flow: bool = False) -> torch.Tensor:
    """Mirror left-right. For quantised flow (channels dx, dy, dx, dy, ... in [0, 1], 0.5 = no
    motion) the horizontal components are negated as well: dx -> 1 - dx."""
    out = clip.flip(-1)
    if flow:
        out = out.clone()
        out[0::2] = 1.0 - out[0::2]
    return out


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(clip - mean) / std`` per channel; a single value applies to every channel."""
    shape = (-1,) + (1,) * (clip.dim() - 1)
    mean_t = torch.as_tensor(mean, dtype=clip.dtype).reshape(shape)
    std_t = torch.as_tensor(std, dtype=clip.dtype).reshape(shape)
    return (clip - mean_t) / std_t


def default_short_side(spec: InputSpec, crops: int = 1) -> int:
    """The usual short side before cropping: ``size * 8/7`` (128 for 112, 256 for 224), or the
    crop size itself for three-crop testing, whose crops cover the short side."""
    return spec.size if crops == 3 else int(round(spec.size * 8 / 7))


def spatial_views(clip: torch.Tensor, spec: InputSpec, train: bool, crops: int = 1,
                  position: Optional[Tuple[float, float]] = None, flip: bool = False
                  ) -> List[torch.Tensor]:
    """Crop, flip and normalise a resized clip with values in [0, 1].

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
