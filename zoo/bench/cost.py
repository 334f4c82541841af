"""What each preset costs at its paper's scale (its default config, 400 classes): parameters,
GFLOPs at the paper's input and clips/s at batch 1 and 8, measured without training.

Measured once per preset config and kept in ``paper_cost.jsonl`` beside the leaderboard, one row
per machine (processor and its instruction set, torch): counting and timing the full-size
networks takes minutes (4-5 on a 2-core AVX2 EPYC), and the figures do not change with the
benchmark's seed or budget. A preset measured on another machine is not measured again (its
table names that machine); ``zoo bench --force-cost`` measures every preset on this one."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .rows import Column, format_input

COST_STORE = "paper_cost.jsonl"


@dataclass
class CostRow:
    """One preset's cost at its paper's scale on one machine."""

    preset: str
    processor: str
    torch: str
    threads: int = 0
    config: str = ""  # digest of the default config measured
    status: str = "failed"
    reason: str = ""
    input: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    params: int = 0
    gflops: Optional[float] = None
    clips_per_s_b1: Optional[float] = None
    clips_per_s_b8: Optional[float] = None

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.preset, self.processor, self.torch)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CostRow":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


COST_COLUMNS: List[Column] = [
    Column("input", "paper input", lambda r: format_input(r.input), text=True,
           doc="each stream's frames x size as the paper (the preset's default config) has it"),
    Column("params", "params (M)", lambda r: r.params / 1e6 if r.params else None, digits=2,
           doc="parameters at 400 classes"),
    Column("gflops", "GFLOPs", lambda r: r.gflops, digits=2,
           doc="GFLOPs per clip at the paper's input, by fvcore (a multiply-add counts once)"),
    Column("clips_per_s_b1", "clips/s b1", lambda r: r.clips_per_s_b1, digits=2,
           doc="eager fp32 inference at batch 1 on the machine named above (best of two calls "
               "after a warm-up)"),
    Column("clips_per_s_b8", "clips/s b8", lambda r: r.clips_per_s_b8, digits=2,
           doc="eager fp32 inference at batch 8 (one call)"),
]


def costs_for(rows: Sequence[Any], costs: Sequence[CostRow]) -> Dict[str, CostRow]:
    """Each preset's measured cost, from the machine (processor, torch) of the benchmark `rows`
    where the store has it, else from the last other machine measured."""
    here = {(r.env.get("processor"), r.env.get("torch")) for r in rows}
    chosen: Dict[str, CostRow] = {}
    for cost in costs:
        if cost.status != "ok":
            continue
        kept = chosen.get(cost.preset)
        if kept is None or (kept.processor, kept.torch) not in here \
                or (cost.processor, cost.torch) in here:
            chosen[cost.preset] = cost
    return chosen


def config_digest(preset: str) -> str:
    """A short digest of the config `preset` resolves to by default."""
    from ..builder import resolve_config
    text = json.dumps(resolve_config(preset), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _clips_per_s(model, batch: int, calls: int) -> float:
    import torch
    from ..tensors import example_inputs

    inputs = example_inputs(model.spec.inputs, batch)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(calls):
            start = time.perf_counter()
            model(inputs)
            best = min(best, time.perf_counter() - start)
    return batch / best


def measure_cost(preset: str) -> CostRow:
    """Build `preset` as its paper has it and measure it (a failure is a row with its reason)."""
    import torch

    import zoo
    from ..tensors import count_parameters
    from .measure import gflops
    from .run import input_summary, machine, reason

    row = CostRow(preset, machine(), torch.__version__, torch.get_num_threads())
    stage = "build"
    try:
        row.config = config_digest(preset)
        model = zoo.build(preset).eval()
        row.input = input_summary(model.spec.inputs)
        row.params = count_parameters(model)
        stage = "flops"
        row.gflops = round(gflops(model), 6)
        stage = "timing"
        _clips_per_s(model, 1, 1)  # warm-up
        row.clips_per_s_b1 = round(_clips_per_s(model, 1, 2), 3)
        row.clips_per_s_b8 = round(_clips_per_s(model, 8, 1), 3)
    except Exception as exc:  # one preset failing never stops the run
        row.reason = reason(stage, exc)
        return row
    row.status = "ok"
    return row


def measure_costs(presets: Sequence[str], store, force: bool = False,
                  progress: bool = True) -> List[CostRow]:
    """Measure the presets whose current config no machine has measured (with `force`: every
    preset, on this machine); returns the rows measured."""
    from tqdm.auto import tqdm

    measured = []
    stored = store.rows()
    for preset in tqdm(presets, desc="paper-scale cost", disable=not progress):
        try:
            digest = config_digest(preset)
        except Exception:  # an unbuildable preset is measured (and fails) below
            digest = None
        if not force and any(r.preset == preset and r.config == digest and r.status == "ok"
                             for r in stored):
            continue
        row = measure_cost(preset)
        store.put(row)
        measured.append(row)
        tqdm.write(f"{preset} at its paper's scale: " + (
            f"{row.params / 1e6:.2f}M params, {row.gflops} GFLOPs, {row.clips_per_s_b1} clips/s "
            f"at batch 1, {row.clips_per_s_b8} at batch 8" if row.status == "ok"
            else f"FAILED ({row.reason})"))
    return measured
