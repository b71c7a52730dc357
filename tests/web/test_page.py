"""The web page in a real browser (headless Chromium) against a real ``heimdall serve``
with API keys: import, the model detail and its charts, export, delete, roles, hostile
names, compare, audit, keyboard use and labels. Screenshots: test-output/screenshots."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from tests.api.helpers import MODELS, client, register_model
from tests.support.browser import Browser
from tests.support.servers import HeimdallServer
from tests.support.synthetic import synthetic_model_bytes, write_external_model

from .helpers import Page, bundle_file, model_sections, path_points

ADMIN = "web-admin-key-0123456789"
READ = "web-read-key-0123456789"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def server(heimdall_server_factory: Any) -> HeimdallServer:
    """A server of this module's own (the tests delete models), with an admin and a read key."""
    return heimdall_server_factory(  # type: ignore[no-any-return]
        {"HEIMDALL_API_KEYS": f"{ADMIN}:admin,{READ}:read"}, "web"
    )


@pytest.fixture(scope="module")
def detailed(server: HeimdallServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registered model with 40 epochs of curves and every section."""
    path = tmp_path_factory.mktemp("detailed") / "localization.onnx"
    data = synthetic_model_bytes(96 << 10, seed=11)
    path.write_bytes(data)
    sections = model_sections(40)
    model_id = register_model(server, path, name="LocalizationNet", sections=sections)
    return {"id": model_id, "md5": hashlib.md5(data).hexdigest(), "sections": sections}


@pytest.fixture
def page(browser: Browser, server: HeimdallServer) -> Page:
    browser.console()  # forget what earlier tests logged
    return Page(browser, server)


def api(server: HeimdallServer, key: str = ADMIN) -> httpx.Client:
    return client(server, key)


def no_csp_violations(browser: Browser) -> None:
    logged = browser.console()
    bad = [m for m in logged if "Content Security Policy" in m or "TrustedHTML" in m]
    assert not bad, bad


# -- import -------------------------------------------------------------------------------


def test_import_two_bundles_through_the_file_input(
    page: Page, browser: Browser, server: HeimdallServer, tmp_path: Path
) -> None:
    first, md5_first = bundle_file(server, tmp_path, "FirstNet", seed=1)
    second, md5_second = bundle_file(server, tmp_path, "SecondNet", seed=2, zstd=True)
    broken = tmp_path / "broken.heimdall"
    broken.write_text('{"format_version": "1.0.0", "model": {}}')
    page.open(ADMIN, "import")
    page.find("#import-files").send_keys("\n".join(str(p) for p in (first, second, broken)))

    done = "#uploads li[data-state=done], #uploads li[data-state=error]"
    page.wait(lambda: len(page.find_all(done)) == 3, what="three results")
    items = page.find_all(done)
    states = {li.find_element("css selector", ".file-name").text: li for li in items}
    ids = {}
    for name, md5 in (("FirstNet.heimdall", md5_first), ("SecondNet.heimdall", md5_second)):
        li = states[name]
        assert li.get_attribute("data-state") == "done"
        link = li.find_element("css selector", "a.new-model-id")
        assert UUID.fullmatch(link.text)
        assert li.find_element("css selector", "progress").get_attribute("value") == "100"
        ids[name] = link.text
        with api(server) as http:
            record = http.get(f"{MODELS}/{link.text}").json()
        assert record["onnx_md5"] == md5
        assert record["model_name"] == name.replace(".heimdall", " (Imported)")
    bad = states["broken.heimdall"]
    assert bad.get_attribute("data-state") == "error"
    message = bad.find_element("css selector", ".upload-result").text
    assert message.startswith("Invalid bundle format:")
    assert "{" not in message  # the detail, not the JSON body
    browser.screenshot("import-results")

    # The new id links to the model.
    states["FirstNet.heimdall"].find_element("css selector", "a.new-model-id").click()
    assert page.text("#model-title").startswith("FirstNet (Imported)")
    no_csp_violations(browser)


def test_import_by_drag_and_drop(page: Page, server: HeimdallServer, tmp_path: Path) -> None:
    bundle, md5 = bundle_file(server, tmp_path, "DroppedNet", seed=3)
    page.open(ADMIN, "import")
    page.find("#dropzone")
    # A drop event carrying a File, as a drag from the desktop delivers it.
    page.driver.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const file = new File([bytes], "DroppedNet.heimdall");
        const transfer = new DataTransfer();
        transfer.items.add(file);
        const zone = document.getElementById("dropzone");
        for (const type of ["dragenter", "dragover", "drop"]) {
          const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
          zone.dispatchEvent(new DragEvent(type, init));
        }
        """,
        base64.b64encode(bundle.read_bytes()).decode(),
    )
    link = page.find("#uploads li[data-state=done] a.new-model-id")
    with api(server) as http:
        assert http.get(f"{MODELS}/{link.text}").json()["onnx_md5"] == md5


