"""A benchmark row (`BenchRow`, one per preset, dataset and profile, kept as JSON in the store)
and the columns of the leaderboard, each declared once (`Column`): the Markdown and HTML
tables, the CSV file, the summary line and the model cards all render from `COLUMNS`.

Adding a measurement is one field here and one `Column` in `COLUMNS`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

Interval = Tuple[float, float]
# a permutation of the frames that changes no logit by this share of the largest: summation order
ORDER_BLIND = 1e-4


@dataclass
class BenchRow:
    """What the harness measured of one job (a preset, a combination, or one stream of a
    multi-stream preset read alone) on one dataset under one profile."""

    preset: str
    dataset: str
    profile: str
    kind: str = "preset"  # preset | combo | stream
    status: str = "failed"  # ok | failed
    reason: str = ""
    of: str = ""  # a stream row: the preset whose trained stream it scores
    same_as: str = ""  # the preset of the run whose network this one is (measured once)
    # what the registry says
    source: str = ""
    paper: str = ""
    year: Optional[int] = None
    url: str = ""
    summary: str = ""
    config: Optional[Dict[str, Any]] = None  # a combination's config
    # the run
    budget: str = ""
    scale: str = ""
    settings: Dict[str, Any] = field(default_factory=dict)
    env: Dict[str, Any] = field(default_factory=dict)
    eval_split: str = "test"
    num_classes: int = 0
    chance: Optional[float] = None  # the score of a uniform guess (multi-class)
    group_docs: Dict[str, str] = field(default_factory=dict)  # the dataset's class groups
    input: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    width: float = 1.0
    lr: Optional[float] = None  # the learning rate it trained at
    params: int = 0
    gflops: Optional[float] = None
    steps: int = 0
    time_limit: Optional[float] = None  # seconds it could train (the deadline may shorten it)
    stopped: str = ""  # what ended training: fit | steps | time
    fit_step: Optional[int] = None  # the step at which it fitted the training set
    train_s: Optional[float] = None
    final_loss: Optional[float] = None
    train_clips_per_s: Optional[float] = None
    data_wait_frac: Optional[float] = None
    # scores
    metric: str = "top1"  # top1 | map
    test_clips: int = 0
    train_overlap: int = 0  # test clips that are training clips too (a folder without splits)
    top1: Optional[float] = None
    top1_ci: Optional[Interval] = None
    top5: Optional[float] = None
    map: Optional[float] = None
    groups: Dict[str, float] = field(default_factory=dict)  # top-1 per class group
    group_ci: Dict[str, Interval] = field(default_factory=dict)
    arrow: Optional[float] = None  # share of motion clips whose reversal flips to the pair
    unchanged_reversed: Optional[float] = None  # share whose prediction reversal leaves as is
    arrow_clips: int = 0
    shuffled: Optional[float] = None  # the score with every clip's frames shuffled
    order_change: Optional[float] = None  # largest relative logit change, RGB frames permuted
    order_clips: int = 0
    temporal_reliance: Optional[float] = None  # score - shuffled
    skipped_loads: int = 0
    # speed at the benchmark's scale
    clips_per_s: Optional[float] = None
    clips_per_s_b1: Optional[float] = None
    latency_p50_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None
    peak_mem_mb: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> Tuple[str, str, str]:
        """What the store keeps one row of."""
        return (self.preset, self.dataset, self.profile)

    @property
    def score(self) -> Optional[float]:
        """The figure the row is ranked by: top-1, or mAP on a multi-label dataset."""
        return getattr(self, self.metric)

    @property
    def score_ci(self) -> Optional[Interval]:
        return self.top1_ci if self.metric == "top1" else None

    @property
    def note(self) -> str:
        """What the figures say plainly about the row (`finding`), and how many unreadable
        clips its training and scoring skipped."""
        skipped = (f"{self.skipped_loads} unreadable clip{'s' if self.skipped_loads > 1 else ''} "
                   f"skipped (the run's log names them)" if self.skipped_loads else "")
        return "; ".join(filter(None, (self.finding, skipped)))

    @property
    def finding(self) -> str:
        """Scored on clips it trained on (the held-out split is not held out), the score says
        nothing about generalisation; a model whose interval reaches down to chance learned
        nothing in the budget (its figures say nothing about the architecture); one whose
        logits stay as they are when its RGB frames are permuted is blind to frame order by
        design (TSN's consensus, a single-frame model); one that learned the task (its
        interval above twice chance) but whose predictions almost never flip when the motion
        clips play backwards does not read the arrow of time."""
        if self.train_overlap:
            return overlap_note(self)
        known = self.score_ci is not None and self.chance is not None
        if known and self.score_ci[0] <= self.chance and not self.same_as:
            return (f"learned nothing in this budget: its top-1 interval reaches chance "
                    f"({self.chance:.3f}) after {self.steps} steps; the row says nothing about "
                    f"the architecture")
        if self.same_as:
            return (f"the same network as `{self.same_as}` at the benchmark's input and width: "
                    f"measured once, not trained twice")
        if self.order_change is not None and self.order_change < ORDER_BLIND:
            arrow = "" if self.arrow is None else f"; arrow of time {self.arrow:.0%}"
            return (f"blind to frame order by design: permuting the frames of {self.order_clips} "
                    f"test clips changes no logit (by under {ORDER_BLIND:g} of the largest)"
                    f"{arrow}")
        learned = known and self.score_ci[0] > 2 * self.chance
        if learned and self.arrow is not None and self.arrow < 0.05:
            return (f"reads no arrow of time here: {self.arrow:.0%} of the {self.arrow_clips} "
                    f"motion clips played backwards flip to the reversed class")
        if self.kind == "stream":
            return f"one stream of `{self.of}`, scored alone"
        return ""

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BenchRow":
        """A row from its JSON; fields a newer or older zoo wrote are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        row = cls(**{k: v for k, v in data.items() if k in known})
        for name in ("top1_ci",):
            if getattr(row, name) is not None:
                setattr(row, name, tuple(getattr(row, name)))
        row.group_ci = {k: tuple(v) for k, v in row.group_ci.items()}
        return row


