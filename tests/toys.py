"""Tiny components for core tests, registered from a fake distribution's module source."""

SOURCE = '''
import torch
from torch import nn
from zoo import (CLIP, FRAME, FeatureSpec, FusionSpec, HeadSpec, ModelMeta, register_backbone,
                 register_fusion, register_preset, register_temporal_head)


class FrameNet(nn.Module):
    def __init__(self, in_channels=3, width=8):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, stride=2, padding=1)
        self.width = width

    def forward(self, x):
        b, c, t, h, w = x.shape
        y = self.conv(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)

    def feature_spec(self, s):
        return FeatureSpec(self.width, FRAME, s.frames, ((s.size + 1) // 2,) * 2)


class ClipNet(nn.Module):
    def __init__(self, in_channels=3, width=8):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, width, 3, stride=2, padding=1)
        self.width = width

    def forward(self, x):
        return self.conv(x)

    def feature_spec(self, s):
        return FeatureSpec(self.width, CLIP, (s.frames + 1) // 2, ((s.size + 1) // 2,) * 2)


@register_backbone("acme_frame", temporal=FRAME, meta=ModelMeta(paper="Acme 2D", year=2020))
def acme_frame(in_channels=3, width=8, pretrained=False):
    """A one-layer 2D network applied to every frame."""
    return FrameNet(in_channels, width)


@register_backbone("acme_clip", temporal=CLIP)
def acme_clip(in_channels=3, width=8, pretrained=False):
    """A one-layer 3D network."""
    return ClipNet(in_channels, width)


class Pool(nn.Module):
    def __init__(self, feature, num_classes):
        super().__init__()
        self.fc = nn.Linear(feature.channels, num_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3, 4)))


class Recurrent(nn.Module):
    def __init__(self, feature, num_classes, hidden_size=6):
        super().__init__()
        self.rnn = nn.GRU(feature.channels, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, _ = self.rnn(x.mean((3, 4)).transpose(1, 2))
        return self.fc(out[:, -1])


@register_temporal_head("acme_pool", spec=HeadSpec())
def acme_pool(feature, num_classes):
    return Pool(feature, num_classes)


@register_temporal_head("acme_rnn", spec=HeadSpec(consumes=(FRAME,)))
def acme_rnn(feature, num_classes, hidden_size=6):
    return Recurrent(feature, num_classes, hidden_size)


class Mean(nn.Module):
    def forward(self, scores):
        return torch.stack(list(scores.values())).mean(0)


class Stack(nn.Module):
    def __init__(self, features):
        super().__init__()
        first = next(iter(features.values()))
        self.feature_spec = FeatureSpec(sum(f.channels for f in features.values()), first.time,
                                        first.time_steps, first.spatial)

    def forward(self, maps):
        return torch.cat(list(maps.values()), dim=1)


@register_fusion("acme_mean", spec=FusionSpec())
def acme_mean(streams, num_classes):
    return Mean()


@register_fusion("acme_stack", spec=FusionSpec(level="mid", min_streams=2, same_spatial=True))
def acme_stack(features):
    return Stack(features)


@register_preset("acme_single", meta=ModelMeta(paper="Acme", year=2020))
def acme_single():
    return {"backbone": "acme_frame", "temporal_head": "acme_pool", "input": {"frames": 4, "size": 16}}


@register_preset("acme_two_stream")
def acme_two_stream():
    return {
        "streams": {
            "rgb": {"input": {"frames": 4, "size": 16}, "backbone": "acme_frame", "temporal_head": "acme_pool"},
            "flow": {"input": {"modality": "flow", "frames": 2, "size": 16, "flow_stack": 3},
                     "backbone": "acme_frame", "temporal_head": "acme_rnn"},
        },
        "fusion": "acme_mean",
    }
'''

NAMES = {
    "zoo.backbones": ["acme_frame", "acme_clip"],
    "zoo.temporal_heads": ["acme_pool", "acme_rnn"],
    "zoo.fusions": ["acme_mean", "acme_stack"],
    "zoo.presets": ["acme_single", "acme_two_stream"],
}


def install(fake_dist, dist="acme-zoo", module="acme_zoo"):
    """Install the toy components as distribution `dist` with module `module`."""
    eps = {group: {n: f"{module}:{n}" for n in names} for group, names in NAMES.items()}
    return fake_dist(dist, eps, {f"{module}.py": SOURCE})
