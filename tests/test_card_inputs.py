"""No free-text input reaches a table with a card number in it (issue 11, item 2).

Table-driven over the composed schema (core and every plugin): every String, ID and JSON
field of every mutation's input, however deep, is tried with a card number written in one of
many ways; each answer is the payload's ``userErrors`` with code CARD_NUMBER_NOT_ACCEPTED and
the field's input path. Then, end to end, representative mutations with real objects store
nothing, and every role that may change a card is refused every way of writing one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import cycle
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
)
from sqlalchemy import func, select, update

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.models import ApiToken
from gateway.runtime import Runtime
from gateway.sensitive import contains_card_number
from gateway.testing import run_query, shared_runtime
from schema import models
from schema.access import record_audit
from schema.models import AuditEvent
from schema.testing import World, build_world

# One card number (Visa's test number, or Mastercard's) written as people and attackers write it.
CARD_NUMBERS = [
    "4111.1111.1111.1111", "4111/1111/1111/1111", "4111_1111_1111_1111", "4111\u00a01111\u00a01111\u00a01111",
    "4111\u200b1111\u200b1111\u200b1111", "5555\u200d5555\u20605555\ufeff4444", "4111-1111-1111-1111",
    "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
    "4111\u00ad1111\u00ad1111\u00ad1111", "5555\u20135555\u20145555\u20154444", "4111\t1111\n1111 1111",
    "my card: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "Visa4111111111111111", "cvv 123",
]
DUMMY_SCALARS = {"String": "x", "ID": "eDox", "Int": 1, "Float": 1.0, "Boolean": True, "JSON": {},
                 "Decimal": "1.00", "Date": "2030-01-01", "DateTime": "2030-01-01T00:00:00Z"}
TEXT_SCALARS = {"String", "ID", "JSON"}


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled: their mutations take free text too."""
    yield await shared_runtime(backend)


def _unwrap(graphql_type: Any) -> tuple[Any, bool]:
    required = isinstance(graphql_type, GraphQLNonNull)
    return (graphql_type.of_type if required else graphql_type), required


def _value(graphql_type: Any, target: tuple[str, ...] | None, text: str) -> Any:
    """A valid value of ``graphql_type`` with ``text`` at the ``target`` path (None: nowhere)."""
    graphql_type, _ = _unwrap(graphql_type)
    if isinstance(graphql_type, GraphQLList):
        inner = _value(graphql_type.of_type, target[1:] if target else None, text)
        return [inner]
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    if isinstance(graphql_type, GraphQLScalarType):
        if target is not None:
            return {"note": text} if graphql_type.name == "JSON" else text
        return DUMMY_SCALARS[graphql_type.name]
    value = {}
    for name, field in graphql_type.fields.items():
        _, required = _unwrap(field.type)
        if target and target[0] == name:
            value[name] = _value(field.type, target[1:], text)
        elif required:
            value[name] = _value(field.type, None, text)
    return value


def _text_paths(graphql_type: Any, prefix: tuple[str, ...] = (), depth: int = 0) -> Iterator[tuple[str, ...]]:
    """Every path (list elements as "0") to a String, ID or JSON leaf of an input type."""
    graphql_type, _ = _unwrap(graphql_type)
    if isinstance(graphql_type, GraphQLList):
        yield from _text_paths(graphql_type.of_type, (*prefix, "0"), depth)
    elif isinstance(graphql_type, GraphQLScalarType):
        if graphql_type.name in TEXT_SCALARS:
            yield prefix
    elif isinstance(graphql_type, GraphQLInputObjectType) and depth < 4:
        for name, field in graphql_type.fields.items():
            yield from _text_paths(field.type, (*prefix, name), depth + 1)


def _expected_field(path: tuple[str, ...], graphql_type: Any) -> list[str]:
    leaf = get_named_type(graphql_type)
    return [*path, "note"] if leaf.name == "JSON" else list(path)


