"""Inference speed of zoo's models against the peers' and against the runtimes a user would
pick instead, measured side by side in one run.

    python benchmarks/bench_peers.py                 # all pairs, batch 1 and 8
    python benchmarks/bench_peers.py --pairs r3d_18 --batches 1 --no-compile --no-runtimes

For each pair it times, in the same process and on the same input: the peer's model in eager
fp32 (the reference; zoo's default model where no peer library has the preset), zoo's model
with default settings (eager fp32), zoo's fast path (inference mode + bf16 autocast +
channels_last_3d, then also torch.compile with inductor freezing) and, for R3D-18, X3D-XS and
the two-stream preset, zoo's ONNX export (`zoo export`) under ONNX Runtime and under OpenVINO
(CPU, the run's thread count), fp32, and for R3D-18 and X3D-XS statically quantised to int8
(`zoo.engine.quantize`; the timed model is calibrated on random clips, which sets scales, not
speed). It prints clips/s, each one's ratio to the reference, and its achieved GFLOP/s (2 x
fvcore GFLOPs of a clip x clips/s) as a share of this machine's peak: the best of
bench_peak.py's fp32 matmul and conv3d (bf16 for bf16 variants where the processor has it),
timed in the same rounds. The variants are timed in interleaved rounds (peer, zoo, fast, ...,
then again) and each figure is the median of its rounds, so that drift during the run does not
favour whichever ran first. For R3D-18 and X3D-XS it also trains the preset as `zoo bench`'s
cpu-small profile does (1/8 width, 8x32x32, on the built-in dataset) and compares every variant
with eager fp32 on that model and the built-in dataset's test clips (largest logit difference,
top-1 agreement); an int8 variant is offered only at >= 99% agreement.
Absolute times on shared machines move by 15-20% from run to run; the ratios, taken in one run,
are the figures to quote. Results go to benchmarks/results/peers.md.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

import zoo
from zoo.inference import FastPath, clips_per_second, interleaved_rates, optimize_for_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peak  # noqa: E402  (this folder's peak measurement)

RESULTS = Path(__file__).resolve().parent / "results" / "peers.md"
AGREEMENT_PROFILE = "cpu-small"  # how the model the variants are compared on is trained
WARMUP_CALLS = 1  # untimed calls before the rounds (compiled variants: COMPILE_WARMUP_CALLS)
COMPILE_WARMUP_CALLS = 2  # the first compiles
DEFAULT_LABEL = "zoo default (eager fp32)"
HARNESS = "harness"  # the benchmark harness's own timing of zoo's default model
PEAK = "peak "  # prefix of the peak kernels' timers (GFLOP/s, not clips/s)
INT8_CALIBRATION_CLIPS = 2  # random clips that set the timed int8 model's scales


@dataclass
class Pair:
    """zoo's preset, the peer's equivalent (None where no peer library has it: zoo's default
    model is then the reference), the input both read (None: the preset's own), and whether
    the runtimes (and int8 through them) are timed too."""

    preset: str
    peer_name: Optional[str]
    make_peer: Optional[Callable[[nn.Module], nn.Module]]  # receives zoo's model (to match sizes)
    frames: Optional[int]
    size: Optional[int]
    runtimes: bool = False
    int8: bool = False

    def build(self, **overrides: Any) -> nn.Module:
        sizes = {k: v for k, v in (("frames", self.frames), ("size", self.size)) if v is not None}
        return zoo.build(self.preset, **{"num_classes": 400, **sizes, **overrides})


def _torchvision(name: str):
    def make(_zoo_model: nn.Module) -> nn.Module:
        import torchvision

        return getattr(torchvision.models.video, name)(num_classes=400)
    return make


def _pytorchvideo_x3d_xs(_zoo_model: nn.Module) -> nn.Module:
    from pytorchvideo.models.x3d import create_x3d

    return create_x3d(input_clip_length=4, input_crop_size=160, depth_factor=2.2,
                      model_num_class=400)


class _SlowFastPeer(nn.Module):
    """pytorchvideo's SlowFast reading the fast clip, with the slow pathway subsampled by alpha."""

    def __init__(self, alpha: int = 4):
        super().__init__()
        from pytorchvideo.models.slowfast import create_slowfast

        self.net, self.alpha = create_slowfast(model_num_class=400), alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net([x[:, :, :: self.alpha], x])


class _TimmLstmPeer(nn.Module):
    """The plain loop a user would write: timm CNN per frame, pooled, into nn.LSTM, last step."""

    def __init__(self, backbone: str, hidden: int, layers: int, num_classes: int = 400):
        super().__init__()
        import timm

        self.cnn = timm.create_model(backbone, pretrained=False, num_classes=0)
        self.lstm = nn.LSTM(self.cnn.num_features, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        feats = self.cnn(x.transpose(1, 2).reshape(b * t, c, h, w)).reshape(b, t, -1)
        out, _ = self.lstm(feats)
        return self.fc(out[:, -1])


def _timm_lstm(zoo_model: nn.Module) -> nn.Module:
    """The peer loop with zoo's backbone and LSTM sizes."""
    backbone = zoo_model.config["streams"]["rgb"]["backbone"]["name"]
    lstm = next(m for m in zoo_model.modules() if isinstance(m, nn.LSTM))
    return _TimmLstmPeer(backbone, lstm.hidden_size, lstm.num_layers)


PAIRS = {
    "r3d_18": Pair("r3d_18", "torchvision r3d_18", _torchvision("r3d_18"), 16, 112, runtimes=True,
                   int8=True),
    "r2plus1d_18": Pair("r2plus1d_18", "torchvision r2plus1d_18", _torchvision("r2plus1d_18"), 16, 112),
    "x3d_xs": Pair("x3d_xs", "pytorchvideo x3d_xs", _pytorchvideo_x3d_xs, 4, 160, runtimes=True,
                   int8=True),
    "two_stream": Pair("two_stream", None, None, None, None, runtimes=True),
    "slowfast_r50": Pair("slowfast_r50", "pytorchvideo slowfast_r50", lambda m: _SlowFastPeer(), 32, 224),
    "cnn_lstm": Pair("cnn_lstm_r18", "timm + nn.LSTM loop", _timm_lstm, 16, 112),
}


def _eager(model: nn.Module) -> Callable[[Any], torch.Tensor]:
    model.eval()

    def run(x: Any) -> torch.Tensor:
        with torch.no_grad():
            return model(x)
    return run


def model_inputs(model: nn.Module, batch: int) -> Any:
    """A random batch as the peer reads it too: one tensor for a single stream, else
    ``{stream: tensor}``."""
    from zoo.tensors import example_inputs

    named = example_inputs(model.spec.inputs, batch)
    return next(iter(named.values())) if len(named) == 1 else named


def runtime_label(exported, int8: bool = False) -> str:
    """``onnxruntime fp32``, ``openvino f32`` (or the precision OpenVINO picked), ``... int8``."""
    precision = "int8" if int8 else "fp32" if exported.precision in ("as exported", "f32") \
        else exported.precision
    return f"{exported.runtime} {precision}"


def random_calibration(model: nn.Module, fp32: Path, path: Path) -> Path:
    """`fp32` quantised to int8 with scales from random clips: what the timed model gets (the
    graph, and so the speed, does not depend on the scales)."""
    from zoo.engine.quantize import quantize_onnx
    from zoo.engine.runtimes import ExportedModel

    names = ExportedModel(fp32, "onnxruntime")
    clips = (names.feeds(model_inputs(model, 1)) for _ in range(INT8_CALIBRATION_CLIPS))
    return quantize_onnx(fp32, path, clips)


def runtime_models(model: nn.Module, folder: Path, int8: bool,
                   calibration: Callable[[nn.Module, Path, Path], Path] = random_calibration
                   ) -> Dict[str, nn.Module]:
    """`model` exported to ONNX (batch dynamic, inputs named after the streams) under ONNX
    Runtime and OpenVINO, and, when `int8`, its static int8 quantisation by
    `calibration(model, fp32, path)` under both."""
    from zoo.engine.export import export_onnx
    from zoo.engine.runtimes import ExportedModel
    from zoo.tensors import example_inputs

    fp32 = export_onnx(model, folder / "fp32.onnx", example_inputs(model.spec.inputs, 1))
    files = {False: fp32}
    if int8:
        files[True] = calibration(model, fp32, folder / "int8.onnx")
    models = {}
    for quantised, path in files.items():
        for runtime in ("onnxruntime", "openvino"):
            exported = ExportedModel(path, runtime)
            models[runtime_label(exported, quantised)] = exported
    return models


@dataclass(frozen=True)
class Checked:
    """A variant's agreement with eager fp32, and whether it is offered (int8: >= 99%)."""

    agreement: Any  # zoo.engine.quantize.Agreement
    offered: bool


def trained_small(preset: str) -> Tuple[nn.Module, int, float]:
    """`preset` as ``zoo bench``'s cpu-small profile trains it on the built-in dataset (its scale,
    budget and learning rate, without the profile's time limit, precise batch norm): (model in
    eval mode, steps done, its top-1 on the test clips). The variants are compared with fp32 on
    this model: an untrained model's arg-max is too fragile to measure agreement on."""
    import dataclasses

    from torch.utils.data import DataLoader

    from zoo.bench.jobs import Job
    from zoo.bench.measure import collect, recompute_bn_stats, train_for_budget
    from zoo.bench.profiles import PROFILES
    from zoo.bench.run import build_scaled
    from zoo.data import collate
    from zoo.inference import channels_last_model
    from zoo.registry import REGISTRY

    profile = PROFILES[AGREEMENT_PROFILE]
    dataset = REGISTRY.get("dataset", "moving_shapes")
    torch.manual_seed(profile.seed)
    model, _ = build_scaled(Job(preset), len(dataset(split="test").classes), profile)
    if profile.channels_last:
        channels_last_model(model)
    train = DataLoader(dataset(split="train", inputs=model.spec.inputs, seed=profile.seed,
                               clips_per_class=profile.train_clips_per_class),
                       batch_size=profile.batch_size, shuffle=True, collate_fn=collate,
                       generator=torch.Generator().manual_seed(profile.seed))
    budget = dataclasses.replace(profile.budget(), seconds=0)  # the same model at any load
    steps, _ = train_for_budget(model, train, budget, profile.lr_for(preset), profile.weight_decay,
                                channels_last=profile.channels_last, progress=False)
    recompute_bn_stats(model, train, profile.precise_bn_batches)
    test = DataLoader(dataset(split="test", inputs=model.spec.inputs), batch_size=profile.batch_size,
                      collate_fn=collate)
    scores, labels = collect(model, test)
    return model, steps, float((scores["model"].argmax(1) == labels).float().mean())


def agreements(pair: Pair, path: FastPath, runtimes: bool) -> Tuple[str, Dict[str, Checked]]:
    """(how the model was trained, every variant of `pair`'s preset against eager fp32 on the
    built-in dataset's test clips: largest logit difference, top-1 agreement), on the model
    `trained_small` trains: the fast path, and with `runtimes` the ONNX Runtime / OpenVINO
    exports (int8 ones calibrated on built-in train clips)."""
    from zoo.engine.quantize import agreement, builtin_batches, calibrate_int8, offered

    model, steps, top1 = trained_small(pair.preset)
    test = builtin_batches(model, "test")
    candidates: Dict[str, Callable] = {"zoo fast: " + path.label:
                                       optimize_for_inference(copy.deepcopy(model), path)}
    with tempfile.TemporaryDirectory() as tmp:
        if runtimes:
            candidates.update(runtime_models(model, Path(tmp), pair.int8, calibration=calibrate_int8))
        checked = {}
        for label, run in candidates.items():
            measured = agreement(model, run, test)
            checked[label] = Checked(measured, offered(measured) or "int8" not in label)
    return f"{steps} steps, fp32 top-1 {top1:.3f}", checked


def run_pair(pair: Pair, batches: List[int], compile_: bool, min_seconds: float, rounds: int = 3,
             bf16: bool = True, overhead: Optional[Dict[Tuple[str, int], float]] = None,
             runtimes: bool = True, checked: Optional[Dict[str, Checked]] = None) -> List[Dict]:
    """Time the reference and zoo's variants at each batch size, in `rounds` interleaved rounds
    of at least `min_seconds` each, with this machine's peak kernels timed in the same rounds;
    `overhead`, when given, receives the ratio of the benchmark harness's throughput figure to
    the bare loop's for zoo's default model per (preset, batch). `checked` (from `agreements`)
    adds each variant's agreement with fp32 to its row."""
    from zoo.bench.measure import gflops, throughput
    from zoo.tensors import count_parameters

    zoo_model = pair.build()
    clip_gflops = gflops(zoo_model)
    variants: List[Tuple[str, Callable[[], Callable]]] = [(DEFAULT_LABEL, lambda: _eager(zoo_model))]
    if pair.make_peer is not None:
        peer = pair.make_peer(zoo_model)
        print(f"  parameters: zoo {count_parameters(zoo_model):,} vs peer {count_parameters(peer):,}")
        variants.insert(0, (f"{pair.peer_name} (eager fp32)", lambda: _eager(peer)))
    variants.append(("zoo fast: " + FastPath(bf16=bf16).label,
                     lambda: optimize_for_inference(copy.deepcopy(zoo_model), FastPath(bf16=bf16))))
    compiled_label = None
    if compile_:
        full = FastPath(bf16=bf16, compile=True)
        compiled_label = "zoo fast: " + full.label
        variants.append((compiled_label, lambda: optimize_for_inference(copy.deepcopy(zoo_model), full)))
    peer_label = variants[0][0] if pair.make_peer is not None else None
    peak_kernels = [k for dtype in bench_peak.peak_dtypes() if dtype == "fp32" or bf16
                    for k in bench_peak.kernels(dtype)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if runtimes and pair.runtimes:
            exported = runtime_models(zoo_model, Path(tmp), pair.int8)
            variants += [(label, lambda m=model: m) for label, model in exported.items()]
        for batch in batches:
            x = model_inputs(zoo_model, batch)
            runners = {label: make() for label, make in variants}
            for label, run in runners.items():
                for _ in range(COMPILE_WARMUP_CALLS if label == compiled_label else WARMUP_CALLS):
                    run(x)
            timers = {label: partial(clips_per_second, run, x, min_seconds)
                      for label, run in runners.items()}
            timers.update({PEAK + k.dtype + k.label: partial(bench_peak.rate, k.run, k.flops,
                                                              min_seconds, windows=1)
                           for k in peak_kernels})
            if overhead is not None:
                named = x if isinstance(x, dict) else {"rgb": x}
                timers[HARNESS] = partial(throughput, zoo_model, named, min_seconds=min_seconds,
                                          min_runs=1)
            rates = interleaved_rates(timers, rounds)
            harness_rate = rates.pop(HARNESS, None)
            peaks: Dict[str, float] = {}
            for k in peak_kernels:
                gflop_s = rates.pop(PEAK + k.dtype + k.label)
                peaks[k.dtype] = max(peaks.get(k.dtype, 0.0), gflop_s)
                print(f"  {pair.preset:13s} batch {batch}  peak {k.label:48s} {gflop_s:8.1f} GFLOP/s")
            reference = rates[variants[0][0]]
            for label, rate in rates.items():
                achieved = bench_peak.achieved_gflops(clip_gflops, rate)
                dtype = "bf16" if "bf16" in label and "bf16" in peaks else "fp32"
                check = (checked or {}).get(label)
                rows.append({"model": pair.preset, "batch": batch, "variant": label, "clips_s": rate,
                             "ratio": rate / reference, "gflops": achieved, "peer": label == peer_label,
                             "peak_dtype": dtype, "share": achieved / peaks[dtype], "checked": check,
                             "offered": check.offered if check else "int8" not in label})
                print(f"  {pair.preset:13s} batch {batch}  {label:55s} {rate:8.2f} clips/s  "
                      f"{rate / reference:5.2f}x  {achieved:6.1f} GFLOP/s = {achieved / peaks[dtype]:4.0%} "
                      f"of the {dtype} peak", flush=True)
            if harness_rate is not None:
                ratio = overhead[pair.preset, batch] = harness_rate / rates[DEFAULT_LABEL]
                print(f"  {pair.preset:13s} batch {batch}  harness throughput / bare loop: {ratio:.3f}",
                      flush=True)
    return rows


def fastest(rows: List[Dict]) -> List[Tuple[str, int, Dict, Dict]]:
    """Per (model, batch): zoo's fastest offered option (any precision), and its fastest fp32
    one (the peer and int8 variants refused by the agreement rule are left out)."""
    out = []
    for key in dict.fromkeys((r["model"], r["batch"]) for r in rows):
        options = [r for r in rows if (r["model"], r["batch"]) == key and r["offered"] and not r["peer"]]
        fp32 = [r for r in options if "int8" not in r["variant"] and "bf16" not in r["variant"]]
        out.append((*key, max(options, key=lambda r: r["clips_s"]), max(fp32, key=lambda r: r["clips_s"])))
    return out


def runtime_versions() -> str:
    import importlib.metadata as metadata

    found = []
    for name in ("onnxruntime", "openvino"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def environment() -> str:
    return f"{bench_peak.machine()}; {runtime_versions()}; device cpu"


def write_markdown(rows: List[Dict], checked: Dict[str, Tuple[str, Dict[str, Checked]]], command: str,
                   overhead: Dict[Tuple[str, int], float], minutes: float,
                   path: Path = RESULTS) -> None:
    from zoo.bench.profiles import PROFILES
    from zoo.engine.quantize import MIN_AGREEMENT

    profile = PROFILES[AGREEMENT_PROFILE]
    trained = (f"the preset as `zoo bench`'s {AGREEMENT_PROFILE} profile trains it on the built-in dataset "
               f"({profile.frames}x{profile.size}², width {profile.width:g}, its budget without the "
               f"time limit, precise batch norm)")
    lines = ["# zoo vs peers and runtimes: inference clips/s, measured in one run", "",
             f"Command: `{command}` ({minutes:.0f} min)  ", f"Machine: {environment()}", "",
             "The reference is the peer library's model in eager fp32 (zoo's default model where no "
             "peer library has the preset). GFLOP/s = 2 x fvcore GFLOPs of one clip x clips/s; the "
             "share is of the fp32 peak (bf16 for bf16 variants where the processor has bf16), the "
             "best of bench_peak.py's matmul and conv3d timed in the same rounds. Agreement: with "
             f"eager fp32 on the built-in dataset's test clips, measured on {trained} (table below); "
             f"int8 is offered at >= {MIN_AGREEMENT:.0%}.", "",
             "| model | batch | variant | clips/s | ratio to reference | GFLOP/s | share of peak | top-1 agreement |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        check = r["checked"]
        agreed = "" if check is None else f"{check.agreement.top1:.1%}" + ("" if check.offered else " (not offered)")
        lines.append(f"| {r['model']} | {r['batch']} | {r['variant']} | {r['clips_s']:.2f} | {r['ratio']:.2f}x | "
                     f"{r['gflops']:.1f} | {r['share']:.0%} | {agreed} |")
    lines += ["", "Fastest here (zoo's options: default, fast path, runtimes; int8 only where offered):", "",
              "| model | batch | fastest | ratio | fastest fp32 | ratio | its share of the fp32 peak |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {m} | {b} | {f['variant']} | {f['ratio']:.2f}x | {f32['variant']} | {f32['ratio']:.2f}x | "
              f"{f32['share']:.0%} |" for m, b, f, f32 in fastest(rows)]
    if overhead:
        lines += ["", "The benchmark harness's own overhead: its throughput figure (`zoo.bench.measure.throughput`) "
                  "over the bare loop's for zoo's default model, medians of the same interleaved rounds (goal: within 5%):",
                  "", "| model | batch | harness / bare loop |", "|---|---|---|"]
        lines += [f"| {m} | {b} | {r:.3f} |" for (m, b), r in overhead.items()]
    if checked:
        lines += ["", f"Against eager fp32 on the built-in dataset's test clips, on {trained}; "
                  "int8 calibrated on built-in train clips:",
                  "", "| model | trained | variant | largest logit difference | top-1 agreement | offered |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {m} | {note} | {label} | {c.agreement.max_logit_diff:.1e} | {c.agreement.top1:.1%} | "
                  f"{'yes' if c.offered else 'no'} |"
                  for m, (note, variants) in checked.items() for label, c in variants.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from {', '.join(PAIRS)}")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (saves 10-50 s a model)")
    p.add_argument("--no-runtimes", action="store_true", help="skip ONNX Runtime and OpenVINO")
    p.add_argument("--min-seconds", type=float, default=2.0, help="timing per variant and round")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved timing rounds per variant; the median is reported")
    p.add_argument("--no-agreement", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file written")
    p.add_argument("--no-bf16", action="store_true",
                   help="leave bf16 out of the fast path (CPUs without AVX512-BF16/AMX emulate it slowly)")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    start = time.perf_counter()
    print(f"machine: {environment()}")
    rows, checked, overhead = [], {}, {}
    for name in args.pairs.split(","):
        pair = PAIRS[name]
        print(f"{name}: against {pair.peer_name or 'zoo default (no peer)'}", flush=True)
        if not args.no_agreement and pair.int8:
            path = FastPath(bf16=not args.no_bf16, compile=not args.no_compile)
            checked[pair.preset] = note, variants = agreements(pair, path, not args.no_runtimes)
            print(f"  trained as {AGREEMENT_PROFILE}: {note}", flush=True)
            for label, c in variants.items():
                print(f"  {label} vs fp32 on moving_shapes: {c.agreement}"
                      + ("" if c.offered else " (not offered)"), flush=True)
        rows += run_pair(pair, batches, not args.no_compile, args.min_seconds, rounds=args.rounds,
                         bf16=not args.no_bf16, overhead=overhead, runtimes=not args.no_runtimes,
                         checked=checked.get(pair.preset, ("", {}))[1])
    command = "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_markdown(rows, checked, command, overhead, (time.perf_counter() - start) / 60, args.out)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
