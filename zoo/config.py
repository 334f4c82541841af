"""Model configs: reading them (preset name, YAML file, dict), normalising, and overrides.

A normalised config has ``num_classes``, ``streams`` (stream name -> ``input``, ``backbone``,
optional ``temporal_head``) and ``fusion`` (or None for a single stream); components are dicts
``{"name": ..., **kwargs}``. See docs/architecture.md.
"""
from __future__ import annotations

import copy
import inspect
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .errors import ConfigError, suggest
from .registry import FIRST_PARTY, Component, Registry, current
from .specs import InputSpec

INPUT_FIELDS = tuple(InputSpec.__dataclass_fields__)
TOP_LEVEL_KEYS = ("name", "num_classes", "multi_label", "streams", "fusion", "input", "backbone",
                  "temporal_head", "weights")


class Lookup:
    """The components of one `zoo.build`, each looked up once in the registry."""

    def __init__(self, registry: Optional[Registry] = None):
        self.registry = registry or current()
        self._found: Dict[Tuple[str, str], Component] = {}

    def get(self, kind: str, name: str) -> Component:
        key = (kind, name)
        if key not in self._found:
            self._found[key] = self.registry.get(kind, name)
        return self._found[key]


def load(source: Any, lookup: Lookup) -> Dict[str, Any]:
    """A raw config from a preset name, a YAML path, or a dict (copied)."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"zoo.build takes a preset name, a YAML path or a dict, not {type(source).__name__}")
    text = os.fspath(source)
    if text.endswith((".yaml", ".yml")) or os.path.isfile(text):
        import yaml

        try:
            with open(text, encoding="utf-8") as f:
                cfg = yaml.safe_load(f)
        except FileNotFoundError:
            raise ConfigError(f"{text}: no such config file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{text}: not valid YAML: {exc}") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"{text}: a model config is a YAML mapping with 'streams' or 'backbone'")
        return cfg
    preset = lookup.get("preset", text)
    cfg = preset()
    if not isinstance(cfg, Mapping):
        shown = repr(cfg)
        raise ConfigError(f"preset {preset.name!r} of plugin {preset.source!r} returned "
                          f"{type(cfg).__name__} {shown[:80] + '...' if len(shown) > 80 else shown}"
                          f", not a config dict; fix the preset in {preset.source!r} (see "
                          f"docs/architecture.md, Model config)")
    cfg = normalise({"name": preset.name, **copy.deepcopy(dict(cfg))})
    prefer_own_components(cfg, preset.source, lookup)
    return cfg


def component(value: Any, where: str) -> Dict[str, Any]:
    """A component entry as ``{"name": ..., **kwargs}`` (a bare name is the shorthand)."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return dict(value)
    raise ConfigError(f"{where}: expected a component name or a mapping with 'name', got {value!r}")


def normalise(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """Fill shorthands: a single-stream config may give backbone/temporal_head/input at top level."""
    cfg = copy.deepcopy(dict(raw))
    unknown = [k for k in cfg if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}.{suggest(unknown[0], TOP_LEVEL_KEYS)} "
                          f"A config has: {', '.join(TOP_LEVEL_KEYS)}")
    if "streams" not in cfg:
        if "backbone" not in cfg:
            raise ConfigError("a model config needs 'streams', or 'backbone' for a single stream")
        inp = dict(cfg.pop("input", {}) or {})
        stream = {"input": inp, "backbone": cfg.pop("backbone")}
        if cfg.get("temporal_head") is not None:
            stream["temporal_head"] = cfg.pop("temporal_head")
        cfg.pop("temporal_head", None)
        cfg["streams"] = {inp.get("modality", "rgb"): stream}
    streams = cfg["streams"]
    if not isinstance(streams, Mapping) or not streams:
        raise ConfigError("'streams' must map stream names to {input, backbone, temporal_head}")
    for sname, stream in streams.items():
        stream = dict(stream)
        extra = set(stream) - {"input", "backbone", "temporal_head"}
        if extra:
            key = sorted(extra)[0]
            raise ConfigError(f"stream {sname!r}: unknown key {key!r}."
                              f"{suggest(key, ['input', 'backbone', 'temporal_head'])}")
        stream["input"] = dict(stream.get("input") or {})
        stream["input"].setdefault("modality", sname if sname in ("rgb", "flow", "rgb_diff") else "rgb")
        bad = set(stream["input"]) - set(INPUT_FIELDS)
        if bad:
            key = sorted(bad)[0]
            raise ConfigError(f"stream {sname!r} input: unknown field {key!r}.{suggest(key, INPUT_FIELDS)}")
        if "backbone" not in stream:
            raise ConfigError(f"stream {sname!r} names no backbone")
        stream["backbone"] = component(stream["backbone"], f"stream {sname!r} backbone")
        if stream.get("temporal_head") is not None:
            stream["temporal_head"] = component(stream["temporal_head"], f"stream {sname!r} temporal_head")
        else:
            stream.pop("temporal_head", None)
        streams[sname] = stream
    cfg["streams"] = dict(sorted(streams.items()))  # canonical order: YAML dumps sort keys
    fusion = cfg.get("fusion")
    if fusion is not None:
        fusion = component(fusion, "fusion")
        if fusion.get("temporal_head") is not None:
            fusion["temporal_head"] = component(fusion["temporal_head"], "fusion temporal_head")
    cfg["fusion"] = fusion
    return cfg