def text_inputs(schema: GraphQLSchema) -> list[tuple[str, tuple[str, ...]]]:
    cases = []
    for name, field in schema.mutation_type.fields.items():
        for path in _text_paths(field.args["input"].type):
            cases.append((name, path))
    return cases


def _leaf_type(input_type: Any, path: tuple[str, ...]) -> Any:
    graphql_type = input_type
    for step in path:
        graphql_type = get_named_type(graphql_type)
        if step != "0":
            graphql_type = graphql_type.fields[step].type
    return graphql_type


async def test_every_text_field_of_every_mutation_refuses_a_card_number(runtime: Runtime) -> None:
    schema = runtime.schema._schema
    cases = text_inputs(schema)
    # the fields the issue names are among them, core and plugins
    named = {(m, p[0]) for m, p in cases}
    assert {("updateOrganizationDetails", "address"), ("updateOrganizationDetails", "name"),
            ("submitLargeDeal", "notes"), ("updatePartnerDetails", "name"), ("createApiToken", "name"),
            ("addOrganizationMember", "name"), ("addMailUser", "name"), ("createMailPolicy", "rules"),
            ("editMailDashboard", "dashboard"), ("publishSolutionVersion", "changes"),
            ("updatePaymentMethod", "holderName"), ("updatePaymentMethod", "cardToken")} <= named
    assert len(cases) > 100
    failures = []
    for (mutation, path), text in zip(cases, cycle(CARD_NUMBERS)):
        input_type = schema.mutation_type.fields[mutation].args["input"].type
        variables = {"input": _value(input_type, path, text)}
        input_name = get_named_type(input_type).name
        document = (f"mutation($input: {input_name}!) {{ {mutation}(input: $input) "
                    "{ userErrors { code field message } } }")
        result = await run_query(runtime, document, variables)
        expected = [{"code": "CARD_NUMBER_NOT_ACCEPTED", "field": _expected_field(path, _leaf_type(input_type, path))}]
        got = result.errors or [{k: e[k] for k in ("code", "field")} for e in result.data[mutation]["userErrors"]]
        if got != expected:
            failures.append(f"{mutation} {'.'.join(path)}: {got}")
        else:
            assert not contains_card_number(str(result.data))  # never echoed back
    assert failures == []


async def test_the_generated_inputs_are_valid_without_card_data(runtime: Runtime) -> None:
    """The table-driven test above fails for the card number, not for a malformed input."""
    from graphql import coerce_input_value

    for field in runtime.schema._schema.mutation_type.fields.values():
        coerce_input_value(_value(field.args["input"].type, None, "x"), field.args["input"].type)


# ---------------------------------------------------------------- end to end: nothing stored
DETAILS = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) {
  organization { name address { line1 } } userErrors { code field } } }"""
DEAL = """mutation($input: SubmitLargeDealInput!) { submitLargeDeal(input: $input) { userErrors { code field } } }"""
TOKEN = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token userErrors { code field } } }"""


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("text", CARD_NUMBERS[:6])
async def test_organization_details_large_deals_and_tokens_store_nothing(runtime: Runtime, text: str) -> None:
    world = await build_world(runtime)
    boss, reseller = world.tokens["org_super_admin"], world.tokens["reseller_admin"]
    for variables, field in [
        ({"organizationId": world.org_id("acme"), "address": {"line2": f"Suite {text}"}}, ["address", "line2"]),
        ({"organizationId": world.org_id("acme"), "name": f"Acme {text}"}, ["name"]),
    ]:
        result = await run_query(runtime, DETAILS, {"input": variables}, token=boss)
        assert result.ok()["updateOrganizationDetails"]["userErrors"] == [
            {"code": "CARD_NUMBER_NOT_ACCEPTED", "field": field}]
    deal = {"organizationId": world.org_id("acme"), "productCode": "MAIL", "estimatedLicenses": 500,
            "estimatedValue": {"amount": "1000.00", "currency": "USD"}, "expectedCloseDate": "2030-01-01",
            "notes": f"call about {text}"}
    result = await run_query(runtime, DEAL, {"input": deal}, token=reseller)
    assert result.ok()["submitLargeDeal"]["userErrors"][0]["code"] == "CARD_NUMBER_NOT_ACCEPTED"
    tokens_before = await _count(runtime, ApiToken)
    result = await run_query(runtime, TOKEN, {"input": {"name": text}}, token=boss)
    assert result.ok()["createApiToken"] == {"token": None, "userErrors": [
        {"code": "CARD_NUMBER_NOT_ACCEPTED", "field": ["name"]}]}
    assert await _count(runtime, models.LargeDeal) == 0 and await _count(runtime, ApiToken) == tokens_before
    assert await _count(runtime, AuditEvent) == 0
    async with runtime.sessions() as session:
        acme = await session.get(models.Organization, world.organizations["acme"])
    assert acme.name == "Acme Inc" and acme.address_line2 is None


