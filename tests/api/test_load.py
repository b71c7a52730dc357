"""Eight concurrent exports, then eight concurrent imports of a 64 MiB model: the server's
peak RSS stays within 200 MiB in each phase (it streams; it never holds a bundle).

The imports are validated with onnx.checker, which heimdall_io.onnx.checker runs on a
skeleton of the model (tensor data left on disk), so validation stays flat too. The
server runs one validation at a time (HEIMDALL_MAX_CONCURRENT_VALIDATIONS=1)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.codec import read_bundle
from tests.support.synthetic import write_synthetic_model

from .helpers import API_ADMIN_KEY, client, register_model

MODELS = "/api/v1/training/models"
MODEL_BYTES = 64 << 20
CONCURRENCY = 8
RSS_LIMIT_MIB = 200


class _Md5Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.md5 = hashlib.md5()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.md5.update(b)
        return len(b)


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("load") / "big.onnx"
    md5 = hashlib.md5()

    class Tee:
        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            md5.update(data)
            return self.f.write(data)  # type: ignore[no-any-return]

    with open(path, "wb") as f:
        write_synthetic_model(Tee(f), MODEL_BYTES, seed=64)
    return path, md5.hexdigest()


def test_concurrent_exports_and_imports_bounded_rss(
    heimdall_server_factory: Any, big_model: tuple[Path, str], tmp_path: Path
) -> None:
    path, md5 = big_model
    server = heimdall_server_factory(
        {"HEIMDALL_API_KEYS": f"{API_ADMIN_KEY}:admin",
         "HEIMDALL_MAX_IMPORT_BYTES": str(256 << 20)}, "load",
    )  # fmt: skip
    model_id = register_model(server, path, name="Big", sections={})
    start_rss = server.status_kib("VmHWM") / 1024

    def reset_peak() -> None:
        # Peak RSS per phase (Linux: "5" resets VmHWM); without it the peak is cumulative.
        with contextlib.suppress(OSError), open(f"/proc/{server.pid}/clear_refs", "w") as f:
            f.write("5")

    def export(i: int) -> Path:
        out = tmp_path / f"export-{i}.heimdall"
        with client(server) as http, http.stream("GET", f"{MODELS}/{model_id}/export") as r:
            assert r.status_code == 200
            with open(out, "wb") as f:
                for chunk in r.iter_raw(1 << 20):
                    f.write(chunk)
        return out

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        bundles = list(pool.map(export, range(CONCURRENCY)))
    export_rss = server.status_kib("VmHWM") / 1024
    for bundle in bundles[:2]:
        sink = _Md5Sink()
        with open(bundle, "rb") as f:
            read_bundle(f, sink)  # type: ignore[arg-type]
        assert sink.md5.hexdigest() == md5
    assert len({b.stat().st_size for b in bundles}) == 1

    def import_(bundle: Path) -> dict[str, Any]:
        with client(server) as http, open(bundle, "rb") as f:
            r = http.post(f"{MODELS}/import", content=f)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    reset_peak()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        created = list(pool.map(import_, bundles))
    import_rss = server.status_kib("VmHWM") / 1024
    assert {c["onnx_md5"] for c in created} == {md5}
    assert len({c["model_id"] for c in created}) == CONCURRENCY
    print(f"\nserver peak RSS: start {start_rss:.0f} MiB, after {CONCURRENCY} exports "
          f"{export_rss:.0f} MiB, after {CONCURRENCY} imports {import_rss:.0f} MiB")  # fmt: skip
    assert export_rss <= RSS_LIMIT_MIB, (start_rss, export_rss, import_rss)
    assert import_rss <= RSS_LIMIT_MIB, (start_rss, export_rss, import_rss)
    server.stop()
