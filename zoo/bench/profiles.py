"""Benchmark profiles: the budget every preset gets (input, scale, optimisation steps, data)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Profile:
    """The budget every preset gets: input, channel width, optimisation steps, data and
    optimiser settings."""

    name: str
    frames: int = 8
    size: int = 32
    # channel multiplier passed as zoo.build(..., width=...) to every component that takes it:
    # the papers' topologies with fewer channels, so that they train in seconds on a CPU
    width: float = 0.125
    steps: int = 200
    # > 0: also stop training after this many seconds, so that the slowest networks (X3D's
    # depthwise 3D convolutions train slowly on a CPU) keep the run within its time; their rows
    # show the steps they got, and only they depend on the machine's speed
    seconds: float = 45.0
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup: float = 0.1  # share of the budget with a linear warm-up, then cosine decay
    # weight of each stream's own loss in a multi-stream model (0: the fused output's only)
    stream_loss: float = 1.0
    train_clips_per_class: int = 64
    test_clips_per_class: int = 50
    bf16: bool = False
    # channels-last memory for weights and batches (oneDNN's faster 3D convolutions)
    channels_last: bool = True
    seed: int = 0
    device: str = "cpu"
    latency_runs: int = 5  # batch-1 calls timed for the latency percentiles
    throughput_seconds: float = 0.5  # least time of the inference loop timed at the batch size
    # training batches over which batch-norm statistics are recomputed before testing (0: keep
    # the running averages)
    precise_bn_batches: int = 8
    # DataLoader worker processes; 0: chosen for the dataset (zoo.data.loader_settings: none
    # for the built-in dataset, one per job for a real one of more than a batch)
    workers: int = 0
    # presets run side by side, each in a process of `threads` torch threads: tiny networks use
    # a second core poorly (1.1-1.3x), so two one-thread jobs do nearly twice the work
    jobs: int = 2
    threads: int = 1

    @property
    def key(self) -> str:
        """The profile's name, plus every setting that differs from the named profile's."""
        base = PROFILES[self.name]
        changed = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                   if getattr(self, f.name) != getattr(base, f.name)]
        return f"{self.name}[{','.join(changed)}]" if changed else self.name

    def scale(self) -> str:
        """``width 1/8, 8x32²``: the scale every preset is trained at."""
        return f"width {format_width(self.width)}, {self.frames}x{self.size}²"

    def describe(self) -> str:
        precision = "bf16 autocast" if self.bf16 else "fp32"
        if self.device != "cpu":
            precision += f" on {self.device}"
        if self.channels_last:
            precision += ", channels-last memory"
        budget = f"{self.steps} AdamW steps of batch {self.batch_size}"
        if self.seconds:
            budget += f" (or {self.seconds:g} s of training, whichever ends first)"
        bn = (f", batch-norm statistics recomputed over {self.precise_bn_batches} batches"
              if self.precise_bn_batches else "")
        streams = (f"; each stream of a multi-stream model also trained on its own loss "
                   f"(weight {self.stream_loss:g})" if self.stream_loss else "")
        threads = self.threads or "the default number of"
        return (f"every preset at channel width {format_width(self.width)} of its paper's "
                f"(the same topology) on {self.frames} frames of {self.size}x{self.size}, "
                f"trained from scratch for {budget}: lr {self.lr:g}, {self.warmup:.0%} warm-up "
                f"then cosine, weight decay {self.weight_decay:g}{bn}{streams}; {precision}; "
                f"{self.train_clips_per_class} training and {self.test_clips_per_class} test "
                f"clips per class, seed {self.seed}; {self.jobs} preset"
                f"{'s' if self.jobs > 1 else ''} at a time, {threads} torch thread"
                f"{'' if self.threads == 1 else 's'} each")


def format_width(width: float) -> str:
    """0.125 -> "1/8", 1.0 -> "1", 0.3 -> "0.3"."""
    fraction = Fraction(width).limit_denominator(64)
    if abs(float(fraction) - width) > 1e-9:
        return f"{width:g}"
    return str(fraction)


PROFILES = {
    # the main job: every preset at 1/8 width, 8 frames of 32x32, 200 steps (45 s at most), two
    # at a time (about 9 minutes for the first-party presets on 2 cores)
    "cpu-small": Profile("cpu-small"),
    # longer training at a wider scale, the same steps for every preset (hours on 2 cores)
    "cpu-long": Profile("cpu-long", width=0.25, steps=1000, seconds=0),
    # for a GPU machine (not run on the CPU): the papers' width and the usual 16x112 input
    "gpu-full": Profile("gpu-full", frames=16, size=112, width=1.0, steps=1000, seconds=0,
                        batch_size=16,
                        train_clips_per_class=128, test_clips_per_class=64, bf16=True,
                        device="cuda", lr=1e-3, latency_runs=20, throughput_seconds=2.0,
                        jobs=1, threads=0),
}
DEFAULT_PROFILE = "cpu-small"
