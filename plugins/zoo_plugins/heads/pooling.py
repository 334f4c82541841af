"""Pooling heads: ``avg_pool`` (average over time and space, dropout, linear)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from zoo.registry import register_temporal_head
from zoo.specs import CLIP, FRAME, FeatureSpec, HeadSpec, ModelMeta

from .._util import valid_mask
from ..papers import PAPERS


def masked_time_mean(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean over dim 1 of ``[B, T, ...]``, counting only the first ``lengths[b]`` steps."""
    mask = valid_mask(lengths, x.shape[1], x.shape[0], x.device)
    if mask is None:
        return x.mean(1)
    m = mask.to(x.dtype).view(*mask.shape, *([1] * (x.dim() - 2)))
    return (x * m).sum(1) / m.sum(1)


class AvgPoolHead(nn.Module):
    """``[B, D, t, h, w]`` -> mean over t, h, w -> dropout -> linear."""

    def __init__(self, channels: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        v = masked_time_mean(x.mean(dim=(3, 4)).transpose(1, 2), lengths)  # [B, D]
        return self.fc(self.dropout(v))


@register_temporal_head(
    "avg_pool", spec=HeadSpec(consumes=(FRAME, CLIP)),
    meta=ModelMeta(**PAPERS["single_frame"],
                   summary="Average over time and space, dropout, linear classifier.",
                   tags=("pooling",)))
def avg_pool(feature: FeatureSpec, num_classes: int, dropout: float = 0.5) -> AvgPoolHead:
    """Average pooling over time and space, dropout, linear. Accepts ``lengths`` (valid frames)."""
    return AvgPoolHead(feature.channels, num_classes, dropout)
