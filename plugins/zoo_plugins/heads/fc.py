"""Fully connected heads: optional 3D max pooling, the flattened map, hidden layers (ReLU,
dropout), a classifier.

* ``fc``: `hidden` sizes (default fc6, fc7 of 4096); ``pool`` = (t, h, w) max pooling first
  (t = 0: all time steps); ``per_frame``: each time step separately, its scores averaged (the
  two-stream networks' fc6-fc8 on every frame).
* ``c3d_fc``: C3D's fc6, fc7 (4096, dropout) and fc8 over the flattened clip map (512 x 1 x 4 x 4 =
  8192 at the paper's 3 x 16 x 112 x 112).

The first layer's input size is taken from the FeatureSpec, so the heads fit any input size.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from zoo.model import refuse_padding
from zoo.registry import register_temporal_head
from zoo.specs import CLIP, FRAME, FeatureSpec, HeadSpec, ModelMeta

from .._util import reduce_steps, safe_max_pool3d, scaled
from ..papers import PAPERS


def _pooled(n: int, k: int) -> int:
    return 1 if n < k else (n - k) // k + 1


class FCHead(nn.Module):
    """Layers fc6, fc7, ... (one per hidden size) and the classifier after them."""

    def __init__(self, feature: FeatureSpec, num_classes: int, hidden: Sequence[int] = (4096, 4096),
                 dropout: float = 0.5, pool: Optional[Sequence[int]] = None, per_frame: bool = False):
        super().__init__()
        t, (h, w) = feature.time_steps, feature.spatial
        self.pool = None
        if pool:
            self.pool = (int(pool[0]) or t, int(pool[1]), int(pool[2]))
            t, h, w = (_pooled(n, k) for n, k in zip((t, h, w), self.pool))
        self.per_frame = per_frame
        size = feature.channels * h * w * (1 if per_frame else t)
        self.names = [f"fc{6 + i}" for i in range(len(hidden) + 1)]
        for name, out in zip(self.names, list(hidden) + [num_classes]):
            setattr(self, name, nn.Linear(size, out))
            size = out
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.per_frame:
            refuse_padding(lengths, x.shape[2], "a fully connected head over the whole clip")
        if self.pool:
            x = safe_max_pool3d(x, self.pool, self.pool)
        x = x.transpose(1, 2).flatten(2) if self.per_frame else x.flatten(1)[:, None]  # [B, T, F]
        for name in self.names[:-1]:
            x = self.dropout(self.relu(getattr(self, name)(x)))
        scores = getattr(self, self.names[-1])(x)
        return reduce_steps(scores, lengths, "mean")


@register_temporal_head(
    "fc", spec=HeadSpec(consumes=(FRAME, CLIP)),
    meta=ModelMeta(**PAPERS["two_stream"],
                   summary="Optional 3D max pooling, fully connected layers (ReLU, dropout), "
                           "classifier; per frame (scores averaged) or over the whole clip.",
                   tags=("fc",)))
def fc(feature: FeatureSpec, num_classes: int, hidden: Sequence[int] = (4096, 4096),
       dropout: float = 0.5, pool: Optional[Sequence[int]] = None, per_frame: bool = False,
       width: float = 1.0) -> FCHead:
    """`pool` (t, h, w) max pooling (t = 0: all steps), then fc layers of `hidden` x `width` units
    (ReLU, dropout) and the classifier; `per_frame` scores each time step and averages."""
    return FCHead(feature, num_classes, [scaled(h, width) for h in hidden], dropout, pool, per_frame)


@register_temporal_head(
    "c3d_fc", spec=HeadSpec(consumes=(CLIP,)),
    meta=ModelMeta(**PAPERS["c3d"],
                   summary="C3D's fc6-fc7 (4096 units, dropout) and fc8 over the flattened map.",
                   tags=("c3d", "fc")))
def c3d_fc(feature: FeatureSpec, num_classes: int, hidden: int = 4096, dropout: float = 0.5,
           width: float = 1.0) -> FCHead:
    """Flatten the clip map, fc6 and fc7 (`hidden` x `width` units, ReLU, dropout), fc8."""
    return FCHead(feature, num_classes, [scaled(hidden, width)] * 2, dropout)
