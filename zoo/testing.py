"""Conformance kit: run it on your own component before you publish a plugin.

    from zoo.testing import check_backbone, check_preset
    check_backbone("my_backbone")
    check_preset("my_preset", num_classes=5, frames=4, size=32)

Each check builds the component through the registry (as zoo.build would), runs a forward and a
backward pass at a small input, and asserts what zoo relies on: declared specs match the
tensors, gradients reach every trainable parameter, and configs round-trip through YAML.
"""
from __future__ import annotations

import inspect
import re
import warnings
from typing import Dict, Iterable, Optional

import torch
from torch import nn

from .errors import IncompatibleError, PluginLoadError
from .registry import current
from .specs import CLIP, FRAME, LATE, FeatureSpec, InputSpec
from .tensors import count_parameters, example_inputs


def _check_gradients(module: nn.Module, what: str, allow_unused: Iterable[str] = ()) -> None:
    allow = tuple(allow_unused)
    missing = [n for n, p in module.named_parameters()
               if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())
               and not n.startswith(allow)]
    assert not missing, f"{what}: no finite gradient reaches {len(missing)} parameter(s): {missing[:5]}"


def _run_backbone(name: str, module: nn.Module, spec: InputSpec, batch: int) -> FeatureSpec:
    """Forward and backward at `spec`; the output must match ``feature_spec(spec)``."""
    feature = module.feature_spec(spec)
    assert isinstance(feature, FeatureSpec), f"{name}.feature_spec must return a FeatureSpec"
    module.train()
    out = module(torch.randn(batch, *spec.shape))
    expected = (batch, feature.channels, feature.time_steps, *feature.spatial)
    assert tuple(out.shape) == expected, \
        f"backbone {name!r}: output {tuple(out.shape)} but feature_spec says {expected}"
    out.float().square().mean().backward()
    _check_gradients(module, f"backbone {name!r}")
    return feature


def check_backbone_width(name: str, full: nn.Module, input_spec: InputSpec, width: float = 0.5,
                         batch: int = 2, **kwargs) -> FeatureSpec:
    """Backbone `name` built with `width` (< 1) runs forward and backward, its output matches its
    feature_spec, and it has clearly fewer parameters than `full`, the same backbone at width 1
    (at most ``(width + 1) / 2`` times as many: a convolution's count scales with width squared)."""
    comp = current().get("backbone", name)
    narrow = comp(in_channels=input_spec.channels, width=width, **kwargs)
    feature = _run_backbone(name, narrow, input_spec, batch)
    n, n_full = count_parameters(narrow), count_parameters(full)
    assert n <= n_full * (width + 1) / 2, \
        f"backbone {name!r}: width={width} has {n} parameters, width=1 has {n_full}: width scales nothing"
    return feature


def check_backbone(name: str, input_spec: Optional[InputSpec] = None, batch: int = 2,
                   **kwargs) -> FeatureSpec:
    """Build backbone `name`, check its output against `feature_spec`, and its gradients; when its
    builder takes ``width: float = 1.0`` (a channel multiplier), also check a half-width build
    (`check_backbone_width`)."""
    comp = current().get("backbone", name)
    spec = input_spec or comp.info.default_input or InputSpec(frames=4, size=32)
    module = comp(in_channels=spec.channels, **kwargs)
    assert isinstance(module, nn.Module), f"backbone {name!r} must build an nn.Module"
    feature = _run_backbone(name, module, spec, batch)
    assert feature.time == comp.info.temporal, \
        f"backbone {name!r} registered temporal={comp.info.temporal!r} but its map is {feature.time!r}"
    width = inspect.signature(comp.builder).parameters.get("width")
    if width is not None and width.default == 1.0 and isinstance(width.default, float) \
            and "width" not in kwargs:  # zoo's convention: a channel multiplier, default 1.0
        try:
            check_backbone_width(name, module, spec, batch=batch, **kwargs)
        except IncompatibleError:  # a network that cannot be narrowed says so (timm's ViTs ...)
            pass
    return feature


def check_temporal_head(name: str, feature: FeatureSpec = FeatureSpec(16, FRAME, 4, (3, 3)),
                        num_classes: int = 5, batch: int = 2, **kwargs) -> None:
    """Build head `name` on `feature` and check logits shape and gradients."""
    comp = current().get("temporal_head", name)
    spec = comp.info.spec
    assert spec.why_not(feature) is None, f"{name!r} does not accept {feature}: {spec.why_not(feature)}"
    head = comp(feature, num_classes, **kwargs)
    head.train()
    x = torch.randn(batch, feature.channels, feature.time_steps, *feature.spatial, requires_grad=True)
    out = head(x)
    assert tuple(out.shape) == (batch, num_classes), f"head {name!r}: logits {tuple(out.shape)}"
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0, f"head {name!r}: no gradient reaches its input"
    _check_gradients(head, f"temporal head {name!r}")


