"""The engine's command-line subcommands: ``zoo train``, ``zoo eval``, ``zoo predict``,
``zoo export`` (`add_commands` adds them to the ``zoo`` parser).

A run config (``--config run.yaml``) names the model, the dataset and the training settings;
flags override it::

    model: cnn_lstm                 # preset name, model YAML path or model config mapping
    overrides: {frames: 8, size: 112}   # optional zoo.build overrides (as `--set KEY=VALUE`)
    num_classes: 10                 # optional; default: the dataset's number of classes
    dataset: {name: ucf101, root: /data/ucf101, train_split: train, val_split: val}
    train: {epochs: 30, batch_size: 32, lr: 0.01, bf16: true, out_dir: runs/cnn_lstm}

A multi-label dataset (``dataset.multi_label``) builds the model with ``multi_label=True``, so
the checkpoint's config scores with sigmoids (``zoo predict``). ``zoo eval``, ``zoo predict``
and ``zoo export`` rebuild the model from the checkpoint's own config unless ``--model`` names
one.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import ConfigError
from .config import TrainConfig, read_yaml

RUNTIMES = ("torch", "onnxruntime", "openvino")  # what `zoo predict --runtime` runs the model in


# -- shared helpers -----------------------------------------------------------------------
def _build_model(source: Any, num_classes: Optional[int] = None,
                 overrides: Optional[Dict[str, Any]] = None):
    import zoo

    return zoo.build(source, num_classes=num_classes, **(overrides or {}))


def parse_overrides(items: Optional[List[str]],
                    base: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """``--set KEY=VALUE`` flags (values read as YAML: ``frames=4``, ``pretrained=true``) on
    top of `base` (a run config's ``overrides:`` mapping)."""
    import yaml

    if base is not None and not isinstance(base, dict):
        raise ConfigError(f"'overrides' in the run config must be a mapping, not {base!r}")
    overrides = dict(base or {})
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set frames=16")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"--set {item!r}: the value is not plain YAML ({problem}); give a "
                              f"number, a string, a list or a mapping") from None
    return overrides


def _load_model(model: Any, checkpoint: Optional[str], num_classes: Optional[int] = None,
                overrides: Optional[Dict[str, Any]] = None, fallback: Any = None):
    """The model to evaluate, predict with or export, with the checkpoint's weights and class
    names (``model.classes``) when a checkpoint is given.

    Built from `model` (``--model``: preset, YAML, config) when given, else from the config the
    checkpoint holds, else from `fallback` (the run config's ``model:``); `overrides` apply in
    every case. A model named with ``--model`` takes the checkpoint's ``num_classes`` and
    ``multi_label``."""
    from .checkpoint import load_model_weights, load_weights

    state = load_weights(checkpoint) if checkpoint else {}
    saved = state.get("config")
    source = model or saved or fallback
    if source is None:
        raise ConfigError("name the model with --model PRESET (or give a --checkpoint that "
                          "holds its config)")
    overrides = dict(overrides or {})
    if saved and source is not saved:
        if num_classes is None:
            num_classes = saved.get("num_classes")
        if saved.get("multi_label"):
            overrides.setdefault("multi_label", True)
    net = _build_model(source, num_classes, overrides)
    if checkpoint:
        load_model_weights(net, checkpoint)
    if state.get("classes"):
        net.classes = list(state["classes"])
    return net


def _dataset_settings(run: Dict[str, Any], args: argparse.Namespace) -> Dict[str, Any]:
    """``{name, root, train_split, val_split, options}`` from the run config and flags."""
    dataset = run.get("dataset") or {}
    settings = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
    if args.dataset:
        settings["name"] = args.dataset
    if args.data_root:
        settings["root"] = args.data_root
    if not settings.get("name"):
        raise ConfigError("name the dataset with --dataset NAME (see `zoo list datasets`)")
    known = ("name", "root", "train_split", "val_split")
    settings["options"] = {k: v for k, v in settings.items() if k not in known}
    return settings


def _where(settings: Dict[str, Any], split: str) -> str:
    root = f" at {settings['root']}" if settings.get("root") else ""
    return f"dataset {settings['name']!r} split {split!r}{root}"


