"""What the harness measures: a fixed-budget training run (with its throughput and the fraction of
time spent waiting for data), scores with 95% intervals per class group, the arrow of time and
the reliance on frame order, inference latency and throughput, peak memory, parameters and FLOPs.

`zoo.engine.fit` trains for whole epochs; the benchmark gives every model the same `Budget`
instead (train until it fits the training set, within a number of steps and seconds), through
the same training step (zoo.engine.step.TrainStep).
"""
from __future__ import annotations

import logging
import math
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..engine.config import TrainConfig
from ..engine.metrics import mean_average_precision, topk_accuracy
from ..engine.step import TrainStep, bf16_autocast
from ..tensors import example_inputs, to_device
from ..engine.train import build_optimizer

Inputs = Dict[str, torch.Tensor]
Scores = Dict[str, torch.Tensor]  # "model" and each stream scored alone -> logits [N, K]


def _sync(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _endless(loader: DataLoader) -> Iterator[dict]:
    if len(loader) == 0:
        raise ValueError("the training loader yields no batch")
    while True:
        yield from (batch for batch in loader if batch is not None)


@dataclass(frozen=True)
class Budget:
    """How long a preset trains. The learning rate warms up linearly over `warmup_steps`, stays
    constant, then decays linearly to 0 over a cool-down of `cooldown` times the steps before
    it (warm-up, stable, decay: the length need not be known in advance). The cool-down starts
    when the model fits the training set (over the last `fit_window` batches, every class's
    clips predicted right at least `fit_accuracy` of the time; 0: never checked), or early
    enough that the steps, cool-down included, stay within `steps` and, when `seconds` > 0, the
    time within `seconds`."""

    steps: int
    seconds: float = 0.0
    warmup_steps: int = 20
    fit_accuracy: float = 0.0
    fit_window: int = 20
    cooldown: float = 0.2


class _Schedule:
    """The learning-rate factor of each step of a `Budget`, and why its cool-down started."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.decay_from: Optional[int] = None
        self.decay_steps = 0
        self.stopped = ""
        self.recent: Deque[Tuple[torch.Tensor, torch.Tensor]] = deque(
            maxlen=max(1, budget.fit_window))

    def factor(self, step: int) -> Optional[float]:
        """The factor of step `step` (from 0); None once the cool-down is over."""
        if self.decay_from is None:
            return min(1.0, (step + 1) / max(1, self.budget.warmup_steps))
        done = step - self.decay_from
        return None if done >= self.decay_steps else 1.0 - done / self.decay_steps

    def observe(self, steps: int, elapsed: float, labels: Optional[torch.Tensor] = None,
                hits: Optional[torch.Tensor] = None) -> None:
        """After `steps` steps and `elapsed` seconds (the last batch: its `labels` and whether
        each clip was predicted right), start the cool-down when the budget says so."""
        b = self.budget
        if hits is not None:
            self.recent.append((labels, hits))
        if self.decay_from is not None:
            return
        share = 1.0 / (1.0 + b.cooldown)
        fitted = (b.fit_accuracy > 0 and steps >= b.warmup_steps
                  and len(self.recent) == self.recent.maxlen and self._worst_class() >= b.fit_accuracy)
        for reason, due in (("fit", fitted), ("steps", steps >= b.steps * share),
                            ("time", b.seconds > 0 and elapsed >= b.seconds * share)):
            if due:
                self.stopped, self.decay_from = reason, steps
                self.decay_steps = max(0, min(round(b.cooldown * steps), b.steps - steps))
                return

    def _worst_class(self) -> float:
        """The lowest share of right predictions of any class in the recent batches."""
        labels = torch.cat([l for l, _ in self.recent])
        hits = torch.cat([h for _, h in self.recent]).float()
        return min(float(hits[labels == c].mean()) for c in labels.unique())


def train_for_budget(model: nn.Module, loader: DataLoader, budget: Budget, lr: float,
                     weight_decay: float, bf16: bool = False, stream_weight: float = 0.0,
                     channels_last: bool = False, progress: bool = True, device: Any = "cpu",
                     stats: Optional[Dict[str, Any]] = None) -> Tuple[int, float]:
    """Train `model` with AdamW, cycling through `loader`, for the `budget` (see `Budget`).
    Returns the steps done and the mean loss of the last tenth of them. The progress bar counts
    steps, or seconds of the budget when it has a time limit.

    `stats`, when given, receives ``clips`` (trained), ``seconds`` (wall time of the loop),
    ``data_wait_s`` (time spent in ``next()`` on the loader's iterator, waiting for a batch),
    ``stopped`` (what started the cool-down: "fit", "steps" or "time") and ``fit_step`` (the
    step at which the model fitted the training set, else None)."""
    from tqdm.auto import tqdm

    optimizer = build_optimizer(model, TrainConfig(optimizer="adamw", weight_decay=weight_decay),
                                lr=lr)
    step = TrainStep(model, optimizer, torch.device(device), bf16=bf16, grad_clip=5.0,
                     stream_weight=stream_weight, channels_last=channels_last)
    schedule = _Schedule(budget)
    model.train()
    losses: List[float] = []
    batches = _endless(loader)
    timed = budget.seconds > 0
    bar = tqdm(total=budget.seconds if timed else budget.steps, desc="train", leave=False,
               disable=not progress, unit="s" if timed else "step",
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]"
               if timed else None)
    start = time.perf_counter()
    waited, clips = 0.0, 0
    while (factor := schedule.factor(len(losses))) is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr * factor
        before = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - before
        clips += len(batch["label"])
        losses.append(step(batch["inputs"], batch["label"]).item())
        elapsed = time.perf_counter() - start
        schedule.observe(len(losses), elapsed, step.labels, step.hits)
        bar.update(min(elapsed, budget.seconds) - bar.n if timed else 1)
    bar.close()
    if stats is not None:
        stats.update(clips=clips, seconds=time.perf_counter() - start, data_wait_s=waited,
                     stopped=schedule.stopped,
                     fit_step=schedule.decay_from if schedule.stopped == "fit" else None)
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


def wilson_interval(successes: float, trials: int, z: float = 1.959964) -> Tuple[float, float]:
    """The 95% Wilson score interval of a proportion (successes of trials)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


@torch.inference_mode()
def collect(model: nn.Module, loader: DataLoader, bf16: bool = False, device: Any = "cpu",
            transform=None) -> Tuple[Scores, torch.Tensor]:
    """Logits of the model (``"model"``) and of each stream that scores alone, over the
    loader, and the labels; `transform` rewrites each batch's inputs first."""
    model.eval()
    scores: Dict[str, List[torch.Tensor]] = {}
    labels, seen = [], 0
    with_streams = hasattr(model, "forward_with_streams") and len(getattr(model, "streams", ())) > 1
    for batch in loader:
        if batch is None:
            continue
        inputs = batch["inputs"] if transform is None else transform(batch["inputs"], seen)
        seen += len(batch["label"])
        with bf16_autocast(device, bf16):
            inputs = to_device(inputs, device)
            if with_streams:
                logits, streams = model.forward_with_streams(inputs)
            else:
                logits, streams = model(inputs), {}
        for name, value in {"model": logits, **streams}.items():
            scores.setdefault(name, []).append(value.float().cpu())
        labels.append(batch["label"])
    if not labels:
        raise ValueError("the evaluation loader yielded no batch")
    return {k: torch.cat(v) for k, v in scores.items()}, torch.cat(labels)


def score(logits: torch.Tensor, labels: torch.Tensor,
          groups: Optional[Mapping[str, Sequence[int]]] = None) -> Dict[str, Any]:
    """``metric`` and its value; for class labels ``top1`` with its 95% interval, ``top5``,
    and ``groups`` / ``group_ci``: top-1 over the clips of each class group; for multi-hot
    labels ``map``."""
    if labels.is_floating_point():
        return {"metric": "map", "map": mean_average_precision(logits, labels)}
    hits = logits.argmax(1) == labels
    out: Dict[str, Any] = {"metric": "top1", "top1": float(hits.float().mean()),
                           "top1_ci": wilson_interval(float(hits.sum()), len(hits)),
                           "top5": topk_accuracy(logits, labels, 5), "groups": {}, "group_ci": {}}
    for name, classes in (groups or {}).items():
        members = torch.isin(labels, torch.as_tensor(list(classes)))
        if members.any():
            out["groups"][name] = float(hits[members].float().mean())
            out["group_ci"][name] = wilson_interval(float(hits[members].sum()), int(members.sum()))
    return out


def arrow_of_time(forward: torch.Tensor, backward: torch.Tensor,
                  reversed_class: Mapping[int, int]) -> Dict[str, float]:
    """From the logits of clips played forward and the same clips played backward: ``arrow``,
    the share of clips whose backward prediction is the reversed class of the forward one
    (0 when the forward prediction has no reversed class), and ``unchanged_reversed``, the
    share whose prediction stays the same."""
    before, after = forward.argmax(1), backward.argmax(1)
    flipped = torch.tensor([reversed_class.get(int(c), -1) for c in before])
    return {"arrow": float((after == flipped).float().mean()),
            "unchanged_reversed": float((after == before).float().mean())}


def shuffle_frames(inputs: Inputs, seeds: Sequence[int]) -> Inputs:
    """`inputs` with the time axis (dim 2 of ``[B, C, T, H, W]``) of clip i permuted by the
    permutation drawn from seed ``seeds[i]``: every stream of a clip with the same number of
    frames gets the same permutation. For a dataset that cannot replay its clips shuffled."""
    out = {}
    for name, x in inputs.items():
        frames = x.shape[2]
        order = torch.stack([torch.randperm(frames, generator=torch.Generator().manual_seed(s))
                             for s in seeds]).to(x.device)
        index = order.view(x.shape[0], 1, frames, *([1] * (x.dim() - 3))).expand_as(x)
        out[name] = x.gather(2, index)
    return out


def order_change(forward: torch.Tensor, permuted: torch.Tensor) -> float:
    """The largest change of any logit when the clips' frames are permuted, relative to the
    largest logit: about 1e-7 (summation order) for a model blind to frame order by design."""
    scale = forward.abs().max().clamp_min(1e-12)
    return float((permuted - forward).abs().max() / scale)


def metric_value(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1, or mAP for multi-hot labels."""
    if labels.is_floating_point():
        return mean_average_precision(logits, labels)
    return topk_accuracy(logits, labels)


@torch.inference_mode()
def throughput(model: nn.Module, inputs: Inputs, min_seconds: float = 2.0, min_runs: int = 3,
               bf16: bool = False, device: Any = "cpu") -> float:
    """Clips per second of a bare inference loop over the batch `inputs` (after one warm-up)."""
    model.eval()
    inputs = to_device(inputs, device)
    clips = next(iter(inputs.values())).shape[0]
    with bf16_autocast(device, bf16):
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
    with bf16_autocast(device, bf16):
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


@torch.inference_mode()
def gflops(model: nn.Module, inputs: Optional[Inputs] = None) -> float:
    """GFLOPs of one clip, counted by fvcore (one multiply-add counts as one FLOP)."""
    from fvcore.nn import FlopCountAnalysis

    model.eval()
    inputs = inputs or example_inputs(model.spec.inputs)
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # unsupported-op notices
    analysis = FlopCountAnalysis(model, (inputs,))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total() / 1e9
