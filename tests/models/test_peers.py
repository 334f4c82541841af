"""Checkpoint interchange with the peers: a torchvision / pytorchvideo model's state dict loads into
the equivalent zoo preset with no key map (same logits), and zoo's weights export back under the
peer's keys (`zoo.weights.to_peer_state_dict`)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.weights import to_peer_state_dict

SMALL = dict(frames=4, size=32)


def _torchvision(name):
    from torchvision.models import video

    return lambda k: getattr(video, name)(num_classes=k)


def _x3d(depth):
    def build(k):
        from pytorchvideo.models.x3d import create_x3d

        return create_x3d(input_clip_length=4, input_crop_size=32, depth_factor=depth,
                          model_num_class=k, head_activation=None)
    return build


def _hub(name, **kw):
    def build(k):
        from pytorchvideo.models import hub

        net = getattr(hub, name)(pretrained=False, model_num_class=k, **kw)
        for parent in list(net.modules()):  # pool whole maps, whatever the input size
            for child_name, child in parent.named_children():
                if isinstance(child, nn.AvgPool3d):
                    setattr(parent, child_name, nn.AdaptiveAvgPool3d(1))
        net.blocks[-1].activation = None  # logits, not softmax scores
        return net
    return build


def _mvit(k):
    from pytorchvideo.models import hub

    return hub.mvit_base_16x4(pretrained=False, spatial_size=32, temporal_size=4, head_num_classes=k)


# preset, peer builder (num_classes -> randomly initialised peer), how the peer reads a clip
PEERS = {
    "r3d_18": (_torchvision("r3d_18"), None),
    "mc3_18": (_torchvision("mc3_18"), None),
    "r2plus1d_18": (_torchvision("r2plus1d_18"), None),
    "x3d_xs": (_x3d(2.2), None), "x3d_s": (_x3d(2.2), None), "x3d_m": (_x3d(2.2), None),
    "x3d_l": (_x3d(5.0), None),
    "slow_r50": (_hub("slow_r50"), None),
    "csn_r101": (_hub("csn_r101"), None),
    "slowfast_r50": (_hub("slowfast_r50"), lambda x: [x[:, :, ::4], x]),
    "mvit_b": (_mvit, None),
}
LIGHT = {"r3d_18", "mc3_18", "x3d_xs"}


@pytest.mark.parametrize("name", [n if n in LIGHT else pytest.param(n, marks=pytest.mark.slow)
                                  for n in PEERS])
def test_peer_checkpoint_loads_with_same_logits(name, tmp_path):
    build_peer, clip = PEERS[name]
    torch.manual_seed(0)
    peer = build_peer(5).eval()
    path = tmp_path / "peer.pth"
    torch.save(peer.state_dict(), path)
    model = zoo.build(name, num_classes=5, weights=str(path), **SMALL).eval()
    assert not model.weights_report.missing and not model.weights_report.unexpected
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert (model(x) - peer(clip(x) if clip else x)).abs().max() <= 1e-5
    exported = to_peer_state_dict(model)  # and back: the peer's own keys, strict load
    assert list(exported) == list(peer.state_dict())
    peer.load_state_dict(exported, strict=True)


def test_peer_checkpoint_for_other_classes_keeps_backbone(tmp_path):
    from torchvision.models.video import r3d_18

    peer = r3d_18(num_classes=7)
    torch.save(peer.state_dict(), tmp_path / "r3d.pth")
    with pytest.warns(UserWarning, match="another number of classes"):
        model = zoo.build("r3d_18", num_classes=5, weights=str(tmp_path / "r3d.pth"), **SMALL)
    assert sorted(model.weights_report.reinitialised) == ["streams.rgb.temporal_head.fc.bias",
                                                          "streams.rgb.temporal_head.fc.weight"]
    assert torch.equal(model.streams.rgb.backbone.stem[0].weight, peer.stem[0].weight)


def test_export_state_dict_for_torchvision(tmp_path):
    from torchvision.models.video import r2plus1d_18

    from zoo.engine.export import export_state_dict

    model = zoo.build("r2plus1d_18", num_classes=5, **SMALL).eval()
    path = export_state_dict(model, tmp_path / "tv.pth", peer="torchvision")
    peer = r2plus1d_18(num_classes=5).eval()
    peer.load_state_dict(torch.load(path), strict=True)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert (model(x) - peer(x)).abs().max() <= 1e-5
    with pytest.raises(zoo.weights.WeightsError, match="no pytorchvideo equivalent"):
        export_state_dict(model, tmp_path / "x.pth", peer="pytorchvideo")


def test_zoo_export_state_dict_for_a_peer_from_the_command_line(tmp_path, capsys):
    from torchvision.models.video import mc3_18

    from zoo.cli import main

    out = tmp_path / "mc3.pth"
    argv = ["export", "--model", "mc3_18", "--format", "state_dict", "--for", "torchvision",
            "--out", str(out)]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    mc3_18().load_state_dict(torch.load(out), strict=True)  # 400 classes, as zoo's default
    assert main(["export", "--model", "mc3_18", "--for", "torchvision",
                 "--out", str(tmp_path / "m.onnx")]) != 0
    assert "--for torchvision goes with --format state_dict" in capsys.readouterr().err
