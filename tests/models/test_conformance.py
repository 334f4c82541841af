"""zoo.testing's conformance kit on every first-party head, fusion and (small) backbone."""
from __future__ import annotations

import pytest

from zoo.specs import CLIP, FRAME, FeatureSpec, InputSpec
from zoo.testing import check_backbone, check_fusion, check_temporal_head

HEADS = ["avg_pool", "lstm", "conv3d", "tsn", "c3d_fc", "fc", "i3d_logits", "x3d_head"]
FUSIONS = ["average", "weighted", "linear", "concat", "logit_sum", "logit_average", "concat_maps",
           "conv3d_fusion"]


@pytest.mark.parametrize("name", HEADS)
def test_head_conformance(name):
    import zoo

    spec = zoo.get("temporal_head", name).info.spec
    time = FRAME if FRAME in spec.consumes else CLIP
    check_temporal_head(name, FeatureSpec(16, time, 4, (3, 3)))


@pytest.mark.parametrize("name", FUSIONS)
def test_fusion_conformance(name):
    check_fusion(name)


# every first-party backbone; check_backbone also checks a half-width build (its `width`)
SLOW = {"i3d", "r2plus1d_18", "r2plus1d_34", "x3d_xs", "x3d_s", "x3d_m", "x3d_l", "slow_r50",
        "slowfast_r50", "csn_r101", "mvit_b", "tsm", "vgg16"}
BACKBONES = [("resnet18", {}), ("resnet50", {}), ("c3d", {}), ("r3d_18", {}), ("mc3_18", {}),
             ("i3d", {}), ("r2plus1d_18", {}), ("r2plus1d_34", {}), ("x3d_xs", {}), ("x3d_s", {}),
             ("x3d_m", {}), ("x3d_l", {}), ("slow_r50", {}), ("slowfast_r50", {}), ("csn_r101", {}),
             ("mvit_b", {}), ("tsm", {}), ("tsm", {"model": "test_resnet"}),
             ("inflated", {"model": "test_resnet"}), ("cnn_m_2048", {}), ("caffenet", {}),
             ("vgg16", {})]


@pytest.mark.parametrize("name,kw", [pytest.param(n, kw, marks=pytest.mark.slow) if n in SLOW
                                     and not kw else (n, kw) for n, kw in BACKBONES])
def test_backbone_conformance(name, kw):
    check_backbone(name, InputSpec(frames=4, size=32), **kw)


def test_every_first_party_backbone_is_checked():
    import zoo

    ours = {n for n in zoo.list("backbones") if zoo.get("backbone", n).source == "zoo-video"}
    assert ours <= {n for n, _ in BACKBONES}


@pytest.mark.parametrize("name", ["c3d", "r3d_18", "resnet18", "x3d_xs", "mvit_b"])
def test_pretrained_needs_width_one(name):
    import zoo
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="width=1"):
        zoo.get("backbone", name)(pretrained=True, width=0.5)


def test_width_rejects_unscalable_timm_network():
    import zoo
    from zoo.errors import IncompatibleError

    zoo.get("backbone", "vit_tiny_patch16_224")(width=1.0)
    with pytest.raises(IncompatibleError, match="vit_tiny_patch16_224"):
        zoo.get("backbone", "vit_tiny_patch16_224")(width=0.5)


def test_flow_backbone_conformance():
    feature = check_backbone("resnet18", InputSpec(modality="flow", flow_stack=10, frames=1, size=32))
    assert feature.channels == 512


@pytest.mark.parametrize("kind,name,size", [
    ("temporal_head", "c3d_fc", lambda m: m.fc6.out_features),
    ("temporal_head", "fc", lambda m: m.fc7.out_features),
    ("temporal_head", "lstm", lambda m: m.lstm.hidden_size),
    ("temporal_head", "conv3d", lambda m: m.conv.out_channels),
    ("temporal_head", "x3d_head", lambda m: m.head.proj.in_features),
    ("fusion", "conv3d_fusion", lambda m: m.conv.out_channels)])
def test_width_scales_hidden_sizes(kind, name, size):
    import zoo

    feature = FeatureSpec(16, CLIP, 4, (3, 3))
    build = zoo.get(kind, name)
    args = ({"rgb": feature, "flow": feature},) if kind == "fusion" else (feature, 5)
    extra = {"out_channels": 64} if kind == "fusion" else {}
    assert size(build(*args, width=0.25, **extra)) * 4 == size(build(*args, **extra))
