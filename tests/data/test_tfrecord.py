import struct

import numpy as np
import pytest

from zoo.data.annotations import AnnotationError
from zoo.data.datasets.youtube8m import NUM_CLASSES, dequantize, youtube8m
from zoo.data.health import collate
from zoo.data.tfrecord import (SequenceExample, crc32c, decode_example, decode_sequence_example,
                               encode_example, encode_sequence_example, masked_crc32c,
                               read_records, record_offsets, write_records)


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert crc32c(b"") == 0
    assert masked_crc32c(b"") == 0xA282EAD8


def test_records_round_trip_with_valid_crcs(tmp_path):
    payloads = [b"", b"abc", bytes(range(256)) * 3]
    path = write_records(tmp_path / "a.tfrecord", payloads)
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    assert length == 0 and struct.unpack("<I", raw[8:12])[0] == masked_crc32c(raw[:8])
    assert list(read_records(path)) == payloads
    assert record_offsets(path) == [0, 16, 35]


def test_damaged_records_are_reported_with_their_offset(tmp_path):
    path = write_records(tmp_path / "a.tfrecord", [b"first", b"second"])
    data = bytearray(path.read_bytes())
    data[21 + 12] ^= 0xFF  # a payload byte of the second record
    path.write_bytes(bytes(data))
    with pytest.raises(AnnotationError, match=r"a\.tfrecord:@21: record payload fails its CRC"):
        list(read_records(path))
    path.write_bytes(bytes(data[:30]))
    with pytest.raises(AnnotationError, match="truncated"):
        list(read_records(path, verify=False))


def test_example_and_sequence_example_round_trip():
    features = {"id": [b"vid1"], "labels": np.array([0, 7, 3861]),
                "mean_rgb": np.linspace(-1, 1, 5, dtype=np.float32)}
    decoded = decode_example(encode_example(features))
    assert decoded["id"] == [b"vid1"] and decoded["labels"].tolist() == [0, 7, 3861]
    assert np.allclose(decoded["mean_rgb"], features["mean_rgb"])
    assert decode_example(encode_example({"x": np.array([-5])}))["x"].tolist() == [-5]
    sequence = SequenceExample({"id": [b"v"], "labels": np.array([4])},
                               {"rgb": [[b"\x00\x01"], [b"\x02\x03"]]})
    back = decode_sequence_example(encode_sequence_example(sequence))
    assert back.context["labels"].tolist() == [4] and back.feature_lists["rgb"] == [[b"\x00\x01"], [b"\x02\x03"]]


def test_dequantisation_matches_the_youtube8m_formula():
    x = np.array([0, 128, 255], dtype=np.uint8)
    assert np.allclose(dequantize(x), [4 / 512 - 2, 128 * 4 / 255 + 4 / 512 - 2, 2 + 4 / 512])


def _video_level(i, labels):
    rng = np.random.default_rng(i)
    return encode_example({"id": [f"v{i}".encode()], "labels": np.array(labels),
                           "mean_rgb": rng.normal(size=1024).astype(np.float32),
                           "mean_audio": rng.normal(size=128).astype(np.float32)})


def _frame_level(i, labels, seconds):
    rng = np.random.default_rng(i)
    steps = {k: [[rng.integers(0, 256, n, dtype=np.uint8).tobytes()] for _ in range(seconds)]
             for k, n in (("rgb", 1024), ("audio", 128))}
    return encode_sequence_example(SequenceExample(
        {"id": [f"f{i}".encode()], "labels": np.array(labels)}, steps))


def test_youtube8m_video_level(tmp_path):
    write_records(tmp_path / "train0000.tfrecord", [_video_level(0, [1, 5]), _video_level(1, [3861])])
    dataset = youtube8m(tmp_path, "train")
    assert len(dataset) == 2 and dataset.multi_label and len(dataset.classes) == NUM_CLASSES
    sample = dataset[0]
    assert sample["video"] == "v0"
    assert sample["inputs"]["rgb"].shape == (1024, 1, 1, 1)
    assert sample["inputs"]["audio"].shape == (128, 1, 1, 1)
    assert sample["label"].nonzero().flatten().tolist() == [1, 5]
    expected = np.random.default_rng(0).normal(size=1024).astype(np.float32)
    assert np.allclose(sample["inputs"]["rgb"].flatten().numpy(), expected)


def test_youtube8m_frame_level_and_a_damaged_record(tmp_path):
    write_records(tmp_path / "validate0000.tfrecord",
                  [_frame_level(0, [2], seconds=5), _frame_level(1, [9], seconds=3),
                   b"not a sequence example"])
    dataset = youtube8m(tmp_path, "val", level="frame", frames=4)
    sample = dataset[0]
    assert sample["inputs"]["rgb"].shape == (1024, 4, 1, 1)
    assert sample["inputs"]["audio"].shape == (128, 4, 1, 1)
    first_second = np.random.default_rng(0).integers(0, 256, 1024, dtype=np.uint8)
    assert np.allclose(sample["inputs"]["rgb"][:, 0, 0, 0].numpy(), dequantize(first_second))
    assert dataset[2] is None and dataset.health.skipped == 1
    batch = collate([dataset[i] for i in range(3)])
    assert batch["label"].shape == (2, NUM_CLASSES) and batch["health"].skipped == 1
