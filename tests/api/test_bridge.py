"""RequestBodyReader: an ASGI body as read(n) in a worker thread, bounded and abortable."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from heimdall_io.api.bridge import RequestBodyReader, UploadAbortedError, UploadTimeoutError
from heimdall_io.errors import MalformedBundleError, PayloadTooLargeError


def make_receive(messages: list[dict[str, Any]], log: list[str]) -> Callable[[], Any]:
    async def receive() -> dict[str, Any]:
        log.append("receive")
        if not messages:
            await anyio.sleep_forever()
        return messages.pop(0)

    return receive


def body(*parts: bytes, disconnect: bool = False) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": p, "more_body": True} for p in parts
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    return messages


def read_all(reader: RequestBodyReader, n: int = 7) -> bytes:
    out = []
    while chunk := reader.read(n):
        assert len(chunk) <= n
        out.append(chunk)
    return b"".join(out)


def run_in_thread(fn: Callable[[], Any]) -> Any:
    async def main() -> Any:
        return await anyio.to_thread.run_sync(fn)

    return anyio.run(main)


def test_reads_in_order_with_short_reads() -> None:
    log: list[str] = []
    reader = RequestBodyReader(make_receive(body(b"hello ", b"", b"world", b"!"), log))
    assert run_in_thread(lambda: read_all(reader)) == b"hello world!"
    assert reader.bytes_read == 12
    assert run_in_thread(lambda: reader.read(10)) == b""  # stays at EOF, no more receives


def test_pulls_only_when_asked() -> None:
    """No read-ahead: one batch (messages up to `coalesce` bytes) per empty buffer."""
    log: list[str] = []
    parts = [bytes([i]) * 10 for i in range(10)]
    reader = RequestBodyReader(make_receive(body(*parts), log), coalesce=25)
    first = run_in_thread(lambda: reader.read(1000))
    assert first == parts[0]  # the first message, as it came
    assert log.count("receive") == 3  # 30 >= 25: stop asking
    assert run_in_thread(lambda: [reader.read(1000) for _ in range(2)]) == parts[1:3]
    assert log.count("receive") == 3  # the rest of the batch: nothing more received


def test_messages_are_handed_over_whole() -> None:
    """A reader asking for at least a message's size gets the message itself (neither
    joined with others nor a copy of part of it); smaller reads get parts of it."""
    parts = [bytes([i]) * 10 for i in range(10)]
    reader = RequestBodyReader(make_receive(body(*parts), []), coalesce=25)
    pieces = run_in_thread(lambda: [reader.read(25) for _ in range(11)])
    assert all(got is sent for got, sent in zip(pieces, parts, strict=False))
    assert [len(p) for p in pieces] == [10] * 10 + [0]
    assert reader.bytes_read == 100 and reader.complete
    small = RequestBodyReader(make_receive(body(*parts[:2]), []), coalesce=25)
    assert run_in_thread(lambda: [small.read(4) for _ in range(7)]) == [
        parts[0][:4],
        parts[0][4:8],
        parts[0][8:],
        parts[1][:4],
        parts[1][4:8],
        parts[1][8:],
        b"",
    ]


def test_limit_while_streaming() -> None:
    reader = RequestBodyReader(make_receive(body(b"x" * 60, b"x" * 60), []), limit=100)
    with pytest.raises(PayloadTooLargeError, match="limit of 100 bytes"):
        run_in_thread(lambda: read_all(reader, 1000))
    exact = RequestBodyReader(make_receive(body(b"x" * 60, b"x" * 40), []), limit=100)
    assert len(run_in_thread(lambda: read_all(exact, 1000))) == 100


def test_disconnect_raises_in_the_worker_thread() -> None:
    reader = RequestBodyReader(make_receive(body(b"abc", disconnect=True), []))
    with pytest.raises(UploadAbortedError, match="disconnected after sending 3 bytes"):
        run_in_thread(lambda: read_all(reader, 1000))


def test_a_silent_client_times_out_and_the_failure_sticks() -> None:
    """Each wait for the next piece is bounded; once it timed out, every read raises the
    same error (a caller that swallowed one cannot take the rest for the end)."""
    messages = body(b"abc")[:-1]  # then nothing, ever
    reader = RequestBodyReader(make_receive(messages, []), timeout=0.2, coalesce=3)

    def reads() -> list[Any]:
        out: list[Any] = [reader.read(10)]
        for _ in range(2):
            try:
                reader.read(10)
            except UploadTimeoutError as exc:
                out.append(exc)
        return out

    first, e1, e2 = run_in_thread(reads)
    assert first == b"abc"
    assert e1 is e2 is reader.failure
    assert str(e1) == "the client sent nothing for 0.2 s after 3 bytes of the request body"
    assert isinstance(e1, UploadAbortedError) and not reader.complete


def test_a_steady_client_is_never_timed_out() -> None:
    async def slow_receive() -> dict[str, Any]:
        await anyio.sleep(0.05)
        return parts.pop(0)

    parts = body(*[b"x"] * 10)
    reader = RequestBodyReader(slow_receive, timeout=0.2, coalesce=1)
    assert run_in_thread(lambda: read_all(reader)) == b"x" * 10  # 0.5 s in all


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_content_encoding_must_match_the_magic(encoding: str) -> None:
    plain = RequestBodyReader(make_receive(body(b"{", b'"a": 1}'), []), encoding=encoding)
    with pytest.raises(MalformedBundleError, match=f"not {encoding} data"):
        run_in_thread(lambda: read_all(plain))
    if encoding == "gzip":
        data = gzip.compress(b'{"a": 1}')
        ok = RequestBodyReader(make_receive(body(data[:1], data[1:]), []), encoding="gzip")
        assert run_in_thread(lambda: read_all(ok)) == data


def test_complete_only_when_the_body_ended() -> None:
    whole = RequestBodyReader(make_receive(body(b"abc"), []))
    run_in_thread(lambda: read_all(whole))
    assert whole.complete
    cut = RequestBodyReader(make_receive(body(b"x" * 60, b"x" * 60), []), limit=100)
    with pytest.raises(PayloadTooLargeError):
        run_in_thread(lambda: read_all(cut, 1000))
    assert not cut.complete  # the rest is still on the connection: the server must close it


# -- RequestBodyReader.run: pieces received ahead of the worker thread ------------------


def run_ahead(reader: RequestBodyReader, fn: Callable[[], Any], ahead: int = 2) -> Any:
    async def main() -> Any:
        return await reader.run(fn, ahead=ahead)

    return anyio.run(main)


def test_ahead_reads_in_order_and_stays_at_eof() -> None:
    log: list[str] = []
    parts = [bytes([i]) * (i + 1) for i in range(20)]
    reader = RequestBodyReader(make_receive(body(*parts, b""), log), coalesce=5)

    def reads() -> tuple[bytes, bytes]:
        return read_all(reader, 3), reader.read(10)

    assert run_ahead(reader, reads) == (b"".join(parts), b"")
    assert reader.bytes_read == sum(map(len, parts)) and reader.complete
    assert log.count("receive") == len(parts) + 2  # the empty piece and the end message


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_ahead_is_bounded(ahead: int) -> None:
    """While the worker holds its piece, the loop receives at most ``ahead`` pieces plus
    the one it waits to hand over: memory per upload stays a few pieces."""
    log: list[str] = []
    reader = RequestBodyReader(make_receive(body(*[b"x" * 10] * 50), log), coalesce=10)

    def reads() -> int:
        assert reader.read(10) == b"x" * 10
        time.sleep(0.3)  # the codec is busy: the loop may read ahead meanwhile
        received = log.count("receive")
        assert read_all(reader, 1000) == b"x" * 490
        return received

    assert run_ahead(reader, reads, ahead) == ahead + 2


def test_ahead_failures_reach_the_worker_unwrapped() -> None:
    aborted = RequestBodyReader(make_receive(body(b"abc", b"def", disconnect=True), []))
    with pytest.raises(UploadAbortedError, match="disconnected after sending 6 bytes"):
        run_ahead(aborted, lambda: read_all(aborted, 1000))
    big = RequestBodyReader(make_receive(body(*[b"x" * 60] * 5), []), limit=100, coalesce=10)
    with pytest.raises(PayloadTooLargeError, match="limit of 100 bytes"):
        run_ahead(big, lambda: read_all(big, 1000))
    assert not big.complete
    wrong = RequestBodyReader(make_receive(body(b"{", b'"a": 1}'), []), encoding="zstd")
    with pytest.raises(MalformedBundleError, match="not zstd data"):
        run_ahead(wrong, lambda: read_all(wrong))


def test_ahead_worker_error_ends_the_receiving() -> None:
    """The worker gives up early (a bad bundle): its exception comes out as is, and the
    task receiving ahead stops, though the body never ends."""
    log: list[str] = []
    reader = RequestBodyReader(make_receive(body(b"abc")[:-1], log), coalesce=1)

    def fail() -> None:
        reader.read(1)
        raise MalformedBundleError("not a bundle")

    with pytest.raises(MalformedBundleError, match="not a bundle"):
        run_ahead(reader, fail)
    assert not reader.complete
