"""GraphiQL is served with its assets from the package (works offline); with it off, a browser learns how to query."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.graphiql import ASSETS, STATIC_DIR
from gateway.http import create_app
from gateway.runtime import Runtime
from gateway.testing import create_tables, make_test_runtime

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
async def graphiql_on() -> AsyncIterator[Runtime]:
    runtime = make_test_runtime("sqlite", plugins=["core"], graphiql=True, demo_token_prefill="pgw_demo_</script>x")
    await create_tables(runtime)
    yield runtime
    await runtime.dispose()


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway.test")


def referenced(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page)


async def test_graphiql_page_loads_nothing_from_outside(graphiql_on: Runtime) -> None:
    async with client_for(graphiql_on) as client:
        page = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced(page.text)
    assert len(urls) == len(ASSETS)  # three scripts and the stylesheet
    assert not [url for url in urls if re.match(r"(https?:)?//", url)]
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()


async def test_every_asset_of_the_page_is_served_from_the_package_and_cached(graphiql_on: Runtime) -> None:
    async with client_for(graphiql_on) as client:
        page = (await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})).text
        for url in referenced(page):
            response = await client.get(url)
            name = url.rsplit("/", 1)[-1]
            assert response.status_code == 200, url
            assert response.content == (STATIC_DIR / name).read_bytes()
            assert response.headers["content-type"].startswith("text/css" if name.endswith(".css") else "text/javascript")
            assert "immutable" in response.headers["cache-control"] and "max-age=31536000" in response.headers["cache-control"]


@pytest.mark.parametrize("path", ["/graphiql/static/README.md", "/graphiql/static/..%2F..%2Fhttp.py",
                                  "/graphiql/static/LICENSE.react.js"])
async def test_only_the_listed_assets_are_served(graphiql_on: Runtime, path: str) -> None:
    async with client_for(graphiql_on) as client:
        assert (await client.get(path)).status_code == 404


async def test_prefilled_token_cannot_end_the_script(graphiql_on: Runtime) -> None:
    async with client_for(graphiql_on) as client:
        page = (await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})).text
    assert "pgw_demo_<\\/script>x" in page and page.count("</script>") == 4


async def test_browser_without_graphiql_gets_a_page_on_how_to_query(runtime: Runtime) -> None:
    assert not runtime.settings.graphiql
    async with client_for(runtime) as client:
        page = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
        asset = await client.get("/graphiql/static/graphiql-3.8.3.min.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "GraphiQL (the in-browser editor) is off" in page.text
    assert "curl http://gateway.test/graphql" in page.text and "GATEWAY_GRAPHIQL=1" in page.text
    assert "<script" not in page.text
    assert asset.status_code == 404  # the assets are served only with GraphiQL on


async def test_get_with_a_query_still_answers_json_to_a_browser(runtime: Runtime) -> None:
    async with client_for(runtime) as client:
        response = await client.get("/graphql", params={"query": "{ __typename }"}, headers={"Accept": BROWSER_ACCEPT})
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["data"] == {"__typename": "Query"}


async def test_graphiql_opens_with_the_query_the_core_answers(graphiql_on: Runtime) -> None:
    """The host knows no field of the graph: the core's ``gateway_graphiql_query`` gives the first document."""
    async with client_for(graphiql_on) as client:
        page = (await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})).text
    assert "partnerMemberships" in page and "organizationMemberships" in page
