"""``conv3d``: a 3D convolution over the feature map, global pooling, linear."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from zoo.model import refuse_padding
from zoo.registry import register_temporal_head
from zoo.specs import CLIP, FRAME, FeatureSpec, HeadSpec, ModelMeta

from .._util import scaled
from ..papers import PAPERS


class Conv3dHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, hidden: int = 512, kernel_size=(3, 3, 3),
                 dropout: float = 0.5):
        super().__init__()
        k = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 3
        self.conv = nn.Conv3d(channels, hidden, k, padding=tuple(v // 2 for v in k), bias=False)
        self.bn = nn.BatchNorm3d(hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        refuse_padding(lengths, x.shape[2], "temporal head 'conv3d' (its convolution mixes time)")
        x = self.relu(self.bn(self.conv(x)))
        return self.fc(self.dropout(x.mean(dim=(2, 3, 4))))


@register_temporal_head(
    "conv3d", spec=HeadSpec(consumes=(FRAME, CLIP), needs_spatial=True),
    meta=ModelMeta(**PAPERS["fusion_2016"],
                   summary="3x3x3 convolution (BN, ReLU) over the map, global average pooling, "
                           "dropout, linear.", tags=("3d",)))
def conv3d(feature: FeatureSpec, num_classes: int, hidden: int = 512, kernel_size=3,
           dropout: float = 0.5, width: float = 1.0) -> Conv3dHead:
    """A 3D convolution (`hidden` x `width` channels) over the [D, t, h, w] map, then global
    average pooling and a linear layer."""
    return Conv3dHead(feature.channels, num_classes, scaled(hidden, width), kernel_size, dropout)