def _make_dataset(settings: Dict[str, Any], split: str, model):
    """The dataset's `split` for `model`'s inputs, checked to hold labels and a readable clip."""
    from ..data.protocol import unlabelled
    from ..registry import current

    factory = current().get("dataset", settings["name"])
    dataset = factory(root=settings.get("root"), split=split, inputs=model.spec.inputs,
                      **settings["options"])
    where = _where(settings, split)
    if unlabelled(dataset):
        raise ConfigError(f"{where}: its annotation file gives no labels (every clip is "
                          f"labelled -1, as in an official test file), so it cannot be trained "
                          f"or scored on; use a labelled split (e.g. --split val), and "
                          f"`zoo predict` for unlabelled videos")
    check_readable(dataset, where)
    return dataset


def align_classes(dataset, classes, where: str, source: str):
    """`dataset` with its labels mapped by class name onto `classes` (the model's: the training
    split's or the checkpoint's) where its own class list differs; ConfigError naming its
    classes that `classes` lacks (when clips carry them) instead of scoring mismatched indices.
    """
    own = [str(c) for c in getattr(dataset, "classes", None) or []]
    classes = [str(c) for c in classes or []]
    if not own or not classes or own == classes:
        return dataset
    index = {name: i for i, name in enumerate(classes)}
    used = _used_labels(dataset)
    missing = [c for i, c in enumerate(own) if c not in index and (used is None or i in used)]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ConfigError(f"{where}: its class(es) {missing[:5]}{more} are not among the "
                          f"{len(classes)} classes of {source}; give both the same class list "
                          f"(e.g. the dataset's classes= option)")
    return Relabelled(dataset, [index.get(c, -1) for c in own], classes)


def _used_labels(dataset) -> Optional[set]:
    """The class indices `dataset`'s clips carry (None: it cannot say without decoding)."""
    if not hasattr(dataset, "label"):
        return None
    used: set = set()
    for i in range(len(dataset)):
        label = dataset.label(i)
        used.update(label if isinstance(label, (list, tuple)) else [label])
    return {int(c) for c in used}


class Relabelled:
    """`dataset` with each label mapped through `mapping` (its class index -> one of
    `classes`); every other attribute is the wrapped dataset's."""

    def __init__(self, dataset, mapping: List[int], classes: List[str]):
        self.dataset, self.mapping, self.classes = dataset, list(mapping), list(classes)

    def __getattr__(self, name: str):
        if name == "dataset":  # not yet set (unpickling in a worker process)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def _map(self, label):
        import torch

        if isinstance(label, torch.Tensor) and label.is_floating_point():  # multi-hot
            out = torch.zeros(len(self.classes), dtype=label.dtype)
            out[torch.tensor(self.mapping)[label.nonzero().flatten()]] = 1
            return out
        if isinstance(label, (list, tuple)):
            return type(label)(self.mapping[int(c)] for c in label)
        value = int(label)
        mapped = value if value < 0 else self.mapping[value]
        return torch.tensor(mapped) if isinstance(label, torch.Tensor) else mapped

    def label(self, index: int):
        return self._map(self.dataset.label(index))

    def __getitem__(self, index: int):
        sample = self.dataset[index]
        return None if sample is None else {**sample, "label": self._map(sample["label"])}


def warn_shared_clips(train_set, val_set, where: str) -> None:
    """A warning on stderr when `val_set` holds clips of `train_set` (a flat folder gives every
    split the same videos): its scores are then training accuracy."""
    from ..data.protocol import shared_clips

    shared = shared_clips(train_set, val_set)
    if shared:
        print(f"zoo train: warning: {where}: {shared} of its {len(val_set)} clips are training "
              f"clips too, so its scores are training accuracy, not held-out accuracy; give the "
              f"dataset separate train/ and val/ (or test/) splits", file=sys.stderr)


def check_readable(dataset, where: str) -> None:
    """Fail up front, in one line naming `where`, when `dataset` has no clip or no readable one
    (it reads clips in order until one loads, so a healthy dataset costs one read)."""
    found = len(dataset)
    if not found:
        raise ConfigError(f"{where}: 0 clips found; check its annotation file, split and "
                          f"video folder")
    if all(dataset[i] is None for i in range(found)):
        raise ConfigError(f"{where}: {found} clips found, 0 readable (every one was skipped; "
                          f"the warnings above say why)")


