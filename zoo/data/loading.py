"""How a DataLoader reads a dataset: worker processes and their settings, chosen for the dataset
and the machine unless the user says otherwise (`loader_settings`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

# Most DataLoader worker processes chosen automatically: decoding rarely needs more to keep up,
# and each one holds its own frame cache and a copy of the dataset.
MAX_AUTO_WORKERS = 4


@dataclass(frozen=True)
class LoaderSettings:
    """The DataLoader keywords that decide where and how samples are loaded."""

    num_workers: int = 0
    persistent_workers: bool = False  # workers (and their frame caches) outlive an epoch
    pin_memory: bool = False  # page-locked batches, for copying to a GPU

    def kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of ``torch.utils.data.DataLoader``."""
        return asdict(self)


def in_memory(dataset: Any) -> bool:
    """Whether `dataset` (or the dataset it wraps, through ``.dataset``: a harness or torch
    Subset) holds its clips in memory, so that a sample costs little and worker processes would
    cost more to start than they save: its ``in_memory`` attribute (the built-in dataset's is
    True; a dataset that does not say is taken to decode files)."""
    while dataset is not None:
        if getattr(dataset, "in_memory", False):
            return True
        dataset = getattr(dataset, "dataset", None)
    return False


def loader_settings(dataset: Any, batch_size: Optional[int] = None,
                    workers: Optional[int] = None, device: Any = "cpu",
                    cores: Optional[int] = None) -> LoaderSettings:
    """DataLoader settings for `dataset` read in batches of `batch_size`: `workers` processes
    when given (the user's choice wins); else none for an in-memory dataset (`in_memory`) or
    one that fits in a single batch (workers load ahead only within an epoch, and each would
    decode every clip again for its own frame cache), and for one that decodes files one per
    core of `cores`, the share of the machine the training process was given (by default its
    torch threads: 1 in each of the harness's side-by-side jobs, every core for ``zoo train``),
    at most `MAX_AUTO_WORKERS`. Workers persist across epochs, with their frame caches; batches
    are pinned for a CUDA device."""
    import torch

    if workers is None:
        one_batch = batch_size is not None and hasattr(dataset, "__len__") and (
            len(dataset) <= batch_size)
        workers = 0 if in_memory(dataset) or one_batch else min(
            max(cores or torch.get_num_threads(), 1), MAX_AUTO_WORKERS)
    if workers < 0:
        raise ValueError(f"DataLoader workers must be 0 or more (or None to choose), got "
                         f"{workers}")
    return LoaderSettings(num_workers=workers, persistent_workers=workers > 0,
                          pin_memory=torch.device(device).type == "cuda")
