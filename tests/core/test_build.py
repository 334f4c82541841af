"""zoo.build: configs, overrides, typed-spec checks, YAML round trip, inputs and outputs."""
import pytest
import torch
import yaml

import zoo
from zoo.errors import ConfigError, IncompatibleError
from zoo.testing import check_backbone, check_fusion, check_preset, check_temporal_head, same_architecture

from toys import install


@pytest.fixture
def acme(fake_dist):
    install(fake_dist)


def test_build_preset_with_input_spec(acme):
    model = zoo.build("acme_two_stream", num_classes=7)
    assert isinstance(model, torch.nn.Module)
    flow = model.spec.inputs["flow"]
    assert (flow.modality, flow.channels, flow.frames, flow.flow_stack) == ("flow", 6, 2, 3)
    assert model.spec.inputs["rgb"].mean == (0.485, 0.456, 0.406)
    out = model({"rgb": torch.randn(2, 3, 4, 16, 16), "flow": torch.randn(2, 6, 2, 16, 16)})
    assert out.shape == (2, 7)


def test_single_stream_takes_a_tensor_and_multi_stream_names_missing_inputs(acme):
    assert zoo.build("acme_single", num_classes=3)(torch.randn(1, 3, 4, 16, 16)).shape == (1, 3)
    model = zoo.build("acme_two_stream", num_classes=3)
    with pytest.raises(ValueError, match="lacks stream.*flow"):
        model({"rgb": torch.randn(1, 3, 4, 16, 16)})


def test_overrides_reach_inputs_and_component_parameters(acme):
    model = zoo.build("acme_two_stream", num_classes=3, frames=6, size=24, hidden_size=9, flow_stack=2)
    assert model.spec.inputs["rgb"].frames == 6 and model.spec.inputs["flow"].size == 24
    assert model.spec.inputs["flow"].channels == 4 and model.spec.inputs["rgb"].channels == 3
    assert model.config["streams"]["flow"]["temporal_head"]["hidden_size"] == 9
    model = zoo.build("acme_single", num_classes=3, **{"streams.rgb.backbone.width": 5})
    assert model.config["streams"]["rgb"]["backbone"]["width"] == 5


def test_unknown_override_fails_with_suggestions(acme):
    with pytest.raises(ConfigError, match="unknown override 'hiden_size'.*'hidden_size'"):
        zoo.build("acme_two_stream", hiden_size=3)
    with pytest.raises(ConfigError, match="no 'streams.rgbb'.*'rgb'"):
        zoo.build("acme_single", **{"streams.rgbb.backbone.width": 5})


def test_incompatible_head_fails_at_build_naming_both(acme):
    with pytest.raises(IncompatibleError) as err:
        zoo.build({"backbone": "acme_clip", "temporal_head": "acme_rnn"}, num_classes=3)
    msg = str(err.value)
    assert "'acme_rnn'" in msg and "'acme_clip'" in msg and "per-frame" in msg


def test_late_fusion_needs_heads_and_mid_fusion_needs_matching_maps(acme):
    with pytest.raises(IncompatibleError, match="stream 'flow' needs a temporal_head"):
        zoo.build({"streams": {"rgb": {"backbone": "acme_frame", "temporal_head": "acme_pool"},
                               "flow": {"backbone": "acme_frame"}}, "fusion": "acme_mean"})
    with pytest.raises(IncompatibleError, match="same spatial size"):
        zoo.build({"streams": {"rgb": {"backbone": "acme_frame", "input": {"size": 16}},
                               "flow": {"backbone": "acme_frame", "input": {"size": 32}}},
                   "fusion": {"name": "acme_stack", "temporal_head": "acme_pool"}})
    with pytest.raises(IncompatibleError, match="no fusion"):
        zoo.build({"streams": {"rgb": {"backbone": "acme_frame", "temporal_head": "acme_pool"},
                               "flow": {"backbone": "acme_frame", "temporal_head": "acme_pool"}}})