def _collate():
    from .train import collate

    return collate


def _run_config(path: Optional[str]) -> Dict[str, Any]:
    return read_yaml(path) if path else {}


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


# -- train --------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from . import distributed as dist_utils
    from .train import fit, seed_everything

    run = _run_config(args.config)
    config = TrainConfig.from_dict(run.get("train") or {}).updated(args)
    data = _dataset_settings(run, args)
    model_source = args.model or run.get("model")
    if model_source is None:
        raise ConfigError("name the model with --model PRESET or `model:` in --config")
    num_classes = args.num_classes or run.get("num_classes")
    overrides = parse_overrides(args.set, run.get("overrides"))

    with dist_utils.process_group(config.device) as device:
        seed_everything(config.seed)
        model = _build_model(model_source, num_classes, overrides)
        train_split, val_split = data.get("train_split", "train"), data.get("val_split", "val")
        train_set = _make_dataset(data, train_split, model)
        val_set = _make_dataset(data, val_split, model)
        classes = getattr(train_set, "classes", None)
        if dist_utils.is_main_process():
            warn_shared_clips(train_set, val_set, _where(data, val_split))
        val_set = align_classes(val_set, classes, _where(data, val_split),
                                f"the training split {train_split!r}")
        if num_classes is None and classes:
            num_classes = len(classes)
        # the dataset decides single- or multi-label: its labels pick the loss, and the saved
        # config's multi_label picks softmax or sigmoid scores at prediction time
        multi_label = bool(getattr(train_set, "multi_label", False))
        if (num_classes is not None and num_classes != model.spec.num_classes
                or multi_label != model.spec.multi_label):
            seed_everything(config.seed)
            model = _build_model(model_source, num_classes,
                                 {**overrides, "multi_label": multi_label})
        collate = _collate()
        loaders = [dist_utils.make_loader(dataset, config.batch_size, train=train,
                                          seed=config.seed, num_workers=config.num_workers,
                                          collate_fn=collate, device=device)
                   for dataset, train in ((train_set, True), (val_set, False))]
        history = fit(model, loaders[0], loaders[1], config)
        if dist_utils.is_main_process() and history:
            _print_json(history[-1])
    return 0


# -- eval ---------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from . import distributed as dist_utils
    from ..data import DataHealth
    from .train import collect_scores, report_health, score_metrics

    run = _run_config(args.config)
    data = _dataset_settings(run, args)
    with dist_utils.process_group(args.device) as device:
        model = _load_model(args.model, args.checkpoint, args.num_classes or run.get("num_classes"),
                            parse_overrides(args.set, run.get("overrides")),
                            fallback=run.get("model")).to(device)
        split = args.split or data.get("val_split", "val")
        dataset = _make_dataset(data, split, model)
        dataset = align_classes(dataset, getattr(model, "classes", None), _where(data, split),
                                f"the checkpoint {args.checkpoint}")
        check_class_count(dataset, model.spec.num_classes, _where(data, split))
        loader = dist_utils.make_loader(dataset, args.batch_size, train=False,
                                        num_workers=args.num_workers, collate_fn=_collate())
        if args.optimize:
            from ..inference import example_for, optimize

            model = optimize(model, example_for(model, args.batch_size), calls=len(loader),
                             verbose=dist_utils.is_main_process())
        health = DataHealth()
        scores, labels = collect_scores(model, loader, bf16=args.bf16, progress=True,
                                        health=health)
        metrics = {**score_metrics(scores, labels), "skipped_clips": health.skipped}
        report_health("eval", health)
        if dist_utils.is_main_process():
            _print_json(metrics)
            if args.out:
                _write_reports(Path(args.out), metrics, scores, labels,
                               report_classes(model, dataset, scores.shape[1]))
    return 0


def check_class_count(dataset, num_classes: int, where: str) -> None:
    """ConfigError when `dataset` has more classes than the model scores (no names to map by)."""
    own = getattr(dataset, "classes", None)
    if own is not None and len(own) > num_classes:
        raise ConfigError(f"{where}: {len(own)} classes, but the model scores {num_classes}; "
                          f"evaluate a checkpoint trained on these classes")


