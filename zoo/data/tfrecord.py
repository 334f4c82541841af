"""TFRecord files and tf.Example / tf.SequenceExample messages, without TensorFlow.

A TFRecord file is a sequence of records: ``uint64 length | uint32 masked crc32c(length) |
payload | uint32 masked crc32c(payload)``, little-endian. The payloads here are protocol-buffer
messages, read and written with the minimal wire-format code below (varints, 32/64-bit fields,
length-delimited fields, packed and unpacked repeated scalars).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .annotations import AnnotationError

# -- CRC-32C (Castagnoli), table-driven ------------------------------------------------------
_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_record(handle: BinaryIO, path: Any, offset: int, verify: bool) -> Optional[bytes]:
    """The payload of the record at `offset` (None at the end of the file)."""
    handle.seek(offset)
    header = handle.read(12)
    if not header:
        return None
    where = f"@{offset}"
    if len(header) < 12:
        raise AnnotationError(path, where, "truncated record header")
    length, length_crc = struct.unpack("<QI", header)
    if masked_crc32c(header[:8]) != length_crc:
        raise AnnotationError(path, where, "record length fails its CRC (not a TFRecord file, "
                                           "or a damaged one)")
    payload = handle.read(length)
    footer = handle.read(4)
    if len(payload) < length or len(footer) < 4:
        raise AnnotationError(path, where, "truncated record")
    if verify and masked_crc32c(payload) != struct.unpack("<I", footer)[0]:
        raise AnnotationError(path, where, "record payload fails its CRC")
    return payload


def read_records(path: Any, verify: bool = True) -> Iterator[bytes]:
    """The payloads of a TFRecord file; a damaged record raises `AnnotationError` at its offset
    (``file:@offset: reason``). `verify` checks the payload CRCs (the length CRC always)."""
    with open(path, "rb") as handle:
        offset = 0
        while (payload := _read_record(handle, path, offset, verify)) is not None:
            yield payload
            offset += 16 + len(payload)


def record_offsets(path: Any) -> List[int]:
    """The offset of every record (lengths checked, payloads not read)."""
    offsets, offset, size = [], 0, Path(path).stat().st_size
    with open(path, "rb") as handle:
        while offset < size:
            header = handle.read(12)
            if len(header) < 12 or masked_crc32c(header[:8]) != struct.unpack("<QI", header)[1]:
                raise AnnotationError(path, f"@{offset}", "bad record header")
            length = struct.unpack("<Q", header[:8])[0]
            if offset + 16 + length > size:
                raise AnnotationError(path, f"@{offset}", "truncated record")
            offsets.append(offset)
            offset += 16 + length
            handle.seek(offset)
    return offsets


def read_record_at(path: Any, offset: int, verify: bool = True) -> bytes:
    """The payload of the record at `offset` (from `record_offsets`)."""
    with open(path, "rb") as handle:
        payload = _read_record(handle, path, offset, verify)
    if payload is None:
        raise AnnotationError(path, f"@{offset}", "no record at this offset")
    return payload


def write_records(path: Any, payloads: Sequence[bytes]) -> Path:
    """Write `payloads` as a TFRecord file."""
    path = Path(path)
    with open(path, "wb") as handle:
        for payload in payloads:
            _write_record(handle, payload)
    return path


def _write_record(handle: BinaryIO, payload: bytes) -> None:
    length = struct.pack("<Q", len(payload))
    handle.write(length + struct.pack("<I", masked_crc32c(length)))
    handle.write(payload + struct.pack("<I", masked_crc32c(payload)))


# -- protocol-buffer wire format -----------------------------------------------------------
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[Tuple[int, int, Union[int, bytes]]]:
    """``(field number, wire type, value)`` of each field of a message; a length-delimited value
    is its bytes, a varint an int, a fixed32/64 its raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _read_varint(data, pos)
        elif wire in (FIXED64, FIXED32, LENGTH):
            if wire == LENGTH:
                size, pos = _read_varint(data, pos)
            else:
                size = 8 if wire == FIXED64 else 4
            if pos + size > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LENGTH) + _varint(len(payload)) + payload