def test_file_over_the_limit_is_not_sent(page: Page, tmp_path: Path) -> None:
    """The server's limit (100 MiB here) is checked before a byte is sent."""
    big = tmp_path / "huge.heimdall"
    with open(big, "wb") as f:
        f.truncate((100 << 20) + 1)  # sparse: costs no disk
    page.open(ADMIN, "import")
    page.find("#import-files").send_keys(str(big))
    item = page.find("#uploads li[data-state=error]")
    message = item.find_element("css selector", ".upload-result").text
    assert message == (
        "Too large: 104857601 bytes is over this server's import limit of 104857600 bytes "
        "(HEIMDALL_MAX_IMPORT_BYTES). Nothing was sent."
    )
    assert item.find_element("css selector", "progress").get_attribute("value") == "0"


# -- model detail ---------------------------------------------------------------------------


def test_model_detail_plots_every_epoch(
    page: Page, browser: Browser, detailed: dict[str, Any]
) -> None:
    page.open(READ)
    rows = page.models_loaded()
    link = next(r for r in rows if r.get_attribute("data-model-id") == detailed["id"])
    rmse = link.find_element("css selector", "td.rmse")
    page.wait(lambda: rmse.text.endswith(" m"), what="the best val RMSE (from the detail)")
    link.find_element("css selector", "a.model-link").click()
    assert page.text("#model-title").startswith("LocalizationNet")
    metrics = detailed["sections"]["performance_metrics"]
    epochs = len(metrics["val_loss"])

    page.find("figure[data-chart=loss] path.series")
    for chart, names in (
        ("loss", ("train_loss", "val_loss")),
        ("rmse", ("train_rmse", "val_rmse")),
    ):
        paths = page.find_all(f"figure[data-chart={chart}] path.series")
        assert [p.get_attribute("data-series") for p in paths] == list(names)
        for p in paths:
            points = path_points(p.get_attribute("d"))
            assert len(points) == epochs == int(p.get_attribute("data-points"))
            xs = [x for x, _ in points]
            assert xs == sorted(xs) and len(set(xs)) == epochs
        # The best epoch is marked on the validation curve, at its point.
        best = metrics["best_epoch"]
        marker = page.find(f"figure[data-chart={chart}] g.best")
        assert marker.get_attribute("data-best-epoch") == str(best)
        circle = marker.find_element("css selector", "circle")
        val_points = path_points(paths[1].get_attribute("d"))
        cx, cy = float(circle.get_attribute("cx")), float(circle.get_attribute("cy"))
        assert (round(cx, 1), round(cy, 1)) == val_points[best - 1]
        # The lower a value, the lower the point (SVG y grows downwards).
        values = metrics[names[1]]
        low, high = values.index(min(values)), values.index(max(values))
        assert val_points[low][1] > val_points[high][1]

    best_rmse = min(metrics["val_rmse"])
    assert page.text("#metrics-summary").count("m") >= 1
    assert f"{best_rmse:g}"[:5] in page.text("#metrics-summary")
    normalization = page.find_all("#normalization-table tbody tr")
    assert len(normalization) == 5
    assert "-71.2" in normalization[0].text and "6.1" in normalization[0].text
    assert len(page.find_all("#samples-table tbody tr")) == 8
    assert detailed["md5"] in page.text("#checksums-table")
    assert "Adam" in page.text("#config-table")
    assert "registered here" in page.text("#provenance")
    assert page.find_all("#export-form")  # a read key may export
    # The focus is on the model's heading, where keyboard users start.
    assert page.driver.switch_to.active_element.get_attribute("id") == "model-title"
    browser.screenshot("model-detail")
    no_csp_violations(browser)


