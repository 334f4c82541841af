"""Video decoding behind one interface (PyAV by default, OpenCV as an alternative) and writing.

`Decoder.read(path, indices)` returns the frames at those indices as a uint8 tensor
``[N, H, W, 3]`` (RGB). The PyAV decoder decodes with threads and, when the frames asked for span
a short part of the video, seeks to the keyframe before the first one instead of decoding from
the start. Indices past the frames the file really holds (a truncated file, a container that
over-reports its length) repeat the last decoded frame; `Frames.padded` says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from ..errors import ZooError


class VideoDecodeError(ZooError):
    """A video that cannot give frames: missing, empty, corrupt or without a video stream."""


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its video stream."""

    num_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0


@dataclass
class Frames:
    """Decoded frames ``[N, H, W, 3]`` uint8, one per requested index, in request order."""

    data: torch.Tensor
    padded: bool  # some indices were past the last decodable frame


def _check_file(path: Any) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"missing: {path} does not exist")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"empty: {path} is a zero-byte file")
    return path


def _gather(decoded: Dict[int, np.ndarray], indices: Sequence[int], path: Path) -> Frames:
    """Frames for `indices` from ``{index: frame}``; a missing index takes the closest earlier one."""
    if not decoded:
        raise VideoDecodeError(f"corrupt: no frame of {path} could be decoded")
    known = sorted(decoded)
    out, padded = [], False
    for i in indices:
        if i not in decoded:
            padded = True
            earlier = [k for k in known if k <= i]
            i = earlier[-1] if earlier else known[0]
        out.append(decoded[i])
    return Frames(torch.from_numpy(np.stack(out)), padded)


class Decoder:
    """Interface: `probe` a video, `read` frames at indices."""

    name = "base"

    def probe(self, path: Any) -> VideoInfo:
        raise NotImplementedError

    def read(self, path: Any, indices: Sequence[int]) -> Frames:
        raise NotImplementedError

    def read_all(self, path: Any) -> torch.Tensor:
        """Every frame ``[N, H, W, 3]`` uint8."""
        info = self.probe(path)
        return self.read(path, range(info.num_frames)).data


class PyAVDecoder(Decoder):
    """PyAV (FFmpeg) decoding; `threads` turns on FFmpeg's frame/slice threading, `seek` the
    keyframe seek when the clip covers less than `seek_fraction` of the video."""

    name = "pyav"

    def __init__(self, threads: bool = True, seek: bool = True, seek_fraction: float = 0.5):
        self.threads, self.seek, self.seek_fraction = threads, seek, seek_fraction

    @staticmethod
    def _open(path: Path):
        import av
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise VideoDecodeError(f"corrupt: cannot open {path}: {exc}") from None
        if not container.streams.video:
            container.close()
            raise VideoDecodeError(f"corrupt: {path} has no video stream")
        return container

    @staticmethod
    def _fps(stream) -> float:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return float(rate) if rate else 25.0

    def probe(self, path: Any) -> VideoInfo:
        path = _check_file(path)
        with self._open(path) as container:
            stream = container.streams.video[0]
            fps = self._fps(stream)
            n = stream.frames
            if n <= 0 and stream.duration and stream.time_base:
                n = int(round(float(stream.duration * stream.time_base) * fps))
            if n <= 0 and container.duration:
                n = int(round(container.duration / 1e6 * fps))
            if n <= 0:  # count the packets (no decoding)
                n = sum(1 for p in container.demux(stream) if p.size)
            if n <= 0:
                raise VideoDecodeError(f"empty: {path} holds no video frames")
            return VideoInfo(n, fps, stream.codec_context.width, stream.codec_context.height)

    def read(self, path: Any, indices: Sequence[int]) -> Frames:
        path = _check_file(path)
        indices = [int(i) for i in indices]
        wanted = set(indices)
        decoded = self._decode(path, wanted, seek=self.seek)
        if self.seek and (not decoded or min(decoded) > min(wanted)):
            decoded = self._decode(path, wanted, seek=False)  # a bad index: decode from the start
        return _gather(decoded, indices, path)

    def _decode(self, path: Path, wanted: set, seek: bool) -> Dict[int, np.ndarray]:
        """``{index: frame}`` for the wanted indices that decode, stopping after the last one."""
        import av
        first, last = min(wanted), max(wanted)
        decoded: Dict[int, np.ndarray] = {}
        with self._open(path) as container:
            stream = container.streams.video[0]
            if self.threads:
                stream.thread_type = "AUTO"
            fps, time_base = self._fps(stream), stream.time_base
            start = stream.start_time or 0
            total = stream.frames or 0
            if (seek and first > 0 and time_base is not None
                    and (total == 0 or last - first < self.seek_fraction * total)):
                try:
                    container.seek(start + int(first / fps / time_base), stream=stream,
                                   backward=True, any_frame=False)
                except av.error.FFmpegError:
                    pass  # an unseekable file: decode from the start
            count, final = 0, None
            try:
                for frame in container.decode(stream):
                    if frame.pts is not None and time_base is not None:
                        index = int(round(float((frame.pts - start) * time_base) * fps))
                    else:
                        index = count
                    count += 1
                    if index > last:
                        return decoded
                    if index in wanted:
                        decoded[index] = frame.to_ndarray(format="rgb24")
                    final = (index, frame)
            except (av.error.FFmpegError, EOFError):
                pass  # truncated or damaged past this point: keep what was decoded
            if final is not None and final[0] not in decoded:  # the video ended early
                decoded[final[0]] = final[1].to_ndarray(format="rgb24")
        return decoded


