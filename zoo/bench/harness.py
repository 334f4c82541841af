"""The benchmark harness: every registered preset trained on the built-in dataset for the same
fixed budget, then scored on its held-out split.

``python -m zoo.bench`` (or ``zoo bench``) runs it; each finished preset becomes a row of the
results store, a failing preset a row marked failed with its reason, and a killed run resumes
where it stopped. At the end it writes the leaderboard (Markdown, CSV, a sortable HTML page and an
accuracy-vs-throughput Pareto plot) and MODEL_CARDS.md.

Every job runs on the built-in dataset and on each registered real dataset whose root folder is
configured, by ``--data NAME=FOLDER`` or a ``ZOO_DATA_<NAME>`` environment variable (for
example ``ZOO_DATA_UCF101=/data/ucf101``). Each dataset gets its own
leaderboard (``leaderboard.md`` for the built-in one, ``leaderboard_<name>.md`` for the others),
ranked by top-1, or by mAP for a multi-label dataset.

Besides the presets, ``--max-combos N`` adds up to N backbone x temporal head (x fusion, for two
streams) combinations of the registered components (``--combos`` filters them); combinations that
zoo.build rejects as incompatible are skipped and leave no row. ``--shard i/n`` runs every n-th
job only, so that several machines share a run; ``python -m zoo.bench.leaderboard --merge``
merges their stores.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import functools
import hashlib
import json
import os
import platform
import warnings
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

DATASET = "moving_shapes"
DEFAULT_RESULTS = Path("benchmarks") / "results"
STORE_NAME = "leaderboard.jsonl"
DEFAULT_CARDS = Path("MODEL_CARDS.md")


@dataclass(frozen=True)
class Profile:
    """The budget every preset gets: input, optimisation steps, data and optimiser settings."""

    name: str
    frames: int = 4
    size: int = 32
    seconds: float = 18.0  # training time per preset; 0 trains for `steps` steps whatever they take
    steps: int = 2000
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 0.05
    train_clips_per_class: int = 64
    test_clips_per_class: int = 8
    bf16: bool = False
    seed: int = 0
    device: str = "cpu"
    latency_runs: int = 5  # batch-1 calls timed for the latency percentiles
    throughput_seconds: float = 1.0  # least time of the inference loop timed at the batch size
    # temporal reliance is measured on the first N test clips of each class (0: the whole split)
    # so that the extra pass stays cheap for the heavy presets
    shuffle_clips_per_class: int = 2
    # training batches over which batch-norm statistics are recomputed before testing (0: keep
    # the running averages)
    precise_bn_batches: int = 8
    workers: int = 0  # DataLoader worker processes (the built-in dataset needs none)

    @property
    def key(self) -> str:
        """The profile's name, plus every setting that differs from the named profile's."""
        base = PROFILES[self.name]
        changed = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                   if getattr(self, f.name) != getattr(base, f.name)]
        return f"{self.name}[{','.join(changed)}]" if changed else self.name

    def describe(self) -> str:
        precision = "bf16 autocast" if self.bf16 else "fp32"
        if self.device != "cpu":
            precision += f" on {self.device}"
        budget = f"{self.steps} AdamW steps"
        if self.seconds:
            budget = f"{self.seconds:g} s of training (at most {self.steps} AdamW steps)"
        bn = (f", batch-norm statistics recomputed over {self.precise_bn_batches} batches"
              if self.precise_bn_batches else "")
        return (f"{self.frames} frames of {self.size}x{self.size}, {budget} of batch "
                f"{self.batch_size} (lr {self.lr:g}, cosine){bn}, {precision}; "
                f"{self.train_clips_per_class} training and {self.test_clips_per_class} test "
                f"clips per class")


# cpu-small bounds the run's time (about 10 minutes for 20 presets on 2 quiet cores), so its
# figures depend on the machine's speed and load; cpu-steps gives every preset the same number
# of steps instead, reproducible anywhere but slower for the heavy presets.
PROFILES = {"cpu-small": Profile("cpu-small"),
            "cpu-steps": Profile("cpu-steps", seconds=0, steps=60),
            # the built-in dataset's claim: a minute of training per preset (about 25 minutes)
            "cpu-minute": Profile("cpu-minute", seconds=60),
            # for a GPU machine (not run on the CPU): the usual 16x112 input, a fixed step budget
            "gpu-full": Profile("gpu-full", frames=16, size=112, seconds=0, steps=1000,
                                batch_size=16, train_clips_per_class=128,
                                test_clips_per_class=32, bf16=True, device="cuda",
                                lr=1e-3, latency_runs=20, throughput_seconds=2.0,
                                shuffle_clips_per_class=0)}
DEFAULT_PROFILE = "cpu-small"


def select_presets(names: Sequence[str], include: str = "*", exclude: str = "") -> List[str]:
    """`names` matching any comma-separated shell pattern of `include` and none of `exclude`."""
    def matches(name: str, patterns: str) -> bool:
        return any(fnmatch.fnmatch(name, p.strip()) for p in patterns.split(",") if p.strip())
    return [n for n in names if matches(n, include) and not matches(n, exclude)]


def processor() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def environment(profile: "Profile") -> Dict[str, Any]:
    """Where a row was measured: processor, torch version, CPU threads, dtype and device."""
    import torch
    device = profile.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {"processor": processor(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "dtype": "bf16-autocast" if profile.bf16 else "fp32",
            "device": device}


@dataclass(frozen=True)
class Job:
    """One row of the benchmark: a preset, or a combination given by its config."""

    name: str
    config: Optional[Dict[str, Any]] = None  # None: the preset `name`

    @property
    def kind(self) -> str:
        return "preset" if self.config is None else "combo"


COMBO_KEYS = ("backbone", "head", "fusion", "streams")


def parse_combo_filter(text: str) -> Dict[str, List[str]]:
    """``'backbone=resnet18,c3d;head=*;streams=1'`` -> ``{key: [shell patterns]}``; a key left
    out matches everything."""
    out: Dict[str, List[str]] = {k: ["*"] for k in COMBO_KEYS}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = {"temporal_head": "head"}.get(key.strip(), key.strip())
        if not sep or key not in COMBO_KEYS:
            raise ValueError(f"bad --combos part {part!r}: use key=pattern,... with key one of "
                             f"{', '.join(COMBO_KEYS)}")
        out[key] = [v.strip() for v in values.split(",") if v.strip()] or ["*"]
    return out


def _pick(names: Sequence[str], patterns: Sequence[str]) -> List[str]:
    """Names matching a pattern; an exact name (no wildcard) is kept even when it is not listed
    (a family member such as a timm network)."""
    picked = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    exact = [p for p in patterns if not any(c in p for c in "*?[") and p not in picked]
    return picked + exact


def combination_jobs(text: str = "", limit: Optional[int] = None) -> List[Job]:
    """The backbone x temporal head (one RGB stream) and backbone x temporal head x fusion (RGB +
    flow streams, both with that backbone and head) combinations matching the filter `text`, in
    a fixed order, at most `limit` of them. Compatibility is decided when the job is built."""
    from ..registry import REGISTRY

    wanted = parse_combo_filter(text)
    backbones = _pick(REGISTRY.names("backbone", families=False), wanted["backbone"])
    heads = _pick(REGISTRY.names("temporal_head", families=False), wanted["head"])
    fusions = _pick(REGISTRY.names("fusion", families=False), wanted["fusion"])
    streams = [n for n in ("1", "2") if any(fnmatch.fnmatch(n, p) for p in wanted["streams"])]
    jobs: List[Job] = []
    if "1" in streams:
        jobs += [Job(f"combo:{b}+{h}", {"backbone": b, "temporal_head": h})
                 for b in backbones for h in heads]
    if "2" in streams:
        for f in fusions:
            try:
                spec = REGISTRY.get("fusion", f).info.get("spec")
            except Exception:
                continue
            mid = getattr(spec, "level", "late") == "mid"
            for b in backbones:
                for h in heads:
                    own_head = {} if mid else {"temporal_head": h}
                    fusion = {"name": f, "temporal_head": {"name": h}} if mid else f
                    jobs.append(Job(f"combo:{b}+{h}+{f}", {
                        "streams": {"rgb": {"backbone": b, **own_head},
                                    "flow": {"input": {"modality": "flow"}, "backbone": b,
                                             **own_head}},
                        "fusion": fusion}))
    return jobs if limit is None else jobs[:limit]


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n); None -> (0, 1)."""
    if not text:
        return 0, 1
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard wants i/n, got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return index, count


