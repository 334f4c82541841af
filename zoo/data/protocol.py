"""What the benchmark reads of a dataset (`BenchDataset`), so that any registered dataset, the
built-in one included, gets a leaderboard without the harness knowing its internals."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, Sequence, Union, runtime_checkable

Label = Union[int, Sequence[int]]


@runtime_checkable
class BenchDataset(Protocol):
    """A dataset of ``{"inputs", "label", "video"}`` samples as the benchmark reads it.

    ``label(i)`` gives clip i's class (a multi-label clip: its classes) without decoding;
    ``class_groups`` (group -> class indices, or None) and ``group_descriptions`` (group ->
    a sentence) add a score per group; ``health`` (a DataHealth, or None) counts unreadable
    clips. Optional: ``reversed_class`` (class -> the class of the same clip played backwards)
    and ``with_time_order(order)`` ("reversed", "shuffled": the same clips reordered in time)
    give the arrow-of-time and shuffled-frames measurements; ``prepare(time_orders)`` (or
    ``prepare(time_orders, indices=None)``, for some of its clips) renders or decodes what the
    clips need once, before the clock starts (see `prepare`);
    ``clip_fields`` names the InputSpec fields its clips depend on (None: all of them), so that
    two presets that differ only in others are measured once."""

    classes: Sequence[str]
    multi_label: bool
    class_groups: Optional[Dict[str, List[int]]]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Optional[Dict[str, Any]]: ...

    def label(self, index: int) -> Label: ...


def first_label(dataset: BenchDataset, index: int) -> int:
    """Clip `index`'s class (a multi-label clip's first class)."""
    label = dataset.label(index)
    if isinstance(label, (list, tuple)):
        return int(label[0]) if label else 0
    return int(label)


def group_descriptions(dataset: Any) -> Dict[str, str]:
    return dict(getattr(dataset, "group_descriptions", None) or {})


def reversed_class(dataset: Any) -> Optional[Dict[int, int]]:
    """The dataset's class -> reversed-clip class map, when it can replay clips backwards."""
    pairs = getattr(dataset, "reversed_class", None)
    return pairs if pairs and hasattr(dataset, "with_time_order") else None


def health(dataset: Any):
    return getattr(dataset, "health", None)


def prepare(dataset: Any, time_orders: Sequence[str] = ("forward",)) -> None:
    """Let `dataset` generate what its clips need (played in `time_orders`) before anything is
    timed; a dataset without ``prepare`` reads its clips as they come."""
    if hasattr(dataset, "prepare"):
        dataset.prepare(time_orders)


def unlabelled(dataset: Any) -> bool:
    """True when `dataset`'s annotations carry no labels (an official test file): it says so
    (``labelled`` False) or it has clips and every one's label is -1."""
    if not getattr(dataset, "labelled", True):
        return True
    return hasattr(dataset, "label") and len(dataset) > 0 and all(dataset.label(i) == -1 for i in range(len(dataset)))


def clip_ids(dataset: Any) -> Optional[List[Any]]:
    """Each clip's identity, (video path, start, end), where `dataset` lists its ``records``
    (or wraps one that does, as ``dataset`` with ``indices``); None where it cannot tell."""
    records = getattr(dataset, "records", None)
    if records is not None:
        return [(str(getattr(r, "path", r)), getattr(r, "start", None), getattr(r, "end", None))
                for r in records]
    inner, indices = getattr(dataset, "dataset", None), getattr(dataset, "indices", None)
    ids = None if inner is None or indices is None else clip_ids(inner)
    return None if ids is None else [ids[i] for i in indices]


def shared_clips(train: Any, held_out: Any) -> int:
    """How many clips of `held_out` are clips of `train` too (0 where they cannot be told):
    a folder without split subfolders gives every split the same videos."""
    train_ids, held_ids = clip_ids(train), clip_ids(held_out)
    if train_ids is None or held_ids is None:
        return 0
    seen = set(train_ids)
    return sum(i in seen for i in held_ids)
