"""GATEWAY_ENV=production: no anonymous introspection, no field suggestions, no demo tokens or demo seed,
no GraphiQL, and /metrics closed unless a token is given or the client is local."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from gateway.auth import get_or_create_user, hash_token, issue_token
from gateway.cli import cli
from gateway.demo import demo_token, is_demo_token
from gateway.http import create_app
from gateway.models import ApiToken
from gateway.runtime import Runtime
from gateway.settings import SettingsError, load_settings
from gateway.testing import count_statements, create_tables, make_test_runtime

JSON = "application/json"
INTROSPECTION = "{ __schema { queryType { name } } }"
MISSPELT_FIELD = "{ partnerz { totalCount } }"  # "Did you mean partners?" in development
MISSPELT_ENUM_LITERAL = "{ partners(kind: RESELER) { totalCount } }"
ENUM_VARIABLE = "query ($kind: PartnerKind) { partners(kind: $kind) { totalCount } }"


async def runtime_in(env: str, **overrides: Any) -> Runtime:
    runtime = make_test_runtime("sqlite", plugins=["core"], env=env, **overrides)
    await create_tables(runtime)
    return runtime


@pytest.fixture
async def production() -> AsyncIterator[Runtime]:
    runtime = await runtime_in("production")
    yield runtime
    await runtime.dispose()


@pytest.fixture
async def development() -> AsyncIterator[Runtime]:
    runtime = await runtime_in("development")
    yield runtime
    await runtime.dispose()


def client_for(runtime: Runtime, client: tuple[str, int] = ("127.0.0.1", 40000)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


async def post(runtime: Runtime, query: str, *, token: str | None = None,
               variables: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Accept": JSON}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with client_for(runtime) as client:
        return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def real_token(runtime: Runtime) -> str:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "ops@example.com")
        _, token = await issue_token(session, user, "real")
    return token


async def store_demo_token(runtime: Runtime, label: str = "partner_admin") -> str:
    """A demo token row, as `gateway demo seed` stores it (a demo database copied to production)."""
    token = demo_token(label)
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "demo@example.com")
        session.add(ApiToken(user_id=user.id, name=f"demo {label}", token_hash=hash_token(token), prefix=token[:10]))
    return token


def messages(response: httpx.Response) -> list[str]:
    return [error["message"] for error in response.json().get("errors", [])]


# ---------------------------------------------------------------- settings
def test_development_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_ENV", raising=False)
    settings = load_settings()
    assert settings.env == "development" and not settings.is_production


def test_graphiql_cannot_be_on_in_production() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_GRAPHIQL .* cannot be on with GATEWAY_ENV=production"):
        load_settings(env="production", graphiql=True)


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_ENV"):
        load_settings(env="prod")


def test_serve_refuses_graphiql_in_production_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "18301"],
                                env={"GATEWAY_ENV": "production", "GATEWAY_GRAPHIQL": "1"})
    assert result.exit_code == 1
    assert "GATEWAY_GRAPHIQL is a development tool" in result.output


# ---------------------------------------------------------------- introspection
async def test_anonymous_introspection_is_refused_in_production_before_any_statement(production: Runtime) -> None:
    with count_statements(production) as counter:
        response = await post(production, INTROSPECTION)
    assert response.status_code == 200  # application/json: a request error keeps 200
    assert "data" not in response.json()
    assert any("introspection" in message.lower() for message in messages(response))
    assert counter.count == 0
    typename = await post(production, "{ __typename }")
    assert typename.json()["data"] == {"__typename": "Query"}


async def test_authenticated_introspection_stays_on_in_production(production: Runtime) -> None:
    response = await post(production, INTROSPECTION, token=await real_token(production))
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_anonymous_introspection_is_refused_outside_http_too(production: Runtime) -> None:
    result = await production.execute(INTROSPECTION)
    assert result.data is None and "introspection" in result.errors[0].message.lower()


async def test_anonymous_introspection_stays_on_in_development(development: Runtime) -> None:
    response = await post(development, INTROSPECTION)
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


# ---------------------------------------------------------------- suggestions
@pytest.mark.parametrize("query", [MISSPELT_FIELD, MISSPELT_ENUM_LITERAL])
async def test_no_suggestions_in_production_validation_errors(production: Runtime, development: Runtime,
                                                              query: str) -> None:
    assert any("Did you mean" in message for message in messages(await post(development, query)))
    hidden = messages(await post(production, query))
    assert hidden and not any("Did you mean" in message for message in hidden)


async def test_no_suggestions_in_production_variable_errors(production: Runtime, development: Runtime) -> None:
    variables = {"kind": "RESELER"}
    assert any("Did you mean" in m for m in messages(await post(development, ENUM_VARIABLE, variables=variables)))
    hidden = messages(await post(production, ENUM_VARIABLE, variables=variables))
    assert hidden and not any("Did you mean" in message for message in hidden)
    direct = await production.execute(MISSPELT_FIELD)  # the CLI's path: no HTTP pre-check
    assert direct.errors and "Did you mean" not in direct.errors[0].message


# ---------------------------------------------------------------- demo tokens and demo commands
def test_demo_tokens_have_a_shape_no_issued_token_has() -> None:
    from gateway.auth import new_token

    assert is_demo_token(demo_token("partner_admin"))
    assert not any(is_demo_token(new_token()) for _ in range(200))


async def test_demo_tokens_are_refused_in_production(production: Runtime, development: Runtime) -> None:
    accepted = await post(development, "{ viewer { user { email } } }", token=await store_demo_token(development))
    assert accepted.json()["data"]["viewer"]["user"]["email"] == "demo@example.com"
    token = await store_demo_token(production)
    with count_statements(production) as counter:
        refused = await post(production, "{ viewer { user { email } } }", token=token)
    assert refused.status_code == 401
    body = refused.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Demo tokens are refused with GATEWAY_ENV=production" in body["errors"][0]["message"]
    assert counter.count == 0  # refused by its shape, not looked up


@pytest.mark.parametrize("args", [["demo", "seed"], ["demo", "token", "partner_admin"]])
def test_demo_commands_refuse_in_production(tmp_path: Any, args: list[str]) -> None:
    database = tmp_path / "prod.db"
    result = CliRunner().invoke(cli, args, env={"GATEWAY_ENV": "production",
                                                "GATEWAY_DATABASE_URL": f"sqlite:///{database}"})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "refused with GATEWAY_ENV=production" in lines[0]
    assert "pgw_" not in result.output and not database.exists()


# ---------------------------------------------------------------- GraphiQL
async def test_browser_gets_no_graphiql_in_production(production: Runtime) -> None:
    async with client_for(production) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        asset = await client.get("/graphiql/static/graphiql-3.8.3.min.js")
    assert page.status_code == 200 and "GraphiQL (the in-browser editor) is off" in page.text
    assert "GraphiQL.createFetcher" not in page.text
    assert asset.status_code == 404


# ---------------------------------------------------------------- /metrics
@pytest.mark.parametrize("env", ["development", "production"])
async def test_metrics_token_is_required_when_set(env: str) -> None:
    runtime = await runtime_in(env, metrics_token="scrape-secret")
    try:
        async with client_for(runtime) as client:
            missing = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    finally:
        await runtime.dispose()
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "GATEWAY_METRICS_TOKEN" in missing.text and "gateway_graphql_requests" not in missing.text
    assert "gateway_graphql_request_seconds" in right.text


@pytest.mark.parametrize("client, status", [
    (("127.0.0.1", 40000), 200), (("::1", 40000), 200), (("::ffff:127.0.0.1", 40000), 200),
    (("10.1.2.3", 40000), 403), (("203.0.113.9", 40000), 403),
])
async def test_production_metrics_without_token_answer_only_loopback(production: Runtime, client: tuple[str, int],
                                                                     status: int) -> None:
    async with client_for(production, client=client) as http:
        response = await http.get("/metrics")
    assert response.status_code == status
    if status == 403:
        assert "GATEWAY_METRICS_TOKEN" in response.text and "gateway_graphql" not in response.text


async def test_development_metrics_are_open_without_token(development: Runtime) -> None:
    async with client_for(development, client=("10.1.2.3", 40000)) as http:
        assert (await http.get("/metrics")).status_code == 200