def shard(jobs: Sequence[Job], index: int, count: int) -> List[Job]:
    """Every `count`-th job of the list sorted by name, starting at `index` (round robin keeps the
    shards' mix of light and heavy models alike); the shards partition the jobs."""
    return [j for i, j in enumerate(sorted(jobs, key=lambda j: j.name)) if i % count == index]


DATA_ENV_PREFIX = "ZOO_DATA_"


def dataset_roots(specs: Sequence[str] = (), environ: Optional[Dict[str, str]] = None
                  ) -> Dict[str, Path]:
    """The real datasets to benchmark and their root folders: ``ZOO_DATA_<NAME>=FOLDER``
    environment variables, then ``NAME=FOLDER`` entries of `specs` (which win)."""
    from ..errors import suggest
    from ..registry import REGISTRY

    names = REGISTRY.names("dataset")
    roots: Dict[str, Path] = {}
    for key, value in sorted((os.environ if environ is None else environ).items()):
        if not key.startswith(DATA_ENV_PREFIX) or not value:
            continue
        wanted = key[len(DATA_ENV_PREFIX):].lower()
        name = next((n for n in names if n.replace("-", "_").lower() == wanted), None)
        if name is None:
            warnings.warn(f"{key} names no registered dataset, ignored." + suggest(wanted, names),
                          stacklevel=2)
            continue
        roots[name] = Path(value).expanduser()
    for spec in specs:
        name, sep, root = spec.partition("=")
        if not sep or not root:
            raise ValueError(f"--data wants NAME=FOLDER, got {spec!r}")
        REGISTRY.get("dataset", name)  # an unknown name fails with close matches
        roots[name] = Path(root).expanduser()
    for name, root in roots.items():
        if not root.is_dir():
            raise ValueError(f"dataset {name!r}: root {root} is not a folder (set it with --data "
                             f"{name}=FOLDER or {DATA_ENV_PREFIX}{name.upper()})")
        if not REGISTRY.get("dataset", name).info.get("needs_root", True):
            raise ValueError(f"dataset {name!r} is built in and takes no root folder")
    return roots