def test_chart_leaves_gaps_for_missing_epochs(
    page: Page, server: HeimdallServer, tmp_path: Path
) -> None:
    path = tmp_path / "gappy.onnx"
    path.write_bytes(synthetic_model_bytes(16 << 10, seed=4))
    metrics = {"train_loss": [0.9, 0.7, None, 0.4, 0.3], "val_loss": [1.0, 0.8, 0.6, 0.65, 0.7]}
    model_id = register_model(server, path, name="Gappy", sections={"performance_metrics": metrics})
    page.open(READ, f"models/{model_id}")
    train = page.find("figure[data-chart=loss] path[data-series=train_loss]")
    d = train.get_attribute("d")
    assert len(path_points(d)) == 4
    assert d.count("M") == 2  # the line breaks at the missing epoch
    # No best_epoch in the metrics: the lowest val_loss (epoch 3) is marked.
    assert page.find("figure[data-chart=loss] g.best").get_attribute("data-best-epoch") == "3"
    assert not page.find_all("figure[data-chart=rmse]")  # no RMSE curves, no chart


def test_provenance_shows_the_signers(page: Page, server: HeimdallServer, tmp_path: Path) -> None:
    """Signatures (format 1.2.0: a top-level array, kept by the import) and the provenance
    of earlier bundles are shown, their signer names as text."""
    bundle, _ = bundle_file(server, tmp_path, "SignedNet", seed=12)
    document = json.loads(bundle.read_bytes())
    signed: dict[str, Any] = {}
    for key, value in document.items():
        if key == "model":
            signed["signatures"] = [{
                "algorithm": "ed25519", "key_id": "0807060504030201",
                "signature": base64.b64encode(bytes(64)).decode(),
                "signer": "<b>release team</b>", "signed_at": "2025-01-01T00:00:00Z",
            }]  # fmt: skip
        signed[key] = value
    signed["bundle_metadata"]["provenance"] = [{
        "signatures": [{"algorithm": "ed25519", "key_id": "1111111111111111",
                        "signer": "origin lab", "signed_at": "2024-06-01T00:00:00Z"}],
        "metadata": {"bundle_metadata": {"created_at": "2024-06-01T00:00:00Z",
                                         "exported_by": "heimdall-io 0.1.0"}},
    }]  # fmt: skip
    with api(server) as http:
        r = http.post(f"{MODELS}/import", content=json.dumps(signed).encode())
        assert r.status_code == 201, r.text
    page.open(READ, f"models/{r.json()['model_id']}")
    signers = [e.text for e in page.find_all("#provenance td.signer")]
    assert signers == ["<b>release team</b>", "origin lab"]
    keys = [e.text for e in page.find_all("#provenance code.key-id")]
    assert keys == ["0807060504030201", "1111111111111111"]
    provenance = page.text("#provenance-table")
    assert "a bundle that named no model id" in provenance  # `pack` gives none
    assert document["bundle_metadata"]["bundle_id"] in provenance


