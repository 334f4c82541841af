import numpy as np
import pytest
import torch

from zoo.data.video import OpenCVDecoder, PyAVDecoder, VideoDecodeError, get_decoder, write_video

from .conftest import moving_square


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
