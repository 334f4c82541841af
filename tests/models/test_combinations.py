"""First-party backbone x temporal head x fusion combinations: the compatible ones build and give
[B, classes]; the incompatible ones fail in zoo.build with IncompatibleError."""
from __future__ import annotations

import itertools

import pytest
import torch

import zoo
from zoo.errors import IncompatibleError
from zoo.specs import CLIP, FRAME, HeadSpec

# (backbone config, input) -- small and quick; cover 2D per-frame, TSM and 3D (pooled and not).
# The combinations are about feature kinds, not backbone identity: the 2D networks are timm's
# smallest ResNet (test_resnet, 0.4 M parameters); R(2+1)D-18 (31 M) only adds another pooled 3D
# map, so its row runs with the slow tests.
TINY_2D = "test_resnet"
BACKBONES = {
    "resnet": ({"name": TINY_2D}, dict(frames=4, size=32)),
    "tsm": ({"name": "tsm", "model": TINY_2D}, dict(frames=4, size=32)),
    "c3d": ({"name": "c3d"}, dict(frames=4, size=32)),
    "r2plus1d_18": ({"name": "r2plus1d_18"}, dict(frames=4, size=32)),
    "x3d_xs": ({"name": "x3d_xs"}, dict(frames=4, size=32)),
    "i3d": ({"name": "i3d"}, dict(frames=8, size=32)),
}
SLOW_BACKBONES = {"r2plus1d_18"}
HEADS = ["avg_pool", "lstm", "conv3d", "tsn", "c3d_fc", "i3d_logits", "x3d_head"]
# narrow hidden layers: c3d_fc's default fc6/fc7 alone are 25 M parameters
HEAD_KW = {"c3d_fc": {"hidden": 64}, "conv3d": {"hidden": 32}, "lstm": {"hidden_size": 16},
           "x3d_head": {"dim_inner": 32, "dim_out": 64}}
LATE = ["average", "weighted", "linear", "concat"]


def _head(name):
    return {"name": name, **HEAD_KW.get(name, {})}


def _single(backbone, head, inp):
    return {"num_classes": 3, "streams": {"rgb": {"input": inp, "backbone": backbone,
                                                  "temporal_head": _head(head)}}}


class _Runs(dict):
    """Each backbone's FeatureSpec at its test input and its output map on a random clip (eval),
    computed on first use and kept: the combinations below reuse the map to run their heads."""

    def __missing__(self, name):
        from zoo.specs import InputSpec

        cfg, inp = BACKBONES[name]
        torch.manual_seed(0)
        module = zoo.get("backbone", cfg["name"])(**{k: v for k, v in cfg.items() if k != "name"})
        feature = module.feature_spec(InputSpec(**inp))
        with torch.no_grad():
            fmap = module.eval()(torch.randn(2, 3, inp["frames"], inp["size"], inp["size"]))
        assert tuple(fmap.shape) == (2, feature.channels, feature.time_steps, *feature.spatial)
        self[name] = (feature, fmap)
        return self[name]


@pytest.fixture(scope="module")
def backbone_runs():
    return _Runs()


@pytest.fixture(scope="module")
def features(backbone_runs):
    return {k: backbone_runs[k][0] for k in ("resnet", "tsm", "c3d")}


@pytest.mark.parametrize("bname,head", [
    pytest.param(b, h, marks=pytest.mark.slow) if b in SLOW_BACKBONES else (b, h)
    for b, h in itertools.product(BACKBONES, HEADS)])
def test_backbone_head(bname, head, backbone_runs):
    """zoo.build accepts exactly the combinations the head's HeadSpec accepts; the built model's
    head reads the backbone's map and gives [B, classes]."""
    cfg, inp = BACKBONES[bname]
    feature, fmap = backbone_runs[bname]
    spec: HeadSpec = zoo.get("temporal_head", head).info.spec
    reason = spec.why_not(feature)
    if reason is not None:
        with pytest.raises(IncompatibleError):
            zoo.build(_single(cfg, head, inp))
        return
    model = zoo.build(_single(cfg, head, inp)).eval()
    with torch.no_grad():
        out = model.streams["rgb"].temporal_head(fmap)
    assert out.shape == (2, 3)


