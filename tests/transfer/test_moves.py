"""push, pull, copy, list/show --remote, and bundle URLs, end to end between two real
servers; connections cut mid-transfer by a loopback proxy."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.proxy import CuttingProxy
from tests.support.servers import HeimdallServer
from tests.support.synthetic import synthetic_model_bytes

from .helpers import MODELS, heimdall, imported_objects, json_line, md5, models

KEY_A = "transfer-test-key-a-0123456789"
Pair = tuple[HeimdallServer, HeimdallServer]
Model = tuple[str, Path]
SIZE = 3_000_001


@pytest.fixture(scope="module")
def pair(heimdall_server_factory: Any) -> Pair:
    """A (API key KEY_A, admin) and B (open): two instances, each its own registry."""
    a = heimdall_server_factory({"HEIMDALL_API_KEYS": f"{KEY_A}:admin"}, "transfer-a")
    b = heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}, "transfer-b")
    return a, b


@pytest.fixture(scope="module")
def model(pair: Pair, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:  # fmt: skip
    """A model registered on A: (its id, the ONNX file)."""
    path = tmp_path_factory.mktemp("transfer") / "model.onnx"
    path.write_bytes(synthetic_model_bytes(SIZE, seed=21))
    a, _ = pair
    return a.cli("register", str(path), "--name", "Mover", "-q").stdout.strip(), path


@pytest.fixture
def config(tmp_path: Path, pair: Pair) -> Path:
    """An XDG config dir whose remotes.json names A ("a", with its key) and B ("b")."""
    a, b = pair
    key_file = tmp_path / "a.key"
    key_file.write_text(KEY_A + "\n")
    home = tmp_path / "config"
    heimdall(b, home, "remote", "add", "a", a.base_url, "--key-file", str(key_file))
    heimdall(a, home, "remote", "add", "b", b.base_url)
    return home


def test_push_pull_copy_list_show(pair: Pair, model: Model, config: Path, tmp_path: Path) -> None:
    a, b = pair
    model_id, onnx = model
    outputs: list[str] = []

    def run(server: HeimdallServer, *args: str) -> Any:
        result = heimdall(server, config, *args)
        outputs.extend((result.stdout, result.stderr))
        return result

    pushed = json_line(run(a, "push", model_id, "b", "--json", "--no-samples"))
    assert pushed["remote"] == "b" and pushed["source_model_id"] == model_id
    assert pushed["onnx_md5"] == md5(onnx)
    on_b = models(b)[pushed["model_id"]]
    assert on_b["model_name"] == "Mover (Imported)" and on_b["onnx_md5"] == md5(onnx)

    # B's CLI pulls A's model (A needs its key: from the remotes config).
    pulled = json_line(run(b, "pull", "a", model_id, "--json"))
    assert pulled["onnx_md5"] == md5(onnx) and pulled["model_id"] in models(b)

    listed = run(a, "list", "--remote", "b", "--json").stdout
    assert pushed["model_id"] in listed
    from heimdall_io.transfer.client import RemoteClient
    from heimdall_io.transfer.remotes import Remote

    with RemoteClient(Remote("b", b.base_url)) as client:  # page after page (Link: next)
        paged = [m["model_id"] for m in client.list_models(page_size=1)]
    assert paged == list(models(b)) and len(paged) >= 2
    shown = run(b, "show", "--remote", "a", model_id, "--json").stdout
    assert model_id in shown and "Mover" in shown
    assert "Mover" in run(a, "list", "--remote", "b").stdout

    # copy: remote -> file -> remote, and remote -> remote, file -> local.
    bundle = tmp_path / "copied.heimdall"
    run(a, "copy", f"b:{pushed['model_id']}", str(bundle), "-q")
    assert json.loads(run(a, "inspect", str(bundle), "--json").stdout)["payload"]["md5"] == md5(
        onnx
    )
    copied = json_line(run(a, "copy", str(bundle), "b:", "--json"))
    assert copied["model_id"] in models(b)
    across = json_line(run(b, "copy", f"a:{model_id}", "b:", "--json"))
    assert across["onnx_md5"] == md5(onnx) and across["model_id"] in models(b)
    local = json_line(run(a, "copy", str(bundle), "local:", "--json"))
    assert local["model_id"] in models(a, KEY_A)

    # Keys are never printed (remote list included).
    listing = run(b, "remote", "list", "--json").stdout
    assert '"api_key": true' in listing
    assert all(KEY_A not in text for text in outputs)
    assert (config / "heimdall" / "remotes.json").stat().st_mode & 0o077 == 0


def test_wrong_key_and_unknown_model(pair: Pair, model: Model, config: Path) -> None:
    a, b = pair
    r = heimdall(b, config, "pull", "a", str(uuid.uuid4()), check=False)
    assert r.returncode == 1 and "not found on remote a" in r.stderr
    r = heimdall(b, config, "list", "--remote", a.base_url, "--api-key", "wrong", check=False)
    assert r.returncode == 1 and "HTTP 401" in r.stderr and "wrong" not in r.stderr
    r = heimdall(b, config, "list", "--remote", "nowhere", check=False)
    assert r.returncode == 1 and "No remote named 'nowhere'" in r.stderr


def test_pull_resumes_after_cuts(pair: Pair, model: Model, config: Path) -> None:
    a, b = pair
    model_id, onnx = model
    audit_before = len(_audit(a))
    with CuttingProxy(a.port, cut_down=700_000, cuts=3) as proxy:
        pulled = json_line(heimdall(b, config, "pull", proxy.base_url, model_id, "--json",
                                    "--api-key", KEY_A))  # fmt: skip
        assert proxy.cut_count >= 3 and proxy.connections >= 4
    assert pulled["onnx_md5"] == md5(onnx)
    assert models(b)[pulled["model_id"]]["onnx_sha256"] == pulled["onnx_sha256"]
    ranges = [e for e in _audit(a)[: len(_audit(a)) - audit_before]
              if e["action"] == "export" and "bytes" in (e["detail"] or "")]  # fmt: skip
    assert ranges, "the resumed requests were byte ranges"


def test_pull_cut_for_good_registers_nothing(pair: Pair, model: Model, config: Path) -> None:
    a, b = pair
    model_id, _ = model
    before, objects = set(models(b)), set(imported_objects(b))
    with CuttingProxy(a.port, cut_down=700_000, cuts=None, accept_limit=1) as proxy:
        r = heimdall(b, config, "pull", proxy.base_url, model_id, "--api-key", KEY_A, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1
    assert set(models(b)) == before and set(imported_objects(b)) == objects


def test_push_cut_registers_nothing_there(pair: Pair, model: Model, config: Path) -> None:
    a, b = pair
    model_id, _ = model
    before, objects = set(models(b)), set(imported_objects(b))
    with CuttingProxy(b.port, cut_up=1_000_000, cuts=1) as proxy:
        r = heimdall(a, config, "push", model_id, proxy.base_url, check=False)
    assert r.returncode == 1 and "nothing was imported" in r.stderr, r.stderr
    deadline = time.monotonic() + 10
    while set(imported_objects(b)) != objects and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the disconnect, removes its object
    assert set(models(b)) == before and set(imported_objects(b)) == objects


def test_import_and_inspect_https_urls(
    pair: Pair, model: Model, config: Path, tmp_path: Path
) -> None:
    a, b = pair
    model_id, onnx = model
    pushed = json_line(heimdall(a, config, "push", model_id, "b", "--json"))
    path = f"{MODELS}/{pushed['model_id']}/export?bundle_id={uuid.uuid4()}"
    with CuttingProxy(b.port, cut_down=800_000, cuts=2) as proxy:
        imported = json_line(heimdall(a, config, "import", proxy.url(path), "--json"))
        assert proxy.connections >= 3
    assert imported["onnx_md5"] == md5(onnx) and imported["model_id"] in models(a, KEY_A)
    with CuttingProxy(b.port) as proxy:
        info = heimdall(a, config, "inspect", proxy.url(path), "--json").stdout
        assert '"size_bytes": 3000001' in info and md5(onnx) in info
        assert proxy.bytes_down < 200_000, "inspect fetched only the bytes around the payload"
    with CuttingProxy(b.port, cut_down=900_000, cuts=1):
        out = tmp_path / "m.onnx"
        heimdall(a, config, "unpack", b.url(path), "-o", str(out), "-q")
        assert md5(out) == md5(onnx)
        assert "OK" in heimdall(a, config, "verify", b.url(path)).stdout


def test_reproducible_export(pair: Pair, model: Model, config: Path, tmp_path: Path) -> None:
    a, _ = pair
    model_id, _ = model
    one, two = tmp_path / "1.heimdall", tmp_path / "2.heimdall"
    heimdall(a, config, "export", model_id, "-o", str(one), "--reproducible", "-q")
    heimdall(a, config, "export", model_id, "-o", str(two), "--reproducible", "-q")
    assert one.read_bytes() == two.read_bytes()
    three = tmp_path / "3.heimdall"
    heimdall(a, config, "export", model_id, "-o", str(three), "-q")
    assert three.read_bytes() != one.read_bytes()


def _audit(server: HeimdallServer) -> list[dict[str, Any]]:
    import httpx

    r = httpx.get(server.url("/api/v1/training/audit"),
                  headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_bundle_url_without_ranges(pair: Pair, model: Model, config: Path, tmp_path: Path) -> None:
    """A plain static server (python -m http.server: no Range): read as one stream."""
    import subprocess
    import sys

    from tests.support.servers import free_ports

    a, _ = pair
    model_id, onnx = model
    (tmp_path / "www").mkdir()
    heimdall(a, config, "export", model_id, "-o", str(tmp_path / "www" / "m.heimdall"), "-q")
    port = free_ports(1)[0]
    files = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                              "127.0.0.1", "--directory", str(tmp_path / "www")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/m.heimdall"
        deadline = time.monotonic() + 20
        while True:
            r = heimdall(a, config, "inspect", url, "--json", check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert json.loads(r.stdout)["payload"]["md5"] == md5(onnx)
        assert json_line(heimdall(a, config, "import", url, "--json"))["onnx_md5"] == md5(onnx)
        missing = heimdall(a, config, "import", url + ".nope", check=False)
        assert missing.returncode == 1 and "not found" in missing.stderr
    finally:
        files.terminate()
        files.wait(timeout=10)


def test_inspect_of_a_remote_bundle_with_external_data(
    pair: Pair, config: Path, tmp_path: Path
) -> None:
    """inspect of a remote bundle with external data lists its files and seeks over every
    payload (ranged requests): it fetches little of the 4 MiB of data."""
    from tests.support.synthetic import write_external_model

    a, b = pair
    sizes = write_external_model(tmp_path / "net", 4 << 20, files=2, subdir="data")
    model_id = b.cli("register", str(tmp_path / "net"), "--name", "ExtMover", "-q").stdout.strip()
    path = f"{MODELS}/{model_id}/export?bundle_id={uuid.uuid4()}"  # pinned: ranges served
    with CuttingProxy(b.port) as proxy:
        out = heimdall(a, config, "inspect", proxy.url(path), "--json")
        # A window of metadata around each payload, not the 4 MiB of data.
        assert proxy.bytes_down < 1 << 20, "inspect seeks over the payloads"
    info = json.loads(out.stdout)
    listed = {f["path"]: (f["size_bytes"], f["md5"]) for f in info["external_data"]}
    assert listed == {p: (n, md5(tmp_path / "net" / p)) for p, n in sizes.items()
                      if p != "model.onnx"}  # fmt: skip
