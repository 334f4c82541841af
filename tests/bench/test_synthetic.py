"""The built-in dataset moving_shapes: determinism, tensor formats, balance, and the property
that motion classes differ only in temporal order."""
from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
import torch

import zoo
from zoo.data import synthetic
from zoo.data.synthetic import CLASS_GROUPS, CLASSES, MOTION_PAIRS, clip_rng, render_clip
from zoo.specs import InputSpec

SMALL = {"rgb": InputSpec(frames=8, size=32)}


def test_registered_without_root():
    component = zoo.get("dataset", "moving_shapes")
    assert component.info.needs_root is False
    dataset = component(split="val", inputs=SMALL, clips_per_class=1)
    assert dataset.classes == CLASSES and dataset.multi_label is False
    assert sorted(i for group in dataset.class_groups.values() for i in group) == list(range(len(CLASSES)))
    assert set(CLASS_GROUPS) == {"appearance", "motion"}


def test_deterministic_per_split_and_index():
    first = synthetic.moving_shapes(split="val", inputs=SMALL, clips_per_class=2)[5]
    synthetic.clear_cache()
    again = synthetic.moving_shapes(split="val", inputs=SMALL, clips_per_class=3)[5]
    other_split = synthetic.moving_shapes(split="test", inputs=SMALL, clips_per_class=2)[5]
    assert torch.equal(first["inputs"]["rgb"], again["inputs"]["rgb"])
    assert first["label"] == again["label"] == other_split["label"]
    assert not torch.equal(first["inputs"]["rgb"], other_split["inputs"]["rgb"])
    assert first["video"] == "moving_shapes/val/5"


def test_stream_shapes_and_normalisation():
    inputs = {
        "rgb": InputSpec(frames=8, size=32),
        "flow": InputSpec(modality="flow", frames=3, size=32, flow_stack=5),
        "diff": InputSpec(modality="rgb_diff", frames=4, size=48),
        "big": InputSpec(frames=20, size=80),  # more frames and pixels than rendered: repeated, upsampled
    }
    sample = synthetic.moving_shapes(split="val", inputs=inputs, clips_per_class=1)[0]
    shapes = {name: tuple(t.shape) for name, t in sample["inputs"].items()}
    assert shapes == {"rgb": (3, 8, 32, 32), "flow": (10, 3, 32, 32), "diff": (3, 4, 48, 48),
                      "big": (3, 20, 80, 80)}
    for tensor in sample["inputs"].values():
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
    raw = synthetic.moving_shapes(split="val", clips_per_class=1,
                                  inputs={"rgb": InputSpec(frames=16, size=64, mean=(0,), std=(1,))})[0]
    assert raw["inputs"]["rgb"].min() >= 0 and raw["inputs"]["rgb"].max() <= 1


def test_streams_read_the_rendered_frames_they_sample():
    from zoo.data.sampling import uniform_indices

    plain = dict(mean=(0,), std=(1,))
    inputs = {"native": InputSpec(frames=8, size=64, **plain),
              "upsampled": InputSpec(frames=8, size=80, **plain)}
    sample = synthetic.moving_shapes(split="val", inputs=inputs, clips_per_class=1)[7]
    clip = render_clip(7, clip_rng(0, "val", 7))
    frames = torch.from_numpy(clip[uniform_indices(16, 8)]).permute(3, 0, 1, 2).float() / 255
    assert torch.allclose(sample["inputs"]["native"], frames, atol=1e-6)
    upsampled = torch.nn.functional.interpolate(frames, size=(80, 80), mode="bilinear",
                                                align_corners=False)
    assert torch.allclose(sample["inputs"]["upsampled"], upsampled, atol=1e-5)


def test_classes_balanced():
    dataset = synthetic.moving_shapes(split="train", inputs=SMALL, clips_per_class=3)
    assert len(dataset) == 3 * len(CLASSES)
    assert set(Counter(dataset.label(i) for i in range(len(dataset))).values()) == {3}


@pytest.mark.parametrize("forward, backward, kind", MOTION_PAIRS)
def test_reverse_class_is_the_time_reversed_clip(forward, backward, kind):
    for index in range(3):
        clip = render_clip(CLASSES.index(forward), clip_rng(0, "train", index))
        reversed_class = render_clip(CLASSES.index(backward), clip_rng(0, "train", index))
        assert np.array_equal(clip[::-1], reversed_class)


def _object_statistics(frames: np.ndarray) -> np.ndarray:
    """Per frame: the white object's area and the circular mean of its x and y position (as
    cosine and sine), ``[T, 5]``. Nothing else in a motion clip is that bright."""
    mask = frames.min(-1) > 0.8 * 255
    size = frames.shape[1]
    angles = 2 * np.pi * (np.arange(size) + 0.5) / size
    stats = []
    for frame_mask in mask:
        area = frame_mask.sum()
        ys, xs = np.nonzero(frame_mask)
        row = [area / size ** 2]
        for positions in (angles[xs], angles[ys]):
            mean = np.arctan2(np.sin(positions).mean(), np.cos(positions).mean())
            row += [np.cos(mean), np.sin(mean)]
        stats.append(row)
    return np.array(stats)


