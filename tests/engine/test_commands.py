"""`zoo train/eval/predict/export` end to end, with a tiny backbone and head registered here and
the built-in synthetic dataset (moving_shapes)."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import zoo
from zoo.cli import main
from zoo.data import write_video
from zoo.engine.commands import add_commands
from zoo.specs import CLIP, FeatureSpec, HeadSpec

VIDEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos" / \
    "kinetics400_arm_wrestling.mp4"


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


def zoo_cli(*argv):
    parser = argparse.ArgumentParser(prog="zoo")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript ONNX exporter
def test_train_eval_predict_export(tmp_path, capsys):
    run = tmp_path / "run.yaml"
    run.write_text(json.dumps({  # JSON is YAML
        "model": MODEL, "dataset": {"name": "moving_shapes", "clips_per_class": 2},
        "train": {"epochs": 2, "lr": 0.05, "progress": False}}))
    out = tmp_path / "out"
    assert zoo_cli("train", "--config", run, "--batch-size", 8, "--out", out) == 0
    last = json.loads(capsys.readouterr().out)
    assert last["epoch"] == 2 and 0 <= last["val_top1"] <= 1
    assert (out / "last.pt").is_file() and (out / "log.csv").is_file()

    assert zoo_cli("eval", "--config", run, "--checkpoint", out / "last.pt",
                   "--out", tmp_path / "eval") == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["top1"] == pytest.approx(last["val_top1"])
    assert "support" in (tmp_path / "eval" / "per_class.txt").read_text()
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 0

    if VIDEO.is_file():
        assert zoo_cli("predict", VIDEO, "--checkpoint", out / "last.pt", "--topk", 3,
                       "--json") == 0
        ranked = json.loads(capsys.readouterr().out)
        classes = zoo.get("dataset", "moving_shapes")(split="train").classes
        assert len(ranked) == 3 and all(r["label"] in classes for r in ranked)

    pytest.importorskip("onnxruntime")
    assert zoo_cli("export", "--checkpoint", out / "last.pt", "--out", tmp_path / "m.onnx",
                   "--check") == 0
    printed = capsys.readouterr().out
    assert float(printed.rsplit("difference", 1)[1]) < 1e-4


def test_train_needs_a_model_and_a_dataset():
    with pytest.raises(zoo.ConfigError, match="--dataset"):
        zoo_cli("train", "--model", "whatever")
    with pytest.raises(zoo.ConfigError, match="--model"):
        zoo_cli("train", "--dataset", "moving_shapes")
    with pytest.raises(zoo.ConfigError, match="--model"):
        zoo_cli("predict", "video.mp4")


def video_folder(root, good=0, bad=0, split="val"):
    """``root/<split>/a/``: `good` short real videos and `bad` files that are not videos."""
    folder = root / split / "a"
    folder.mkdir(parents=True)
    for i in range(good):
        write_video(folder / f"good{i}.mp4", np.full((6, 32, 32, 3), 40 * i, np.uint8))
    for i in range(bad):
        (folder / f"bad{i}.mp4").write_bytes(b"not a video")
    return root


def test_a_dataset_with_no_readable_clip_fails_up_front_in_one_line(tmp_path, capsys):
    root = video_folder(tmp_path, bad=5, split="train")
    (tmp_path / "val").mkdir()
    code = main(["train", "--model", "single_frame", "--set", "frames=4", "--set", "size=32",
                 "--dataset", "video_folder", "--data-root", str(root), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (f"zoo: error: dataset 'video_folder' split 'train' at {root}: 5 clips "
                       f"found, 0 readable (every one was skipped; the warnings above say why)")


def test_a_dataset_with_no_clip_fails_up_front(tmp_path, capsys):
    (tmp_path / "val.csv").write_text("path,label\n")
    code = main(["eval", "--model", "single_frame", "--set", "frames=4", "--set", "size=32",
                 "--dataset", "video_csv", "--data-root", str(tmp_path), "--num-classes", "2"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"zoo: error: dataset 'video_csv' split 'val' at {tmp_path}: 0 clips found; check its "
        f"annotation file, split and video folder")


def test_eval_counts_every_skipped_clip(tmp_path, capsys, caplog):
    root = video_folder(tmp_path / "data", good=2, bad=3)
    (tmp_path / "model.yaml").write_text(json.dumps(MODEL))
    code = main(["eval", "--model", str(tmp_path / "model.yaml"), "--dataset", "video_folder",
                 "--data-root", str(root), "--num-classes", "2", "--batch-size", "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["skipped_clips"] == 3
    assert "eval: data: 2 clips loaded, 0 padded, 3 skipped" in caplog.text
