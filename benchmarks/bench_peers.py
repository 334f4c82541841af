"""Inference speed of zoo's models against the peers', measured side by side in one run.

    python benchmarks/bench_peers.py                 # all pairs, batch 1 and 8
    python benchmarks/bench_peers.py --pairs r3d_18 --batches 1 --no-compile

For each pair it times, in the same process and on the same input: the peer's model in eager
fp32 (the reference), zoo's model with default settings (eager fp32), and zoo's fast path
(inference mode + bf16 autocast + channels_last_3d, then also torch.compile with inductor
freezing), and prints clips/s and each one's ratio to the peer. The variants are timed in
interleaved rounds (peer, zoo, fast, ..., then again) and each figure is the median of its
rounds, so that drift during the run does not favour whichever ran first. It also prints the
fast path's largest logit difference from fp32 and the top-1 agreement of the two on the
built-in dataset's test clips. Absolute times on shared machines move by 15-20% from run to run; the ratios, taken
in one run, are the figures to quote. Results go to benchmarks/results/peers.md.
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

import zoo
from zoo.inference import FastPath, clips_per_second, interleaved_rates, optimize_for_inference

RESULTS = Path(__file__).resolve().parent / "results" / "peers.md"
AGREEMENT_STEPS = 30  # training steps before the fast path is compared with fp32
AGREEMENT_INPUT = (4, 32)  # frames, size: the benchmark's cpu-small input
WARMUP_CALLS = 2
DEFAULT_LABEL = "zoo default (eager fp32)"
HARNESS = "harness"  # the benchmark harness's own timing of zoo's default model


@dataclass
class Pair:
    """zoo's preset, the peer's equivalent, and the input both read."""

    preset: str
    peer_name: str
    make_peer: Callable[[nn.Module], nn.Module]  # receives zoo's model (to match sizes)
    frames: int
    size: int


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
    "r3d_18": Pair("r3d_18", "torchvision r3d_18", _torchvision("r3d_18"), 16, 112),
    "r2plus1d_18": Pair("r2plus1d_18", "torchvision r2plus1d_18", _torchvision("r2plus1d_18"), 16, 112),
    "x3d_xs": Pair("x3d_xs", "pytorchvideo x3d_xs", _pytorchvideo_x3d_xs, 4, 160),
    "slowfast_r50": Pair("slowfast_r50", "pytorchvideo slowfast_r50", lambda m: _SlowFastPeer(), 32, 224),
    "cnn_lstm": Pair("cnn_lstm_r18", "timm + nn.LSTM loop", _timm_lstm, 16, 112),
}


def _eager(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    model.eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x)
    return run


def fast_path_agreement(preset: str, path: FastPath, frames: int, size: int) -> Tuple[float, float]:
    """(largest |logit| difference, top-1 agreement) of the fast path against fp32 on the
    built-in dataset's test clips, for `preset` trained briefly at a small input."""
    from torch.utils.data import DataLoader

    from zoo.bench.measure import Budget, train_for_budget
    from zoo.data import collate
    from zoo.registry import REGISTRY

    model = zoo.build(preset, num_classes=len(_moving_shapes_classes()), frames=frames, size=size)
    dataset = REGISTRY.get("dataset", "moving_shapes")
    train = DataLoader(dataset(split="train", inputs=model.spec.inputs), batch_size=16, shuffle=True,
                       collate_fn=collate)
    test = DataLoader(dataset(split="test", inputs=model.spec.inputs), batch_size=16, collate_fn=collate)
    train_for_budget(model, train, Budget(AGREEMENT_STEPS), lr=1e-3, weight_decay=0.05,
                     progress=False)
    model.eval()
    fast = optimize_for_inference(copy.deepcopy(model), path)
    diffs, agree, total = [], 0, 0
    for batch in test:
        with torch.no_grad():
            ref = model(batch["inputs"])
        out = fast(batch["inputs"])
        diffs.append((out - ref).abs().max().item())
        agree += (out.argmax(1) == ref.argmax(1)).sum().item()
        total += ref.shape[0]
    return max(diffs), agree / total


def _moving_shapes_classes() -> List[str]:
    from zoo.registry import REGISTRY

    return REGISTRY.get("dataset", "moving_shapes")(split="test").classes