def test_single_frames_have_the_same_distribution_in_every_motion_class():
    """A single frame (first or last) of any motion class looks the same on average: object
    size, and horizontal and vertical position on the wrap-around canvas."""
    clips = 80
    frame_stats = {}
    for forward, backward, _ in MOTION_PAIRS:
        for name in (forward, backward):
            stats = np.stack([_object_statistics(render_clip(CLASSES.index(name),
                                                             clip_rng(1, "train", i))[[0, -1]])
                              for i in range(clips)])
            frame_stats[name, "first"], frame_stats[name, "last"] = stats[:, 0], stats[:, -1]
    pooled = np.concatenate(list(frame_stats.values()))
    tolerance = 4 * pooled.std(0) / np.sqrt(clips)
    for key, stats in frame_stats.items():
        assert np.all(np.abs(stats.mean(0) - pooled.mean(0)) < tolerance), key


def test_flow_points_the_way_the_object_moves():
    inputs = {"flow": InputSpec(modality="flow", frames=4, size=32)}
    dataset = synthetic.moving_shapes(split="val", inputs=inputs, clips_per_class=4)
    mean_dx = {}
    for name in ("moving_right", "moving_left"):
        label = CLASSES.index(name)
        clips = [dataset[i]["inputs"]["flow"] for i in range(len(dataset)) if dataset.label(i) == label]
        mean_dx[name] = float(torch.stack(clips)[:, 0].mean())  # normalised: 0 = no motion
    assert mean_dx["moving_right"] > 0.01 > -0.01 > mean_dx["moving_left"]


def test_written_videos_decode_back(tmp_path):
    from zoo.data.video import get_decoder

    csv_path = synthetic.write_videos(tmp_path, split="val", clips_per_class=1)
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == CLASSES and {r["split"] for r in rows} == {"val"}
    decoder = get_decoder("pyav")
    for index, row in enumerate(rows[:3]):
        path = (tmp_path / "val" / row["label"]
                / f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4")
        frames = decoder.read_all(path).numpy()
        rendered = render_clip(index, clip_rng(0, "val", index))
        assert frames.shape == rendered.shape
        assert np.abs(frames.astype(float) - rendered).mean() < 12  # lossy codec, same picture


def test_written_videos_load_through_the_kinetics_adapter(tmp_path):
    synthetic.write_videos(tmp_path, split="val", clips_per_class=1)
    dataset = zoo.get("dataset", "kinetics400")(root=tmp_path, split="val", inputs=SMALL)
    assert len(dataset) == len(CLASSES) and sorted(dataset.classes) == sorted(CLASSES)
    samples = [dataset[i] for i in range(len(dataset))]
    assert all(s["inputs"]["rgb"].shape == (3, 8, 32, 32) for s in samples)
    assert sorted(dataset.classes[s["label"]] for s in samples) == sorted(CLASSES)


def test_prepare_renders_each_clip_once_for_every_order_and_stream(monkeypatch):
    from zoo.data.protocol import prepare

    inputs = {"rgb": InputSpec(frames=4, size=16),
              "flow": InputSpec(modality="flow", frames=2, size=16)}
    orders = ("forward", "reversed", "shuffled")
    synthetic.clear_cache()
    alone = {order: [synthetic.MovingShapes("test", inputs, 1, seed=7, time_order=order)[i]
                     for i in range(len(CLASSES))] for order in orders}  # one order at a time
    synthetic.clear_cache()
    renders = []
    real_render = synthetic.render_clip
    monkeypatch.setattr(synthetic, "render_clip",
                        lambda label, rng: renders.append(label) or real_render(label, rng))
    dataset = synthetic.MovingShapes("test", inputs, clips_per_class=1, seed=7)
    prepare(dataset, orders)
    assert len(renders) == len(dataset)  # once per clip, for three orders and two streams
    for order in orders:  # already there (a forked worker shares them), and the same clips
        played = dataset.with_time_order(order)
        for i, sample in enumerate(alone[order]):
            for name, tensor in played[i]["inputs"].items():
                assert torch.equal(tensor, sample["inputs"][name]), (order, i, name)
    assert len(renders) == len(dataset)
    prepare(object())  # a dataset without `prepare` reads its clips as they come


def test_clips_made_in_forked_processes_are_those_made_in_this_one():
    wanted = [("rgb", 16, "forward"), ("flow", 16, "shuffled"), ("rgb", 24, "reversed")]
    synthetic.clear_cache()
    here = synthetic._split_tensors("test", 14, 5, wanted)
    synthetic.clear_cache()
    shared_out = synthetic._split_tensors("test", 14, 5, wanted, processes=3)
    assert [t.shape[0] for t in shared_out] == [14, 14, 14]
    for key, a, b in zip(wanted, here, shared_out):
        assert torch.equal(a, b), key


def test_a_clip_played_backwards_has_the_forward_flow_reversed_and_negated():
    from zoo.data.flow import dequantize_flow

    synthetic.clear_cache()
    forward, backward = synthetic._split_tensors("test", 12, 3, [("flow", 16, "forward"),
                                                                ("flow", 16, "reversed")])
    ahead, back = (dequantize_flow(t.numpy()) for t in (forward, backward))  # [N, 2, T-1, r, r]
    assert np.abs(ahead).max() > 1  # the motion classes move
    np.testing.assert_allclose(back, -ahead[:, :, ::-1], atol=2 * 40 / 255)  # a step each way
