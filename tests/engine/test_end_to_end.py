"""`zoo train / eval / predict / export` end to end on a real preset (single_frame, a
ResNet-18 per frame) at a small input (--set frames=4 --set size=32): the built-in moving_shapes
dataset in memory, the same clips written as video files and read back through the kinetics400
adapter (the full decode path), and a multi-label dataset (the model then scores with sigmoids).
"""
import contextlib
import csv
import io
import json
import math
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.data.synthetic import CLASSES, CLASS_GROUPS, MovingShapes, write_videos

VIDEOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos"
REAL_CLIP = VIDEOS / "kinetics400_arm_wrestling.mp4"
SMALL = ("--set", "frames=4", "--set", "size=32")
QUIET = ("--epochs", "1", "--batch-size", "12", "--no-progress", "--num-workers", "0")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",  # TorchScript ONNX exporter
                                        "ignore::FutureWarning")


def zoo_cli(*argv):
    """Run ``zoo ARGV`` through the real entry point (zoo.cli.main); errors must not happen."""
    return zoo_main([str(a) for a in argv])


def run_config(tmp_path, dataset, **extra):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({"dataset": dataset, **extra}))  # JSON is YAML
    return path


def printed_json(capsys):
    return json.loads(capsys.readouterr().out)


def log_rows(out):
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """single_frame trained 1 epoch on moving_shapes (2 clips per class: 24 train, 24 val)."""
    tmp = tmp_path_factory.mktemp("single_frame")
    run = run_config(tmp, {"clips_per_class": 2})
    out = tmp / "out"
    stdout = io.StringIO()  # capsys is function scoped
    with contextlib.redirect_stdout(stdout):
        rc = zoo_cli("train", "--model", "single_frame", "--dataset", "moving_shapes",
                     "--config", run, *SMALL, *QUIET, "--lr", "0.01", "--out", out)
    assert rc == 0
    return {"run": run, "out": out, "last": json.loads(stdout.getvalue())}


def test_train_writes_log_and_checkpoints(trained):
    out, last = trained["out"], trained["last"]
    assert last["epoch"] == 1 and math.isfinite(last["val_top1"]) and 0 <= last["val_top1"] <= 1
    assert math.isfinite(last["train_loss"])
    rows = log_rows(out)
    assert len(rows) == 1 and math.isfinite(float(rows[0]["val_top1"]))
    state = torch.load(out / "last.pt", weights_only=True)
    assert (out / "best.pt").is_file()
    assert state["classes"] == CLASSES and state["epoch"] == 1
    cfg = state["config"]
    assert cfg["name"] == "single_frame" and cfg["num_classes"] == len(CLASSES)
    assert cfg["streams"]["rgb"]["input"]["frames"] == 4
    assert cfg["streams"]["rgb"]["input"]["size"] == 32
    assert not cfg.get("multi_label")


def test_eval_from_the_checkpoint(trained, tmp_path, capsys):
    # the model comes from the checkpoint's config (frames=4, size=32): no --model, no --set
    assert zoo_cli("eval", "--config", trained["run"], "--dataset", "moving_shapes",
                   "--checkpoint", trained["out"] / "last.pt", "--out", tmp_path / "eval") == 0
    metrics = printed_json(capsys)
    assert metrics["top1"] == pytest.approx(trained["last"]["val_top1"])
    assert math.isfinite(metrics["loss"])
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 0


@pytest.mark.skipif(not REAL_CLIP.is_file(), reason=f"no real clip at {REAL_CLIP}")
def test_predict_a_real_clip(trained, capsys):
    ckpt = trained["out"] / "last.pt"
    assert zoo_cli("predict", REAL_CLIP, "--checkpoint", ckpt, "--topk", 3) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].split() == ["video", "rank", "label", "probability"]
    for rank, line in enumerate(lines[1:], 1):
        video, shown_rank, label, probability = line.split()
        assert (video, shown_rank) == (str(REAL_CLIP), str(rank))
        assert label in CLASSES and 0 <= float(probability) <= 1

    assert zoo_cli("predict", REAL_CLIP, "--checkpoint", ckpt, "--topk", 3, "--format", "jsonl",
                   "--clips", 2) == 0
    ranked = printed_json(capsys)["predictions"]
    assert [r["label"] for r in ranked] and all(r["label"] in CLASSES for r in ranked)
    probabilities = [r["probability"] for r in ranked]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6


