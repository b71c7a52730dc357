"""Which streaming multipart/form-data parser the import uses: python-multipart or
streaming-form-data (Cython), measured on one file part fed in 1 MiB pieces, as the API
feeds it (heimdall_io.api.multipart).

    pip install python-multipart streaming-form-data
    python benchmarks/multipart_bench.py [--size 256MiB] [--rounds 3]

Two bodies: random bytes (a bundle's base64 text behaves the same), and a body made of
``\\r\\n--`` runs, the worst case for a boundary search (partial matches everywhere).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from heimdall_io.sizes import parse_size

BOUNDARY = b"----heimdallbench7MA4YWxkTrZu0gW"
PIECE = 1 << 20


def _chunks(payload: bytes) -> list[bytes]:
    head = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="m.heimdall"\r\nContent-Type: application/octet-stream\r\n\r\n')  # fmt: skip
    body = head + payload + b"\r\n--" + BOUNDARY + b"--\r\n"
    return [body[i : i + PIECE] for i in range(0, len(body), PIECE)]


def python_multipart(chunks: list[bytes]) -> int:
    from python_multipart.multipart import MultipartParser

    n = [0]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        n[0] += end - start

    parser = MultipartParser(BOUNDARY, {"on_part_data": on_part_data})
    for c in chunks:
        parser.write(c)
    parser.finalize()
    return n[0]


def streaming_form_data(chunks: list[bytes]) -> int:
    from streaming_form_data import StreamingFormDataParser
    from streaming_form_data.targets import BaseTarget

    class Count(BaseTarget):
        n = 0

        def on_data_received(self, chunk: bytes) -> None:
            self.n += len(chunk)

    parser = StreamingFormDataParser(
        {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}
    )
    target = Count()
    parser.register("file", target, lambda a, b: True)
    for c in chunks:
        parser.data_received(c)
    return target.n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("256MiB"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    bodies = {
        "random bytes": os.urandom(1 << 20) * (args.size >> 20),
        "\\r\\n-- runs (worst case)": b"\r\n--" * (args.size >> 6),
    }
    parsers: dict[str, Callable[[list[bytes]], int]] = {
        "python-multipart": python_multipart, "streaming-form-data": streaming_form_data,
    }  # fmt: skip
    print("| body | parser | best s | MiB/s |\n| --- | --- | ---: | ---: |")
    for label, payload in bodies.items():
        chunks = _chunks(payload)
        for name, parse in parsers.items():
            best = float("inf")
            for _ in range(args.rounds):
                t = time.perf_counter()
                assert parse(chunks) == len(payload)
                best = min(best, time.perf_counter() - t)
            print(f"| {label} ({len(payload) >> 20} MiB) | {name} | {best:.3f} | "
                  f"{len(payload) / best / 2**20:,.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
