"""Pre-ResNet ImageNet ConvNets run on every frame, as the classic video papers used them.

* ``cnn_m_2048``: CNN-M-2048 (Chatfield et al. 2014), both streams of Simonyan & Zisserman's
  two-stream network (2014): conv1 96x7x7/2, LRN, pool; conv2 256x5x5/2, LRN (``norm2``: the
  paper removes it from the temporal stream, so by default only 3-channel inputs keep it), pool;
  conv3-5 512x3x3, pool5 (512 x 6 x 6 at 224 pixels).
* ``caffenet``: CaffeNet (AlexNet as released with Caffe: pooling before LRN, grouped conv2/4/5),
  LRCN's visual network (Donahue et al. 2015); up to pool5 (256 x 6 x 6 at 227 pixels).
* ``vgg16``: VGG-16 (Simonyan & Zisserman 2015) up to conv5_3's ReLU (512 x 14 x 14 at 224), the
  point where Feichtenhofer et al. (2016) fuse the two streams; pool5 belongs to the head.

The fully connected layers are heads (``fc``, or ``lstm`` with ``fc6``) sized from the map, so the
networks also build at small inputs. Pools round up, as Caffe's do, and shrink to the input where
the input is smaller (tiny test clips). LRN: 5 channels, alpha 1e-4, beta 0.75, k 1 (Caffe's).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

import torch
from torch import nn

from zoo.registry import register_backbone
from zoo.specs import FRAME, NORMALISATION, InputSpec, ModelMeta
from zoo.weights import Pretrained

from .._util import (MapBackbone, SafeMaxPool3d, check_batch_norm, check_width, he_init,
                     scaled)
from ..papers import PAPERS

# a layer table: ("convN", channels, kernel, stride, padding, groups) + ReLU, ("poolN", kernel,
# stride) max pooling, "normN" local response normalisation
CNN_M_2048 = [("conv1", 96, 7, 2, 0, 1), "norm1", ("pool1", 3, 2), ("conv2", 256, 5, 2, 1, 1),
              "norm2", ("pool2", 3, 2), ("conv3", 512, 3, 1, 1, 1), ("conv4", 512, 3, 1, 1, 1),
              ("conv5", 512, 3, 1, 1, 1), ("pool5", 3, 2)]
CAFFENET = [("conv1", 96, 11, 4, 0, 1), ("pool1", 3, 2), "norm1", ("conv2", 256, 5, 1, 2, 2),
            ("pool2", 3, 2), "norm2", ("conv3", 384, 3, 1, 1, 1), ("conv4", 384, 3, 1, 1, 2),
            ("conv5", 256, 3, 1, 1, 2), ("pool5", 3, 2)]


def _vgg(blocks):
    table = []
    for b, (channels, convs) in enumerate(blocks, 1):
        table += [(f"conv{b}_{i}", channels, 3, 1, 1, 1) for i in range(1, convs + 1)]
        table.append((f"pool{b}", 2, 2))
    return table[:-1]  # up to conv5_3


VGG16 = _vgg([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)])
IMAGENET = NORMALISATION["imagenet"].as_config()


class LocalResponseNorm(nn.LocalResponseNorm):
    """`nn.LocalResponseNorm` (the same function and module state) with the sum of squares over
    each channel window taken as one matrix product with a band of ones: on a CPU its forward and
    backward passes run 2-3x faster than torch's pooling-based one (measured at CNN-M's norm1,
    128 frames of 12x13x13: 26.8 -> 8.1 ms), which took half of a two-stream training step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = torch.arange(x.shape[1], device=x.device)
        offset = channels[None, :] - channels[:, None]
        band = ((offset >= -(self.size // 2)) & (offset <= (self.size - 1) // 2)).to(x.dtype)
        window = torch.matmul(band, (x * x).flatten(2)).view(x.shape)
        return x * (window * (self.alpha / self.size) + self.k).pow(-self.beta)


class FrameCNN(MapBackbone):
    """A layer table run on every frame: ``[B, C, T, H, W] -> [B, D, T, h, w]``."""

    time_kind = FRAME

    def __init__(self, table, in_channels: int = 3, width: float = 1.0, divisor: int = 1,
                 batch_norm: bool = False):
        super().__init__()
        layers, c = [], in_channels
        for item in table:
            if isinstance(item, str):
                layers.append((item, LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)))
            elif len(item) == 3:
                layers.append((item[0], SafeMaxPool3d((1, item[1], item[1]), (1, item[2], item[2]),
                                                      ceil_mode=True)))
            else:
                name, out, k, s, p, g = item
                out = scaled(out, width, divisor)
                layers.append((name, nn.Conv2d(c, out, k, s, p, groups=g, bias=not batch_norm)))
                if batch_norm:
                    layers.append((name + "_bn", nn.BatchNorm2d(out)))
                layers.append((name + "_relu", nn.ReLU(inplace=True)))
                c = out
        self.features = nn.Sequential(OrderedDict(layers))
        self.out_channels = c
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.features(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


def _build(table, name: str, in_channels: int, pretrained: Any, width: float, batch_norm: bool,
           divisor: int = 1):
    return FrameCNN(table, in_channels, check_width(width, pretrained, name), divisor,
                    check_batch_norm(batch_norm, pretrained, name))


def _weights(name: str) -> Pretrained:
    return Pretrained(cache=[f"classic/{name}.pth"])


@register_backbone("cnn_m_2048", temporal="frame", default_input=InputSpec(frames=1, size=224, **IMAGENET),
                   weights=_weights("cnn_m_2048"),
                   meta=ModelMeta(**PAPERS["cnn_m"],
                                  summary="CNN-M-2048 convolutions (96-256-512-512-512) up to pool5; "
                                  "the two-stream networks' ConvNet.", tags=("2d", "classic")))
def cnn_m_2048(in_channels: int = 3, pretrained: Any = False, width: float = 1.0,
               norm2: Optional[bool] = None, batch_norm: bool = False) -> FrameCNN:
    """CNN-M-2048 up to pool5 (pair with ``fc`` hidden=[4096, 2048]); `norm2` None: conv2's LRN
    for RGB only (the temporal stream drops it, Simonyan & Zisserman 2014)."""
    keep = in_channels == 3 if norm2 is None else norm2
    return _build([i for i in CNN_M_2048 if keep or i != "norm2"], "cnn_m_2048", in_channels,
                  pretrained, width, batch_norm)


@register_backbone("caffenet", temporal="frame", default_input=InputSpec(frames=16, size=227, **IMAGENET),
                   weights=_weights("caffenet"),
                   meta=ModelMeta(**PAPERS["caffenet"],
                                  summary="CaffeNet convolutions (96-256-384-384-256, grouped "
                                  "conv2/4/5) up to pool5; LRCN's visual network.",
                                  tags=("2d", "classic")))
def caffenet(in_channels: int = 3, pretrained: Any = False, width: float = 1.0,
             batch_norm: bool = False) -> FrameCNN:
    """CaffeNet up to pool5 (LRCN: pair with ``lstm`` fc6=4096)."""
    return _build(CAFFENET, "caffenet", in_channels, pretrained, width, batch_norm, divisor=2)


@register_backbone("vgg16", temporal="frame", default_input=InputSpec(frames=1, size=224, **IMAGENET),
                   weights=_weights("vgg16"),
                   meta=ModelMeta(**PAPERS["vgg"],
                                  summary="VGG-16's 13 convolutions up to conv5_3's ReLU.",
                                  tags=("2d", "classic")))
def vgg16(in_channels: int = 3, pretrained: Any = False, width: float = 1.0,
          batch_norm: bool = False) -> FrameCNN:
    """VGG-16 up to conv5_3 + ReLU (no pool5: the head's or fusion's pooling replaces it);
    `batch_norm`: VGG-16-BN's layers."""
    return _build(VGG16, "vgg16", in_channels, pretrained, width, batch_norm)
