"""Generic layouts: a folder per class, and a CSV of ``path,label``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...registry import register_dataset
from ...specs import InputSpec
from ..annotations import class_index, parse_csv, resolve_classes
from ..dataset import VIDEO_EXTENSIONS, VideoRecord
from .common import (counts_annotation_errors, drop_unknown_labels, find_file, make_dataset,
                     need_root)


@dataclass(frozen=True)
class PathLabel:
    path: str
    label: str


def _parse_row(row: Dict[str, str]) -> PathLabel:
    if not row["path"]:
        raise ValueError("empty path")
    if not row["label"]:
        raise ValueError("empty label")
    return PathLabel(row["path"], row["label"])


def parse_path_label_csv(path: Any, strict: bool = False) -> List[PathLabel]:
    """Rows of a ``path,label`` CSV (with that header; labels are class names or indices)."""
    return parse_csv(path, _parse_row, ("path", "label"), strict)


@register_dataset("video_folder", needs_root=True, multi_label=False)
def video_folder(root: Any = None, split: str = "train",
                 inputs: Optional[Dict[str, InputSpec]] = None, *, classes: Any = None,
                 **options: Any):
    """Videos in ``root/<class>/`` (or ``root/<split>/<class>/`` when that folder exists);
    classes are the sorted folder names unless given."""
    root = need_root(root, "video_folder")
    base = root / split if (root / split).is_dir() else root
    folders = sorted(p.name for p in base.iterdir() if p.is_dir())
    classes = resolve_classes(classes, folders)
    index_of = class_index(classes)
    found = [(str(p), VideoRecord("", index_of[name], p.stem))
             for name in folders if name in index_of
             for p in sorted((base / name).iterdir()) if p.suffix.lower() in VIDEO_EXTENSIONS]
    return make_dataset(found, classes, inputs, split, base, **options)


@register_dataset("video_csv", needs_root=True, multi_label=False)
@counts_annotation_errors
def video_csv(root: Any = None, split: str = "train",
              inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
              classes: Any = None, strict: bool = False, **options: Any):
    """Videos listed in ``{split}.csv`` (``path,label``; paths relative to `root`); labels are
    class names (classes: the sorted names unless given) or, when every label is an integer
    and no classes are given, class indices."""
    root = need_root(root, "video_csv")
    csv_file = find_file(annotations, root, [f"{split}.csv"], "annotation")
    rows = parse_path_label_csv(csv_file, strict)
    if classes is None and rows and all(r.label.isdigit() for r in rows):
        classes = [str(i) for i in range(max(int(r.label) for r in rows) + 1)]
    classes = resolve_classes(classes, (r.label for r in rows))
    index_of = class_index(classes)
    rows = drop_unknown_labels(rows, lambda r: r.label, classes, csv_file)
    found = []
    for r in rows:
        path = Path(r.path) if Path(r.path).is_absolute() else root / r.path
        found.append((str(path) if path.is_file() else None,
                      VideoRecord("", index_of[r.label], path.stem)))
    return make_dataset(found, classes, inputs, split, root, **options)