def _parameters(comp: Component) -> List[str]:
    """The keyword parameters a component's builder takes."""
    sig = inspect.signature(comp.builder)
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


# Parameters zoo itself passes to builders; they are set through the config, not overrides.
_RESERVED = {"in_channels", "feature", "features", "num_classes", "streams"}


def _component_slots(cfg: Dict[str, Any]) -> List[Tuple[str, str, Dict[str, Any]]]:
    """(kind, where, component dict) for every component in a normalised config."""
    slots = []
    for sname, stream in cfg["streams"].items():
        slots.append(("backbone", f"streams.{sname}.backbone", stream["backbone"]))
        if "temporal_head" in stream:
            slots.append(("temporal_head", f"streams.{sname}.temporal_head", stream["temporal_head"]))
    if cfg["fusion"] is not None:
        slots.append(("fusion", "fusion", cfg["fusion"]))
        if cfg["fusion"].get("temporal_head"):
            slots.append(("temporal_head", "fusion.temporal_head", cfg["fusion"]["temporal_head"]))
    return slots


def component_parameters(cfg: Dict[str, Any], lookup: Lookup) -> List[str]:
    """The keyword parameters that some component of the normalised config `cfg` takes, in
    order: the names ``zoo.build(..., name=value)`` sets on every component that has them."""
    names: Dict[str, None] = {}
    for kind, _, comp in _component_slots(cfg):
        names.update(dict.fromkeys(p for p in _parameters(lookup.get(kind, comp["name"]))
                                   if p not in _RESERVED))
    return list(names)


def prefer_own_components(cfg: Dict[str, Any], source: str, lookup: Lookup) -> None:
    """In a preset's normalised config, write ``source:name`` for each component name that
    several distributions provide: a preset's names resolve inside its own distribution
    (`source`) first, then in zoo's own (a third-party preset's ``avg_pool``), so that another
    plugin's clashing name cannot break it."""
    fusion = cfg["fusion"]
    slots = [(kind, comp) for kind, _, comp in _component_slots(cfg)]
    if fusion is not None and fusion.get("late") is not None:
        fusion["late"] = component(fusion["late"], "fusion.late")
        slots.append(("fusion", fusion["late"]))
    for kind, comp in slots:
        if ":" not in comp["name"]:
            sources = lookup.registry.sources(kind, comp["name"])  # declared: nothing imported
            chosen = next((s for s in (source, FIRST_PARTY) if s in sources), None)
            if len(sources) > 1 and chosen:
                comp["name"] = f"{chosen}:{comp['name']}"


def _set_path(cfg: Dict[str, Any], path: str, value: Any) -> None:
    node: Any = cfg
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            known = list(node) if isinstance(node, dict) else []
            raise ConfigError(f"override {path!r}: no {'.'.join(parts[:i + 1])!r} in this model."
                              f"{suggest(part, known)}")
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"override {path!r}: {'.'.join(parts[:-1])!r} is not a mapping")
    node[parts[-1]] = value


def apply_overrides(cfg: Dict[str, Any], overrides: Mapping[str, Any], lookup: Lookup) -> Dict[str, Any]:
    """Apply ``zoo.build(..., **overrides)`` to a normalised config, in place.

    Keys: ``num_classes``, ``multi_label``, ``weights`` (whole-model weights, see zoo.build);
    any InputSpec field (``frames``, ``size``,
    ``flow_stack``...) for every stream that has it; ``backbone`` / ``temporal_head`` / ``fusion``
    to swap a component by name (every stream); any keyword parameter of a component's builder
    (``hidden_size=256``, ``pretrained=True``) for every component that takes it; and a dotted
    path (``"streams.rgb.temporal_head.readout"``, or ``streams__rgb__...`` as a keyword).
    """
    for key, value in overrides.items():
        if key in ("num_classes", "multi_label", "weights"):
            cfg[key] = value
        elif "." in key or "__" in key:
            _set_path(cfg, key.replace("__", "."), value)
        elif key in INPUT_FIELDS:
            for stream in cfg["streams"].values():
                if key != "flow_stack" or stream["input"].get("modality") == "flow":
                    stream["input"][key] = value
        elif key in ("backbone", "temporal_head"):
            for stream in cfg["streams"].values():
                if key == "backbone" or key in stream:
                    stream[key] = {"name": value} if isinstance(value, str) else component(value, key)
        elif key == "fusion":
            cfg["fusion"] = None if value is None else component(value, "fusion")
        else:
            hits = []
            valid = set(INPUT_FIELDS) | {"num_classes", "multi_label", "weights", "backbone",
                                         "temporal_head", "fusion"}
            for kind, where, comp in _component_slots(cfg):
                params = [p for p in _parameters(lookup.get(kind, comp["name"]))
                          if p not in _RESERVED]
                valid.update(params)
                if key in params:
                    comp[key] = value
                    hits.append(where)
            if not hits:
                raise ConfigError(
                    f"unknown override {key!r} for this model.{suggest(key, sorted(valid))} "
                    f"Valid keys: {', '.join(sorted(valid))}; or a dotted path such as "
                    f"'streams.{next(iter(cfg['streams']))}.backbone.name'.")
    return cfg