async def test_text_without_card_numbers_is_still_accepted(runtime: Runtime) -> None:
    world = await build_world(runtime)
    line = "Building 4, 2024-01-05, +1 (555) 123-4567, order 1234567890123"
    result = await run_query(runtime, DETAILS, {"input": {"organizationId": world.org_id("acme"),
                                                          "address": {"line1": line}}},
                             token=world.tokens["org_super_admin"])
    assert result.ok()["updateOrganizationDetails"] == {"organization": {"name": "Acme Inc", "address": {"line1": line}},
                                                        "userErrors": []}


# ---------------------------------------------------------------- the card on file, for every role that may set it
UPDATE_CARD = """mutation($input: UpdatePaymentMethodInput!) { updatePaymentMethod(input: $input) {
  paymentMethod { last4 } userErrors { code field message } } }"""


async def _delegated_only(runtime: Runtime, world: World) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Organization).where(models.Organization.id == world.organizations["acme"])
                              .values(partner_id=None))


async def _mapped_only(runtime: Runtime, world: World) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.PartnerAccess)
                              .where(models.PartnerAccess.organization_id == world.organizations["acme"])
                              .values(status="REVOKED"))


# (role label, token key, organization, owner, how the world is bent for that role)
CARD_MANAGERS = [
    ("organization super admin", "org_super_admin", "acme", "CUSTOMER_CARD", None),
    ("direct customer's super admin", "direct_super_admin", "direct", "CUSTOMER_CARD", None),
    ("mapped and delegated partner admin", "reseller_admin", "acme", "RESELLER_CARD", None),
    ("delegated partner admin", "reseller_admin", "acme", "CUSTOMER_CARD", _delegated_only),
    ("mapped partner admin", "reseller_admin", "acme", "RESELLER_CARD", _mapped_only),
    ("platform admin", "platform_admin", "acme", "RESELLER_CARD", None),
]


def _card(world: World, org: str, owner: str, **patch: Any) -> dict[str, Any]:
    return {"organizationId": world.org_id(org), "owner": owner, "cardToken": "tok_1J5Xa2CustomerCard",
            "brand": "VISA", "last4": "1111", "expMonth": 7, "expYear": utcnow().year + 2,
            "holderName": "Pat Partner", **patch}


@pytest.mark.parametrize("label, role, org, owner, bend", CARD_MANAGERS, ids=[c[0] for c in CARD_MANAGERS])
async def test_every_card_manager_is_refused_every_way_of_writing_a_card_number(
        runtime: Runtime, label: str, role: str, org: str, owner: str, bend: Any) -> None:
    world = await build_world(runtime)
    if bend is not None:
        await bend(runtime, world)
    token = world.tokens[role]
    for text in CARD_NUMBERS:
        for field, value in [("cardToken", f"tok_{text}"), ("cardToken", text), ("holderName", f"Pat {text}")]:
            result = await run_query(runtime, UPDATE_CARD, {"input": _card(world, org, owner, **{field: value})},
                                     token=token)
            errors = result.ok()["updatePaymentMethod"]["userErrors"]
            assert [(e["code"], e["field"]) for e in errors] == [("CARD_NUMBER_NOT_ACCEPTED", [field])], (field, text)
            assert not contains_card_number(errors[0]["message"])
    assert await _count(runtime, models.PaymentMethod) == 0 and await _count(runtime, AuditEvent) == 0
    # the same role with a proper token succeeds: the refusals above were for the card number only
    result = await run_query(runtime, UPDATE_CARD, {"input": _card(world, org, owner)}, token=token)
    assert result.ok()["updatePaymentMethod"] == {"paymentMethod": {"last4": "1111"}, "userErrors": []}, label