def test_external_data_files_are_listed(page: Page, server: HeimdallServer, tmp_path: Path) -> None:
    """A model saved with external data shows its data files with sizes and digests."""
    sizes = write_external_model(tmp_path / "net", 1 << 20, files=2, subdir="data")
    bundle = tmp_path / "net.heimdall"
    subprocess.run([sys.executable, "-m", "heimdall_io", "pack", str(tmp_path / "net"), "-o",
                    str(bundle), "--name", "BigNet", "-q"], check=True)  # fmt: skip
    with api(server) as http:
        r = http.post(f"{MODELS}/import", content=bundle.read_bytes())
        assert r.status_code == 201, r.text
    page.open(READ, f"models/{r.json()['model_id']}")
    rows = [e.text for e in page.find_all("#external-data-table tbody tr")]
    files = sorted(p for p in sizes if p != "model.onnx")
    assert len(rows) == len(files) == 2
    for row, path in zip(rows, files, strict=True):
        data = (tmp_path / "net" / path).read_bytes()
        assert path in row and f"{len(data):,} bytes" in row
        assert hashlib.md5(data).hexdigest() in row and hashlib.sha256(data).hexdigest() in row
    assert "2 files" in page.text("#external-data-table caption")


def test_missing_model_shows_the_servers_message(page: Page) -> None:
    page.open(READ, f"models/{uuid.uuid4()}")
    assert page.error() == "Model not found (HTTP 404)"


# -- export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_export_with_options_downloads_the_bundle(
    page: Page, browser: Browser, server: HeimdallServer, detailed: dict[str, Any],
    compression: str,
) -> None:  # fmt: skip
    browser.clear_downloads()
    page.open(READ, f"models/{detailed['id']}")
    form = page.find("#export-form")
    form.find_element("css selector", "input[name=include_samples]").click()  # off
    form.find_element("css selector", "input[name=include_normalization]").click()  # off
    form.find_element("css selector", "input[name=description]").send_keys("for <the> field team")
    from selenium.webdriver.support.ui import Select

    Select(form.find_element("css selector", "select[name=compression]")).select_by_value(
        compression
    )
    page.find("#export-button").click()
    saved = browser.wait_for_download()
    assert saved.name == "LocalizationNet-v3.heimdall"
    raw = saved.read_bytes()
    text = zstandard.ZstdDecompressor().stream_reader(raw).read() if compression == "zstd" else raw
    if compression == "zstd":
        assert raw[:4] == b"\x28\xb5\x2f\xfd"
    document = json.loads(text)
    payload = base64.b64decode(document["model"]["onnx_model_base64"])
    assert hashlib.md5(payload).hexdigest() == detailed["md5"]
    assert document["model"]["onnx_md5"] == detailed["md5"]
    assert "sample_predictions" not in document
    assert "normalization_stats" not in document
    assert document["performance_metrics"] == detailed["sections"]["performance_metrics"]
    assert document["bundle_metadata"]["description"] == "for <the> field team"
    assert "started" in page.text("#export-status")
    assert not page.find("#error").is_displayed()


def test_export_error_is_shown_readably(page: Page, detailed: dict[str, Any]) -> None:
    page.open(READ, f"models/{detailed['id']}")
    number = page.find("#export-form input[name=num_samples]")
    page.driver.execute_script("arguments[0].value = '-3'; arguments[0].min = ''", number)
    page.find("#export-button").click()
    message = page.error()
    assert message.startswith("num_samples must be an integer from 0 to")
    assert message.endswith("(HTTP 422)")


def test_failed_download_is_shown_readably(
    page: Page, browser: Browser, server: HeimdallServer, tmp_path: Path
) -> None:
    """The link is fine but the export fails (its object is gone): the frame the download
    ran in shows the server's JSON, which the page reads and shows as a message."""
    path = tmp_path / "lost.onnx"
    path.write_bytes(synthetic_model_bytes(16 << 10, seed=13))
    model_id = register_model(server, path, name="Lost")
    with api(server) as http:
        onnx_path = http.get(f"{MODELS}/{model_id}").json()["onnx_path"]
    (server.home / "objects" / onnx_path).unlink()
    browser.clear_downloads()
    page.open(READ, f"models/{model_id}")
    page.find("#export-button").click()
    message = page.error()
    assert message.startswith("The download failed: Failed to download ONNX model")
    assert "{" not in message
    assert not [p for p in browser.downloads.iterdir() if p.suffix == ".heimdall"]


