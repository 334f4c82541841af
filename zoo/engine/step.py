"""One optimisation step, shared by `zoo train` (zoo.engine.train) and the benchmark harness
(zoo.bench), and the cosine decay of `zoo train`'s schedule."""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Dict, Iterable, Iterator, Optional

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..tensors import autocast, to_device
from .fastconv import FastConv3d, conv3d_arguments, has_fast_conv3d

Inputs = Dict[str, torch.Tensor]


def loss_for(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits for multi-hot float labels, cross-entropy for class indices."""
    if labels.is_floating_point():
        return nn.functional.binary_cross_entropy_with_logits(logits, labels)
    return nn.functional.cross_entropy(logits, labels)


def cosine_decay(progress: float) -> float:
    """0.5 (1 + cos(pi x)) for the share `progress` of the decay done (clamped to [0, 1])."""
    return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 natively (see zoo.inference.detect_machine)."""
    from ..inference import detect_machine

    return detect_machine(device).native_bf16


class Fp32UnsafeBf16Conv3d(TorchFunctionMode):
    """Takes out of bf16 autocast the 3D convolutions that torch 2.14's bf16 CPU kernels get
    wrong, measured 8-10 calls each: (1) those whose temporal kernel is longer than their
    input's frames: over 2-4 frames their weight gradient is intermittently NaN on an
    AVX512-BF16 CPU (a 3-frame kernel over 2 frames and a 5-frame one over 3 or 4 fail in most
    shapes), and over 1 frame their output is not finite on an AMX one (I3D's Mixed_5c at 8
    frames of 112x112, width 1/4, in every call); (2) those of at most 16 output channels over
    more than 64x64 positions, whose weight gradient on an AMX CPU (oneDNN's brgconv_bwd_w)
    crashes the process or never returns from 96x96 input up (8 or 16 channels; 24 and more,
    or 80x80 and less, did not). They run in fp32 instead; the others keep bf16."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is nn.functional.conv3d:
            named = conv3d_arguments(args, kwargs)
            inputs, weight = named["input"], named["weight"]
            if inputs.dim() == 5 and weight.dtype == torch.float32 and (
                    inputs.shape[2] < weight.shape[2]
                    or (weight.requires_grad and weight.shape[0] <= 16
                        and inputs.shape[3] * inputs.shape[4] > 64 * 64)):
                with torch.autocast("cpu", enabled=False):
                    return func(**{**named, "input": inputs.float()})
        return func(*args, **kwargs)


@contextlib.contextmanager
def bf16_autocast(device: Any, bf16: bool) -> Iterator[None]:
    """bf16 autocast on `device` when asked (otherwise nothing), on a CPU with the 3D
    convolutions that torch's bf16 kernels get wrong kept in fp32 (`Fp32UnsafeBf16Conv3d`):
    what every bf16 forward pass of zoo (training, `zoo eval`, the benchmark) runs under."""
    guard = bf16 and torch.device(device).type == "cpu"
    with autocast(device, bf16), (Fp32UnsafeBf16Conv3d() if guard else contextlib.nullcontext()):
        yield


class TrainStep:
    """Forward, loss, backward, gradient clipping and the optimizer step for one batch.

    With `stream_weight` > 0, every stream that scores on its own (a two-stream model's
    streams) also gets its own loss, weighted by it: each stream is then a classifier by
    itself, as when the streams are trained separately before fusion (Simonyan 2014).
    With `channels_last`, batches are laid out channels-last (convert the model with
    zoo.inference.channels_last_model). `bf16` None means bf16 autocast where the device runs
    bf16 natively (a GPU that supports it, a CPU with AMX or AVX512-BF16: what
    `zoo.inference.detect_machine` reads), fp32 elsewhere. On a CPU, the model's
    depthwise and temporal-only 3D convolutions are computed by `FastConv3d`: with
    `fast_conv3d` None, each where it measures faster than torch's (the first time a call of its
    shapes comes, on copies of its tensors); True: all of them; False: none."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 bf16: Optional[bool] = False, grad_clip: Optional[float] = None,
                 stream_weight: float = 0.0, channels_last: bool = False,
                 fast_conv3d: Optional[bool] = None):
        self.model, self.optimizer, self.device = model, optimizer, torch.device(device)
        self.bf16 = native_bf16(self.device) if bf16 is None else bf16
        self.grad_clip, self.stream_weight = grad_clip, stream_weight
        self.channels_last = channels_last
        applies = self.device.type == "cpu" and has_fast_conv3d(model) and fast_conv3d is not False
        self.fastconv = FastConv3d(measure=fast_conv3d is None) if applies else None
        # the last batch's labels and whether each clip's top-1 was right (None: multi-hot)
        self.labels: Optional[torch.Tensor] = None
        self.hits: Optional[torch.Tensor] = None
        self.params: Iterable[nn.Parameter] = [p for group in optimizer.param_groups
                                               for p in group["params"]]

    def loss(self, inputs: Inputs, labels: torch.Tensor) -> torch.Tensor:
        """The batch's training loss (with gradients)."""
        inputs = to_device(inputs, self.device)
        if self.channels_last:
            from ..inference import channels_last_inputs
            inputs = channels_last_inputs(inputs)
        with bf16_autocast(self.device, self.bf16), \
                (self.fastconv or contextlib.nullcontext()):
            if self.stream_weight and hasattr(self.model, "forward_with_streams"):
                logits, streams = self.model.forward_with_streams(inputs)
            else:
                logits, streams = self.model(inputs), {}
        loss = loss_for(labels, logits.float())
        if not labels.is_floating_point():
            self.labels, self.hits = labels.cpu(), (logits.detach().argmax(1) == labels).cpu()
        for stream_logits in streams.values():
            loss = loss + self.stream_weight * loss_for(labels, stream_logits.float())
        return loss

    def __call__(self, inputs: Inputs, labels: torch.Tensor, share: float = 1.0) -> torch.Tensor:
        """One step on a batch; `share` scales the loss (a process's share of a global batch).
        Returns the detached loss.

        Under bf16 autocast on a CPU the 3D convolutions that torch's bf16 kernels get wrong run
        in fp32 (`Fp32UnsafeBf16Conv3d`), and a step whose gradients are still not finite is
        taken again in fp32, which the step keeps to from then on (a bf16 kernel this guard does
        not know of); not in a distributed run, whose processes must reduce their gradients in
        step."""
        loss = self._backward(inputs, labels, share)
        if self.bf16 and not self._distributed() and not self._gradients_finite():
            warnings.warn("bf16 autocast gave non-finite gradients (a bf16 kernel of this "
                          "device): this step is taken again in fp32, and so are the next ones",
                          RuntimeWarning, stacklevel=2)
            self.bf16 = False
            loss = self._backward(inputs, labels, share)
        self.finish()
        return loss.detach()

    def _backward(self, inputs: Inputs, labels: torch.Tensor, share: float) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(inputs, labels.to(self.device, non_blocking=True))
        (loss * share if share != 1 else loss).backward()
        return loss

    def _gradients_finite(self) -> bool:
        grads = [p.grad for p in self.params if p.grad is not None]
        return not grads or bool(torch.isfinite(nn.utils.get_total_norm(grads)))

    def _distributed(self) -> bool:
        return isinstance(self.model, nn.parallel.DistributedDataParallel)

    def finish(self) -> None:
        """Clip the gradients (when asked) and take the optimizer step."""
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
