"""The time limit each job gets as it starts, so that a run ends by its deadline.

A preset's own time limit (the profile's) is what it gets while the run keeps pace. Once
`PACE_JOBS` jobs have finished, when the jobs still to start could not end by the deadline at the
pace of those that finished (the share of its limit a job trained, and the seconds it spent
outside training), every job started from then on gets its limit shortened by the same factor,
down to `FLOOR` of it: a slower machine trains the last presets shorter instead of running past
the deadline, and their rows say so."""
from __future__ import annotations

import math
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

FLOOR = 0.5  # the shortest limit a job gets, as a share of its own
PACE_JOBS = 3  # jobs that finish before the pace is known: until then no limit is shortened
# a preset this many times slower than in the stored results it replaces is told of: below it,
# the steps a second of two runs on one machine differ with the job running beside it
SLOWER = 1.25


class Deadline:
    """Hands out time limits: `start(label)` as a job starts, `finish(label, ...)` as it ends.

    `limits` maps each job of the run to its own time limit (seconds; 0: none), `lanes` jobs
    run at a time and `seconds` (0: no deadline) counts from `origin` (a `clock` reading;
    default: now)."""

    def __init__(self, seconds: float, lanes: int, limits: Dict[str, float],
                 origin: Optional[float] = None, clock=time.perf_counter):
        self.seconds, self.lanes, self.clock = seconds, max(1, lanes), clock
        self.origin = clock() if origin is None else origin
        self.waiting = dict(limits)
        self.running: Dict[str, Tuple[float, float]] = {}  # label -> (start, limit)
        self.trained = self.granted = 0.0  # training seconds of finished jobs, their limits
        self.overheads: List[float] = []

    def start(self, label: str) -> float:
        """The time limit of the job `label`, starting now."""
        own = self.waiting.pop(label)
        limit = own * self._factor(own)
        self.running[label] = (self.clock(), limit)
        return limit

    def finish(self, label: str, train_s: Optional[float]) -> None:
        """Job `label` ended, having trained `train_s` seconds (None: it did not train, as a
        failed job or one whose network another job of the run trains)."""
        started, limit = self.running.pop(label)
        if train_s is None:
            return
        self.trained += train_s
        self.granted += limit
        self.overheads.append(max(0.0, self.clock() - started - train_s))

    def _factor(self, own: float) -> float:
        if not self.seconds or len(self.overheads) < PACE_JOBS:
            return 1.0
        now = self.clock()
        share = min(1.0, self.trained / self.granted)
        overhead = sum(self.overheads) / len(self.overheads)
        busy = sum(max(0.0, started + share * limit + overhead - now)
                   for started, limit in self.running.values())
        room = self.lanes * (self.origin + self.seconds - now) - busy
        queued = [own, *self.waiting.values()]
        need = share * sum(queued)
        if need <= 0:
            return 1.0
        return min(1.0, max(FLOOR, (room - overhead * len(queued)) / need))


def slowdowns(reference: Mapping[str, float], paces: Mapping[str, float]) -> Dict[str, float]:
    """How many times slower than in `reference` (preset -> steps a second of a stored row) each
    preset of `paces` (preset -> steps a second in this run) trained."""
    return {preset: reference[preset] / pace for preset, pace in paces.items()
            if reference.get(preset, 0) > 0 and pace > 0}


def end_note(limits: Sequence[Tuple[float, float]], time_scale: float,
             slower: Optional[Mapping[str, float]] = None, where: str = "") -> str:
    """What to tell the user at the end of a run that trained less than the profile's budget
    gives on the machine its limits were set for; "" when it did not.

    Two causes are told: the deadline shortened jobs' limits (`limits`: ``(limit given, own
    limit)`` of each job), and presets trained slower than when the stored results they
    replace were measured (`slower`, from `slowdowns`; on the machine `where`), so that the
    same limits gave them fewer steps. The note ends with the `--time-scale` that undoes both:
    every job its whole limit here, and at least the steps that machine gives it with the
    profile's own limits (the stored results taken as made there)."""
    causes, for_deadline, for_pace = [], time_scale, 0.0
    shares = [given / own for given, own in limits if own and given < own * 0.999]
    if shares:
        low, high = min(shares), max(shares)
        causes.append(f"the deadline shortened the time limits of {len(shares)} jobs to "
                      f"{_span(low, high, '.2f')} of their own (their rows say so)")
        for_deadline = time_scale / low
    # a time scale of r gives a preset r times slower here the steps the profile's own limits
    # give it there (r to a tenth, as told: the pace of one machine varies more than that)
    behind = [round(r, 1) for r in (slower or {}).values() if r >= SLOWER and r > time_scale]
    if behind:
        causes.append(f"{len(behind)} presets trained {_span(min(behind), max(behind), '.1f')}x "
                      f"slower than for the stored results this run replaced"
                      f"{f', measured on {where}' if where else ''}, so the same limits gave "
                      f"them fewer steps")
        for_pace = max(behind)
    if not causes:
        return ""
    scale = math.ceil(2 * max(for_deadline, for_pace) - 1e-9) / 2
    # a limit cut to the floor: the shortening the run wanted is unknown, unless the slower
    # pace, which a scale undoes with the deadline's cuts, asks for more
    bound = " or more" if shares and low <= FLOOR + 0.005 and for_deadline > for_pace else ""
    return (f"{'; '.join(causes)}: this machine trains slower than the one the limits were set "
            f"for, so those rows show less than the profile's budget; --time-scale "
            f"{scale:g}{bound} multiplies every limit and the deadline, giving each job its whole "
            f"limit here" + (" and at least the steps that machine gives it with the profile's own "
                           "limits" if behind else ""))


def _span(low: float, high: float, spec: str) -> str:
    return format(low, spec) if format(low, spec) == format(high, spec) else \
        f"{low:{spec}}-{high:{spec}}"
