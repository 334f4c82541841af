"""Training, evaluation, checkpoints, distributed training, prediction and export.

Names are imported on first use, so ``import zoo.engine`` stays light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "config",
    "fit": "train", "evaluate": "train", "collect_scores": "train", "seed_everything": "train",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint",
    "save_weights": "checkpoint", "load_weights": "checkpoint", "CheckpointError": "checkpoint",
    "make_loader": "distributed",
    "predict_video": "predict",
    "export_onnx": "export", "export_torchscript": "export", "export_program": "export",
    "export_openvino": "runtimes", "load_exported": "runtimes", "export_int8": "quantize",
    "add_commands": "commands",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