# -- roles, delete --------------------------------------------------------------------------


def test_read_key_sees_no_admin_actions(
    page: Page, browser: Browser, detailed: dict[str, Any]
) -> None:
    page.open(READ, f"models/{detailed['id']}")
    page.find("#export-form")
    assert "read key" in page.text("#role-label")
    assert not page.find_all("#delete-button")
    assert not page.find("a[data-nav=import]").is_displayed()
    page.go("import")
    assert "needs an admin" in page.text("main")
    assert not page.find("#import-files").is_enabled()
    browser.screenshot("read-key-import")


def test_delete_as_admin(page: Page, server: HeimdallServer, tmp_path: Path) -> None:
    path = tmp_path / "doomed.onnx"
    path.write_bytes(synthetic_model_bytes(16 << 10, seed=9))
    model_id = register_model(server, path, name="Doomed")
    page.open(ADMIN, f"models/{model_id}")
    from selenium.webdriver.common.keys import Keys

    # Escape and Cancel keep the model.
    page.find("#delete-button").click()
    dialog = page.find("#confirm-dialog")
    page.wait(dialog.is_displayed, what="the dialog")
    assert "Doomed" in page.text("#confirm-text")
    assert page.driver.switch_to.active_element.get_attribute("id") == "confirm-cancel"
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait(lambda: not dialog.is_displayed(), what="the dialog to close")
    page.find("#delete-button").click()
    page.find("#confirm-cancel").click()
    with api(server) as http:
        assert http.get(f"{MODELS}/{model_id}").status_code == 200

    page.find("#delete-button").click()
    page.find("#confirm-ok").click()
    page.wait(lambda: "Deleted" in page.text("#notice"), what="the notice")
    assert page.driver.execute_script("return location.hash") == "#/models"
    with api(server) as http:
        assert http.get(f"{MODELS}/{model_id}").status_code == 404
    assert model_id not in [r.get_attribute("data-model-id") for r in page.models_loaded()]


# -- keys, hostile input ---------------------------------------------------------------------


def test_the_page_asks_for_a_key(page: Page, browser: Browser) -> None:
    page.open(None)
    assert page.text("main h1") == "API key needed"
    field = page.find("#api-key")
    assert field.get_attribute("type") == "password"
    field.send_keys("not-the-key")
    page.find("#key-form button[type=submit]").click()
    assert page.error() == "Invalid API key: check the key"
    assert page.driver.execute_script("return sessionStorage.length") == 0
    browser.screenshot("key-prompt")
    field.clear()
    page.sign_in(ADMIN)
    page.models_loaded()
    assert page.driver.execute_script("return sessionStorage.length") == 1
    assert page.driver.execute_script("return localStorage.length") == 0
    page.find("#forget-key").click()
    page.wait(lambda: page.text("main h1") == "API key needed")
    assert page.driver.execute_script("return sessionStorage.length") == 0


HOSTILE = "<img src=x onerror=alert(1)>"