def run_pair(pair: Pair, batches: List[int], compile_: bool, min_seconds: float, rounds: int = 3,
             bf16: bool = True, overhead: Optional[Dict[Tuple[str, int], float]] = None) -> List[Dict]:
    """Time the peer and zoo's variants at each batch size, in `rounds` interleaved rounds of at
    least `min_seconds` each; `overhead`, when given, receives the ratio of the benchmark
    harness's throughput figure to the bare loop's for zoo's default model per (preset, batch),
    timed in the same rounds."""
    from zoo.bench.measure import throughput
    from zoo.tensors import count_parameters

    zoo_model = zoo.build(pair.preset, num_classes=400, frames=pair.frames, size=pair.size)
    peer = pair.make_peer(zoo_model)
    zoo_params, peer_params = count_parameters(zoo_model), count_parameters(peer)
    variants: List[Tuple[str, Callable[[], Callable]]] = [
        (f"{pair.peer_name} (eager fp32)", lambda: _eager(peer)),
        (DEFAULT_LABEL, lambda: _eager(zoo_model)),
        ("zoo fast: " + FastPath(bf16=bf16).label,
         lambda: optimize_for_inference(copy.deepcopy(zoo_model), FastPath(bf16=bf16))),
    ]
    if compile_:
        full = FastPath(bf16=bf16, compile=True)
        variants.append(("zoo fast: " + full.label,
                         lambda: optimize_for_inference(copy.deepcopy(zoo_model), full)))
    rows = []
    for batch in batches:
        x = torch.randn(batch, 3, pair.frames, pair.size, pair.size)
        runners = {label: make() for label, make in variants}
        for run in runners.values():
            for _ in range(WARMUP_CALLS):  # compiles the compiled variant
                run(x)
        timers = {label: partial(clips_per_second, run, x, min_seconds) for label, run in runners.items()}
        if overhead is not None:
            timers[HARNESS] = partial(throughput, zoo_model, {"rgb": x}, min_seconds=min_seconds, min_runs=1)
        rates = interleaved_rates(timers, rounds)
        harness_rate = rates.pop(HARNESS, None)
        reference = rates[variants[0][0]]
        for label, rate in rates.items():
            rows.append({"model": pair.preset, "batch": batch, "variant": label, "clips_s": rate,
                         "ratio": rate / reference})
            print(f"  {pair.preset:13s} batch {batch}  {label:55s} {rate:8.2f} clips/s  {rate / reference:5.2f}x",
                  flush=True)
        if harness_rate is not None:
            ratio = overhead[pair.preset, batch] = harness_rate / rates[DEFAULT_LABEL]
            print(f"  {pair.preset:13s} batch {batch}  harness throughput / bare loop: {ratio:.3f}", flush=True)
    print(f"  parameters: zoo {zoo_params:,} vs peer {peer_params:,}")
    return rows


def environment() -> str:
    from zoo.bench.run import processor

    return (f"{processor()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, device cpu")


def write_markdown(rows: List[Dict], agreement: Dict[str, Tuple[float, float]], command: str,
                   overhead: Dict[Tuple[str, int], float]) -> None:
    lines = ["# zoo vs peers: inference clips/s, measured in one run", "",
             f"Command: `{command}`  ", f"Environment: {environment()}", "",
             "| model | batch | variant | clips/s | ratio to peer |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['variant']} | {r['clips_s']:.2f} | {r['ratio']:.2f}x |"
              for r in rows]
    if overhead:
        lines += ["", "The benchmark harness's own overhead: its throughput figure (`zoo.bench.measure.throughput`) "
                  "over the bare loop's for zoo's default model, medians of the same interleaved rounds (goal: within 5%):",
                  "", "| model | batch | harness / bare loop |", "|---|---|---|"]
        lines += [f"| {m} | {b} | {r:.3f} |" for (m, b), r in overhead.items()]
    if agreement:
        frames, size = AGREEMENT_INPUT
        lines += ["", f"Fast path against fp32 on the built-in dataset's test clips (model trained {AGREEMENT_STEPS} "
                  f"steps at {frames}x{size}x{size}):",
                  "", "| model | largest logit difference | top-1 agreement |", "|---|---|---|"]
        lines += [f"| {m} | {d:.1e} | {a:.1%} |" for m, (d, a) in agreement.items()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from {', '.join(PAIRS)}")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (saves 10-50 s a model)")
    p.add_argument("--min-seconds", type=float, default=2.0, help="timing per variant and round")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved timing rounds per variant; the median is reported")
    p.add_argument("--no-agreement", action="store_true")
    p.add_argument("--no-bf16", action="store_true",
                   help="leave bf16 out of the fast path (CPUs without AVX512-BF16/AMX emulate it slowly)")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"environment: {environment()}")
    rows, agreement, overhead = [], {}, {}
    for name in args.pairs.split(","):
        pair = PAIRS[name]
        print(f"{name}: against {pair.peer_name}, input 3x{pair.frames}x{pair.size}x{pair.size}", flush=True)
        rows += run_pair(pair, batches, not args.no_compile, args.min_seconds, rounds=args.rounds,
                         bf16=not args.no_bf16, overhead=overhead)
        if not args.no_agreement and name in ("r3d_18", "x3d_xs"):
            path = FastPath(bf16=not args.no_bf16, compile=not args.no_compile)
            agreement[name] = fast_path_agreement(name, path, *AGREEMENT_INPUT)
            print(f"  fast path vs fp32 on moving_shapes: max logit diff {agreement[name][0]:.1e}, "
                  f"top-1 agreement {agreement[name][1]:.1%}", flush=True)
    import sys

    write_markdown(rows, agreement, "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:] if argv is None else argv),
                   overhead)
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