def report_classes(model, dataset, num_classes: int) -> List[str]:
    """The names of the model's `num_classes` outputs: the checkpoint's, else the dataset's
    where it has as many, else the indices."""
    for classes in (getattr(model, "classes", None), getattr(dataset, "classes", None)):
        if classes and len(classes) == num_classes:
            return [str(c) for c in classes]
    return [str(i) for i in range(num_classes)]


def _write_reports(out: Path, metrics: Dict[str, float], scores, labels, classes) -> None:
    """metrics.json, and for single-label data per_class.txt and confusion.png."""
    from .metrics import confusion_matrix, format_report, per_class_report, plot_confusion_matrix

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if labels.is_floating_point():
        return
    (out / "per_class.txt").write_text(format_report(per_class_report(scores, labels, classes))
                                       + "\n")
    plot_confusion_matrix(confusion_matrix(scores, labels, len(classes)), out / "confusion.png",
                          classes)


# -- predict ------------------------------------------------------------------------------
LIST_SUFFIXES = (".txt", ".lst", ".list")


def video_paths(items: List[str]) -> List[str]:
    """The videos that ``zoo predict`` arguments name: files, folders (every video file in and
    below them, symlinked folders followed) and text files of paths (one a line, relative to
    the list's folder; blank lines and ``#`` comments skipped). A path that does not exist, a
    URL or an empty string fails."""
    from ..data.dataset import VIDEO_EXTENSIONS, video_files

    paths: List[str] = []
    for item in items:
        if not item.strip():
            raise ConfigError("an empty video path was given; name a video file, a folder of "
                              "videos or a .txt file listing video paths")
        if "://" in item:
            raise ConfigError(f"{item}: zoo predict reads local files, not URLs; download the "
                              f"video and pass its path")
        path = Path(item).expanduser()
        if path.is_dir():
            found = video_files(path)
            if not found:
                raise ConfigError(f"{item}: no video file ({' '.join(VIDEO_EXTENSIONS)}) in this "
                                  f"folder or below")
            paths += found
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            listed = [str(path.parent / line) for line in lines if line and not line.startswith("#")]
            if not listed:
                raise ConfigError(f"{item}: the list names no video (one path a line)")
            paths += listed
        elif path.exists():
            paths.append(item)
        else:
            raise ConfigError(f"{item}: no such file or folder")
    return paths


