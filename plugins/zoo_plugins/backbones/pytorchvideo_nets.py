"""Video networks from pytorchvideo (its model-zoo configurations, built through its API):
X3D (XS, S, M, L), Slow (R50), SlowFast (R50), CSN (ir-CSN-101), MViT-B (16x4).

Each backbone is the network's trunk without its classification head, returning the last
stage's map; the presets add a head (``x3d_head`` reproduces X3D's projected-pool head, so that
``x3d_xs`` has pytorchvideo's parameter count). SlowFast reads the fast-rate clip
``[B, 3, T, H, W]``, takes every ``alpha``-th frame for the slow pathway itself, and returns both
pathways' maps concatenated along channels (the fast one average-pooled to the slow frame rate).
MViT's position embeddings depend on the input size: its network is created for the input spec
the model is built for (``feature_spec(input_spec)``, which zoo.build calls; or the first input).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from zoo.model import refuse_padding
from zoo.registry import register_backbone, register_temporal_head
from zoo.specs import CLIP, NORMALISATION, FeatureSpec, HeadSpec, InputSpec, ModelMeta
from zoo.weights import Pretrained, WeightFile, load_into

from .._util import MapBackbone, check_width, scaled
from ..papers import PAPERS

ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
KINETICS = NORMALISATION["kinetics_pytorchvideo"].as_config()


def _weights(file: str, into: str = "") -> Pretrained:
    """PyTorchVideo's Kinetics-400 checkpoint `file`, loaded into the submodule `into`."""
    return Pretrained(files=[WeightFile(f"{ZOO}/{file}", num_classes=400, dataset="kinetics400")],
                      into=into)


def _hub(name: str, **kw) -> nn.Module:
    from pytorchvideo.models import hub

    return _python_ints(getattr(hub, name)(pretrained=False, **kw))


_LAYOUT = ("kernel_size", "stride", "padding", "dilation", "output_padding")


def _python_ints(net: nn.Module) -> nn.Module:
    """`net` with every convolution's and pooling's sizes as Python ints. pytorchvideo's ResNets
    (Slow, SlowFast, CSN) compute shortcut strides with ``np.prod``: torch.compile traces those
    numpy ints as tensors, their ``.item()`` breaks the graph, and the per-block frames that
    remain recompile for every block until dynamo falls back to eager."""
    import numpy as np

    for module in net.modules():
        for name in _LAYOUT:
            value = getattr(module, name, None)
            if isinstance(value, (tuple, list)) and any(isinstance(v, np.integer) for v in value):
                setattr(module, name, type(value)(int(v) for v in value))
            elif isinstance(value, np.integer):
                setattr(module, name, int(value))
    return net


class Trunk(MapBackbone):
    """``blocks`` of a pytorchvideo network up to (not including) its head."""

    time_kind = CLIP

    def __init__(self, net: nn.Module, out_channels: int, keep: int = -1):
        super().__init__()
        self.blocks = nn.ModuleList(list(net.blocks)[:keep])
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def _stem_in(kw, in_channels):
    return kw if in_channels == 3 else {**kw, "input_channel": in_channels}


# -- X3D ------------------------------------------------------------------------------------------
def _x3d(variant: str, in_channels: int, pretrained, width: float) -> Trunk:
    """An X3D trunk; `width` multiplies X3D's own width factor (2.0), channels rounded to 8."""
    from pytorchvideo.layers.utils import round_width

    factor = 2.0 * check_width(width, pretrained, variant)
    net = _hub(variant, **_stem_in({"width_factor": factor}, in_channels))
    return Trunk(net, round_width(96, factor))


def _x3d_meta(v, size, frames):
    return ModelMeta(**PAPERS["x3d"], summary=f"X3D-{v}: a 2D ResNet expanded along time, space, "
                     f"width and depth; {frames}x{size}^2 input.", tags=("3d", "x3d", "efficient"))


@register_backbone("x3d_xs", temporal="clip", meta=_x3d_meta("XS", 160, 4),
                   weights=_weights("X3D_XS.pyth"),
                   default_input=InputSpec(frames=4, size=160, **KINETICS))
