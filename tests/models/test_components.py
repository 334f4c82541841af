"""Paper properties of the first-party components: parameter counts, strides, LSTM lengths,
fusion arithmetic, cross-modality initialisation, inflation, temporal shift, SlowFast, specs."""
from __future__ import annotations


import pytest
import torch

import zoo
from zoo.specs import CLIP, FRAME, FeatureSpec, InputSpec


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# Parameter counts, shapes and layer settings need no memory and no initialisation: full-size
# networks are built on the meta device (tens of millions of parameters in milliseconds).
ON_META = torch.device("meta")


# -- parameter counts ------------------------------------------------------------------------------
def test_c3d_parameter_count_is_the_papers():
    with ON_META:
        model = zoo.build("c3d", num_classes=101)  # 3 x 16 x 112 x 112
    assert model.spec.inputs["rgb"].shape == (3, 16, 112, 112)
    # 8 convs (27,655,936) + fc6 8192x4096 + fc7 4096x4096 + fc8 4096x101, with biases
    assert n_params(model) == 78_409_573
    assert abs(n_params(model) / 1e6 - 78.4) < 0.05
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3, 3) for c in convs)
    backbone = model.streams["rgb"].backbone
    pools = [m for m in backbone.modules() if type(m).__name__ == "SafeMaxPool3d"]
    assert [p.kernel_size for p in pools] == [(1, 2, 2)] + [(2, 2, 2)] * 4
    head = model.streams["rgb"].temporal_head
    assert head.fc6.in_features == 8192 and head.fc6.out_features == head.fc7.out_features == 4096


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_resnet3d_counts_match_torchvision(name):
    import torchvision

    with ON_META:
        ours = zoo.build(name, num_classes=400)
        ref = getattr(torchvision.models.video, name)(num_classes=400)
    assert n_params(ours) == n_params(ref)
    assert sorted(tuple(p.shape) for p in ours.parameters()) == sorted(tuple(p.shape) for p in ref.parameters())


def test_x3d_xs_count_matches_pytorchvideo():
    from pytorchvideo.models.x3d import create_x3d

    with ON_META:
        ours = zoo.build("x3d_xs", num_classes=400)
        ref = create_x3d(input_clip_length=4, input_crop_size=160, depth_factor=2.2,
                         model_num_class=400)
    assert n_params(ours) == n_params(ref) == 3_794_274


def test_i3d_strides_and_size():
    with ON_META:
        backbone = zoo.get("backbone", "i3d")()
    assert backbone.feature_spec(InputSpec(frames=64, size=224)) == FeatureSpec(1024, CLIP, 8, (7, 7))
    assert backbone.Conv3d_1a_7x7[0].kernel_size == (7, 7, 7)
    assert backbone.Conv3d_1a_7x7[0].stride == (2, 2, 2)
    assert backbone.MaxPool3d_2a_3x3.kernel_size == (1, 3, 3) and backbone.MaxPool3d_2a_3x3.stride == (1, 2, 2)
    assert backbone.MaxPool3d_3a_3x3.stride == (1, 2, 2)
    assert backbone.MaxPool3d_4a_3x3.kernel_size == (3, 3, 3) and backbone.MaxPool3d_4a_3x3.stride == (2, 2, 2)
    assert backbone.MaxPool3d_5a_2x2.kernel_size == (2, 2, 2)
    assert 12.0e6 < n_params(backbone) < 12.5e6  # Inception-v1 inflated: ~12M
    with ON_META:
        head = zoo.get("temporal_head", "i3d_logits")(FeatureSpec(1024, CLIP, 8, (7, 7)), 400)
    assert head.pool == (2, 7, 7)


# -- CNN + LSTM ------------------------------------------------------------------------------------
@pytest.mark.parametrize("readout", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_head_lengths(readout, bidirectional):
    torch.manual_seed(0)
    head = zoo.get("temporal_head", "lstm")(FeatureSpec(8, FRAME, 6, (2, 2)), 4, hidden_size=5,
                                            num_layers=2, bidirectional=bidirectional, dropout=0.3,
                                            readout=readout).eval()
    clips = [torch.randn(1, 8, t, 2, 2) for t in (6, 3, 1)]
    batch = torch.zeros(3, 8, 6, 2, 2)
    for i, c in enumerate(clips):
        batch[i, :, :c.shape[2]] = c
        batch[i, :, c.shape[2]:] = 100.0  # padding must not matter
    out = head(batch, lengths=torch.tensor([6, 3, 1]))
    for i, c in enumerate(clips):
        torch.testing.assert_close(out[i:i + 1], head(c), rtol=1e-5, atol=1e-5)


def test_cnn_lstm_batch_of_different_lengths():
    """A clip's prediction in a padded batch (lengths in the input dict) equals running it alone."""
    torch.manual_seed(0)
    model = zoo.build("cnn_lstm", num_classes=3, frames=5, size=32, readout="mean",
                      backbone="test_resnet").eval()  # timm's smallest ResNet: the LSTM is the point
    clips = [torch.randn(1, 3, t, 32, 32) for t in (5, 2, 4)]
    batch = torch.zeros(3, 3, 5, 32, 32)
    for i, c in enumerate(clips):
        batch[i, :, :c.shape[2]] = c
    with torch.no_grad():
        out = model({"rgb": batch, "lengths": torch.tensor([5, 2, 4])})
        for i, c in enumerate(clips):
            torch.testing.assert_close(out[i:i + 1], model(c), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head,kw", [("conv3d", {}), ("fc", {}), ("c3d_fc", {}), ("i3d_logits", {}),
                                     ("x3d_head", {})])
