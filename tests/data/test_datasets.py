"""Every adapter on a small fixture in its exact format, and on the real sample files."""
import csv
import json
import shutil

import pytest
import torch

import zoo.registry as registry
from zoo.data import average_view_scores, collate
from zoo.data.annotations import read_label_map
from zoo.data.datasets.activitynet import parse_activitynet
from zoo.data.datasets.charades import charades_records, parse_charades_csv
from zoo.data.datasets.ucf101 import parse_ucf_list, read_class_ind
from zoo.data.flow import FlowOptions
from zoo.data.video import write_video
from zoo.specs import InputSpec

from .conftest import moving_square

RGB = {"rgb": InputSpec(frames=4, size=32)}


def dataset(name, *args, **kw):
    return registry.REGISTRY.get("dataset", name)(*args, **kw)


def place(video, *paths):
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, path)


def check_sample(sample, label=None, frames=4, size=32):
    assert sample["inputs"]["rgb"].shape == (3, frames, size, size)
    assert sample["inputs"]["rgb"].dtype == torch.float32
    if label is not None:
        assert sample["label"] == label


def test_every_adapter_is_registered_with_its_info():
    names = set(registry.REGISTRY.names("dataset"))
    expected = {"kinetics400", "kinetics600", "kinetics700", "sthv2", "charades", "ucf101",
                "hmdb51", "activitynet", "youtube8m", "video_folder", "video_csv"}
    assert expected <= names
    assert registry.REGISTRY.get("dataset", "charades").info.multi_label is True
    assert registry.REGISTRY.get("dataset", "ucf101").info.needs_root is True


@pytest.fixture
def kinetics_root(tmp_path, tiny_video):
    (tmp_path / "annotations").mkdir()
    with open(tmp_path / "annotations" / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        writer.writerow(["arm wrestling", "---QUuC4vJs", "3", "13", "train", "0"])
        writer.writerow(["abseiling", "-3B32lodo2M", "59", "69", "train", "0"])
        writer.writerow(["abseiling", "missingvid1", "0", "10", "train", "0"])
    (tmp_path / "annotations" / "test.csv").write_text(
        "youtube_id,time_start,time_end,split\n---QUuC4vJs,3,13,test\n")
    place(tiny_video, tmp_path / "train" / "arm wrestling" / "---QUuC4vJs_000003_000013.mp4",
          tmp_path / "train" / "-3B32lodo2M.mp4", tmp_path / "test" / "---QUuC4vJs.mp4")
    return tmp_path


def test_kinetics(kinetics_root):
    with pytest.warns(RuntimeWarning, match="1 annotated videos were not found"):
        ds = dataset("kinetics400", kinetics_root, "train", RGB)
    assert ds.classes == ["abseiling", "arm wrestling"] and len(ds) == 2
    assert ds.health.missing == 1
    check_sample(ds[0], label=1)
    check_sample(ds[1], label=0)
    test = dataset("kinetics400", kinetics_root, "test", RGB, classes=ds.classes)
    assert len(test) == 1 and test[0]["label"] == -1


def test_kinetics_on_the_real_clip_and_label_map(tmp_path, shared_data, kinetics_mp4):
    label_map = shared_data / "label_maps" / "kinetics400_label_map.txt"
    (tmp_path / "val.csv").write_text('label,youtube_id,time_start,time_end,split,is_cc\n'
                                      '"arm wrestling",demo_clip_x,0,10,val,0\n')
    (tmp_path / "val" / "arm_wrestling").mkdir(parents=True)
    (tmp_path / "val" / "arm_wrestling" / "demo_clip_x_000000_000010.mp4").symlink_to(kinetics_mp4)
    spec = {"rgb": InputSpec(frames=4, size=64, sampling="dense", frame_stride=8)}
    ds = dataset("kinetics400", tmp_path, "val", spec, classes=label_map)
    classes = read_label_map(label_map)
    assert len(classes) == 400 and ds.classes == classes
    sample = ds[0]
    check_sample(sample, label=classes.index("arm wrestling"), size=64)
    assert not sample["padded"]


def test_something_something_v2(tmp_path, shared_data):
    templates = read_label_map(shared_data / "label_maps" / "sthv2_label_map.txt")
    assert len(templates) == 174
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "something-something-v2-labels.json").write_text(
        json.dumps({t: str(i) for i, t in enumerate(templates)}))
    template = "Putting [something] on a surface"
    assert template.replace("[", "").replace("]", "") in templates
    entries = [{"id": "78687", "label": "putting a cup on a surface", "template": template,
                "placeholders": ["a cup"]},
               {"id": "42326", "label": "x", "template": "[Something] not a template",
                "placeholders": []}]
    (tmp_path / "labels" / "something-something-v2-train.json").write_text(json.dumps(entries))
    videos = tmp_path / "20bn-something-something-v2"
    write_video(videos / "78687.webm", moving_square(frames=8), fps=12, codec="libvpx")
    with pytest.warns(RuntimeWarning, match=r"train\.json:\[1\]: template"):
        ds = dataset("sthv2", tmp_path, "train", RGB)
    assert ds.classes == templates and len(ds) == 1
    check_sample(ds[0], label=templates.index("Putting something on a surface"))


