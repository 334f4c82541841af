"""End to end: real presets (zoo.build) fed by a real adapter over real video files.

The videos are the built-in moving_shapes clips written to disk in the Kinetics layout
(`zoo.data.synthetic.write_videos`), read back through the ``kinetics400`` adapter and a
DataLoader; one of them is then overwritten with random bytes to check the skip policy. The
real Kinetics clip in ../shared/data goes through the same adapter with a one-row CSV.
"""
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import zoo
from zoo.data import DataHealth, FlowOptions, collate
from zoo.data.synthetic import CLASSES, write_videos
from zoo.registry import REGISTRY

SMALL = dict(frames=4, size=32)
PRESETS = ("single_frame", "two_stream")


@pytest.fixture(scope="module")
def models():
    """The presets at frames=4, size=32, one output per moving_shapes class, in eval mode."""
    torch.manual_seed(0)
    return {name: zoo.build(name, num_classes=len(CLASSES), **SMALL).eval() for name in PRESETS}


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    """moving_shapes "train" as Kinetics-layout mp4 files (one per class, 12) and train.csv,
    with one of the files overwritten by random bytes (still listed in the CSV)."""
    root = tmp_path_factory.mktemp("shapes")
    csv_path = write_videos(root, split="train", clips_per_class=1)
    videos = sorted((root / "train").rglob("*.mp4"))
    assert csv_path == root / "train.csv" and len(videos) == len(CLASSES)
    corrupt = videos[5]
    corrupt.write_bytes(np.random.default_rng(0).bytes(corrupt.stat().st_size))
    return root, corrupt


def loader(dataset, workers: int) -> DataLoader:
    return DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate)


def run_epoch(model, dataset, workers: int) -> DataHealth:
    """Feed one epoch to `model`; check every batch against ``model.spec.inputs``."""
    inputs = model.spec.inputs
    epoch = DataHealth()
    with torch.no_grad():
        for batch in loader(dataset, workers):
            assert batch is not None  # at most one unreadable video per batch here
            epoch.update(batch["health"])
            size = len(batch["video"])
            assert set(batch["inputs"]) == set(inputs)
            for name, spec in inputs.items():
                clip = batch["inputs"][name]
                assert clip.dtype == torch.float32 and tuple(clip.shape) == (size,) + spec.shape
                assert torch.isfinite(clip).all()
            x = batch["inputs"] if len(inputs) > 1 else batch["inputs"][next(iter(inputs))]
            logits = model(x)
            assert logits.shape == (size, len(CLASSES)) and torch.isfinite(logits).all()
            assert batch["label"].shape == (size,)
            assert 0 <= int(batch["label"].min()) and int(batch["label"].max()) < len(CLASSES)
    return epoch


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_on_adapter_batches_and_skips_a_corrupt_video(models, shapes_root,
                                                                   tmp_path, preset, workers):
    root, corrupt = shapes_root
    model = models[preset]
    if preset == "two_stream":  # an rgb stream and a flow stream of 10 stacked fields per step
        assert model.spec.inputs["flow"].flow_stack == 10
        assert model.spec.inputs["flow"].shape == (20, 4, 32, 32)
    dataset = REGISTRY.get("dataset", "kinetics400")(
        root=root, split="train", inputs=model.spec.inputs,
        flow=FlowOptions("dis", cache_dir=str(tmp_path / "flow")))
    assert dataset.classes == sorted(CLASSES) and len(dataset) == len(CLASSES)
    assert dataset.health.missing == 0  # the corrupt file is on disk, so it is listed

    epoch = run_epoch(model, dataset, workers)

    assert (epoch.loaded, epoch.skipped) == (len(CLASSES) - 1, 1)
    assert "11 clips loaded" in epoch.summary() and "1 skipped" in epoch.summary()
    if workers == 0:  # the dataset's own counters live in this process and know the reason
        assert (dataset.health.loaded, dataset.health.skipped) == (len(CLASSES) - 1, 1)
        assert dataset.health.reasons == {"corrupt": 1}
    else:  # they live in the worker; the batches carried the counts back
        assert dataset.health.loaded == 0
        assert epoch.reasons == {"unreadable": 1}
    if preset == "two_stream":  # flow was computed and cached for the 11 readable videos
        assert len([d for d in (tmp_path / "flow").iterdir()]) == len(CLASSES) - 1


KINETICS_CSV = ('label,youtube_id,time_start,time_end,split,is_cc\n'
                '"arm wrestling",mmaction2dm,0,10,val,0\n')  # placeholder 11-character id


@pytest.mark.parametrize("preset", PRESETS)
def test_real_kinetics_clip_through_the_kinetics400_adapter(models, kinetics_mp4, shared_data,
                                                            tmp_path, preset):
    """The real arm-wrestling clip in the Kinetics layout (label folder with a space, file
    ``{youtube_id}_{start:06d}_{end:06d}.mp4``) and the real 400-class label map."""
    root = tmp_path / "kinetics"
    (root / "val" / "arm wrestling").mkdir(parents=True)
    os.symlink(kinetics_mp4, root / "val" / "arm wrestling" / "mmaction2dm_000000_000010.mp4")
    (root / "val.csv").write_text(KINETICS_CSV, encoding="utf-8")
    label_map = shared_data / "label_maps" / "kinetics400_label_map.txt"

    model = models[preset]
    dataset = REGISTRY.get("dataset", "kinetics400")(
        root=root, split="val", inputs=model.spec.inputs, classes=label_map,
        flow=FlowOptions("dis"))
    assert len(dataset.classes) == 400 and len(dataset) == 1
    assert dataset.classes[dataset.records[0].label] == "arm wrestling"

    batch = next(iter(loader(dataset, 0)))
    assert batch["video"] == ["mmaction2dm_000000_000010"]
    assert batch["label"].tolist() == [dataset.classes.index("arm wrestling")]
    for name, spec in model.spec.inputs.items():
        assert tuple(batch["inputs"][name].shape) == (1,) + spec.shape
    x = batch["inputs"] if len(batch["inputs"]) > 1 else batch["inputs"]["rgb"]
    with torch.no_grad():
        assert model(x).shape == (1, len(CLASSES))
    assert dataset.health.ok and dataset.health.loaded == 1
