"""The component registry: entry-point plugins, decorator registration, lazy loading.

Every component, first-party or third-party, reaches zoo the same way: a distribution declares
one entry point per component in the group of its kind (``zoo.backbones``, ``zoo.temporal_heads``,
``zoo.fusions``, ``zoo.presets``, ``zoo.datasets``), pointing at a builder decorated with
``register_<kind>``. Entry points are read from package metadata without importing anything; a
plugin module is imported only when one of its components is asked for. A distribution that
offers many names at once (every timm 2D network) declares a `Family` in ``zoo.families``.

The entry point is the one source of truth for a component's name and existence; the decorator
attaches typed metadata (`zoo.info`) to the builder. Where the two disagree -- a decorated name
that is not the entry point's, a decorated builder that no entry point of its distribution
declares, an entry point to an undecorated builder -- loading records it, `zoo plugins` and
`zoo.testing.check_plugin` report it naming both. A decorator run outside any entry point (a
script, a test) registers a local component in the active registry.

`REGISTRY` is the process's registry; `current()` is the one in use, which `Registry.activate()`
swaps for a block (tests use fresh instances).
"""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import fnmatch
import importlib.metadata
import traceback
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .errors import AmbiguousComponentError, PluginLoadError, UnknownComponentError
from .info import INFO, Info
from .specs import ModelMeta

KINDS = ("backbone", "temporal_head", "fusion", "preset", "dataset")
GROUPS = {kind: f"zoo.{kind}s" for kind in KINDS}
FAMILY_GROUP = "zoo.families"
_ALIASES = {"head": "temporal_head", "heads": "temporal_head", "temporal_heads": "temporal_head",
            "models": "preset", "model": "preset"}



@dataclass
class _Loading:
    """The distribution whose entry point is being imported, and what its decorators declared."""

    source: str
    decorated: List["Component"] = field(default_factory=list)


_loading: contextvars.ContextVar[Optional[_Loading]] = contextvars.ContextVar(
    "zoo_loading", default=None)


def canonical_kind(kind: str) -> str:
    """'backbones' -> 'backbone'; raises with the list of kinds for anything else."""
    k = kind.strip().lower().replace("-", "_")
    k = _ALIASES.get(k, k)
    if k.endswith("s") and k[:-1] in KINDS:
        k = k[:-1]
    if k not in KINDS:
        plural = [f"{x}s" for x in KINDS]
        raise UnknownComponentError("kind", kind, plural + list(KINDS),
                                    f"The kinds: {', '.join(plural)} (or singular).")
    return k


@dataclass
class Component:
    """A registered component: its builder plus what zoo knows about it without building it."""

    kind: str
    name: str
    builder: Callable[..., Any]
    source: str
    meta: ModelMeta
    info: Info  # the kind's typed record (zoo.info)
    local: bool = False  # registered by a decorator outside any entry point (a script, a test)
    # decorator keywords that are no field of the kind's record (accepted before typed records;
    # kept, with a warning, so that such plugins still load)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def doc(self) -> str:
        return (self.builder.__doc__ or "").strip()

    @property
    def where(self) -> str:
        """``module:function`` of the builder."""
        return f"{self.builder.__module__}:{self.builder.__qualname__}"

    def __call__(self, *args, **kwargs):
        """Build: the builder's result, and for a backbone that declares its weights and is
        asked for ``pretrained``, those weights loaded into it (``module.load_report``)."""
        built = self.builder(*args, **kwargs)
        declared = getattr(self.info, "weights", None) if self.kind == "backbone" else None
        if declared is not None:
            import inspect

            from . import weights

            call = inspect.signature(self.builder).bind(*args, **kwargs)
            call.apply_defaults()
            pretrained = call.arguments.get("pretrained")
            built.load_report = weights.load_declared(built, pretrained, declared, call.arguments,
                                                      what=self.name) if pretrained else None
        return built


@dataclass
class Family:
    """Many components of one kind offered by one source, resolved by name on demand."""

    kind: str
    source: str
    list_names: Callable[[], Iterable[str]]
    create: Callable[[str], Component]
    has: Optional[Callable[[str], bool]] = None

    def contains(self, name: str) -> bool:
        return self.has(name) if self.has else name in set(self.list_names())


@dataclass
class _EntryRef:
    kind: str
    name: str
    source: str
    entry_point: importlib.metadata.EntryPoint
    state: str = "not loaded"  # "loaded" | "failed"
    error: str = ""
    fix: str = ""  # what the plugin's author should change, where zoo can tell


