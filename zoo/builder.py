"""`zoo.build` (this module is zoo.builder): from a preset name, YAML file or dict to a checked, ready nn.Module."""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, Mapping, Optional

from . import config as config_lib
from .config import Lookup
from .errors import ConfigError, IncompatibleError, UnknownComponentError, ZooError
from .registry import Component
from .specs import LATE, FeatureSpec, FusionSpec, InputSpec, ModelSpec

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


def _build_backbone(sname: str, stream: Dict[str, Any], spec: InputSpec, lookup: Lookup):
    comp = lookup.get("backbone", stream["backbone"]["name"])
    module = _call(comp, f"stream {sname!r}", in_channels=spec.channels, **_kwargs(stream["backbone"]))
    where = (f"stream {sname!r}: backbone {comp.name!r} cannot read input frames={spec.frames}, "
             f"size={spec.size}")
    try:
        feature = module.feature_spec(spec)
    except ZooError:
        raise
    except Exception as exc:  # a shape error inside the backbone: the input is what is wrong
        raise ConfigError(f"{where} ({type(exc).__name__}: {exc}); use a larger size or more "
                          f"frames (`zoo describe {comp.name}` shows its default input)") from exc
    if min(feature.spatial) < 1 or feature.time_steps < 1:
        raise ConfigError(f"{where}: its feature map would be {feature.time_steps} x "
                          f"{feature.spatial[0]} x {feature.spatial[1]}; use a larger size or "
                          f"more frames")
    if comp.info.temporal != feature.time:
        raise IncompatibleError(f"backbone {comp.name!r} is registered as temporal="
                                f"{comp.info.temporal!r} but reports {feature.time!r} features")
    return comp, module, feature


def _build_head(head_cfg: Dict[str, Any], feature: FeatureSpec, num_classes: int, after: str,
                lookup: Lookup):
    comp = lookup.get("temporal_head", head_cfg["name"])
    reason = comp.info.spec.why_not(feature)
    if reason:
        raise IncompatibleError(
            f"temporal head {comp.name!r} cannot follow {after}: {reason}. "
            f"Pick a head that reads these features (`zoo list temporal_heads`) or another backbone.")
    return _call(comp, f"temporal head {comp.name!r}", feature, num_classes, **_kwargs(head_cfg))


def _check_weights(value: Any) -> Any:
    """The top-level ``weights`` entry: False/None, True, a path or URL, or ``{url, sha256, ...}``."""
    if value is None or isinstance(value, (bool, str, os.PathLike)):
        return value
    if isinstance(value, Mapping):
        from .weights import WeightFile

        if not isinstance(value.get("url"), str):
            raise ConfigError(f"weights: a mapping needs 'url' (a path or URL) and may give "
                              f"'sha256', got {dict(value)!r}")
        try:
            return WeightFile.coerce(value)
        except TypeError as exc:
            raise ConfigError(f"weights: {exc}; a weights mapping has url, sha256, num_classes, "
                              f"dataset, key_map") from None
    raise ConfigError(f"weights: expected True, a path, a URL or {{url, sha256}}, "
                      f"got {type(value).__name__}")


def _load_weights(model, cfg: Dict[str, Any], value: Any, lookup: Lookup):
    """Whole-model weights (the config's checked ``weights``) into the built model; the LoadReport."""
    if value is None or value is False:
        return None
    from . import weights as weights_lib

    name = cfg.get("name") if isinstance(cfg.get("name"), str) else None
    preset = None
    if name:
        try:
            preset = lookup.get("preset", name)
        except ZooError:  # a config's own name, not a preset
            pass
    return weights_lib.load_model_weights(model, value, name=name, preset=preset)


def _fusion_component(cfg: Dict[str, Any], lookup: Lookup) -> Optional[Component]:
    """The config's fusion component (None for a single stream without one)."""
    fusion_cfg = cfg.get("fusion")
    if fusion_cfg is None and len(cfg["streams"]) > 1:
        raise IncompatibleError(f"the model has {len(cfg['streams'])} streams "
                                f"({', '.join(cfg['streams'])}) but no fusion; add e.g. `fusion: average`")
    return lookup.get("fusion", fusion_cfg["name"]) if fusion_cfg else None


