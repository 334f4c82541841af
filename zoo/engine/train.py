"""`fit` and `evaluate`: the training loop, optimizers, schedules, freezing, logging.

A batch is ``{"inputs": {stream: [B, C, T, H, W]}, "label": [B] int or [B, C] float multi-hot,
"video": [str], "health": DataHealth}`` as `collate` makes it; a batch whose every sample was
unreadable has no video and is counted, not trained on. The model reads ``batch["inputs"]`` and
returns logits. Integer labels train with cross-entropy and are scored with top-k accuracies;
multi-hot labels train with BCE-with-logits and are scored with mAP and GAP@20.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..data.health import DataHealth
from ..data.health import collate as collate_samples
from ..errors import ConfigError, ZooError
from . import distributed as dist_utils
from .checkpoint import load_resumable, load_state, save_checkpoint, set_rng_state, unwrap
from .config import TrainConfig
from .metrics import classification_metrics
from ..tensors import example_inputs, to_device
from ..inference import channels_last_model
from .step import TrainStep, bf16_autocast, cosine_decay, loss_for, native_bf16

logger = logging.getLogger("zoo.engine")

Record = Dict[str, Any]


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def collate(samples: List[Optional[Dict[str, Any]]]) -> Dict[str, Any]:
    """`zoo.data.collate`, except that a batch of only unreadable samples is an empty batch
    (``"video": []``) carrying its skip count instead of None, so every skipped clip is counted."""
    batch = collate_samples(samples)
    if batch is None:
        health = DataHealth(skipped=len(samples))
        health.reasons["unreadable"] += len(samples)
        batch = {"inputs": {}, "label": None, "video": [], "health": health}
    return batch


def _size(batch: Optional[Dict[str, Any]]) -> int:
    """Samples in a batch; 0 for an empty one (or the None of another collate)."""
    return 0 if batch is None or batch.get("label") is None else len(batch["label"])


def _health(batch: Optional[Dict[str, Any]]) -> Optional[DataHealth]:
    return None if batch is None else batch.get("health")


# -- optimizers and schedules --------------------------------------------------------------
def build_optimizer(model: nn.Module, config: TrainConfig,
                    lr: Optional[float] = None) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW as `config` says over the parameters of `model` that require grad,
    with torch's fused kernel when every one sits on a CPU or CUDA device (several times faster
    than the per-tensor update on a CPU). Weight decay applies to weights only, as timm's and
    PySlowFast's optimisers do: not to biases, norm layers' scales and shifts (decayed, a
    batch-norm scale shrinks towards 0 and its channel goes dark) nor what the model's
    ``no_weight_decay()`` names (timm's convention, e.g. position embeddings)."""
    from timm.optim import param_groups_weight_decay

    lr = config.lr if lr is None else lr
    exempt = getattr(model, "no_weight_decay", lambda: ())()
    groups = param_groups_weight_decay(model, config.weight_decay, no_weight_decay_list=exempt)
    params = [p for group in groups for p in group["params"]]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params) or None
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum, fused=fused)
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer(groups, lr=lr, fused=fused)


@dataclass(frozen=True)
class PrecisionChoice:
    """What `choose_bf16` decided and measured: train clips/s per precision ({False: fp32,
    True: bf16}; empty when nothing was measured) and whether bf16's steps all gave finite
    gradients."""

    bf16: bool
    rates: Dict[bool, float] = dataclasses.field(default_factory=dict)
    bf16_finite: bool = True

    def summary(self) -> str:
        ratio = self.rates[True] / self.rates[False]
        why = ("" if self.bf16_finite else
               "; a step of it gave non-finite gradients (a bf16 kernel of this processor)")
        return (f"bf16 autocast trains at {ratio:.2f}x fp32 here ({self.rates[True]:.1f} / "
                f"{self.rates[False]:.1f} clips/s){why} -> {'bf16' if self.bf16 else 'fp32'}")


