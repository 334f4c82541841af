"""A small factorised (2+1)D backbone (a spatial 1x3x3 then a temporal 3x1x1 convolution per
block, after Qiu et al. 2017 / Tran et al. 2018) and a preset built on it.

A plugin module imports torch and zoo only; zoo imports it when one of its components is needed.
"""
from torch import nn

from zoo import CLIP, FeatureSpec, InputSpec, ModelMeta, register_backbone, register_preset


def _factorised_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
    )


class TinyP3D(nn.Module):
    """Three factorised blocks, each halving time and space."""

    def __init__(self, in_channels: int = 3, widths=(16, 32, 64)):
        super().__init__()
        chans = (in_channels, *widths)
        self.blocks = nn.Sequential(*[_factorised_block(a, b, 2) for a, b in zip(chans, chans[1:])])
        self.out_channels = widths[-1]

    def forward(self, x):
        return self.blocks(x)

    def feature_spec(self, spec: InputSpec) -> FeatureSpec:
        t, s = spec.frames, spec.size
        for _ in self.blocks:
            t, s = (t - 1) // 2 + 1, (s - 1) // 2 + 1
        return FeatureSpec(self.out_channels, CLIP, t, (s, s))


@register_backbone("tiny_p3d", temporal=CLIP,
                   default_input=InputSpec(frames=8, size=64),
                   meta=ModelMeta(paper="Example plugin: factorised (2+1)D convolutions", year=2026,
                                  summary="Three (2+1)D blocks; a template for plugin authors."))
def tiny_p3d(in_channels: int = 3, widths=(16, 32, 64), pretrained: bool = False) -> TinyP3D:
    """A three-block factorised (2+1)D network."""
    if pretrained:
        raise ValueError("tiny_p3d has no pretrained weights")
    return TinyP3D(in_channels, tuple(widths))


@register_preset("tiny_motion", meta=ModelMeta(paper="Example plugin preset", year=2026,
                                               summary="tiny_p3d with average pooling"))
def tiny_motion() -> dict:
    """The example plugin's complete model."""
    return {"backbone": "tiny_p3d", "temporal_head": "avg_pool", "input": {"frames": 8, "size": 64}}