def _first_label(dataset: Any, index: int) -> int:
    """The class of clip `index` (a multi-label clip's first class), read without decoding."""
    if hasattr(dataset, "indices") and hasattr(dataset, "dataset"):  # a Subset
        return _first_label(dataset.dataset, dataset.indices[index])
    if hasattr(dataset, "label"):
        return int(dataset.label(index))
    label = dataset.records[index].label
    return int(label[0]) if isinstance(label, (list, tuple)) and label else int(label or 0)


def _per_class_subset(dataset: Any, per_class: int) -> List[int]:
    """Indices of the first `per_class` clips of each class of `dataset` (all: 0)."""
    if per_class <= 0:
        return list(range(len(dataset)))
    seen: Dict[int, int] = {}
    picked = []
    for i in range(len(dataset)):
        c = _first_label(dataset, i)
        if seen.get(c, 0) < per_class:
            seen[c] = seen.get(c, 0) + 1
            picked.append(i)
    return picked


def open_splits(dataset: str, root: Optional[Path], inputs, profile: Profile):
    """(training set, test set, name of the test split) of `dataset` read with `inputs`: the
    built-in dataset generates the profile's clip counts; a real one is read from `root`, its
    "test" split (else "val") held out, both capped at the profile's clips per class."""
    import torch

    from ..errors import ZooError
    from ..registry import REGISTRY

    factory = REGISTRY.get("dataset", dataset)
    if root is None:
        return (factory(split="train", inputs=inputs,
                        clips_per_class=profile.train_clips_per_class),
                factory(split="test", inputs=inputs,
                        clips_per_class=profile.test_clips_per_class), "test")
    train = factory(root=root, split="train", inputs=inputs)
    try:
        test, split = factory(root=root, split="test", inputs=inputs), "test"
    except (ZooError, ValueError, OSError):
        test, split = factory(root=root, split="val", inputs=inputs), "val"

    def cap(data: Any, per_class: int) -> Any:
        subset = torch.utils.data.Subset(data, _per_class_subset(data, per_class))
        subset.classes = data.classes
        return subset
    return cap(train, profile.train_clips_per_class), cap(test, profile.test_clips_per_class), split


