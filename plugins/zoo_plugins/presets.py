"""Named complete models: each preset returns its config dict (docs/architecture.md).

Sizes are the papers'; override them at build time (``zoo.build("c3d", frames=8, size=64)``):
every component sizes itself from the input spec, so every preset builds at small inputs.
"""
from __future__ import annotations

from typing import Any, Dict

from zoo.registry import register_preset
from zoo.specs import ModelMeta

KINETICS = dict(mean=[0.45, 0.45, 0.45], std=[0.225, 0.225, 0.225])
C3D_NORM = dict(mean=[0.43216, 0.394666, 0.37645], std=[0.22803, 0.22145, 0.216989])


def _rgb(frames: int, size: int, **kw) -> Dict[str, Any]:
    return {"modality": "rgb", "frames": frames, "size": size, **kw}


def _flow(frames: int, size: int, flow_stack: int, **kw) -> Dict[str, Any]:
    return {"modality": "flow", "frames": frames, "size": size, "flow_stack": flow_stack, **kw}


def _single(backbone, head, input_, **extra) -> Dict[str, Any]:
    return {"streams": {"rgb": {"input": input_, "backbone": backbone, "temporal_head": head}},
            "fusion": None, **extra}


# -- foundations ---------------------------------------------------------------------------------
@register_preset("single_frame", meta=ModelMeta(
    paper="Large-scale Video Classification with Convolutional Neural Networks (Karpathy et al.)",
    year=2014, url="https://cs.stanford.edu/people/karpathy/deepvideo/",
    summary="The control: a 2D CNN (ResNet-18) on every frame, class scores averaged over frames.",
    tags=("2d", "baseline")))
def single_frame() -> Dict[str, Any]:
    return _single({"name": "resnet18"}, {"name": "tsn", "consensus": "avg"}, _rgb(8, 224))


@register_preset("cnn_lstm", meta=ModelMeta(
    paper="Long-term Recurrent Convolutional Networks for Visual Recognition and Description "
          "(Donahue et al.)", year=2015, url="https://arxiv.org/abs/1411.4389",
    summary="LRCN: a 2D CNN (ResNet-18) per frame, an LSTM over the frames, per-step predictions "
            "averaged. Pass 'lengths' in the input dict for clips of different lengths.",
    tags=("2d", "rnn", "lrcn")))
def cnn_lstm() -> Dict[str, Any]:
    return _single({"name": "resnet18"},
                   {"name": "lstm", "hidden_size": 256, "num_layers": 1, "readout": "mean"},
                   _rgb(16, 224))


@register_preset("c3d", meta=ModelMeta(
    paper="Learning Spatiotemporal Features with 3D Convolutional Networks (Tran et al.)", year=2015,
    url="https://arxiv.org/abs/1412.0767",
    summary="C3D: eight 3x3x3 convolutions, five max-poolings, fc6/fc7 (4096, dropout); "
            "3x16x112x112 clips.", tags=("3d", "c3d")))
def c3d() -> Dict[str, Any]:
    return _single({"name": "c3d"}, {"name": "c3d_fc", "hidden": 4096, "dropout": 0.5},
                   _rgb(16, 112, **C3D_NORM))


TWO_STREAM = dict(paper="Two-Stream Convolutional Networks for Action Recognition in Videos "
                        "(Simonyan & Zisserman)", year=2014, url="https://arxiv.org/abs/1406.2199")


def _two_stream(fusion: Dict[str, Any]) -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(1, 224), "backbone": {"name": "resnet18", "pretrained": False},
                "temporal_head": {"name": "avg_pool"}},
        "flow": {"input": _flow(1, 224, 10), "backbone": {"name": "resnet18", "pretrained": False},
                 "temporal_head": {"name": "avg_pool"}}},
        "fusion": fusion}


@register_preset("two_stream", meta=ModelMeta(
    **TWO_STREAM, summary="Spatial stream on RGB frames, temporal stream on 10 stacked optical-flow "
    "fields (20 channels; cross-modality initialised from RGB weights when pretrained), softmax "
    "scores averaged.", tags=("2d", "two-stream", "flow")))
def two_stream() -> Dict[str, Any]:
    return _two_stream({"name": "average"})


