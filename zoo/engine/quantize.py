"""int8 inference through ONNX Runtime's static quantisation, offered only where it is honest.

`quantize_onnx` rewrites an fp32 ONNX file with int8 weights (per channel) and uint8
activations (QDQ format: ONNX Runtime fuses the pairs into integer kernels, and OpenVINO reads
them as int8 too), with activation ranges calibrated on clips the caller gives; each stream's
first layer and the classifiers stay in fp32 (`outer_layers`). `agreement`
compares two predictors on the same clips (top-1 agreement, largest logit difference), and
`check_agreement` refuses an int8 model that agrees with fp32 on fewer than 99% of them.
`export_int8` does all three for ``zoo export --int8``: calibration on the built-in dataset's
train clips, agreement on its test clips (`builtin_batches`), at the model's own input spec.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import ZooError
from ..inference import MIN_AGREEMENT, logit_agreement
from .runtimes import ExportedModel, export_openvino, require

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]
PathLike = Union[str, Path]

CALIBRATION_CLIPS = 48  # built-in train clips (4 of each class) that set the activation ranges
BATCH = 16


class AgreementError(ZooError):
    """A quantised model that disagrees with fp32 too often to be offered."""


@dataclass(frozen=True)
class Agreement:
    """How a model's predictions compare with the reference's on the same clips."""

    top1: float  # share of clips with the same arg-max class
    max_logit_diff: float  # largest absolute logit difference
    clips: int

    def __str__(self) -> str:
        return (f"top-1 agreement {self.top1:.1%} on {self.clips} clips, largest logit "
                f"difference {self.max_logit_diff:.2g}")


def agreement(reference: Callable[[Inputs], torch.Tensor], candidate: Callable[[Inputs], torch.Tensor],
              batches: Iterable[Inputs]) -> Agreement:
    """Run both predictors on every batch and compare their logits."""
    expected, outputs = [], []
    for inputs in batches:
        with torch.inference_mode():
            expected.append(reference(inputs).float())
            outputs.append(candidate(inputs).float())
    if not expected:
        raise ValueError("agreement needs at least one batch")
    agree, diff = logit_agreement(torch.cat(outputs), torch.cat(expected))
    return Agreement(agree, diff, sum(len(x) for x in expected))


def offered(measured: Agreement, minimum: float = MIN_AGREEMENT) -> bool:
    """Whether a quantised model that agrees with fp32 as `measured` is offered."""
    return measured.top1 >= minimum


def check_agreement(measured: Agreement, what: str = "int8",
                    minimum: float = MIN_AGREEMENT) -> Agreement:
    """`measured`, or AgreementError when its top-1 agreement is below `minimum`."""
    if not offered(measured, minimum):
        raise AgreementError(f"{what} is not offered for this model: {measured} against fp32, "
                             f"below the {minimum:.0%} required; use fp32")
    return measured


class _Calibration:
    """ONNX Runtime's CalibrationDataReader protocol (`get_next`) over input batches."""

    def __init__(self, batches: Iterable[Mapping[str, np.ndarray]]):
        self._batches = iter(batches)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        return next(self._batches, None)


WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def outer_layers(graph) -> List[str]:
    """The names of an ONNX graph's weighted nodes (convolutions, matmuls) with no weighted node
    before them (each stream's stem) or none after them (the classifiers): the layers that int8
    hurts most, kept in fp32."""
    nodes = list(graph.node)  # ONNX keeps them in topological order
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    consumers: Dict[int, List[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            if name in producer:
                consumers.setdefault(producer[name], []).append(i)
    weighted = [node.op_type in WEIGHTED_OPS for node in nodes]
    before = [False] * len(nodes)  # a weighted node feeds this one, directly or not
    for i, node in enumerate(nodes):
        before[i] = any(weighted[producer[n]] or before[producer[n]] for n in node.input if n in producer)
    after = [False] * len(nodes)  # this node feeds a weighted one, directly or not
    for i in reversed(range(len(nodes))):
        after[i] = any(weighted[j] or after[j] for j in consumers.get(i, ()))
    return [node.name for i, node in enumerate(nodes) if weighted[i] and not (before[i] and after[i])]


def quantize_onnx(source: PathLike, path: PathLike,
                  calibration: Iterable[Mapping[str, np.ndarray]]) -> Path:
    """Write `source` (fp32 ONNX) statically quantised to `path`: per-channel int8 weights
    (7-bit range: processors without VNNI saturate on the full one), uint8 activations with
    ranges from the `calibration` batches (``{input name: array}``), the `outer_layers` left
    in fp32."""
    require("onnxruntime")
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))  # shape inference and graph folding first
        quantize_static(str(prepared), str(path), _Calibration(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=outer_layers(onnx.load(str(prepared)).graph))
    return path


def builtin_batches(model: nn.Module, split: str, clips: Optional[int] = None,
                    batch_size: int = BATCH) -> List[Dict[str, torch.Tensor]]:
    """`clips` clips (default: the whole split; the dataset draws only as many as asked, every
    class alike) of the built-in dataset's `split`, at `model`'s input spec, as
    ``{stream: [B, C, T, H, W]}`` batches."""
    from ..registry import current

    factory = current().get("dataset", "moving_shapes")
    per_class = None if clips is None else -(-clips // len(factory(split=split).classes))
    dataset = factory(split=split, inputs=model.spec.inputs, clips_per_class=per_class)
    count = len(dataset) if clips is None else min(clips, len(dataset))
    batches = []
    for start in range(0, count, batch_size):
        samples = [dataset[i]["inputs"] for i in range(start, min(start + batch_size, count))]
        batches.append({name: torch.stack([s[name] for s in samples]) for name in samples[0]})
    return batches


def calibrate_int8(model: nn.Module, fp32: PathLike, path: PathLike,
                   clips: int = CALIBRATION_CLIPS) -> Path:
    """`quantize_onnx` of `fp32` (`model`'s ONNX export), calibrated on `clips` built-in train
    clips at the model's input spec."""
    names = ExportedModel(fp32, "onnxruntime")
    return quantize_onnx(fp32, path, (names.feeds(b) for b in builtin_batches(model, "train", clips)))


def export_int8(model: nn.Module, path: PathLike, fmt: str = "onnx") -> Tuple[Path, Agreement]:
    """Export `model` as int8 (`fmt`: ``onnx`` or ``openvino``, an IR converted from the
    quantised ONNX file), calibrated on built-in train clips; refused (AgreementError, nothing
    written) unless its top-1 agreement with the fp32 model on the built-in test clips, run by
    ONNX Runtime, is at least 99%."""
    from ..tensors import example_inputs
    from .export import export_onnx

    path = Path(path)
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", example_inputs(model.spec.inputs, 2))
        int8 = calibrate_int8(model, fp32, Path(tmp) / "int8.onnx")
        measured = check_agreement(agreement(model, ExportedModel(int8, "onnxruntime"),
                                             builtin_batches(model, "test")))
        if fmt == "openvino":
            export_openvino(model, path, None, onnx=int8)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(int8.read_bytes())
    return path, measured
