"""Every first-party preset builds through zoo.build at a small input and trains (forward +
backward, gradients reach every trainable parameter), and its config rebuilds the same model."""
from __future__ import annotations

import inspect
import warnings

import pytest

import zoo
from zoo.testing import check_preset

# presets with tens of millions of parameters or big 3D stems: still run, marked slow
HEAVY = {"slowfast_r50", "mvit_b", "csn_r101", "slow_r50", "i3d_resnet50", "tsm", "tsn",
         "two_stream_3d", "two_stream_svm", "fused_two_stream", "two_stream_svm_r18",
         "fused_two_stream_r18", "x3d_s", "x3d_m", "x3d_xs", "x3d_l", "i3d", "r2plus1d_18"}
FIRST_PARTY = ["c3d", "cnn_lstm", "cnn_lstm_r18", "csn_r101", "fused_two_stream",
               "fused_two_stream_r18", "i3d", "i3d_resnet50", "mc3_18", "mvit_b", "r2plus1d_18",
               "r3d_18", "single_frame", "slow_r50", "slowfast_r50", "tsm", "tsn", "two_stream",
               "two_stream_3d", "two_stream_r18", "two_stream_svm", "two_stream_svm_r18", "x3d_l",
               "x3d_m", "x3d_s", "x3d_xs"]
SMALL = dict(frames=4, size=32)


def test_every_preset_is_registered():
    ours = {n for n in zoo.list("presets") if zoo.get("preset", n).source == "zoo-video"}
    assert ours == set(FIRST_PARTY)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in FIRST_PARTY])
def test_preset_builds_and_trains(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = check_preset(name, num_classes=5, **SMALL)
    for spec in model.spec.inputs.values():
        assert (spec.frames, spec.size) == (4, 32)


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_preset_metadata(name):
    comp = zoo.get("preset", name)
    assert comp.meta.paper and comp.meta.year and comp.meta.url and comp.meta.summary
    cfg = comp()
    assert cfg["streams"] and all("input" in s for s in cfg["streams"].values())


def test_default_sizes_are_the_papers():
    from zoo.builder import resolve_config

    assert resolve_config("c3d")["streams"]["rgb"]["input"]["frames"] == 16
    assert resolve_config("c3d")["streams"]["rgb"]["input"]["size"] == 112
    flow = resolve_config("two_stream")["streams"]["flow"]["input"]
    assert flow["flow_stack"] == 10 and flow["modality"] == "flow"
    assert resolve_config("two_stream_3d")["streams"]["flow"]["input"]["flow_stack"] == 1


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in FIRST_PARTY])
def test_preset_width(name):
    """zoo.build(preset, width=w) narrows every component whose builder takes a width."""
    from zoo.config import _component_slots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = check_preset(name, num_classes=5, width=0.125, **SMALL)
    slots = _component_slots(model.config)
    assert any(comp.get("width") == 0.125 for kind, _, comp in slots if kind == "backbone")
    for kind, where, comp in slots:
        takes = "width" in inspect.signature(zoo.get(kind, comp["name"]).builder).parameters
        assert comp.get("width") == (0.125 if takes else None), where