def _positive(flag: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1, got {value}")
    return value


class PredictionWriter:
    """Writes predictions as they come: an aligned table, CSV or JSON lines, one row per
    (video, rank) (table, CSV) or one line per video (JSON lines); an unreadable video is one
    row with its error."""

    def __init__(self, out, fmt: str, videos: List[str], labels: List[str]):
        import csv

        self.out, self.fmt = out, fmt
        self.widths = (max(len("video"), *map(len, videos)), max(len("label"), *map(len, labels)))
        self.csv = csv.writer(out) if fmt == "csv" else None
        if fmt == "table":
            self._table("video", "rank", "label", "probability")
        elif self.csv is not None:
            self.csv.writerow(["video", "rank", "label", "probability", "error"])

    def _table(self, video: str, rank: str, label: str, probability: str) -> None:
        video_width, label_width = self.widths
        self.out.write(f"{video:<{video_width}}  {rank:>4}  {label:<{label_width}}  "
                       f"{probability}".rstrip() + "\n")

    def write(self, result: Dict[str, Any]) -> None:
        video, error = result["video"], result.get("error")
        if self.fmt == "jsonl":
            row = ({"video": video, "error": error} if error else
                   {"video": video, "predictions": [{"label": label, "probability": p}
                                                    for label, p in result["top"]]})
            self.out.write(json.dumps(row) + "\n")
        elif error:
            if self.csv is not None:
                self.csv.writerow([video, "", "", "", error])
            else:
                self._table(video, "-", f"error: {error}", "")
        else:
            for rank, (label, p) in enumerate(result["top"], 1):
                if self.csv is not None:
                    self.csv.writerow([video, rank, label, f"{p:.6g}"])
                else:
                    self._table(video, str(rank), label, f"{p:.4f}")
        self.out.flush()


def cmd_predict(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from .predict import predict_videos

    topk, clips = _positive("--topk", args.topk), _positive("--clips", args.clips)
    videos = video_paths(args.videos)
    if not args.checkpoint:
        print("zoo predict: warning: no --checkpoint, so the model scores with untrained (random) "
              "weights and its top-k means nothing; pass --checkpoint runs/NAME/best.pt",
              file=sys.stderr)
    model = _load_model(args.model, args.checkpoint, overrides=parse_overrides(args.set))
    if args.runtime != "torch":
        model = _exported(model, args.runtime)
    workers = (args.num_workers if args.num_workers is not None
               else min(4, os.cpu_count() or 1) if len(videos) > 1 else 0)
    classes = getattr(model, "classes", None) or [str(i) for i in range(model.spec.num_classes)]
    if args.optimize and args.runtime == "torch":  # an exported model runs as its runtime picks
        model = _optimized_for_views(model, clips * args.crops, calls=len(videos))
    failed = 0
    with contextlib.ExitStack() as stack:
        out = (stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
               if args.output else sys.stdout)
        writer = PredictionWriter(out, args.format, videos, classes)
        progress = args.progress and sys.stderr.isatty()
        for result in predict_videos(model, videos, topk=topk, views=(clips, args.crops),
                                     num_workers=workers, progress=progress):
            writer.write(result)
            failed += "error" in result
    if failed:
        print(f"zoo predict: {failed} of {len(videos)} videos could not be read (see their rows)",
              file=sys.stderr)
    return 1 if failed else 0


def _optimized_for_views(model, views: int, calls: int):
    """`zoo.optimize` of `model` for predictions of `views` views a video, timed on the input
    that multi-view prediction passes (zoo.data.average_view_scores: a tensor for one stream)."""
    from ..inference import example_for, optimize

    example = example_for(model, views)
    return optimize(model, example if len(example) > 1 else next(iter(example.values())),
                    calls=calls)


def _exported(model, runtime: str):
    """`model` run by `runtime` from its ONNX export, cached per model and weights (exported
    on first use)."""
    from ..tensors import example_inputs
    from .runtimes import ExportedModel, cached_onnx, require

    require(runtime)  # fail before exporting
    path = cached_onnx(model, example_inputs(model.spec.inputs, 2),
                       log=lambda line: print(f"zoo predict: {line}", file=sys.stderr))
    exported = ExportedModel(path, runtime, spec=model.spec, classes=getattr(model, "classes", None))
    if exported.precision not in ("as exported", "f32"):
        print(f"zoo predict: {runtime} runs the model in {exported.precision}, the precision it "
              f"picks on this processor", file=sys.stderr)
    return exported


# -- export -------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from ..tensors import example_inputs
    from . import export, runtimes

    model = _load_model(args.model, args.checkpoint, overrides=parse_overrides(args.set))
    if args.format == "state_dict":
        print(f"wrote {export.export_state_dict(model, args.out, peer=args.for_peer)}")
        return 0
    if args.for_peer:
        raise ConfigError(f"--for {args.for_peer} goes with --format state_dict, not --format "
                       f"{args.format}")
    if args.int8 and args.format not in ("onnx", "openvino"):
        raise ConfigError(f"--int8 goes with --format onnx or openvino, not --format {args.format}")
    inputs = example_inputs(model.spec.inputs, args.batch)
    if args.optimize and args.format in ("torchscript", "program"):  # ONNX runtimes pick their own
        from ..inference import channels_last_inputs, channels_last_model, optimize

        if optimize(model, inputs, compile=False).choice.path.channels_last:
            channels_last_model(model)
            inputs = channels_last_inputs(inputs)
    onnx_options = {"dynamo": {"auto": None, "torchscript": False, "dynamo": True}[args.exporter]}
    if args.int8:
        from .quantize import export_int8

        path, measured = export_int8(model, args.out, args.format)
        print(f"wrote {path} (int8: {measured} against fp32, built-in test clips)")
    elif args.format == "openvino":
        path = runtimes.export_openvino(model, args.out, inputs, **onnx_options)
        print(f"wrote {path}")
    else:
        writers = {"onnx": export.export_onnx, "torchscript": export.export_torchscript,
                   "program": export.export_program}
        path = writers[args.format](model, args.out, inputs,
                                    **(onnx_options if args.format == "onnx" else {}))
        print(f"wrote {path}")
    if args.check and args.format in CHECK_RUNTIME:
        runtime, name = CHECK_RUNTIME[args.format]
        diff = export.onnx_max_abs_diff(model, path, example_inputs(model.spec.inputs, args.batch + 1),
                                        runtime=runtime)
        print(f"{name} vs PyTorch: max abs difference {diff:.3g}")
    return 0


# what --check runs each format with: (runtime, its name)
CHECK_RUNTIME = {"onnx": ("onnxruntime", "ONNX Runtime"), "openvino": ("openvino", "OpenVINO")}


# -- parser -------------------------------------------------------------------------------
def _set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="zoo.build override, repeatable: --set frames=8 --set size=112")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="preset name or model YAML (default: the checkpoint's)")
    parser.add_argument("--checkpoint", help="a .pt checkpoint or .safetensors weights file")
    _set_argument(parser)


