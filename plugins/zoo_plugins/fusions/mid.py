"""Mid-level fusions: ``{stream: map [B, D_s, t, h, w]} -> map``; a temporal head reads the result.

* ``concat_maps``: the maps concatenated along channels.
* ``conv3d_fusion`` (Feichtenhofer, Pinz & Zisserman 2016): the streams' maps stacked along
  channels at every time step, a 3x3x3 convolution over that stack (learning the correspondence
  between the streams' channels, and across time), then 3D max pooling over time (all T steps by
  default) and space. ``batch_norm`` / ``relu`` add BN and ReLU after the convolution (defaults;
  the paper's fusion is the convolution alone: ``batch_norm=False, relu=False``).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from zoo.registry import register_fusion
from zoo.specs import CLIP, FRAME, FeatureSpec, FusionSpec, ModelMeta

from ..papers import PAPERS
from .._util import safe_max_pool3d, scaled


class ConcatMaps(nn.Module):
    def __init__(self, features: Dict[str, FeatureSpec]):
        super().__init__()
        self.streams = list(features)
        first = next(iter(features.values()))
        kinds = {f.time for f in features.values()}
        self.feature_spec = FeatureSpec(channels=sum(f.channels for f in features.values()),
                                        time=FRAME if kinds == {FRAME} else CLIP,
                                        time_steps=first.time_steps, spatial=first.spatial)

    def forward(self, maps: Dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([maps[s] for s in self.streams], dim=1)


class Conv3dFusion(nn.Module):
    def __init__(self, features: Dict[str, FeatureSpec], out_channels: Optional[int] = None,
                 kernel_size: int = 3, time_pool: Optional[int] = None, spatial_pool: int = 3,
                 spatial_stride: int = 2, batch_norm: bool = True, relu: bool = True):
        super().__init__()
        self.streams = list(features)
        first = next(iter(features.values()))
        in_ch = sum(f.channels for f in features.values())
        out_channels = out_channels or first.channels
        k = kernel_size
        self.conv = nn.Conv3d(in_ch, out_channels, k, padding=k // 2, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        t = first.time_steps
        self.pool_kernel = (time_pool or t, spatial_pool, spatial_pool)
        self.pool_stride = (time_pool or t, spatial_stride, spatial_stride)
        pad = (spatial_pool - 1) // 2  # 3x3 pools pad by 1; 2x2 (VGG's pool5) by 0
        self.pool_padding = (0, pad, pad)
        h, w = first.spatial
        kt, st = self.pool_kernel[0], self.pool_stride[0]
        sp = [self._pooled(n, spatial_pool, spatial_stride, pad) for n in (h, w)]
        self.feature_spec = FeatureSpec(channels=out_channels, time=CLIP,
                                        time_steps=self._pooled(t, kt, st, 0), spatial=(sp[0], sp[1]))

    @staticmethod
    def _pooled(n, k, s, p):
        if n + 2 * p < k:  # safe_max_pool3d shrinks the kernel to the input
            return 1
        return (n + 2 * p - k) // s + 1

    def forward(self, maps: Dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([maps[s] for s in self.streams], dim=1)
        x = self.relu(self.bn(self.conv(x)))
        return safe_max_pool3d(x, self.pool_kernel, self.pool_stride, self.pool_padding)


@register_fusion("concat_maps", spec=FusionSpec(level="mid", min_streams=2, same_spatial=True),
                 meta=ModelMeta(**PAPERS["fusion_2016"],
                                summary="Mid-level fusion: feature maps concatenated along channels.",
                                tags=("mid",)))
def concat_maps(features: Dict[str, FeatureSpec]) -> ConcatMaps:
    """Concatenate the streams' feature maps along channels (equal t, h, w required)."""
    return ConcatMaps(features)


@register_fusion("conv3d_fusion", spec=FusionSpec(level="mid", min_streams=2, same_spatial=True),
                 meta=ModelMeta(**PAPERS["fusion_2016"],
                                summary="Maps stacked per time step, 3x3x3 convolution, 3D max "
                                        "pooling over time and space.", tags=("mid", "3d")))
def conv3d_fusion(features: Dict[str, FeatureSpec], out_channels: Optional[int] = None,
                  kernel_size: int = 3, time_pool: Optional[int] = None, spatial_pool: int = 3,
                  spatial_stride: int = 2, batch_norm: bool = True, relu: bool = True,
                  width: float = 1.0) -> Conv3dFusion:
    """3D-conv fusion: stack maps (channels), 3x3x3 conv (+ BN, ReLU) to `out_channels` x `width`
    (default: the first stream's channels, already scaled by its backbone's width), 3D max pooling
    (`time_pool` steps, default all; `spatial_pool` (3) stride `spatial_stride` (2) in space)."""
    out_channels = scaled(out_channels, width) if out_channels else None
    return Conv3dFusion(features, out_channels, kernel_size, time_pool, spatial_pool, spatial_stride,
                        batch_norm, relu)
