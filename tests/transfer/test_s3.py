"""s3:// bundle URLs on a real SeaweedFS, and a pair of servers on PostgreSQL + SeaweedFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from heimdall_io.storage.s3 import list_incomplete_uploads
from tests.support.proxy import CuttingProxy
from tests.support.servers import HeimdallServer, SeaweedFS
from tests.support.synthetic import synthetic_model_bytes

from .helpers import heimdall, json_line, md5, models


def _bucket(s3_url: str) -> str:
    return urlsplit(s3_url).netloc


def _cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``heimdall ARGS`` on an embedded registry in ``home``, S3 keys from the test's env."""
    env = {**os.environ, "HEIMDALL_HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg")}
    for name in ("HEIMDALL_DATABASE_URL", "HEIMDALL_STORAGE_URL"):
        env.pop(name, None)
    r = subprocess.run([sys.executable, "-m", "heimdall_io", *args], env=env, text=True,
                       capture_output=True, timeout=180)  # fmt: skip
    if check and r.returncode != 0:
        raise AssertionError(f"heimdall {' '.join(args)}: {r.stderr}")
    return r


Registered = tuple[Path, str, Path]


@pytest.fixture
def registered(tmp_path: Path) -> Registered:
    """(HEIMDALL_HOME, the id of a 6 MB model registered there, its ONNX file)."""
    home, onnx = tmp_path / "home", tmp_path / "m.onnx"
    onnx.write_bytes(synthetic_model_bytes(6_000_001, seed=31))  # > one 5 MiB part
    model_id = _cli(home, "register", str(onnx), "--name", "S3Net", "-q").stdout.strip()
    return home, model_id, onnx


def test_export_inspect_import_s3(
    s3_url: str, seaweedfs: SeaweedFS, registered: Registered, tmp_path: Path
) -> None:
    home, model_id, onnx = registered
    endpoint = parse_qs(urlsplit(s3_url).query)["endpoint"][0]
    url = f"s3://{_bucket(s3_url)}/bundles/m.heimdall?endpoint={endpoint}"
    _cli(home, "export", model_id, "-o", url, "-q")
    refused = _cli(home, "export", model_id, "-o", url, "-q", check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    _cli(home, "export", model_id, "-o", url, "-q", "--force")
    stat = seaweedfs.client().stat_object(_bucket(s3_url), "bundles/m.heimdall")
    with CuttingProxy(int(endpoint.rsplit(":", 1)[1])) as proxy:
        via = url.replace(endpoint, proxy.base_url)
        info = json.loads(_cli(home, "inspect", via, "--json").stdout)
        assert info["payload"]["md5"] == md5(onnx)
        assert proxy.bytes_down < 300_000 < stat.size, "only the metadata was fetched"
    imported = json_line(_cli(home, "import", url, "--json"))
    assert imported["onnx_md5"] == md5(onnx)
    out = tmp_path / "out.onnx"
    _cli(home, "unpack", url, "-o", str(out), "-q")
    assert md5(out) == md5(onnx)
    assert "OK" in _cli(home, "verify", url).stdout
    packed = f"s3://{_bucket(s3_url)}/packed.heimdall?endpoint={endpoint}"
    _cli(home, "pack", str(onnx), "-o", packed, "-q")
    assert json.loads(_cli(home, "inspect", packed, "--json").stdout)["payload"]["md5"] == md5(onnx)


def test_s3_reads_resume(s3_url: str, registered: Registered) -> None:
    home, model_id, onnx = registered
    endpoint = parse_qs(urlsplit(s3_url).query)["endpoint"][0]
    url = f"s3://{_bucket(s3_url)}/r.heimdall?endpoint={endpoint}"
    _cli(home, "export", model_id, "-o", url, "-q")
    with CuttingProxy(int(endpoint.rsplit(":", 1)[1]), cut_down=2_000_000, cuts=2) as proxy:
        imported = json_line(_cli(home, "import", url.replace(endpoint, proxy.base_url), "--json"))
        assert proxy.cut_count >= 2
    assert imported["onnx_md5"] == md5(onnx)


def test_failed_s3_export_leaves_nothing(
    s3_url: str, seaweedfs: SeaweedFS, registered: Registered
) -> None:
    home, model_id, _ = registered
    (stored,) = (home / "objects").rglob("S3Net-*")
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes: the export's checksum check fails at the end
    stored.write_bytes(bytes(data))
    bucket = _bucket(s3_url)
    url = (
        f"s3://{bucket}/broken.heimdall?endpoint={parse_qs(urlsplit(s3_url).query)['endpoint'][0]}"
    )
    r = _cli(home, "export", model_id, "-o", url, "-q", check=False)
    assert r.returncode == 1 and "SHA-256 mismatch" in r.stderr, r.stderr
    client = seaweedfs.client()
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == []
    assert list_incomplete_uploads(client, bucket) == []


def test_pair_on_postgres_and_seaweedfs(
    heimdall_server_factory: Any, pg_url: str, s3_url: str, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    """Server P on PostgreSQL + SeaweedFS, server Q embedded: push Q->P, pull P->Q (cut)."""
    creds = {"HEIMDALL_S3_ACCESS_KEY": seaweedfs.access_key,
             "HEIMDALL_S3_SECRET_KEY": seaweedfs.secret_key}  # fmt: skip
    p = heimdall_server_factory({"HEIMDALL_DATABASE_URL": pg_url, "HEIMDALL_STORAGE_URL": s3_url,
                                 **creds}, "pg-s3")  # fmt: skip
    q: HeimdallServer = heimdall_server_factory({}, "embedded")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(synthetic_model_bytes(4_000_001, seed=41))
    model_id = q.cli("register", str(onnx), "--name", "PgNet", "-q").stdout.strip()
    config = tmp_path / "cfg"
    heimdall(q, config, "remote", "add", "p", p.base_url)
    pushed = json_line(heimdall(q, config, "push", model_id, "p", "--json"))
    assert models(p)[pushed["model_id"]]["onnx_md5"] == md5(onnx)
    stored = seaweedfs.client().list_objects(_bucket(s3_url), recursive=True)
    assert pushed["onnx_path"] in {o.object_name for o in stored}
    with CuttingProxy(p.port, cut_down=1_500_000, cuts=2) as proxy:
        pulled = json_line(
            heimdall(q, config, "pull", proxy.base_url, pushed["model_id"], "--json")
        )
        assert proxy.cut_count >= 2
    assert pulled["onnx_md5"] == md5(onnx) and pulled["model_id"] in models(q)
    assert uuid.UUID(pulled["model_id"])
