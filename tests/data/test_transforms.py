import pytest
import torch

from zoo.data.transforms import (center_crop, crop, hflip, normalize, resize_short_side,
                                 spatial_views, three_crops)
from zoo.specs import InputSpec


def ramp(c=3, t=2, h=6, w=10):
    return torch.arange(w, dtype=torch.float32).expand(c, t, h, w).clone()


def test_resize_short_side_keeps_aspect_ratio():
    out = resize_short_side(torch.zeros(3, 2, 240, 320, dtype=torch.uint8), 120)
    assert out.shape == (3, 2, 120, 160) and out.dtype == torch.float32
    assert resize_short_side(torch.ones(3, 1, 50, 40), 80).shape == (3, 1, 100, 80)


def test_crops_take_the_right_pixels():
    clip = ramp()
    assert crop(clip, 4, (0.0, 0.0))[0, 0, 0].tolist() == [0, 1, 2, 3]
    assert center_crop(clip, 4)[0, 0, 0].tolist() == [3, 4, 5, 6]
    lefts = [c[0, 0, 0, 0].item() for c in three_crops(clip, 6)]
    assert lefts == [0, 2, 4]
    with pytest.raises(ValueError, match="resize first"):
        crop(clip, 7)


def test_flip_negates_horizontal_flow():
    flow = torch.full((4, 1, 2, 3), 0.5)
    flow[0] = 0.8  # dx to the right
    flow[1] = 0.3  # dy
    flipped = hflip(flow, flow=True)
    assert torch.allclose(flipped[0], torch.full((1, 2, 3), 0.2))
    assert torch.allclose(flipped[1], flow[1]) and torch.allclose(flipped[2:], flow[2:])
    rgb = ramp()
    assert torch.equal(hflip(rgb), rgb.flip(-1))
    quantised = (flow * 255).round().to(torch.uint8)  # as the dataset keeps flow before normalising
    assert hflip(quantised, flow=True)[0].flip(-1).tolist() == (255 - quantised[0]).tolist()


def test_normalize_uses_the_spec():
    spec = InputSpec(size=4)
    clip = torch.ones(3, 2, 4, 4)
    out = normalize(clip, spec.mean, spec.std)
    assert out[:, 0, 0, 0].tolist() == pytest.approx(
        [(1 - m) / s for m, s in zip(spec.mean, spec.std)])
    flow = InputSpec(modality="flow", size=4, flow_stack=2)
    assert normalize(torch.full((4, 1, 4, 4), 0.5), flow.mean, flow.std).abs().max() < 1e-6


def test_normalize_reads_uint8_clips_as_pixels_over_255_and_returns_contiguous_float():
    spec = InputSpec(size=4)
    pixels = torch.randint(0, 256, (2, 4, 6, 3), dtype=torch.uint8).permute(3, 0, 1, 2)  # [C,T,H,W]
    before = pixels.clone()
    out = normalize(pixels, spec.mean, spec.std)
    assert out.dtype == torch.float32 and out.is_contiguous()
    assert torch.allclose(out, normalize(pixels.float() / 255, spec.mean, spec.std), atol=1e-5)
    assert torch.equal(pixels, before)  # normalised into a new tensor


def test_spatial_views_train_and_test():
    spec = InputSpec(size=4)
    clip = torch.rand(3, 2, 6, 8)
    assert len(spatial_views(clip, spec, train=True)) == 1
    views = spatial_views(clip, spec, train=False, crops=3)
    assert len(views) == 3 and all(v.shape == (3, 2, 4, 4) for v in views)
    flipped = spatial_views(clip, spec, train=True, position=(0.5, 0.5), flip=True)[0]
    assert torch.allclose(flipped, spatial_views(clip, spec, False)[0].flip(-1))
