"""Webhook endpoints: every mutation for every role, the SSRF rule, reads, secrets, deliveries made with events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.errors import DomainError
from gateway.events import emit
from gateway.relay import decode_pk, encode_id
from gateway.testing import GraphQLResult, run_query
from schema import models
from schema.models import AuditEvent
from schema.subscriptions.events import SubscriptionChanged, SubscriptionCreated
from schema.testing import ROLES, World
from schema.webhooks.service import matches, new_secret

CREATE = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  endpoint { id url eventTypes enabled partner { code } } secret userErrors { code message field } } }"""
UPDATE = """mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  endpoint { id url eventTypes enabled disabledReason } secret userErrors { code message field } } }"""
DELETE = """mutation($input: WebhookEndpointIdInput!) { deleteWebhookEndpoint(input: $input) {
  deletedEndpointId userErrors { code } } }"""
ROTATE = """mutation($input: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $input) {
  endpoint { id } secret userErrors { code } } }"""
REDELIVER = """mutation($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) {
  delivery { id status attempts } userErrors { code } } }"""
READ = """query($id: ID!) { partner(id: $id) { webhookEndpoints(first: 10) { totalCount nodes {
  id url eventTypes enabled deliveries(first: 10) { totalCount nodes { id status attempts event { type } } } } } } }"""
PUBLIC_URL = "https://1.1.1.1/hooks"
MANAGERS = {"reseller_admin", "platform_admin"}
READERS = MANAGERS | {"reseller_analyst", "platform_analyst"}


def outcome(role: str, allowed: set[str]) -> str:
    return "UNAUTHENTICATED" if role == "anonymous" else "ok" if role in allowed else "FORBIDDEN"


async def create(runtime: Any, world: World, url: str = PUBLIC_URL, types: list[str] | None = None,
                 role: str = "reseller_admin") -> GraphQLResult:
    return await run_query(runtime, CREATE, {"input": {"partnerId": world.partner_id("reseller"), "url": url,
                                                       "eventTypes": types or ["subscription.*"]}},
                           token=world.tokens[role])


async def endpoint_id(runtime: Any, world: World, **kwargs: Any) -> str:
    result = (await create(runtime, world, **kwargs)).ok()["createWebhookEndpoint"]
    assert result["userErrors"] == [], result
    return str(result["endpoint"]["id"])


async def emit_event(runtime: Any, world: World, event_cls: type[SubscriptionChanged] | type[SubscriptionCreated]
                     = SubscriptionChanged, *, fail: bool = False) -> None:
    """A subscription event for acme (mapped to the reseller), as a change would emit it."""
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        async with ctx.transaction():
            await emit(ctx, event_cls(subscription_id=7, organization_id=world.organizations["acme"], product_id=1,
                                      plan_id=2, status="ACTIVE", license_count=25, change_id=3, change_kind="CHANGED"))
            if fail:
                raise DomainError("BOOM", "the change fails after its event")