def test_charades_per_video_and_per_segment(tmp_path, tiny_video):
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length"
    (tmp_path / "Charades_v1_train.csv").write_text(
        header + "\n"
        '46GP8,HR43,Kitchen,6,7,Yes,"A person cooks, then eats.",food;plate,"A person is cooking.",'
        '"c092 0.00 1.20;c147 0.60 2.00",2.00\n'
        'N11GT,0KZ7,Stairs,6,7,Yes,A person walks.,stairs,,,1.50\n')
    (tmp_path / "Charades_v1_classes.txt").write_text(
        "".join(f"c{i:03d} Class number {i}\n" for i in range(157)))
    place(tiny_video, tmp_path / "Charades_v1_480" / "46GP8.mp4",
          tmp_path / "Charades_v1_480" / "N11GT.mp4")
    entries = parse_charades_csv(tmp_path / "Charades_v1_train.csv")
    assert [len(e.actions) for e in entries] == [2, 0]
    assert entries[0].actions[1].label == 147 and entries[0].actions[1].end == 2.0
    ds = dataset("charades", tmp_path, "train", RGB)
    assert ds.multi_label and len(ds.classes) == 157 and ds.classes[8] == "Class number 8"
    sample = ds[0]
    assert sample["label"].shape == (157,)
    assert sample["label"].nonzero().flatten().tolist() == [92, 147]
    assert ds[1]["label"].sum() == 0
    segments = dataset("charades", tmp_path, "train", RGB, per_segment=True)
    assert len(segments) == 2
    assert [r.label for r in charades_records(entries, per_segment=True)] == [(92, 147), (147,)]
    check_sample(segments[1])


def test_ucf101_real_split_files(shared_data):
    splits = shared_data / "ucf101_splits"
    classes = read_class_ind(splits / "classInd.txt")
    assert len(classes) == 101 and classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert classes == read_label_map(shared_data / "label_maps" / "ucf101_label_map.txt")
    train = parse_ucf_list(splits / "trainlist01.txt", classes, strict=True)
    test = parse_ucf_list(splits / "testlist01.txt", classes, strict=True)
    assert (len(train), len(test)) == (9537, 3783)
    assert train[0].path == "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi" and train[0].label == 0
    assert test[-1].label == 100


