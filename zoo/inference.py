"""zoo's inference fast path: inference mode, bf16 autocast, channels_last_3d, torch.compile, and
`optimize`, which picks among them for this machine by measuring.

On CPUs with AMX (and on GPUs), bf16 autocast with channels-last memory runs 3D convolutions
several times faster than eager fp32; inductor with freezing folds weights and batch norms into
the compiled graph. Which of them pays depends on the model as much as on the machine (bf16 with
channels-last made R3D-18 3.5x faster on an AMX Xeon, but X3D-XS's depthwise convolutions 0.72x
slower), so `optimize` times each candidate on the caller's input and keeps the fastest whose
outputs agree with eager fp32. `benchmarks/bench_peers.py` measures each step against the peers.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .tensors import autocast

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]
Runner = Callable[[Inputs], torch.Tensor]

MIN_AGREEMENT = 0.99  # top-1 agreement with eager fp32 a faster path needs (int8 included)
AGREEMENT_CLIPS = 24  # built-in test clips compared by default (two per class)
# compile="auto" tries torch.compile (10-50 s per model) only when the calls the caller expects
# would take longer than this at the best uncompiled speed
AUTO_COMPILE_AFTER_S = 120.0
TIMING_ROUNDS = 2  # interleaved rounds per candidate; each gets seconds / rounds
MAX_CALLS_PER_ROUND = 30  # enough for a stable figure on a model that runs in milliseconds
CACHE_FILE = "optimize.json"
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # CPU features that run bf16 natively


@dataclass(frozen=True)
class FastPath:
    """Which speed-ups to apply; `FastPath()` is all of them but compilation."""

    bf16: bool = True
    channels_last: bool = True
    compile: bool = False

    @property
    def label(self) -> str:
        parts = [name for name, on in (("bf16", self.bf16), ("channels_last_3d", self.channels_last),
                                       ("compile+freezing", self.compile)) if on]
        return " + ".join(parts) or "eager fp32"


EAGER = FastPath(bf16=False, channels_last=False)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 5-D tensor in channels_last_3d memory, a 4-D one in channels_last, others as they are."""
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _map_inputs(x: Inputs, fn: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    if isinstance(x, torch.Tensor):
        return fn(x)
    return {k: fn(v) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in x.items()}


def channels_last_inputs(x: Inputs) -> Inputs:
    """A tensor or ``{stream: tensor}`` batch in channels-last memory (see `to_channels_last`)."""
    return _map_inputs(x, to_channels_last)


def channels_last_model(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Convert `model`'s 4-D and 5-D parameters to channels-last memory (or, with
    ``channels_last=False``, back to contiguous memory), in place: 3D convolutions then run on
    oneDNN's faster channels-last kernels, in training too."""
    with torch.no_grad():
        for param in model.parameters():
            param.data = to_channels_last(param.data) if channels_last else param.data.contiguous()
    return model


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


# Guarded entries one compiled model may add to the cache of the forward it shares with every
# model of its class (one per batch size and input kind it is called with).
ENTRIES_PER_COMPILED_MODEL = 8


def _room_for_another_compiled_model() -> None:
    """Raise dynamo's per-function recompile limit by `ENTRIES_PER_COMPILED_MODEL`: every zoo
    model runs `VideoClassifier.forward`, whose cache fills with each model compiled in the
    process, and past the limit the next model ran eager (in one benchmark run, the fourth)."""
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit += ENTRIES_PER_COMPILED_MODEL


def optimize_for_inference(model: nn.Module, path: FastPath = FastPath()) -> Runner:
    """Return ``predict(inputs) -> float32 logits`` running `model` with the chosen speed-ups.

    The model is put in eval mode, its weights in the path's memory layout (channels-last or
    contiguous), in place.
    """
    model.eval()
    device = _device_of(model)
    channels_last_model(model, path.channels_last)
    runner: Callable[[Any], torch.Tensor] = model
    if path.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        _room_for_another_compiled_model()
        runner = torch.compile(model)

    def predict(x: Inputs) -> torch.Tensor:
        if path.channels_last:
            x = channels_last_inputs(x)
        with torch.inference_mode(), autocast(device, path.bf16):
            return runner(x).float()

    return predict


# -- what the machine has -------------------------------------------------------------------------
@dataclass(frozen=True)
class Machine:
    """Where a choice is measured and cached: device, processor, what runs bf16 natively."""

    device: str  # "cpu", or "cuda:0 (NVIDIA H200)"
    processor: str
    capability: str  # torch.backends.cpu.get_cpu_capability(): AVX2, AVX512, ...
    bf16: str  # what runs bf16 natively: "amx_bf16", "avx512_bf16", "cuda"; "" for nothing
    torch: str
    threads: int

    @property
    def native_bf16(self) -> bool:
        return bool(self.bf16)

    def describe(self) -> str:
        bf16 = f"bf16 native ({self.bf16})" if self.bf16 else "no native bf16"
        where = self.processor if self.device == "cpu" else self.device
        return f"{where}, {self.capability}, {bf16}, {self.threads} thread{'s' * (self.threads != 1)}"


def cpu_bf16_features() -> Tuple[str, ...]:
    """The features of `BF16_FLAGS` this CPU has: the flags of /proc/cpuinfo, or where there is
    none, what torch reads of the processor (``torch.cpu.get_capabilities``)."""
    found = set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    found |= set(line.split(":", 1)[1].split()) & set(BF16_FLAGS)
                    break
    except OSError:
        pass
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        found |= {flag for flag in BF16_FLAGS if capabilities().get(flag)}
    return tuple(flag for flag in BF16_FLAGS if flag in found)


def detect_machine(device: Any = "cpu") -> Machine:
    """The `Machine` for `device`: bf16 is native on a CUDA device that supports it and on a CPU
    with AMX or AVX512-BF16 (elsewhere torch emulates it, slower than fp32)."""
    from .bench.run import processor

    device = torch.device(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
        bf16 = "cuda" if torch.cuda.is_bf16_supported() else ""
    else:
        name, bf16 = device.type, ",".join(cpu_bf16_features())
    return Machine(name, processor(), torch.backends.cpu.get_cpu_capability(), bf16,
                   torch.__version__, torch.get_num_threads())


def candidate_paths(machine: Machine, compile: bool) -> List[FastPath]:
    """What `optimize` times: eager fp32 (the reference), channels-last, bf16 variants only where
    bf16 is native, and with `compile` the channels-last paths compiled."""
    precisions = [False, True] if machine.native_bf16 else [False]
    paths = [EAGER, *(FastPath(bf16=b, channels_last=True) for b in precisions)]
    if machine.native_bf16:
        paths.append(FastPath(bf16=True, channels_last=False))
    if compile:
        paths += [FastPath(bf16=b, channels_last=True, compile=True) for b in precisions]
    return paths


# -- timing --------------------------------------------------------------------------------------
def _batch_size(x: Inputs) -> int:
    array = x if hasattr(x, "shape") else next(v for v in x.values() if hasattr(v, "shape"))
    return array.shape[0]  # a tensor, or the numpy arrays an exported model's runtime reads


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clips_per_second(fn: Runner, x: Inputs, min_seconds: float, max_calls: Optional[int] = None,
                     device: Any = "cpu") -> float:
    """Clips/s of back-to-back calls for at least `min_seconds`, or `max_calls` calls when that
    comes first (at least one call)."""
    device = torch.device(device)
    calls, start = 0, time.perf_counter()
    while calls < 1 or (time.perf_counter() - start < min_seconds
                        and (max_calls is None or calls < max_calls)):
        fn(x)
        calls += 1
    _sync(device)
    return calls * _batch_size(x) / (time.perf_counter() - start)


def interleaved_rates(timers: Mapping[Any, Callable[[], float]], rounds: int) -> Dict[Any, float]:
    """The median of `rounds` measurements of each timer, taken in turn (A B C, A B C, ...) so
    that the machine's drift during the run falls on all of them alike."""
    samples: Dict[Any, List[float]] = {label: [] for label in timers}
    for _ in range(rounds):
        for label, timer in timers.items():
            samples[label].append(timer())
    return {label: statistics.median(values) for label, values in samples.items()}


def example_for(model: nn.Module, batch: int = 1) -> Dict[str, torch.Tensor]:
    """A random batch ``{stream: [batch, C, T, H, W]}`` shaped by ``model.spec``, drawn from its
    own seeded generator (the caller's random state is left as it was)."""
    from .tensors import example_inputs

    spec = getattr(model, "spec", None)
    if spec is None:
        raise ValueError("zoo.optimize needs example_inputs for a model without .spec "
                         "(zoo.build's models have one): pass a batch like those it will run")
    generator = torch.Generator().manual_seed(0)
    return example_inputs(spec.inputs, batch,
                          fill=lambda *shape: torch.randn(*shape, generator=generator))


# -- agreement with eager fp32 -------------------------------------------------------------------
def _named(x: Inputs) -> Dict[str, torch.Tensor]:
    return {"input": x} if isinstance(x, torch.Tensor) else {k: v for k, v in x.items()
                                                             if isinstance(v, torch.Tensor)}


def _like(example: Inputs, named: Dict[str, torch.Tensor]) -> Inputs:
    return named["input"] if isinstance(example, torch.Tensor) else named


def builtin_clips(model: nn.Module, example: Inputs, clips: int = AGREEMENT_CLIPS) -> Inputs:
    """`clips` test clips of the built-in dataset (``moving_shapes``) shaped like `example`
    (the model's input streams at the example's frames and size); random clips for a model
    without ``spec`` or streams the dataset cannot make."""
    named = _named(example)
    spec = getattr(model, "spec", None)
    streams = getattr(spec, "inputs", {}) or {}
    if isinstance(example, torch.Tensor) and len(streams) == 1:
        streams = {"input": next(iter(streams.values()))}
    if set(streams) == set(named):
        from .registry import current

        inputs = {name: dataclasses.replace(s, frames=named[name].shape[2], size=named[name].shape[-1])
                  for name, s in streams.items()}
        factory = current().get("dataset", "moving_shapes")
        dataset = factory(split="test", inputs=inputs,
                          clips_per_class=math.ceil(clips / len(factory().classes)))
        items = [dataset[i]["inputs"] for i in range(min(clips, len(dataset)))]
        stacked = {name: torch.stack([item[name] for item in items]) for name in inputs}
        if all(stacked[n].shape[1:] == named[n].shape[1:] for n in named):
            return _like(example, stacked)
    generator = torch.Generator().manual_seed(0)
    return _like(example, {name: torch.randn(clips, *x.shape[1:], generator=generator)
                           for name, x in named.items()})


def agreement_batches(clips: Inputs, example: Inputs, device: Any) -> Tuple[List[Inputs], int]:
    """`clips` cut into batches of the example's size (a compiled candidate runs the shape it
    was compiled for), the last one padded with the first clips, on `device`; and the number
    of real clips."""
    named, batch = _named(clips), _batch_size(example)
    total = _batch_size(clips)
    padded = math.ceil(total / batch) * batch
    index = torch.arange(padded) % total
    out = []
    for start in range(0, padded, batch):
        rows = index[start:start + batch]
        out.append(_like(example, {n: x[rows].to(device) for n, x in named.items()}))
    return out, total


@dataclass(frozen=True)
class Measured:
    """A candidate's clips/s and, where it was checked, its agreement with eager fp32."""

    path: FastPath
    clips_per_s: float
    agreement: Optional[float] = None  # top-1 agreement with eager fp32 (None: not checked)
    max_logit_diff: Optional[float] = None

    @property
    def accepted(self) -> bool:
        return self.agreement is not None and self.agreement >= MIN_AGREEMENT


def logit_agreement(outputs: torch.Tensor, expected: torch.Tensor) -> Tuple[float, float]:
    """(share of clips with the same arg-max class, largest absolute logit difference)."""
    agree = (outputs.argmax(1) == expected.argmax(1)).float().mean().item()
    return agree, (outputs - expected).abs().max().item()


def compare(runner: Runner, reference: List[torch.Tensor], batches: List[Inputs],
            clips: int) -> Tuple[float, float]:
    """`logit_agreement` of `runner` with the reference logits over the first `clips` clips of
    `batches`."""
    outputs = torch.cat([runner(b).float().cpu() for b in batches])[:clips]
    return logit_agreement(outputs, torch.cat(reference)[:clips])


# -- the choice ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """The path `optimize` chose, what it measured, and where."""

    path: FastPath
    measured: Tuple[Measured, ...]
    machine: Machine
    clips: int  # agreement clips
    cached: bool = False

    @property
    def clips_per_s(self) -> float:
        """The chosen path's clips/s on the example."""
        return next(m.clips_per_s for m in self.measured if m.path == self.path)

    @property
    def speedup(self) -> float:
        return self.clips_per_s / next(m.clips_per_s for m in self.measured if m.path == EAGER)

    def summary(self, what: str) -> str:
        """One line: each candidate's clips/s (and agreement where checked), then the winner."""
        parts = []
        for m in self.measured:
            note = ""
            if m.agreement is not None and m.path != EAGER:
                note = f" ({'rejected: ' if not m.accepted else ''}agreement {m.agreement:.0%})"
            parts.append(f"{m.path.label} {m.clips_per_s:.3g}{note}")
        won = next(m for m in self.measured if m.path == self.path)
        cached = " (cached)" if self.cached else ""
        return (f"zoo.optimize: {what} on {self.machine.describe()}: clips/s "
                f"{'; '.join(parts)} -> {self.path.label}{cached}: {self.speedup:.2f}x eager fp32, "
                f"top-1 agreement {won.agreement:.0%} on {self.clips} clips, largest logit "
                f"difference {won.max_logit_diff:.1e}")

    def to_json(self) -> Dict[str, Any]:
        return {"path": dataclasses.asdict(self.path), "clips": self.clips,
                "machine": dataclasses.asdict(self.machine),
                "measured": [{**dataclasses.asdict(m), "path": dataclasses.asdict(m.path)}
                             for m in self.measured]}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> "Choice":
        measured = tuple(Measured(**{**m, "path": FastPath(**m["path"])}) for m in entry["measured"])
        return cls(FastPath(**entry["path"]), measured, Machine(**entry["machine"]), entry["clips"],
                   cached=True)


def measure(model: nn.Module, example: Inputs, paths: Sequence[FastPath], seconds: float,
            clips: Inputs, machine: Machine) -> Tuple[Choice, nn.Module, Runner]:
    """Time every path on `example` in interleaved rounds, then check, fastest first, each
    path's agreement with eager fp32 on `clips` until one reaches `MIN_AGREEMENT`: the choice,
    and the winner's model copy and runner (so that a compiled winner is not compiled again)."""
    device = _device_of(model)
    models = {path: copy.deepcopy(model) for path in paths}
    runners = {path: optimize_for_inference(models[path], path) for path in paths}
    example = _map_inputs(example, lambda t: t.to(device))
    for runner in runners.values():
        runner(example)  # warm-up; compiles a compiled path
    rates = interleaved_rates({path: lambda r=runner: clips_per_second(
        r, example, seconds / TIMING_ROUNDS, MAX_CALLS_PER_ROUND, device)
        for path, runner in runners.items()}, TIMING_ROUNDS)
    batches, count = agreement_batches(clips, example, device)
    reference = [runners[EAGER](b).float().cpu() for b in batches]
    measured: Dict[FastPath, Measured] = {}
    winner = None
    for path in sorted(paths, key=lambda p: -rates[p]):
        if winner is not None:
            measured[path] = Measured(path, rates[path])
            continue
        agree, diff = (1.0, 0.0) if path == EAGER else compare(runners[path], reference, batches, count)
        measured[path] = Measured(path, rates[path], agree, diff)
        if measured[path].accepted:
            winner = path
    choice = Choice(winner, tuple(measured[p] for p in paths), machine, count)
    return choice, models[winner], runners[winner]


def cache_path() -> Path:
    """Where choices are kept: ``$ZOO_CACHE/optimize.json`` (default ``~/.cache/zoo``)."""
    from .weights import cache_dir

    return cache_dir() / CACHE_FILE


def fingerprint(model: nn.Module, example: Inputs, machine: Machine, compile: bool) -> str:
    """A stable key for a choice: the model's config (its architecture where it has none), the
    example's shapes, the machine and whether compiled paths were candidates."""
    identity = getattr(model, "config", None) or repr(model)
    shapes = {name: list(x.shape) for name, x in _named(example).items()}
    text = json.dumps({"model": identity, "inputs": shapes, "machine": dataclasses.asdict(machine),
                       "compile": compile}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read_cache() -> Dict[str, Any]:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, what: str, choice: Choice) -> None:
    from .engine.checkpoint import atomic_write

    entries = _read_cache()
    entries[key] = {"model": what, **choice.to_json()}
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(json.dumps(entries, indent=1).encode()))


def describe_inputs(model: nn.Module, example: Inputs) -> str:
    """``r3d_18 [rgb 1x3x16x112x112]``: the model's name and the example's shapes."""
    name = (getattr(model, "config", None) or {}).get("name") or type(model).__name__
    shapes = ", ".join(f"{n} {'x'.join(map(str, x.shape))}" for n, x in _named(example).items())
    return f"{name} [{shapes}]"


class OptimizedModel(nn.Module):
    """A model run on the path `optimize` chose: called like the model, it returns float32
    logits. Inference only: ``train()`` leaves the model in eval mode. ``choice`` says what was
    measured; ``spec``, ``config`` and ``classes`` are the model's."""

    def __init__(self, model: nn.Module, choice: Choice, runner: Optional[Runner] = None):
        super().__init__()
        self.model = model
        self.choice = choice
        self._run = runner or optimize_for_inference(model, choice.path)
        for name in ("spec", "config", "classes"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        self.training = False

    def forward(self, x: Inputs) -> torch.Tensor:
        return self._run(x)

    def train(self, mode: bool = True) -> "OptimizedModel":
        self.training = mode
        return self


def _choose(model: nn.Module, example: Inputs, machine: Machine, compile: bool, seconds: float,
            agreement_inputs: Optional[Inputs], agreement_clips: int, cache: bool
            ) -> Tuple[Choice, Optional[nn.Module], Optional[Runner]]:
    key = fingerprint(model, example, machine, compile)
    if cache:
        entry = _read_cache().get(key)
        if entry is not None:
            try:
                return Choice.from_json(entry), None, None
            except (KeyError, TypeError):  # written by another version: measure again
                pass
    clips = agreement_inputs if agreement_inputs is not None else builtin_clips(
        model, example, agreement_clips)
    choice, winner, runner = measure(model, example, candidate_paths(machine, compile), seconds,
                                     clips, machine)
    if cache:
        _write_cache(key, describe_inputs(model, example), choice)
    return choice, winner, runner


def optimize(model: nn.Module, example_inputs: Optional[Inputs] = None, *,
             compile: Union[bool, str] = "auto", calls: int = 1, seconds: float = 2.0,
             agreement_inputs: Optional[Inputs] = None, agreement_clips: int = AGREEMENT_CLIPS,
             cache: bool = True, verbose: bool = True) -> OptimizedModel:
    """The fastest inference path for this machine whose outputs agree with eager fp32.

    The candidates (`candidate_paths`: eager fp32, channels_last_3d, bf16 variants only where
    the processor or GPU runs bf16 natively, and with `compile` the same compiled by inductor
    with freezing) are each timed on `example_inputs` (default: one clip shaped by
    ``model.spec``) for about `seconds`, in interleaved rounds. The fastest whose top-1 agrees
    with eager fp32 on >= 99% of `agreement_inputs` (default: `agreement_clips` test clips of the
    built-in dataset at the example's shape; with fewer than 100 clips, every clip) wins.

    ``compile="auto"`` adds the compiled candidates (10-50 s of compiling per model) only when
    `calls` calls of the example's batch would take longer than `AUTO_COMPILE_AFTER_S` at the
    best uncompiled speed: a single prediction never compiles, an evaluation over a dataset does.

    The choice is printed once (one line on stderr unless `verbose` is False) and, with `cache`,
    kept in ``$ZOO_CACHE/optimize.json`` per model config, input shapes and machine, so that the
    next call does not measure again. `model` itself is left as it was: the result runs a copy.
    """
    device = _device_of(model)
    if example_inputs is None:
        example_inputs = example_for(model)
    if compile not in (True, False, "auto"):
        raise ValueError(f"compile must be True, False or 'auto', not {compile!r}")
    machine = detect_machine(device)
    options = dict(seconds=seconds, agreement_inputs=agreement_inputs,
                   agreement_clips=agreement_clips, cache=cache)
    choice, winner, runner = _choose(model, example_inputs, machine, compile is True, **options)
    if compile == "auto":
        best = max(m.clips_per_s for m in choice.measured)
        expected = calls * _batch_size(example_inputs) / best
        if expected > AUTO_COMPILE_AFTER_S:
            choice, winner, runner = _choose(model, example_inputs, machine, True, **options)
    if verbose:
        print(choice.summary(describe_inputs(model, example_inputs)), file=sys.stderr, flush=True)
    if winner is None:
        winner = copy.deepcopy(model)
    return OptimizedModel(winner, choice, runner)
