"""Decoding: frame i of a clip is frame i of a full sequential decode, for every container and
codec, with and without seeking; bad files give VideoDecodeError or padded frames."""
import av
import numpy as np
import pytest
import torch

from zoo.data.video import OpenCVDecoder, PyAVDecoder, VideoDecodeError, get_decoder, write_video

from .conftest import VIDEO_FORMATS, encode, moving_square


def full_decode(path) -> np.ndarray:
    """Every frame ``[N, H, W, 3]`` in the order a sequential decode gives them."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def assert_frames(frames, every, indices):
    """`frames` holds the full decode's frames at `indices` (reported by index when not)."""
    got = frames.data.numpy()
    wrong = [i for i, frame in zip(indices, got) if not np.array_equal(frame, every[i])]
    assert not wrong, f"frames {wrong} differ from the full decode's"


def centroid_x(frames: np.ndarray) -> np.ndarray:
    """The horizontal centre of brightness above the background (30) of each frame ``[T]``."""
    weight = np.clip(frames.astype(float).mean(-1) - 40, 0, None)
    return (weight * np.arange(frames.shape[2])).sum((1, 2)) / weight.sum((1, 2))


def test_write_then_read_round_trip(tmp_path):
    frames = moving_square(frames=10)
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    decoder = PyAVDecoder()
    info = decoder.probe(path)
    assert (info.num_frames, info.width, info.height) == (10, 64, 48)
    assert info.fps == pytest.approx(10)
    decoded = decoder.read_all(path)
    assert decoded.dtype == torch.uint8 and decoded.shape == (10, 48, 64, 3)
    assert (decoded.float() - torch.from_numpy(frames).float()).abs().mean() < 6


def test_write_video_pads_odd_sizes(tmp_path):
    path = write_video(tmp_path / "odd.mp4", np.zeros((3, 33, 45, 3), np.uint8), fps=5)
    info = PyAVDecoder().probe(path)
    assert (info.width, info.height) == (46, 34)


def test_seeking_reads_the_same_frames_as_decoding_from_the_start(kinetics_mp4):
    indices = [230, 200, 204, 204]
    seeking = PyAVDecoder(seek=True).read(kinetics_mp4, indices)
    linear = PyAVDecoder(seek=False, threads=False).read(kinetics_mp4, indices)
    assert seeking.data.shape == (4, 256, 340, 3)
    assert torch.equal(seeking.data, linear.data)
    assert torch.equal(seeking.data[2], seeking.data[3]) and not seeking.padded


def test_probe_real_files(shared_data):
    decoder = PyAVDecoder()
    kinetics = decoder.probe(shared_data / "videos" / "kinetics400_arm_wrestling.mp4")
    assert (kinetics.num_frames, kinetics.fps, kinetics.width, kinetics.height) == (280, 28, 340, 256)
    ucf = decoder.probe(shared_data / "videos" / "ucf101_style_mpeg4_mp3.avi")
    assert (ucf.num_frames, ucf.width, ucf.height) == (164, 320, 240)
    assert ucf.duration == pytest.approx(164 / 25)


def test_opencv_decoder_agrees_with_pyav(shared_data):
    path = shared_data / "videos" / "ucf101_style_mpeg4_mp3.avi"
    a = PyAVDecoder().read(path, [3, 50]).data.float()
    b = OpenCVDecoder().read(path, [3, 50]).data.float()
    assert a.shape == b.shape and (a - b).abs().mean() < 3


def test_indices_past_the_end_repeat_the_last_frame(tiny_video):
    frames = PyAVDecoder().read(tiny_video, [14, 15, 40])
    assert frames.padded and torch.equal(frames.data[1], frames.data[2])


@pytest.mark.parametrize("kind", ["missing", "empty", "random"])
def test_unreadable_files_raise_decode_errors(broken_videos, kind):
    for decoder in (PyAVDecoder(), OpenCVDecoder()):
        with pytest.raises(VideoDecodeError, match=kind if kind != "random" else "corrupt"):
            decoder.probe(broken_videos[kind])
            decoder.read(broken_videos[kind], [0])


def test_truncated_file_errors_or_pads(broken_videos):
    decoder = PyAVDecoder()
    try:
        info = decoder.probe(broken_videos["truncated"])
        frames = decoder.read(broken_videos["truncated"], range(info.num_frames))
    except VideoDecodeError as exc:
        assert "corrupt" in str(exc)
    else:
        assert frames.padded and len(frames.data) == info.num_frames


def test_get_decoder_names():
    assert isinstance(get_decoder("opencv"), OpenCVDecoder)
    with pytest.raises(ValueError, match="unknown decoder"):
        get_decoder("nope")


def test_truncated_avi_pads_with_its_last_decodable_frame(truncated_avi):
    decoder = PyAVDecoder()
    assert decoder.probe(truncated_avi).num_frames == 164  # the header does not know
    seeking = decoder.read(truncated_avi, [10, 120, 160])
    assert seeking.padded and seeking.data.shape == (3, 240, 320, 3)
    assert torch.equal(seeking.data[1], seeking.data[2])
    assert not torch.equal(seeking.data[0], seeking.data[1])


