"""ActivityNet v1.3 (Caba Heilbron et al. 2015): 200 activity classes in untrimmed videos,
used here as trimmed clips (one per annotated segment).

Official JSON: ``{"version", "taxonomy", "database": {"<ytid>": {"duration", "subset",
"resolution", "url", "annotations": [{"segment": [start, end], "label"}]}}}``; the bare database
dict with ``v_``-prefixed keys is accepted too. Videos ``v_<ytid>.mp4`` or ``<ytid>.mp4``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import (AnnotationError, class_index, expect, parse_entries, read_json,
                           resolve_classes)
from ..dataset import VideoIndex, VideoRecord
from .common import (SPLIT_NAMES, check_label, counts_annotation_errors, find_file,
                     find_folder, locate, make_dataset, need_root, split_names,
                     unlabelled_training_split)


@dataclass(frozen=True)
class ActivityNetSegment:
    video_id: str  # YouTube id, without the "v_" prefix
    subset: str
    duration: float
    start: float
    end: float
    label: str


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} should be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Video:
    key: str
    video_id: str
    subset: str
    duration: float
    annotations: List[Any]


def _parse_video(item: Tuple[str, Any]) -> _Video:
    key, entry = item
    video_id = key[2:] if key.startswith("v_") else key
    if not video_id.strip():
        raise ValueError("empty video id")
    entry = expect(entry, dict, "video entry")
    duration = _number(entry.get("duration", 0.0), "duration")
    annotations = expect(entry.get("annotations", []), list, "annotations")
    return _Video(key, video_id, str(entry.get("subset", "")), duration, annotations)


def _parse_segment(item: Tuple[_Video, Any]) -> ActivityNetSegment:
    video, annotation = item
    annotation = expect(annotation, dict, "annotation")
    if "segment" not in annotation:
        raise ValueError('the annotation has no "segment"; give each one {"segment": [start, '
                         'end], "label": "<class name>"}')
    segment = expect(annotation["segment"], list, "segment")
    if len(segment) != 2:
        raise ValueError(f"segment should be [start, end], got {segment!r}")
    start, end = (_number(v, "segment bound") for v in segment)
    if end < start or start < 0:
        raise ValueError(f"segment {segment!r} should have 0 <= start <= end (seconds)")
    if "label" not in annotation:
        raise ValueError('the annotation has no "label"; give each one {"segment": [start, '
                         'end], "label": "<class name>"}')
    label = expect(annotation["label"], str, "label")
    return ActivityNetSegment(video.video_id, video.subset, video.duration, start, end, label)


def _parse_videos(path: Any, strict: bool = False) -> List[_Video]:
    """The video entries of an ActivityNet JSON file (a bad one reported at ``[key]``)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, 1, "expected a JSON object")
    database = data.get("database", data) if "version" in data or "database" in data else data
    if not isinstance(database, dict):
        raise AnnotationError(path, 1, '"database" should be an object')
    return parse_entries(path, ((f"[{k!r}]", (k, v)) for k, v in database.items()),
                         _parse_video, strict)


def _parse_segments(path: Any, videos: List[_Video], strict: bool = False,
                    known: Optional[Dict[str, int]] = None,
                    source: str = "") -> List[ActivityNetSegment]:
    def parse(item: Tuple[_Video, Any]) -> ActivityNetSegment:
        segment = _parse_segment(item)
        check_label(segment.label, known, source)
        return segment
    return parse_entries(path, ((f'[{v.key!r}]["annotations"][{i}]', (v, a))
                                for v in videos for i, a in enumerate(v.annotations)),
                         parse, strict)


def parse_activitynet(path: Any, strict: bool = False) -> List[ActivityNetSegment]:
    """Every annotated segment of an ActivityNet JSON file (official or bare database). A bad
    video entry is reported at ``[key]``, a bad segment at ``[key]["annotations"][i]`` (the
    video's other segments are kept)."""
    return _parse_segments(path, _parse_videos(path, strict), strict)


@register_dataset("activitynet", needs_root=True, multi_label=False, meta=ModelMeta(
    paper="ActivityNet: A Large-Scale Video Benchmark for Human Activity Understanding",
    year=2015, url="http://activity-net.org/"))
@counts_annotation_errors
def activitynet(root: Any = None, split: str = "train",
                inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
                videos: Any = None, classes: Any = None, strict: bool = False, **options: Any):
    """ActivityNet trimmed clips of one subset from `root` (``activity_net.v1-3.min.json`` or
    any ``*.json``; videos in ``videos/`` or `root`); `classes` is a list or label-map file
    (default: the sorted labels of the whole file, the same for every subset; a label not
    among given classes is a bad entry). A subset without annotations (the official testing
    one) gives its whole videos, unlabelled (labels -1, ``labelled`` False)."""
    root = need_root(root, "activitynet")
    json_file = find_file(annotations, root, ["activity_net.v1-3*.json", "*.json"], "annotation")
    videos_ = _parse_videos(json_file, strict)
    source = f"the label map {classes}" if isinstance(classes, (str, Path)) else "the classes given"
    classes = None if classes is None else resolve_classes(classes, ())
    segments = _parse_segments(json_file, videos_, strict,
                               class_index(classes) if classes is not None else None, source)
    if classes is None:
        classes = sorted({s.label for s in segments})
    index_of = class_index(classes)
    subsets = split_names(split)
    records = [([f"v_{s.video_id}", s.video_id],
                VideoRecord("", index_of[s.label], s.video_id, s.start, s.end))
               for s in segments if s.subset in subsets]
    # The official testing subset has no annotations: its whole videos, unlabelled.
    unlabelled = [v for v in videos_ if v.subset in subsets and not v.annotations]
    labelled = bool(records) or not unlabelled
    if not labelled:
        if split in SPLIT_NAMES["train"]:
            raise unlabelled_training_split(json_file, f"no video of the subset(s) {subsets} "
                                                       f"has annotations")
        records = [([f"v_{v.video_id}", v.video_id], VideoRecord("", -1, v.video_id))
                   for v in unlabelled]
    folder = find_folder(videos, root, ("videos",))
    found = locate(VideoIndex(folder), records)
    return make_dataset(found, classes, inputs, split, folder, labelled=labelled, **options)
