"""Readable descriptions of registered components, for `zoo describe`."""
from __future__ import annotations

import inspect

from .errors import UnknownComponentError
from .info import items
from .registry import KINDS, Component, current


def find(name: str) -> Component:
    """The component called `name` in the first kind that has it (presets first)."""
    if "/" in name:
        kind, name = name.split("/", 1)
        return current().get(kind, name)
    for kind in ("preset", "backbone", "temporal_head", "fusion", "dataset"):
        try:
            return current().get(kind, name)
        except UnknownComponentError:
            continue
    known = [n for k in KINDS for n in current().names(k, families=False)]
    raise UnknownComponentError("component", name, known,
                                hint="Use KIND/NAME (e.g. backbone/resnet18) for a family member.")


def describe(name: str) -> str:
    comp = find(name)
    meta = comp.meta
    lines = [f"{comp.name}  ({comp.kind}, from {comp.source})"]
    if meta.paper:
        lines.append(f"paper:    {meta.paper}" + (f" ({meta.year})" if meta.year else ""))
    if meta.url:
        lines.append(f"url:      {meta.url}")
    if meta.summary:
        lines.append(f"summary:  {meta.summary}")
    if comp.doc:
        lines += ["", comp.doc]
    for key, value in items(comp.info):
        if value is not None:
            lines.append(f"{key}: {value}")
    if comp.kind == "preset":
        import yaml

        from .builder import build_from_config, resolve_config
        from .tensors import count_parameters

        cfg = resolve_config(comp.name)
        model = build_from_config(cfg)
        params = count_parameters(model)
        lines += ["", f"parameters: {params / 1e6:.2f} M at {cfg['num_classes']} classes", "inputs:"]
        for stream, spec in model.spec.inputs.items():
            lines.append(f"  {stream}: {spec.modality} [C={spec.channels}, T={spec.frames}, "
                         f"H=W={spec.size}] sampling={spec.sampling}")
        lines += ["", "config:", yaml.safe_dump(model.config, sort_keys=False).rstrip()]
    else:
        sig = inspect.signature(comp.builder)
        lines += ["", f"builder: {comp.builder.__module__}.{comp.builder.__name__}{sig}"]
    return "\n".join(lines)