async def count(runtime: Any, table: Any, *where: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


# ---------------------------------------------------------------- every mutation, every role
async def test_create_webhook_endpoint_for_every_role(runtime: Any, world: World, assert_access_matrix: Any) -> None:
    async def run(role: str, token: str | None) -> GraphQLResult:
        before = await count(runtime, models.WebhookEndpoint)
        result = await create(runtime, world, role=role)
        created = await count(runtime, models.WebhookEndpoint) - before
        audits = await count(runtime, AuditEvent, AuditEvent.action == "webhook.manage")
        assert created == (1 if role in MANAGERS else 0), role
        assert audits == before + created, role  # one audit event per endpoint created, none when refused
        return result

    def ok(role: str, result: GraphQLResult) -> None:
        payload = result.data["createWebhookEndpoint"]
        assert payload["secret"].startswith("whsec_") and payload["endpoint"]["partner"]["code"] == "RESEL1"
        assert payload["endpoint"]["eventTypes"] == ["subscription.*"] and payload["endpoint"]["enabled"] is True

    await assert_access_matrix({role: outcome(role, MANAGERS) for role in ROLES}, run, ok=ok)


@pytest.mark.parametrize("mutation, name", [(UPDATE, "updateWebhookEndpoint"), (ROTATE, "rotateWebhookSecret"),
                                            (DELETE, "deleteWebhookEndpoint")])
async def test_endpoint_mutations_for_every_role(runtime: Any, world: World, assert_access_matrix: Any,
                                                 mutation: str, name: str) -> None:
    async def run(role: str, token: str | None) -> GraphQLResult:
        endpoint = await endpoint_id(runtime, world)
        variables: dict[str, Any] = {"endpointId": endpoint}
        if mutation is UPDATE:
            variables |= {"url": "https://8.8.8.8/new", "eventTypes": ["*"], "enabled": False}
        async with runtime.sessions() as session:
            before = await session.get(models.WebhookEndpoint, _pk(endpoint))
            assert before is not None
            secret_before = before.secret
        result = await run_query(runtime, mutation, {"input": variables}, token=token)
        async with runtime.sessions() as session:
            after = await session.get(models.WebhookEndpoint, _pk(endpoint))
        allowed = role in MANAGERS
        if mutation is DELETE:
            assert (after is None) == allowed, role
        elif mutation is ROTATE:
            assert after is not None and (after.secret != secret_before) == allowed, role
            if allowed:
                assert after.previous_secret == secret_before
                assert result.data[name]["secret"] == after.secret != secret_before
        else:
            assert after is not None and (after.url == "https://8.8.8.8/new") == allowed, role
            if allowed:
                assert (after.enabled, after.event_types) == (False, ["*"])
        return result

    await assert_access_matrix({role: outcome(role, MANAGERS) for role in ROLES}, run)


def _pk(global_id: str) -> int:
    return decode_pk(global_id, "WebhookEndpoint")


async def test_redeliver_for_every_role(runtime: Any, world: World, assert_access_matrix: Any) -> None:
    await endpoint_id(runtime, world)
    await emit_event(runtime, world)
    async with runtime.sessions() as session:
        delivery = (await session.scalars(select(models.WebhookDelivery))).one()
    gid = encode_id("WebhookDelivery", delivery.id)

    async def run(role: str, token: str | None) -> GraphQLResult:
        async with runtime.sessions() as session, session.begin():
            row = await session.get(models.WebhookDelivery, delivery.id)
            assert row is not None
            row.status, row.attempts = "FAILED", 8
        result = await run_query(runtime, REDELIVER, {"input": {"deliveryId": gid}}, token=token)
        async with runtime.sessions() as session:
            row = await session.get(models.WebhookDelivery, delivery.id)
        assert row is not None and (row.status == "PENDING") == (role in MANAGERS), role
        return result

    def ok(role: str, result: GraphQLResult) -> None:
        assert result.data["redeliverWebhook"]["delivery"] == {"id": gid, "status": "PENDING", "attempts": 0}

    await assert_access_matrix({role: outcome(role, MANAGERS) for role in ROLES}, run, ok=ok)


async def test_unknown_ids_are_not_found(runtime: Any, world: World) -> None:
    for mutation, variables in ((UPDATE, {"endpointId": encode_id("WebhookEndpoint", 999)}),
                                (DELETE, {"endpointId": encode_id("WebhookEndpoint", 999)}),
                                (ROTATE, {"endpointId": encode_id("WebhookEndpoint", 999)}),
                                (REDELIVER, {"deliveryId": encode_id("WebhookDelivery", 999)})):
        result = await run_query(runtime, mutation, {"input": variables}, token=world.tokens["reseller_admin"])
        assert result.error_codes == ["NOT_FOUND"], mutation


async def test_read_endpoints_and_deliveries_for_every_role(runtime: Any, world: World,
                                                           assert_access_matrix: Any) -> None:
    await endpoint_id(runtime, world)
    await emit_event(runtime, world)

    async def run(role: str, token: str | None) -> GraphQLResult:
        return await run_query(runtime, READ, {"id": world.partner_id("reseller")}, token=token)

    def ok(role: str, result: GraphQLResult) -> str | None:
        if result.data["partner"] is None:
            return "hidden"
        endpoints = result.data["partner"]["webhookEndpoints"]
        [endpoint] = endpoints["nodes"]
        assert endpoint["url"] == PUBLIC_URL and "secret" not in endpoint
        assert endpoint["deliveries"]["nodes"][0]["event"]["type"] == "subscription.changed"
        return None

    expected = {role: outcome(role, READERS) for role in ROLES}
    # partners the viewer cannot see at all are hidden (partner null); the distributor sees the reseller, not this
    expected |= {"other_partner_admin": "hidden", "developer": "hidden", "no_role": "hidden",
                 "org_super_admin": "hidden", "org_admin": "hidden", "org_member": "hidden",
                 "direct_super_admin": "hidden"}
    seen = await assert_access_matrix(expected, run, ok=ok)
    assert seen["distributor_admin"] == "FORBIDDEN"


async def test_node_ids_resolve_for_readers_only(runtime: Any, world: World) -> None:
    endpoint = await endpoint_id(runtime, world)
    await emit_event(runtime, world)
    async with runtime.sessions() as session:
        delivery = encode_id("WebhookDelivery", (await session.scalars(select(models.WebhookDelivery.id))).one())
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on WebhookEndpoint { url }
      ... on WebhookDelivery { status event { type } } } }"""
    for role, visible in (("reseller_analyst", True), ("platform_analyst", True), ("distributor_admin", False),
                          ("other_partner_admin", False)):
        nodes = (await run_query(runtime, query, {"ids": [endpoint, delivery]}, token=world.tokens[role])).ok()["nodes"]
        assert [n is not None for n in nodes] == [visible, visible], role
        if visible:
            assert nodes[0]["url"] == PUBLIC_URL and nodes[1] == {"id": delivery, "status": "PENDING",
                                                                  "event": {"type": "subscription.changed"}}


async def test_a_payments_delivery_is_shown_to_billing_readers_only(runtime: Any, world: World) -> None:
    """A delivery shows its event: a payment's (amount, whose card) only to who may read billing details."""
    from decimal import Decimal

    from schema.billing.events import PaymentRecorded

    await endpoint_id(runtime, world, types=["*"])
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        async with ctx.transaction():
            await emit(ctx, PaymentRecorded(payment_id=1, organization_id=world.organizations["acme"],
                                            amount=Decimal("40.00"), currency="USD", card_owner="CUSTOMER_CARD"))
    await emit_event(runtime, world)
    async with runtime.sessions() as session:
        payment = (await session.scalars(select(models.WebhookDelivery.id).join(
            models.EventRecord, models.EventRecord.id == models.WebhookDelivery.event_id).where(
            models.EventRecord.type == "payment.recorded"))).one()
    node = """query($id: ID!) { node(id: $id) { ... on WebhookDelivery { event { type } } } }"""
    for role, billing in (("reseller_admin", True), ("platform_admin", True), ("reseller_analyst", False),
                          ("platform_analyst", False)):
        read = (await run_query(runtime, READ, {"id": world.partner_id("reseller")}, token=world.tokens[role])).ok()
        types = [d["event"]["type"] for d in read["partner"]["webhookEndpoints"]["nodes"][0]["deliveries"]["nodes"]]
        assert types == (["subscription.changed", "payment.recorded"] if billing else ["subscription.changed"]), role
        found = (await run_query(runtime, node, {"id": encode_id("WebhookDelivery", payment)},
                                 token=world.tokens[role])).ok()["node"]
        assert found == ({"event": {"type": "payment.recorded"}} if billing else None), role


