"""The papers the first-party components and presets follow, each cited once:
``ModelMeta(**PAPERS["c3d"], summary=...)``."""
from __future__ import annotations

from typing import Any, Dict


def _paper(title: str, year: int, url: str) -> Dict[str, Any]:
    return {"paper": title, "year": year, "url": url}


PAPERS: Dict[str, Dict[str, Any]] = {
    "single_frame": _paper("Large-scale Video Classification with Convolutional Neural Networks "
                           "(Karpathy et al.)", 2014,
                           "https://cs.stanford.edu/people/karpathy/deepvideo/"),
    "two_stream": _paper("Two-Stream Convolutional Networks for Action Recognition in Videos "
                         "(Simonyan & Zisserman)", 2014, "https://arxiv.org/abs/1406.2199"),
    "cnn_m": _paper("Return of the Devil in the Details: Delving Deep into Convolutional Nets "
                    "(Chatfield, Simonyan, Vedaldi, Zisserman)", 2014, "https://arxiv.org/abs/1405.3531"),
    "caffenet": _paper("Caffe: Convolutional Architecture for Fast Feature Embedding (Jia et al.); "
                       "AlexNet (Krizhevsky et al. 2012)", 2014, "https://arxiv.org/abs/1408.5093"),
    "lrcn": _paper("Long-term Recurrent Convolutional Networks for Visual Recognition and "
                   "Description (Donahue et al.)", 2015, "https://arxiv.org/abs/1411.4389"),
    "c3d": _paper("Learning Spatiotemporal Features with 3D Convolutional Networks (Tran et al.)",
                  2015, "https://arxiv.org/abs/1412.0767"),
    "vgg": _paper("Very Deep Convolutional Networks for Large-Scale Image Recognition "
                  "(Simonyan & Zisserman)", 2015, "https://arxiv.org/abs/1409.1556"),
    "fusion_2016": _paper("Convolutional Two-Stream Network Fusion for Video Action Recognition "
                          "(Feichtenhofer, Pinz, Zisserman)", 2016, "https://arxiv.org/abs/1604.06573"),
    "tsn": _paper("Temporal Segment Networks: Towards Good Practices for Deep Action Recognition "
                  "(Wang et al.)", 2016, "https://arxiv.org/abs/1608.00859"),
    "i3d": _paper("Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset "
                  "(Carreira & Zisserman)", 2017, "https://arxiv.org/abs/1705.07750"),
    "r2plus1d": _paper("A Closer Look at Spatiotemporal Convolutions for Action Recognition "
                       "(Tran et al.)", 2018, "https://arxiv.org/abs/1711.11248"),
    "timm": _paper("PyTorch Image Models (timm), 2D networks applied per frame", 2019,
                   "https://github.com/huggingface/pytorch-image-models"),
    "tsm": _paper("TSM: Temporal Shift Module for Efficient Video Understanding (Lin, Gan, Han)",
                  2019, "https://arxiv.org/abs/1811.08383"),
    "slowfast": _paper("SlowFast Networks for Video Recognition (Feichtenhofer, Fan, Malik, He)",
                       2019, "https://arxiv.org/abs/1812.03982"),
    "csn": _paper("Video Classification with Channel-Separated Convolutional Networks "
                  "(Tran et al.)", 2019, "https://arxiv.org/abs/1904.02811"),
    "x3d": _paper("X3D: Expanding Architectures for Efficient Video Recognition (Feichtenhofer)",
                  2020, "https://arxiv.org/abs/2004.04730"),
    "mvit": _paper("Multiscale Vision Transformers (Fan et al.)", 2021,
                   "https://arxiv.org/abs/2104.11227"),
}
