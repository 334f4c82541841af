"""3D convolutions computed another way (zoo.engine.fastconv): depthwise ones with forward
convolutions as gradients, temporal-only ones as 2D convolutions; the same outputs and gradients
as torch's own, and used by the training step where they apply."""
import pytest
import torch
from torch import nn

from zoo.engine.fastconv import (DepthwiseConv3dFunction, FastConv3d,
                                  has_fast_conv3d)
from zoo.engine.step import TrainStep

# (channels, input frames x height x width, kernel, stride, padding, bias, channels-last)
CASES = [
    (6, (8, 8, 8), (3, 3, 3), (1, 1, 1), (1, 1, 1), False, False),
    (6, (8, 8, 8), (3, 3, 3), (1, 2, 2), (1, 1, 1), True, True),  # X3D's strided block
    (5, (7, 9, 8), (3, 3, 3), (2, 2, 2), (1, 1, 1), True, False),  # windows that miss the end
    (4, (8, 5, 5), (5, 1, 1), (1, 1, 1), (2, 0, 0), False, True),  # X3D's temporal stem
    (4, (8, 6, 6), (3, 3, 3), (1, 2, 2), (0, 0, 0), False, False),
    (3, (4, 2, 2), (3, 3, 3), (1, 1, 1), (1, 1, 1), False, True),  # a map smaller than the kernel
    (3, (4, 4, 4), (3, 3, 3), (1, 4, 4), (1, 1, 1), True, False),  # MViT's pooled keys
]


def assert_fast_conv3d_equals_torchs(conv: nn.Conv3d, x: torch.Tensor, channels_last: bool,
                                     grad_fn: str) -> None:
    """`conv` on `x` under FastConv3d (its output made by `grad_fn`) gives torch's output and
    gradients."""
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last_3d)
        x = x.to(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    expected = conv(x)
    grad = torch.randn_like(expected)
    wanted = torch.autograd.grad(expected, [x, *conv.parameters()], grad)
    with FastConv3d():
        out = conv(x)
    assert out.grad_fn.name() == grad_fn
    got = torch.autograd.grad(out, [x, *conv.parameters()], grad)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    for a, b in zip(got, wanted):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("channels,size,kernel,stride,padding,bias,channels_last", CASES)
def test_gradients_equal_torchs(channels, size, kernel, stride, padding, bias, channels_last):
    torch.manual_seed(0)
    conv = nn.Conv3d(channels, channels, kernel, stride, padding, groups=channels,
                     bias=bias).double()
    x = torch.randn(3, channels, *size, dtype=torch.float64)
    assert_fast_conv3d_equals_torchs(conv, x, channels_last, "DepthwiseConv3dFunctionBackward")


# (in, out, kernel, stride, padding, dilation, groups, channels-last)
TEMPORAL = [
    (5, 3, (3, 1, 1), (1, 1, 1), (1, 0, 0), 1, 1, True),  # R(2+1)D's temporal convolution
    (4, 6, (3, 1, 1), (2, 1, 1), (1, 0, 0), 1, 2, False),  # strided in time, grouped
    (3, 4, (5, 1, 1), (1, 1, 1), (4, 0, 0), (2, 1, 1), 1, True),  # dilated in time
]


@pytest.mark.parametrize("cin,cout,kernel,stride,padding,dilation,groups,channels_last", TEMPORAL)
def test_temporal_convolutions_as_2d_equal_torchs(cin, cout, kernel, stride, padding, dilation,
                                                  groups, channels_last):
    torch.manual_seed(0)
    conv = nn.Conv3d(cin, cout, kernel, stride, padding, dilation, groups).double()
    x = torch.randn(2, cin, 7, 5, 6, dtype=torch.float64)
    # a 2D convolution's output, viewed as 3D
    assert_fast_conv3d_equals_torchs(conv, x, channels_last, "ViewBackward0")


@pytest.mark.parametrize("conv,why", [
    (nn.Conv3d(4, 8, 3, padding=1), "a dense convolution"),
    (nn.Conv3d(4, 8, 1), "pointwise"),
    (nn.Conv3d(4, 8, (3, 1, 1), stride=(1, 2, 2)), "temporal, strided in space"),
    (nn.Conv3d(4, 8, (3, 1, 1), padding=(1, 1, 1)), "temporal, padded in space"),
    (nn.Conv3d(4, 4, 3, padding=2, dilation=2, groups=4), "dilated"),
    (nn.Conv3d(4, 4, 3, padding="same", groups=4), "padding given by name"),
    (nn.Conv3d(4, 8, 3, padding=1, groups=4), "two filters a channel"),
])
def test_other_convolutions_keep_torchs_backward(conv, why):
    x = torch.randn(2, 4, 4, 6, 6, requires_grad=True)
    with FastConv3d():
        out = conv(x)
    assert out.grad_fn.name() == "ConvolutionBackward0", why


def test_nor_in_inference_or_under_autocast():
    conv = nn.Conv3d(4, 4, 3, padding=1, groups=4)
    x = torch.randn(2, 4, 4, 6, 6)
    with FastConv3d(), torch.no_grad():
        assert conv(x).grad_fn is None
    with FastConv3d(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).grad_fn.name() != "DepthwiseConv3dFunctionBackward"


class DepthwiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 2, 3, padding=1, groups=2)
        self.norm = nn.BatchNorm3d(2)
        self.fc = nn.Linear(2, 2)
        self.grad_fns = []

    def forward(self, inputs):
        out = self.conv(inputs["x"])
        self.grad_fns.append(out.grad_fn.name())
        return self.fc(self.norm(out).mean((2, 3, 4)))


