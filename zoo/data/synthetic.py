"""The built-in dataset "moving_shapes": small synthetic clips where temporal order matters.

Each clip shows one coloured object over a textured, noisy background with a small distractor
dot. Classes come in two groups:

* ``appearance``: the object's shape and hue (red circle, green square, blue triangle, yellow
  cross) tell the class; the object stands still. (It used to drift in a random direction: the
  3D networks, busy with the motion classes, then left one appearance class unlearned in about
  one run in two, e.g. R3D-18 0.90 top-1 with green squares at 0, against 0.995 standing still.
  The cross was golden yellow (hue 0.15) with arms 0.6 of the radius wide: the class most
  often left unlearned then (I3D and X3D-L seed 0 took it for red circles, C3D seed 1 for
  green squares). It is yellow now, as far from red as from green in hue, with arms 0.8 of
  the radius wide (the square's area). That did not end such failures: in the next seed-1
  run C3D took red circles for blue triangles, whose features had become the same (their
  luminance was: 0.30 and 0.28 of white, with blue at hue 0.62). The networks' early features
  are the luminance edges the white motion object teaches, so the four colours now differ in
  luminance too (`APPEARANCE_SATURATION`, blue at hue 2/3): C3D seeds 1-4 fitted at steps
  457-518, where seed 1 had ended on time with red circles unlearned.)
* ``motion``: always the same white "L"-shaped object; the class is the direction it moves in,
  one of eight compass directions (right / left, down / up and the two diagonals' ways). The
  second class of each pair is the first one played backwards, and every random phase (position
  on a wrap-around canvas, size, orientation) is uniform, so every single frame has the same
  distribution in all eight motion classes: a single-frame model is at chance on them, and one
  that pools frames without order cannot tell the two classes of a pair apart. (Scale and
  rotation classes were dropped: the papers' networks at the benchmark's 1/8 width and 32x32
  input did not learn them in minutes on a CPU, so they measured the budget, not the model.)

Clips are generated deterministically from ``(seed, split, index)``, nothing is downloaded;
the tensors of a split are generated once per resolution and kept in memory. A split can also be
played backwards or with its frames shuffled (`time_order`): the benchmark's arrow-of-time and
shuffled-frames measurements read those. Played backwards, a clip's optical flow is the forward
clip's in reverse order with the displacements negated; shuffled, it is computed on the shuffled
video. Optical flow is computed from the native-resolution frames with OpenCV's DIS
(zoo.data.flow) and quantised the two-stream way (clipped to [-20, 20] px, mapped to 0..255 with 128 = no motion, read as x / 255).
RGB differences are mapped to [0, 1] as in zoo.data.flow.rgb_difference. Clips are never
flipped: a mirrored "moving right" clip is a "moving left" one.
"""
from __future__ import annotations

import colorsys
import csv
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import register_dataset
from ..specs import InputSpec, ModelMeta
from .flow import FLOW_BOUND, make_flow_fn, quantize_flow, rgb_difference, to_gray
from .sampling import uniform_indices
from .transforms import normalize

# Appearance classes: a shape in its own hue (hue as a fraction of the colour wheel).
APPEARANCE_CLASSES = {"red_circle": 0.0, "green_square": 0.33, "blue_triangle": 2 / 3,
                      "yellow_cross": 1 / 6}
# (forward class, its time reversal, heading of the forward class in degrees, clockwise from
# the +x axis on screen: y grows downwards)
MOTION_PAIRS = (
    ("moving_right", "moving_left", 0),
    ("moving_down", "moving_up", 90),
    ("moving_down_right", "moving_up_left", 45),
    ("moving_up_right", "moving_down_left", -45),
)
# class -> (heading of its pair's forward class in radians, played backwards)
_MOTIONS = {name: (np.radians(heading), name == backward)
            for forward, backward, heading in MOTION_PAIRS for name in (forward, backward)}
CLASSES: List[str] = list(APPEARANCE_CLASSES) + [c for pair in MOTION_PAIRS for c in pair[:2]]
CLASS_GROUPS: Dict[str, List[int]] = {
    "appearance": [CLASSES.index(c) for c in APPEARANCE_CLASSES],
    "motion": [CLASSES.index(c) for pair in MOTION_PAIRS for c in pair[:2]],
}
SPLITS = ("train", "val", "test")
TIME_ORDERS = ("forward", "reversed", "shuffled")
GROUP_DESCRIPTIONS = {
    "appearance": "classes told apart by the object's shape and colour",
    "motion": "classes told apart only by the direction of motion (a single-frame "
              "model is at chance there, 1/8)",
}
# each motion class and the class its time reversal belongs to
REVERSED_CLASS: Dict[int, int] = {CLASSES.index(a): CLASSES.index(b) for pair in MOTION_PAIRS
                                  for a, b in (pair[:2], pair[1::-1])}