def choose_bf16(model: nn.Module, config: TrainConfig, device: Any, batch_size: int,
                rounds: int = 3, steps: int = 2) -> PrecisionChoice:
    """Whether to train `model` under bf16 autocast here.

    fp32 where the device has no native bf16 and bf16 on a CUDA device that has it. On a CPU
    with native bf16 (AMX, AVX512-BF16) each precision trains its own copy of the model (the
    model is left as it was) on a random batch of `batch_size` clips: one untimed step, then
    `rounds` interleaved rounds of `steps` timed steps; bf16 wins when it is faster and none of
    its steps gave non-finite gradients (`TrainStep` then falls back to fp32). Neither holds
    everywhere it is native: depthwise 3D convolutions (X3D) train slower in bf16, and a bf16
    kernel may return NaN (torch 2.14's weight gradient of a convolution over fewer frames than
    its kernel on an AVX512-BF16 CPU, which `TrainStep` runs in fp32)."""
    import copy

    from ..inference import clips_per_second, example_for, interleaved_rates

    device = torch.device(device)
    if device.type != "cpu" or not native_bf16(device) or not hasattr(model, "spec"):
        return PrecisionChoice(native_bf16(device))
    inputs = example_for(model, batch_size)
    labels = torch.randint(0, model.spec.num_classes, (batch_size,))
    trainers = {}
    for bf16 in (False, True):
        twin = channels_last_model(copy.deepcopy(model).to(device), config.channels_last)
        optimizer = build_optimizer(twin, config)
        trainers[bf16] = TrainStep(twin.train(), optimizer, device, bf16=bf16,
                                   channels_last=config.channels_last)
        trainers[bf16](inputs, labels)  # untimed: creates the kernels of this precision
    rates = interleaved_rates(
        {bf16: partial(clips_per_second, lambda x, s=step: s(x, labels), inputs, 0.0,
                       max_calls=steps) for bf16, step in trainers.items()}, rounds)
    finite = trainers[True].bf16  # a step with non-finite gradients falls back to fp32
    return PrecisionChoice(finite and rates[True] > rates[False], rates, finite)


