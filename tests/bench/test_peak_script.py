"""benchmarks/bench_peak.py: the FLOP counts, the bf16 detection and the measurement on tiny
sizes."""
from __future__ import annotations

import pytest
import torch

from benchmark_scripts import loaded

TINY = dict(matmul_size=32, conv_shape=(1, 4, 8, 2, 6, 6, 3))


@pytest.fixture(scope="module")
def peak():
    with loaded("bench_peak") as module:
        yield module


def test_flop_counts_are_twice_fvcores_multiply_adds(peak):
    from fvcore.nn import FlopCountAnalysis

    batch, cin, cout, frames, height, width, kernel = TINY["conv_shape"]
    conv = torch.nn.Conv3d(cin, cout, kernel, padding=1, bias=False)
    x = torch.randn(batch, cin, frames, height, width)
    assert peak.conv3d_flops(*TINY["conv_shape"]) == 2 * FlopCountAnalysis(conv, x).total()
    a = torch.randn(32, 32)
    mm = FlopCountAnalysis(torch.nn.Linear(32, 32, bias=False), a).total()
    assert peak.matmul_flops(32) == 2 * mm == 65536
    assert peak.achieved_gflops(fvcore_gflops=1.5, clips_per_second=10) == 30.0


def test_bf16_is_measured_only_where_the_processor_has_it(peak):
    assert peak.bf16_missing({"avx2", "fma"}).startswith("no native bf16")
    assert peak.bf16_missing({"avx2", "amx_bf16"}) is None
    assert peak.peak_dtypes({"avx512_bf16"}) == ["fp32", "bf16"]
    assert peak.peak_dtypes(set()) == ["fp32"]

    skipped = peak.measure_peaks(seconds=0.0, flags={"avx2"}, **TINY)
    assert [(p.dtype, p.gflops is None) for p in skipped] == [("fp32", False), ("fp32", False),
                                                             ("bf16", True), ("bf16", True)]
    assert all(p.gflops > 0 for p in skipped[:2]) and "emulated" in skipped[2].note
    assert peak.best(skipped) == max(p.gflops for p in skipped[:2])
    measured = peak.measure_peaks(seconds=0.0, flags={"amx_bf16"}, **TINY)  # faked capability
    assert all(p.gflops > 0 for p in measured) and peak.best(measured, "bf16") > 0
    table = peak.markdown(skipped)
    assert table[2].startswith("| fp32 matmul 32^3 | ") and "skipped: no native bf16" in table[4]


def test_rate_counts_flops_over_time(peak, monkeypatch):
    clock = iter([0.0, 0.0, 0.5])  # one call in a window that lasted half a second
    monkeypatch.setattr(peak.time, "perf_counter", lambda: next(clock))
    assert peak.rate(lambda: None, flops=2e9, seconds=0.0, windows=1) == pytest.approx(4.0)


def test_machine_names_the_flags_that_matter(peak, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma amx_bf16\n")
    assert peak.cpu_flags(cpuinfo) == {"fpu", "avx2", "fma", "amx_bf16"}
    assert peak.cpu_flags(tmp_path / "absent") == set()
    line = peak.machine()
    assert "flags:" in line and "absent:" in line and f"{torch.get_num_threads()} threads" in line
