"""Training speed of zoo's training step against plain eager fp32, measured side by side in one run.

    python benchmarks/bench_train.py                     # the 3D CNN presets
    python benchmarks/bench_train.py --presets r3d_18 --frames 8 --size 112 --width 1 --batch 8

For each preset it times, in the same process and on the same batch: plain eager fp32 (the
reference: contiguous memory, torch's default AdamW, no autocast, what a user writes) and zoo's
training step as `zoo train` sets it up (zoo.engine.step.TrainStep with channels_last_3d weights
and batches, the fused AdamW of zoo.engine.train.build_optimizer, depthwise and temporal-only 3D
convolutions computed the faster way (zoo.engine.fastconv), bf16 autocast where the
processor runs it natively, it measures faster than fp32 for the model and its steps keep the
weights finite (zoo.engine.train.choose_bf16); with --compile also the model compiled by
torch.compile), and prints train clips/s and each one's ratio to the reference. The variants
are timed in interleaved rounds and each figure is the median of its rounds. Then every
variant trains a copy of the same initial model on the same built-in dataset batches for a few
steps, and the largest difference of its loss from the reference's is reported. Results go to
benchmarks/results/train.md.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

import zoo
from zoo.engine.config import TrainConfig
from zoo.engine.step import TrainStep
from zoo.engine.train import build_optimizer, choose_bf16, seed_everything
from zoo.inference import channels_last_model, detect_machine, interleaved_rates

RESULTS = Path(__file__).resolve().parent / "results" / "train.md"
PRESETS = ("r3d_18", "r2plus1d_18", "c3d", "i3d", "x3d_xs")
PLAIN = "plain eager fp32 (default AdamW)"
LR, WEIGHT_DECAY = 1e-3, 0.05
Batch = Tuple[Dict[str, torch.Tensor], torch.Tensor]
Step = Callable[[Dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Variant:
    label: str
    make: Callable[[nn.Module], Step]  # receives its own copy of the model


def plain_step(model: nn.Module) -> Step:
    """What a user writes: contiguous memory, torch's default AdamW, fp32, torch's backward."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    return TrainStep(model.train(), optimizer, "cpu", bf16=False, fast_conv3d=False)


ZOO_CONFIG = TrainConfig(optimizer="adamw", weight_decay=WEIGHT_DECAY, lr=LR)


def zoo_step(model: nn.Module, bf16: bool, compile_: bool = False) -> Step:
    """`zoo train`'s step: channels_last_3d, fused AdamW, bf16 when `zoo train` would pick it
    (zoo.engine.train.choose_bf16), and compiled when asked."""
    channels_last_model(model)
    optimizer = build_optimizer(model, ZOO_CONFIG)
    # static shapes: with a second preset compiled in the same process, dynamo made its sizes
    # symbolic and inductor failed on them (c3d then r2plus1d_18, torch 2.14: "cannot determine
    # truth value of Relational"). Compiled, dropout draws its masks from inductor's own
    # generator: a model with dropout (C3D) then leaves the reference's loss curve
    runner = torch.compile(model, dynamic=False) if compile_ else model
    return TrainStep(runner.train(), optimizer, "cpu", bf16=bf16, channels_last=True)


def variants(compile_: bool, bf16: bool) -> List[Variant]:
    precision = " + bf16 where faster" if detect_machine("cpu").native_bf16 else ""
    fast = f"zoo: channels_last_3d + fused AdamW + fast 3D convolutions{precision}"
    out = [Variant(PLAIN, plain_step), Variant(fast, partial(zoo_step, bf16=bf16))]
    if compile_:
        out.append(Variant(fast + " + compile", partial(zoo_step, bf16=bf16, compile_=True)))
    return out


def dataset_batches(model: nn.Module, batch: int, count: int) -> List[Batch]:
    """The first `count` batches of the built-in dataset's training split at the model's input."""
    from zoo.registry import current

    dataset = current().get("dataset", "moving_shapes")(split="train", inputs=model.spec.inputs)
    items = [dataset[i] for i in range(batch * count)]
    return [({name: torch.stack([it["inputs"][name] for it in items[k:k + batch]])
              for name in model.spec.inputs},
             torch.tensor([it["label"] for it in items[k:k + batch]]))
            for k in range(0, batch * count, batch)]