DEFAULT_CLIPS_PER_CLASS = {"train": 64, "val": 16, "test": 16}
NATIVE_FRAMES, NATIVE_SIZE = 16, 64

# Object size (radius, native pixels) and speed (native pixels per native frame).
MIN_RADIUS, RADIUS_RANGE = 8.0, 10.0
SPEED = (3.0, 5.0)  # fast enough to show after the networks' first 4x downsampling at 32x32
NOISE_STD = 0.02
MOTION_COLOUR = (0.85, 1.0)  # the motion classes' object is white, of a random brightness
# the appearance classes' saturation: with their hues, the four luminances do not overlap (blue
# 0.10-0.20, red 0.25-0.37, green 0.50-0.63, yellow 0.75-0.90 of white)
APPEARANCE_SATURATION = (0.9, 1.0)


def _circle(u, v):
    return u * u + v * v <= 1.0


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u, v):
    inside = np.ones_like(u, dtype=bool)
    for angle in (np.pi / 2, np.pi * 7 / 6, np.pi * 11 / 6):  # outward edge normals
        inside &= u * np.cos(angle) + v * np.sin(angle) <= 0.6
    return inside


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.4) & (av <= 1.0)) | ((av <= 0.4) & (au <= 1.0))


def _l_shape(u, v):
    """The motion classes' object: one shape for all of them, in a random orientation."""
    return (((u >= -0.9) & (u <= -0.3) & (np.abs(v) <= 0.9))
            | ((v >= 0.3) & (v <= 0.9) & (np.abs(u) <= 0.9)))


SHAPES: Dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "red_circle": _circle, "green_square": _square, "blue_triangle": _triangle,
    "yellow_cross": _cross,
}


def _torus_offsets(centres: np.ndarray, size: int) -> np.ndarray:
    """Signed offsets ``[T, size]`` of each pixel centre from `centres` ``[T]`` on a
    wrap-around axis, so objects leaving one edge re-enter at the other."""
    pixels = np.arange(size) + 0.5
    return (pixels[None, :] - centres[:, None] + size / 2) % size - size / 2