def lr_factor(step: int, config: TrainConfig, epochs: int, steps_per_epoch: int) -> float:
    """The learning-rate multiplier after `step` optimizer steps: linear warm-up, then the
    schedule (cosine to 0 over the remaining steps, step decay, or constant)."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if config.schedule == "cosine":
        remaining = max(epochs * steps_per_epoch - warmup, 1)
        return cosine_decay((step - warmup) / remaining)
    if config.schedule == "step":
        return config.gamma ** (step // (config.step_epochs * steps_per_epoch))
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, epochs: int,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration LambdaLR following `lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config, epochs, steps_per_epoch))


# -- freezing ------------------------------------------------------------------------------
@dataclass
class Stage:
    """A span of epochs ``[start, end)`` training the parameters that `frozen` spares."""

    name: str
    start: int
    end: int
    lr: float
    frozen: Callable[[str], bool]


def is_fusion(name: str) -> bool:
    return name.startswith("fusion.")


def plan_stages(config: TrainConfig) -> List[Stage]:
    """One stage, or two for the two-stage training of a learned fusion (``fusion_epochs``):
    stage 1 trains the streams with the fusion held at its initial values, stage 2 trains only
    the parameters whose name starts with ``fusion.``. ``freeze_backbone`` freezes every
    parameter whose name contains ``backbone`` in stage 1."""
    def frozen_streams(name: str) -> bool:
        return (config.freeze_backbone and "backbone" in name) or (
            config.fusion_epochs > 0 and is_fusion(name))

    stages = [Stage("streams", 0, config.epochs, config.lr, frozen_streams)]
    if config.fusion_epochs:
        stages.append(Stage("fusion", config.epochs, config.total_epochs,
                            config.fusion_lr or config.lr, lambda name: not is_fusion(name)))
    return stages


def set_trainable(model: nn.Module, frozen: Callable[[str], bool]) -> List[nn.Parameter]:
    """Freeze the parameters `frozen` names; returns the others."""
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad_(not frozen(name))
        if param.requires_grad:
            trainable.append(param)
    return trainable


def train_mode(model: nn.Module, frozen: Callable[[str], bool]) -> None:
    """``model.train()``, except frozen submodules, which stay in eval mode (batch-norm
    statistics and dropout of a frozen part do not change)."""
    model.train()
    for name, module in model.named_modules():
        if name and frozen(name + "."):
            module.eval()


# -- evaluation ----------------------------------------------------------------------------
@torch.no_grad()
def collect_scores(model: nn.Module, loader: DataLoader, bf16: bool = False,
                   progress: bool = False, health: Optional[DataHealth] = None
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[N, C]`` and labels of the whole loader, gathered from every process (CPU).

    `health`, when given, receives the data counts of every process (loaded, skipped clips).
    Raises ZooError when no process read a single clip."""
    model = unwrap(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores, labels = [], []
    local = DataHealth()
    try:
        for batch in _progress(loader, "eval", progress):
            local.update(_health(batch))
            if not _size(batch):  # every sample of the batch was unreadable
                continue
            with bf16_autocast(device, bf16):
                scores.append(model(to_device(batch["inputs"], device)).float())
            labels.append(batch["label"].to(device))
    finally:
        model.train(was_training)
    local = merged_health(local)
    if health is not None:
        health.update(local)
    gathered = (dist_utils.all_gather_rows(torch.cat(scores) if scores else None),
                dist_utils.all_gather_rows(torch.cat(labels) if labels else None))
    if gathered[0] is None:
        raise ZooError(f"no clip to evaluate: the loader gave {local.loaded} readable clips and "
                       f"skipped {local.skipped} unreadable ones ({local.summary()})")
    return gathered[0].cpu(), gathered[1].cpu()


def evaluate(model: nn.Module, loader: DataLoader, bf16: bool = False,
             progress: bool = False) -> Dict[str, float]:
    """Loss and metrics over the loader (across processes when distributed): top1, top5,
    mean_class_acc for class labels; mAP and GAP@20 for multi-hot labels; and
    ``skipped_clips``, the unreadable clips left out."""
    health = DataHealth()
    metrics = score_metrics(*collect_scores(model, loader, bf16, progress, health))
    report_health("eval", health)
    metrics["skipped_clips"] = health.skipped
    return metrics


def report_health(desc: str, health: DataHealth) -> None:
    """One warning (main process) with what was skipped or padded and why, if anything was."""
    if not health.ok and dist_utils.is_main_process():
        logger.warning("%s: %s", desc, health.summary())


def merged_health(health: DataHealth) -> DataHealth:
    """The sum of every process's `health` (itself in a single process)."""
    merged = DataHealth()
    for part in dist_utils.all_gather_objects(health):
        merged.update(part)
    return merged


def score_metrics(scores: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """Loss and metrics of gathered logits and labels (multi-hot labels: multi-label metrics);
    ZooError where a clip has no label (-1, an annotation row without one)."""
    if not labels.is_floating_point() and bool((labels < 0).any()):
        raise ZooError(f"{int((labels < 0).sum())} of {len(labels)} clips have no label (-1: "
                       f"their annotation rows give none); score a labelled split")
    metrics = {"loss": float(loss_for(labels, scores))}
    metrics.update(classification_metrics(scores, labels, multi_label=labels.is_floating_point()))
    return {k: float(v) for k, v in metrics.items()}  # python floats: checkpoints load weights_only


def _progress(loader: DataLoader, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False,
                disable=not (enabled and dist_utils.is_main_process()))


# -- training ------------------------------------------------------------------------------
def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    scheduler, config: TrainConfig, device: torch.device,
                    desc: str = "train") -> Dict[str, Any]:
    """One pass over `loader`; returns the mean training loss over every process's samples and
    the number of unreadable clips skipped (all processes).

    Every process takes a step on every batch that some process could read, so that their
    gradient reductions stay paired: a process whose batch is empty contributes zero gradients
    (`_stand_in_step`), and each process's loss is weighted by its share of the global batch."""
    step = TrainStep(model, optimizer, device, bf16=config.bf16, grad_clip=config.grad_clip,
                     channels_last=config.channels_last)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, sample count
    health = DataHealth()
    stand_in = None
    for batch in _progress(loader, desc, config.progress):
        health.update(_health(batch))
        size = _size(batch)
        counts = dist_utils.all_reduce_sum(torch.tensor([size], device=device))
        if not int(counts):  # every sample of every process's batch was unreadable
            continue
        if size:
            stand_in = batch["inputs"]
            share = size * dist_utils.world_size() / int(counts)
            loss = step(batch["inputs"], batch["label"], share)
            totals[0] += loss.double() * size
            totals[1] += size
        else:
            optimizer.zero_grad(set_to_none=True)
            _stand_in_step(model, stand_in, device)
            step.finish()
        scheduler.step()
    totals = dist_utils.all_reduce_sum(totals)
    health = merged_health(health)
    report_health(desc, health)
    return {"train_loss": float(totals[0] / totals[1].clamp(min=1)), "skipped_clips": health.skipped}


def _stand_in_step(model: nn.Module, inputs, device: torch.device) -> None:
    """A zero-gradient forward and backward for a process whose batch is empty while others
    train: it reads its previous batch (or zeros shaped by ``model.spec``) in eval mode, so
    batch-norm statistics do not move, and keeps the gradient reduction in step."""
    if inputs is None:
        spec = getattr(unwrap(model), "spec", None)
        if spec is None:
            raise ZooError("this process's first batch held no readable clip and the model has "
                           "no .spec to shape a stand-in input; make the dataset readable")
        inputs = example_inputs(spec.inputs, 1, fill=torch.zeros)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        logits = model(to_device(inputs, device))
        (logits.float().sum() * 0.0).backward()
    finally:
        for module, mode in modes:
            module.train(mode)


class EpochLog:
    """The per-epoch history as ``log.csv`` (rewritten whole, so a resumed run stays clean),
    and as TensorBoard scalars when tensorboard is installed."""

    def __init__(self, out_dir: Optional[Path]):
        self.path = out_dir / "log.csv" if out_dir else None
        self.writer = None
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                pass

    def write(self, history: List[Record]) -> None:
        if self.path is not None:
            columns = list(dict.fromkeys(k for record in history for k in record))
            with open(self.path, "w", newline="") as f:
                out = csv.DictWriter(f, fieldnames=columns)
                out.writeheader()
                out.writerows(history)
        if self.writer is not None:
            record = history[-1]
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def fit(model: nn.Module, train_loader: DataLoader, val_loader: Optional[DataLoader] = None,
        config: Optional[TrainConfig] = None) -> List[Record]:
    """Train `model` as `config` says; returns the history, one record per epoch.

    Every epoch ends with `evaluate` on `val_loader`, a row in ``out_dir/log.csv`` and an
    atomic ``out_dir/last.pt`` (plus ``best.pt`` on the best top1, or mAP: ``val_map``). With
    ``config.resume`` the run continues from that checkpoint exactly: weights, optimizer,
    schedule, epoch and RNG states. Under torchrun the model is wrapped in
    DistributedDataParallel; build loaders with `zoo.engine.distributed.make_loader`.
    """
    config = config or TrainConfig()
    device = dist_utils.setup(config.device)
    model.to(device)
    if config.bf16 is None:
        # each process measures; all take the main process's choice, so that they train alike
        choice = dist_utils.all_gather_objects(
            choose_bf16(model, config, device, train_loader.batch_size or 1))[0]
        config = dataclasses.replace(config, bf16=choice.bf16)
        if choice.rates and config.progress and dist_utils.is_main_process():
            print(f"zoo train: {choice.summary()}", flush=True)
    channels_last_model(model, config.channels_last)
    out_dir = Path(config.out_dir) if config.out_dir else None
    is_main = dist_utils.is_main_process()
    log = EpochLog(out_dir) if is_main else EpochLog(None)
    checkpoint = load_resumable(config.resume) if config.resume else None
    if checkpoint is not None:
        load_state(model, checkpoint, config.resume)
    else:
        seed_everything(config.seed)
    history: List[Record] = list(checkpoint.get("history", [])) if checkpoint else []
    start = checkpoint["epoch"] if checkpoint else 0
    classes = getattr(train_loader.dataset, "classes", None)
    try:
        for stage in plan_stages(config):
            if start >= stage.end:
                continue
            if not set_trainable(model, stage.frozen):
                raise ConfigError(f"training stage {stage.name!r} has no parameter to train"
                                  + (" (two-stage training needs parameters named 'fusion.*')"
                                     if stage.name == "fusion" else ""))
            optimizer = build_optimizer(model, config, stage.lr)
            scheduler = build_scheduler(optimizer, config, stage.end - stage.start,
                                        len(train_loader))
            if checkpoint is not None:
                if checkpoint.get("stage") == stage.name and start > stage.start:
                    optimizer.load_state_dict(checkpoint["optimizer"])
                    scheduler.load_state_dict(checkpoint["scheduler"])
                set_rng_state(checkpoint["rng"])
                checkpoint = None
            runner = (DistributedDataParallel(model, device_ids=[device.index]
                                              if device.type == "cuda" else None)
                      if dist_utils.is_distributed() else model)
            for epoch in range(max(start, stage.start), stage.end):
                began = time.time()
                if hasattr(train_loader.sampler, "set_epoch"):
                    train_loader.sampler.set_epoch(epoch)
                train_mode(model, stage.frozen)
                record: Record = {"epoch": epoch + 1, "stage": stage.name,
                                  "lr": optimizer.param_groups[0]["lr"]}
                record.update(train_one_epoch(runner, train_loader, optimizer, scheduler, config,
                                              device, desc=f"epoch {epoch + 1}"))
                if val_loader is not None:
                    metrics = evaluate(model, val_loader, config.bf16, config.progress)
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                record["seconds"] = round(time.time() - began, 3)
                history.append(record)
                if is_main:
                    _save(out_dir, model, optimizer, scheduler, epoch + 1, stage.name, history,
                          classes, config)
                    log.write(history)
                    if config.progress:
                        _print_record(record)
            del runner  # a DDP wrapper's gradient hooks must not outlive its stage
    finally:
        log.close()
    return history


def _primary_metric(record: Record) -> Optional[str]:
    return next((k for k in ("val_top1", "val_map") if k in record), None)


def _save(out_dir: Optional[Path], model, optimizer, scheduler, epoch: int, stage: str,
          history: List[Record], classes, config: TrainConfig) -> None:
    if out_dir is None:
        return
    extra = {"stage": stage, "history": history, "classes": list(classes) if classes else None,
             "train_config": config.to_dict()}
    save_checkpoint(out_dir / "last.pt", model, optimizer, scheduler, epoch, **extra)
    key = _primary_metric(history[-1])
    if key is not None and history[-1][key] >= max(r.get(key, -math.inf) for r in history):
        save_checkpoint(out_dir / "best.pt", model, None, None, epoch, **extra)


def _print_record(record: Record) -> None:
    from tqdm.auto import tqdm

    tqdm.write("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in record.items()))
