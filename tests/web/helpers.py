"""What the browser tests share: driving the page (sign in, go to a view, wait), and
models and bundles with realistic training curves."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.browser import Browser
from tests.support.servers import HeimdallServer
from tests.support.synthetic import synthetic_model_bytes

__all__ = ["WAIT", "Page", "bundle_file", "curves", "model_sections", "path_points"]

WAIT = 30.0


def curves(epochs: int, seed: int = 1) -> dict[str, Any]:
    """performance_metrics of a plausible run: losses and RMSE falling, then val rising."""
    rng = random.Random(seed)

    def noisy(v: float, spread: float) -> float:
        return round(v + rng.uniform(-spread, spread), 5)

    train_loss = [noisy(1.2 * math.exp(-i / 9) + 0.15, 0.02) for i in range(epochs)]
    val_loss = [noisy(1.3 * math.exp(-i / 10) + 0.22 + 0.0015 * max(0, i - 25) ** 1.5, 0.03)
                for i in range(epochs)]  # fmt: skip
    train_rmse = [noisy(40 * math.exp(-i / 10) + 6, 0.4) for i in range(epochs)]
    val_rmse = [noisy(44 * math.exp(-i / 11) + 8 + 0.02 * max(0, i - 25) ** 1.6, 0.6)
                for i in range(epochs)]  # fmt: skip
    best = min(range(epochs), key=lambda i: val_loss[i]) + 1
    return {
        "train_loss": train_loss, "val_loss": val_loss,
        "train_rmse": train_rmse, "val_rmse": val_rmse,
        "best_epoch": best, "best_val_loss": val_loss[best - 1],
        "final_train_loss": train_loss[-1], "final_val_loss": val_loss[-1],
        "training_duration_seconds": 5412.3, "inference_latency_ms": 1.8,
    }  # fmt: skip


def model_sections(epochs: int = 40, seed: int = 1) -> dict[str, Any]:
    """All four sections, as `heimdall register` takes them."""
    return {
        "training_config": {
            "epochs": epochs, "batch_size": 64, "learning_rate": 0.001, "optimizer": "Adam",
            "loss_function": "GaussianNLLLoss", "early_stopping": True,
            "early_stopping_patience": 10, "validation_split": 0.2,
        },
        "performance_metrics": curves(epochs, seed),
        "normalization_stats": {"feature_means": [-71.2, -68.4, -80.1, -75.5, 2412.0],
                                "feature_stds": [6.1, 7.3, 5.2, 6.8, 11.4]},
        "sample_predictions": [
            {"input": [-70.1, -66.2, -79.0, -74.8, 2412.0],
             "ground_truth": {"lat": round(45.4642 + i / 1e4, 6), "lon": round(9.19 + i / 1e4, 6)},
             "prediction": {"lat": round(45.46425 + i / 1e4, 6),
                            "lon": round(9.19006 + i / 1e4, 6)},
             "error_meters": round(3.2 + i * 0.7, 2)}
            for i in range(8)
        ],
    }  # fmt: skip


def bundle_file(
    server: HeimdallServer,
    directory: Path,
    name: str,
    *,
    size: int = 48 << 10,
    seed: int = 0,
    zstd: bool = False,
) -> tuple[Path, str]:
    """A .heimdall bundle made by `heimdall pack` (with a model of ``size`` bytes), and the
    MD5 of that model."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx = directory / f"{name}.onnx"
    data = synthetic_model_bytes(size, seed=seed)
    onnx.write_bytes(data)
    metrics = directory / f"{name}-metrics.json"
    metrics.write_text(json.dumps(curves(12, seed)))
    out = directory / f"{name}.heimdall"
    args = ["pack", str(onnx), "-o", str(out), "--name", name, "--version", "2",
            "--architecture", "LocalizationNet", "--metrics", str(metrics), "-q", "-f"]  # fmt: skip
    server.cli(*args, *(["--zstd"] if zstd else []))
    return out, hashlib.md5(data).hexdigest()


def path_points(d: str) -> list[tuple[float, float]]:
    """The points of an SVG path made of M and L commands."""
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]\s*(-?[\d.]+)[ ,](-?[\d.]+)", d)]


class Page:
    """The web page of ``server`` in ``browser``."""

    def __init__(self, browser: Browser, server: HeimdallServer) -> None:
        self.browser = browser
        self.driver = browser.driver
        self.server = server

    # -- waiting and finding ---------------------------------------------------------------

    def wait(self, condition: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
            except Exception:  # stale, or not there yet: try again
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}")
            time.sleep(0.1)

    def find(self, css: str, timeout: float = WAIT) -> Any:
        from selenium.webdriver.common.by import By

        return self.wait(lambda: self.driver.find_element(By.CSS_SELECTOR, css), timeout, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def error(self) -> str:
        """The page's error message once one shows."""
        box = self.find("#error")
        self.wait(lambda: box.is_displayed() and box.text, what="an error message")
        return str(box.text)

    # -- moving around ----------------------------------------------------------------------

    def open(self, key: str | None = None, route: str = "models") -> Page:
        """A fresh tab state (no key kept), signed in with ``key``, at ``#/<route>``."""
        self.driver.get(self.server.url("/"))
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.refresh()
        if key is not None:
            self.sign_in(key)
        self.go(route)
        return self

    def sign_in(self, key: str) -> None:
        field = self.find("#api-key")
        self.wait(field.is_displayed, what="the key form")
        field.send_keys(key)
        self.find("#key-form button[type=submit]").click()
        status = self.find("#key-status")
        self.wait(status.is_displayed, what="signed in")

    def go(self, route: str) -> None:
        self.driver.execute_script("location.hash = arguments[0]", "#/" + route)
        self.wait(lambda: not self.find_all("main .loading"), what=f"#/{route} to load")

    def models_loaded(self) -> list[Any]:
        def loaded() -> bool:
            status = self.text("#models-status")
            return "model" in status and not status.startswith("Loading")

        self.wait(loaded, what="the models list")
        return self.find_all("#models-table tbody tr")

    def alert_text(self) -> str | None:
        """The text of an open alert dialog, if any (and dismiss it)."""
        from selenium.common.exceptions import NoAlertPresentException

        try:
            alert = self.driver.switch_to.alert
            text = str(alert.text)
            alert.dismiss()
            return text
        except NoAlertPresentException:
            return None
