"""Models with external data between two real servers (issue 14): push, pull, and the HTTP
API's export and import carry every file; the receiving side is all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import HeimdallServer
from tests.support.synthetic import write_external_model

from .helpers import MODELS, heimdall, json_line, models

Pair = tuple[HeimdallServer, HeimdallServer]


@pytest.fixture(scope="module")
def pair(heimdall_server_factory: Any) -> Pair:
    a = heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}, "large-a")
    b = heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}, "large-b")
    return a, b


@pytest.fixture(scope="module")
def model(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A model with external data registered on A: (its id, its directory)."""
    root = tmp_path_factory.mktemp("large") / "m"
    write_external_model(root, 3 << 20, files=3, subdir="w", model_file="net.onnx")
    a, _ = pair
    return a.cli("register", str(root), "--name", "Big", "-q").stdout.strip(), root


def _unpacked(server: HeimdallServer, model_id: str, tmp_path: Path, name: str) -> Path:
    r = httpx.get(server.url(f"{MODELS}/{model_id}/export"), timeout=60)
    assert r.status_code == 200, r.text
    (tmp_path / f"{name}.heimdall").write_bytes(r.content)
    out = tmp_path / name
    heimdall(server, tmp_path, "unpack", str(tmp_path / f"{name}.heimdall"), "-o", str(out))
    return out


def _same(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_push_pull_and_http(pair: Pair, model: tuple[str, Path], tmp_path: Path) -> None:
    a, b = pair
    model_id, root = model
    config = tmp_path / "config"  # remotes: each server names the other (no keys)
    for here, name, there in ((a, "b", b), (b, "a", a)):
        heimdall(here, config, "remote", "add", name, there.base_url)
    pushed = json_line(heimdall(a, config, "push", model_id, "b", "--json"))
    _same(root, _unpacked(b, pushed["model_id"], tmp_path, "pushed"))
    pulled = json_line(heimdall(b, config, "pull", "a", model_id, "--json"))
    _same(root, _unpacked(b, pulled["model_id"], tmp_path, "pulled"))
    # The HTTP import of a bundle exported over HTTP.
    bundle = (tmp_path / "pushed.heimdall").read_bytes()
    r = httpx.post(a.url(f"{MODELS}/import"), content=bundle, timeout=60)
    assert r.status_code == 201, r.text
    _same(root, _unpacked(a, r.json()["model_id"], tmp_path, "posted"))
    # A damaged last file: 400, and nothing registered.
    doc = json.loads(bundle)
    doc["model"]["external_data"][-1]["md5"] = "0" * 32
    before = set(models(b))
    r = httpx.post(b.url(f"{MODELS}/import"), content=json.dumps(doc).encode(), timeout=60)
    assert r.status_code == 400 and "MD5 mismatch" in r.text
    assert set(models(b)) == before


def test_sized_export_ranges_and_a_resumed_pull(
    pair: Pair, model: tuple[str, Path], tmp_path: Path
) -> None:
    """Every file's size and digests are in the registry, so the export of a model with
    external data has a Content-Length, a strong ETag and byte ranges (pinned), and a pull
    cut mid-way resumes with ranges."""
    from tests.support.proxy import CuttingProxy

    a, b = pair
    model_id, root = model
    url = a.url(f"{MODELS}/{model_id}/export?bundle_id=0b6f3c2e-8d1a-4f5e-9a7b-2c4d6e8f0a1b")
    whole = httpx.get(url, timeout=60)
    assert whole.status_code == 200 and int(whole.headers["Content-Length"]) == len(whole.content)
    etag = whole.headers["ETag"]
    n = len(whole.content)
    for start, stop in ((0, 10), (n // 3, n // 3 + 5000), (n - 700, n - 1), (1234, n - 1)):
        part = httpx.get(url, headers={"Range": f"bytes={start}-{stop}", "If-Range": etag},
                         timeout=60)  # fmt: skip
        assert part.status_code == 206 and part.content == whole.content[start : stop + 1]
    config = tmp_path / "config"
    with CuttingProxy(a.port, cut_down=1_500_000, cuts=2) as proxy:
        pulled = json_line(heimdall(b, config, "pull", proxy.base_url, model_id, "--json"))
        assert proxy.cut_count >= 2
    _same(root, _unpacked(b, pulled["model_id"], tmp_path, "resumed"))
