"""Video decoding behind one interface (PyAV by default, OpenCV as an alternative) and writing.

`Decoder.read(path, indices)` returns the frames at those indices as a uint8 tensor
``[N, H, W, 3]`` (RGB); frame i is the i-th frame a sequential decode gives. The PyAV decoder
decodes with threads and, when the frames asked for span a short part of the video, seeks to the
keyframe before the first one instead of decoding from the start. Indices past the frames the file really holds (a truncated file, a container that
over-reports its length) repeat the last decoded frame; `Frames.padded` says so.
`Decoder.read_resized` gives the frames already shrunk toward the short side a clip needs: the
PyAV decoder scales them in libswscale and, shrinking at least `REDUCED_DECODE_FACTOR` times,
decodes at reduced cost (a lower decoding resolution where the codec offers one, no deblocking
filter).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from stat import S_ISREG
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ZooError
from .transforms import short_side_shape

# Shrinking a video at least this many times, PyAV decodes it at reduced cost: FFmpeg's `lowres`
# (MPEG-1/2/4 Part 2, MJPEG and a few others decode at 1/2, 1/4 or 1/8 size, still this many
# times the short side asked for) and no deblocking filter (H.264, HEVC). Both change the pixels
# by a few levels out of 255 once shrunk (benchmarks/results/data_benchmark.md).
REDUCED_DECODE_FACTOR = 4
MAX_LOWRES = 3  # FFmpeg's largest lowres (1/8 size); a codec with a lower maximum clamps it


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


def _stat_file(path: Any) -> os.stat_result:
    """`path`'s stat (one system call); VideoDecodeError when it is missing or empty."""
    try:
        stat = os.stat(path)
    except OSError:
        stat = None
    if stat is None or not S_ISREG(stat.st_mode):
        raise VideoDecodeError(f"missing: {path} does not exist")
    if stat.st_size == 0:
        raise VideoDecodeError(f"empty: {path} is a zero-byte file")
    return stat


