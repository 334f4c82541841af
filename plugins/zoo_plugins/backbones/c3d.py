"""C3D (Tran et al. 2015): eight 3x3x3 convolutions and five max-poolings.

The backbone outputs pool5 (512 x 1 x 4 x 4 at the paper's 3 x 16 x 112 x 112 input); the
``c3d_fc`` head adds fc6, fc7 (4096 units, dropout) and fc8, sized from the map, so the preset
``c3d`` is the paper's network (about 78.4 M parameters at 101 classes) and also builds at small
inputs. pool5 pads space by one, as in the released Caffe model (7 x 7 -> 4 x 4).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.registry import register_backbone
from zoo.specs import CLIP, NORMALISATION, InputSpec, ModelMeta
from zoo.weights import Pretrained

from .._util import (MapBackbone, SafeMaxPool3d, check_batch_norm, check_width, he_init,
                     scaled)
from ..papers import PAPERS

C3D_META = ModelMeta(
    **PAPERS["c3d"],
    summary="Eight 3x3x3 convolutions (64-128-256-256-512-512-512-512), five max-poolings "
            "(1x2x2 then 2x2x2); generic spatiotemporal features.",
    tags=("3d", "c3d"))

# (name, out_channels) of the convolutions, with the pool after each group
C3D_LAYERS = [("conv1a", 64), "pool1", ("conv2a", 128), "pool2", ("conv3a", 256), ("conv3b", 256),
              "pool3", ("conv4a", 512), ("conv4b", 512), "pool4", ("conv5a", 512), ("conv5b", 512),
              "pool5"]


class C3D(MapBackbone):
    time_kind = CLIP

    def __init__(self, in_channels: int = 3, width: float = 1.0, batch_norm: bool = False):
        super().__init__()
        layers, c = [], in_channels
        for item in C3D_LAYERS:
            if isinstance(item, tuple):
                name, out = item[0], scaled(item[1], width)
                layers.append((name, nn.Conv3d(c, out, 3, padding=1, bias=not batch_norm)))
                if batch_norm:
                    layers.append((name + "_bn", nn.BatchNorm3d(out)))
                layers.append((name + "_relu", nn.ReLU(inplace=True)))
                c = out
            elif item == "pool1":
                layers.append((item, SafeMaxPool3d((1, 2, 2), (1, 2, 2))))
            elif item == "pool5":
                layers.append((item, SafeMaxPool3d(2, 2, padding=(0, 1, 1))))
            else:
                layers.append((item, SafeMaxPool3d(2, 2)))
        self.features = nn.Sequential()
        for name, m in layers:
            self.features.add_module(name, m)
        self.out_channels = c
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


C3D_INPUT = InputSpec(frames=16, size=112, **NORMALISATION["c3d_sports1m"].as_config())


@register_backbone("c3d", temporal="clip", default_input=C3D_INPUT, meta=C3D_META,
                   weights=Pretrained(cache=["c3d/c3d.pth"]))
def c3d(in_channels: int = 3, pretrained: Any = False, width: float = 1.0,
        batch_norm: bool = False) -> C3D:
    """C3D convolutions up to pool5 (use the ``c3d_fc`` head for fc6-fc8); `width` scales every
    layer's channels; `batch_norm` adds batch normalisation after every convolution (not in the
    paper: for training from scratch in a short budget)."""
    return C3D(in_channels, check_width(width, pretrained, "c3d"),
               check_batch_norm(batch_norm, pretrained, "c3d"))