class OpenCVDecoder(Decoder):
    """OpenCV (``cv2.VideoCapture``) decoding, seeking with ``CAP_PROP_POS_FRAMES``."""

    name = "opencv"

    @staticmethod
    def _capture(path: Path):
        import cv2
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise VideoDecodeError(f"corrupt: OpenCV cannot open {path}")
        return capture

    def probe(self, path: Any) -> VideoInfo:
        import cv2
        path = _check_file(path)
        capture = self._capture(path)
        try:
            n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            if n <= 0:
                raise VideoDecodeError(f"empty: {path} holds no video frames")
            return VideoInfo(n, capture.get(cv2.CAP_PROP_FPS) or 25.0,
                             int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                             int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        finally:
            capture.release()

    def read(self, path: Any, indices: Sequence[int]) -> Frames:
        import cv2
        path = _check_file(path)
        indices = [int(i) for i in indices]
        wanted = sorted(set(indices))
        capture = self._capture(path)
        decoded: Dict[int, np.ndarray] = {}
        try:
            position = 0
            for index in wanted:
                if index != position:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, frame = capture.read()
                if not ok:
                    break
                decoded[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                position = index + 1
        finally:
            capture.release()
        return _gather(decoded, indices, path)


DECODERS = {"pyav": PyAVDecoder, "opencv": OpenCVDecoder}


def get_decoder(decoder: Any = "pyav") -> Decoder:
    """A `Decoder` from a name in `DECODERS` or an instance."""
    if isinstance(decoder, Decoder):
        return decoder
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {sorted(DECODERS)}")
    return DECODERS[decoder]()


def available_encoder() -> str:
    """The first of libx264 and mpeg4 that this FFmpeg build can encode with."""
    import av
    for codec in ("libx264", "mpeg4"):
        if codec in av.codecs_available:
            return codec
    raise VideoDecodeError("this FFmpeg build has neither libx264 nor mpeg4 to encode with")


def write_video(path: Any, frames_uint8_THWC: Any, fps: float = 25.0, codec: Optional[str] = None,
                quality: int = 18) -> Path:
    """Write RGB frames ``[T, H, W, 3]`` uint8 (tensor or array) as a video file.

    Uses libx264 (CRF `quality`) where available, otherwise MPEG-4 Part 2 at a high bit rate. Odd heights or widths
    (which yuv420p cannot hold) are padded by one row or column repeating the edge.
    """
    import av
    frames = np.asarray(frames_uint8_THWC.numpy() if isinstance(frames_uint8_THWC, torch.Tensor)
                        else frames_uint8_THWC)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"write_video wants uint8 frames [T, H, W, 3], got {frames.dtype} "
                         f"{tuple(frames.shape)}")
    t, h, w, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    codec = codec or available_encoder()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(quality), "preset": "veryfast"}
        else:
            stream.bit_rate = 200 * stream.width * stream.height  # high enough to look lossless
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
