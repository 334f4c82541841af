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