# Feature: bytes_list = 1, float_list = 2, int64_list = 3; each list's values are field 1.
Feature = Union[List[bytes], np.ndarray]


def decode_feature(data: bytes) -> Feature:
    """A tf.train.Feature: a list of bytes, or a float32 / int64 array."""
    for number, wire, value in fields(data):
        if wire != LENGTH or number not in (1, 2, 3):
            continue
        items = list(fields(value))
        if number == 1:
            return [v for n, w, v in items if n == 1 and w == LENGTH]
        if number == 2:
            chunks = [v for n, w, v in items if n == 1 and w in (LENGTH, FIXED32)]
            return np.frombuffer(b"".join(chunks), dtype="<f4").astype(np.float32)
        ints: List[int] = []
        for n, w, v in items:
            if n != 1:
                continue
            if w == VARINT:
                ints.append(v)
            elif w == LENGTH:  # packed
                pos = 0
                while pos < len(v):
                    x, pos = _read_varint(v, pos)
                    ints.append(x)
        return np.array([x - (1 << 64) if x >= 1 << 63 else x for x in ints], dtype=np.int64)
    return []


def encode_feature(value: Union[Sequence[bytes], np.ndarray, Sequence[float], Sequence[int]]) -> bytes:
    """A tf.train.Feature from bytes items, floats or ints (numpy dtype or Python type decides)."""
    items = list(value)
    if items and isinstance(items[0], (bytes, bytearray)):
        return _length_field(1, b"".join(_length_field(1, bytes(v)) for v in items))
    array = np.asarray(items)
    if array.dtype.kind == "f":
        return _length_field(2, _length_field(1, array.astype("<f4").tobytes()))
    return _length_field(3, _length_field(1, b"".join(_varint(int(v)) for v in items)))


def _decode_features(data: bytes, entry_field: int = 1) -> Dict[str, bytes]:
    """A protobuf map<string, message> (Features, FeatureLists): key -> raw value bytes."""
    out = {}
    for number, wire, entry in fields(data):
        if number != entry_field or wire != LENGTH:
            continue
        key, value = "", b""
        for n, w, v in fields(entry):
            if n == 1 and w == LENGTH:
                key = v.decode("utf-8")
            elif n == 2 and w == LENGTH:
                value = v
        out[key] = value
    return out


def _encode_map(entries: Dict[str, bytes]) -> bytes:
    return b"".join(_length_field(1, _length_field(1, k.encode()) + _length_field(2, v))
                    for k, v in entries.items())


@dataclass
class SequenceExample:
    """tf.train.SequenceExample: context features and per-step feature lists."""

    context: Dict[str, Feature] = field(default_factory=dict)
    feature_lists: Dict[str, List[Feature]] = field(default_factory=dict)


def decode_example(data: bytes) -> Dict[str, Feature]:
    """tf.train.Example {features = 1} -> ``{name: feature}``."""
    features = b"".join(v for n, w, v in fields(data) if n == 1 and w == LENGTH)
    return {k: decode_feature(v) for k, v in _decode_features(features).items()}


def encode_example(features: Dict[str, Any]) -> bytes:
    return _length_field(1, _encode_map({k: encode_feature(v) for k, v in features.items()}))


def decode_sequence_example(data: bytes) -> SequenceExample:
    """tf.train.SequenceExample {context = 1, feature_lists = 2}."""
    context, lists = b"", b""
    for number, wire, value in fields(data):
        if wire == LENGTH and number == 1:
            context += value
        elif wire == LENGTH and number == 2:
            lists += value
    feature_lists = {
        key: [decode_feature(v) for n, w, v in fields(raw) if n == 1 and w == LENGTH]
        for key, raw in _decode_features(lists).items()}
    return SequenceExample({k: decode_feature(v) for k, v in _decode_features(context).items()},
                           feature_lists)


def encode_sequence_example(example: SequenceExample) -> bytes:
    context = _encode_map({k: encode_feature(v) for k, v in example.context.items()})
    lists = _encode_map({k: b"".join(_length_field(1, encode_feature(f)) for f in steps)
                         for k, steps in example.feature_lists.items()})
    return _length_field(1, context) + _length_field(2, lists)
