"""``tsn``: Temporal Segment Networks' segmental consensus (Wang et al. 2016).

Each time step of the map is one segment's snippet; every snippet gets its own class scores
(spatial average, dropout, linear shared over segments) and the consensus (``avg`` or ``max``)
of these scores is the clip's prediction. With ``consensus="avg"`` over uniformly sampled frames
this is also the single-frame baseline of Karpathy et al. (predictions averaged over frames).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from zoo.registry import register_temporal_head
from zoo.specs import FRAME, FeatureSpec, HeadSpec, ModelMeta

from .._util import reduce_steps
from ..papers import PAPERS

CONSENSUS = ("avg", "max")


class TSNHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, dropout: float = 0.5, consensus: str = "avg"):
        super().__init__()
        if consensus not in CONSENSUS:
            raise ValueError(f"consensus {consensus!r} is not one of {CONSENSUS}")
        self.consensus = consensus
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        scores = self.fc(self.dropout(x.mean(dim=(3, 4)).transpose(1, 2)))  # [B, T, K]
        return reduce_steps(scores, lengths, "mean" if self.consensus == "avg" else "max")


@register_temporal_head(
    "tsn", spec=HeadSpec(consumes=(FRAME,)),
    meta=ModelMeta(**PAPERS["tsn"],
                   summary="Per-segment class scores, combined by a segmental consensus (avg/max).",
                   tags=("tsn", "consensus")))
def tsn(feature: FeatureSpec, num_classes: int, dropout: float = 0.5, consensus: str = "avg") -> TSNHead:
    """Per-frame (per-segment) predictions and their consensus (``avg`` or ``max``)."""
    return TSNHead(feature.channels, num_classes, dropout, consensus)
