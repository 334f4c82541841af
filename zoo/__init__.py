"""zoo: a plugin-based model zoo for video classification.

>>> import zoo
>>> zoo.list("presets")
>>> model = zoo.build("cnn_lstm", num_classes=10)

Importing zoo is light: torch, timm, pytorchvideo, OpenCV and PyAV load only when a component
that needs them is built.
"""
from __future__ import annotations

from typing import List, Optional

from .errors import (AmbiguousComponentError, ConfigError, IncompatibleError, PluginLoadError,
                     UnknownComponentError, ZooError)
from .registry import (REGISTRY, Component, Family, Registry, canonical_kind, current, register,
                       register_backbone, register_dataset, register_fusion, register_preset,
                       register_temporal_head)
from .specs import CLIP, FRAME, FeatureSpec, FusionSpec, HeadSpec, InputSpec, ModelMeta, ModelSpec

__version__ = "0.1.0"


def build(source, num_classes: Optional[int] = None, **overrides):
    """Build a model from a preset name, a YAML path or a config dict (see zoo.build.build)."""
    from .builder import build as _build

    return _build(source, num_classes=num_classes, **overrides)


def list(kind: str = "preset", pattern: str = "*") -> List[str]:  # noqa: A001 - timm-style API
    """Registered names of `kind` (backbones, temporal_heads, fusions, presets, datasets)
    matching a shell-style pattern, e.g. ``zoo.list("backbones", "resnet*")``."""
    return current().names(kind, pattern)


def get(kind: str, name: str) -> Component:
    """The registered component `name` of `kind` (``dist:name`` picks a distribution)."""
    return current().get(kind, name)


def plugins(load: bool = True):
    """Every distribution that declares zoo entry points, with each entry's state (with `load`,
    after importing them all, as `zoo plugins` does: a broken one shows its error)."""
    if load:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # each failure is in its report
            current().load_all()
    return current().plugins()


def optimize(model, example_inputs=None, **options):
    """The fastest inference path for this machine whose outputs agree with eager fp32, chosen
    by measuring (see zoo.inference.optimize): ``fast = zoo.optimize(model); fast(clips)``."""
    from .inference import optimize as _optimize

    return _optimize(model, example_inputs, **options)


def describe(name: str) -> str:
    """A readable description of a preset or component (see `zoo describe NAME`)."""
    from .introspect import describe as _describe

    return _describe(name)


__all__ = [
    "build", "list", "get", "plugins", "describe", "optimize", "register", "register_backbone",
    "register_temporal_head", "register_fusion", "register_preset", "register_dataset",
    "REGISTRY", "Registry", "current", "Component", "Family", "canonical_kind", "InputSpec", "FeatureSpec", "HeadSpec",
    "FusionSpec", "ModelSpec", "ModelMeta", "FRAME", "CLIP", "ZooError", "UnknownComponentError",
    "AmbiguousComponentError", "PluginLoadError", "IncompatibleError", "ConfigError",
]
