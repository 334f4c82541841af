"""Export a model for deployment: ONNX, TorchScript, a `torch.export` program, or a plain state
dict (`export_state_dict`, optionally with the keys of the preset's torchvision / pytorchvideo
equivalent).

`example_inputs` is what the model reads: one tensor ``[B, C, T, H, W]`` or a dict
``{stream: tensor}``. The batch dimension is exported as dynamic. In the ONNX file every stream
is one graph input named after it (a single tensor input is named ``input``) and the output is
``logits``; TorchScript and exported programs keep the model's own calling convention.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]
PathLike = Union[str, Path]


def _named(example_inputs: Inputs) -> Dict[str, torch.Tensor]:
    if isinstance(example_inputs, torch.Tensor):
        return {"input": example_inputs}
    return dict(example_inputs)


class _PositionalStreams(nn.Module):
    """The model called with one positional tensor per stream (what ONNX export wants)."""

    def __init__(self, model: nn.Module, names: List[str], as_dict: bool):
        super().__init__()
        self.model, self.names, self.as_dict = model, names, as_dict

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.names, tensors)) if self.as_dict else tensors[0])


def _prepare(path: PathLike, model: nn.Module) -> Tuple[Path, bool]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    return path, was_training


def export_onnx(model: nn.Module, path: PathLike, example_inputs: Inputs, opset: int = 18,
                dynamo: Optional[bool] = None) -> Path:
    """Write `model` as ONNX; inputs are named after the streams, the output ``logits``.

    ``dynamo=False`` uses the TorchScript-based exporter (fast: 1-5 s for the first-party
    presets at small inputs), ``dynamo=True`` the `torch.export`-based one (tens of seconds, but
    it exports shape-dependent code such as pooling sized from the input, e.g. i3d's logits
    head or SlowFast's adaptive pooling). The default, None, tries the TorchScript exporter and
    falls back to the dynamo one, with a warning, when it cannot export the model."""
    named = _named(example_inputs)
    names = list(named)
    path, was_training = _prepare(path, model)
    wrapper = _PositionalStreams(model, names, as_dict=not isinstance(example_inputs, torch.Tensor))
    wrapper.eval()
    try:
        if dynamo is None:
            try:
                with _output_unless_success():  # it prints the whole TorchScript graph on failure
                    _onnx_export(wrapper, named, path, opset, dynamo=False)
            except Exception as exc:  # the TorchScript exporter's errors have no common type
                warnings.warn(f"the TorchScript-based ONNX exporter cannot export this model "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                              f"using the dynamo exporter (slower)", RuntimeWarning, stacklevel=2)
                _onnx_export(wrapper, named, path, opset, dynamo=True)
        else:
            _onnx_export(wrapper, named, path, opset, dynamo=dynamo)
    finally:
        model.train(was_training)
    return path


@contextlib.contextmanager
def _output_unless_success():
    """Hold back what the process writes to stdout and stderr (fds 1 and 2, C++ output
    included) inside the block; pass it on if the block succeeds, drop it if it raises."""
    streams = ((1, sys.stdout), (2, sys.stderr))
    for _, stream in streams:
        stream.flush()
    try:
        saved = [os.dup(fd) for fd, _ in streams]
    except OSError:  # no usable stdout / stderr descriptors
        yield
        return
    held = [tempfile.TemporaryFile() for _ in streams]
    ok = False
    try:
        for (fd, _), file in zip(streams, held):
            os.dup2(file.fileno(), fd)
        yield
        ok = True
    finally:
        for (fd, stream), file, old in zip(streams, held, saved):
            stream.flush()
            os.dup2(old, fd)
            os.close(old)
            file.seek(0)
            text = file.read().decode(errors="replace")
            file.close()
            if ok and text:
                stream.write(text)
                stream.flush()


def _onnx_export(wrapper: nn.Module, named: Dict[str, torch.Tensor], path: Path, opset: int,
                 dynamo: bool) -> None:
    names = list(named)
    if dynamo:
        batch = torch.export.Dim("batch")
        options = {"dynamic_shapes": (tuple({0: batch} for _ in names),)}  # for *tensors
    else:
        options = {"dynamic_axes": {n: {0: "batch"} for n in names + ["logits"]}}
    torch.onnx.export(wrapper, tuple(named.values()), str(path), input_names=names,
                      output_names=["logits"], opset_version=opset, dynamo=dynamo,
                      external_data=False, **options)


def onnx_max_abs_diff(model: nn.Module, path: PathLike, inputs: Inputs,
                      runtime: str = "onnxruntime") -> float:
    """Run the exported file (ONNX, or an OpenVINO IR) with `runtime` (CPU, float32: what is
    checked is the conversion) and `model` on `inputs`; the largest absolute difference of their
    logits."""
    from .runtimes import load_exported, max_abs_diff

    return max_abs_diff(model, load_exported(path, runtime, fp32=True), inputs)


def export_torchscript(model: nn.Module, path: PathLike, example_inputs: Inputs) -> Path:
    """Trace `model` on `example_inputs` and save it; ``torch.jit.load(path)`` reads the same
    inputs (tensor or dict) as the model."""
    path, was_training = _prepare(path, model)
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model, (example_inputs,),
                                     strict=isinstance(example_inputs, torch.Tensor))
        traced.save(str(path))
    finally:
        model.train(was_training)
    return path


def export_program(model: nn.Module, path: PathLike, example_inputs: Inputs) -> Path:
    """`torch.export` the model with a dynamic batch size and save the program (``.pt2``);
    ``torch.export.load(path).module()`` reads the same inputs as the model."""
    batch = torch.export.Dim("batch")
    if isinstance(example_inputs, torch.Tensor):
        dynamic = ({0: batch},)
    else:
        dynamic = ({name: {0: batch} for name in example_inputs},)
    path, was_training = _prepare(path, model)
    try:
        program = torch.export.export(model, (example_inputs,), dynamic_shapes=dynamic)
        torch.export.save(program, str(path))
    finally:
        model.train(was_training)
    return path


def export_state_dict(model: nn.Module, path: PathLike, peer: Optional[str] = None) -> Path:
    """``torch.save`` the model's state dict; `peer` ("torchvision", "pytorchvideo"): under the keys
    of the preset's equivalent model there (`zoo.weights.to_peer_state_dict`), loadable with that
    library's ``model.load_state_dict``."""
    from ..weights import to_peer_state_dict

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(to_peer_state_dict(model, peer) if peer else model.state_dict(), path)
    return path
