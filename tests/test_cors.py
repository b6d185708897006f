"""CORS for single-page frontends on the configured origins only; GET for queries, never mutations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.http import create_app
from schema.testing import build_world

CONSOLE = "https://console.partner.example"


@pytest.fixture
def app_with_cors(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings = runtime.settings.model_copy(update={"cors_origins": [CONSOLE, "http://localhost:5173"]})
    monkeypatch.setattr(runtime, "settings", settings)
    return create_app(runtime)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def preflight(origin: str, method: str = "POST", headers: str = "authorization,content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_preflight_from_a_configured_origin_is_allowed(app_with_cors):
    async with client(app_with_cors) as http:
        response = await http.options("/graphql", headers=preflight(CONSOLE))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == CONSOLE
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert response.headers["access-control-max-age"] == "600"


async def test_preflight_from_another_origin_is_refused(app_with_cors):
    async with client(app_with_cors) as http:
        response = await http.options("/graphql", headers=preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_preflight_for_a_method_not_offered_is_refused(app_with_cors):
    async with client(app_with_cors) as http:
        response = await http.options("/graphql", headers=preflight(CONSOLE, method="DELETE"))
    assert response.status_code == 400


async def test_actual_request_carries_the_cors_headers(runtime, app_with_cors):
    world = await build_world(runtime)
    async with client(app_with_cors) as http:
        allowed = await http.post("/graphql", json={"query": "{ viewer { isPlatformAdmin } }"},
                                  headers={"Origin": CONSOLE, "Authorization": f"Bearer {world.tokens['platform_admin']}"})
        other = await http.post("/graphql", json={"query": "{ viewer { isPlatformAdmin } }"},
                                headers={"Origin": "https://evil.example",
                                         "Authorization": f"Bearer {world.tokens['platform_admin']}"})
    assert allowed.json()["data"] == {"viewer": {"isPlatformAdmin": True}}
    assert allowed.headers["access-control-allow-origin"] == CONSOLE
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_exports_answer_preflight_too(app_with_cors):
    async with client(app_with_cors) as http:
        response = await http.options("/exports/organizations.csv", headers=preflight(CONSOLE, method="GET"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == CONSOLE


async def test_without_configured_origins_no_cors_headers(runtime):
    async with client(create_app(runtime)) as http:
        response = await http.options("/graphql", headers=preflight(CONSOLE))
    assert "access-control-allow-origin" not in response.headers


async def test_queries_over_get_but_never_mutations(runtime, app_with_cors):
    world = await build_world(runtime)
    headers = {"Authorization": f"Bearer {world.tokens['platform_admin']}"}
    async with client(app_with_cors) as http:
        query = await http.get("/graphql", params={"query": "{ viewer { isPlatformAdmin } }"}, headers=headers)
        mutation = await http.get(
            "/graphql", params={"query": 'mutation { createPartner(input: {name: "X", kind: RESELLER}) { partner { id } } }'},
            headers=headers)
    assert query.json()["data"] == {"viewer": {"isPlatformAdmin": True}}
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert await partners_named(runtime, "X") == 0


async def partners_named(runtime: Any, name: str) -> int:
    from sqlalchemy import func, select

    from schema.models import Partner

    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Partner).where(Partner.name == name)))
