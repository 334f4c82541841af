import pytest
import torch
from hypothesis import given, settings, strategies as st

from zoo.data.sampling import (clip_length, dense_indices, multiview_indices, pad_indices,
                               sample_indices, segment_indices, slowfast_indices,
                               uniform_indices)


def test_uniform_spreads_over_the_whole_video():
    assert uniform_indices(100, 4) == [12, 37, 62, 87]
    assert uniform_indices(3, 6) == [0, 0, 1, 1, 2, 2]


def test_uniform_with_span_gives_consecutive_frames_per_step():
    indices = uniform_indices(50, 3, span=3)
    steps = [indices[i:i + 3] for i in range(0, 9, 3)]
    assert all(s[1] == s[0] + 1 and s[2] == s[0] + 2 for s in steps)
    assert max(indices) < 50


def test_dense_test_clip_is_centred_and_train_clip_random():
    assert dense_indices(100, 4, 2, train=False) == [46, 48, 50, 52]
    starts = {dense_indices(100, 4, 2, train=True)[0] for _ in range(50)}
    assert len(starts) > 10 and min(starts) >= 0 and max(starts) <= 100 - 7


def test_segments_take_one_frame_per_segment():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        indices = segment_indices(80, 8, train=True, generator=generator)
        assert [i // 10 for i in indices] == list(range(8))
    assert segment_indices(80, 8, train=False) == uniform_indices(80, 8)


def test_slowfast_reads_one_window_at_two_rates():
    slow, fast = slowfast_indices(200, 32, alpha=4, stride=2, train=False)
    assert len(fast) == 32 and len(slow) == 8
    assert slow == fast[::4] and all(b - a == 2 for a, b in zip(fast, fast[1:]))
    with pytest.raises(ValueError, match="multiple of alpha"):
        slowfast_indices(200, 30, alpha=4, stride=2, train=False)


def test_multiview_clips_cover_the_video():
    views = multiview_indices("dense", 100, 8, 1, views=3)
    starts = [v[0] for v in views]
    assert starts == sorted(starts) and starts[0] < 30 and starts[-1] > 60
    uniform = multiview_indices("uniform", 100, 4, 1, views=2)
    assert uniform[0] != uniform[1] and all(len(v) == 4 for v in uniform)


def test_short_videos_are_padded_by_repeating_or_looping():
    assert dense_indices(5, 4, 2, train=False) == [0, 2, 4, 4]
    assert dense_indices(5, 4, 2, train=False, pad="loop") == [0, 2, 4, 1]
    assert pad_indices([3, 4, 5, 6], 5) == [3, 4, 4, 4]
    assert clip_length("dense", 4, 2) == 7 and clip_length("uniform", 4, 1, span=2) == 8


@settings(max_examples=200, deadline=None)
@given(num_frames=st.integers(1, 400), frames=st.integers(1, 16), stride=st.integers(1, 4),
       span=st.integers(1, 4), train=st.booleans(), pad=st.sampled_from(["repeat", "loop"]),
       sampling=st.sampled_from(["uniform", "dense", "segments"]))
def test_indices_always_fit_the_video(num_frames, frames, stride, span, train, pad, sampling):
    indices = sample_indices(sampling, num_frames, frames, stride, train, span, pad=pad)
    assert len(indices) == frames * span
    assert all(0 <= i < num_frames for i in indices)
    if num_frames >= clip_length(sampling, frames, stride, span):  # no padding: steps advance
        steps = indices[::span]
        assert steps == sorted(steps)
        assert all(indices[k * span + j] == steps[k] + j for k in range(frames) for j in range(span))


def test_dense_start_fraction_places_the_clip():
    assert dense_indices(20, 4, 2, train=True, start=0.0) == [0, 2, 4, 6]
    assert dense_indices(20, 4, 2, train=True, start=1.0) == [13, 15, 17, 19]
    assert dense_indices(20, 4, 2, train=True, start=0.5)[0] == 7