def test_heads_that_cannot_leave_out_padding_refuse_a_padded_batch(head, kw):
    feature = FeatureSpec(8, CLIP, 4, (3, 3))
    module = zoo.get("temporal_head", head)(feature, 5, **kw).eval()
    x = torch.randn(2, 8, 4, 3, 3)
    assert module(x, lengths=torch.tensor([4, 6])).shape == (2, 5)  # nothing padded
    with pytest.raises(ValueError, match="cannot leave out padded frames.*lengths \\[4, 2\\]"):
        module(x, lengths=torch.tensor([4, 2]))


def test_per_frame_fc_head_leaves_out_padding():
    feature = FeatureSpec(8, FRAME, 4, (1, 1))
    head = zoo.get("temporal_head", "fc")(feature, 5, hidden=[6], per_frame=True).eval()
    x = torch.randn(1, 8, 4, 1, 1)
    padded = torch.cat([x[:, :, :2], torch.randn(1, 8, 2, 1, 1)], dim=2)
    torch.testing.assert_close(head(padded, lengths=torch.tensor([2])), head(x[:, :, :2]))


def test_cnn_lstm_options_and_any_length():
    model = zoo.build("cnn_lstm", num_classes=3, frames=4, size=32, hidden_size=7, num_layers=2,
                      bidirectional=True, readout="last", backbone="test_resnet").eval()
    lstm = model.streams["rgb"].temporal_head.lstm
    assert (lstm.hidden_size, lstm.num_layers, lstm.bidirectional) == (7, 2, True)
    with torch.no_grad():
        for t in (1, 3, 9):
            assert model(torch.randn(2, 3, t, 32, 32)).shape == (2, 3)


# -- fusions ---------------------------------------------------------------------------------------
def test_average_fusion_is_mean_of_softmax():
    fusion = zoo.get("fusion", "average")(["rgb", "flow"], 5)
    a, b = torch.randn(4, 5), torch.randn(4, 5) * 3
    out = fusion({"rgb": a, "flow": b})
    torch.testing.assert_close(out.softmax(-1), (a.softmax(-1) + b.softmax(-1)) / 2)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(4))


def test_linear_fusion_is_a_separate_stage():
    """Two-stream SVM fusion: the fusion's parameters are model.fusion.*, it reads L2-normalised
    softmax scores and starts as averaging."""
    model = zoo.build("two_stream_svm", num_classes=4, frames=1, size=32)
    fusion_params = [n for n, _ in model.named_parameters() if n.startswith("fusion.")]
    assert fusion_params == ["fusion.linear.weight", "fusion.linear.bias"]
    for n, p in model.named_parameters():  # what the engine's second stage does
        p.requires_grad_(n.startswith("fusion."))
    model.train()
    out = model({"rgb": torch.randn(2, 3, 1, 32, 32), "flow": torch.randn(2, 20, 1, 32, 32)})
    out.sum().backward()
    assert all((p.grad is not None) == n.startswith("fusion.") for n, p in model.named_parameters())
    fusion = model.fusion
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    na = torch.nn.functional.normalize(a.softmax(-1), dim=-1)
    nb = torch.nn.functional.normalize(b.softmax(-1), dim=-1)
    torch.testing.assert_close(fusion({"rgb": a, "flow": b}), fusion.linear.weight[0, 0] * (na + nb))


def test_weighted_fusion_learns_a_weight_per_stream():
    fusion = zoo.get("fusion", "weighted")(["rgb", "flow", "audio"], 5)
    assert fusion.weight.shape == (3,)
    out = fusion({s: torch.randn(2, 5) for s in ("rgb", "flow", "audio")})
    out.sum().backward()
    assert fusion.weight.grad is not None