def _input_summary(inputs) -> Dict[str, Dict[str, Any]]:
    """JSON-ready ``{stream: {modality, frames, size, channels}}`` of ``{stream: InputSpec}``."""
    return {name: {"modality": s.modality, "frames": s.frames, "size": s.size,
                   "channels": s.channels} for name, s in inputs.items()}


def preset_info(preset: str) -> Dict[str, Any]:
    """What the registry says about `preset`: source, paper, year, url, summary and the input
    of each stream as configured by default (read from its config, nothing is built)."""
    from ..builder import resolve_config
    from ..registry import REGISTRY
    from ..specs import InputSpec

    component = REGISTRY.get("preset", preset)
    streams = resolve_config(preset)["streams"]
    meta = component.meta
    return {"source": component.source, "paper": meta.paper, "year": meta.year, "url": meta.url,
            "summary": meta.summary,
            "default_input": _input_summary({n: InputSpec(**s["input"]) for n, s in streams.items()})}


def _reason(stage: str, exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{stage}: {type(exc).__name__}: {message}"[:300]


def config_digest(preset: str) -> str:
    """A short digest of the config `preset` resolves to by default."""
    from ..builder import resolve_config
    text = json.dumps(resolve_config(preset), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


DEFAULT_COST_FIELDS = ("default_params", "default_gflops", "default_config")


def default_cost(preset: str, known: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    """Parameters and GFLOPs of `preset` as built by default (Kinetics-400 classes), taken from
    a row of `known` measured on the same default config when there is one (counting FLOPs at
    the full default input takes seconds)."""
    import zoo
    from .measure import gflops, parameters
    try:
        digest = config_digest(preset)
        same = [r for r in known if r.get("preset") == preset
                and r.get("default_config") == digest and "default_gflops" in r]
        if same:
            return {k: same[-1][k] for k in DEFAULT_COST_FIELDS}
        model = zoo.build(preset)
        return {"default_params": parameters(model), "default_gflops": round(gflops(model), 6),
                "default_config": digest}
    except Exception as exc:  # the benchmark row stands without the default-input cost
        return {"default_cost_error": _reason("default cost", exc)}


def run_preset(preset: Union[str, Job], profile: Profile, progress: bool = True,
               known: Sequence[Dict[str, Any]] = (), dataset: str = DATASET,
               root: Optional[Path] = None) -> Optional[Dict[str, Any]]:
    """Train and score one preset (or combination `Job`) on `dataset` (read from `root` unless
    built in); returns its result row (status "ok" or "failed"), or None for a combination that
    zoo.build rejects as incompatible. `known`: stored rows whose default-input cost may be
    reused."""
    import torch
    from torch.utils.data import DataLoader

    import zoo
    from ..data import collate
    from ..engine.train import seed_everything
    from ..errors import IncompatibleError
    from ..registry import REGISTRY
    from .measure import (PeakMemory, accuracy_by_group, gflops, latency, parameters,
                          recompute_bn_stats, temporal_reliance, throughput, train_for_budget)

    job = preset if isinstance(preset, Job) else Job(preset)
    device = profile.device
    row: Dict[str, Any] = {"preset": job.name, "kind": job.kind, "dataset": dataset,
                           "profile": profile.key, "budget": profile.describe(),
                           "settings": dataclasses.asdict(profile),
                           "status": "failed", "env": environment(profile)}
    stage = "metadata"
    memory = PeakMemory(device)
    try:
        if job.config is None:
            row.update(preset_info(job.name))
        else:
            row.update(source="combination", config=job.config)
        stage = "classes"
        factory = REGISTRY.get("dataset", dataset)
        classes = (factory() if root is None else factory(root=root, split="train")).classes
        stage = "build"
        seed_everything(profile.seed)
        memory.__enter__()
        try:
            model = zoo.build(job.config or job.name, num_classes=len(classes),
                              frames=profile.frames, size=profile.size)
        except IncompatibleError:
            if job.config is not None:
                return None  # not a valid combination: nothing to record
            raise
        row.update(input=_input_summary(model.spec.inputs), params=parameters(model),
                   gflops=round(gflops(model), 6), num_classes=len(classes))
        model.to(device)
        stage = "data"
        train_set, test_set, row["eval_split"] = open_splits(dataset, root, model.spec.inputs,
                                                             profile)
        if root is None:
            for split in (train_set, test_set):
                split[0]  # generates the split's cached tensors before the clock starts
        loader = functools.partial(DataLoader, batch_size=2 * profile.batch_size,
                                   collate_fn=collate, num_workers=profile.workers)
        train_loader = loader(train_set, batch_size=profile.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(profile.seed))
        test_loader = loader(test_set)
        stage = "train"
        start = time.perf_counter()
        stats: Dict[str, float] = {}
        steps, loss = train_for_budget(model, train_loader, profile.steps, profile.seconds,
                                       profile.lr, profile.weight_decay, bf16=profile.bf16,
                                       progress=progress, device=device, stats=stats)
        row.update(steps=steps, final_loss=round(loss, 4),
                   train_s=round(time.perf_counter() - start, 1),
                   train_clips_per_s=round(stats["clips"] / max(stats["seconds"], 1e-9), 1),
                   data_wait_frac=round(stats["data_wait_s"] / max(stats["seconds"], 1e-9), 4))
        stage = "precise BN"
        recompute_bn_stats(model, train_loader, profile.precise_bn_batches, device=device)
        stage = "evaluate"
        scores = accuracy_by_group(model, test_loader, getattr(test_set, "class_groups", None),
                                   bf16=profile.bf16)
        row.update({k: round(v, 4) for k, v in scores.items()})
        row["metric"] = metric = "top1" if "top1" in scores else "map"
        subset = _per_class_subset(test_set, profile.shuffle_clips_per_class)
        plain, shuffled = temporal_reliance(
            model, loader(torch.utils.data.Subset(test_set, subset)), seed=profile.seed,
            bf16=profile.bf16, device=device)
        row.update({f"shuffled_{metric}": round(shuffled, 4), "reliance_clips": len(subset),
                    "temporal_reliance": round(plain - shuffled, 4)})
        stage = "throughput"
        batch = next(b for b in loader(test_set, batch_size=profile.batch_size) if b is not None)
        row["clips_per_s"] = round(throughput(model, batch["inputs"], bf16=profile.bf16,
                                              min_seconds=profile.throughput_seconds,
                                              device=device), 1)
        single = {k: v[:1] for k, v in batch["inputs"].items()}
        row.update({k: round(v, 2 if k.startswith("latency") else 1) for k, v in
                    latency(model, single, runs=profile.latency_runs, bf16=profile.bf16,
                            device=device).items()})
        memory.__exit__(None, None, None)
        row["peak_mem_mb"] = round(memory.mb, 1)
        healths = [getattr(getattr(d, "dataset", d), "health", None) for d in (train_set, test_set)]
        skipped = sum(h.skipped for h in healths if h is not None)
        if skipped:
            row["skipped_loads"] = skipped  # unreadable clips left out (each attempt counted)
        del model
    except Exception as exc:  # one model failing never stops the run
        row["reason"] = _reason(stage, exc)
        return row
    row["status"] = "ok"
    if job.config is not None:
        return row
    row.update(default_cost(job.name, known))
    return row


def _summary_line(row: Dict[str, Any]) -> str:
    where = "" if row["dataset"] == DATASET else f" on {row['dataset']}"
    if row["status"] != "ok":
        return f"{row['preset']}{where}: FAILED ({row['reason']})"
    groups = ", ".join(f"{k[5:]} {row[k]:.3f}" for k in sorted(row)
                       if k.startswith("top1_"))
    score = (f"top-1 {row['top1']:.3f}, top-5 {row['top5']:.3f}" if "top1" in row
             else f"mAP {row['map']:.3f}")
    return (f"{row['preset']}{where}: {score}{f' ({groups})' if groups else ''}, temporal reliance "
            f"{row['temporal_reliance']:+.3f}, {row['clips_per_s']:.0f} clips/s (batch 1: "
            f"{row['clips_per_s_b1']:.0f}, p50 {row['latency_p50_ms']:.1f} ms, p95 "
            f"{row['latency_p95_ms']:.1f} ms), {row['params'] / 1e6:.2f}M params, "
            f"{row['gflops']:.3f} GFLOPs, {row['steps']} steps in {row['train_s']:.0f} s "
            f"({row['train_clips_per_s']:.0f} clips/s, {100 * row['data_wait_frac']:.0f}% "
            f"waiting for data), peak +{row['peak_mem_mb']:.0f} MiB")


def run_benchmark(presets: Sequence[Union[str, Job]], profile: Profile, results_dir: Path,
                  cards: Optional[Path] = DEFAULT_CARDS, force: bool = False,
                  retry_failed: bool = False, progress: bool = True,
                  roots: Optional[Dict[str, Path]] = None) -> List[Dict[str, Any]]:
    """Run every preset (or Job) not yet stored for this profile on the built-in dataset and on
    each dataset of `roots` (name -> root folder), then write each dataset's leaderboard (and
    the model cards unless `cards` is None); returns the profile's rows."""
    from tqdm.auto import tqdm

    from . import cards as cards_lib
    from .leaderboard import leaderboard_stem, write_leaderboard
    from .store import ResultStore

    store = ResultStore(results_dir / STORE_NAME)
    datasets: List[Tuple[str, Optional[Path]]] = [(DATASET, None), *sorted((roots or {}).items())]
    work = [(p, d, r) for d, r in datasets for p in presets]
    bar = tqdm(work, desc="bench", unit="job", disable=not progress)
    for preset, dataset, root in bar:
        name = preset.name if isinstance(preset, Job) else preset
        label = name if dataset == DATASET else f"{name} on {dataset}"
        stored = store.get(name, dataset, profile.key)
        current = stored is not None and stored.get("settings") == dataclasses.asdict(profile)
        if stored and not current:
            tqdm.write(f"{label}: stored under other {profile.name} settings, running it again")
        elif stored and not force and not (retry_failed and stored["status"] != "ok"):
            tqdm.write(f"{label}: stored, skipped (--force runs it again)")
            continue
        bar.set_postfix_str(label)
        row = run_preset(preset, profile, progress=progress, known=store.rows(), dataset=dataset,
                         root=root)
        if row is None:
            tqdm.write(f"{label}: incompatible, skipped")
            continue
        store.put(row)
        tqdm.write(_summary_line(row))
    rows = [r for r in store.rows() if r["profile"] == profile.key]
    for dataset, _ in datasets:
        table = write_leaderboard([r for r in rows if r["dataset"] == dataset], results_dir,
                                  leaderboard_stem(dataset))
        print(table)
    print(f"wrote the leaderboards under {results_dir} (md, csv, html, png)")
    if cards is not None:
        cards_lib.write_cards(store, cards, profile.key)
        print(f"wrote {cards}")
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zoo bench", description="Train every registered preset on the built-in "
        "moving_shapes dataset for the same budget and write the leaderboard and model cards.",
        epilog="Combinations: --max-combos N adds up to N backbone x temporal head jobs (one RGB "
        "stream, named combo:BACKBONE+HEAD) and backbone x head x fusion jobs (RGB + flow, "
        "combo:BACKBONE+HEAD+FUSION), filtered by --combos 'backbone=r3d_18,c3d;head=*;"
        "fusion=average;streams=1' (shell patterns, ';' between keys, ',' between patterns; a "
        "key left out matches all). Incompatible ones are skipped without a row. Use --presets '' "
        "for combinations only. Sharding: --shard 0/3, 1/3 and 2/3 on three machines split the "
        "jobs; merge with python -m zoo.bench.leaderboard --merge A.jsonl B.jsonl C.jsonl.")
    p.add_argument("--presets", default="*",
                   help="comma-separated preset names or shell patterns (default: all)")
    p.add_argument("--exclude", default="", help="comma-separated names or patterns to skip")
    p.add_argument("--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES),
                   help="the budget every preset gets (default: %(default)s)")
    p.add_argument("--combos", default="",
                   help="filter of the backbone x head (x fusion) combinations, e.g. "
                        "'backbone=r3d_18,c3d;head=*;fusion=average;streams=1,2' (see below)")
    p.add_argument("--max-combos", type=int, default=0,
                   help="run at most N combinations (default 0: presets only)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=FOLDER",
                   help="also benchmark the registered dataset NAME read from FOLDER (repeat for "
                        f"several; {DATA_ENV_PREFIX}<NAME>=FOLDER variables do the same)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only shard I of N (0 <= I < N): every N-th job, deterministically")
    types = {"float": float, "int": int, "str": str}
    for field in dataclasses.fields(Profile):
        if field.name in ("name", "bf16"):
            continue
        p.add_argument(f"--{field.name.replace('_', '-')}", type=types.get(str(field.type), int),
                       help=f"override the profile's {field.name.replace('_', ' ')}")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast on the CPU (default: the profile's setting)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="folder of the results store and leaderboard (default: %(default)s)")
    p.add_argument("--cards", type=Path, default=DEFAULT_CARDS,
                   help="model cards file to regenerate (default: %(default)s)")
    p.add_argument("--no-cards", action="store_true", help="do not regenerate the model cards")
    p.add_argument("--force", action="store_true", help="run presets already stored again")
    p.add_argument("--retry-failed", action="store_true", help="run stored failures again")
    p.add_argument("--list", action="store_true", help="list the presets that would run and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def profile_from_args(args: argparse.Namespace) -> Profile:
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(Profile)
               if f.name != "name" and getattr(args, f.name, None) is not None}
    return dataclasses.replace(PROFILES[args.profile], **changes)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    from ..errors import ZooError
    from ..registry import REGISTRY

    presets = select_presets(REGISTRY.names("preset"), args.presets, args.exclude)
    jobs: List[Job] = [Job(p) for p in presets]
    if args.max_combos > 0:
        try:
            jobs += combination_jobs(args.combos, args.max_combos)
        except ValueError as exc:
            print(exc)
            return 2
    try:
        jobs = shard(jobs, *parse_shard(args.shard))
        roots = dataset_roots(args.data)
    except (ValueError, ZooError) as exc:
        print(exc)
        return 2
    if args.list or not jobs:
        print("\n".join(j.name for j in jobs) if jobs else f"no preset matches {args.presets!r}")
        return 0 if jobs else 1
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    profile = profile_from_args(args)
    where = ", ".join([DATASET] + [f"{n} ({r})" for n, r in sorted(roots.items())])
    print(f"benchmarking {len(jobs)} jobs on {where}, profile {profile.key}: "
          f"{profile.describe()}")
    run_benchmark(jobs, profile, args.results, None if args.no_cards else args.cards,
                  force=args.force, retry_failed=args.retry_failed, progress=not args.quiet,
                  roots=roots)
    return 0
