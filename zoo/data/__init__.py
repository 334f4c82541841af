"""Video data: decoding, clip sampling, transforms, optical flow, dataset adapters, bad input.

Importing this package is light: PyAV and OpenCV are imported only when a video is decoded or a
flow field computed. Dataset adapters live in `zoo.data.datasets` and are reached through the
registry (``zoo.registry.REGISTRY.get("dataset", "kinetics400")``).
"""
from .annotations import AnnotationError, AnnotationReport, read_label_map
from .dataset import FrameCache, VideoClipDataset, VideoIndex, VideoRecord, average_view_scores
from .flow import (FLOW_METHODS, FlowComputer, FlowOptions, dequantize_flow,
                   flow_method_available, quantize_flow, rgb_difference, subtract_camera_motion)
from .health import DataHealth, collate
from .loading import LoaderSettings, in_memory, loader_settings
from .sampling import (clip_length, dense_indices, multiview_indices, pad_indices,
                       sample_indices, segment_indices, slowfast_indices, uniform_indices)
from .tfrecord import read_records, write_records
from .transforms import (center_crop, crop, hflip, normalize, random_crop, resize_short_side,
                         spatial_views, three_crops)
from .video import (DECODERS, Decoder, Frames, OpenCVDecoder, PyAVDecoder, VideoDecodeError,
                    VideoInfo, get_decoder, write_video)

__all__ = [
    "AnnotationError", "AnnotationReport", "read_label_map",
    "FrameCache", "VideoClipDataset", "VideoIndex", "VideoRecord", "average_view_scores",
    "FLOW_METHODS", "FlowComputer", "FlowOptions", "dequantize_flow", "flow_method_available",
    "quantize_flow", "rgb_difference", "subtract_camera_motion",
    "DataHealth", "collate",
    "LoaderSettings", "in_memory", "loader_settings",
    "clip_length", "dense_indices", "multiview_indices", "pad_indices", "sample_indices",
    "segment_indices", "slowfast_indices", "uniform_indices",
    "read_records", "write_records",
    "center_crop", "crop", "hflip", "normalize", "random_crop", "resize_short_side",
    "spatial_views", "three_crops",
    "DECODERS", "Decoder", "Frames", "OpenCVDecoder", "PyAVDecoder", "VideoDecodeError",
    "VideoInfo", "get_decoder", "write_video",
]