def overlap_note(row: BenchRow) -> str:
    """The warning of a row whose held-out clips are training clips too."""
    return (f"not held out: {row.train_overlap} of its {row.eval_split} clips are training "
            f"clips too (a folder without train/ and test/ subfolders gives every "
            f"split the same videos), so the score is training accuracy")


@dataclass(frozen=True)
class Column:
    """One leaderboard column: its `label`, how a row's value is read (`get`), formatted
    (`digits`, or `percent`) and explained (`doc`, one sentence for the page's legend);
    `markdown=False` keeps it to the CSV file."""

    key: str
    label: str
    get: Callable[[BenchRow], Any]
    doc: str = ""
    digits: Optional[int] = None
    percent: bool = False
    markdown: bool = True
    text: bool = False  # left-aligned, not numeric

    def cell(self, row: BenchRow) -> str:
        value = self.get(row)
        if value is None or value == "":
            return ""
        if self.percent:
            return f"{100 * value:.0f}%"
        if self.digits is not None:
            return f"{value:.{self.digits}f}"
        return str(value)


def _attr(name: str) -> Callable[[BenchRow], Any]:
    return lambda row: getattr(row, name)


def _interval(ci: Optional[Interval]) -> str:
    return "" if not ci else f"{ci[0]:.2f}–{ci[1]:.2f}"


def format_input(inputs: Dict[str, Dict[str, Any]]) -> str:
    """``rgb 8x32² + flow 8x32² (2 ch)``: each stream's frames, size and non-RGB channels."""
    parts = []
    for name, s in inputs.items():
        channels = f" ({s['channels']} ch)" if s["channels"] != 3 else ""
        parts.append(f"{name} {s['frames']}x{s['size']}²{channels}")
    return " + ".join(parts)


METRIC_LABELS = {"top1": "top-1", "map": "mAP"}