def test_hostile_model_name_renders_as_text(
    page: Page, browser: Browser, server: HeimdallServer, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.onnx"
    path.write_bytes(synthetic_model_bytes(16 << 10, seed=8))
    model_id = register_model(server, path, name=HOSTILE, sections={
        "training_config": {"optimizer": "<script>alert(2)</script>"},
        "performance_metrics": {"val_loss": [0.3, 0.2], "<b>odd</b>": "<svg onload=alert(3)>"},
    })  # fmt: skip
    # Without the CSP as a safety net: the page alone must not let the markup run.
    page.driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": True})
    try:
        page.open(ADMIN)
        rows = page.models_loaded()
        row = next(r for r in rows if r.get_attribute("data-model-id") == model_id)
        assert row.find_element("css selector", "a.model-link").text == HOSTILE
        page.find("#model-search").send_keys("onerror")
        page.wait(lambda: len(page.models_loaded()) == 1)
        page.go(f"models/{model_id}")
        assert page.text("#model-title").startswith(HOSTILE)
        assert "<script>alert(2)</script>" in page.text("#config-table")
        assert "<svg onload=alert(3)>" in page.text("#metrics")
        assert page.driver.execute_script("return document.title").startswith(HOSTILE)
        page.go("models")
        page.models_loaded()
        assert not page.find_all("main img, main script, main svg:not(.chart)")
        assert page.alert_text() is None
        browser.screenshot("hostile-name")
    finally:
        page.driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": False})
        page.driver.execute_script("sessionStorage.clear()")


# The server pages its list (?limit=&offset=, Link: rel="next") and leaves the metrics out
# of it: the page must load page by page and take the best val RMSE from each model's
# detail. This counts the list requests (and pages a server that does not, if need be).
PAGING_SERVER = """
const realFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const url = new URL(typeof input === "string" ? input : input.url, location.href);
  const response = await realFetch(input, init);
  if (url.pathname !== "/api/v1/training/models" || !response.ok) return response;
  const limit = Number(url.searchParams.get("limit"));
  const offset = Number(url.searchParams.get("offset") || 0);
  window.__listRequests = (window.__listRequests || 0) + 1;
  const body = await response.clone().json();
  if (!Array.isArray(body) || body.length <= limit) return response;  // it pages
  const headers = {"Content-Type": "application/json"};
  if (offset + limit < body.length) headers.Link = '<next>; rel="next"';
  const page = body.slice(offset, offset + limit).map(({training_metrics, extra, ...r}) => r);
  return new Response(JSON.stringify(page), {status: 200, headers});
};
"""


def test_models_load_page_by_page(
    page: Page, server: HeimdallServer, detailed: dict[str, Any], tmp_path: Path
) -> None:
    for i in range(4):
        path = tmp_path / f"paged{i}.onnx"
        path.write_bytes(synthetic_model_bytes(8 << 10, seed=40 + i))
        register_model(server, path, name=f"Paged{i}", sections={})
    with api(server, READ) as http:
        total = len(http.get(MODELS).json())
    assert total >= 5
    script = page.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": PAGING_SERVER}
    )
    try:
        page.driver.get(server.url("/?page_size=2"))
        page.driver.execute_script("sessionStorage.clear()")
        page.driver.refresh()
        page.sign_in(READ)
        assert len(page.models_loaded()) == 2
        assert "loaded so far" in page.text("#models-status")
        more = page.find("#load-more")
        clicks = 0
        while more.is_displayed():
            count = len(page.models_loaded())
            more.click()
            clicks += 1
            page.wait(lambda c=count: len(page.models_loaded()) > c or not more.is_displayed())
        rows = page.models_loaded()
        assert len(rows) == total
        assert clicks == (total + 1) // 2 - 1  # the Link header said when to stop
        assert page.text("#models-status") == f"{total} models"
        assert page.driver.execute_script("return window.__listRequests") == (total + 1) // 2
        # The list carried no metrics: the best val RMSE came from the model's detail.
        best = min(detailed["sections"]["performance_metrics"]["val_rmse"])
        cell = page.find(f"tr[data-model-id='{detailed['id']}'] td.rmse")
        page.wait(lambda: cell.text.endswith(" m"), what="the lazily loaded RMSE")
        assert cell.text == f"{float(f'{best:.6g}'):g} m"
    finally:
        page.driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
        )


# -- compare, audit, list -----------------------------------------------------------------------


