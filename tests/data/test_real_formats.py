"""Real-format annotation behaviour: one class list per dataset root, unlabelled splits, error
messages naming file and line."""
import json
import os

import pytest

from zoo.data.annotations import AnnotationError, read_text
from zoo.data.dataset import VideoIndex, video_files
from zoo.data.datasets.activitynet import activitynet
from zoo.data.datasets.generic import video_csv, video_folder
from zoo.data.datasets.hmdb51 import _parse_line
from zoo.data.datasets.kinetics import kinetics
from zoo.data.datasets.sthv2 import sthv2
from zoo.data.datasets.ucf101 import read_class_ind

HEADER = "label,youtube_id,time_start,time_end,split\n"


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _kinetics_root(tmp_path, val_labels=("b",)):
    train = [("a", "t1"), ("b", "t2"), ("c", "t3")]
    (tmp_path / "train.csv").write_text(HEADER + "".join(f"{l},{v},0,10,train\n" for l, v in train))
    val = [(l, f"v{i}") for i, l in enumerate(val_labels)]
    (tmp_path / "validate.csv").write_text(HEADER + "".join(f"{l},{v},0,10,val\n" for l, v in val))
    for _, v in train:
        _touch(tmp_path / "train" / f"{v}.mp4")
    for _, v in val:
        _touch(tmp_path / "val" / f"{v}.mp4")
    return tmp_path


def _labels(dataset):
    return [dataset.label(i) for i in range(len(dataset))]


def test_kinetics_splits_share_the_training_classes(tmp_path):
    root = _kinetics_root(tmp_path, ("c",))
    train, val = kinetics(400, root, "train"), kinetics(400, root, "val")
    assert train.classes == val.classes == ["a", "b", "c"]
    assert _labels(val) == [2]


def test_kinetics_val_label_unknown_to_training_is_a_bad_entry(tmp_path):
    root = _kinetics_root(tmp_path, ("b", "zzz"))
    with pytest.warns(RuntimeWarning, match=r"validate.csv:3: label 'zzz' is not a class of "
                                            r"the training split"):
        val = kinetics(400, root, "val")
    assert val.classes == ["a", "b", "c"] and _labels(val) == [1]
    assert val.health.annotation_errors == 1
    with pytest.raises(AnnotationError, match="validate.csv:3: label 'zzz'"):
        kinetics(400, root, "val", strict=True)


def test_kinetics_label_map_unknown_label_names_line_and_is_counted(tmp_path):
    root = _kinetics_root(tmp_path)
    (tmp_path / "map.txt").write_text("a\nb\n")
    with pytest.warns(RuntimeWarning, match=r"train.csv:4: label 'c' is not a class of the "
                                            r"label map"):
        train = kinetics(400, root, "train", classes=str(tmp_path / "map.txt"))
    assert train.health.annotation_errors == 1 and len(train) == 2


def test_kinetics_without_label_column(tmp_path):
    root = _kinetics_root(tmp_path)
    (tmp_path / "test.csv").write_text("youtube_id,time_start,time_end,split\nv0,0,10,test\n")
    _touch(tmp_path / "test" / "v0.mp4")
    test = kinetics(400, root, "test")
    assert test.labelled is False and _labels(test) == [-1] and test.classes == ["a", "b", "c"]
    assert kinetics(400, root, "train").labelled is True
    (tmp_path / "train.csv").write_text("youtube_id,time_start,time_end,split\nt1,0,10,train\n")
    with pytest.raises(AnnotationError, match=r"train.csv:1: no 'label' column: a training "
                                              r"split needs labels"):
        kinetics(400, root, "train")


def test_video_folder_splits_share_the_training_classes(tmp_path):
    for split, names in (("train", ("x", "y", "z")), ("val", ("z",))):
        for name in names:
            _touch(tmp_path / split / name / f"{split}_{name}.mp4")
    train, val = video_folder(tmp_path, "train"), video_folder(tmp_path, "val")
    assert train.classes == val.classes == ["x", "y", "z"] and _labels(val) == [2]
    _touch(tmp_path / "val" / "new" / "n.mp4")
    with pytest.warns(RuntimeWarning, match=r"\['new'\] are not classes of the training split"):
        val = video_folder(tmp_path, "val")
    assert _labels(val) == [2]


