"""Named complete models: each preset returns its config dict (docs/architecture.md).

Sizes are the papers'; override them at build time (``zoo.build("c3d", frames=8, size=64)``):
every component sizes itself from the input spec, so every preset builds at small inputs.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from zoo.registry import register_preset
from zoo.specs import NORMALISATION, ModelMeta
from zoo.weights import Peer

from .papers import PAPERS

KINETICS = NORMALISATION["kinetics_pytorchvideo"].as_config()
TORCHVISION = NORMALISATION["kinetics_torchvision"].as_config()
C3D_NORM = NORMALISATION["c3d_sports1m"].as_config()

# how each preset reads its peer's checkpoints (zoo.weights): key prefixes, first match wins
ZOO_HEAD, ZOO_BACKBONE = "streams.rgb.temporal_head.", "streams.rgb.backbone."


def _peer(library: str, model: str, head: str, trunk: str = "", zoo_head: str = "fc.",
          zoo_trunk: str = "") -> Peer:
    return Peer(library, model, {head: ZOO_HEAD + zoo_head, trunk: ZOO_BACKBONE + zoo_trunk})


def _torchvision(model: str) -> Peer:
    return _peer("torchvision", model, "fc.")


def _pytorchvideo(model: str, head: str, zoo_head: str = "fc.", trunk: str = "blocks.",
                  zoo_trunk: Optional[str] = None) -> Peer:
    return _peer("pytorchvideo", model, head, trunk, zoo_head, trunk if zoo_trunk is None else zoo_trunk)


def _rgb(frames: int, size: int, **kw) -> Dict[str, Any]:
    return {"modality": "rgb", "frames": frames, "size": size, **kw}


def _flow(frames: int, size: int, flow_stack: int, **kw) -> Dict[str, Any]:
    return {"modality": "flow", "frames": frames, "size": size, "flow_stack": flow_stack, **kw}


def _single(backbone, head, input_, **extra) -> Dict[str, Any]:
    return {"streams": {"rgb": {"input": input_, "backbone": backbone, "temporal_head": head}},
            "fusion": None, **extra}


# -- foundations ---------------------------------------------------------------------------------
@register_preset("single_frame", meta=ModelMeta(
    **PAPERS["single_frame"],
    summary="The control: a 2D CNN on every frame, class scores averaged over frames. Departs from "
            "the paper: ResNet-18 instead of its AlexNet-style network (a stronger, standard 2D "
            "control).",
    tags=("2d", "baseline")))
def single_frame() -> Dict[str, Any]:
    return _single({"name": "resnet18"}, {"name": "tsn", "consensus": "avg"}, _rgb(8, 224))


@register_preset("cnn_lstm", meta=ModelMeta(
    **PAPERS["lrcn"],
    summary="LRCN: CaffeNet per frame, its fc6 (4096) into an LSTM of 256 units, per-step "
            "predictions averaged; 16-frame clips of 227x227. Pass 'lengths' in the input dict for "
            "clips of different lengths. Departs from the paper: torch's LSTM has two bias vectors "
            "(+1024 parameters), inputs are normalised with ImageNet mean/std (Caffe subtracts the "
            "mean pixel), and no dropout is set (the paper's is not stated for this setting).",
    tags=("2d", "rnn", "lrcn")))
def cnn_lstm() -> Dict[str, Any]:
    return _single({"name": "caffenet"},
                   {"name": "lstm", "fc6": 4096, "hidden_size": 256, "num_layers": 1, "readout": "mean"},
                   _rgb(16, 227))


@register_preset("cnn_lstm_r18", meta=ModelMeta(
    **PAPERS["lrcn"],
    summary="LRCN with a ResNet-18 per frame instead of the paper's CaffeNet (a variant: the "
            "spatially averaged 512-channel map into an LSTM of 256).", tags=("2d", "rnn", "lrcn")))
def cnn_lstm_r18() -> Dict[str, Any]:
    return _single({"name": "resnet18"},
                   {"name": "lstm", "hidden_size": 256, "num_layers": 1, "readout": "mean"},
                   _rgb(16, 224))


@register_preset("c3d", meta=ModelMeta(
    **PAPERS["c3d"],
    summary="C3D: eight 3x3x3 convolutions, five max-poolings, fc6/fc7 (4096, dropout); "
            "3x16x112x112 clips, normalised as the C3D release: the per-channel means of its "
            "Sports-1M mean clip subtracted from 0-255 pixels (the release subtracts the whole "
            "16x128x171 mean clip).", tags=("3d", "c3d")))
def c3d() -> Dict[str, Any]:
    return _single({"name": "c3d"}, {"name": "c3d_fc", "hidden": 4096, "dropout": 0.5},
                   _rgb(16, 112, **C3D_NORM))


CNN_M = ({"name": "cnn_m_2048"}, {"name": "fc", "hidden": [4096, 2048], "dropout": 0.9, "per_frame": True})
R18 = ({"name": "resnet18", "pretrained": False}, {"name": "avg_pool"})
TWO_STREAM_CARD = ("Spatial stream on RGB frames, temporal stream on 10 stacked optical-flow fields "
                   "(2L = 20 channels; the data's FlowOptions subtract the mean displacement by "
                   "default, as the paper does)")


def _two_stream(net, fusion: str) -> Dict[str, Any]:
    backbone, head = net
    return {"streams": {
        "rgb": {"input": _rgb(1, 224), "backbone": dict(backbone), "temporal_head": dict(head)},
        "flow": {"input": _flow(1, 224, 10), "backbone": dict(backbone), "temporal_head": dict(head)}},
        "fusion": {"name": fusion}}


@register_preset("two_stream", meta=ModelMeta(
    **PAPERS["two_stream"], summary=TWO_STREAM_CARD + "; both CNN-M-2048 (fc6 4096, fc7 2048, dropout 0.9, "
    "the paper's setting for training from scratch; the temporal net without conv2's LRN), softmax "
    "scores averaged. Departs from the paper: ImageNet mean/std normalisation.",
    tags=("2d", "two-stream", "flow")))
def two_stream() -> Dict[str, Any]:
    return _two_stream(CNN_M, "average")


@register_preset("two_stream_svm", meta=ModelMeta(
    **PAPERS["two_stream"], summary=TWO_STREAM_CARD + "; both CNN-M-2048; the paper's learned linear (SVM) "
    "fusion of the L2-normalised softmax scores (a linear layer trained with the cross-entropy "
    "loss instead of an SVM's hinge loss); train the streams, then the fusion alone (parameters "
    "fusion.*).", tags=("2d", "two-stream", "flow", "svm")))
def two_stream_svm() -> Dict[str, Any]:
    return _two_stream(CNN_M, "linear")


@register_preset("two_stream_r18", meta=ModelMeta(
    **PAPERS["two_stream"], summary="Two-stream with ResNet-18 streams instead of the paper's CNN-M-2048 (a "
    "variant), softmax scores averaged.", tags=("2d", "two-stream", "flow")))
def two_stream_r18() -> Dict[str, Any]:
    return _two_stream(R18, "average")


@register_preset("two_stream_svm_r18", meta=ModelMeta(
    **PAPERS["two_stream"], summary="Two-stream SVM fusion with ResNet-18 streams instead of the paper's "
    "CNN-M-2048 (a variant).", tags=("2d", "two-stream", "flow", "svm")))
def two_stream_svm_r18() -> Dict[str, Any]:
    return _two_stream(R18, "linear")


@register_preset("fused_two_stream", meta=ModelMeta(
    **PAPERS["fusion_2016"],
    summary="Two VGG-16 streams (5 RGB frames; 5 stacks of 10 flow fields) fused after conv5_3's "
            "ReLU: maps concatenated per time step, a 3x3x3 convolution (1024 -> 512, no "
            "BatchNorm), 3D max pooling (2x2 in space, all 5 steps in time, in place of pool5), "
            "fc6/fc7 (4096) and the classifier; the temporal stream is kept whole (the same 3D "
            "pooling and its own fc6-fc8) and its softmax scores are averaged with the fused ones, "
            "as in the paper. Departs from the paper: ImageNet mean/std normalisation; dropout 0.5.",
    tags=("2d", "two-stream", "flow", "mid-fusion")))
def fused_two_stream() -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(5, 224), "backbone": {"name": "vgg16"}},
        "flow": {"input": _flow(5, 224, 10), "backbone": {"name": "vgg16"},
                 "temporal_head": {"name": "fc", "pool": [0, 2, 2]}}},
        "fusion": {"name": "conv3d_fusion", "out_channels": 512, "batch_norm": False, "relu": False,
                   "spatial_pool": 2, "spatial_stride": 2, "temporal_head": {"name": "fc"},
                   "late": "average"}}


@register_preset("fused_two_stream_r18", meta=ModelMeta(
    **PAPERS["fusion_2016"],
    summary="3D-fused two-stream with ResNet-18 streams instead of the paper's VGG-16 (a variant): "
            "maps stacked, a 3x3x3 convolution with BatchNorm and ReLU, 3D pooling, global average "
            "pooling and a linear layer; the temporal stream's own scores averaged in.",
    tags=("2d", "two-stream", "flow", "mid-fusion")))
def fused_two_stream_r18() -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(5, 224), "backbone": {"name": "resnet18"}},
        "flow": {"input": _flow(5, 224, 10), "backbone": {"name": "resnet18"},
                 "temporal_head": {"name": "avg_pool"}}},
        "fusion": {"name": "conv3d_fusion", "temporal_head": {"name": "avg_pool"}, "late": "average"}}


@register_preset("i3d", meta=ModelMeta(**PAPERS["i3d"], summary="RGB I3D: Inception-v1 (with BatchNorm) "
                                        "inflated to 3D; 64x224x224 clips; option inflate_from= "
                                        "bootstraps it from a 2D Inception-v1.", tags=("3d", "i3d")))
def i3d() -> Dict[str, Any]:
    return _single({"name": "i3d"}, {"name": "i3d_logits"}, _rgb(64, 224))


@register_preset("two_stream_3d", meta=ModelMeta(
    **PAPERS["i3d"], summary="Two-stream I3D: RGB and optical-flow (2-channel, flow_stack=1) I3D networks, "
    "logits added (the reference kinetics-i3d evaluate_sample.py). The reference's flow keeps the "
    "mean displacement: use FlowOptions(subtract_mean=False) for its data.",
    tags=("3d", "i3d", "two-stream", "flow")))
def two_stream_3d() -> Dict[str, Any]:
    return {"streams": {
        "rgb": {"input": _rgb(64, 224), "backbone": {"name": "i3d"}, "temporal_head": {"name": "i3d_logits"}},
        "flow": {"input": _flow(64, 224, 1), "backbone": {"name": "i3d"},
                 "temporal_head": {"name": "i3d_logits"}}},
        "fusion": {"name": "logit_sum"}}


@register_preset("i3d_resnet50", meta=ModelMeta(
    **{**PAPERS["i3d"], "summary": "timm ResNet-50 (and its ImageNet weights, pretrained=True) inflated to "
       "3D: 3x3 kernels become 3x3x3, 7x7 become 7x7x7."}, tags=("3d", "inflated")))
def i3d_resnet50() -> Dict[str, Any]:
    return _single({"name": "inflated", "model": "resnet50", "time_kernel": "same"},
                   {"name": "avg_pool"}, _rgb(16, 224))


# -- modern families -----------------------------------------------------------------------------
def _video_resnet(name: str) -> Dict[str, Any]:
    return _single({"name": name}, {"name": "avg_pool", "dropout": 0.0}, _rgb(16, 112, **TORCHVISION))


@register_preset("r3d_18", peer=_torchvision("r3d_18"), meta=ModelMeta(
    **PAPERS["r2plus1d"], summary="R3D-18: 3D ResNet-18 (torchvision's r3d_18; reads and writes its "
    "checkpoints).", tags=("3d", "resnet")))
def r3d_18() -> Dict[str, Any]:
    return _video_resnet("r3d_18")


@register_preset("mc3_18", peer=_torchvision("mc3_18"), meta=ModelMeta(
    **PAPERS["r2plus1d"], summary="MC3-18: 3D convolutions in the stem and res2 only, 2D (1x3x3) "
    "above (torchvision's mc3_18; reads and writes its checkpoints).", tags=("3d", "resnet")))
def mc3_18() -> Dict[str, Any]:
    return _video_resnet("mc3_18")


@register_preset("r2plus1d_18", peer=_torchvision("r2plus1d_18"), meta=ModelMeta(
    **PAPERS["r2plus1d"], summary="R(2+1)D-18: spatial and temporal convolutions factorised "
    "(torchvision's r2plus1d_18; reads and writes its checkpoints).",
    tags=("3d", "resnet", "factorised")))
def r2plus1d_18() -> Dict[str, Any]:
    return _video_resnet("r2plus1d_18")


def _x3d(v: str, frames: int, size: int, stride: int) -> Dict[str, Any]:
    return _single({"name": f"x3d_{v}"}, {"name": "x3d_head"},
                   _rgb(frames, size, frame_stride=stride, **KINETICS))


def register_x3d(v: str, shape: str):
    """The decorator of preset ``x3d_<v>``: its card and its pytorchvideo peer."""
    return register_preset(f"x3d_{v}", peer=_pytorchvideo(f"x3d_{v}", "blocks.5.", "head."),
                           meta=ModelMeta(**PAPERS["x3d"], summary=f"X3D-{v.upper()} ({shape}; reads "
                                          f"and writes pytorchvideo's x3d_{v} checkpoints).",
                                          tags=("3d", "x3d")))


@register_x3d("xs", "4x160^2")
def x3d_xs() -> Dict[str, Any]:
    return _x3d("xs", 4, 160, 12)


@register_x3d("s", "13x160^2")
def x3d_s() -> Dict[str, Any]:
    return _x3d("s", 13, 160, 6)


@register_x3d("m", "16x224^2")
def x3d_m() -> Dict[str, Any]:
    return _x3d("m", 16, 224, 5)


@register_x3d("l", "16x312^2")
def x3d_l() -> Dict[str, Any]:
    return _x3d("l", 16, 312, 5)


@register_preset("slow_r50", peer=_pytorchvideo("slow_r50", "blocks.5.proj."), meta=ModelMeta(
    **PAPERS["slowfast"], summary="Slow-only ResNet-50, 8x8 (reads and writes pytorchvideo's "
    "slow_r50 checkpoints).", tags=("3d", "slowfast")))
def slow_r50() -> Dict[str, Any]:
    return _single({"name": "slow_r50"}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(8, 224, frame_stride=8, **KINETICS))


@register_preset("slowfast_r50", peer=_pytorchvideo("slowfast_r50", "blocks.6.proj."), meta=ModelMeta(
    **PAPERS["slowfast"], summary="SlowFast ResNet-50, 8x8 (32 fast frames, alpha 4; reads and "
    "writes pytorchvideo's slowfast_r50 checkpoints).", tags=("3d", "slowfast")))
def slowfast_r50() -> Dict[str, Any]:
    return _single({"name": "slowfast_r50", "alpha": 4}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(32, 224, frame_stride=2, **KINETICS))


@register_preset("csn_r101", peer=_pytorchvideo("csn_r101", "blocks.5.proj."), meta=ModelMeta(
    **PAPERS["csn"], summary="ir-CSN-101, 32x2 (reads and writes "
    "pytorchvideo's csn_r101 checkpoints).", tags=("3d", "csn")))
def csn_r101() -> Dict[str, Any]:
    return _single({"name": "csn_r101"}, {"name": "avg_pool", "dropout": 0.0},
                   _rgb(32, 224, frame_stride=2, **KINETICS))


@register_preset("mvit_b", peer=_pytorchvideo("mvit_base_16x4", "head.proj.", trunk="", zoo_trunk="net."),
                 meta=ModelMeta(**PAPERS["mvit"], summary="MViT-B 16x4, classified from its class "
                                "token (reads and writes pytorchvideo's mvit_base_16x4 checkpoints).",
                                tags=("transformer", "mvit")))
def mvit_b() -> Dict[str, Any]:
    return _single({"name": "mvit_b", "readout": "cls"}, {"name": "avg_pool", "dropout": 0.5},
                   _rgb(16, 224, frame_stride=4, **KINETICS))


@register_preset("tsn", meta=ModelMeta(
    **PAPERS["tsn"],
    summary="TSN: one snippet per segment (3 segments), a ResNet-50 per snippet, average consensus. "
            "Departs from the paper: ResNet-50 instead of BN-Inception (timm has no BN-Inception).",
    tags=("2d", "tsn")))
def tsn() -> Dict[str, Any]:
    return _single({"name": "resnet50"}, {"name": "tsn", "consensus": "avg"},
                   _rgb(3, 224, sampling="segments"))


@register_preset("tsm", meta=ModelMeta(
    **PAPERS["tsm"],
    summary="TSM ResNet-50: 1/8 of the channels shifted each way in time in every residual block; "
            "8 segments, average consensus.", tags=("2d", "tsm")))
def tsm() -> Dict[str, Any]:
    return _single({"name": "tsm", "model": "resnet50", "shift_div": 8}, {"name": "avg_pool"},
                   _rgb(8, 224, sampling="segments"))
