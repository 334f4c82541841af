"""What the video dataset adapters share: locating files and building the dataset."""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ...errors import ZooError
from ...specs import InputSpec
from ..annotations import collect_errors
from ..dataset import VideoClipDataset, VideoIndex, VideoRecord, keep_found
from ..health import DataHealth

SPLIT_NAMES = {"train": ("train", "training"), "val": ("val", "validate", "validation"),
               "test": ("test", "testing")}


def split_names(split: str) -> Tuple[str, ...]:
    """The names a split goes by in dataset files: "val" -> ("val", "validate", "validation")."""
    for names in SPLIT_NAMES.values():
        if split in names:
            return names
    raise ValueError(f"unknown split {split!r}; use one of {list(SPLIT_NAMES)}")


def counts_annotation_errors(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a dataset factory so that the annotation entries skipped while it parses (lenient
    mode) are counted in the dataset's ``health.annotation_errors``."""
    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with collect_errors() as errors:
            dataset = factory(*args, **kwargs)
        health = getattr(dataset, "health", None)
        if errors and health is not None:
            health.annotation_errors += len(errors)
        return dataset
    return wrapper


def need_root(root: Any, dataset: str) -> Path:
    if root is None:
        raise ZooError(f"dataset {dataset!r} needs root=<folder holding its annotations and "
                       f"videos>")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ZooError(f"dataset {dataset!r}: root {root} is not a folder")
    return root


def find_file(given: Any, root: Path, candidates: Iterable[str], what: str) -> Path:
    """`given` if set, else the first existing of `candidates` (globs allowed) under `root`."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise ZooError(f"{what} file {path} does not exist")
        return path
    tried = []
    for pattern in candidates:
        tried.append(pattern)
        hits = sorted(root.glob(pattern))
        if hits:
            return hits[0]
    raise ZooError(f"no {what} file under {root} (looked for {', '.join(tried)}); pass its path")


def find_folder(given: Any, root: Path, candidates: Iterable[str]) -> Path:
    """`given` if set, else the first existing of `candidates` under `root`, else `root`."""
    if given is not None:
        return Path(given)
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    return root


def drop_unknown_labels(items: Iterable[Any], label_of: Callable[[Any], Optional[str]],
                        classes: Sequence[str], where: Any) -> List[Any]:
    """The items whose label (None: unlabelled) is a known class; warns about the others."""
    known = set(classes)
    kept, unknown = [], set()
    for item in items:
        label = label_of(item)
        (kept.append(item) if label is None or label in known else unknown.add(label))
    if unknown:
        warnings.warn(f"{where}: left out the entries whose label is not a known class: "
                      f"{sorted(unknown)[:5]}", RuntimeWarning, stacklevel=3)
    return kept


def make_dataset(found: Iterable[Tuple[Optional[str], VideoRecord]], classes: Sequence[str],
                 inputs: Optional[Dict[str, InputSpec]], split: str, videos: Path,
                 multi_label: bool = False, **options: Any) -> VideoClipDataset:
    """A `VideoClipDataset` over the records whose video was found (the rest counted missing);
    training behaviour for the train split."""
    health = options.pop("health", None) or DataHealth()
    records = keep_found(found, health, videos)
    return VideoClipDataset(records, classes, inputs, train=split == "train",
                            multi_label=multi_label, health=health, **options)


def locate(index: VideoIndex, records: Iterable[Tuple[Sequence[str], VideoRecord]]
           ) -> List[Tuple[Optional[str], VideoRecord]]:
    """Pair each record with the first of its candidate names found in `index`."""
    return [(index.find(*names), record) for names, record in records]
