"""I3D (Carreira & Zisserman 2017): Inception-v1 (with BatchNorm) inflated to 3D.

Paper strides: Conv 7x7x7 stride 2; max-pools 1x3x3 stride 1x2x2 (twice, so the first frames
keep their temporal resolution), then 3x3x3 stride 2 and 2x2x2 stride 2, padded as TensorFlow's
'SAME' (the reference implementation); the final 2x7x7 average pool and the 1x1x1 classifier live
in the ``i3d_logits`` head (or use ``avg_pool``). The backbone outputs Mixed_5c (1024 channels;
8 x 7 x 7 at 64 x 224 x 224).

``inflate_from`` makes I3D as the paper does, from a 2D Inception-v1 with BatchNorm: every N x N
kernel repeated N times over time and divided by N, BatchNorm statistics copied. It takes
``"googlenet"`` (torchvision's Inception-v1, freshly initialised) or the path of a checkpoint of
that network (torchvision's keys; timm has no Inception-v1). With ``time_padding="replicate"``
(convolutions pad time by repeating the edge frames, instead of the reference's zeros) a "boring"
clip -- one image repeated -- gives exactly the 2D network's map on that image.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.model import refuse_padding
from zoo.registry import register_backbone, register_temporal_head
from zoo.specs import CLIP, FeatureSpec, HeadSpec, InputSpec, ModelMeta
from zoo import weights
from zoo.weights import Pretrained

from .._util import MapBackbone, SafeMaxPool3d, check_width, scaled
from ..papers import PAPERS

I3D_META = ModelMeta(
    **PAPERS["i3d"],
    summary="Two-stream Inflated 3D ConvNet: Inception-v1 with every filter and pool inflated "
            "to 3D.", tags=("3d", "inception", "i3d"))

# Inception module widths: (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (3x3 in v1-BN), pool proj)
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


TIME_PADDING = ("zeros", "replicate")


class TimePaddedConv3d(nn.Conv3d):
    """Conv3d (no bias) padded by k // 2 on every side; time with zeros or the edge frames."""

    def __init__(self, cin: int, cout: int, k, s, time_padding: str = "zeros"):
        if time_padding not in TIME_PADDING:
            raise ValueError(f"time_padding {time_padding!r} is not one of {TIME_PADDING}")
        self.time_pad = k[0] // 2 if time_padding == "replicate" else 0
        pad = (k[0] // 2 - self.time_pad, k[1] // 2, k[2] // 2)
        super().__init__(cin, cout, k, s, padding=pad, bias=False)

    def forward(self, x):
        if self.time_pad:
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, self.time_pad), mode="replicate")
        return super().forward(x)