@register_preset("two_stream_svm", meta=ModelMeta(
    **TWO_STREAM, summary="Two-stream with the paper's learned linear (SVM) fusion of the "
    "L2-normalised softmax scores; train the streams, then the fusion alone (parameters "
    "fusion.*).", tags=("2d", "two-stream", "flow", "svm")))
def two_stream_svm() -> Dict[str, Any]:
    return _two_stream({"name": "linear"})


@register_preset("fused_two_stream", meta=ModelMeta(
    paper="Convolutional Two-Stream Network Fusion for Video Action Recognition "
          "(Feichtenhofer, Pinz, Zisserman)", year=2016, url="https://arxiv.org/abs/1604.06573",
    summary="Two 2D streams fused at the last convolutional layer (backbone option out_stage picks "
            "another) by stacking their maps, a 3x3x3 convolution and 3D pooling; the temporal "
            "stream's own scores are kept and averaged with the fused ones.",
    tags=("2d", "two-stream", "flow", "mid-fusion")))
def fused_two_stream() -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(5, 224), "backbone": {"name": "resnet18"}},
        "flow": {"input": _flow(5, 224, 10), "backbone": {"name": "resnet18"},
                 "temporal_head": {"name": "avg_pool"}}},
        "fusion": {"name": "conv3d_fusion", "temporal_head": {"name": "avg_pool"}, "late": "average"}}


I3D = dict(paper="Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset "
                 "(Carreira & Zisserman)", year=2017, url="https://arxiv.org/abs/1705.07750")


@register_preset("i3d", meta=ModelMeta(**I3D, summary="RGB I3D: Inception-v1 inflated to 3D; "
                                        "64x224x224 clips.", tags=("3d", "i3d")))
def i3d() -> Dict[str, Any]:
    return _single({"name": "i3d"}, {"name": "i3d_logits"}, _rgb(64, 224))


@register_preset("two_stream_3d", meta=ModelMeta(
    **I3D, summary="Two-stream I3D: RGB and optical-flow (2-channel, flow_stack=1) I3D networks, "
    "scores averaged.", tags=("3d", "i3d", "two-stream", "flow")))
def two_stream_3d() -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(64, 224), "backbone": {"name": "i3d"}, "temporal_head": {"name": "i3d_logits"}},
        "flow": {"input": _flow(64, 224, 1), "backbone": {"name": "i3d"},
                 "temporal_head": {"name": "i3d_logits"}}},
        "fusion": {"name": "average"}}


@register_preset("i3d_resnet50", meta=ModelMeta(
    **{**I3D, "summary": "timm ResNet-50 (and its ImageNet weights, pretrained=True) inflated to "
       "3D: 3x3 kernels become 3x3x3, 7x7 become 7x7x7."}, tags=("3d", "inflated")))
def i3d_resnet50() -> Dict[str, Any]:
    return _single({"name": "inflated", "model": "resnet50", "time_kernel": "same"},
                   {"name": "avg_pool"}, _rgb(16, 224))


# -- modern families -----------------------------------------------------------------------------
R21D = dict(paper="A Closer Look at Spatiotemporal Convolutions for Action Recognition (Tran et al.)",
            year=2018, url="https://arxiv.org/abs/1711.11248")


@register_preset("r3d_18", meta=ModelMeta(**R21D, summary="R3D-18: 3D ResNet-18 (torchvision's "
                                           "r3d_18 parameter count).", tags=("3d", "resnet")))
def r3d_18() -> Dict[str, Any]:
    return _single({"name": "r3d_18"}, {"name": "avg_pool", "dropout": 0.0}, _rgb(16, 112, **C3D_NORM))


@register_preset("r2plus1d_18", meta=ModelMeta(**R21D, summary="R(2+1)D-18: spatial and temporal "
                                                "convolutions factorised (torchvision's r2plus1d_18).",
                                                tags=("3d", "resnet", "factorised")))
def r2plus1d_18() -> Dict[str, Any]:
    return _single({"name": "r2plus1d_18"}, {"name": "avg_pool", "dropout": 0.0},
                   _rgb(16, 112, **C3D_NORM))


