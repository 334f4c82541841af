"""What the harness measures: a fixed-budget training run (with its throughput and the fraction of
time spent waiting for data), accuracy per class group, temporal reliance (accuracy lost when the
frames are shuffled), inference latency and throughput, peak memory, parameters and FLOPs.

`zoo.engine.fit` trains for whole epochs; the benchmark gives every model the same number of
optimisation steps instead, so it uses `train_for_budget` here and the engine's evaluation.
"""
from __future__ import annotations

import contextlib
import logging
import math
import resource
import sys
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..engine.metrics import mean_average_precision, topk_accuracy
from ..engine.config import TrainConfig
from ..engine.train import build_optimizer, collect_scores, loss_for

Inputs = Dict[str, torch.Tensor]


def autocast(bf16: bool, device: Any = "cpu"):
    """bf16 autocast on `device` (the CPU by default) when asked, otherwise nothing."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def to_device(inputs: Inputs, device: Any) -> Inputs:
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


def _sync(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _endless(loader: DataLoader) -> Iterator[dict]:
    if len(loader) == 0:
        raise ValueError("the training loader yields no batch")
    while True:
        yield from loader


def train_for_budget(model: nn.Module, loader: DataLoader, steps: int, seconds: float, lr: float,
                     weight_decay: float, bf16: bool = False, progress: bool = True,
                     device: Any = "cpu",
                     stats: Optional[Dict[str, float]] = None) -> Tuple[int, float]:
    """Train `model` with AdamW, cycling through `loader`, until `steps` steps are done or
    `seconds` of training have passed (0: no time limit), whichever comes first.

    The learning rate warms up linearly over the first tenth of the budget, then decays along a
    cosine; the budget's progress is the larger of the step and time fractions. Returns the
    steps done and the mean loss of the last tenth of them.

    `stats`, when given, receives ``clips`` (trained), ``seconds`` (wall time of the loop) and
    ``data_wait_s`` (time spent in ``next()`` on the loader's iterator, waiting for a batch).
    """
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, TrainConfig(optimizer="adamw", weight_decay=weight_decay),
                                lr=lr)
    model.train()
    losses: List[float] = []
    batches = _endless(loader)
    bar = tqdm(total=steps, desc="train", leave=False, disable=not progress)
    start = time.perf_counter()
    done, waited, clips = 0.0, 0.0, 0
    while done < 1.0:
        factor = min((done + 1e-3) / 0.1, 0.5 * (1 + math.cos(math.pi * done)))
        for group in optimizer.param_groups:
            group["lr"] = lr * factor
        before = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - before
        labels = batch["label"].to(device)
        clips += len(labels)
        with autocast(bf16, device):
            loss = loss_for(labels, model(to_device(batch["inputs"], device)).float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        losses.append(loss.item())
        bar.update()
        elapsed = time.perf_counter() - start
        done = max(len(losses) / steps, elapsed / seconds if seconds else 0.0)
    bar.close()
    if stats is not None:
        stats.update(clips=clips, seconds=time.perf_counter() - start, data_wait_s=waited)
    tail = losses[-max(1, len(losses) // 10):]
    return len(losses), sum(tail) / len(tail)


def recompute_bn_stats(model: nn.Module, loader: DataLoader, batches: int,
                       device: Any = "cpu") -> int:
    """Replace the running statistics of every batch-norm layer with the exact mean and variance
    of `batches` training batches under the final weights ("precise BN", fvcore's
    `update_bn_stats`, as PySlowFast does before testing). After a short budget the running
    averages lag far behind the weights (I3D's layers update them with momentum 0.01), and a
    model can score at chance in eval mode while it classifies well in train mode. Returns the
    number of batch-norm layers updated."""
    from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

    if batches <= 0:
        return 0
    model.train()  # update_bn_stats only touches layers in training mode
    layers = len(get_bn_modules(model))
    if layers:
        inputs = (to_device(b["inputs"], device) for b in _endless(loader) if b is not None)
        update_bn_stats(model, inputs, num_iters=batches)
    model.eval()
    return layers


def primary_metric(labels: torch.Tensor) -> str:
    """The metric a benchmark ranks by: ``"map"`` for multi-hot labels, ``"top1"`` otherwise."""
    return "map" if labels.is_floating_point() else "top1"


def _metric(scores: torch.Tensor, labels: torch.Tensor) -> float:
    if labels.is_floating_point():
        return mean_average_precision(scores, labels)
    return topk_accuracy(scores, labels)


def accuracy_by_group(model: nn.Module, loader: DataLoader,
                      groups: Optional[Mapping[str, Sequence[int]]] = None,
                      bf16: bool = False) -> Dict[str, float]:
    """Top-1 and top-5 accuracy (``"top1"``, ``"top5"``) and top-1 over the clips of each class
    group (``"top1_<group>"``); for multi-hot labels the mean average precision (``"map"``)."""
    scores, labels = collect_scores(model, loader, bf16=bf16)
    if labels.is_floating_point():
        return {"map": mean_average_precision(scores, labels)}
    out = {"top1": topk_accuracy(scores, labels), "top5": topk_accuracy(scores, labels, 5)}
    for name, classes in (groups or {}).items():
        members = torch.isin(labels, torch.as_tensor(list(classes)))
        if members.any():
            out[f"top1_{name}"] = topk_accuracy(scores[members], labels[members])
    return out


def shuffle_frames(inputs: Inputs, seeds: Sequence[int]) -> Inputs:
    """`inputs` with the time axis (dim 2 of ``[B, C, T, H, W]``) of clip i permuted by the
    permutation drawn from seed ``seeds[i]``: every stream of a clip with the same number of
    frames gets the same permutation."""
    out = {}
    for name, x in inputs.items():
        frames = x.shape[2]
        order = torch.stack([torch.randperm(frames, generator=torch.Generator().manual_seed(s))
                             for s in seeds]).to(x.device)
        index = order.view(x.shape[0], 1, frames, *([1] * (x.dim() - 3))).expand_as(x)
        out[name] = x.gather(2, index)
    return out


@torch.inference_mode()
def temporal_reliance(model: nn.Module, loader: DataLoader, seed: int = 0, bf16: bool = False,
                      device: Any = "cpu") -> Tuple[float, float]:
    """(score, score with shuffled frames) over `loader`: top-1, or mAP for multi-hot labels.
    The frames of every clip are shuffled in time, seeded: clip i of the loader uses the
    permutation of seed ``seed * 1_000_003 + i``."""
    model.eval()
    plain, shuffled, labels = [], [], []
    seen = 0
    for batch in loader:
        if batch is None:
            continue
        seeds = [seed * 1_000_003 + seen + i for i in range(len(batch["label"]))]
        seen += len(batch["label"])
        with autocast(bf16, device):
            plain.append(model(to_device(batch["inputs"], device)).float().cpu())
            shuffled.append(model(to_device(shuffle_frames(batch["inputs"], seeds),
                                            device)).float().cpu())
        labels.append(batch["label"])
    if not labels:
        raise ValueError("the evaluation loader yielded no batch")
    targets = torch.cat(labels)
    return _metric(torch.cat(plain), targets), _metric(torch.cat(shuffled), targets)


@torch.inference_mode()
def throughput(model: nn.Module, inputs: Inputs, min_seconds: float = 2.0, min_runs: int = 3,
               bf16: bool = False, device: Any = "cpu") -> float:
    """Clips per second of a bare inference loop over the batch `inputs` (after one warm-up)."""
    model.eval()
    inputs = to_device(inputs, device)
    clips = next(iter(inputs.values())).shape[0]
    with autocast(bf16, device):
        model(inputs)
        _sync(device)
        runs, start = 0, time.perf_counter()
        while runs < min_runs or time.perf_counter() - start < min_seconds:
            model(inputs)
            runs += 1
        _sync(device)
        elapsed = time.perf_counter() - start
    return runs * clips / elapsed


@torch.inference_mode()
def latency(model: nn.Module, inputs: Inputs, runs: int = 7, bf16: bool = False,
            device: Any = "cpu") -> Dict[str, float]:
    """Latency of `runs` calls on the batch-1 `inputs` (after one warm-up): ``latency_p50_ms``,
    ``latency_p95_ms`` (nearest rank) and ``clips_per_s_b1`` (1 / mean latency)."""
    model.eval()
    inputs = to_device(inputs, device)
    times = []
    with autocast(bf16, device):
        model(inputs)
        _sync(device)
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            model(inputs)
            _sync(device)
            times.append(time.perf_counter() - start)
    ordered = sorted(times)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"latency_p50_ms": rank(0.5) * 1e3, "latency_p95_ms": rank(0.95) * 1e3,
            "clips_per_s_b1": len(times) / sum(times)}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (ru_maxrss: KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _proc_status_mb(field: str) -> Optional[float]:
    """A ``VmRSS``/``VmHWM`` figure of /proc/self/status in MiB (None off Linux)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM) where Linux allows it (``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of a block, in MiB (`mb`): on CUDA ``torch.cuda.max_memory_allocated`` (reset
    at the start); on the CPU the rise of the peak resident memory over the resident memory at
    the start. On Linux the peak (VmHWM) is reset at the start, so every block is measured on its
    own; elsewhere it is the rise of ``ru_maxrss``, 0 for a block that stays under an earlier peak
    of the process."""

    def __init__(self, device: Any = "cpu"):
        self.device = torch.device(device)
        self.mb = 0.0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._proc = _reset_peak_rss() and _proc_status_mb("VmRSS") is not None
        self._start = _proc_status_mb("VmRSS") if self._proc else peak_rss_mb()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._proc:
            self.mb = max(0.0, (_proc_status_mb("VmHWM") or 0.0) - self._start)
        else:
            self.mb = max(0.0, peak_rss_mb() - self._start)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(model: nn.Module, batch_size: int = 1) -> Inputs:
    """Random inputs of the shape every stream of `model` reads."""
    return {name: torch.randn(batch_size, *spec.shape) for name, spec in model.spec.inputs.items()}


@torch.inference_mode()
def gflops(model: nn.Module, inputs: Optional[Inputs] = None) -> float:
    """GFLOPs of one clip, counted by fvcore (one multiply-add counts as one FLOP)."""
    from fvcore.nn import FlopCountAnalysis

    model.eval()
    inputs = inputs or example_inputs(model)
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # unsupported-op notices
    analysis = FlopCountAnalysis(model, (inputs,))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total() / 1e9
