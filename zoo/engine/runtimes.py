"""Run an exported model under the CPU runtimes a user would pick instead of PyTorch: ONNX
Runtime and OpenVINO.

`load_exported(path, runtime)` reads an ONNX file (ONNX Runtime or OpenVINO) or an OpenVINO IR
``.xml`` (OpenVINO) and returns an `ExportedModel`: an ``nn.Module`` without parameters that is
called like the zoo model it was exported from (one tensor, or ``{stream: tensor}``) and returns
float32 logits. `export_openvino` writes the IR (through zoo's ONNX export, so the stream names
and the dynamic batch size are the same). `cached_onnx` exports a model once into zoo's cache,
keyed by its config and weights (what ``zoo predict --runtime`` reads).

Both runtimes use the process's intra-op thread count (``torch.get_num_threads()``) unless told
otherwise: ONNX Runtime with every graph optimisation, OpenVINO on its CPU device with the
latency hint, in the precision it picks (bf16 on a CPU with AVX512-BF16 or AMX, else f32;
`ExportedModel.precision` says which) unless told to keep float32 (``fp32=True``).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from ..errors import ZooError

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]
PathLike = Union[str, Path]

EXTRA = "zoo-video[runtimes]"


class MissingRuntimeError(ZooError, ImportError):
    """A runtime's package is not installed."""


def require(package: str):
    """Import `package` (``onnxruntime``, ``openvino``) or fail naming the pip command."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingRuntimeError(f"{package} is not installed ({exc}); pip install {package} "
                                  f"(or pip install '{EXTRA}')") from None


def _threads(threads: Optional[int]) -> int:
    return threads or torch.get_num_threads()


def _onnxruntime(path: Path, threads: int, fp32: bool):
    """ONNX Runtime's CPU provider runs the graph in its own precision: float32 either way."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(feeds: Dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feeds)[0]
    return names, run, "as exported"


@functools.lru_cache(maxsize=None)
def _openvino_core() -> Any:
    """The process's one OpenVINO Core. Each Core's CPU plugin points the thread's alternate
    signal stack at a buffer of its own and restores the previous one when it goes, so Cores that
    end out of order left it on freed memory, and Python's next signal handler (SIGCHLD from a
    DataLoader worker) corrupted the heap; one Core that lives as long as the process does not."""
    return require("openvino").Core()


def _openvino(path: Path, threads: int, fp32: bool):
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    float32 = {"INFERENCE_PRECISION_HINT": "f32"}
    try:
        compiled = _openvino_core().compile_model(str(path), "CPU",
                                                  {**config, **(float32 if fp32 else {})})
    except RuntimeError:
        if fp32:
            raise
        # the precision it picks can lack kernels for a graph (OpenVINO 2026.4 in bf16 on an
        # AVX512-BF16 CPU: "No suitable implementations" for X3D-XS's int8 export); f32 has them
        compiled = _openvino_core().compile_model(str(path), "CPU", {**config, **float32})
    names = [port.get_any_name() for port in compiled.inputs]
    precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # f32, bf16
    request = compiled.create_infer_request()

    def run(feeds: Dict[str, np.ndarray]) -> np.ndarray:
        return request.infer(feeds)[0].copy()  # the request reuses its output buffer
    return names, run, precision


_LOADERS = {"onnxruntime": _onnxruntime, "openvino": _openvino}