def test_mid_fusion_with_a_stream_kept_late(acme, fake_dist):
    fake_dist("acme-late", {"zoo.fusions": {"average": "acme_late:average"}}, {"acme_late.py": '''
        import torch
        from zoo import FusionSpec, register_fusion
        class Avg(torch.nn.Module):
            def forward(self, scores):
                return torch.stack(list(scores.values())).mean(0)
        @register_fusion("average", spec=FusionSpec())
        def average(streams, num_classes):
            return Avg()
    '''})
    cfg = {"streams": {"rgb": {"backbone": "acme_frame", "input": {"frames": 4, "size": 16}},
                       "flow": {"backbone": "acme_frame", "temporal_head": "acme_pool",
                                "input": {"modality": "flow", "frames": 4, "size": 16}}},
           "fusion": {"name": "acme_stack", "temporal_head": "acme_pool", "late": "acme-late:average"}}
    model = zoo.build(cfg, num_classes=4)
    assert model.spec.fusion_level == "mid"
    out = model({"rgb": torch.randn(2, 3, 4, 16, 16), "flow": torch.randn(2, 2, 4, 16, 16)})
    assert out.shape == (2, 4)


def test_a_head_without_lengths_refuses_a_padded_batch(acme):
    model = zoo.build("acme_single", num_classes=3)
    x = torch.randn(2, 3, 4, 16, 16)
    assert model({"rgb": x, "lengths": torch.tensor([4, 4])}).shape == (2, 3)
    with pytest.raises(ValueError, match="temporal head Pool cannot leave out padded frames"):
        model({"rgb": x, "lengths": torch.tensor([4, 1])})


def test_a_clip_backbone_refuses_a_padded_batch_whatever_its_head():
    """avg_pool reads lengths, but after C3D's convolutions the padded frames are mixed in."""
    model = zoo.build("c3d", num_classes=3, frames=8, size=32, width=0.125)
    x = torch.randn(2, 3, 8, 32, 32)
    assert model({"rgb": x, "lengths": torch.tensor([8, 8])}).shape == (2, 3)
    with pytest.raises(ValueError, match="backbone C3D .*clip network.*lengths \\[8, 2\\]"):
        model({"rgb": x, "lengths": torch.tensor([8, 2])})


def test_build_looks_each_component_up_once(monkeypatch):
    from zoo.registry import Registry

    calls = []
    get = Registry.get
    monkeypatch.setattr(Registry, "get", lambda self, kind, name: calls.append((kind, name))
                        or get(self, kind, name))
    zoo.build("two_stream_3d", num_classes=3, frames=4, size=32, dropout=0.2)
    assert sorted(calls) == sorted(set(calls))
    assert ("backbone", "i3d") in calls


def test_config_round_trips_through_yaml_file(acme, tmp_path):
    model = zoo.build("acme_two_stream", num_classes=5, frames=3)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(model.config))
    again = zoo.build(str(path))
    assert same_architecture(model, again)
    assert again.spec == model.spec


