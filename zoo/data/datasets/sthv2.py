"""Something-Something v2 (Goyal et al. 2017): 174 templates of hand-object interactions.

``labels.json`` maps a template without brackets to its class id as a string; the split files
are JSON lists of ``{"id", "label", "template", "placeholders"}`` (test: ``{"id"}`` only); the
class is the template with ``[`` and ``]`` removed. Videos are ``<id>.webm``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import AnnotationError, expect, parse_entries, read_json
from ..dataset import VideoIndex, VideoRecord
from .common import (SPLIT_NAMES, counts_annotation_errors, find_file, find_folder, locate,
                     make_dataset, need_root, split_names, unlabelled_training_split)


@dataclass(frozen=True)
class SthV2Entry:
    video_id: str
    label: int  # -1 for the test split


def template_class(template: str) -> str:
    """'Putting [something] on [something]' -> 'Putting something on something'."""
    return template.replace("[", "").replace("]", "")


def read_sthv2_labels(path: Any) -> Dict[str, int]:
    """Template (no brackets) -> class index, from ``labels.json``."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, 1, "labels JSON should map templates to class ids")

    def parse(item):
        template, value = item
        return template, int(expect(value, str, f"class id of {template!r}"))
    return dict(parse_entries(path, ((f"[{k!r}]", (k, v)) for k, v in data.items()),
                              parse, strict=True))


def parse_sthv2_annotations(path: Any, labels: Dict[str, int],
                            strict: bool = False) -> List[SthV2Entry]:
    """The entries of a train / validation / test JSON file. In a file whose entries give
    templates (labelled), an entry without one is a bad entry; a file of ids only (the test
    file) gives label -1."""
    data = read_json(path)
    if not isinstance(data, list):
        raise AnnotationError(path, 1, "expected a JSON list of videos")
    labelled = any(isinstance(e, dict) and "template" in e for e in data)

    def parse(entry: Any) -> SthV2Entry:
        video_id = expect(entry, dict, "entry")["id"]
        if isinstance(video_id, bool) or not isinstance(video_id, (str, int)) \
                or not str(video_id).strip():
            raise ValueError(f"bad id {video_id!r}")
        video_id = str(video_id).strip()
        if not labelled:
            return SthV2Entry(video_id, -1)
        if "template" not in entry:
            raise ValueError(f"no template for video {video_id!r} (the other entries have "
                             f"one); add its \"template\" or remove the entry")
        name = template_class(expect(entry["template"], str, "template"))
        if name not in labels:
            raise ValueError(f"template {name!r} is not in the labels file")
        return SthV2Entry(video_id, labels[name])
    return parse_entries(path, ((f"[{i}]", e) for i, e in enumerate(data)), parse, strict)


@register_dataset("sthv2", needs_root=True, multi_label=False, meta=ModelMeta(
    paper='The "something something" video database for learning and evaluating visual common '
          'sense', year=2017, url="https://arxiv.org/abs/1706.04261"))
@counts_annotation_errors
def sthv2(root: Any = None, split: str = "train", inputs: Optional[Dict[str, InputSpec]] = None,
          *, annotations: Any = None, labels: Any = None, videos: Any = None,
          strict: bool = False, **options: Any):
    """Something-Something v2 from `root` (``labels/*-labels.json``, ``labels/*-{split}.json``,
    videos in ``20bn-something-something-v2/``, ``videos/`` or `root`). The test file (ids only)
    loads unlabelled (labels -1, ``labelled`` False)."""
    root = need_root(root, "sthv2")
    label_file = find_file(labels, root, ["labels/*labels.json", "*labels.json"], "labels")
    label_ids = read_sthv2_labels(label_file)
    classes = [name for name, _ in sorted(label_ids.items(), key=lambda kv: kv[1])]
    names = split_names(split)
    split_file = find_file(annotations, root, [f"{d}*{n}.json" for n in names
                                               for d in ("labels/", "")], "annotation")
    entries = parse_sthv2_annotations(split_file, label_ids, strict)
    labelled = not entries or any(e.label >= 0 for e in entries)
    if not labelled and split in SPLIT_NAMES["train"]:
        raise unlabelled_training_split(split_file, "no entry has a \"template\"")
    folder = find_folder(videos, root, ("20bn-something-something-v2", "videos"))
    index = VideoIndex(folder)
    found = locate(index, (([e.video_id], VideoRecord("", e.label, e.video_id)) for e in entries))
    return make_dataset(found, classes, inputs, split, folder, labelled=labelled, **options)
