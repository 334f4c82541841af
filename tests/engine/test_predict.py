"""predict_video on the real sample clips with a tiny model; clear errors on bad files."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo.engine import predict_video
from zoo.errors import ZooError
from zoo.specs import InputSpec, ModelSpec

VIDEOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos"
CLIPS = ["kinetics400_arm_wrestling.mp4", "ucf101_style_mpeg4_mp3.avi"]
CLASSES = ["red", "green", "blue", "bright", "dark"]


class ColourNet(nn.Module):
    """Logits from each stream's mean per channel; reads a tensor or a {stream: tensor} dict."""

    def __init__(self, inputs):
        super().__init__()
        self.spec = ModelSpec(inputs=inputs, num_classes=len(CLASSES))
        self.classes = CLASSES
        self.heads = nn.ModuleDict({s: nn.Linear(3, len(CLASSES)) for s in inputs})

    def forward(self, x):
        x = x if isinstance(x, dict) else {next(iter(self.heads)): x}
        return sum(self.heads[s](v.mean((2, 3, 4))) for s, v in x.items())


def clip_path(name):
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"sample clip {path} is absent")
    return path


@pytest.mark.parametrize("name", CLIPS)
def test_predicts_topk_on_real_clips(name):
    torch.manual_seed(0)
    model = ColourNet({"rgb": InputSpec(frames=4, size=32)})
    ranked = predict_video(model, clip_path(name), topk=3)
    assert len(ranked) == 3
    assert all(label in CLASSES for label, _ in ranked)
    probabilities = [p for _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    every = predict_video(model, clip_path(name), topk=10)
    assert len(every) == len(CLASSES)
    assert sum(p for _, p in every) == pytest.approx(1.0, abs=1e-5)
    assert [label for label, _ in every[:3]] == [label for label, _ in ranked]
    assert [p for _, p in every[:3]] == pytest.approx(probabilities)


def test_multiview_two_stream_prediction():
    torch.manual_seed(0)
    inputs = {"rgb": InputSpec(frames=4, size=32),
              "motion": InputSpec(modality="rgb_diff", frames=2, size=24, sampling="dense")}
    model = ColourNet(inputs)
    path = clip_path(CLIPS[0])
    single = dict(predict_video(model, path, topk=5))
    multi = dict(predict_video(model, path, topk=5, views=(3, 3)))
    assert set(single) == set(multi) == set(CLASSES)
    assert sum(multi.values()) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(list(single.values()), [multi[k] for k in single])  # other views
    assert predict_video(model, path, topk=2, classes=list("abcde"))[0][0] in "abcde"


@pytest.mark.parametrize("content", ["missing", "zero bytes", "random bytes", "truncated"])
def test_bad_video_names_the_file(tmp_path, content):
    path = tmp_path / "bad clip.mp4"
    if content == "zero bytes":
        path.write_bytes(b"")
    elif content == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif content == "truncated":
        path.write_bytes(clip_path(CLIPS[0]).read_bytes()[:1500])
    model = ColourNet({"rgb": InputSpec(frames=4, size=32)})
    with pytest.raises(ZooError, match="bad clip.mp4"):
        predict_video(model, path)


def test_model_without_spec_needs_inputs():
    with pytest.raises(ValueError, match="inputs="):
        predict_video(nn.Linear(3, 5), "video.mp4")


def test_a_folder_argument_follows_symlinked_folders_without_looping(tmp_path):
    from zoo.engine.commands import video_paths

    real = tmp_path / "elsewhere" / "wrestling"
    real.mkdir(parents=True)
    (real / "a.mp4").write_bytes(b"")
    (real / "notes.txt").write_text("not a video")
    shown = tmp_path / "val"
    shown.mkdir()
    (shown / "wrestling").symlink_to(real, target_is_directory=True)
    (real / "up").symlink_to(tmp_path, target_is_directory=True)  # a link back up: no loop
    found = video_paths([str(shown)])
    assert [Path(p).name for p in found] == ["a.mp4"]
