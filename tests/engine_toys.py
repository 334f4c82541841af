"""A tiny backbone and head for the engine's command tests (registered once: every test module
imports them from here, under this one module name), the model config using them, and the
video folders the tests read."""
from __future__ import annotations

import json

import numpy as np
from torch import nn

import zoo
from zoo.data import write_video
from zoo.specs import CLIP, FeatureSpec, HeadSpec


class MeanColour(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, 4, 1)
        self.pool = nn.AdaptiveAvgPool3d((1, 1, 1))

    def forward(self, x):
        return self.pool(self.proj(x))

    def feature_spec(self, input_spec):
        return FeatureSpec(channels=4, time=CLIP, time_steps=1, spatial=(1, 1))


@zoo.register_backbone("engine_test_mean_colour", temporal=CLIP)
def mean_colour(in_channels=3, pretrained=False):
    return MeanColour(in_channels)


@zoo.register_temporal_head("engine_test_linear", spec=HeadSpec())
def linear_head(feature, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(feature.channels, num_classes))


MODEL = {"name": "engine_test_model", "backbone": "engine_test_mean_colour",
         "temporal_head": "engine_test_linear", "input": {"frames": 4, "size": 32}}


def video_folder(root, good=0, bad=0, split="val"):
    """``root/<split>/a/``: `good` short real videos and `bad` files that are not videos."""
    folder = root / split / "a"
    folder.mkdir(parents=True)
    for i in range(good):
        write_video(folder / f"good{i}.mp4", np.full((6, 32, 32, 3), 40 * i, np.uint8))
    for i in range(bad):
        (folder / f"bad{i}.mp4").write_bytes(b"not a video")
    return root


def model_yaml(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(json.dumps(MODEL))
    return str(path)