X3D = dict(paper="X3D: Expanding Architectures for Efficient Video Recognition (Feichtenhofer)",
           year=2020, url="https://arxiv.org/abs/2004.04730")


def _x3d(v: str, frames: int, size: int, stride: int) -> Dict[str, Any]:
    return _single({"name": f"x3d_{v}"}, {"name": "x3d_head"},
                   _rgb(frames, size, frame_stride=stride, **KINETICS))


@register_preset("x3d_xs", meta=ModelMeta(**X3D, summary="X3D-XS (4x160^2).", tags=("3d", "x3d")))
def x3d_xs() -> Dict[str, Any]:
    return _x3d("xs", 4, 160, 12)


@register_preset("x3d_s", meta=ModelMeta(**X3D, summary="X3D-S (13x160^2).", tags=("3d", "x3d")))
def x3d_s() -> Dict[str, Any]:
    return _x3d("s", 13, 160, 6)


@register_preset("x3d_m", meta=ModelMeta(**X3D, summary="X3D-M (16x224^2).", tags=("3d", "x3d")))
def x3d_m() -> Dict[str, Any]:
    return _x3d("m", 16, 224, 5)


SLOWFAST = dict(paper="SlowFast Networks for Video Recognition (Feichtenhofer, Fan, Malik, He)",
                year=2019, url="https://arxiv.org/abs/1812.03982")


@register_preset("slow_r50", meta=ModelMeta(**SLOWFAST, summary="Slow-only ResNet-50, 8x8.",
                                             tags=("3d", "slowfast")))
def slow_r50() -> Dict[str, Any]:
    return _single({"name": "slow_r50"}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(8, 224, frame_stride=8, **KINETICS))


@register_preset("slowfast_r50", meta=ModelMeta(**SLOWFAST, summary="SlowFast ResNet-50, 8x8 "
                                                 "(32 fast frames, alpha 4).", tags=("3d", "slowfast")))
def slowfast_r50() -> Dict[str, Any]:
    return _single({"name": "slowfast_r50", "alpha": 4}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(32, 224, frame_stride=2, **KINETICS))


@register_preset("csn_r101", meta=ModelMeta(
    paper="Video Classification with Channel-Separated Convolutional Networks (Tran et al.)",
    year=2019, url="https://arxiv.org/abs/1904.02811", summary="ir-CSN-101, 32x2.",
    tags=("3d", "csn")))
def csn_r101() -> Dict[str, Any]:
    return _single({"name": "csn_r101"}, {"name": "avg_pool", "dropout": 0.0},
                   _rgb(32, 224, frame_stride=2, **KINETICS))


@register_preset("mvit_b", meta=ModelMeta(
    paper="Multiscale Vision Transformers (Fan et al.)", year=2021, url="https://arxiv.org/abs/2104.11227",
    summary="MViT-B 16x4, classified from its class token.", tags=("transformer", "mvit")))
def mvit_b() -> Dict[str, Any]:
    return _single({"name": "mvit_b", "readout": "cls"}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(16, 224, frame_stride=4, **KINETICS))


@register_preset("tsn", meta=ModelMeta(
    paper="Temporal Segment Networks: Towards Good Practices for Deep Action Recognition "
          "(Wang et al.)", year=2016, url="https://arxiv.org/abs/1608.00859",
    summary="TSN: one snippet per segment (3 segments), a ResNet-50 per snippet, average consensus.",
    tags=("2d", "tsn")))
def tsn() -> Dict[str, Any]:
    return _single({"name": "resnet50"}, {"name": "tsn", "consensus": "avg"},
                   _rgb(3, 224, sampling="segments"))


@register_preset("tsm", meta=ModelMeta(
    paper="TSM: Temporal Shift Module for Efficient Video Understanding (Lin, Gan, Han)", year=2019,
    url="https://arxiv.org/abs/1811.08383",
    summary="TSM ResNet-50: 1/8 of the channels shifted each way in time in every residual block; "
            "8 segments, average consensus.", tags=("2d", "tsm")))
def tsm() -> Dict[str, Any]:
    return _single({"name": "tsm", "model": "resnet50", "shift_div": 8}, {"name": "avg_pool"},
                   _rgb(8, 224, sampling="segments"))
