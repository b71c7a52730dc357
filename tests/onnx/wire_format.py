"""Hand-written protobuf wire format, for encodings onnx never produces.

The encoders are heimdall_io.onnx.wire's own; ``varint`` adds the ten-byte form of negative
int64 values, which heimdall's writers never need.
"""

from __future__ import annotations

from heimdall_io.onnx.wire import encode_varint, field_key, len_key

key = field_key


def varint(value: int) -> bytes:
    """An int64 varint as protobuf writes it: a negative value takes ten bytes."""
    return encode_varint(value & (1 << 64) - 1)


def len_field(number: int, payload: bytes) -> bytes:
    return len_key(number) + encode_varint(len(payload)) + payload


MINIMAL_GRAPH = len_field(7, b"")