@pytest.mark.parametrize("bname", ["resnet", "c3d"])
def test_full_forward(bname):
    cfg, inp = BACKBONES[bname]
    model = zoo.build(_single(cfg, "avg_pool", inp)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, inp["frames"], inp["size"], inp["size"])).shape == (2, 3)


def test_declared_incompatibilities(features):
    """The issue's examples: lstm / tsn read per-frame features only."""
    assert features["c3d"].time == CLIP and features["resnet"].time == FRAME
    assert features["tsm"].time == CLIP  # shifted frames mix time
    for head in ("lstm", "tsn"):
        with pytest.raises(IncompatibleError, match=head):
            zoo.build(_single({"name": "c3d"}, head, dict(frames=8, size=32)))
    with pytest.raises(IncompatibleError):
        zoo.build(_single({"name": "tsm", "model": TINY_2D}, "lstm", dict(frames=4, size=32)))


def _two(fusion, bb_rgb=(TINY_2D, {}), bb_flow=(TINY_2D, {}), flow_head=True, frames=4, size=32):
    streams = {
        "rgb": {"input": {"modality": "rgb", "frames": frames, "size": size},
                "backbone": {"name": bb_rgb[0], **bb_rgb[1]}},
        "flow": {"input": {"modality": "flow", "frames": frames, "size": size, "flow_stack": 2},
                 "backbone": {"name": bb_flow[0], **bb_flow[1]}},
    }
    if isinstance(fusion, str):
        for s in streams.values():
            s["temporal_head"] = {"name": "avg_pool"}
    elif flow_head:
        streams["flow"]["temporal_head"] = {"name": "avg_pool"}
    return {"num_classes": 3, "streams": streams, "fusion": fusion}


def _run(model, frames=4, size=32):
    x = {"rgb": torch.randn(2, 3, frames, size, size), "flow": torch.randn(2, 4, frames, size, size)}
    out = model(x)
    assert out.shape == (2, 3)
    return out


@pytest.mark.parametrize("fusion,backbones", [(f, (TINY_2D, TINY_2D)) for f in LATE]
                         + [("average", (TINY_2D, "c3d"))])
def test_late_fusions(fusion, backbones):
    frames = 4
    model = zoo.build(_two(fusion, (backbones[0], {}), (backbones[1], {}), frames=frames))
    out = _run(model.train(), frames=frames)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("fusion", ["concat_maps", "conv3d_fusion"])
@pytest.mark.parametrize("head", ["avg_pool", "conv3d", "c3d_fc", "i3d_logits"])
def test_mid_fusions(fusion, head):
    cfg = _two({"name": fusion, "temporal_head": _head(head)}, flow_head=True, size=64)
    spec = zoo.get("temporal_head", head).info.spec
    fused_time = FRAME if fusion == "concat_maps" else CLIP
    if fused_time not in spec.consumes:
        with pytest.raises(IncompatibleError):
            zoo.build(cfg)
        return
    model = zoo.build(cfg)
    _run(model.eval(), size=64)
    assert model.late_fusion is not None  # the flow stream kept its own scores


def test_mid_fusion_of_3d_and_2d_maps_is_rejected():
    """Stacking maps needs equal time steps and spatial size: C3D's pooled clip map and a 2D
    network's per-frame map do not stack."""
    cfg = _two({"name": "conv3d_fusion", "temporal_head": {"name": "avg_pool"}},
               ("c3d", {}), (TINY_2D, {}), frames=8)
    with pytest.raises(IncompatibleError):
        zoo.build(cfg)


def test_mid_fusion_with_tsn_after_concat_maps():
    """concat_maps keeps per-frame time, so a per-frame head may follow it."""
    model = zoo.build(_two({"name": "concat_maps", "temporal_head": {"name": "tsn"}}, flow_head=False))
    _run(model.eval())
    assert model.late_fusion is None
