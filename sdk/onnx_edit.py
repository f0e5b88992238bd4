"""One edit of a serialized ONNX model without the onnx package: turn a graph input into a constant.

The CPU backend uses it to specialize the generator for one style vector. With the style as a
constant, ONNX Runtime folds the style path (gamma/beta) and fuses each per-style scale and shift
into its convolution, which removes every Mul/Add and the layout reorders around them (about 1.5x
faster at 640x360 on this project's 2-core CPU; see README, Speed).

Only the protobuf wire format is touched (onnx.proto field numbers below); the runtime stays free of
the onnx package. tests/sdk/test_onnx_edit.py checks the result against the onnx package's own edit.
"""
from __future__ import annotations

import numpy as np

from sdk.errors import ModelLoadError

# onnx.proto field numbers
MODEL_GRAPH = 7
GRAPH_INITIALIZER, GRAPH_INPUT = 5, 11
VALUE_INFO_NAME = 1
TENSOR_DIMS, TENSOR_DATA_TYPE, TENSOR_NAME, TENSOR_RAW_DATA = 1, 2, 8, 9
TENSOR_FLOAT, TENSOR_FLOAT16 = 1, 10
WIRE_VARINT, WIRE_64BIT, WIRE_LEN, WIRE_32BIT = 0, 1, 2, 5


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or malformed varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes):
    """Yield (field number, wire type, whole field bytes, payload bytes) of one message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            _, pos = _read_varint(buf, pos)
            payload = b""
        elif wire == WIRE_64BIT:
            pos += 8
            payload = b""
        elif wire == WIRE_32BIT:
            pos += 4
            payload = b""
        elif wire == WIRE_LEN:
            length, pos = _read_varint(buf, pos)
            payload = buf[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("field runs past the end of the message")
        yield number, wire, buf[start:pos], payload


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | WIRE_LEN) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | WIRE_VARINT) + _varint(value)


def _name_of(value_info: bytes) -> str | None:
    for number, wire, _, payload in _fields(value_info):
        if number == VALUE_INFO_NAME and wire == WIRE_LEN:
            return payload.decode("utf-8", "replace")
    return None


def float_tensor(name: str, array: np.ndarray) -> bytes:
    """A serialized TensorProto (float32, or float16 for an FP16 graph; raw little-endian data)."""
    half = np.asarray(array).dtype == np.float16
    array = np.ascontiguousarray(array, dtype="<f2" if half else "<f4")
    body = b"".join(_varint_field(TENSOR_DIMS, d) for d in array.shape)
    body += _varint_field(TENSOR_DATA_TYPE, TENSOR_FLOAT16 if half else TENSOR_FLOAT)
    body += _len_field(TENSOR_NAME, name.encode())
    body += _len_field(TENSOR_RAW_DATA, array.tobytes())
    return body


def input_to_constant(model: bytes, name: str, value: np.ndarray, where: str = "model") -> bytes:
    """``model`` with graph input ``name`` removed and an initializer of that name holding ``value``."""
    try:
        out, found, appended = bytearray(), False, False
        for number, wire, whole, payload in _fields(model):
            if number != MODEL_GRAPH or wire != WIRE_LEN:
                out += whole
                continue
            graph = bytearray()
            for g_number, g_wire, g_whole, g_payload in _fields(payload):
                if g_number == GRAPH_INPUT and g_wire == WIRE_LEN and _name_of(g_payload) == name:
                    found = True
                    continue
                graph += g_whole
            if not appended:  # a graph split over several fields is merged by parsers: one initializer
                graph += _len_field(GRAPH_INITIALIZER, float_tensor(name, value))
                appended = True
            out += _len_field(MODEL_GRAPH, bytes(graph))
    except ValueError as exc:
        raise ModelLoadError(f"{where}: not a readable ONNX protobuf ({exc})") from None
    if not found:
        raise ModelLoadError(f"{where}: the graph has no input named {name!r} to specialize; "
                             "re-export the package with `python -m trainer export`.")
    return bytes(out)