def _optimize_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--no-optimize", dest="optimize", action="store_false",
                        help=f"{what} (default: zoo.optimize measures the paths this machine "
                             f"offers and keeps the fastest that agrees with eager fp32)")


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="run YAML with model, dataset and train sections")
    parser.add_argument("--dataset", help="dataset name (see `zoo list datasets`)")
    parser.add_argument("--data-root", help="the dataset's folder")
    parser.add_argument("--num-classes", type=int, help="default: the dataset's class count")


def add_commands(subparsers) -> None:
    """Add ``train``, ``eval``, ``predict`` and ``export`` to an argparse subparsers object."""
    p = subparsers.add_parser("train", help="train a model on a dataset (torchrun for several "
                                            "processes)")
    _data_arguments(p)
    p.add_argument("--model", help="preset name or model YAML")
    _set_argument(p)
    TrainConfig.add_arguments(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("eval", help="evaluate a checkpoint: metrics, per-class report, "
                                           "confusion matrix")
    _data_arguments(p)
    _model_arguments(p)
    p.add_argument("--split", help="dataset split (default: the config's val_split, or val)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (the 3D convolutions that bf16 CPU kernels get wrong "
                        "stay fp32)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="folder for metrics.json, per_class.txt, confusion.png")
    _optimize_argument(p, "run eager fp32")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("predict", help="top-k classes of videos: files, folders, lists")
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="a video file, a folder of videos, or a .txt file of paths (one a line)")
    _model_arguments(p)
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--clips", type=int, default=1, help="temporal views averaged")
    p.add_argument("--crops", type=int, default=1, choices=(1, 3), help="spatial views averaged")
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table",
                   help="table (default), CSV or JSON lines; one row per video and rank")
    p.add_argument("--output", metavar="FILE", help="write there instead of to stdout")
    p.add_argument("--num-workers", type=int,
                   help="decoding processes (default: up to 4 for several videos)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    _optimize_argument(p, "run eager fp32")
    p.add_argument("--runtime", choices=RUNTIMES, default="torch",
                   help="run the model in PyTorch (default), or its ONNX export (cached in "
                        "$ZOO_CACHE/exported) under ONNX Runtime or OpenVINO")
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("export", help="export a model to ONNX, OpenVINO, TorchScript, "
                                             "torch.export or a state dict (zoo's keys or a peer "
                                             "library's)")
    _model_arguments(p)
    p.add_argument("--format", choices=("onnx", "openvino", "torchscript", "program", "state_dict"),
                   default="onnx", help="openvino: an OpenVINO IR, --out NAME.xml (and NAME.bin)")
    p.add_argument("--for", dest="for_peer", choices=("torchvision", "pytorchvideo"),
                   help="with --format state_dict: the keys of the preset's equivalent model in "
                        "that library, loadable with its load_state_dict")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--batch", type=int, default=2, help="batch size of the example inputs")
    p.add_argument("--check", action="store_true",
                   help="compare ONNX Runtime (onnx) or OpenVINO (openvino) with PyTorch")
    p.add_argument("--int8", action="store_true",
                   help="onnx / openvino: static int8, calibrated on the built-in dataset; refused "
                        "unless it agrees with fp32 on >= 99%% of the built-in test clips")
    p.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), default="auto",
                   help="ONNX exporter; auto: the fast TorchScript-based one, else dynamo")
    _optimize_argument(p, "torchscript and program formats: keep the model's memory layout")
    p.set_defaults(func=cmd_export)
