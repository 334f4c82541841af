"""Annotation faults that used to change a dataset silently, each on a fixture in the dataset's
real format: every one is now a ``file:line`` (or ``file:[key]``) error, counted and skipped in
lenient mode, raised with ``strict=True``; HMDB51 split files must name the 51 classes."""
import json
import shutil

import pytest

import zoo.registry as registry
from zoo.data.annotations import AnnotationError, read_label_map
from zoo.errors import ZooError
from zoo.specs import InputSpec

RGB = {"rgb": InputSpec(frames=4, size=32)}
KINETICS_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"
CHARADES_HEADER = ("id,subject,scene,quality,relevance,verified,script,objects,descriptions,"
                   "actions,length\n")


def dataset(name, *args, **kw):
    return registry.REGISTRY.get("dataset", name)(*args, **kw)


def lenient(name, *args, **kw):
    """The dataset built leniently, and the text of the one warning about skipped entries."""
    with pytest.warns(RuntimeWarning, match="unreadable annotation entries") as caught:
        ds = dataset(name, *args, **kw)
    return ds, " ".join(str(w.message) for w in caught)


def place(video, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(video, path)


def test_kinetics_unterminated_quote_is_one_bad_line(tmp_path, tiny_video):
    csv_file = tmp_path / "train.csv"
    csv_file.write_text(KINETICS_HEADER
                        + '"arm wrestling,---QUuC4vJs,3,13,train,0\n'        # the quote never closes
                        + "abseiling,-3B32lodo2M,5,15,train,0\n"
                        + '"air drumming",--nQbRBEz2s,104,114,train,0\n')
    for clip in ("abseiling/-3B32lodo2M_000005_000015.mp4", "air drumming/--nQbRBEz2s_000104_000114.mp4"):
        place(tiny_video, tmp_path / "train" / clip)
    ds, warning = lenient("kinetics400", tmp_path, "train", RGB)
    assert ds.classes == ["abseiling", "air drumming"]  # no class made of two rows
    assert ds.health.annotation_errors == 1
    assert f"{csv_file}:2: a quote is opened and not closed" in warning
    with pytest.raises(AnnotationError, match=r"train\.csv:2: a quote"):
        dataset("kinetics400", tmp_path, "train", RGB, strict=True)


@pytest.fixture
def hmdb_root(tmp_path, shared_data, tiny_video):
    """All 51 split-1 files (brush_hair with two videos, one per split; the others empty)."""
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for name in read_label_map(shared_data / "label_maps" / "hmdb51_label_map.txt"):
        (splits / f"{name}_test_split1.txt").write_text("")
    (splits / "brush_hair_test_split1.txt").write_text(
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \nAxel_brush_hair_f_nm_np1_ri_med_3.avi 2 \n")
    place(tiny_video, tmp_path / "hmdb51" / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi")
    return tmp_path


def test_hmdb51_needs_exactly_the_51_classes(hmdb_root, shared_data):
    ds = dataset("hmdb51", hmdb_root, "train", RGB)
    assert ds.classes == read_label_map(shared_data / "label_maps" / "hmdb51_label_map.txt")
    assert [r.label for r in ds.records] == [0]
    splits = hmdb_root / "testTrainMulti_7030_splits"
    (splits / "wave_test_split1.txt").unlink()
    (splits / "waving_test_split1.txt").write_text("x_waving.avi 1 \n")
    with pytest.raises(ZooError, match=r"found 51; missing: wave_test_split1\.txt; not an HMDB51 "
                                       r"class: waving_test_split1\.txt"):
        dataset("hmdb51", hmdb_root, "train", RGB)
    (splits / "waving_test_split1.txt").unlink()
    with pytest.raises(ZooError, match=r"found 50; missing: wave_test_split1\.txt; not an HMDB51 "
                                       r"class: none"):
        dataset("hmdb51", hmdb_root, "train", RGB)


def test_activitynet_bad_segment_keeps_the_video_s_good_ones(tmp_path, tiny_video):
    place(tiny_video, tmp_path / "videos" / "v_abc.mp4")
    good = {"segment": [0.5, 1.5], "label": "Archery"}
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps({
        "version": "VERSION 1.3", "taxonomy": [],
        "database": {"abc": {"duration": 2.0, "subset": "training", "resolution": "64x48",
                             "url": "", "annotations": [good, {"segment": [1.8, 0.2],
                                                               "label": "Archery"}]}}}))
    ds, warning = lenient("activitynet", tmp_path, "train", RGB)
    assert [(r.start, r.end, r.label) for r in ds.records] == [(0.5, 1.5, 0)]
    assert ds.health.annotation_errors == 1
    assert """:['abc']["annotations"][1]: segment [1.8, 0.2] should have 0 <= start""" in warning


def test_ucf101_explicit_label_must_match_the_class_folder(tmp_path, shared_data, tiny_video):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    shutil.copy(shared_data / "ucf101_splits" / "classInd.txt", lists)
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi 3\n"    # 3 is Archery
        "Archery/v_Archery_g01_c01.avi 3\n")
    for name in ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "Archery/v_Archery_g01_c01.avi"):
        place(tiny_video, tmp_path / "UCF-101" / name)
    ds, warning = lenient("ucf101", tmp_path, "train", RGB)
    assert [(r.video_id, r.label) for r in ds.records] == [("v_ApplyEyeMakeup_g08_c01", 0),
                                                           ("v_Archery_g01_c01", 2)]
    assert ds.health.annotation_errors == 1
    assert ("trainlist01.txt:2: label 3 (Archery) disagrees with the class folder "
            "'ApplyEyeMakeup' (label 1)") in warning


def test_charades_negative_start_is_a_bad_line(tmp_path, tiny_video):
    (tmp_path / "Charades_v1_train.csv").write_text(
        CHARADES_HEADER
        + 'YSKX3,HR43,Kitchen,6,7,Yes,A person cooks.,food,,"c092 -1.00 1.20;c147 0.60 2.00",2.00\n'
        + "N11GT,0KZ7,Stairs,6,7,Yes,A person walks.,stairs,,c015 0.10 1.00,1.50\n")
    place(tiny_video, tmp_path / "Charades_v1_480" / "N11GT.mp4")
    ds, warning = lenient("charades", tmp_path, "train", RGB)
    assert [(r.video_id, r.label) for r in ds.records] == [("N11GT", (15,))]
    assert ds.health.annotation_errors == 1
    assert "Charades_v1_train.csv:2: action 'c092 -1.00 1.20' should have 0 <= start" in warning


def test_an_activitynet_segment_past_the_end_of_its_video_is_reported_once(tmp_path, tiny_video,
                                                                           caplog):
    """The real annotation of a long video beside a short cut of it: padded, and said why."""
    place(tiny_video, tmp_path / "videos" / "v_abc.mp4")  # 2 s
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps({
        "version": "VERSION 1.3", "taxonomy": [],
        "database": {"abc": {"duration": 120.0, "subset": "validation", "resolution": "64x48",
                             "url": "", "annotations": [{"segment": [11.0, 30.0],
                                                         "label": "Archery"}]}}}))
    ds = dataset("activitynet", tmp_path, "val", RGB)
    with caplog.at_level("WARNING", logger="zoo.data"):
        first, again = ds[0], ds[0]
    assert first["padded"] and again["padded"]
    said = [r.getMessage() for r in caplog.records if "starts after the end" in r.getMessage()]
    assert len(said) == 1 and "segment from 11 s starts after the end of the video (2.0 s)" in said[0]
