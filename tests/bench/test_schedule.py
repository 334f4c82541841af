"""The deadline: each job's time limit as it starts (zoo.bench.schedule), on a fake clock."""
from __future__ import annotations

import pytest

from zoo.bench.cli import parser, profile_from_args
from zoo.bench.run import describe_scale
from zoo.bench.schedule import FLOOR, PACE_JOBS, SLOWER, Deadline, end_note, slowdowns


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_one_lane(deadline: Deadline, clock: Clock, jobs, trained_share=1.0, overhead=5.0):
    """Run `jobs` one after the other, each training `trained_share` of the limit it gets:
    {label: limit}."""
    limits = {}
    for label in jobs:
        limits[label] = limit = deadline.start(label)
        clock.now += trained_share * limit + overhead
        deadline.finish(label, trained_share * limit)
    return limits


def test_every_job_keeps_its_own_limit_without_a_deadline_or_while_the_run_keeps_pace():
    own = {f"job{i}": 30.0 for i in range(8)}
    for seconds in (0, 1000):
        clock = Clock()
        limits = run_one_lane(Deadline(seconds, 1, own, clock=clock), clock, own)
        assert limits == own
        assert clock.now == pytest.approx(8 * 35)


def test_a_run_behind_its_deadline_shortens_the_limits_of_the_jobs_still_to_start_evenly():
    own = {f"job{i}": 30.0 for i in range(10)}
    clock = Clock()
    limits = run_one_lane(Deadline(300, 1, own, clock=clock), clock, own)
    order = list(own)
    assert all(limits[label] == 30 for label in order[:PACE_JOBS])  # the pace is not known yet
    later = [limits[label] for label in order[PACE_JOBS:]]
    assert all(FLOOR * 30 <= limit < 30 for limit in later)
    assert max(later) - min(later) < 1  # evenly, not the last ones alone
    assert clock.now == pytest.approx(300, abs=10)  # 350 s at the jobs' own limits


def test_no_limit_is_shortened_below_the_floor_and_jobs_that_fit_early_count_as_such():
    own = {f"job{i}": 60.0 for i in range(6)}
    clock = Clock()
    limits = run_one_lane(Deadline(60, 1, own, clock=clock), clock, own)
    assert min(limits.values()) == pytest.approx(FLOOR * 60)
    # jobs that end at a fifth of their limit (they fit the training set) leave room for the rest
    clock = Clock()
    limits = run_one_lane(Deadline(150, 1, own, clock=clock), clock, own, trained_share=0.2)
    assert set(limits.values()) == {60.0}


def test_two_lanes_share_the_time_left():
    own = {f"job{i}": 100.0 for i in range(8)}
    clock = Clock()
    deadline = Deadline(400, 2, own, clock=clock)
    for pair in (("job0", "job1"), ("job2", "job3")):
        assert [deadline.start(label) for label in pair] == [100, 100]
        clock.now += 105
        for label in pair:
            deadline.finish(label, 100)
    # 4 jobs of 100 s (and 5 s each outside training) to run in 2 x 190 s: 90 s each
    assert deadline.start("job4") == pytest.approx(90)


def test_a_shortened_limit_is_stated_on_the_row():
    text = describe_scale({"width": 0.125}, "rgb 8x32²", seconds=42, own_seconds=60)
    assert "42 s limit (its 60 s shortened for the deadline)" in text
    assert describe_scale({"width": 0.125}, "rgb 8x32²", seconds=60, own_seconds=60) == (
        "width 1/8, 60 s limit, rgb 8x32²")


def test_the_time_scale_multiplies_every_limit_and_the_deadline():
    plain = profile_from_args(parser().parse_args([]))
    scaled = profile_from_args(parser().parse_args(["--time-scale", "2"]))
    for preset in ("mvit_b", "tsm"):  # one with a limit of its own, one on the profile's
        assert scaled.seconds_for(preset) == pytest.approx(2 * plain.seconds_for(preset))
    assert scaled.run_deadline == pytest.approx(2 * plain.deadline)
    assert "each limit times 2" in scaled.describe()
    assert "time_scale=2.0" in scaled.key  # stored apart from the default profile's rows
    no_limits = profile_from_args(parser().parse_args(["--seconds", "0", "--time-scale", "2"]))
    assert no_limits.seconds_for("mvit_b") == 0


def test_a_run_whose_deadline_shortened_limits_ends_with_the_time_scale_that_avoids_it():
    assert end_note([(30.0, 30.0), (60.0, 60.0)], 1.0) == ""
    note = end_note([(30.0, 30.0), (42.0, 60.0), (16.5, 30.0)], 1.0)
    assert "2 jobs" in note and "0.55-0.70" in note
    assert "--time-scale 2 " in note  # 1 / 0.55, rounded up to a half
    # already scaled: the suggestion is relative to the profile's own limits
    assert "--time-scale 2.5 " in end_note([(72.0, 120.0)], 1.5)  # 1.5 / 0.6
    # a limit cut to the floor: the run wanted more than the floor gave
    assert "--time-scale 3 or more " in end_note([(FLOOR * 120.0, 120.0)], 1.5)


def test_presets_that_trained_slower_than_for_the_stored_results_end_with_the_scale_that_undoes_it():
    reference = {"a": 10.0, "b": 4.0, "c": 6.0, "d": 5.0}
    slower = slowdowns(reference, {"a": 4.0, "b": 2.0, "c": 6.0, "e": 3.0})
    assert slower == {"a": 2.5, "b": 2.0, "c": 1.0}  # "e" has no stored row, "d" did not run
    note = end_note([(30.0, 30.0)], 1.0, slower, "AMD EPYC, AVX-512")
    assert "2 presets trained 2.0-2.5x slower" in note and "replaced, measured on AMD EPYC, AVX-512," in note
    assert "--time-scale 2.5 " in note and "the steps that machine gives it" in note
    # a run already scaled that far, or within the noise of one machine: nothing to say
    assert "1 presets trained 2.5x" in end_note([], 2.0, slower)
    assert end_note([], 2.5, slower) == ""
    assert end_note([], 1.0, {"a": SLOWER - 0.05}) == ""
    # both causes: one scale for both, the larger
    both = end_note([(24.0, 40.0)], 1.0, {"a": 2.5})
    assert "shortened the time limits of 1 jobs" in both and "1 presets trained 2.5x" in both
    assert "--time-scale 2.5 " in both  # the pace's 2.5 over the deadline's 1 / 0.6
    # the pace as told, to a tenth; a limit cut to the floor is explained by a slower pace
    floor = end_note([(FLOOR * 40.0, 40.0)], 1.0, {"a": 3.04, "b": 2.2})
    assert "2 presets trained 2.2-3.0x" in floor and "--time-scale 3 multiplies" in floor
    assert "--time-scale 2 or more " in end_note([(FLOOR * 40.0, 40.0)], 1.0, {"a": 1.3})
