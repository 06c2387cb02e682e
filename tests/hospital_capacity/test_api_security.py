"""The capacity API's doors: tokens stored only as hashes, every route but /health behind one,
and CORS closed unless origins are named."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hospital_capacity.api import create_app
from hospital_capacity.service import CapacityService, seed_rows
from hospital_capacity.store import CapacityStore
from tests.hospital_capacity.test_api import DATA, JNUH

ORIGIN = "https://evil.example"


def _service(sqlite_url: str) -> CapacityService:
    service = CapacityService(CapacityStore.open(sqlite_url))
    service.seed(seed_rows(DATA))
    return service


def test_the_token_itself_is_never_stored(sqlite_url: str) -> None:
    service = _service(sqlite_url)
    token = service.create_token(JNUH, "nurse")
    with service.store.engine.connect() as connection:
        rows = [" ".join(map(str, r)) for r in connection.execute(sa.text("SELECT * FROM capacity_tokens"))]
    assert rows and not any(token in row or token[10:] in row for row in rows)


def test_every_route_but_health_needs_a_token(sqlite_url: str) -> None:
    client = TestClient(create_app(_service(sqlite_url)))
    routes = [r for r in client.app.routes if getattr(r, "include_in_schema", False)]  # type: ignore[attr-defined]
    checked = 0
    for route in routes:
        for method in route.methods - {"HEAD"}:
            path = route.path.replace("{hpid}", JNUH)
            answer = client.request(method, path)
            if route.path == "/health":
                assert answer.status_code == 200
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)
                checked += 1
    assert checked >= 5


def test_cors_is_closed_by_default_and_open_only_to_named_origins(sqlite_url: str) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"}
    closed = TestClient(create_app(_service(sqlite_url)))
    assert "access-control-allow-origin" not in closed.options("/hospitals", headers=preflight).headers
    assert "access-control-allow-origin" not in closed.get("/health", headers={"Origin": ORIGIN}).headers
    named = TestClient(create_app(_service(sqlite_url), cors_origins=["https://hq.119.example"]))
    allowed = named.options("/hospitals", headers={**preflight, "Origin": "https://hq.119.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://hq.119.example"
    assert "access-control-allow-origin" not in named.options("/hospitals", headers=preflight).headers