def build_streams(cfg: Dict[str, Any], fusion_spec: FusionSpec, lookup: Lookup,
                  fusion_name: Optional[str] = None):
    """Each stream's InputSpec, `Stream` (backbone, and head when it scores alone) and FeatureSpec."""
    from .model import Stream

    num_classes = int(cfg["num_classes"])
    inputs, streams, features = {}, {}, {}
    for sname, stream in cfg["streams"].items():
        try:
            spec = InputSpec(**stream["input"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"stream {sname!r} input: {exc}") from None
        bcomp, backbone, feature = _build_backbone(sname, stream, spec, lookup)
        head = None
        if "temporal_head" in stream:
            head = _build_head(stream["temporal_head"], feature, num_classes,
                               f"backbone {bcomp.name!r} in stream {sname!r}", lookup)
        elif fusion_spec.level == LATE:
            where = (f"fusion {fusion_name!r} fuses class scores (late), so" if fusion_name
                     else "a single-stream model scores with its head, so")
            raise IncompatibleError(f"{where} stream {sname!r} needs a temporal_head after backbone "
                                    f"{bcomp.name!r} (e.g. `temporal_head: avg_pool`), or use a "
                                    f"mid-level fusion that reads feature maps")
        streams[sname] = Stream(backbone, head, feature.time)
        inputs[sname], features[sname] = spec, feature
    return inputs, streams, features


def build_fusion(cfg: Dict[str, Any], comp: Component, streams, features, lookup: Lookup):
    """The fusion module; for a mid-level fusion also the head reading the fused map and the late
    fusion of the fused scores with the streams that keep their own (else None, None)."""
    fusion_cfg, num_classes = cfg["fusion"], int(cfg["num_classes"])
    reason = comp.info.spec.why_not(features)
    if reason:
        named = ", ".join(f"{s} ({c['backbone']['name']})" for s, c in cfg["streams"].items())
        raise IncompatibleError(f"fusion {comp.name!r} cannot combine streams {named}: {reason}")
    if comp.info.spec.level == LATE:
        return _call(comp, "fusion", list(streams), num_classes, **_kwargs(fusion_cfg)), None, None
    fusion = _call(comp, "fusion", features, **_kwargs(fusion_cfg))
    if not fusion_cfg.get("temporal_head"):
        raise IncompatibleError(f"mid-level fusion {comp.name!r} outputs a feature map; "
                                f"give it a head: `fusion: {{name: {comp.name}, "
                                f"temporal_head: avg_pool}}`")
    fused_head = _build_head(fusion_cfg["temporal_head"], fusion.feature_spec, num_classes,
                             f"fusion {comp.name!r}", lookup)
    kept = [n for n, s in streams.items() if s.temporal_head is not None]
    late_fusion = None
    if kept:
        late_cfg = config_lib.component(fusion_cfg.get("late", "average"), "fusion.late")
        late_fusion = _call(lookup.get("fusion", late_cfg["name"]), "fusion.late",
                            ["fused", *kept], num_classes, **_kwargs(late_cfg))
    return fusion, fused_head, late_fusion


def build_from_config(cfg: Dict[str, Any], lookup: Optional[Lookup] = None):
    """Build a normalised config (see zoo.config) into a VideoClassifier, then load its
    whole-model ``weights`` if the config names any (see `build`)."""
    from .model import VideoClassifier  # torch loads here, not at `import zoo`

    lookup = lookup or Lookup()
    weights = _check_weights(cfg.get("weights"))  # a bad value fails before anything is built
    fusion_comp = _fusion_component(cfg, lookup)
    fusion_spec = fusion_comp.info.spec if fusion_comp else FusionSpec()
    inputs, streams, features = build_streams(cfg, fusion_spec, lookup,
                                              fusion_comp.name if fusion_comp else None)
    fusion = fused_head = late_fusion = None
    if fusion_comp is not None:
        fusion, fused_head, late_fusion = build_fusion(cfg, fusion_comp, streams, features, lookup)
    spec = ModelSpec(inputs=inputs, num_classes=int(cfg["num_classes"]),
                     fusion_level=fusion_spec.level, multi_label=bool(cfg.get("multi_label", False)))
    saved = copy.deepcopy({k: v for k, v in cfg.items() if k != "weights"})
    for sname, s in saved["streams"].items():
        s["input"] = inputs[sname].to_dict()
    model = VideoClassifier(streams, fusion, spec, saved, fused_head=fused_head,
                            late_fusion=late_fusion)
    model.weights_report = _load_weights(model, cfg, weights, lookup)
    return model


def resolve_config(source: Any, num_classes: Optional[int] = None, *,
                   lookup: Optional[Lookup] = None, **overrides: Any) -> Dict[str, Any]:
    """The normalised config `zoo.build` would build, with overrides applied."""
    lookup = lookup or Lookup()
    cfg = config_lib.normalise(config_lib.load(source, lookup))
    if num_classes is not None:
        overrides = {"num_classes": num_classes, **overrides}
    config_lib.apply_overrides(cfg, overrides, lookup)
    cfg.setdefault("num_classes", DEFAULT_NUM_CLASSES)
    value = cfg["num_classes"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {value!r}")
    if not isinstance(cfg.get("multi_label", False), bool):
        raise ConfigError(f"multi_label must be true or false, got {cfg['multi_label']!r}")
    return cfg


def build(source: Any, num_classes: Optional[int] = None, **overrides: Any):
    """Build a model from a preset name, a YAML path or a config dict.

    >>> model = zoo.build("two_stream_3d", num_classes=10, frames=8, size=64)
    >>> model.spec.inputs["flow"].channels
    2

    Whole-model weights: the config key ``weights`` (or the override
    ``zoo.build("c3d", num_classes=101, weights="k400_c3d.pt")``) is a path, a URL, a mapping
    ``{url, sha256}``, or True for the file the preset declares
    (``register_preset(..., weights=[...])``; a preset declaring none is looked for at
    ``$ZOO_CACHE/models/<name>.pt|.pth|.safetensors``, and the error says where to put it).
    The file is fetched through zoo.weights (iopath, cache, sha256 check) and mapped by the keys
    of ``model.state_dict()``: a zoo checkpoint (``save_checkpoint``), a ``save_weights``
    safetensors file or a plain state dict. Weights trained for another number of classes keep
    everything but the classifier, which is re-initialised with a warning. The LoadReport
    (missing / unexpected / re-initialised keys) is logged and kept as ``model.weights_report``
    (None without ``weights``). Component weights (``pretrained=...``) load first, whole-model
    weights over them.

    ``weights`` is not kept in ``model.config``: the config describes the architecture, and
    rebuilding from it (``zoo.build(model.config)``, a checkpoint's config) gives fresh
    initialisation rather than implicitly fetching the file again; the trained weights travel in
    checkpoints.
    """
    lookup = Lookup()
    try:
        return build_from_config(resolve_config(source, num_classes, lookup=lookup, **overrides),
                                 lookup)
    except UnknownComponentError as exc:
        if isinstance(source, str) and exc.kind == "preset" and exc.name == source:
            raise  # the name asked for is itself unknown
        raise exc.while_building(_origin(source)) from None


def _origin(source: Any) -> str:
    """How an error names the preset, file or config a build started from."""
    from .registry import current

    if isinstance(source, Mapping):
        return f"config {source.get('name', '(unnamed)')!r}"
    if isinstance(source, str) and not os.path.exists(source):
        try:
            return f"preset {source!r} of {', '.join(current().sources('preset', source))}"
        except ZooError:
            return f"preset {source!r}"
    return f"config file {str(source)!r}"


__all__ = ["build", "build_from_config", "resolve_config"]