def test_concat_maps_feature_spec():
    f = {"rgb": FeatureSpec(8, FRAME, 4, (2, 2)), "flow": FeatureSpec(6, FRAME, 4, (2, 2))}
    fusion = zoo.get("fusion", "concat_maps")(f)
    out = fusion({"rgb": torch.randn(2, 8, 4, 2, 2), "flow": torch.randn(2, 6, 4, 2, 2)})
    assert out.shape == (2, 14, 4, 2, 2) and fusion.feature_spec.channels == 14


def test_conv3d_fusion_stacks_convolves_and_pools():
    f = {"rgb": FeatureSpec(8, FRAME, 5, (7, 7)), "flow": FeatureSpec(8, FRAME, 5, (7, 7))}
    fusion = zoo.get("fusion", "conv3d_fusion")(f)
    assert fusion.conv.in_channels == 16 and fusion.conv.out_channels == 8
    assert fusion.conv.kernel_size == (3, 3, 3)
    out = fusion({"rgb": torch.randn(2, 8, 5, 7, 7), "flow": torch.randn(2, 8, 5, 7, 7)})
    spec = fusion.feature_spec
    assert out.shape == (2, spec.channels, spec.time_steps, *spec.spatial) == (2, 8, 1, 4, 4)


def test_fused_two_stream_keeps_temporal_stream_scores():
    model = zoo.build("fused_two_stream", num_classes=3, frames=3, size=64)
    assert model.streams["flow"].temporal_head is not None
    assert model.streams["rgb"].temporal_head is None
    assert type(model.fusion).__name__ == "Conv3dFusion" and model.late_fusion is not None
    out = model.eval()({"rgb": torch.randn(2, 3, 3, 64, 64), "flow": torch.randn(2, 20, 3, 64, 64)})
    assert out.shape == (2, 3)


def test_out_stage_picks_the_fusion_layer():
    bb = zoo.get("backbone", "resnet18")(out_stage=3)
    spec = bb.feature_spec(InputSpec(frames=2, size=64))
    assert spec == FeatureSpec(256, FRAME, 2, (4, 4))
    assert bb(torch.randn(1, 3, 2, 64, 64)).shape == (1, 256, 2, 4, 4)
    assert len(bb.model.layer4) == 0  # unused stages are pruned


# -- cross-modality initialisation -----------------------------------------------------------------
def test_flow_stream_cross_modality_init(tmp_path):
    import timm

    rgb = timm.create_model("resnet18", num_classes=10)
    path = tmp_path / "resnet18_rgb.pth"
    torch.save(rgb.state_dict(), path)
    flow = zoo.get("backbone", "resnet18")(in_channels=20, pretrained=str(path))
    w = flow.model.conv1.weight
    assert w.shape == (64, 20, 7, 7)
    expected = rgb.conv1.weight.mean(dim=1, keepdim=True).repeat(1, 20, 1, 1)
    torch.testing.assert_close(w, expected)
    torch.testing.assert_close(flow.model.layer1[0].conv1.weight, rgb.layer1[0].conv1.weight)
    assert flow.load_report.adapted == ["conv1.weight"]
    assert flow.feature_spec(InputSpec(modality="flow", flow_stack=10, frames=1, size=32)).channels == 512


# -- inflation -------------------------------------------------------------------------------------
def _randomise_bn(model):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)


def _boring(name, size, frames=4):
    import timm

    from zoo_plugins.backbones.inflate import InflatedConv3d, inflate

    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=7)
    _randomise_bn(model)
    model.eval()
    image = torch.randn(2, 3, size, size)
    with torch.no_grad():
        y2 = model(image)
        net3d = inflate(model).eval()
        y3 = net3d(image.unsqueeze(2).repeat(1, 1, frames, 1, 1))
    assert not any(isinstance(m, torch.nn.Conv2d) for m in net3d.modules())
    assert not any(type(m) is torch.nn.BatchNorm2d for m in net3d.modules())
    scale = y2.abs().max()
    torch.testing.assert_close(y3 / scale, y2 / scale, rtol=1e-4, atol=1e-5)
    return model, net3d, InflatedConv3d


def test_inflated_resnet_boring_video():
    model, net3d, InflatedConv3d = _boring("resnet18", 32)
    conv = net3d.net.layer1[0].conv1
    assert isinstance(conv, InflatedConv3d) and conv.kernel_size == (3, 3, 3)
    torch.testing.assert_close(conv.weight.sum(2), model.layer1[0].conv1.weight)
    assert isinstance(net3d.net.bn1, torch.nn.BatchNorm3d)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v3", "inception_v4"])
def test_inflated_inception_boring_video(name):
    _boring(name, 75, frames=2)


