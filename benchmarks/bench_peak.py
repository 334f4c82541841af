"""This machine's peak GFLOP/s for the kernels video models spend their time in, measured.

    python benchmarks/bench_peak.py                  # at torch's thread count
    python benchmarks/bench_peak.py --threads 2 --seconds 2

Kernels: a large square matmul (sgemm) and a representative 3x3x3 convolution (R3D-18's
second stage at batch 4, channels_last_3d), in fp32, and in bf16 where the processor has it
natively (AMX or AVX512-BF16 in /proc/cpuinfo; elsewhere bf16 is emulated and skipped, with
the reason printed). A multiply-add counts as two FLOPs; fvcore counts it as one, so a model's
achieved GFLOP/s is 2 x fvcore GFLOPs x clips/s (`achieved_gflops`). bench_peers.py imports
`measure_peaks` and prints each variant's share of the fp32 peak, measured in the same run.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

import torch

FLAGS_THAT_MATTER = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
                     "amx_bf16", "amx_int8")
NATIVE_BF16 = ("amx_bf16", "avx512_bf16")
MATMUL_SIZE = 2048
CONV_SHAPE = (4, 128, 128, 8, 28, 28, 3)  # batch, in, out channels, frames, height, width, kernel


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> Set[str]:
    """The processor's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags")
            for flag in line.partition(":")[2].split()}


def bf16_missing(flags: Set[str]) -> Optional[str]:
    """Why bf16 is not measured here, or None where the processor has it natively."""
    if flags & set(NATIVE_BF16):
        return None
    return f"no native bf16 ({' / '.join(NATIVE_BF16)} absent from /proc/cpuinfo): it would be emulated"


def machine() -> str:
    """The processor, the flags that matter for these kernels, torch's kernel level and threads."""
    from zoo.bench.run import processor

    flags = cpu_flags()
    present = [f for f in FLAGS_THAT_MATTER if f in flags]
    absent = [f for f in FLAGS_THAT_MATTER if f not in flags]
    return (f"{processor()}; flags: {' '.join(present) or 'none'} (absent: {' '.join(absent) or 'none'}); "
            f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads")


def matmul_flops(n: int) -> float:
    """FLOPs of an n x n by n x n matmul."""
    return 2.0 * n ** 3


def conv3d_flops(batch: int, cin: int, cout: int, frames: int, height: int, width: int,
                 kernel: int) -> float:
    """FLOPs of a stride-1, same-padded k x k x k convolution (bias left out)."""
    return 2.0 * batch * cout * frames * height * width * cin * kernel ** 3


def achieved_gflops(fvcore_gflops: float, clips_per_second: float) -> float:
    """A model's GFLOP/s from fvcore's GFLOPs of one clip (multiply-adds) and its clips/s."""
    return 2.0 * fvcore_gflops * clips_per_second


@dataclass(frozen=True)
class Kernel:
    """One timed kernel: `run()` computes `flops` FLOPs in `dtype` ("fp32", "bf16")."""

    label: str
    dtype: str
    run: Callable[[], torch.Tensor]
    flops: float


@dataclass(frozen=True)
class Peak:
    kernel: str  # e.g. "fp32 matmul 2048^3"
    dtype: str
    gflops: Optional[float]  # None: skipped
    note: str = ""


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def kernels(dtype: str, matmul_size: int = MATMUL_SIZE,
            conv_shape: Tuple[int, ...] = CONV_SHAPE) -> List[Kernel]:
    """The matmul and the conv3d in `dtype`, their operands allocated."""
    torch_dtype = DTYPES[dtype]
    a, b = torch.randn(matmul_size, matmul_size, dtype=torch_dtype), torch.randn(
        matmul_size, matmul_size, dtype=torch_dtype)
    batch, cin, cout, frames, height, width, kernel = conv_shape
    conv = torch.nn.Conv3d(cin, cout, kernel, padding=kernel // 2, bias=False).eval()
    conv = conv.to(dtype=torch_dtype, memory_format=torch.channels_last_3d)
    x = torch.randn(batch, cin, frames, height, width, dtype=torch_dtype).contiguous(
        memory_format=torch.channels_last_3d)
    conv_label = (f"conv3d {batch}x{cin}->{cout} {frames}x{height}x{width} k{kernel} "
                  f"channels_last_3d")
    return [Kernel(f"{dtype} matmul {matmul_size}^3", dtype, lambda: torch.mm(a, b),
                   matmul_flops(matmul_size)),
            Kernel(f"{dtype} {conv_label}", dtype, lambda: conv(x), conv3d_flops(*conv_shape))]


def rate(run: Callable[[], torch.Tensor], flops: float, seconds: float, windows: int = 3) -> float:
    """GFLOP/s of `run`: the best of `windows` windows of back-to-back calls, each at least
    `seconds` / `windows` long (one call at least), after a warm-up call."""
    with torch.inference_mode():
        run()
        fastest = 0.0
        for _ in range(windows):
            calls, start = 0, time.perf_counter()
            while calls < 1 or time.perf_counter() - start < seconds / windows:
                run()
                calls += 1
            fastest = max(fastest, calls * flops / (time.perf_counter() - start) / 1e9)
    return fastest


def peak_dtypes(flags: Optional[Set[str]] = None) -> List[str]:
    """fp32, and bf16 where the processor has it natively."""
    return ["fp32"] + ([] if bf16_missing(cpu_flags() if flags is None else flags) else ["bf16"])


def measure_peaks(seconds: float = 2.0, matmul_size: int = MATMUL_SIZE,
                  conv_shape: Tuple[int, ...] = CONV_SHAPE,
                  flags: Optional[Set[str]] = None) -> List[Peak]:
    """fp32 (and, where native, bf16) matmul and conv3d GFLOP/s at torch's thread count; bf16
    elsewhere is a skipped row with the reason."""
    flags = cpu_flags() if flags is None else flags
    peaks = []
    for dtype in DTYPES:
        for k in kernels(dtype, matmul_size, conv_shape):
            skip = bf16_missing(flags) if dtype == "bf16" else None
            peaks.append(Peak(k.label, dtype, None, f"skipped: {skip}") if skip else
                         Peak(k.label, dtype, rate(k.run, k.flops, seconds)))
    return peaks


def best(peaks: List[Peak], dtype: str = "fp32") -> float:
    """The highest measured GFLOP/s of `dtype`'s kernels: the peak shares are taken of it."""
    return max(p.gflops for p in peaks if p.dtype == dtype and p.gflops is not None)


def markdown(peaks: List[Peak]) -> List[str]:
    lines = ["| kernel | GFLOP/s |", "|---|---|"]
    return lines + [f"| {p.kernel} | {p.gflops:.1f} |" if p.gflops is not None else
                    f"| {p.kernel} | {p.note} |" for p in peaks]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    p.add_argument("--seconds", type=float, default=2.0, help="timing per kernel")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    peaks = measure_peaks(args.seconds)
    print("\n".join(markdown(peaks)))
    print(f"fp32 peak: {best(peaks):.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