def x3d_xs(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """X3D-XS trunk (192-channel map); pair with the ``x3d_head`` head."""
    return _x3d("x3d_xs", in_channels, pretrained, width)


@register_backbone("x3d_s", temporal="clip", meta=_x3d_meta("S", 160, 13),
                   weights=_weights("X3D_S.pyth"),
                   default_input=InputSpec(frames=13, size=160, **KINETICS))
def x3d_s(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """X3D-S trunk (192-channel map); pair with the ``x3d_head`` head."""
    return _x3d("x3d_s", in_channels, pretrained, width)


@register_backbone("x3d_m", temporal="clip", meta=_x3d_meta("M", 224, 16),
                   weights=_weights("X3D_M.pyth"),
                   default_input=InputSpec(frames=16, size=224, **KINETICS))
def x3d_m(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """X3D-M trunk (192-channel map); pair with the ``x3d_head`` head."""
    return _x3d("x3d_m", in_channels, pretrained, width)


@register_backbone("x3d_l", temporal="clip", meta=_x3d_meta("L", 312, 16),
                   weights=_weights("X3D_L.pyth"),
                   default_input=InputSpec(frames=16, size=312, **KINETICS))
def x3d_l(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """X3D-L trunk (192-channel map; X3D-M deepened 5x); pair with the ``x3d_head`` head."""
    return _x3d("x3d_l", in_channels, pretrained, width)


class X3DHead(nn.Module):
    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        refuse_padding(lengths, x.shape[2], "temporal head 'x3d_head' (it pools the whole map)")
        return self.head(x)


@register_temporal_head("x3d_head", spec=HeadSpec(consumes=(CLIP,), needs_spatial=True),
                        meta=ModelMeta(**PAPERS["x3d"], summary="X3D's head: 1x1x1 conv to 432 (BN, "
                                       "ReLU), global pooling, 1x1x1 conv to 2048, dropout, linear."))
def x3d_head(feature: FeatureSpec, num_classes: int, dim_inner: int = 432, dim_out: int = 2048,
             dropout: float = 0.5, width: float = 1.0) -> X3DHead:
    """X3D's projected-pool head (pytorchvideo ``create_x3d_head``), pooling the whole map;
    `width` scales its hidden sizes (dim_inner, dim_out)."""
    from pytorchvideo.models.x3d import create_x3d_head

    return X3DHead(create_x3d_head(
        dim_in=feature.channels, dim_inner=scaled(dim_inner, width), dim_out=scaled(dim_out, width),
        num_classes=num_classes,
        pool_kernel_size=(feature.time_steps, feature.spatial[0], feature.spatial[1]),
        dropout_rate=dropout, activation=None))


# -- Slow, CSN -----------------------------------------------------------------------------------
def _resnet_trunk(name: str, in_channels: int, pretrained, width: float) -> Trunk:
    """A pytorchvideo ResNet (Slow, CSN) trunk; `width` scales the stem, every stage follows it."""
    stem = scaled(64, check_width(width, pretrained, name))
    net = _hub(name, **_stem_in({"stem_dim_out": stem}, in_channels))
    return Trunk(net, stem * 32)


@register_backbone("slow_r50", temporal="clip", weights=_weights("SLOW_8x8_R50.pyth"),
                   default_input=InputSpec(frames=8, size=224, frame_stride=8, **KINETICS),
                   meta=ModelMeta(**PAPERS["slowfast"], summary="The Slow pathway alone: ResNet-50 "
                                  "with temporal convolutions in res4-res5 only (8x8).",
                                  tags=("3d", "resnet", "slowfast")))
def slow_r50(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """Slow-only ResNet-50 trunk (2048-channel map at width 1)."""
    return _resnet_trunk("slow_r50", in_channels, pretrained, width)


@register_backbone("csn_r101", temporal="clip", weights=_weights("CSN_32x2_R101.pyth"),
                   default_input=InputSpec(frames=32, size=224, frame_stride=2, **KINETICS),
                   meta=ModelMeta(**PAPERS["csn"], summary="Interaction-reduced channel-separated "
                                  "ResNet-101 (ir-CSN): depthwise 3x3x3 convolutions.",
                                  tags=("3d", "resnet", "csn")))
def csn_r101(in_channels: int = 3, pretrained: Any = False, width: float = 1.0) -> Trunk:
    """ir-CSN-101 trunk (2048-channel map at width 1)."""
    return _resnet_trunk("csn_r101", in_channels, pretrained, width)


# -- SlowFast ------------------------------------------------------------------------------------
class SlowFast(MapBackbone):
    time_kind = CLIP

    def __init__(self, net: nn.Module, alpha: int = 4, stem: int = 64):
        super().__init__()
        self.alpha = alpha
        self.blocks = nn.ModuleList(list(net.blocks)[:-2])  # up to the pathway pooling and head
        self.out_channels = stem * 32 + stem * 4  # slow 2048 + fast 256 at width 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [x[:, :, ::self.alpha], x]
        for block in self.blocks:
            xs = block(xs)
        slow, fast = xs
        if fast.shape[2] != slow.shape[2]:
            fast = F.adaptive_avg_pool3d(fast, slow.shape[2:])
        return torch.cat([slow, fast], dim=1)


@register_backbone("slowfast_r50", temporal="clip", weights=_weights("SLOWFAST_8x8_R50.pyth"),
                   default_input=InputSpec(frames=32, size=224, frame_stride=2, **KINETICS),
                   meta=ModelMeta(**PAPERS["slowfast"], summary="SlowFast R50 (8x8): a slow pathway "
                                  "at 1/alpha the frame rate and a light fast pathway, with lateral "
                                  "connections.", tags=("3d", "resnet", "slowfast", "two-pathway")))
def slowfast_r50(in_channels: int = 3, pretrained: Any = False, alpha: int = 4,
                 width: float = 1.0) -> SlowFast:
    """SlowFast R50 trunk reading the fast-rate clip; returns slow (2048) + fast (256) channels at
    width 1 (`width` scales both pathways; the fast one keeps 1/8 of the slow one's channels)."""
    stem = scaled(64, check_width(width, pretrained, "slowfast_r50"), divisor=8)
    kw = {} if in_channels == 3 else {"input_channels": (in_channels, in_channels)}
    net = _hub("slowfast_r50", slowfast_fusion_conv_stride=(alpha, 1, 1),
               stem_dim_outs=(stem, stem // 8), **kw)
    return SlowFast(net, alpha, stem)


# -- MViT ----------------------------------------------------------------------------------------
class MViT(MapBackbone):
    """MViT-B trunk; ``readout="map"`` returns the patch tokens as a map ``[B, 768, t, h, w]``,
    ``"cls"`` the class token as ``[B, 768, 1, 1, 1]`` (the paper's classifier input). Its network
    is created for an input size; weights loaded into it (``load_report``) are carried over when
    another input size recreates it (the position embeddings of another size are not)."""

    time_kind = CLIP

    def __init__(self, in_channels: int = 3, readout: str = "map", frames: Optional[int] = None,
                 size: Optional[int] = None, drop_path_rate: float = 0.0, width: float = 1.0):
        super().__init__()
        if readout not in ("map", "cls"):
            raise ValueError(f"readout {readout!r} is not 'map' or 'cls'")
        self.in_channels, self.readout, self.drop_path_rate = in_channels, readout, drop_path_rate
        self.embed_dim = scaled(96, width)  # heads: 1, 2, 4, 8
        self.out_channels = self.embed_dim * 8
        self.net: Optional[nn.Module] = None
        self.input_size = None
        self.load_report = None
        if frames and size:
            self._create(frames, size)

    def _create(self, frames: int, size: int) -> None:
        if self.input_size == (frames, size):
            return
        net = _hub("mvit_base_16x4", spatial_size=size, temporal_size=frames, head=None,
                   input_channels=self.in_channels, droppath_rate_block=self.drop_path_rate,
                   patch_embed_dim=self.embed_dim)
        if self.load_report is not None:
            load_into(net, self.net.state_dict(), warn=False, source="the loaded weights")
        self.net, self.input_size = net, (frames, size)

    def feature_spec(self, input_spec: InputSpec) -> FeatureSpec:
        self._create(input_spec.frames, input_spec.size)
        return super().feature_spec(input_spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            self._create(x.shape[2], x.shape[3])
        tokens = self.net(x)  # [B, 1 + t*h*w, D]
        if self.readout == "cls":
            return tokens[:, 0, :, None, None, None]
        t = self.net.cls_positional_encoding.patch_embed_shape[0]
        n = tokens.shape[1] - 1
        hw = int(round(math.sqrt(n // t)))
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, t, hw, hw)


@register_backbone("mvit_b", temporal="clip", weights=_weights("MVIT_B_16x4.pyth", into="net"),
                   default_input=InputSpec(frames=16, size=224, frame_stride=4, **KINETICS),
                   meta=ModelMeta(**PAPERS["mvit"], summary="MViT-B 16x4: a transformer whose "
                                  "stages pool space and widen channels (pooling attention).",
                                  tags=("transformer", "mvit")))
def mvit_b(in_channels: int = 3, pretrained: Any = False, readout: str = "map",
           drop_path_rate: float = 0.0, width: float = 1.0) -> MViT:
    """MViT-B (16x4 configuration), created for the model's input size at build time (for its
    checkpoint's 16 x 224 first when `pretrained`); `width` scales the embedding (96 -> 768
    channels at width 1; 1 to 8 heads)."""
    frames, size = (16, 224) if pretrained else (None, None)
    return MViT(in_channels, readout=readout, frames=frames, size=size,
                drop_path_rate=drop_path_rate, width=check_width(width, pretrained, "mvit_b"))