@pytest.mark.parametrize("label, role, org, owner, bend", CARD_MANAGERS, ids=[c[0] for c in CARD_MANAGERS])
async def test_the_billing_service_refuses_card_numbers_for_every_card_manager(
        runtime: Runtime, label: str, role: str, org: str, owner: str, bend: Any) -> None:
    """Below the API's input check, the billing rules refuse on their own (scripts, plugins, the CLI)."""
    from schema.access import authorize_organization
    from schema.billing.service import update_payment_method

    world = await build_world(runtime)
    if bend is not None:
        await bend(runtime, world)
    for text in CARD_NUMBERS:
        for field, patch in [("cardToken", {"card_token": f"tok_{text}"}), ("holderName", {"holder_name": text})]:
            arguments = {"owner": owner, "card_token": "tok_1J5Xa2CustomerCard", "brand": "VISA", "last4": "1111",
                         "exp_month": 7, "exp_year": utcnow().year + 2, "holder_name": None, **patch}
            with pytest.raises(DomainError) as refused:
                async with runtime.context(token=world.tokens[role]) as ctx, ctx.transaction():
                    decision = await authorize_organization(ctx, "payment_method.update", world.organizations[org])
                    await update_payment_method(ctx, decision, world.organizations[org], **arguments)
            assert (refused.value.code, refused.value.field) == ("CARD_NUMBER_NOT_ACCEPTED", [field]), (label, text)
    assert await _count(runtime, models.PaymentMethod) == 0


async def test_the_audit_log_never_copies_a_card_number(runtime: Runtime) -> None:
    """The card's audit entry holds owner, brand and last 4 only; a detail with a card number is refused whole."""
    from gateway.context import run_mutation
    from schema.billing.types import PaymentMethodPayload

    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE_CARD, {"input": _card(world, "acme", "RESELLER_CARD")},
                             token=world.tokens["reseller_admin"])
    assert result.ok()["updatePaymentMethod"]["userErrors"] == []
    async with runtime.sessions() as session:
        [event] = (await session.scalars(select(AuditEvent))).all()
    assert event.details == {"owner": "RESELLER_CARD", "brand": "VISA", "last4": "1111", "replaced": False}

    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        async def body() -> Any:
            record_audit(ctx, "payment_method.update", via="TEST", organization_id=world.organizations["acme"],
                      details={"brand": "VISA 4111\u00a01111\u00a01111\u00a01111"})
            return PaymentMethodPayload(payment_method=None)

        payload = await run_mutation(ctx, PaymentMethodPayload, body)
    assert [(e.code, e.field) for e in payload.user_errors] == [("CARD_NUMBER_NOT_ACCEPTED", ["details"])]
    assert await _count(runtime, AuditEvent) == 1


async def test_a_persisted_query_with_a_card_number_is_not_stored(runtime: Runtime) -> None:
    import hashlib

    from gateway.models import PersistedQuery
    from gateway.persisted import PersistedQueryError, resolve_persisted_query

    query = '{ organizations(filter: {search: "4111.1111.1111.1111"}) { totalCount } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    with pytest.raises(PersistedQueryError) as refused:
        await resolve_persisted_query(runtime, query, {"persistedQuery": {"version": 1, "sha256Hash": digest}})
    assert refused.value.code == "CARD_NUMBER_NOT_ACCEPTED" and "4111" not in refused.value.message
    assert await _count(runtime, PersistedQuery) == 0
