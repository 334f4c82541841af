"""Fixtures shared by the data tests: small real video files and the shared sample data."""
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pytest

from zoo.data.video import write_video

VIDEO_FORMATS = [(container, codec) for container in ("avi", "mp4", "mkv")
                 for codec in ("mpeg4", "libx264")] + [("webm", "libvpx-vp9")]
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """/work/shared/data (real sample files), or skip."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"the shared sample data is not at {SHARED_DATA}")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def kinetics_mp4(shared_data) -> Path:
    path = shared_data / "videos" / "kinetics400_arm_wrestling.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def moving_square(frames: int = 16, height: int = 48, width: int = 64, step: int = 2) -> np.ndarray:
    """``[T, H, W, 3]`` uint8: a bright textured square moving right by `step` px per frame."""
    rng = np.random.default_rng(0)
    texture = rng.integers(60, 255, (16, 16, 3), dtype=np.uint8)
    video = np.full((frames, height, width, 3), 30, dtype=np.uint8)
    for t in range(frames):
        left = 4 + t * step
        video[t, 16:32, left:left + 16] = texture[:, :max(min(16, width - left), 0)]
    return video


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """A 16-frame 64x48 video of a moving square, 8 fps."""
    return write_video(tmp_path_factory.mktemp("videos") / "square.mp4", moving_square(), fps=8)


@pytest.fixture(scope="session")
def broken_videos(tmp_path_factory, tiny_video) -> dict:
    """Real broken files: missing, zero-byte, random bytes, and a truncated mp4."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "random.mp4").write_bytes(np.random.default_rng(1).bytes(4096))
    data = tiny_video.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return {"missing": folder / "missing.mp4", "empty": folder / "empty.mp4",
            "random": folder / "random.mp4", "truncated": folder / "truncated.mp4"}


@pytest.fixture(scope="session")
def truncated_avi(tmp_path_factory, shared_data) -> Path:
    """The real UCF101-style avi cut in half: it opens, claims 164 frames, decodes about 77."""
    data = (shared_data / "videos" / "ucf101_style_mpeg4_mp3.avi").read_bytes()
    path = tmp_path_factory.mktemp("truncated") / "half.avi"
    path.write_bytes(data[: len(data) // 2])
    return path


def encode(path: Path, frames: np.ndarray, codec: str, gop: int = 10, b_frames: int = 2,
           pts: Optional[Sequence[int]] = None) -> Path:
    """Write RGB `frames` with PyAV as `codec` (mpeg4, libx264 or libvpx-vp9), a keyframe every
    `gop` frames and up to `b_frames` B-frames in a row, at 25 fps; `pts` sets the timestamps."""
    import av
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build cannot encode {codec}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"bframes": str(b_frames), "g": str(gop), "keyint_min": str(gop),
                              "sc_threshold": "0", "crf": "18"}
        else:
            stream.codec_context.max_b_frames = b_frames
            stream.codec_context.gop_size = gop
            stream.bit_rate = 2_000_000
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i if pts is None else pts[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def b_frame_videos(tmp_path_factory) -> Dict[Tuple[str, str], Path]:
    """``{(container, codec): path}``: a 40-frame 64x48 square moving right 1 px per frame, with
    a keyframe every 10 frames, as mpeg4 and H.264 with B-frames in AVI, MP4 and MKV, and as VP9
    in WebM (Something-Something v2's format)."""
    folder = tmp_path_factory.mktemp("b_frames")
    frames = moving_square(frames=40, step=1)
    return {(container, codec): encode(folder / f"{codec}.{container}", frames, codec)
            for container, codec in VIDEO_FORMATS}