def train_rate(step: Step, batch: Batch, min_seconds: float) -> float:
    """Train clips/s of back-to-back steps on `batch` for at least `min_seconds` (one step at
    least)."""
    steps, start = 0, time.perf_counter()
    while steps < 1 or time.perf_counter() - start < min_seconds:
        step(*batch)
        steps += 1
    return steps * len(batch[1]) / (time.perf_counter() - start)


def losses(step: Step, batches: List[Batch]) -> List[float]:
    """The loss of each step over `batches`."""
    return [step(*b).item() for b in batches]


def run_preset(preset: str, args: argparse.Namespace) -> Tuple[List[Dict], float]:
    """Rows of train clips/s per variant, and the largest loss difference from the reference
    over `args.loss_steps` steps."""
    seed_everything(0)
    model = zoo.build(preset, num_classes=12, frames=args.frames, size=args.size, width=args.width)
    # one choice per preset, for the timed steps and the loss curves alike
    chosen = variants(args.compile, choose_bf16(model, ZOO_CONFIG, "cpu", args.batch).bf16)
    batches = dataset_batches(model, args.batch, max(1, args.loss_steps))
    steps = {v.label: v.make(copy.deepcopy(model)) for v in chosen}
    for step in steps.values():
        step(*batches[0])  # warm-up; compiles the compiled variant
    rates = interleaved_rates({label: partial(train_rate, step, batches[0], args.min_seconds)
                               for label, step in steps.items()}, args.rounds)
    rows = [{"model": preset, "variant": label,
             "precision": "bf16" if steps[label].bf16 else "fp32", "clips_s": rate,
             "ratio": rate / rates[PLAIN]} for label, rate in rates.items()]
    for row in rows:
        print(f"  {preset:12s} {row['variant']:55s} {row['precision']} "
              f"{row['clips_s']:7.2f} train clips/s  {row['ratio']:5.2f}x", flush=True)
    curves = {}
    for v in chosen:  # the same dropout masks for every variant
        step = v.make(copy.deepcopy(model))
        seed_everything(1)
        curves[v.label] = losses(step, batches)
    reference = curves[PLAIN]
    pairs = [(a, b) for curve in curves.values() for a, b in zip(curve, reference)]
    diff = (max(abs(a - b) for a, b in pairs) if all(map(math.isfinite, sum(pairs, ())))
            else math.inf)  # a NaN loss is reported, not lost in max()
    print(f"  {preset:12s} loss over {len(reference)} steps: "
          + "; ".join(f"{label}: {' '.join(f'{x:.4f}' for x in curve)}" for label, curve in curves.items())
          + f"; largest difference {diff:.1e}", flush=True)
    return rows, diff


def environment() -> str:
    return f"{detect_machine('cpu').describe()}, torch {torch.__version__}"


def write_markdown(rows: List[Dict], diffs: Dict[str, float], args: argparse.Namespace,
                   command: str, path: Path = RESULTS) -> None:
    lines = ["# zoo's training step vs plain eager fp32: train clips/s, measured in one run", "",
             f"Command: `{command}`  ", f"Environment: {environment()}  ",
             f"Input: {args.frames}x{args.size}x{args.size}, width {args.width:g}, batch {args.batch}; "
             f"medians of {args.rounds} interleaved rounds of at least {args.min_seconds:g} s", "",
             "| model | variant | precision | train clips/s | ratio to plain |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['variant']} | {r['precision']} | {r['clips_s']:.2f} | "
              f"{r['ratio']:.2f}x |" for r in rows]
    lines += ["", f"Loss of each variant against plain eager fp32, same initial weights and the same "
              f"{args.loss_steps} built-in dataset batches:", "",
              "| model | largest loss difference |", "|---|---|"]
    lines += [f"| {m} | {f'{d:.1e}' if math.isfinite(d) else 'a loss was not finite'} |"
              for m, d in diffs.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--width", type=float, default=0.25, help="channel width (1: the papers')")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--min-seconds", type=float, default=2.0, help="timing per variant and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--loss-steps", type=int, default=3, help="steps of the loss comparison")
    p.add_argument("--compile", action="store_true", help="also time the compiled model")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    p.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file written")
    args = p.parse_args(argv)
    print(f"environment: {environment()}")
    rows, diffs = [], {}
    for preset in args.presets.split(","):
        print(f"{preset}: {args.frames}x{args.size}x{args.size}, width {args.width:g}, batch {args.batch}",
              flush=True)
        preset_rows, diffs[preset] = run_preset(preset, args)
        rows += preset_rows
    if not args.no_write:
        command = "python benchmarks/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
        write_markdown(rows, diffs, args, command.strip(), args.out)
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