def test_inflated_backbone_from_2d_weights(tmp_path):
    import timm

    rgb = timm.create_model("resnet18")
    torch.save(rgb.state_dict(), tmp_path / "r18.pth")
    bb = zoo.get("backbone", "inflated")(model="resnet18", pretrained=str(tmp_path / "r18.pth"),
                                         time_stride=2)
    conv1 = bb.inflated.net.conv1
    assert conv1.kernel_size == (7, 7, 7) and conv1.stride == (2, 2, 2)
    torch.testing.assert_close(conv1.weight, rgb.conv1.weight.unsqueeze(2).repeat(1, 1, 7, 1, 1) / 7)
    spec = bb.feature_spec(InputSpec(frames=8, size=32))
    assert spec == FeatureSpec(512, CLIP, 4, (1, 1))


# -- TSM, TSN, SlowFast, MViT ----------------------------------------------------------------------
def test_temporal_shift():
    from zoo_plugins.backbones.timm2d import TemporalShift

    x = torch.arange(2 * 4 * 16, dtype=torch.float).view(2 * 4, 16, 1, 1)  # B=2, T=4, C=16
    y = TemporalShift.shift(x, 4, 8).view(2, 4, 16)
    xv = x.view(2, 4, 16)
    torch.testing.assert_close(y[:, :3, :2], xv[:, 1:, :2])  # 1/8 from the next frame
    assert (y[:, 3, :2] == 0).all()
    torch.testing.assert_close(y[:, 1:, 2:4], xv[:, :3, 2:4])  # 1/8 from the previous frame
    assert (y[:, 0, 2:4] == 0).all()
    torch.testing.assert_close(y[:, :, 4:], xv[:, :, 4:])


def test_tsm_backbone_mixes_time():
    bb = zoo.get("backbone", "tsm")(model="resnet18").eval()
    _randomise_bn(bb)  # timm zero-initialises each block's last BN: residual branches start silent
    assert len(bb.shifts) == 8  # every BasicBlock of resnet18
    assert n_params(bb) == n_params(zoo.get("backbone", "resnet18")())  # zero extra parameters
    x = torch.randn(1, 3, 4, 32, 32)
    x2 = x.clone()
    x2[:, :, 3] = 0  # change the last frame only
    with torch.no_grad():
        a, b = bb(x), bb(x2)
    assert not torch.allclose(a[:, :, 2], b[:, :, 2])  # frame 2 sees frame 3


def test_tsn_consensus():
    head = zoo.get("temporal_head", "tsn")(FeatureSpec(6, FRAME, 3, (1, 1)), 4, dropout=0.0)
    x = torch.randn(2, 6, 3, 1, 1)
    per_segment = head.fc(x[:, :, :, 0, 0].transpose(1, 2))
    torch.testing.assert_close(head(x), per_segment.mean(1))
    head.consensus = "max"
    torch.testing.assert_close(head(x), per_segment.max(1).values)


def test_slowfast_reads_fast_clip_and_subsamples():
    with ON_META:  # feature_spec reads the network's layers; SlowFast trains in test_presets
        bb = zoo.get("backbone", "slowfast_r50")(alpha=4)
        spec = bb.feature_spec(InputSpec(frames=8, size=32))
    assert spec == FeatureSpec(2304, CLIP, 2, (1, 1))  # slow pathway at T / alpha


@pytest.mark.slow
def test_mvit_adapts_to_the_input_size():
    bb = zoo.get("backbone", "mvit_b")()
    assert bb.feature_spec(InputSpec(frames=4, size=32)) == FeatureSpec(768, CLIP, 2, (1, 1))
    assert bb.feature_spec(InputSpec(frames=16, size=224)) == FeatureSpec(768, CLIP, 8, (7, 7))
    assert abs((n_params(bb) + 768 * 400 + 400) / 1e6 - 36.6) < 0.05  # MViT-B 16x4: 36.6 M
    bb = zoo.get("backbone", "mvit_b")(readout="cls")
    assert bb.feature_spec(InputSpec(frames=4, size=32)) == FeatureSpec(768, CLIP, 1, (1, 1))


# -- registration ----------------------------------------------------------------------------------
def test_timm_family_and_metadata():
    comp = zoo.get("backbone", "resnet18")
    assert comp.source == "timm" and comp.info.temporal == "frame"
    assert comp.info.default_input.size == 224
    for kind in ("backbone", "temporal_head", "fusion"):
        for c in zoo.REGISTRY.components(kind):
            if c.source == "zoo-video":
                assert c.meta.summary, f"{kind} {c.name} has no summary"
                if kind == "backbone":
                    assert c.meta.paper and c.meta.year and c.info.default_input is not None


def test_import_does_not_load_timm_or_pytorchvideo():
    import subprocess
    import sys

    code = ("import sys, zoo; zoo.get('preset', 'c3d'); zoo.get('fusion', 'average'); "
            "zoo.get('temporal_head', 'lstm'); zoo.get('backbone', 'x3d_xs'); zoo.get('backbone', 'tsm'); "
            "print(any(m.split('.')[0] in ('timm', 'pytorchvideo') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
