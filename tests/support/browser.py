"""A headless Chromium for the web page's tests: Debian's ``chromium`` and
``chromium-driver`` (``apt-get install chromium chromium-driver``), driven by selenium.

Nothing here imports pytest: what is missing raises
:class:`~tests.support.servers.ServerUnavailable`, which the fixtures turn into a skip (a
failure under ``CI=true``).

* downloads go to ``downloads`` (Chrome's preferences and CDP
  ``Browser.setDownloadBehavior``), :meth:`Browser.wait_for_download` waits for one;
* :meth:`Browser.screenshot` saves a full-page PNG under ``screenshots`` (the tests use
  ``test-output/screenshots``, which CI keeps as an artifact and git ignores);
* :meth:`Browser.console` returns what the page logged (CSP violations show up there).

Command line, to look at the page: ``python -m tests.support.browser URL OUT.png``.
"""

from __future__ import annotations

import base64
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.servers import ServerUnavailable

__all__ = ["CHROMIUM_FLAGS", "Browser", "find_binaries"]

#: Headless, and quiet: without the background-networking flags Chromium spends its time
#: on a closed network trying to reach Google's services.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
)
_DEBIAN = ("/usr/bin/chromium", "/usr/bin/chromedriver")


def find_binaries() -> tuple[str, str]:
    """The chromium and chromedriver executables (ServerUnavailable if either is missing)."""
    chromium = shutil.which("chromium") or (_DEBIAN[0] if Path(_DEBIAN[0]).exists() else None)
    driver = shutil.which("chromedriver") or (_DEBIAN[1] if Path(_DEBIAN[1]).exists() else None)
    if chromium is None or driver is None:
        raise ServerUnavailable(
            "Chromium not found: apt-get install -y chromium chromium-driver (Debian)"
        )
    return chromium, driver


class Browser:
    """One headless Chromium with its own profile in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        downloads: Path,
        screenshots: Path,
        window: tuple[int, int] = (1280, 1000),
    ) -> None:
        self.workdir = workdir
        self.downloads = downloads
        self.screenshots = screenshots
        self.window = window
        self.driver: Any = None

    def start(self) -> Browser:
        try:
            from selenium import webdriver
            from selenium.common.exceptions import WebDriverException
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            raise ServerUnavailable("selenium is not installed: pip install -e '.[dev]'") from None
        chromium, driver = find_binaries()
        self.downloads.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={self.window[0]},{self.window[1]}")
        options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=self.workdir)}")
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(self.downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
                "safebrowsing.enabled": False,
            },
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(driver, log_output=str(self.workdir / "chromedriver.log"))
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as exc:
            first = (exc.msg or str(exc)).strip().splitlines()[0]
            raise ServerUnavailable(f"Chromium did not start: {first}") from None
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(self.downloads), "eventsEnabled": True},
        )
        return self

    def quit(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            finally:
                self.driver = None

    # -- helpers ---------------------------------------------------------------------------

    def console(self) -> list[str]:
        """What the page logged since the last call (messages, CSP violations, errors)."""
        return [entry["message"] for entry in self.driver.get_log("browser")]

    def screenshot(self, name: str) -> Path:
        """The whole page (not only the window) as ``screenshots/<name>.png``."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": self.window[0], "height": size["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def clear_downloads(self) -> None:
        for path in self.downloads.iterdir():
            path.unlink()

    def wait_for_download(self, timeout: float = 60) -> Path:
        """The one complete file in the downloads folder (no ``.crdownload`` left)."""
        deadline = time.monotonic() + timeout
        last: tuple[str, int] | None = None
        while time.monotonic() < deadline:
            files = [p for p in self.downloads.iterdir() if not p.name.startswith(".")]
            partial = [p for p in files if p.suffix in (".crdownload", ".tmp")]
            if files and not partial:
                current = (files[0].name, files[0].stat().st_size)
                if len(files) == 1 and current == last:
                    return files[0]
                last = current
            time.sleep(0.2)
        found = sorted(p.name for p in self.downloads.iterdir())
        raise AssertionError(f"no complete download within {timeout} s (found {found})")


def _main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.support.browser URL OUT.png", file=sys.stderr)
        return 2
    url, out = argv
    work = Path(tempfile.mkdtemp(prefix="heimdall-browser-"))
    browser = Browser(work, work / "downloads", Path(out).resolve().parent).start()
    try:
        browser.driver.get(url)
        time.sleep(2)
        print(browser.screenshot(Path(out).stem))
    finally:
        browser.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
