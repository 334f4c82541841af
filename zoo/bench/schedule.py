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
from typing import Dict, List, Optional, Sequence, Tuple

FLOOR = 0.5  # the shortest limit a job gets, as a share of its own
PACE_JOBS = 3  # jobs that finish before the pace is known: until then no limit is shortened


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


def shortening_note(limits: Sequence[Tuple[float, float]], time_scale: float) -> str:
    """What to tell the user at the end of a run in which the deadline shortened jobs' limits
    (``(limit given, own limit)`` of each job): how many and how far, and the `--time-scale`
    that gives every job its whole limit on this machine; "" when none was shortened."""
    shares = [given / own for given, own in limits if own and given < own * 0.999]
    if not shares:
        return ""
    low, high = min(shares), max(shares)
    scale = math.ceil(2 * time_scale / low) / 2
    # at the floor, the shortening the run wanted is unknown: the scale is a lower bound
    bound = " or more" if low <= FLOOR + 0.005 else ""
    return (f"the deadline shortened the time limits of {len(shares)} jobs to "
            f"{low:.2f}-{high:.2f} of their own (their rows say so): this machine trains slower "
            f"than the one the limits were set for, so those rows show less than the profile's "
            f"budget; --time-scale {scale:g}{bound} multiplies every limit and the deadline and "
            f"gives each job its whole limit here")
