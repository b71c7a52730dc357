"""A bundle of more than 200 MiB imported through the page, on a server without API keys:
the browser streams the file from disk as the request body, the progress bar moves, and
the server's memory stays flat."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import MODELS, client
from tests.support.browser import Browser
from tests.support.synthetic import write_synthetic_model

from .helpers import Page

MODEL_BYTES = 160 << 20  # base64 makes a bundle of about 213 MiB
MIN_BUNDLE_BYTES = 200 << 20


@pytest.mark.slow
def test_large_import_through_the_page(
    browser: Browser, heimdall_server_factory: Any, tmp_path: Path
) -> None:
    server = heimdall_server_factory({"HEIMDALL_MAX_IMPORT_BYTES": "1GiB"}, "web-large")
    onnx = tmp_path / "large.onnx"
    md5 = hashlib.md5()
    with open(onnx, "wb") as f:

        class Hashing:
            def write(self, data: bytes) -> None:
                md5.update(data)
                f.write(data)

        write_synthetic_model(Hashing(), MODEL_BYTES, seed=31)
    bundle = tmp_path / "LargeNet.heimdall"
    server.cli("pack", str(onnx), "-o", str(bundle), "--name", "LargeNet", "-q", timeout=600)
    onnx.unlink()
    assert bundle.stat().st_size >= MIN_BUNDLE_BYTES
    rss_before = server.status_kib("VmRSS")

    page = Page(browser, server)
    page.open(None, "import")  # no keys configured: no key asked, every action offered
    assert not page.find("#key-form").is_displayed()
    assert "Open access" in page.text("#role-label")
    assert page.find("a[data-nav=import]").is_displayed()
    page.find("#import-files").send_keys(str(bundle))

    seen: set[int] = set()
    deadline = time.monotonic() + 600
    item = page.find("#uploads li.upload")
    while item.get_attribute("data-state") not in ("done", "error"):
        seen.add(int(float(item.find_element("css selector", "progress").get_attribute("value"))))
        assert time.monotonic() < deadline, "the upload did not finish"
        time.sleep(0.05)
    browser.screenshot("large-import")
    result = item.find_element("css selector", ".upload-result").text
    assert item.get_attribute("data-state") == "done", result
    assert any(0 < v < 100 for v in seen), f"no progress shown in between: {sorted(seen)}"
    model_id = item.find_element("css selector", "a.new-model-id").text
    with client(server, None) as http:
        record = http.get(f"{MODELS}/{model_id}").json()
    assert record["onnx_md5"] == md5.hexdigest()
    assert record["onnx_size_bytes"] == MODEL_BYTES
    # Streamed: the server never held the bundle (its peak is far below the 213 MiB body).
    peak_mib = server.status_kib("VmHWM") / 1024
    assert peak_mib < rss_before / 1024 + 150, f"peak RSS {peak_mib:.0f} MiB"
    server.stop()