def check_fusion(name: str, streams: Optional[Dict[str, FeatureSpec]] = None, num_classes: int = 5,
                 batch: int = 2, **kwargs) -> None:
    """Build fusion `name` for two streams and check its output and gradients."""
    comp = current().get("fusion", name)
    spec = comp.info.spec
    streams = streams or {"rgb": FeatureSpec(16, FRAME, 4, (3, 3)), "flow": FeatureSpec(16, FRAME, 4, (3, 3))}
    assert spec.why_not(streams) is None, f"{name!r} cannot fuse {streams}: {spec.why_not(streams)}"
    if spec.level == LATE:
        fusion = comp(list(streams), num_classes, **kwargs)
        xs = {s: torch.randn(batch, num_classes, requires_grad=True) for s in streams}
        out = fusion(xs)
        assert tuple(out.shape) == (batch, num_classes), f"fusion {name!r}: output {tuple(out.shape)}"
    else:
        fusion = comp(streams, **kwargs)
        xs = {s: torch.randn(batch, f.channels, f.time_steps, *f.spatial, requires_grad=True)
              for s, f in streams.items()}
        out = fusion(xs)
        f = fusion.feature_spec
        expected = (batch, f.channels, f.time_steps, *f.spatial)
        assert tuple(out.shape) == expected, f"fusion {name!r}: map {tuple(out.shape)}, spec says {expected}"
    fusion.train()
    out.float().sum().backward()
    assert any(x.grad is not None for x in xs.values()), f"fusion {name!r}: no gradient reaches its inputs"
    _check_gradients(fusion, f"fusion {name!r}")


def same_architecture(a: nn.Module, b: nn.Module) -> bool:
    """True when two models have the same parameter names and shapes, and the same structure."""
    shapes = lambda m: [(n, tuple(p.shape)) for n, p in m.state_dict().items()]  # noqa: E731
    return shapes(a) == shapes(b) and repr(a) == repr(b)


def check_preset(name: str, num_classes: int = 5, batch: int = 2, **overrides) -> nn.Module:
    """Build preset `name` with `overrides`, run forward and backward, and round-trip its config."""
    import yaml

    from .builder import build

    model = build(name, num_classes=num_classes, **overrides)
    assert model.spec.num_classes == num_classes
    model.train()
    out = model(example_inputs(model.spec.inputs, batch))
    assert tuple(out.shape) == (batch, num_classes), f"preset {name!r}: logits {tuple(out.shape)}"
    assert torch.isfinite(out).all(), f"preset {name!r}: non-finite logits"
    out.sum().backward()
    _check_gradients(model, f"preset {name!r}")
    again = build(yaml.safe_load(yaml.safe_dump(model.config)))
    assert same_architecture(model, again), f"preset {name!r}: its config does not rebuild the same model"
    return model


def _installed_name(source: str) -> str:
    """`source` as the registry spells it, matched the way pip normalises distribution names."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    for report in current().plugins():
        if norm(report.source) == norm(source):
            return report.source
    return source


def check_plugin(source: str, **preset_overrides) -> Dict[str, str]:
    """Run the matching check on every component that distribution `source` registers,
    importing that distribution's entry points only (another, broken plugin does not matter).
    First, its entry points and decorators must agree (`zoo plugins` shows the same problems).

    Returns {"kind/name": "ok" | "skipped: why"}; raises AssertionError on the first failure.
    `source` is the distribution's name as pip spells it (``-``, ``_`` and ``.`` alike). A
    name that another distribution also registers (zoo's own ``avg_pool``, say) passes with a
    warning: users then have to ask for it as ``source:name``.
    """
    registry = current()
    source = _installed_name(source)
    kinds = ("backbone", "temporal_head", "fusion", "preset")
    try:
        loaded = {kind: registry.load_source(source, kind) for kind in kinds}
    except PluginLoadError as exc:
        raise AssertionError(str(exc)) from exc
    problems = registry.problems(source)
    assert not problems, (f"distribution {source!r}: its entry points and decorators disagree:\n  "
                          + "\n  ".join(problems))
    results = {}
    for kind in kinds:
        for comp in loaded[kind]:
            if kind == "backbone":
                check_backbone(comp.qualified_name)
            elif kind == "temporal_head":
                spec = comp.info.spec
                time = FRAME if FRAME in spec.consumes else CLIP
                check_temporal_head(comp.qualified_name, FeatureSpec(16, time, 4, (3, 3)))
            elif kind == "fusion":
                check_fusion(comp.qualified_name)
            else:
                check_preset(comp.qualified_name, **preset_overrides)
            results[f"{kind}/{comp.name}"] = "ok"
            others = [s for s in registry.sources(kind, comp.name) if s != source]
            if others:
                warnings.warn(f"{kind} {comp.name!r} of {source!r} is also registered by "
                              f"{', '.join(others)}: users must ask for '{source}:{comp.name}' "
                              f"(and for theirs by its qualified name too); a name of its own "
                              f"avoids that", UserWarning, stacklevel=2)
    assert results, f"distribution {source!r} registers no component (is it installed?)"
    return results