def test_export_the_checkpoint_to_onnx(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "single_frame.onnx"
    assert zoo_cli("export", "--checkpoint", trained["out"] / "last.pt", "--out", path,
                   "--check") == 0
    printed = capsys.readouterr().out
    assert path.stat().st_size > 1_000_000  # ResNet-18's weights
    assert float(printed.rsplit("difference", 1)[1]) < 1e-4


def test_train_and_eval_on_decoded_video_files(tmp_path, capsys):
    """moving_shapes written as .mp4 files plus Kinetics CSVs, read through kinetics400."""
    root = tmp_path / "videos"
    for split in ("train", "val"):
        write_videos(root, split, clips_per_class=1)
    run = run_config(tmp_path, {"name": "kinetics400", "root": str(root)})
    out = tmp_path / "out"
    assert zoo_cli("train", "--model", "single_frame", "--config", run, *SMALL, *QUIET,
                   "--out", out) == 0
    last = printed_json(capsys)
    assert math.isfinite(last["val_top1"]) and math.isfinite(last["train_loss"])
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["classes"] == sorted(CLASSES)  # kinetics: the sorted labels of the CSV

    assert zoo_cli("eval", "--dataset", "kinetics400", "--data-root", root, "--split", "val",
                   "--checkpoint", out / "last.pt") == 0
    metrics = printed_json(capsys)
    assert metrics["top1"] == pytest.approx(last["val_top1"])


# -- multi-label -------------------------------------------------------------------------------
GROUPS = list(CLASS_GROUPS)
MULTI_CLASSES = CLASSES + GROUPS


class MultiLabelShapes(MovingShapes):
    """moving_shapes with multi-hot labels: the clip's class and its group."""

    classes = MULTI_CLASSES
    multi_label = True

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        label = torch.zeros(len(MULTI_CLASSES))
        label[sample["label"]] = 1
        group = next(g for g, members in CLASS_GROUPS.items() if sample["label"] in members)
        label[len(CLASSES) + GROUPS.index(group)] = 1
        sample["label"] = label
        return sample


@zoo.register_dataset("engine_test_multi_shapes", needs_root=False, multi_label=True)
def multi_shapes(root=None, split="train", inputs=None, clips_per_class=1):
    return MultiLabelShapes(split, inputs, clips_per_class)


@pytest.mark.skipif(not REAL_CLIP.is_file(), reason=f"no real clip at {REAL_CLIP}")
def test_multi_label_dataset_builds_a_multi_label_model(tmp_path, capsys):
    out = tmp_path / "out"
    assert zoo_cli("train", "--model", "single_frame", "--dataset", "engine_test_multi_shapes",
                   *SMALL, *QUIET, "--out", out) == 0
    last = printed_json(capsys)
    assert math.isfinite(last["val_map"])
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["config"]["multi_label"] is True
    assert state["config"]["num_classes"] == len(MULTI_CLASSES)

    # sigmoid scores: every class gets its own probability, they do not sum to 1
    assert zoo_cli("predict", REAL_CLIP, "--checkpoint", out / "last.pt",
                   "--topk", len(MULTI_CLASSES), "--format", "jsonl") == 0
    ranked = printed_json(capsys)["predictions"]
    assert len(ranked) == len(MULTI_CLASSES)
    assert sum(r["probability"] for r in ranked) > 2
    # --model with the checkpoint keeps the checkpoint's multi_label and classes
    assert zoo_cli("predict", REAL_CLIP, "--model", "single_frame", *SMALL,
                   "--checkpoint", out / "last.pt", "--topk", 2, "--format", "jsonl") == 0
    assert printed_json(capsys)["predictions"] == ranked[:2]
