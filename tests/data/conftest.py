"""Fixtures shared by the data tests: small real video files and the shared sample data."""
from pathlib import Path

import numpy as np
import pytest

from zoo.data.video import write_video

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
