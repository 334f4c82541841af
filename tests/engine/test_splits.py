"""`zoo train` / `zoo eval` on splits that do not match: validation clips that are training
clips, a split with other classes than the model's (mapped by name, or refused), an unlabelled
split (refused in one line), and the confusion matrix of a split with fewer classes."""
import json

import numpy as np
import pytest

import zoo
from engine_toys import model_yaml
from zoo.cli import main
from zoo.data.video import write_video
from zoo.engine import commands
from zoo.engine.commands import Relabelled, align_classes
from zoo.engine.metrics import confusion_matrix


def videos(root, classes, per_class=2):
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            write_video(folder / f"{name}{i}.mp4", np.full((6, 32, 32, 3), 60 * c + 10 * i,
                                                           np.uint8))
    return root


def train(tmp_path, root, out):
    return main(["train", "--model", model_yaml(tmp_path), "--dataset", "video_folder",
                 "--data-root", str(root), "--epochs", "1", "--batch-size", "2",
                 "--out", str(out), "--no-progress"])


def test_validating_on_the_training_clips_warns(tmp_path, capsys):
    pytest.importorskip("av")
    flat = videos(tmp_path / "flat", ["a", "b"])  # flat/<class>/<video>: no split folders
    assert train(tmp_path, flat, tmp_path / "run") == 0
    err = capsys.readouterr().err
    assert "zoo train: warning: dataset 'video_folder' split 'val'" in err
    assert "4 of its 4 clips are training clips too" in err


def test_eval_maps_a_split_with_fewer_classes_by_name(tmp_path, capsys):
    pytest.importorskip("av")
    root = tmp_path / "data"
    videos(root / "train", ["a", "b"])
    videos(root / "val", ["a", "b"])
    assert train(tmp_path, root, tmp_path / "run") == 0
    capsys.readouterr()
    only_b = videos(tmp_path / "only_b" / "val", ["b"]).parent  # classes ['b']: index 0 here
    code = main(["eval", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--dataset",
                 "video_folder", "--data-root", str(only_b), "--out", str(tmp_path / "eval"),
                 "--no-optimize"])
    assert code == 0
    capsys.readouterr()
    report = (tmp_path / "eval" / "per_class.txt").read_text().splitlines()
    support = {line.split()[0]: int(line.split()[1]) for line in report[1:]
               if not line.startswith("(")}
    assert support["b"] == 2 and support.get("a", 0) == 0  # the checkpoint's b, not a
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 0

    other = videos(tmp_path / "other" / "val", ["b", "c"]).parent
    code = main(["eval", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--dataset",
                 "video_folder", "--data-root", str(other), "--no-optimize"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("zoo: error: dataset 'video_folder' split 'val'")
    assert "its class(es) ['c'] are not among the 2 classes of the checkpoint" in err


class Clips:
    def __init__(self, classes, labels, labelled=True):
        self.classes, self.labels, self.labelled = classes, labels, labelled

    def __len__(self):
        return len(self.labels)

    def label(self, i):
        return self.labels[i]

    def __getitem__(self, i):
        return {"inputs": {}, "label": self.labels[i]}


def test_align_classes_maps_by_name_and_ignores_unused_unknown_classes():
    same = Clips(["a", "b"], [0, 1])
    assert align_classes(same, ["a", "b"], "here", "there") is same
    mapped = align_classes(Clips(["b", "x", "a"], [0, 2]), ["a", "b"], "here", "there")
    assert isinstance(mapped, Relabelled) and mapped.classes == ["a", "b"]
    assert [mapped.label(0), mapped.label(1)] == [1, 0] and mapped[1]["label"] == 0
    assert mapped.labelled  # other attributes: the wrapped dataset's
    with pytest.raises(zoo.ConfigError, match=r"here: its class\(es\) \['x'\] are not among "):
        align_classes(Clips(["b", "x"], [1]), ["a", "b"], "here", "there")


def test_an_unlabelled_split_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    class Registry:
        def get(self, kind, name):
            return lambda root, split, inputs: Clips(["a", "b"], [-1, -1], labelled=False)

    monkeypatch.setattr("zoo.registry.current", lambda: Registry())
    code = main(["eval", "--model", model_yaml(tmp_path), "--dataset", "kinetics400",
                 "--data-root", str(tmp_path), "--split", "test", "--num-classes", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"zoo: error: dataset 'kinetics400' split 'test' at {tmp_path}: its "
                          f"annotation file gives no labels")
    settings = {"name": "kinetics400", "root": None, "options": {}}
    model = zoo.build(json.loads(open(model_yaml(tmp_path)).read()), num_classes=2)
    monkeypatch.setattr("zoo.registry.current", lambda: type("R", (), {"get": lambda *_: (
        lambda root, split, inputs: Clips(["a"], [-1, -1]))})())  # labels all -1, no flag
    with pytest.raises(zoo.ConfigError, match="gives no labels"):
        commands._make_dataset(settings, "test", model)


def test_the_confusion_matrix_is_the_models_classes_square():
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert confusion_matrix(scores, [1, 1], 2).tolist() == [[0, 0], [1, 1]]
    with pytest.raises(ValueError, match="scores of 2 classes but num_classes=1"):
        confusion_matrix(scores, [0, 0], 1)
    with pytest.raises(ValueError, match="label -1 is outside the 2 classes"):
        confusion_matrix(scores, [-1, 0], 2)


def test_scoring_clips_without_labels_is_refused():
    import torch

    from zoo.engine.train import score_metrics

    with pytest.raises(zoo.ZooError, match="1 of 2 clips have no label"):
        score_metrics(torch.zeros(2, 3), torch.tensor([0, -1]))
