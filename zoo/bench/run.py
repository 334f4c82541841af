"""Running the benchmark: every job trained on each dataset for the profile's budget, scored on
the held-out split, its rows stored as it finishes (a killed run resumes where it stopped), and
the leaderboards, the paper-scale cost table and MODEL_CARDS.md written at the end."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .jobs import DATASET, Job
from .profiles import Profile, format_width
from .rows import BenchRow, format_input, overlap_note
from .schedule import PACE_JOBS, Deadline, end_note, slowdowns

DEFAULT_RESULTS = Path("benchmarks") / "results"
STORE_NAME = "leaderboard.jsonl"
DEFAULT_CARDS = Path("MODEL_CARDS.md")
EVAL_BATCH = 64
EVAL_ORDERS = ("forward", "reversed", "shuffled")  # how the test clips are played


def processor() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """The processor with what its speed depends on besides the name: torch's vector instruction
    set and native bf16 (``AMD EPYC (AVX512, avx512_bf16)``); virtual machines of two processor
    generations can report the same name."""
    import torch

    from ..inference import cpu_bf16_features
    features = [torch.backends.cpu.get_cpu_capability(), *cpu_bf16_features()]
    return f"{processor()} ({', '.join(features)})"


def environment(device: str = "cpu", bf16: bool = False) -> Dict[str, Any]:
    """Where a row was measured: processor, torch version, CPU threads, dtype and device."""
    import torch
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {"processor": machine(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "dtype": "bf16-autocast" if bf16 else "fp32",
            "device": device}


def input_summary(inputs) -> Dict[str, Dict[str, Any]]:
    """JSON-ready ``{stream: {modality, frames, size, channels}}`` of ``{stream: InputSpec}``."""
    return {name: {"modality": s.modality, "frames": s.frames, "size": s.size,
                   "channels": s.channels} for name, s in inputs.items()}


def preset_info(preset: str) -> Dict[str, Any]:
    """What the registry says about `preset`: source, paper, year, url, summary and the input
    of each stream as configured by default (read from its config, nothing is built)."""
    from ..builder import resolve_config
    from ..registry import current
    from ..specs import InputSpec

    component = current().get("preset", preset)
    streams = resolve_config(preset)["streams"]
    meta = component.meta
    return {"source": component.source, "paper": meta.paper, "year": meta.year, "url": meta.url,
            "summary": meta.summary,
            "default_input": input_summary({n: InputSpec(**s["input"]) for n, s in streams.items()})}


REASON_CHARS = 400  # a failed row's reason at most; its middle goes, not the fix at its end


def reason(stage: str, exc: BaseException) -> str:
    """A failed row's one-line reason: the stage, the error's type and its message, whose
    middle is cut where it is long (zoo's errors end with the fix)."""
    text = f"{stage}: {type(exc).__name__}: {' '.join(str(exc).split())}"
    if len(text) <= REASON_CHARS:
        return text
    half = (REASON_CHARS - 3) // 2
    return f"{text[:half]} … {text[-half:]}"


def per_class_subset(dataset: Any, per_class: int) -> List[int]:
    """Indices of the first `per_class` clips of each class of `dataset` (all: 0)."""
    from ..data.protocol import first_label

    if per_class <= 0:
        return list(range(len(dataset)))
    seen: Dict[int, int] = {}
    picked = []
    for i in range(len(dataset)):
        c = first_label(dataset, i)
        if seen.get(c, 0) < per_class:
            seen[c] = seen.get(c, 0) + 1
            picked.append(i)
    return picked


class Subset:
    """The clips `indices` of a BenchDataset, itself a BenchDataset."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)
        for name in ("classes", "multi_label", "class_groups", "group_descriptions",
                     "reversed_class", "health"):
            setattr(self, name, getattr(dataset, name, None))
        if hasattr(dataset, "with_time_order"):  # only what the dataset itself can replay
            self.with_time_order = lambda order: Subset(dataset.with_time_order(order),
                                                        self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[self.indices[index]]

    def prepare(self, time_orders: Sequence[str] = ("forward",)) -> None:
        """The wrapped dataset's `prepare`: for these clips where it takes `indices`."""
        prepare = getattr(self.dataset, "prepare", None)
        if prepare is not None and "indices" in inspect.signature(prepare).parameters:
            prepare(time_orders, indices=self.indices)
        elif prepare is not None:
            prepare(time_orders)

    def label(self, index: int):
        return self.dataset.label(self.indices[index])


def open_splits(dataset: str, root: Optional[Path], inputs, profile: Profile):
    """(training set, test set, name of the test split) of `dataset` read with `inputs`: the
    built-in dataset generates the profile's clip counts; a real one is read from `root`, its
    "test" split held out, else "val" where "test" is missing, empty or unlabelled (an official
    test file), both capped at the profile's clips per class."""
    from ..registry import current

    factory = current().get("dataset", dataset)
    if root is None:
        return (factory(split="train", inputs=inputs, seed=profile.seed,
                        clips_per_class=profile.train_clips_per_class),
                factory(split="test", inputs=inputs, seed=profile.seed,
                        clips_per_class=profile.test_clips_per_class), "test")
    train = factory(root=root, split="train", inputs=inputs)
    test, split = held_out_split(factory, root, inputs)
    return (Subset(train, per_class_subset(train, profile.train_clips_per_class)),
            Subset(test, per_class_subset(test, profile.test_clips_per_class)), split)


HELD_OUT = ("test", "val")  # the splits a real dataset is scored on, the first usable one


def held_out_split(factory, root: Path, inputs) -> Tuple[Any, str]:
    """(dataset, split name) of the first of `HELD_OUT` that `factory` reads from `root` with
    labelled clips; a ZooError naming the root and what each split lacks when none has."""
    from ..data.protocol import unlabelled
    from ..errors import ZooError

    problems = []
    for split in HELD_OUT:
        try:
            dataset = factory(root=root, split=split, inputs=inputs)
        except (ZooError, ValueError, OSError) as exc:
            problems.append(f"{split}: {' '.join(str(exc).split())}")
            continue
        if not len(dataset):
            problems.append(f"{split}: 0 clips")
        elif unlabelled(dataset):
            problems.append(f"{split}: {len(dataset)} clips without labels (an official test "
                            f"file)")
        else:
            return dataset, split
    raise ZooError(f"{root}: no labelled held-out split to score on ({'; '.join(problems)}); "
                   f"add a labelled {' or '.join(HELD_OUT)} split")


def build_scaled(job: Job, num_classes: int, profile: Profile):
    """`job`'s model at the profile's input, with each of the profile's scale overrides (width,
    batch norm) that some component takes and the preset's own build overrides: (model, the
    overrides applied). A preset whose components read the scale ones otherwise (a plugin's
    `width` that counts channels, say) is built without them."""
    import zoo
    from ..builder import resolve_config
    from ..config import Lookup, component_parameters
    from ..errors import IncompatibleError

    source = job.config or job.name
    sizes = dict(num_classes=num_classes, frames=profile.frames, size=profile.size_for(job.name))
    lookup = Lookup()
    taken = component_parameters(resolve_config(source, lookup=lookup, **sizes), lookup)
    scale = {k: v for k, v in profile.model_overrides().items() if k in taken}
    own = profile.own_overrides().get(job.name, {}) if job.config is None else {}
    if scale:
        applied = {**scale, **own}  # a preset's own width replaces the profile's
        try:
            return zoo.build(source, **sizes, **applied), applied
        except IncompatibleError:
            raise
        except Exception:  # a `width` that is no channel multiplier (a plugin's channel count)
            pass
    return zoo.build(source, **sizes, **own), own


def describe_scale(scale: Dict[str, Any], inputs: str, lr: Optional[float] = None,
                   seconds: Optional[float] = None, own_seconds: Optional[float] = None) -> str:
    """``width 1/8, batch norm added, rgb 8x32²``: how a row's model was scaled (and its own
    build overrides, learning rate and time limit, when it has them; `own_seconds`: the
    preset's limit, when the run's deadline shortened it to `seconds`)."""
    parts = [f"width {format_width(scale.get('width', 1.0))}"]
    if scale.get("batch_norm"):
        parts.append("batch norm added")
    parts += [f"{key}={value}" for key, value in scale.items() if key not in ("width", "batch_norm")]
    if lr is not None:
        parts.append(f"lr {lr:g}")
    if seconds is not None and own_seconds and seconds < own_seconds:
        parts.append(f"{seconds:g} s limit (its {own_seconds:g} s shortened for the deadline)")
    elif seconds is not None:
        parts.append(f"{seconds:g} s limit")
    return ", ".join(parts + [inputs])


def evaluate_orders(model, test_set, profile: Profile, device: str) -> Dict[str, Dict[str, Any]]:
    """Scores of the model and of each stream scored alone, on the test split played forward,
    with the arrow of time (its motion clips played backwards), the score with shuffled
    frames and, where the input is RGB frames, how much permuting them changes the logits:
    ``{"model" | stream: {field: value}}`` of BenchRow fields."""
    from torch.utils.data import DataLoader

    from ..data import collate, loader_settings
    from ..data.protocol import first_label, reversed_class
    from .measure import (arrow_of_time, collect, metric_value, order_change, score,
                          shuffle_frames)

    loader = functools.partial(DataLoader, batch_size=EVAL_BATCH, collate_fn=collate,
                               **loader_settings(test_set, EVAL_BATCH, profile.workers or None,
                                                 device).kwargs())
    run = functools.partial(collect, model, bf16=profile.bf16, device=device)

    def shuffled_frames(inputs, seen: int):
        batch = len(next(iter(inputs.values())))
        return shuffle_frames(inputs, [profile.seed * 1_000_003 + seen + i for i in range(batch)])

    groups = getattr(test_set, "class_groups", None)
    scores, labels = run(loader(test_set))
    out = {name: {**score(logits, labels, groups), "test_clips": len(labels)}
           for name, logits in scores.items()}
    pairs = reversed_class(test_set)
    if pairs:
        motion = [i for i in range(len(test_set)) if first_label(test_set, i) in pairs]
        backward, _ = run(loader(Subset(test_set.with_time_order("reversed"), motion)))
        for name, logits in backward.items():
            out[name].update(arrow_of_time(scores[name][motion], logits, pairs),
                             arrow_clips=len(motion))
    if hasattr(test_set, "with_time_order"):
        shuffled, _ = run(loader(test_set.with_time_order("shuffled")))
    else:
        shuffled, _ = run(loader(test_set), transform=shuffled_frames)
    for name, logits in shuffled.items():
        value = metric_value(logits, labels)
        out[name].update(shuffled=round(value, 4),
                         temporal_reliance=round(metric_value(scores[name], labels) - value, 4))
    # blind to frame order by design: the same frames in another order give the same logits
    first = Subset(test_set, range(min(EVAL_BATCH, len(test_set))))
    permuted, _ = run(loader(first), transform=shuffled_frames)
    modality = {name: spec.modality for name, spec in model.spec.inputs.items()}
    for name, logits in permuted.items():
        if set(modality.values() if name == "model" else [modality[name]]) == {"rgb"}:
            out[name].update(order_change=order_change(scores[name][:len(logits)], logits),
                             order_clips=len(logits))
    return out


def _rounded(fields: Dict[str, Any]) -> Dict[str, Any]:
    def r(v):
        if isinstance(v, float):
            return round(v, 4)
        if isinstance(v, tuple):
            return tuple(round(x, 4) for x in v)
        if isinstance(v, dict):
            return {k: r(x) for k, x in v.items()}
        return v
    return {k: r(v) for k, v in fields.items()}


def find_twins(todo, profile: Profile) -> Dict[str, str]:
    """``{label: preset}`` of each job of `todo` (``(label, run_preset arguments)``, in the
    order they run) whose network an earlier job of `todo` on the same dataset trains: built
    here, before any job starts, so that it is not trained twice and the schedule knows it. A
    job that fails to build is no twin (its own run reports why)."""
    from ..registry import current

    splits: Dict[Tuple[str, Optional[Path]], Any] = {}
    claimed: Dict[str, str] = {}
    twins: Dict[str, str] = {}
    for label, (preset, _, _, dataset, root) in todo:
        job = preset if isinstance(preset, Job) else Job(preset)
        try:
            if (dataset, root) not in splits:
                factory = current().get("dataset", dataset)
                splits[dataset, root] = factory() if root is None else factory(root=root,
                                                                               split="train")
            data = splits[dataset, root]
            model, _ = build_scaled(job, len(data.classes), profile)
        except Exception:  # noqa: BLE001 - reported by the job's own run
            continue
        key = network_fingerprint(model, data, profile.lr_for(job.name),
                                  profile.seconds_for(job.name))
        first = claimed.setdefault(f"{dataset}:{key}", job.name)
        if first != job.name:
            twins[label] = first
    return twins


def twin_row(preset: Union[str, Job], profile: Profile, dataset: str, first: str) -> BenchRow:
    """The row of a job whose network `first` trains: its own name and metadata (`fill_twins`
    completes it with `first`'s measurements)."""
    job = preset if isinstance(preset, Job) else Job(preset)
    row = BenchRow(job.name, dataset, profile.key, kind=job.kind, status="twin", same_as=first,
                   settings=dataclasses.asdict(profile))
    describe_job(row, job)
    return row


def describe_job(row: BenchRow, job: Job) -> None:
    """`row`'s source, paper, year, link and summary (a preset's, from the registry), or its
    config (a combination's)."""
    if job.config is None:
        info = preset_info(job.name)
        row.source, row.paper, row.year = info["source"], info["paper"], info["year"]
        row.url, row.summary = info["url"] or "", info["summary"]
    else:
        row.source, row.config = "combination", job.config


def network_fingerprint(model: Any, dataset: Any, lr: float, seconds: float) -> str:
    """What makes two jobs the same experiment: the model's layers, what `dataset` reads of its
    input specs (its ``clip_fields``, else every field), the learning rate and the time limit;
    not the preset's name. X3D-XS, -S and -M, say, differ only in input size and frame stride, so
    on the built-in dataset (which samples frames uniformly) they are one network once the
    benchmark sets the size."""
    import hashlib

    fields = getattr(dataset, "clip_fields", None)
    inputs = {name: {f: v for f, v in dataclasses.asdict(spec).items()
                     if fields is None or f in fields}
              for name, spec in model.spec.inputs.items()}
    layers = repr(model).replace(model.extra_repr(), "")
    return hashlib.sha1(f"{layers}\n{inputs}\n{lr}\n{seconds}".encode()).hexdigest()


def run_preset(preset: Union[str, Job], profile: Profile, progress: bool = True,
               dataset: str = DATASET, root: Optional[Path] = None,
               seconds: Optional[float] = None) -> Optional[List[BenchRow]]:
    """Train and score one preset (or combination `Job`) on `dataset` (read from `root` unless
    built in): its row (status "ok" or "failed") and one row per stream that scores alone;
    None for a combination that zoo.build rejects as incompatible. `seconds`, when shorter than
    the profile's time limit for it, replaces that limit (see `zoo.bench.schedule`)."""
    import torch
    from torch.utils.data import DataLoader

    from ..data import collate, loader_settings
    from ..data.protocol import group_descriptions, prepare, shared_clips
    from ..engine.train import seed_everything
    from ..errors import IncompatibleError
    from ..inference import channels_last_model
    from ..registry import current
    from ..tensors import count_parameters
    from .measure import (PeakMemory, gflops, latency, recompute_bn_stats,
                          throughput, train_for_budget)

    job = preset if isinstance(preset, Job) else Job(preset)
    device = profile.device
    row = BenchRow(job.name, dataset, profile.key, kind=job.kind, budget=profile.describe(),
                   settings=dataclasses.asdict(profile), env=environment(device, profile.bf16))
    stage = "metadata"
    memory = PeakMemory(device)
    streams: Dict[str, Dict[str, Any]] = {}
    try:
        describe_job(row, job)
        stage = "classes"
        factory = current().get("dataset", dataset)
        classes = (factory() if root is None else factory(root=root, split="train")).classes
        stage = "build"
        seed_everything(profile.seed)
        memory.__enter__()
        try:
            model, scale = build_scaled(job, len(classes), profile)
        except IncompatibleError:
            if job.config is not None:
                return None  # not a valid combination: nothing to record
            raise
        row.input = input_summary(model.spec.inputs)
        row.width, row.lr = scale.get("width", 1.0), profile.lr_for(job.name)
        budget = profile.budget(job.name)
        own_seconds = budget.seconds
        if seconds is not None and 0 < seconds < budget.seconds:
            budget = dataclasses.replace(budget, seconds=round(seconds, 1))
        row.time_limit = budget.seconds or None
        row.scale = describe_scale(scale, format_input(row.input),
                                   row.lr if row.lr != profile.lr else None,
                                   budget.seconds if profile.seconds != budget.seconds
                                   or own_seconds != budget.seconds else None, own_seconds)
        row.num_classes = len(classes)
        model.to(device)
        if profile.channels_last:
            channels_last_model(model)
        stage = "data"
        train_set, test_set, row.eval_split = open_splits(dataset, root, model.spec.inputs,
                                                          profile)
        row.train_overlap = shared_clips(train_set, test_set)
        stage = "GFLOPs"
        row.params, row.gflops = count_parameters(model), round(gflops(model), 6)
        stage = "data"
        row.group_docs = group_descriptions(test_set)
        if not getattr(test_set, "multi_label", False):
            row.chance = round(1 / len(classes), 4)
        prepare(train_set)  # generated or decoded before the clock starts
        prepare(test_set, EVAL_ORDERS)
        settings = loader_settings(train_set, profile.batch_size, profile.workers or None, device)
        train_loader = DataLoader(train_set, batch_size=profile.batch_size, shuffle=True,
                                  collate_fn=collate, **settings.kwargs(),
                                  generator=torch.Generator().manual_seed(profile.seed))
        stage = "train"
        start = time.perf_counter()
        stats: Dict[str, float] = {}
        row.steps, loss = train_for_budget(
            model, train_loader, budget, row.lr, profile.weight_decay,
            bf16=profile.bf16, stream_weight=profile.stream_loss,
            channels_last=profile.channels_last, progress=progress, device=device, stats=stats)
        row.stopped, row.fit_step = stats["stopped"], stats["fit_step"]
        row.final_loss, row.train_s = round(loss, 4), round(time.perf_counter() - start, 1)
        row.train_clips_per_s = round(stats["clips"] / max(stats["seconds"], 1e-9), 1)
        row.data_wait_frac = round(stats["data_wait_s"] / max(stats["seconds"], 1e-9), 4)
        stage = "precise BN"
        recompute_bn_stats(model, train_loader, profile.precise_bn_batches, device=device)
        stage = "evaluate"
        streams = {k: _rounded(v) for k, v in
                   evaluate_orders(model, test_set, profile, device).items()}
        _update(row, streams.pop("model"))
        stage = "throughput"
        batch = next(b for b in DataLoader(test_set, batch_size=profile.batch_size,
                                           collate_fn=collate) if b is not None)
        if profile.optimize:  # the inference figures of the fastest path that agrees with
            # fp32, its clips/s as optimize measured it on the batch in this run
            from ..inference import optimize
            model = optimize(model, batch["inputs"], compile=False, agreement_inputs=batch["inputs"],
                             seconds=profile.throughput_seconds, cache=False, verbose=False)
            row.env["inference"] = model.choice.path.label
            row.clips_per_s = round(model.choice.clips_per_s, 1)
        else:
            row.clips_per_s = round(throughput(model, batch["inputs"], bf16=profile.bf16,
                                               min_seconds=profile.throughput_seconds,
                                               device=device), 1)
        single = {k: v[:1] for k, v in batch["inputs"].items()}
        timing = latency(model, single, runs=profile.latency_runs, bf16=profile.bf16,
                         device=device)
        row.clips_per_s_b1 = round(timing["clips_per_s_b1"], 1)
        row.latency_p50_ms = round(timing["latency_p50_ms"], 2)
        row.latency_p95_ms = round(timing["latency_p95_ms"], 2)
        memory.__exit__(None, None, None)
        row.peak_mem_mb = round(memory.mb, 1)
        from ..data.protocol import health
        row.skipped_loads = sum(h.skipped for h in map(health, (train_set, test_set)) if h)
        del model
    except Exception as exc:  # one model failing never stops the run
        row.reason = reason(stage, exc)
        return [row]
    row.status = "ok"
    return [row] + [stream_row(row, name, fields) for name, fields in streams.items()]


def _update(row: BenchRow, fields: Dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(row, key, value)


def stream_row(parent: BenchRow, stream: str, fields: Dict[str, Any]) -> BenchRow:
    """The row of `parent`'s stream `stream` scored alone (its own temporal head)."""
    row = BenchRow(f"{parent.preset}:{stream}", parent.dataset, parent.profile, kind="stream",
                   status="ok", of=parent.preset, source=parent.source, budget=parent.budget,
                   settings=parent.settings, env=parent.env, eval_split=parent.eval_split,
                   num_classes=parent.num_classes, chance=parent.chance,
                   train_overlap=parent.train_overlap,
                   group_docs=parent.group_docs, width=parent.width,
                   input={stream: parent.input[stream]}, steps=parent.steps)
    _update(row, fields)
    return row


def summary_line(row: BenchRow) -> str:
    """One line per finished job, from the leaderboard's columns."""
    from .rows import columns_for
    where = "" if row.dataset == DATASET else f" on {row.dataset}"
    if not row.ok:
        return f"{row.preset}{where}: FAILED ({row.reason})"
    cells = [f"{c.label} {c.cell(row)}" for c in columns_for([row])
             if c.markdown and c.key != "note" and c.cell(row)]
    return f"{row.preset}{where}: " + ", ".join(cells)


MEASURED_ELSEWHERE = ("preset", "source", "paper", "year", "url", "summary", "config", "same_as",
                      "status")


def fill_twins(rows: Sequence[BenchRow], store_rows: Sequence[BenchRow]) -> List[BenchRow]:
    """Each "twin" row of `rows` completed with the measurements of the preset it is the same
    network as (found in `store_rows`), its stream rows included; its own name and paper kept."""
    out = []
    by_key = {(r.preset, r.dataset, r.profile): r for r in store_rows}
    for twin in rows:
        first = by_key.get((twin.same_as, twin.dataset, twin.profile))
        if twin.status != "twin" or first is None:
            out.append(twin)
            continue
        own = {name: getattr(twin, name) for name in MEASURED_ELSEWHERE}
        out.append(dataclasses.replace(first, **{**own, "status": first.status}))
        for stream in (r for r in store_rows if r.of == first.preset and r.dataset == twin.dataset
                       and r.profile == twin.profile):
            name = twin.preset + stream.preset[len(first.preset):]
            out.append(dataclasses.replace(stream, preset=name, of=twin.preset))
    return out


def _set_threads(threads: int) -> None:
    if threads:
        import torch
        torch.set_num_threads(threads)


def share_builtin_clips(profile: Profile, sizes: Sequence[int] = ()) -> None:
    """Generate the built-in dataset's clips at the profile's size (RGB and flow, each time
    order the measurements play) and the RGB clips at each of `sizes` (the presets' own) once,
    into this process (shared out among `profile.jobs` processes): the worker processes forked
    after it share them instead of each generating its own."""
    from ..specs import InputSpec

    inputs = {"rgb": InputSpec(size=profile.size), "flow": InputSpec(modality="flow",
                                                                      size=profile.size)}
    inputs.update({f"rgb {size}": InputSpec(size=size) for size in sizes if size != profile.size})
    train, test, _ = open_splits(DATASET, None, inputs, profile)
    train.prepare(("forward",), processes=profile.jobs)  # each clip of a split rendered once
    test.prepare(EVAL_ORDERS, processes=profile.jobs)


def pace(row: BenchRow) -> Optional[float]:
    """The steps a second `row`'s network trained at (None: it did not train)."""
    if row.status != "ok" or row.kind == "stream" or row.same_as or not row.train_s:
        return None
    return row.steps / row.train_s or None


UNPACED = ("time_scale", "deadline")  # settings that change no step's speed


def reference_paces(rows: Sequence[BenchRow], settings: Dict[str, Any]
                    ) -> Tuple[Dict[str, float], str]:
    """The steps a second of the stored rows of the built-in dataset trained as `settings` say,
    time limits aside (preset -> steps a second), and the processor most of them ran on."""
    same = {k: v for k, v in settings.items() if k not in UNPACED}
    paces, machines = {}, []
    for row in rows:
        steps_a_second = pace(row) if row.dataset == DATASET else None
        if steps_a_second and {k: v for k, v in row.settings.items() if k not in UNPACED} == same:
            paces[row.preset] = steps_a_second
            machines.append(row.env.get("processor", ""))
    return paces, max(set(machines), key=machines.count) if machines else ""


def job_name(preset: Union[str, Job]) -> str:
    return preset.name if isinstance(preset, Job) else preset


def _run_all(todo, profile: Profile, started: float):
    """(label, rows) of every ``(label, run_preset arguments)`` of `todo` as each finishes:
    `profile.jobs` at a time in worker processes, or one after the other, each job handed its
    time limit as it starts (`Deadline`, counted from `started`, a `time.perf_counter`
    reading). A worker that dies fails its job, not the run."""
    lanes = max(1, min(profile.jobs, len(todo)))
    deadline = Deadline(profile.run_deadline, lanes,
                        {label: profile.seconds_for(job_name(args[0])) for label, args in todo},
                        origin=started)
    if lanes == 1:
        _set_threads(profile.threads)
        for label, args in todo:
            rows = run_preset(*args, seconds=deadline.start(label))
            deadline.finish(label, rows[0].train_s if rows else None)
            yield label, rows
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    builtin = [job_name(args[0]) for _, args in todo if args[3] == DATASET]
    if method == "fork" and builtin:
        share_builtin_clips(profile, sorted({profile.size_for(name) for name in builtin}))
    context = multiprocessing.get_context(method)
    waiting = list(todo)
    with ProcessPoolExecutor(lanes, mp_context=context, initializer=_set_threads,
                             initargs=(profile.threads,)) as pool:
        running: Dict[Any, Tuple[str, Any]] = {}
        while waiting or running:
            while waiting and len(running) < lanes:
                label, args = waiting.pop(0)
                running[pool.submit(run_preset, *args, seconds=deadline.start(label))] = (
                    label, args)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                label, (preset, _, _, dataset, _) = running.pop(future)
                try:
                    rows = future.result()
                except Exception as exc:  # the worker process died (out of memory, a crash)
                    rows = [BenchRow(job_name(preset), dataset, profile.key,
                                     reason=reason("worker", exc),
                                     settings=dataclasses.asdict(profile))]
                deadline.finish(label, rows[0].train_s if rows else None)
                yield label, rows


def run_benchmark(presets: Sequence[Union[str, Job]], profile: Profile, results_dir: Path,
                  cards: Optional[Path] = DEFAULT_CARDS, force: bool = False,
                  retry_failed: bool = False, progress: bool = True,
                  roots: Optional[Dict[str, Path]] = None, cost: bool = True,
                  force_cost: bool = False) -> List[BenchRow]:
    """Run every preset (or Job) not yet stored for this profile on the built-in dataset and on
    each dataset of `roots` (name -> root folder), measure the paper-scale cost of each preset
    not yet measured on this machine (`cost`), then write each dataset's leaderboard (and the
    model cards unless `cards` is None); returns the profile's rows."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    from . import cards as cards_lib
    from .cost import COST_STORE, CostRow, measure_costs
    from .leaderboard import leaderboard_stem, write_leaderboard
    from .store import ResultStore

    store = ResultStore(results_dir / STORE_NAME)
    datasets: List[Tuple[str, Optional[Path]]] = [(DATASET, None), *sorted((roots or {}).items())]
    settings = dataclasses.asdict(profile)
    reference, reference_machine = reference_paces(store.rows(), settings)
    todo = []
    for dataset, root in datasets:
        for preset in presets:
            name = job_name(preset)
            label = name if dataset == DATASET else f"{name} on {dataset}"
            stored = store.get(name, dataset, profile.key)
            if stored and stored.settings != settings:
                tqdm.write(f"{label}: stored under other {profile.name} settings, running it "
                           f"again")
            elif stored and not force and not (retry_failed and not stored.ok):
                tqdm.write(f"{label}: stored, skipped (--force runs it again)")
                continue
            todo.append((label, (preset, profile, progress and profile.jobs == 1, dataset, root)))
    # the longest time limits start first, so that none of them ends the run alone
    todo.sort(key=lambda item: -profile.seconds_for(job_name(item[1][0])))
    same = find_twins(todo, profile)
    twins = [twin_row(args[0], profile, args[3], same[label]) for label, args in todo
             if label in same]
    todo = [item for item in todo if item[0] not in same]
    bar = tqdm(total=len(todo), desc="bench", unit="job", disable=not progress)
    limits = []  # (limit given, own limit) of each job that trained
    paces: Dict[str, float] = {}  # steps a second of each job that trained on the built-in data
    for label, rows in _run_all(todo, profile, started):
        bar.update()
        if rows is None:
            tqdm.write(f"{label}: incompatible, skipped")
            continue
        store.replace_job(rows)
        if rows[0].time_limit is not None:
            limits.append((rows[0].time_limit, profile.seconds_for(rows[0].preset)))
        steps_a_second = pace(rows[0]) if rows[0].dataset == DATASET else None
        if steps_a_second:
            paces[rows[0].preset] = steps_a_second
            if len(paces) == PACE_JOBS:  # told early too, while the run can still be stopped
                early = end_note([], profile.time_scale, slowdowns(reference, paces),
                                 reference_machine)
                if early:
                    tqdm.write(f"zoo: note (after {PACE_JOBS} jobs): {early}", file=sys.stderr)
        for row in rows:
            tqdm.write(summary_line(row))
    bar.close()
    if twins:
        filled = fill_twins(twins, store.rows())
        for twin in (r for r in filled if r.kind != "stream"):
            store.replace_job([twin] + [r for r in filled if r.of == twin.preset])
            tqdm.write(summary_line(twin))
    cost_store = ResultStore(results_dir / COST_STORE, CostRow)
    if cost:
        names = [p for p in presets if not isinstance(p, Job) or p.config is None]
        measure_costs([p.name if isinstance(p, Job) else p for p in names], cost_store,
                      force=force_cost, progress=progress)
    rows = [r for r in store.rows() if r.profile == profile.key]
    for dataset, _ in datasets:
        table = write_leaderboard([r for r in rows if r.dataset == dataset], results_dir,
                                  leaderboard_stem(dataset), costs=cost_store.rows())
        print(table)
    print(f"wrote the leaderboards under {results_dir} (md, csv, html, png)")
    for dataset, root in datasets:
        leaked = next((r for r in rows if r.dataset == dataset and r.train_overlap), None)
        if leaked:
            print(f"zoo: warning: {dataset} ({root}): {overlap_note(leaked)}; add train/ and "
                  f"test/ (or val/) subfolders to hold clips out", file=sys.stderr)
    note = end_note(limits, profile.time_scale, slowdowns(reference, paces),
                    reference_machine)
    if note:
        print(f"zoo: note: {note}", file=sys.stderr)
    if cards is not None:
        cards_lib.write_cards(store, cost_store, cards, profile.key)
        print(f"wrote {cards}")
    return rows