# ---------------------------------------------------------------- the rules
@pytest.mark.parametrize("url, code", [
    ("http://1.1.1.1/hooks", "INVALID_URL"),  # http only with GATEWAY_WEBHOOK_ALLOW_PRIVATE=1
    ("ftp://1.1.1.1/hooks", "INVALID_URL"),
    ("not a url", "INVALID_URL"),
    ("https://user:secret@1.1.1.1/hooks", "INVALID_URL"),
    ("https://1.1.1.1/" + "x" * 2000, "INVALID_URL"),
    ("https://127.0.0.1/hooks", "PRIVATE_ADDRESS"),
    ("https://127.8.9.10:8443/hooks", "PRIVATE_ADDRESS"),
    ("https://10.1.2.3/hooks", "PRIVATE_ADDRESS"),
    ("https://192.168.1.1/hooks", "PRIVATE_ADDRESS"),
    ("https://172.16.0.9/hooks", "PRIVATE_ADDRESS"),
    ("https://100.64.0.1/hooks", "PRIVATE_ADDRESS"),  # carrier-grade NAT: not global
    ("https://169.254.169.254/latest/meta-data", "PRIVATE_ADDRESS"),  # the cloud metadata service
    ("https://[::1]/hooks", "PRIVATE_ADDRESS"),
    ("https://[fe80::1]/hooks", "PRIVATE_ADDRESS"),
    ("https://[fd00::1]/hooks", "PRIVATE_ADDRESS"),
    ("https://[::ffff:127.0.0.1]/hooks", "PRIVATE_ADDRESS"),  # IPv4-mapped loopback
    ("https://0.0.0.0/hooks", "PRIVATE_ADDRESS"),
    ("https://224.0.0.1/hooks", "PRIVATE_ADDRESS"),
    ("https://240.0.0.1/hooks", "PRIVATE_ADDRESS"),  # reserved
    ("https://localhost/hooks", "PRIVATE_ADDRESS"),  # a name that resolves to loopback
    ("https://localhost./hooks", "PRIVATE_ADDRESS"),
])
async def test_server_side_request_forgery_is_refused(runtime: Any, world: World, url: str, code: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", raising=False)
    [error] = (await create(runtime, world, url=url)).ok()["createWebhookEndpoint"]["userErrors"]
    assert (error["code"], error["field"]) == (code, ["url"])
    assert await count(runtime, models.WebhookEndpoint) == 0
    endpoint = await endpoint_id(runtime, world)
    result = await run_query(runtime, UPDATE, {"input": {"endpointId": endpoint, "url": url}},
                             token=world.tokens["reseller_admin"])
    assert result.ok()["updateWebhookEndpoint"]["userErrors"][0]["code"] == code


async def test_allow_private_lets_tests_use_loopback_and_http(runtime: Any, world: World,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "1")
    for url in ("http://127.0.0.1:18660/hook", "http://localhost:18661/hook", "https://10.0.0.5/hook"):
        assert (await create(runtime, world, url=url)).ok()["createWebhookEndpoint"]["userErrors"] == [], url
    assert (await create(runtime, world, url="ftp://127.0.0.1/x")).ok()[
        "createWebhookEndpoint"]["userErrors"][0]["code"] == "INVALID_URL"


@pytest.mark.parametrize("types", [[], ["subscription.nope"], ["nothing.*"], ["subscription.changed", "bogus"]])
async def test_event_types_must_be_known(runtime: Any, world: World, types: list[str]) -> None:
    result = await run_query(runtime, CREATE, {"input": {"partnerId": world.partner_id("reseller"), "url": PUBLIC_URL,
                                                         "eventTypes": types}}, token=world.tokens["reseller_admin"])
    [error] = result.ok()["createWebhookEndpoint"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_EVENT_TYPES", ["eventTypes"])


def test_event_type_patterns() -> None:
    assert matches(["*"], "payment.recorded") and matches(["subscription.*"], "subscription.renewed")
    assert not matches(["subscription.*"], "payment.recorded") and matches(["payment.recorded"], "payment.recorded")
    assert not matches(["subscription.changed"], "subscription.created")


def test_secrets_are_standard_webhooks_secrets() -> None:
    import base64

    drawn = {new_secret() for _ in range(50)}
    assert len(drawn) == 50
    for secret in drawn:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32


async def test_the_secret_is_shown_once_and_never_logged(runtime: Any, world: World,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")  # (at DEBUG the database driver aiosqlite logs every statement with its values)
    created = (await create(runtime, world)).ok()["createWebhookEndpoint"]
    rotated = (await run_query(runtime, ROTATE, {"input": {"endpointId": created["endpoint"]["id"]}},
                               token=world.tokens["reseller_admin"])).ok()["rotateWebhookSecret"]
    assert rotated["secret"] != created["secret"]
    update = (await run_query(runtime, UPDATE, {"input": {"endpointId": created["endpoint"]["id"], "enabled": True}},
                              token=world.tokens["reseller_admin"])).ok()["updateWebhookEndpoint"]
    assert update["secret"] is None  # only create and rotate show it
    async with runtime.sessions() as session:
        details = [a.details for a in (await session.scalars(select(AuditEvent))).all()]
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in caplog.text and secret not in repr(details)


# ---------------------------------------------------------------- deliveries made with the event
async def test_an_event_makes_one_delivery_per_matching_enabled_endpoint(runtime: Any, world: World) -> None:
    wants_changes = await endpoint_id(runtime, world, types=["subscription.changed"])
    await endpoint_id(runtime, world, types=["*"])
    await endpoint_id(runtime, world, types=["payment.recorded"])
    disabled = await endpoint_id(runtime, world, types=["*"])
    await run_query(runtime, UPDATE, {"input": {"endpointId": disabled, "enabled": False}},
                    token=world.tokens["reseller_admin"])
    other = (await run_query(runtime, CREATE, {"input": {"partnerId": world.partner_id("dist"), "url": PUBLIC_URL,
                                                         "eventTypes": ["*"]}},
                             token=world.tokens["distributor_admin"])).ok()["createWebhookEndpoint"]
    assert other["userErrors"] == []
    await emit_event(runtime, world, SubscriptionChanged)
    await emit_event(runtime, world, SubscriptionCreated)
    async with runtime.sessions() as session:
        rows = (await session.execute(select(models.WebhookDelivery.endpoint_id, models.EventRecord.type)
                                      .join(models.EventRecord))).all()
    # the distributor above the reseller gets none of its customers' events; the disabled endpoint none
    assert sorted((encode_id("WebhookEndpoint", e) == wants_changes, t) for e, t in rows) == [
        (False, "subscription.changed"), (False, "subscription.created"), (True, "subscription.changed")]


async def test_a_rolled_back_change_makes_no_delivery(runtime: Any, world: World) -> None:
    await endpoint_id(runtime, world, types=["*"])
    with pytest.raises(DomainError):
        await emit_event(runtime, world, fail=True)
    assert await count(runtime, models.WebhookDelivery) == 0
    assert await count(runtime, models.EventRecord) == 0
    await emit_event(runtime, world)
    assert await count(runtime, models.WebhookDelivery) == 1


async def test_deleting_an_endpoint_drops_its_deliveries(runtime: Any, world: World) -> None:
    endpoint = await endpoint_id(runtime, world)
    await emit_event(runtime, world)
    result = await run_query(runtime, DELETE, {"input": {"endpointId": endpoint}}, token=world.tokens["reseller_admin"])
    assert result.ok()["deleteWebhookEndpoint"] == {"deletedEndpointId": endpoint, "userErrors": []}
    assert await count(runtime, models.WebhookDelivery) == 0 and await count(runtime, models.EventRecord) == 1
    again = await run_query(runtime, DELETE, {"input": {"endpointId": endpoint}}, token=world.tokens["reseller_admin"])
    assert again.error_codes == ["NOT_FOUND"]


async def test_endpoints_and_deliveries_read_in_a_fixed_number_of_statements(runtime: Any, world: World,
                                                                            count_sql: Any) -> None:
    async def statements() -> int:
        with count_sql() as counter:
            data = (await run_query(runtime, READ, {"id": world.partner_id("reseller")},
                                    token=world.tokens["reseller_admin"])).ok()
        assert data["partner"]["webhookEndpoints"]["nodes"]
        return counter.count

    await endpoint_id(runtime, world)
    await emit_event(runtime, world)
    few = await statements()
    for _ in range(3):
        await endpoint_id(runtime, world)
    for _ in range(3):
        await emit_event(runtime, world)
    assert await statements() == few  # one statement per level, whatever the number of endpoints and deliveries