def test_ucf101_dataset(tmp_path, shared_data, tiny_video):
    shutil.copytree(shared_data / "ucf101_splits", tmp_path / "ucfTrainTestlist")
    avi = shared_data / "videos" / "ucf101_style_mpeg4_mp3.avi"
    place(avi, tmp_path / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi")
    place(tiny_video, tmp_path / "UCF-101" / "YoYo" / "v_YoYo_g07_c04.avi")
    with pytest.warns(RuntimeWarning, match="3781 annotated videos were not found"):
        ds = dataset("ucf101", tmp_path, "test", RGB)
    assert len(ds) == 2 and ds.health.missing == 3781
    check_sample(ds[0], label=0)
    check_sample(ds[1], label=100)


def test_hmdb51(tmp_path, tiny_video, shared_data):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    classes = read_label_map(shared_data / "label_maps" / "hmdb51_label_map.txt")
    for name in classes[2:]:
        (splits / f"{name}_test_split1.txt").write_text("")
    (splits / "brush_hair_test_split1.txt").write_text(
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \nAxel_brush_hair_f_nm_np1_ri_med_3.avi 2 \n")
    (splits / "cartwheel_test_split1.txt").write_text(
        "Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8.avi 1 \nx_cartwheel.avi 0 \n")
    place(tiny_video, tmp_path / "hmdb51" / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
          tmp_path / "hmdb51" / "cartwheel" / "Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8.avi",
          tmp_path / "hmdb51" / "brush_hair" / "Axel_brush_hair_f_nm_np1_ri_med_3.avi")
    train = dataset("hmdb51", tmp_path, "train", RGB)
    assert train.classes == classes and classes[:2] == ["brush_hair", "cartwheel"]
    assert [r.label for r in train.records] == [0, 1]
    test = dataset("hmdb51", tmp_path, "test", RGB)
    assert len(test) == 1
    check_sample(test[0], label=0)


def test_activitynet_official_file(tmp_path):
    write_video(tmp_path / "videos" / "v_abc.mp4", moving_square(frames=40), fps=10)
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps({
        "version": "VERSION 1.3", "taxonomy": [],
        "database": {
            "abc": {"duration": 4.0, "subset": "training", "resolution": "64x48", "url": "u",
                    "annotations": [{"segment": [0.5, 1.5], "label": "Wakeboarding"},
                                    {"segment": [2.0, 3.9], "label": "Archery"}]},
            "def": {"duration": 9.0, "subset": "validation", "resolution": "", "url": "",
                    "annotations": [{"segment": [1, 2], "label": "Archery"}]}}}))
    ds = dataset("activitynet", tmp_path, "train", RGB)
    assert ds.classes == ["Archery", "Wakeboarding"] and len(ds) == 2
    assert (ds.records[0].start, ds.records[0].end, ds.records[0].label) == (0.5, 1.5, 1)
    check_sample(ds[0], label=1)
    check_sample(ds[1], label=0)


def test_activitynet_real_sample_file(shared_data):
    segments = parse_activitynet(shared_data / "annotations" / "activitynet_v13_style_gt.json",
                                 strict=True)
    assert segments and all(s.end > s.start for s in segments)
    first = segments[0]
    assert (first.video_id, first.subset, first.label) == ("bYUmtLBL7W4", "validation",
                                                           "Wakeboarding")
    labels = set(read_label_map(shared_data / "label_maps" / "activitynet200_label_map.txt"))
    assert {s.label for s in segments} <= labels


def test_video_folder_and_csv(tmp_path, tiny_video):
    place(tiny_video, tmp_path / "train" / "cat" / "a.mp4", tmp_path / "train" / "dog" / "b.avi")
    folder = dataset("video_folder", tmp_path, "train", RGB)
    assert folder.classes == ["cat", "dog"] and [r.label for r in folder.records] == [0, 1]
    check_sample(folder[1], label=1)
    (tmp_path / "train.csv").write_text("path,label\ntrain/cat/a.mp4,dog\ntrain/dog/b.avi,cat\n")
    table = dataset("video_csv", tmp_path, "train", RGB)
    assert [r.label for r in table.records] == [1, 0]
    check_sample(table[0], label=1)


def test_multistream_sample_and_multiview_testing(tmp_path, tiny_video):
    place(tiny_video, tmp_path / "a" / "x.mp4")
    inputs = {"rgb": InputSpec(frames=4, size=32),
              "flow": InputSpec(modality="flow", frames=2, size=32, flow_stack=3,
                                sampling="segments"),
              "rgb_diff": InputSpec(modality="rgb_diff", frames=2, size=32)}
    flow = FlowOptions("farneback", cache_dir=str(tmp_path / "cache"))
    train = dataset("video_folder", tmp_path, "train", inputs, flow=flow)
    sample = train[0]
    assert sample["inputs"]["flow"].shape == (6, 2, 32, 32)
    assert sample["inputs"]["rgb_diff"].shape == (3, 2, 32, 32)
    test = dataset("video_folder", tmp_path, "test", inputs, flow=flow, clips=2, crops=3)
    views = test[0]
    assert views["inputs"]["rgb"].shape == (6, 3, 4, 32, 32)
    assert views["inputs"]["flow"].shape == (6, 6, 2, 32, 32)
    # the square moves right: the centre crops' dx channels lean positive (quantised > 0.5)
    assert views["inputs"]["flow"][1, 0::2].mean() > 0
    batch = collate([views, views])

    class MeanModel(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x["rgb"].mean((1, 2, 3, 4)), -x["rgb"].mean((1, 2, 3, 4))], 1)
    scores = average_view_scores(MeanModel(), batch["inputs"])
    assert scores.shape == (2, 2) and torch.allclose(scores.sum(1), torch.ones(2))


def test_streams_share_the_random_start_crop_and_flip(tmp_path, tiny_video):
    spec = InputSpec(frames=4, size=32, sampling="dense", frame_stride=2)
    place(tiny_video, tmp_path / "a" / "x.mp4")
    ds = dataset("video_folder", tmp_path, "train", {"one": spec, "two": spec})
    for _ in range(3):
        sample = ds[0]
        assert torch.equal(sample["inputs"]["one"], sample["inputs"]["two"])


def test_second_epoch_of_a_flow_stream_reads_the_cache_without_decoding(tmp_path, tiny_video):
    from zoo.data import PyAVDecoder, VideoClipDataset, VideoRecord

    class CountingDecoder(PyAVDecoder):
        reads = 0

        def read_resized(self, path, indices, short_side):
            CountingDecoder.reads += 1
            return super().read_resized(path, indices, short_side)

    spec = {"flow": InputSpec(modality="flow", frames=2, size=32, flow_stack=2)}
    ds = VideoClipDataset([VideoRecord(str(tiny_video), 0)], ["a"], spec, train=False,
                          decoder=CountingDecoder(), frame_cache_mb=0,
                          flow=FlowOptions("dis", cache_dir=str(tmp_path / "cache")))
    first = ds[0]["inputs"]["flow"]
    assert CountingDecoder.reads == 1 and ds.flow.computed == 4
    second = ds[0]["inputs"]["flow"]
    assert CountingDecoder.reads == 1 and ds.flow.cached == 4
    assert torch.equal(first, second)
