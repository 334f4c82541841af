import numpy as np
import pytest
import torch

from zoo.data.flow import (FLOW_METHODS, FlowComputer, FlowOptions, dequantize_flow,
                           flow_method_available, make_flow_fn, quantize_flow, rgb_difference,
                           subtract_camera_motion, to_gray)

from .conftest import moving_square


def test_quantisation_maps_minus20_to_0_zero_to_128_plus20_to_255():
    flow = np.array([[[-20.0, 0.0], [20.0, 35.0]]], dtype=np.float32)
    q = quantize_flow(flow)
    assert q.dtype == np.uint8 and q.tolist() == [[[0, 128], [255, 255]]]
    values = np.linspace(-20, 20, 101, dtype=np.float32).reshape(1, -1, 1)
    assert np.abs(dequantize_flow(quantize_flow(values)) - values).max() <= 20 / 255 + 1e-4  # half a step


def test_camera_motion_subtraction_removes_the_mean():
    flow = np.random.default_rng(0).normal(3.0, 1.0, (8, 8, 2)).astype(np.float32)
    assert np.abs(subtract_camera_motion(flow).reshape(-1, 2).mean(0)).max() < 1e-5


@pytest.mark.parametrize("method", ["dis", "farneback", "tvl1"])
def test_flow_methods_see_the_square_move_right(method):
    if not flow_method_available(method):
        pytest.skip(f"{method} is not in this OpenCV build")
    video = moving_square(frames=2, step=2)
    flow = make_flow_fn(method)(to_gray(video[0]), to_gray(video[1]))
    inside = flow[18:30, 8:18]
    assert inside[..., 0].mean() == pytest.approx(2.0, abs=0.7)
    assert abs(inside[..., 1].mean()) < 0.5


def test_cache_is_used_on_the_second_pass(tmp_path, tiny_video):
    frames = {i: f for i, f in enumerate(moving_square(frames=4))}
    options = FlowOptions("farneback", cache_dir=str(tmp_path / "cache"))
    first = FlowComputer(options)
    pairs = {0: 1, 1: 2, 2: 3}
    assert first.from_cache(tiny_video, (48, 64), pairs) is None
    fields = first.pairs(tiny_video, frames, pairs)
    assert (first.computed, first.cached) == (3, 0)
    second = FlowComputer(options)
    again = second.pairs(tiny_video, frames, pairs)
    assert (second.computed, second.cached) == (0, 3)
    assert all(np.array_equal(fields[i], again[i]) for i in fields)
    cached = second.from_cache(tiny_video, (48, 64), pairs)
    assert all(np.array_equal(fields[i], cached[i]) for i in fields)
    assert second.from_cache(tiny_video, (48, 64), {3: 4}) is None
    other = FlowComputer(FlowOptions("farneback", bound=10.0, cache_dir=str(tmp_path / "cache")))
    assert other.cache_folder(tiny_video, (48, 64)) != second.cache_folder(tiny_video, (48, 64))


def test_flow_options_validate():
    assert set(FLOW_METHODS) == {"tvl1", "dis", "farneback"}
    with pytest.raises(ValueError, match="not one of"):
        FlowOptions("lucas")


def test_rgb_difference_is_centred():
    a, b = torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    assert torch.allclose(rgb_difference(a, a), torch.full_like(a, 0.5))
    assert torch.allclose(rgb_difference(a, b) * 2 - 1, b - a, atol=1e-6)


def test_flow_options_may_be_given_as_a_dict(tmp_path):
    """A run config's ``dataset: {flow: {method: dis, cache_dir: ...}}`` arrives as a dict."""
    from zoo.data import VideoClipDataset
    from zoo.specs import InputSpec
    ds = VideoClipDataset([], ["a"], {"flow": InputSpec(modality="flow", frames=1, size=32)},
                          flow={"method": "dis", "cache_dir": str(tmp_path)})
    assert ds.flow.options == FlowOptions("dis", cache_dir=str(tmp_path))