class Unit3d(nn.Sequential):
    """Conv3d (no bias) + BatchNorm3d + ReLU with 'same'-style symmetric padding."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), time_padding="zeros"):
        k = tuple(kernel) if isinstance(kernel, Sequence) else (kernel,) * 3
        s = tuple(stride) if isinstance(stride, Sequence) else (stride,) * 3
        super().__init__(TimePaddedConv3d(cin, cout, k, s, time_padding),
                         nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True))


class InceptionBlock3d(nn.Module):
    def __init__(self, cin: int, widths, time_padding: str = "zeros"):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.b0 = Unit3d(cin, b0)
        self.b1 = nn.Sequential(Unit3d(cin, b1a), Unit3d(b1a, b1b, 3, time_padding=time_padding))
        self.b2 = nn.Sequential(Unit3d(cin, b2a), Unit3d(b2a, b2b, 3, time_padding=time_padding))
        self.b3 = nn.Sequential(SafeMaxPool3d(3, 1, "same"), Unit3d(cin, b3))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


class I3D(MapBackbone):
    time_kind = CLIP

    def __init__(self, in_channels: int = 3, width: float = 1.0, time_padding: str = "zeros"):
        super().__init__()
        c64, c192 = scaled(64, width), scaled(192, width)
        self.Conv3d_1a_7x7 = Unit3d(in_channels, c64, 7, 2, time_padding)
        self.MaxPool3d_2a_3x3 = SafeMaxPool3d((1, 3, 3), (1, 2, 2), "same")
        self.Conv3d_2b_1x1 = Unit3d(c64, c64)
        self.Conv3d_2c_3x3 = Unit3d(c64, c192, 3, time_padding=time_padding)
        self.MaxPool3d_3a_3x3 = SafeMaxPool3d((1, 3, 3), (1, 2, 2), "same")
        c = c192
        for n in MIXED:
            if n == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SafeMaxPool3d(3, 2, "same")
            elif n == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SafeMaxPool3d(2, 2, "same")
            block = InceptionBlock3d(c, [scaled(v, width) for v in MIXED[n]], time_padding)
            setattr(self, n, block)
            c = block.out_channels
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


class I3DLogits(nn.Module):
    """2x7x7 average pool (stride 1), dropout, 1x1x1 conv to the classes, mean over time."""

    def __init__(self, channels: int, num_classes: int, dropout: float = 0.5, pool=(2, 7, 7)):
        super().__init__()
        self.pool = tuple(pool)
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Conv3d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        refuse_padding(lengths, x.shape[2], "temporal head 'i3d_logits' (its pooling mixes time)")
        k = tuple(min(p, n) for p, n in zip(self.pool, x.shape[2:]))
        x = F.avg_pool3d(x, k, stride=1)
        return self.logits(self.dropout(x)).mean(dim=(2, 3, 4))


# torchvision's Inception-v1 (GoogLeNet) module names -> I3D's
GOOGLENET = {"conv1": "Conv3d_1a_7x7", "conv2": "Conv3d_2b_1x1", "conv3": "Conv3d_2c_3x3",
             **{f"inception{a}": b for a, b in zip(("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"),
                                                  MIXED)}}
BRANCHES = {"branch1": "b0", "branch2.0": "b1.0", "branch2.1": "b1.1", "branch3.0": "b2.0",
            "branch3.1": "b2.1", "branch4.1": "b3.1"}


def _i3d_key(key2d: str) -> str:
    """An I3D state-dict key for a torchvision GoogLeNet key (``<module>.conv|bn.<tensor>``)."""
    parts = key2d.split(".")
    module, rest = GOOGLENET[parts[0]], parts[1:]
    if module.startswith("Mixed"):
        branch = ".".join(rest[:2]) if rest[0] in ("branch2", "branch3", "branch4") else rest[0]
        module += "." + BRANCHES[branch]
        rest = rest[2:] if "." in branch else rest[1:]
    return f"{module}.{0 if rest[0] == 'conv' else 1}.{'.'.join(rest[1:])}"


def inflate_inception_v1(model: I3D, source: Any) -> None:
    """Copy a 2D Inception-v1 (``"googlenet"`` or a checkpoint path, torchvision's keys) into
    `model`, every kernel repeated over time and divided by its temporal size."""
    if source == "googlenet":
        import torchvision

        state = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).state_dict()
    else:
        import timm

        if timm.is_model(str(source)):
            raise ValueError(f"inflate_from={source!r}: I3D is inflated from Inception-v1, which timm "
                             f"does not have; pass 'googlenet' or a checkpoint of torchvision's "
                             f"googlenet, or use backbone 'inflated' (model={source!r}) for timm networks.")
        state = weights.read_state_dict(weights.fetch(str(source)))
    # the classifier and auxiliary heads are left out; zoo.weights inflates every kernel (and
    # initialises a flow stream's first layer across modalities)
    state = {_i3d_key(k): v for k, v in state.items() if k.split(".")[0] in GOOGLENET}
    report = weights.load_into(model, state, warn=False, source=str(source))
    if report.missing or report.mismatched:
        raise ValueError(f"inflate_from={source!r} is not a 2D Inception-v1 with BatchNorm: no "
                         f"tensor for {(report.missing + report.mismatched)[:3]}")


@register_backbone("i3d", temporal="clip", default_input=InputSpec(frames=64, size=224), meta=I3D_META,
                   weights=Pretrained(cache=["i3d/i3d_rgb.pth"]))
def i3d(in_channels: int = 3, pretrained: Any = False, width: float = 1.0,
        inflate_from: Optional[str] = None, time_padding: str = "zeros") -> I3D:
    """I3D: inflated Inception-v1 up to Mixed_5c (1024 channels at width 1); `inflate_from` a 2D
    Inception-v1 ("googlenet" or a checkpoint path); `time_padding` "zeros" or "replicate"."""
    model = I3D(in_channels, check_width(width, pretrained or inflate_from, "i3d"), time_padding)
    if inflate_from:
        inflate_inception_v1(model, inflate_from)
    return model


@register_temporal_head("i3d_logits", spec=HeadSpec(consumes=("clip",), needs_spatial=True),
                        meta=I3D_META)
def i3d_logits(feature: FeatureSpec, num_classes: int, dropout: float = 0.5) -> I3DLogits:
    """I3D's classifier: 2x7x7 average pooling, dropout, 1x1x1 convolution, averaged over time."""
    return I3DLogits(feature.channels, num_classes, dropout)
