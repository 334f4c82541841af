"""Bad input never crashes a run: skipped or padded by policy, logged once, counted."""
import logging

import pytest
import torch
from torch.utils.data import DataLoader

from zoo.data import DataHealth, VideoClipDataset, VideoDecodeError, VideoRecord, collate
from zoo.data.annotations import AnnotationError
from zoo.data.datasets.ucf101 import parse_ucf_list
from zoo.registry import REGISTRY
from zoo.specs import InputSpec

RGB = {"rgb": InputSpec(frames=4, size=32)}


def records(tiny_video, broken_videos):
    good = [VideoRecord(str(tiny_video), 0, f"good{i}") for i in range(3)]
    bad = [VideoRecord(str(broken_videos[k]), 1, k) for k in ("missing", "empty", "random")]
    return good + bad


def test_skip_policy_returns_none_logs_once_and_counts(tiny_video, broken_videos, caplog):
    ds = VideoClipDataset(records(tiny_video, broken_videos), ["a", "b"], RGB, train=True)
    with caplog.at_level(logging.WARNING, logger="zoo.data"):
        samples = [ds[i] for i in range(len(ds))] + [ds[3]]
    assert [s is None for s in samples] == [False] * 3 + [True] * 4
    assert ds.health.loaded == 3 and ds.health.skipped == 4
    assert ds.health.reasons == {"missing": 2, "empty": 1, "corrupt": 1}
    assert sum("missing.mp4" in r.message for r in caplog.records) == 1  # logged once
    assert "4 skipped" in ds.health.summary() and "missing: 2" in ds.health.summary()


def test_raise_policy_propagates(broken_videos):
    ds = VideoClipDataset([VideoRecord(str(broken_videos["random"]), 0)], ["a"], RGB,
                          on_error="raise")
    with pytest.raises(VideoDecodeError, match="corrupt"):
        ds[0]
    with pytest.raises(ValueError, match="on_error"):
        VideoClipDataset([], ["a"], RGB, on_error="ignore")


def test_truncated_video_is_skipped_or_padded(broken_videos):
    ds = VideoClipDataset([VideoRecord(str(broken_videos["truncated"]), 0)], ["a"],
                          {"rgb": InputSpec(frames=8, size=32, sampling="dense")}, train=False)
    sample = ds[0]
    assert (sample is None and ds.health.skipped == 1) or (sample["padded"] and ds.health.padded == 1)


@pytest.mark.parametrize("pad", ["repeat", "loop"])
def test_short_videos_are_padded(tiny_video, pad):
    spec = {"rgb": InputSpec(frames=8, size=32, sampling="dense", frame_stride=4)}  # needs 29
    ds = VideoClipDataset([VideoRecord(str(tiny_video), 0)], ["a"], spec, train=False, pad=pad)
    sample = ds[0]
    clip = sample["inputs"]["rgb"]
    assert sample["padded"] and clip.shape == (3, 8, 32, 32)
    if pad == "repeat":  # indices 0, 4, 8, 12, 15, 15, 15, 15
        assert torch.equal(clip[:, 4], clip[:, 7])
    else:  # indices 0, 4, 8, 12, 0, 4, 8, 12
        assert torch.equal(clip[:, 0], clip[:, 4])
    batch = collate([sample, None])
    assert batch["health"].padded == 1 and batch["health"].skipped == 1


def test_counts_survive_dataloader_workers(tiny_video, broken_videos):
    ds = VideoClipDataset(records(tiny_video, broken_videos) * 2, ["a", "b"], RGB, train=True)
    epoch = DataHealth()
    seen = 0
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate)
    for batch in loader:
        if batch is None:  # every sample of the batch was unreadable
            continue
        epoch.update(batch["health"])
        seen += len(batch["video"])
        assert batch["inputs"]["rgb"].shape[1:] == (3, 4, 32, 32)
    assert ds.health.loaded == 0  # the workers counted in their own copies
    skipped_in_empty_batches = 12 - seen - epoch.skipped
    assert seen == 6 and epoch.loaded == 6 and epoch.skipped + skipped_in_empty_batches == 6


def test_collate_of_only_bad_samples_is_none():
    assert collate([None, None]) is None


def test_bad_annotation_lines_lenient_and_strict(tmp_path):
    listing = tmp_path / "trainlist01.txt"
    listing.write_text("A/v_A_g01_c01.avi 1\nB/v_B_g01_c01.avi seven\nB/v_B_g02_c01.avi 2\n")
    with pytest.warns(RuntimeWarning, match=r"trainlist01\.txt:2: invalid literal"):
        entries = parse_ucf_list(listing, ["A", "B"])
    assert [e.label for e in entries] == [0, 1]
    with pytest.raises(AnnotationError, match=r"trainlist01\.txt:2: ") as info:
        parse_ucf_list(listing, ["A", "B"], strict=True)
    assert info.value.line == 2


def test_bad_annotation_entries_are_counted_in_the_dataset_health(tmp_path, tiny_video):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "abcdefghijk_000000_000002.mp4").write_bytes(tiny_video.read_bytes())
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                        "a,abcdefghijk,0,2,train\n"
                                        "a,badtimes000,5,1,train\n")
    factory = REGISTRY.get("dataset", "kinetics400")
    with pytest.warns(RuntimeWarning, match=r"train\.csv:3: time_end"):
        ds = factory(root=tmp_path, split="train", inputs=RGB)
    assert len(ds) == 1 and ds.health.annotation_errors == 1 and not ds.health.ok
    assert "1 bad annotation entries" in ds.health.summary()
    with pytest.raises(AnnotationError, match=r"train\.csv:3: "):
        factory(root=tmp_path, split="train", inputs=RGB, strict=True)


def test_truncated_real_video_is_padded_and_counted(truncated_avi):
    spec = {"rgb": InputSpec(frames=8, size=32, sampling="uniform")}
    ds = VideoClipDataset([VideoRecord(str(truncated_avi), 0)], ["a"], spec, train=False)
    sample = ds[0]
    assert sample["padded"] and ds.health.padded == 1 and ds.health.skipped == 0
    clip = sample["inputs"]["rgb"]
    assert torch.equal(clip[:, -1], clip[:, -2])  # past the cut: the last decodable frame