def test_the_training_step_measures_each_convolution_and_keeps_the_model_as_it_was():
    torch.manual_seed(0)
    model = DepthwiseNet()
    assert has_fast_conv3d(model) and not has_fast_conv3d(nn.Conv3d(2, 4, 3))
    assert has_fast_conv3d(nn.Conv3d(2, 4, (3, 1, 1))) and not has_fast_conv3d(nn.Conv3d(2, 4, 1))
    twin = DepthwiseNet()
    twin.load_state_dict(model.state_dict())
    batch = ({"x": torch.randn(4, 2, 4, 5, 5)}, torch.tensor([0, 1, 0, 1]))
    measured = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu")
    assert measured.fastconv.measure and not measured.fastconv.faster
    state = torch.random.get_rng_state()
    measured(*batch)
    assert len(measured.fastconv.faster) == 1  # the depthwise convolution's shapes, timed
    chosen, = measured.fastconv.faster.values()
    assert model.grad_fns == [DepthwiseConv3dFunction.__name__ + "Backward" if chosen
                              else "ConvolutionBackward0"]
    assert torch.equal(torch.random.get_rng_state(), state)
    TrainStep(twin, torch.optim.SGD(twin.parameters(), lr=0.1), "cpu", fast_conv3d=False)(*batch)
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # one step each, from the same start


@pytest.mark.parametrize("faster", [True, False])
def test_a_measuring_mode_times_each_call_signature_once_and_takes_the_faster_way(
        monkeypatch, faster):
    from zoo.engine import fastconv

    timed = []
    monkeypatch.setattr(fastconv, "_another_way_is_faster",
                        lambda named: timed.append(named["input"].shape) or faster)
    conv = nn.Conv3d(3, 3, 3, padding=1, groups=3)
    mode = FastConv3d(measure=True)
    shapes = [(2, 3, 4, 6, 6), (2, 3, 4, 6, 6), (1, 3, 4, 6, 6)]
    with mode:
        grad_fns = [conv(torch.randn(*shape)).grad_fn.name() for shape in shapes]
    assert timed == [torch.Size(shapes[0]), torch.Size(shapes[2])]  # once per signature
    assert list(mode.faster.values()) == [faster, faster]
    assert set(grad_fns) == {DepthwiseConv3dFunction.__name__ + "Backward" if faster
                             else "ConvolutionBackward0"}


def test_timing_both_ways_of_a_call_leaves_its_tensors_alone():
    from zoo.engine.fastconv import _another_way_is_faster, conv3d_arguments

    x = torch.randn(2, 3, 4, 6, 6, requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, 3, requires_grad=True)
    assert _another_way_is_faster(conv3d_arguments((x, weight), {"padding": 1, "groups": 3})) \
        in (True, False)
    assert x.grad is None and weight.grad is None


@pytest.mark.parametrize("fast", [True, False])
def test_the_training_step_takes_the_gradients_it_is_told(fast):
    model = DepthwiseNet()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu",
                     fast_conv3d=fast)
    step({"x": torch.randn(2, 2, 4, 5, 5)}, torch.tensor([0, 1]))
    assert model.grad_fns == [DepthwiseConv3dFunction.__name__ + "Backward" if fast
                              else "ConvolutionBackward0"]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert TrainStep(nn.Linear(2, 2), step.optimizer, "cpu").fastconv is None
