"""`zoo.build` (this module is zoo.builder): from a preset name, YAML file or dict to a checked, ready nn.Module."""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from . import config as config_lib
from .errors import ConfigError, IncompatibleError
from .registry import REGISTRY, Component
from .specs import LATE, FeatureSpec, FusionSpec, HeadSpec, InputSpec, ModelSpec

DEFAULT_NUM_CLASSES = 400  # Kinetics-400, as timm defaults to ImageNet's 1000


def _kwargs(comp_cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in comp_cfg.items() if k not in ("name", "temporal_head", "late")}


def _call(comp: Component, where: str, *args, **kwargs):
    try:
        return comp(*args, **kwargs)
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise ConfigError(f"{where}: {comp.kind} {comp.name!r} rejected its arguments: {exc}. "
                          f"`zoo describe {comp.name}` lists what it takes.") from exc


def _build_backbone(sname: str, stream: Dict[str, Any], spec: InputSpec):
    comp = REGISTRY.get("backbone", stream["backbone"]["name"])
    module = _call(comp, f"stream {sname!r}", in_channels=spec.channels, **_kwargs(stream["backbone"]))
    feature = module.feature_spec(spec)
    if comp.info.get("temporal") not in (None, feature.time):
        raise IncompatibleError(f"backbone {comp.name!r} is registered as temporal="
                                f"{comp.info['temporal']!r} but reports {feature.time!r} features")
    return comp, module, feature


def _build_head(head_cfg: Dict[str, Any], feature: FeatureSpec, num_classes: int, after: str):
    comp = REGISTRY.get("temporal_head", head_cfg["name"])
    spec: HeadSpec = comp.info.get("spec") or HeadSpec()
    reason = spec.why_not(feature)
    if reason:
        raise IncompatibleError(
            f"temporal head {comp.name!r} cannot follow {after}: {reason}. "
            f"Pick a head that reads these features (`zoo list temporal_heads`) or another backbone.")
    return _call(comp, f"temporal head {comp.name!r}", feature, num_classes, **_kwargs(head_cfg))


def build_from_config(cfg: Dict[str, Any]):
    """Build a normalised config (see zoo.config) into a VideoClassifier."""
    from .model import Stream, VideoClassifier  # torch loads here, not at `import zoo`

    num_classes = int(cfg["num_classes"])
    fusion_cfg = cfg.get("fusion")
    fusion_comp = REGISTRY.get("fusion", fusion_cfg["name"]) if fusion_cfg else None
    fusion_spec: FusionSpec = (fusion_comp.info.get("spec") or FusionSpec()) if fusion_comp else FusionSpec()
    if fusion_comp is None and len(cfg["streams"]) > 1:
        raise IncompatibleError(f"the model has {len(cfg['streams'])} streams "
                                f"({', '.join(cfg['streams'])}) but no fusion; add e.g. `fusion: average`")

    inputs, streams, features = {}, {}, {}
    for sname, stream in cfg["streams"].items():
        try:
            spec = InputSpec(**stream["input"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"stream {sname!r} input: {exc}") from None
        bcomp, backbone, feature = _build_backbone(sname, stream, spec)
        head = None
        if "temporal_head" in stream:
            head = _build_head(stream["temporal_head"], feature, num_classes,
                               f"backbone {bcomp.name!r} in stream {sname!r}")
        elif fusion_spec.level == LATE:
            where = (f"fusion {fusion_comp.name!r} fuses class scores (late), so" if fusion_comp
                     else "a single-stream model scores with its head, so")
            raise IncompatibleError(f"{where} stream {sname!r} needs a temporal_head after backbone "
                                    f"{bcomp.name!r} (e.g. `temporal_head: avg_pool`), or use a "
                                    f"mid-level fusion that reads feature maps")
        inputs[sname], streams[sname], features[sname] = spec, Stream(backbone, head), feature

    fusion = fused_head = late_fusion = None
    if fusion_comp is not None:
        reason = fusion_spec.why_not(features)
        if reason:
            raise IncompatibleError(f"fusion {fusion_comp.name!r} cannot combine streams "
                                    f"{', '.join(f'{n} ({b})' for n, b in ((s, c['backbone']['name']) for s, c in cfg['streams'].items()))}: {reason}")
        if fusion_spec.level == LATE:
            fusion = _call(fusion_comp, "fusion", list(streams), num_classes, **_kwargs(fusion_cfg))
        else:
            fusion = _call(fusion_comp, "fusion", features, **_kwargs(fusion_cfg))
            if not fusion_cfg.get("temporal_head"):
                raise IncompatibleError(f"mid-level fusion {fusion_comp.name!r} outputs a feature map; "
                                        f"give it a head: `fusion: {{name: {fusion_comp.name}, "
                                        f"temporal_head: avg_pool}}`")
            fused_head = _build_head(fusion_cfg["temporal_head"], fusion.feature_spec, num_classes,
                                     f"fusion {fusion_comp.name!r}")
            kept = [n for n, s in streams.items() if s.temporal_head is not None]
            if kept:
                late_cfg = config_lib._component(fusion_cfg.get("late", "average"), "fusion.late")
                late_comp = REGISTRY.get("fusion", late_cfg["name"])
                late_fusion = _call(late_comp, "fusion.late", ["fused", *kept], num_classes,
                                    **_kwargs(late_cfg))
    spec = ModelSpec(inputs=inputs, num_classes=num_classes, fusion_level=fusion_spec.level,
                     multi_label=bool(cfg.get("multi_label", False)))
    saved = copy.deepcopy(cfg)
    for sname, s in saved["streams"].items():
        s["input"] = inputs[sname].to_dict()
    return VideoClassifier(streams, fusion, spec, saved, fused_head=fused_head,
                           late_fusion=late_fusion)


def resolve_config(source: Any, num_classes: Optional[int] = None, **overrides: Any) -> Dict[str, Any]:
    """The normalised config `zoo.build` would build, with overrides applied."""
    cfg = config_lib.normalise(config_lib.load(source))
    if num_classes is not None:
        overrides = {"num_classes": num_classes, **overrides}
    config_lib.apply_overrides(cfg, overrides)
    cfg.setdefault("num_classes", DEFAULT_NUM_CLASSES)
    if not isinstance(cfg["num_classes"], int) or cfg["num_classes"] < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {cfg['num_classes']!r}")
    return cfg


def build(source: Any, num_classes: Optional[int] = None, **overrides: Any):
    """Build a model from a preset name, a YAML path or a config dict.

    >>> model = zoo.build("two_stream_3d", num_classes=10, frames=8, size=64)
    >>> model.spec.inputs["flow"].channels
    2
    """
    return build_from_config(resolve_config(source, num_classes, **overrides))


__all__ = ["build", "build_from_config", "resolve_config"]