COLUMNS: List[Column] = [
    Column("score", "score", lambda r: r.score, digits=3,
           doc="top-1 on the held-out split (mAP on a multi-label dataset)"),
    Column("score_ci", "95% CI", lambda r: _interval(r.score_ci), text=True,
           doc="the score's 95% Wilson interval over the test clips"),
    # the class groups' columns go here (group_columns)
    Column("top5", "top-5", _attr("top5"), digits=3,
           doc="the label among the five best-scored classes"),
    Column("arrow", "arrow of time", _attr("arrow"), digits=3,
           doc="each motion-class test clip played backwards (its optical flow in reverse "
               "order with the displacements negated): the share whose prediction moves to the "
               "class of the reversed motion (0 for a model blind to frame order, 1 for one that reads it)"),
    Column("temporal_reliance", "Δ shuffled", _attr("temporal_reliance"), digits=3,
           doc="the score minus the score with the frames of every test clip shuffled (one "
               "seeded permutation per clip; flow computed on the shuffled video)"),
    Column("scale", "trained at", lambda r: f"{r.scale}" if r.kind != "stream" else "",
           text=True, doc="channel width relative to the paper's network, batch norm where "
                          "the benchmark added it, the preset's own build overrides, learning "
                          "rate and time limit (and where the run's deadline shortened the "
                          "limit, by how much), and input frames x size (a preset that "
                          "takes no width runs at its own)"),
    Column("params", "params (M)", lambda r: r.params / 1e6 if r.params else None, digits=3,
           doc="parameters at the benchmark's scale"),
    Column("gflops", "GFLOPs", _attr("gflops"), digits=4,
           doc="GFLOPs per clip at the benchmark's scale, by fvcore (a multiply-add counts once)"),
    Column("steps", "steps", lambda r: r.steps or None, doc="optimisation steps trained"),
    Column("stopped", "ended by", lambda r: r.stopped if r.kind != "stream" else "", text=True,
           doc="what started the learning rate's cool-down: *fit* (every class's running "
               "training top-1 reached the profile's threshold), *steps* or *time* (the "
               "budget's limits)"),
    Column("train_clips_per_s", "train clips/s", _attr("train_clips_per_s"), digits=1,
           doc="training throughput during the budget"),
    Column("data_wait_frac", "data wait", _attr("data_wait_frac"), percent=True,
           doc="the share of training time spent waiting for the next batch"),
    Column("clips_per_s", "clips/s", _attr("clips_per_s"), digits=1,
           doc="inference throughput of a bare loop at the benchmark batch"),
    Column("clips_per_s_b1", "clips/s b1", _attr("clips_per_s_b1"), digits=1,
           doc="inference throughput at batch 1"),
    Column("latency_p50_ms", "p50 ms", _attr("latency_p50_ms"), digits=1,
           doc="median latency of a batch-1 call"),
    Column("latency_p95_ms", "p95 ms", _attr("latency_p95_ms"), digits=1,
           doc="95th-percentile latency of a batch-1 call"),
    Column("peak_mem_mb", "peak MiB", _attr("peak_mem_mb"), digits=0,
           doc="peak resident memory during the preset above that at its start (CUDA: max "
               "allocated)"),
    Column("note", "note", lambda r: r.note, text=True, doc=""),
    # CSV only
    Column("top1", "top1", _attr("top1"), digits=4, markdown=False),
    Column("map", "map", _attr("map"), digits=4, markdown=False),
    Column("test_clips", "test_clips", _attr("test_clips"), markdown=False),
    Column("unchanged_reversed", "unchanged_reversed", _attr("unchanged_reversed"), digits=4,
           markdown=False),
    Column("arrow_clips", "arrow_clips", _attr("arrow_clips"), markdown=False),
    Column("shuffled", "shuffled", _attr("shuffled"), digits=4, markdown=False),
    Column("order_change", "order_change", _attr("order_change"), digits=4, markdown=False),
    Column("order_clips", "order_clips", _attr("order_clips"), markdown=False),
    Column("width", "width", _attr("width"), markdown=False),
    Column("input", "input", lambda r: format_input(r.input) if r.input else "", markdown=False),
    Column("train_s", "train_s", _attr("train_s"), markdown=False),
    Column("final_loss", "final_loss", _attr("final_loss"), markdown=False),
    Column("skipped_loads", "skipped_loads", _attr("skipped_loads"), markdown=False),
    Column("profile", "profile", _attr("profile"), markdown=False),
    Column("kind", "kind", _attr("kind"), markdown=False),
    Column("reason", "reason", _attr("reason"), markdown=False),
]


def group_columns(groups: Sequence[str]) -> List[Column]:
    """A top-1 column per class group, with its interval in the CSV."""
    out = []
    for group in groups:
        out.append(Column(f"top1_{group}", group, lambda r, g=group: r.groups.get(g), digits=3))
        out.append(Column(f"top1_{group}_ci", f"top1_{group}_ci",
                          lambda r, g=group: _interval(r.group_ci.get(g)), markdown=False))
    return out


def columns_for(rows: Sequence[BenchRow]) -> List[Column]:
    """`COLUMNS` with the class groups of `rows` after the score's interval."""
    groups = sorted({g for r in rows for g in r.groups})
    return COLUMNS[:2] + group_columns(groups) + COLUMNS[2:]


def legend(columns: Sequence[Column]) -> List[str]:
    """One Markdown bullet per documented column shown in the table."""
    return [f"- {c.label}: {c.doc}." for c in columns if c.markdown and c.doc]


def metric_label(rows: Sequence[BenchRow]) -> str:
    metrics = {r.metric for r in rows if r.ok} or {"top1"}
    return " / ".join(METRIC_LABELS.get(m, m) for m in sorted(metrics))
