"""DataLoader settings chosen for a dataset (`zoo.data.loader_settings`) and the frame cache that
spares decoding a video twice."""
import numpy as np
import pytest
import torch

from zoo.bench.run import Subset
from zoo.data import FrameCache, PyAVDecoder, VideoClipDataset, VideoRecord, loader_settings
from zoo.data.synthetic import MovingShapes
from zoo.engine.config import TrainConfig
from zoo.engine.distributed import make_loader
from zoo.specs import InputSpec


def video_dataset(video, clips: int = 40, **options) -> VideoClipDataset:
    return VideoClipDataset([VideoRecord(str(video), 0, f"clip{i}") for i in range(clips)], ["a"],
                            {"rgb": InputSpec(frames=4, size=32)}, **options)


def test_in_memory_datasets_get_no_worker_whatever_the_cores():
    shapes = MovingShapes("train", clips_per_class=4)
    for dataset in (shapes, Subset(shapes, range(10)), torch.utils.data.Subset(shapes, [1, 2])):
        settings = loader_settings(dataset, batch_size=2, cores=8)
        assert settings.num_workers == 0 and not settings.persistent_workers


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 2), (3, 3), (16, 4)])
def test_video_datasets_get_a_persistent_worker_per_core(tiny_video, cores, expected):
    settings = loader_settings(Subset(video_dataset(tiny_video), range(40)), batch_size=16,
                               cores=cores)
    assert settings.num_workers == expected and settings.persistent_workers
    assert settings.kwargs()["num_workers"] == expected and not settings.pin_memory


def test_the_cores_default_to_the_training_processs_threads(tiny_video):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one of the harness's side-by-side jobs
        assert loader_settings(video_dataset(tiny_video), batch_size=16).num_workers == 1
    finally:
        torch.set_num_threads(threads)


def test_a_dataset_of_one_batch_gets_no_worker(tiny_video):
    """Workers load ahead only within an epoch: six clips in batches of 16 gain nothing."""
    assert loader_settings(video_dataset(tiny_video, clips=6), batch_size=16,
                           cores=2).num_workers == 0


def test_an_explicit_worker_count_wins(tiny_video):
    assert loader_settings(video_dataset(tiny_video), 16, workers=0, cores=8).num_workers == 0
    assert loader_settings(MovingShapes("test", clips_per_class=1), 2, workers=3).num_workers == 3
    with pytest.raises(ValueError, match="0 or more"):
        loader_settings(video_dataset(tiny_video), 16, workers=-1)


def test_batches_are_pinned_for_a_gpu_only(tiny_video):
    assert loader_settings(video_dataset(tiny_video), 16, device="cuda").pin_memory
    assert not loader_settings(video_dataset(tiny_video), 16, device="cpu").pin_memory


def test_zoo_train_chooses_unless_told(tiny_video):
    assert TrainConfig().num_workers is None
    shapes = MovingShapes("train", clips_per_class=2)
    assert make_loader(shapes, 4, train=True, num_workers=None).num_workers == 0
    loader = make_loader(video_dataset(tiny_video), 4, train=True, num_workers=None)
    assert loader.num_workers == min(torch.get_num_threads(), 4) and loader.persistent_workers
    assert make_loader(video_dataset(tiny_video), 4, train=True, num_workers=0).num_workers == 0


