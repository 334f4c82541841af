"""`zoo train/eval/predict/export` end to end, with a tiny backbone and head (engine_toys) and
the built-in synthetic dataset (moving_shapes)."""
import argparse
import csv
import io
import json
from pathlib import Path

import pytest
import torch

import zoo
from engine_toys import MODEL, model_yaml, video_folder
from zoo.cli import main
from zoo.engine.commands import add_commands

VIDEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos" / \
    "kinetics400_arm_wrestling.mp4"


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
                       "--format", "jsonl") == 0
        row = json.loads(capsys.readouterr().out)
        classes = zoo.get("dataset", "moving_shapes")(split="train").classes
        assert row["video"] == str(VIDEO)
        assert len(row["predictions"]) == 3
        assert all(r["label"] in classes for r in row["predictions"])

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
        zoo_cli("predict", __file__)


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


def test_predict_a_folder_as_json_lines_with_an_unreadable_video(tmp_path, capsys):
    root = video_folder(tmp_path / "videos", good=2, bad=1)
    out = tmp_path / "top.jsonl"
    torch.manual_seed(0)  # no checkpoint: the same random weights in both runs
    code = main(["predict", str(root), "--model", model_yaml(tmp_path), "--topk", "2",
                 "--format", "jsonl", "--output", str(out), "--num-workers", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 of 3 videos could not be read" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    folder = root / "val" / "a"
    assert [r["video"] for r in rows] == [str(folder / n) for n in ("bad0.mp4", "good0.mp4",
                                                                     "good1.mp4")]
    assert "cannot open" in rows[0]["error"] and "predictions" not in rows[0]
    for row in rows[1:]:
        assert len(row["predictions"]) == 2
        assert {p["label"] for p in row["predictions"]} <= {str(i) for i in range(400)}
    again = tmp_path / "again.jsonl"
    torch.manual_seed(0)
    main(["predict", str(root), "--model", model_yaml(tmp_path), "--topk", "2", "--format",
          "jsonl", "--output", str(again), "--num-workers", "0"])
    assert [json.loads(line) for line in again.read_text().splitlines()] == rows


def test_predict_a_list_of_paths_as_csv_and_table(tmp_path, capsys):
    video_folder(tmp_path, good=1, bad=1)
    listing = tmp_path / "videos.txt"
    listing.write_text("# relative to this file\nval/a/good0.mp4\n\nval/a/bad0.mp4\n")
    assert main(["predict", str(listing), "--model", model_yaml(tmp_path), "--topk", "3",
                 "--format", "csv", "--num-workers", "0"]) == 1
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    good, bad = str(tmp_path / "val/a/good0.mp4"), str(tmp_path / "val/a/bad0.mp4")
    assert rows[0] == ["video", "rank", "label", "probability", "error"]
    assert [(r[0], r[1]) for r in rows[1:]] == [(good, "1"), (good, "2"), (good, "3"), (bad, "")]
    assert float(rows[1][3]) >= float(rows[2][3]) >= float(rows[3][3]) > 0
    assert "cannot open" in rows[4][4]

    assert main(["predict", good, "--model", model_yaml(tmp_path), "--topk", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["video", "rank", "label", "probability"]
    assert [line.split()[:2] for line in lines[1:]] == [[good, "1"], [good, "2"]]


def test_predict_without_a_checkpoint_says_its_weights_are_random(tmp_path, capsys):
    video_folder(tmp_path, good=1)
    assert main(["predict", str(tmp_path), "--model", model_yaml(tmp_path), "--topk", "1"]) == 0
    err = capsys.readouterr().err
    assert "no --checkpoint, so the model scores with untrained (random) weights" in err


@pytest.mark.parametrize("argv, message", [
    (["{dir}/missing"], "{dir}/missing: no such file or folder"),
    (["https://example.com/clip.mp4"],
     "https://example.com/clip.mp4: zoo predict reads local files, not URLs; download the video "
     "and pass its path"),
    ([""], "an empty video path was given; name a video file, a folder of videos or a .txt file "
           "listing video paths"),
    (["{dir}"], "{dir}: no video file (.mp4 .avi .webm .mkv .mov .m4v .mpg .mpeg .flv) in this "
                "folder or below"),
    (["{dir}/empty.txt"], "{dir}/empty.txt: the list names no video (one path a line)"),
    (["{dir}", "--topk", "0"], "--topk must be at least 1, got 0"),
    (["{dir}", "--clips", "0"], "--clips must be at least 1, got 0"),
])
def test_predict_argument_errors_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "empty.txt").write_text("# nothing\n")
    argv = [a.format(dir=tmp_path) for a in argv]
    assert main(["predict", *argv, "--model", "single_frame"]) == 2
    assert capsys.readouterr().err == f"zoo: error: {message.format(dir=tmp_path)}\n"


def test_a_yaml_tag_in_set_is_refused_in_one_line(capsys):
    code = main(["build", "c3d", "--set", "backbone=!!python/object/apply:os.system ['true']"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("zoo: error: --set \"backbone=!!python/object/apply:os.system "
                             "['true']\": the value is not plain YAML (could not determine a "
                             "constructor for the tag")
