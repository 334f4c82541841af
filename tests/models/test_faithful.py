"""The classic presets are their papers' networks: parameter counts against counts derived here from
the papers' layer tables (models built on the meta device: no memory, no arithmetic), the fusions
the papers / reference code use, I3D made from a 2D Inception-v1, the C3D release's normalisation
and the two-stream flow preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import zoo


def conv(cin, cout, k, groups=1):
    return cout * (cin // groups) * k * k + cout


def fc(n_in, n_out):
    return n_in * n_out + n_out


def lstm(n_in, hidden):
    return 4 * hidden * (n_in + hidden) + 8 * hidden  # torch keeps two bias vectors


def cnn_m_2048(cin):  # Chatfield et al. 2014, Table 1 (CNN-M); Simonyan & Zisserman 2014, Fig. 1
    return conv(cin, 96, 7) + conv(96, 256, 5) + conv(256, 512, 3) + 2 * conv(512, 512, 3)


def vgg16(cin):  # Simonyan & Zisserman 2015, Table 1 (D), convolutions only
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    return sum(conv(a, b, 3) for a, b in zip([cin] + widths, widths))


CAFFENET = conv(3, 96, 11) + conv(96, 256, 5, 2) + conv(256, 384, 3) + conv(384, 384, 3, 2) + \
    conv(384, 256, 3, 2)
TWO_STREAM_FC = fc(512 * 6 * 6, 4096) + fc(4096, 2048) + fc(2048, 101)  # full6, full7, softmax
VGG_FC = fc(512 * 7 * 7, 4096) + fc(4096, 4096) + fc(4096, 101)

PAPER = {  # preset: (num_classes, parameters)
    "two_stream": (101, cnn_m_2048(3) + cnn_m_2048(20) + 2 * TWO_STREAM_FC),
    "two_stream_svm": (101, cnn_m_2048(3) + cnn_m_2048(20) + 2 * TWO_STREAM_FC + fc(2 * 101, 101)),
    # both VGG-16 towers, the 3x3x3 fusion conv (1024 -> 512), fc6-fc8 after the fusion and in the
    # temporal stream (Feichtenhofer et al. 2016, Fig. 4)
    "fused_two_stream": (101, vgg16(3) + vgg16(20) + 27 * 1024 * 512 + 512 + 2 * VGG_FC),
    "cnn_lstm": (101, CAFFENET + fc(256 * 6 * 6, 4096) + lstm(4096, 256) + fc(256, 101)),
    "c3d": (101, sum(27 * a * b + b for a, b in zip([3, 64, 128, 256, 256, 512, 512, 512],
                                                     [64, 128, 256, 256, 512, 512, 512, 512]))
            + fc(8192, 4096) + fc(4096, 4096) + fc(4096, 101)),
    "x3d_l": (400, 6_153_384),  # pytorchvideo's X3D-L
    "mc3_18": (400, 11_695_440),  # torchvision's mc3_18
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_parameter_counts(name):
    classes, expected = PAPER[name]
    with torch.device("meta"):
        model = zoo.build(name, num_classes=classes)
    assert _count(model) == expected


def test_two_stream_is_the_papers():
    model = zoo.build("two_stream", num_classes=5, frames=1, size=32)
    assert model.spec.inputs["flow"].channels == 20
    for stream in model.streams.values():
        assert stream.temporal_head.dropout.p == 0.9
    norms = lambda s: [m for m in model.streams[s].backbone.modules() if isinstance(m, nn.LocalResponseNorm)]  # noqa: E731
    assert len(norms("rgb")) == 2 and len(norms("flow")) == 1  # the temporal net drops conv2's LRN


def test_fused_two_stream_is_the_papers():
    model = zoo.build("fused_two_stream", num_classes=5, frames=5, size=32)
    conv = model.fusion.conv
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (1024, 512, (3, 3, 3))
    assert isinstance(model.fusion.bn, nn.Identity) and conv.bias is not None
    assert model.streams["rgb"].temporal_head is None and model.streams["flow"].temporal_head is not None
    assert model.late_fusion.streams == ["fused", "flow"]
    vgg = model.streams["rgb"].backbone.features
    assert list(vgg)[-1].__class__ is nn.ReLU and "conv5_3" in dict(vgg.named_children())


def test_late_fusions():
    scores = {"rgb": torch.randn(3, 7), "flow": torch.randn(3, 7)}
    total = scores["rgb"] + scores["flow"]
    assert torch.allclose(zoo.get("fusion", "logit_sum")(["rgb", "flow"], 7)(scores), total)
    assert torch.allclose(zoo.get("fusion", "logit_average")(["rgb", "flow"], 7)(scores), total / 2)
    fused = zoo.build("two_stream_3d", num_classes=7, frames=4, size=32).fusion
    assert torch.allclose(fused(scores), total)  # kinetics-i3d evaluate_sample.py
    average = zoo.build("two_stream", num_classes=7, frames=1, size=32).fusion
    probs = (scores["rgb"].softmax(-1) + scores["flow"].softmax(-1)) / 2
    assert torch.allclose(average(scores).softmax(-1), probs, atol=1e-6)  # Simonyan 2014


@pytest.mark.parametrize("size", [5, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_local_response_norm_is_torchs(size, channels_last):
    from zoo_plugins.backbones.classic import LocalResponseNorm
    x = torch.randn(3, 7, 5, 6, dtype=torch.float64) * 20
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    out = LocalResponseNorm(size, 1e-3, 0.75, 2.0)(x)
    expected = nn.LocalResponseNorm(size, 1e-3, 0.75, 2.0)(x)
    grad = torch.randn(3, 7, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(torch.autograd.grad(out, x, grad)[0],
                               torch.autograd.grad(expected, x, grad)[0])


def test_c3d_normalisation_is_the_releases():
    spec = zoo.build("c3d", num_classes=5, frames=4, size=32).spec.inputs["rgb"]
    assert np.allclose(np.array(spec.mean) * 255, [101.4083, 97.6570, 90.2516])  # RGB of its BGR
    assert np.allclose(np.array(spec.std) * 255, 1.0)  # 0-255 pixels, no scaling


def test_flow_subtracts_mean_displacement_by_default():
    from zoo.data.flow import FlowComputer, FlowOptions, dequantize_flow

    rng = np.random.default_rng(0)
    frame = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    frame = np.kron(frame[::4, ::4], np.ones((4, 4, 1), np.uint8))  # blobs the flow can follow
    moved = np.roll(frame, 2, axis=1)
    mean_dx = lambda options: dequantize_flow(FlowComputer(options).pair(frame, moved))[..., 0].mean()  # noqa: E731
    assert FlowOptions().subtract_mean
    assert abs(mean_dx(FlowOptions("farneback"))) < 0.1
    assert mean_dx(FlowOptions("farneback", subtract_mean=False)) > 1.0


def test_i3d_inflated_from_inception_v1_passes_boring_video(tmp_path):
    import torchvision

    torch.manual_seed(0)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        net2d = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
        for m in net2d.modules():  # BatchNorm statistics that are not the identity
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        torch.save(net2d.state_dict(), tmp_path / "inception_v1.pth")
        model = zoo.build("i3d", num_classes=5, frames=8, size=64, time_padding="replicate",
                          inflate_from=str(tmp_path / "inception_v1.pth")).eval()
        image = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            x = image
            for name in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a",
                         "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c",
                         "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b"):
                x = getattr(net2d, name)(x)
            maps = model.streams["rgb"].backbone(image[:, :, None].repeat(1, 1, 8, 1, 1))
    finally:
        torch.set_default_dtype(before)
    assert maps.dtype == torch.float64
    assert (maps - x[:, :, None]).abs().max() < 1e-10


def test_i3d_inflate_from_fits_flow_and_refuses_width():
    from zoo.errors import ConfigError

    model = zoo.build("two_stream_3d", num_classes=5, frames=4, size=32, inflate_from="googlenet")
    assert model.streams["flow"].backbone.Conv3d_1a_7x7[0].weight.shape[1] == 2
    with pytest.raises(ConfigError, match="width=1"):
        zoo.build("i3d", num_classes=5, frames=4, size=32, inflate_from="googlenet", width=0.5)


def test_inflate_keeps_dtype_and_device():
    import timm

    from zoo_plugins.backbones.inflate import inflate

    net = timm.create_model("test_resnet", num_classes=0).double().eval()
    net3d = inflate(net).eval()
    assert {p.dtype for p in net3d.parameters()} == {torch.float64}
    image = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        out = net3d(image[:, :, None].repeat(1, 1, 4, 1, 1), method="forward_features")
        assert (out - net.forward_features(image)[:, :, None]).abs().max() < 1e-12
    on_meta = inflate(timm.create_model("test_resnet", num_classes=0).to("meta"))
    assert all(p.is_meta for p in on_meta.parameters())


@pytest.mark.parametrize("name", ["c3d", "two_stream", "cnn_lstm", "fused_two_stream"])
def test_batch_norm_is_added_only_when_asked(name):
    """The plain networks (C3D, CNN-M, CaffeNet, VGG-16) are the papers' without batch norm; the
    benchmark's `batch_norm=True` puts one after every convolution (and drops the convolution's
    bias, which the norm's shift replaces)."""
    def norms_and_convs(model):
        modules = list(model.modules())
        norms = [m for m in modules if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        convs = [m for m in modules if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
        return norms, convs

    norms, convs = norms_and_convs(zoo.build(name, num_classes=5, frames=4, size=32))
    assert not norms and all(c.bias is not None for c in convs)
    norms, convs = norms_and_convs(zoo.build(name, num_classes=5, frames=4, size=32,
                                             width=0.125, batch_norm=True))
    backbone_convs = [c for c in convs if c.bias is None]
    assert len(norms) == len(backbone_convs) > 0


def test_batch_norm_refuses_the_released_weights():
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="no batch normalisation"):
        zoo.get("backbone", "c3d")(pretrained=True, batch_norm=True)
