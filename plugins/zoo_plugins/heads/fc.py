"""``c3d_fc``: C3D's fully connected layers (fc6, fc7 with dropout, fc8) over the flattened pool5 map.

fc6's input size is taken from the FeatureSpec, so the head fits any input size (512 x 1 x 4 x 4 =
8192 at the paper's 3 x 16 x 112 x 112)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from zoo.registry import register_temporal_head
from zoo.specs import CLIP, FeatureSpec, HeadSpec, ModelMeta

from .._util import scaled


class FCHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 4096, dropout: float = 0.5):
        super().__init__()
        self.fc6 = nn.Linear(in_features, hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        self.fc8 = nn.Linear(hidden, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.dropout(self.relu(self.fc6(x.flatten(1))))
        x = self.dropout(self.relu(self.fc7(x)))
        return self.fc8(x)


@register_temporal_head(
    "c3d_fc", spec=HeadSpec(consumes=(CLIP,)),
    meta=ModelMeta(paper="Learning Spatiotemporal Features with 3D Convolutional Networks "
                         "(Tran, Bourdev, Fergus, Torresani, Paluri)", year=2015,
                   url="https://arxiv.org/abs/1412.0767",
                   summary="C3D's fc6-fc7 (4096 units, dropout) and fc8 over the flattened map.",
                   tags=("c3d", "fc")))
def c3d_fc(feature: FeatureSpec, num_classes: int, hidden: int = 4096, dropout: float = 0.5,
           width: float = 1.0) -> FCHead:
    """Flatten the clip map, fc6 and fc7 (`hidden` x `width` units, ReLU, dropout), fc8."""
    t = feature.time_steps * feature.spatial[0] * feature.spatial[1]
    return FCHead(feature.channels * t, num_classes, scaled(hidden, width), dropout)