@pytest.mark.parametrize("seek", [True, False], ids=["seek", "no-seek"])
@pytest.mark.parametrize("container, codec", VIDEO_FORMATS)
def test_clips_are_frames_of_a_full_decode(b_frame_videos, container, codec, seek):
    path = b_frame_videos[container, codec]
    every = full_decode(path)
    assert len(every) == 40 and PyAVDecoder().probe(path).num_frames == 40
    decoder = PyAVDecoder(seek=seek)
    for start in (0, 16, 32):  # the clip at the start, in the middle, at the end
        indices = list(range(start, start + 8))
        frames = decoder.read(path, indices)
        assert_frames(frames, every, indices)
        assert not frames.padded
    assert decoder._seek_point(path, {32}) is not None  # keyframes are found to seek to
    past = decoder.read(path, [37, 39, 40, 45])
    assert past.padded
    assert_frames(past, every, [37, 39, 39, 39])


@pytest.mark.parametrize("seek", [True, False], ids=["seek", "no-seek"])
def test_real_avi_clips_are_frames_of_a_full_decode(shared_data, seek):
    path = shared_data / "videos" / "ucf101_style_mpeg4_mp3.avi"
    every = full_decode(path)
    assert len(every) == 164
    decoder = PyAVDecoder(seek=seek)
    for indices in (list(range(16)), list(range(74, 90, 2)), list(range(148, 164))):
        frames = decoder.read(path, indices)
        assert_frames(frames, every, indices)
        assert not frames.padded
    assert decoder.read(path, [163, 164]).padded


def test_a_jump_in_the_last_timestamp_loses_no_frame(tmp_path):
    pts = list(range(19)) + [40]  # the last frame 21 frame durations after the one before
    path = encode(tmp_path / "jump.mp4", moving_square(frames=20), "mpeg4", b_frames=0, pts=pts)
    every = full_decode(path)
    assert len(every) == 20
    for decoder in (PyAVDecoder(), PyAVDecoder(seek=False)):
        frames = decoder.read(path, [12, 18, 19])
        assert not frames.padded
        assert_frames(frames, every, [12, 18, 19])


@pytest.mark.parametrize("container, codec", VIDEO_FORMATS)
def test_motion_direction_survives_decoding(b_frame_videos, container, codec):
    path = b_frame_videos[container, codec]
    x = centroid_x(PyAVDecoder().read(path, range(40)).data.numpy())
    assert np.all(np.diff(x) > 0.5), np.round(np.diff(x), 2)  # 1 px to the right per frame
    clip = PyAVDecoder().read(path, [24, 26, 28, 30]).data.numpy()  # a seeking read
    np.testing.assert_allclose(centroid_x(clip), x[[24, 26, 28, 30]])


def smooth_video(frames: int = 12, height: int = 96, width: int = 128) -> np.ndarray:
    """``[T, H, W, 3]`` uint8: colour gradients and a soft blob moving right 6 px per frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        blob = 200 * np.exp(-((x - 30 - 6 * t) ** 2 + (y - height / 2) ** 2) / (2 * 12.0 ** 2))
        video[t, ..., 0] = np.clip(40 + blob, 0, 255)
        video[t, ..., 1] = x / width * 200
        video[t, ..., 2] = np.clip(y / height * 200 + blob / 2, 0, 255)
    return video


@pytest.mark.parametrize("container, codec", [("avi", "mpeg4"), ("mp4", "libx264")])
@pytest.mark.parametrize("short_side", [12, 24, 48])
def test_reduced_resolution_decode_matches_decode_then_resize(tmp_path, container, codec,
                                                              short_side):
    """96x128 frames asked at a short side of 12 (lowres 1/2 for MPEG-4, no deblocking), 24 (no
    deblocking) and 48 (libswscale only): the requested size, and within a few levels of the
    full decode resized in torch, far closer than to another frame."""
    from zoo.data.transforms import resize_short_side

    path = encode(tmp_path / f"smooth.{container}", smooth_video(), codec, gop=6)
    indices = [0, 5, 11]
    small = PyAVDecoder().read_resized(path, indices, short_side).data.float()
    full = PyAVDecoder().read(path, indices).data.permute(3, 0, 1, 2)
    expected = resize_short_side(full, short_side).round().permute(1, 2, 3, 0)
    assert small.shape == (3, short_side, short_side * 4 // 3, 3)
    difference = (small - expected).abs().mean().item()
    other_frame = (small[0] - expected[2]).abs().mean().item()
    assert difference < 5 and difference < other_frame / 3, (difference, other_frame)


def test_read_resized_leaves_frames_no_larger_than_asked_as_they_are(tiny_video):
    assert torch.equal(PyAVDecoder().read_resized(tiny_video, [2, 9], 48).data,
                       PyAVDecoder().read(tiny_video, [2, 9]).data)
    assert OpenCVDecoder().read_resized(tiny_video, [2], 16).data.shape == (1, 48, 64, 3)


def test_reduced_decode_options():
    from zoo.data.video import reduced_decode_options

    assert reduced_decode_options(340, 256, 128) == {}  # shrinking 2x: a full decode
    assert reduced_decode_options(320, 240, 37) == {"skip_loop_filter": "all"}
    assert reduced_decode_options(1920, 1080, 37) == {"skip_loop_filter": "all", "lowres": "2"}
    assert reduced_decode_options(7680, 4320, 37) == {"skip_loop_filter": "all", "lowres": "3"}


def test_write_video_encodes_frames_as_they_come(tmp_path):
    frames = moving_square(frames=6)
    path = write_video(tmp_path / "streamed.mp4", (frame for frame in frames), fps=6)
    assert PyAVDecoder().probe(path).num_frames == 6
    with pytest.raises(ValueError, match="no frame"):
        write_video(tmp_path / "none.mp4", iter(()))
