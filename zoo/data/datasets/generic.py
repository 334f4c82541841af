"""Generic layouts: a folder per class, and a CSV of ``path,label``."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ...registry import register_dataset
from ...specs import InputSpec
from ..annotations import class_index, parse_csv, resolve_classes
from ..dataset import VIDEO_EXTENSIONS, VideoRecord
from .common import (check_label, counts_annotation_errors, find_file, make_dataset, need_root,
                     training_labels)


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


def parse_path_label_csv(path: Any, strict: bool = False,
                         known: Optional[Dict[str, int]] = None,
                         source: str = "") -> List[PathLabel]:
    """Rows of a ``path,label`` CSV (with that header; labels are class names or indices); with
    `known` classes (from `source`), a row whose label is not one of them is a bad entry."""
    def parse(row: Dict[str, str]) -> PathLabel:
        entry = _parse_row(row)
        check_label(entry.label, known, source)
        return entry
    return parse_csv(path, parse, ("path", "label"), strict)


def _label_classes(labels: Iterable[str]) -> List[str]:
    """The classes of `labels`: indices 0..max when every label is an integer, else the sorted
    names."""
    labels = set(labels)
    if labels and all(label.isdigit() for label in labels):
        return [str(i) for i in range(max(int(label) for label in labels) + 1)]
    return sorted(labels)


@register_dataset("video_folder", needs_root=True, multi_label=False)
def video_folder(root: Any = None, split: str = "train",
                 inputs: Optional[Dict[str, InputSpec]] = None, *, classes: Any = None,
                 **options: Any):
    """Videos in ``root/<class>/`` (or ``root/<split>/<class>/`` when that folder exists);
    classes are the sorted folder names (of ``root/train/`` for every split, when it exists)
    unless given. A class folder of another split not among them is left out, with a warning."""
    root = need_root(root, "video_folder")
    base = root / split if (root / split).is_dir() else root
    folders = sorted(p.name for p in base.iterdir() if p.is_dir())
    source = "the classes given"
    if classes is None and base != root and (root / "train").is_dir():
        classes = training_labels(split, lambda: (p.name for p in (root / "train").iterdir()
                                                  if p.is_dir()))
        source = f"the training split ({root / 'train'})"
    classes = resolve_classes(classes, folders)
    index_of = class_index(classes)
    unknown = [name for name in folders if name not in index_of]
    if unknown:
        warnings.warn(f"{base}: the class folder(s) {unknown[:5]} are not classes of {source}; "
                      f"their videos are left out (rename the folders or pass classes=)",
                      RuntimeWarning, stacklevel=2)
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
    class names or, when every label is an integer, class indices. Unless given, the classes
    are those of the root's ``train.csv`` for every split (else of the split's own file): the
    sorted names, or 0..the largest index; a label not among them is a bad entry."""
    root = need_root(root, "video_csv")
    csv_file = find_file(annotations, root, [f"{split}.csv"], "annotation")
    source = f"the label map {classes}" if isinstance(classes, (str, Path)) else "the classes given"
    if classes is None:
        train_file = root / "train.csv"
        labels = training_labels(split, lambda: (r.label for r in parse_path_label_csv(
            train_file))) if train_file.is_file() else None
        classes = _label_classes(labels) if labels else None
        source = f"the training split ({train_file})"
    else:
        classes = resolve_classes(classes, ())
    rows = parse_path_label_csv(csv_file, strict, class_index(classes) if classes else None,
                                source)
    if classes is None:
        classes = _label_classes(r.label for r in rows)
    index_of = class_index(classes)
    found = []
    for r in rows:
        path = Path(r.path) if Path(r.path).is_absolute() else root / r.path
        found.append((str(path) if path.is_file() else None,
                      VideoRecord("", index_of[r.label], path.stem)))
    return make_dataset(found, classes, inputs, split, root, **options)
