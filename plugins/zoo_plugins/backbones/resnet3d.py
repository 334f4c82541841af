"""R3D, MC3 and R(2+1)D (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions").

Basic-block video ResNets. R3D uses full 3x3x3 convolutions; MC3 (mixed convolutions) keeps them
in res2 only and uses 1x3x3 ones above, so that time is never downsampled; R(2+1)D factorises each into a
1x3x3 spatial convolution to M_i channels, BN, ReLU and a 3x1x1 temporal convolution, with
``M_i = floor(3 * 9 * N_in * N_out / (9 * N_in + 3 * N_out))`` so that the parameter count equals
the 3D convolution's (computed per block from the block's input and output planes, like
torchvision's reference). Stems: R3D 3x7x7 stride 1x2x2; R(2+1)D 1x7x7 to 45 channels then 3x1x1
to 64. Each later stage halves time and space in its first block (1x1x1 stride-2 shortcut).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from zoo.registry import register_backbone
from zoo.specs import CLIP, NORMALISATION, InputSpec, ModelMeta
from zoo.weights import Pretrained

from .._util import MapBackbone, check_width, scaled
from ..papers import PAPERS

DEFAULT_INPUT = InputSpec(frames=16, size=112, **NORMALISATION["kinetics_torchvision"].as_config())
META = PAPERS["r2plus1d"]


def _weights(name: str) -> Pretrained:
    return Pretrained(cache=[f"resnet3d/{name}.pth"])


def conv3x3x3(cin, cout, mid, stride=1):
    return nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x3x3(cin, cout, mid, stride=1):
    return nn.Conv3d(cin, cout, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


class Conv2Plus1D(nn.Sequential):
    def __init__(self, cin, cout, mid, stride=1):
        super().__init__(
            nn.Conv3d(cin, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, cout, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False))


def midplanes(cin: int, cout: int) -> int:
    return (cin * cout * 3 * 3 * 3) // (cin * 3 * 3 + 3 * cout)


class BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, conv, stride: int = 1):
        super().__init__()
        mid = midplanes(cin, cout)
        self.conv1 = nn.Sequential(conv(cin, cout, mid, stride), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv(cout, cout, mid), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            ds = (1, stride, stride) if conv is conv1x3x3 else stride  # 2D blocks keep time
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=ds, bias=False),
                                            nn.BatchNorm3d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class VideoResNet(MapBackbone):
    time_kind = CLIP

    def __init__(self, convs, stem: nn.Module, depths: Sequence[int] = (2, 2, 2, 2),
                 widths: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        self.stem = stem  # outputs widths[0] channels
        cin = widths[0]
        for i, (conv, d, w) in enumerate(zip(convs, depths, widths)):
            blocks = [BasicBlock3d(cin, w, conv, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock3d(w, w, conv) for _ in range(d - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = w
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def r3d_stem(cin, width=1.0):
    c = scaled(64, width)
    return nn.Sequential(nn.Conv3d(cin, c, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                         nn.BatchNorm3d(c), nn.ReLU(inplace=True))


def r2plus1d_stem(cin, width=1.0):
    mid, c = scaled(45, width), scaled(64, width)
    return nn.Sequential(
        nn.Conv3d(cin, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
        nn.Conv3d(mid, c, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(c), nn.ReLU(inplace=True))


DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def video_resnet(conv, stem, depth: int, in_channels: int, width: float) -> VideoResNet:
    """A VideoResNet of `depth` (18 or 34) whose stem and stages are `width` times as wide; `conv`
    is every stage's convolution, or a list of one per stage."""
    widths = [scaled(c, width) for c in (64, 128, 256, 512)]
    convs = conv if isinstance(conv, list) else [conv] * 4
    return VideoResNet(convs, stem(in_channels, width), DEPTHS[depth], widths)


@register_backbone("r3d_18", temporal="clip", default_input=DEFAULT_INPUT, weights=_weights("r3d_18"),
                   meta=ModelMeta(**META, summary="ResNet-18 with full 3x3x3 convolutions (R3D).",
                                  tags=("3d", "resnet")))
def r3d_18(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> VideoResNet:
    """R3D-18: basic blocks (2, 2, 2, 2) with 3x3x3 convolutions; 512-channel map at width 1."""
    width = check_width(width, pretrained, "r3d_18")
    return video_resnet(conv3x3x3, r3d_stem, 18, in_channels, width)


@register_backbone("mc3_18", temporal="clip", default_input=DEFAULT_INPUT, weights=_weights("mc3_18"),
                   meta=ModelMeta(**META, summary="ResNet-18 with 3x3x3 convolutions in res2 and "
                                  "1x3x3 above (MC3).", tags=("3d", "resnet", "mixed")))
def mc3_18(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> VideoResNet:
    """MC3-18: basic blocks (2, 2, 2, 2), 3x3x3 convolutions in res2, 1x3x3 in res3-res5."""
    width = check_width(width, pretrained, "mc3_18")
    convs = [conv3x3x3] + [conv1x3x3] * 3
    return video_resnet(convs, r3d_stem, 18, in_channels, width)


@register_backbone("r2plus1d_18", temporal="clip", default_input=DEFAULT_INPUT,
                   weights=_weights("r2plus1d_18"),
                   meta=ModelMeta(**META, summary="ResNet-18 with (2+1)D factorised convolutions.",
                                  tags=("3d", "resnet", "factorised")))
def r2plus1d_18(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> VideoResNet:
    """R(2+1)D-18: basic blocks (2, 2, 2, 2) of 1x3x3 + 3x1x1 convolutions; 512-channel map."""
    width = check_width(width, pretrained, "r2plus1d_18")
    return video_resnet(Conv2Plus1D, r2plus1d_stem, 18, in_channels, width)


@register_backbone("r2plus1d_34", temporal="clip", default_input=InputSpec(frames=32, size=112),
                   weights=_weights("r2plus1d_34"),
                   meta=ModelMeta(**META, summary="ResNet-34 with (2+1)D factorised convolutions.",
                                  tags=("3d", "resnet", "factorised")))
def r2plus1d_34(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> VideoResNet:
    """R(2+1)D-34: basic blocks (3, 4, 6, 3) of 1x3x3 + 3x1x1 convolutions; 512-channel map."""
    width = check_width(width, pretrained, "r2plus1d_34")
    return video_resnet(Conv2Plus1D, r2plus1d_stem, 34, in_channels, width)