def _check_file(path: Any) -> Path:
    _stat_file(path)
    return Path(path)


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

    def read_resized(self, path: Any, indices: Sequence[int], short_side: int) -> Frames:
        """The frames at `indices`, shrunk toward a shorter side of `short_side` where the decoder
        can do it cheaply (never below it: the caller resizes exactly). The base class gives
        them at full size."""
        return self.read(path, indices)

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
        stat = _stat_file(path)
        return _probe(str(path), stat.st_size, stat.st_mtime_ns)

    def read(self, path: Any, indices: Sequence[int]) -> Frames:
        return self._read(path, indices, None)

    def read_resized(self, path: Any, indices: Sequence[int], short_side: int) -> Frames:
        """The frames at `indices` with their shorter side scaled to `short_side` (area
        averaging in libswscale; frames already that small are left as they are)."""
        return self._read(path, indices, short_side)

    def _read(self, path: Any, indices: Sequence[int], short_side: Optional[int]) -> Frames:
        path = _check_file(path)
        indices = [int(i) for i in indices]
        wanted = set(indices)
        decoded = None
        if self.seek and min(wanted) > 0:
            decoded = self._decode(path, wanted, self._seek_point(path, wanted), short_side)
        if decoded is None:
            decoded = self._decode(path, wanted, None, short_side)
        return _gather(decoded, indices, path)

    def _seek_point(self, path: Path, wanted: set) -> Optional[Tuple[int, int]]:
        """``(frame index, timestamp)`` of the last keyframe at or before the first wanted frame,
        when it is worth seeking to (past frame 0, the clip spanning less than `seek_fraction`)."""
        index = _packet_index(path)
        first, last = min(wanted), max(wanted)
        before = [point for point in index.seek_points if point[0] <= first]
        if before and before[-1][0] > 0 and last - first < self.seek_fraction * index.frames:
            return before[-1]
        return None

    def _decode(self, path: Path, wanted: set, seek_point: Optional[Tuple[int, int]],
                short_side: Optional[int]) -> Optional[Dict[int, np.ndarray]]:
        """``{index: frame}`` for the wanted indices that decode (and the last frame decoded, when
        the video ends first), stopping after the last wanted one; frames shrunk toward
        `short_side` when given. With `seek_point` it seeks there first, and returns None when
        the seek lands on a keyframe it cannot place."""
        import av
        last = max(wanted)
        decoded: Dict[int, np.ndarray] = {}
        with self._open(path) as container:
            stream = container.streams.video[0]
            if self.threads:
                stream.thread_type = "AUTO"
            to_array = _converter(stream.codec_context, short_side)
            keyframes = None
            if seek_point is not None:
                try:
                    container.seek(seek_point[1], stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    return None
                keyframes = _packet_index(path).keyframes
            final = None
            try:
                for index, frame in _numbered(container, stream, keyframes, min(wanted)):
                    if index in wanted:
                        decoded[index] = to_array(frame)
                    if index >= last:
                        return decoded
                    final = (index, frame)
            except _Unplaced:
                return None
            except (av.error.FFmpegError, EOFError):
                pass  # truncated or damaged past this point: keep what was decoded
            if seek_point is not None and final is None:
                return None  # no frame placed after the seek
            if final is not None and final[0] not in decoded:  # the video ended early
                decoded[final[0]] = to_array(final[1])
        return decoded


def reduced_decode_options(width: int, height: int, short_side: int) -> Dict[str, str]:
    """FFmpeg decoder options for a `width` x `height` video whose frames are shrunk to a
    shorter side of `short_side`: none below a `REDUCED_DECODE_FACTOR` times shrink; from it on
    no deblocking filter and, for the codecs that offer it, the largest `lowres` (1/2, 1/4 or
    1/8 size) that keeps `REDUCED_DECODE_FACTOR` times the short side."""
    native = min(width, height)
    if native < REDUCED_DECODE_FACTOR * short_side:
        return {}
    lowres = 0
    while lowres < MAX_LOWRES and native >> (lowres + 1) >= REDUCED_DECODE_FACTOR * short_side:
        lowres += 1
    return {"skip_loop_filter": "all", **({"lowres": str(lowres)} if lowres else {})}


def _converter(codec_context, short_side: Optional[int]) -> Callable[[Any], np.ndarray]:
    """``frame -> [H, W, 3]`` uint8 RGB, shrunk to a shorter side of `short_side` when that is
    smaller than the video's; it also sets the (not yet opened) decoder's
    `reduced_decode_options`."""
    if short_side is None or not 0 < short_side < min(codec_context.width, codec_context.height):
        return lambda frame: frame.to_ndarray(format="rgb24")
    codec_context.options = reduced_decode_options(codec_context.width, codec_context.height,
                                                   short_side)
    # the size from the video's, not the (perhaps lowres, rounded) frame's
    height, width = short_side_shape(codec_context.height, codec_context.width, short_side)

    def to_array(frame) -> np.ndarray:
        return frame.reformat(width, height, "rgb24", interpolation="AREA").to_ndarray()

    return to_array


_Key = Tuple[Optional[int], Optional[int]]  # a packet's timestamp and byte position


class _Unplaced(Exception):
    """A seek landed on a keyframe whose frame index is unknown or past the first wanted frame."""


def _numbered(container, stream, keyframes: Optional[Dict[_Key, int]], first_wanted: int
              ) -> Iterator[Tuple[int, Any]]:
    """``(index, frame)`` in presentation order, where index is the frame's position in a full
    sequential decode. Without `keyframes` decoding starts at the beginning and frames are counted.
    After a seek, packets are skipped up to the first keyframe, whose index `keyframes` (by
    `_packet_key`) must give; frames the decoder returns before it (the leading B-frames of an
    open GOP) are dropped, and the frames from it on are counted. Timestamps of decoded frames
    are never used: AVI files, for one, give them out of order."""
    index: Optional[int] = -1
    landed = None
    for packet in container.demux(stream):
        if landed is None and keyframes is not None:
            if not (packet.size and packet.is_keyframe):
                continue  # the seek landed before a keyframe: nothing to decode yet
            landed = keyframes.get(_packet_key(packet))
            if landed is None or landed > first_wanted:
                raise _Unplaced
            index = None
        for frame in packet.decode():
            if index is None:
                if not frame.key_frame:
                    continue
                index = landed - 1
            index += 1
            yield index, frame


def _packet_key(packet) -> _Key:
    """A keyframe packet's identity across a seek: its timestamp and byte position."""
    return _stamp(packet), packet.pos


def _stamp(packet) -> Optional[int]:
    return packet.pts if packet.pts is not None else packet.dts


@dataclass(frozen=True)
class _PacketIndex:
    """What a scan of a video stream's packets (no decoding) tells: how many frames it holds, the
    frame index of each keyframe, and where to seek to reach each one."""

    frames: int
    keyframes: Dict[_Key, int]  # frame index by `_packet_key`
    seek_points: Tuple[Tuple[int, int], ...]  # (frame index, seek timestamp), by index


def _packet_index(path: Path) -> _PacketIndex:
    stat = path.stat()
    return _scan_packets(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1024)
def _scan_packets(path: str, size: int, mtime_ns: int) -> _PacketIndex:
    """A keyframe's index is the rank of its presentation timestamp among all the packets' (which
    also places open-GOP keyframes, shown after B-frames decoded later); the index is cached per
    file version (`size`, `mtime_ns`). Without usable timestamps there is nothing to seek to."""
    import av
    stamps, keys = [], []
    with PyAVDecoder._open(Path(path)) as container:
        try:
            for packet in container.demux(container.streams.video[0]):
                if not packet.size or packet.is_discard:
                    continue
                stamps.append(_stamp(packet))
                if packet.is_keyframe:
                    keys.append((_packet_key(packet),
                                 packet.dts if packet.dts is not None else stamps[-1]))
        except (av.error.FFmpegError, EOFError):
            pass  # truncated: the packets before the damage
    if None in stamps or len(set(stamps)) < len(stamps):
        return _PacketIndex(len(stamps), {}, ())
    rank = {stamp: i for i, stamp in enumerate(sorted(stamps))}
    keyframes = {key: rank[key[0]] for key, _ in keys}
    return _PacketIndex(len(stamps), keyframes, tuple(sorted((keyframes[k], t) for k, t in keys)))


@functools.lru_cache(maxsize=4096)
def _probe(path: str, size: int, mtime_ns: int) -> VideoInfo:
    """`PyAVDecoder.probe`, cached per file version (`size`, `mtime_ns`): opening a container
    costs more than reading a clip's cached frames."""
    with PyAVDecoder._open(Path(path)) as container:
        stream = container.streams.video[0]
        fps = PyAVDecoder._fps(stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        n = stream.frames  # from the header; 0 where the container does not say (MKV, WebM)
    if n <= 0:
        n = _packet_index(Path(path)).frames
    if n <= 0:
        raise VideoDecodeError(f"empty: {path} holds no video frames")
    return VideoInfo(n, fps, width, height)


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
                quality: int = 18, bit_rate: Optional[int] = None) -> Path:
    """Write RGB frames ``[T, H, W, 3]`` uint8 (a tensor, an array, or an iterable of ``[H, W, 3]``
    arrays of one size, encoded as they come) as a video file.

    Uses libx264 (CRF `quality`) where available, otherwise MPEG-4 Part 2 (and any other codec)
    at `bit_rate` bits/s (default: high enough to look lossless).
    Odd heights or widths (which yuv420p cannot hold) are padded by one row or column repeating
    the edge.
    """
    import av
    if isinstance(frames_uint8_THWC, (torch.Tensor, np.ndarray)):
        frames = np.asarray(frames_uint8_THWC.numpy() if isinstance(frames_uint8_THWC, torch.Tensor)
                            else frames_uint8_THWC)
        if frames.ndim != 4 or not len(frames):
            raise ValueError(f"write_video wants uint8 frames [T, H, W, 3], got {frames.dtype} "
                             f"{tuple(frames.shape)}")
    else:
        frames = frames_uint8_THWC
    codec = codec or available_encoder()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"write_video wants uint8 frames [T, H, W, 3], got {frame.dtype} "
                                 f"frames {tuple(frame.shape)}")
            h, w, _ = frame.shape
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            if stream is None:
                stream = _video_stream(container, codec, fps, frame.shape[1], frame.shape[0],
                                       quality, bit_rate)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("write_video got no frame to write")
        for packet in stream.encode():
            container.mux(packet)
    return path


def _video_stream(container, codec: str, fps: float, width: int, height: int, quality: int,
                  bit_rate: Optional[int]):
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"crf": str(quality), "preset": "veryfast"}
    else:
        stream.bit_rate = bit_rate or 200 * width * height  # by default high enough to look lossless
    return stream