def _mask(shape_fn, cx, cy, radius, angle, size: int) -> np.ndarray:
    """Where the object covers the canvas, ``[T, size, size]`` bool, for per-frame centre,
    radius and orientation arrays ``[T]`` (orientation increasing = clockwise on screen)."""
    dx = _torus_offsets(cx, size)[:, None, :]
    dy = _torus_offsets(cy, size)[:, :, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    r = radius[:, None, None]
    return shape_fn((cos * dx + sin * dy) / r, (cos * dy - sin * dx) / r)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour texture ``[size, size, 3]`` around a random grey."""
    coarse = rng.uniform(0.3, 0.6) + rng.uniform(-0.06, 0.06, size=(1, 3, 4, 4))
    smooth = F.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bicubic",
                           align_corners=False)
    return smooth[0].permute(1, 2, 0).numpy()


def render_clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of class `label` as uint8 RGB ``[NATIVE_FRAMES, NATIVE_SIZE, NATIVE_SIZE, 3]``.

    The random draws do not depend on the class within a motion pair: the same `rng` state gives
    the reversed class exactly the time-reversed clip.
    """
    name, frames, size = CLASSES[label], NATIVE_FRAMES, NATIVE_SIZE
    t = np.arange(frames, dtype=np.float64)
    const = np.ones_like(t)
    cx, cy = rng.uniform(0, size, 2)
    radius = MIN_RADIUS + rng.uniform(0, RADIUS_RANGE)
    angle = rng.uniform(0, 2 * np.pi)
    speed, heading = rng.uniform(*SPEED), rng.uniform(0, 2 * np.pi)
    saturation, brightness = rng.uniform(*APPEARANCE_SATURATION), rng.uniform(*MOTION_COLOUR)

    reverse = False  # appearance classes: standing still, never played backwards
    if name in SHAPES:
        shape_fn = SHAPES[name]
        colour = np.array(colorsys.hsv_to_rgb(APPEARANCE_CLASSES[name], saturation, brightness))
        speed = 0.0
    else:
        shape_fn, colour = _l_shape, np.full(3, brightness)
        heading, reverse = _MOTIONS[name]
    xs, ys = cx + speed * np.cos(heading) * t, cy + speed * np.sin(heading) * t

    dot_x, dot_y = rng.uniform(0, size, 2)
    dot_speed, dot_heading = rng.uniform(0, 2), rng.uniform(0, 2 * np.pi)
    dot = _mask(_circle, dot_x + dot_speed * np.cos(dot_heading) * t,
                dot_y + dot_speed * np.sin(dot_heading) * t, 2.5 * const, 0 * const, size)
    dot_colour = np.full(3, rng.uniform(0.05, 0.5))

    clip = np.repeat(_background(rng, size)[None], frames, axis=0)
    clip[dot] = dot_colour
    clip[_mask(shape_fn, xs, ys, radius * const, angle * const, size)] = colour
    clip += rng.normal(0, NOISE_STD, clip.shape)
    clip = (np.clip(clip, 0, 1) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(clip[::-1]) if reverse else clip


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that draws clip `index` of `split`."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _render_split(split: str, indices: Sequence[int], seed: int, time_orders: Sequence[str]):
    """Clips `indices` of the split, each rendered once and played forward, backwards and, when
    `time_orders` has it, shuffled (one seeded permutation per clip): ``{order: clip}`` per
    clip."""
    for index in indices:
        rng = clip_rng(seed, split, index)
        clip = render_clip(index % len(CLASSES), rng)
        played = {"forward": clip, "reversed": np.ascontiguousarray(clip[::-1])}
        if "shuffled" in time_orders:
            played["shuffled"] = clip[rng.permutation(len(clip))]
        yield played


def _resize(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[..., H, W]`` float frames to `size` x `size` (area when shrinking)."""
    if frames.shape[-1] == size:
        return frames
    lead = frames.shape[:-2]
    flat = frames.reshape(-1, 1, *frames.shape[-2:])
    mode = "area" if size < frames.shape[-1] else "bilinear"
    out = F.interpolate(flat, size=(size, size), mode=mode,
                        **({} if mode == "area" else {"align_corners": False}))
    return out.reshape(*lead, size, size)


def _rgb_frames(clip: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 ``[3, NATIVE_FRAMES, r, r]``: every frame of a native clip at resolution r."""
    frames = torch.from_numpy(clip).permute(3, 0, 1, 2).float()
    return _resize(frames, resolution).round().clamp(0, 255).to(torch.uint8)


def _flow_fields(clip: np.ndarray) -> np.ndarray:
    """DIS flow ``[T - 1, H, W, 2]`` (pixels) between consecutive frames of uint8 ``[T, H, W, 3]``."""
    flow_fn = make_flow_fn("dis")
    grey = [to_gray(frame) for frame in clip]
    return np.stack([flow_fn(a, b) for a, b in zip(grey[:-1], grey[1:])])


def _played_flow(played: Dict[str, np.ndarray], order: str,
                 fields: Dict[str, np.ndarray]) -> np.ndarray:
    """The flow fields of a clip played in `order`, kept in `fields` (one clip's): played
    backwards, the forward clip's in reverse order with the displacements negated."""
    if order not in fields:
        fields[order] = (-_played_flow(played, "forward", fields)[::-1] if order == "reversed"
                         else _flow_fields(played[order]))
    return fields[order]


def _flow_frames(flow_fields: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 ``[2, NATIVE_FRAMES - 1, r, r]``: a native clip's flow fields, quantised, resized
    with their vectors scaled to resolution r."""
    flow = torch.from_numpy(np.ascontiguousarray(flow_fields)).permute(3, 0, 1, 2)  # [2, T-1, H, W]
    flow = _resize(flow, resolution) * (resolution / NATIVE_SIZE)
    return torch.from_numpy(quantize_flow(flow.numpy(), FLOW_BOUND))


_CACHE_SIZE = 16
# (split, count, seed, modality, resolution, time order) -> uint8 [count, C, T, r, r]
_cache: Dict[tuple, torch.Tensor] = {}


def _make_tensors(split: str, indices: Sequence[int], seed: int,
                  wanted: Sequence[tuple]) -> Dict[tuple, torch.Tensor]:
    """``{(modality, resolution, time order): uint8 [len(indices), C, T, r, r]}`` of clips
    `indices` of the split, each clip rendered once whatever the orders and modalities."""
    orders = list(dict.fromkeys(order for _, _, order in wanted))
    made: Dict[tuple, List[torch.Tensor]] = {w: [] for w in wanted}
    for played in _render_split(split, indices, seed, orders):
        fields: Dict[str, np.ndarray] = {}
        for modality, resolution, order in wanted:
            made[modality, resolution, order].append(
                _flow_frames(_played_flow(played, order, fields), resolution)
                if modality == "flow" else _rgb_frames(played[order], resolution))
    return {w: torch.stack(tensors) for w, tensors in made.items()}


def _make_in_processes(split: str, count: int, seed: int, wanted: Sequence[tuple],
                       processes: int) -> Dict[tuple, torch.Tensor]:
    """`_make_tensors` of all `count` clips, in `processes` forked processes (one share of the
    clips each; rendering and DIS flow hold the GIL, so threads would not overlap)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    shares = [range(i, count, processes) for i in range(processes)]
    # one torch thread each: a forked child's OpenMP pool would wait for the parent's threads
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        parts = list(pool.map(_make_tensors, [split] * processes, shares, [seed] * processes,
                              [wanted] * processes))
    order = torch.argsort(torch.tensor([i for share in shares for i in share]))
    return {w: torch.cat([part[w] for part in parts])[order] for w in wanted}


def _split_tensors(split: str, count: int, seed: int, wanted: Sequence[tuple],
                   processes: int = 1) -> List[torch.Tensor]:
    """The split's tensors for each ``(modality, resolution, time order)`` of `wanted` ("rgb"
    or "flow"), from this process's cache; the missing ones are made in one pass that renders
    each clip once, whatever the orders and modalities (in `processes` forked processes where
    more than one and the platform forks). The oldest entries beyond `_CACHE_SIZE` are
    dropped."""
    import multiprocessing

    missing = [w for w in dict.fromkeys(wanted) if (split, count, seed, *w) not in _cache]
    if missing:
        processes = min(processes, count)
        made = (_make_in_processes(split, count, seed, missing, processes)
                if processes > 1 and "fork" in multiprocessing.get_all_start_methods()
                else _make_tensors(split, range(count), seed, missing))
        _cache.update({(split, count, seed, *w): tensors for w, tensors in made.items()})
    out = [_cache[(split, count, seed, *w)] for w in wanted]
    for key in list(_cache)[:max(0, len(_cache) - _CACHE_SIZE)]:
        del _cache[key]
    return out


def clear_cache() -> None:
    """Forget the generated tensors of every split."""
    _cache.clear()


class MovingShapes(torch.utils.data.Dataset):
    """The clips of one split, as ``{"inputs": {stream: [C, T, H, W]}, "label", "video"}``,
    played in `time_order` ("forward", "reversed" or "shuffled"; labels stay those of the
    forward clips). It offers what the benchmark reads of a dataset (zoo.data.BenchDataset)."""

    classes = CLASSES
    class_groups = CLASS_GROUPS
    group_descriptions = GROUP_DESCRIPTIONS
    reversed_class = REVERSED_CLASS
    multi_label = False
    health = None  # generated clips never fail to load
    # the InputSpec fields its clips depend on (frames are sampled uniformly: no frame stride)
    clip_fields = ("modality", "frames", "size", "mean", "std", "flow_stack")
    in_memory = True  # clips are generated once into tensors: DataLoader workers gain nothing

    def __init__(self, split: str = "train", inputs: Optional[Mapping[str, InputSpec]] = None,
                 clips_per_class: Optional[int] = None, seed: int = 0,
                 time_order: str = "forward"):
        if split not in SPLITS:
            raise ValueError(f"moving_shapes has splits {SPLITS}, not {split!r}")
        if time_order not in TIME_ORDERS:
            raise ValueError(f"moving_shapes plays clips in one of {TIME_ORDERS}, not "
                             f"{time_order!r}")
        self.split, self.seed, self.time_order = split, seed, time_order
        self.clips_per_class = clips_per_class
        self.inputs = dict(inputs or {"rgb": InputSpec(frames=NATIVE_FRAMES, size=NATIVE_SIZE)})
        per_class = DEFAULT_CLIPS_PER_CLASS[split] if clips_per_class is None else clips_per_class
        self.count = per_class * len(CLASSES)

    def __len__(self) -> int:
        return self.count

    def label(self, index: int) -> int:
        return index % len(CLASSES)

    def with_time_order(self, time_order: str) -> "MovingShapes":
        """The same clips played in `time_order`."""
        return MovingShapes(self.split, self.inputs, self.clips_per_class, self.seed, time_order)

    def prepare(self, time_orders: Sequence[str] = ("forward",), processes: int = 1) -> None:
        """Render every clip the inputs read (and compute its flow), played in each of
        `time_orders`, into this process's cache, each clip once (shared out among `processes`
        forked processes): processes forked afterwards share them."""
        _split_tensors(self.split, self.count, self.seed,
                       [self._key(spec, order) for order in time_orders
                        for spec in self.inputs.values()], processes)

    def _key(self, spec: InputSpec, time_order: str) -> tuple:
        return ("flow" if spec.modality == "flow" else "rgb", min(spec.size, NATIVE_SIZE),
                time_order)

    def _stream(self, spec: InputSpec, index: int) -> torch.Tensor:
        resolution = min(spec.size, NATIVE_SIZE)
        tensors, = _split_tensors(self.split, self.count, self.seed,
                                  [self._key(spec, self.time_order)])
        clip = tensors[index]  # uint8: the frames are picked before anything is converted
        if spec.modality == "flow":
            steps = uniform_indices(NATIVE_FRAMES - 1, spec.frames, span=spec.flow_stack)
            stacks = clip[:, steps].reshape(2, spec.frames, spec.flow_stack, resolution, resolution)
            clip = stacks.permute(2, 0, 1, 3, 4).reshape(spec.channels, spec.frames,
                                                         resolution, resolution)
        elif spec.modality == "rgb_diff":
            pairs = clip[:, uniform_indices(NATIVE_FRAMES, spec.frames, span=2)].float() / 255
            clip = rgb_difference(pairs[:, 0::2], pairs[:, 1::2])
        else:
            clip = clip[:, uniform_indices(NATIVE_FRAMES, spec.frames)]
        if spec.size != resolution:
            clip = _resize(clip.float() / 255 if clip.dtype == torch.uint8 else clip, spec.size)
        return normalize(clip, spec.mean, spec.std)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return {"inputs": {name: self._stream(spec, index) for name, spec in self.inputs.items()},
                "label": self.label(index), "video": f"moving_shapes/{self.split}/{index}"}


@register_dataset("moving_shapes", needs_root=False, meta=ModelMeta(
    summary="Synthetic moving shapes: appearance classes (shape and colour) and motion classes "
            "(eight directions of motion) that a single frame cannot tell apart.",
    tags=("synthetic", "built-in")))
def moving_shapes(root=None, split: str = "train", inputs: Optional[Mapping[str, InputSpec]] = None,
                  clips_per_class: Optional[int] = None, seed: int = 0,
                  time_order: str = "forward", **kw) -> MovingShapes:
    """The built-in synthetic dataset; `root` is unused (nothing is read or downloaded)."""
    if kw:
        raise TypeError(f"moving_shapes got unexpected arguments: {sorted(kw)}")
    return MovingShapes(split, inputs, clips_per_class, seed, time_order)


KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")


def write_videos(out_dir: Any, split: str = "test", clips_per_class: Optional[int] = None,
                 seed: int = 0, fps: float = 16.0) -> Path:
    """Write a split as video files in the Kinetics layout and return its CSV.

    Files go to ``out_dir/<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`` and the CSV
    ``out_dir/<split>.csv`` has the columns ``label,youtube_id,time_start,time_end,split``.
    """
    from .video import write_video

    out_dir = Path(out_dir)
    dataset = MovingShapes(split, clips_per_class=clips_per_class, seed=seed)
    time_end = max(1, int(round(NATIVE_FRAMES / fps)))
    csv_path = out_dir / f"{split}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(KINETICS_COLUMNS)
        for index in range(len(dataset)):
            label = CLASSES[dataset.label(index)]
            youtube_id = f"{split[:2]}{index:09d}"  # 11 characters, like a YouTube id
            clip = render_clip(dataset.label(index), clip_rng(seed, split, index))
            write_video(out_dir / split / label / f"{youtube_id}_{0:06d}_{time_end:06d}.mp4",
                        clip, fps=fps)
            writer.writerow([label, youtube_id, 0, time_end, split])
    return csv_path
