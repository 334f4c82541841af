"""What the video dataset adapters share: locating files and building the dataset."""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ...errors import ZooError
from ...specs import InputSpec
from ..annotations import AnnotationError, collect_errors
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


def training_labels(split: str, read: Callable[[], Iterable[Optional[str]]]) -> Optional[List[str]]:
    """For a split other than training, given no class list: the sorted labels of the root's
    training split (`read` quietly: its own bad entries are reported when it is loaded), so that
    class i means the same in every split. None for the training split itself, or when the
    root has no readable, labelled training split (the split's own labels are used then)."""
    if split in SPLIT_NAMES["train"]:
        return None
    with warnings.catch_warnings(), collect_errors():
        warnings.simplefilter("ignore")
        try:
            labels = {label for label in read() if label is not None}
        except ZooError:
            return None
    return sorted(labels) or None


def check_label(label: str, known: Optional[Dict[str, int]], source: str) -> int:
    """The class index of `label` in `known` (None: not checked, -1); a ValueError naming
    `source` (where the classes come from) when it is not a known class."""
    if known is None:
        return -1
    if label not in known:
        raise ValueError(f"label {label!r} is not a class of {source}; fix the label, or add "
                         f"the class there")
    return known[label]


def make_dataset(found: Iterable[Tuple[Optional[str], VideoRecord]], classes: Sequence[str],
                 inputs: Optional[Dict[str, InputSpec]], split: str, videos: Path,
                 multi_label: bool = False, labelled: bool = True,
                 **options: Any) -> VideoClipDataset:
    """A `VideoClipDataset` over the records whose video was found (the rest counted missing);
    training behaviour for the train split. `labelled` False: the annotations give no labels
    (an official test file; every label is -1)."""
    health = options.pop("health", None) or DataHealth()
    records = keep_found(found, health, videos)
    return VideoClipDataset(records, classes, inputs, train=split == "train",
                            multi_label=multi_label, health=health, labelled=labelled,
                            **options)


def unlabelled_training_split(path: Any, what: str) -> AnnotationError:
    """The error for a training split whose annotations (`what`) give no labels."""
    return AnnotationError(path, 1, f"{what}: a training split needs labels (only official "
                                    f"test files go without); use the labelled annotation file")


def locate(index: VideoIndex, records: Iterable[Tuple[Sequence[str], VideoRecord]]
           ) -> List[Tuple[Optional[str], VideoRecord]]:
    """Pair each record with the first of its candidate names found in `index`."""
    return [(index.find(*names), record) for names, record in records]