class ExportedModel(nn.Module):
    """An exported model run by `runtime`, called like the model it came from, in the precision
    the runtime picks for this processor (`precision`), or in float32 with `fp32`.

    `spec` and `classes`, when given, are the source model's (``zoo predict`` reads them)."""

    def __init__(self, path: PathLike, runtime: str, threads: Optional[int] = None,
                 spec: Any = None, classes: Optional[List[str]] = None, fp32: bool = False):
        super().__init__()
        path = Path(path)
        if runtime not in _LOADERS:
            raise ZooError(f"runtime {runtime!r} cannot run an exported file; choose "
                           f"{' or '.join(_LOADERS)}")
        if path.suffix == ".xml" and runtime != "openvino":
            raise ZooError(f"{path}: an OpenVINO IR runs under openvino, not {runtime}")
        self.path, self.runtime = path, runtime
        self.input_names, self._run, self.precision = _LOADERS[runtime](path, _threads(threads),
                                                                        fp32)
        self.spec, self.classes = spec, classes

    def feeds(self, inputs: Inputs) -> Dict[str, np.ndarray]:
        """The runtime's input arrays for a tensor or ``{stream: tensor}`` batch."""
        if isinstance(inputs, torch.Tensor):
            if len(self.input_names) != 1:
                raise ZooError(f"{self.path} reads {len(self.input_names)} inputs "
                               f"({', '.join(self.input_names)}); pass a {{stream: tensor}} dict")
            inputs = {self.input_names[0]: inputs}
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ZooError(f"{self.path} reads inputs {', '.join(self.input_names)}; "
                           f"{', '.join(missing)} not given (got {', '.join(inputs)})")
        return {n: inputs[n].detach().float().cpu().contiguous().numpy() for n in self.input_names}

    def forward(self, inputs: Inputs) -> torch.Tensor:
        return torch.from_numpy(self._run(self.feeds(inputs)))


def load_exported(path: PathLike, runtime: str, threads: Optional[int] = None,
                  fp32: bool = False) -> ExportedModel:
    """`path` (ONNX, or OpenVINO IR ``.xml``) under `runtime` (onnxruntime, openvino); `fp32`
    keeps float32 where the runtime would pick a lower precision."""
    return ExportedModel(path, runtime, threads, fp32=fp32)


def export_openvino(model: nn.Module, path: PathLike, example_inputs: Inputs,
                    onnx: Optional[PathLike] = None, **onnx_options: Any) -> Path:
    """Write `model` as an OpenVINO IR (``path``: ``.xml``, weights beside it in ``.bin``, fp32)
    converted from its ONNX export: the file `onnx` when given, else one exported here with
    `onnx_options` (see `export_onnx`)."""
    from .export import export_onnx

    ov = require("openvino")
    path = Path(path)
    if path.suffix != ".xml":
        raise ZooError(f"{path}: an OpenVINO IR is named NAME.xml (its weights go to NAME.bin)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = onnx or export_onnx(model, Path(tmp) / "model.onnx", example_inputs, **onnx_options)
        ov.save_model(ov.convert_model(str(source)), str(path), compress_to_fp16=False)
    return path


def model_digest(model: nn.Module) -> str:
    """A hash of `model`'s config (or class), input spec and weights: the cache key of its
    exports."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None) or type(model).__qualname__
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(repr(getattr(model, "spec", None)).encode())
    digest.update(torch.__version__.encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:20]


def cache_folder() -> Path:
    """Where `cached_onnx` keeps its exports: ``$ZOO_CACHE/exported`` (``~/.cache/zoo``)."""
    from ..weights import cache_dir

    return cache_dir() / "exported"


def cached_onnx(model: nn.Module, example_inputs: Inputs,
                log: Callable[[str], None] = lambda _: None) -> Path:
    """`model`'s ONNX export in `cache_folder()`, exported on first use (written under a
    temporary name, then renamed, so that a killed export leaves nothing behind)."""
    from .export import export_onnx

    path = cache_folder() / f"{model_digest(model)}.onnx"
    if not path.exists():
        log(f"exporting the model to {path} (once per model and weights)")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
        try:
            export_onnx(model, partial, example_inputs)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return path


def max_abs_diff(model: nn.Module, exported: Callable[[Inputs], torch.Tensor], inputs: Inputs) -> float:
    """The largest absolute difference of `exported`'s logits from `model`'s (eval mode) on
    `inputs`."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(inputs).float().cpu()
    finally:
        model.train(was_training)
    return float((exported(inputs) - expected).abs().max())
