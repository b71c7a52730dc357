"""``GET /models`` is paged and lists summaries (issue 8, item 2): the ASGI app over a real
registry (SQLite and PostgreSQL) and object directory, and the live server."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from heimdall_io.api import create_app
from heimdall_io.api.bodies import SUMMARY_OMITS, ModelSummary
from heimdall_io.storage.base import ModelRecord
from heimdall_io.storage.localdir import LocalObjectStore

from .helpers import MODELS, HeimdallServer, client, export_ok, import_ok, register_model

LINK = re.compile(r'<([^>]+)>; rel="next"')
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


class AsgiClient:
    """Requests straight into the ASGI app (no server, no socket), one event loop each."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                return await http.get(url, params=params)

        return anyio.run(call)


@pytest.fixture
def api(registry: Any, tmp_path: Path) -> Iterator[AsgiClient]:
    store = LocalObjectStore(tmp_path / "objects")
    yield AsgiClient(create_app(registry=registry, store=store))
    store.close()


def add_models(registry: Any, count: int, **fields: Any) -> list[str]:
    """``count`` rows, one second apart; their ids newest first (the list's order)."""
    ids = []
    for i in range(count):
        at = T0 + dt.timedelta(seconds=i)
        record = ModelRecord(model_id=str(uuid.uuid4()), model_name=f"M{i}", version=1,
                             created_at=at, updated_at=at, **fields)  # fmt: skip
        registry.add(record)
        ids.append(record.model_id)
    return ids[::-1]


def next_page(r: Any) -> str | None:
    link = r.headers.get("link")
    if link is None:
        return None
    match = LINK.fullmatch(link)
    assert match, link
    return match.group(1)


def test_pages_follow_the_link_header(api: AsgiClient, registry: Any) -> None:
    """Default page 100, newest first; Link rel="next" while more follow, none on the last."""
    expected = add_models(registry, 230)
    r = api.get(MODELS)
    assert r.status_code == 200
    assert [m["model_id"] for m in r.json()] == expected[:100]
    assert r.headers["link"] == f'<{MODELS}?limit=100&offset=100>; rel="next"'
    seen: list[str] = []
    url: str | None = f"{MODELS}?limit=70"
    pages = 0
    while url is not None:
        r = api.get(url)
        assert r.status_code == 200
        seen += [m["model_id"] for m in r.json()]
        url, pages = next_page(r), pages + 1
    assert seen == expected and pages == 4  # 70 + 70 + 70 + 20


def test_a_full_last_page_has_no_link(api: AsgiClient, registry: Any) -> None:
    expected = add_models(registry, 6)
    r = api.get(MODELS, params={"limit": 3, "offset": 3})
    assert [m["model_id"] for m in r.json()] == expected[3:]
    assert "link" not in r.headers
    r = api.get(MODELS, params={"limit": 6})
    assert len(r.json()) == 6 and "link" not in r.headers
    r = api.get(MODELS, params={"offset": 6})
    assert r.status_code == 200 and r.json() == [] and "link" not in r.headers
    r = api.get(MODELS, params={"limit": 1000, "offset": 1_000_000_000})
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize(
    ("params", "name"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "ten"}, "limit"),
     ({"offset": -1}, "offset"), ({"offset": 1_000_000_001}, "offset"),
     ({"offset": "1.5"}, "offset")],
)  # fmt: skip
def test_page_bounds_are_422(api: AsgiClient, params: dict[str, Any], name: str) -> None:
    r = api.get(MODELS, params=params)
    assert r.status_code == 422
    assert r.json()["detail"].startswith(f"{name} must be an integer from ")


def test_the_list_carries_summaries_only(api: AsgiClient, registry: Any) -> None:
    """However large a model's extra and training_metrics, its list entry is small; the
    model itself still has them."""
    big: dict[str, Any] = {"top": {"x": [{}] * 200_000}}
    metrics = {"performance_metrics": {"loss": [0.5] * 50_000}}
    [model_id] = add_models(registry, 1, extra=big, training_metrics=metrics,
                            architecture="Net", onnx_size_bytes=10)  # fmt: skip
    r = api.get(MODELS)
    assert len(r.content) < 2000
    [entry] = r.json()
    assert set(entry) == {f.name for f in msgspec.structs.fields(ModelSummary)}
    assert entry["architecture"] == "Net" and entry["onnx_size_bytes"] == 10
    whole = api.get(f"{MODELS}/{model_id}").json()
    assert len(whole["extra"]["top"]["x"]) == 200_000
    assert whole["training_metrics"] == metrics


def test_a_summary_is_the_record_without_the_unbounded_fields() -> None:
    record_fields = [f.name for f in msgspec.structs.fields(ModelRecord)]
    summary_fields = [f.name for f in msgspec.structs.fields(ModelSummary)]
    assert summary_fields == [f for f in record_fields if f not in SUMMARY_OMITS]


def test_live_server_pages(heimdall_server_factory: Any, tmp_path: Path) -> None:
    """Over HTTP, on its own server: three models, pages of two."""
    from tests.support.synthetic import synthetic_model_bytes

    server: HeimdallServer = heimdall_server_factory({}, "paging")
    path = tmp_path / "m.onnx"
    path.write_bytes(synthetic_model_bytes(32 << 10, seed=3))
    first = register_model(server, path)
    with client(server, None) as http:
        bundle = json.loads(export_ok(http, first).content)
        bundle["unknown_top_level"] = ["kept, but not listed"] * 1000
        second = import_ok(http, json.dumps(bundle).encode())["model_id"]
        third = import_ok(http, json.dumps(bundle).encode())["model_id"]
        r = http.get(MODELS, params={"limit": 2})
        assert [m["model_id"] for m in r.json()] == [third, second]
        assert "kept" not in r.text and "training_metrics" not in r.text
        url = next_page(r)
        assert url == f"{MODELS}?limit=2&offset=2"
        r = http.get(url)
        assert [m["model_id"] for m in r.json()] == [first] and "link" not in r.headers
        assert "kept" in http.get(f"{MODELS}/{third}").text
    server.stop()
