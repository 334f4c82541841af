"""Multi-process data-parallel helpers (torchrun): process group, samplers, metric reduction.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) `setup` joins the process group
(NCCL on GPU, gloo on CPU); without it every helper works as a world of one process.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, List, Optional

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from ..errors import ConfigError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def setup(device: str = "auto") -> torch.device:
    """Join the torchrun process group when there is one; returns this process's device."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not is_distributed():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def cleanup(wait: bool = True) -> None:
    """Leave the process group. `wait` (a normal end) first waits for every process, so that
    none closes its connections while another is still using them: gloo can abort the process
    that does (seen once in 2-process CI runs: "terminate called without an active
    exception"). After an error there is no waiting: the others may never come."""
    if is_distributed():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[torch.device]:
    """`setup` on entry, `cleanup` on exit (waiting for the other processes unless it raised)."""
    joined = setup(device)
    try:
        yield joined
    except BaseException:
        cleanup(wait=False)
        raise
    cleanup()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of `values` over processes (a copy; the input is left as it was)."""
    values = values.clone()
    if is_distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather_objects(value: Any) -> List[Any]:
    """Every process's picklable `value`, in rank order (``[value]`` in a single process)."""
    if not is_distributed():
        return [value]
    values: List[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def all_gather_rows(rows: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """Concatenate every process's `rows` (first dimension may differ), in rank order.

    A process with nothing to give passes None; the result is None only when every process
    did."""
    if not is_distributed():
        return rows
    shapes = all_gather_objects(None if rows is None else (tuple(rows.shape), rows.dtype))
    given = [s for s in shapes if s is not None]
    if not given:
        return None
    tail, dtype = given[0][0][1:], given[0][1]
    counts = [0 if s is None else s[0][0] for s in shapes]
    if rows is None:
        rows = torch.zeros((0,) + tail, dtype=dtype, device=_collective_device())
    padded = rows.new_zeros((max(counts),) + tail)
    padded[:rows.shape[0]] = rows
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, counts)])


def _collective_device() -> torch.device:
    """The device collectives run on: this process's GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class ShardSampler(Sampler[int]):
    """Every index exactly once over all processes (process r reads r, r + W, ...), so gathered
    evaluation scores cover the dataset without the repeats that DistributedSampler pads with."""

    def __init__(self, dataset_size: int, num_replicas: Optional[int] = None,
                 rank_: Optional[int] = None):
        self.dataset_size = dataset_size
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.rank = rank() if rank_ is None else rank_

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.dataset_size, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.dataset_size, self.num_replicas))


def make_loader(dataset: Dataset, batch_size: int, train: bool, seed: int = 0,
                num_workers: Optional[int] = 0, collate_fn: Optional[Callable] = None,
                drop_last: bool = False, device: Any = "cpu") -> DataLoader:
    """A DataLoader for this process: `batch_size` is the global batch, split over processes.

    Training shuffles with a DistributedSampler seeded by `seed` (call ``set_epoch``; `fit`
    does), even in a single process, so the global batches are the same for any number of
    processes. Evaluation reads a `ShardSampler`. `num_workers` None chooses the worker
    processes for the dataset and machine (`zoo.data.loader_settings`).
    """
    from ..data.loading import loader_settings

    replicas = world_size()
    if batch_size % replicas:
        raise ConfigError(f"batch size {batch_size} is not divisible by the {replicas} processes; "
                          f"the batch size is global, use a multiple of {replicas}")
    sampler = (DistributedSampler(dataset, num_replicas=replicas, rank=rank(), shuffle=True,
                                  seed=seed, drop_last=drop_last)
               if train else ShardSampler(len(dataset)))
    settings = loader_settings(dataset, batch_size // replicas, num_workers, device)
    return DataLoader(dataset, batch_size=batch_size // replicas, sampler=sampler,
                      collate_fn=collate_fn, drop_last=drop_last, **settings.kwargs())