class CountingDecoder(PyAVDecoder):
    """Counts its decoding calls (in `reads`, a list per instance)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def read_resized(self, path, indices, short_side):
        self.reads.append((path, list(indices)))
        return super().read_resized(path, indices, short_side)


def test_a_video_read_again_comes_from_the_frame_cache(tiny_video):
    dataset = video_dataset(tiny_video, clips=2, train=False, decoder=CountingDecoder())
    first = dataset[0]["inputs"]["rgb"]
    assert len(dataset.decoder.reads) == 1
    assert torch.equal(dataset[1]["inputs"]["rgb"], first)  # the same video: no decoding
    assert len(dataset.decoder.reads) == 1 and dataset.frame_cache.hits == 4
    uncached = video_dataset(tiny_video, clips=2, train=False, decoder=CountingDecoder(),
                             frame_cache_mb=0)
    assert torch.equal(uncached[0]["inputs"]["rgb"], first) and uncached.frame_cache is None
    assert torch.equal(uncached[1]["inputs"]["rgb"], first) and len(uncached.decoder.reads) == 2


def two_videos(tiny_video, tmp_path, **options) -> VideoClipDataset:
    other = tmp_path / "other.mp4"
    other.write_bytes(tiny_video.read_bytes())
    return VideoClipDataset([VideoRecord(str(tiny_video), 0, "a"), VideoRecord(str(other), 0, "b")],
                            ["a"], {"rgb": InputSpec(frames=4, size=32)},
                            decoder=CountingDecoder(), **options)


def test_prepare_decodes_every_frame_of_the_training_videos_before_the_clock(tiny_video, tmp_path):
    dataset = two_videos(tiny_video, tmp_path)
    dataset.prepare()
    assert [indices for _, indices in dataset.decoder.reads] == [list(range(16))] * 2
    for _ in range(4):  # random clips anywhere in either video: no decoding
        dataset[0], dataset[1]
    assert len(dataset.decoder.reads) == 2 and dataset.frame_cache.misses == 0
    dataset.prepare()  # nothing left to decode
    assert len(dataset.decoder.reads) == 2


def test_prepare_decodes_a_subsets_clips_only(tiny_video, tmp_path):
    dataset = two_videos(tiny_video, tmp_path)
    Subset(dataset, [1]).prepare()
    assert [path for path, _ in dataset.decoder.reads] == [str(tmp_path / "other.mp4")]


def test_prepare_stops_when_the_cache_is_full_and_skips_what_it_need_not_decode(tiny_video,
                                                                               tmp_path):
    small = two_videos(tiny_video, tmp_path, frame_cache_mb=0.02)  # under one video's frames
    small.prepare()
    assert len(small.decoder.reads) == 1 and small.frame_cache.size == 0
    test_split = two_videos(tiny_video, tmp_path, train=False)
    test_split.prepare()
    uncached = two_videos(tiny_video, tmp_path, frame_cache_mb=0)
    uncached.prepare()
    assert test_split.decoder.reads == [] and uncached.decoder.reads == []


def test_prepare_leaves_an_unreadable_video_to_its_first_read(tiny_video, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    dataset = VideoClipDataset([VideoRecord(str(broken), 0, "x"), VideoRecord(str(tiny_video), 0, "y")],
                               ["a"], {"rgb": InputSpec(frames=4, size=32)})
    dataset.prepare()
    assert dataset[0] is None and dataset.health.skipped == 1
    assert dataset[1] is not None and dataset.frame_cache.misses == 0


def test_the_frame_cache_drops_the_least_recently_used_frames_past_its_size():
    frame = np.zeros((256, 256, 4), np.uint8)  # 256 KiB: the cache holds three
    cache = FrameCache(megabytes=0.75)
    cache.put("a.mp4", 32, {0: frame, 1: frame, 2: frame})
    assert set(cache.get("a.mp4", 32, [0])) == {0}  # 0 becomes the most recently used
    cache.put("a.mp4", 32, {3: frame, 4: frame})
    assert set(cache.get("a.mp4", 32, range(5))) == {0, 3, 4} and cache.size == 3 * frame.nbytes
    assert cache.get("a.mp4", 64, [0]) == {} and cache.get("b.mp4", 32, [0]) == {}


def test_a_pickled_frame_cache_travels_empty():
    import pickle

    cache = FrameCache(megabytes=1)
    cache.put("a.mp4", 32, {0: np.zeros((8, 8, 3), np.uint8)})
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.get("a.mp4", 32, [0]) == {} and copy.size == 0 and copy.limit == cache.limit


def test_prepared_frames_feed_a_flow_stream_too(tiny_video, tmp_path):
    from zoo.data import FlowOptions

    streams = {"rgb": InputSpec(frames=2, size=32),
               "flow": InputSpec(modality="flow", frames=2, size=32, flow_stack=2)}
    dataset = VideoClipDataset([VideoRecord(str(tiny_video), 0, "a")], ["a"], streams,
                               decoder=CountingDecoder(),
                               flow=FlowOptions("dis", cache_dir=str(tmp_path / "flow")))
    dataset.prepare()
    sample = dataset[0]
    assert sample is not None and dataset.health.skipped == 0, dataset.health.summary()
    assert sample["inputs"]["flow"].shape[0] == 2 * 2 and len(dataset.decoder.reads) == 1