def test_compare_two_models(
    page: Page, browser: Browser, server: HeimdallServer, tmp_path: Path
) -> None:
    ids = []
    for n, seed in ((30, 21), (45, 22)):
        path = tmp_path / f"cmp{seed}.onnx"
        path.write_bytes(synthetic_model_bytes(16 << 10, seed=seed))
        ids.append(register_model(server, path, name=f"Compare{seed}",
                                  sections=model_sections(n, seed)))  # fmt: skip
    page.open(READ)
    page.models_loaded()
    for model_id in ids:
        page.find(f"tr[data-model-id='{model_id}'] input.select-model").click()
    button = page.find("#compare-button")
    assert button.is_enabled()
    button.click()
    page.find("#compare-table")
    paths = page.find_all("figure[data-chart=loss] path.series")
    assert [p.get_attribute("data-series") for p in paths] == [
        "a:train_loss",
        "a:val_loss",
        "b:train_loss",
        "b:val_loss",
    ]
    assert [len(path_points(p.get_attribute("d"))) for p in paths] == [30, 30, 45, 45]
    assert len(page.find_all("figure[data-chart=rmse] g.best")) == 2
    rows = page.find_all("#compare-table tr.differs")
    differing = {r.get_attribute("data-field") for r in rows}
    expected = {"model.model_name", "training_config.epochs", "performance_metrics.val_loss"}
    assert expected <= differing
    assert "model.architecture" not in differing
    browser.screenshot("compare")


def test_search_sort_and_keyboard(page: Page, server: HeimdallServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    for name, version in (("Alpha-kbd", 7), ("Beta-kbd", 2)):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(synthetic_model_bytes(8 << 10, seed=version))
        register_model(server, path, name=name, version=version, sections={})
    page.open(READ)
    page.models_loaded()
    search = page.find("#model-search")
    search.send_keys("-kbd")
    page.wait(lambda: len(page.models_loaded()) == 2)
    header = page.find("th[data-column=version] button.sort")
    header.send_keys(Keys.ENTER)  # the keyboard sorts, like a click
    th = page.find("th[data-column=version]")
    page.wait(lambda: th.get_attribute("aria-sort") == "ascending")
    names = [r.find_element("css selector", "a.model-link").text for r in page.models_loaded()]
    assert names == ["Beta-kbd", "Alpha-kbd"]
    header.send_keys(Keys.ENTER)
    page.wait(lambda: th.get_attribute("aria-sort") == "descending")
    names = [r.find_element("css selector", "a.model-link").text for r in page.models_loaded()]
    assert names == ["Alpha-kbd", "Beta-kbd"]
    # Tab from the search field: the compare button is disabled (nothing selected), so the
    # next stop is the first column's sort button.
    search.click()
    page.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert page.driver.switch_to.active_element.get_attribute("data-sort") == "name"


def test_audit_view(page: Page, detailed: dict[str, Any]) -> None:
    page.open(READ, "audit")
    page.wait(lambda: page.find_all("#audit-table tbody tr"), what="audit rows")
    rows = page.find_all("#audit-table tbody tr")
    actions = [r.find_elements("css selector", "td")[1].text for r in rows]
    assert "register" in actions
    assert page.text("#audit-status").endswith(("entries", "entry"))


@pytest.mark.parametrize("route", ["models", "import", "audit", "models/{id}"])
def test_every_control_is_labelled(page: Page, detailed: dict[str, Any], route: str) -> None:
    page.open(ADMIN, route.format(id=detailed["id"]))
    page.find("main h1")
    unlabelled = page.driver.execute_script(
        """
        return [...document.querySelectorAll("input, select, textarea, button")]
          .filter((el) => el.offsetParent !== null || el.type === "file")
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                          && !(el.tagName === "BUTTON" && el.textContent.trim()))
          .map((el) => el.outerHTML.slice(0, 120));
        """
    )
    assert unlabelled == []