def test_video_csv_splits_share_the_training_classes(tmp_path):
    for name in ("a", "b", "c"):
        _touch(tmp_path / f"{name}.mp4")
    (tmp_path / "train.csv").write_text("path,label\na.mp4,x\nb.mp4,y\n")
    (tmp_path / "val.csv").write_text("path,label\nc.mp4,y\nc.mp4,w\n")
    with pytest.warns(RuntimeWarning, match=r"val.csv:3: label 'w' is not a class"):
        val = video_csv(tmp_path, "val")
    assert val.classes == video_csv(tmp_path, "train").classes == ["x", "y"]
    assert _labels(val) == [1]
    (tmp_path / "train.csv").write_text("path,label\na.mp4,0\nb.mp4,3\n")
    (tmp_path / "val.csv").write_text("path,label\nc.mp4,1\n")
    assert video_csv(tmp_path, "val").classes == ["0", "1", "2", "3"]


def _sthv2_root(tmp_path, train):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "labels.json").write_text(json.dumps({"Doing x": "0", "Doing y": "1"}))
    (tmp_path / "labels" / "train.json").write_text(json.dumps(train))
    (tmp_path / "labels" / "test.json").write_text(json.dumps([{"id": "3"}]))
    for i in "123":
        _touch(tmp_path / "videos" / f"{i}.webm")
    return tmp_path


def test_sthv2_entry_without_template_is_a_bad_entry(tmp_path):
    root = _sthv2_root(tmp_path, [{"id": "1", "template": "Doing [x]"}, {"id": "2"}])
    with pytest.warns(RuntimeWarning, match=r"train.json:\[1\]: no template"):
        train = sthv2(root, "train")
    assert _labels(train) == [0] and train.health.annotation_errors == 1 and train.labelled
    test = sthv2(root, "test")
    assert test.labelled is False and _labels(test) == [-1]


def test_sthv2_training_split_without_templates_fails(tmp_path):
    root = _sthv2_root(tmp_path, [{"id": "1"}, {"id": "2"}])
    with pytest.raises(AnnotationError, match="train.json:1: .*training split needs labels"):
        sthv2(root, "train")


@pytest.mark.filterwarnings("ignore:skipped 1 unreadable")
def test_activitynet_testing_subset_and_missing_label(tmp_path):
    database = {"v_a": {"duration": 5.0, "subset": "training",
                        "annotations": [{"segment": [0, 2], "label": "X"}, {"segment": [1, 2]}]},
                "v_b": {"duration": 5.0, "subset": "testing", "annotations": []}}
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps(
        {"version": "VERSION 1.3", "database": database}))
    for name in ("v_a", "v_b"):
        _touch(tmp_path / "videos" / f"{name}.mp4")
    with pytest.warns(RuntimeWarning, match=r'\["annotations"\]\[1\]: the annotation has no '
                                            r'"label"'):
        train = activitynet(tmp_path, "train")
    assert train.labelled and _labels(train) == [0]
    test = activitynet(tmp_path, "test")
    assert test.labelled is False and _labels(test) == [-1] and test.classes == ["X"]


def test_not_utf8_reports_the_line(tmp_path):
    path = tmp_path / "trainlist01.txt"
    path.write_bytes(b"a/b.avi 1\n\xef\xbb\xbf\nc/d\xe9.avi 2\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:3: not UTF-8 text .*column 4.*"
                                              r"re-save the file as UTF-8"):
        read_text(path)
    path.write_bytes(b"\xef\xbb\xbfok\n\xe9\n")  # after a byte-order mark
    with pytest.raises(AnnotationError, match=r":2: not UTF-8 text \(byte 0xe9 at column 1"):
        read_text(path)


def test_class_ind_duplicate_number_names_line(tmp_path):
    path = tmp_path / "classInd.txt"
    path.write_text("1 A\n2 B\n2 C\n")
    with pytest.raises(AnnotationError, match=r"classInd.txt:3: class number 2 \(C\) is already "
                                              r"used at line 2; number the 3 classes 1..3"):
        read_class_ind(path)
    path.write_text("1 A\n5 B\n")
    with pytest.raises(AnnotationError, match=r"classInd.txt:2: class number 5 \(B\) is outside "
                                              r"1..2"):
        read_class_ind(path)


def test_hmdb_bad_tag_says_what_it_got():
    with pytest.raises(ValueError, match=r"got 'v.avi 3'"):
        _parse_line("v.avi 3")


def test_video_files_follow_symlinked_folders_without_looping(tmp_path):
    _touch(tmp_path / "real" / "a.mp4")
    (tmp_path / "top").mkdir()
    _touch(tmp_path / "top" / "b.mp4")
    os.symlink(tmp_path / "real", tmp_path / "top" / "linked")
    os.symlink(tmp_path / "top", tmp_path / "top" / "loop")
    found = video_files(tmp_path / "top")
    assert [os.path.relpath(p, tmp_path / "top") for p in found] == ["b.mp4", "linked/a.mp4"]
    assert VideoIndex(tmp_path / "top").find("a") == str(tmp_path / "top" / "linked" / "a.mp4")
