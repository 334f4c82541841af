"""`TrainConfig`: every training setting, typed, read from YAML and command-line flags."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from ..errors import ConfigError, suggest

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")
_FLAG_ALIASES = {"out_dir": ("--out",)}
_FLAG_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}


@dataclass
class TrainConfig:
    """Settings of `fit`. `batch_size` is the global batch, split over data-parallel processes."""

    epochs: int = 10
    batch_size: int = 8
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine | step | constant, stepped every iteration
    warmup_epochs: float = 0.0  # linear warm-up from 0, before the schedule
    step_epochs: int = 10  # step schedule: multiply the lr by `gamma` every `step_epochs`
    gamma: float = 0.1
    bf16: Optional[bool] = None  # bfloat16 autocast; None: where the device runs it natively
    channels_last: bool = True  # channels-last memory for weights and batches (faster 3D convs)
    grad_clip: Optional[float] = None  # max gradient norm (useful for LSTMs)
    freeze_backbone: bool = False  # train no parameter whose name contains "backbone"
    fusion_epochs: int = 0  # > 0: two-stage training of a learned fusion, see `fit`
    fusion_lr: Optional[float] = None  # stage-2 learning rate (default: `lr`)
    seed: int = 0
    num_workers: Optional[int] = None  # DataLoader workers (None: zoo.data.loader_settings)
    device: str = "auto"  # auto | cpu | cuda
    out_dir: Optional[str] = None  # checkpoints (last.pt, best.pt) and log.csv
    resume: Optional[str] = None  # a checkpoint to continue from
    progress: bool = True  # tqdm progress bars

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}."
                              + suggest(self.optimizer, OPTIMIZERS))
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} is not one of {SCHEDULES}."
                              + suggest(self.schedule, SCHEDULES))
        if self.epochs < 0 or self.fusion_epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs and fusion_epochs must be >= 0, batch_size >= 1 and lr > 0 "
                              f"(got epochs={self.epochs}, fusion_epochs={self.fusion_epochs}, "
                              f"batch_size={self.batch_size}, lr={self.lr})")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.fusion_epochs

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise ConfigError(f"unknown training setting {key!r}." + suggest(key, known))
        hints = typing.get_type_hints(cls)
        try:
            return cls(**{k: _coerce(v, hints[k]) for k, v in values.items()})
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad training setting: {exc}") from exc

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "TrainConfig":
        """Read the file's ``train:`` section, or the whole file when it has none."""
        return cls.from_dict(train_section(read_yaml(path)))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per field (``--batch-size``, ``--bf16/--no-bf16``, ...), default None."""
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            kind = _base_type(hints[f.name])
            flags = (f"--{f.name.replace('_', '-')}",) + _FLAG_ALIASES.get(f.name, ())
            if kind is bool:
                parser.add_argument(*flags, dest=f.name, default=None,
                                    action=argparse.BooleanOptionalAction)
            else:
                parser.add_argument(*flags, dest=f.name, type=kind, default=None,
                                    choices=_FLAG_CHOICES.get(f.name), help=f"default: {f.default}")

    def updated(self, args: argparse.Namespace) -> "TrainConfig":
        """A copy with the fields given on the command line (not None) replaced."""
        given = {f.name: getattr(args, f.name) for f in fields(self)
                 if getattr(args, f.name, None) is not None}
        return dataclasses.replace(self, **given)


def read_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{str(path)!r} must hold a mapping, not {type(values).__name__}")
    return values


def train_section(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``train:`` mapping of a config file, or the whole file when it has none."""
    section = values.get("train")
    return section if isinstance(section, dict) else values


def _base_type(hint) -> type:
    """``Optional[float]`` -> float."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _coerce(value: Any, hint) -> Any:
    kind = _base_type(hint)
    if value is None or isinstance(value, kind):
        return value
    if kind is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        return float(value)  # YAML reads 1e-3 as a string
    raise ConfigError(f"expected {kind.__name__}, got {value!r}")