def test_bad_configs_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'stream'.*'streams'"):
        zoo.build({"stream": {}})
    path = tmp_path / "broken.yaml"
    path.write_text("streams: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        zoo.build(str(path))
    with pytest.raises(ConfigError, match="no such config file"):
        zoo.build(str(tmp_path / "missing.yaml"))


def test_conformance_kit_on_toy_components(acme):
    check_backbone("acme_frame")
    check_backbone("acme_clip")
    check_temporal_head("acme_pool")
    check_temporal_head("acme_rnn")
    check_fusion("acme_mean")
    check_fusion("acme_stack")
    check_preset("acme_two_stream")


def test_conformance_kit_catches_a_lying_feature_spec(fake_dist):
    fake_dist("acme-liar", {"zoo.backbones": {"liar": "acme_liar:liar"}}, {"acme_liar.py": '''
        from torch import nn
        from zoo import FRAME, FeatureSpec, register_backbone
        class Liar(nn.Conv3d):
            def feature_spec(self, s):
                return FeatureSpec(99, FRAME, s.frames, (s.size, s.size))
        @register_backbone("liar", temporal=FRAME)
        def liar(in_channels=3, pretrained=False):
            return Liar(in_channels, 4, 1)
    '''})
    with pytest.raises(AssertionError, match="feature_spec says"):
        check_backbone("liar")


@pytest.mark.parametrize("field, value, message", [
    ("frames", "sixteen", "frames must be a positive integer, got 'sixteen'"),
    ("frames", 4.5, "frames must be a positive integer, got 4.5"),
    ("frames", True, "frames must be a positive integer, got True"),
    ("size", 0, "size must be a positive integer, got 0"),
    ("frame_stride", "2", "frame_stride must be a positive integer, got '2'"),
    ("mean", [0.5, 0.5], r"mean \[0.5, 0.5\] has 2 values, but this rgb input has 3 channels"),
    ("std", [0, 0, 0], r"std \[0.0, 0.0, 0.0\] must be positive"),
    ("std", "abc", "std must be a list of finite numbers"),
    ("mean", [0.1, float("nan"), 0.1], "mean must be a list of finite numbers"),
])
def test_bad_input_fields_fail_at_build_naming_field_and_value(acme, field, value, message):
    with pytest.raises(ConfigError, match=f"stream 'rgb' input: {message}"):
        zoo.build("acme_single", num_classes=3, **{field: value})


def test_flow_mean_follows_the_stacked_channels(acme):
    with pytest.raises(ConfigError, match=r"mean \[0.5, 0.5\] has 2 values, but this flow input "
                                          r"has 6 channels: give 1 value or 6"):
        zoo.build("acme_two_stream", num_classes=3, **{"streams.flow.input.mean": [0.5, 0.5],
                                                       "streams.flow.input.std": [0.2]})
    model = zoo.build("acme_two_stream", num_classes=3, **{"streams.flow.input.mean": [0.5] * 6})
    assert model.spec.inputs["flow"].mean == (0.5,) * 6


@pytest.mark.parametrize("value", [True, 0, 2.0, "10"])
def test_num_classes_must_be_a_positive_integer(acme, value):
    with pytest.raises(ConfigError, match=f"num_classes must be a positive integer, got {value!r}"):
        zoo.build("acme_single", num_classes=value)


def test_an_input_the_backbone_cannot_read_names_the_size(fake_dist):
    install(fake_dist)
    fake_dist("acme-strict", {"zoo.backbones": {"acme_strict": "acme_strict:strict"}}, {
        "acme_strict.py": """
            from torch import nn
            from zoo import CLIP, FeatureSpec, register_backbone

            class Strict(nn.Module):
                def forward(self, x):
                    return x

                def feature_spec(self, s):
                    if s.size < 16:
                        raise RuntimeError("input too small")
                    return FeatureSpec(3, CLIP, s.frames, (s.size // 16 - 1,) * 2)

            @register_backbone("acme_strict", temporal=CLIP)
            def strict(in_channels=3, pretrained=False):
                return Strict()
        """})
    config = {"backbone": "acme_strict", "temporal_head": "acme_pool", "input": {"frames": 2}}
    with pytest.raises(ConfigError, match=r"stream 'rgb': backbone 'acme_strict' cannot read input "
                                          r"frames=2, size=7 \(RuntimeError: input too small\)"):
        zoo.build(config, num_classes=3, size=7)
    with pytest.raises(ConfigError, match=r"cannot read input frames=2, size=16: its feature map "
                                          r"would be 2 x 0 x 0; use a larger size"):
        zoo.build(config, num_classes=3, size=16)
    assert zoo.build(config, num_classes=3, size=32).spec.inputs["rgb"].size == 32
