"""Checkpoints that cannot run code: written atomically, read with ``weights_only=True``.

A training checkpoint (``.pt``) holds only tensors, plain containers and primitives: the model
config, model state, optimizer and scheduler state, the epoch, and the RNG states of torch,
numpy and python's `random` (so a resumed run draws the same numbers as an uninterrupted one).
A weights-only file (``.safetensors``) holds the model state, with the config as JSON metadata.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Union

import numpy as np
import torch
from torch import nn

from ..errors import ZooError

PathLike = Union[str, Path]
FORMAT = "zoo.checkpoint/1"


class CheckpointError(ZooError, ValueError):
    """A checkpoint that is missing, corrupt, truncated or not a zoo checkpoint."""


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or DataParallel) wrapper."""
    return getattr(model, "module", model)


def atomic_write(path: PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside `path`, fsync it, then rename it over
    `path`: a reader sees the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


# -- random number generators --------------------------------------------------------------
def rng_state() -> Dict[str, Any]:
    """The state of every RNG training draws from, as tensors and lists."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- training checkpoints ------------------------------------------------------------------
def save_checkpoint(path: PathLike, model: nn.Module, optimizer=None, scheduler=None,
                    epoch: int = 0, **extra: Any) -> Path:
    """Write a resumable checkpoint atomically; `extra` must be plain data (history, classes)."""
    model = unwrap(model)
    state = {
        "format": FORMAT,
        "config": getattr(model, "config", None),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "rng": rng_state(),
        **extra,
    }
    return atomic_write(path, lambda f: torch.save(state, f))


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(
        f"cannot read checkpoint {str(path)!r}: {type(exc).__name__}: {exc}. The file is "
        f"corrupt, truncated or not a zoo checkpoint; use another checkpoint (e.g. the previous "
        f"epoch's) or train again.")


def _check_exists(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    return path


def load_checkpoint(path: PathLike,
                    map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (weights_only: no code runs)."""
    path = _check_exists(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{str(path)!r} is not a zoo checkpoint (it has no model state)")
    return state


def load_resumable(path: PathLike) -> Dict[str, Any]:
    """A checkpoint that `save_checkpoint` wrote, to resume training from; anything else (a
    state dict saved by another program, even one with a ``model`` key) fails naming what the
    file holds."""
    state = load_checkpoint(path)
    if state.get("format") != FORMAT or not {"epoch", "rng"} <= set(state):
        found = ", ".join(repr(k) for k in sorted(map(str, state))[:8])
        raise CheckpointError(
            f"{str(path)!r} is not a zoo checkpoint: it holds {found}, not the 'format': "
            f"{FORMAT!r}, epoch and RNG states that `zoo train` writes, so it cannot be resumed. "
            f"To start from its weights instead, build the model with --set weights={path}")
    return state


def load_state(model: nn.Module, state: Dict[str, Any], path: PathLike) -> None:
    """``load_state_dict`` of a file's model state, failing with a CheckpointError naming it."""
    try:
        unwrap(model).load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"the weights in {str(path)!r} do not fit this model: "
                              f"{' '.join(str(exc).split())[:500]}") from exc


def restore(checkpoint: Dict[str, Any], model: nn.Module, optimizer=None, scheduler=None,
            rng: bool = True) -> int:
    """Load a checkpoint's states into the given objects; returns the epoch it ended."""
    unwrap(model).load_state_dict(checkpoint["model"])
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if rng and checkpoint.get("rng") is not None:
        set_rng_state(checkpoint["rng"])
    return int(checkpoint["epoch"])


# -- weights-only files --------------------------------------------------------------------
def save_weights(path: PathLike, model: nn.Module) -> Path:
    """Write the model state as safetensors, with its config as JSON metadata."""
    from safetensors.torch import save

    model = unwrap(model)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": "zoo.weights/1"}
    if getattr(model, "config", None) is not None:
        metadata["config"] = json.dumps(model.config)
    return atomic_write(path, lambda f: f.write(save(state, metadata=metadata)))


def load_weights(path: PathLike) -> Dict[str, Any]:
    """``{"model": state_dict, "config": dict | None, ...}`` from a ``.safetensors`` weights
    file or a ``.pt`` checkpoint."""
    path = _check_exists(path)
    if path.suffix != ".safetensors":
        return load_checkpoint(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        config = json.loads(metadata["config"]) if "config" in metadata else None
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    return {"model": state, "config": config}


def load_model_weights(model: nn.Module, path: PathLike) -> Dict[str, Any]:
    """Load the weights of a checkpoint or weights file into `model`; returns the file's dict."""
    state = load_weights(path)
    load_state(model, state, path)
    return state

