"""Pretrained weights: fetch (iopath), verify (sha256), map onto a model with a report.

This module is the one place weights are loaded. A backbone declares its files when it registers,
``register_backbone(..., weights=Pretrained(files=[WeightFile(url, sha256, ...)], cache=[...]))``,
and the registry's component loads them after building it (`load_declared`): a backbone called
with ``pretrained=True`` loads the first declared file (or the first of its cache file names
present), ``pretrained="<path or URL>"`` that file. A preset declares whole-model files the same
way (``register_preset(..., weights=[...], peer=Peer(...))``) and
``zoo.build(..., weights=True | "<path or URL>" | {url, sha256})`` loads them (`load_model_weights`),
keys as in the built model's ``state_dict()``.

* URLs (``http(s)://``, ``ftp://``) go through an iopath ``PathManager`` with an ``HTTPURLHandler``;
  files are cached under ``$ZOO_CACHE`` (default ``~/.cache/zoo``), at
  ``<cache>/<URL path>``; a file already there is used without any network access.
* ``file://`` URLs and plain paths are read in place.
* A declared ``sha256`` is checked (`ChecksumError` on mismatch).
* `load_into` copies every tensor whose name and shape match, adapts RGB first convolutions to
  other channel counts (cross-modality initialisation, Wang et al. 2016: the kernel averaged over
  the colour channels and replicated), inflates 2D kernels into 3D convolutions (repeated over
  time and divided by the temporal size, Carreira & Zisserman 2017), re-initialises classifiers
  trained for another number of classes (with a warning) and returns a `LoadReport` of missing /
  unexpected keys.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlparse

from .errors import ZooError

logger = logging.getLogger("zoo.weights")

URL_SCHEMES = ("http://", "https://", "ftp://")


class WeightsError(ZooError):
    """Pretrained weights that cannot be had or do not fit."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """``pretrained=True`` (or a path) with no file to be had; the message says where to put it."""


class ChecksumError(WeightsError):
    """A weight file whose sha256 differs from the declared one."""


@dataclass(frozen=True)
class WeightFile:
    """One declared weight file: a URL or path, its sha256 and what it was trained for."""

    url: str
    sha256: Optional[str] = None
    num_classes: Optional[int] = None
    dataset: str = ""
    # rename checkpoint keys: {"old_prefix": "new_prefix"} applied before loading
    key_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def coerce(cls, obj: Union["WeightFile", Mapping[str, Any], str]) -> "WeightFile":
        if isinstance(obj, WeightFile):
            return obj
        if isinstance(obj, str):
            return cls(url=obj)
        return cls(**dict(obj))


def weight_files(files: Iterable[Union[WeightFile, Mapping[str, Any], str]]) -> Tuple[WeightFile, ...]:
    """Declared files (WeightFile, {url, sha256, ...} mapping or URL) as WeightFiles."""
    return tuple(WeightFile.coerce(f) for f in files)


@dataclass(frozen=True)
class Pretrained:
    """What a backbone's ``pretrained=True`` means, declared once when it registers.

    * ``files``: downloadable files (URL, sha256, classes, key map); the first is loaded;
    * ``cache``: otherwise, file names under the cache folder, the first present is loaded;
      each is formatted with the builder's arguments (``"timm/{model}.pth"``);
    * ``into``: the submodule (dotted path) whose ``state_dict()`` keys the files use;
    * ``rename``: for a submodule whose layers wrap the checkpoint's (temporal shift, inflation),
      a function of it giving the key map (checkpoint prefix -> its prefix).
    """

    files: Tuple[WeightFile, ...] = ()
    cache: Tuple[str, ...] = ()
    into: str = ""
    rename: Optional[Callable[[Any], Mapping[str, str]]] = None

    def __post_init__(self):
        object.__setattr__(self, "files", weight_files(self.files))
        object.__setattr__(self, "cache", tuple(self.cache))


@dataclass(frozen=True)
class Peer:
    """The same network in another library (torchvision's ``r3d_18`` ...): its checkpoints are
    read, and ``to_peer_state_dict`` writes them, through ``key_map`` (the peer's key prefixes ->
    zoo's, first match wins)."""

    library: str
    model: str
    key_map: Mapping[str, str] = field(default_factory=dict)


def cache_dir() -> Path:
    """The weights cache: ``$ZOO_CACHE`` or ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "zoo"))


def cached_path(url: str) -> Path:
    """Where a URL's file lives in the cache (``<cache>/<URL path>``): put it there by hand when
    the machine has no network."""
    parsed = urlparse(url)
    return cache_dir() / parsed.path.lstrip("/")


def _path_manager():
    from iopath.common.file_io import HTTPURLHandler, PathManager

    pm = PathManager()
    pm.register_handler(HTTPURLHandler())
    return pm


def sha256sum(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Union[str, Path], sha256: Optional[str]) -> None:
    """Raise `ChecksumError` when `path`'s sha256 does not start with / equal `sha256`."""
    if not sha256:
        return
    got = sha256sum(path)
    want = sha256.lower()
    if not got.startswith(want):
        raise ChecksumError(
            f"weight file {path} has sha256 {got}, expected {want}: the file is corrupt or not "
            f"the declared one. Delete it and fetch it again.")


def fetch(source: Union[str, Path, WeightFile], sha256: Optional[str] = None) -> Path:
    """A local path for `source` (path, ``file://`` URL or remote URL), checksum verified."""
    wf = WeightFile.coerce(str(source) if isinstance(source, Path) else source)
    sha256 = sha256 or wf.sha256
    url = wf.url
    if url.startswith("file://"):
        local = Path(urlparse(url).path)
        if not local.is_file():
            raise WeightsNotFoundError(f"weight file {url} does not exist (looked at {local}).")
    elif url.startswith(URL_SCHEMES):
        local = cached_path(url)
        if not local.is_file():
            try:
                local = Path(_path_manager().get_local_path(url, cache_dir=str(cache_dir())))
            except Exception as exc:  # no network, 404, ...
                raise WeightsNotFoundError(
                    f"could not download {url} ({type(exc).__name__}: {exc}). Download it by hand "
                    f"and put it at {cached_path(url)} (the cache folder is $ZOO_CACHE, "
                    f"default ~/.cache/zoo), or pass pretrained='/path/to/file'.") from exc
    else:
        local = Path(os.path.expanduser(url))
        if not local.is_file():
            raise WeightsNotFoundError(f"weight file {local} does not exist.")
    verify(local, sha256)
    return local


def _is_safetensors(path: str) -> bool:
    """A safetensors file starts with an 8-byte header length and a JSON header (``{``)."""
    if path.endswith(".safetensors"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and not head.startswith(b"PK")


def read_state_dict(path: Union[str, Path]) -> Dict[str, Any]:
    """Tensors of a checkpoint: a ``.safetensors`` file (any name), or a torch file read with
    ``weights_only=True`` (no pickled code runs); ``state_dict`` / ``model_state`` / ``model`` /
    ``module`` wrappers are unwrapped, so a zoo checkpoint (`zoo.engine.checkpoint.save_checkpoint`,
    ``{"model": state, ...}``) or weights file (`save_weights`) reads as its model state."""
    import torch

    path = str(path)
    if _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return dict(load_file(path))
        except Exception as exc:
            if path.endswith(".safetensors"):
                raise WeightsError(f"cannot read {path} as safetensors: {type(exc).__name__}: "
                                   f"{exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path} as a weights file ({type(exc).__name__}: {exc}). zoo reads "
            f"checkpoints with torch.load(weights_only=True), so a file that pickles code or custom "
            f"objects is refused: if you trust it, re-save its tensors with torch.save(state_dict) "
            f"or safetensors.") from exc
    for key in ("state_dict", "model_state", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict")
    out = {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}
    return {k: v for k, v in out.items() if hasattr(v, "shape")}


@dataclass
class LoadReport:
    """What `load_into` did."""

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: List[str] = field(default_factory=list)  # in the file, not in the model
    reinitialised: List[str] = field(default_factory=list)  # classifier of another class count
    adapted: List[str] = field(default_factory=list)  # cross-modality first convolutions
    mismatched: List[str] = field(default_factory=list)  # other shape mismatches, skipped
    source: str = ""

    def __str__(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors from {self.source or 'state dict'}"]
        for name in ("missing", "unexpected", "reinitialised", "adapted", "mismatched"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
                parts.append(f"{name} ({len(keys)}): {shown}")
        return "; ".join(parts)


def rename_keys(state: Mapping[str, Any], key_map: Mapping[str, str]) -> Dict[str, Any]:
    """`state` with each key's prefix renamed by the first entry of `key_map` it starts with."""
    renamed = {}
    for k, v in state.items():
        for old, new in key_map.items():
            if k.startswith(old):
                k = new + k[len(old):]
                break
        renamed[k] = v
    return renamed


def cross_modality(weight, in_channels: int):
    """An RGB kernel ``[O, 3, ...]`` for `in_channels` inputs: averaged over the colour channels
    and replicated (Wang et al. 2016, used for two-stream flow networks)."""
    mean = weight.mean(dim=1, keepdim=True)
    reps = [1, in_channels] + [1] * (weight.dim() - 2)
    return mean.repeat(*reps).contiguous()


def inflate_kernel(weight, time: int):
    """A 2D kernel ``[O, I, k, k]`` as a 3D one ``[O, I, time, k, k]``: repeated over time and
    divided by `time` (I3D's inflation: a clip of one repeated image gives the 2D network's
    response)."""
    return weight.unsqueeze(2).repeat(1, 1, time, 1, 1) / time


def _adapted(v, target, adapt_channels: bool):
    """`v` made to fit `target` by inflation and / or cross-modality initialisation, or None."""
    if v.dim() == 4 and target.dim() == 5 and v.shape[2:] == target.shape[3:]:
        v = inflate_kernel(v, target.shape[2])
    if tuple(v.shape) == tuple(target.shape):
        return v
    if (adapt_channels and v.dim() >= 3 and v.dim() == target.dim() and v.shape[1] == 3
            and v.shape[0] == target.shape[0] and v.shape[2:] == target.shape[2:]):
        return cross_modality(v.to(target.dtype), target.shape[1])
    return None


def load_into(module, state: Mapping[str, Any], *, key_map: Optional[Mapping[str, str]] = None,
              adapt_channels: bool = True, warn: bool = True, source: str = "",
              ignore_unexpected: Sequence[str] = ()) -> LoadReport:
    """Copy `state` onto `module` by name and shape; return a `LoadReport`.

    * same name, same shape: copied;
    * only dimension 0 differs (a classifier of another number of classes): left as initialised,
      with a warning that names it;
    * a 2D kernel for a 3D convolution: inflated (`inflate_kernel`);
    * a kernel ``[O, 3, ...]`` for a layer reading other channels: cross-modality initialised;
    * anything else: skipped and reported.
    """
    import torch

    report = LoadReport(source=source)
    if key_map:
        state = rename_keys(state, key_map)
    own = module.state_dict()
    new_state = {}
    for k, v in state.items():
        if k not in own:
            if not any(k.startswith(p) for p in ignore_unexpected):
                report.unexpected.append(k)
            continue
        target = own[k]
        if tuple(v.shape) == tuple(target.shape):
            new_state[k] = v
            report.loaded.append(k)
        elif (adapted := _adapted(v, target, adapt_channels)) is not None:
            new_state[k] = adapted.to(target.dtype)
            report.adapted.append(k)
        elif v.dim() == target.dim() and v.shape[1:] == target.shape[1:]:
            report.reinitialised.append(k)
        else:
            report.mismatched.append(k)
    for k in own:
        if k not in new_state and k not in report.reinitialised:
            report.missing.append(k)
    with torch.no_grad():
        module.load_state_dict(new_state, strict=False)
    if report.reinitialised:
        msg = (f"zoo.weights: {', '.join(report.reinitialised)} kept their initialisation: the "
               f"checkpoint {source} was trained for another number of classes "
               f"({', '.join(str(tuple(state[k].shape)) for k in report.reinitialised[:2])} vs "
               f"{', '.join(str(tuple(own[k].shape)) for k in report.reinitialised[:2])}); the "
               f"rest of the network is loaded, the classifier is re-initialised.")
        logger.warning(msg)
        if warn:
            warnings.warn(msg, UserWarning, stacklevel=2)
    if report.adapted:
        logger.info("zoo.weights: inflated or cross-modality initialised: %s", ", ".join(report.adapted))
    if report.mismatched:
        logger.warning("zoo.weights: skipped tensors of another shape: %s", ", ".join(report.mismatched))
    logger.info("%s", report)
    return report


DefaultFile = Optional[Union[str, Path, Sequence[Union[str, Path]]]]


def _defaults(default_file: DefaultFile) -> List[Path]:
    if default_file is None:
        return []
    if isinstance(default_file, (str, Path)):
        return [Path(default_file)]
    return [Path(f) for f in default_file]


def resolve(pretrained: Union[bool, str, Path, WeightFile, Mapping[str, Any]],
            declared: Iterable[Union[WeightFile, Mapping[str, Any], str]] = (),
            what: str = "this model", default_file: DefaultFile = None,
            param: str = "pretrained") -> Optional[WeightFile]:
    """Which file `pretrained` means: None for False, the first declared (or `default_file`, a
    cache-relative file name, or the first existing of several) for True, the given path/URL
    otherwise. Raises `WeightsNotFoundError` when True has nothing to point to; `param` names the
    argument in messages (``pretrained`` for components, ``weights`` for zoo.build)."""
    if pretrained is None or pretrained is False:
        return None
    if pretrained is True:
        declared = weight_files(declared)
        if declared:
            return declared[0]
        defaults = _defaults(default_file)
        if defaults:
            for rel in defaults:
                path = cache_dir() / rel
                if path.is_file():
                    return WeightFile(url=str(path))
            path = cache_dir() / defaults[0]
            others = ", ".join(str(cache_dir() / d) for d in defaults[1:])
            raise WeightsNotFoundError(
                f"{param}=True but no weights for {what} are available offline: put a state dict "
                f"or checkpoint (.pt/.pth or .safetensors) at {path}{f' (or {others})' if others else ''} "
                f"($ZOO_CACHE, default ~/.cache/zoo), or pass {param}='/path/to/weights.pth'.")
        raise WeightsNotFoundError(
            f"{param}=True but {what} declares no weight files; pass {param}='/path/to/weights"
            f".pth' (or a URL), or put a file under {cache_dir()}.")
    if isinstance(pretrained, (str, Path)):
        return WeightFile(url=str(pretrained))
    return WeightFile.coerce(pretrained)


def load_pretrained(module, pretrained, *, declared=(), what: str = "this model",
                    default_file: DefaultFile = None,
                    transform: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None,
                    param: str = "pretrained", **kw) -> Optional[LoadReport]:
    """Fetch, verify and load the weights `pretrained` points to into `module` (see `resolve`)."""
    wf = resolve(pretrained, declared, what=what, default_file=default_file, param=param)
    if wf is None:
        return None
    if not wf.url.startswith(URL_SCHEMES + ("file://",)) and default_file is not None:
        # a file name relative to the cache
        p = Path(os.path.expanduser(wf.url))
        if not p.is_absolute() and not p.is_file():
            if not (cache_dir() / p).is_file():
                raise WeightsNotFoundError(
                    f"{param}={wf.url!r}: no such file in {os.getcwd()} nor in the cache; put it at "
                    f"{cache_dir() / p} ($ZOO_CACHE, default ~/.cache/zoo) or pass its full path.")
            wf = WeightFile(url=str(cache_dir() / p), sha256=wf.sha256, key_map=wf.key_map)
    path = fetch(wf)
    state = read_state_dict(path)
    if transform is not None:
        state = transform(state)
    return load_into(module, state, key_map=dict(wf.key_map) or None, source=str(path), **kw)


def _submodule(module, path: str):
    return module.get_submodule(path) if path else module


def load_declared(module, pretrained, declared: Pretrained, arguments: Mapping[str, Any],
                  what: str) -> Optional[LoadReport]:
    """Load what a backbone's ``pretrained`` argument means into the `module` it built, by what
    the backbone declared (`Pretrained`); `arguments` are the builder's (they fill the cache
    names). The registry's component calls this after the builder; nothing else loads a
    component's weights."""
    cache = [name.format(**arguments) for name in declared.cache]
    target = _submodule(module, declared.into)
    key_map = declared.rename(target) if declared.rename else {}
    return load_pretrained(target, pretrained, declared=declared.files, what=what,
                           default_file=cache or None,
                           transform=lambda state: rename_keys(state, key_map))


# -- whole models (zoo.build(..., weights=...)) ----------------------------------------------------
MODEL_WEIGHTS_DIR = "models"


def model_default_files(name: str) -> List[str]:
    """Where ``zoo.build(name, weights=True)`` looks in the cache when preset `name` declares no
    weight file: ``<cache>/models/<name>.pt`` (a zoo checkpoint), ``.pth``, ``.safetensors``."""
    return [f"{MODEL_WEIGHTS_DIR}/{name}{ext}" for ext in (".pt", ".pth", ".safetensors")]


def load_model_weights(model, weights: Any, *, name: Optional[str] = None,
                       preset=None) -> Optional[LoadReport]:
    """Load whole-model weights into a built `VideoClassifier` (what ``zoo.build(..., weights=)``
    does): `weights` is a path, URL, ``{url, sha256, ...}`` mapping / `WeightFile`, or True for the
    first file `preset` (the registered preset `name`, when the model is one) declares (else
    ``<cache>/models/<name>.pt|.pth|.safetensors``).

    Keys are the built model's ``state_dict()`` names (``streams.rgb.backbone...``); a zoo
    checkpoint or safetensors weights file reads as its model state. A checkpoint of the preset's
    `Peer` (torchvision's ``r3d_18``, pytorchvideo's ``x3d_m`` ...) is read through the key map
    the preset declares. A classifier trained for
    another number of classes is re-initialised (warned and logged); missing / unexpected keys are
    in the returned report. A file none of whose tensors fit the model raises `WeightsError`.
    """
    if weights is None or weights is False:
        return None
    what = f"preset {name!r}" if name else "this model"
    info = preset.info if preset is not None else None
    report = load_pretrained(model, weights, declared=info.weights if info else (), what=what,
                             default_file=model_default_files(name) if name else None,
                             transform=_from_peer(model, info.peer if info else None),
                             param="weights")
    if report is not None and not report.loaded and not report.adapted:
        keys = report.unexpected[:3] or report.mismatched[:3]
        raise WeightsError(
            f"weights={weights!r}: none of the tensors in {report.source} fit {what} "
            f"(its keys look like {', '.join(keys) or 'nothing'}; the model's like "
            f"{', '.join(list(model.state_dict())[:2])}). Whole-model weights come from a zoo "
            f"checkpoint or model.state_dict(); for a backbone's own checkpoint use the backbone's "
            f"pretrained= option, or declare a key_map.")
    logger.info("zoo.build: %s", report)
    return report


# -- peers: the same network in torchvision / pytorchvideo -------------------------------------------
def _from_peer(model, peer: Optional[Peer]) -> Callable[[Dict[str, Any]], Dict[str, Any]]:
    """A `load_pretrained` transform: a state dict whose keys are mostly not the model's is read
    with the peer's key map."""
    def transform(state: Dict[str, Any]) -> Dict[str, Any]:
        own = model.state_dict()
        if peer is None or 2 * sum(k in own for k in state) > len(state):
            return state
        logger.info("zoo.weights: reading a %s %s checkpoint", peer.library, peer.model)
        return rename_keys(state, peer.key_map)
    return transform


def _peer_of(name: Optional[str]) -> Optional[Peer]:
    from .registry import current

    try:
        return current().get("preset", name).info.peer if name else None
    except ZooError:
        return None


def to_peer_state_dict(model, library: Optional[str] = None) -> Dict[str, Any]:
    """`model`'s state dict under the keys of its preset's peer, so that e.g.
    ``torchvision.models.video.r3d_18().load_state_dict(to_peer_state_dict(model))`` works;
    `library` ("torchvision", "pytorchvideo") checks which peer is meant."""
    from .registry import current

    name = model.config.get("name") if isinstance(getattr(model, "config", None), dict) else None
    peer = _peer_of(name)
    if peer is None or (library and peer.library != library):
        wanted = (library,) if library else ("torchvision", "pytorchvideo")
        have = [c.name for c in current().components("preset")
                if c.info.peer is not None and c.info.peer.library in wanted]
        raise WeightsError(f"preset {name!r} has no {library or 'peer'} equivalent; presets with "
                           f"one: {', '.join(have)}")
    inverse = {new: old for old, new in sorted(peer.key_map.items(), key=lambda kv: -len(kv[1]))}
    return rename_keys(model.state_dict(), inverse)
