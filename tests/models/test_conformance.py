"""zoo.testing's conformance kit on every first-party head, fusion and (small) backbone."""
from __future__ import annotations

import pytest

from zoo.specs import CLIP, FRAME, FeatureSpec, InputSpec
from zoo.testing import check_backbone, check_fusion, check_temporal_head

HEADS = ["avg_pool", "lstm", "conv3d", "tsn", "c3d_fc", "i3d_logits", "x3d_head"]
FUSIONS = ["average", "weighted", "linear", "concat", "concat_maps", "conv3d_fusion"]


@pytest.mark.parametrize("name", HEADS)
def test_head_conformance(name):
    import zoo

    spec = zoo.get("temporal_head", name).info["spec"]
    time = FRAME if FRAME in spec.consumes else CLIP
    check_temporal_head(name, FeatureSpec(16, time, 4, (3, 3)))


@pytest.mark.parametrize("name", FUSIONS)
def test_fusion_conformance(name):
    check_fusion(name)


@pytest.mark.parametrize("name,kw", [("resnet18", {}), ("c3d", {}), ("r3d_18", {}),
                                     pytest.param("i3d", {}, marks=pytest.mark.slow),
                                     # the TSM / inflation wrappers on timm's smallest ResNet
                                     ("tsm", {"model": "test_resnet"}),
                                     ("inflated", {"model": "test_resnet"}),
                                     pytest.param("r2plus1d_18", {}, marks=pytest.mark.slow),
                                     pytest.param("x3d_xs", {}, marks=pytest.mark.slow)])
def test_backbone_conformance(name, kw):
    check_backbone(name, InputSpec(frames=4, size=32), **kw)


def test_flow_backbone_conformance():
    feature = check_backbone("resnet18", InputSpec(modality="flow", flow_stack=10, frames=1, size=32))
    assert feature.channels == 512