@dataclass
class PluginReport:
    """One distribution's contribution, as shown by `zoo plugins`."""

    source: str
    version: str
    entries: List[Tuple[str, str, str, str]]  # (kind, name, state, error)
    problems: List[str] = field(default_factory=list)  # declarations that disagree

    @property
    def failed(self) -> List[Tuple[str, str, str, str]]:
        return [e for e in self.entries if e[2] == "failed"]


class Registry:
    """Components by kind and name; entry points are scanned once and loaded on demand."""

    def __init__(self):
        self._scanned = False
        self._refs: Dict[str, Dict[str, List[_EntryRef]]] = {k: {} for k in KINDS}
        self._family_refs: List[_EntryRef] = []
        self._families: List[Family] = []
        self._components: Dict[str, Dict[str, Dict[str, Component]]] = {k: {} for k in KINDS}
        self._versions: Dict[str, str] = {}
        self._problems: Dict[str, Dict[str, None]] = {}  # source -> messages, in order

    @contextlib.contextmanager
    def activate(self) -> Iterator["Registry"]:
        """Make this registry `current()` inside the block (zoo.build, the decorators, the
        conformance kit ... use it), then restore the previous one."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    # -- discovery ------------------------------------------------------------------------
    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        eps = importlib.metadata.entry_points()
        seen = set()
        for kind, group in list(GROUPS.items()) + [("family", FAMILY_GROUP)]:
            for ep in eps.select(group=group):
                dist = getattr(ep, "dist", None)
                source = dist.name if dist is not None else ep.module.split(".")[0]
                key = (group, ep.name, source)
                if key in seen:  # the same distribution seen twice on sys.path
                    continue
                seen.add(key)
                if dist is not None:
                    self._versions[source] = dist.version
                ref = _EntryRef(kind, ep.name, source, ep)
                if kind == "family":
                    self._family_refs.append(ref)
                else:
                    self._refs[kind].setdefault(ep.name, []).append(ref)

    def rescan(self) -> None:
        """Read entry points again (after installing a plugin into a running interpreter)."""
        importlib.invalidate_caches()
        self._scanned = False
        local = {k: {n: {s: c for s, c in by_src.items() if c.local} for n, by_src in comps.items()}
                 for k, comps in self._components.items()}
        self._components = {k: {n: by_src for n, by_src in comps.items() if by_src}
                            for k, comps in local.items()}
        self._refs = {k: {} for k in KINDS}
        self._family_refs, self._families = [], []
        self._problems = {}
        self._scan()

    def _load(self, ref: _EntryRef) -> None:
        if ref.state == "loaded":
            return
        if ref.state == "failed":
            raise PluginLoadError(self._failure_message(ref))
        loading = _Loading(ref.source)
        token = _loading.set(loading)
        try:
            obj = ref.entry_point.load()
        except Exception as exc:  # a broken plugin is reported, never fatal for zoo
            ref.state = "failed"
            ref.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            if isinstance(exc, AttributeError):
                ref.fix = _attribute_fix(ref.entry_point)
            raise PluginLoadError(self._failure_message(ref)) from exc
        finally:
            _loading.reset(token)
        ref.state = "loaded"
        self._check_declared(ref.source, loading.decorated)
        if ref.kind == "family":
            if not isinstance(obj, Family):
                ref.state, ref.error = "failed", f"{ref.entry_point.value} is not a zoo.registry.Family"
                raise PluginLoadError(self._failure_message(ref))
            self._families.append(obj)
            return
        decl = getattr(obj, "__zoo_component__", None)
        if decl is None or decl.kind != ref.kind:
            ref.state = "failed"
            ref.error = (f"entry point {ref.name!r} points at {ref.entry_point.value}, which is not "
                         f"decorated with zoo.register_{ref.kind}")
            ref.fix = f"decorate {ref.entry_point.attr} with @zoo.register_{ref.kind}(...)"
            raise PluginLoadError(self._failure_message(ref))
        if getattr(obj, "__zoo_name__", None) not in (None, ref.name):  # the decorator named it
            self._report(ref.source, f"name mismatch: entry point {ref.name!r} (group "
                                     f"{GROUPS[ref.kind]}) points at {decl.where}, decorated as "
                                     f"{decl.name!r}; zoo uses the entry point's name "
                                     f"{ref.name!r}: make the two agree")
        self.add(replace(decl, name=ref.name, source=ref.source, local=False))

    def _report(self, source: str, problem: str) -> None:
        self._problems.setdefault(source, {})[problem] = None
        warnings.warn(f"plugin {source!r}: {problem}", RuntimeWarning, stacklevel=4)

    def _check_declared(self, source: str, decorated: List[Component]) -> None:
        """Report the builders decorated while `source` loaded that none of its entry points
        names (in modules of its own packages): zoo cannot see them."""
        refs = [r for by_name in self._refs.values() for rs in by_name.values() for r in rs
                if r.source == source]
        packages = {r.entry_point.module.split(".")[0] for r in refs}
        declared = {(r.kind, r.entry_point.module, r.entry_point.attr) for r in refs}
        for comp in decorated:
            module = comp.builder.__module__
            if module.split(".")[0] in packages and \
                    (comp.kind, module, comp.builder.__qualname__) not in declared:
                self._report(source, f"{comp.where} is decorated with zoo.register_{comp.kind}"
                                     f"({comp.name!r}) but no entry point declares it, so zoo cannot "
                                     f"see it: add `{comp.name} = {comp.where}` to the group "
                                     f"{GROUPS[comp.kind]} of {source!r}")

    @staticmethod
    def _failure_message(ref: _EntryRef) -> str:
        return (f"plugin {ref.source!r} failed to load its {ref.kind} {ref.name!r} "
                f"(entry point {GROUPS.get(ref.kind, FAMILY_GROUP)}: {ref.name} = "
                f"{ref.entry_point.value}): {ref.error}. The rest of zoo works; "
                + (f"its author should {ref.fix}; meanwhile " if ref.fix else "")
                + f"fix or reinstall {ref.source!r} (`pip install -U {ref.source}`), or "
                f"uninstall it. `zoo plugins` lists every plugin's state.")

    def _load_families(self, kind: str) -> List[Family]:
        self._scan()
        for ref in self._family_refs:
            if ref.state == "not loaded":
                try:
                    self._load(ref)
                except PluginLoadError as exc:  # the other families still answer
                    warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
        return [f for f in self._families if f.kind == kind]

    # -- registration ----------------------------------------------------------------------
    def add(self, comp: Component) -> Component:
        """Register `comp`; the same source registering a name again replaces its entry."""
        self._components[comp.kind].setdefault(comp.name, {})[comp.source] = comp
        return comp

    # -- lookup ----------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Component:
        """The component `name` of `kind`; `source:name` picks one of several distributions."""
        kind = canonical_kind(kind)
        self._scan()
        source = None
        if ":" in name:
            source, name = name.split(":", 1)
        loaded, refs = self._candidates(kind, name)
        sources = set(loaded) | {r.source for r in refs}
        if source is not None:
            if source not in sources:
                raise UnknownComponentError(
                    kind, f"{source}:{name}", [f"{s}:{name}" for s in sources] or self.names(kind),
                    hint=f"{name!r} is provided by: {', '.join(sorted(sources)) or 'nobody'}.")
            sources = {source}
        if len(sources) > 1:
            raise AmbiguousComponentError(kind, name, sources)
        if sources:
            (src,) = sources
            if src not in loaded:
                for ref in refs:
                    if ref.source == src:
                        self._load(ref)
                loaded, _ = self._candidates(kind, name)
            if src in loaded:
                return loaded[src]
            raise PluginLoadError(f"plugin {src!r} declares {kind} {name!r} but loading it "
                                  f"registered nothing under that name; the plugin is broken.")
        for family in self._load_families(kind):
            if source in (None, family.source) and family.contains(name):
                return self.add(family.create(name))
        raise UnknownComponentError(kind, name, self.names(kind),
                                    hint=self._failed_hint(kind))

    def _candidates(self, kind: str, name: str) -> Tuple[Dict[str, Component], List[_EntryRef]]:
        """Registered components and entry points for `name`, by source.

        A plugin module imported directly (not through its entry point) registers its components
        under its top-level module name; those are the entry point's own and not a clash.
        """
        refs = self._refs[kind].get(name, [])
        ep_modules = {r.entry_point.value.split(".")[0].split(":")[0] for r in refs}
        loaded = {src: c for src, c in self._components[kind].get(name, {}).items()
                  if not (c.local and src in ep_modules)}
        return loaded, refs

    def _failed_hint(self, kind: str) -> str:
        failed = [r for refs in self._refs[kind].values() for r in refs if r.state == "failed"]
        if not failed:
            return ""
        return ("Some plugins failed to load and may provide it: "
                + ", ".join(f"{r.source} ({r.name})" for r in failed) + "; see `zoo plugins`.")

    def names(self, kind: str, pattern: str = "*", families: bool = True) -> List[str]:
        """Sorted names of `kind` matching the shell-style `pattern` (case-insensitive)."""
        kind = canonical_kind(kind)
        self._scan()
        names = set(self._components[kind]) | set(self._refs[kind])
        sources = {}
        for n in names:
            loaded, refs = self._candidates(kind, n)
            sources[n] = set(loaded) | {r.source for r in refs}
        ambiguous = {n for n in names if len(sources[n]) > 1}
        if families:
            for family in self._load_families(kind):
                names.update(family.list_names())
        out = set()
        for n in names:
            if fnmatch.fnmatch(n.lower(), pattern.lower()):
                out.add(n)
        for n in ambiguous:  # both stay reachable by their qualified names
            if fnmatch.fnmatch(n.lower(), pattern.lower()):
                out.update(f"{src}:{n}" for src in sources[n])
        return sorted(out)

    def components(self, kind: str, pattern: str = "*", families: bool = False) -> List[Component]:
        """Loaded components of `kind` matching `pattern`; broken plugins are skipped."""
        out = []
        for n in self.names(kind, pattern, families=families):
            try:
                out.append(self.get(kind, n))
            except AmbiguousComponentError:
                continue
            except PluginLoadError as exc:  # the other components still answer
                warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
        return out

    def plugins(self) -> List[PluginReport]:
        """Every distribution that declares zoo entry points, with the state of each; a name
        that other distributions also declare says so in its error column."""
        self._scan()
        by_source: Dict[str, List[Tuple[str, str, str, str]]] = {}
        for kind in KINDS:
            for refs in self._refs[kind].values():
                for r in refs:
                    others = [s for s in self.sources(kind, r.name) if s != r.source]
                    clash = (f"name clash: also declared by {', '.join(others)}; ask for "
                             f"'{r.source}:{r.name}'" if others else "")
                    error = "; ".join(e for e in (r.error, clash) if e)
                    by_source.setdefault(r.source, []).append((kind, r.name, r.state, error))
        for r in self._family_refs:
            by_source.setdefault(r.source, []).append(("family", r.name, r.state, r.error))
        return [PluginReport(s, self._versions.get(s, ""), sorted(e), self.problems(s))
                for s, e in sorted(by_source.items())]

    def problems(self, source: str) -> List[str]:
        """Where distribution `source`'s entry points and decorators disagree, as far as the
        entry points loaded so far show."""
        return list(self._problems.get(source, ()))

    def load_all(self, kind: Optional[str] = None) -> List[str]:
        """Import every entry point (of `kind`); returns the failure messages."""
        self._scan()
        errors = []
        kinds = [canonical_kind(kind)] if kind else list(KINDS)
        refs = [r for k in kinds for rs in self._refs[k].values() for r in rs]
        if kind is None:
            refs += self._family_refs
        for ref in refs:
            try:
                self._load(ref)
            except PluginLoadError as exc:
                errors.append(str(exc))
        return errors

    def sources(self, kind: str, name: str) -> List[str]:
        """The distributions that provide `name` of `kind` (loaded or declared), sorted."""
        kind = canonical_kind(kind)
        self._scan()
        loaded, refs = self._candidates(kind, name)
        return sorted(set(loaded) | {r.source for r in refs})

    def load_source(self, source: str, kind: str) -> List[Component]:
        """Import the entry points of `kind` that distribution `source` declares, and only
        those; returns its components of that kind (raises PluginLoadError on a broken one)."""
        kind = canonical_kind(kind)
        self._scan()
        refs = [r for rs in self._refs[kind].values() for r in rs if r.source == source]
        for ref in refs:
            self._load(ref)
        return [self._components[kind][r.name][source] for r in sorted(refs, key=lambda r: r.name)
                if source in self._components[kind].get(r.name, {})]


def _attribute_fix(entry_point: importlib.metadata.EntryPoint) -> str:
    """For an entry point naming an attribute its module lacks: the fix, with the module's
    decorated builders closest to that name."""
    try:
        module = importlib.import_module(entry_point.module)
    except Exception:
        return ""
    decorated = [name for name, obj in vars(module).items()
                 if getattr(obj, "__zoo_component__", None) is not None]
    close = difflib.get_close_matches(entry_point.attr or "", decorated, n=3, cutoff=0.5)
    return (f"correct the entry point's attribute {entry_point.attr!r} in "
            f"{entry_point.module}" + (f" (did you mean {', '.join(map(repr, close))}?)"
                                       if close else ""))


FIRST_PARTY = "zoo-video"  # the distribution of zoo and zoo_plugins
REGISTRY = Registry()
_active: contextvars.ContextVar[Registry] = contextvars.ContextVar("zoo_registry", default=REGISTRY)


def current() -> Registry:
    """The registry in use: `REGISTRY`, or the one a `Registry.activate()` block made current."""
    return _active.get()


def register(kind: str, name: Optional[str] = None, *, meta: Optional[ModelMeta] = None,
             **info: Any) -> Callable[[Callable], Callable]:
    """Decorator: attach a component's metadata to its builder (see `register_backbone` & co).

    `info` are the fields of the kind's record (`zoo.info`). In a module an entry point imports,
    the entry point names the component (`name` should agree; a mismatch is reported); run
    anywhere else (a script, a test) the decorator registers a local component under `name` (or
    the builder's name) in the `current()` registry."""
    kind = canonical_kind(kind)
    known = INFO[kind].__dataclass_fields__
    extra = {k: v for k, v in info.items() if k not in known}
    if extra:
        warnings.warn(f"register_{kind}({name!r}): {', '.join(sorted(extra))} "
                      f"{'is no field' if len(extra) == 1 else 'are no fields'} of its metadata "
                      f"({', '.join(known)}); kept as extra metadata, zoo does not read "
                      f"{'it' if len(extra) == 1 else 'them'}", stacklevel=3)
    record = INFO[kind](**{k: v for k, v in info.items() if k in known})

    def decorator(builder: Callable) -> Callable:
        loading = _loading.get()
        source = loading.source if loading else builder.__module__.split(".")[0]
        comp = Component(kind, name or builder.__name__, builder, source, meta or ModelMeta(), record,
                         local=loading is None, extra=extra)
        builder.__zoo_component__, builder.__zoo_name__ = comp, name
        if loading is None:
            current().add(comp)
        else:
            loading.decorated.append(comp)
        return builder

    return decorator


def register_backbone(name: Optional[str] = None, *, temporal: str, default_input=None,
                      weights=None, meta: Optional[ModelMeta] = None, **extra: Any):
    """Register a backbone builder ``f(in_channels=3, pretrained=False, **kw) -> nn.Module``.

    `temporal` is ``"frame"`` for 2D networks applied to each frame, ``"clip"`` for 3D ones. The
    module it builds reads ``[B, C, T, H, W]`` and returns a map ``[B, D, t, h, w]``; it has a
    ``feature_spec(input_spec) -> FeatureSpec`` method. `weights` (a `zoo.weights.Pretrained`)
    declares what ``pretrained=True`` loads; zoo then loads it after the builder.
    """
    return register("backbone", name, meta=meta, temporal=temporal, default_input=default_input,
                    weights=weights, **extra)


def register_temporal_head(name: Optional[str] = None, *, spec, meta=None, **extra: Any):
    """Register a head builder ``f(feature: FeatureSpec, num_classes: int, **kw) -> nn.Module``
    mapping a feature map ``[B, D, t, h, w]`` to logits ``[B, num_classes]``; `spec` is a HeadSpec.
    A head that cannot leave out padded frames refuses a batch with ``lengths`` that pads
    (`zoo.model.refuse_padding`)."""
    return register("temporal_head", name, meta=meta, spec=spec, **extra)


def register_fusion(name: Optional[str] = None, *, spec, meta=None, **extra: Any):
    """Register a fusion builder. Late (``spec.level == "late"``):
    ``f(streams: list[str], num_classes, **kw)`` fusing ``{stream: logits}`` into logits.
    Mid: ``f(features: dict[str, FeatureSpec], **kw)`` fusing ``{stream: map}`` into one map,
    with a ``feature_spec`` attribute describing that map."""
    return register("fusion", name, meta=meta, spec=spec, **extra)


def register_preset(name: Optional[str] = None, *, meta=None, weights=(), peer=None,
                    **extra: Any):
    """Register a named complete model: a function returning its config dict; `weights` are the
    whole-model files ``zoo.build(name, weights=True)`` loads, `peer` a `zoo.weights.Peer`."""
    return register("preset", name, meta=meta, weights=weights, peer=peer, **extra)


def register_dataset(name: Optional[str] = None, *, meta=None, needs_root: bool = True,
                     multi_label: bool = False, **extra: Any):
    """Register a dataset factory ``f(root=None, split="train", inputs=None, **kw) -> Dataset``."""
    return register("dataset", name, meta=meta, needs_root=needs_root, multi_label=multi_label,
                    **extra)
